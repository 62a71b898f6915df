#!/bin/sh
# `make demo` runs in CI: the whole story on a fresh four-validator devnet
# (scripts/demo.sh starts and stops its own nodes). The demo must exit 0 and
# its report must show trips credited by every operator, the re-run
# crediting nothing, the supply check, a verified balance proof with its
# tier, and the receipt of the redemption.
set -eu
out=$(mktemp)
trap 'rm -f "$out"' EXIT
check() {
	grep -q "$1" "$out" || { cat "$out"; echo "FAIL: make demo: $2" >&2; exit 1; }
}
sh scripts/demo.sh >"$out" 2>&1 || { cat "$out"; echo "FAIL: demo failed" >&2; exit 1; }
for op in metro bus bikeshare; do
	check "^$op: [0-9]* trips sent, [1-9][0-9]* credited, [0-9]* rejected$" \
		"no trips credited by $op"
done
check "^credited   0 trips" "the re-run of the metro file credited something"
check "nothing was credited twice" "the re-run does not say nothing was credited twice"
check "= circulating: ok" "supply check"
check "^VERIFIED$" "no verified balance proof"
check "^tier     [a-z]* green$" "no tier for the verified balance"
check "^  receipt  [0-9a-f]\{64\}$" "no receipt in the report"
check "^  status   valid$" "the receipt is not valid"
echo "ok - make demo"
