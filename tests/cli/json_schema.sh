#!/bin/bash
# json_schema.sh - the --json outputs of policy and report, run for real,
# validate against their schemas in docs/schema (python3-jsonschema,
# tests/json_schema.py): policy lint of every policy vector, lint-record of
# every record vector, match, generate; report list, show and summary of the
# reports in tests/data and of generated ones. Outputs altered on purpose must
# fail, so that the schemas are known to catch drift; every schema is used by
# a test (here or tests/integration/json_schema.sh) and linked from the docs.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
M=$MTASTS
src=$MTASTS_SOURCE_DIR
schemas=$src/docs/schema
vectors=$src/tests/vectors
py=python3
/usr/bin/python3 -c 'import jsonschema' 2>/dev/null && py=/usr/bin/python3
validate() { "$py" "$src/tests/json_schema.py" "$schemas/$1.schema.json" "${@:2}"; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

valid() { # NAME SCHEMA FILE...
	local out
	out=$(validate "$2" "${@:3}" 2>&1) && t_ok "$1 validates against $2.schema.json" ||
		t_fail "$1 validates against $2.schema.json" "$out"
}
drift() { # NAME SCHEMA FILE JQ-FILTER WANT: the altered output fails, naming WANT
	local out
	jq "$4" "$3" >"$tmp/altered.json" || { t_fail "$1: jq $4"; return; }
	if out=$(validate "$2" "$tmp/altered.json" 2>&1); then
		t_fail "$1 is caught by $2.schema.json" "it validates"
	else
		t_contains "$1 is caught by $2.schema.json" "$5" "$out"
	fi
}

out=$("$py" -c 'import importlib.metadata as m, jsonschema; print(m.version("jsonschema"))' 2>&1) &&
	t_ok "python3-jsonschema $out is installed" || t_fail "python3-jsonschema is installed" "$out"
out=$("$py" "$src/tests/json_schema.py" --check "$schemas" 2>&1) &&
	t_ok "every docs/schema/*.schema.json is a valid draft 2020-12 schema" ||
	t_fail "every docs/schema/*.schema.json is a valid draft 2020-12 schema" "$out"
for s in "$schemas"/*.schema.json; do
	name=$(basename "$s" .schema.json)
	[ "$name" = common ] && continue
	grep -qE "(valid|drift) .* $name " "$0" "$src/tests/integration/json_schema.sh" &&
		t_ok "$name.schema.json is tested" || t_fail "$name.schema.json is tested"
	grep -q "schema/$name.schema.json" "$src/docs/json-schema.md" &&
		t_ok "$name.schema.json is in docs/json-schema.md" ||
		t_fail "$name.schema.json is in docs/json-schema.md"
done

# policy lint: every policy vector (valid and invalid), a file and stdin.
mkdir "$tmp/v"
for f in "$vectors"/policy/*.case; do
	n=$(basename "$f" .case)
	sed '1,/^---$/d' "$f" >"$tmp/v/$n.in"
	"$M" policy lint --json "$tmp/v/$n.in" >"$tmp/v/$n.json"
done
n=$(ls "$tmp"/v/*.json | wc -l)
[ "$n" -ge 100 ] && t_ok "policy lint --json of $n policy vectors" || t_fail "policy lint of the vectors ($n)"
valid "policy lint --json of every policy vector" policy-lint "$tmp"/v/*.json
t_contains "both valid and invalid policies among them" "false true" \
	"$(jq -r .valid "$tmp"/v/*.json | sort -u | tr '\n' ' ')"
printf 'version: STSv1\r\nmode: testing\r\nmx: mx.example.com\r\nmax_age: 604800\r\n' |
	"$M" policy lint --json - >"$tmp/lint-stdin.json"
valid "policy lint --json -" policy-lint "$tmp/lint-stdin.json"
cp "$tmp/lint-stdin.json" "$tmp/lint.json"
drift "policy lint: valid without its policy" policy-lint "$tmp/lint.json" 'del(.policy)' \
	"'policy' is a required property"
drift "policy lint: a mode outside the enum" policy-lint "$tmp/lint.json" '.policy.mode = "strict"' \
	"'strict' is not one of"
drift "policy lint: max_age over a year" policy-lint "$tmp/lint.json" '.policy.max_age = 31557601' \
	"is greater than the maximum"
drift "policy lint: invalid without an error" policy-lint "$tmp/lint.json" '.valid = false | del(.policy)' \
	"does not contain items matching"
first=$(ls "$tmp"/v/*.json | head -1)
drift "policy lint: a finding with an extra key" policy-lint "$first" \
	'.findings[0].extra = "x"' "Unevaluated properties are not allowed ('extra'"
drift "policy lint: a finding line 0" policy-lint "$first" '.findings[0].line = 0' \
	"is less than the minimum of 1"

# policy lint-record: every _mta-sts and _smtp._tls vector, one TXT record a line.
for kind in sts-record tlsrpt-record; do
	flag=()
	[ "$kind" = tlsrpt-record ] && flag=(--tlsrpt)
	for f in "$vectors/$kind"/*.case; do
		n=$(basename "$f" .case)
		mapfile -t txts < <(sed '1,/^---$/d' "$f")
		[ "${#txts[@]}" -gt 0 ] || txts=("")
		"$M" policy lint-record "${flag[@]}" --json "${txts[@]}" >"$tmp/v/$kind-$n.rec"
	done
	valid "policy lint-record ${flag[*]} --json of every $kind vector" policy-lint-record \
		"$tmp/v/$kind"-*.rec
done
"$M" policy lint-record --tlsrpt --json 'v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/x' \
	>"$tmp/rua.json"
valid "policy lint-record --tlsrpt with two rua" policy-lint-record "$tmp/rua.json"
drift "policy lint-record: an sts record with rua" policy-lint-record "$tmp/rua.json" '.record = "sts"' \
	"'id' is a required property"
drift "policy lint-record: a scheme outside the enum" policy-lint-record "$tmp/rua.json" \
	'.rua[0].scheme = "http"' "'http' is not one of"

# policy match and generate.
"$M" policy match --json '*.example.com' mx.example.com >"$tmp/match1.json"
"$M" policy match --json '*.example.com' a.b.example.com >"$tmp/match2.json"
valid "policy match --json (a match and none)" policy-match "$tmp/match1.json" "$tmp/match2.json"
drift "policy match: match as a string" policy-match "$tmp/match1.json" '.match = "yes"' \
	"'yes' is not of type 'boolean'"
"$M" policy generate --json --mx mx1.example.com --mx '*.example.net' --mode enforce \
	--max-age 1209600 --domain example.com --rua https://tlsrpt.example.com/v1 >"$tmp/gen1.json"
"$M" policy generate --json --mx mx1.example.com >"$tmp/gen2.json"
valid "policy generate --json (with and without --domain)" policy-generate "$tmp/gen1.json" "$tmp/gen2.json"
drift "policy generate: an id with a dash" policy-generate "$tmp/gen1.json" \
	'.sts_record.value = "v=STSv1; id=2026-12-01"' "does not match"
drift "policy generate: a policy file with LF lines" policy-generate "$tmp/gen1.json" \
	'.policy_file |= gsub("\r"; "")' "does not match"

# report list and show: the real reports of tests/data (odd senders; the
# .eml is left out, as a build without GMime cannot read mail).
S=sqlite://$tmp/r.db
"$M" report ingest --store "$S" "$src/tests/data/tlsrpt"/*.json >/dev/null
"$M" report list --store "$S" --json >"$tmp/list.json"
t_eq "report list --json lists the 8 reports" 8 "$(jq length "$tmp/list.json")"
valid "report list --json" report-list "$tmp/list.json"
"$M" report list --store "$S" --json --domain nothing.example >"$tmp/list-empty.json"
valid "report list --json of no report" report-list "$tmp/list-empty.json"
for id in $(jq '.[].id' "$tmp/list.json"); do
	"$M" report show "$id" --store "$S" --json >"$tmp/show-$id.json"
done
valid "report show --json of each report" report-show "$tmp"/show-*.json
drift "report list: start without end" report-list "$tmp/list.json" '.[0] |= del(.end)' \
	"'end' is a dependency of 'start'"
drift "report list: a negative count" report-list "$tmp/list.json" \
	'.[0]."total-failure-session-count" = -1' "is less than the minimum of 0"
drift "report show: a policy without its summary" report-show "$tmp/show-1.json" \
	'.policies[0] |= del(.summary)' "'summary' is a required property"
drift "report show: an unknown key in a failure detail" report-show "$tmp/show-1.json" \
	'.policies[0]."failure-details" = [{"result-type": "x", "failed-session-count": 1, "mx": "y"}]' \
	"Additional properties are not allowed ('mx'"

# report summary: the real reports, generated ones (every figure), a domain
# without reports, and a domain that is ready.
"$M" report summary --store "$S" --json --since 2024-01-01 --until 2026-12-31 >"$tmp/sum1.json"
python3 "$src/tests/gen-reports.py" "$tmp/in" --count 60 --format gz --domains 3 --days 6 \
	--start 2026-11-01 --expect "$tmp/expect.json" --seed 7 >/dev/null
G=sqlite://$tmp/g.db
"$M" report ingest --store "$G" "$tmp/in" >/dev/null
"$M" report summary --store "$G" --json --since 2026-11-01 --until 2026-11-06 >"$tmp/sum2.json"
"$M" report summary --store "$G" --json --domain nothing.example >"$tmp/sum3.json"
rep() { # ORG ID DOMAIN
	printf '{"organization-name":"%s","report-id":"%s","date-range":{"start-datetime":"2026-11-02T00:00:00Z","end-datetime":"2026-11-02T23:59:59Z"},"policies":[{"policy":{"policy-type":"sts","policy-domain":"%s","mx-host":["mx.%s"]},"summary":{"total-successful-session-count":10,"total-failure-session-count":0}}]}' \
		"$1" "$2" "$3" "$3"
}
mkdir "$tmp/ready"
rep A a1 ok.example >"$tmp/ready/a1.json"
rep B b1 ok.example >"$tmp/ready/b1.json"
"$M" report ingest --store "sqlite://$tmp/ready.db" "$tmp/ready" >/dev/null
"$M" report summary --store "sqlite://$tmp/ready.db" --json >"$tmp/sum4.json"
t_eq "a ready domain among them" true "$(jq .ready "$tmp/sum4.json")"
valid "report summary --json (real, generated, no reports, ready)" report-summary \
	"$tmp/sum1.json" "$tmp/sum2.json" "$tmp/sum3.json" "$tmp/sum4.json"
drift "report summary: ready with a blocking reason" report-summary "$tmp/sum3.json" \
	'.domains[0].ready = true' "False was expected"
drift "report summary: a reason code outside the enum" report-summary "$tmp/sum2.json" \
	'.domains[0].reasons[0].code = "summary.unknown"' "'summary.unknown' is not one of"
drift "report summary: a date in another format" report-summary "$tmp/sum2.json" \
	'.period.since = "01/11/2026"' "does not match"
drift "report summary: a renamed key" report-summary "$tmp/sum2.json" \
	'.min_reporters = ."min-reporters" | del(."min-reporters")' "'min-reporters' is a required property"
# serve: the domain objects of add, set, show, list and remove.
export MTASTS_SERVE_STORE=sqlite://$tmp/serve.db
"$M" serve init --zone sts.host.example --service mta-sts.host.example \
	--rua mailto:tlsrpt@host.example >/dev/null
"$M" serve domain add example.com --mx mx1.example.com,mx2.example.com --json >"$tmp/s-add.json"
"$M" serve domain add example.org --mx '*.mail.example.org' --mode enforce --json >"$tmp/s-add2.json"
"$M" serve domain set example.com --max-age 86400 --json >"$tmp/s-set.json"
"$M" serve domain show example.com --json >"$tmp/s-show.json"
"$M" serve domain list --json >"$tmp/s-list.json"
"$M" serve domain remove example.org --json >"$tmp/s-remove.json"
valid "serve domain add/set/show/list/remove --json" serve-domain "$tmp"/s-*.json
t_eq "serve: remove of a domain never published is the gone form" gone "$(jq -r .phase "$tmp/s-remove.json")"
drift "serve: a phase outside the enum" serve-domain "$tmp/s-show.json" '.phase = "frozen"' "frozen"
drift "serve: an id with a dash" serve-domain "$tmp/s-show.json" '.id = "2026-12-04"' "2026-12-04"
drift "serve: a record name with a final dot" serve-domain "$tmp/s-show.json" \
	'.records.customer[0].name = "mta-sts.example.com."' "mta-sts.example.com."
t_done
