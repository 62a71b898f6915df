#!/bin/sh
# Validators killed between a block's execution and its synced commit.
# The next height starts once block h executed (ledger/executed.c), so a
# node may have voted at h+1 when SIGKILL lands before h is in its ledger.
# The decided block is in the safety store before any such vote
# (store_decided in node/node.c), and a restart applies it first
# (replay_decided), so the core resumes at h+1 with its lock. The failpoint
# CARBON_FAILPOINT_COMMIT_DELAY_MS holds the storage thread in that window
# for 1.5 s per block, so that the kills land in it (seen as
# consensus_height = height + 2 before the kill, and as event=
# decided_replayed after the restart).
#   1. metro alone, with bank stopped so that every height needs metro's
#      votes: killed until two restarts replayed a decided block; the chain
#      goes on each time;
#   2. all four at once, each inside the window: every block they had
#      voted past is on none of their ledgers, only in their safety
#      stores; they restart, replay it and go on.
# After each: all agree on the state root, nobody holds equivocation
# evidence, no fatal stop.
. tests/integration/lib.sh

make_net n4 tests/integration/net4.json
for m in city metro bus bank; do init_node "$m" n4 "$m"; done

start_delayed() { # start_delayed NODE: with the failpoint
	export CARBON_FAILPOINT_COMMIT_DELAY_MS=1500
	start_node "$1"
	unset CARBON_FAILPOINT_COMMIT_DELAY_MS
}
in_window() { # in_window NODE: voting a height past the block it commits
	_s=$(status "$1")
	_h=$(printf '%s' "$_s" | jq -r '.height // 0')
	_c=$(printf '%s' "$_s" | jq -r '.consensus_height // 0')
	[ "$_c" -ge $((_h + 2)) ] 2>/dev/null
}
wait_window() {
	_i=0
	until in_window "$1"; do
		_i=$((_i + 1))
		[ $_i -lt 300 ] || fail "$1 never ran a height ahead of its commit"
		sleep 0.05
	done
}
replays() { grep -c 'event=decided_replayed' "$T/$1.log" 2>/dev/null || true; }
no_evidence() {
	for _m in city metro bus bank; do
		_n=$(curl -s "$(api "$_m")/v1/evidence" | jq 'if type == "array" then length else (.evidence | length) end')
		[ "$_n" = 0 ] || fail "$_m holds $_n pieces of equivocation evidence"
		grep -q 'event=fatal' "$T/$_m.log" && fail "$_m stopped on a fatal error"
	done
	return 0
}

for m in city bus bank; do start_node "$m"; done
start_delayed metro
for m in city metro bus bank; do wait_height "$m" 2 30; done
stop_node bank
h=$(height city)
wait_height city $((h + 2)) 30
ok "three validators commit with metro's commits held back 1.5 s each"

kills=0
while [ "$(replays metro)" -lt 2 ]; do
	[ $kills -lt 8 ] || fail "8 kills of metro, $(replays metro) replayed a decided block"
	wait_window metro
	sleep 0.1 # inside the 1.5 s window, after the height's votes
	kill_node metro
	kills=$((kills + 1))
	start_delayed metro
	# Back at the tip (the chain waits for it) before the next kill.
	wait_height metro $(($(height city) + 1)) 60
done
ok "metro killed $kills time(s) inside the window; its restarts applied $(replays metro) decided block(s) from the safety store and it voted on"

kill_node metro
start_node metro
start_node bank
h=$(height city)
for m in city metro bus bank; do wait_height "$m" $((h + 3)) 60; done
same_state city metro bus bank
no_evidence
ok "metro and bank caught up, all four agree on the state root, no evidence anywhere"

for m in city metro bus bank; do kill_node "$m"; start_delayed "$m"; done
for m in city metro bus bank; do wait_height "$m" $((h + 4)) 60; done
before=0
for m in city metro bus bank; do before=$((before + $(replays "$m"))); done
for m in city metro bus bank; do wait_window "$m"; done
sleep 0.1
for m in city metro bus bank; do kill_node "$m"; done
for m in city metro bus bank; do start_node "$m"; done
h=0
for m in city metro bus bank; do
	_x=$(height "$m")
	[ "${_x:-0}" -gt "$h" ] && h=$_x
done
for m in city metro bus bank; do wait_height "$m" $((h + 3)) 60; done
after=0
for m in city metro bus bank; do after=$((after + $(replays "$m"))); done
[ $((after - before)) -ge 1 ] || fail "no node replayed a decided block after the kill of all four"
same_state city metro bus bank
no_evidence
ok "all four killed inside the window: $((after - before)) decided block(s) replayed from their safety stores, the chain goes on, same state root, no evidence"
