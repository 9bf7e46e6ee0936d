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
. "$RIG_ENV"
M=$MTASTS
d=$RIG_DIR/resolver-sender
rpid=
cleanup() {
	[ -f "$d/etc/main.cf" ] && postfix -c "$d/etc" stop >/dev/null 2>&1
	[ -n "$rpid" ] && kill -TERM "$rpid" 2>/dev/null && wait "$rpid" 2>/dev/null
}
trap cleanup EXIT
if [ -f "$d/etc/main.cf" ]; then postfix -c "$d/etc" stop >/dev/null 2>&1; fi
rm -rf "$d"
mkdir -p "$d/etc" "$d/spool/etc" "$d/data"
chown postfix "$d/data"

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

# The sending Postfix.
cat >"$d/etc/main.cf" <<EOF
# written by tests/integration/resolver_postfix.sh: a sending MTA using mtasts resolver
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
myhostname = sender.example
mydomain = sender.example
myorigin = \$myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
relayhost =
biff = no
smtp_tls_security_level = may
smtp_tls_CAfile = $RIG_CA_FILE
smtp_tls_loglevel = 1
smtp_tls_policy_maps = socketmap:inet:127.0.0.1:$port:postfix
smtp_connect_timeout = 5s
minimal_backoff_time = 1h
maximal_backoff_time = 2h
queue_run_delay = 1h
maillog_file = $d/maillog
maillog_file_prefixes = $d
EOF
cat >"$d/etc/master.cf" <<'EOF'
# service type  private unpriv  chroot  wakeup  maxproc command
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       y       -       -       smtp
relay     unix  -       -       y       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
# The chroot of smtp(8): its own resolver configuration.
printf 'nameserver %s\noptions timeout:2 attempts:1\n' "$RIG_DNS_ADDR" >"$d/spool/etc/resolv.conf"
printf '127.0.0.1 localhost\n' >"$d/spool/etc/hosts"
printf 'hosts: files dns\n' >"$d/spool/etc/nsswitch.conf"
cp /etc/services "$d/spool/etc/services"
[ -f /etc/localtime ] && cp /etc/localtime "$d/spool/etc/localtime"

if out=$(postfix -c "$d/etc" check 2>&1); then t_ok "postfix check"; else t_fail "postfix check" "$out"; fi
if out=$(postfix -c "$d/etc" start 2>&1); then t_ok "the sending Postfix starts"; else t_fail "the sending Postfix starts" "$out"; t_done; exit 1; fi

send() { # send RCPT: one message through sendmail(1) of the sending instance
	printf 'Subject: mta-sts test to %s\n\nhello\n' "$1" |
		sendmail -C "$d/etc" -f "sender@sender.example" "$1"
}
# wait_log PATTERN [SECONDS]: until the sending instance's log matches.
wait_log() {
	local i
	for i in $(seq $((${2:-30} * 5))); do
		grep -qE "$1" "$d/maillog" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}

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
