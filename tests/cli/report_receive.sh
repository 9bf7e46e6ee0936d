#!/bin/bash
# mtasts report receive: the RFC 8460 §5.4 endpoint on loopback with a
# certificate made here, each answer, a slow client, SIGTERM, and a kill -9
# in the middle of a batch that must lose nothing acknowledged.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$MTASTS_SOURCE_DIR/tests/receive_lib.bash"
M=$MTASTS
data=$MTASTS_SOURCE_DIR/tests/data/tlsrpt
gen=$MTASTS_SOURCE_DIR/tests/gen-reports.py
tmp=$(mktemp -d)
pids=()
cleanup() { local p; for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
q() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$1" "$2"; }

receive_setup
# start LOG ARGS...: run receive in the background, wait for its port.
start() {
	receive_start "$@"
	pids+=("$PID")
}
post() { # CONTENT-TYPE FILE [extra curl args]: prints "STATUS BODY"
	local ct=$1 file=$2; shift 2
	curl -sS --max-time 20 --cacert "$tmp/cert.pem" --resolve "tlsrpt.test:$PORT:$ADDR" \
		-H "Content-Type: $ct" --data-binary "@$file" -o "$tmp/body" -w '%{http_code}' "$@" "$URL"
	printf ' %s' "$(cat "$tmp/body" 2>/dev/null)"
}

S=$tmp/r.db
start "$tmp/log" --store "sqlite://$S" --max-body 100000 --timeout 2
[ -n "$PORT" ] && t_ok "listening on $ADDR:$PORT" || { t_fail "receive did not start" "$(cat "$tmp/log")"; t_done; exit 1; }
gzip -c "$data/reportviewer-google.json" >"$tmp/google.gz"
t_contains "json: 200 once stored" "200 stored as report 1" "$(post application/tlsrpt+json "$data/parsedmarc-rfc8460.json")"
t_contains "gzip: 200 once stored" "200 stored as report 2" "$(post application/tlsrpt+gzip "$tmp/google.gz")"
t_contains "a resent report: 200, duplicate" "200 duplicate of report 2" "$(post 'application/tlsrpt+gzip; x=y' "$tmp/google.gz")"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r["policies"][0]["summary"]["total-successful-session-count"]=1; json.dump(r, sys.stdout)' \
	"$data/parsedmarc-rfc8460.json" >"$tmp/conflict.json"
t_contains "same report-id, other content: 409, quarantined" "409 report.report_id.conflict: Company-X report-id 5065427c-23d3-47ca-b6e0-946ea0e8c4be is stored as report 1 with other content (quarantined)" \
	"$(post application/tlsrpt+json "$tmp/conflict.json")"
t_eq "the conflicting copy is in the quarantine" 1 "$(q "$S" "SELECT COUNT(*) FROM quarantine WHERE reason LIKE 'report.report_id.conflict:%'")"
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("DELETE FROM quarantine"); c.commit()' "$S"
t_eq "two reports stored" 2 "$(q "$S" 'SELECT COUNT(*) FROM reports')"
t_eq "sessions stored" "$(python3 -c 'import json; r=json.load(open("'"$data/reportviewer-google.json"'")); print(sum(p["summary"]["total-successful-session-count"] for p in r["policies"]))')" \
	"$(q "$S" "SELECT SUM(successful) FROM policies p JOIN reports r ON r.id = p.report WHERE r.organization = 'Google Inc.'")"
t_contains "another media type: 415" "415 Content-Type must be application/tlsrpt+gzip or application/tlsrpt+json" "$(post application/json "$data/parsedmarc-rfc8460.json")"
printf '{"hello":"world"}' >"$tmp/notreport.json"
t_contains "not a report: 400" "400 not a report" "$(post application/tlsrpt+json "$tmp/notreport.json")"
gzip -c "$data/parsedmarc-rfc8460.json" | head -c 100 >"$tmp/trunc.gz"
t_contains "truncated gzip: 400" "400 not a report: gzip: truncated" "$(post application/tlsrpt+gzip "$tmp/trunc.gz")"
head -c 20000000 /dev/zero | gzip -9 >"$tmp/bomb.gz"
t_contains "gzip bomb: 413" "413 not a report: gzip: expands more than" "$(post application/tlsrpt+gzip "$tmp/bomb.gz")"
t_eq "bad reports quarantined" 3 "$(q "$S" 'SELECT COUNT(*) FROM quarantine')"
t_contains "quarantine keeps the reason" "gzip: truncated" "$(q "$S" "SELECT reason FROM quarantine ORDER BY id LIMIT 1 OFFSET 1")"
t_contains "quarantine names the sender" "https POST from 127." "$(q "$S" "SELECT source FROM quarantine ORDER BY id LIMIT 1")"
head -c 200000 /dev/urandom >"$tmp/big.bin"
t_contains "over --max-body: 413" "413" "$(post application/tlsrpt+json "$tmp/big.bin" 2>/dev/null)"
t_contains "chunked over --max-body: 413" "413" "$(post application/tlsrpt+json "$tmp/big.bin" -H 'Transfer-Encoding: chunked' 2>/dev/null)"
out=$(curl -sS --cacert "$tmp/cert.pem" --resolve "tlsrpt.test:$PORT:$ADDR" -o /dev/null -w '%{http_code}' "$URL")
t_eq "GET: 405" 405 "$out"
t_eq "nothing else stored" 2 "$(q "$S" 'SELECT COUNT(*) FROM reports')"

# A client that sends half a request is dropped after --timeout.
slow=$(python3 - "$ADDR" "$PORT" <<'PY'
import socket, ssl, sys, time
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection((sys.argv[1], int(sys.argv[2]))), server_hostname="tlsrpt.test")
s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
t = time.time(); s.settimeout(10)
try:
    while s.recv(100): pass
except Exception: pass
print("closed" if time.time() - t < 6 else "still open")
PY
)
t_eq "a slow client is dropped" closed "$slow"
t_contains "still serving after it" "200 duplicate of report 1" "$(post application/tlsrpt+json "$data/parsedmarc-rfc8460.json")"

