#!/bin/bash
# The PostgreSQL report store against a real server (tests/rig/pg): the
# same counts as SQLite for the real reports, the same list and show,
# duplicates, quarantine, migrations, clear connection errors, a kill -9
# mid-batch and two concurrent ingests of the same reports.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$MTASTS_SOURCE_DIR/tests/pg/common.bash"
M=$MTASTS
data=$MTASTS_SOURCE_DIR/tests/data/tlsrpt
tmp=$(mktemp -d)
trap 'pg_drop_all; rm -rf "$tmp"' EXIT

pg_db store; P=$PG_URL
out=$($M report ingest --store "$P" "$data"); rc=$?
t_eq "real reports ingest, exit 0" 0 "$rc"
t_contains "totals" "9 ingested, 1 duplicate, 0 quarantined" "$out"
t_eq "9 reports" 9 "$(pq "$P" 'SELECT COUNT(*) FROM reports')"
t_eq "10 policies" 10 "$(pq "$P" 'SELECT COUNT(*) FROM policies')"
t_eq "8 failure details" 8 "$(pq "$P" 'SELECT COUNT(*) FROM failure_details')"
t_eq "successful sessions" 5381 "$(pq "$P" 'SELECT SUM(successful) FROM policies')"
t_eq "failed sessions" 310 "$(pq "$P" 'SELECT SUM(failed) FROM policies')"
t_eq "findings" 14 "$(pq "$P" 'SELECT COUNT(*) FROM findings')"
t_eq "schema version" 1 "$(pq "$P" 'SELECT MAX(version) FROM schema_version')"
t_eq "raw bodies kept byte for byte" "$(wc -c <"$data/parsedmarc-mail.ru.json")" \
	"$(pq "$P" "SELECT octet_length(raw) FROM reports WHERE organization = 'Mail.ru'")"
out=$($M report ingest --store "$P" "$data"); rc=$?
t_eq "second ingest exit 0" 0 "$rc"
t_contains "second time all duplicates" "0 ingested, 10 duplicates, 0 quarantined" "$out"
t_eq "still 9 reports" 9 "$(pq "$P" 'SELECT COUNT(*) FROM reports')"

# The same reports in SQLite: list, show and summary agree.
S=sqlite://$tmp/s.db
$M report ingest --store "$S" "$data" >/dev/null
t_eq "list --json as SQLite's" "$($M report list --json --store "$S")" "$($M report list --json --store "$P")"
t_eq "list --domain as SQLite's" "$($M report list --domain foo-bar.io --store "$S")" "$($M report list --domain foo-bar.io --store "$P")"
same=0
for id in $(seq 1 9); do
	[ "$($M report show --json "$id" --store "$S")" = "$($M report show --json "$id" --store "$P")" ] && same=$((same + 1))
done
t_eq "show --json as SQLite's, all 9" 9 "$same"
t_eq "summary --json as SQLite's" \
	"$($M report summary --json --since 2016-01-01 --until 2026-01-01 --store "$S")" \
	"$($M report summary --json --since 2016-01-01 --until 2026-01-01 --store "$P")"
t_eq "postgres:// is the same store" 9 "$($M report list --json --store "${P/postgresql:/postgres:}" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
t_exit "show unknown id exits 1" 1 $M report show 999 --store "$P"

# Inputs that are not reports are quarantined in PostgreSQL too.
mkdir -p "$tmp/bad"
printf '{"hello":"world"}' >"$tmp/bad/a.json"
head -c 5000000 /dev/zero | gzip -9 >"$tmp/bad/b.json.gz"
printf '{"policies":[],"organization-name":"\xff"}' >"$tmp/bad/c.json"
out=$($M report ingest --store "$P" "$tmp/bad"); rc=$?
t_eq "quarantine exit 1" 1 "$rc"
t_eq "quarantine rows" 3 "$(pq "$P" 'SELECT COUNT(*) FROM quarantine')"
t_eq "quarantine keeps the raw bytes" "$(wc -c <"$tmp/bad/b.json.gz")" "$(pq "$P" "SELECT octet_length(raw) FROM quarantine WHERE source LIKE '%b.json.gz'")"

