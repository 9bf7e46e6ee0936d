#!/bin/bash
# resolver.sh - `mtasts resolver` against the rig, asked the way Postfix asks:
# `postmap -q KEY socketmap:inet:ADDR:PORT:NAME` for every scenario, each
# answer form of docs/resolver.md (enforce, testing, strict_testing, none,
# no policy, fetch failures, TLSRPT attributes, TEMP, key normalisation),
# the query and ctl clients, --check, the SQLite cache across a restart
# (export lists what the cache holds, proactive refresh refetches it), and
# the drop of privileges to `user` after binding.
# Needs RIG_ENV and MTASTS.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$MTASTS_SOURCE_DIR/tests/integration/resolver_lib.bash"
. "$RIG_ENV"
M=$MTASTS
tmp=$(mktemp -d /tmp/mtasts-resolver-test.XXXXXX)
pid=
stop_daemon() {
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	local rc=0
	wait "$pid" || rc=$?
	pid=
	return $rc
}
trap 'stop_daemon; rm -rf "$tmp"' EXIT
PF=(-c "$RIG_DIR/postfix/etc") # postmap needs a main.cf; the rig's will do

cat >"$tmp/r.yml" <<EOF
# a postfix-mta-sts-resolver configuration, plus the rig's DNS and CA
host: 127.0.0.1
port: 0
reuse_port: true
cache_grace: 60
shutdown_timeout: 5
cache:
  type: sqlite
  options:
    filename: $tmp/cache.db
    threads: 1
    timeout: 5
proactive_policy_fetching:
  enabled: false
default_zone:
  strict_testing: false
  timeout: 5
  require_sni: true
zones:
  strict:
    strict_testing: true
  nosni:
    require_sni: false
  rpt:
    tlsrpt: true
dns_resolver: $RIG_RESOLVER
ca_file: $RIG_CA_FILE
trust_anchor_file: $RIG_TRUST_ANCHOR
control_path: $tmp/ctl.sock
metrics: 127.0.0.1:0
EOF

start_daemon() {
	resolver_start "$tmp/r.yml" "$tmp/log" --pidfile "$tmp/pid" 2>&1
	local rc=$?
	pid=$RESOLVER_PID
	port=$RESOLVER_PORT
	SM="socketmap:inet:127.0.0.1:$port"
	return $rc
}

t_exit "--check accepts the configuration" 0 "$M" resolver --check --config "$tmp/r.yml"
printf 'host: 127.0.0.1\ncache:\n  type: redis\n' >"$tmp/redis.yml"
out=$("$M" resolver --config "$tmp/redis.yml" 2>&1); rc=$?
t_eq "a redis cache without options.url: exit 2" 2 "$rc"
t_contains "a redis cache without options.url: says so, with the line" "redis.yml:3: url: the redis cache needs options.url" "$out"

start_daemon || { t_fail "the daemon starts"; t_done; exit 1; }
t_ok "the daemon starts (port $port)"

# What Postfix prints for a key: the value after "OK ", or nothing (exit 1).
ask() { postmap "${PF[@]}" -q "$1" "$SM:${2:-postfix}" 2>&1; }
expected_match() { # the policy's patterns in order, leading '*' and trailing '.' removed, joined by ':'
	tr -d '\r' <"$RIG_POLICY_DIR/$1/.well-known/mta-sts.txt" |
		sed -n 's/^mx: *//p' | sed 's/^\*//; s/\.$//' | paste -sd: -
}
mode_of() { tr -d '\r' <"$RIG_POLICY_DIR/$1/.well-known/mta-sts.txt" | sed -n 's/^mode: *//p' | head -1; }
expect_of() { sed -n 's/^expect_fetch *= *//p' "$RIG_SCENARIO_DIR/$1/scenario"; }

# 1. Every scenario, as Postfix asks it (policy-slow apart: see the zone timeout below).
for s in $RIG_SCENARIOS; do
	[ "$s" = policy-slow ] && continue
	d=$s.test
	want_fetch=$(expect_of "$s")
	got=$(ask "$d"); rc=$?
	case $want_fetch in
	ok)
		if [ "$(mode_of "$s")" = enforce ]; then
			t_eq "$s: enforce" "secure match=$(expected_match "$s") servername=hostname" "$got"
		else
			t_eq "$s: $(mode_of "$s") is NOTFOUND (exit 1, no output)" "1:" "$rc:$got"
		fi ;;
	dns-error)
		t_contains "$s: TEMP" "temporary error" "$got" ;;
	*)
		t_eq "$s: $want_fetch is NOTFOUND" "1:" "$rc:$got" ;;
	esac
done

