#!/bin/bash
# Cached lookups per second through `mtasts resolver` over socketmap, with 1,
# 16 and 100 clients (100 with 8 requests pipelined each), p50/p99 latency,
# server CPU per answer and RSS, beside:
#   trivial  `bench_socketmap notfound-server`, an epoll server that answers
#            "NOTFOUND " without any work: the ceiling of this kernel and load
#            generator (the baseline of the ratios);
#   peer     postfix-mta-sts-resolver's mta-sts-daemon (Debian package, Python),
#            the daemon `mtasts resolver` replaces, with the same warmed domains.
# Answers of 10 rig domains are warmed first (cache_grace 86400 keeps them);
# both daemons must give the same answers, or the script says which differ.
#
# Method, so that ratios mean something on a 2-core machine: every server runs
# pinned to CPU_SERVER and the load generator to CPU_LOAD (taskset), so they
# never compete with each other; each load runs ROUNDS rounds, and each round
# runs every server once, the order rotating from round to round (trivial
# first, then resolver first, ...), so a slow patch of the machine hits every
# server alike. Printed: each round's figures, then per server the median
# rate, min and max, median p50/p99, median CPU per answer, and the ratio of
# the medians to the trivial server's, with the range of the ratios taken
# within each round. Other work on the machine still shows as spread between
# rounds: compare medians, read min/max as the noise. The server's CPU time
# per answer (utime + stime over the run) moves less with that noise than the
# rate does.
#
# Usage: bench/run-resolver.sh [SECONDS]   (SECONDS per run, default 5; root,
#        for the rig and for the peer's private resolv.conf)
# env:   ROUNDS (5), PEER (1: run postfix-mta-sts-resolver, installing the
#        Debian package noninteractively when mta-sts-daemon is missing; 0:
#        skip), CPU_SERVER (1), CPU_LOAD (0), BENCH_BUILD (build-bench)
#
# The peer resolves DNS through the system resolver (pycares and glibc read
# /etc/resolv.conf) and checks certificates with Python's default context: it
# runs in a private mount namespace (unshare -m) where a bind-mounted
# resolv.conf names the rig's DNS server, with SSL_CERT_FILE set to the rig's
# CA. The machine's own files are not changed.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
peer=${PEER:-1}
if [ -z "${RIG_ENV:-}" ]; then
	if [ "$peer" = 1 ] && ! command -v mta-sts-daemon >/dev/null; then
		echo "installing postfix-mta-sts-resolver (the peer; PEER=0 skips it)" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix-mta-sts-resolver \
			>/dev/null
	fi
	exec "$src/tests/rig/rig" run bash "$0" "$@"
fi
# shellcheck disable=SC1090
. "$RIG_ENV"
seconds=${1:-5}
rounds=${ROUNDS:-5}
cpu_server=${CPU_SERVER:-1}
cpu_load=${CPU_LOAD:-0}
build=${BENCH_BUILD:-$src/build-bench}
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMTASTS_TESTS=OFF \
	-DMTASTS_BENCH=ON >/dev/null
make -C "$build" -j2 --no-print-directory mtasts bench_socketmap >/dev/null
B=$build/bench/bench_socketmap
M=$build/mtasts
tmp=$(mktemp -d /tmp/mtasts-bench-resolver.XXXXXX)
pids=()
# shellcheck source=bench/lib.sh
. "$src/bench/lib.sh"
trap bench_cleanup EXIT

bench_pin "$cpu_server" "$cpu_load" "servers on CPU $cpu_server, load generator on CPU $cpu_load"

# mem PID: VmRSS, and from smaps_rollup the process's own pages (Private_Dirty)
# and its proportional share of the shared ones (Pss).
mem() {
	awk '/^VmRSS:/ { r = $2 } /^Private_Dirty:/ { d = $2 } /^Pss:/ { p = $2 }
	     END { printf "RSS %.1f MB (Private_Dirty %.1f MB, Pss %.1f MB)", r / 1024, d / 1024, p / 1024 }' \
		"/proc/$1/status" "/proc/$1/smaps_rollup"
}
# cpu_ticks PID: user + system clock ticks of the whole process so far.
cpu_ticks() {
	local stat f
	stat=$(cat "/proc/$1/stat")
	read -r -a f <<<"${stat##*) }" # f[0] is field 3 (state): utime is 14, stime 15
	echo $((f[11] + f[12]))
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "method: $rounds rounds x $seconds s per load and server, order rotating; $pinning"

# ---- the servers
cat >"$tmp/r.yml" <<YML
host: 127.0.0.1
port: 0
cache_grace: 86400
cache:
  type: internal
dns_resolver: $RIG_RESOLVER
ca_file: $RIG_CA_FILE
YML
start_resolver "$tmp/r.yml" "$tmp/resolver.log"

"${on_server[@]}" "$B" notfound-server >"$tmp/trivial.port" &
tpid=$!
pids+=("$tpid")
for _ in $(seq 100); do [ -s "$tmp/trivial.port" ] && break; sleep 0.05; done
tport=$(cat "$tmp/trivial.port")

names=(trivial resolver)
addrs=("127.0.0.1:$tport" "127.0.0.1:$rport")
spids=("$tpid" "$rpid")
if [ "$peer" = 1 ]; then
	# A rig address the rig itself does not use, so the port is surely free.
	# (reuse_port stays at its default: 1.1.2 cannot listen with it off.)
	paddr=$RIG_PREFIX.250
	pport=8461
	echo "nameserver $RIG_DNS_ADDR" >"$tmp/resolv.conf"
	cat >"$tmp/peer.yml" <<YML
host: $paddr
port: $pport
shutdown_timeout: 1
cache_grace: 86400
cache:
  type: internal
default_zone:
  timeout: 4
YML
	start_peer "$tmp/resolv.conf" "$RIG_CA_FILE" "$paddr" "$pport"
	names+=(peer)
	addrs+=("$paddr:$pport")
	spids+=("$peer_pid")
	version() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo "not installed"; }
	echo "peer: postfix-mta-sts-resolver $(version postfix-mta-sts-resolver)," \
		"$(python3 --version 2>&1), python3-uvloop $(version python3-uvloop)"
