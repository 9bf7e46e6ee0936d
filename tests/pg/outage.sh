#!/bin/bash
# report receive when its PostgreSQL goes away and comes back: while the
# server is down every POST is answered 503 (nothing acknowledged that was
# not stored), the endpoint keeps running, and once the server is back the
# store is opened again and the resent reports are stored, each once. A
# private server (tests/rig/pg in a temporary directory), so that stopping
# it does not disturb the other tests.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
M=$MTASTS
PGRIG=$MTASTS_SOURCE_DIR/tests/rig/pg
gen=$MTASTS_SOURCE_DIR/tests/gen-reports.py
tmp=$(mktemp -d)
chmod 755 "$tmp"
export MTASTS_PG_DIR=$tmp/pg
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; "$PGRIG" down >/dev/null 2>&1; rm -rf "$tmp"' EXIT

"$PGRIG" up 2>/dev/null || { t_fail "private PostgreSQL up"; t_done; exit 1; }
. "$MTASTS_PG_DIR/env"
P=$MTASTS_PG_URL
python3 "$gen" "$tmp/in" --count 30 --format gz --seed 5 >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" -subj /CN=tlsrpt.test \
	-addext subjectAltName=DNS:tlsrpt.test >/dev/null 2>&1
ADDR=127.$((16 + RANDOM % 200)).$((16 + RANDOM % 200)).$((2 + RANDOM % 200))
$M report receive --listen "$ADDR:0" --cert "$tmp/cert.pem" --key "$tmp/key.pem" --store "$P" >"$tmp/log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
	port=$(sed -n 's/^receive: listening on .*:\([0-9][0-9]*\)$/\1/p' "$tmp/log")
	[ -n "$port" ] && break
	sleep 0.05
done
post() { curl -sS --max-time 20 --cacert "$tmp/cert.pem" --resolve "tlsrpt.test:$port:$ADDR" \
	-H 'Content-Type: application/tlsrpt+gzip' --data-binary "@$1" -o /dev/null -w '%{http_code}' \
	"https://tlsrpt.test:$port/"; }
files=("$tmp/in"/*.json.gz)
codes=""
for f in "${files[@]:0:10}"; do codes="$codes$(post "$f") "; done
t_eq "server up: 10 times 200" "$(printf '200 %.0s' $(seq 1 10))" "$codes"

"$PGRIG" stop
codes=""
for f in "${files[@]:10:10}"; do codes="$codes$(post "$f") "; done
t_eq "server down: 10 times 503" "$(printf '503 %.0s' $(seq 1 10))" "$codes"
t_contains "the log says why" "status=503 error=\"postgresql: cannot connect" "$(cat "$tmp/log")"
kill -0 "$pid" 2>/dev/null && t_ok "receive keeps running" || t_fail "receive keeps running"

"$PGRIG" start
codes=""
for f in "${files[@]:10:20}"; do codes="$codes$(post "$f") "; done
t_eq "server back: the 20 others answered 200" "$(printf '200 %.0s' $(seq 1 20))" "$codes"
t_eq "30 reports stored, each once" "30|30" "$(psql "$P" -qAtc 'SELECT COUNT(*), COUNT(DISTINCT report_id) FROM reports')"
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=""
t_eq "SIGTERM: exit 0" 0 "$rc"

# kill -9 of receive while two senders post 150 more: every report
# answered 200 is in PostgreSQL, none twice.
python3 "$gen" "$tmp/batch" --count 150 --format gz --seed 9 >/dev/null
$M report receive --listen "$ADDR:0" --cert "$tmp/cert.pem" --key "$tmp/key.pem" --store "$P" >"$tmp/log2" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
	port=$(sed -n 's/^receive: listening on .*:\([0-9][0-9]*\)$/\1/p' "$tmp/log2")
	[ -n "$port" ] && break
	sleep 0.05
done
sender() { local f; while read -r f; do [ "$(post "$f" 2>/dev/null)" = 200 ] && echo "$f" >>"$2"; done <"$1"; }
ls "$tmp/batch"/*.gz | awk 'NR % 2' >"$tmp/l1"
ls "$tmp/batch"/*.gz | awk '!(NR % 2)' >"$tmp/l2"
: >"$tmp/a1"; : >"$tmp/a2"
sender "$tmp/l1" "$tmp/a1" & s1=$!
sender "$tmp/l2" "$tmp/a2" & s2=$!
for _ in $(seq 1 400); do
	[ "$(cat "$tmp/a1" "$tmp/a2" | wc -l)" -ge 30 ] && break
	sleep 0.05
done
kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=""
wait "$s1" "$s2"
acked=$(cat "$tmp/a1" "$tmp/a2" | wc -l)
[ "$acked" -ge 30 ] && [ "$acked" -lt 150 ] && t_ok "killed mid-batch ($acked acknowledged)" || t_fail "killed mid-batch ($acked acknowledged)"
ids=$(cat "$tmp/a1" "$tmp/a2" | while read -r f; do gzip -dc "$f" | python3 -c 'import json,sys; print(json.load(sys.stdin)["report-id"])'; done | sort)
stored=$(psql "$P" -qAtc "SELECT report_id FROM reports WHERE report_id LIKE 'gen-%' ORDER BY 1" | sort)
missing=$(comm -23 <(printf '%s\n' "$ids") <(printf '%s\n' "$stored") | grep -c . || true)
t_eq "every acknowledged report is in PostgreSQL" 0 "$missing"
t_eq "none stored twice" 0 "$(psql "$P" -qAtc 'SELECT COUNT(*) - COUNT(DISTINCT (organization, report_id)) FROM reports')"
t_eq "no half-stored report" 0 "$(psql "$P" -qAtc 'SELECT COUNT(*) FROM reports r WHERE NOT EXISTS (SELECT 1 FROM policies p WHERE p.report = r.id)')"
t_done
