# shellcheck shell=bash
# serve_lib.bash - what the serve integration tests share (sourced after the
# rig's env file; needs $tmp and $M).
#   serve_cert NAME OUT   a P-256 leaf for NAME from the rig's intermediate CA:
#                         OUT.key, OUT.pem and OUT.chain (leaf, intermediate)
#   serve_start LOG ARGS  `$M serve run ARGS` in the background, stderr in LOG;
#                         waits until it serves; its pid in serve_pid, and in
#                         the array serve_pids (for serve_stop_all)
#   serve_stop_all        TERM to every serve_pids, and wait

serve_pki=$(dirname "$RIG_CA_FILE")/pki
serve_pids=()

serve_cert() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$2.key" 2>/dev/null
	openssl req -new -key "$2.key" -subj "/CN=$1" -out "$2.csr" 2>/dev/null
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n%s\n%s\n' \
		'extendedKeyUsage=serverAuth' "subjectAltName=DNS:$1" >"$2.ext"
	openssl x509 -req -in "$2.csr" -CA "$serve_pki/int.pem" -CAkey "$serve_pki/int.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days 30 -extfile "$2.ext" -out "$2.pem" \
		2>/dev/null
	cat "$2.pem" "$serve_pki/int.pem" >"$2.chain"
}

serve_start() {
	local log=$1
	shift
	"$M" serve run "$@" 2>"$log" &
	serve_pid=$!
	serve_pids+=("$serve_pid")
	for _ in $(seq 100); do
		grep -q 'event=serving' "$log" && return 0
		kill -0 "$serve_pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "serve run did not start:" >&2
	cat "$log" >&2
	return 1
}

serve_stop_all() {
	local p
	for p in "${serve_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${serve_pids[@]}"; do wait "$p" 2>/dev/null; done
	serve_pids=()
}
