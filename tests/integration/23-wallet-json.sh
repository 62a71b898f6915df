#!/bin/sh
# Every carbon-wallet command with --json, against a real node: stdout must
# be exactly one JSON object (jq), with "ok": false and the exit code for a
# failure. Successes, rejections, usage errors, key errors and network
# errors are all covered, and the script checks at the end that it ran
# every command listed by 'carbon-wallet --help', so a new command cannot
# skip this test. Run from the repository root after building.
set -eu

NAME=23-wallet-json
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

# j RC COMMAND ARGS...: runs 'carbon-wallet COMMAND ARGS... --json', wants
# exit code RC and exactly one JSON object on stdout ("ok": false with
# "exit_code" RC when RC is not 0). The answer is left in $tmp/out.
j() {
	_want=$1
	shift
	echo "$1" >>"$tmp/seen"
	_rc=0
	$W "$@" --json >"$tmp/out" 2>"$tmp/err" || _rc=$?
	[ "$_rc" -eq "$_want" ] || { cat "$tmp/out" "$tmp/err" >&2; fail "'$*' exited $_rc, expected $_want"; }
	jq -s -e 'length == 1 and (.[0] | type) == "object"' "$tmp/out" >/dev/null 2>&1 ||
		{ cat "$tmp/out" "$tmp/err" >&2; fail "'$* --json': stdout is not one JSON object"; }
	if [ "$_want" -eq 0 ]; then
		jq -e '.ok != false' "$tmp/out" >/dev/null || fail "'$* --json': ok is false"
	else
		jq -e --argjson rc "$_want" '.ok == false and .exit_code == $rc and (.error | length) > 0' \
			"$tmp/out" >/dev/null || { cat "$tmp/out" >&2; fail "'$* --json': no error object"; }
	fi
}
# field EXPR: a jq expression that must hold on the last answer.
holds() {
	jq -e "$1" "$tmp/out" >/dev/null || { cat "$tmp/out" >&2; fail "expected $1"; }
}

export HOME="$tmp/home"
export CARBON_PASSPHRASE=integration-wallet
mkdir -p "$HOME"
: >"$tmp/seen"