# SIGTERM: stop accepting, exit 0.
kill -TERM "$PID"; wait "$PID"; rc=$?
t_eq "SIGTERM: exit 0" 0 "$rc"
t_contains "says it stopped" "receive: stopped" "$(cat "$tmp/log")"
t_contains "one log line per request" "status=415 result=media-type" "$(cat "$tmp/log")"

# Usage and start-up errors.
t_exit "no --listen" 2 $M report receive --cert "$tmp/cert.pem" --key "$tmp/key.pem"
t_exit "bad --listen" 2 $M report receive --listen localhost:80 --cert "$tmp/cert.pem" --key "$tmp/key.pem"
t_exit "bad --max-body" 2 $M report receive --listen "$ADDR:0" --cert "$tmp/cert.pem" --key "$tmp/key.pem" --max-body 99999999999
out=$($M report receive --listen "$ADDR:0" --cert "$tmp/nope.pem" --key "$tmp/key.pem" --store "sqlite://$S" 2>&1); rc=$?
t_eq "missing certificate: exit 3" 3 "$rc"
t_contains "names the file" "nope.pem: cannot load the certificate chain" "$out"

# A client that trickles its request a byte at a time, never idle for
# --timeout, is cut off after --request-timeout all the same.
start "$tmp/slog" --store "sqlite://$tmp/s.db" --timeout 2 --request-timeout 3
trickle=$(python3 - "$ADDR" "$PORT" <<'PY'
import socket, ssl, sys, time
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection((sys.argv[1], int(sys.argv[2]))), server_hostname="tlsrpt.test")
t = time.time()
try:
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\n")
    while time.time() - t < 12:
        s.sendall(b"X"); time.sleep(0.5)
    print("still open after 12 s")
except OSError:
    print("cut off after %d s" % round(time.time() - t))
PY
)
case $trickle in "cut off after "[3-5]" s") t_ok "a trickling client is cut off after --request-timeout ($trickle)" ;; *) t_fail "a trickling client is cut off after --request-timeout" "$trickle" ;; esac
t_contains "the cut is logged" "result=cut-off request-timeout=3s" "$(cat "$tmp/slog")"
t_contains "still serving after it" "200 stored as report 1" "$(post application/tlsrpt+json "$data/parsedmarc-rfc8460.json")"
# A chunked body far over --max-body: 413, read to the end, not a reset.
head -c 19000000 /dev/urandom >"$tmp/huge.bin"
kill -TERM "$PID"; wait "$PID"
start "$tmp/clog" --store "sqlite://$tmp/s.db" --max-body 100000
t_eq "19 MB chunked over --max-body: 413" 413 "$(post application/tlsrpt+json "$tmp/huge.bin" -H 'Transfer-Encoding: chunked' 2>&1 | head -c3)"
t_eq "19 MB chunked over --max-body, again: 413" 413 "$(post application/tlsrpt+json "$tmp/huge.bin" -H 'Transfer-Encoding: chunked' 2>&1 | head -c3)"
kill -TERM "$PID"; wait "$PID"

