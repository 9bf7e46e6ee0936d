#!/bin/bash
# mtasts report: ingest, list, show end to end, with hostile inputs and a kill -9.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
M=$MTASTS
data=$MTASTS_SOURCE_DIR/tests/data/tlsrpt
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
S=sqlite://$tmp/r.db
q() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$1" "$2"; }

# The real reports (and the real report mail): the two copies of the RFC's
# example are one report.
out=$($M report ingest --store "$S" "$data"); rc=$?
t_eq "real reports ingest, exit 0" 0 "$rc"
t_contains "totals" "9 ingested, 1 duplicate, 0 quarantined" "$out"
t_contains "the .eml is read as mail" "google.com_smtp_tls_report.eml: ingested" "$out"
t_eq "9 reports" 9 "$(q "$tmp/r.db" 'SELECT COUNT(*) FROM reports')"
t_eq "10 policies" 10 "$(q "$tmp/r.db" 'SELECT COUNT(*) FROM policies')"
t_eq "8 failure details" 8 "$(q "$tmp/r.db" 'SELECT COUNT(*) FROM failure_details')"
t_eq "successful sessions" 5381 "$(q "$tmp/r.db" 'SELECT SUM(successful) FROM policies')"
t_eq "failed sessions" 310 "$(q "$tmp/r.db" 'SELECT SUM(failed) FROM policies')"
t_eq "findings" 14 "$(q "$tmp/r.db" 'SELECT COUNT(*) FROM findings')"
t_eq "mismatch finding on mail.ru" 1 "$(q "$tmp/r.db" "SELECT COUNT(*) FROM findings WHERE code='report.totals.mismatch'")"
t_eq "schema version" 1 "$(q "$tmp/r.db" 'SELECT MAX(version) FROM schema_version')"
t_eq "WAL" wal "$(q "$tmp/r.db" 'PRAGMA journal_mode')"
out=$($M report ingest --store "$S" "$data"); rc=$?
t_eq "second ingest exit 0" 0 "$rc"
t_contains "second time all duplicates" "0 ingested, 10 duplicates, 0 quarantined" "$out"

