#!/bin/sh
# carbon-wallet end to end against a real single-validator node: keys,
# operators issuing a trip file with every kind of bad row (twice: the
# second run credits nothing), a second operator's overlapping trip,
# citizens sending and redeeming, a merchant refunding, history, receipts,
# reconciliation, supply and audit; a wrong passphrase and an unreachable
# node each give their documented exit code. Run from the repository root
# after building (make integration).
set -eu

W=bin/carbon-wallet
for b in bin/carbon-wallet bin/carbon-node bin/carbon-genesis; do
	[ -x "$b" ] || { echo "20-wallet-citizens: FAIL: $b not built" >&2; exit 1; }
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
	echo "20-wallet-citizens: FAIL: $*" >&2
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

# Expects exit code $1 from the rest of the command line.
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
  "chain_id": "wallet-test-1",
  "tz_offset_s": 28800,
  "governor_threshold": 1,
  "members": [
    {"name": "city", "roles": ["validator", "governor", "issuer"], "modes": ["metro", "bus"]},
    {"name": "bike", "roles": ["issuer"], "modes": ["cycle", "walk"]},
    {"name": "store", "roles": ["merchant"]},
    {"name": "bank", "roles": ["bank"]}
  ]
}
EOF
bin/carbon-genesis create --desc "$tmp/desc.json" --out "$tmp/net" >/dev/null || fail "genesis"
P2P=$(free_port)
API=$(free_port)
NODE="http://127.0.0.1:$API"
bin/carbon-node init --genesis "$tmp/net/genesis.json" --key "$tmp/net/keys/city.key" \
	--home "$tmp/node" --p2p "127.0.0.1:$P2P" --api "127.0.0.1:$API" >/dev/null || fail "node init"

# Before the node runs: an unreachable node is exit 3 with advice.
expect_rc 3 $W supply --node "$NODE"
grep -q "cannot reach any node" "$tmp/err" || fail "unreachable node message"

bin/carbon-node start --home "$tmp/node" >"$tmp/node.log" 2>&1 &
node_pid=$!
i=0
until $W supply --node "$NODE" >/dev/null 2>&1; do
	kill -0 "$node_pid" 2>/dev/null || fail "the node exited (a port taken?)"
	i=$((i + 1))
	[ $i -lt 300 ] || fail "node did not come up within 30 s"
	sleep 0.1
done
# A dead first URL fails over to the live one.
DEAD="http://127.0.0.1:$(free_port)"
$W supply --node "$DEAD" --node "$NODE" >/dev/null || fail "fail-over to the second --node"

# ---- keys --------------------------------------------------------------
for k in city bike store bank; do
	$W import "$tmp/net/keys/$k.key" >/dev/null || fail "import $k"
done
for c in 0 1 2 3 4 5 6 7 8 9; do
	$W new "c$c" --kdf interactive >/dev/null || fail "new c$c"
done
expect_rc 5 $W new c0 --kdf interactive
# A key name that cannot be one is a usage error, not a keystore problem.
expect_rc 2 $W address "Not A Name"
grep -q "key \"Not A Name\": key name must be" "$tmp/err" || fail "bad key name: reason"
$W list | grep -q '^city ' || fail "list"
C0=$($W address c0)
C1=$($W address c1)
case "$C0" in cb1*) ;; *) fail "address: $C0" ;; esac
$W export-public c0 --json | grep -q "\"address\":\"$C0\"" || fail "export-public"
# A wrong passphrase is exit 5 and says so.
expect_rc 5 env CARBON_PASSPHRASE=wrong $W send "$C1" 1 --key c0 --node "$NODE"
grep -q "wrong passphrase" "$tmp/err" || fail "wrong passphrase message"
# Bad amounts are usage errors, before any key is read.
expect_rc 2 $W send "$C1" 1.2345 --key c0 --node "$NODE"
expect_rc 2 $W send "$C1" -1 --key c0 --node "$NODE"
grep -q "must not be negative" "$tmp/err" || fail "negative amount: reason"

