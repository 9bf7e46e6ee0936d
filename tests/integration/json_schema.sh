#!/bin/bash
# json_schema.sh - the --json outputs of check, fetch and resolver ctl, run
# for real against the rig, validate against their schemas in docs/schema
# (python3-jsonschema, tests/json_schema.py): check and fetch of every
# scenario at once, fetch again from the cache, and every ctl command of a
# running daemon. Outputs altered on purpose (a key removed, an unknown key,
# a value outside its enum, a wrong type) must fail, so that the schemas are
# known to catch drift. Needs RIG_ENV and MTASTS.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$MTASTS_SOURCE_DIR/tests/integration/resolver_lib.bash"
. "$RIG_ENV"
M=$MTASTS
schemas=$MTASTS_SOURCE_DIR/docs/schema
# Debian's python3 has python3-jsonschema (scripts/install-deps).
py=python3
/usr/bin/python3 -c 'import jsonschema' 2>/dev/null && py=/usr/bin/python3
validate() { "$py" "$MTASTS_SOURCE_DIR/tests/json_schema.py" "$schemas/$1.schema.json" "${@:2}"; }
tmp=$(mktemp -d /tmp/mtasts-json-schema.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid"; rm -rf "$tmp"' EXIT
RIG=(--resolver "$RIG_RESOLVER" --ca-file "$RIG_CA_FILE")
[ -n "${RIG_TRUST_ANCHOR:-}" ] && RIG+=(--trust-anchor "$RIG_TRUST_ANCHOR")

# valid NAME SCHEMA FILE: the output validates.
valid() {
	local out
	out=$(validate "$2" "$3" 2>&1) && t_ok "$1 validates against $2.schema.json" ||
		t_fail "$1 validates against $2.schema.json" "$out"
}
# drift NAME SCHEMA FILE JQ-FILTER WANT: the output altered by JQ-FILTER fails,
# and the error names WANT.
drift() {
	local out
	jq "$4" "$3" >"$tmp/altered.json" || { t_fail "$1: jq $4"; return; }
	if out=$(validate "$2" "$tmp/altered.json" 2>&1); then
		t_fail "$1 is caught by $2.schema.json" "it validates"
	else
		t_contains "$1 is caught by $2.schema.json" "$5" "$out"
	fi
}

out=$("$py" "$MTASTS_SOURCE_DIR/tests/json_schema.py" --check "$schemas" 2>&1) &&
	t_ok "every docs/schema/*.schema.json is a valid draft 2020-12 schema" ||
	t_fail "every docs/schema/*.schema.json is a valid draft 2020-12 schema" "$out"

domains=()
for s in $RIG_SCENARIOS; do [ "$s" = policy-slow ] || domains+=("$s.test"); done

# check: every scenario (every verdict, TLS stage, DNS status), and --no-smtp.
"$M" check "${domains[@]}" "${RIG[@]}" --timeout 5 --json >"$tmp/check.json" 2>"$tmp/check.err"
t_eq "check --json of ${#domains[@]} domains prints them all" "${#domains[@]}" \
	"$(jq '.domains | length' "$tmp/check.json")"
valid "check --json of every scenario" check "$tmp/check.json"
for v in protected testing not-deployed broken; do
	t_contains "the scenarios include verdict $v" "\"$v\"" "$(jq -c '[.domains[].verdict]' "$tmp/check.json")"
done
"$M" check good-enforce.test mx-none.test "${RIG[@]}" --no-smtp --json >"$tmp/check-nosmtp.json"
valid "check --no-smtp --json" check "$tmp/check-nosmtp.json"
drift "check: a domain without its verdict" check "$tmp/check.json" 'del(.domains[0].verdict)' \
	"'verdict' is a required property"
drift "check: a verdict outside the enum" check "$tmp/check.json" '.domains[0].verdict = "secure"' \
	"\$.domains[0].verdict: 'secure' is not one of"
drift "check: an unknown key in the policy" check "$tmp/check.json" '.domains[0].policy.extra = 1' \
	"\$.domains[0].policy: Additional properties are not allowed ('extra'"
drift "check: a count as a string" check "$tmp/check.json" '.summary.broken |= tostring' \
	"\$.summary.broken:"
drift "check: a finding without its layer" check "$tmp/check.json" \
	'(.domains[] | select(.findings | length > 0) | .findings[0]) |= del(.layer)' "'layer' is a required property"
drift "check: a severity outside the enum" check "$tmp/check.json" \
	'(.domains[] | select(.findings | length > 0) | .findings[0].severity) = "fatal"' "'fatal' is not one of"

# fetch: every scenario, then again on a cache (source cache, negative-cache).
"$M" fetch "${domains[@]}" "${RIG[@]}" --timeout 5 --json >"$tmp/fetch.json" 2>"$tmp/fetch.err"
valid "fetch --json of every scenario" fetch "$tmp/fetch.json"
cache=(--cache "sqlite://$tmp/cache.db")
"$M" fetch "${domains[@]}" "${RIG[@]}" "${cache[@]}" --timeout 5 --json >/dev/null 2>&1
"$M" fetch "${domains[@]}" "${RIG[@]}" "${cache[@]}" --timeout 5 --json >"$tmp/fetch2.json" 2>&1
t_contains "the second fetch answers from the cache" '"cache"' "$(jq -c '[.domains[].source]' "$tmp/fetch2.json")"
valid "fetch --json from the cache" fetch "$tmp/fetch2.json"
drift "fetch: valid without a policy" fetch "$tmp/fetch.json" \
	'(.domains[] | select(.valid) | .policy) = null' "None is not of type 'object'"
drift "fetch: an outcome outside the enum" fetch "$tmp/fetch.json" '.domains[0].outcome = "fine"' \
	"'fine' is not one of"
drift "fetch: a renamed key" fetch "$tmp/fetch.json" \
	'.domains[0] |= (.result = .outcome | del(.outcome))' "'outcome' is a required property"

# resolver ctl: a daemon on the rig, each command.
cat >"$tmp/r.yml" <<EOF
host: 127.0.0.1
port: 0
cache:
  type: sqlite
  options:
    filename: $tmp/resolver.db
proactive_policy_fetching:
  enabled: false
default_zone:
  timeout: 5
zones:
  strict:
    strict_testing: true
dns_resolver: $RIG_RESOLVER
ca_file: $RIG_CA_FILE
trust_anchor_file: $RIG_TRUST_ANCHOR
dane: true
control_path: $tmp/ctl.sock
EOF
if resolver_start "$tmp/r.yml" "$tmp/resolver.log"; then
	pid=$RESOLVER_PID
	t_ok "the daemon starts"
else
	t_fail "the daemon starts"
	t_done
	exit 1
fi
C=(--config "$tmp/r.yml")
n=0
for d in good-enforce.test good-testing.test no-record.test servfail.test dane-signed.test \
	policy-404.test '[192.0.2.1]' 'strict good-testing.test'; do
	n=$((n + 1))
	# shellcheck disable=SC2086 # "ZONE DOMAIN" is two words
	"$M" resolver ctl query $d "${C[@]}" >"$tmp/query$n.json"
	valid "ctl query $d" resolver-ctl-query "$tmp/query$n.json"
done
t_contains "a query without a discovery is among them" '"answer":"NOTFOUND "' \
	"$(jq -c 'select(has("outcome") | not)' "$tmp"/query*.json)"
"$M" resolver ctl dump "${C[@]}" >"$tmp/dump.json"
t_contains "ctl dump lists the answers" "good-enforce.test" "$(cat "$tmp/dump.json")"
valid "ctl dump" resolver-ctl-dump "$tmp/dump.json"
"$M" resolver ctl export "${C[@]}" >"$tmp/export.json"
t_contains "ctl export lists the cached policies" "good-enforce.test" "$(cat "$tmp/export.json")"
valid "ctl export" resolver-ctl-export "$tmp/export.json"
"$M" resolver ctl stats "${C[@]}" >"$tmp/stats.json"
valid "ctl stats" resolver-ctl-stats "$tmp/stats.json"
"$M" resolver ctl purge good-testing.test "${C[@]}" >"$tmp/purge1.json"
valid "ctl purge DOMAIN" resolver-ctl-purge "$tmp/purge1.json"
"$M" resolver ctl purge all "${C[@]}" >"$tmp/purge2.json"
t_eq "ctl purge all says how many it skipped" 0 "$(jq .skipped "$tmp/purge2.json")"
valid "ctl purge all" resolver-ctl-purge "$tmp/purge2.json"
"$M" resolver ctl frobnicate "${C[@]}" >"$tmp/error1.json"
valid "ctl with an unknown command" resolver-ctl-error "$tmp/error1.json"
"$M" resolver ctl purge "${C[@]}" >"$tmp/error2.json"
valid "ctl purge without a domain" resolver-ctl-error "$tmp/error2.json"
drift "ctl stats: a counter missing" resolver-ctl-stats "$tmp/stats.json" 'del(.answers.dane)' \
	"'dane' is a required property"
drift "ctl stats: a new counter" resolver-ctl-stats "$tmp/stats.json" '.answers.other = 0' \
	"Additional properties are not allowed ('other'"
drift "ctl dump: a kind outside the enum" resolver-ctl-dump "$tmp/dump.json" \
	'.answers[0].kind = "maybe"' "'maybe' is not one of"
drift "ctl query: an answer Postfix does not know" resolver-ctl-query "$tmp/query1.json" \
	'.answer = "YES secure"' "is not valid under any of the given schemas"
t_done
