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

# A TCP port nobody listens on now (bind test through /dev/tcp is not
# possible in sh, so ask the kernel via a short-lived listener in ss).
free_port() {
	while :; do
		p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 ))
		if ! ss -ltn 2>/dev/null | awk '{print $4}' | grep -q ":$p\$"; then
			echo "$p"
			return
		fi
	done
}

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
