#!/bin/bash
# The public API as a program outside this tree sees it: each installed header
# compiles alone (C11 and C++), none reaches an internal header, the shared
# library exports exactly what the public headers declare (all mts_), and a
# small program builds and runs against libmtasts.so.
# Environment: MTASTS_SOURCE_DIR, MTASTS_GEN_INCLUDE (the build's generated
# include dir), MTASTS_SO (the shared library), CC.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
inc=$MTASTS_SOURCE_DIR/include
gen=$MTASTS_GEN_INCLUDE
so=$MTASTS_SO
cc=${CC:-cc}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

headers=$(cd "$inc" && ls mtasts/*.h; cd "$gen" && ls mtasts/*.h)
[ "$(printf '%s\n' $headers | wc -l)" -ge 20 ] && t_ok "the public headers are found" ||
	t_fail "the public headers are found" "$headers"
for h in $headers; do
	printf '#include "%s"\n' "$h" >"$tmp/one.c"
	out=$($cc -std=c11 -Wall -Wextra -Werror -pedantic -Wno-overlength-strings -fsyntax-only \
		-I "$inc" -I "$gen" "$tmp/one.c" 2>&1) && t_ok "$h compiles alone (C11)" ||
		t_fail "$h compiles alone (C11)" "$out"
	if command -v c++ >/dev/null; then
		cp "$tmp/one.c" "$tmp/one.cc"
		out=$(c++ -Wall -Wextra -Werror -fsyntax-only -I "$inc" -I "$gen" "$tmp/one.cc" 2>&1) &&
			t_ok "$h compiles alone (C++)" || t_fail "$h compiles alone (C++)" "$out"
	fi
done
out=$(grep -n '#include "' "$inc"/mtasts/*.h "$gen"/mtasts/*.h | grep -v '#include "mtasts/')
[ -z "$out" ] && t_ok "public headers include only public headers" ||
	t_fail "public headers include only public headers" "$out"

# What the .so exports against what the headers declare.
nm -D --defined-only "$so" | awk '{print $3}' | sort -u >"$tmp/exported"
out=$(grep -v '^mts_' "$tmp/exported")
[ -z "$out" ] && t_ok "every exported symbol starts with mts_" ||
	t_fail "every exported symbol starts with mts_" "$out"
cat "$inc"/mtasts/*.h "$gen"/mtasts/*.h |
	sed -e 's://.*$::' -e 's/(\*mts_[a-z0-9_]*)//g' |
	grep -oE '(^|[^a-zA-Z0-9_])mts_[a-z0-9_]+[[:space:]]*(\(|;|\[)' |
	grep -oE 'mts_[a-z0-9_]+' | sort -u >"$tmp/named"
# Declared functions and data: named in a public header and defined in the
# library; names that are types, struct members or macros are not symbols.
nm --defined-only "$so" | awk '$2 ~ /[TDBR]/ {print $3}' | sort -u >"$tmp/defined"
comm -12 "$tmp/named" "$tmp/defined" >"$tmp/declared"
out=$(comm -13 "$tmp/exported" "$tmp/declared")
[ -z "$out" ] && t_ok "every function a public header declares is exported" ||
	t_fail "every function a public header declares is exported" "$out"
out=$(comm -23 "$tmp/exported" "$tmp/named")
[ -z "$out" ] && t_ok "nothing is exported that no public header declares" ||
	t_fail "nothing is exported that no public header declares" "$out"
n=$(wc -l <"$tmp/exported")
[ "$n" -ge 100 ] && t_ok "the library exports its API ($n symbols)" ||
	t_fail "the library exports its API ($n symbols)"
for internal in mts_dns_new mts_https_new mts_netstring_parse mts_printable mts_pg_connect \
	mts_cache_sqlite_open mts_redis_url_parse; do
	grep -qx "$internal" "$tmp/exported" && t_fail "$internal is not exported" ||
		t_ok "$internal is not exported"
done

# A program outside the tree, against the shared library only.
cat >"$tmp/prog.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "mtasts/policy.h"
#include "mtasts/version.h"
int main(void)
{
	static const char body[] = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
				   "max_age: 86400\r\n";
	struct mts_findings f;
	mts_findings_init(&f);
	struct mts_error err = {0};
	struct mts_policy *p = mts_policy_parse(body, strlen(body), &f, &err);
	int ok = p && mts_policy_matches(p, "mail.example.com", 16) &&
		 !mts_policy_matches(p, "other.example.com", 17);
	printf("%s %u %s\n", mts_version(), mts_version_number(), ok ? "match" : "broken");
	mts_policy_free(p);
	mts_findings_free(&f);
	return ok && mts_version_number() == MTS_VERSION_NUMBER ? 0 : 1;
}
C
out=$($cc -std=c11 -Wall -Wextra -Werror -I "$inc" -I "$gen" "$tmp/prog.c" -o "$tmp/prog" \
	"$so" 2>&1) && t_ok "a program builds against libmtasts.so" ||
	t_fail "a program builds against libmtasts.so" "$out"
out=$(LD_LIBRARY_PATH=$(dirname "$so") "$tmp/prog" 2>&1) && t_ok "and runs: $out" ||
	t_fail "and runs" "$out"
t_done