# 2. Zones: strict_testing, require_sni false, TLSRPT attributes.
t_eq "strict zone: testing is enforced" "secure match=valid.mx.test servername=hostname" "$(ask good-testing.test strict)"
t_eq "strict zone: none stays NOTFOUND" "" "$(ask good-none.test strict)"
t_eq "nosni zone: no servername" "secure match=valid.mx.test" "$(ask good-enforce.test nosni)"
t_eq "unknown map name: the default zone" "secure match=valid.mx.test servername=hostname" "$(ask good-enforce.test other)"
t_eq "rpt zone: TLSRPT attributes" "secure match=.mx.test servername=hostname policy_type=sts policy_domain=good-wildcard.test mx_host_pattern=*.mx.test { policy_string = version: STSv1 } { policy_string = mode: enforce } { policy_string = mx: *.mx.test } { policy_string = max_age: 604800 }" "$(ask good-wildcard.test rpt)"
# A failure without a usable policy: NOTFOUND with TLSRPT too, so that
# Postfix keeps its own default level (an "OK may" would lower it).
t_eq "rpt zone: webpki failure is NOTFOUND" "" "$(ask cert-expired.test rpt)"
t_eq "rpt zone: fetch failure is NOTFOUND" "" "$(ask policy-404.test rpt)"
t_eq "rpt zone: invalid policy is NOTFOUND" "" "$(ask policy-bad-mode.test rpt)"
t_eq "rpt zone: no policy is NOTFOUND" "" "$(ask no-record.test rpt)"
# Accept leniently: an mx value with a trailing dot (an error to publish)
# still enforces, matching the name without the dot.
t_eq "mx with a trailing dot is enforced" "secure match=valid.mx.test servername=hostname" "$(ask policy-mx-trailing-dot.test)"

# 3. Keys as Postfix sends them.
E="secure match=valid.mx.test servername=hostname"
t_eq "[domain]" "$E" "$(ask '[good-enforce.test]')"
t_eq "domain:port" "$E" "$(ask 'good-enforce.test:25')"
t_eq "[domain]:port" "$E" "$(ask '[good-enforce.test]:587')"
t_eq "trailing dot and case" "$E" "$(ask 'Good-Enforce.TEST.')"
t_eq "parent-domain probe (.domain)" "" "$(ask '.good-enforce.test')"
t_eq "IPv4 literal" "" "$(ask '[192.0.2.1]')"
t_eq "IPv6 literal" "" "$(ask '[ipv6:2001:db8::1]')"
t_eq "unusable key" "" "$(ask 'a..b')"

# 4. The query client.
out=$("$M" resolver query good-enforce.test --server "inet:127.0.0.1:$port"); rc=$?
t_eq "query: enforce exits 0" "0:OK $E" "$rc:$out"
out=$("$M" resolver query good-testing.test --config "$tmp/r.yml" --server "inet:127.0.0.1:$port"); rc=$?
t_eq "query: testing exits 1" "1:NOTFOUND " "$rc:$out"
out=$("$M" resolver query good-testing.test --zone strict --server "inet:127.0.0.1:$port"); rc=$?
t_eq "query --zone strict" "0:OK $E" "$rc:$out"
out=$("$M" resolver query servfail.test --server "inet:127.0.0.1:$port"); rc=$?
t_eq "query: a DNS failure is TEMP, exit 3" "3:TEMP _mta-sts.servfail.test TXT" "$rc:${out%%:*}"
t_exit "query: no daemon, exit 3" 3 "$M" resolver query good-enforce.test --server inet:127.0.0.1:1

# 5. The control client.
C=(--config "$tmp/r.yml")
out=$("$M" resolver ctl query good-enforce.test "${C[@]}")
t_eq "ctl query: the answer" "OK $E" "$(jq -r .answer <<<"$out")"
t_eq "ctl query: the policy" "enforce" "$(jq -r .policy.mode <<<"$out")"
out=$("$M" resolver ctl dump "${C[@]}")
t_eq "ctl dump: good-enforce.test's answer" "OK $E" "$(jq -r '.answers[] | select(.domain == "good-enforce.test" and .zone == "") | .answer' <<<"$out")"
out=$("$M" resolver ctl export "${C[@]}")
t_eq "ctl export: the cached policy" "20240601T1" "$(jq -r '.policies[] | select(.domain == "good-enforce.test") | .id' <<<"$out")"
t_contains "ctl export: the policy body" "mode: enforce" "$(jq -r '.policies[] | select(.domain == "good-enforce.test") | .policy' <<<"$out")"
out=$("$M" resolver ctl stats "${C[@]}")
[ "$(jq .requests <<<"$out")" -gt 50 ] && t_ok "ctl stats: requests counted" || t_fail "ctl stats" "$out"
out=$("$M" resolver ctl purge good-wildcard.test "${C[@]}")
t_eq "ctl purge DOMAIN" 1 "$(jq .purged <<<"$out")"
t_eq "purged from the SQLite cache" 0 "$(sqlite3 "$tmp/cache.db" "select count(*) from sts_policy where domain='good-wildcard.test'")"
t_exit "ctl: an unknown command exits 1" 1 "$M" resolver ctl frobnicate "${C[@]}"
t_exit "ctl export: a bad page cursor exits 1" 1 "$M" resolver ctl export 7a7 "${C[@]}"

