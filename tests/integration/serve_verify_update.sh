#!/bin/bash
# serve_verify_update.sh - `mtasts serve domain verify` against real DNS (the
# TSIG-updatable knot of tests/rig/dnsupdate, where the test publishes the
# customer's records as the customer would): all missing; the CNAMEs in
# place with the id not yet published (pending, ready); the id published
# (ok); a record of the customer's own instead of the CNAME (wrong); a
# policy host pointing elsewhere (wrong).
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$DNSUPDATE_ENV"
M=$MTASTS
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export MTASTS_SERVE_STORE=sqlite://$tmp/serve.db
R=(--resolver "$DNSUPDATE_SERVER" --timeout 5)
upd() { # upd 'update ...' ...: one dynamic update signed with the fixture's key
	{ printf 'server %s %s\nzone svc.test.\n' "$DNSUPDATE_ADDR" "$DNSUPDATE_PORT"
	  printf '%s\n' "$@"; printf 'send\n'; } | knsupdate -y "$DNSUPDATE_KEY"
}
st() { jq -r --arg n "$2" '.records[] | select(.name == $n) | .status' <<<"$1"; }
# Two addresses for the service: an A answer read as TXT records crashed verify.
upd 'update add mta-sts.svc.test. 60 A 127.9.9.9' 'update add mta-sts.svc.test. 60 A 127.9.9.10'
$M serve init --zone svc.test --service mta-sts.svc.test --rua mailto:tlsrpt@svc.test >/dev/null
$M serve domain add cust.svc.test --mx mx.cust.svc.test >/dev/null
id=$($M serve domain show cust.svc.test --json | jq -r .id)

js=$($M serve domain verify cust.svc.test "${R[@]}" --json); rc=$?
t_eq "nothing published: refused (1)" 1 "$rc"
t_eq "not ready" false "$(jq -r .ready <<<"$js")"
t_eq "the policy host is missing" missing "$(st "$js" mta-sts.cust.svc.test)"
t_eq "the record is missing" missing "$(st "$js" _mta-sts.cust.svc.test)"
t_eq "the TLS-RPT record is missing" missing "$(st "$js" _smtp._tls.cust.svc.test)"
out=$($M serve domain verify cust.svc.test "${R[@]}"); rc=$?
t_contains "text: says what to publish" "missing  mta-sts.cust.svc.test CNAME mta-sts.svc.test." "$out"

upd 'update add mta-sts.cust.svc.test. 60 CNAME mta-sts.svc.test.' \
	'update add _mta-sts.cust.svc.test. 60 CNAME _mta-sts.cust.svc.test.svc.test.' \
	'update add _smtp._tls.cust.svc.test. 60 TXT "v=TLSRPTv1; rua=mailto:tlsrpt@svc.test"'
js=$($M serve domain verify cust.svc.test "${R[@]}" --json); rc=$?
t_eq "the customer's part done: exit 0" 0 "$rc"
t_eq "the policy host points at the service" ok "$(st "$js" mta-sts.cust.svc.test)"
t_eq "the record's CNAME is in place, the id pending" pending "$(st "$js" _mta-sts.cust.svc.test)"
t_eq "reports come to the service" ok "$(st "$js" _smtp._tls.cust.svc.test)"

# Under valgrind once, with records in every answer: a record read through
# the wrong type's pointer (the result's arrays are shared) is an error.
if command -v valgrind >/dev/null && ! ldd "$M" | grep -q libasan; then
	out=$(valgrind -q --error-exitcode=99 "$M" serve domain verify cust.svc.test "${R[@]}" 2>&1); rc=$?
	t_eq "verify is clean under valgrind" 0 "$rc"
fi
upd "update add _mta-sts.cust.svc.test.svc.test. 60 TXT \"v=STSv1; id=$id\""
js=$($M serve domain verify cust.svc.test "${R[@]}" --json)
t_eq "with the id published: ok" ok "$(st "$js" _mta-sts.cust.svc.test)"
t_eq "and ready" true "$(jq -r .ready <<<"$js")"

upd 'update delete _mta-sts.cust.svc.test. CNAME' \
	'update add _mta-sts.cust.svc.test. 60 TXT "v=STSv1; id=mine1"' \
	'update delete mta-sts.cust.svc.test. CNAME' \
	'update add mta-sts.cust.svc.test. 60 A 127.8.8.8'
js=$($M serve domain verify cust.svc.test "${R[@]}" --json); rc=$?
t_eq "a record of the customer's own: refused (1)" 1 "$rc"
t_eq "it is wrong" wrong "$(st "$js" _mta-sts.cust.svc.test)"
t_contains "and says why" "replace it with the CNAME" \
	"$(jq -r '.records[] | select(.name == "_mta-sts.cust.svc.test") | .message' <<<"$js")"
t_eq "a policy host pointing elsewhere is wrong" wrong "$(st "$js" mta-sts.cust.svc.test)"
t_exit "verify of a domain not hosted: 1" 1 $M serve domain verify nothere.test "${R[@]}"
t_done
