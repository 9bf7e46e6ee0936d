#!/usr/bin/env bash
# Smoke test of the loopback rig itself: DNS answers (DNSSEC signing, trust
# anchors, TLSA), policy-host HTTP behaviours and certificates, SMTP listeners
# and STARTTLS. No mtasts code is involved, except that DNSSEC validation is
# checked with `mtasts fetch` when $MTASTS names the program (as under ctest).
# Run it under the rig:   tests/rig/rig run bash tests/integration/rig_smoke.sh
# or with RIG_ENV=<rig dir>/env pointing at a rig that is already up (ctest).
# Last line of output: "N passed, M failed"; exit status non-zero on failure.
set -uo pipefail

if [[ -z ${RIG_DIR-} ]]; then
  [[ -n ${RIG_ENV-} && -f ${RIG_ENV-} ]] || { echo "rig_smoke: run under 'rig run' or set RIG_ENV" >&2; exit 2; }
  set -a
  # shellcheck disable=SC1090
  . "$RIG_ENV"
  set +a
fi

P=$RIG_PREFIX
CA=$RIG_CA_FILE
passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$1"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$1"; [[ -n ${2-} ]] && printf '     %s\n' "$2"; return 0; }
expect_eq() { # NAME GOT WANT
  if [[ $2 == "$3" ]]; then ok "$1"; else bad "$1" "got [$2], want [$3]"; fi
}
expect_match() { # NAME GOT REGEX
  if [[ $2 =~ $3 ]]; then ok "$1"; else bad "$1" "got [$2], want match /$3/"; fi
}

# ------------------------------------------------------------------ DNS
dig1() { kdig "@$RIG_DNS_ADDR" -p "$RIG_DNS_PORT" +time=2 +retry=0 "$@" 2>&1; }
status_of() { dig1 "$@" | sed -n 's/.*status: \([A-Z]*\).*/\1/p' | head -1; }

expect_eq "dns: TXT _mta-sts.good-enforce.test" \
  "$(dig1 +short _mta-sts.good-enforce.test TXT)" '"v=STSv1; id=20240601T1"'
expect_eq "dns: multi-string TXT is served as three strings" \
  "$(dig1 +short _mta-sts.record-multistring.test TXT)" '"v=STSv1; " "id=2024" "0601T1"'
expect_eq "dns: two STS records" "$(dig1 +short _mta-sts.two-records.test TXT | wc -l)" 2
expect_eq "dns: MX good-enforce.test" "$(dig1 +short good-enforce.test MX)" "10 valid.mx.test."
expect_eq "dns: null MX" "$(dig1 +short null-mx.test MX)" "0 ."
expect_eq "dns: A mta-sts.good-enforce.test" "$(dig1 +short mta-sts.good-enforce.test A)" "$P.2"
expect_eq "dns: A valid.mx.test" "$(dig1 +short valid.mx.test A)" "${RIG_MX_VALID%:*}"
expect_eq "dns: A nostarttls.mx.test" "$(dig1 +short nostarttls.mx.test A)" "${RIG_MX_NOSTARTTLS%:*}"
expect_eq "dns: {{PREFIX}} substituted (tlsrpt.tlsrpt-https.test)" \
  "$(dig1 +short tlsrpt.tlsrpt-https.test A)" "$P.2"
expect_eq "dns: no-record has no _mta-sts name" "$(status_of _mta-sts.no-record.test TXT)" NXDOMAIN
expect_eq "dns: policy_host = none gives NXDOMAIN" "$(status_of mta-sts.no-policy-host.test A)" NXDOMAIN
expect_eq "dns: servfail.test is not served (REFUSED)" "$(status_of servfail.test SOA)" REFUSED
expect_eq "dns: TCP works" "$(dig1 +tcp +short good-enforce.test MX)" "10 valid.mx.test."
for d in $RIG_DEMO_DOMAINS; do
  expect_eq "dns: demo domain $d served" "$(status_of "$d" SOA)" NOERROR
done
expect_eq "dns: A mx.dane-signed.test is the hosted listener" \
  "$(dig1 +short mx.dane-signed.test A)" "${RIG_MX_HOSTED%:*}"

# ------------------------------------------------------------------ DNSSEC
rrsigs() { dig1 +dnssec +noall +answer "$@" | grep -cE '[[:space:]]RRSIG[[:space:]]'; }
expect_eq "dnssec: signed zone answers with RRSIG (_mta-sts.dane-signed.test)" \
  "$(rrsigs _mta-sts.dane-signed.test TXT)" 1
