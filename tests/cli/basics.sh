#!/bin/bash
# The program's contract: version, help, usage errors (one line, exit 2).
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
M=$MTASTS

out=$($M --version); t_contains "--version names the program" "mtasts " "$out"
t_exit "--version exits 0" 0 $M --version
out=$($M --help); t_contains "--help lists policy" "policy" "$out"
t_exit "--help exits 0" 0 $M --help
t_exit "help policy exits 0" 0 $M help policy
out=$($M help policy); t_contains "help policy shows usage" "Usage: mtasts policy" "$out"
out=$($M policy --help); t_contains "policy --help shows usage" "Usage: mtasts policy" "$out"
t_exit "no command is a usage error" 2 $M
t_exit "unknown command exits 2" 2 $M frobnicate
err=$($M frobnicate 2>&1 >/dev/null); t_eq "unknown command is one line" 1 "$(printf '%s\n' "$err" | wc -l)"
t_contains "unknown command named" "frobnicate" "$err"
t_exit "unknown top option exits 2" 2 $M --frob
t_exit "help of unknown command exits 2" 2 $M help frobnicate
t_exit "unknown policy option exits 2" 2 $M policy lint --frob
err=$($M policy lint --frob 2>&1 >/dev/null); t_eq "bad flag is one line" 1 "$(printf '%s\n' "$err" | wc -l)"
t_contains "bad flag named" "--frob" "$err"
t_exit "missing option value exits 2" 2 $M policy generate --mx
t_exit "unknown policy subcommand exits 2" 2 $M policy frob
t_exit "generate option on lint exits 2" 2 $M policy lint --mx a.example
t_exit "bad mode exits 2" 2 $M policy generate --mx a.example.com --mode strict
t_exit "bad max-age exits 2" 2 $M policy generate --mx a.example.com --max-age 99999999999
t_exit "missing file exits 3" 3 $M policy lint /nonexistent/policy.txt

# No colour when not on a TTY.
out=$(printf 'version: STSv1\r\nmode: testing\r\nmx: a.example.com\r\nmax_age: 86400\r\n' | $M policy lint)
t_lacks "no escape codes off a TTY" $'\033[' "$out"
# A URL in an error message never shows its password.
out=$($M fetch x.test --cache 'rediz://u:s3cret@h/0' 2>&1)
t_contains "bad --cache: the URL is named" "rediz://u:***@h/0" "$out"
t_lacks "bad --cache: without its password" "s3cret" "$out"
out=$($M report list --store 'pg://u:s3cret@h/db' 2>&1)
t_contains "bad --store: the URL is named" "pg://u:***@h/db" "$out"
t_lacks "bad --store: without its password" "s3cret" "$out"
t_done
