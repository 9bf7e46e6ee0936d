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
t_contains "healthy domain enforces" "demo-healthy.test: policy (enforce" "$out"
t_contains "expired policy host is a webpki failure" \
	"demo-expired-cert.test: no policy [sts-webpki-invalid]" "$out"
t_contains "no record means no policy" "demo-no-record.test: no policy [no-policy]" "$out"
t_contains "testing domain is in testing" "demo-testing.test: policy (testing" "$out"
t_contains "demo reports the exit status" "== exit status 1" "$out"
t_done
