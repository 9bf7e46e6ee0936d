#!/bin/bash
# `cmake --install` as a packager or an outside program sees it: every file
# in its place (the .so with its SONAME links, the static library, the public
# headers and nothing internal, mtasts.pc, the CMake package, man pages, the
# systemd unit naming the installed program, the configuration), then a
# program built with pkg-config (shared and static) and one with
# find_package(mtasts) both build and run against the installed library.
# Environment: MTASTS (the built program; its directory is the build tree),
# MTASTS_SOURCE_DIR.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
src=$MTASTS_SOURCE_DIR
build=$(cd "$(dirname "$MTASTS")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
p=$tmp/prefix
cc=${CC:-cc}
# A sanitizer build's library needs its runtime in the programs that use it.
extra=()
if nm -D "$build/libmtasts.so" 2>/dev/null | grep -q ' __asan_init'; then
	# shellcheck disable=SC2054 # one flag, its commas are its own
	extra=(-fsanitize=address,undefined)
fi

out=$(cmake --install "$build" --prefix "$p" 2>&1) && t_ok "cmake --install --prefix succeeds" ||
	t_fail "cmake --install --prefix succeeds" "$out"
pc=$(find "$p" -name mtasts.pc)
libdir=$(dirname "$(dirname "$pc")")
[ -n "$pc" ] && [ -f "$libdir/libmtasts.a" ] && t_ok "mtasts.pc and libmtasts.a in $libdir" ||
	t_fail "mtasts.pc and libmtasts.a in the libdir" "$(cd "$p" && find . | sort)"

# The program, and the shared library with its SONAME chain.
out=$("$p/bin/mtasts" --version 2>&1) && t_contains "the installed program runs" "0." "$out" ||
	t_fail "the installed program runs" "$out"
version=$("$p/bin/mtasts" --version | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1)
so=$(cd "$libdir" && ls libmtasts.so.*.*.* 2>/dev/null)
t_eq "the shared library is libmtasts.so.$version" "libmtasts.so.$version" "$so"
soname=$(readelf -d "$libdir/$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
t_eq "its SONAME is libmtasts.so.MAJOR" "libmtasts.so.${version%%.*}" "$soname"
[ -L "$libdir/$soname" ] && t_eq "$soname links to $so" "$so" "$(readlink "$libdir/$soname")" ||
	t_fail "$soname is a symlink"
[ -L "$libdir/libmtasts.so" ] && t_eq "libmtasts.so (for -lmtasts) links to $soname" "$soname" \
	"$(readlink "$libdir/libmtasts.so")" || t_fail "libmtasts.so is a symlink"

# Headers: exactly the public ones and version.h; nothing internal.
want=$( (cd "$src/include/mtasts" && ls ./*.h ./*.def; echo ./version.h) | sed 's:^\./::' | sort)
got=$(cd "$p/include/mtasts" && ls | sort)
t_eq "the installed headers are include/mtasts/*.h *.def and version.h" "$want" "$got"
out=$(find "$p" -name '*_int.h' -o -name '*.in' -o -name '*.c')
[ -z "$out" ] && t_ok "no internal header, template or source is installed" ||
	t_fail "no internal header, template or source is installed" "$out"
for h in $got; do
	case $h in *.def) continue ;; esac
	printf '#include <mtasts/%s>\n' "$h" >"$tmp/one.c"
	out=$($cc -std=c11 -Wall -Wextra -Werror -pedantic -Wno-overlength-strings -fsyntax-only \
		-I "$p/include" "$tmp/one.c" 2>&1) && t_ok "installed $h compiles alone" ||
		t_fail "installed $h compiles alone" "$out"
done

# Man pages, the unit and the configuration.
want=$(cd "$src/docs/man" && ls ./*.1 | sed 's:^\./::' | sort)
t_eq "every man page is in share/man/man1" "$want" "$(cd "$p/share/man/man1" && ls | sort)"
want=$(cd "$src/docs/schema" && ls ./*.schema.json | sed 's:^\./::' | sort)
t_eq "every JSON Schema is in share/mtasts/schema" "$want" "$(cd "$p/share/mtasts/schema" 2>/dev/null && ls | sort)"
t_contains "the serve unit starts the installed program" "ExecStart=$p/bin/mtasts serve run" \
	"$(cat "$p/lib/systemd/system/mtasts-serve.service" 2>/dev/null)"
unit=$p/lib/systemd/system/mtasts-resolver.service
if [ -f "$unit" ]; then
	t_ok "the systemd unit is in lib/systemd/system"
	t_contains "the unit starts the installed program" \
		"ExecStart=$p/bin/mtasts resolver --config $p/etc/mtasts/resolver.yml" "$(cat "$unit")"
	out=$(grep -n '@[A-Z_]*@' "$unit")
	[ -z "$out" ] && t_ok "the unit has no @VARIABLE@ left" || t_fail "the unit has no @VARIABLE@ left" "$out"
else
	t_fail "the systemd unit is in lib/systemd/system" "$(cd "$p" && find . | sort)"
fi
t_exit "the installed configuration passes resolver --check" 0 \
	"$p/bin/mtasts" resolver --check --config "$p/etc/mtasts/resolver.yml"

# A program outside the tree, built with pkg-config.
cat >"$tmp/prog.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <mtasts/policy.h>
#include <mtasts/version.h>
int main(void)
{
	static const char body[] = "version: STSv1\r\nmode: enforce\r\nmx: *.example.com\r\n"
				   "max_age: 86400\r\n";
	struct mts_findings f;
	mts_findings_init(&f);
	struct mts_error err = {0};
	struct mts_policy *p = mts_policy_parse(body, strlen(body), &f, &err);
	int ok = p && mts_policy_matches(p, "mx1.example.com", 15);
	printf("libmtasts %s %s\n", mts_version(), ok ? "match" : "broken");
	mts_policy_free(p);
	mts_findings_free(&f);
	return ok && strcmp(mts_version(), MTS_VERSION_STRING) == 0 ? 0 : 1;
}
C
export PKG_CONFIG_PATH=$libdir/pkgconfig
flags=$(pkg-config --cflags --libs mtasts 2>&1) && t_contains "pkg-config knows mtasts" "-lmtasts" \
	"$flags" || t_fail "pkg-config knows mtasts" "$flags"
t_contains "its -I is the installed include dir" "-I$p/include" "$flags"
# shellcheck disable=SC2086
out=$($cc -std=c11 -Wall -Wextra -Werror "${extra[@]}" "$tmp/prog.c" -o "$tmp/prog" $flags 2>&1) &&
	t_ok "a program builds with pkg-config --cflags --libs mtasts" ||
	t_fail "a program builds with pkg-config --cflags --libs mtasts" "$out"
out=$(LD_LIBRARY_PATH=$libdir "$tmp/prog" 2>&1) && t_contains "and runs on the installed library" \
	"match" "$out" || t_fail "and runs on the installed library" "$out"
out=$(LD_LIBRARY_PATH=$libdir ldd "$tmp/prog" 2>&1)
t_contains "it is linked to $soname" "$soname => $libdir/$soname" "$out"
# Statically (libmtasts.a, the libraries under it shared as usual):
# Requires.private must name every library it is built on.
deps=$(pkg-config --print-requires-private mtasts)
t_contains "Libs.private has -lm" "-lm" "$(pkg-config --static --libs mtasts)"
# shellcheck disable=SC2086
out=$($cc -std=c11 "${extra[@]}" $(pkg-config --cflags mtasts) "$tmp/prog.c" -o "$tmp/prog-static" \
	-L"$libdir" -Wl,-Bstatic -lmtasts -Wl,-Bdynamic $(pkg-config --libs $deps) -lm 2>&1) &&
	t_ok "a program links libmtasts.a with the libraries of Requires.private" ||
	t_fail "a program links libmtasts.a with the libraries of Requires.private" "$out"
out=$("$tmp/prog-static" 2>&1) && t_contains "and runs" "match" "$out" || t_fail "and runs" "$out"
out=$(ldd "$tmp/prog-static" 2>&1)
t_lacks "it does not need libmtasts.so" "libmtasts" "$out"

# A CMake project with find_package(mtasts).
mkdir -p "$tmp/proj"
cp "$tmp/prog.c" "$tmp/proj/prog.c"
cat >"$tmp/proj/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.18)
project(uses_mtasts C)
find_package(mtasts 0.1 REQUIRED)
add_executable(prog prog.c)
target_compile_options(prog PRIVATE ${extra[*]})
target_link_options(prog PRIVATE ${extra[*]})
target_link_libraries(prog PRIVATE mtasts::mtasts)
EOF
out=$(cmake -S "$tmp/proj" -B "$tmp/proj/build" -DCMAKE_PREFIX_PATH="$p" 2>&1 &&
	cmake --build "$tmp/proj/build" 2>&1) && t_ok "a CMake project builds with find_package(mtasts)" ||
	t_fail "a CMake project builds with find_package(mtasts)" "$out"
out=$("$tmp/proj/build/prog" 2>&1) && t_contains "and runs (the imported target's RPATH)" "match" \
	"$out" || t_fail "and runs" "$out"
sed -i 's/find_package(mtasts 0.1 REQUIRED)/find_package(mtasts 9.0 REQUIRED)/' \
	"$tmp/proj/CMakeLists.txt"
t_exit "find_package(mtasts 9.0) refuses this version" 1 \
	cmake -S "$tmp/proj" -B "$tmp/proj/b9" -DCMAKE_PREFIX_PATH="$p"

# DESTDIR stages an installation for a package: paths inside name the prefix.
out=$(DESTDIR=$tmp/stage cmake --install "$build" --prefix /usr 2>&1) &&
	t_ok "DESTDIR=... cmake --install --prefix /usr stages" ||
	t_fail "DESTDIR=... cmake --install --prefix /usr stages" "$out"
spc=$(find "$tmp/stage" -name mtasts.pc)
t_contains "the staged mtasts.pc names /usr, not the stage" "prefix=/usr" "$(cat "$spc" 2>/dev/null)"
t_lacks "nothing staged names the stage dir" "$tmp/stage" \
	"$(grep -rl "$tmp/stage" "$tmp/stage" 2>/dev/null)"
t_done
