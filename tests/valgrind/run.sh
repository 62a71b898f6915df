#!/bin/sh
# make valgrind (part of make check-full): Valgrind memcheck over
#   1. every unit test binary of $BUILD/tests (Criterion runs each test in
#      a child process, so valgrind follows children and writes one log
#      per process), one test at a time;
#   2. carbon-node: one validator of four under a short load of signed
#      transactions (tests/integration/faults/load.c): started, a few
#      hundred transactions committed, stopped with SIGTERM (exit 0).
# Every process must end with zero memcheck errors, definite leaks
# counted as errors. Prints one line per binary and the figures; on a
# failure, the first error report of each failing log.
#
#   sh tests/valgrind/run.sh [BUILD]      (from the repository root)
#   VALGRIND_TESTS="test_common test_node_*"  only these unit binaries
#   VALGRIND_NODE_SECONDS=20                  the node's load (seconds)
#
# Installs valgrind when missing and run as root (Debian package
# "valgrind"), as scripts/deps.sh does for the build's packages.
set -eu
BUILD=${1:-build}
NODE_SECONDS=${VALGRIND_NODE_SECONDS:-20}

if ! command -v valgrind > /dev/null 2>&1; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "valgrind: installing the valgrind package" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind > /dev/null 2>&1 ||
			{ apt-get update -q > /dev/null 2>&1 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind > /dev/null; }
	else
		echo "valgrind: not installed; run: sudo apt-get install -y valgrind" >&2
		exit 1
	fi
fi

. tests/integration/lib.sh

VG="valgrind --trace-children=yes --leak-check=full --show-leak-kinds=definite \
--errors-for-leak-kinds=definite --num-callers=30 --child-silent-after-fork=no"

# Tests left out, with why: Criterion --filter patterns per binary.
# - ledger_state/sigkill_mid_block_leaves_before_or_after SIGKILLs 30
#   children mid-block on purpose, timed on an unslowed first run: under
#   valgrind the window shifts and the killed children leave no report.
#   It tests crash consistency, not memory (test-asan runs it).
# - test_node_net as a whole: its tests run real sockets against
#   deadlines of 300 ms (handshake) to 3 s, which a handshake under
#   valgrind misses; on this machine a different one or two of its 19
#   tests failed by timeout in each of five runs, whatever the memory
#   did. The transport runs under valgrind in the cluster below instead,
#   with the node's real 5 s handshake timeout.
filter_of() {
	case $1 in
	test_ledger_state) echo '!(ledger_state/sigkill_mid_block_leaves_before_or_after)' ;;
	test_node_net) echo '' ;;
	*) echo '*' ;;
	esac
}
# Some tests wait for sockets with real-time deadlines of a few seconds,
# which valgrind's slowdown can miss: a binary whose tests fail is run
# again, up to VALGRIND_TRIES times in all, and judged on the first run in
# which every test passed (a failed test skips its clean-up, so its leaks
# are not evidence). Memcheck errors in a passing run are never retried.
TRIES=${VALGRIND_TRIES:-3}

# A memcheck error report opens with one of these (valgrind's manual,
# "Explanation of error messages from Memcheck").
ERR_RE='^==[0-9]*== (Invalid (read|write|free)|Mismatched free|Conditional jump|Use of uninitialised|Syscall param|Source and destination overlap|Argument .* of function|.* bytes in .* blocks are definitely lost)'

