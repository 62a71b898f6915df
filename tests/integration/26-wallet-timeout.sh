#!/bin/sh
# A node that accepts connections but never answers must not hold the
# wallet: with --timeout-ms the wallet gives up on it, tries the next
# --node, and if none answers says so once, with advice (exit 3). A node
# that admits a transaction but never answers the POST: the wallet sends
# it to the next node, which recognises it, and follows it to its block.
# The stuck nodes are small Python servers; a real node is the live one.
# Run from the repository root after building.
set -eu

NAME=26-wallet-timeout
W=bin/carbon-wallet
for b in bin/carbon-wallet bin/carbon-node bin/carbon-genesis; do
	[ -x "$b" ] || { echo "$NAME: FAIL: $b not built" >&2; exit 1; }
done
if ! command -v python3 >/dev/null; then
	echo "$NAME: SKIP (python3 is not installed: it plays the stuck nodes)"
	exit 0
fi
tmp=$(mktemp -d)
pids=
# TERM, then KILL if a process has not stopped within 5 s (a test must
# never hang on a daemon).
stop_pid() {
	kill "$1" 2>/dev/null || return 0
	_i=0
	while kill -0 "$1" 2>/dev/null && [ $_i -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	for p in $pids; do stop_pid "$p"; done
	if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT INT TERM

fail() {
	echo "$NAME: FAIL: $*" >&2
	for l in "$tmp"/*.log; do [ -f "$l" ] && { echo "--- $l (tail)" >&2; tail -10 "$l" >&2; }; done
	exit 1
}

# A port below the ephemeral range (where the kernel picks the local ports
# of outgoing connections, so a free port there can be taken any moment),
# not listened on, and never handed out twice in this run (the record is a
# file: free_port runs in a subshell).
free_port() {
	_lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	[ "$_lo" -gt 12000 ] 2>/dev/null || _lo=32768
	while :; do
		_p=$(( 10000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % (_lo - 10000) ))
		grep -qx "$_p" "$tmp/ports.used" 2>/dev/null && continue
		ss -ltn 2>/dev/null | awk '{print $4}' | grep -q ":$_p\$" && continue
		echo "$_p" >>"$tmp/ports.used"
		echo "$_p"
		return
	done
}

# expect_rc RC MAX_S COMMAND...: exit code RC within MAX_S seconds.
expect_rc() {
	_want=$1
	_max=$2
	shift 2
	_rc=0
	_t0=$(date +%s%N)
	"$@" >"$tmp/out" 2>"$tmp/err" || _rc=$?
	_ms=$((($(date +%s%N) - _t0) / 1000000))
	[ "$_rc" -eq "$_want" ] || { cat "$tmp/out" "$tmp/err" >&2; fail "'$*' exited $_rc, expected $_want"; }
	[ "$_ms" -le $((_max * 1000)) ] || fail "'$*' took $_ms ms, expected at most $_max s"
}

# stuck.py PORT MODE [LIVE]: "silent" accepts connections and never
# answers; "post" passes GETs to LIVE and passes a POST on too, but never
# answers it (the node admitted the transaction; its answer is lost).
cat >"$tmp/stuck.py" <<'EOF'
import http.server, socketserver, sys, time, urllib.request
port, mode = int(sys.argv[1]), sys.argv[2]
live = sys.argv[3] if len(sys.argv) > 3 else None
if mode == "silent":
    import socket
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    held = []
    while True:
        held.append(s.accept()[0])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        with urllib.request.urlopen(live + self.path) as r:
            body = r.read()
            status = r.status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        path = self.path.split("?")[0] + "?wait_ms=0"
        req = urllib.request.Request(live + path, data=body,
                                     headers={"Content-Type": self.headers["Content-Type"]})
        try:
            urllib.request.urlopen(req).read()
        except Exception:
            pass
        time.sleep(60)
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
S(("127.0.0.1", port), H).serve_forever()
EOF

export HOME="$tmp/home"
export CARBON_PASSPHRASE=integration-wallet
mkdir -p "$HOME"
cat >"$tmp/desc.json" <<EOF
{
  "chain_id": "wallet-timeout-1",
  "tz_offset_s": 28800,
  "governor_threshold": 1,
  "members": [
    {"name": "city", "roles": ["validator", "governor", "issuer"], "modes": ["metro"]}
  ]
}
EOF
bin/carbon-genesis create --desc "$tmp/desc.json" --out "$tmp/net" >/dev/null || fail "genesis"
P2P=$(free_port)
API=$(free_port)
LIVE="http://127.0.0.1:$API"
bin/carbon-node init --genesis "$tmp/net/genesis.json" --key "$tmp/net/keys/city.key" \
	--home "$tmp/node" --p2p "127.0.0.1:$P2P" --api "127.0.0.1:$API" >/dev/null || fail "node init"
bin/carbon-node start --home "$tmp/node" >"$tmp/node.log" 2>&1 &
pids="$pids $!"
SILENT_PORT=$(free_port)
POST_PORT=$(free_port)
python3 "$tmp/stuck.py" "$SILENT_PORT" silent >"$tmp/silent.log" 2>&1 &
pids="$pids $!"
python3 "$tmp/stuck.py" "$POST_PORT" post "$LIVE" >"$tmp/post.log" 2>&1 &
pids="$pids $!"
SILENT="http://127.0.0.1:$SILENT_PORT"
POST="http://127.0.0.1:$POST_PORT"
i=0
until $W supply --node "$LIVE" >/dev/null 2>&1 && $W supply --node "$POST" >/dev/null 2>&1 &&
	ss -ltn | grep -q ":$SILENT_PORT "; do
	for _q in $pids; do kill -0 "$_q" 2>/dev/null || fail "a process it started exited (a port taken?)"; done
	i=$((i + 1))
	[ $i -lt 300 ] || fail "node or stuck servers did not come up within 30 s"
	sleep 0.1
done

# ---- a silent node: the next --node answers, well within the timeout --------------
expect_rc 0 4 $W supply --node "$SILENT" --node "$LIVE" --timeout-ms 1000
grep -q "circulating: ok" "$tmp/out" || fail "supply through the second node"
# Only silent nodes: exit 3 once the timeout passed, said once, with advice.
expect_rc 3 4 $W supply --node "$SILENT" --timeout-ms 1000
grep -q "no node answered in time ($SILENT: no answer within 1000 ms)" "$tmp/err" ||
	fail "timeout message"
grep -q "give another --node URL, or a longer --timeout-ms" "$tmp/err" || fail "timeout advice"
[ "$(grep -c "no answer within" "$tmp/err")" -eq 1 ] || fail "timeout said more than once"
expect_rc 3 6 $W supply --node "$SILENT" --node "$SILENT" --timeout-ms 1000 --json
grep -q '"exit_code":3' "$tmp/out" || fail "timeout: JSON"
expect_rc 2 1 $W supply --node "$LIVE" --timeout-ms 0
$W supply --help | grep -q "timeout-ms MS .*(default 10000)" || fail "--help: the default"

# ---- a node that admits a transaction and never answers ------------------------------
$W import "$tmp/net/keys/city.key" >/dev/null
$W new alice --kdf interactive >/dev/null
A=$($W address alice)
now=$(date +%s)
expect_rc 0 8 $W issue --key city --trip "t1,$A,metro,9000,$((now - 7000)),$((now - 6400))" \
	--node "$POST" --node "$LIVE" --timeout-ms 1500
grep -q "^credited   1 trips" "$tmp/out" || fail "issue after a lost answer"
$W new bob --kdf interactive >/dev/null
expect_rc 0 8 $W send bob 0.1 --key alice --node "$POST" --node "$LIVE" --timeout-ms 1500
grep -q "^committed in block" "$tmp/out" || fail "send after a lost answer"
[ "$($W balance bob --node "$LIVE" --json | sed -n 's/.*"balance_g":\([0-9]*\).*/\1/p')" -eq 100 ] ||
	fail "bob did not get exactly 0.1 kg"

echo "$NAME: ok"