# list and show
out=$($M report list --store "$S")
t_contains "list shows Mail.ru" "Mail.ru" "$out"
t_contains "list count" "9 reports" "$out"
out=$($M report list --store "$S" --domain FOO-BAR.IO. --json)
t_eq "list --domain" 2 "$(printf '%s' "$out" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
id=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
out=$($M report show "$id" --store "$S")
t_contains "show text" "Google Inc." "$out"
mid=$($M report list --store "$S" --domain random.net --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
out=$($M report show --json "$mid" --store "$S")
t_contains "show json unpacked tlsa" '"3 1 1 6007EEE553E85D8DF007A845D19EC343283D4E416E9A33F9EF3040C8B7C285BC"' "$out"
t_contains "show json findings" 'report.policy_string.packed' "$out"
t_exit "show unknown id exits 1" 1 $M report show 999 --store "$S"
t_exit "show bad id exits 2" 2 $M report show abc --store "$S"
t_exit "unknown scheme exits 2" 2 $M report list --store redis://x
t_exit "unwritable store exits 3" 3 $M report list --store sqlite:///nonexistent-dir/x/r.db
# ingest as a Postfix pipe(8) transport: a store that fails is EX_TEMPFAIL
# (75), which Postfix defers and retries, never a bounce.
t_exit "ingest, store cannot open: 75" 75 $M report ingest --store sqlite:///nonexistent-dir/x/r.db - <"$data/parsedmarc-google.com_smtp_tls_report.eml"
mkdir -p "$tmp/a-directory.db"
t_exit "ingest, store is a directory: 75" 75 $M report ingest --store "sqlite://$tmp/a-directory.db" "$data"
t_exit "no path exits 2" 2 $M report ingest --store "$S"
t_exit "--json is not for ingest" 2 $M report ingest --json --store "$S" "$data"
(cd "$tmp" && MTASTS_STORE="sqlite://$tmp/env.db" $M report ingest "$data/reportviewer-google.json" >/dev/null)
[ -f "$tmp/env.db" ] && t_ok "MTASTS_STORE is the default" || t_fail "MTASTS_STORE is the default"
(cd "$tmp" && $M report ingest "$data/reportviewer-google.json" >/dev/null)
[ -f "$tmp/mtasts-reports.db" ] && t_ok "./mtasts-reports.db is the fallback" || t_fail "./mtasts-reports.db is the fallback"

# A stranger's absurd counts saturate: they must not make every listing fail.
P='{"policy":{"policy-type":"no-policy-found","policy-domain":"a.example"},"summary":{"total-successful-session-count":9000000000000000000,"total-failure-session-count":0}}'
printf '{"organization-name":"x","report-id":"big","policies":[%s,%s,%s]}' "$P" "$P" "$P" | $M report ingest --store "sqlite://$tmp/big.db" - >/dev/null
out=$($M report list --store "sqlite://$tmp/big.db"); rc=$?
t_eq "huge counts do not break list" 0 "$rc"
t_contains "huge counts saturate" "9223372036854775807" "$out"

# gzip by content, from a file and from standard input
S2=sqlite://$tmp/g.db
gzip -c "$data/reportviewer-google.json" >"$tmp/google.bin"
out=$($M report ingest --store "$S2" "$tmp/google.bin"); rc=$?
t_eq "gzip sniffed, not named" 0 "$rc"
t_contains "gzip ingested" "1 ingested" "$out"
out=$(gzip -c "$data/parsedmarc-mail.ru.json" | $M report ingest --store "$S2" -); rc=$?
t_eq "gzip on stdin" 0 "$rc"
t_contains "stdin named" "<stdin>: ingested" "$out"

# Mail messages: on standard input, several reports in one, none at all.
S5=sqlite://$tmp/m.db
out=$($M report ingest --store "$S5" - <"$data/parsedmarc-google.com_smtp_tls_report.eml"); rc=$?
t_eq "mail on stdin exits 0" 0 "$rc"
t_contains "mail on stdin" "<stdin>: ingested as report 1 (Google Inc." "$out"
json64() { printf '{"organization-name":"O","report-id":"%s","policies":[]}' "$1" | base64 -w0; }
{
	printf 'From: r@example.net\r\nMIME-Version: 1.0\r\n'
	printf 'Content-Type: multipart/report; report-type=tlsrpt; boundary="B"\r\n\r\n'
	printf -- '--B\r\nContent-Type: text/plain\r\n\r\nTwo reports.\r\n'
	printf -- '--B\r\nContent-Type: application/tlsrpt+json\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n' "$(json64 m1)"
	printf -- '--B\r\nContent-Type: application/gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n' \
		"$(printf '{"organization-name":"O","report-id":"m2","policies":[]}' | gzip -c | base64 -w0)"
	printf -- '--B--\r\n'
} >"$tmp/two.eml"
out=$($M report ingest --store "$S5" "$tmp/two.eml"); rc=$?
t_eq "two-report mail exits 0" 0 "$rc"
t_contains "first part named" "two.eml#1: ingested" "$out"
t_contains "second part named" "two.eml#2: ingested" "$out"
t_eq "mislabelled part noted" 1 "$(q "$tmp/m.db" "SELECT COUNT(*) FROM findings WHERE code='report.mail.content_type'")"
printf 'From: r@example.net\r\nContent-Type: text/plain\r\n\r\nNo report here.\r\n' >"$tmp/none.eml"
out=$($M report ingest --store "$S5" "$tmp/none.eml" "$tmp/two.eml"); rc=$?
t_eq "mail without a report exits 1" 1 "$rc"
t_contains "mail without a report quarantined" "none.eml: quarantined: mail: no report part" "$out"
t_contains "its neighbours still read" "0 ingested, 2 duplicates, 1 quarantined" "$out"

# A batch of bad inputs among good ones: each quarantined, the good ones stored.
mkdir -p "$tmp/batch/sub"
cp "$data/parsedmarc-smtp_tls.json" "$tmp/batch/a-good.json"
gzip -c "$data/reportviewer-no-contact.json" >"$tmp/batch/sub/b-good.json.gz"
gzip -c "$data/parsedmarc-rfc8460.json" | head -c 200 >"$tmp/batch/c-truncated.json.gz"
head -c 50000000 /dev/zero | gzip -9 >"$tmp/batch/d-bomb.json.gz"
printf '{"policies":[],"organization-name":"\xff\xfe"}' >"$tmp/batch/e-utf8.json"
python3 -c 'print("{\"policies\":" + "["*40 + "]"*40 + "}")' >"$tmp/batch/f-deep.json"
printf '{"hello":"world"}' >"$tmp/batch/g-notreport.json"
printf 'not json at all' >"$tmp/batch/h-text.json"
printf 'ignored' >"$tmp/batch/i-ignored.txt"
python3 -c '
print("From: a@b\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n", end="")
for i in range(1, 41): print("--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i - 1, i), end="")' >"$tmp/batch/j-deep.eml"
S3=sqlite://$tmp/b.db
out=$($M report ingest --store "$S3" "$tmp/batch"); rc=$?
t_eq "batch with bad inputs exits 1" 1 "$rc"
t_contains "batch totals" "2 ingested, 0 duplicates, 7 quarantined" "$out"
t_contains "deep mail" "j-deep.eml: quarantined: mail: more than" "$out"
t_contains "truncated gzip" "c-truncated.json.gz: quarantined: gzip: truncated" "$out"
t_contains "gzip bomb" "d-bomb.json.gz: quarantined: gzip: expands more than" "$out"
t_contains "invalid UTF-8" "e-utf8.json: quarantined: not UTF-8" "$out"
t_contains "deep nesting" "f-deep.json: quarantined: JSON nested deeper" "$out"
t_contains "not a report" "g-notreport.json: quarantined: not a report" "$out"
t_contains "not JSON" "h-text.json: quarantined: not JSON" "$out"
t_lacks "other names skipped in directories" "i-ignored" "$out"
t_eq "quarantine rows" 7 "$(q "$tmp/b.db" 'SELECT COUNT(*) FROM quarantine')"
t_eq "good ones stored" 2 "$(q "$tmp/b.db" 'SELECT COUNT(*) FROM reports')"
t_exit "a named file is read whatever its name" 1 $M report ingest --store "$S3" "$tmp/batch/i-ignored.txt"

# A second copy of a stored report (same organization and report-id) is a
# duplicate when it says the same, however it is written; one that says
# something else is quarantined, and the first copy stays as it was.
S7=sqlite://$tmp/conflict.db
python3 - "$data/parsedmarc-rfc8460.json" "$tmp" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
json.dump(r, open(sys.argv[2] + "/c-first.json", "w"))
# The same report reordered, re-indented, mx-host an array instead of a string.
same = dict(reversed(list(r.items())))
for p in same["policies"]:
    if isinstance(p["policy"].get("mx-host"), str):
        p["policy"]["mx-host"] = [p["policy"]["mx-host"]]
json.dump(same, open(sys.argv[2] + "/c-same.json", "w"), indent=4)
other = json.loads(json.dumps(r))
other["policies"][0]["summary"]["total-failure-session-count"] += 1000
json.dump(other, open(sys.argv[2] + "/c-other.json", "w"))
PY
$M report ingest --store "$S7" "$tmp/c-first.json" >/dev/null
out=$($M report ingest --store "$S7" "$tmp/c-same.json"); rc=$?
t_eq "same report written otherwise: exit 0" 0 "$rc"
t_contains "same report written otherwise: a duplicate" "c-same.json: duplicate of report 1" "$out"
out=$($M report ingest --store "$S7" "$tmp/c-other.json"); rc=$?
t_eq "same report-id, other content: exit 1" 1 "$rc"
t_contains "same report-id, other content: quarantined with the finding" \
	"c-other.json: quarantined: report.report_id.conflict: Company-X report-id 5065427c-23d3-47ca-b6e0-946ea0e8c4be is stored as report 1 with other content" "$out"
t_eq "the conflicting copy is kept in the quarantine" "$(wc -c <"$tmp/c-other.json")" \
	"$(q "$tmp/conflict.db" "SELECT length(raw) FROM quarantine WHERE reason LIKE 'report.report_id.conflict:%'")"
t_eq "the first copy stays" "1|$(wc -c <"$tmp/c-first.json")" "$(q "$tmp/conflict.db" "SELECT COUNT(*) || '|' || MAX(length(raw)) FROM reports")"
out=$($M report ingest --store "$S7" "$tmp/c-first.json"); rc=$?
t_contains "the first copy again: still a duplicate" "c-first.json: duplicate of report 1" "$out"

# A mail of a million tiny MIME parts (7 MB), or of a million header
# fields, is refused while it is parsed: GMime built every part first (1.3
# GB and 8 s) and only then were they counted. Peak memory must stay in
# proportion to the input.
python3 - "$tmp" <<'PY'
import sys
head = 'From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=tlsrpt; boundary="b"\r\n\r\n'
with open(sys.argv[1] + "/parts.eml", "w") as f:
    f.write(head + "--b\r\n\r\n" * 1000000 + "--b--\r\n")
with open(sys.argv[1] + "/headers.eml", "w") as f:
    f.write("From: a@b\r\n" + "X-A: b\r\n" * 1000000 + "Content-Type: text/plain\r\n\r\nx\r\n")
PY
peak() { # CMD...: run it, print "STATUS MAX-RSS-MB" and leave its output in $tmp/peak.out
	python3 -c 'import resource, subprocess, sys
p = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], "w"))
print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)' "$tmp/peak.out" "$@"
}
read -r rc mb < <(peak timeout 60 $M report ingest --store "sqlite://$tmp/parts.db" "$tmp/parts.eml")
t_eq "a million MIME parts: exit 1" 1 "$rc"
t_contains "a million MIME parts: quarantined at the part limit" "parts.eml: quarantined: mail: more than 64 MIME parts" "$(cat "$tmp/peak.out")"
[ "$mb" -lt 300 ] && t_ok "a million MIME parts: peak memory ${mb} MB (< 300)" || t_fail "a million MIME parts: peak memory ${mb} MB (want < 300)"
read -r rc mb < <(peak timeout 60 $M report ingest --store "sqlite://$tmp/parts.db" "$tmp/headers.eml")
t_eq "a million header fields: exit 1" 1 "$rc"
t_contains "a million header fields: quarantined at the header limit" "headers.eml: quarantined: mail: more than 64 MIME parts or 1000 header fields" "$(cat "$tmp/peak.out")"
[ "$mb" -lt 300 ] && t_ok "a million header fields: peak memory ${mb} MB (< 300)" || t_fail "a million header fields: peak memory ${mb} MB (want < 300)"

