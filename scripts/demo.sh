#!/bin/sh
# make demo: a city day on a fresh four-validator devnet, through the wallet.
#
# Creates a network from genesis/city.json (city, metro operator, bus
# operator and partner bank as validators; a bike-share operator and a
# merchant as members) on free ports of 127.0.0.1, starts the four nodes,
# has the operators issue credits for a sample day of trips, citizens send
# credits and redeem an offer, the bank verify a balance proof, prints a
# report, and stops every node it started, also on Ctrl-C. Everything lives
# in a temporary directory (kept with DEMO_KEEP=1); the wallet's keys too,
# so the user's own ~/.config is never touched. With DEMO_RUN=1 the devnet
# keeps running after the report, with the wallet commands to try, until
# Ctrl-C.
set -eu
cd "$(dirname "$0")/.."

W=$PWD/bin/carbon-wallet
NODEBIN=$PWD/bin/carbon-node
GEN=$PWD/bin/carbon-genesis
for b in "$W" "$NODEBIN" "$GEN"; do
	[ -x "$b" ] || { echo "demo: $b is not built (run make)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/carbon-demo.XXXXXX)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	# KILL what has not stopped within 5 s: the demo must never hang.
	i=0
	while [ $i -lt 50 ]; do
		alive=
		for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ -n "$alive" ] || break
		sleep 0.1
		i=$((i + 1))
	done
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	if [ -n "${DEMO_KEEP:-}" ]; then echo "demo: files kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted, stopping the nodes"; exit 130' INT TERM
# A closed terminal or pipe (make demo | head) must stop the nodes too.
trap 'exit 129' HUP
trap 'exit 141' PIPE

say() { printf '\n== %s\n' "$*"; }
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

export HOME="$tmp/home"
export CARBON_PASSPHRASE=demo-passphrase
mkdir -p "$HOME"

say "a fresh devnet"
validators="city metro bus bank"
desc="$tmp/city.json"
cp genesis/city.json "$desc"
for v in $validators; do
	old=$(sed -n "s/.*\"name\": \"$v\".*\"p2p_addr\": \"127.0.0.1:\([0-9]*\)\".*/\1/p" genesis/city.json)
	[ -n "$old" ] || old=$(grep -A1 "\"name\": \"$v\"" genesis/city.json |
		sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' | head -1)
	new=$(free_port)
	sed -i "s/127.0.0.1:$old\"/127.0.0.1:$new\"/" "$desc"
done
"$GEN" create --desc "$desc" --out "$tmp/net" >"$tmp/genesis.out"
sed -n 's/^hash /genesis hash /p' "$tmp/genesis.out"
NODES=
for v in $validators; do
	api=$(free_port)
	"$NODEBIN" init --genesis "$tmp/net/genesis.json" --key "$tmp/net/keys/$v.key" \
		--home "$tmp/$v" --api "127.0.0.1:$api" >/dev/null
	"$NODEBIN" start --home "$tmp/$v" >"$tmp/$v.log" 2>&1 &
	pids="$pids $!"
	NODES="$NODES --node http://127.0.0.1:$api"
	echo "node $v: API http://127.0.0.1:$api"
done
FIRST=$(echo "$NODES" | awk '{print $2}')
i=0
until [ "$(curl -s "$FIRST/v1/status" 2>/dev/null | sed -n 's/.*"height":\([0-9]*\).*/\1/p')" -ge 2 ] 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 300 ] || { echo "demo: the devnet did not start; see $tmp/*.log" >&2; DEMO_KEEP=1; exit 1; }
	sleep 0.1
done
echo "four validators are committing blocks"

say "keys"
for k in city metro bus bikeshare bank green-store; do
	$W import "$tmp/net/keys/$k.key" >/dev/null
done
for c in alice bob carol; do $W new "$c" --kdf interactive >/dev/null; done
$W list

say "a sample city day"
$W sample-trips --genesis "$tmp/net/genesis.json" --out-dir "$tmp/trips" --citizens 1000 \
	--trips 3000 --seed 2026 --citizen alice --citizen bob --citizen carol

# issue OPERATOR FILE OUT [options]: exit 1 only means some rows were
# rejected, which the sample file wants; anything else (no node, a crash)
# stops the demo.
issue() {
	_op=$1
	_out=$2
	shift 2
	_rc=0
	$W issue --key "$_op" $NODES "$@" >"$_out" || _rc=$?
	cat "$_out"
	[ "$_rc" -le 1 ] || { echo "demo: operator $_op could not issue (exit $_rc): see above" >&2; exit 1; }
}
for op in metro bus bikeshare; do
	say "operator $op issues its trips"
	issue "$op" "$tmp/$op-issue.out" --trips "$tmp/trips/$op.csv" --max-rows 3 \
		--rejected-csv "$tmp/$op-rejected.csv"
done

say "the same metro file again: nothing is credited twice"
issue metro "$tmp/metro-again.out" --trips "$tmp/trips/metro.csv" --max-rows 0

say "citizens"
$W balance alice $NODES | head -2
$W send bob 0.5 --key alice $NODES
$W offer publish --key green-store --id 1 --name "Metro day pass" --price 0.8 --stock 100 \
	--description "unlimited metro rides for one day" $NODES >/dev/null
$W offers $NODES
$W redeem 1 --key bob $NODES >"$tmp/receipt.out"
cat "$tmp/receipt.out"

say "the bank verifies carol's balance against the genesis"
$W verify-balance carol --genesis "$tmp/net/genesis.json" $NODES

say "report"
height=$(curl -s "$FIRST/v1/status" | sed -n 's/.*"height":\([0-9]*\).*/\1/p')
echo "block height      $height"
for op in metro bus bikeshare; do
	n=$(($(wc -l <"$tmp/trips/$op.csv") - 1))
	c=$(sed -n 's/^credited   \([0-9]*\) trips.*/\1/p' "$tmp/$op-issue.out")
	r=$(($(wc -l <"$tmp/$op-rejected.csv") - 1))
	echo "$op: $n trips sent, $c credited, $r rejected"
done
echo "rejected, by reason:"
cat "$tmp"/*-rejected.csv | grep -v '^line,' | sed 's/^[^,]*,"[^"]*",[0-9]*,"\(.*\)"$/\1/' |
	sed 's/ (block [0-9]*)//; s/same ref as line [0-9]* of this input/record repeated in the file/' |
	sort | uniq -c | sort -rn | sed 's/^/  /'
$W supply $NODES
echo "balances:"
for c in alice bob carol; do
	$W balance "$c" $NODES --json |
		sed -n "s/.*\"balance\":\"\([0-9.]*\)\".*\"tier\":\"\([a-z ]*\)\".*/  $c  \1 kg  \2/p"
done
echo "receipt:"
sed -n 's/^/  /; /receipt\|offer \|price\|status/p' "$tmp/receipt.out"
if [ -n "${DEMO_RUN:-}" ]; then
	say "the devnet keeps running until Ctrl-C; try, in another terminal:"
	echo "  export HOME=$HOME CARBON_PASSPHRASE=$CARBON_PASSPHRASE"
	echo "  export CARBON_NODE=$FIRST"
	echo "  $W list"
	echo "  $W balance alice"
	echo "  $W history alice --limit 5"
	echo "  $W send bob 0.1 --key alice"
	echo "  $W offers"
	echo "  $W verify-balance bob --genesis $tmp/net/genesis.json"
	echo "  $W supply"
	wait
fi
say "stopping the devnet"