# check_logs NAME DIR: every process log of DIR ends with "ERROR
# SUMMARY: 0 errors"; a log without a summary (a process killed by a
# signal) must at least hold no error report.
bad=0
check_logs() {
	_n=0; _killed=0; _badlogs=""
	for _f in "$2"/*.log; do
		[ -f "$_f" ] || continue
		_n=$((_n + 1))
		if grep -Eq "$ERR_RE" "$_f"; then
			_badlogs="$_badlogs $_f"
		elif ! grep -q 'ERROR SUMMARY' "$_f"; then
			_killed=$((_killed + 1))
		elif ! grep -q 'ERROR SUMMARY: 0 errors' "$_f"; then
			_badlogs="$_badlogs $_f"
		fi
	done
	[ "$_n" -gt 0 ] || { echo "FAIL $1: no valgrind log"; bad=1; return 0; }
	if [ -n "$_badlogs" ]; then
		bad=1
		echo "FAIL $1: memcheck errors in $(echo "$_badlogs" | wc -w) of $_n processes"
		for _f in $_badlogs; do
			echo "--- $_f"
			grep -E -A25 "$ERR_RE" "$_f" | head -50 || true
			grep 'ERROR SUMMARY' "$_f" || true
		done
	else
		echo "ok - $1: $_n processes, 0 errors, no definite leaks$([ "$_killed" -gt 0 ] && echo " ($_killed ended by a signal, no report)")"
	fi
	return 0
}

# VALGRIND_TESTS="test_common test_node_*" limits the run to those.
for t in $(if [ -n "${VALGRIND_TESTS:-}" ]; then
		for n in $VALGRIND_TESTS; do echo "$BUILD/tests/$n"; done
	else
		ls "$BUILD"/tests/test_*
	fi); do
	[ -x "$t" ] || continue
	case $t in *.d|*.o) continue ;; esac
	name=$(basename "$t")
	if [ -z "$(filter_of "$name")" ]; then
		echo "skip - $name (see filter_of in tests/valgrind/run.sh)"
		continue
	fi
	_s=$(date +%s)
	try=1
	while :; do
		rm -rf "$T/vg-$name"
		mkdir -p "$T/vg-$name"
		rc=0
		# shellcheck disable=SC2086
		$VG --log-file="$T/vg-$name/%p.log" "$t" --jobs=1 --filter "$(filter_of "$name")" \
			> "$T/vg-$name.out" 2>&1 || rc=$?
		[ "$rc" -ne 0 ] && [ "$try" -lt "$TRIES" ] || break
		echo "   $name: $(grep -c '^\[FAIL\]' "$T/vg-$name.out") tests failed under valgrind ($(grep '^\[FAIL\]' "$T/vg-$name.out" | sed 's/^\[FAIL\] //; s/:.*//' | tr '\n' ' ')), run $try of $TRIES; again"
		try=$((try + 1))
	done
	if [ "$rc" -ne 0 ]; then
		bad=1
		echo "FAIL $name: exit $rc under valgrind, $TRIES runs"
		grep -B6 '^\[FAIL\]' "$T/vg-$name.out" | grep -v '^ts=' | head -30
	fi
	tested=$(grep -o 'Tested: [0-9]*' "$T/vg-$name.out" | tail -1 | sed 's/Tested: //')
	check_logs "$name (${tested:-?} tests, $(($(date +%s) - _s)) s)" "$T/vg-$name"
done

# ---- a validator under load, in a cluster --------------------------------
# bank runs under valgrind among three native validators (which keep the
# quorum while it lags), so its peer transport, consensus, mempool,
# gossip, catch-up and HTTP paths all run under memcheck.
make_net n4 tests/integration/net4.json
for m in $NODES4; do init_node "$m" n4 "$m"; done
for m in city metro bus; do start_node "$m"; done
mkdir -p "$T/vg-node"
# shellcheck disable=SC2086
$VG --log-file="$T/vg-node/%p.log" "$BIN/carbon-node" start --home "$T/bank" >> "$T/bank.log" 2>&1 &
echo $! > "$T/bank.pid"
PIDS="$PIDS $!"
for m in $NODES4; do wait_height "$m" 3 120; done
build_tool load
"$T/load" run --net "$T/n4" --api "$(api_list $NODES4)" --out "$T/acks" --stats "$T/load.json" \
	--citizens 50 --rate 20 --seconds "$NODE_SECONDS" >> "$T/load.log" 2>&1 ||
	fail "the load against the cluster failed: $(tail -3 "$T/load.log")"
committed=$(wc -l < "$T/acks")
[ "$committed" -gt 0 ] || fail "no transaction committed"
wait_height bank "$(height city)" 120
hb=$(height bank)
stop_node bank
check_logs "carbon-node (bank, one of four validators): $committed transactions acknowledged, height $hb, clean SIGTERM stop" "$T/vg-node"

[ "$bad" -eq 0 ] || fail "memcheck found errors (above)"
echo "valgrind: all clean"
