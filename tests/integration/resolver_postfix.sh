#!/bin/bash
# resolver_postfix.sh - a real sending Postfix enforces MTA-STS through
# `mtasts resolver`: a second Postfix instance, private to this test under
# the rig dir, with smtp_tls_policy_maps = socketmap:inet:...:postfix and
# the rig CA, sends to the rig's MX hosts. Its smtp(8) runs chrooted with
# its own resolv.conf pointing at the rig's DNS (Postfix always asks port
# 53, and the rig serves 127.A.B.1:53). Expected: delivery over a Verified
# TLS connection for an enforce domain with a valid MX certificate; mail
# deferred for enforce domains whose MX has the wrong name or no STARTTLS;
# delivery for testing and none domains. Needs RIG_ENV and MTASTS, root.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$MTASTS_SOURCE_DIR/tests/integration/resolver_lib.bash"
. "$MTASTS_SOURCE_DIR/tests/integration/sender_lib.bash"
. "$RIG_ENV"
M=$MTASTS
d=$RIG_DIR/resolver-sender
rpid=
cleanup() {
	sender_stop "$d"
	[ -n "$rpid" ] && kill -TERM "$rpid" 2>/dev/null && wait "$rpid" 2>/dev/null
}
trap cleanup EXIT
sender_stop "$d"
rm -rf "$d"
mkdir -p "$d"

# The resolver.
cat >"$d/resolver.yml" <<EOF
host: 127.0.0.1
port: 0
cache:
  type: internal
default_zone:
  timeout: 10
dns_resolver: $RIG_RESOLVER
ca_file: $RIG_CA_FILE
EOF
resolver_start "$d/resolver.yml" "$d/resolver.log" --verbose 2>/dev/null
rpid=$RESOLVER_PID
port=$RESOLVER_PORT
[ -n "$port" ] && t_ok "the resolver listens on $port" || { t_fail "the resolver starts" "$(cat "$d/resolver.log")"; t_done; exit 1; }

# The sending Postfix (tests/integration/sender_lib.bash).
sender_setup "$d" "socketmap:inet:127.0.0.1:$port:postfix"
if out=$(sender_start "$d" 2>&1); then t_ok "the sending Postfix starts"; else t_fail "the sending Postfix starts" "$out"; t_done; exit 1; fi

send() { sender_send "$d" "$1"; }
wait_log() { sender_wait_log "$d" "$@"; }

for rcpt in user@good-enforce.test user@mx-cert-wrongname.test user@mx-nostarttls.test \
	user@good-testing.test user@good-none.test; do
	send "$rcpt" || t_fail "sendmail to $rcpt"
done

# Enforce, valid certificate: Verified TLS and delivery.
if wait_log 'Verified TLS connection established to valid\.mx\.test\[' &&
	wait_log 'to=<user@good-enforce\.test>.*status=sent'; then
	t_ok "good-enforce.test: Verified TLS connection and delivery"
else
	t_fail "good-enforce.test: Verified TLS connection and delivery" "$(tail -20 "$d/maillog")"
fi
# Enforce, MX certificate for another name: deferred.
if wait_log 'to=<user@mx-cert-wrongname\.test>.*status=deferred'; then
	t_ok "mx-cert-wrongname.test: deferred"
	t_contains "mx-cert-wrongname.test: because the certificate does not verify" \
		"certificate" "$(grep 'wrongname' "$d/maillog" | grep -iE 'verif|certificate')"
else
	t_fail "mx-cert-wrongname.test: deferred" "$(grep wrongname "$d/maillog")"
fi
# Enforce, no STARTTLS: deferred.
if wait_log 'to=<user@mx-nostarttls\.test>.*status=deferred'; then
	t_ok "mx-nostarttls.test: deferred"
	t_contains "mx-nostarttls.test: because TLS is required" "TLS is required" \
		"$(grep 'nostarttls' "$d/maillog")"
else
	t_fail "mx-nostarttls.test: deferred" "$(grep nostarttls "$d/maillog")"
fi
# Testing and none: delivered.
for dom in good-testing.test good-none.test; do
	if wait_log "to=<user@${dom//./\\.}>.*status=sent"; then
		t_ok "$dom: delivered"
	else
		t_fail "$dom: delivered" "$(grep "$dom" "$d/maillog")"
	fi
done
t_eq "no sent mail for the deferred domains" "" \
	"$(grep -E 'to=<user@(mx-cert-wrongname|mx-nostarttls)\.test>.*status=sent' "$d/maillog")"
# The resolver gave the answers that made this happen.
for pair in good-enforce.test:policy mx-cert-wrongname.test:policy mx-nostarttls.test:policy \
	good-testing.test:notfound good-none.test:notfound; do
	t_contains "resolver: ${pair%%:*} answered ${pair#*:}" "domain=${pair%%:*} answer=${pair#*:}" \
		"$(cat "$d/resolver.log")"
done
# The receiving side saw the delivered mail.
t_contains "the rig's valid.mx.test listener received mail over TLS" "postfix-valid/smtpd" \
	"$(grep 'TLS connection established' "$RIG_MAILLOG")"
t_done
