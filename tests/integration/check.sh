#!/bin/bash
# check.sh - `mtasts check` against the rig: every scenario's verdict, rollout
# readiness and characteristic finding codes equal its expect_verdict,
# expect_ready and expect_codes (all scenarios in one concurrent run); then
# the measured facts in --json, the text layout, --format nagios, exit codes,
# and --connect-to (time limits: test_check_io.c).
# Needs RIG_ENV (the rig's env file) and MTASTS.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$RIG_ENV"
M=$MTASTS
RIG=(--resolver "$RIG_RESOLVER" --ca-file "$RIG_CA_FILE")
[ -n "${RIG_TRUST_ANCHOR:-}" ] && RIG+=(--trust-anchor "$RIG_TRUST_ANCHOR")
tmp=$(mktemp -d /tmp/mtasts-check-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
key() { sed -n "s/^$2 *= *//p" "$RIG_SCENARIO_DIR/$1/scenario"; }
q() { jq -r --arg d "$1" ".domains[] | select(.domain == \$d) | $2" "$tmp/all.json"; }

# 1. Every scenario at once (policy-slow apart: it needs a short --timeout).
domains=()
for s in $RIG_SCENARIOS; do [ "$s" = policy-slow ] || domains+=("$s.test"); done
rc=0
"$M" check "${domains[@]}" "${RIG[@]}" --timeout 5 --json >"$tmp/all.json" 2>"$tmp/all.err" || rc=$?
t_eq "check of ${#domains[@]} domains exits 1 (some have errors)" 1 "$rc"
t_eq "no complaints on stderr" "" "$(cat "$tmp/all.err")"
t_eq "one result per domain" "${#domains[@]}" "$(jq '.domains | length' "$tmp/all.json")"
t_eq "results keep the order given" "${domains[*]}" "$(jq -r '[.domains[].domain] | join(" ")' "$tmp/all.json")"
for d in "${domains[@]}"; do
	s=${d%.test}
	want=$(key "$s" expect_verdict)
	if [ -z "$want" ]; then t_fail "$s: scenario has expect_verdict"; continue; fi
	t_eq "$s: verdict $want" "$want" "$(q "$d" .verdict)"
	ready=$(key "$s" expect_ready)
	case $ready in
	yes) t_eq "$s: ready to enforce" true "$(q "$d" .ready_to_enforce)" ;;
	no) t_eq "$s: not ready to enforce" false "$(q "$d" .ready_to_enforce)" ;;
	*) t_fail "$s: scenario has expect_ready yes|no" ;;
	esac
	codes=$(q "$d" '[.findings[].code] | join(" ")')
	for c in $(key "$s" expect_codes); do
		if [[ " $codes " == *" $c "* ]]; then t_ok "$s: finding $c"
		else t_fail "$s: finding $c (got: $codes)"; fi
	done
done
t_eq "summary counts every domain" "${#domains[@]}" "$(jq .summary.domains "$tmp/all.json")"
t_eq "summary verdicts add up" "${#domains[@]}" \
	"$(jq '.summary | .protected + .testing + .not_deployed + .broken' "$tmp/all.json")"

# 2. Measured facts in --json (good-multi-mx: two MX, valid certificates).
d=good-multi-mx.test
t_eq "$d: MX hosts by preference" "valid.mx.test backup.mx.test" "$(q $d '[.mx.hosts[].host] | join(" ")')"
t_eq "$d: MX addresses from the rig" "$RIG_PREFIX.10" "$(q $d '.mx.hosts[0].addresses[0]')"
t_eq "$d: STARTTLS seen" true "$(q $d '.mx.hosts[0].tls.starttls')"
t_eq "$d: MX certificate names" "valid.mx.test backup.mx.test" \
	"$(q $d '.mx.hosts[0].tls.certificate.names | join(" ")')"
t_eq "$d: every MX covered" "true true" "$(q $d '[.mx.hosts[].covered] | map(tostring) | join(" ")')"
now=$(date +%s)
na=$(q $d '.mx.hosts[0].tls.certificate.not_after')
want_days=$(( ($(date -d "$na" +%s) - now) / 86400 ))
t_eq "$d: MX days_left matches not_after" "$want_days" "$(q $d '.mx.hosts[0].tls.certificate.days_left')"
t_eq "$d: policy host probed on 443" "$RIG_HTTPS" "$(q $d '.policy.host.address')"
t_eq "$d: policy host certificate valid" true "$(q $d '.policy.host.certificate.chain_valid')"
t_eq "$d: policy mode" enforce "$(q $d '.policy.mode')"
t_eq "$d: policy body is the served file" "$(cat "$RIG_POLICY_DIR/good-multi-mx/.well-known/mta-sts.txt")" \
	"$(q $d '.policy.body')"
