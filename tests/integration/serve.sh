#!/bin/bash
# serve.sh - `mtasts serve domain add|set --mx auto` against the rig's DNS:
# the patterns are the domain's live MX hosts; a null MX, no MX records and
# a failing server are refused with their own messages and exit codes.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$RIG_ENV"
M=$MTASTS
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export MTASTS_SERVE_STORE=sqlite://$tmp/serve.db
R=(--resolver "$RIG_RESOLVER" --timeout 5)
$M serve init --zone sts.svc.test --service mta-sts.svc.test >/dev/null

js=$($M serve domain add good-multi-mx.test "${R[@]}" --json); rc=$?
t_eq "add --mx auto (the default): exit 0" 0 "$rc"
t_eq "the patterns are the MX hosts, sorted" "backup.mx.test valid.mx.test" \
	"$(jq -r '.mx | join(" ")' <<<"$js")"
t_eq "mx_auto is kept" true "$(jq -r .mx_auto <<<"$js")"
js=$($M serve domain add good-enforce.test --mx auto "${R[@]}" --json); rc=$?
t_eq "--mx auto said: exit 0" 0 "$rc"
t_eq "one MX host" "valid.mx.test" "$(jq -r '.mx | join(" ")' <<<"$js")"

out=$($M serve domain add null-mx.test "${R[@]}" 2>&1); rc=$?
t_eq "a null MX: refused (1)" 1 "$rc"
t_contains "a null MX: says so" "null MX" "$out"
out=$($M serve domain add mx-none.test "${R[@]}" 2>&1); rc=$?
t_eq "no MX records: refused (1)" 1 "$rc"
t_contains "no MX records: says to give patterns" "give the patterns with --mx" "$out"
out=$($M serve domain add servfail.test "${R[@]}" 2>&1); rc=$?
t_eq "a failing DNS server: could not complete (3)" 3 "$rc"
t_contains "a failing DNS server: says so" "MX lookup failed" "$out"
t_eq "nothing stored for the refused" "good-enforce.test good-multi-mx.test" \
	"$($M serve domain list --json | jq -r '[.[].domain] | join(" ")')"

# Given patterns, then back to auto: set --mx auto looks the MX up again.
$M serve domain set good-enforce.test --mx '*.mx.test' >/dev/null
t_eq "set patterns" "*.mx.test false" \
	"$($M serve domain show good-enforce.test --json | jq -r '"\(.mx[0]) \(.mx_auto)"')"
js=$($M serve domain set good-enforce.test --mx auto "${R[@]}" --json); rc=$?
t_eq "set --mx auto: exit 0" 0 "$rc"
t_eq "back to the live MX" "valid.mx.test true" "$(jq -r '"\(.mx[0]) \(.mx_auto)"' <<<"$js")"
t_done
