#!/bin/bash
# serve_e2e_update.sh - a domain hosted by `mtasts serve`, seen as a sender
# sees it: the customer's zone (here inside the TSIG-updatable svc.test of
# tests/rig/dnsupdate) CNAMEs mta-sts.DOMAIN to the service and _mta-sts.DOMAIN
# into the service zone; the daemon serves the policy (a certificate of the
# rig's CA) and publishes the id by RFC 2136. Then the real `mtasts fetch`
# and `mtasts check` discover the hosted policy through the customer's own
# names, and a policy change reaches them with a new id.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$RIG_ENV"
. "$DNSUPDATE_ENV"
M=$MTASTS
tmp=$(mktemp -d /tmp/mtasts-serve-e2e.XXXXXX)
. "$MTASTS_SOURCE_DIR/tests/integration/serve_lib.bash"
trap 'serve_stop_all; rm -rf "$tmp"' EXIT
export MTASTS_SERVE_STORE=sqlite://$tmp/serve.db
A=$RIG_PREFIX.45
D=shop.svc.test
upd() {
	{ printf 'server %s %s\nzone svc.test.\n' "$DNSUPDATE_ADDR" "$DNSUPDATE_PORT"
	  printf '%s\n' "$@"; printf 'send\n'; } | knsupdate -y "$DNSUPDATE_KEY"
}
printf '%s\n' "$DNSUPDATE_KEY" >"$tmp/key"
# The service's name, and the customer's records, as `domain add` prints them.
upd "update add mta-sts.svc.test. 60 A $A" \
	"update add $D. 60 MX 10 mx.$D." \
	"update add mx.$D. 60 A $RIG_PREFIX.10" \
	"update add mta-sts.$D. 60 CNAME mta-sts.svc.test." \
	"update add _mta-sts.$D. 60 CNAME _mta-sts.$D.svc.test."
$M serve init --zone svc.test --service mta-sts.svc.test --propagation 2 >/dev/null
$M serve domain add "$D" --resolver "$DNSUPDATE_SERVER" >/dev/null
t_eq "mx auto from the customer's live MX" "mx.$D" "$($M serve domain show "$D" --json | jq -r '.mx[0]')"
serve_cert "mta-sts.$D" "$tmp/c"
$M serve cert import "mta-sts.$D" --key "$tmp/c.key" --chain "$tmp/c.chain" >/dev/null
serve_start "$tmp/s.log" --listen "$A:443" --http none --refresh 1 \
	--dns-server "$DNSUPDATE_SERVER" --tsig-key-file "$tmp/key" || exit 1
id=$($M serve domain show "$D" --json | jq -r .id)
for _ in $(seq 100); do grep -q "event=published domain=$D" "$tmp/s.log" && break; sleep 0.1; done
F=(--resolver "$DNSUPDATE_SERVER" --ca-file "$RIG_CA_FILE")
js=$($M fetch "$D" "${F[@]}" --json); rc=$?
t_eq "fetch through the customer's names: exit 0" 0 "$rc"
t_eq "fetch: the outcome" ok "$(jq -r '.domains[0].outcome // .[0].outcome // .outcome' <<<"$js")"
t_contains "fetch: the hosted policy's id" "$id" "$js"
t_contains "fetch: its mx" "mx.$D" "$js"
out=$($M check "$D" "${F[@]}" --no-smtp --json); rc=$?
t_contains "check: the policy host's certificate is valid" '"chain_valid": true' "$out"
t_contains "check: the record is the service's" "v=STSv1; id=$id" "$out"
$M serve domain set "$D" --mode enforce >/dev/null
id2=$($M serve domain show "$D" --json | jq -r .id)
for _ in $(seq 100); do grep -q "event=published domain=$D id=$id2" "$tmp/s.log" && break; sleep 0.1; done
js=$($M fetch "$D" "${F[@]}" --json)
t_contains "after a change, fetch sees the new id" "$id2" "$js"
t_contains "and the new policy" "enforce" "$js"
t_done
