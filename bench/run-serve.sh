#!/bin/bash
# shellcheck disable=SC2154 # on_server, on_load, pinning: set by bench_pin (bench/lib.sh)
# `mtasts serve run`, the policy host, against nginx serving the same policy
# file with the same certificate (ECDSA P-256), over HTTPS on loopback:
#
#   keep-alive  CONNS (16) connections, each sending request after request;
#   handshake   CONNS connections, each request on a new connection with a
#               full TLS handshake (Connection: close, and the client's
#               session dropped before each handshake by bench/no_resume.c,
#               an LD_PRELOAD shim: wrk would resume it otherwise).
#
# Load generator: wrk (Debian package, installed here when missing), one
# thread. Method as in bench/run-resolver.sh: both servers run pinned to
# CPU_SERVER (nginx: master and its one worker process), wrk to CPU_LOAD;
# ROUNDS rounds of SECONDS per shape and server, the order of the servers
# alternating from round to round. Printed: each run's requests/s, p50 and
# p99 latency and the server's CPU per request (utime + stime over the run),
# then per shape and server the median and range of the rates, the median
# latencies and CPU, and mtasts/nginx: the ratio of the medians and the range
# of the same-round ratios.
#
# Before measuring, both servers must answer 200 with the same bytes, the
# policy of the store; a run with any non-2xx answer or any resumed
# handshake is reported as such. wrk takes SNI from the URL's host and has
# no --resolve, so the URL is https://localhost:PORT/.well-known/mta-sts.txt
# with "Host: mta-sts.bench.test": the certificate's SAN has both names,
# mtasts has it under the name localhost (it picks the certificate by SNI
# and the tenant by Host), nginx in its one server block.
#
# Then memory: `serve run` started on three stores, its start time (until it
# logs event=serving), VmRSS, VmHWM, Private_Dirty and Pss after start and
# after requests for five of its domains:
#   base   1 domain, 1 certificate (the store of the runs above);
#   shared DOMAINS (100,000) domains and the one certificate of localhost;
#   own    CERT_DOMAINS (10,000) domains, each with its own certificate
#          (mta-sts.dN.bench.test, its own P-256 key, signed by the bench CA,
#          checked by curl through SNI).
# The stores are written by bench/serve_fill.py (python3's sqlite3, one
# transaction; `serve domain list` must read them back) from a template
# domain the CLI added. Bytes per domain: (shared - base) / domains, and
# (own - base) / domains for a domain with its own certificate.
#
# Usage: bench/run-serve.sh [SECONDS]   (SECONDS per run, default 5; root,
#        for apt-get and nginx; no rig: everything on 127.0.0.1)
# env:   ROUNDS (3), CONNS (16), DOMAINS (100000), CERT_DOMAINS (10000),
#        MEMORY (1; 0 skips the memory part), CPU_SERVER (1), CPU_LOAD (0),
#        BENCH_BUILD (build-bench)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-5}
rounds=${ROUNDS:-3}
conns=${CONNS:-16}
domains=${DOMAINS:-100000}
cert_domains=${CERT_DOMAINS:-10000}
memory=${MEMORY:-1}
cpu_server=${CPU_SERVER:-1}
cpu_load=${CPU_LOAD:-0}
build=${BENCH_BUILD:-$src/build-bench}
py=/usr/bin/python3
if ! command -v wrk >/dev/null; then
	echo "installing wrk (the load generator)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null
fi
if [ "$memory" = 1 ] && ! "$py" -c 'import cryptography' 2>/dev/null; then
	echo "installing python3-cryptography (certificates of the memory part)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-cryptography >/dev/null
fi
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMTASTS_TESTS=OFF \
	-DMTASTS_BENCH=ON >/dev/null
make -C "$build" -j2 --no-print-directory mtasts bench_no_resume >/dev/null
M=$build/mtasts
shim=$build/bench/libbench_no_resume.so
tmp=$(mktemp -d /tmp/mtasts-bench-serve.XXXXXX)
chmod 755 "$tmp"
pids=()
# shellcheck source=bench/lib.sh
. "$src/bench/lib.sh"
trap bench_cleanup EXIT
bench_pin "$cpu_server" "$cpu_load" "servers on CPU $cpu_server, wrk on CPU $cpu_load"

