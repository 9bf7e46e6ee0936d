#!/bin/bash
# run-check.sh - speed of `mtasts check` on the rig (issue #5's goals: a full
# check of a domain with 3 MX hosts well under 100 ms, and domains per second
# for 200 domains in one call).
#
# Generates two catalogues of N domains (default 200), each domain with an
# enforce policy and 3 MX hosts, and brings the rig up on them
# (MTASTS_RIG_SCENARIOS):
#   cNNNN.test  MX valid.mx.test, backup.mx.test, expired.mx.test: the same
#               three hosts for every domain, as when many domains use one
#               provider (one check run probes each MX host once)
#   dNNNN.test  MX mx1/mx2/mx3.dNNNN.test: names of their own on the same
#               listeners, so every domain costs 3 STARTTLS handshakes (the
#               certificates do not name them; the work is the same)
# and measures:
#   one domain      wall time of `mtasts check c0001.test` (process included)
#                   and the engine's own elapsed_ms from --json, median of R runs
#   baseline        the same questions and connections made one after another
#                   with the usual tools (kdig x9, curl, openssl s_client x4),
#                   the way shell-script checkers work: the ratio says how much
#                   concurrency and one process buy
#   N domains       all N in one call at --concurrency 32 (default) and N,
#                   for each catalogue
# Usage: bench/run-check.sh [N] [ROUNDS]   (needs root for the rig)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-200}
rounds=${2:-11}

if [[ -z ${RIG_ENV:-} ]]; then
	work=$(mktemp -d)
	chmod 755 "$work" # postfix (unprivileged) must reach the rig dir inside it
	trap 'rm -rf "$work"' EXIT
	for ((i = 1; i <= n; i++)); do
		d=$(printf 'c%04d' "$i")
		mkdir -p "$work/scenarios/$d"
		printf 'description = bench: 3 MX hosts\nexpect_fetch = ok\nexpect_verdict = broken\nexpect_ready = no\n' \
			>"$work/scenarios/$d/scenario"
		printf 'version: STSv1\r\nmode: enforce\r\nmx: valid.mx.test\r\nmx: backup.mx.test\r\nmx: expired.mx.test\r\nmax_age: 1209600\r\n' \
			>"$work/scenarios/$d/policy.txt"
		cat >"$work/scenarios/$d/zone" <<ZONE
_mta-sts    IN TXT "v=STSv1; id=20261129T1"
@           IN MX  10 valid.mx.test.
@           IN MX  20 backup.mx.test.
@           IN MX  30 expired.mx.test.
_smtp._tls  IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@$d.test"
@           IN TXT "v=spf1 mx -all"
_dmarc      IN TXT "v=DMARC1; p=reject"
ZONE
		e=$(printf 'd%04d' "$i")
		mkdir -p "$work/scenarios/$e"
		cp "$work/scenarios/$d/scenario" "$work/scenarios/$e/"
		printf 'version: STSv1\r\nmode: enforce\r\nmx: *.%s.test\r\nmax_age: 1209600\r\n' "$e" \
			>"$work/scenarios/$e/policy.txt"
		cat >"$work/scenarios/$e/zone" <<ZONE
_mta-sts    IN TXT "v=STSv1; id=20261129T1"
@           IN MX  10 mx1
@           IN MX  20 mx2
@           IN MX  30 mx3
mx1         IN A   {{PREFIX}}.10
mx2         IN A   {{PREFIX}}.10
mx3         IN A   {{PREFIX}}.11
_smtp._tls  IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@$e.test"
@           IN TXT "v=spf1 mx -all"
_dmarc      IN TXT "v=DMARC1; p=reject"
ZONE
	done
	[ -x "$here/build/mtasts" ] || make -C "$here" build >/dev/null
	MTASTS_RIG_SCENARIOS=$work/scenarios MTASTS_RIG_DIR=${MTASTS_RIG_DIR:-$work/rig} \
		MTASTS_RIG_READY_TIMEOUT=${MTASTS_RIG_READY_TIMEOUT:-120} \
		"$here/tests/rig/rig" run "${BENCH_INNER:-$0}" "$n" "$rounds"
	exit
fi

# Inner half: under `rig run`.
. "$RIG_ENV"
M=${MTASTS:-$here/build/mtasts}
R=(--resolver "$RIG_RESOLVER" --ca-file "$RIG_CA_FILE")
shared=() own=()
for s in $RIG_SCENARIOS; do
	case $s in c*) shared+=("$s.test") ;; d*) own+=("$s.test") ;; esac
