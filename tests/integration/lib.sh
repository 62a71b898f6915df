# Shared helpers of the integration scripts: real carbon-node processes on
# 127.0.0.1 with free ports, in a temporary directory that the EXIT trap
# removes after stopping every process it started (also when a check fails).
# Source it from a script run at the repository root.

set -eu
ROOT=$(pwd)
BIN="$ROOT/bin"
T=$(mktemp -d /tmp/carbon-it.XXXXXX)
PIDS=""
export CARBON_PASSPHRASE="integration-test-passphrase"

cleanup() {
	rc=$?
	for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	if [ "$rc" -ne 0 ]; then
		echo "--- logs of the failed run ($T) ---" >&2
		for f in "$T"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 25 "$f" >&2; }; done
	fi
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }


# make_net NAME DESC: genesis + keys into $T/NAME from a description in
# which the placeholders P1..P4 are replaced by free ports.
make_net() {
	_name=$1; _desc=$2
	sed_args=""
	for k in 1 2 3 4 5 6; do
		eval "P$k=$(free_port)"
		eval "sed_args=\"\$sed_args -e s/@P$k@/\$P$k/g\""
	done
	# shellcheck disable=SC2086
	sed $sed_args "$_desc" > "$T/$_name.desc.json"
	"$BIN/carbon-genesis" create --desc "$T/$_name.desc.json" --out "$T/$_name" > "$T/$_name.genesis.log"
}

# init_node HOME_NAME NET MEMBER: home $T/HOME_NAME; the API port is saved
# in $T/HOME_NAME.api.
init_node() {
	_h=$1; _net=$2; _member=$3
	_api=$(free_port)
	"$BIN/carbon-node" init --genesis "$T/$_net/genesis.json" --key "$T/$_net/keys/$_member.key" \
		--home "$T/$_h" --api "127.0.0.1:$_api" > /dev/null
	echo "$_api" > "$T/$_h.api"
	# Integration runs use short timeouts so faults resolve quickly.
	tmp=$(mktemp)
	jq '.block_interval_ms=50 | .empty_block_ms=300 | .timeout_propose_ms=1000 |
	    .timeout_vote_ms=300 | .timeout_delta_ms=200 | .timeout_max_ms=3000 | .map_mb=256' \
		"$T/$_h/config.json" > "$tmp" && mv "$tmp" "$T/$_h/config.json"
}

# start_node HOME_NAME [extra flags]: starts it in the background; its pid
# is saved in $T/HOME_NAME.pid and its log appended to $T/HOME_NAME.log.
start_node() {
	_h=$1; shift
	"$BIN/carbon-node" start --home "$T/$_h" "$@" >> "$T/$_h.log" 2>&1 &
	echo $! > "$T/$_h.pid"
	PIDS="$PIDS $!"
}

kill_node() { # SIGKILL
	_pid=$(cat "$T/$1.pid"); kill -9 "$_pid" 2>/dev/null || true; wait "$_pid" 2>/dev/null || true
}

stop_node() { # SIGTERM and wait: a clean stop must exit 0
	_pid=$(cat "$T/$1.pid"); kill -TERM "$_pid"
	_rc=0; wait "$_pid" || _rc=$?
	[ "$_rc" -eq 0 ] || fail "$1 did not stop cleanly (exit $_rc)"
}

api() { echo "http://127.0.0.1:$(cat "$T/$1.api")"; }
status() { curl -s --max-time 5 "$(api "$1")/v1/status"; }
height() { status "$1" | jq -r '.height // 0' 2>/dev/null || echo 0; }
root_of() { status "$1" | jq -r '.state_root'; }

# wait_height HOME H [SECONDS]: until the node's committed height >= H.
wait_height() {
	_wh=$1; _want=$2; _secs=${3:-30}
	_i=0
	while [ "$_i" -lt $((_secs * 10)) ]; do
		_cur=$(height "$_wh")
		[ "${_cur:-0}" -ge "$_want" ] 2>/dev/null && return 0
		sleep 0.1
		_i=$((_i + 1))
	done
	fail "$_wh did not reach height $_want in ${_secs}s (at $(height "$_wh"))"
}

# same_state H1 H2 ...: wait until all report the same height, then
# compare their state roots at that height through the block headers.
same_state() {
	_first=$1
	_target=$(height "$_first")
	for _n in "$@"; do wait_height "$_n" "$_target" 30; done
	_ref=$(curl -s "$(api "$_first")/v1/block/$_target" | jq -r '.header.state_root')
	for _n in "$@"; do
		_r=$(curl -s "$(api "$_n")/v1/block/$_target" | jq -r '.header.state_root')
		[ "$_r" = "$_ref" ] || fail "state root of $_n at $_target is $_r, $_first has $_ref"
	done
}

# ---- fault injection (tests/integration/3x-*.sh, tests/soak/soak.sh) -------
# A four-validator cluster under the steady load of tests/integration/
# faults/load.c, optionally with every peer link through the relay of
# faults/proxy.c, and the checks each fault script makes after each fault.

NODES4="city metro bus bank"

