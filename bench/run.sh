#!/bin/sh
# bench/run.sh: the `make bench` harness. Measures this machine's own limits
# first (Ed25519 verifications per second on one core and on all, a synced
# LMDB commit, the ledger's apply rate) and the micro benchmarks of the
# transaction codec and the consensus core, then runs real carbon-node
# processes on 127.0.0.1 with free ports in a temporary directory, a single
# validator and then four, and drives them with build/bench/bench_node_load
# (pre-signed load through the HTTP API). Writes bench/results/latest.json
# and a timestamped copy, a PNG if gnuplot is installed, and a short table.
# Every process it starts is stopped by the EXIT trap, also on failure.
#
# Environment:
#   BENCH_SECONDS       measured window of each workload (default 30)
#   BENCH_WARMUP        warm-up before each window (default 5)
#   BENCH_ACCOUNTS      citizen accounts of the 4-validator run (default 100000)
#   BENCH_ACCOUNTS_N1   citizen accounts of the single-node run (default 100000)
#   BENCH_SINGLE=0      skip the single-node run (no admission_per_s then)
#   BENCH_LEDGER=0      skip bench_ledger (no ledger_apply_per_s then)
#   BENCH_CONFIG        jq filter applied to every node's config.json
#                       (default "."; the shipped defaults)
#   BENCH_PERF=1        perf record -e cpu-clock --call-graph dwarf on the first
#                       validator during the transfers window; report in the
#                       output dir (perf-transfers.txt)
#   BENCH_WORKLOADS     of the 4-validator run (default: all of them)
#   BENCH_TRANSFERS_MAX the transfers/s open50 and open80 take half and 80% of
#                       when the workloads leave transfers out (to compare
#                       latency at one fixed rate across builds or configs)
#   BENCH_LOG_LEVEL     of the nodes (default warn)
#   TMPDIR              where the nodes' directories go (default /tmp; a
#                       file system in memory is refused)
#   BENCH_OUT           output directory (default bench/results)
#   BENCH_KEEP=1        keep the temporary directory (logs, data) for a look
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
W=${BENCH_SECONDS:-30}
WARM=${BENCH_WARMUP:-5}
ACCOUNTS=${BENCH_ACCOUNTS:-100000}
ACCOUNTS_N1=${BENCH_ACCOUNTS_N1:-100000}
SINGLE=${BENCH_SINGLE:-1}
CONFIG_FILTER=${BENCH_CONFIG:-.}
WORKLOADS=${BENCH_WORKLOADS:-transfers,issue,mixed,open50,open80}
LOG_LEVEL=${BENCH_LOG_LEVEL:-warn}
OUT=${BENCH_OUT:-bench/results}
BUILD=${BUILD:-build}
LOAD="$ROOT/$BUILD/bench/bench_node_load"
NODE="$ROOT/$BUILD/bench/carbon-node"
GENESIS="$ROOT/$BUILD/bench/carbon-genesis"
export CARBON_PASSPHRASE="bench-passphrase"

T=$(mktemp -d "${TMPDIR:-/tmp}/carbon-bench.XXXXXX")
PIDS=""
PERF_PID=""

# SIGTERM first (a clean stop), SIGKILL for whatever is left after 10 s.
cleanup() {
	rc=$?
	trap - EXIT INT TERM
	if [ -n "$PERF_PID" ]; then kill -INT "$PERF_PID" 2> /dev/null || true; fi
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
	i=0
	while [ $i -lt 100 ]; do
		alive=""
		for p in $PIDS; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
		[ -z "$alive" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	if [ "$rc" -ne 0 ]; then
		echo "bench: failed; last lines of the node logs ($T):" >&2
		for f in "$T"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 15 "$f" >&2; }; done
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $T" >&2; else rm -rf "$T"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

for b in "$LOAD" "$NODE" "$GENESIS"; do [ -x "$b" ] || fail "$b not built (make bench builds it)"; done
# A sanitizer build would measure the sanitizer.
if nm "$NODE" 2> /dev/null | grep -q __asan_init; then
	fail "$NODE is built with AddressSanitizer; build with BUILD=build and plain CFLAGS"
fi
command -v jq >/dev/null || fail "jq missing (scripts/deps.sh installs it)"

# A TCP port nobody listens on now and that this run has not handed out.
USED=""
free_port() {
	while :; do
		p=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000))
		case " $USED " in *" $p "*) continue ;; esac
		if ! ss -ltn 2>/dev/null | awk '{print $4}' | grep -q ":$p\$"; then
			USED="$USED $p"
			echo "$p"
			return
		fi
	done
}