expect_eq "dnssec: signed TLSA has its RRSIG" "$(rrsigs _25._tcp.mx.dane-signed.test TLSA)" 1
expect_eq "dnssec: unsigned zone has no RRSIG (good-enforce.test)" "$(rrsigs _mta-sts.good-enforce.test TXT)" 0
# served_key ZONE -> "flags proto alg key" of the DNSKEY with flags 257
served_key() { dig1 +noall +answer "$1" DNSKEY | awk '$4 == "DNSKEY" && $5 == 257 { k = ""; for (i = 8; i <= NF; i++) k = k $i; print $5, $6, $7, k }'; }
anchor_key() { awk -v z="$1." '$1 == z && $4 == "DNSKEY" { print $5, $6, $7, $8 }' "$RIG_TRUST_ANCHOR"; }
if [[ -n ${RIG_TRUST_ANCHOR-} && -s $RIG_TRUST_ANCHOR ]]; then ok "dnssec: RIG_TRUST_ANCHOR file exists"
else bad "dnssec: RIG_TRUST_ANCHOR file exists" "[${RIG_TRUST_ANCHOR-}]"; fi
k=$(served_key dane-signed.test)
expect_match "dnssec: dane-signed.test serves an ECDSA P-256 key (257 3 13)" "$k" '^257 3 13 [A-Za-z0-9+/=]{80,}$'
expect_eq "dnssec: the trust anchor of dane-signed.test is its served key" "$(anchor_key dane-signed.test)" "$k"
k=$(served_key dnssec-bogus.test)
a=$(anchor_key dnssec-bogus.test)
if [[ -n $k && -n $a && $k != "$a" ]]; then ok "dnssec: the trust anchor of dnssec-bogus.test is deliberately not its key"
else bad "dnssec: the trust anchor of dnssec-bogus.test is deliberately not its key" "served [$k], anchor [$a]"; fi
# Validation itself: with the product when ctest provides it (libunbound).
if [[ -n ${MTASTS-} && -x ${MTASTS-} ]]; then
  ta_fetch() {
    "$MTASTS" fetch --resolver "$RIG_RESOLVER" --ca-file "$CA" --trust-anchor "$RIG_TRUST_ANCHOR" \
      --timeout 5 --json "$1" 2>/dev/null | sed -n 's/.*"dnssec": *"\([a-z]*\)".*/\1/p' | head -1
  }
  expect_eq "dnssec: validated as secure (mtasts fetch dane-signed.test)" "$(ta_fetch dane-signed.test)" secure
  expect_eq "dnssec: unsigned zone is insecure (mtasts fetch good-enforce.test)" "$(ta_fetch good-enforce.test)" insecure
  expect_eq "dnssec: wrong anchor makes answers bogus (mtasts fetch dnssec-bogus.test)" "$(ta_fetch dnssec-bogus.test)" bogus
else
  printf 'skip dnssec: validation by mtasts fetch (MTASTS not set)\n'
fi

# ------------------------------------------------------------------ TLSA
# {{TLSA_311}} is the SHA-256 of the SubjectPublicKeyInfo the MX listeners present.
spki=$(timeout 10 openssl s_client -starttls smtp -connect "$RIG_MX_HOSTED" </dev/null 2>/dev/null |
  openssl x509 -pubkey -noout 2>/dev/null | openssl pkey -pubin -outform DER 2>/dev/null | openssl dgst -sha256 -r)
spki=${spki%% *}
expect_match "tlsa: digest of the hosted listener's key computed" "$spki" '^[0-9a-f]{64}$'
expect_eq "tlsa: {{TLSA_311}} substituted with that digest (dane-signed.test)" \
  "$(dig1 +short _25._tcp.mx.dane-signed.test TLSA | tr 'A-F' 'a-f')" "3 1 1 $spki"
expect_eq "tlsa: dane-unsigned.test publishes the same record" \
  "$(dig1 +short _25._tcp.mx.dane-unsigned.test TLSA | tr 'A-F' 'a-f')" "3 1 1 $spki"

# ------------------------------------------------------------------ HTTPS
# fetch SCENARIO [curl args...] -> "code|content_type|size|curl_exit"
fetch() {
  local s=$1 out rc
  shift
  out=$(curl -s -o /dev/null --max-time 5 --cacert "$CA" \
    --resolve "mta-sts.$s.test:443:$P.2" "$@" \
    -w '%{http_code}|%{content_type}|%{size_download}' \
    "https://mta-sts.$s.test/.well-known/mta-sts.txt")
  rc=$?
  echo "$out|$rc"
}
headers() { # SCENARIO -> response headers (lower-cased names)
  curl -s -D - -o /dev/null --max-time 5 --cacert "$CA" --resolve "mta-sts.$1.test:443:$P.2" \
    "https://mta-sts.$1.test/.well-known/mta-sts.txt" | tr -d '\r' | sed 's/^\([^:]*\):/\L\1:/'
}