# ---- an operator's trip file ----------------------------------------------
now=$(date +%s)
{
	echo "ref,citizen,mode,distance_m,start,end"
	for c in 0 1 2 3 4 5 6 7 8 9; do
		a=$($W address "c$c")
		echo "M$c-a,$a,metro,$((6000 + c * 100)),$((now - 10000)),$((now - 9000))"
		echo "M$c-b,$a,bus,$((3000 + c * 100)),$((now - 8000)),$((now - 7000))"
	done
	echo "X-mode,$C0,plane,1000,$((now - 6000)),$((now - 5000))"          # line 22
	echo "X-neg,$C0,bus,-5,$((now - 6000)),$((now - 5000))"               # 23
	echo "X-addr,cb1notanaddress,bus,5000,$((now - 6000)),$((now - 5000))" # 24
	echo "M0-a,$C0,metro,6000,$((now - 10000)),$((now - 9000))"           # 25 repeated
	echo "X-fast,$C1,metro,900000,$((now - 6000)),$((now - 5000))"        # 26 implausible
	echo "X-cycle,$C1,cycle,3000,$((now - 6000)),$((now - 5000))"         # 27 mode not allowed
	echo "X-old,$C1,metro,6000,$((now - 40 * 86400)),$((now - 40 * 86400 + 900))" # 28 window
} >"$tmp/trips.csv"

expect_rc 1 $W issue --key city --trips "$tmp/trips.csv" --batch-size 7 --node "$NODE"
cp "$tmp/out" "$tmp/issue1.out"
grep -q "^credited   20 trips" "$tmp/issue1.out" || fail "first issue: credited"
grep -q "^rejected   4 trips" "$tmp/issue1.out" || fail "first issue: rejected"
grep -q "3 unreadable rows" "$tmp/issue1.out" || fail "first issue: unreadable"
grep -q "line 22 .*unknown mode \"plane\"" "$tmp/issue1.out" || fail "line 22"
grep -q "line 23 .*negative" "$tmp/issue1.out" || fail "line 23"
grep -q "line 24 .*citizen" "$tmp/issue1.out" || fail "line 24"
grep -q "line 25 .*same ref as line 2" "$tmp/issue1.out" || fail "line 25"
grep -q "line 26 .*implausible" "$tmp/issue1.out" || fail "line 26"
grep -q "line 27 .*may not issue this mode" "$tmp/issue1.out" || fail "line 27"
grep -q "line 28 .*claim window" "$tmp/issue1.out" || fail "line 28"

# The same file again: nothing credited twice, and it says so.
expect_rc 1 $W issue --key city --trips "$tmp/trips.csv" --node "$NODE" --rejected-csv "$tmp/rej.csv"
grep -q "^credited   0 trips" "$tmp/out" || fail "second issue credited something"
grep -q "nothing was credited twice" "$tmp/out" || fail "second issue: no duplicate notice"
grep -q "^2,\"M0-a\",5,\"trip id already credited" "$tmp/rej.csv" || fail "rejected CSV"
grep -q "^22,\"X-mode\",,\"unreadable: unknown mode" "$tmp/rej.csv" || fail "rejected CSV: unreadable row"

# A second operator: an overlapping walk of c0 and a good ride of c1.
cat >"$tmp/bike.csv" <<EOF
ref,citizen,mode,distance_m,start,end
W1,$C0,walk,1000,$((now - 9800)),$((now - 9200))
B1,$C1,cycle,4000,$((now - 5000)),$((now - 4000))
EOF
expect_rc 1 $W issue --key bike --trips "$tmp/bike.csv" --node "$NODE"
grep -q "line 2 .*overlapping" "$tmp/out" || fail "overlap across operators"
grep -q "^credited   1 trips" "$tmp/out" || fail "bike credited"
# One trip on the command line, all good: exit 0.
expect_rc 0 $W issue --key bike --trip "B2,$C1,cycle,2000,$((now - 3000)),$((now - 2500))" \
	--node "$NODE"
