#!/bin/sh
# carbon-genesis end to end: create a network from genesis/city.json into a
# temporary directory, check the files and their modes, verify, hash, and
# refuse a second create into the same directory. Run from the repository
# root after building (make integration).
set -eu

BIN=bin/carbon-genesis
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

fail() {
	echo "01-genesis: FAIL: $*" >&2
	exit 1
}

[ -x "$BIN" ] || fail "$BIN not built"

CARBON_PASSPHRASE=integration-test-passphrase
export CARBON_PASSPHRASE

"$BIN" create --desc genesis/city.json --out "$tmp/net" --time-ms 1767196800000 \
	>"$tmp/create.out" || fail "create exited $?"

[ -f "$tmp/net/genesis.json" ] || fail "no genesis.json"
[ "$(stat -c %a "$tmp/net/genesis.json")" = 644 ] || fail "genesis.json mode is not 0644"
[ "$(stat -c %a "$tmp/net/keys")" = 700 ] || fail "keys/ mode is not 0700"
n=0
for name in city metro bus bikeshare bank green-store; do
	key="$tmp/net/keys/$name.key"
	[ -f "$key" ] || fail "no keystore for $name"
	[ "$(stat -c %a "$key")" = 600 ] || fail "$key mode is not 0600"
	n=$((n + 1))
done
[ "$(ls "$tmp/net/keys" | wc -l)" -eq "$n" ] || fail "unexpected files in keys/"
# The passphrase must not end up in any file.
if grep -r -q "$CARBON_PASSPHRASE" "$tmp/net"; then fail "passphrase found in the output"; fi

created_hash=$(sed -n 's/^hash //p' "$tmp/create.out")
[ ${#created_hash} -eq 64 ] || fail "create printed no hash"

"$BIN" verify "$tmp/net/genesis.json" >"$tmp/verify.out" || fail "verify exited $?"
grep -q '^validators   4: city metro bus bank$' "$tmp/verify.out" || fail "verify: validators"
grep -q '^chain id     nanjing-green-1$' "$tmp/verify.out" || fail "verify: chain id"
grep -q "^hash         $created_hash\$" "$tmp/verify.out" || fail "verify: hash"

[ "$("$BIN" hash "$tmp/net/genesis.json")" = "$created_hash" ] || fail "hash differs from create"
[ "$("$BIN" hash tests/vectors/genesis_example.json)" = "$(cat tests/vectors/genesis_example.hash)" ] ||
	fail "golden vector hash"

# A second create into the same directory is refused and changes nothing.
before=$(cksum <"$tmp/net/genesis.json")
rc=0
"$BIN" create --desc genesis/city.json --out "$tmp/net" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 3 ] || fail "second create exited $rc, expected 3"
[ "$(cksum <"$tmp/net/genesis.json")" = "$before" ] || fail "genesis.json changed"

# A damaged file is invalid (exit 1) with the field named.
sed 's/"nanjing-green-1"/"Nanjing-Green-1"/' "$tmp/net/genesis.json" >"$tmp/bad.json"
rc=0
"$BIN" verify "$tmp/bad.json" >/dev/null 2>"$tmp/bad.err" || rc=$?
[ "$rc" -eq 1 ] || fail "verify of a bad file exited $rc, expected 1"
grep -q 'chain_id' "$tmp/bad.err" || fail "verify did not name chain_id"

# An invalid description leaves nothing behind.
printf '{"chain_id": "x", "tz_offset_s": 0, "governor_threshold": 1, "members": [{"name": "a", "roles": ["bank"]}]}' \
	>"$tmp/desc.json"
rc=0
"$BIN" create --desc "$tmp/desc.json" --out "$tmp/none" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "invalid description exited $rc, expected 1"
[ ! -e "$tmp/none" ] || fail "invalid description created files"

echo "01-genesis: ok"