# What is not a regular file or a directory is quarantined unread, whatever
# its name: a FIFO would block the batch forever. timeout turns a hang into
# a failure.
mkdir -p "$tmp/odd"
cp "$data/parsedmarc-smtp_tls.json" "$tmp/odd/a-good.json"
mkfifo "$tmp/odd/b-fifo.json"
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$tmp/odd/c-socket.json"
ln -s /dev/zero "$tmp/odd/d-device.json"
ln -s "$tmp/odd/nowhere" "$tmp/odd/e-dangling.json"
mkfifo "$tmp/odd/f-fifo.txt"
S6=sqlite://$tmp/odd.db
out=$(timeout 20 $M report ingest --store "$S6" "$tmp/odd"); rc=$?
t_eq "FIFO, socket, device in a directory: exit 1, no hang" 1 "$rc"
t_contains "FIFO quarantined" "b-fifo.json: quarantined: a FIFO, not read" "$out"
t_contains "socket quarantined" "c-socket.json: quarantined: a socket, not read" "$out"
t_contains "device quarantined" "d-device.json: quarantined: a character device, not read" "$out"
t_contains "dangling link quarantined" "e-dangling.json: quarantined: No such file or directory" "$out"
t_lacks "other names still ignored" "f-fifo.txt" "$out"
t_contains "odd batch totals" "1 ingested, 0 duplicates, 4 quarantined" "$out"
t_eq "odd files in the quarantine" 4 "$(q "$tmp/odd.db" "SELECT COUNT(*) FROM quarantine WHERE raw IS NULL")"