# ---- the machine and its limits -------------------------------------------

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
cores=$(nproc)
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
dirty=false
worktree=$commit
# A dirty tree is identified by the commit object `git stash create` makes
# of it (nothing is stashed; the object can be inspected with git show).
if ! git diff --quiet HEAD -- 2>/dev/null; then
	dirty=true
	worktree=$(git stash create 2>/dev/null || echo unknown)
fi
# Synced commits are the point: a file system in memory would make them free.
fstype=$(stat -f -c %T "$T")
case "$fstype" in
tmpfs | ramfs) fail "$T is on $fstype: synced commits would cost nothing; set TMPDIR to a directory on a disk" ;;
esac
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# How busy the machine is before we start (every process, 2 s): the limits
# below are wall-clock rates and drop when others share the cores.
busy_before=$({ head -n 1 /proc/stat; sleep 2; head -n 1 /proc/stat; } | awk '
	{ idle = $5 + $6; tot = 0; for (i = 2; i <= 9; i++) tot += $i }
	NR == 1 { i0 = idle; t0 = tot } NR == 2 { printf "%.2f", 1 - (idle - i0) / (tot - t0) }')
stamp=$(date -u +%Y%m%dT%H%M%SZ)
note "machine: $cpu_model, $cores cores; load average $load_before, $busy_before busy; commit $commit; nodes' files on $fstype"
if awk -v b="$busy_before" 'BEGIN { exit !(b > 0.2) }'; then
	note "WARNING: the machine was $busy_before busy before the run: every wall-clock figure below is deflated"
fi

note "limits: Ed25519 verify (build/bench/bench_crypto --seconds 2)"
"$ROOT/$BUILD/bench/bench_crypto" --seconds 2 > "$T/crypto.txt"
verify_1=$(sed -n 's/^ed25519 verify.*, 1 thread: *\([0-9]*\) \/s.*/\1/p' "$T/crypto.txt")
verify_all=$(sed -n 's/^ed25519 verify.*, [0-9]* threads: *\([0-9]*\) \/s.*/\1/p' "$T/crypto.txt")
if [ -z "$verify_1" ] || [ -z "$verify_all" ]; then fail "cannot parse bench_crypto's output"; fi
# On one core the "all cores" figure is the one-thread run.
[ "$cores" -gt 1 ] || verify_all=$verify_1
note "  verify: $verify_1 /s on 1 core, $verify_all /s on $cores cores"

note "limits: synced LMDB commits, verify per CPU second (bench_node_load limits)"
"$LOAD" limits --seconds 2 --dir "$T" > "$T/limits.json"
lmdb_sync=$(jq '.lmdb_synced_commits_per_s' "$T/limits.json")
verify_cpu=$(jq '.verify_per_cpu_s' "$T/limits.json")
note "  LMDB: $lmdb_sync synced commits/s; verify: $verify_cpu per CPU second"

note "micro: transaction codec (build/bench/bench_ledger_codec), consensus core per block (build/bench/bench_consensus)"
"$ROOT/$BUILD/bench/bench_ledger_codec" --seconds 1 > "$T/codec.txt"
codec_json=$(tail -n 1 "$T/codec.txt")
echo "$codec_json" | jq -e . > /dev/null || fail "cannot parse bench_ledger_codec's output"
sed '$d' "$T/codec.txt" | sed 's/^/bench:   /' >&2
"$ROOT/$BUILD/bench/bench_consensus" 20000 > "$T/consensus.txt"
cons_us=$(sed -n 's/^ *core time per block, one core: *\([0-9.]*\) us.*/\1/p' "$T/consensus.txt")
[ -n "$cons_us" ] || fail "cannot parse bench_consensus's output"
note "  consensus core: $cons_us us of CPU per block (model ledger, 4 validators; see bench/bench_consensus.c)"

ledger_apply=null
ledger_credits=null
ledger_note="build/bench/bench_ledger not built"
if [ "${BENCH_LEDGER:-1}" = 0 ]; then
	ledger_note="skipped (BENCH_LEDGER=0)"
elif [ -x "$ROOT/$BUILD/bench/bench_ledger" ]; then
	note "limits: ledger apply (build/bench/bench_ledger --quick)"
	if "$ROOT/$BUILD/bench/bench_ledger" --quick > "$T/ledger.txt" 2>&1; then
		ledger_apply=$(sed -n 's/.*synced commit: \([0-9]*\) transfers\/s.*/\1/p' "$T/ledger.txt" | head -n 1)
		ledger_credits=$(sed -n 's/.*synced commit: \([0-9]*\) trip credits\/s.*/\1/p' "$T/ledger.txt" | head -n 1)
		ledger_note="bench_ledger --quick: durable block apply on one core, signatures pre-verified"
		[ -n "$ledger_apply" ] || { ledger_apply=null; ledger_note="cannot parse bench_ledger's output"; }
		[ -n "$ledger_credits" ] || ledger_credits=null
	else
		ledger_note="bench_ledger failed"
	fi
	note "  ledger apply: $ledger_apply transfers/s, $ledger_credits trip credits/s"
fi

# ---- devnets ------------------------------------------------------------------

# make_net NAME DESC N: genesis and keys in $T/NAME, N validator homes
# $T/NAME-1.. with free ports; sets API and HOMES (comma lists).
make_net() {
	name=$1; desc=$2; n=$3
	args=""
	for k in 1 2 3 4; do args="$args -e s/@P$k@/$(free_port)/g"; done
	# shellcheck disable=SC2086
	sed $args "$desc" > "$T/$name.desc.json"
	"$GENESIS" create --desc "$T/$name.desc.json" --out "$T/$name" > "$T/$name.genesis.log"
	API=""; HOMES=""
	i=0
	for m in city metro bus bank; do
		i=$((i + 1))
		[ $i -le "$n" ] || break
		h="$T/$name-$i"
		port=$(free_port)
		"$NODE" init --genesis "$T/$name/genesis.json" --key "$T/$name/keys/$m.key" \
			--home "$h" --api "127.0.0.1:$port" > /dev/null
		jq "$CONFIG_FILTER" "$h/config.json" > "$h/config.tmp" && mv "$h/config.tmp" "$h/config.json"
		API="$API${API:+,}127.0.0.1:$port"
		HOMES="$HOMES${HOMES:+,}$h"
	done
}

# start_net NAME N: starts the homes of make_net; sets NPIDS.
start_net() {
	name=$1; n=$2
	NPIDS=""
	i=1
	while [ $i -le "$n" ]; do
		"$NODE" start --home "$T/$name-$i" --log-level "$LOG_LEVEL" 2> "$T/$name-$i.log" &
		PIDS="$PIDS $!"
		NPIDS="$NPIDS${NPIDS:+,}$!"
		i=$((i + 1))
	done
	# Every node answers and the chain has committed a block.
	for a in $(echo "$API" | tr ',' ' '); do
		i=0
		until h=$(curl -sf --max-time 2 "http://$a/v1/status" | jq -e '.height') &&
			[ "${h:-0}" -ge 1 ] 2> /dev/null; do
			i=$((i + 1))
			[ $i -lt 300 ] || fail "$a did not commit a block in 30 s"
			sleep 0.1
		done
	done
}

# run_load PID: waits for a load generator started in the background (so
# that a signal to this script reaches the trap at once, which stops it
# with the nodes); fails if it failed.
run_load() {
	PIDS="$PIDS $1"
	rc=0; wait "$1" || rc=$?
	PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -v "^$1\$" | tr '\n' ' ')
	[ "$rc" -eq 0 ] || fail "bench_node_load failed (exit $rc)"
}

