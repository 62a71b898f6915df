#!/bin/sh
# Four validators (n = 4, f = 1) as real processes: they commit together,
# survive the loss of one, stop without a quorum and resume with it, never
# double-sign when killed in a tight loop, let a non-voting replica follow,
# and refuse a peer whose key is not in the genesis.
. tests/integration/lib.sh

make_net n4 tests/integration/net4.json
for m in city metro bus bank; do init_node "$m" n4 "$m"; done
for m in city metro bus bank; do start_node "$m"; done
for m in city metro bus bank; do wait_height "$m" 3 30; done
same_state city metro bus bank
ok "four validators commit the same blocks"

# Transactions submitted to different nodes commit on all four.
export HOME="$T/home"
mkdir -p "$HOME/.config"
W="$BIN/carbon-wallet"
"$W" import "$T/n4/keys/metro.key" metro > /dev/null
"$W" new alice > /dev/null
"$W" new bob > /dev/null
alice=$("$W" address alice)
bob=$("$W" address bob)
now=$(date +%s)
"$W" issue --key metro --node "$(api city)" \
	--trip "it-1,$alice,metro,10000,$((now - 3600)),$((now - 3000))" > "$T/issue.out" ||
	fail "issue through city: $(cat "$T/issue.out")"
"$W" send --key alice --node "$(api bus)" "$bob" 0.1 --json > "$T/send.out" ||
	fail "send through bus: $(cat "$T/send.out")"
txh=$(jq -r '.hash // .tx // empty' "$T/send.out")
[ -n "$txh" ] || fail "send printed no hash: $(cat "$T/send.out")"
for m in city metro bus bank; do
	st=$(curl -s "$(api "$m")/v1/tx/$txh" | jq -r .status)
	[ "$st" = committed ] || wait_tx=1
	b=$(curl -s "$(api "$m")/v1/account/$bob" | jq -r .balance_g)
	a=$(curl -s "$(api "$m")/v1/account/$alice" | jq -r .balance_g)
	[ "$b" = 100 ] && [ "$a" = 367 ] || { sleep 1; b=$(curl -s "$(api "$m")/v1/account/$bob" | jq -r .balance_g); a=$(curl -s "$(api "$m")/v1/account/$alice" | jq -r .balance_g); }
	[ "$b" = 100 ] || fail "$m: bob has $b g, expected 100"
	[ "$a" = 367 ] || fail "$m: alice has $a g, expected 467 - 100"
	[ "$(curl -s "$(api "$m")/v1/tx/$txh" | jq -r .status)" = committed ] ||
		fail "$m: transfer $txh not committed"
done
ok "an issue via one node and a transfer via another commit on all four"

# Every validator checked both signatures (admission or the proposal
# check), and not once per path: carbon_sig_verifies_total counts them.
for m in city metro bus bank; do
	v=$(curl -s --max-time 5 "$(api "$m")/metrics" | awk '$1 == "carbon_sig_verifies_total" {print $2}')
	[ -n "$v" ] && [ "$v" -ge 2 ] && [ "$v" -le 3 ] ||
		fail "$m: $v signature checks for 2 transactions"
done
ok "each validator verified the two signatures, once each (carbon_sig_verifies_total)"

# The storage gauges and the apply time counters are there and move: the
# leaf cache has pages, and applying the blocks so far took some time.
m=$(curl -s --max-time 5 "$(api metro)/metrics")
for k in carbon_ledger_db_bytes carbon_ledger_cache_bytes carbon_block_apply_us_total \
	carbon_block_apply_cpu_us_total; do
	v=$(printf '%s\n' "$m" | awk -v k="$k" '$1 == k {print $2}')
	[ -n "$v" ] && [ "$v" -gt 0 ] || fail "metro: metric $k is '$v'"
done
ok "storage and apply-time metrics are reported"

kill_node city
h=$(height metro)
wait_height metro $((h + 3)) 20
wait_height bank $((h + 3)) 20
ok "three of four keep committing after SIGKILL of one"

start_node city
wait_height city $((h + 3)) 30
same_state metro city bus bank
[ "$(curl -s "$(api city)/v1/tx/$txh" | jq -r .status)" = committed ] ||
	fail "city lost the committed transfer after SIGKILL"
ok "the killed validator restarts, catches up and agrees"

stop_node bus
stop_node bank
sleep 1
h1=$(height city)
sleep 3
h2=$(height city)
[ "$h2" -le $((h1 + 1)) ] || fail "two of four validators committed ($h1 -> $h2)"
ok "with two of four stopped nothing commits"

start_node bank
wait_height city $((h2 + 2)) 30
ok "commits resume when a third validator returns"
start_node bus

i=0
while [ $i -lt 6 ]; do
	kill_node metro
	start_node metro
	sleep 0.$(( ($(od -An -N1 -tu1 /dev/urandom) % 9) + 1 ))
	i=$((i + 1))
done
h=$(height city)
wait_height metro $((h + 2)) 30
for m in city metro bus bank; do
	n=$(curl -s "$(api "$m")/v1/evidence" | jq 'if type == "array" then length else (.evidence | length) end')
	[ "$n" = 0 ] || fail "$m holds $n pieces of equivocation evidence"
done
ok "a validator killed and restarted in a tight loop never signs two conflicting votes"

init_node replica n4 store
start_node replica --replica
h=$(height city)
wait_height replica "$h" 30
same_state city replica
curl -s "$(api replica)/v1/supply" | jq -e . > /dev/null || fail "replica does not serve the API"
ok "a non-voting replica follows the chain and serves the API"

make_net other tests/integration/net4.json
init_node outsider other city
# Point the outsider at the real city node and let it try for a while.
tmp=$(mktemp)
city_key=$(jq -r '.members[0].keys[0]' "$T/n4/genesis.json")
jq --arg k "$city_key" --arg a "$(jq -r .p2p_listen "$T/city/config.json")" \
	'.peers = [{"key": $k, "addr": $a}] | .p2p_listen = "127.0.0.1:0"' \
	"$T/outsider/config.json" > "$tmp" && mv "$tmp" "$T/outsider/config.json"
start_node outsider --replica
sleep 2
grep -q "unknown\|not in the peer list\|refus" "$T/city.log" || fail "city did not log refusing the outsider"
[ "$(status outsider | jq -r .peers)" = 0 ] || fail "outsider got a peer"
ok "a peer with a key not in the genesis is refused"
