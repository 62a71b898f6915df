#!/bin/sh
# Fault injection: storage faults on a four-validator cluster under a
# steady load of signed transactions. Each must end in a clear error and a
# safe stop, never a corrupted database and never a double signature:
#   1. bank's LMDB map full (map_mb 16, then a flood of transfers): bank
#      stops with event=fatal "... database map is full" and exit 1; its
#      database passes mdb_stat; with map_mb raised it resumes and agrees;
#   2. metro's data/ read-only (a read-only bind mount, as root; otherwise
#      chattr +i; skipped if neither works): metro refuses to start, exit
#      non-zero, data.mdb unchanged; writable again, it catches up;
#   3. bus's keystore with one byte flipped: exit 3, "corrupted";
#   4. city's safety state with one byte of its record flipped: city
#      refuses to start (exit 1, "corrupted"), signs nothing; the operator
#      procedure of docs/OPERATIONS.md ("same key, wait out the height":
#      a replica until the chain is two heights past, then a validator
#      with --fresh-safety, which it refuses to start without) brings it
#      back without a double signature.
# After each: acknowledged transactions committed everywhere, same state
# root, supply invariant, no evidence, no unexpected fatal stop.
. tests/integration/lib.sh

RO_MNT=""
CHATTR=""
storage_cleanup() {
	rc=$?
	# Off in the handler: a failing umount, or (exit $rc) below, would
	# otherwise end the shell before cleanup stops the nodes.
	set +e
	[ -n "$RO_MNT" ] && umount "$RO_MNT" 2>/dev/null
	[ -n "$CHATTR" ] && chattr -R -i "$CHATTR" 2>/dev/null
	(exit $rc)
	cleanup
}
trap storage_cleanup EXIT INT TERM

# flip_byte FILE OFFSET: inverts one byte in place.
flip_byte() {
	_b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	# shellcheck disable=SC2059
	printf "$(printf '\\%03o' $((_b ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# run_fg NAME LOG [flags]: starts NAME's node in the foreground (at most
# 20 s) and sets RC to its exit code and SECS to how long it ran.
run_fg() {
	_h=$1; _log=$2; shift 2
	_t0=$(date +%s)
	RC=0
	timeout 20 "$BIN/carbon-node" start --home "$T/$_h" "$@" > "$_log" 2>&1 || RC=$?
	SECS=$(($(date +%s) - _t0))
}

start_cluster4
build_tool load
load_start --rate 30
wait_acks 100 60
check_cluster $NODES4
ok "four validators under load ($(acks) commits acknowledged)"

# ---- 1. LMDB map full --------------------------------------------------------
stop_node bank
jq '.map_mb = 16' "$T/bank/config.json" > "$T/cfg" && mv "$T/cfg" "$T/bank/config.json"
start_node bank
wait_height bank "$(height city)" 30
"$T/load" flood --net "$T/n4" --api "127.0.0.1:$(cat "$T/city.api")" --count 60000 --batch 10000 \
	> "$T/flood.out" 2> "$T/flood.log" || fail "the flood client failed: $(cat "$T/flood.log")"
i=0
while kill -0 "$(cat "$T/bank.pid")" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 600 ] || fail "bank still runs with a 16 MB map ($(du -k "$T/bank/data/data.mdb" | cut -f1) kB)"
	sleep 0.1
done
rc=0; wait "$(cat "$T/bank.pid")" || rc=$?
[ "$rc" = 1 ] || fail "bank stopped with exit code $rc, not 1"
line=$(grep 'event=fatal' "$T/bank.log" | tail -1)
echo "$line" | grep -q 'map' || fail "bank's fatal line does not name the map: $line"
mdb_stat -a "$T/bank/data" > "$T/mdb_stat.out" 2>&1 || fail "mdb_stat on bank's data: $(tail -3 "$T/mdb_stat.out")"
stopped_at=$(grep 'event=stopped' "$T/bank.log" | tail -1 | sed 's/.*height=\([0-9]*\).*/\1/')
ok "map full: bank stopped at height $stopped_at, exit 1, logged: $(echo "$line" | sed 's/.*event=fatal //'); mdb_stat reads its $(du -k "$T/bank/data/data.mdb" | cut -f1) kB database"
# The fatal stop is the expected one; later checks look for new ones.
mv "$T/bank.log" "$T/bank.mapfull-log"
jq '.map_mb = 256' "$T/bank/config.json" > "$T/cfg" && mv "$T/cfg" "$T/bank/config.json"
start_node bank
wait_height bank "$(height city)" 60
check_cluster $NODES4
ok "map raised to 256 MB: bank resumed from $stopped_at and agrees ($ACKS_CHECKED acknowledged commits sampled)"

# ---- 2. data directory read-only ---------------------------------------------
stop_node metro
sum0=$(sha256sum "$T/metro/data/data.mdb" | cut -d' ' -f1)
how=""
if mount --bind "$T/metro/data" "$T/metro/data" 2>/dev/null; then
	RO_MNT="$T/metro/data"
	if mount -o remount,bind,ro "$T/metro/data" 2>/dev/null; then how="a read-only bind mount"; fi
