#!/bin/bash
# report receive when its PostgreSQL goes away and comes back: while the
# server is down every POST is answered 503 (nothing acknowledged that was
# not stored), the endpoint keeps running, and once the server is back the
# store is opened again and the resent reports are stored, each once. A
# private server (tests/rig/pg in a temporary directory), so that stopping
# it does not disturb the other tests.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$MTASTS_SOURCE_DIR/tests/receive_lib.bash"
PGRIG=$MTASTS_SOURCE_DIR/tests/rig/pg
gen=$MTASTS_SOURCE_DIR/tests/gen-reports.py
tmp=$(mktemp -d)
chmod 755 "$tmp"
export MTASTS_PG_DIR=$tmp/pg
PID=""
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; "$PGRIG" down >/dev/null 2>&1; rm -rf "$tmp"' EXIT

"$PGRIG" up 2>/dev/null || { t_fail "private PostgreSQL up"; t_done; exit 1; }
. "$MTASTS_PG_DIR/env"
P=$MTASTS_PG_URL
python3 "$gen" "$tmp/in" --count 30 --format gz --seed 5 >/dev/null
receive_setup
receive_start "$tmp/log" --store "$P"
post() { receive_post_gz "$1"; }
files=("$tmp/in"/*.json.gz)
codes=""
for f in "${files[@]:0:10}"; do codes="$codes$(post "$f") "; done
t_eq "server up: 10 times 200" "$(printf '200 %.0s' $(seq 1 10))" "$codes"

# ingest as a Postfix pipe(8) transport whose store goes away after it
# opened it: EX_TEMPFAIL (75), so that Postfix defers the message.
{ while [ ! -e "$tmp/go" ]; do sleep 0.1; done; cat "${files[0]}"; } |
	"$MTASTS" report ingest --store "$P" - >"$tmp/ingest.out" 2>&1 &
ingest=$!
sleep 1
"$PGRIG" stop
touch "$tmp/go"
wait "$ingest"; rc=$?
t_eq "ingest, store lost mid-way: exit 75" 75 "$rc"
t_contains "ingest says why" "postgresql:" "$(cat "$tmp/ingest.out")"
t_exit "ingest, store down: exit 75" 75 "$MTASTS" report ingest --store "$P" "${files[1]}"

codes=""
for f in "${files[@]:10:10}"; do codes="$codes$(post "$f") "; done
t_eq "server down: 10 times 503" "$(printf '503 %.0s' $(seq 1 10))" "$codes"
t_contains "the log says why" "status=503 error=\"postgresql: cannot connect" "$(cat "$tmp/log")"
kill -0 "$PID" 2>/dev/null && t_ok "receive keeps running" || t_fail "receive keeps running"

"$PGRIG" start
codes=""
for f in "${files[@]:10:20}"; do codes="$codes$(post "$f") "; done
t_eq "server back: the 20 others answered 200" "$(printf '200 %.0s' $(seq 1 20))" "$codes"
t_eq "30 reports stored, each once" "30|30" "$(psql "$P" -qAtc 'SELECT COUNT(*), COUNT(DISTINCT report_id) FROM reports')"
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
t_eq "SIGTERM: exit 0" 0 "$rc"

# kill -9 of receive while two senders post 150 more: every report
# answered 200 is in PostgreSQL, none twice.
python3 "$gen" "$tmp/batch" --count 150 --format gz --seed 9 >/dev/null
receive_start "$tmp/log2" --store "$P"
receive_kill9_race "$tmp/batch" 30
PID=""
acked=$(wc -l <"$tmp/race.acked")
[ "$acked" -ge 30 ] && [ "$acked" -lt 150 ] && t_ok "killed mid-batch ($acked acknowledged)" || t_fail "killed mid-batch ($acked acknowledged)"
ids=$(while read -r f; do gzip -dc "$f" | python3 -c 'import json,sys; print(json.load(sys.stdin)["report-id"])'; done <"$tmp/race.acked" | sort)
stored=$(psql "$P" -qAtc "SELECT report_id FROM reports WHERE report_id LIKE 'gen-%' ORDER BY 1" | sort)
missing=$(comm -23 <(printf '%s\n' "$ids") <(printf '%s\n' "$stored") | grep -c . || true)
t_eq "every acknowledged report is in PostgreSQL" 0 "$missing"
t_eq "none stored twice" 0 "$(psql "$P" -qAtc 'SELECT COUNT(*) - COUNT(DISTINCT (organization, report_id)) FROM reports')"
t_eq "no half-stored report" 0 "$(psql "$P" -qAtc 'SELECT COUNT(*) FROM reports r WHERE NOT EXISTS (SELECT 1 FROM policies p WHERE p.report = r.id)')"
t_done
