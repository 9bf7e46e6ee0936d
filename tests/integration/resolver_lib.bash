# resolver_lib.bash - what the resolver's integration tests share; sourced
#
# resolver_start CONFIG LOG [ARGS...]: run `$MTASTS resolver --config CONFIG
#   ARGS...` in the background, its stderr appended to LOG (emptied first),
#   and wait (5 s at most) until it says it listens. Sets RESOLVER_PID and
#   RESOLVER_PORT (its TCP port on 127.0.0.1); returns 1 with the log on
#   stderr when it does not listen.
# shellcheck shell=bash disable=SC2034

resolver_start() {
	local config=$1 log=$2
	shift 2
	: >"$log"
	"$MTASTS" resolver --config "$config" "$@" 2>>"$log" &
	RESOLVER_PID=$!
	for _ in $(seq 100); do
		grep -q 'listening on' "$log" && break
		sleep 0.05
	done
	RESOLVER_PORT=$(sed -n 's/.*listening on inet:127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | tail -1)
	[ -n "$RESOLVER_PORT" ] || { cat "$log" >&2; return 1; }
}
