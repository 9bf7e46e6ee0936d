#!/bin/bash
# serve_acme.sh - `mtasts serve run --acme-directory` against pebble (the
# ACME test CA) and the rig's DNS: a hosted name that points at the service
# gets a certificate by http-01, answered from the store by the daemon's own
# plain-HTTP port, and the policy host serves it (verified against pebble's
# root); a name that does not point at the service costs no order; a
# certificate with a third of its life left is renewed; a second replica on
# the same store serves the certificate without ordering one of its own.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$RIG_ENV"
. "$PEBBLE_ENV"
M=$MTASTS
tmp=$(mktemp -d /tmp/mtasts-serve-acme.XXXXXX)
. "$MTASTS_SOURCE_DIR/tests/integration/serve_lib.bash"
trap 'serve_stop_all; rm -rf "$tmp"' EXIT
export MTASTS_SERVE_STORE=sqlite://$tmp/serve.db
# The rig's policy hosts all resolve to 127.A.B.2, where nginx owns 80 and
# 443: pebble validates on PEBBLE_HTTP_PORT, and the service is named after
# one of those hosts, so that each of them "points at the service".
A=$RIG_PREFIX.2
acme=(--acme-directory "$PEBBLE_DIR_URL" --acme-ca-file "$PEBBLE_CA" --resolver "$RIG_RESOLVER")
served() { # the served certificate of NAME, as issuer and serial
	openssl s_client -connect "$A:$2" -servername "$1" -CAfile "$PEBBLE_ROOT" </dev/null 2>/dev/null
}
until_has() { # until_has WHAT CMD...: up to 30 s
	for _ in $(seq 150); do "${@:2}" 2>/dev/null | grep -q -- "$1" && return 0; sleep 0.2; done
	return 1
}
$M serve init --zone svc.test --service mta-sts.good-enforce.test --propagation 2 >/dev/null
$M serve domain add good-testing.test --mx valid.mx.test >/dev/null
$M serve domain add no-policy-host.test --mx valid.mx.test >/dev/null

serve_start "$tmp/a.log" --listen "$A:8443" --http "$A:$PEBBLE_HTTP_PORT" --refresh 1 "${acme[@]}" || exit 1
until_has event=acme_issued cat "$tmp/a.log"
t_contains "a name pointing at the service gets a certificate" \
	"event=acme_issued name=mta-sts.good-testing.test" "$(cat "$tmp/a.log")"
until_has "issuer=.*Pebble" served mta-sts.good-testing.test 8443
out=$(served mta-sts.good-testing.test 8443)
t_contains "the policy host serves it, verified against pebble's root" "Verify return code: 0 (ok)" "$out"
t_contains "issued by pebble" "Pebble" "$out"
t_eq "the policy over it" 200 "$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$PEBBLE_ROOT" \
	--resolve "mta-sts.good-testing.test:8443:$A" https://mta-sts.good-testing.test:8443/.well-known/mta-sts.txt)"
until_has acme_not_pointing cat "$tmp/a.log"
t_contains "a name without an address: no order" \
	"event=acme_not_pointing name=mta-sts.no-policy-host.test reason=\"mta-sts.no-policy-host.test has no address\"" \
	"$(cat "$tmp/a.log")"
t_eq "and no order was made for it" 0 "$(grep -c 'acme step=ordered name=mta-sts.no-policy-host.test' "$tmp/a.log")"
t_eq "the account is kept in the store" 1 "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM serve_settings WHERE key=\"acme_account_url\"").fetchone()[0])' "$tmp/serve.db")"

# A second replica on the same store: it serves the certificate at once.
serve_start "$tmp/b.log" --listen "$A:8444" --http none --refresh 1 "${acme[@]}" || exit 1
until_has "issuer=.*Pebble" served mta-sts.good-testing.test 8444
t_contains "a second replica serves the same certificate" "issuer=CN = Pebble" \
	"$(served mta-sts.good-testing.test 8444)"
sleep 3
t_eq "without ordering one of its own" 0 "$(grep -c 'event=acme_issued' "$tmp/b.log")"
serve_stop_all

# Renewal: a certificate with less than a third of its life left (pebble's
# last one, its dates moved) is replaced; the backoff of an hour after a
# try is cleared for the test as an operator would after fixing things.
python3 - "$tmp/serve.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
now = int(time.time())
db.execute("UPDATE serve_certs SET not_before=?, not_after=? WHERE name='mta-sts.good-testing.test'",
           (now - 1000, now + 100))
db.execute("UPDATE serve_acme SET last_try=0, failures=0 WHERE name='mta-sts.good-testing.test'")
db.commit()
PY
old=$(served mta-sts.good-testing.test 8443 | openssl x509 -noout -serial 2>/dev/null)
serve_start "$tmp/c.log" --listen "$A:8443" --http "$A:$PEBBLE_HTTP_PORT" --refresh 1 "${acme[@]}" || exit 1
until_has event=acme_issued cat "$tmp/c.log"
t_contains "a certificate with a third of its life left is renewed" \
	"event=acme_issued name=mta-sts.good-testing.test" "$(cat "$tmp/c.log")"
new=$old
for _ in $(seq 50); do
	new=$(served mta-sts.good-testing.test 8443 | openssl x509 -noout -serial 2>/dev/null)
	[ -n "$new" ] && [ "$new" != "$old" ] && break
	sleep 0.2
done
[ -n "$new" ] && [ "$new" != "$old" ] && t_ok "and the new one is served" ||
	t_fail "and the new one is served ($old / $new)"
t_done