# build_tool NAME: compiles tests/integration/faults/NAME.c into $T/NAME.
# The load generator links the module libraries that `make` built.
build_tool() {
	_libs=""
	if [ "$1" = load ]; then
		_b="$ROOT/${BUILD:-build}"
		for _l in ledger consensus crypto common; do
			[ -f "$_b/lib$_l.a" ] || fail "$_b/lib$_l.a missing: run make first"
			_libs="$_libs $_b/lib$_l.a"
		done
		_libs="$_libs $(pkg-config --cflags --libs libsodium lmdb libevent msgpack jansson) -lpthread -lm"
	fi
	# shellcheck disable=SC2086
	cc -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$ROOT" \
		-o "$T/$1" "$ROOT/tests/integration/faults/$1.c" $_libs || fail "cannot build $1"
}

# start_cluster4 [proxy]: genesis n4, the validators of $NODES4 started and
# committing. With "proxy", every node dials every other through its own
# link of the relay (link "A-B" carries A's connection to B), so that
# proxy_set can cut links.
start_cluster4() {
	make_net n4 tests/integration/net4.json
	for _m in $NODES4; do init_node "$_m" n4 "$_m"; done
	[ "${1:-}" = proxy ] && proxy_start
	for _m in $NODES4; do start_node "$_m"; done
	for _m in $NODES4; do wait_height "$_m" 2 30; done
}

member_key() { jq -r --arg n "$1" '.members[] | select(.name == $n) | .keys[0]' "$T/n4/genesis.json"; }
p2p_port() { jq -r .p2p_listen "$T/$1/config.json" | sed 's/.*://'; }

proxy_start() {
	build_tool proxy
	_links=""
	for _a in $NODES4; do for _b in $NODES4; do
		[ "$_a" = "$_b" ] || _links="$_links $_a-$_b=$(p2p_port "$_b")"
	done; done
	echo "gen 0" > "$T/proxy.ctl"
	echo 0 > "$T/proxy.gen"
	# shellcheck disable=SC2086
	"$T/proxy" --ctl "$T/proxy.ctl" --ports "$T/proxy.ports" $_links >> "$T/proxy.log" 2>&1 &
	PROXY_PID=$!
	PIDS="$PIDS $!"
	_i=0
	while [ ! -s "$T/proxy.ports" ]; do
		_i=$((_i + 1)); [ $_i -lt 100 ] || fail "the proxy did not start"; sleep 0.05
	done
	for _a in $NODES4; do
		_cfg="$T/$_a/config.json"
		for _b in $NODES4; do
			[ "$_a" = "$_b" ] && continue
			_port=$(awk -v l="$_a-$_b" '$1 == l {print $2}' "$T/proxy.ports")
			jq --arg k "$(member_key "$_b")" --arg addr "127.0.0.1:$_port" \
				'.peers |= map(if .key == $k then .addr = $addr else . end)' \
				"$_cfg" > "$_cfg.tmp" && mv "$_cfg.tmp" "$_cfg"
		done
	done
}

# proxy_set < LINES: exactly the links named on standard input, one
# "LINK MODE" a line (mode drop or pause, see faults/proxy.c), cut; all
# others open. Returns once the relay applied it.
proxy_set() {
	# The generation lives in a file, so a caller in a subshell (a
	# pipeline) cannot reuse one.
	_gen=$(($(cat "$T/proxy.gen") + 1))
	echo "$_gen" > "$T/proxy.gen"
	{ echo "gen $_gen"; cat; } > "$T/proxy.ctl.new"
	mv "$T/proxy.ctl.new" "$T/proxy.ctl"
	_i=0
	while [ "$(cat "$T/proxy.ctl.ack" 2>/dev/null)" != "$_gen" ]; do
		_i=$((_i + 1)); [ $_i -lt 100 ] || fail "the proxy did not apply generation $_gen"
		sleep 0.05
	done
}

# cut_links MODE "A B" "C D": cuts every link between the two groups, both
# ways (and heals every other).
cut_links() {
	for _a in $2; do for _b in $3; do
		echo "$_a-$_b $1"
		echo "$_b-$_a $1"
	done; done > "$T/cut.lines"
	# Not through a pipe: proxy_set's fail must end this shell.
	proxy_set < "$T/cut.lines"
}

heal_links() { proxy_set < /dev/null; }

api_list() {
	_l=""
	for _m in "$@"; do _l="$_l${_l:+,}127.0.0.1:$(cat "$T/$_m.api")"; done
	echo "$_l"
}

# load_start [load run options]: the steady load against every node of
# $NODES4; acknowledged commits go to $T/acks, counters to $T/load.json.
load_start() {
	[ -x "$T/load" ] || build_tool load
	"$T/load" run --net "$T/n4" --api "$(api_list $NODES4)" --out "$T/acks" \
		--stats "$T/load.json" "$@" >> "$T/load.log" 2>&1 &
	LOAD_PID=$!
	PIDS="$PIDS $!"
}

load_stop() {
	kill -TERM "$LOAD_PID" 2>/dev/null || true
	wait "$LOAD_PID" 2>/dev/null || true
}

