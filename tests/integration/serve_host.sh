#!/bin/bash
# serve_host.sh - `mtasts serve run`, the policy host, against real clients:
# curl and openssl s_client over TLS with a certificate of the rig's CA
# imported with `serve cert import`. The exact bytes with text/plain, HEAD,
# 404 / 405 / 400 and never a redirect, SNI selecting the certificate (an
# unknown name and no SNI get the unrecognized_name alert), TLS 1.2 and 1.3
# only, oversized headers, ACME http-01 on the HTTP port, changes in the
# store served within the refresh time, a replaced certificate picked up,
# privileges dropped after binding, SIGTERM.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$RIG_ENV"
M=$MTASTS
. "$MTASTS_SOURCE_DIR/tests/integration/serve_lib.bash"
tmp=$(mktemp -d /tmp/mtasts-serve-host.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
chmod 755 "$tmp"
export MTASTS_SERVE_STORE=sqlite://$tmp/store/serve.db
mkdir "$tmp/store"
A=$RIG_PREFIX.40
get() { curl -sS --max-time 5 --cacert "$RIG_CA_FILE" --resolve "mta-sts.$1:443:$A" "${@:3}" \
	"https://mta-sts.$1$2"; }
code() { get "$1" "$2" -o /dev/null -w '%{http_code}' "${@:3}"; }

$M serve init --zone svc.test --service mta-sts.svc.test >/dev/null
$M serve domain add one.test --mx mx.one.test >/dev/null
$M serve domain add two.test --mx '*.mx.two.test' --mode enforce >/dev/null
serve_cert mta-sts.one.test "$tmp/one"
serve_cert mta-sts.two.test "$tmp/two"
serve_cert mta-sts.elsewhere.test "$tmp/else"
out=$($M serve cert import mta-sts.one.test --key "$tmp/two.key" --chain "$tmp/one.chain" 2>&1); rc=$?
t_eq "import: a key that does not match: usage" 2 "$rc"
t_contains "import: says so" "does not match" "$out"
out=$($M serve cert import mta-sts.one.test --key "$tmp/else.key" --chain "$tmp/else.chain" 2>&1); rc=$?
t_eq "import: a certificate for another name: refused" 1 "$rc"
t_contains "import: names the name" "not valid for mta-sts.one.test" "$out"
t_exit "import one" 0 $M serve cert import mta-sts.one.test --key "$tmp/one.key" --chain "$tmp/one.chain"
t_exit "import two" 0 $M serve cert import MTA-STS.two.test --key "$tmp/two.key" --chain "$tmp/two.chain"

chown -R nobody "$tmp/store"
$M serve run --listen "$A:443" --http "$A:80" --refresh 1 --resolver "$RIG_RESOLVER" --user nobody --metrics "$A:9100" 2>"$tmp/serve.log" &
pid=$!
for _ in $(seq 50); do grep -q event=serving "$tmp/serve.log" && break; sleep 0.1; done
t_contains "run: serving two tenants" "event=serving tenants=2 certificates=2" "$(cat "$tmp/serve.log")"
t_eq "run: the daemon is nobody (real, effective, saved)" \
	"$(id -u nobody) $(id -u nobody) $(id -u nobody)" \
	"$(awk '/^Uid:/{print $2, $3, $4}' "/proc/$pid/status")"

P=/.well-known/mta-sts.txt
$M serve domain show one.test --json | jq -j .policy >"$tmp/one.want"
get one.test $P -D "$tmp/h" -o "$tmp/one.got"
cmp -s "$tmp/one.want" "$tmp/one.got" && t_ok "GET: the exact bytes of the store" ||
	t_fail "GET: the exact bytes of the store" "$(od -c "$tmp/one.got" | head)"
t_contains "GET: 200" "HTTP/1.1 200" "$(cat "$tmp/h")"
t_contains "GET: text/plain" "Content-Type: text/plain" "$(tr -d '\r' <"$tmp/h")"
t_contains "GET of the other tenant, its own bytes" "mode: enforce" "$(get two.test $P)"
t_eq "HEAD: 200" 200 "$(code one.test $P -I)"
t_eq "HEAD: no body" 0 "$(get one.test $P -I -o /dev/null -w '%{size_download}')"
t_eq "POST: 405" 405 "$(code one.test $P -X POST)"
t_contains "405: Allow GET, HEAD" "Allow: GET, HEAD" "$(get one.test $P -X PUT -D - -o /dev/null | tr -d '\r')"
t_eq "another path: 404" 404 "$(code one.test /)"
t_eq "the path with a query: 404" 404 "$(code one.test "$P?x=1")"
t_eq "another case of the path: 404" 404 "$(code one.test /.well-known/MTA-STS.txt)"
t_eq "Host of a domain not hosted (SNI one.test): 404" 404 \
	"$(code one.test $P -H 'Host: mta-sts.three.test')"
t_eq "Host that is no host name: 400" 400 "$(code one.test $P -H 'Host: a b')"
t_eq "never a redirect" "" "$(get one.test / -D - -o /dev/null | grep -i '^location')"
out=$(get elsewhere.test $P 2>&1); rc=$?
t_eq "SNI of a name without a certificate: the handshake fails" 35 "$rc"
t_contains "with unrecognized_name" "unrecognized name" "$out"
out=$(openssl s_client -connect "$A:443" -noservername -CAfile "$RIG_CA_FILE" </dev/null 2>&1)
t_contains "no SNI: unrecognized_name" "unrecognized name" "$out"
for v in tls1_2 tls1_3; do
	out=$(openssl s_client -connect "$A:443" -servername mta-sts.one.test -$v \
		-verify_return_error -CAfile "$RIG_CA_FILE" </dev/null 2>&1)
	t_contains "$v: accepted, verified" "Verify return code: 0 (ok)" "$out"
done
out=$(openssl s_client -connect "$A:443" -servername mta-sts.one.test -tls1_1 </dev/null 2>&1)
t_contains "TLS 1.1: refused (protocol version alert)" "alert protocol version" "$out"
big=$(head -c 20000 /dev/zero | tr '\0' a)
c=$(code one.test $P -H "X-Big: $big")
case $c in 400|413|431|000) t_ok "headers over 8 KiB: refused ($c)" ;; *) t_fail "headers over 8 KiB: refused (got $c)" ;; esac
t_eq "still serving after that" 200 "$(code one.test $P)"

