#!/bin/bash
# resolver_fdlimit.sh - `mtasts resolver` under a small open-files limit
# (issue #13): more clients than the limit allows must neither make it spin
# on accept() writing warnings nor end it, a lookup that starts while its
# clients use up the descriptors gets an answer, and once they are gone it
# answers new clients again. The soft limit is raised to the hard one, and
# an EMFILE from accept() (the limit lowered under it) pauses accepting.
# Needs RIG_ENV and MTASTS.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$RIG_ENV"
M=$MTASTS
tmp=$(mktemp -d /tmp/mtasts-resolver-fd.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
PF=(-c "$RIG_DIR/postfix/etc")
LIMIT=64
CLIENTS=100 # more than the limit

cat >"$tmp/r.yml" <<EOF
host: 127.0.0.1
port: 0
cache:
  type: sqlite
  options:
    filename: $tmp/cache.db
default_zone:
  timeout: 5
dns_resolver: $RIG_RESOLVER
ca_file: $RIG_CA_FILE
control_path: $tmp/ctl.sock
metrics: 127.0.0.1:0
EOF

# The daemon with soft limit $1 and hard limit $2.
start() {
	: >"$tmp/log"
	prlimit --nofile="$1:$2" -- "$M" resolver --config "$tmp/r.yml" 2>>"$tmp/log" &
	pid=$!
	for _ in $(seq 100); do
		grep -q 'listening on' "$tmp/log" && break
		sleep 0.05
	done
	port=$(sed -n 's/.*listening on inet:127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/log" | tail -1)
	[ -n "$port" ]
}
stop() { # a clean exit (under ASan: no error, no leak)
	kill -TERM "$pid" 2>/dev/null
	local rc=0
	wait "$pid" 2>/dev/null || rc=$?
	pid=
	[ "$rc" -eq 0 ] && t_ok "the daemon exits 0 on SIGTERM" ||
		t_fail "the daemon exits 0 on SIGTERM (exit $rc)" "$(tail -20 "$tmp/log")"
}
ask() { timeout 10 postmap "${PF[@]}" -q "$1" "socketmap:inet:127.0.0.1:$port:postfix" 2>&1; }
log_small() { # NAME: the log is under 20 kB
	local size
	size=$(stat -c %s "$tmp/log")
	[ "$size" -lt 20000 ] && t_ok "$1 ($size bytes)" ||
		t_fail "$1 ($size bytes)" "$(sort "$tmp/log" | uniq -c | sort -rn | head -5)"
}
alive() { kill -0 "$pid" 2>/dev/null && t_ok "$1" || t_fail "$1" "$(tail -5 "$tmp/log")"; }

start 32 "$LIMIT" || { t_fail "the daemon starts" "$(cat "$tmp/log")"; t_done; exit 1; }
t_contains "the soft limit is raised to the hard one" "open files limit $LIMIT," "$(cat "$tmp/log")"
cap=$(sed -n 's/.*clients: at most \([0-9]*\) .*/\1/p' "$tmp/log")
[ -n "$cap" ] && [ "$cap" -gt 0 ] && [ "$cap" -lt "$LIMIT" ] && t_ok "a client cap below the limit ($cap)" ||
	t_fail "a client cap below the limit" "$(cat "$tmp/log")"

# Hold $CLIENTS connections: the kernel completes them all (the backlog),
# the daemon takes what its cap allows.
fds=()
for _ in $(seq "$CLIENTS"); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$port" || break
	fds+=("$fd")
done
t_eq "$CLIENTS clients connected" "$CLIENTS" "${#fds[@]}"
sleep 2
# The first client was accepted: its lookup (the first, which starts
# libunbound's worker) runs with every client slot taken.
printf '25:postfix good-enforce.test,' >&"${fds[0]}"
answer=
IFS= read -r -t 10 -N 20 -u "${fds[0]}" answer
t_contains "a lookup at the cap is answered" ":OK secure match=" "$answer"
alive "the daemon is alive with $CLIENTS clients"
log_small "the log stays small"
for fd in "${fds[@]}"; do exec {fd}>&-; done
sleep 1
t_eq "after the clients left it answers again" "secure match=valid.mx.test servername=hostname" "$(ask good-enforce.test)"
out=$(timeout 10 "$M" resolver ctl stats --control "$tmp/ctl.sock" 2>&1)
t_contains "the control socket answers" '"connections":' "$out"
stop

# The same without room to raise the limit, and the metrics endpoint's
# clients as well: the caps hold, accept() never spins.
start "$LIMIT" "$LIMIT" || { t_fail "the daemon starts again" "$(cat "$tmp/log")"; t_done; exit 1; }
held=()
for _ in $(seq "$CLIENTS"); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$port" || break
	held+=("$fd")
done
mport=$(sed -n 's/.*metrics on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/log" | tail -1)
for _ in $(seq 15); do # within its cap and its listen backlog (16)
	exec {fd}<>"/dev/tcp/127.0.0.1/$mport" || break
	held+=("$fd")
done
sleep 2
log_small "with the metrics clients too, the log stays small"
alive "the daemon is alive with every listener at its cap"
for fd in "${held[@]}"; do exec {fd}>&-; done
sleep 1
t_eq "and answers again afterwards" "secure match=valid.mx.test servername=hostname" "$(ask good-enforce.test)"
t_contains "the metrics endpoint answers again" "mtasts_resolver_requests_total" "$(curl -s -m 10 "http://127.0.0.1:$mport/metrics")"
stop

# The limit lowered under the running daemon (prlimit --pid), below what it
# has open: accept() fails with EMFILE. It stops accepting for a moment
# instead of retrying at once, logs that once, and serves again once the
# limit is back.
start "$LIMIT" "$LIMIT" || { t_fail "the daemon starts a third time" "$(cat "$tmp/log")"; t_done; exit 1; }
exec {first}<>"/dev/tcp/127.0.0.1/$port"
sleep 0.5 # accepted
open_now=$(ls "/proc/$pid/fd" | wc -l)
prlimit --pid "$pid" --nofile="$open_now:$LIMIT"
# The first lookup of this process (libunbound makes its worker then) with
# no descriptor to spare: TEMP, not the end of the process.
printf '25:postfix good-enforce.test,' >&"$first"
answer=
IFS= read -r -t 10 -N 32 -u "$first" answer
t_eq "a lookup without descriptors: TEMP" "28:TEMP out of file descriptors," "$answer"
exec {first}>&-
held=()
for _ in $(seq 10); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$port" || break
	held+=("$fd")
done
sleep 2
log_small "at EMFILE, the log stays small"
t_eq "at EMFILE, one line says so" 1 "$(grep -c 'accept: Too many open files' "$tmp/log")"
alive "the daemon is alive at EMFILE"
prlimit --pid "$pid" --nofile="$LIMIT:$LIMIT"
sleep 0.5
t_eq "the limit back, it answers" "secure match=valid.mx.test servername=hostname" "$(ask good-enforce.test)"
for fd in "${held[@]}"; do exec {fd}>&-; done
stop
t_done