expect_eq "https: good-enforce 200 text/plain" "$(fetch good-enforce | cut -d'|' -f1,2,4)" "200|text/plain|0"
body=$(mktemp)
curl -s --cacert "$CA" --resolve "mta-sts.good-enforce.test:443:$P.2" \
  -o "$body" https://mta-sts.good-enforce.test/.well-known/mta-sts.txt
if cmp -s "$body" "$RIG_SCENARIO_DIR/good-enforce/policy.txt"; then
  ok "https: good-enforce body is policy.txt byte for byte (CRLF)"
else
  bad "https: good-enforce body is policy.txt byte for byte (CRLF)"
fi
curl -s --cacert "$CA" --resolve "mta-sts.policy-lf-endings.test:443:$P.2" \
  -o "$body" https://mta-sts.policy-lf-endings.test/.well-known/mta-sts.txt
if ! grep -q $'\r' "$body" && cmp -s "$body" "$RIG_SCENARIO_DIR/policy-lf-endings/policy.txt"; then
  ok "https: policy-lf-endings body has LF endings only"
else
  bad "https: policy-lf-endings body has LF endings only"
fi
rm -f "$body"
expect_eq "https: policy-404" "$(fetch policy-404 | cut -d'|' -f1)" 404
expect_eq "https: policy-500" "$(fetch policy-500 | cut -d'|' -f1)" 500
expect_eq "https: policy-redirect is 301" "$(fetch policy-redirect | cut -d'|' -f1)" 301
expect_match "https: policy-redirect Location" "$(headers policy-redirect | grep '^location:')" \
  '^location: https://mta-sts\.good-enforce\.test/\.well-known/mta-sts\.txt$'
expect_eq "https: wrong content type" "$(fetch policy-wrong-content-type | cut -d'|' -f2)" "text/html"
expect_eq "https: content type with charset" "$(fetch policy-content-type-charset | cut -d'|' -f2)" \
  "text/plain; charset=utf-8"
h=$(headers policy-oversized)
expect_eq "https: oversized has Content-Length 71680" "$(grep '^content-length:' <<<"$h")" "content-length: 71680"
h=$(headers policy-chunked-ok)
expect_eq "https: chunked-ok is chunked" "$(grep '^transfer-encoding:' <<<"$h")" "transfer-encoding: chunked"
expect_eq "https: chunked-ok has no Content-Length" "$(grep -c '^content-length:' <<<"$h")" 0
h=$(headers policy-chunked-oversized)
expect_eq "https: chunked-oversized is chunked" "$(grep '^transfer-encoding:' <<<"$h")" "transfer-encoding: chunked"
expect_eq "https: chunked-oversized body is 70 KiB" "$(fetch policy-chunked-oversized | cut -d'|' -f3)" 71680
expect_eq "https: policy-empty is 200 with no body" "$(fetch policy-empty | cut -d'|' -f1,3)" "200|0"
expect_eq "https: policy-slow times out after 2 s" "$(fetch policy-slow --max-time 2 | cut -d'|' -f4)" 28
# A name without its own server block lands on the default server (404).
expect_eq "https: no server block for no-policy-host" "$(fetch no-policy-host -k | cut -d'|' -f1)" 404
# Certificate failures: curl exit 60 (verify failed); wrong name is 60 or 51.
for kind in expired notyet selfsigned nochain; do
  expect_eq "https: cert-$kind fails verification" "$(fetch "cert-$kind" | cut -d'|' -f4)" 60
done
expect_match "https: cert-wrongname fails name check" "$(fetch cert-wrongname | cut -d'|' -f4)" '^(51|60)$'
expect_eq "https: cert-expired served when not verifying" "$(fetch cert-expired -k | cut -d'|' -f1)" 200
# days_left HOST:PORT NAME [-starttls smtp] -> whole days until the served certificate's notAfter
days_left() {
  local end
  end=$(timeout 10 openssl s_client -connect "$1" -servername "$2" "${@:3}" </dev/null 2>/dev/null |
    openssl x509 -noout -enddate 2>/dev/null) || return 0
  echo $((($(date -d "${end#notAfter=}" +%s) - $(date +%s)) / 86400))
}
expect_eq "https: cert-expiring verifies today" "$(fetch cert-expiring | cut -d'|' -f1,4)" "200|0"
expect_match "https: cert-expiring expires in 9-10 days" "$(days_left "$RIG_HTTPS" mta-sts.cert-expiring.test)" '^(9|10)$'
expect_match "https: cert-expired error says expired" \
  "$(curl -s -o /dev/null --cacert "$CA" --resolve "mta-sts.cert-expired.test:443:$P.2" \
       -w '%{errormsg}' https://mta-sts.cert-expired.test/.well-known/mta-sts.txt)" 'expired'