# ACME http-01 on port 80, from the store.
python3 - "$tmp/store/serve.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
db.execute("INSERT INTO serve_challenges VALUES ('tok-1_A', 'tok-1_A.thumb', 'mta-sts.one.test', ?)",
           (int(time.time()) + 600,))
db.commit()
PY
h80() { curl -sS --max-time 5 -H 'Host: mta-sts.one.test' "http://$A$1" "${@:2}"; }
t_eq "http-01: the key authorization" "tok-1_A.thumb" "$(h80 /.well-known/acme-challenge/tok-1_A)"
t_eq "http-01: an unknown token: 404" 404 "$(h80 /.well-known/acme-challenge/nope -o /dev/null -w '%{http_code}')"
t_eq "port 80: the policy path is 404, not a redirect" 404 "$(h80 $P -o /dev/null -w '%{http_code}')"

# A change in the store is served within the refresh time.
$M serve domain set one.test --mode enforce >/dev/null
ok=0
for _ in $(seq 30); do get one.test $P | grep -q 'mode: enforce' && { ok=1; break; }; sleep 0.1; done
t_eq "a new policy is served within the refresh" 1 "$ok"
# A replaced certificate is picked up.
old=$(openssl s_client -connect "$A:443" -servername mta-sts.one.test </dev/null 2>/dev/null | openssl x509 -noout -serial)
serve_cert mta-sts.one.test "$tmp/one2"
$M serve cert import mta-sts.one.test --key "$tmp/one2.key" --chain "$tmp/one2.chain" >/dev/null
new=$old
for _ in $(seq 40); do
	new=$(openssl s_client -connect "$A:443" -servername mta-sts.one.test </dev/null 2>/dev/null | openssl x509 -noout -serial)
	[ "$new" != "$old" ] && break
	sleep 0.1
done
[ -n "$new" ] && [ "$new" != "$old" ] && t_ok "a new certificate is served within the refresh" ||
	t_fail "a new certificate is served within the refresh ($old $new)"

# Metrics: fixed labels, what happened above counted.
m=$(curl -sS --max-time 5 "http://$A:9100/metrics")
val() { awk -v k="$1" '$1 == k {print $2}' <<<"$m"; }
t_eq "metrics: policies served are counted" 1 \
	"$(awk -v v="$(val 'mtasts_serve_requests_total{result="policy"}')" 'BEGIN { print (v >= 5) }')"
t_eq "metrics: 405s" 1 "$(awk -v v="$(val 'mtasts_serve_requests_total{result="bad_method"}')" 'BEGIN { print (v >= 2) }')"
t_eq "metrics: handshakes for a name without a certificate" 1 \
	"$(awk -v v="$(val 'mtasts_serve_tls_handshakes_total{result="unknown_name"}')" 'BEGIN { print (v >= 2) }')"
t_eq "metrics: two certificates with weeks left" 2 "$(val 'mtasts_serve_certificates{days_left="more"}')"
t_eq "metrics: two tenants" 2 "$(val mtasts_serve_tenants)"
t_contains "metrics: the build" 'mtasts_serve_build_info{version=' "$m"
t_lacks "metrics: no per-domain label" "one.test" "$m"
t_eq "metrics: another path is 404" 404 "$(curl -sS -o /dev/null -w '%{http_code}' "http://$A:9100/x")"

kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
t_eq "SIGTERM: exit 0" 0 "$rc"
t_contains "SIGTERM: said so" "event=stopped" "$(cat "$tmp/serve.log")"
out=$($M serve run --listen "$A:443" --http none --store "sqlite:///nonexistent/x.db" 2>&1); rc=$?
t_eq "a store that cannot be opened: exit 3" 3 "$rc"
out=$($M serve run --listen "999.1.1.1:443" 2>&1); rc=$?
t_eq "a bad listen address: usage" 2 "$rc"
t_done
