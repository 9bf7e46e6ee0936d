#!/bin/sh
# Build Release, run bench_core (policies parsed and MX matches per second
# against the ceiling baseline), then count instructions per parsed policy
# with callgrind: (Ir of N parses - Ir of 0 parses) / N, so start-up is
# not counted. Usage: bench/run-core.sh [SECONDS_PER_FIGURE]
# env: BENCH_BUILD (default build-bench), BENCH_PARSES (default 100000)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD:-$src/build-bench}
parses=${BENCH_PARSES:-100000}

cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMTASTS_TESTS=OFF \
	-DMTASTS_BENCH=ON >/dev/null
make -C "$build" -j"$(nproc)" --no-print-directory bench_core >/dev/null
bench=$build/bench/bench_core

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
"$bench" "${1:-1}"

if command -v valgrind >/dev/null 2>&1; then
	ir() {
		valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench" --parses "$1" 2>&1 |
			sed -n 's/.*Collected : *//p'
	}
	base=$(ir 0)
	full=$(ir "$parses")
	echo "callgrind: $(( (full - base) / parses )) instructions per policy" \
		"($parses parses of the same mix)"
else
	echo "callgrind: valgrind not installed; skipped"
fi