fi
for i in "${!names[@]}"; do
	[ "${names[$i]}" = trivial ] && continue
	echo "${names[$i]} at start: $(mem "${spids[$i]}")"
done

# ---- warm the caches, and check both daemons answer alike
# Same answer up to the order of match= (the peer takes the mx list from a set).
norm() { tr -c '[:alnum:].=-' '\n' <<<"${1/match=/}" | sort | tr '\n' ' '; }
keys=()
differ=0
for d in good-enforce good-wildcard good-multi-mx record-multistring record-extension-field \
	policy-lf-endings mx-cert-wrongname mx-nostarttls good-testing good-none; do
	keys+=("postfix $d.test")
	ours=$("$M" resolver query "$d.test" --server "inet:127.0.0.1:$rport" 2>&1) || true
	if [ "$peer" = 1 ]; then
		theirs=$("$M" resolver query "$d.test" --server "inet:$paddr:$pport" 2>&1) || true
		if [ "$(norm "$ours")" != "$(norm "$theirs")" ]; then
			echo "answers differ for $d.test: resolver '$ours', peer '$theirs'"
			differ=$((differ + 1))
		fi
	fi
done
[ "$differ" = 0 ] || echo "($differ domains answered differently: the peer may look those up on every request)"
if [ "$peer" = 1 ] && grep -q . "$tmp/peer.log"; then
	echo "peer log (warnings; last lines):"
	tail -n 5 "$tmp/peer.log"
fi
for i in "${!names[@]}"; do
	[ "${names[$i]}" = trivial ] && continue
	echo "${names[$i]} with ${#keys[@]} cached answers: $(mem "${spids[$i]}")"
done

# ---- the rounds
# median "V V V ..." and minmax "V V V ...": of a blank-separated list
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 }
	END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo " - " hi }'; }
# paired "RATES" "BASELINE RATES": the ratios of the same rounds, "min - max"
paired() { awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " ")
	for (i = 1; i <= n; i++) { r = 100 * x[i] / y[i]; if (i == 1 || r < lo) lo = r; if (i == 1 || r > hi) hi = r }
	printf "%.0f - %.0f%%", lo, hi }'; }
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$2"; }
hz=$(getconf CLK_TCK)
summary=()
versus=()
for load in "1 1" "16 1" "100 8"; do
	read -r clients depth <<<"$load"
	label="$clients client$([ "$clients" = 1 ] || echo s)"
	[ "$depth" = 1 ] || label="$clients x $depth pipelined"
	echo
	echo "== $label"
	printf '%-6s %-9s %10s %10s %10s %12s\n' round server "rate/s" "p50 us" "p99 us" "cpu us/req"
	rate=() p50=() p99=() cpu=()
	n=${#names[@]}
	for ((r = 0; r < rounds; r++)); do
		for ((k = 0; k < n; k++)); do
			i=$(((r + k) % n))
			c0=$(cpu_ticks "${spids[$i]}")
			out=$("${on_load[@]}" "$B" load "${addrs[$i]}" "$clients" "$depth" "$seconds" "${keys[@]}")
			c1=$(cpu_ticks "${spids[$i]}")
			req=$(field requests "$out")
			rt=$(field rate "$out")
			a=$(field p50 "$out")
			b=$(field p99 "$out")
			cu=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v n="$req" \
				'BEGIN { printf "%.2f", n ? t * 1e6 / hz / n : 0 }')
			rate[i]+="$rt " p50[i]+="$a " p99[i]+="$b " cpu[i]+="$cu "
			printf '%-6s %-9s %10s %10s %10s %12s\n' $((r + 1)) "${names[$i]}" "$rt" "$a" "$b" "$cu"
		done
	done
	tmed=$(median "${rate[0]}")
	for ((i = 0; i < n; i++)); do
		m=$(median "${rate[$i]}")
		ratio=$(awk -v a="$m" -v b="$tmed" 'BEGIN { printf "%.0f%%", 100 * a / b }')
		summary+=("$(printf '| %s | %s | %.0f | %s | %.1f / %.1f | %.2f | %s | %s |' "$label" \
			"${names[$i]}" "$m" "$(minmax "${rate[$i]}")" "$(median "${p50[$i]}")" \
			"$(median "${p99[$i]}")" "$(median "${cpu[$i]}")" "$ratio" \
			"$(paired "${rate[$i]}" "${rate[0]}")")")
	done
	if [ "$n" = 3 ]; then
		versus+=("$(awk -v l="$label" -v a="$(median "${rate[1]}")" -v b="$(median "${rate[2]}")" \
			'BEGIN { printf "%s %.1fx", l, a / b }')")
	fi
done

echo
echo "Medians of $rounds rounds x $seconds s ($pinning):"
echo
echo "| load | server | median rate/s | min - max | median p50 / p99 (µs) | CPU µs/answer | of trivial | same-round ratios |"
echo "|------|--------|--------------:|----------:|----------------------:|--------------:|-----------:|------------------:|"
printf '%s\n' "${summary[@]}"
echo
if [ ${#versus[@]} -gt 0 ]; then
	echo "resolver / peer, median rates: $(printf '%s; ' "${versus[@]}" | sed 's/; $//')"
fi
for i in "${!names[@]}"; do
	[ "${names[$i]}" = trivial ] && continue
	echo "${names[$i]} after the runs: $(mem "${spids[$i]}")"
done
