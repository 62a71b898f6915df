#!/bin/sh
# Fault injection: SIGKILL of the proposer, six times, under a steady load of signed transactions (tests/integration/faults/
# load.c), each time restarted (at once, or after the others went on
# without it). After each kill the other three must keep committing; at
# the end every node must hold every transaction acknowledged as
# committed, at the same height, with the same state root, the supply
# invariant, no evidence of a double signature and no fatal stop.
. tests/integration/lib.sh

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# next_proposer OBSERVER: "HEIGHT NAME", the member that proposes round 0
# of the height after the one the observer works on: validators[(h + r) mod
# n] (docs/CONSENSUS.md). Under load a height lasts about 60 ms, less than
# it takes to ask and kill, so the script kills the proposer of the next
# height: the kill lands before its turn, which then must time out and
# move to round 1.
next_proposer() {
	_s=$(status "$1" || true)
	_h=$(echo "$_s" | jq -r '.consensus_height + 1' 2>/dev/null || true)
	_addr=$(echo "$_s" | jq -r '.validators[(.consensus_height + 1) % (.validators | length)]' 2>/dev/null || true)
	echo "$_h $(jq -r --arg a "$_addr" '.members[] | select(.keys[0] == $a) | .name' "$T/n4/genesis.json")"
}

start_cluster4
load_start --rate 40
wait_acks 100 60
check_cluster $NODES4
ok "four validators under load ($(acks) commits acknowledged)"

i=1
stalls=""
while [ $i -le 6 ]; do
	# The observer: a node other than the one restarted last, which may
	# not serve its API yet.
	for obs in $NODES4; do [ "$obs" != "${p:-}" ] && break; done
	set -- $(next_proposer $obs)
	hp=${1:-}; p=${2:-}
	[ -n "$p" ] || fail "cannot tell the next proposer from $obs"
	if [ "$p" = "$obs" ]; then
		for obs in $NODES4; do [ "$obs" != "$p" ] && [ "$(height $obs)" -gt 0 ] 2>/dev/null && break; done
	fi
	a0=$(acks)
	t0=$(now_ms)
	kill_node "$p"
	# Its height, then one more: the first needs a round change.
	wait_height $obs $((hp + 1)) 30
	stalls="$stalls $(($(now_ms) - t0))"
	if [ $((i % 2)) -eq 0 ]; then
		wait_more_acks 20 30
	fi
	start_node "$p"
	[ "$(acks)" -gt "$a0" ] || wait_more_acks 1 30
	i=$((i + 1))
done
ok "six next proposers killed; their height and the next committed without them in (ms):$stalls"

wait_more_acks 50 60
check_cluster $NODES4
ok "after the kills: $ACKS_CHECKED of $(acks) acknowledged commits sampled, present on every node; same state root; supply holds; no evidence, no fatal stop"

load_stop
check_supply $NODES4
ok "load: $(load_stat sent) sent, $(load_stat resent) resent, $(load_stat status_202) timeouts, $(load_stat conn_errors) connection errors; refusals: $(jq -c .reasons "$T/load.json")"
[ "$(jq '[.reasons | to_entries[] | select(.key | test("^(duplicate|nonce_pending|nonce_used|dropped|trip_pending|mempool_full)$") | not)] | length' "$T/load.json")" = 0 ] ||
	fail "valid transactions were refused: $(jq -c .reasons "$T/load.json")"