load_stat() { jq -r ".$1 // 0" "$T/load.json" 2>/dev/null || echo 0; }
acks() { if [ -f "$T/acks" ]; then wc -l < "$T/acks"; else echo 0; fi; }

# wait_acks N [SECONDS]: until the load has N acknowledged commits.
wait_acks() {
	_want=$1; _secs=${2:-60}; _i=0
	while [ "$(acks)" -lt "$_want" ]; do
		_i=$((_i + 1))
		[ $_i -lt $((_secs * 10)) ] || fail "the load has $(acks) acknowledged commits after ${_secs}s, wanted $_want"
		sleep 0.1
	done
}

# wait_more_acks N [SECONDS]: N more than now.
wait_more_acks() { wait_acks $(($(acks) + $1)) "${2:-60}"; }

# check_acked NODES...: a sample of the acknowledged commits so far (60
# spread over the whole run, so older ones are checked again after every
# fault, and the 10 latest) is committed on each node at the height it was
# acknowledged.
check_acked() {
	_n=$(acks)
	[ "$_n" -gt 0 ] || fail "no transaction was acknowledged as committed"
	{ awk -v s=$((_n / 60 + 1)) 'NR % s == 0 || NR == 1' "$T/acks"; tail -n 10 "$T/acks"; } |
		sort -u > "$T/sample"
	_max=$(awk 'BEGIN {m = 0} $2 > m {m = $2} END {print m}' "$T/sample")
	for _m in "$@"; do wait_height "$_m" "$_max" 60; done
	awk '{print $1, "committed", $2}' "$T/sample" | sort > "$T/sample.want"
	for _m in "$@"; do
		# One curl for the whole sample: it fetches its URLs in turn.
		# shellcheck disable=SC2046
		curl -s --max-time 30 $(awk -v a="$(api "$_m")" '{print a "/v1/tx/" $1}' "$T/sample") |
			jq -r '"\(.hash) \(.status) \(.height)"' 2>/dev/null | sort > "$T/sample.got" || true
		if ! cmp -s "$T/sample.want" "$T/sample.got"; then
			diff "$T/sample.want" "$T/sample.got" | head -5 >&2
			fail "acknowledged transactions are not all committed at their height on $_m"
		fi
	done
	ACKS_CHECKED=$(wc -l < "$T/sample")
}

# check_supply NODES...: issued - redeemed + refunded - clawed back =
# circulating in GET /v1/supply, and carbon-wallet supply agrees.
check_supply() {
	for _m in "$@"; do
		_s=$(curl -s --max-time 5 "$(api "$_m")/v1/supply" || true)
		echo "$_s" | jq -e '(.issued_g - .redeemed_g + .refunded_g - .clawed_back_g) == .circulating_g' \
			> /dev/null 2>&1 || fail "supply invariant broken on $_m: $_s"
		"$BIN/carbon-wallet" supply --node "$(api "$_m")" > "$T/wallet-supply.out" 2>&1 ||
			fail "carbon-wallet supply on $_m: $(cat "$T/wallet-supply.out")"
	done
}

# check_alive NODES...: running, and no event=fatal in their logs.
check_alive() {
	for _m in "$@"; do
		kill -0 "$(cat "$T/$_m.pid")" 2>/dev/null || fail "$_m is not running"
		! grep -q 'event=fatal' "$T/$_m.log" || fail "$_m logged: $(grep -m1 'event=fatal' "$T/$_m.log")"
	done
}

# check_no_evidence NODES...: nobody saw a validator sign twice.
check_no_evidence() {
	for _m in "$@"; do
		_e=$(curl -s --max-time 5 "$(api "$_m")/v1/evidence" |
			jq 'if type == "array" then length else (.evidence | length) end' 2>/dev/null || echo "?")
		[ "$_e" = 0 ] || fail "$_m holds evidence of equivocation ($_e)"
	done
}

# check_cluster NODES...: every check of a fault script, after a fault.
check_cluster() {
	same_state "$@"
	check_acked "$@"
	check_supply "$@"
	check_alive "$@"
	check_no_evidence "$@"
}

# rss_anon_kb NODE: the node's anonymous resident memory (its heap).
rss_anon_kb() { awk '/^RssAnon:/ {print $2}' "/proc/$(cat "$T/$1.pid")/status" 2>/dev/null || echo 0; }

# free_port, redefined: the first definition draws from 20000-49999, which
# overlaps the kernel's ephemeral range (32768-60999 by default), so an
# outgoing connection or a TIME_WAIT socket of an earlier client could hold
# the port a node is about to bind ("cannot start the API server", about
# one script in ten once the fault scripts leave thousands of TIME_WAIT
# sockets). This one draws below the ephemeral range and never hands out
# the same port twice in one script.
free_port() {
	_lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	[ "$_lo" -gt 12000 ] 2>/dev/null || _lo=32768
	while :; do
		_p=$(( 10000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % (_lo - 10000) ))
		grep -qx "$_p" "$T/ports.used" 2>/dev/null && continue
		ss -ltn 2>/dev/null | awk '{print $4}' | grep -q ":$_p\$" && continue
		echo "$_p" >> "$T/ports.used"
		echo "$_p"
		return
	done
}
