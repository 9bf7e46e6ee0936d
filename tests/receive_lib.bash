# receive_lib.bash - what the tests of `mtasts report receive` share
# (tests/cli/report_receive.sh, tests/pg/outage.sh); sourced, after lib.sh,
# with $tmp and $MTASTS set.
#
# receive_setup: a certificate for tlsrpt.test in $tmp/cert.pem (key in
#   $tmp/key.pem) and a random loopback address in ADDR.
# receive_start LOG ARGS...: run receive on ADDR (any port) with that
#   certificate and ARGS, its output in LOG, and wait (5 s at most) for its
#   port. Sets PID, PORT and URL (PORT empty when it did not start).
# receive_post_gz FILE: POST FILE as application/tlsrpt+gzip; prints the
#   HTTP status.
# receive_kill9_race DIR N: two senders post DIR/*.gz (every other file
#   each); once N are acknowledged (200), kill -9 the server (PID). The
#   acknowledged files are left in $tmp/race.acked, one per line.
# shellcheck shell=bash disable=SC2034,SC2154,SC2012

receive_setup() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-keyout "$tmp/key.pem" -out "$tmp/cert.pem" -subj /CN=tlsrpt.test \
		-addext subjectAltName=DNS:tlsrpt.test >/dev/null 2>&1
	ADDR=127.$((16 + RANDOM % 200)).$((16 + RANDOM % 200)).$((2 + RANDOM % 200))
}

receive_start() {
	local log=$1
	shift
	"$MTASTS" report receive --listen "$ADDR:0" --cert "$tmp/cert.pem" --key "$tmp/key.pem" \
		"$@" >"$log" 2>&1 &
	PID=$!
	PORT=""
	for _ in $(seq 1 100); do
		PORT=$(sed -n 's/^receive: listening on .*:\([0-9][0-9]*\)$/\1/p' "$log")
		[ -n "$PORT" ] && break
		sleep 0.05
	done
	URL=https://tlsrpt.test:$PORT/
}

receive_post_gz() {
	curl -sS --max-time 20 --cacert "$tmp/cert.pem" --resolve "tlsrpt.test:$PORT:$ADDR" \
		-H 'Content-Type: application/tlsrpt+gzip' --data-binary "@$1" -o /dev/null \
		-w '%{http_code}' "$URL" 2>/dev/null
}

receive_sender() { # LIST OUT: post each file of LIST, add the acknowledged ones to OUT
	local f
	while read -r f; do
		[ "$(receive_post_gz "$f")" = 200 ] && echo "$f" >>"$2"
	done <"$1"
}

receive_kill9_race() {
	local dir=$1 n=$2 s1 s2
	ls "$dir"/*.gz | awk 'NR % 2' >"$tmp/race.list1"
	ls "$dir"/*.gz | awk '!(NR % 2)' >"$tmp/race.list2"
	: >"$tmp/race.acked1"
	: >"$tmp/race.acked2"
	receive_sender "$tmp/race.list1" "$tmp/race.acked1" &
	s1=$!
	receive_sender "$tmp/race.list2" "$tmp/race.acked2" &
	s2=$!
	for _ in $(seq 1 400); do
		[ "$(cat "$tmp/race.acked1" "$tmp/race.acked2" | wc -l)" -ge "$n" ] && break
		sleep 0.05
	done
	kill -9 "$PID"
	wait "$PID" 2>/dev/null
	wait "$s1" "$s2"
	cat "$tmp/race.acked1" "$tmp/race.acked2" >"$tmp/race.acked"
}