# A citizen's key is no operator's.
expect_rc 1 $W issue --key c0 --trip "Z,$C1,cycle,2000,$((now - 3000)),$((now - 2500))" \
	--node "$NODE"

$W trip --ref M0-a --key city --node "$NODE" | grep -q "^citizen     $C0" || fail "trip --ref"
day=$(date -u -d "@$((now - 10000 + 28800))" +%Y-%m-%d)
$W reconcile --key city --day "$day" --trips "$tmp/trips.csv" --node "$NODE" >"$tmp/rec.csv" ||
	fail "reconcile"
grep -q ',"M0-a",2,' "$tmp/rec.csv" || fail "reconcile: ref and line"

# ---- citizens ------------------------------------------------------------
bal0=$($W balance c0 --node "$NODE" --json | sed -n 's/.*"balance_g":\([0-9]*\).*/\1/p')
[ "$bal0" -gt 300 ] || fail "c0 balance $bal0"
$W send c1 0.2 --key c0 --node "$NODE" | grep -q "^committed in block" || fail "send"
bal0b=$($W balance c0 --node "$NODE" --json | sed -n 's/.*"balance_g":\([0-9]*\).*/\1/p')
[ "$bal0b" -eq $((bal0 - 200)) ] || fail "balance after send: $bal0b"
expect_rc 1 $W send c1 100000 --key c0 --node "$NODE"
grep -q "insufficient balance" "$tmp/err" || fail "insufficient balance message"
$W history c0 --node "$NODE" --all >"$tmp/hist" || fail "history"
grep -q "transfer .* -0.200 kg" "$tmp/hist" || fail "history: transfer"
grep -q "transfer  *- kg  insufficient balance" "$tmp/hist" || fail "history: a rejected transfer"
# Not followed to its block: the advice names the command that follows it.
# (With --wait-ms 1 the transfer may still commit in time: a block can
# close within the millisecond.)
_rc=0
$W send c1 0.001 --key c0 --node "$NODE" --wait-ms 1 >"$tmp/out" 2>"$tmp/err" || _rc=$?
case $_rc in
0) grep -q "^committed in block" "$tmp/out" || fail "wait-ms 1: exit 0 but not committed" ;;
1) grep -q "still pending: check later with 'carbon-wallet tx [0-9a-f]\{64\}'" "$tmp/err" ||
	fail "pending: advice" ;;
*) fail "wait-ms 1: exit $_rc" ;;
esac
expect_rc 0 $W send c1 0.001 --key c0 --node "$NODE" --no-wait
grep -q "^submitted 0.001 kg to c1" "$tmp/out" || fail "--no-wait: submitted"
grep -q "see 'carbon-wallet tx [0-9a-f]\{64\}'" "$tmp/out" || fail "--no-wait: advice"
pending=$(sed -n "s/.*carbon-wallet tx \([0-9a-f]\{64\}\).*/\1/p" "$tmp/out")
i=0
until $W tx "$pending" --node "$NODE" >"$tmp/tx" 2>&1 && grep -q "^committed in block" "$tmp/tx"; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$tmp/tx" >&2; fail "tx: the pending transfer never committed"; }
	sleep 0.1
done
grep -q "^transfer transaction from $C0" "$tmp/tx" || fail "tx: kind and sender"
grep -q "trip metro" "$tmp/hist" || fail "history: trip details"
$W audit c0 --node "$NODE" >/dev/null || fail "audit"

# ---- merchants and the green store ---------------------------------------
$W offer publish --key store --id 7 --name "Metro day pass" --price 0.25 --stock 2 \
	--node "$NODE" >/dev/null || fail "offer publish"
