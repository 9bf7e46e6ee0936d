#!/bin/bash
# resolver_pg.sh - `mtasts resolver` with `cache: type: postgres`, end to end:
# the rig's domains asked as Postfix asks, the policies in the
# sts_policy_cache table, the cache across a daemon restart (answers from it,
# export lists what was cached before), a second daemon sharing the table,
# and a row no resolver wrote skipped by export. Needs RIG_ENV, PG_ENV and
# MTASTS (ctest: the rig and pg fixtures, see tests/CMakeLists.txt).
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$MTASTS_SOURCE_DIR/tests/integration/resolver_lib.bash"
. "$MTASTS_SOURCE_DIR/tests/pg/common.bash"
. "$RIG_ENV"
M=$MTASTS
tmp=$(mktemp -d /tmp/mtasts-resolver-pg-test.XXXXXX)
declare -A pid_of
stop() { # NAME: SIGTERM, and the daemon's exit status
	local p=${pid_of[$1]:-} rc=0
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null
	wait "$p" || rc=$?
	unset "pid_of[$1]"
	return $rc
}
trap 'for n in "${!pid_of[@]}"; do stop "$n"; done; pg_drop_all; rm -rf "$tmp"' EXIT
PF=(-c "$RIG_DIR/postfix/etc")
pg_db resolver || { t_fail "create a database"; t_done; exit 1; }
# A password in the URL (the rig's server trusts loopback and never asks
# for it): the daemon must not write it to its log.
DB=$(sed 's|^postgresql://\([^@:/]*\)@|postgresql://\1:never-logged@|' <<<"$PG_URL")

# config NAME: $tmp/NAME.yml, a postgres cache in $DB
config() {
	cat >"$tmp/$1.yml" <<YML
host: 127.0.0.1
port: 0
cache_grace: 0
shutdown_timeout: 2
cache:
  type: postgres
  options:
    dsn: $DB
default_zone:
  timeout: 5
dns_resolver: $RIG_RESOLVER
ca_file: $RIG_CA_FILE
control_path: $tmp/$1.ctl
YML
}
# start NAME: run the daemon of $tmp/NAME.yml; its socketmap in SM_NAME
start() {
	local rc=0
	resolver_start "$tmp/$1.yml" "$tmp/$1.log" || rc=1
	pid_of[$1]=$RESOLVER_PID
	printf -v "SM_$1" '%s' "socketmap:inet:127.0.0.1:$RESOLVER_PORT:postfix"
	return $rc
}
ask() { postmap "${PF[@]}" -q "$2" "$1" 2>&1; }
ctl() { local name=$1; shift; "$M" resolver ctl "$@" --control "$tmp/$name.ctl"; }
E_GOOD="secure match=valid.mx.test servername=hostname"
E_MULTI="secure match=valid.mx.test:backup.mx.test servername=hostname"

# 1. Answers, and the policies in the table.
config a
config b
start a || { t_fail "daemon a starts on a postgres cache"; t_done; exit 1; }
t_ok "daemon a starts on a postgres cache"
t_eq "enforce" "$E_GOOD" "$(ask "$SM_a" good-enforce.test)"
t_eq "two MX patterns" "$E_MULTI" "$(ask "$SM_a" good-multi-mx.test)"
got=$(ask "$SM_a" good-testing.test); rc=$?
t_eq "testing: NOTFOUND" "1:" "$rc:$got"
got=$(ask "$SM_a" policy-404.test); rc=$?
t_eq "a failed fetch: NOTFOUND" "1:" "$rc:$got"
got=$(ask "$SM_a" no-record.test); rc=$?
t_eq "no record: NOTFOUND" "1:" "$rc:$got"
t_eq "the policy is in sts_policy_cache" "20240601T1" \
	"$(pq "$DB" "select id from sts_policy_cache where domain = 'good-enforce.test'")"
t_contains "... with its body" "mode: enforce" \
	"$(pq "$DB" "select convert_from(policy, 'UTF8') from sts_policy_cache where domain = 'good-enforce.test'")"
t_contains "a failure is remembered there too" "404" \
	"$(pq "$DB" "select last_reason from sts_policy_cache where domain = 'policy-404.test'")"
rows=$(pq "$DB" "select count(*) from sts_policy_cache")
out=$(ctl a export)
t_eq "export lists every row" "$rows" "$(jq '.policies | length' <<<"$out")"

# 2. Restart: the cache survives; the new process answers from it and
#    exports what it has never been asked about.
stop a; rc=$?
t_eq "SIGTERM: exit 0" 0 "$rc"
start a || t_fail "daemon a restarts"
out=$(ctl a query good-enforce.test)
t_eq "after the restart: the policy comes from the cache" cache "$(jq -r .source <<<"$out")"
t_eq "after the restart: the same answer" "$E_GOOD" "$(ask "$SM_a" good-enforce.test)"
out=$(ctl a export)
t_eq "after the restart: export lists every row" "$rows" "$(jq '.policies | length' <<<"$out")"
t_eq "after the restart: export lists good-multi-mx.test" \
	"$(pq "$DB" "select id from sts_policy_cache where domain = 'good-multi-mx.test'")" \
	"$(jq -r '.policies[] | select(.domain == "good-multi-mx.test") | .id' <<<"$out")"
t_eq "after the restart: which this process never answered" "" \
	"$(ctl a dump | jq -r '.answers[] | select(.domain == "good-multi-mx.test") | .domain')"

# 3. A second daemon on the same table: it exports what a cached, and takes
#    a's policy from the table instead of fetching it.
start b || t_fail "daemon b starts"
t_eq "b: export lists a's domains" "$(jq -r '[.policies[].domain] | sort | join(" ")' <<<"$out")" \
	"$(ctl b export | jq -r '[.policies[].domain] | sort | join(" ")')"
out=$(ctl b query good-multi-mx.test)
t_eq "b: the answer" "OK $E_MULTI" "$(jq -r .answer <<<"$out")"
t_eq "b: the policy came from the shared table" cache "$(jq -r .source <<<"$out")"

# 4. A row no resolver wrote (an id longer than RFC 8461 allows) is skipped
#    and counted; the rest is listed.
pq "$DB" "insert into sts_policy_cache (domain, id) values ('junk.example', repeat('i', 40))" >/dev/null
out=$(ctl b export)
t_eq "a corrupt row: skipped and counted" 1 "$(jq .skipped <<<"$out")"
t_contains "a corrupt row: named" "junk.example" "$(jq -r .skip_reason <<<"$out")"
t_eq "a corrupt row: the others listed" "$rows" "$(jq '.policies | length' <<<"$out")"

stop b; rc=$?
t_eq "b: SIGTERM, exit 0" 0 "$rc"
stop a; rc=$?
t_eq "a: SIGTERM, exit 0" 0 "$rc"
t_eq "the URL's password is not logged" "" "$(grep -l never-logged "$tmp"/*.log || true)"
grep -q 'cache=postgresql://[^ ]*:\*\*\*@' "$tmp/a.log" && t_ok "the log shows the URL with its password masked" \
	|| t_fail "the log shows the URL with its password masked: $(grep -m1 'listening on' "$tmp/a.log")"
t_eq "no errors logged" "" "$(cat "$tmp"/a.log "$tmp"/b.log | grep -iE 'error|fatal' | grep -v 'cache error' || true)"
t_done
