#!/bin/bash
# demo.sh - what `make demo` runs (scripts/demo) works on the rig's demo
# world and tells each demo domain's situation apart.
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
t_done
