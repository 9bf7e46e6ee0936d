#!/bin/bash
# The resident memory a socketmap resolver on this project's libraries
# cannot go below, beside `mtasts resolver`'s own. Builds bench/rss_floor.c
# twice (dynamically, as mtasts is linked; statically when the archives are
# there, without libcurl, whose Debian archive needs libraries that ship no
# archive) and prints each one's VmRSS after each set-up step, then
# mtasts resolver's VmRSS, Pss and Private_Dirty right after start
# (internal cache, no lookups yet) and its ratio to the dynamic floor.
# Usage: bench/run-rss-floor.sh        env: BENCH_BUILD (default build-bench)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD:-$src/build-bench}
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMTASTS_TESTS=OFF \
	-DMTASTS_BENCH=ON >/dev/null
make -C "$build" -j2 --no-print-directory mtasts >/dev/null
tmp=$(mktemp -d /tmp/mtasts-bench-rss.XXXXXX)
M=$build/mtasts
pids=()
on_server=() # not pinned: one process at a time
# shellcheck source=bench/lib.sh
. "$src/bench/lib.sh"
trap bench_cleanup EXIT
flags="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2"
# shellcheck disable=SC2046,SC2086 # flags are words
cc $flags "$src/bench/rss_floor.c" -o "$tmp/floor" \
	$(pkg-config --cflags --libs libevent libunbound openssl libcurl)
# shellcheck disable=SC2086
if cc $flags -DRSS_FLOOR_NO_CURL -static "$src/bench/rss_floor.c" -o "$tmp/floor-static" \
	-lunbound -levent -lssl -lcrypto -lhogweed -lnettle -lgmp -lpthread 2>"$tmp/static.log"; then
	:
else
	echo "(no static build: $(grep -m1 -i error "$tmp/static.log"))"
fi

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
echo "== floor, dynamic (libevent, libunbound, OpenSSL 3 with the system trust store, libcurl):"
"$tmp/floor" | sed 's/^/   /'
floor=$("$tmp/floor" | awk '$1 == "listening" {print $2}')
echo "== the same binary, OpenSSL set-up only (its libraries still loaded):"
"$tmp/floor" --ssl-only | sed 's/^/   /'
if [ -x "$tmp/floor-static" ]; then
	echo "== floor, static (no loader, no relocations; libevent, libunbound, OpenSSL 3):"
	"$tmp/floor-static" | sed 's/^/   /'
	echo "== floor, static, OpenSSL 3 alone:"
	"$tmp/floor-static" --ssl-only | sed 's/^/   /'
fi

cat >"$tmp/r.yml" <<YML
host: 127.0.0.1
port: 0
cache:
  type: internal
dns_resolver: 127.0.0.1
YML
start_resolver "$tmp/r.yml" "$tmp/log"
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$rpid/status")
pss=$(awk '/^Pss:/ {print $2}' "/proc/$rpid/smaps_rollup")
priv=$(awk '/^Private_Dirty/ {print $2}' "/proc/$rpid/smaps_rollup")
echo "== mtasts resolver right after start (internal cache):"
echo "   VmRSS $rss kB, Pss $pss kB, Private_Dirty $priv kB"
echo "   $((rss * 100 / floor))% of the dynamic floor ($floor kB); its own pages beyond" \
	"the libraries: Private_Dirty $priv kB"
