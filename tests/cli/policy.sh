#!/bin/bash
# mtasts policy: lint, lint-record, match, generate end to end through the program.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
M=$MTASTS
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

printf 'version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 1209600\r\n' >"$tmp/good.txt"
t_exit "valid policy exits 0" 0 $M policy lint "$tmp/good.txt"
out=$($M policy lint "$tmp/good.txt" --json)
t_contains "json says valid" '"valid": true' "$out"
t_contains "json has mode" '"mode": "enforce"' "$out"
t_exit "stdin via -" 0 sh -c "$M policy lint - < '$tmp/good.txt'"

printf 'version: STSv1\r\nmode: enforce\r\nmax_age: 1209600\r\n' >"$tmp/nomx.txt"
t_exit "policy without mx exits 1" 1 $M policy lint "$tmp/nomx.txt"
out=$($M policy lint "$tmp/nomx.txt" --json)
t_contains "missing mx code" '"code": "sts.policy.mx.missing"' "$out"

printf 'version: STSv1\nmode: testing\nmx: mail.example.com\nmode: enforce\nmax_age: 86400\n' >"$tmp/rep.txt"
out=$($M policy lint "$tmp/rep.txt" --json)
t_contains "repeated key reported" 'sts.policy.key.repeated' "$out"
t_contains "first mode wins" '"mode": "testing"' "$out"
t_contains "LF reported" 'sts.policy.line.lf' "$out"
t_contains "line number of repeat" '"line": 4' "$out"

# Publish strictly, accept leniently: a trailing dot on an mx value is an
# error to lint (exit 1, not valid) though senders accept the policy.
printf 'version: STSv1\r\nmode: enforce\r\nmx: mail.example.com.\r\nmax_age: 1209600\r\n' >"$tmp/dot.txt"
t_exit "mx with a trailing dot exits 1" 1 $M policy lint "$tmp/dot.txt"
out=$($M policy lint "$tmp/dot.txt" --json)
t_eq "trailing dot: not valid to publish" false "$(jq -r .valid <<<"$out")"
t_eq "trailing dot: accepted by senders" true "$(jq -r .accepted <<<"$out")"
t_eq "trailing dot: an error" error "$(jq -r '.findings[] | select(.code == "sts.policy.mx.trailing_dot") | .severity' <<<"$out")"
t_eq "trailing dot: the pattern is read without it" mail.example.com "$(jq -r '.policy.mx[0]' <<<"$out")"
t_contains "text says invalid" "dot.txt: invalid (1 error" "$($M policy lint "$tmp/dot.txt")"
t_eq "good policy: accepted too" true "$($M policy lint "$tmp/good.txt" --json | jq -r .accepted)"

head -c 70000 /dev/zero | tr '\0' 'a' >"$tmp/big.txt"
t_exit "oversized policy exits 1" 1 $M policy lint "$tmp/big.txt"
out=$($M policy lint "$tmp/big.txt" --json); t_contains "too_big code" 'sts.policy.too_big' "$out"

t_exit "valid sts record" 0 $M policy lint-record 'v=STSv1; id=20261128T101500;'
t_exit "33-char id" 1 $M policy lint-record 'v=STSv1; id=123456789012345678901234567890123'
t_exit "two sts records" 1 $M policy lint-record 'v=STSv1; id=1' 'v=STSv1; id=2'
out=$($M policy lint-record --json 'v=STSv1; id=1' 'v=spf1 -all')
t_contains "unrelated record ignored" 'sts.record.ignored' "$out"
t_exit "tlsrpt valid" 0 $M policy lint-record --tlsrpt 'v=TLSRPTv1; rua=mailto:tls@example.com,https://r.example.com/v1'
t_exit "tlsrpt http rejected" 1 $M policy lint-record --tlsrpt 'v=TLSRPTv1; rua=http://r.example.com/'

t_exit "wildcard matches one label" 0 $M policy match '*.example.com' mail.example.com
t_exit "wildcard not two labels" 1 $M policy match '*.example.com' a.b.example.com
t_exit "wildcard not the apex" 1 $M policy match '*.example.com' example.com
t_exit "no suffix match" 1 $M policy match 'mail.example.com' xmail.example.com
t_exit "case and trailing dot" 0 $M policy match 'MAIL.example.com' mail.EXAMPLE.com.
t_exit "U-label pattern" 0 $M policy match 'mx.bücher.example' 'mx.xn--bcher-kva.example'

out=$(SOURCE_DATE_EPOCH=1764324000 $M policy generate --domain example.com --mx mail.example.com --mx '*.mx.example.net')
t_contains "generated policy file" 'mx: *.mx.example.net' "$out"
t_contains "generated record with time id" '_mta-sts.example.com. IN TXT "v=STSv1; id=20251128T100000' "$out"
t_contains "generated tlsrpt" 'rua=mailto:tls-reports@example.com' "$out"
t_contains "rollout steps" 'Rollout' "$out"
# The generated file lints clean, and its id changes with the policy.
SOURCE_DATE_EPOCH=1764324000 $M policy generate --json --domain example.com --mx mail.example.com >"$tmp/g1.json"
SOURCE_DATE_EPOCH=1764324000 $M policy generate --json --domain example.com --mx mail2.example.com >"$tmp/g2.json"
python3 -c 'import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))["policy_file"])' "$tmp/g1.json" >"$tmp/g1.txt"
t_exit "generated policy lints valid" 0 $M policy lint "$tmp/g1.txt"
id1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sts_record"]["value"])' "$tmp/g1.json")
id2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sts_record"]["value"])' "$tmp/g2.json")
[ "$id1" != "$id2" ] && t_ok "id differs when the policy differs" || t_fail "id differs when the policy differs" "$id1 $id2"
t_exit "generate U-label mx" 0 $M policy generate --mx 'mx.bücher.example'
out=$($M policy generate --mx 'mx.bücher.example'); t_contains "U-label converted" 'mx: mx.xn--bcher-kva.example' "$out"
t_done