# Large reports are decoded and stored by workers: while three 20 MB
# reports are being stored, another client is answered at once (the loop
# used to do it all, and everyone waited a second or more).
python3 - "$tmp" <<'PY'
import gzip, json, sys
fails = [{"result-type": "certificate-expired", "sending-mta-ip": "192.0.2.%d" % (i % 250),
          "receiving-mx-hostname": "mx%d.example.net" % i, "failed-session-count": 1,
          "additional-information": "x" * 60} for i in range(75000)]
for n in range(3):
    r = {"organization-name": "Big", "report-id": "big-%d" % n, "contact-info": "x@example.net",
         "date-range": {"start-datetime": "2026-11-01T00:00:00Z", "end-datetime": "2026-11-02T00:00:00Z"},
         "policies": [{"policy": {"policy-type": "sts", "policy-domain": "example.net",
                                  "policy-string": ["version: STSv1", "mode: testing"], "mx-host": ["*.example.net"]},
                       "summary": {"total-successful-session-count": 1, "total-failure-session-count": 75000},
                       "failure-details": fails}]}
    gzip.open("%s/big%d.gz" % (sys.argv[1], n), "wt").write(json.dumps(r))
PY
start "$tmp/wlog" --store "sqlite://$tmp/w.db"
posters=()
for n in 0 1 2; do
	curl -sS --max-time 60 --cacert "$tmp/cert.pem" --resolve "tlsrpt.test:$PORT:$ADDR" -H 'Content-Type: application/tlsrpt+gzip' \
		--data-binary "@$tmp/big$n.gz" -o /dev/null -w '%{http_code} %{time_total}\n' "$URL" >"$tmp/big$n.out" &
	posters+=($!)
done
sleep 0.3
other=$(curl -sS --max-time 60 --cacert "$tmp/cert.pem" --resolve "tlsrpt.test:$PORT:$ADDR" -o /dev/null -w '%{http_code} %{time_total}' "$URL")
wait "${posters[@]}"
bigs=$(cat "$tmp"/big?.out | tr '\n' ' ')
t_eq "the three large reports stored" "200 200 200" "$(cat "$tmp"/big?.out | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//')"
python3 -c 'import sys; sys.exit(not float(sys.argv[1]) < 0.4)' "${other#* }" &&
	t_ok "another client answered at once while they are stored (${other#* } s; theirs: $bigs)" ||
	t_fail "another client answered at once while they are stored (${other#* } s; theirs: $bigs)"
t_eq "their failure details all stored" 225000 "$(q "$tmp/w.db" 'SELECT COUNT(*) FROM failure_details')"
kill -TERM "$PID"; wait "$PID"; rc=$?
t_eq "workers stopped: exit 0" 0 "$rc"

# At --max-connections the server stops accepting: the next connection
# waits in the backlog, and is served once another one has gone.
start "$tmp/mlog" --store "sqlite://$tmp/s.db" --max-connections 2
t_contains "the cap is logged" "max-connections=2 " "$(cat "$tmp/mlog")"
capped=$(python3 - "$ADDR" "$PORT" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def conn(timeout):
    s = ctx.wrap_socket(socket.create_connection((sys.argv[1], int(sys.argv[2]))),
                        server_hostname="tlsrpt.test", do_handshake_on_connect=False)
    s.settimeout(timeout)
    return s
held = [conn(5), conn(5)]
for h in held: h.do_handshake()
third = conn(1.5)
try:
    third.do_handshake(); print("third served at once")
except (socket.timeout, TimeoutError):
    held[0].close()
    third.settimeout(5)
    try:
        third.do_handshake()
        third.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        print("third waited, then:", third.recv(12).decode())
    except Exception as e:
        print("third failed after waiting:", e)
PY
)
t_eq "the connection over the cap waits, then is served" "third waited, then: HTTP/1.1 405" "$capped"

