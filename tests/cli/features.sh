#!/bin/bash
# The optional backends (PostgreSQL, Redis, GMime): `mtasts --version` names
# those built in, and each behaves as built: present, it is used; absent, its
# URL or input is refused with an error that names the missing part. Runs in
# the default build and in the build without them (make test-minimal).
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
M=$MTASTS
data=$MTASTS_SOURCE_DIR/tests/data/tlsrpt
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

v=$($M --version); rc=$?
t_eq "--version exits 0" 0 "$rc"
t_contains "--version names the library" "libmtasts " "$v"
has() { case "$v" in *"backends:"*" $1"* | *"backends: $1"*) return 0 ;; *) return 1 ;; esac; }

# Redis: a cache URL for a server that is not there is a store failure (3)
# when the backend is built, a usage error naming Redis when it is not.
out=$($M fetch --cache redis://127.0.0.1:1 example.test 2>&1); rc=$?
if has redis; then
	t_lacks "redis built: the URL is accepted" "built without" "$out"
else
	t_eq "redis not built: usage error" 2 "$rc"
	t_contains "redis not built: says so" "built without Redis support" "$out"
fi

# PostgreSQL: the report store.
out=$($M report list --store "postgresql://127.0.0.1:1/x?connect_timeout=1" 2>&1); rc=$?
if has pg; then
	t_eq "pg built: an unreachable server could not complete" 3 "$rc"
else
	t_eq "pg not built: usage error" 2 "$rc"
	t_contains "pg not built: says so" "built without PostgreSQL support" "$out"
fi

# GMime: a report sent by mail is ingested, or quarantined saying why.
out=$($M report ingest --store "sqlite://$tmp/r.db" "$data/parsedmarc-google.com_smtp_tls_report.eml" 2>&1)
rc=$?
if has gmime; then
	t_eq "gmime built: the mail is ingested" 0 "$rc"
	t_contains "gmime built: as a report" "ingested as report" "$out"
else
	t_eq "gmime not built: the mail is quarantined (exit 1)" 1 "$rc"
	t_contains "gmime not built: says so" "built without GMime" "$out"
fi
# JSON reports need none of them.
out=$($M report ingest --store "sqlite://$tmp/r.db" "$data/parsedmarc-rfc8460.json" 2>&1); rc=$?
t_eq "a JSON report is ingested in every build" 0 "$rc"
t_done
