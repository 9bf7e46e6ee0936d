# lib.sh - tiny assertion helpers for the shell tests (sourced).
# Each check prints "ok"/"not ok" lines; t_done prints "N passed, M failed"
# and returns non-zero when anything failed.
T_PASS=0
T_FAIL=0

t_ok() { T_PASS=$((T_PASS + 1)); printf 'ok - %s\n' "$1"; }
t_fail() { T_FAIL=$((T_FAIL + 1)); printf 'not ok - %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /' | head -40; return 0; }

# t_exit NAME EXPECTED_STATUS CMD...: run CMD, compare its exit status.
t_exit() {
	local name=$1 want=$2; shift 2
	local out rc=0
	out=$("$@" 2>&1) || rc=$?
	if [ "$rc" -eq "$want" ]; then t_ok "$name"; else t_fail "$name (exit $rc, want $want)" "$out"; fi
}

# t_contains NAME NEEDLE HAYSTACK
t_contains() {
	case "$3" in *"$2"*) t_ok "$1" ;; *) t_fail "$1 (no '$2')" "$3" ;; esac
}
t_lacks() {
	case "$3" in *"$2"*) t_fail "$1 (has '$2')" "$3" ;; *) t_ok "$1" ;; esac
}
t_eq() {
	if [ "$2" = "$3" ]; then t_ok "$1"; else t_fail "$1 (got '$3', want '$2')"; fi
}

t_done() {
	echo "${T_PASS} passed, ${T_FAIL} failed"
	[ "$T_FAIL" -eq 0 ] && [ "$T_PASS" -gt 0 ]
}
