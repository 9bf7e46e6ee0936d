#!/bin/bash
# bench-resolver-100k.sh - memory of `mtasts resolver` with N (100,000) cached
# domains, each discovered for real, beside postfix-mta-sts-resolver doing the
# same fill.
#
# A bench world of its own on a free 127.A.B.0/24 block (not the rig):
#   127.A.B.1:53   knotd serving bench.test with wildcard records:
#                  *.bench.test TXT "v=STSv1; id=1", A 127.A.B.2, MX mx.bench.test
#   127.A.B.2:443  bench_policy_host: any SNI name gets a certificate minted
#                  for it by a bench CA, and every host serves a valid
#                  `mode: enforce` policy
# so every d<i>.r.bench.test is a distinct domain with a policy: its discovery
# costs the _mta-sts TXT and mta-sts A lookups, a TLS handshake with a
# certificate check, and the policy fetch and parse.
#
# The resolver (internal cache, cache_size N, zone timeout 30 s) is pinned to
# CPU_SERVER; knot, the policy host and the driver (`bench_socketmap fill`,
# CLIENTS connections, one request in flight each) to CPU_LOAD. The driver
# asks d0 .. d999, then up to d9999, then up to d(N-1): after each stage the
# script prints VmRSS, Private_Dirty and Pss (/proc/PID/smaps_rollup) and the
# stage's discovery rate; then it asks the first 1,000 domains again (answers
# from the cache). The peer (postfix-mta-sts-resolver, PEER=1) then does the
# same on d<i>.p.bench.test (other names, so it gets freshly minted
# certificates too), in a private mount namespace whose resolv.conf names the
# bench DNS server, with SSL_CERT_FILE at the bench CA.
#
# Not part of `make bench` (it runs for minutes). Usage, as root:
#   bench/bench-resolver-100k.sh [N]
# env: CLIENTS (64), PEER (1; installs the Debian package when missing, 0
#      skips the peer), PEER_N (N), CPU_SERVER (1), CPU_LOAD (0),
#      BENCH_BUILD (build-bench)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-100000}
clients=${CLIENTS:-64}
peer=${PEER:-1}
peer_n=${PEER_N:-$n}
cpu_server=${CPU_SERVER:-1}
cpu_load=${CPU_LOAD:-0}
build=${BENCH_BUILD:-$src/build-bench}
[ "$(id -u)" = 0 ] || { echo "run as root (DNS on port 53, HTTPS on 443, mount namespace)" >&2; exit 1; }
for tool in knotd kdig taskset unshare; do
	command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
if [ "$peer" = 1 ] && ! command -v mta-sts-daemon >/dev/null; then
	echo "installing postfix-mta-sts-resolver (the peer; PEER=0 skips it)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix-mta-sts-resolver >/dev/null
fi
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMTASTS_TESTS=OFF \
	-DMTASTS_BENCH=ON >/dev/null
make -C "$build" -j2 --no-print-directory mtasts bench_socketmap bench_policy_host >/dev/null
B=$build/bench/bench_socketmap
M=$build/mtasts

tmp=$(mktemp -d /tmp/mtasts-bench-100k.XXXXXX)
chmod 755 "$tmp"
pids=()
# shellcheck source=bench/lib.sh
. "$src/bench/lib.sh"
trap bench_cleanup EXIT

bench_pin "$cpu_server" "$cpu_load" "resolvers on CPU $cpu_server; knot, policy host and driver on CPU $cpu_load"

# A 127.A.B.0/24 block with nothing bound (as tests/rig/rig picks one).
block=""
for _ in $(seq 200); do
	a=$((16 + RANDOM % 235)) b=$((16 + RANDOM % 235))
	hex=$(printf '%02X%02X7F' "$b" "$a")
	if ! grep -qE "^ *[0-9]+: [0-9A-F]{2}$hex:" /proc/net/tcp /proc/net/udp; then
		block=127.$a.$b
		break
	fi
done
[ -n "$block" ] || { echo "no free 127.A.B.0/24 block" >&2; exit 1; }

mem_kb() { # PID -> "VmRSS Private_Dirty Pss" in kB
	awk '/^VmRSS:/ { r = $2 } /^Private_Dirty:/ { d = $2 } /^Pss:/ { p = $2 }
	     END { print r, d, p }' "/proc/$1/status" "/proc/$1/smaps_rollup"
}
cpu_ticks() { # PID -> user + system clock ticks of the whole process so far
	local stat f
	stat=$(cat "/proc/$1/stat")
	read -r -a f <<<"${stat##*) }" # f[0] is field 3 (state): utime is 14, stime 15
	echo $((f[11] + f[12]))
}
hz=$(getconf CLK_TCK)
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# ---- the bench world
"${on_load[@]}" "$build/bench/bench_policy_host" "$block.2" 443 "$tmp/ca.pem" >"$tmp/host.out" \
	2>"$tmp/host.log" &
pids+=("$!")
for _ in $(seq 100); do grep -q ready "$tmp/host.out" && break; sleep 0.05; done
grep -q ready "$tmp/host.out" || { cat "$tmp/host.log" >&2; exit 1; }

mkdir -p "$tmp/knot/zones" "$tmp/knot/db"
cat >"$tmp/knot/zones/bench.test.zone" <<ZONE
\$ORIGIN bench.test.
\$TTL 3600
@   IN SOA ns.bench.test. hostmaster.bench.test. 1 3600 600 86400 300
@   IN NS  ns
ns  IN A   $block.1
mx  IN A   $block.2
*   IN TXT "v=STSv1; id=1"
*   IN A   $block.2
*   IN MX  10 mx.bench.test.
ZONE
cat >"$tmp/knot/knot.conf" <<CONF
server:
    rundir: "$tmp/knot"
    user: root:root
    listen: $block.1@53
    pidfile: "$tmp/knot/knot.pid"