# stop_net: SIGTERM each node of the last start_net; each must exit 0.
stop_net() {
	for p in $(echo "$NPIDS" | tr ',' ' '); do kill -TERM "$p"; done
	for p in $(echo "$NPIDS" | tr ',' ' '); do
		rc=0; wait "$p" || rc=$?
		[ "$rc" -eq 0 ] || fail "node $p did not stop cleanly (exit $rc)"
		PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -v "^$p\$" | tr '\n' ' ')
	done
}

# Pre-sign for twice the ceiling the verify rate allows: the load must
# never be what runs out.
limit4=$((verify_all / 4))
rate4=$((limit4 * 2 > 3000 ? limit4 * 2 : 3000))
rate1=$((verify_all * 3 / 2 > 4000 ? verify_all * 3 / 2 : 4000))
# Issuance is bounded by one core's apply (each node applies every credit):
# twice that for one node, once for four sharing the machine's cores.
credits_apply=${ledger_credits:-0}
[ "$credits_apply" != null ] || credits_apply=0
credits1=$((credits_apply * 2 > 60000 ? credits_apply * 2 : 60000))
credits4=$((credits_apply > 40000 ? credits_apply : 40000))

single_json="$T/single.json"
echo '{}' > "$single_json"
if [ "$SINGLE" = 1 ]; then
	note "single validator (n = 1): admission burst, transfers, issuance"
	make_net n1 bench/net1.json 1
	start_net n1 1
	"$LOAD" run --net "$T/n1" --api "$API" --pids "$NPIDS" --homes "$HOMES" \
		--accounts "$ACCOUNTS_N1" --workloads admit,transfers,issue --seconds "$W" \
		--warmup "$WARM" --rate-max "$rate1" --credits-max "$credits1" \
		--out "$single_json" --series "$T/series1.tsv" &
	run_load $!
	stop_net
	rm -rf "$T"/n1-*/data
