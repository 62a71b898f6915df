#!/bin/sh
# Checks that every Debian package the build needs is installed. As root it
# installs what is missing (apt-get update first: a fresh machine has empty
# package lists); otherwise it prints the exact command to run and fails.
set -eu

PKGS="build-essential pkg-config clang libsodium-dev liblmdb-dev libevent-dev \
libmsgpack-dev libjansson-dev libcriterion-dev libclang-rt-14-dev lmdb-utils \
gnuplot-nox curl jq python3 iproute2 procps"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	echo "deps: installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2
	# shellcheck disable=SC2086
	apt-get install -y -q $missing >&2
else
	echo "deps: missing packages:$missing" >&2
	echo "deps: run: sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi
