#!/bin/bash
# mtasts report summary: figures checked against sums of the generated
# input, each verdict, the three output formats and the exit codes.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
M=$MTASTS
gen=$MTASTS_SOURCE_DIR/tests/gen-reports.py
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# 120 reports for 3 domains over 6 days, as JSON, gzip and mail.
python3 "$gen" "$tmp/in" --count 120 --domains 3 --days 6 --start 2026-11-01 \
	--expect "$tmp/expect.json" --seed 7
S=sqlite://$tmp/s.db
out=$($M report ingest --store "$S" "$tmp/in" | tail -1)
t_eq "generated reports ingest" "120 ingested, 0 duplicates, 0 quarantined" "$out"
$M report summary --store "$S" --since 2026-11-01 --until 2026-11-06 --json >"$tmp/sum.json"; rc=$?
t_eq "failures found: exit 1" 1 "$rc"
check=$(python3 - "$tmp/sum.json" "$tmp/expect.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); e = json.load(open(sys.argv[2]))
bad = []
if sorted(d["domain"] for d in s["domains"]) != sorted(e):
    bad.append("domains %s" % [d["domain"] for d in s["domains"]])
if s["reports"] != sum(x["reports"] for d in e.values() for x in d["days"].values()):
    bad.append("report total %d" % s["reports"])
for d in s["domains"]:
    x = e[d["domain"]]
    days = {y["date"]: {"reports": y["reports"], "successful": y["successful-sessions"],
                        "failed": y["failed-sessions"]} for y in d["days"]}
    if days != x["days"]:
        bad.append("%s days %s != %s" % (d["domain"], days, x["days"]))
    types = {t["result-type"]: t["failed-sessions"] for t in d["failure-types"]}
    if types != x["types"]:
        bad.append("%s types %s != %s" % (d["domain"], types, x["types"]))
    # the per-day breakdown adds up to the per-type totals
    per = {}
    for y in d["days"]:
        for f in y["failures"]:
            per[f["result-type"]] = per.get(f["result-type"], 0) + f["failed-sessions"]
    if per != x["types"]:
        bad.append("%s breakdown %s" % (d["domain"], per))
    mx = {m["mx-host"]: m["reporters"] for m in d["mx-hosts"]}
    if mx != x["mx"]:
        bad.append("%s mx %s != %s" % (d["domain"], mx, x["mx"]))
    if d["reporters"] != x["reporters"]:
        bad.append("%s reporters" % d["domain"])
    if d["successful-sessions"] != sum(y["successful"] for y in x["days"].values()):
        bad.append("%s successful" % d["domain"])
    if sorted(d["new-failure-types"]) != sorted(x["types"]):
        bad.append("%s new types (nothing before the period)" % d["domain"])
    blocking = [t for t in d["failure-types"] if t["blocking"]]
    if d["ready"] == bool(blocking):
        bad.append("%s ready with blocking failures" % d["domain"])
print("; ".join(bad) or "ok")
PY
)
t_eq "summary figures are the sums of the input" ok "$check"

# The default period ends with the newest report; --days sets its length.
out=$($M report summary --store "$S" --days 6 --json | python3 -c 'import json,sys; p=json.load(sys.stdin)["period"]; print(p["since"], p["until"], p["days"])')
t_eq "default period" "2026-11-01 2026-11-06 6" "$out"
out=$($M report summary --store "$S" --days 2 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["reports"])')
want=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); print(sum(x["reports"] for d in e.values() for k,x in d["days"].items() if k >= "2026-11-05"))' "$tmp/expect.json")
t_eq "--days 2 counts the last two days" "$want" "$out"

# CSV: a header, one day row per domain and day, the same numbers.
$M report summary --store "$S" --since 2026-11-01 --until 2026-11-06 --csv >"$tmp/sum.csv"
t_eq "csv header" "domain,date,kind,reports,successful_sessions,failed_sessions,result_type,receiving_mx_hostname,receiving_ip,reporter,note" "$(head -1 "$tmp/sum.csv")"
check=$(python3 - "$tmp/sum.csv" "$tmp/expect.json" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
e = json.load(open(sys.argv[2]))
days = {}
for r in rows:
    if r["kind"] == "day":
        days[(r["domain"], r["date"])] = (int(r["reports"]), int(r["successful_sessions"]), int(r["failed_sessions"]))
want = {(d, k): (v["reports"], v["successful"], v["failed"]) for d, x in e.items() for k, v in x["days"].items()}
fails = sum(int(r["failed_sessions"]) for r in rows if r["kind"] == "failure")
print("ok" if days == want and fails == sum(sum(x["types"].values()) for x in e.values()) and
      sum(1 for r in rows if r["kind"] == "verdict") == len(e) else "csv differs")
PY
)
t_eq "csv figures" ok "$check"

