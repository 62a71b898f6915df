#!/bin/sh
# Runs the libFuzzer targets one after the other (the machine is shared):
#
#   sh tests/fuzz/run.sh BINDIR SECONDS NAME...
#
# For each NAME: replays every file of tests/fuzz/regressions/NAME/ once
# (inputs that crashed before), then fuzzes SECONDS from a temporary copy
# of tests/fuzz/corpus/NAME/ (with tests/fuzz/NAME.dict as libFuzzer
# dictionary if there is one), so the committed corpus never grows during a
# run. Logs go to BINDIR/logs/NAME.log, a crashing input to
# BINDIR/artifacts/NAME-crash-<sha1>. Exits 1 if any target failed; a
# summary line per target gives executions, rate, coverage and features.
set -u

bin=$1
secs=$2
shift 2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/carbon-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$bin/logs" "$bin/artifacts"
failed=""

for t in "$@"; do
	exe=$bin/fuzz_$t
	log=$bin/logs/$t.log
	: >"$log"
	reg=tests/fuzz/regressions/$t
	if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
		if ! "$exe" -timeout=30 "$reg"/* >>"$log" 2>&1; then
			echo "fuzz $t: a regression input fails again (see $log)"
			tail -n 30 "$log"
			failed="$failed $t"
			continue
		fi
	fi
	mkdir -p "$tmp/$t"
	if [ -d "tests/fuzz/corpus/$t" ]; then
		cp tests/fuzz/corpus/"$t"/* "$tmp/$t"/ 2>/dev/null
	fi
	dict=""
	if [ -f "tests/fuzz/$t.dict" ]; then
		dict="-dict=tests/fuzz/$t.dict"
	fi
	# shellcheck disable=SC2086
	if "$exe" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$bin/artifacts/$t-" $dict \
		"$tmp/$t" >>"$log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
		last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
		cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
		ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
		corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
		printf 'fuzz %-12s ok: %s runs in %s s (%s/s), cov %s, ft %s, corpus %s\n' \
			"$t" "$execs" "$secs" "$rate" "$cov" "$ft" "$corp"
	else
		echo "fuzz $t: FAILED (log $log; the input is in $bin/artifacts/;"
		echo "  replay it with: $exe <file>)"
		grep -E 'ERROR|SUMMARY|==[0-9]+==|runtime error|Assertion|deadly signal' "$log" | head -n 20
		failed="$failed $t"
	fi
	rm -rf "${tmp:?}/$t"
done

if [ -n "$failed" ]; then
	echo "fuzz: FAILED:$failed"
	exit 1
fi
echo "fuzz: all $# targets passed"
