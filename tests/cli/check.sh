#!/bin/bash
# `mtasts check` usage: every bad argument is a one-line usage error (exit 2,
# or 3 = UNKNOWN with --format nagios), checked before any network use.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
M=$MTASTS

out=$($M check --help); t_contains "check --help shows usage" "Usage: mtasts check" "$out"
t_exit "check --help exits 0" 0 $M check --help
t_exit "no domain is a usage error" 2 $M check
t_exit "bad domain" 2 $M check 'not a domain'
err=$($M check 'not a domain' 2>&1 >/dev/null)
t_eq "bad domain is one line" 1 "$(printf '%s\n' "$err" | wc -l)"
t_contains "bad domain named" "'not a domain' is not a valid domain name" "$err"
t_exit "bad format" 2 $M check --format xml example.com
t_exit "bad timeout" 2 $M check --timeout 0 example.com
t_exit "timeout too long" 2 $M check --timeout 301 example.com
t_exit "bad smtp port" 2 $M check --smtp-port 70000 example.com
t_exit "bad concurrency" 2 $M check --concurrency 0 example.com
t_exit "bad helo" 2 $M check --helo 'a b' example.com
t_exit "bad resolver" 2 $M check --resolver 'x@y' example.com
t_exit "bad connect-to" 2 $M check --connect-to 'nonsense' example.com
t_exit "unknown option" 2 $M check --frob example.com
t_exit "nagios: usage error is UNKNOWN (3)" 3 $M check --format nagios
t_exit "nagios: bad domain is UNKNOWN (3)" 3 $M check --format nagios 'not a domain'
t_exit "nagios: bad option value is UNKNOWN (3)" 3 $M check --format nagios --timeout x example.com
t_done
