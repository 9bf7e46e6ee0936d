#!/bin/bash
# serve_ids_update.sh - `mtasts serve run` publishing ids in the service zone
# by RFC 2136 updates signed with TSIG, against a real knot (tests/rig/
# dnsupdate) and the rig's CA: no id without a certificate; the id of the
# served policy published; a change announced only after its policy is
# served (sampled from outside all along); a wrong key changes nothing;
# two replicas on one store publish each id once; removal serves mode none
# under a new id, deletes the record once the old policy has expired, and
# forgets the domain; print mode prints the change and notices it done.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$RIG_ENV"
. "$DNSUPDATE_ENV"
M=$MTASTS
tmp=$(mktemp -d /tmp/mtasts-serve-ids.XXXXXX)
. "$MTASTS_SOURCE_DIR/tests/integration/serve_lib.bash"
trap 'serve_stop_all; rm -rf "$tmp"' EXIT
export MTASTS_SERVE_STORE=sqlite://$tmp/serve.db
A=$RIG_PREFIX.41
B=$RIG_PREFIX.42
P=/.well-known/mta-sts.txt
txt() { kdig +short +timeout=2 @"$DNSUPDATE_ADDR" -p "$DNSUPDATE_PORT" "_mta-sts.$1.svc.test" TXT | tr -d '"'; }
get() { curl -sS --max-time 3 --cacert "$RIG_CA_FILE" --resolve "mta-sts.$1:443:${3:-$A}" "https://mta-sts.$1$2"; }
j() { $M serve domain show "$1" --json | jq -r "$2"; }
until_eq() { # until_eq WANT CMD...: up to 10 s
	local i out
	for i in $(seq 100); do
		out=$("${@:2}" 2>/dev/null)
		[ "$out" = "$1" ] && return 0
		sleep 0.1
	done
	printf '%s' "$out"
	return 1
}
printf '%s\n' "$DNSUPDATE_KEY" >"$tmp/key"
printf 'hmac-sha256:update256.svc.test.:%s\n' "$(openssl rand -base64 32)" >"$tmp/badkey"

$M serve init --zone svc.test --service mta-sts.svc.test --propagation 2 >/dev/null
$M serve domain add one.test --mx mx.one.test >/dev/null
$M serve domain add gone.test --mx mx.gone.test --max-age 3 >/dev/null
for d in one gone; do serve_cert "mta-sts.$d.test" "$tmp/$d"; done
serve_start "$tmp/a.log" --listen "$A:443" --http none --refresh 1 \
	--dns-server "$DNSUPDATE_SERVER" --tsig-key-file "$tmp/key" || exit 1
sleep 3.5
t_eq "no certificate yet: no record" "" "$(txt one.test)"
t_contains "and the domain says why" "certificate" "$(j one.test .next.why)"

$M serve cert import mta-sts.one.test --key "$tmp/one.key" --chain "$tmp/one.chain" >/dev/null
$M serve cert import mta-sts.gone.test --key "$tmp/gone.key" --chain "$tmp/gone.chain" >/dev/null
id1=$(j one.test .id)
out=$(until_eq "v=STSv1; id=$id1" txt one.test); rc=$?
t_eq "with a certificate: the served policy's id is published" 0 "$rc"
until_eq stable j one.test .phase >/dev/null
t_eq "the domain is stable" "stable $id1" "$(j one.test '"\(.phase) \(.published_id)"')"
t_contains "the log says so" "event=published domain=one.test id=$id1" "$(cat "$tmp/a.log")"

# A change, sampled from outside: the new id never comes before its policy.
( for i in $(seq 60); do
	t=$(txt one.test); b=$(get one.test $P | grep -c 'mode: enforce')
	echo "$t|$b"; sleep 0.1
done ) >"$tmp/samples" &
sampler=$!
sleep 0.5
$M serve domain set one.test --mode enforce >/dev/null
id2=$(j one.test .id)
wait "$sampler"
out=$(until_eq "v=STSv1; id=$id2" txt one.test); rc=$?
t_eq "the new id is published" 0 "$rc"
t_eq "samples saw the new id" 1 "$(grep -c "id=$id2|" "$tmp/samples" | awk '{print ($1 > 0)}')"
t_eq "never the new id with the old policy" 0 "$(grep -c "id=$id2|0" "$tmp/samples")"
t_eq "the new policy was served before its id (some samples: old id, new policy)" 1 \
	"$(grep -c "id=$id1|1" "$tmp/samples" | awk '{print ($1 > 0)}')"

