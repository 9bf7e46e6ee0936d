#!/bin/bash
# mtasts serve: the domain commands on a store, with given patterns (no
# network): init, add, the records printed, set (same bytes keep the id, new
# bytes get a new one), list, show, --json, removal before publication,
# refusals with their exit codes, and the store shared by two processes.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
M=$MTASTS
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export MTASTS_SERVE_STORE=sqlite://$tmp/serve.db
j() { jq -r "$1"; }

out=$($M serve domain add example.com --mx mx1.example.com 2>&1); rc=$?
t_eq "add before init: refused (1)" 1 "$rc"
t_contains "add before init: says what to do" "mtasts serve init" "$out"
t_exit "init without --zone: usage" 2 $M serve init --service s.example
t_exit "init with a bad zone: usage" 2 $M serve init --zone 'no spaces.example' --service s.example
t_exit "init with a bad rua: usage" 2 $M serve init --zone z.example --service s.example --rua http://x
out=$($M serve init --zone sts.host.example --service mta-sts.host.example \
	--rua mailto:tlsrpt@host.example); rc=$?
t_eq "init: exit 0" 0 "$rc"
t_contains "init: says the settings" "zone sts.host.example, service mta-sts.host.example" "$out"

out=$($M serve domain add Example.COM --mx mx1.example.com,mx2.example.com 2>&1); rc=$?
t_eq "add: exit 0" 0 "$rc"
t_contains "add: the policy host" "https://mta-sts.example.com/.well-known/mta-sts.txt" "$out"
t_contains "add: mta-sts CNAME" "mta-sts.example.com. CNAME mta-sts.host.example." "$out"
t_contains "add: _mta-sts CNAME into the zone" \
	"_mta-sts.example.com. CNAME _mta-sts.example.com.sts.host.example." "$out"
t_contains "add: the TLS-RPT record" \
	'_smtp._tls.example.com. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@host.example"' "$out"
t_contains "add: the service's TXT, not yet published" \
	"(once the policy host has a certificate)" "$out"
t_contains "add: mode testing by default" "mode testing" "$out"

js=$($M serve domain show example.com --json); rc=$?
t_eq "show --json: exit 0" 0 "$rc"
t_eq "json: domain" example.com "$(j .domain <<<"$js")"
t_eq "json: mode" testing "$(j .mode <<<"$js")"
t_eq "json: max_age default a week" 604800 "$(j .max_age <<<"$js")"
t_eq "json: mx" "mx1.example.com mx2.example.com" "$(j '.mx | join(" ")' <<<"$js")"
t_eq "json: phase serving" serving "$(j .phase <<<"$js")"
t_eq "json: nothing published" "" "$(j .published_id <<<"$js")"
t_eq "json: the next step waits" wait "$(j .next.action <<<"$js")"
t_eq "json: two customer records and the TLS-RPT one" 3 "$(j '.records.customer | length' <<<"$js")"
id1=$(j .id <<<"$js")
t_eq "json: service TXT holds the id" "v=STSv1; id=$id1" "$(j '.records.service[0].value' <<<"$js")"
jq -j .policy <<<"$js" >"$tmp/policy.txt"
out=$($M policy lint "$tmp/policy.txt" 2>&1); rc=$?
t_eq "the served bytes pass policy lint" 0 "$rc"
t_lacks "with CRLF lines" "sts.policy.line" "$out"

out=$($M serve domain add example.com --mx mx1.example.com 2>&1); rc=$?
t_eq "add twice: refused (1)" 1 "$rc"
t_contains "add twice: says so" "hosted already" "$out"

# set: the same bytes keep the id; other bytes get a new one.
out=$($M serve domain set example.com --mode testing --max-age 604800); rc=$?
t_eq "set to the same: exit 0" 0 "$rc"
t_contains "set to the same: unchanged" "unchanged" "$out"
t_eq "the same id" "$id1" "$($M serve domain show example.com --json | j .id)"
sleep 1 # ids carry the time to the second: a new one must differ anyway
js=$($M serve domain set example.com --mode enforce --json); rc=$?
t_eq "set enforce: exit 0" 0 "$rc"
t_eq "set keeps the patterns" "mx1.example.com mx2.example.com" "$(j '.mx | join(" ")' <<<"$js")"
t_eq "set: mode enforce" enforce "$(j .mode <<<"$js")"
id2=$(j .id <<<"$js")
[ -n "$id2" ] && [ "$id2" != "$id1" ] && t_ok "new bytes, new id" || t_fail "new bytes, new id ($id1 $id2)"
t_eq "revision counts writes" 3 "$(j .revision <<<"$js")"
out=$($M serve domain set example.com --mx 'bad pattern.example' 2>&1); rc=$?
t_eq "a pattern that is not a name: refused (1)" 1 "$rc"
t_contains "names the pattern" "bad pattern.example" "$out"
t_eq "and changes nothing" "$id2" "$($M serve domain show example.com --json | j .id)"
t_exit "bad mode: usage" 2 $M serve domain set example.com --mode strict
t_exit "bad max_age: usage" 2 $M serve domain set example.com --max-age 31557601
t_exit "auto and patterns mixed: usage" 2 $M serve domain set example.com --mx auto --mx a.example
t_exit "set of a domain not hosted: 1" 1 $M serve domain set nothere.example --mode enforce
t_exit "show of a domain not hosted: 1" 1 $M serve domain show nothere.example
t_exit "unknown domain command: usage" 2 $M serve domain frob
t_exit "unknown serve command: usage" 2 $M serve frob

# U-labels are hosted as A-labels; the list is by name.
$M serve domain add 'bücher.example' --mx mx.bücher.example >/dev/null; rc=$?
t_eq "an IDN domain: exit 0" 0 "$rc"
js=$($M serve domain list --json)
t_eq "list: two domains, by name" "example.com xn--bcher-kva.example" "$(j '[.[].domain] | join(" ")' <<<"$js")"
t_eq "the IDN's pattern as an A-label" "mx.xn--bcher-kva.example" "$(j '.[1].mx[0]' <<<"$js")"
out=$($M serve domain list)
t_contains "list text: a line per domain" "example.com" "$out"
t_contains "list text: count" "2 domains" "$out"

# Two processes on one store: both writes land, in turn.
$M serve domain set example.com --max-age 86400 >/dev/null &
$M serve domain set xn--bcher-kva.example --mode enforce >/dev/null &
wait
t_eq "concurrent writers: both landed" "86400 enforce" \
	"$($M serve domain list --json | j '"\(.[0].max_age) \(.[1].mode)"')"

# Removal before the record was ever published: forgotten at once.
out=$($M serve domain remove example.com); rc=$?
t_eq "remove: exit 0" 0 "$rc"
t_contains "remove: never published, gone" "never published" "$out"
t_exit "removed: not hosted any more" 1 $M serve domain show example.com
t_eq "one domain left" 1 "$($M serve domain list --json | j length)"
t_exit "a store URL that is not sqlite: usage" 2 $M serve domain list --store redis://x
t_done