# Prometheus metrics.
murl=$(sed -n 's/.*metrics on \(http:[^ ]*\).*/\1/p' "$tmp/log" | tail -1)
out=$(curl -fsS "$murl"); rc=$?
t_eq "metrics: served" 0 "$rc"
for m in 'mtasts_resolver_answers_total{answer="policy"}' 'mtasts_resolver_discoveries_total{outcome="sts-webpki-invalid"}' \
	'mtasts_resolver_fetches_total{result="ok"}' 'mtasts_resolver_lookup_wait_seconds_bucket{le="+Inf"}' \
	mtasts_resolver_cache_hits_total mtasts_resolver_requests_total; do
	v=$(awk -v m="$m" '$1 == m {print $2}' <<<"$out")
	[ -n "$v" ] && [ "$v" -gt 0 ] 2>/dev/null && t_ok "metrics: $m = $v" || t_fail "metrics: $m > 0" "$out"
done
t_contains "metrics: timeouts counted (none yet)" "mtasts_resolver_timeouts_total 0" "$out"
t_eq "metrics: other paths are 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "${murl%/metrics}/")"

# 6. The SQLite cache survives a restart (and kill -9).
kill -KILL "$pid"; wait "$pid" 2>/dev/null; pid=
start_daemon || t_fail "restart"
t_eq "after kill -9: the policy comes from the cache" cache \
	"$("$M" resolver ctl query good-enforce.test "${C[@]}" | jq -r .source)"
t_eq "after kill -9: the answer is the same" "$E" "$(ask good-enforce.test)"
# export walks the cache: it lists the domains cached before the restart,
# which this process has never answered.
out=$("$M" resolver ctl export "${C[@]}")
t_eq "after kill -9: export lists every cached domain" \
	"$(sqlite3 "$tmp/cache.db" "select count(*) from sts_policy")" "$(jq '.policies | length' <<<"$out")"
t_eq "after kill -9: export lists good-multi-mx.test, cached before the restart" \
	"$(sqlite3 "$tmp/cache.db" "select id from sts_policy where domain='good-multi-mx.test'")" \
	"$(jq -r '.policies[] | select(.domain == "good-multi-mx.test") | .id' <<<"$out")"
t_contains "after kill -9: with its policy" "mx: backup.mx.test" \
	"$(jq -r '.policies[] | select(.domain == "good-multi-mx.test") | .policy' <<<"$out")"
t_eq "after kill -9: this process never answered good-multi-mx.test" "" \
	"$("$M" resolver ctl dump "${C[@]}" | jq -r '.answers[] | select(.domain == "good-multi-mx.test") | .domain')"
t_eq "after kill -9: export has nothing left to page" "false:0" "$(jq -r '(has("next") | tostring) + ":" + (.skipped | tostring)' <<<"$out")"
# A cache larger than one page (1000 entries), with a row no resolver wrote:
# ctl follows the pages to the end, each domain once, the row counted.
sqlite3 "$tmp/cache.db" "with recursive n(i) as (select 1 union all select i + 1 from n where i < 2500)
	insert into sts_policy (domain, last_attempt) select 'page' || i || '.example', strftime('%s') from n;
	insert into sts_policy (domain) values ('not a domain')"
total=$(sqlite3 "$tmp/cache.db" "select count(*) - 1 from sts_policy")
out=$("$M" resolver ctl export "${C[@]}")
t_eq "export in pages: every entry, once" "$total:$total" \
	"$(jq -r '"\([.policies[].domain] | unique | length):\(.policies | length)"' <<<"$out")"
t_eq "export in pages: the foreign row skipped and counted" 1 "$(jq .skipped <<<"$out")"
t_eq "export in pages: no cursor left over" false "$(jq 'has("next")' <<<"$out")"

# 7. A zone timeout is TEMP: policy-slow needs ~40 s.
start=$SECONDS
out=$("$M" resolver query policy-slow.test --server "inet:127.0.0.1:$port"); rc=$?
t_eq "policy-slow: TEMP after the zone timeout" "3:TEMP no answer within 5 s" "$rc:$out"
[ $((SECONDS - start)) -le 7 ] && t_ok "policy-slow: answered within the zone timeout" || t_fail "policy-slow took $((SECONDS - start)) s"

