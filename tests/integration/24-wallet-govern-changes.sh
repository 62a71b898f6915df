#!/bin/sh
# Governance changes end to end on a real node whose genesis needs two
# governors: a methodology change (propose, show, sign and submit print
# every factor, the changed one as old -> new against the genesis; a past
# effective height and a version that is not new are refused before anyone
# signs; trips after the effective height are credited under version 2),
# then add-key, revoke, remove-member and recover-account, each proposed by
# one governor, signed by the other, submitted and checked by its effect.
# Run from the repository root after building.
set -eu

NAME=24-wallet-govern-changes
W=bin/carbon-wallet
for b in bin/carbon-wallet bin/carbon-node bin/carbon-genesis; do
	[ -x "$b" ] || { echo "$NAME: FAIL: $b not built" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "$NAME: FAIL: jq is not installed" >&2; exit 1; }
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
	echo "$NAME: FAIL: $*" >&2
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
has() { grep -q -- "$1" "$tmp/out" || { cat "$tmp/out" >&2; fail "output lacks: $1"; }; }
height() { curl -s --max-time 5 "$NODE/v1/status" | jq -r '.height'; }
grams() { $W balance "$1" --json | jq -r .balance_g; }

# propose ACTION ARGS...: city proposes, transit signs, city submits.
govern() {
	_action=$1
	shift
	expect_rc 0 $W govern propose "$_action" --key city --genesis "$G" --out "$tmp/$_action.json" \
		--force "$@"
	expect_rc 0 $W govern sign "$tmp/$_action.json" --key transit
	expect_rc 0 $W govern submit "$tmp/$_action.json" --key city --genesis "$G"
	has "^committed in block"
}

export HOME="$tmp/home"
export CARBON_PASSPHRASE=integration-wallet
mkdir -p "$HOME"
cat >"$tmp/desc.json" <<EOF
{
  "chain_id": "wallet-govern-2",
  "tz_offset_s": 28800,
  "governor_threshold": 2,
  "members": [
    {"name": "city", "roles": ["validator", "governor", "issuer"], "modes": ["metro"]},
    {"name": "transit", "roles": ["governor"]},
    {"name": "bike", "roles": ["issuer"], "modes": ["cycle"]},
    {"name": "bank", "roles": ["bank"]}
  ]
}
EOF
bin/carbon-genesis create --desc "$tmp/desc.json" --out "$tmp/net" >/dev/null || fail "genesis"
G="$tmp/net/genesis.json"
P2P=$(free_port)
API=$(free_port)
NODE="http://127.0.0.1:$API"
export CARBON_NODE="$NODE"
bin/carbon-node init --genesis "$G" --key "$tmp/net/keys/city.key" \
	--home "$tmp/node" --p2p "127.0.0.1:$P2P" --api "127.0.0.1:$API" >/dev/null || fail "node init"
# Empty blocks every 200 ms, so that an effective height comes soon.
jq '.empty_block_ms = 200' "$tmp/node/config.json" >"$tmp/config.json" &&
	mv "$tmp/config.json" "$tmp/node/config.json"
bin/carbon-node start --home "$tmp/node" >"$tmp/node.log" 2>&1 &
node_pid=$!
i=0
until $W supply >/dev/null 2>&1; do
	kill -0 "$node_pid" 2>/dev/null || fail "the node exited (a port taken?)"
	i=$((i + 1))
	[ $i -lt 300 ] || fail "node did not come up within 30 s"
	sleep 0.1
done
for k in city transit bike bank; do $W import "$tmp/net/keys/$k.key" >/dev/null; done
for k in bike2 rider rider2; do $W new "$k" --kdf interactive >/dev/null; done
R=$($W address rider)
now=$(date +%s)

# ---- methodology version 2: the metro factor from 46.7 to 40 g/pkm ----------------
meth() { # VERSION EFFECTIVE_HEIGHT > file
	jq --argjson v "$1" --argjson h "$2" \
		'.methodology | .version = $v | .effective_height = $h |
		 .modes.metro.reduction_mg_per_km = 40000' "$G"
}
meth 2 1 >"$tmp/past.json"
expect_rc 2 $W govern propose methodology --file "$tmp/past.json" --key city --genesis "$G" \
	--out "$tmp/m.json"
