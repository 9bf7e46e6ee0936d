#!/bin/bash
# bench-fetch-1000.sh - discovery throughput of `mtasts fetch` for N healthy
# domains (default 1000) against the rig, next to a DNS ceiling.
#
# Generates a scenario catalogue of N copies of tests/rig/scenarios/good-enforce
# (b0001.test .. bNNNN.test) into a temporary directory, brings the rig up on it
# (MTASTS_RIG_SCENARIOS) and measures, with all N domains in one `mtasts fetch`
# process per round (the fetch command discovers them concurrently):
#   network discoveries/s  TXT + A + HTTPS fetch + parse, memory cache
#   cached lookups/s       TXT lookup, id unchanged, policy from a SQLite cache
#   DNS ceiling/s          the same N _mta-sts TXT queries made by one kdig
#                          process (sequential, UDP): what the rig's DNS answers
# and the ratios.
# Usage: bench/bench-fetch-1000.sh [N] [ROUNDS]   (needs root for the rig)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-1000}
rounds=${2:-5}

if [[ -z ${RIG_ENV:-} ]]; then
	# Outer half: build the catalogue, then run the inner half under the rig.
	work=$(mktemp -d)
	chmod 755 "$work" # postfix (unprivileged) must reach the rig dir inside it
	trap 'rm -rf "$work"' EXIT
	src=$here/tests/rig/scenarios/good-enforce
	for ((i = 1; i <= n; i++)); do
		d=$(printf 'b%04d' "$i")
		mkdir -p "$work/scenarios/$d"
		cp "$src/scenario" "$src/policy.txt" "$work/scenarios/$d/"
		sed "s/good-enforce\.test/$d.test/g" "$src/zone" >"$work/scenarios/$d/zone"
	done
	t0=$(date +%s%N)
	MTASTS_RIG_SCENARIOS=$work/scenarios MTASTS_RIG_DIR=${MTASTS_RIG_DIR:-$work/rig} \
		MTASTS_RIG_READY_TIMEOUT=${MTASTS_RIG_READY_TIMEOUT:-120} \
		BENCH_T0=$t0 "$here/tests/rig/rig" run "$0" "$n" "$rounds"
	exit
fi

# Inner half: under `rig run`.
. "$RIG_ENV"
M=${MTASTS:-$here/build/mtasts}
t_up=$(date +%s%N)
domains=()
for s in $RIG_SCENARIOS; do domains+=("$s.test"); done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R=(--resolver "$RIG_RESOLVER" --ca-file "$RIG_CA_FILE" --timeout 10)

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
nd=${#domains[@]}


# Warm-up (and correctness check): every domain must end with a valid policy.
if ! "$M" fetch "${domains[@]}" "${R[@]}" >"$tmp/warm.out" 2>&1; then
	echo "warm-up fetch failed (exit $?); first lines:" >&2
	head -n 30 "$tmp/warm.out" >&2
	exit 1
fi

t0=$(now)
for ((i = 0; i < rounds; i++)); do
	"$M" fetch "${domains[@]}" "${R[@]}" >/dev/null || { echo "network round $i failed" >&2; exit 1; }
done
t1=$(now)
net=$(rate $((rounds * nd)) "$t0" "$t1")

"$M" fetch "${domains[@]}" "${R[@]}" --cache "sqlite://$tmp/c.db" >/dev/null
t0=$(now)
for ((i = 0; i < rounds; i++)); do
	"$M" fetch "${domains[@]}" "${R[@]}" --cache "sqlite://$tmp/c.db" >/dev/null ||
		{ echo "cached round $i failed" >&2; exit 1; }
done
t1=$(now)
cached=$(rate $((rounds * nd)) "$t0" "$t1")

# DNS ceiling: the same TXT queries from one kdig process (it asks them in order).
q=()
for d in "${domains[@]}"; do q+=("_mta-sts.$d"); done
kdig "@$RIG_DNS_ADDR" -p "$RIG_DNS_PORT" +noall +answer -t TXT "${q[@]}" >"$tmp/kdig.out"
answers=$(grep -c 'v=STSv1' "$tmp/kdig.out" || true)
[[ $answers == "$nd" ]] || { echo "kdig: $answers answers for $nd names" >&2; exit 1; }
t0=$(now)
for ((i = 0; i < rounds; i++)); do
	kdig "@$RIG_DNS_ADDR" -p "$RIG_DNS_PORT" +noall +answer -t TXT "${q[@]}" >/dev/null
done
t1=$(now)
dns=$(rate $((rounds * nd)) "$t0" "$t1")

up_ms=$(((t_up - ${BENCH_T0:-$t_up}) / 1000000))
echo "domains per run:          $nd (x $rounds runs, one process each)"
echo "rig up (catalogue of $nd): ${up_ms} ms"
echo "network discoveries/s:    $net"
echo "cached lookups/s:         $cached"
echo "kdig TXT queries/s:       $dns (one process, the DNS ceiling)"
awk -v a="$cached" -v b="$net" 'BEGIN { printf "ratio cached/network:     %.2f\n", a / b }'
awk -v a="$cached" -v b="$dns" 'BEGIN { printf "ratio cached/kdig:        %.2f\n", a / b }'