# A second copy with the same organization and report-id: a duplicate when
# it says the same however written, quarantined when it says otherwise.
pg_db conflict; C=$PG_URL
python3 - "$data/parsedmarc-rfc8460.json" "$tmp" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
json.dump(dict(reversed(list(r.items()))), open(sys.argv[2] + "/c-same.json", "w"), indent=2)
r["policies"][0]["failure-details"][0]["failed-session-count"] += 7
json.dump(r, open(sys.argv[2] + "/c-other.json", "w"))
PY
$M report ingest --store "$C" "$data/parsedmarc-rfc8460.json" >/dev/null
out=$($M report ingest --store "$C" "$data/reportviewer-rfc-example.json" "$tmp/c-same.json"); rc=$?
t_eq "same report written otherwise: exit 0" 0 "$rc"
t_contains "same report written otherwise: duplicates" "0 ingested, 2 duplicates, 0 quarantined" "$out"
out=$($M report ingest --store "$C" "$tmp/c-other.json"); rc=$?
t_eq "same report-id, other content: exit 1" 1 "$rc"
t_contains "same report-id, other content: quarantined with the finding" "c-other.json: quarantined: report.report_id.conflict: Company-X report-id 5065427c-23d3-47ca-b6e0-946ea0e8c4be is stored as report 1 with other content" "$out"
t_eq "the conflicting copy in the quarantine" "$(wc -c <"$tmp/c-other.json")" "$(pq "$C" "SELECT octet_length(raw) FROM quarantine WHERE reason LIKE 'report.report_id.conflict:%'")"
t_eq "the first copy stays" "1|$(wc -c <"$data/parsedmarc-rfc8460.json")" "$(pq "$C" "SELECT COUNT(*) || '|' || MAX(octet_length(raw)) FROM reports")"

# The quarantine keeps at most 256 MiB of bodies in PostgreSQL too.
pg_db junk; J=$PG_URL
mkdir -p "$tmp/junk"
head -c 31000000 /dev/zero >"$tmp/junk/j1.json"
for i in 2 3 4 5 6 7 8 9; do ln "$tmp/junk/j1.json" "$tmp/junk/j$i.json"; done
$M report ingest --store "$J" "$tmp/junk" >/dev/null
t_eq "quarantine: bodies kept up to the cap" "8|248000000" "$(pq "$J" "SELECT COUNT(raw) || '|' || SUM(octet_length(raw)) FROM quarantine")"
t_eq "quarantine: the row past the cap says so" 1 "$(pq "$J" "SELECT COUNT(*) FROM quarantine WHERE raw IS NULL AND source LIKE '%j9.json' AND reason LIKE '%(body not kept: the quarantine holds 256 MiB of bodies)'")"
rm -rf "$tmp/junk"

# Connection errors: refused, a server that never answers, a bad role.
out=$($M report list --store "postgresql://mtasts@$MTASTS_PG_ADDR:1/x" 2>&1); rc=$?
t_eq "refused: exit 3" 3 "$rc"
t_contains "refused: says so" "postgresql: cannot connect: connection to server at \"$MTASTS_PG_ADDR\", port 1 failed: Connection refused" "$out"
python3 - "$MTASTS_PG_ADDR" >"$tmp/port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind((sys.argv[1], 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept(); time.sleep(8)
PY
silent=$!
for _ in $(seq 1 50); do [ -s "$tmp/port" ] && break; sleep 0.05; done
start=$(date +%s)
out=$($M report list --store "postgresql://mtasts@$MTASTS_PG_ADDR:$(cat "$tmp/port")/x?connect_timeout=2" 2>&1); rc=$?
t_eq "silent server: exit 3" 3 "$rc"
t_contains "silent server: timeout" "timeout expired" "$out"
[ $(( $(date +%s) - start )) -le 6 ] && t_ok "silent server: gives up after connect_timeout" || t_fail "silent server: took $(( $(date +%s) - start ))s"
kill "$silent" 2>/dev/null; wait "$silent" 2>/dev/null
out=$($M report list --store "postgresql://nobody@$MTASTS_PG_ADDR:$MTASTS_PG_PORT/x" 2>&1); rc=$?
t_eq "unknown role: exit 3" 3 "$rc"
t_contains "unknown role: the server's words" 'role "nobody" does not exist' "$out"
t_lacks "no password in messages" "secret" "$($M report list --store "postgresql://u:secret@$MTASTS_PG_ADDR:1/x" 2>&1)"