grep -q "effective_height 1 is not above the next block" "$tmp/err" || fail "past height: reason"
[ ! -e "$tmp/m.json" ] || fail "a refused proposal was written"
eff=$(($(height) + 25))
meth 1 "$eff" >"$tmp/v1.json"
expect_rc 2 $W govern propose methodology --file "$tmp/v1.json" --key city --genesis "$G" \
	--out "$tmp/m.json"
grep -q "version 1 is not above version 1 of the genesis" "$tmp/err" || fail "old version: reason"
# A claim window widened by more than a day at once would reopen pruned days.
jq '.claim_before_s = 604800 + 2 * 86400' "$tmp/v1.json" | jq '.version = 2' >"$tmp/wide.json"
expect_rc 2 $W govern propose methodology --file "$tmp/wide.json" --key city --genesis "$G" \
	--out "$tmp/m.json"
grep -q "claim_before_s rises from 604800 to 777600 s" "$tmp/err" || fail "wide window: reason"
meth 2 "$eff" >"$tmp/v2.json"
expect_rc 0 $W govern propose methodology --file "$tmp/v2.json" --key city --genesis "$G" \
	--out "$tmp/m.json"
# What a governor sees: every mode's five parameters, the change marked.
for mode in walk cycle bus metro rail carpool; do has "^  [ *] $mode "; done
has "^  \\* metro .* 46700 -> 40000 "
has "^  daily cap per citizen, all modes 3000 g"
has "^1 parameter changes"
has "metro on 40000 mg/km, min 1000 m, max 120 km/h, cap 2800 g"
expect_rc 0 $W govern show "$tmp/m.json" --genesis "$G" --json
jq -e '.changes == [{"field": "modes.metro.reduction_mg_per_km", "from": 46700, "to": 40000}]
	and .methodology.modes.walk.reduction_mg_per_km == 25000
	and .in_force.version == 1' "$tmp/out" >/dev/null || { cat "$tmp/out"; fail "show --json"; }
# Without a genesis or a node that serves the methodology in force, every
# value is still shown, and it says there is nothing to compare with.
expect_rc 0 $W govern show "$tmp/m.json" --node "http://127.0.0.1:1"
has "nothing to compare with"
has "^    metro .* 40000 "
expect_rc 0 $W govern sign "$tmp/m.json" --key transit --genesis "$G"
has "^proposal: methodology version 2"
has "^  \\* metro .* 46700 -> 40000 "
expect_rc 0 $W govern submit "$tmp/m.json" --key city --genesis "$G"
has "^committed in block"
until [ "$(height)" -ge "$eff" ]; do sleep 0.2; done
expect_rc 0 $W issue --key city --trip "v2trip,$R,metro,10000,$((now - 7000)),$((now - 6400))"
expect_rc 0 $W trip --ref v2trip --key city
has "^credited    0.400 kg"
has "^methodology version 2"

# ---- add-key: a second key for the bike operator issues trips ---------------------
govern add-key --member 3 --member-key "$($W address bike2)"
expect_rc 0 $W issue --key bike2 --trip "k1,$R,cycle,4000,$((now - 5000)),$((now - 4200))"
# ---- revoke: the first key no longer may -----------------------------------------
govern revoke --member 3 --member-key "$($W address bike)"
expect_rc 1 $W issue --key bike --trip "k2,$R,cycle,4000,$((now - 4000)),$((now - 3200))"
expect_rc 0 $W issue --key bike2 --trip "k3,$R,cycle,4000,$((now - 4000)),$((now - 3200))"
# ---- remove-member: the bank leaves --------------------------------------------------
$W balance bank | grep -q "^member   4 bank" || fail "bank is not member 4"
govern remove-member --member 4
$W balance bank | grep -q "^member" && fail "the bank is still a member"
# ---- recover-account: the rider's credits move to a new key ----------------------------
before=$(grams rider)
[ "$before" -gt 0 ] || fail "rider has no credits"
govern recover-account --account "$R" --new-account "$($W address rider2)" --reason "lost phone"
[ "$(grams rider)" -eq 0 ] || fail "old key still holds credits"
[ "$(grams rider2)" -eq "$before" ] || fail "new key holds $(grams rider2), want $before"
expect_rc 1 $W send rider2 0.001 --key rider

echo "$NAME: ok"
