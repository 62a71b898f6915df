#!/bin/sh
# verify-balance across validator-set changes on a real two-node network
# (city validates; the bank's node runs and joins the set by governance,
# then leaves it again). One change is followed from the nodes' current
# sets. Two changes after the bank's checkpoint: the set of the first is no
# longer anyone's current set, so nodes without GET /v1/valset/{height}
# (played by proxies that answer 404 for it) leave the proof unchecked,
# which is exit 3 "cannot verify", never exit 4 "REFUSED" (that is only for
# a proof shown false); nodes with it bring the checkpoint through both
# changes. Run from the repository root after building.
set -eu

NAME=25-wallet-valset
W=bin/carbon-wallet
for b in bin/carbon-wallet bin/carbon-node bin/carbon-genesis; do
	[ -x "$b" ] || { echo "$NAME: FAIL: $b not built" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "$NAME: FAIL: jq is not installed" >&2; exit 1; }
command -v curl >/dev/null || { echo "$NAME: FAIL: curl is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
pids=
# TERM, then KILL if a node has not stopped within 5 s (a test must never
# hang on a daemon).
stop_node() {
	kill "$1" 2>/dev/null || return 0
	_i=0
	while kill -0 "$1" 2>/dev/null && [ $_i -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	for p in $pids; do stop_node "$p"; done
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

expect_rc() {
	_want=$1
	shift
	_rc=0
	"$@" >"$tmp/out" 2>"$tmp/err" || _rc=$?
	[ "$_rc" -eq "$_want" ] || { cat "$tmp/out" "$tmp/err" >&2; fail "'$*' exited $_rc, expected $_want"; }
}

export HOME="$tmp/home"
export CARBON_PASSPHRASE=integration-wallet
mkdir -p "$HOME"
P1=$(free_port)
P2=$(free_port)
cat >"$tmp/desc.json" <<EOF
{
  "chain_id": "wallet-valset-1",
  "tz_offset_s": 28800,
  "governor_threshold": 1,
  "members": [
    {"name": "city", "roles": ["validator", "governor", "issuer"], "modes": ["metro"],
     "p2p_addr": "127.0.0.1:$P1"},
    {"name": "bank", "roles": ["bank"], "p2p_addr": "127.0.0.1:$P2"}
  ]
}
EOF
bin/carbon-genesis create --desc "$tmp/desc.json" --out "$tmp/net" >/dev/null || fail "genesis"
G="$tmp/net/genesis.json"
NODES=
for m in city bank; do
	api=$(free_port)
	bin/carbon-node init --genesis "$G" --key "$tmp/net/keys/$m.key" --home "$tmp/$m" \
		--api "127.0.0.1:$api" >/dev/null || fail "node init $m"
	# The bank's node signs as soon as governance makes it a validator.
	jq '.empty_block_ms = 200 | .validator = true' "$tmp/$m/config.json" >"$tmp/config.json" &&
		mv "$tmp/config.json" "$tmp/$m/config.json"
	bin/carbon-node start --home "$tmp/$m" >"$tmp/$m.log" 2>&1 &
	pids="$pids $!"
	NODES="$NODES --node http://127.0.0.1:$api"
	[ "$m" = city ] && CITY="http://127.0.0.1:$api"
done
export CARBON_NODE="$CITY"
i=0
until $W supply >/dev/null 2>&1; do
	for _q in $pids; do kill -0 "$_q" 2>/dev/null || fail "a process it started exited (a port taken?)"; done
	i=$((i + 1))
	[ $i -lt 300 ] || fail "node did not come up within 30 s"
	sleep 0.1
done
validators() { curl -s --max-time 5 "$CITY/v1/status" | jq -r '.next_validators | length'; }
# The bank's role by governance (threshold 1: city alone).
set_bank_roles() {
	expect_rc 0 $W govern propose set-roles --member 2 --roles "$1" --key city --genesis "$G" \
		--out "$tmp/roles.json" --force
	expect_rc 0 $W govern submit "$tmp/roles.json" --key city --genesis "$G"
	i=0
	until [ "$(validators)" -eq "$2" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || fail "the validator set did not become $2"
		sleep 0.1
	done
}

$W import "$tmp/net/keys/city.key" >/dev/null
$W new alice --kdf interactive >/dev/null
A=$($W address alice)
now=$(date +%s)
expect_rc 0 $W issue --key city --trip "s1,$A,metro,9000,$((now - 7200)),$((now - 6600))"
# The bank's checkpoint, before any change.
expect_rc 0 $W verify-balance alice --genesis "$G"
grep -q "^VERIFIED" "$tmp/out" || fail "first proof not verified"

# ---- one change: found among the nodes' current sets ---------------------------------
set_bank_roles bank,validator 2
expect_rc 0 $W issue --key city --trip "s2,$A,metro,9000,$((now - 5000)),$((now - 4400))"
expect_rc 0 $W verify-balance alice --genesis "$G" --no-cache
grep -q "1 validator-set change$" "$tmp/out" || fail "one change not followed"

# ---- a second change: the first new set is nobody's current set now -------------------
set_bank_roles bank 1
expect_rc 0 $W issue --key city --trip "s3,$A,metro,9000,$((now - 3000)),$((now - 2400))"

# Nodes without GET /v1/valset/{height} (older ones; here proxies that answer
# 404 for it): the checkpoint, two changes behind, cannot be brought
# forward, and that is "cannot verify" (exit 3), never "REFUSED" (exit 4).
no_valset() {
	expect_rc 3 $W verify-balance alice --genesis "$G" "$@"
	grep -q "cannot verify: the validator set of height [0-9]* is not available from any node" \
		"$tmp/err" || fail "gap: message"
	grep -q "asked http://.*, http://" "$tmp/err" || fail "gap: not every node was asked"
	grep -q "REFUSED" "$tmp/err" && fail "an unavailable set was reported as a refusal"
	expect_rc 3 $W verify-balance alice --genesis "$G" --no-cache --json "$@"
	jq -e '.ok == false and .exit_code == 3 and (.error | startswith("cannot verify"))' \
		"$tmp/out" >/dev/null || fail "gap: JSON"
}
if [ "$(curl -s -o /dev/null -w '%{http_code}' "$CITY/v1/valset/1")" != 200 ]; then
	no_valset $NODES
elif command -v python3 >/dev/null; then
	cat >"$tmp/old-node.py" <<'EOF'
import http.server, socketserver, sys, urllib.error, urllib.request
port, live = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        if self.path.startswith("/v1/valset/"):
            status, body = 404, b'{"error": "not_found", "message": "no such endpoint"}\n'
        else:
            try:
                with urllib.request.urlopen(live + self.path) as r:
                    status, body = r.status, r.read()
            except urllib.error.HTTPError as e:
                status, body = e.code, e.read()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
S(("127.0.0.1", port), H).serve_forever()
EOF
	OLD=
	for api in $(echo "$NODES" | sed 's/--node //g'); do
		port=$(free_port)
		python3 "$tmp/old-node.py" "$port" "$api" >"$tmp/old-node-$port.log" 2>&1 &
		pids="$pids $!"
		OLD="$OLD --node http://127.0.0.1:$port"
		i=0
		until curl -s -o /dev/null "http://127.0.0.1:$port/v1/status"; do
			i=$((i + 1))
			[ $i -lt 100 ] || fail "the old-node proxy did not come up"
			sleep 0.1
		done
	done
	no_valset $OLD
else
	echo "$NAME: python3 is not installed: nodes without /v1/valset are not played"
fi
# Nodes that serve past sets bring the checkpoint through both changes.
if [ "$(curl -s -o /dev/null -w '%{http_code}' "$CITY/v1/valset/1")" = 200 ]; then
	expect_rc 0 $W verify-balance alice --genesis "$G" $NODES
	grep -q "2 validator-set changes$" "$tmp/out" || fail "two changes not followed"
	grep -q "from the checkpoint" "$tmp/out" || fail "not from the checkpoint"
fi

echo "$NAME: ok"