# ------------------------------------------------------------------ SMTP
# starttls KIND -> openssl verify return code
starttls() {
  local var=RIG_MX_${1^^}
  timeout 10 openssl s_client -starttls smtp -connect "${!var}" -servername "$1.mx.test" \
    -verify_hostname "$1.mx.test" -CAfile "$CA" </dev/null 2>/dev/null |
    sed -n 's/^ *Verify return code: \([0-9]*\).*/\1/p' | head -1
}
expect_eq "smtp: valid.mx.test STARTTLS verifies" "$(starttls valid)" 0
expect_eq "smtp: expired.mx.test certificate expired" "$(starttls expired)" 10
expect_eq "smtp: notyet.mx.test certificate not yet valid" "$(starttls notyet)" 9
expect_eq "smtp: wrongname.mx.test hostname mismatch" "$(starttls wrongname)" 62
expect_eq "smtp: selfsigned.mx.test self-signed" "$(starttls selfsigned)" 18
expect_match "smtp: nochain.mx.test chain incomplete" "$(starttls nochain)" '^(20|21)$'
expect_eq "smtp: expiring.mx.test STARTTLS verifies" "$(starttls expiring)" 0
expect_match "smtp: expiring.mx.test expires in 9-10 days" \
  "$(days_left "$RIG_MX_EXPIRING" expiring.mx.test -starttls smtp)" '^(9|10)$'
expect_match "smtp: valid.mx.test certificate lasts longer than 21 days" \
  "$(days_left "$RIG_MX_VALID" valid.mx.test -starttls smtp)" '^(2[2-9]|[3-9][0-9])$'
# mx_cert_names: the hosted listener's certificate names mx.dane-signed.test.
expect_eq "smtp: hosted.mx.test STARTTLS verifies" "$(starttls hosted)" 0
expect_eq "smtp: valid.mx.test certificate does not name mx.dane-signed.test" \
  "$(timeout 10 openssl s_client -starttls smtp -connect "$RIG_MX_VALID" -servername mx.dane-signed.test \
       -verify_hostname mx.dane-signed.test -CAfile "$CA" </dev/null 2>/dev/null |
     sed -n 's/^ *Verify return code: \([0-9]*\).*/\1/p' | head -1)" 62
expect_eq "smtp: hosted certificate covers mx.dane-signed.test (mx_cert_names)" \
  "$(timeout 10 openssl s_client -starttls smtp -connect "$RIG_MX_HOSTED" -servername mx.dane-signed.test \
       -verify_hostname mx.dane-signed.test -CAfile "$CA" </dev/null 2>/dev/null |
     sed -n 's/^ *Verify return code: \([0-9]*\).*/\1/p' | head -1)" 0

# ehlo ADDR:PORT -> banner and EHLO response lines
ehlo() {
  timeout 10 bash -c 'exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
    IFS= read -r -t 5 l <&3 || exit 1; printf "%s\n" "${l%$'"'\r'"'}"
    printf "EHLO smoke.test\r\n" >&3
    while IFS= read -r -t 5 l <&3; do l=${l%$'"'\r'"'}; printf "%s\n" "$l"; [[ $l == "250 "* ]] && break; done
    printf "QUIT\r\n" >&3' _ "$1"
}
e=$(ehlo "$RIG_MX_VALID")
expect_match "smtp: valid banner" "$(head -1 <<<"$e")" '^220 valid\.mx\.test '
expect_eq "smtp: valid offers STARTTLS" "$(grep -c '^250.STARTTLS' <<<"$e")" 1
expect_match "smtp: expiring banner" "$(head -1 <<<"$(ehlo "$RIG_MX_EXPIRING")")" '^220 expiring\.mx\.test '
expect_match "smtp: hosted banner" "$(head -1 <<<"$(ehlo "$RIG_MX_HOSTED")")" '^220 hosted\.mx\.test '
e=$(ehlo "$RIG_MX_NOSTARTTLS")
expect_match "smtp: nostarttls banner" "$(head -1 <<<"$e")" '^220 nostarttls\.mx\.test '
expect_match "smtp: nostarttls answers EHLO" "$(tail -1 <<<"$e")" '^250 '
expect_eq "smtp: nostarttls offers no STARTTLS" "$(grep -c 'STARTTLS' <<<"$e")" 0