control:
    listen: "$tmp/knot/knot.sock"
log:
  - target: "$tmp/knot/knot.log"
    any: warning
database:
    storage: "$tmp/knot/db"
template:
  - id: default
    storage: "$tmp/knot/zones"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: bench.test.
CONF
"${on_load[@]}" knotd -c "$tmp/knot/knot.conf" >"$tmp/knot/knotd.out" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do
	kdig "@$block.1" -p 53 +time=1 +retry=0 +short _mta-sts.d0.r.bench.test TXT 2>/dev/null |
		grep -q STSv1 && break
	sleep 0.05
done
kdig "@$block.1" -p 53 +time=1 +retry=0 +short _mta-sts.d0.r.bench.test TXT | grep -q STSv1 ||
	{ cat "$tmp/knot/knot.log" "$tmp/knot/knotd.out" >&2; exit 1; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "bench world: DNS $block.1:53 (knot $(knotd -V | awk '{print $NF}')), policy host $block.2:443;" \
	"$pinning; driver: $clients connections, one request each in flight"

# Stage ends: 1,000, 10,000, 100,000, ... up to the count, and the count.
stages() {
	local s=1000
	while [ "$s" -lt "$1" ]; do
		echo "$s"
		s=$((s * 10))
	done
	echo "$1"
}

table=()
growth=()
# fill NAME PID ADDR SUFFIX COUNT: the stages, a line of figures for each
fill() {
	local name=$1 pid=$2 addr=$3 suffix=$4 count=$5 first=0 end out kb c0 c1 rate cpu kb1000=()
	read -r -a kb <<<"$(mem_kb "$pid")"
	echo "$name: 0 domains: RSS $(mb "${kb[0]}") MB, Private_Dirty $(mb "${kb[1]}") MB, Pss $(mb "${kb[2]}") MB"
	table+=("| $name | 0 | $(mb "${kb[0]}") | $(mb "${kb[1]}") | $(mb "${kb[2]}") | | |")
	for end in $(stages "$count"); do
		c0=$(cpu_ticks "$pid")
		out=$("${on_load[@]}" "$B" fill "$addr" "$clients" postfix "$suffix" "$first" \
			$((end - first)))
		c1=$(cpu_ticks "$pid")
		read -r -a kb <<<"$(mem_kb "$pid")"
		rate=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$out")
		cpu=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v n=$((end - first)) \
			'BEGIN { printf "%.2f", t * 1e3 / hz / n }')
		echo "$name: $end domains: RSS $(mb "${kb[0]}") MB, Private_Dirty $(mb "${kb[1]}") MB," \
			"Pss $(mb "${kb[2]}") MB; d$first..d$((end - 1)): $out cpu=${cpu}ms/domain"
		table+=("| $name | $end | $(mb "${kb[0]}") | $(mb "${kb[1]}") | $(mb "${kb[2]}") | $rate | $cpu |")
		case $out in *" ok=$((end - first)) "*) ;; *) echo "$name: not every answer was OK" ;; esac
		[ "$end" = 1000 ] && kb1000=("${kb[@]}")
		first=$end
	done
	if [ "${#kb1000[@]}" = 3 ] && [ "$count" -gt 1000 ]; then
		growth+=("$(awk -v r=$((kb[0] - kb1000[0])) -v d=$((kb[1] - kb1000[1])) -v n=$((count - 1000)) \
			-v who="$name" 'BEGIN { printf "%s: %.0f bytes per domain of VmRSS, %.0f of Private_Dirty (from 1,000 to %d domains)",
			who, r * 1024 / n, d * 1024 / n, n + 1000 }')")
	fi
	out=$("${on_load[@]}" "$B" fill "$addr" "$clients" postfix "$suffix" 0 $((count < 1000 ? count : 1000)))
	echo "$name: the first domains again (cached): $out"
}

# ---- mtasts resolver
cat >"$tmp/r.yml" <<YML
host: 127.0.0.1
port: 0
cache_grace: 86400
cache:
  type: internal
  options:
    cache_size: $n
default_zone:
  timeout: 30
dns_resolver: $block.1@53
ca_file: $tmp/ca.pem
YML
start_resolver "$tmp/r.yml" "$tmp/resolver.log"
fill resolver "$rpid" "127.0.0.1:$rport" r.bench.test "$n"
kill "$rpid"

# ---- postfix-mta-sts-resolver
if [ "$peer" = 1 ]; then
	echo "nameserver $block.1" >"$tmp/resolv.conf"
	cat >"$tmp/peer.yml" <<YML
host: $block.3
port: 8461
shutdown_timeout: 1
cache_grace: 86400
cache:
  type: internal
  options:
    cache_size: $peer_n
default_zone:
  timeout: 30
YML
	start_peer "$tmp/resolv.conf" "$tmp/ca.pem" "$block.3" 8461
	fill peer "$peer_pid" "$block.3:8461" p.bench.test "$peer_n"
	if grep -q . "$tmp/peer.log"; then
		echo "peer log (last lines):"
		tail -n 5 "$tmp/peer.log"
	fi
fi

echo
echo "| daemon | domains cached | VmRSS MB | Private_Dirty MB | Pss MB | discoveries/s (stage) | daemon CPU ms/discovery |"
echo "|--------|---------------:|---------:|-----------------:|-------:|----------------------:|------------------------:|"
printf '%s\n' "${table[@]}"
echo
printf '%s\n' "${growth[@]}"
