# shellcheck shell=bash disable=SC2154,SC2034
# bench/lib.sh - what the resolver benches share; sourced, not run.
#
# bench_cleanup: the EXIT trap. Stops every pid in the array pids (TERM,
#   then KILL after 5 s: mta-sts-daemon 1.1.2 does not always end on TERM),
#   waits for them and removes $tmp.
# bench_pin SERVER_CPU LOAD_CPU WHAT: on a machine with two CPUs or more,
#   on_server and on_load become taskset prefixes for those CPUs and pinning
#   says so, WHAT naming what runs where; on one CPU, nothing is pinned.

bench_cleanup() {
	local pid i
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null && echo "pid $pid killed: it did not end on TERM" >&2
	done
	wait 2>/dev/null
	rm -rf "$tmp"
}

bench_pin() {
	if [ "$(nproc)" -ge 2 ]; then
		on_server=(taskset -c "$1")
		on_load=(taskset -c "$2")
		pinning=$3
	else
		on_server=()
		on_load=()
		pinning="one CPU: not pinned"
	fi
}
