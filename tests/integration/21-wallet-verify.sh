#!/bin/sh
# verify-balance end to end: a bank verifies a citizen's balance proof from
# a real node against the genesis file (exit 0, balance equal to the
# account's, a tier), continues from its checkpoint the second time, and
# refuses (exit 4, with the reason) a proof whose Merkle path, header or
# certificate was forged, and any proof checked against another network's
# genesis; a proof that cannot be checked (uncertified, node down) is
# exit 3. Run from the repository root after building.
set -eu

W=bin/carbon-wallet
for b in bin/carbon-wallet bin/carbon-node bin/carbon-genesis; do
	[ -x "$b" ] || { echo "21-wallet-verify: FAIL: $b not built" >&2; exit 1; }
done
tmp=$(mktemp -d)
node_pid=
# TERM, then KILL if the node has not stopped within 5 s (a test must
# never hang on a daemon).
stop_node() {
	kill "$1" 2>/dev/null || return 0
	_i=0
	while kill -0 "$1" 2>/dev/null && [ $_i -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	if [ -n "$node_pid" ]; then stop_node "$node_pid"; fi
	if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT INT TERM

fail() {
	echo "21-wallet-verify: FAIL: $*" >&2
	[ -f "$tmp/node.log" ] && { echo "--- node.log (tail)" >&2; tail -20 "$tmp/node.log" >&2; }
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

# Copies the proof file $1 to $2 with one hex digit of field $3 changed,
# at $4 percent of its length.
flip() {
	awk -v field="\"$3\": \"" -v pct="$4" '
	index($0, field) && !done {
		i = index($0, field) + length(field)
		rest = substr($0, i)
		n = index(rest, "\"") - 1
		at = i + int(n * pct / 100)
		c = substr($0, at, 1)
		r = (c == "0") ? "1" : "0"
		$0 = substr($0, 1, at - 1) r substr($0, at + 1)
		done = 1
	}
	{ print }' "$1" >"$2"
	cmp -s "$1" "$2" && fail "flip: nothing changed in $3"
	return 0
}

export HOME="$tmp/home"
export CARBON_PASSPHRASE=integration-wallet
mkdir -p "$HOME"
cat >"$tmp/desc.json" <<EOF
{
  "chain_id": "wallet-verify-1",
  "tz_offset_s": 28800,
  "governor_threshold": 1,
  "members": [
    {"name": "city", "roles": ["validator", "governor", "issuer"], "modes": ["metro", "bus"]},
    {"name": "bank", "roles": ["bank"]}
  ]
}
EOF
bin/carbon-genesis create --desc "$tmp/desc.json" --out "$tmp/net" >/dev/null || fail "genesis"
# Another network with the same description: other keys, another genesis.
bin/carbon-genesis create --desc "$tmp/desc.json" --out "$tmp/other" >/dev/null || fail "genesis 2"
P2P=$(free_port)
API=$(free_port)
NODE="http://127.0.0.1:$API"
bin/carbon-node init --genesis "$tmp/net/genesis.json" --key "$tmp/net/keys/city.key" \
	--home "$tmp/node" --p2p "127.0.0.1:$P2P" --api "127.0.0.1:$API" >/dev/null || fail "node init"
bin/carbon-node start --home "$tmp/node" >"$tmp/node.log" 2>&1 &
node_pid=$!
i=0
until $W supply --node "$NODE" >/dev/null 2>&1; do
	kill -0 "$node_pid" 2>/dev/null || fail "the node exited (a port taken?)"
	i=$((i + 1))
	[ $i -lt 300 ] || fail "node did not come up within 30 s"
	sleep 0.1
done

$W import "$tmp/net/keys/city.key" >/dev/null
$W new alice --kdf interactive >/dev/null
A=$($W address alice)
now=$(date +%s)
$W issue --key city --node "$NODE" \
	--trip "v1,$A,metro,9000,$((now - 7200)),$((now - 6600))" \
	--trip "v2,$A,bus,5000,$((now - 5000)),$((now - 4400))" >/dev/null || fail "issue"
want=$($W balance alice --node "$NODE" --json | sed -n 's/.*"balance_g":\([0-9]*\).*/\1/p')
[ "$want" -gt 0 ] || fail "alice has no balance"

# ---- a good proof ----------------------------------------------------------
expect_rc 0 $W verify-balance alice --genesis "$tmp/net/genesis.json" --node "$NODE" \
	--save-proof "$tmp/proof.json"
grep -q "^VERIFIED" "$tmp/out" || fail "not VERIFIED"
bal=$(sed -n 's/^balance  \([0-9.]*\) kg.*/\1/p' "$tmp/out")
[ "$bal" = "$(($want / 1000)).$(printf %03d $(($want % 1000)))" ] || fail "balance $bal, want $want g"
grep -q "^tier     light green" "$tmp/out" || fail "tier"
grep -q "from the genesis" "$tmp/out" || fail "first run not from the genesis"
expect_rc 0 $W verify-balance "$A" --genesis "$tmp/net/genesis.json" --node "$NODE" --json
grep -q '"verified":true' "$tmp/out" || fail "json verified"
grep -q '"tier":"light green"' "$tmp/out" || fail "json tier"
# The second run continues from the checkpoint it saved.
$W verify-balance alice --genesis "$tmp/net/genesis.json" --node "$NODE" | grep -q "from the checkpoint" ||
	fail "checkpoint not used"
# The saved proof verifies offline later (headers still come from a node).
expect_rc 0 $W verify-balance alice --genesis "$tmp/net/genesis.json" --node "$NODE" \
	--proof "$tmp/proof.json"

# ---- forged proofs are refused with the reason --------------------------------
flip "$tmp/proof.json" "$tmp/bad-merkle.json" proof 80
expect_rc 4 $W verify-balance alice --genesis "$tmp/net/genesis.json" --node "$NODE" \
	--proof "$tmp/bad-merkle.json"
grep -q "REFUSED" "$tmp/err" || fail "forged Merkle path: no reason"
# The balance itself: the proof encodes [account, height, balance, ...];
# a node answering with a bigger balance in the readable fields changes
# nothing, since only the signed bytes count.
sed 's/"balance_g": [0-9]*/"balance_g": 999999999/' "$tmp/proof.json" >"$tmp/readable.json"
expect_rc 0 $W verify-balance alice --genesis "$tmp/net/genesis.json" --node "$NODE" \
	--proof "$tmp/readable.json"
grep -q "^balance  $bal kg" "$tmp/out" || fail "readable balance was trusted"
flip "$tmp/proof.json" "$tmp/bad-header.json" hex 50
expect_rc 4 $W verify-balance alice --genesis "$tmp/net/genesis.json" --node "$NODE" \
	--proof "$tmp/bad-header.json"
flip "$tmp/proof.json" "$tmp/bad-cert.json" cert 90
expect_rc 4 $W verify-balance alice --genesis "$tmp/net/genesis.json" --node "$NODE" \
	--proof "$tmp/bad-cert.json"
grep -q "REFUSED: .*certificate" "$tmp/err" || fail "forged certificate: reason"
# An uncertified answer proves nothing either way: cannot verify (exit 3).
sed 's/"certified": true/"certified": false/' "$tmp/proof.json" >"$tmp/uncertified.json"
expect_rc 3 $W verify-balance alice --genesis "$tmp/net/genesis.json" --node "$NODE" \
	--proof "$tmp/uncertified.json"
grep -q "cannot verify: the node has no certified header" "$tmp/err" || fail "uncertified: reason"
# Bob's address with Alice's proof.
$W new bob --kdf interactive >/dev/null
expect_rc 4 $W verify-balance bob --genesis "$tmp/net/genesis.json" --node "$NODE" \
	--proof "$tmp/proof.json"
grep -q "another account" "$tmp/err" || fail "another account: reason"
# Another network's genesis: its validators never signed these headers.
expect_rc 4 $W verify-balance alice --genesis "$tmp/other/genesis.json" --node "$NODE" --no-cache
grep -q "REFUSED" "$tmp/err" || fail "other genesis: no reason"
# A node that is down: exit 3, not a verdict on the proof.
stop_node "$node_pid"
node_pid=
expect_rc 3 $W verify-balance alice --genesis "$tmp/net/genesis.json" --node "$NODE"

echo "21-wallet-verify: ok"