# The STARTTLS-stripping proxy in front of the hosted listener (stripped.test).
expect_eq "dns: A mx.stripped.test is the stripping proxy" "$(dig1 +short mx.stripped.test A)" "${RIG_STRIP_PROXY%:*}"
expect_eq "smtp: the proxy relays to the hosted listener" "$RIG_STRIP_UPSTREAM" "$RIG_MX_HOSTED"
expect_eq "smtp: hosted certificate covers mx.stripped.test (a valid MX without the proxy)" \
  "$(timeout 10 openssl s_client -starttls smtp -connect "$RIG_MX_HOSTED" -servername mx.stripped.test \
       -verify_hostname mx.stripped.test -CAfile "$CA" </dev/null 2>/dev/null |
     sed -n 's/^ *Verify return code: \([0-9]*\).*/\1/p' | head -1)" 0
expect_eq "smtp: hosted offers STARTTLS directly" "$(ehlo "$RIG_MX_HOSTED" | grep -c '^250.STARTTLS')" 1
# EHLO and STARTTLS through the proxy: STARTTLS gone from the answer, the
# command refused with 454, and both logged in the proxy's plaintext log.
s=$(timeout 10 bash -c 'exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
  get() { local l; while IFS= read -r -t 5 l <&3; do l=${l%$'"'\r'"'}; echo "$l"; [[ $l == [0-9][0-9][0-9]" "* ]] && return; done; }
  get; printf "EHLO strip-smoke.test\r\n" >&3; get
  printf "STARTTLS\r\n" >&3; get; printf "QUIT\r\n" >&3; get' _ "$RIG_STRIP_PROXY")
expect_match "smtp: the proxy shows the hosted banner" "$(head -1 <<<"$s")" '^220 hosted\.mx\.test '
expect_eq "smtp: the proxy's EHLO answer has no STARTTLS" "$(grep -c 'STARTTLS' <<<"$s")" 0
expect_match "smtp: the proxy's EHLO answer still ends properly" "$(grep -m1 '^250 ' <<<"$s")" '^250 [A-Z0-9]'
expect_match "smtp: the proxy refuses STARTTLS" "$(grep '^454' <<<"$s")" '^454 4\.7\.0 '
expect_match "smtp: the proxy relays QUIT" "$(tail -1 <<<"$s")" '^221 '
c=$(sed -n 's/.* \(conn=[0-9]*\) C: EHLO strip-smoke\.test$/\1/p' "$RIG_STRIP_LOG" | tail -1)
l=$(grep " ${c:-conn=none} " "$RIG_STRIP_LOG")
expect_match "strip log: the client's EHLO" "$l" 'C: EHLO strip-smoke\.test'
expect_match "strip log: the removed STARTTLS line" "$l" 'stripped: 250-STARTTLS'
expect_match "strip log: the refused STARTTLS" "$l" 'refused STARTTLS: 454 '
# Bounded: a line over 4096 bytes ends the session.
long=$(printf 'x%.0s' $(seq 5000))
s=$(timeout 10 bash -c 'exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
  IFS= read -r -t 5 l <&3; printf "EHLO %s\r\n" "$2" >&3
  if IFS= read -r -t 5 l <&3; then echo "answered: $l"; else echo closed; fi' _ "$RIG_STRIP_PROXY" "$long")
expect_eq "smtp: the proxy closes a session on a line over 4096 bytes" "$s" closed
expect_match "strip log: the line limit" "$(tail -n 5 "$RIG_STRIP_LOG")" 'limit: line longer than 4096 bytes: closed'

# A message to a scenario domain is accepted (and discarded).
sent=$(timeout 10 bash -c 'exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
  say() { printf "%s\r\n" "$1" >&3; }
  get() { local l; while IFS= read -r -t 5 l <&3; do l=${l%$'"'\r'"'}; [[ $l == [0-9][0-9][0-9]" "* ]] && { echo "${l:0:3}"; return; }; done; echo timeout; }
  r=$(get); say "EHLO smoke.test"; r+=" $(get)"
  say "MAIL FROM:<smoke@smoke.test>"; r+=" $(get)"
  say "RCPT TO:<postmaster@good-enforce.test>"; r+=" $(get)"
  say "DATA"; r+=" $(get)"
  say "Subject: rig smoke"; say ""; say "hello"; say "."; r+=" $(get)"
  say "QUIT"; r+=" $(get)"; echo "$r"' _ "$RIG_MX_VALID")
expect_eq "smtp: message to good-enforce.test accepted" "$sent" "220 250 250 250 354 250 221"

echo "$passed passed, $failed failed"
((failed == 0))