cat >"$tmp/desc.json" <<EOF
{
  "chain_id": "wallet-json-1",
  "tz_offset_s": 28800,
  "governor_threshold": 1,
  "members": [
    {"name": "city", "roles": ["validator", "governor", "issuer"], "modes": ["metro", "bus"]},
    {"name": "store", "roles": ["merchant"]},
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

# Before the node runs: a network error is an error object too (exit 3).
j 3 supply

bin/carbon-node start --home "$tmp/node" >"$tmp/node.log" 2>&1 &
node_pid=$!
i=0
until $W supply >/dev/null 2>&1; do
	kill -0 "$node_pid" 2>/dev/null || fail "the node exited (a port taken?)"
	i=$((i + 1))
	[ $i -lt 300 ] || fail "node did not come up within 30 s"
	sleep 0.1
done

# ---- keys ------------------------------------------------------------------
j 0 import "$tmp/net/keys/city.key"
holds '.name == "city"'
j 0 import "$tmp/net/keys/store.key"
j 0 new alice --kdf interactive
j 0 new bob --kdf interactive
j 5 new alice --kdf interactive
j 0 list
holds '.keys | length == 4'
j 0 address alice
A=$(jq -r .address "$tmp/out")
j 0 export-public alice
j 2 send bob 1.2345 --key alice
j 2 send bob 1 --key alice --no-such-option
j 5 send bob 1 --key alice --passphrase-file /nonexistent

# ---- operators ---------------------------------------------------------------
now=$(date +%s)
j 0 issue --key city --trip "j1,$A,metro,9000,$((now - 7000)),$((now - 6400))"
holds '.credited == 1 and .trips == 1 and .credited_g > 0 and .problems == []'
cat >"$tmp/trips.csv" <<EOF
ref,citizen,mode,distance_m,start,end
j2,$A,bus,5000,$((now - 5000)),$((now - 4400))
j3,$A,plane,5000,$((now - 4000)),$((now - 3400))
j1,$A,metro,9000,$((now - 7000)),$((now - 6400))
EOF
j 1 issue --key city --trips "$tmp/trips.csv"
holds '.trips == 3 and .credited == 1 and .unreadable == 1 and .rejected == 1'
holds '[.problems[].line] == [3, 4]'
j 1 issue --key city --no-wait --trip "j4,$A,bus,100,$((now - 3000)),$((now - 2900))" \
	--trip "j5,$A,nope,100,$((now - 3000)),$((now - 2900))"
j 0 trip --ref j1 --key city
holds '.credited == true'
TRIP=$(jq -r .trip_id "$tmp/out")
j 0 trip "$TRIP"
day=$(date -u -d "@$((now - 7000 + 28800))" +%Y-%m-%d)
j 0 reconcile --key city --day "$day" --trips "$tmp/trips.csv"
holds '.trips >= 2 and (.rows | length) == .trips and (.rows | map(select(.ref == "j1")) | length) == 1'
j 0 reconcile --key city --day "$day" --out "$tmp/rec.csv"
holds '.out != null and (has("rows") | not)'
j 2 reconcile --key city
j 0 sample-trips --genesis "$G" --out-dir "$tmp/sample" --trips 50 --citizens 10
holds '.files | length == 1'

# ---- citizens and merchants ----------------------------------------------------
j 0 balance alice
holds '.balance_g > 0'
j 0 history alice
j 0 history alice --all
j 0 send bob 0.01 --key alice
holds '.status == "committed" and .code == 0'
j 0 tx "$(jq -r .tx "$tmp/out")"
holds '.kind == "transfer" and .status == "committed" and .code == 0'
j 0 send bob 0.01 --key alice --no-wait
holds '.status == "pending"'
j 1 send bob 100000 --key alice
holds '.status == "committed" and .code != 0 and (.tx | length) == 64 and .height > 0'
REJ=$(jq -r .tx "$tmp/out")
j 1 tx "$REJ"
holds '.kind == "transfer" and .status == "committed" and .code != 0'
j 1 tx 0000000000000000000000000000000000000000000000000000000000000000
j 0 offer publish --key store --id 5 --name "Bus pass" --price 0.01 --stock 9
j 0 offer update --key store --id 5 --name "Bus pass" --price 0.02 --stock 9
j 0 offers
holds '.offers | length == 1'
j 0 redeem 5 --key alice
holds '(.receipt | length) == 64'
R=$(jq -r .receipt "$tmp/out")
j 0 redeem 5 --key alice --no-wait
holds '.status == "pending" and (.tx | length) == 64'
j 0 receipt "$R"
j 0 receipts --key store
j 0 refund "$R" --key store
j 1 refund "$R" --key store
j 0 offer withdraw --key store --id 5
j 1 receipt 0000000000000000000000000000000000000000000000000000000000000000

# ---- banks and auditors ------------------------------------------------------------
j 0 verify-balance alice --genesis "$G" --no-cache
holds '.verified == true'
j 0 audit alice
j 0 supply

# ---- governance ----------------------------------------------------------------------
j 0 govern propose remove-member --member 3 --key city --genesis "$G" --out "$tmp/p.json"
j 0 govern show "$tmp/p.json"
j 0 govern sign "$tmp/p.json" --key city
j 0 govern submit "$tmp/p.json" --key city
holds '.status == "committed"'
j 2 govern show "$tmp/missing.json"

# Every command of 'carbon-wallet --help' was run above.
for c in $($W --help | awk '/^  [a-z]/ {print $1}'); do
	grep -qx "$c" "$tmp/seen" || fail "command $c has no --json check here"
done

echo "$NAME: ok"
