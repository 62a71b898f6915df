#!/bin/sh
# One validator (n = 1): commits through the same consensus path, survives
# hostile HTTP input, stops cleanly on SIGTERM and resumes exactly where it
# was after a restart.
. tests/integration/lib.sh

make_net n1 tests/integration/net1.json
init_node v1 n1 city
start_node v1
wait_height v1 3
ok "single validator commits blocks"

A=$(api v1)
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
[ "$(code "$A/v1/nope")" = 404 ] || fail "unknown path not 404"
[ "$(code -X POST --data-binary 'zz-not-hex' -H 'Content-Type: text/plain' "$A/v1/tx")" -ge 400 ] || fail "bad hex accepted"
[ "$(code -X POST --data-binary '{"tx": 12}' -H 'Content-Type: application/json' "$A/v1/tx")" -ge 400 ] || fail "bad JSON accepted"
[ "$(code -X POST --data-binary "$(printf '\x93\x01\x02')" -H 'Content-Type: application/octet-stream' "$A/v1/tx")" -ge 400 ] || fail "bad msgpack accepted"
head -c 9000000 /dev/zero > "$T/big"
c=$(code -X POST --data-binary @"$T/big" -H 'Content-Type: application/octet-stream' "$A/v1/tx")
[ "$c" = 413 ] || [ "$c" = 400 ] || [ "$c" = 000 ] || fail "oversize body answered $c"
[ "$(code "$A/v1/account/cb1notanaddress")" = 400 ] || fail "bad address not 400"
[ "$(code "$A/v1/block/99999999999999999999999")" = 400 ] || fail "overflowing height not 400"
msg=$(curl -s "$A/v1/account/cb1aaaa" | jq -r .error)
[ -n "$msg" ] && [ "$msg" != null ] || fail "4xx answer without a machine-readable reason"
kill -0 "$(cat "$T/v1.pid")" || fail "node died on bad input"
h=$(height v1)
wait_height v1 $((h + 2))
ok "bad HTTP input gets 4xx and the node keeps committing"

stop_node v1
h=$(grep 'event=stopped' "$T/v1.log" | tail -1 | sed 's/.*height=\([0-9]*\).*/\1/')
start_node v1
wait_height v1 "$h" 10
r1=$(curl -s "$A/v1/block/$h" | jq -r .header.state_root)
[ "$r1" != null ] || fail "block $h missing after restart"
wait_height v1 $((h + 2))
ok "clean stop and restart resume at height $h"

kill_node v1
start_node v1
wait_height v1 $((h + 3))
ok "SIGKILL and restart resume"

rc=0
"$BIN/carbon-node" start --home "$T/v1" --api 127.0.0.1:0 > "$T/second.log" 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "a second process on the same home exited $rc, expected 3"
grep -q "another carbon-node runs on this home" "$T/second.log" || fail "no clear error for a second process"
ok "a second process on the same home is refused"

stop_node v1
h=$(grep 'event=stopped' "$T/v1.log" | tail -1 | sed 's/.*height=\([0-9]*\).*/\1/')
mv "$T/v1/safety" "$T/safety.saved"
rc=0
"$BIN/carbon-node" start --home "$T/v1" > "$T/nosafety.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "a validator started on a used ledger without its safety state"
grep -q "event=safety_missing" "$T/nosafety.log" || fail "no clear error for a missing safety state"
rm -rf "$T/v1/safety"
mv "$T/safety.saved" "$T/v1/safety"
start_node v1
wait_height v1 $((h + 2)) 15
ok "a validator whose safety state is missing refuses to start (and starts with it back)"

stop_node v1
"$BIN/carbon-node" audit --home "$T/v1" > "$T/audit.out" || fail "audit failed: $(cat "$T/audit.out")"
grep -q "audit ok" "$T/audit.out" || fail "audit printed: $(cat "$T/audit.out")"
ok "carbon-node audit checks every invariant of the stopped node's ledger"
