#!/bin/bash
# fetch_redis.sh - `mtasts fetch --cache redis://...` end to end: the first
# run fetches from the network and stores the policy in the test Redis; a
# second process (another "MTA" of the fleet) finds it there; a stopped
# Redis is a clear error (exit 3), never a hang. Needs RIG_ENV and REDIS_ENV.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$RIG_ENV"
. "$REDIS_ENV"
M=$MTASTS
RIG=(--resolver "$RIG_RESOLVER" --ca-file "$RIG_CA_FILE")
redis-cli -h "$REDIS_ADDR" -p "$REDIS_PORT" FLUSHALL >/dev/null

out=$("$M" fetch good-enforce.test "${RIG[@]}" --cache "$REDIS_URL" --json)
t_eq "first run: from the network" network "$(jq -r '.domains[0].source' <<<"$out")"
stored=$(redis-cli -h "$REDIS_ADDR" -p "$REDIS_PORT" GET mtasts:policy:good-enforce.test)
t_eq "stored under mtasts:policy:DOMAIN" 20240601T1 "$(jq -r .id <<<"$stored")"
t_contains "stored body is the policy" "mode: enforce" "$(jq -r .policy <<<"$stored")"
ttl=$(redis-cli -h "$REDIS_ADDR" -p "$REDIS_PORT" TTL mtasts:policy:good-enforce.test)
[ "$ttl" -gt 86400 ] && t_ok "entry has a TTL beyond the policy's expiry ($ttl s)" || t_fail "TTL $ttl"
out=$("$M" fetch good-enforce.test "${RIG[@]}" --cache "$REDIS_URL" --json)
t_eq "second process: from the shared cache" cache "$(jq -r '.domains[0].source' <<<"$out")"

start=$(date +%s)
rc=0
err=$("$M" fetch good-enforce.test "${RIG[@]}" --cache "redis://127.0.0.1:1/0?timeout_ms=300" 2>&1 >/dev/null) || rc=$?
t_eq "unreachable Redis: exit 3" 3 "$rc"
t_contains "unreachable Redis: says so" "redis cache 127.0.0.1:1: connect" "$err"
[ $(( $(date +%s) - start )) -le 3 ] && t_ok "unreachable Redis: no hang" || t_fail "unreachable Redis took too long"
t_done
