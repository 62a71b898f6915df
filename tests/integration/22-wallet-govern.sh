#!/bin/sh
# Governance end to end on a real node whose genesis needs two governors:
# a proposal written by one, refused while only one governor stands behind
# it, signed by the second and submitted; the new operator then issues
# trips. A clawback goes through the same way and shows in the supply. A
# proposal edited after signing, and one whose submitter's nonce moved,
# are refused. Run from the repository root after building.
set -eu

W=bin/carbon-wallet
for b in bin/carbon-wallet bin/carbon-node bin/carbon-genesis; do
	[ -x "$b" ] || { echo "22-wallet-govern: FAIL: $b not built" >&2; exit 1; }
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
	echo "22-wallet-govern: FAIL: $*" >&2
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

export HOME="$tmp/home"
export CARBON_PASSPHRASE=integration-wallet
mkdir -p "$HOME"
cat >"$tmp/desc.json" <<EOF
{
  "chain_id": "wallet-govern-1",
  "tz_offset_s": 28800,
  "governor_threshold": 2,
  "members": [
    {"name": "city", "roles": ["validator", "governor", "issuer"], "modes": ["metro"]},
    {"name": "transit", "roles": ["governor"]},
    {"name": "bank", "roles": ["bank"]}
  ]
}
EOF
bin/carbon-genesis create --desc "$tmp/desc.json" --out "$tmp/net" >/dev/null || fail "genesis"
G="$tmp/net/genesis.json"
P2P=$(free_port)
API=$(free_port)
NODE="http://127.0.0.1:$API"
bin/carbon-node init --genesis "$G" --key "$tmp/net/keys/city.key" \
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
for k in city transit bank; do $W import "$tmp/net/keys/$k.key" >/dev/null; done
$W new bus-co --kdf interactive >/dev/null
$W new rider --kdf interactive >/dev/null
R=$($W address rider)
now=$(date +%s)
expect_rc 0 $W issue --key city --trip "m0,$R,metro,9000,$((now - 7000)),$((now - 6400))" \
	--node "$NODE"

# ---- a new operator ---------------------------------------------------------
expect_rc 0 $W govern propose add-member --key city --name bus-co --roles issuer --modes bus \
	--member-key "$($W address bus-co)" --genesis "$G" --out "$tmp/add.json" --node "$NODE"
expect_rc 0 $W govern sign "$tmp/add.json" --key city
expect_rc 2 $W govern sign "$tmp/add.json" --key city
grep -q "already approved" "$tmp/err" || fail "double approval"
# City alone (submitter and approver are one member) is below 2.
expect_rc 1 $W govern submit "$tmp/add.json" --key city --node "$NODE"
grep -q "1 of 2 governors" "$tmp/err" || fail "threshold message"
# Only the proposer may submit: the approvals cover the sender.
expect_rc 5 $W govern submit "$tmp/add.json" --key transit --node "$NODE"
expect_rc 0 $W govern sign "$tmp/add.json" --key transit
$W govern show "$tmp/add.json" | grep -q "^approvals  2" || fail "show approvals"
expect_rc 0 $W govern submit "$tmp/add.json" --key city --node "$NODE"
grep -q "^committed in block" "$tmp/out" || fail "add-member not committed"
$W balance bus-co --node "$NODE" | grep -q "^member   4 bus-co (issuer)" || fail "new member"
expect_rc 0 $W issue --key bus-co --trip "b1,$R,bus,6000,$((now - 4000)),$((now - 3400))" \
	--node "$NODE"

# ---- a clawback ----------------------------------------------------------------
before=$($W balance rider --node "$NODE" --json | sed -n 's/.*"balance_g":\([0-9]*\).*/\1/p')
expect_rc 0 $W govern propose clawback --key transit --account "$R" --amount 0.3 \
	--reason "duplicate ticket" --genesis "$G" --out "$tmp/claw.json" --node "$NODE"
expect_rc 0 $W govern sign "$tmp/claw.json" --key city
# Edited after signing: the approval no longer verifies.
# (The amount: 300 g is the bytes cd 01 2c, the only "cd012c" in the file.)
sed 's/cd012c/cd03e8/' "$tmp/claw.json" >"$tmp/claw-edited.json"
cmp -s "$tmp/claw.json" "$tmp/claw-edited.json" && fail "edit changed nothing"
expect_rc 2 $W govern show "$tmp/claw-edited.json"
grep -q "does not verify" "$tmp/err" || fail "edited proposal: reason"
expect_rc 0 $W govern submit "$tmp/claw.json" --key transit --node "$NODE"
after=$($W balance rider --node "$NODE" --json | sed -n 's/.*"balance_g":\([0-9]*\).*/\1/p')
[ "$after" -eq $((before - 300)) ] || fail "clawback: $before -> $after"
$W supply --node "$NODE" | grep -q "^clawed back  *0.300 kg" || fail "supply clawed back"

# ---- a stale proposal ------------------------------------------------------------
expect_rc 0 $W govern propose set-roles --key city --member 3 --roles bank,governor \
	--genesis "$G" --out "$tmp/roles.json" --node "$NODE"
expect_rc 0 $W govern sign "$tmp/roles.json" --key transit
# City sends something else first: its nonce moves past the proposal's.
expect_rc 0 $W issue --key city --trip "m1,$R,metro,7000,$((now - 9000)),$((now - 8400))" \
	--node "$NODE"
expect_rc 1 $W govern submit "$tmp/roles.json" --key city --node "$NODE"
grep -q "propose it again" "$tmp/err" || fail "stale nonce message"

echo "22-wallet-govern: ok"