done
nd=${#shared[@]}
ms() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "mtasts check on the rig: 2 x $nd domains, each with 3 MX hosts"

# Warm-up and correctness: the domain checks completely (2 of 3 MX pass).
out=$("$M" check c0001.test "${R[@]}" --json) || true
[ "$(jq -r '.domains[0].mx_total' <<<"$out")" = 3 ] || { echo "warm-up check failed" >&2; exit 1; }

walls=() engines=()
for ((r = 0; r < rounds; r++)); do
	t0=$(ms)
	out=$("$M" check c0001.test "${R[@]}" --json) || true
	walls+=($(( ($(ms) - t0) / 1000 )))
	engines+=("$(jq -r '.domains[0].elapsed_ms' <<<"$out")")
done
wall=$(printf '%s\n' "${walls[@]}" | median)
engine=$(printf '%s\n' "${engines[@]}" | median)

# Baseline: the same work, one tool call after another.
dns=${RIG_DNS_ADDR}
t0=$(ms)
for ((r = 0; r < 3; r++)); do
	for q in "_mta-sts.c0001.test TXT" "_smtp._tls.c0001.test TXT" "c0001.test TXT" \
		"_dmarc.c0001.test TXT" "c0001.test MX" "mta-sts.c0001.test A" \
		"valid.mx.test A" "backup.mx.test A" "expired.mx.test A"; do
		# shellcheck disable=SC2086
		kdig @"$dns" $q +short >/dev/null
	done
	curl -s --cacert "$RIG_CA_FILE" --resolve "mta-sts.c0001.test:443:${RIG_HTTPS%:*}" \
		https://mta-sts.c0001.test/.well-known/mta-sts.txt >/dev/null
	openssl s_client -connect "$RIG_HTTPS" -servername mta-sts.c0001.test \
		-CAfile "$RIG_CA_FILE" </dev/null >/dev/null 2>&1 || true
	for h in valid backup expired; do
		openssl s_client -starttls smtp -connect "${RIG_MX_VALID%:*}:25" -servername "$h.mx.test" \
			-CAfile "$RIG_CA_FILE" </dev/null >/dev/null 2>&1 || true
	done
done
base=$(( ($(ms) - t0) / 3000 ))

echo
printf '%-44s %8s\n' "one domain, 3 MX (median of $rounds)" "ms"
printf '%-44s %8.1f\n' "  mtasts check, whole process" "$(awk -v u="$wall" 'BEGIN{print u/1000}')"
printf '%-44s %8s\n' "  mtasts check, engine (elapsed_ms)" "$engine"
printf '%-44s %8.1f\n' "  baseline: kdig/curl/openssl in sequence" "$(awk -v u="$base" 'BEGIN{print u/1000}')"
printf '%-44s %8.1fx\n' "  ratio baseline / mtasts" "$(awk -v a="$base" -v b="$wall" 'BEGIN{print a/b}')"

for set in shared own; do
	declare -n list=$set
	echo
	if [ $set = shared ]; then label="$nd domains, 3 shared MX hosts"; else label="$nd domains, 3 own MX names each"; fi
	printf '%-44s %8s %10s %8s\n' "$label" "s" "domains/s" "probes"
	for c in 32 "$nd"; do
		t0=$(ms)
		"$M" check "${list[@]}" "${R[@]}" --concurrency "$c" --json >/tmp/bench-check.$$ || true
		t=$(( $(ms) - t0 ))
		done_n=$(jq '.domains | map(select(.mx_total == 3)) | length' /tmp/bench-check.$$)
		probes=$(jq '[.domains[].mx.hosts[].tls.address] | length' /tmp/bench-check.$$)
		rm -f /tmp/bench-check.$$
		[ "$done_n" = "$nd" ] || echo "  warning: only $done_n of $nd domains completed" >&2
		[ $set = shared ] && probes=3
		printf '%-44s %8.2f %10.0f %8s\n' "  --concurrency $c" "$(awk -v t="$t" 'BEGIN{print t/1e9}')" \
			"$(awk -v n="$nd" -v t="$t" 'BEGIN{print n/(t/1e9)}')" "$probes"
	done
done
echo
echo "goals: one domain well under 100 ms; 200 domains per second"