fi

note "four validators: transfers, issuance, mixed day, open loop at 50% and 80%"
make_net n4 bench/net4.json 4
start_net n4 4
if [ "${BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
	# The load generator marks the start of each measured window; the
	# profile covers the transfers window of the first validator only.
	first=$(echo "$NPIDS" | cut -d, -f1)
	(
		until grep -q '^transfers window' "$T/mark" 2>/dev/null; do sleep 0.2; done
		perf record -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$first" \
			-o "$T/perf.data" -- sleep "$W" 2> "$T/perf.log"
	) &
	PERF_PID=$!
fi
"$LOAD" run --net "$T/n4" --api "$API" --pids "$NPIDS" --homes "$HOMES" \
	--accounts "$ACCOUNTS" --seconds "$W" --warmup "$WARM" --rate-max "$rate4" --credits-max "$credits4" \
	--workloads "$WORKLOADS" --transfers-max "${BENCH_TRANSFERS_MAX:-0}" --out "$T/cluster.json" --series "$T/series4.tsv" --mark "$T/mark" &
run_load $!
if [ -n "$PERF_PID" ]; then
	wait "$PERF_PID" || true
	PERF_PID=""
	mkdir -p "$OUT"
	# Self time by library, by function, then time including callees.
	{
		echo "# perf record -e cpu-clock -F 499 --call-graph dwarf of the first validator," \
			"transfers window ($W s), run $stamp, commit $commit (worktree $worktree)"
		perf report -i "$T/perf.data" --stdio --no-children --sort dso -g none 2> /dev/null |
			grep -v '^#' | grep -v '^$' | head -n 12
		echo
		perf report -i "$T/perf.data" --stdio --no-children --sort dso,sym -g none \
			--percent-limit 0.5 2> /dev/null | grep -v '^#' | grep -v '^$' | head -n 40
		echo
		perf report -i "$T/perf.data" --stdio --children --sort sym -g none \
			--percent-limit 2 2> /dev/null | grep -v '^#' | grep -v '^$' | head -n 60
	} > "$OUT/perf-transfers.txt" || true
	note "profile of the first validator during transfers: $OUT/perf-transfers.txt"
fi
stop_net

# ---- results ------------------------------------------------------------------

mkdir -p "$OUT"
jq -n --slurpfile c "$T/cluster.json" --slurpfile s "$single_json" \
	--arg cpu "$cpu_model" --argjson cores "$cores" --arg commit "$commit" \
	--argjson dirty "$dirty" --arg load "$load_before" --arg stamp "$stamp" \
	--argjson v1 "$verify_1" --argjson vall "$verify_all" --argjson lmdb "$lmdb_sync" \
	--argjson vcpu "$verify_cpu" --argjson busy "$busy_before" \
	--argjson apply "$ledger_apply" --argjson credits_apply "$ledger_credits" \
	--arg apply_note "$ledger_note" --argjson seconds "$W" --argjson warmup "$WARM" \
	--arg config "$CONFIG_FILTER" --argjson codec "$codec_json" --argjson cons_us "$cons_us" \
	--arg worktree "$worktree" --arg fstype "$fstype" '
	($c[0]) as $c | ($s[0]) as $s | ($c.workloads) as $w |
	(1e6 / $vcpu) as $verify_us |
	($vall / 4) as $limit |
	def mx(f): [$c.per_node[] | f] | max;
	{
	  transfers_per_s: $w.transfers.committed_tx_per_s,
	  credits_per_s: $w.issue.credits_per_s,
	  commit_p50_ms: $w.transfers.latency.p50_ms,
	  commit_p95_ms: $w.transfers.latency.p95_ms,
	  commit_p99_ms: $w.transfers.latency.p99_ms,
	  commit_max_ms: $w.transfers.latency.max_ms,
	  commit_p99_ms_at_50pct: $w.open50.latency.p99_ms,
	  commit_p99_ms_at_80pct: $w.open80.latency.p99_ms,
	  verify_per_s_one_core: $v1,
	  verify_per_s_all_cores: $vall,
	  lmdb_synced_commits_per_s: $lmdb,
	  ledger_apply_per_s: $apply,
	  ledger_apply_credits_per_s: $credits_apply,
	  ledger_apply_note: $apply_note,
	  admission_per_s: ($s.workloads.admit.admission_per_s // null),
	  limit_transfers_per_s: $limit,
	  ratio_to_limit: (if $w.transfers then $w.transfers.committed_tx_per_s / $limit else null end),
	  verify_per_cpu_s: $vcpu,
	  verify_per_s_all_cores_idle_estimate: ($vcpu * $cores),
	  limit_transfers_per_s_idle_estimate: ($vcpu * $cores / 4),
	  ratio_to_idle_limit: (if $w.transfers then $w.transfers.committed_tx_per_s / ($vcpu * $cores / 4) else null end),
	  mixed_tx_per_s: $w.mixed.committed_tx_per_s,
	  mixed_credits_per_s: $w.mixed.credits_per_s,
	  node_cpu_us_per_transfer: $w.transfers.node_cpu_us_per_tx,
	  cpu_bound_transfers_per_s: $w.transfers.cpu_bound_tx_per_s,
	  machine_busy_during_transfers: $w.transfers.machine_busy,
	  blocks_per_s: $w.transfers.blocks_per_s,
	  txs_per_block: $w.transfers.txs_per_block,
	  heap_mb_max: mx(.heap_mb_max),
	  rss_mb_max: mx(.rss_mb_max),
	  disk_bytes_per_tx: $w.transfers.disk_bytes_per_tx,
	  disk_write_bytes_per_tx_per_node: $w.transfers.disk_write_bytes_per_tx_per_node,
	  disk_write_bytes_per_tx_per_node_at_50pct: $w.open50.disk_write_bytes_per_tx_per_node,
	  disk_write_mb_per_s_at_50pct: $w.open50.disk_write_mb_per_s,
	  disk_write_note: "bytes written by the block device holding the nodes (/proc/diskstats, machine-wide) per committed transaction, divided among the nodes: LMDB rewrites every 4 KB page a block touches",
	  sig_verifies_per_committed_tx: $w.transfers.sig_verifies_per_committed_tx,
	  verify_us_per_transfer: $verify_us,
	  beyond_verify_us_per_transfer_per_node: (if $w.transfers then $w.transfers.node_cpu_us_per_tx - $verify_us else null end),
	  libhotstuff_us_per_command_per_replica: ($cores * 1e6 / 25000 / 4),
	  libhotstuff_note: "issue 6: libhotstuff commits about 25,000 unsigned no-op commands/s with 4 replicas on this machine; CPU per command per replica = cores / 25,000 / 4",
	  micro: ($codec + { consensus_core_us_per_block: $cons_us,
	    consensus_note: "bench_consensus: the pure core with a model ledger (256-byte blocks, always valid, no storage, SipHash stand-in signatures)" }),
	  single_node: (if $s.workloads then {
	    transfers_per_s: $s.workloads.transfers.committed_tx_per_s,
	    ratio_to_verify_all_cores: ($s.workloads.transfers.committed_tx_per_s / $vall),
	    credits_per_s: $s.workloads.issue.credits_per_s,
	    commit_p99_ms: $s.workloads.transfers.latency.p99_ms,
	    admission_per_s: $s.workloads.admit.admission_per_s,
	    admission_ratio_to_verify_all_cores: ($s.workloads.admit.admission_per_s / $vall),
	    sig_verifies_per_committed_tx: $s.workloads.transfers.sig_verifies_per_committed_tx,
	    accounts: $s.accounts
	  } else null end),
	  accounts: $c.accounts,
	  accounts_note: (if $c.accounts < 100000 then "scaled down from 100,000 (BENCH_ACCOUNTS)" else null end),
	  durability: "production: every block commit and safety-state change synced; the state-root leaf cache (data/smt, derived data) is not synced and is rebuilt from the state after an unclean stop",
	  node_config_filter: $config,
	  seconds: $seconds,
	  warmup_s: $warmup,
	  machine: { cpu_model: $cpu, cores: $cores, load_average_before: $load, busy_before: $busy },
	  git_commit: $commit,
	  git_dirty: $dirty,
	  git_worktree: $worktree,
	  nodes_fs: $fstype,
	  date_utc: $stamp,
	  cluster: $c,
	  single: $s
	}' > "$OUT/latest.json"
cp "$OUT/latest.json" "$OUT/$stamp.json"

# ---- plot ---------------------------------------------------------------------

if command -v gnuplot >/dev/null && [ -s "$T/series4.tsv" ]; then
	# A label at the start of each workload.
	awk -F'\t' '$1 != last { printf "set label \"%s\" at first %s, graph 0.95 font \",9\"\n", $1, $2; last = $1 }' \
		"$T/series4.tsv" > "$T/labels.gp"
	gnuplot -e "series='$T/series4.tsv'; labels='$T/labels.gp'; out='$OUT/latest.png'" \
		bench/plot.gp && note "plot: $OUT/latest.png"
fi

# ---- table --------------------------------------------------------------------

jq -r '
	def f(x): try (if x == null then "-" else (x * 10 | round / 10 | tostring) end) catch "-";
	"",
	"Carbon Ledger bench, \(.date_utc), \(.machine.cpu_model) x \(.machine.cores), commit \(.git_commit[0:10])",
	"  machine: \(f(.machine.busy_before * 100))% busy before the run (load \(.machine.load_average_before)); Ed25519 verify \(.verify_per_s_one_core)/s (1 core), \(.verify_per_s_all_cores)/s (all), \(.verify_per_cpu_s) per CPU second; synced LMDB commits \(f(.lmdb_synced_commits_per_s))/s; ledger apply \(f(.ledger_apply_per_s)) transfers/s",
	"  4 validators, \(.accounts) accounts, \(.seconds) s windows:",
	"    transfers        \(f(.transfers_per_s)) tx/s = \(f(.ratio_to_limit * 100))% of the limit \(f(.limit_transfers_per_s)) (\(f(.ratio_to_idle_limit * 100))% of \(f(.limit_transfers_per_s_idle_estimate)) from CPU time); closed loop p50 \(f(.commit_p50_ms)) p99 \(f(.commit_p99_ms)) ms; \(f(.blocks_per_s)) blocks/s x \(f(.txs_per_block)) tx",
	"    CPU              \(f(.node_cpu_us_per_transfer)) us per transfer per node (\(f(.verify_us_per_transfer)) of it one signature check; \(f(.beyond_verify_us_per_transfer_per_node)) beyond, libhotstuff whole pipeline \(f(.libhotstuff_us_per_command_per_replica))); \(f(.cpu_bound_transfers_per_s)) transfers/s if CPU were the only limit; machine \(f(.machine_busy_during_transfers * 100))% busy; \(f(.sig_verifies_per_committed_tx)) signature checks per committed tx on node 0",
	"    issuance         \(f(.credits_per_s)) trip credits/s",
	"    mixed day        \(f(.mixed_tx_per_s)) tx/s, \(f(.mixed_credits_per_s)) credits/s",
	"    open loop 50%    p99 \(f(.commit_p99_ms_at_50pct)) ms; 80%: p99 \(f(.commit_p99_ms_at_80pct)) ms",
	"    per node max     heap \(f(.heap_mb_max)) MB, RSS \(f(.rss_mb_max)) MB; \(f(.disk_bytes_per_tx)) bytes on disk per transfer",
	"    disk writes      \(f(.disk_write_bytes_per_tx_per_node)) bytes per transfer per node at the maximum, \(f(.disk_write_bytes_per_tx_per_node_at_50pct)) at 50% (\(f(.disk_write_mb_per_s_at_50pct)) MB/s for the four)",
	"  micro (one core, CPU time): transfer decode \(f(.micro.tx_decode_per_s))/s, id hash \(f(.micro.tx_hash_per_s))/s, signature check \(f(.micro.tx_verify_per_s))/s; 1,000-trip issue decode \(f(.micro.issue_decode_trips_per_s)) trips/s; consensus core \(f(.micro.consensus_core_us_per_block)) us/block",
	(if .single_node then "  1 validator (\(.single_node.accounts) accounts): transfers \(f(.single_node.transfers_per_s)) tx/s (\(f(.single_node.ratio_to_verify_all_cores * 100))% of verify), credits \(f(.single_node.credits_per_s))/s, admission \(f(.single_node.admission_per_s)) tx/s (\(f(.single_node.admission_ratio_to_verify_all_cores * 100))%)" else empty end),
	"  results: \($out)/latest.json"
' --arg out "$OUT" "$OUT/latest.json"
