# sender_lib.bash - a private sending Postfix instance against the rig; sourced
# by the integration tests that deliver real mail and by scripts/demo.
#
# Postfix as a client always asks port 53 and connects to port 25: its smtp(8)
# runs chrooted with its own etc/resolv.conf naming the rig's knot
# (RIG_DNS_ADDR, port 53), and the rig's MX hosts own port 25 on their
# addresses. TLS is opportunistic (may) with the rig CA as the only trust
# anchor; deferred mail is not retried while a test runs; every delivery is a
# session of its own (no connection cache). Needs root and the rig's env
# (RIG_CA_FILE, RIG_DNS_ADDR).
#
# sender_setup DIR [POLICY_MAP]: write a fresh instance into DIR (a running
#   one there is stopped; its etc, spool, data and maillog are replaced, other
#   files in DIR stay), with smtp_tls_policy_maps = POLICY_MAP when given
#   (e.g. socketmap:inet:127.0.0.1:PORT:postfix).
# sender_start DIR: postfix start (which runs the fatal checks of `postfix
#   check` and creates the queue directories, ~2 s); on failure prints
#   Postfix's output on stderr and returns 1.
# sender_stop DIR: stop the instance if it runs (TERM to its master by pid,
#   KILL after 10 s; quiet).
# sender_policy DIR [POLICY_MAP]: set smtp_tls_policy_maps (or remove it when
#   no map is given) and reload (SIGHUP to master, until it logs the reload);
#   mail sent afterwards uses it.
# sender_send DIR RCPT [SUBJECT [BODY]]: one message from sender@sender.example.
# sender_wait_log DIR ERE [SECONDS]: wait until DIR/maillog has a line
#   matching ERE (default 30 s); returns 1 on timeout.
# shellcheck shell=bash

sender_setup() {
	local d=$1 map=${2:-}
	sender_stop "$d"
	rm -rf "$d/etc" "$d/spool" "$d/data" "$d/maillog"
	mkdir -p "$d/etc" "$d/spool/etc" "$d/data"
	chown postfix "$d/data"
	cat >"$d/etc/main.cf" <<EOF
# written by tests/integration/sender_lib.bash: a sending MTA against the mtasts rig
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
myhostname = sender.example
mydomain = sender.example
myorigin = \$myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
relayhost =
biff = no
smtp_tls_security_level = may
smtp_tls_CAfile = $RIG_CA_FILE
smtp_tls_loglevel = 1
smtp_connect_timeout = 5s
smtp_connection_cache_on_demand = no
minimal_backoff_time = 1h
maximal_backoff_time = 2h
queue_run_delay = 1h
maillog_file = $d/maillog
maillog_file_prefixes = $d
EOF
	[ -n "$map" ] && printf 'smtp_tls_policy_maps = %s\n' "$map" >>"$d/etc/main.cf"
	cat >"$d/etc/master.cf" <<'EOF'
# service type  private unpriv  chroot  wakeup  maxproc command
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       y       -       -       smtp
relay     unix  -       -       y       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
	# The chroot of smtp(8): its own resolver configuration.
	printf 'nameserver %s\noptions timeout:2 attempts:1\n' "$RIG_DNS_ADDR" >"$d/spool/etc/resolv.conf"
	printf '127.0.0.1 localhost\n' >"$d/spool/etc/hosts"
	printf 'hosts: files dns\n' >"$d/spool/etc/nsswitch.conf"
	cp /etc/services "$d/spool/etc/services"
	[ -f /etc/localtime ] && cp /etc/localtime "$d/spool/etc/localtime"
	return 0
}

sender_start() {
	local out
	out=$(postfix -c "$1/etc" start 2>&1) || { printf '%s\n' "$out" >&2; return 1; }
}

# sender_master_pid DIR: the pid of the instance's master(8), if it runs (`postfix
# status` tests the lock on its pid file, so the pid is that master's).
sender_master_pid() {
	local pid
	[ -f "$1/etc/main.cf" ] && postfix -c "$1/etc" status >/dev/null 2>&1 || return 1
	read -r pid <"$1/spool/pid/master.pid" || return 1
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	echo "$pid"
}

# By pid rather than `postfix stop`, which polls once a second.
sender_stop() {
	local pid i
	pid=$(sender_master_pid "$1") || return 0
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 200); do
		sender_gone "$pid" && return 0
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}
# A master that exited stays a zombie until init reaps it (it was
# daemonized): gone means no process or a zombie.
sender_gone() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	[ "${stat%% *}" = Z ]
}

# SIGHUP to master(8) is what `postfix reload` sends, without its queue scans.
sender_policy() {
	local d=$1 map=${2:-} out pid before i
	if [ -n "$map" ]; then
		out=$(postconf -c "$d/etc" -e "smtp_tls_policy_maps = $map" 2>&1)
	else
		out=$(postconf -c "$d/etc" -X smtp_tls_policy_maps 2>&1)
	fi || { printf '%s\n' "$out" >&2; return 1; }
	pid=$(sender_master_pid "$d") || { echo "sender_policy: Postfix in $d does not run" >&2; return 1; }
	before=$(grep -c 'postfix/master.*: reload --' "$d/maillog")
	kill -HUP "$pid"
	for i in $(seq 100); do
		[ "$(grep -c 'postfix/master.*: reload --' "$d/maillog")" -gt "$before" ] && return 0
		sleep 0.05
	done
	echo "sender_policy: master $pid did not log its reload" >&2
	return 1
}

sender_send() {
	printf 'Subject: %s\n\n%s\n' "${3:-mta-sts test to $2}" "${4:-hello}" |
		sendmail -C "$1/etc" -f "sender@sender.example" "$2"
}

sender_wait_log() {
	local i
	for i in $(seq $((${3:-30} * 5))); do
		grep -qE "$2" "$1/maillog" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}
