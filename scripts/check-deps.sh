#!/usr/bin/env bash
# Checks, installing nothing, that what a make target needs to build is
# there; names what is missing and the command that installs it.
#
# usage: check-deps.sh run|doc|deb
#   run  make build and make install: the libraries and apps
#   doc  make doc: doxygen
#   deb  make deb: the libraries and apps, debhelper, lintian, help2man
set -uo pipefail

# "command NAME PACKAGE" or "pkg-config MODULE PACKAGE", one a line.
run_needs="command cc build-essential
command pkg-config pkg-config
command meson meson
command ninja ninja-build
command python3 python3
pkg-config libdpdk>=22.11 libdpdk-dev
pkg-config libpcap libpcap-dev
pkg-config yaml-0.1 libyaml-dev
pkg-config libcrypto libssl-dev"
case "${1:-}" in
run)	fix="sudo bash scripts/setup.sh run"
	needs=$run_needs ;;
doc)	fix="sudo bash scripts/setup.sh test"
	needs="command doxygen doxygen" ;;
deb)	fix="sudo apt-get install debhelper lintian help2man"
	fix="$fix, after sudo bash scripts/setup.sh run"
	needs="$run_needs
command dh debhelper
command lintian lintian
command help2man help2man" ;;
*)	echo "check-deps: unknown purpose '${1:-}' (run, doc or deb)" >&2
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
	echo "install with: $fix" >&2
	exit 1
fi