stop_daemon; rc=$?
t_eq "SIGTERM: exit 0" 0 "$rc"
t_eq "no errors logged" "" "$(grep -iE 'error|fatal' "$tmp/log" | grep -v 'cache error' || true)"

# 8. Proactive refresh walks the cache: a daemon started on the SQLite file
#    refetches a policy cached before it started, without any request. The
#    stored policy of good-multi-mx.test is made two days old (RFC 8461
#    §10.2: a day-old policy is fetched again even with an unchanged id).
before=$(date +%s)
sqlite3 "$tmp/cache.db" "update sts_policy set fetched_at = fetched_at - 172800,
	last_attempt = last_attempt - 172800 where domain = 'good-multi-mx.test'"
old_fetched=$(sqlite3 "$tmp/cache.db" "select fetched_at from sts_policy where domain = 'good-multi-mx.test'")
policies=$(sqlite3 "$tmp/cache.db" "select count(*) from sts_policy where policy is not null")
sed -i 's/^  enabled: false$/  enabled: true\n  interval: 2\n  grace_ratio: 2/' "$tmp/r.yml"
start_daemon || t_fail "restart with proactive refresh"
for _ in $(seq 100); do grep -q 'proactive refresh of .* domains done' "$tmp/log" && break; sleep 0.1; done
t_contains "proactive: a round over the whole cache" "proactive refresh of $policies domains done" "$(cat "$tmp/log")"
new_fetched=$(sqlite3 "$tmp/cache.db" "select fetched_at from sts_policy where domain = 'good-multi-mx.test'")
[ "$new_fetched" -ge "$before" ] && t_ok "proactive: good-multi-mx.test refetched ($old_fetched -> $new_fetched)" \
	|| t_fail "proactive: good-multi-mx.test refetched ($old_fetched -> $new_fetched, started $before)"
murl=$(sed -n 's/.*metrics on \(http:[^ ]*\).*/\1/p' "$tmp/log" | tail -1)
out=$(curl -fsS "$murl")
metric() { awk -v m="$1" '$1 == m {print $2}' <<<"$out"; }
t_eq "proactive: no request came in" 0 "$(metric mtasts_resolver_requests_total)"
[ "$(metric 'mtasts_resolver_fetches_total{result="ok"}')" -ge 1 ] && t_ok "proactive: the refetch is counted" \
	|| t_fail "proactive: the refetch is counted" "$out"
[ "$(metric mtasts_resolver_proactive_refreshes_total)" -ge "$policies" ] && t_ok "proactive: every cached policy refreshed" \
	|| t_fail "proactive: every cached policy refreshed ($policies)" "$out"
t_eq "proactive: the refreshed answer" "secure match=valid.mx.test:backup.mx.test servername=hostname" \
	"$(ask good-multi-mx.test)"
# purge all goes through the cache in pages too.
total=$(sqlite3 "$tmp/cache.db" "select count(*) - 1 from sts_policy")
out=$("$M" resolver ctl purge all "${C[@]}")
t_eq "purge all: every entry, in pages" "$total" "$(jq .purged <<<"$out")"
t_eq "purge all: the cache is empty but for the foreign row" "not a domain" \
	"$(sqlite3 "$tmp/cache.db" "select domain from sts_policy")"
stop_daemon; rc=$?
t_eq "proactive: SIGTERM, exit 0" 0 "$rc"
t_eq "proactive: no errors logged" "" "$(grep -iE 'error|fatal' "$tmp/log" | grep -v 'cache error' || true)"
# Privileges: bound as root, then running as the configured user; the
# answers still come (the cache and the network are opened after the drop).
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	printf 'host: 127.0.0.1\nport: 0\nuser: nobody\ncache:\n  type: internal\ndns_resolver: %s\nca_file: %s\n' \
		"$RIG_RESOLVER" "$RIG_CA_FILE" >"$tmp/drop.yml"
	if resolver_start "$tmp/drop.yml" "$tmp/drop.log"; then
		n=$(id -u nobody)
		t_eq "user: real, effective and saved uid are nobody's" "$n $n $n $n" \
			"$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$RESOLVER_PID/status")"
		t_eq "user: still answers" "secure match=valid.mx.test servername=hostname" \
			"$(postmap "${PF[@]}" -q good-enforce.test "socketmap:inet:127.0.0.1:$RESOLVER_PORT:postfix" 2>&1)"
		kill -TERM "$RESOLVER_PID"
		rc=0
		wait "$RESOLVER_PID" || rc=$?
		t_eq "user: SIGTERM, exit 0" 0 "$rc"
	else
		t_fail "user: the daemon starts" "$(cat "$tmp/drop.log")"
	fi
fi
t_done
