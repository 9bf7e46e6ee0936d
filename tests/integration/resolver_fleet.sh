#!/bin/bash
# resolver_fleet.sh - `mtasts resolver` beyond one machine and when things
# break: two daemons (two MTAs) sharing a Redis cache (one exports what the
# other cached), Redis restarted under a running daemon, DANE precedence on
# the rig's DNSSEC-signed zones, and a daemon whose DNS is dead answering
# from what the shared cache holds, never keeping Postfix waiting past the
# zone timeout; policy hosts down (404/500, no address, too slow) under a
# cached policy whose id changed; the SQLite cache deleted and locked.
# Needs RIG_ENV, REDIS_ENV and MTASTS.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$MTASTS_SOURCE_DIR/tests/integration/resolver_lib.bash"
. "$RIG_ENV"
. "$REDIS_ENV"
M=$MTASTS
tmp=$(mktemp -d /tmp/mtasts-fleet-test.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
PF=(-c "$RIG_DIR/postfix/etc")
R() { redis-cli -h "$REDIS_ADDR" -p "$REDIS_PORT" "$@"; }
R FLUSHALL >/dev/null

# config NAME CACHE-YAML [EXTRA...]: write $tmp/NAME.yml
config() {
	local name=$1 cache=$2
	shift 2
	{
		printf 'host: 127.0.0.1\nport: 0\ncache_grace: 0\nshutdown_timeout: 2\n'
		printf '%s\n' "$cache"
		printf 'default_zone:\n  timeout: 3\n'
		printf 'ca_file: %s\ncontrol_path: %s/%s.ctl\n' "$RIG_CA_FILE" "$tmp" "$name"
		printf '%s\n' "$@"
	} >"$tmp/$name.yml"
}
# start NAME: run the daemon of $tmp/NAME.yml; its socketmap in SM_NAME
start() {
	local rc=0
	resolver_start "$tmp/$1.yml" "$tmp/$1.log" || rc=1
	pids+=("$RESOLVER_PID")
	printf -v "SM_$1" '%s' "socketmap:inet:127.0.0.1:$RESOLVER_PORT:postfix"
	return $rc
}
ask() { postmap "${PF[@]}" -q "$2" "$1" 2>&1; }
stats() { "$M" resolver ctl stats --control "$tmp/$1.ctl" 2>/dev/null; }
E_GOOD="secure match=valid.mx.test servername=hostname"

REDIS_CACHE="cache:
  type: redis
  options:
    url: $REDIS_URL
    socket_timeout: 0.5
    max_connections: 10"

# 1. Two MTAs, one Redis: the second finds the first one's policy there.
config a "$REDIS_CACHE" "dns_resolver: $RIG_RESOLVER"
config b "$REDIS_CACHE" "dns_resolver: $RIG_RESOLVER"
start a || { t_fail "daemon a starts"; t_done; exit 1; }
start b || { t_fail "daemon b starts"; t_done; exit 1; }
t_eq "a: enforce answer" "$E_GOOD" "$(ask "$SM_a" good-enforce.test)"
stored=$(R GET mtasts:policy:good-enforce.test)
t_contains "a stored the policy in Redis" "mode: enforce" "$(jq -r .policy <<<"$stored")"
# b looks the TXT id up, finds it unchanged and takes the policy from Redis
# without fetching it (its discovery says where the policy came from).
out=$("$M" resolver ctl query good-enforce.test --control "$tmp/b.ctl")
t_eq "b: the same answer" "OK $E_GOOD" "$(jq -r .answer <<<"$out")"
t_eq "b: the policy came from the shared cache, not the network" cache "$(jq -r .source <<<"$out")"
# b's export walks the shared cache: it lists what a cached, also domains b
# has never been asked about.
t_eq "a: multi-mx answer" "secure match=valid.mx.test:backup.mx.test servername=hostname" \
	"$(ask "$SM_a" good-multi-mx.test)"
out=$("$M" resolver ctl export --control "$tmp/b.ctl")
t_contains "b: export lists a's good-multi-mx.test from Redis" "mx: backup.mx.test" \
	"$(jq -r '.policies[] | select(.domain == "good-multi-mx.test") | .policy' <<<"$out")"
t_eq "b: export lists every entry in Redis" "$(R --scan --pattern 'mtasts:policy:*' | sort | sed 's/^mtasts:policy://' | paste -sd' ')" \
	"$(jq -r '.policies[].domain' <<<"$out" | sort | paste -sd' ')"
t_eq "b: never answered good-multi-mx.test itself" "" \
	"$("$M" resolver ctl dump --control "$tmp/b.ctl" | jq -r '.answers[] | select(.domain == "good-multi-mx.test") | .domain')"
# A value another program left under our prefix is skipped and counted.
R SET mtasts:policy:junk.example '{not json' >/dev/null
out=$("$M" resolver ctl export --control "$tmp/b.ctl")
t_eq "b: a corrupt entry is skipped and counted" "1" "$(jq -r .skipped <<<"$out")"
t_contains "b: ... naming it" "junk.example" "$(jq -r .skip_reason <<<"$out")"
R DEL mtasts:policy:junk.example >/dev/null

# 2. Redis restarted under the daemons: they keep answering, then store again.
"$MTASTS_SOURCE_DIR/tests/rig/redis" restart >/dev/null 2>&1
t_eq "after the restart: a still answers a cached domain" "$E_GOOD" "$(ask "$SM_a" good-enforce.test)"
t_eq "after the restart: a answers a new domain" \
	"secure match=valid.mx.test:backup.mx.test servername=hostname" "$(ask "$SM_a" good-multi-mx.test)"
ask "$SM_a" good-wildcard.test >/dev/null
[ -n "$(R GET mtasts:policy:good-wildcard.test)" ] && t_ok "after the restart: a stores in Redis again" \
	|| t_fail "after the restart: a stores in Redis again"
kill -0 "${pids[0]}" 2>/dev/null && t_ok "a is still running" || t_fail "a is still running"

# 3. DANE precedence on the rig's signed zones (needs the trust anchor).
if [ -n "${RIG_TRUST_ANCHOR:-}" ]; then
	config d "cache:
  type: internal" "dns_resolver: $RIG_RESOLVER" "trust_anchor_file: $RIG_TRUST_ANCHOR" "dane: true"
	start d || t_fail "daemon d starts"
	t_eq "dane-signed: DANE takes precedence" "dane-only" "$(ask "$SM_d" dane-signed.test)"
	t_eq "dane-mismatch: still DANE (a wrong TLSA is DANE's failure, not a reason for STS)" \
		"dane-only" "$(ask "$SM_d" dane-mismatch.test)"
	t_eq "dane-unsigned: unsigned TLSA, the STS policy" \
		"secure match=mx.dane-unsigned.test servername=hostname" "$(ask "$SM_d" dane-unsigned.test)"
	got=$(ask "$SM_d" dnssec-bogus.test)
	t_eq "dnssec-bogus: never a policy" "" "$(grep -E '^(secure|dane)' <<<"$got")"
	t_contains "dnssec-bogus: TEMP (Postfix defers)" "temporary error" "$got"
fi

# 4. DNS dead: a daemon sharing the Redis cache answers cached domains from
#    it, and everything else within the zone timeout.
dead_port=$(( 30000 + RANDOM % 20000 ))
config x "$REDIS_CACHE" "dns_resolver: 127.0.0.1@$dead_port"
start x || t_fail "daemon x starts"
start_s=$(date +%s%N)
got=$(ask "$SM_x" good-enforce.test)
took=$(( ($(date +%s%N) - start_s) / 1000000 ))
t_eq "dead DNS: the cached policy from Redis" "$E_GOOD" "$got"
[ "$took" -le 3600 ] && t_ok "dead DNS: answered in ${took} ms (zone timeout 3 s)" || t_fail "dead DNS: took ${took} ms"
start_s=$(date +%s%N)
got=$(ask "$SM_x" mx-mixed.test); rc=$?
took=$(( ($(date +%s%N) - start_s) / 1000000 ))
t_eq "dead DNS, nothing cached: no policy given" "" "$(grep -E '^secure' <<<"$got")"
t_contains "dead DNS, nothing cached: TEMP at the zone timeout" "no answer within 3 s" "$got"
# postmap itself waits a second after a TEMP answer before it gives up.
[ "$took" -le 4600 ] && t_ok "dead DNS, nothing cached: answered in ${took} ms (3 s + postmap's 1 s)" \
	|| t_fail "dead DNS: took ${took} ms"
t_eq "dead DNS: the daemon counted one TEMP" 1 "$(stats x | jq -r .answers.temp)"

# 5. The SQLite cache deleted, then locked by another process, under a
#    running daemon: answers go on, within the zone timeout.
config s "cache:
  type: sqlite
  options:
    filename: $tmp/s.db" "dns_resolver: $RIG_RESOLVER"
start s || t_fail "daemon s starts"
t_eq "sqlite: enforce answer" "$E_GOOD" "$(ask "$SM_s" good-enforce.test)"
rm -f "$tmp"/s.db*
t_eq "sqlite file deleted: still answers" \
	"secure match=valid.mx.test:backup.mx.test servername=hostname" "$(ask "$SM_s" good-multi-mx.test)"
if command -v python3 >/dev/null 2>&1; then
	config l "cache:
  type: sqlite
  options:
    filename: $tmp/l.db" "dns_resolver: $RIG_RESOLVER"
	start l || t_fail "daemon l starts"
	ask "$SM_l" good-enforce.test >/dev/null # creates the database
	python3 -c "import sqlite3,time; c=sqlite3.connect('$tmp/l.db', isolation_level=None); c.execute('BEGIN EXCLUSIVE'); time.sleep(5)" &
	locker=$!
	sleep 0.5
	start_s=$(date +%s%N)
	got=$(ask "$SM_l" mx-mixed.test)
	took=$(( ($(date +%s%N) - start_s) / 1000000 ))
	wait "$locker"
	t_eq "sqlite locked by another process: still answers" \
		"secure match=valid.mx.test:expired.mx.test servername=hostname" "$got"
	# at most 0.25 s per cache call (a get and a put), the fetch, postmap
	[ "$took" -le 2000 ] && t_ok "sqlite locked: answered in ${took} ms (0.25 s wait per cache call)" \
		|| t_fail "sqlite locked: took ${took} ms"
	kill -0 "${pids[-1]}" 2>/dev/null && t_ok "daemon l survived the lock" || t_fail "daemon l survived the lock"
fi

# 6. Policy hosts down while the TXT id says there is a new policy: the
#    unexpired cached one is kept (RFC 8461 §5.1) within the zone timeout,
#    whatever the failure: an HTTP error, no address, a host too slow.
config p "cache:
  type: sqlite
  options:
    filename: $tmp/p.db" "dns_resolver: $RIG_RESOLVER"
start p || t_fail "daemon p starts"
t_eq "policy host down: good-enforce cached first" "$E_GOOD" "$(ask "$SM_p" good-enforce.test)"
kill -TERM "${pids[-1]}"
wait "${pids[-1]}" 2>/dev/null
# good-enforce's policy, planted under an old id for domains whose policy
# host fails: the id in DNS differs, so each lookup must try to fetch.
for d in policy-500 no-policy-host policy-slow; do
	sqlite3 "$tmp/p.db" "insert into sts_policy (domain, id, policy, fetched_at, expires_at)
		select '$d.test', 'OLD', policy, strftime('%s','now'), strftime('%s','now') + 3600
		from sts_policy where domain = 'good-enforce.test'"
done
start p || t_fail "daemon p starts again"
for d in policy-500 no-policy-host policy-slow; do
	start_s=$(date +%s%N)
	got=$(ask "$SM_p" "$d.test")
	took=$(( ($(date +%s%N) - start_s) / 1000000 ))
	t_eq "$d: the host fails, the cached policy is answered" "$E_GOOD" "$got"
	[ "$took" -le 4600 ] && t_ok "$d: answered in ${took} ms (zone timeout 3 s + postmap)" \
		|| t_fail "$d: took ${took} ms"
done
kill -0 "${pids[-1]}" 2>/dev/null && t_ok "daemon p survived the failing hosts" \
	|| t_fail "daemon p survived the failing hosts"

t_done
