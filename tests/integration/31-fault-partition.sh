#!/bin/sh
# Fault injection: network partitions under a steady load of signed
# transactions. Every peer connection runs through a relay the script
# controls (tests/integration/faults/proxy.c; link "A-B" carries A's
# connection to B), so links can be cut without root:
#   1. one validator (a minority) cut off from the other three, as a
#      pulled cable (the relay holds the bytes: "pause"): the three go on
#      committing, the one stalls; healed, it catches up;
#   2. a split two against two, as refused and reset connections
#      ("drop"): no side has a quorum, so nothing commits anywhere;
#      healed, commits resume.
# After each: every acknowledged transaction committed on every node at
# its height, the same state root, the supply invariant, no evidence of a
# double signature, no fatal stop. The relay is a child of this script and
# is killed with the nodes, also when a check fails.
. tests/integration/lib.sh

now_ms() { echo $(($(date +%s%N) / 1000000)); }

start_cluster4 proxy
load_start --rate 40
wait_acks 100 60
check_cluster $NODES4
ok "four validators through the relay, under load ($(acks) commits acknowledged)"

# 1. minority cut off
cut_links pause "bank" "city metro bus"
hb=$(height bank)
hm=$(height metro)
a0=$(acks)
sleep 4
hb2=$(height bank)
wait_height metro $((hm + 10)) 20
wait_more_acks 50 20
[ "$hb2" -le $((hb + 1)) ] || fail "the cut-off validator committed alone ($hb -> $hb2)"
ok "bank cut off: it stays at $hb2 (was $hb), the majority commits $hm -> $(height metro), $(($(acks) - a0)) more acknowledged"
t0=$(now_ms)
heal_links
wait_height bank "$(height metro)" 30
ok "healed: bank caught up with the majority in $(($(now_ms) - t0)) ms"
check_cluster $NODES4
ok "after the minority partition: $ACKS_CHECKED acknowledged commits sampled on every node, same state root, supply holds, no evidence"

# 2. split without a quorum
cut_links drop "city metro" "bus bank"
sleep 1
for m in $NODES4; do eval "h_$m=$(height $m)"; done
sleep 4
for m in $NODES4; do
	eval "was=\$h_$m"
	now=$(height $m)
	[ "$now" -le $((was + 1)) ] || fail "$m committed without a quorum ($was -> $now)"
done
# Acknowledgements may still arrive for what committed before the cut
# (a sender that timed out asks again), but none above those heights.
top=0
for m in $NODES4; do eval "was=\$h_$m"; [ "$was" -gt "$top" ] && top=$was; done
late=$(awk -v h="$top" '$2 > h + 1' "$T/acks" | wc -l)
[ "$late" = 0 ] || fail "$late commits acknowledged above height $((top + 1)) during the split"
ok "split 2/2: no node commits (heights $(for m in $NODES4; do printf '%s ' "$(height $m)"; done)), nothing acknowledged above them"
t0=$(now_ms)
hs=$(height city)
heal_links
for m in $NODES4; do wait_height $m $((hs + 3)) 30; done
wait_more_acks 20 30
ok "healed: commits resumed in $(($(now_ms) - t0)) ms"
check_cluster $NODES4
ok "after the split: $ACKS_CHECKED acknowledged commits sampled on every node, same state root, supply holds, no evidence"

load_stop
kill -0 "$PROXY_PID" || fail "the relay died"
ok "load: $(load_stat sent) sent, $(load_stat resent) resent, $(load_stat status_202) timeouts, $(load_stat conn_errors) connection errors; refusals: $(jq -c .reasons "$T/load.json")"
[ "$(jq '[.reasons | to_entries[] | select(.key | test("^(duplicate|nonce_pending|nonce_used|dropped|trip_pending|mempool_full)$") | not)] | length' "$T/load.json")" = 0 ] ||
	fail "valid transactions were refused: $(jq -c .reasons "$T/load.json")"
