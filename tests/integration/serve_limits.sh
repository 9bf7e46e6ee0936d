#!/bin/bash
# serve_limits.sh - the policy host against hostile clients: a client that
# trickles bytes is cut off at --max-time; at --max-connections the next
# client waits (its handshake does not start) until one ends, then is
# served; garbage instead of TLS, a flood of half-open connections and
# oversized requests leave the daemon serving.
set -u
. "$MTASTS_SOURCE_DIR/tests/lib.sh"
. "$RIG_ENV"
M=$MTASTS
tmp=$(mktemp -d /tmp/mtasts-serve-limits.XXXXXX)
. "$MTASTS_SOURCE_DIR/tests/integration/serve_lib.bash"
trap 'serve_stop_all; rm -rf "$tmp"' EXIT
export MTASTS_SERVE_STORE=sqlite://$tmp/serve.db
A=$RIG_PREFIX.44
P=/.well-known/mta-sts.txt
code() { curl -sS --max-time 5 -o /dev/null -w '%{http_code}' --cacert "$RIG_CA_FILE" \
	--resolve "mta-sts.one.test:443:$A" "https://mta-sts.one.test$P" 2>/dev/null; }
$M serve init --zone svc.test --service mta-sts.svc.test >/dev/null
$M serve domain add one.test --mx mx.one.test >/dev/null
serve_cert mta-sts.one.test "$tmp/one"
$M serve cert import mta-sts.one.test --key "$tmp/one.key" --chain "$tmp/one.chain" >/dev/null
serve_start "$tmp/s.log" --listen "$A:443" --http none --refresh 1 --max-connections 4 \
	--max-time 3 --resolver "$RIG_RESOLVER" || exit 1
t_contains "the cap is said at start" "max_connections=4" "$(cat "$tmp/s.log")"
t_eq "serving" 200 "$(code)"

# Four TLS connections held open (handshake done, then silent... but
# trickling a byte a second, so the idle timeout alone would never end them).
python3 - "$A" "$RIG_CA_FILE" >"$tmp/hold.out" 2>&1 <<'PY' &
import socket, ssl, sys, time
addr, ca = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
held = []
for i in range(4):
    s = ctx.wrap_socket(socket.create_connection((addr, 443), timeout=5),
                        server_hostname="mta-sts.one.test")
    s.sendall(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.one.test\r\nX-")
    held.append(s)
print("held", len(held), flush=True)
start = time.time()
closed = [None] * 4
while time.time() - start < 10 and None in closed:
    for i, s in enumerate(held):
        if closed[i] is not None:
            continue
        try:
            s.sendall(b"a")
            s.settimeout(0.01)
            if s.recv(1) == b"":
                closed[i] = time.time() - start
        except (socket.timeout, ssl.SSLWantReadError):
            pass
        except OSError:
            closed[i] = time.time() - start
    time.sleep(0.5)
print("closed", " ".join("%.1f" % c if c is not None else "never" for c in closed), flush=True)
PY
holder=$!
for _ in $(seq 50); do grep -q held "$tmp/hold.out" && break; sleep 0.1; done
t_contains "four connections held" "held 4" "$(cat "$tmp/hold.out")"
# The fifth: TCP connects (the backlog), the handshake waits for a free slot.
start=$(date +%s.%N)
c=$(code)
end=$(date +%s.%N)
t_eq "at the cap, the next client is served once a slot frees" 200 "$c"
t_eq "and it waited for one (the held ones end at --max-time 3 s)" 1 \
	"$(awk -v a="$start" -v b="$end" 'BEGIN { print (b - a > 1) ? 1 : 0 }')"
wait "$holder"
t_contains "trickling clients are cut off" "closed" "$(cat "$tmp/hold.out")"
t_lacks "none of them lasted" "never" "$(cat "$tmp/hold.out")"
t_contains "the log says so" "event=at_cap" "$(cat "$tmp/s.log")"

# Garbage instead of a ClientHello, half-open connections, a huge request.
for _ in $(seq 20); do
	(exec 3<>"/dev/tcp/$A/443" && head -c 3000 /dev/urandom >&3 && timeout 2 cat <&3 >/dev/null) 2>/dev/null
done
t_eq "after garbage: serving" 200 "$(code)"
python3 - "$A" <<'PY'
import socket, sys, time
socks = []
for i in range(200):
    try:
        socks.append(socket.create_connection((sys.argv[1], 443), timeout=2))
    except OSError:
        break
time.sleep(4)  # past --max-time: every half-open connection is cut
for s in socks:
    s.close()
PY
t_eq "after 200 half-open connections: serving" 200 "$(code)"
t_eq "a 100 KiB header: refused, not served" 1 \
	"$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' --cacert "$RIG_CA_FILE" \
	--resolve "mta-sts.one.test:443:$A" -H "X-Big: $(head -c 100000 /dev/zero | tr '\0' a)" \
	"https://mta-sts.one.test$P" 2>/dev/null | grep -vc 200)"
t_eq "and still serving" 200 "$(code)"
kill -0 "$serve_pid" && t_ok "the daemon is alive" || t_fail "the daemon is alive"
t_done