# Symbolic links back up the tree are followed once: two links to . made
# 2^32 paths, each reading the same report again.
mkdir -p "$tmp/loop/sub"
cp "$data/parsedmarc-smtp_tls.json" "$tmp/loop/sub/r.json"
ln -s . "$tmp/loop/a"
ln -s . "$tmp/loop/b"
ln -s .. "$tmp/loop/sub/up"
ln -s sub "$tmp/loop/c"
out=$(timeout 20 $M report ingest --store "sqlite://$tmp/loop.db" "$tmp/loop"); rc=$?
t_eq "symlink loops: exit 0, no hang" 0 "$rc"
t_contains "symlink loops: the report read once" "1 ingested, 0 duplicates, 0 quarantined" "$out"
t_contains "a link to a directory already read is not followed" "loop/a: not followed: a directory already read" "$out"
t_contains "a link up the tree is not followed" "loop/c/up: not followed: a directory already read" "$out"

# A tree deeper than the walk follows is not silently cut: the directory
# not followed is quarantined and the exit status says so.
deep=$tmp/deep
for i in $(seq 1 34); do deep=$deep/d$i; done
mkdir -p "$deep"
cp "$data/parsedmarc-smtp_tls.json" "$deep/r.json"
cp "$data/reportviewer-google.json" "$tmp/deep/top.json"
out=$($M report ingest --store "sqlite://$tmp/deep.db" "$tmp/deep"); rc=$?
t_eq "too deep: exit 1" 1 "$rc"
t_contains "too deep: quarantined with the reason" "/d32: quarantined: more than 32 directory levels, not followed" "$out"
t_contains "too deep: the rest ingested" "1 ingested, 0 duplicates, 1 quarantined" "$out"