t_eq "$d: 2 of 2 MX pass" "2 2" "$(q $d '"\(.mx_passing) \(.mx_total)"')"
t_eq "$d: TLS-RPT record kept" "v=TLSRPTv1; rua=mailto:tlsrpt@good-multi-mx.test" \
	"$(q $d '.records.tlsrpt.records[0].text')"
t_eq "$d: SPF lookups counted" 1 "$(q $d '.spf.lookups')"
t_eq "$d: every finding has a layer" 0 "$(q $d '[.findings[] | select(.layer == null)] | length')"
d=cert-expired.test
t_eq "$d: expired policy host certificate has negative days" true \
	"$(q $d '.policy.host.certificate.days_left < 0')"
t_eq "$d: fetch result is the RFC 8460 type" sts-webpki-invalid "$(q $d '.policy.result')"
d=mx-mixed.test
t_eq "$d: the expired MX is named in its finding" "expired.mx.test" \
	"$(q $d '[.findings[] | select(.code == "check.mx.cert.expired") | .subject][0]')"
if [ -n "${RIG_TRUST_ANCHOR:-}" ]; then
	t_eq "dane-signed: TLSA 3 1 1 matches the presented key" match "$(q dane-signed.test '.mx.hosts[0].tlsa.match')"
	t_eq "dane-signed: TLSA validated" secure "$(q dane-signed.test '.mx.hosts[0].tlsa.dnssec')"
	t_eq "dane-signed: dane flag" true "$(q dane-signed.test '.dane')"
	t_eq "dane-mismatch: no record matches" no-match "$(q dane-mismatch.test '.mx.hosts[0].tlsa.match')"
	t_eq "dane-unsigned: TLSA not validated" insecure "$(q dane-unsigned.test '.mx.hosts[0].tlsa.dnssec')"
fi
t_eq "dnssec-bogus: each bogus answer under its own layer" "dmarc mx record spf tlsrpt" \
	"$(q dnssec-bogus.test '[.findings[] | select(.code == "dns.bogus") | .layer] | sort | join(" ")')"
# Every address of an MX host is probed: the valid listener passes, the
# expired one fails the host, and the finding names the address.
d=mx-addr-mixed.test
t_eq "$d: both addresses kept, in order" "$RIG_PREFIX.18 $RIG_PREFIX.19" "$(q $d '.mx.hosts[0].addresses | join(" ")')"
t_eq "$d: one probe per address" "$RIG_PREFIX.18:25 $RIG_PREFIX.19:25" "$(q $d '[.mx.hosts[0].probes[].address] | join(" ")')"
t_eq "$d: the host's tls is the failing probe" "$RIG_PREFIX.19:25" "$(q $d '.mx.hosts[0].tls.address')"
t_eq "$d: 0 of 1 MX pass" "0 1" "$(q $d '"\(.mx_passing) \(.mx_total)"')"
t_contains "$d: the expired finding names the address" "($RIG_PREFIX.19:25)" \
	"$(q $d '[.findings[] | select(.code == "check.mx.cert.expired") | .message][0]')"
t_eq "good-enforce: one address, one probe" 1 "$(q good-enforce.test '.mx.hosts[0].probes | length')"
out=$("$M" check mx-addr-mixed.test "${RIG[@]}")
t_contains "$d: text has a line per address" "$RIG_PREFIX.19:25: TLSv1.3, certificate EXPIRED" "$out"
# An MX target that is a CNAME: a warning naming the canonical name.
t_eq "mx-cname: the alias's canonical name" hosted.mx.test "$(q mx-cname.test '.mx.hosts[0].cname')"
t_contains "mx-cname: the finding names both" "mail.mx-cname.test is an alias (CNAME) of hosted.mx.test" \
	"$(q mx-cname.test '[.findings[] | select(.code == "check.mx.cname") | .message][0]')"
t_eq "good-enforce: no alias" null "$(q good-enforce.test '.mx.hosts[0].cname')"
t_eq "no scenario but mx-cname has check.mx.cname" mx-cname.test \
	"$(jq -r '[.domains[] | select(any(.findings[]; .code == "check.mx.cname")) | .domain] | join(" ")' "$tmp/all.json")"
