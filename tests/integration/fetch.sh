#!/bin/bash
# fetch.sh - `mtasts fetch` against the rig: every scenario's outcome equals
# its expect_fetch (all in one concurrent run), then the cache's behaviour
# across runs (id change, unchanged id, failure with a cached policy, expiry),
# SERVFAIL and a DNS timeout. Needs RIG_ENV (the rig's env file) and MTASTS.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$RIG_ENV"
M=$MTASTS
RIG=(--resolver "$RIG_RESOLVER" --ca-file "$RIG_CA_FILE")
# expect_fetch is what a validating sender sees (dnssec-bogus fails only then).
[ -n "${RIG_TRUST_ANCHOR:-}" ] && RIG+=(--trust-anchor "$RIG_TRUST_ANCHOR")
tmp=$(mktemp -d /tmp/mtasts-fetch-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
expect_of() { sed -n 's/^expect_fetch *= *//p' "$RIG_SCENARIO_DIR/$1/scenario"; }

# 1. Every scenario at once (policy-slow apart: it needs a short --timeout).
domains=()
for s in $RIG_SCENARIOS; do [ "$s" = policy-slow ] || domains+=("$s.test"); done
rc=0
"$M" fetch "${domains[@]}" "${RIG[@]}" --timeout 5 --json >"$tmp/all.json" 2>"$tmp/all.err" || rc=$?
t_eq "fetch of ${#domains[@]} domains exits 1 (some have no policy)" 1 "$rc"
for d in "${domains[@]}"; do
	s=${d%.test}
	want=$(expect_of "$s")
	got=$(jq -r --arg d "$d" '.domains[] | select(.domain == $d) | .outcome' "$tmp/all.json")
	t_eq "$s: outcome $want" "$want" "$got"
	valid=$(jq -r --arg d "$d" '.domains[] | select(.domain == $d) | .valid' "$tmp/all.json")
	if [ "$want" = ok ]; then t_eq "$s: valid" true "$valid"; else t_eq "$s: not valid" false "$valid"; fi
done
has_code() { jq -e --arg d "$1" --arg c "$2" '.domains[] | select(.domain == $d) | .findings[] | select(.code == $c)' "$3" >/dev/null; }
for pair in policy-redirect.test:sts.fetch.redirect policy-404.test:sts.fetch.http_status \
	policy-wrong-content-type.test:sts.fetch.content_type policy-oversized.test:sts.fetch.too_big \
	policy-chunked-oversized.test:sts.fetch.too_big cert-expired.test:sts.fetch.tls.expired \
	cert-notyet.test:sts.fetch.tls.not_yet_valid cert-wrongname.test:sts.fetch.tls.name \
	cert-selfsigned.test:sts.fetch.tls.untrusted cert-nochain.test:sts.fetch.tls.untrusted \
	servfail.test:dns.servfail; do
	if has_code "${pair%%:*}" "${pair#*:}" "$tmp/all.json"; then t_ok "${pair%%:*}: finding ${pair#*:}"
	else t_fail "${pair%%:*}: finding ${pair#*:}"; fi
done
t_eq "record-multistring: the split record is reported" 3 \
	"$(jq '.domains[] | select(.domain == "record-multistring.test") | .record.txt[0].strings' "$tmp/all.json")"
t_eq "record-multistring: strings joined without spaces" "v=STSv1; id=20240601T1" \
	"$(jq -r '.domains[] | select(.domain == "record-multistring.test") | .record.txt[0].text' "$tmp/all.json")"
t_eq "summary counts every domain" "${#domains[@]}" "$(jq .summary.domains "$tmp/all.json")"
t_eq "no stderr output" "" "$(cat "$tmp/all.err")"

# 2. The slow policy host: the total-time limit ends it.
start=$SECONDS
out=$("$M" fetch policy-slow.test "${RIG[@]}" --timeout 2 --json)
t_eq "policy-slow: sts-policy-fetch-error" sts-policy-fetch-error "$(jq -r '.domains[0].outcome' <<<"$out")"
t_contains "policy-slow: sts.fetch.timeout" sts.fetch.timeout "$out"
[ $((SECONDS - start)) -lt 10 ] && t_ok "policy-slow: gave up within 10 s" || t_fail "policy-slow: took $((SECONDS - start)) s"

# 3. The cache across runs (SQLite).
db=$tmp/cache.db
C=(--cache "sqlite://$db" "${RIG[@]}" --timeout 3)
field() { jq -r ".domains[0].$1" <<<"$2"; }
out=$("$M" fetch good-enforce.test "${C[@]}" --json)
t_eq "first run: from the network" network "$(field source "$out")"
first_fetch=$(field policy.fetched_at "$out")
sleep 1
out=$("$M" fetch good-enforce.test "${C[@]}" --json)
t_eq "unchanged id: from the cache" cache "$(field source "$out")"
t_eq "unchanged id: no fetch" false "$(field fetch.done "$out")"
t_eq "unchanged id: same fetched_at" "$first_fetch" "$(field policy.fetched_at "$out")"
sqlite3 "$db" "update sts_policy set id='OLD1' where domain='good-enforce.test'"
out=$("$M" fetch good-enforce.test "${C[@]}" --json)
t_eq "changed id: fetched again" network "$(field source "$out")"
t_contains "changed id: sts.fetch.id_changed" sts.fetch.id_changed "$out"
t_eq "changed id: new id cached" 20240601T1 "$(sqlite3 "$db" "select id from sts_policy where domain='good-enforce.test'")"

# A fetch failure with an unexpired cached policy keeps it: plant good-enforce's
# policy under another id for policy-404.test, whose host answers 404.
sqlite3 "$db" "insert into sts_policy (domain, id, policy, fetched_at, expires_at)
	select 'policy-404.test', 'OLD2', policy, strftime('%s','now'), strftime('%s','now') + 3600
	from sts_policy where domain='good-enforce.test'"
rc=0; out=$("$M" fetch policy-404.test "${C[@]}" --json) || rc=$?
t_eq "fetch failure + cached policy: exit 0" 0 "$rc"
t_eq "fetch failure + cached policy: still valid" true "$(field valid "$out")"
t_eq "fetch failure + cached policy: from the cache" cache "$(field source "$out")"
t_eq "fetch failure + cached policy: outcome names the failure" sts-policy-fetch-error "$(field outcome "$out")"
t_contains "fetch failure + cached policy: sts.fetch.cached" sts.fetch.cached "$out"
t_contains "fetch failure + cached policy: the 404 is reported" sts.fetch.http_status "$out"

# DNS failure with the cached policy: kept. Then expired: gone.
dead=(--cache "sqlite://$db" --resolver "$RIG_PREFIX.250@53" --ca-file "$RIG_CA_FILE" --timeout 1)
rc=0; out=$("$M" fetch good-enforce.test "${dead[@]}" --json) || rc=$?
t_eq "DNS timeout + cached policy: exit 0" 0 "$rc"
t_eq "DNS timeout + cached policy: outcome dns-error" dns-error "$(field outcome "$out")"
t_eq "DNS timeout + cached policy: from the cache" cache "$(field source "$out")"
sqlite3 "$db" "update sts_policy set expires_at=strftime('%s','now')-10, last_failure=0 where domain='good-enforce.test'"
rc=0; out=$("$M" fetch good-enforce.test "${dead[@]}" --json) || rc=$?
t_eq "expired cached policy + DNS timeout: exit 1" 1 "$rc"
t_eq "expired cached policy: no policy" null "$(field policy "$out")"
t_contains "expired cached policy: sts.fetch.cache_expired" sts.fetch.cache_expired "$out"
t_contains "DNS timeout: dns.timeout" dns.timeout "$out"
sqlite3 "$db" "update sts_policy set last_failure=0"
out=$("$M" fetch good-enforce.test "${C[@]}" --json)
t_eq "expired cached policy: fetched again" network "$(field source "$out")"
t_eq "cache file passes integrity_check" ok "$(sqlite3 "$db" 'pragma integrity_check')"

# 4. SERVFAIL and the exit codes.
t_exit "servfail: exit 1" 1 "$M" fetch servfail.test "${RIG[@]}" --timeout 3
t_exit "good domain: exit 0" 0 "$M" fetch good-enforce.test good-testing.test "${RIG[@]}"
t_exit "bad --cache: exit 2 or 3" 3 "$M" fetch good-enforce.test --cache "sqlite:///nonexistent/dir/x.db" "${RIG[@]}"
t_exit "bad --resolver: usage" 2 "$M" fetch good-enforce.test --resolver nonsense
t_exit "bad --connect-to: usage" 2 "$M" fetch good-enforce.test --connect-to a:b
out=$("$M" fetch good-enforce.test "${RIG[@]}")
t_contains "text output names the policy" "valid.mx.test" "$out"
# --connect-to sends the policy host elsewhere (here: a closed port).
out=$("$M" fetch good-enforce.test "${RIG[@]}" --connect-to "mta-sts.good-enforce.test:443:$RIG_PREFIX.2:9" --json)
t_contains "--connect-to: connects to the given port" ":9" "$(field fetch.connected_to "$out")"
t_eq "--connect-to: closed port is a fetch error" sts-policy-fetch-error "$(field outcome "$out")"
t_done
