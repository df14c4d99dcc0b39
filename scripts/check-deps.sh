#!/usr/bin/env bash
# Checks, installing nothing, that what a make target needs to build is
# there; names what is missing and the command that installs it.
#
# usage: check-deps.sh run|doc
#   run  make build and make install: the libraries and apps
#   doc  make doc: doxygen
set -uo pipefail

# "command NAME PACKAGE" or "pkg-config MODULE PACKAGE", one a line.
case "${1:-}" in
run)	fix=run
	needs="command cc build-essential
command pkg-config pkg-config
command meson meson
command ninja ninja-build
command python3 python3
pkg-config libdpdk>=22.11 libdpdk-dev
pkg-config libpcap libpcap-dev
pkg-config yaml-0.1 libyaml-dev
pkg-config libcrypto libssl-dev" ;;
doc)	fix=test
	needs="command doxygen doxygen" ;;
*)	echo "check-deps: unknown purpose '${1:-}' (run or doc)" >&2
	exit 2 ;;
esac

missing=()
while read -r kind name pkg; do
	case "$kind" in
	command) command -v "$name" >/dev/null ;;
	pkg-config) command -v pkg-config >/dev/null &&
		pkg-config --exists "${name/>=/ >= }" ;;
	esac || missing+=("$name ($pkg)")
done <<< "$needs"
if [ "${#missing[@]}" -gt 0 ]; then
	echo "missing: ${missing[*]}" >&2
	echo "install with: sudo bash scripts/setup.sh $fix" >&2
	exit 1
fi