# A _mta-sts record over 4096 bytes (19 strings) is read whole and valid.
t_eq "record-long: the whole record" "4526 19" "$(q record-long.test '.records.mta_sts.records[0] | "\(.text | length) \(.strings)"')"
d=null-mx.test
t_eq "$d: null MX seen" true "$(q $d '.mx.null_mx')"
d=servfail.test
t_eq "$d: MX lookup failure kept" servfail "$(q $d '.mx.status')"

# 3. Text: verdict first, findings grouped by layer, fix hints, no colour off a TTY.
out=$("$M" check mx-mixed.test "${RIG[@]}")
t_eq "text starts with the verdict" "mx-mixed.test: BROKEN (mode enforce; 1 of 2 MX pass; 1 error, 2 warnings)" \
	"$(head -n1 <<<"$out")"
t_contains "text lists each MX with its TLS" "20 expired.mx.test $RIG_PREFIX.11, in policy: TLSv1.3, certificate EXPIRED" "$out"
t_contains "text groups MX findings" "  MX hosts and TLS" "$out"
t_contains "text gives a fix hint" "fix: renew the MX host's certificate" "$out"
t_lacks "no colour off a TTY" $'\033[' "$out"
out=$(NO_COLOR= script -qec "$M check demo-healthy.test ${RIG[*]}" /dev/null 2>/dev/null) || true
if [ -n "$out" ]; then t_contains "colour on a TTY" $'\033[1;32mPROTECTED' "$out"; fi

# 4. Exit codes: 0 without errors, 1 with errors, 2 usage.
rc=0; "$M" check good-multi-mx.test "${RIG[@]}" >/dev/null || rc=$?
t_eq "no errors: exit 0" 0 "$rc"
rc=0; "$M" check good-multi-mx.test mx-nostarttls.test "${RIG[@]}" >/dev/null || rc=$?
t_eq "errors: exit 1" 1 "$rc"

# 5. --format nagios: status line with perfdata, one line per domain, plugin exit codes.
rc=0; out=$("$M" check good-multi-mx.test "${RIG[@]}" --format nagios) || rc=$?
t_eq "nagios: warnings only (short max_age) is WARNING" 1 "$rc"
t_contains "nagios: status line" "MTA-STS WARNING - 1 domain: 0 critical, 1 warning, protected | errors=0 cert_days_min=" "$out"
rc=0; out=$("$M" check mx-cert-expired.test "${RIG[@]}" --format nagios) || rc=$?
t_eq "nagios: an expired MX certificate is CRITICAL" 2 "$rc"
t_contains "nagios: perfdata has the negative days" "cert_days_min=-" "$out"
t_contains "nagios: detail line names the finding" "mx-cert-expired.test: broken; " "$out"
rc=0; "$M" check demo-healthy.test --format nagios --timeout 0 >/dev/null 2>&1 || rc=$?
t_eq "nagios: usage error is UNKNOWN" 3 "$rc"

# 6. --connect-to and --smtp-port: send the MX probe elsewhere, keep the name.
rc=0
out=$("$M" check good-enforce.test "${RIG[@]}" --json \
	--connect-to "valid.mx.test:25:$RIG_PREFIX.14:25") || rc=$?
t_eq "connect-to: probe went to the self-signed listener" "$RIG_PREFIX.14:25" \
	"$(jq -r '.domains[0].mx.hosts[0].tls.address' <<<"$out")"
t_contains "connect-to: its certificate is reported" "check.mx.cert" \
	"$(jq -r '[.domains[0].findings[].code] | join(" ")' <<<"$out")"

# 7. --no-smtp: no connection to MX hosts (port 25 blocked), said so.
out=$("$M" check good-multi-mx.test "${RIG[@]}" --no-smtp --json)
t_eq "no-smtp: MX hosts not probed" "null null" "$(jq -r '[.domains[0].mx.hosts[].tls] | map(tostring) | join(" ")' <<<"$out")"
t_eq "no-smtp: the verdict assumes TLS passes" protected "$(jq -r '.domains[0].verdict' <<<"$out")"
t_contains "no-smtp: says TLS was not checked" "check.mx.not_probed" "$(jq -r '[.domains[0].findings[].code] | join(" ")' <<<"$out")"
t_contains "no-smtp: text says so per MX" "10 valid.mx.test $RIG_PREFIX.10, in policy: TLS not checked" \
	"$("$M" check good-multi-mx.test "${RIG[@]}" --no-smtp)"

t_done