$W offers --node "$NODE" | grep -q "Metro day pass" || fail "offers"
$W redeem 7 --key c1 --node "$NODE" >"$tmp/redeem" || fail "redeem"
receipt=$(sed -n 's/^receipt  //p' "$tmp/redeem")
[ ${#receipt} -eq 64 ] || fail "no receipt id"
grep -q "^price    0.250 kg" "$tmp/redeem" || fail "receipt price"
$W offer update --key store --id 7 --name "Metro day pass" --price 0.3 --stock 5 \
	--node "$NODE" >/dev/null || fail "offer update"
# A price above what the citizen agreed to is refused by the ledger.
expect_rc 1 $W redeem 7 --max-price 0.2 --key c1 --node "$NODE"
grep -q "price above" "$tmp/err" || fail "max price"
# The merchant's receipts list it (by its key or by the merchant's address).
$W receipts --key store --node "$NODE" >"$tmp/receipts" || fail "receipts"
grep -q "^$receipt  block [0-9]* *offer 7 *0.250 kg  $C1\$" "$tmp/receipts" ||
	{ cat "$tmp/receipts" >&2; fail "receipts: the redemption"; }
$W refund "$receipt" --key store --node "$NODE" >/dev/null || fail "refund"
$W receipts "$($W address store)" --node "$NODE" | grep -q "^$receipt .*  REFUNDED\$" ||
	fail "receipts: refunded"
$W receipt "$receipt" --node "$NODE" | grep -q "refunded in block" || fail "receipt after refund"
expect_rc 1 $W refund "$receipt" --key store --node "$NODE"
expect_rc 1 $W refund "$receipt" --key c1 --node "$NODE"
$W offer withdraw --key store --id 7 --node "$NODE" >/dev/null || fail "withdraw"
expect_rc 1 $W redeem 7 --key c1 --node "$NODE"

# ---- a sample day from sample-trips ------------------------------------------------
# Every planted repeat and too-fast row is reported, overlaps across the two
# operators are rejected (at most one per planted pair: caps may take the
# first trip), and the rest is credited or capped.
$W sample-trips --genesis "$tmp/net/genesis.json" --out-dir "$tmp/sample" --trips 300 \
	--citizens 30 --seed 5 >"$tmp/sample.out" || fail "sample-trips"
planted() { sed -n "s|^$tmp/sample/$1.csv .*planted: \([0-9]*\) repeated, \([0-9]*\) overlapping, \([0-9]*\) too fast|\\$2|p" "$tmp/sample.out"; }
overlaps=0
for op in city bike; do
	[ -s "$tmp/sample/$op.csv" ] || fail "sample-trips wrote no $op.csv"
	expect_rc 1 $W issue --key "$op" --trips "$tmp/sample/$op.csv" --node "$NODE" \
		--rejected-csv "$tmp/sample-$op-rej.csv"
	n=$(grep -c "same ref as line" "$tmp/sample-$op-rej.csv" || true)
	[ "$n" -eq "$(planted $op 1)" ] || fail "$op: $n repeats reported, $(planted $op 1) planted"
	n=$(grep -c "implausible" "$tmp/sample-$op-rej.csv" || true)
	[ "$n" -eq "$(planted $op 3)" ] || fail "$op: $n too fast reported, $(planted $op 3) planted"
	overlaps=$((overlaps + $(grep -c "overlapping" "$tmp/sample-$op-rej.csv" || true)))
	bad=$(grep -v '^line,' "$tmp/sample-$op-rej.csv" |
		grep -cv "same ref as line\|implausible\|overlapping\|daily cap" || true)
	[ "$bad" -eq 0 ] || { cat "$tmp/sample-$op-rej.csv" >&2; fail "$op: unexpected rejections"; }
done
want=$(($(planted city 2) + $(planted bike 2)))
[ "$overlaps" -gt 0 ] && [ "$overlaps" -le "$want" ] || fail "$overlaps overlaps rejected, $want planted"

# ---- totals ------------------------------------------------------------------
$W supply --node "$NODE" >"$tmp/supply" || fail "supply check"
grep -q "circulating: ok" "$tmp/supply" || fail "supply invariant"
$W audit c1 --node "$NODE" --totals-only >"$tmp/audit" || fail "audit c1"
grep -q "= the sum of the history" "$tmp/audit" || fail "audit c1: totals"
head -1 "$tmp/audit" | grep -q "^account  $C1" || fail "audit c1: first line"

echo "20-wallet-citizens: ok"
