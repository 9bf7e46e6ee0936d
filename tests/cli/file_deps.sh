#!/bin/bash
# scripts/file-deps, the source check's dependency rules: a cycle between two
# files and a call up the layers are each found and named; files that call
# only downwards pass.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
check=$MTASTS_SOURCE_DIR/scripts/file-deps
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
obj() { # obj DIR/FILE.c SOURCE: compile SOURCE as DIR/FILE.c.o
	mkdir -p "$tmp/o.dir/$(dirname "$1")"
	printf '%s\n' "$2" >"$tmp/src.c"
	cc -c -o "$tmp/o.dir/$1.o" "$tmp/src.c"
}
obj lib/core/a.c 'int b(void); int a(void) { return 1; }'
obj lib/io/b.c 'int a(void); int b(void) { return a(); }'
obj lib/engine/c.c 'int b(void); int c(void) { return b(); }'
out=$(python3 "$check" "$tmp/o.dir" 2>&1); rc=$?
t_eq "downward calls only: exit 0" 0 "$rc"
obj lib/io/d.c 'int e(void); int d(void) { return e(); }'
obj lib/io/e.c 'int d(void); int e(void) { return d(); }'
out=$(python3 "$check" "$tmp/o.dir" 2>&1); rc=$?
t_eq "a cycle: exit 1" 1 "$rc"
t_contains "the cycle is named" "lib/io/d.c -> lib/io/e.c (e)" "$out"
t_contains "both ways" "lib/io/e.c -> lib/io/d.c (d)" "$out"
rm "$tmp/o.dir/lib/io/e.c.o" "$tmp/o.dir/lib/io/d.c.o"
obj lib/core/f.c 'int c(void); int f(void) { return c(); }'
out=$(python3 "$check" "$tmp/o.dir" 2>&1); rc=$?
t_eq "core calling the engine: exit 1" 1 "$rc"
t_contains "the upward call is named" "lib/core/f.c calls up the layers into lib/engine/c.c (c)" "$out"
out=$(python3 "$check" "$tmp/none" 2>&1); rc=$?
t_eq "no objects: exit 2" 2 "$rc"
t_done
