# shellcheck shell=bash disable=SC2154,SC2034
# bench/lib.sh - what the resolver benches share; sourced, not run.
#
# bench_cleanup: the EXIT trap. Stops every pid in the array pids (TERM,
#   then KILL after 5 s: mta-sts-daemon 1.1.2 does not always end on TERM),
#   waits for them and removes $tmp.
# bench_pin SERVER_CPU LOAD_CPU WHAT: on a machine with two CPUs or more,
#   on_server and on_load become taskset prefixes for those CPUs and pinning
#   says so, WHAT naming what runs where; on one CPU, nothing is pinned.
# wait_port ADDR PORT PID: until ADDR:PORT accepts (20 s), while PID lives.
# start_resolver CONFIG LOG: `$M resolver`, pinned like a server, its stderr
#   in LOG; waits until it listens: its pid in rpid (and pids), its TCP port
#   on 127.0.0.1 in rport. Exits the script, with the log, when it does not.
# start_peer RESOLV_CONF CA_FILE ADDR PORT: postfix-mta-sts-resolver's
#   mta-sts-daemon with $tmp/peer.yml, pinned like a server, in a private
#   mount namespace where RESOLV_CONF is /etc/resolv.conf, trusting CA_FILE;
#   its pid in peer_pid (and pids), its log in $tmp/peer.log. Exits the
#   script, with the log, when it does not start.

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

wait_port() {
	for _ in $(seq 400); do
		kill -0 "$3" 2>/dev/null || return 1
		(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

start_resolver() {
	"${on_server[@]}" "$M" resolver --config "$1" 2>"$2" &
	rpid=$!
	pids+=("$rpid")
	for _ in $(seq 100); do grep -q 'listening on' "$2" && break; sleep 0.05; done
	rport=$(sed -n 's/.*listening on inet:127\.0\.0\.1:\([0-9]*\).*/\1/p' "$2")
	[ -n "$rport" ] || { cat "$2" >&2; exit 1; }
}

start_peer() {
	# shellcheck disable=SC2016 # $0 and $@ are the inner shell's
	"${on_server[@]}" unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' \
		"$1" env SSL_CERT_FILE="$2" \
		mta-sts-daemon -c "$tmp/peer.yml" -v warn -l "$tmp/peer.log" &
	peer_pid=$!
	pids+=("$peer_pid")
	wait_port "$3" "$4" "$peer_pid" || {
		echo "mta-sts-daemon did not start (its log follows, if any)" >&2
		cat "$tmp/peer.log" >&2 2>/dev/null
		exit 1
	}
}