# Text: readable, no colour when not on a terminal.
out=$($M report summary --store "$S" --since 2026-11-01 --until 2026-11-06 --domain D1.EXAMPLE.)
t_contains "text names the domain" "d1.example: NOT ready for enforce" "$out"
t_contains "text has the day table" "2026-11-03" "$out"
t_lacks "no colour off a terminal" $'\033[' "$out"

# Verdicts, one store per case, from hand-made reports.
rep() { # ORG ID DATE DOMAIN POLICYTYPE MX OK FAILURES(JSON list)
	printf '{"organization-name":"%s","report-id":"%s","date-range":{"start-datetime":"%sT00:00:00Z","end-datetime":"%sT23:59:59Z"},"policies":[{"policy":{"policy-type":"%s","policy-domain":"%s","mx-host":["%s"]},"summary":{"total-successful-session-count":%s,"total-failure-session-count":%s},"failure-details":%s}]}' \
		"$1" "$2" "$3" "$3" "$5" "$4" "$6" "$7" \
		"$(python3 -c 'import json,sys; print(sum(f["failed-session-count"] for f in json.loads(sys.argv[1])))' "$8")" "$8"
}
fail() { printf '[{"result-type":"%s","receiving-mx-hostname":"%s","receiving-ip":"192.0.2.1","failed-session-count":%s}]' "$1" "$2" "$3"; }
verdict() { # NAME WANT_EXIT WANT_READY STORE ARGS...
	local name=$1 want=$2 ready=$3 store=$4; shift 4
	local out rc=0
	out=$($M report summary --store "sqlite://$tmp/$store.db" --json "$@") || rc=$?
	t_eq "$name: exit" "$want" "$rc"
	t_eq "$name: ready" "$ready" "$(printf '%s' "$out" | python3 -c 'import json,sys; print(str(json.load(sys.stdin)["ready"]).lower())')"
}
mkdir -p "$tmp/v"
rep A a1 2026-11-02 ok.example sts mx1.ok.example 100 '[]' >"$tmp/v/a1.json"
rep B b1 2026-11-03 ok.example sts mx1.ok.example 50 '[]' >"$tmp/v/b1.json"
$M report ingest --store "sqlite://$tmp/ready.db" "$tmp/v" >/dev/null
verdict "two reporters, no failures" 0 true ready --min-reporters 2
verdict "three reporters needed" 1 false ready --min-reporters 3
out=$($M report summary --store "sqlite://$tmp/ready.db" --min-reporters 3)
t_contains "the reason names the MX" "mx mx1.ok.example reported by 2 organizations, fewer than 3" "$out"
rep C c1 2026-11-03 ok.example sts mx1.ok.example 10 "$(fail certificate-expired mx1.ok.example 7)" |
	$M report ingest --store "sqlite://$tmp/ready.db" - >/dev/null
verdict "an expired certificate" 1 false ready
out=$($M report summary --store "sqlite://$tmp/ready.db")
t_contains "blocking reason" "certificate-expired: 7 failed sessions that enforce would not deliver (mx mx1.ok.example; reported by C)" "$out"
rep A p1 2026-11-02 fetch.example sts mx1.fetch.example 100 "$(fail sts-policy-fetch-error "" 3)" >"$tmp/p1.json"
rep B p2 2026-11-02 fetch.example sts mx1.fetch.example 100 '[]' >"$tmp/p2.json"
$M report ingest --store "sqlite://$tmp/fetch.db" "$tmp/p1.json" "$tmp/p2.json" >/dev/null
verdict "policy fetch errors: ready, but failures found" 1 true fetch
verdict "a domain without reports" 1 false fetch --domain nothing.example
# New failure types: validation-failure was there the week before.
rep A n1 2026-10-28 new.example sts mx.new.example 1 "$(fail validation-failure mx.new.example 1)" >"$tmp/n1.json"
rep A n2 2026-11-04 new.example sts mx.new.example 1 "$(python3 -c 'import json; print(json.dumps([{"result-type":"validation-failure","failed-session-count":2},{"result-type":"starttls-not-supported","failed-session-count":5}]))')" >"$tmp/n2.json"
$M report ingest --store "sqlite://$tmp/new.db" "$tmp/n1.json" "$tmp/n2.json" >/dev/null
out=$($M report summary --store "sqlite://$tmp/new.db" --days 7 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["domains"][0]["new-failure-types"])')
t_eq "new failure types" "['starttls-not-supported']" "$out"

# Usage and store errors.
t_exit "bad date" 2 $M report summary --store "$S" --since 2026-02-30
t_exit "--json and --csv" 2 $M report summary --store "$S" --json --csv
t_exit "--days 0" 2 $M report summary --store "$S" --days 0
t_exit "--since after --until" 2 $M report summary --store "$S" --since 2026-11-05 --until 2026-11-01
t_exit "--since with --days" 2 $M report summary --store "$S" --since 2026-11-01 --days 3
t_exit "operands" 2 $M report summary --store "$S" extra
t_exit "unreachable store" 3 $M report summary --store sqlite:///nonexistent-dir/x/r.db
t_done