fi
if [ -z "$how" ]; then
	[ -n "$RO_MNT" ] && umount "$RO_MNT" 2>/dev/null
	RO_MNT=""
	if chattr -R +i "$T/metro/data" 2>/dev/null; then CHATTR="$T/metro/data"; how="chattr +i"; fi
fi
if [ -n "$how" ]; then
	run_fg metro "$T/metro-ro.out"
	[ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] || fail "metro on a read-only data/ exited $RC"
	err=$(grep 'level=error' "$T/metro-ro.out" | head -1)
	[ -n "$err" ] || fail "metro on a read-only data/ gave no error line: $(tail -3 "$T/metro-ro.out")"
	cause=$(grep -i -m1 'read-only\|not permitted' "$T/metro-ro.out" || true)
	[ -n "$cause" ] || fail "metro did not name the cause: $(tail -3 "$T/metro-ro.out")"
	if [ -n "$RO_MNT" ]; then umount "$RO_MNT"; RO_MNT=""; fi
	if [ -n "$CHATTR" ]; then chattr -R -i "$CHATTR"; CHATTR=""; fi
	[ "$(sha256sum "$T/metro/data/data.mdb" | cut -d' ' -f1)" = "$sum0" ] || fail "data.mdb changed"
	ok "read-only data/ ($how): metro exited $RC in ${SECS}s with: $cause / $(echo "$err" | sed 's/^ts=[^ ]* //'); data.mdb unchanged"
else
	echo "skip - cannot make a directory read-only here (no bind mount, no chattr): read-only data/ not tested"
fi
start_node metro
wait_height metro "$(height city)" 60
ok "metro back on a writable data/"

# ---- 3. corrupted keystore -----------------------------------------------------
stop_node bus
cp "$T/bus/member.key" "$T/bus.key.good"
flip_byte "$T/bus/member.key" 100
run_fg bus "$T/bus-key.out"
[ "$RC" = 3 ] || fail "bus with a corrupted keystore exited $RC, not 3: $(tail -3 "$T/bus-key.out")"
grep -q 'corrupted' "$T/bus-key.out" || fail "bus did not say the keystore is corrupted: $(tail -3 "$T/bus-key.out")"
ok "corrupted keystore: exit 3 in ${SECS}s: $(grep -m1 corrupted "$T/bus-key.out" | sed 's/^ts=[^ ]* //')"
cp "$T/bus.key.good" "$T/bus/member.key"
start_node bus
wait_height bus "$(height city)" 60

# ---- 4. corrupted safety state -------------------------------------------------
stop_node city
signed_h=$(grep 'event=stopped' "$T/city.log" | tail -1 | sed 's/.*height=\([0-9]*\).*/\1/')
# Every copy of the record in the LMDB file (the live page and older
# ones): the key "safety" is followed at once by its value.
n=0
for off in $(grep -obUa 'safety' "$T/city/safety/data.mdb" | cut -d: -f1); do
	flip_byte "$T/city/safety/data.mdb" $((off + 6 + 4))
	n=$((n + 1))
done
[ "$n" -gt 0 ] || fail "no safety record found in city/safety/data.mdb"
run_fg city "$T/city-safety.out"
[ "$RC" = 1 ] || fail "city with a corrupted safety state exited $RC, not 1: $(tail -3 "$T/city-safety.out")"
grep -q 'corrupted' "$T/city-safety.out" || fail "city did not say the safety state is corrupted: $(tail -3 "$T/city-safety.out")"
! grep -q 'event=commit\|event=safety_restored' "$T/city-safety.out" || fail "city ran consensus on a corrupted safety state"
ok "corrupted safety state ($n copies of the record flipped): city refused in ${SECS}s, exit 1: $(grep -m1 corrupted "$T/city-safety.out" | sed 's/^ts=[^ ]* //')"
check_no_evidence metro bus bank

# docs/OPERATIONS.md, "Same key, wait out the height": a validator
# without its safety state starts only with --fresh-safety, and only once
# the chain is past every height it could have signed in.
mv "$T/city/safety" "$T/city.safety.corrupt"
start_node city --replica
wait_height city $((signed_h + 2)) 60
wait_height metro $((signed_h + 2)) 60
stop_node city
run_fg city "$T/city-nosafety.out"
[ "$RC" = 1 ] || fail "city without a safety state on a used ledger exited $RC, not 1"
grep -q 'fresh-safety' "$T/city-nosafety.out" || fail "city did not point at --fresh-safety: $(tail -2 "$T/city-nosafety.out")"
start_node city --fresh-safety
h=$(height metro)
wait_height city $((h + 5)) 60
ok "city back as a validator after following the chain as a replica from $signed_h to past $((signed_h + 2))"

wait_more_acks 30 60
check_cluster $NODES4
load_stop
[ "$(jq '[.reasons | to_entries[] | select(.key | test("^(duplicate|nonce_pending|nonce_used|dropped|trip_pending|mempool_full)$") | not)] | length' "$T/load.json")" = 0 ] ||
	fail "valid transactions were refused: $(jq -c .reasons "$T/load.json")"
ok "after the storage faults: $ACKS_CHECKED acknowledged commits sampled on every node, same state root, supply holds, no evidence on any node, no other fatal stop"