mem() {
	awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } /^Private_Dirty:/ { d = $2 } /^Pss:/ { p = $2 }
	     END { printf "%d %d %d %d", r, h, d, p }' "/proc/$1/status" "/proc/$1/smaps_rollup"
}
cpu_ticks() {
	local stat f
	stat=$(cat "/proc/$1/stat")
	read -r -a f <<<"${stat##*) }"
	echo $((f[11] + f[12]))
}
free_port() {
	"$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
ms_now() { echo $(($(date +%s%N) / 1000000)); }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "mtasts $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo '?')," \
	"$(nginx -v 2>&1 | sed 's/^nginx version: //'), wrk $(dpkg-query -W -f '${Version}' wrk 2>/dev/null)," \
	"$(openssl version | cut -d' ' -f1-2)"
echo "method: $rounds rounds x $seconds s per shape and server, order alternating; $pinning;" \
	"$conns connections"

# ---- certificates: a bench CA and one P-256 leaf for localhost and mta-sts.bench.test
pki=$tmp/pki
mkdir "$pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/ca.key" \
	-out "$pki/ca.pem" -subj /CN=mtasts-bench-ca -days 2 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/leaf.key" 2>/dev/null
openssl req -new -key "$pki/leaf.key" -subj /CN=localhost -out "$pki/leaf.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n%s\n%s\n' \
	extendedKeyUsage=serverAuth subjectAltName=DNS:localhost,DNS:mta-sts.bench.test >"$pki/leaf.ext"
openssl x509 -req -in "$pki/leaf.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
	-set_serial "0x$(openssl rand -hex 8)" -days 2 -extfile "$pki/leaf.ext" \
	-out "$pki/leaf.pem" 2>/dev/null
cat "$pki/leaf.pem" "$pki/ca.pem" >"$pki/chain.pem"

# ---- the store of the runs: one tenant, the certificate under the name localhost
new_store() { # DIR: an initialised serve store in DIR, its URL in MTASTS_SERVE_STORE
	mkdir -p "$1"
	export MTASTS_SERVE_STORE=sqlite://$1/serve.db
	"$M" serve init --zone svc.test --service mta-sts.svc.test --propagation 7200 >/dev/null
}
new_store "$tmp/run"
"$M" serve domain add bench.test --mx mx.bench.test --mode enforce >/dev/null
"$M" serve cert import localhost --key "$pki/leaf.key" --chain "$pki/chain.pem" >/dev/null
mkdir -p "$tmp/www/.well-known"
"$py" - "$tmp/run/serve.db" "$tmp/www/.well-known/mta-sts.txt" <<'PY'
import sqlite3, sys
row = sqlite3.connect(sys.argv[1]).execute(
    "SELECT policy FROM serve_domains WHERE domain = 'bench.test'").fetchone()
open(sys.argv[2], "wb").write(row[0])
PY

# ---- nginx: one worker; a second server block, logging whether each
# handshake was resumed, for the checks only (the measured one logs nothing,
# as mtasts logs nothing per request).
mport=$(free_port)
nport=$(free_port)
ncheck=$(free_port)
g=$tmp/nginx
mkdir -p "$g/tmp"
cat >"$g/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
user root root;
pid $g/nginx.pid;
error_log $g/error.log warn;
events { worker_connections 1024; }
http {
    client_body_temp_path $g/tmp/client_body;
    proxy_temp_path $g/tmp/proxy;
    fastcgi_temp_path $g/tmp/fastcgi;
    uwsgi_temp_path $g/tmp/uwsgi;
    scgi_temp_path $g/tmp/scgi;
    types { }
    default_type text/plain;
    charset off;
    server_tokens off;
    gzip off;
    keepalive_requests 1000000;
    open_file_cache max=16 inactive=60s;
    open_file_cache_valid 60s;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate $pki/chain.pem;
    ssl_certificate_key $pki/leaf.key;
    log_format resumed '\$ssl_session_reused \$ssl_protocol \$ssl_cipher \$status';
    root $tmp/www;
    server {
        listen 127.0.0.1:$nport ssl;
        access_log off;
        location = /.well-known/mta-sts.txt { add_header Cache-Control no-cache; }
        location / { return 404; }
    }
    server {
        listen 127.0.0.1:$ncheck ssl;
        access_log $g/check.log resumed;
        location = /.well-known/mta-sts.txt { add_header Cache-Control no-cache; }
        location / { return 404; }
    }
}
EOF
"${on_server[@]}" nginx -p "$g" -e "$g/error.log" -c "$g/nginx.conf" &
npid=$!
pids+=("$npid")
"${on_server[@]}" "$M" serve run --listen "127.0.0.1:$mport" --http none --refresh 3600 \
	2>"$tmp/run.log" &
mpid=$!
pids+=("$mpid")
for p in "$mport:$mpid" "$nport:$npid"; do
	wait_port 127.0.0.1 "${p%:*}" "${p#*:}" || { cat "$tmp/run.log" "$g/error.log" >&2; exit 1; }
done
nworker=$(awk '{ print $1 }' "/proc/$npid/task/$npid/children" 2>/dev/null)
[ -n "$nworker" ] || { echo "nginx has no worker process" >&2; exit 1; }

# ---- checks: 200 and the store's bytes from both; full handshakes with the shim
P=/.well-known/mta-sts.txt
H='Host: mta-sts.bench.test'
names=(mtasts nginx)
ports=("$mport" "$nport")
spids=("$mpid" "$nworker")
for i in 0 1; do
	code=$(curl -sS --max-time 5 --cacert "$pki/ca.pem" -H "$H" -D "$tmp/h$i" -o "$tmp/body$i" \
		-w '%{http_code} %{ssl_verify_result}' "https://localhost:${ports[$i]}$P")
	if [ "$code" != "200 0" ] || ! cmp -s "$tmp/body$i" "$tmp/www/.well-known/mta-sts.txt"; then
		echo "${names[$i]} does not answer 200 with the policy (status, verify: $code):" >&2
		cat "$tmp/h$i" "$tmp/body$i" >&2
		exit 1
	fi
	tls=$(openssl s_client -connect "127.0.0.1:${ports[$i]}" -servername localhost -brief \
		</dev/null 2>&1 | sed -n 's/^\(Protocol version\|Ciphersuite\|Peer Temp Key\): //p' |
		paste -sd' ')
	echo "${names[$i]}: 200, $(wc -c <"$tmp/body$i") bytes, the store's;" \
		"$(grep -c . "$tmp/h$i") header lines; TLS: $tls"
done
shimmed=$(LD_PRELOAD=$shim "${on_load[@]}" wrk -t1 -c4 -d1s -H "$H" -H 'Connection: close' \
	"https://localhost:$ncheck$P" 2>&1 | sed -n 's/^no_resume: //p')
echo "shim against nginx's logging server: $shimmed;" \
	"nginx logged $(grep -c '^\. ' "$g/check.log" || true) full handshakes," \
	"$(grep -c '^r ' "$g/check.log" || true) resumed"
if grep -q '^r ' "$g/check.log" || ! grep -q 'resumed=0$' <<<"$shimmed"; then
	echo "the client resumed sessions: the handshake shape would not measure handshakes" >&2
	exit 1
fi

# ---- the rounds
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 }
	END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f - %.0f", lo, hi }'; }
