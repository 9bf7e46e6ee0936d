#!/bin/bash
# downgrade.sh - the downgrade attack MTA-STS exists for, with a real Postfix.
# stripped.test has an enforce policy naming mx.stripped.test, which resolves
# to the rig's strip-proxy: it relays to a valid MX (the hosted listener) but
# removes STARTTLS from EHLO and logs the plaintext it relays. One sending
# Postfix (tests/integration/sender_lib.bash, opportunistic TLS):
#   (a) without smtp_tls_policy_maps delivers through the proxy in plaintext:
#       the message's marker line is in the proxy's log, Postfix says sent;
#   (b) with smtp_tls_policy_maps = socketmap:...:postfix on `mtasts resolver`
#       (same instance, reloaded) defers the next message ("TLS is required,
#       but was not offered") and none of its text reaches the proxy.
# Needs RIG_ENV and MTASTS, root.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$MTASTS_SOURCE_DIR/tests/integration/resolver_lib.bash"
. "$MTASTS_SOURCE_DIR/tests/integration/sender_lib.bash"
. "$RIG_ENV"
d=$RIG_DIR/downgrade-sender
rpid=
cleanup() {
	sender_stop "$d"
	[ -n "$rpid" ] && kill -TERM "$rpid" 2>/dev/null && wait "$rpid" 2>/dev/null
}
trap cleanup EXIT
sender_stop "$d"
rm -rf "$d"
mkdir -p "$d"
proxy_addr=${RIG_STRIP_PROXY%:*}
# new_in_proxy_log SINCE: the proxy's log lines after line SINCE.
new_in_proxy_log() { tail -n +"$(($1 + 1))" "$RIG_STRIP_LOG"; }
lines_of() { wc -l <"$1"; }

t_eq "mx.stripped.test resolves to the proxy" "$proxy_addr" \
	"$(kdig "@$RIG_DNS_ADDR" -p "$RIG_DNS_PORT" +short mx.stripped.test A 2>&1)"

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
if resolver_start "$d/resolver.yml" "$d/resolver.log" --verbose 2>/dev/null; then
	rpid=$RESOLVER_PID
	t_ok "the resolver listens on $RESOLVER_PORT"
else
	rpid=$RESOLVER_PID
	t_fail "the resolver starts" "$(cat "$d/resolver.log")"; t_done; exit 1
fi
map=socketmap:inet:127.0.0.1:$RESOLVER_PORT:postfix

sender_setup "$d"
if out=$(sender_start "$d" 2>&1); then t_ok "the sending Postfix starts (no smtp_tls_policy_maps)"
else t_fail "the sending Postfix starts" "$out"; t_done; exit 1; fi
t_eq "it has no TLS policy map" "" "$(postconf -c "$d/etc" -h smtp_tls_policy_maps)"

# (a) Without MTA-STS: the attacker reads the message.
marker_a="downgrade-a-$$-$RANDOM: the plaintext an attacker reads"
from_line=$(lines_of "$RIG_STRIP_LOG")
sender_send "$d" user-a@stripped.test "downgrade (a)" "$marker_a" || t_fail "sendmail to user-a@stripped.test"
if sender_wait_log "$d" 'to=<user-a@stripped\.test>.*status=(sent|deferred|bounced)'; then
	t_contains "(a) Postfix delivered the message" "status=sent" \
		"$(grep 'to=<user-a@stripped\.test>' "$d/maillog")"
	t_contains "(a) to the proxy, as mx.stripped.test" "relay=mx.stripped.test[$proxy_addr]:25" \
		"$(grep 'to=<user-a@stripped\.test>' "$d/maillog")"
else
	t_fail "(a) Postfix delivered the message" "$(tail -20 "$d/maillog")"
fi
t_lacks "(a) without TLS" "TLS connection established to mx.stripped.test" "$(cat "$d/maillog")"
seen=$(new_in_proxy_log "$from_line")
t_contains "(a) the proxy removed STARTTLS from the EHLO answer" "stripped: 250-STARTTLS" "$seen"
t_contains "(a) the proxy's log holds the message text" "C: $marker_a" "$seen"
t_contains "(a) and its envelope" "C: RCPT TO:<user-a@stripped.test>" "$seen"
# The genuine MX behind the proxy got the message (and discarded it).
if sender_wait_log "${RIG_MAILLOG%/maillog}" 'to=<user-a@stripped\.test>.*status=sent' 10; then
	t_ok "(a) the valid MX behind the proxy received it"
else
	t_fail "(a) the valid MX behind the proxy received it" "$(tail -5 "$RIG_MAILLOG")"
fi

# (b) The same Postfix asking `mtasts resolver`: enforce means TLS or nothing.
if out=$(sender_policy "$d" "$map" 2>&1); then t_ok "(b) smtp_tls_policy_maps = $map, reloaded"
else t_fail "(b) smtp_tls_policy_maps set and reloaded" "$out"; fi
marker_b="downgrade-b-$$-$RANDOM: text that must not cross in plaintext"
from_line=$(lines_of "$RIG_STRIP_LOG")
sender_send "$d" user-b@stripped.test "downgrade (b)" "$marker_b" || t_fail "sendmail to user-b@stripped.test"
if sender_wait_log "$d" 'to=<user-b@stripped\.test>.*status=(sent|deferred|bounced)'; then
	got=$(grep 'to=<user-b@stripped\.test>' "$d/maillog")
	t_contains "(b) Postfix deferred the message" "status=deferred" "$got"
	t_contains "(b) because TLS is required, but not offered" \
		"TLS is required, but was not offered by host mx.stripped.test[$proxy_addr]" "$got"
else
	t_fail "(b) Postfix deferred the message" "$(tail -20 "$d/maillog")"
fi
t_contains "(b) the resolver was asked and answered the enforce policy" \
	"domain=stripped.test answer=policy" "$(cat "$d/resolver.log")"
seen=$(new_in_proxy_log "$from_line")
t_contains "(b) Postfix did reach the proxy (EHLO)" "C: EHLO sender.example" "$seen"
t_lacks "(b) no message text crossed the proxy" "$marker_b" "$seen"
t_lacks "(b) not even the envelope" "C: MAIL FROM" "$seen"
t_lacks "(b) the marker is nowhere in the proxy's log" "$marker_b" "$(cat "$RIG_STRIP_LOG")"
t_eq "(b) the message waits in the queue" 1 \
	"$(postqueue -c "$d/etc" -j 2>/dev/null | grep -c '"address": *"user-b@stripped.test"')"
t_done