# A store made by a newer program is refused, not altered.
pg_db newer; N=$PG_URL
$M report list --store "$N" >/dev/null
pq "$N" 'INSERT INTO schema_version VALUES (99)'
out=$($M report list --store "$N" 2>&1); rc=$?
t_eq "newer schema: exit 3" 3 "$rc"
t_contains "newer schema: says so" "schema version 99 is newer than this program's 1" "$out"

# Two programs open a fresh database at once: one migrates, both work.
pg_db race; R=$PG_URL
$M report list --store "$R" >"$tmp/r1" 2>&1 & a=$!
$M report list --store "$R" >"$tmp/r2" 2>&1 & b=$!
wait $a; ra=$?; wait $b; rb=$?
t_eq "concurrent first opens succeed" "0 0" "$ra $rb"
t_eq "migrated once" 1 "$(pq "$R" 'SELECT COUNT(*) FROM schema_version')"

# kill -9 in the middle of a long ingest, then run it again.
mkdir -p "$tmp/many"
python3 - "$data/parsedmarc-rfc8460.json" "$tmp/many" <<'PY'
import json, sys
base = json.load(open(sys.argv[1]))
for i in range(1500):
    base["report-id"] = "kill-test-%05d" % i
    json.dump(base, open("%s/r%05d.json" % (sys.argv[2], i), "w"))
PY
pg_db kill; K=$PG_URL
$M report ingest --store "$K" "$tmp/many" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 400); do
	n=$(pq "$K" 'SELECT COUNT(*) FROM reports' 2>/dev/null || echo 0)
	[ "${n:-0}" -ge 100 ] && break
	sleep 0.05
done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
before=$(pq "$K" 'SELECT COUNT(*) FROM reports')
[ "$before" -gt 0 ] && [ "$before" -lt 1500 ] && t_ok "killed midway ($before of 1500)" || t_fail "killed midway ($before of 1500)"
t_eq "no half-stored report" 0 "$(pq "$K" 'SELECT COUNT(*) FROM reports r WHERE NOT EXISTS (SELECT 1 FROM policies p WHERE p.report = r.id)')"
t_eq "every stored report has its 3 failures" 0 "$(pq "$K" 'SELECT COUNT(*) FROM policies p WHERE (SELECT COUNT(*) FROM failure_details f WHERE f.policy = p.id) <> 3')"
out=$($M report ingest --store "$K" "$tmp/many" | tail -1)
t_eq "second run stores the rest" "$((1500 - before)) ingested, $before duplicate$([ "$before" = 1 ] || echo s), 0 quarantined" "$out"
t_eq "1500 reports" 1500 "$(pq "$K" 'SELECT COUNT(*) FROM reports')"
# A summary walks them in batches of 500 (all on one day: the batches are
# cut by id); each report is counted once, with its three failures.
out=$($M report summary --store "$K" --since 2016-04-01 --until 2016-04-01 --json |
	python3 -c 'import json,sys; s=json.load(sys.stdin); d=s["domains"][0]; print(s["reports"], d["failed-sessions"], sum(t["failed-sessions"] for t in d["failure-types"]))')
t_eq "summary over 1500 reports" "1500 $((1500 * 303)) $((1500 * 303))" "$out"

# Two ingests of the same 300 reports at once: each stored once.
pg_db twice; T=$PG_URL
$M report list --store "$T" >/dev/null
mkdir -p "$tmp/few"; cp "$tmp/many"/r00[0-2]*.json "$tmp/few"/
$M report ingest --store "$T" "$tmp/few" >"$tmp/i1" & a=$!
$M report ingest --store "$T" "$tmp/few" >"$tmp/i2" & b=$!
wait $a; wait $b
t_eq "concurrent ingests: 300 reports" 300 "$(pq "$T" 'SELECT COUNT(*) FROM reports')"
sum=$(cat "$tmp/i1" "$tmp/i2" | sed -n 's/^\([0-9]*\) ingested, \([0-9]*\) duplicates\?.*/\1 \2/p' | awk '{i += $1; d += $2} END {print i, d}')
t_eq "concurrent ingests: 300 stored and 300 duplicates between them" "300 300" "$sum"
t_done
