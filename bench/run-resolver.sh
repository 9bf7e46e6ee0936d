#!/bin/bash
# Cached lookups per second through `mtasts resolver` over socketmap, with 1,
# 16 and 100 clients (100 with 8 requests pipelined each), p50/p99 latency
# and RSS, beside a trivial socketmap server that answers "NOTFOUND " without
# any work (bench_socketmap notfound-server): its rate is the ceiling of what
# this machine pushes through the kernel with the same load generator.
# The resolver's answers are warmed from the rig first (cache_grace keeps them).
# Usage: bench/run-resolver.sh [SECONDS]   (needs root for the rig)
# env: BENCH_BUILD (default build-bench)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${RIG_ENV:-}" ]; then
	exec "$src/tests/rig/rig" run bash "$0" "$@"
fi
. "$RIG_ENV"
seconds=${1:-5}
build=${BENCH_BUILD:-$src/build-bench}
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMTASTS_TESTS=OFF \
	-DMTASTS_BENCH=ON >/dev/null
make -C "$build" -j2 --no-print-directory mtasts bench_socketmap >/dev/null
B=$build/bench/bench_socketmap
tmp=$(mktemp -d /tmp/mtasts-bench-resolver.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT

cat >"$tmp/r.yml" <<YML
host: 127.0.0.1
port: 0
cache_grace: 86400
cache:
  type: internal
dns_resolver: $RIG_RESOLVER
ca_file: $RIG_CA_FILE
YML
"$build/mtasts" resolver --config "$tmp/r.yml" 2>"$tmp/log" &
rpid=$!
pids+=("$rpid")
for _ in $(seq 100); do grep -q 'listening on' "$tmp/log" && break; sleep 0.05; done
rport=$(sed -n 's/.*listening on inet:127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/log")
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$1/status"; }
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "resolver RSS at start: $(rss "$rpid")"

keys=()
for d in good-enforce good-wildcard good-multi-mx record-multistring record-extension-field \
	policy-lf-endings mx-cert-wrongname mx-nostarttls good-testing good-none; do
	keys+=("postfix $d.test")
	"$build/mtasts" resolver query "$d.test" --server "inet:127.0.0.1:$rport" >/dev/null || true
done
echo "resolver RSS with ${#keys[@]} cached answers: $(rss "$rpid")"

"$B" notfound-server >"$tmp/trivial.port" &
pids+=("$!")
for _ in $(seq 100); do [ -s "$tmp/trivial.port" ] && break; sleep 0.05; done
tport=$(cat "$tmp/trivial.port")

for load in "1 1" "16 1" "100 8"; do
	set -- $load
	t=$("$B" load "$tport" "$1" "$2" "$seconds" "${keys[@]}")
	r=$("$B" load "$rport" "$1" "$2" "$seconds" "${keys[@]}")
	tr=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$t")
	rr=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$r")
	echo "trivial:  $t"
	echo "resolver: $r  ($(( rr * 100 / tr ))% of the trivial server)"
done
echo "resolver RSS after the runs: $(rss "$rpid")"
