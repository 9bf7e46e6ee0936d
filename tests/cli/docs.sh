#!/bin/bash
# Every option a command's --help shows is documented in its man page, and
# every command has one (curl's test1139 idea).
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
M=$MTASTS
man_dir=$MTASTS_SOURCE_DIR/docs/man
t_contains "README shows make demo" "make demo" "$(cat "$MTASTS_SOURCE_DIR/README.md")"
t_contains "README shows make test" "make test" "$(cat "$MTASTS_SOURCE_DIR/README.md")"
[ -f "$man_dir/mtasts.1" ] && t_ok "mtasts.1 exists" || t_fail "mtasts.1 exists"
for cmd in $($M --help | awk '/^Commands:/{on=1; next} on && /^  [a-z]/{print $1} on && /^$/{exit}'); do
	page=$man_dir/mtasts-$cmd.1
	if [ ! -f "$page" ]; then t_fail "man page for $cmd"; continue; fi
	t_ok "man page for $cmd"
	t_contains "mtasts.1 lists $cmd" "$cmd" "$(cat "$man_dir/mtasts.1")"
	t_contains "README has a section for $cmd" "mtasts $cmd" "$(cat "$MTASTS_SOURCE_DIR/README.md")"
	for opt in $($M help "$cmd" | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u); do
		roff=$(printf '%s' "$opt" | sed 's/-/\\-/g')
		if grep -qF -- "$roff" "$page"; then t_ok "$cmd $opt documented"; else t_fail "$cmd $opt documented in $page"; fi
	done
done
t_done
