#!/bin/bash
# resolver_start.sh - what `mtasts resolver` meets at start and reload
# (issue #13): a damaged SQLite cache file is moved aside and the daemon
# starts with an empty cache; a configuration nested 100,000 levels deep is
# refused at once, by --check and by a reload; Unix sockets, made before
# privileges are dropped, belong to the configured user and group; with no
# ca_file, SSL_CERT_FILE and SSL_CERT_DIR name the CA store; --check names
# the cache backend; control requests are counted apart; the daemon's own
# memory after start is under 4 MB.
# Needs RIG_ENV and MTASTS.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$MTASTS_SOURCE_DIR/tests/integration/resolver_lib.bash"
. "$RIG_ENV"
M=$MTASTS
tmp=$(mktemp -d /tmp/mtasts-resolver-start.XXXXXX)
chmod 755 "$tmp"
pid=
stop_daemon() { # a clean exit (under ASan: no error, no leak)
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	local rc=0
	wait "$pid" || rc=$?
	pid=
	[ "$rc" -eq 0 ] || t_fail "the daemon exits 0 on SIGTERM (exit $rc)" "$(tail -20 "$tmp/log")"
	return $rc
}
trap 'stop_daemon; rm -rf "$tmp"' EXIT
PF=(-c "$RIG_DIR/postfix/etc")
E="secure match=valid.mx.test servername=hostname"

cat >"$tmp/sqlite.yml" <<EOF
host: 127.0.0.1
port: 0
cache:
  type: sqlite
  options:
    filename: $tmp/cache.db
dns_resolver: $RIG_RESOLVER
ca_file: $RIG_CA_FILE
EOF
start() { # CONFIG
	resolver_start "$1" "$tmp/log" 2>&1
	local rc=$?
	pid=$RESOLVER_PID
	SM="socketmap:inet:127.0.0.1:$RESOLVER_PORT:postfix"
	return $rc
}
ask() { timeout 10 postmap "${PF[@]}" -q "$1" "$SM" 2>&1; }

# 1. A damaged SQLite cache.
start "$tmp/sqlite.yml" || t_fail "sqlite: the daemon starts"
t_eq "sqlite: answers" "$E" "$(ask good-enforce.test)"
stop_daemon
# Enough rows for many pages, so that cutting the file loses some.
sqlite3 "$tmp/cache.db" "with recursive n(i) as (select 1 union all select i + 1 from n where i < 3000)
	insert into sts_policy (domain, policy, last_attempt) select 'pad' || i || '.example', randomblob(200), 1 from n;
	pragma wal_checkpoint(truncate);" >/dev/null
size=$(stat -c %s "$tmp/cache.db")
truncate -s $((size / 2)) "$tmp/cache.db"
if start "$tmp/sqlite.yml"; then
	t_ok "truncated sqlite cache: the daemon starts"
else
	t_fail "truncated sqlite cache: the daemon starts" "$(cat "$tmp/log")"
fi
t_contains "truncated sqlite cache: logged" "the sqlite cache was damaged" "$(cat "$tmp/log")"
aside=$(ls "$tmp"/cache.db.corrupt-* 2>/dev/null | head -1)
[ -n "$aside" ] && [ "$(stat -c %s "$aside")" = $((size / 2)) ] && t_ok "truncated sqlite cache: moved aside ($(basename "$aside"))" ||
	t_fail "truncated sqlite cache: moved aside" "$(ls -l "$tmp")"
t_contains "truncated sqlite cache: the log names where" "moved to $aside" "$(cat "$tmp/log")"
t_eq "truncated sqlite cache: answers" "$E" "$(ask good-enforce.test)"
t_eq "truncated sqlite cache: a new cache, with only the new answer" "good-enforce.test" \
	"$(sqlite3 "$tmp/cache.db" "select domain from sts_policy")"
stop_daemon
rm -f "$tmp"/cache.db*
printf 'this file is not an SQLite database, whatever its name says\n%.0s' $(seq 100) >"$tmp/cache.db"
if start "$tmp/sqlite.yml"; then
	t_ok "a file that is not SQLite: the daemon starts"
else
	t_fail "a file that is not SQLite: the daemon starts" "$(cat "$tmp/log")"
fi
t_contains "a file that is not SQLite: logged" "file is not a database" "$(cat "$tmp/log")"
t_eq "a file that is not SQLite: answers" "$E" "$(ask good-enforce.test)"
stop_daemon

