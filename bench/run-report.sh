#!/bin/bash
# Reports ingested per second from a directory of report emails (RFC 8460
# §5.3: multipart/report, base64 gzip) into SQLite and into PostgreSQL,
# against a baseline: the same ingest into an in-memory SQLite store (mail
# parsing, gunzip, report parsing and inserts, without durable storage).
# Each store commits one transaction per report, as in production.
# Usage: bench/run-report.sh [COUNT]   (default 10000)
# env: BENCH_BUILD (default build-bench)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD:-$src/build-bench}
count=${1:-10000}
tmp=$(mktemp -d /tmp/mtasts-bench-report.XXXXXX)
chmod 755 "$tmp"
export MTASTS_PG_DIR=$tmp/pg
trap '"$src/tests/rig/pg" down >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMTASTS_TESTS=OFF \
	-DMTASTS_BENCH=ON >/dev/null
make -C "$build" -j2 --no-print-directory mtasts >/dev/null
M=$build/mtasts

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
python3 "$src/tests/gen-reports.py" "$tmp/mail" --count "$count" --format eml --domains 20 \
	--days 14 --seed 1
echo "input: $count report emails, $(du -sh "$tmp/mail" | cut -f1) in $tmp/mail"
"$src/tests/rig/pg" up 2>/dev/null
. "$MTASTS_PG_DIR/env"

run() { # NAME STORE: ingest every mail, print reports/s
	local name=$1 store=$2 t0 t1 out
	t0=$(date +%s%N)
	out=$("$M" report ingest --store "$store" "$tmp/mail" | tail -1)
	t1=$(date +%s%N)
	[ "$out" = "$count ingested, 0 duplicates, 0 quarantined" ] || { echo "$name: $out" >&2; exit 1; }
	awk -v n="$count" -v ns=$((t1 - t0)) -v name="$name" \
		'BEGIN { printf "%-32s %8.0f reports/s  (%.2f s)\n", name, n / (ns / 1e9), ns / 1e9 }'
}
base=$(cd "$tmp" && run "baseline (SQLite :memory:)" "sqlite://:memory:")
echo "$base"
lite=$(run "SQLite (WAL, synchronous=FULL)" "sqlite://$tmp/reports.db")
echo "$lite"
pg=$(run "PostgreSQL 15 (loopback)" "$MTASTS_PG_URL")
echo "$pg"
b=$(awk '{for (i = 1; i <= NF; i++) if ($(i + 1) == "reports/s") print $i}' <<<"$base")
l=$(awk '{for (i = 1; i <= NF; i++) if ($(i + 1) == "reports/s") print $i}' <<<"$lite")
p=$(awk '{for (i = 1; i <= NF; i++) if ($(i + 1) == "reports/s") print $i}' <<<"$pg")
awk -v b="$b" -v l="$l" -v p="$p" 'BEGIN { printf "baseline / SQLite: %.2fx   baseline / PostgreSQL: %.2fx\n", b / l, b / p }'