# A second replica on the same store: both serve, each id is published once.
serve_start "$tmp/b.log" --listen "$B:443" --http none --refresh 1 \
	--dns-server "$DNSUPDATE_SERVER" --tsig-key-file "$tmp/key" || exit 1
$M serve domain set one.test --max-age 86400 >/dev/null
id3=$(j one.test .id)
out=$(until_eq "v=STSv1; id=$id3" txt one.test); rc=$?
t_eq "with two replicas: the id is published" 0 "$rc"
sleep 2
t_eq "by one of them, once" 1 "$(cat "$tmp/a.log" "$tmp/b.log" | grep -c "event=published domain=one.test id=$id3")"
t_contains "the second replica serves the same bytes" "max_age: 86400" "$(get one.test $P "$B")"
serve_stop_all

# A wrong key: the update is refused, the record stays.
serve_start "$tmp/c.log" --listen "$A:443" --http none --refresh 1 \
	--dns-server "$DNSUPDATE_SERVER" --tsig-key-file "$tmp/badkey" || exit 1
$M serve domain set one.test --max-age 604800 >/dev/null
sleep 4
t_eq "a wrong key: the old id stays" "v=STSv1; id=$id3" "$(txt one.test)"
t_contains "the failure is logged with BADSIG" "BADSIG" "$(cat "$tmp/c.log")"
t_eq "and the domain waits to retry" serving "$(j one.test .phase)"
serve_stop_all

# Removal: mode none under a new id, the record deleted once the old
# policy (max_age 3 s) has expired, then the domain forgotten.
serve_start "$tmp/d.log" --listen "$A:443" --http none --refresh 1 \
	--dns-server "$DNSUPDATE_SERVER" --tsig-key-file "$tmp/key" || exit 1
until_eq stable j gone.test .phase >/dev/null
$M serve domain remove gone.test >/dev/null
nid=$(j gone.test .id)
none=0
for _ in $(seq 30); do get gone.test $P | grep -q 'mode: none' && { none=1; break; }; sleep 0.1; done
t_eq "removed: mode none is served" 1 "$none"
out=$(until_eq "" txt gone.test); rc=$?
t_eq "then the record is deleted" 0 "$rc"
ok=1
for _ in $(seq 50); do $M serve domain show gone.test >/dev/null 2>&1 || { ok=0; break; }; sleep 0.1; done
t_eq "and the domain forgotten" 0 "$ok"
sleep 1.5
t_eq "its policy is no longer served" "not found" "$(get gone.test $P)"
t_contains "the mode none id was published first" "event=published domain=gone.test id=$nid" "$(cat "$tmp/d.log")"
t_contains "then the record deleted" "event=record_deleted domain=gone.test" "$(sed -n "/id=$nid/,\$p" "$tmp/d.log")"
serve_stop_all

# Print mode: the change is printed; once published by hand it is noticed.
until_eq stable j one.test .phase >/dev/null
before=$(txt one.test)
$M serve domain set one.test --mode testing >/dev/null
id4=$(j one.test .id)
serve_start "$tmp/e.log" --listen "$A:443" --http none --refresh 1 \
	--resolver "$DNSUPDATE_SERVER" || exit 1
for _ in $(seq 60); do grep -q 'event=publish_by_hand domain=one.test' "$tmp/e.log" && break; sleep 0.1; done
t_contains "print mode: the nsupdate input" "update add _mta-sts.one.test.svc.test." "$(cat "$tmp/e.log")"
t_eq "print mode: nothing published by itself" "$before" "$(txt one.test)"
printf 'server %s %s\nzone svc.test.\nupdate delete _mta-sts.one.test.svc.test. TXT\nupdate add _mta-sts.one.test.svc.test. 300 TXT "v=STSv1; id=%s"\nsend\n' \
	"$DNSUPDATE_ADDR" "$DNSUPDATE_PORT" "$id4" | knsupdate -y "$DNSUPDATE_KEY"
out=$(until_eq "stable $id4" j one.test '"\(.phase) \(.published_id)"'); rc=$?
t_eq "print mode: the record published by hand is noticed" 0 "$rc" || cat "$tmp/e.log"
t_done