# The soft descriptor limit is raised to the hard one, and the cap is
# derived from it; a --max-connections above it is refused.
printf '#!/bin/bash\nulimit %s\nexec %q "$@"\n' "-S -n 100" "$M" >"$tmp/soft100"
printf '#!/bin/bash\nulimit %s\nexec %q "$@"\n' "-n 80" "$M" >"$tmp/hard80"
chmod +x "$tmp/soft100" "$tmp/hard80"
hard=$(bash -c 'ulimit -H -n')
[ "$hard" = unlimited ] && hard=$(cat /proc/sys/fs/nr_open)
MTASTS=$tmp/soft100 receive_start "$tmp/flog" --store "sqlite://$tmp/s.db"
pids+=("$PID")
t_eq "soft descriptor limit raised to the hard one" "$hard" "$(awk '/^Max open files/ {print $4}' "/proc/$PID/limits")"
kill -TERM "$PID"; wait "$PID"
MTASTS=$tmp/hard80 receive_start "$tmp/flog2" --store "sqlite://$tmp/s.db"
pids+=("$PID")
t_contains "the cap follows the descriptor limit: (80 - 64) / 2" "max-connections=8 " "$(cat "$tmp/flog2")"
kill -TERM "$PID"; wait "$PID"
t_exit "--max-connections over what the descriptors allow: exit 2" 2 "$tmp/hard80" report receive --listen "$ADDR:0" --cert "$tmp/cert.pem" --key "$tmp/key.pem" --store "sqlite://$tmp/s.db" --max-connections 9

# --user: bound and key read as root, then real, effective and saved ids
# are the user's, and the store is written as that user.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	chmod 600 "$tmp/key.pem"
	chmod 711 "$tmp"
	mkdir -m 777 "$tmp/nobody"
	start "$tmp/ulog" --store "sqlite://$tmp/nobody/r.db" --user nobody
	[ -n "$PORT" ] || t_fail "--user: started" "$(cat "$tmp/ulog")"
	n=$(id -u nobody); g=$(id -g nobody)
	t_eq "--user: uid real, effective, saved, fs are nobody's" "$n $n $n $n" "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$PID/status")"
	t_eq "--user: gid real, effective, saved, fs are nobody's" "$g $g $g $g" "$(awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/$PID/status")"
	t_eq "--user: no other group" "$g" "$(awk '/^Groups:/ {print $2 $3}' "/proc/$PID/status")"
	t_contains "--user: still stores" "200 stored as report 1" "$(post application/tlsrpt+json "$data/parsedmarc-rfc8460.json")"
	t_eq "--user: the store belongs to the user" nobody "$(stat -c %U "$tmp/nobody/r.db")"
	kill -TERM "$PID"; wait "$PID"
	t_exit "--user unknown: exit 3" 3 $M report receive --listen "$ADDR:0" --cert "$tmp/cert.pem" --key "$tmp/key.pem" --store "sqlite://$tmp/nobody/r.db" --user no-such-user-here
else
	t_ok "--user checks skipped (not root, or no user nobody)"
fi

# kill -9 while two senders post 200 reports: every report answered 200
# is in the store, and nothing is stored twice.
python3 "$gen" "$tmp/batch" --count 200 --format gz --seed 3 >/dev/null
K=$tmp/k.db
start "$tmp/klog" --store "sqlite://$K"
receive_kill9_race "$tmp/batch" 40
acked=$(wc -l <"$tmp/race.acked")
stored=$(q "$K" 'SELECT COUNT(*) FROM reports')
[ "$acked" -ge 40 ] && [ "$acked" -lt 200 ] && t_ok "killed mid-batch ($acked acknowledged)" || t_fail "killed mid-batch ($acked acknowledged)"
missing=$(while read -r f; do
	id=$(gzip -dc "$f" | python3 -c 'import json,sys; print(json.load(sys.stdin)["report-id"])')
	[ "$(q "$K" "SELECT COUNT(*) FROM reports WHERE report_id = '$id'")" = 1 ] || echo "$id"
done <"$tmp/race.acked")
t_eq "every acknowledged report is stored" "" "$missing"
[ "$stored" -ge "$acked" ] && [ "$stored" -le $((acked + 2)) ] && t_ok "stored $stored, acknowledged $acked (at most the in-flight ones more)" || t_fail "stored $stored, acknowledged $acked"
t_eq "integrity after kill -9" ok "$(q "$K" 'PRAGMA integrity_check')"
# The senders send everything again to a new server: exactly the rest is stored.
start "$tmp/klog2" --store "sqlite://$K"
: >"$tmp/again"
receive_sender <(ls "$tmp/batch"/*.gz) "$tmp/again"
t_eq "resending: all 200 acknowledged" 200 "$(wc -l <"$tmp/again")"
t_eq "resending: 200 stored, none twice" 200 "$(q "$K" 'SELECT COUNT(*) FROM reports')"
kill -TERM "$PID"; wait "$PID"
t_done
