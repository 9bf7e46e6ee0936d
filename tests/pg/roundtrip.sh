#!/bin/bash
# Round trips: the same generated reports (several domains, days, failure
# types), once as report emails read from files and once as HTTPS POSTs to
# `report receive`, each into SQLite and into PostgreSQL: the four stores
# give the very same `report summary --json`, and its figures are the sums
# the generator computed.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$MTASTS_SOURCE_DIR/tests/pg/common.bash"
M=$MTASTS
gen=$MTASTS_SOURCE_DIR/tests/gen-reports.py
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; pg_drop_all; rm -rf "$tmp"' EXIT

# One seed, two forms: the mail messages and the gzip bodies hold the same reports.
python3 "$gen" "$tmp/mail" --count 150 --domains 4 --days 7 --start 2026-11-01 --format eml \
	--seed 11 --expect "$tmp/expect.json"
python3 "$gen" "$tmp/post" --count 150 --domains 4 --days 7 --start 2026-11-01 --format gz --seed 11
t_eq "150 mails" 150 "$(ls "$tmp/mail"/*.eml | wc -l)"

pg_db mail; PM=$PG_URL
pg_db post; PP=$PG_URL
SM=sqlite://$tmp/mail.db
SP=sqlite://$tmp/post.db
t_eq "mail into SQLite" "150 ingested, 0 duplicates, 0 quarantined" "$($M report ingest --store "$SM" "$tmp/mail" | tail -1)"
t_eq "mail into PostgreSQL" "150 ingested, 0 duplicates, 0 quarantined" "$($M report ingest --store "$PM" "$tmp/mail" | tail -1)"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" -subj /CN=tlsrpt.test \
	-addext subjectAltName=DNS:tlsrpt.test >/dev/null 2>&1
ADDR=127.$((16 + RANDOM % 200)).$((16 + RANDOM % 200)).$((2 + RANDOM % 200))
post_all() { # STORE: start receive on it, POST every report, stop it
	local log=$tmp/log.$RANDOM port="" f ok=0
	$M report receive --listen "$ADDR:0" --cert "$tmp/cert.pem" --key "$tmp/key.pem" --store "$1" >"$log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	for _ in $(seq 1 100); do
		port=$(sed -n 's/^receive: listening on .*:\([0-9][0-9]*\)$/\1/p' "$log")
		[ -n "$port" ] && break
		sleep 0.05
	done
	for f in "$tmp/post"/*.json.gz; do
		[ "$(curl -sS --max-time 10 --cacert "$tmp/cert.pem" --resolve "tlsrpt.test:$port:$ADDR" \
			-H 'Content-Type: application/tlsrpt+gzip' --data-binary "@$f" -o /dev/null \
			-w '%{http_code}' "https://tlsrpt.test:$port/")" = 200 ] && ok=$((ok + 1))
	done
	kill -TERM "$pid"; wait "$pid"
	echo "$ok"
}
t_eq "POSTs into SQLite: 150 answered 200" 150 "$(post_all "$SP")"
t_eq "POSTs into PostgreSQL: 150 answered 200" 150 "$(post_all "$PP")"

args=(--since 2026-11-01 --until 2026-11-07 --json)
$M report summary --store "$SM" "${args[@]}" >"$tmp/sm.json"
$M report summary --store "$PM" "${args[@]}" >"$tmp/pm.json"
$M report summary --store "$SP" "${args[@]}" >"$tmp/sp.json"
$M report summary --store "$PP" "${args[@]}" >"$tmp/pp.json"
t_eq "mail: SQLite and PostgreSQL summaries identical" "" "$(diff "$tmp/sm.json" "$tmp/pm.json")"
t_eq "POST: SQLite and PostgreSQL summaries identical" "" "$(diff "$tmp/sp.json" "$tmp/pp.json")"
t_eq "mail and POST summaries identical" "" "$(diff "$tmp/sm.json" "$tmp/sp.json")"
for fmt in --csv ""; do
	t_eq "summary ${fmt:-text} identical across stores" "$($M report summary --store "$SM" --since 2026-11-01 --until 2026-11-07 $fmt)" \
		"$($M report summary --store "$PP" --since 2026-11-01 --until 2026-11-07 $fmt)"
done
check=$(python3 - "$tmp/pm.json" "$tmp/expect.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); e = json.load(open(sys.argv[2]))
bad = []
for d in s["domains"]:
    x = e[d["domain"]]
    days = {y["date"]: {"reports": y["reports"], "successful": y["successful-sessions"],
                        "failed": y["failed-sessions"]} for y in d["days"]}
    if days != x["days"]: bad.append(d["domain"] + " days")
    if {t["result-type"]: t["failed-sessions"] for t in d["failure-types"]} != x["types"]: bad.append(d["domain"] + " types")
    if {m["mx-host"]: m["reporters"] for m in d["mx-hosts"]} != x["mx"]: bad.append(d["domain"] + " mx")
print("; ".join(bad) or ("ok" if len(s["domains"]) == len(e) == 4 and s["reports"] == 150 else "domains"))
PY
)
t_eq "the figures are the generator's sums" ok "$check"
t_eq "list identical across stores (but for ids and sources)" \
	"$($M report list --json --store "$SM" | python3 -c 'import json,sys; print(sorted((r["organization-name"], r["report-id"], r["total-failure-session-count"]) for r in json.load(sys.stdin)))')" \
	"$($M report list --json --store "$PP" | python3 -c 'import json,sys; print(sorted((r["organization-name"], r["report-id"], r["total-failure-session-count"]) for r in json.load(sys.stdin)))')"
t_done
