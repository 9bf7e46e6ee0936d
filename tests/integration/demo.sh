#!/bin/bash
# demo.sh - what `make demo` runs (scripts/demo) works on the rig's demo
# world and tells each demo domain's situation apart, then shows the downgrade
# attack: plaintext delivery through the stripping proxy without MTA-STS,
# deferral with mtasts resolver.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
set -a
. "$RIG_ENV"
set +a
rc=0
out=$(bash "$MTASTS_SOURCE_DIR/scripts/demo" "$MTASTS" 2>&1) || rc=$?
t_eq "demo exits 0 (problems found are its point)" 0 "$rc"
t_contains "demo names its domains" "demo-healthy.test" "$RIG_DEMO_DOMAINS"
t_contains "healthy domain is protected" "demo-healthy.test: PROTECTED (mode enforce; 1 of 1 MX pass" "$out"
t_contains "expired policy host breaks the policy" "demo-expired-cert.test: BROKEN (no policy" "$out"
t_contains "expired policy host certificate named" "check.policy_host.cert.expired" "$out"
t_contains "no record means not deployed" "demo-no-record.test: NOT DEPLOYED" "$out"
t_contains "testing domain is in testing" "demo-testing.test: TESTING (mode testing" "$out"
t_contains "missing STARTTLS is found" "check.mx.starttls_missing" "$out"
t_lacks "no colour when not on a TTY" $'\033[' "$out"
t_contains "demo reports the exit status" "== exit status 1" "$out"
# The downgrade attack (stripped.test behind the rig's strip-proxy).
t_contains "downgrade: without MTA-STS the mail is sent in plaintext" \
	"postfix: status=sent (250 2.0.0 Ok: queued as" "$out"
t_contains "downgrade: ... in plaintext" ", in plaintext" "$out"
t_contains "downgrade: the attacker read the recipient" "RCPT TO:<alice@stripped.test>" "$out"
t_eq "downgrade: the attacker read the secret, once" 1 "$(grep -c '^  *the door code is [0-9]*$' <<<"$out")"
t_contains "downgrade: the resolver answers the enforce policy" \
	"resolver: stripped.test -> secure match=mx.stripped.test servername=hostname" "$out"
t_contains "downgrade: with it the mail is deferred" \
	"postfix: status=deferred (TLS is required, but was not offered by host mx.stripped.test[${RIG_STRIP_PROXY%:*}])" "$out"
t_lacks "downgrade: bob's mail never crossed" "RCPT TO:<bob@stripped.test>" "$out"
t_contains "downgrade: says nothing crossed" "=> no message text crossed" "$out"
t_done