# The quarantine keeps at most 256 MiB of bodies: past it a row keeps its
# source and reason, and says the body was not kept.
mkdir -p "$tmp/junk"
head -c 31000000 /dev/zero >"$tmp/junk/j1.json"
for i in 2 3 4 5 6 7 8 9; do ln "$tmp/junk/j1.json" "$tmp/junk/j$i.json"; done
out=$($M report ingest --store "sqlite://$tmp/junk.db" "$tmp/junk"); rc=$?
t_eq "junk quarantined: exit 1" 1 "$rc"
t_eq "bodies kept up to the cap" "8 248000000" "$(q "$tmp/junk.db" "SELECT COUNT(raw) || ' ' || SUM(length(raw)) FROM quarantine")"
t_contains "the row past the cap is quarantined too" "j9.json: quarantined: " "$out"
t_eq "the row past the cap keeps source and reason" 1 "$(q "$tmp/junk.db" "SELECT COUNT(*) FROM quarantine WHERE raw IS NULL AND source LIKE '%j9.json' AND reason LIKE '%(body not kept: the quarantine holds 256 MiB of bodies)'")"
rm -rf "$tmp/junk" "$tmp/junk.db"

# kill -9 in the middle of a long ingest: the store stays whole, and a second
# run stores exactly what the first did not.
mkdir -p "$tmp/many"
python3 - "$data/parsedmarc-rfc8460.json" "$tmp/many" <<'PY'
import json, sys
base = json.load(open(sys.argv[1]))
for i in range(1500):
    base["report-id"] = "kill-test-%05d" % i
    json.dump(base, open("%s/r%05d.json" % (sys.argv[2], i), "w"))
PY
S4=sqlite://$tmp/k.db
$M report ingest --store "$S4" "$tmp/many" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 200); do
	n=$(q "$tmp/k.db" 'SELECT COUNT(*) FROM reports' 2>/dev/null || echo 0)
	[ "${n:-0}" -ge 100 ] && break
	sleep 0.05
done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
before=$(q "$tmp/k.db" 'SELECT COUNT(*) FROM reports')
t_eq "integrity after kill -9" ok "$(q "$tmp/k.db" 'PRAGMA integrity_check')"
[ "$before" -gt 0 ] && [ "$before" -lt 1500 ] && t_ok "killed midway ($before of 1500)" || t_fail "killed midway ($before of 1500)"
t_eq "no half-stored report" 0 "$(q "$tmp/k.db" 'SELECT COUNT(*) FROM reports r WHERE NOT EXISTS (SELECT 1 FROM policies p WHERE p.report = r.id)')"
out=$($M report ingest --store "$S4" "$tmp/many"); rc=$?
t_eq "re-ingest exits 0" 0 "$rc"
t_contains "re-ingest stores exactly the missing ones" "$((1500 - before)) ingested, $before duplicate$([ "$before" = 1 ] || echo s), 0 quarantined" "$out"
t_eq "all stored once" 1500 "$(q "$tmp/k.db" 'SELECT COUNT(*) FROM reports')"
t_eq "failure details of all" 4500 "$(q "$tmp/k.db" 'SELECT COUNT(*) FROM failure_details')"
# Every report finding code is documented.
for code in $(grep -oE '"report\.[a-z_.]+"' "$MTASTS_SOURCE_DIR/include/mtasts/codes_report.def" | tr -d '"'); do
	grep -qF "\`$code\`" "$MTASTS_SOURCE_DIR/docs/FINDINGS.md" && t_ok "$code in FINDINGS.md" || t_fail "$code in FINDINGS.md"
done
t_done