# 2. YAML nested 100,000 levels deep (500 kB): refused at once, naming the line.
deep() { # FILE: a valid configuration, then a key nested 100,000 levels deep
	{
		cat "$tmp/sqlite.yml"
		printf 'zones: '
		head -c 100000 /dev/zero | tr '\0' '['
		head -c 100000 /dev/zero | tr '\0' ']'
		echo
	} >"$1"
}
deep "$tmp/deep.yml"
lines=$(wc -l <"$tmp/deep.yml")
start=$(date +%s%N)
out=$(timeout 20 "$M" resolver --check --config "$tmp/deep.yml" 2>&1); rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
t_eq "deep YAML: --check exits 2 (not killed by timeout)" 2 "$rc"
t_contains "deep YAML: --check names the line" "deep.yml:$lines: nested deeper than 32 levels" "$out"
[ "$ms" -lt 5000 ] && t_ok "deep YAML: --check answers at once ($ms ms)" || t_fail "deep YAML: --check answers at once ($ms ms)"
cp "$tmp/sqlite.yml" "$tmp/live.yml"
start "$tmp/live.yml" || t_fail "deep YAML: the daemon starts"
deep "$tmp/live.yml"
kill -HUP "$pid"
for _ in $(seq 50); do grep -q 'reload failed' "$tmp/log" && break; sleep 0.1; done
t_contains "deep YAML: a reload is refused at once, naming the line" \
	"reload failed, keeping the running configuration: $tmp/live.yml:$lines: nested deeper than 32 levels" "$(cat "$tmp/log")"
t_eq "deep YAML: still answers after the reload" "$E" "$(ask good-enforce.test)"
stop_daemon

# 3. Unix sockets: bound as root, owned by user (nobody) and group (postfix),
# so that a 0660 map socket lets the Postfix group in.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && getent group postfix >/dev/null; then
	unix_conf() { # GROUP-LINE
		cat >"$tmp/unix.yml" <<EOF
path: $tmp/map.sock
mode: 0660
user: nobody
$1
control_path: $tmp/ctl.sock
cache:
  type: internal
dns_resolver: $RIG_RESOLVER
ca_file: $RIG_CA_FILE
EOF
	}
	unix_start() {
		: >"$tmp/log"
		"$M" resolver --config "$tmp/unix.yml" 2>>"$tmp/log" &
		pid=$!
		for _ in $(seq 100); do grep -q 'listening on' "$tmp/log" && break; sleep 0.05; done
		grep -q 'listening on unix:' "$tmp/log"
	}
	unix_conf "group: postfix"
	unix_start || t_fail "unix: the daemon starts" "$(cat "$tmp/log")"
	t_eq "unix: the map socket is user's and group's, mode 660" "nobody:postfix 660" \
		"$(stat -c '%U:%G %a' "$tmp/map.sock")"
	t_eq "unix: the control socket too, mode 600" "nobody:postfix 600" "$(stat -c '%U:%G %a' "$tmp/ctl.sock")"
	# Another user of the postfix group, as Postfix's processes are.
	out=$(setpriv --reuid=daemon --regid=postfix --clear-groups \
		"$M" resolver query good-enforce.test --server "unix:$tmp/map.sock" 2>&1); rc=$?
	t_eq "unix: a member of the group gets answers" "0:OK $E" "$rc:$out"
	out=$(setpriv --reuid=daemon --regid=daemon --clear-groups \
		"$M" resolver query good-enforce.test --server "unix:$tmp/map.sock" 2>&1); rc=$?
	t_eq "unix: others do not (mode 660)" 3 "$rc"
	t_eq "unix: ctl as the user" "OK $E" "$(setpriv --reuid=nobody --regid=postfix --clear-groups \
		"$M" resolver ctl query good-enforce.test --control "$tmp/ctl.sock" | jq -r .answer)"
	stop_daemon
	unix_conf ""
	unix_start || t_fail "unix: the daemon starts without group" "$(cat "$tmp/log")"
	t_eq "unix: without group, the user's own group" "nobody:$(id -gn nobody) 660" "$(stat -c '%U:%G %a' "$tmp/map.sock")"
	stop_daemon
	unix_conf "group: no-such-group-here"
	out=$(timeout 10 "$M" resolver --config "$tmp/unix.yml" 2>&1); rc=$?
	t_eq "unix: an unknown group: exit 3" 3 "$rc"
	t_contains "unix: an unknown group: says so" "group no-such-group-here: no such group" "$out"
fi

