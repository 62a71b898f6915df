#!/bin/sh
# `make demo` runs in CI: the whole story on a fresh four-validator devnet
# (scripts/demo.sh starts and stops its own nodes). Its report must show
# credited trips, the supply check and a verified balance proof.
set -eu
out=$(mktemp)
trap 'rm -f "$out"' EXIT
sh scripts/demo.sh > "$out" 2>&1 || { cat "$out"; echo "FAIL: demo failed" >&2; exit 1; }
grep -q "credited" "$out" || { cat "$out"; echo "FAIL: no credited trips" >&2; exit 1; }
grep -q "= circulating: ok" "$out" || { cat "$out"; echo "FAIL: supply check" >&2; exit 1; }
grep -q "tier" "$out" || { cat "$out"; echo "FAIL: no verified balance" >&2; exit 1; }
echo "ok - make demo"