paired() { awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " ")
	for (i = 1; i <= n; i++) { r = 100 * x[i] / y[i]; if (i == 1 || r < lo) lo = r; if (i == 1 || r > hi) hi = r }
	printf "%.1f - %.1f%%", lo, hi }'; }
# us "228.00us" / "3.66ms" / "1.2s": microseconds
us() { awk -v v="$1" 'BEGIN { u = v; sub(/^[0-9.]+/, "", u); n = v + 0
	printf "%.0f", u == "ms" ? n * 1000 : u == "s" ? n * 1e6 : n }'; }
hz=$(getconf CLK_TCK)
summary=()
ratios=()
flawed=()
for shape in keep-alive handshake; do
	extra=() pre=()
	if [ "$shape" = handshake ]; then extra=(-H 'Connection: close'); pre=(env "LD_PRELOAD=$shim"); fi
	echo
	echo "== $shape, $conns connections"
	printf '%-6s %-7s %10s %10s %10s %12s  %s\n' round server "req/s" "p50 us" "p99 us" "cpu us/req" notes
	rate=() p50=() p99=() cpu=()
	for ((r = 0; r < rounds; r++)); do
		for k in 0 1; do
			i=$(((r + k) % 2))
			c0=$(cpu_ticks "${spids[$i]}")
			out=$("${pre[@]}" "${on_load[@]}" wrk -t1 -c"$conns" -d"${seconds}s" --latency \
				-H "$H" "${extra[@]}" "https://localhost:${ports[$i]}$P" 2>&1)
			c1=$(cpu_ticks "${spids[$i]}")
			rt=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
			req=$(awk '/ requests in / { print $1 }' <<<"$out")
			a=$(us "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
			b=$(us "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
			cu=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v n="$req" \
				'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')
			notes=$(grep -E 'Non-2xx|Socket errors|^no_resume' <<<"$out" | sed 's/^ *//' |
				grep -v 'resumed=0$' | paste -sd';' || true)
			rate[i]+="$rt " p50[i]+="$a " p99[i]+="$b " cpu[i]+="$cu "
			[ -z "$notes" ] || flawed+=("$shape round $((r + 1)) ${names[$i]}: $notes")
			printf '%-6s %-7s %10s %10s %10s %12s  %s\n' $((r + 1)) "${names[$i]}" "$rt" "$a" "$b" \
				"$cu" "$notes"
		done
	done
	for i in 0 1; do
		summary+=("$(printf '| %s | %s | %.0f | %s | %.0f / %.0f | %.1f |' "$shape" "${names[$i]}" \
			"$(median "${rate[$i]}")" "$(minmax "${rate[$i]}")" "$(median "${p50[$i]}")" \
			"$(median "${p99[$i]}")" "$(median "${cpu[$i]}")")")
	done
	ratios+=("$(awk -v a="$(median "${rate[0]}")" -v b="$(median "${rate[1]}")" -v s="$shape" \
		'BEGIN { printf "%s %.1f%%", s, 100 * a / b }') (same-round ratios $(paired "${rate[0]}" "${rate[1]}"))")
done
echo
echo "Medians of $rounds rounds x $seconds s ($pinning, $conns connections):"
echo
echo "| shape | server | median req/s | min - max | median p50 / p99 (µs) | server CPU µs/req |"
echo "|-------|--------|-------------:|----------:|----------------------:|------------------:|"
printf '%s\n' "${summary[@]}"
echo
echo "mtasts / nginx, median rates: $(printf '%s; ' "${ratios[@]}" | sed 's/; $//')"
if [ ${#flawed[@]} -gt 0 ]; then
	echo "WARNING: runs with errors, non-2xx answers or resumed handshakes (their figures mean little):"
	printf '  %s\n' "${flawed[@]}"
fi
kill "$mpid" "$npid"
wait "$mpid" "$npid" 2>/dev/null || true
pids=()
[ "$memory" = 1 ] || exit 0

# ---- memory per hosted domain
# start_serve NAME: `serve run` on $MTASTS_SERVE_STORE; its pid in spid, the
# milliseconds until it logged event=serving in start_ms.
start_serve() {
	local t0 port
	port=$(free_port)
	sport=$port
	t0=$(ms_now)
	"${on_server[@]}" "$M" serve run --listen "127.0.0.1:$port" --http none --refresh 3600 \
		2>"$tmp/$1.log" &
	spid=$!
	pids+=("$spid")
	for _ in $(seq 6000); do
		grep -q event=serving "$tmp/$1.log" && break
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.01
	done
	start_ms=$(($(ms_now) - t0))
	grep -q event=serving "$tmp/$1.log" || { cat "$tmp/$1.log" >&2; exit 1; }
}
# ask N SNI...: GET the policy of dN.bench.test; SNI localhost (shared) or its own name
ask() {
	local url=https://localhost:$sport$P opts=(-H "Host: mta-sts.d$1.bench.test")
	if [ "$2" = own ]; then
		url=https://mta-sts.d$1.bench.test:$sport$P
		opts=(--resolve "mta-sts.d$1.bench.test:$sport:127.0.0.1")
	fi
	curl -sS --max-time 10 --cacert "$pki/ca.pem" "${opts[@]}" "$url" | grep -q "^mx: mx.d$1.bench.test" || {
		echo "d$1.bench.test: not its policy (SNI $2)" >&2
		exit 1
	}
}
fill() { # DIR COUNT [CA]: a store of COUNT domains dN.bench.test
	local t0
	new_store "$1"
	"$M" serve domain add d0.bench.test --mx mx.d0.bench.test --mode enforce >/dev/null
	t0=$(ms_now)
	"$py" "$src/bench/serve_fill.py" "$1/serve.db" "$2" "${@:3}"
	fill_ms=$(($(ms_now) - t0))
	listed=$("$M" serve domain list | tail -n 1)
	[ "$listed" = "$2 domains" ] || { echo "serve domain list: '$listed', not $2 domains" >&2; exit 1; }
}
echo
echo "== memory (VmRSS, VmHWM, Private_Dirty, Pss in kB; start: until event=serving)"
rows=()
measure() { # NAME DOMAINS CERTS SNI
	local before after n=$2
	start_serve "$1"
	before=$(mem "$spid")
	for d in 0 1 $((n / 2)) $((n - 2)) $((n - 1)); do
		[ "$d" -ge 0 ] && [ "$4" != none ] && ask "$d" "$4"
	done
	after=$(mem "$spid")
	kill "$spid"
	wait "$spid" 2>/dev/null || true
	pids=()
	read -r r0 _ d0 _ <<<"$before"
	read -r r1 h1 d1 p1 <<<"$after"
	printf '%-7s %7s domains %6s certs: start %6s ms; after start %s; after 5 requests %s\n' \
		"$1" "$2" "$3" "$start_ms" "$before" "$after"
	rows+=("$1 $2 $3 $start_ms $r1 $h1 $d1 $p1 $r0 $d0")
}
export MTASTS_SERVE_STORE=sqlite://$tmp/run/serve.db
measure base 1 1 none
fill "$tmp/shared" "$domains"
echo "(store of $domains domains written in $fill_ms ms, read back by serve domain list)"
"$M" serve cert import localhost --key "$pki/leaf.key" --chain "$pki/chain.pem" >/dev/null
measure shared "$domains" 1 shared
rm -rf "$tmp/shared"
fill "$tmp/own" "$cert_domains" "$pki/ca.pem" "$pki/ca.key"
echo "(store of $cert_domains domains and certificates written in $fill_ms ms)"
measure own "$cert_domains" "$cert_domains" own
echo
echo "| store | domains | certificates | start | VmRSS | VmHWM (peak) | Private_Dirty | Pss |"
echo "|-------|--------:|-------------:|------:|------:|-------------:|--------------:|----:|"
for row in "${rows[@]}"; do
	read -r name n c ms r h d p _ _ <<<"$row"
	awk -v name="$name" -v n="$n" -v c="$c" -v ms="$ms" -v r="$r" -v h="$h" -v d="$d" -v p="$p" \
		'BEGIN { printf "| %s | %d | %d | %.2f s | %.1f MB | %.1f MB | %.1f MB | %.1f MB |\n",
		name, n, c, ms / 1000, r / 1024, h / 1024, d / 1024, p / 1024 }'
done
read -r _ _ _ _ br _ bd _ <<<"${rows[0]}"
for row in "${rows[@]:1}"; do
	read -r name n _ _ r _ d _ <<<"$row"
	awk -v name="$name" -v n="$n" -v r="$r" -v d="$d" -v br="$br" -v bd="$bd" 'BEGIN {
		printf "%s: %.0f bytes of VmRSS per domain, %.0f of Private_Dirty (over base, %d domains)\n",
		name, (r - br) * 1024 / (n - 1), (d - bd) * 1024 / (n - 1), n }'
done
