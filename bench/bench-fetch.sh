#!/bin/bash
# bench-fetch.sh - discovery throughput of `mtasts fetch` against the rig:
# network discoveries/s (TXT + A + HTTPS fetch + parse, memory cache) and
# cached lookups/s (TXT lookup, id unchanged, policy from a SQLite cache),
# and their ratio. Every "ok" scenario domain is discovered concurrently in
# one process per round.
# Usage: tests/rig/rig run bench/bench-fetch.sh [ROUNDS]   (needs root for the rig)
set -eu
: "${RIG_ENV:?run under tests/rig/rig run}"
. "$RIG_ENV"
here=$(cd "$(dirname "$0")/.." && pwd)
M=${MTASTS:-$here/build/mtasts}
rounds=${1:-20}
domains=()
for s in $RIG_SCENARIOS; do
	grep -q '^expect_fetch *= *ok' "$RIG_SCENARIO_DIR/$s/scenario" && domains+=("$s.test")
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R=(--resolver "$RIG_RESOLVER" --ca-file "$RIG_CA_FILE" --timeout 5)

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }

t0=$(now)
for ((i = 0; i < rounds; i++)); do "$M" fetch "${domains[@]}" "${R[@]}" >/dev/null; done
t1=$(now)
net=$(rate $((rounds * ${#domains[@]})) "$t0" "$t1")

"$M" fetch "${domains[@]}" "${R[@]}" --cache "sqlite://$tmp/c.db" >/dev/null
t0=$(now)
for ((i = 0; i < rounds; i++)); do
	"$M" fetch "${domains[@]}" "${R[@]}" --cache "sqlite://$tmp/c.db" >/dev/null
done
t1=$(now)
cached=$(rate $((rounds * ${#domains[@]})) "$t0" "$t1")

echo "domains per run:          ${#domains[@]} (x $rounds runs, one process each)"
echo "network discoveries/s:    $net"
echo "cached lookups/s:         $cached"
awk -v a="$cached" -v b="$net" 'BEGIN { printf "ratio cached/network:     %.2f\n", a / b }'