# 4. No ca_file: OpenSSL's SSL_CERT_FILE and SSL_CERT_DIR name the store, as
# for the Python daemon and OpenSSL programs.
printf 'host: 127.0.0.1\nport: 0\ncache:\n  type: internal\ndns_resolver: %s\n' "$RIG_RESOLVER" >"$tmp/noca.yml"
if SSL_CERT_FILE=$RIG_CA_FILE start "$tmp/noca.yml"; then
	t_eq "SSL_CERT_FILE: the rig's policy is fetched" "$E" "$(ask good-enforce.test)"
	t_eq "SSL_CERT_FILE: a wrong name still fails" "" "$(ask cert-wrongname.test)"
else
	t_fail "SSL_CERT_FILE: the daemon starts" "$(cat "$tmp/log")"
fi
stop_daemon
mkdir "$tmp/certs"
cp "$RIG_CA_FILE" "$tmp/certs/rig.pem"
openssl rehash "$tmp/certs" 2>/dev/null || c_rehash "$tmp/certs" >/dev/null
if SSL_CERT_DIR=$tmp/certs start "$tmp/noca.yml"; then
	t_eq "SSL_CERT_DIR: the rig's policy is fetched" "$E" "$(ask good-enforce.test)"
else
	t_fail "SSL_CERT_DIR: the daemon starts" "$(cat "$tmp/log")"
fi
stop_daemon
if start "$tmp/noca.yml"; then
	t_eq "neither: the system store does not know the rig's CA (NOTFOUND)" "" "$(ask good-enforce.test)"
fi
stop_daemon

# 5. --check names the cache backend; control requests are not socketmap requests.
printf 'cache:\n  type: redis\n  options:\n    url: redis://127.0.0.1:1/0\n' >"$tmp/redis.yml"
printf 'cache:\n  type: postgres\n  options:\n    dsn: postgresql://u@127.0.0.1:1/db\n' >"$tmp/pg.yml"
t_contains "--check: a redis cache is named" "cache redis)" "$("$M" resolver --check --config "$tmp/redis.yml" 2>&1)"
t_contains "--check: a postgres cache is named" "cache postgres)" "$("$M" resolver --check --config "$tmp/pg.yml" 2>&1)"
t_contains "--check: a sqlite cache is named" "cache sqlite)" "$("$M" resolver --check --config "$tmp/sqlite.yml" 2>&1)"
t_contains "--check: the internal cache is named" "cache internal)" "$("$M" resolver --check --config "$tmp/noca.yml" 2>&1)"
printf 'host: 127.0.0.1\nport: 0\ncache:\n  type: internal\ndns_resolver: %s\nca_file: %s\ncontrol_path: %s\nmetrics: 127.0.0.1:0\n' \
	"$RIG_RESOLVER" "$RIG_CA_FILE" "$tmp/ctl.sock" >"$tmp/count.yml"
if start "$tmp/count.yml"; then
	for _ in 1 2 3; do "$M" resolver ctl stats --control "$tmp/ctl.sock" >/dev/null; done
	ask good-enforce.test >/dev/null
	out=$("$M" resolver ctl stats --control "$tmp/ctl.sock")
	t_eq "stats: socketmap and control requests apart" "1 4" "$(jq -r '"\(.requests) \(.control_requests)"' <<<"$out")"
	murl=$(sed -n 's/.*metrics on \(http:[^ ]*\).*/\1/p' "$tmp/log" | tail -1)
	out=$(curl -fsS "$murl")
	t_eq "metrics: requests_total counts the socketmap request only" "1" \
		"$(awk '$1 == "mtasts_resolver_requests_total" {print $2}' <<<"$out")"
	t_eq "metrics: control requests counted apart" "4" \
		"$(awk '$1 == "mtasts_resolver_control_requests_total" {print $2}' <<<"$out")"
else
	t_fail "counters: the daemon starts" "$(cat "$tmp/log")"
fi
stop_daemon

# 6. The daemon's own memory (Private_Dirty) right after start: under 4 MB
# (docs/resolver.md, "Performance and memory"). Not in the ASan build, whose
# shadow memory and quarantine say nothing about the daemon's.
if ldd "$M" 2>/dev/null | grep -q 'libasan'; then
	echo "# skipped: Private_Dirty under 4 MB (an ASan build)"
elif start "$tmp/noca.yml"; then
	sleep 0.5
	kb=$(awk '$1 == "Private_Dirty:" {print $2}' "/proc/$pid/smaps_rollup")
	[ -n "$kb" ] && [ "$kb" -lt 4096 ] && t_ok "memory: Private_Dirty after start is under 4 MB ($kb kB)" ||
		t_fail "memory: Private_Dirty after start is under 4 MB (${kb:-?} kB)"
	stop_daemon
fi
t_done
