#!/usr/bin/env bash
# A Debian 13 (trixie) root with the project's build and test
# dependencies, DPDK 24.11 among them: made once with mmdebstrap from the
# Debian mirror the machine's own apt uses, cached, reused while its
# stamp matches the package list below.
#
#   scripts/trixie-root.sh            make the root if needed, print its path
#   scripts/trixie-root.sh --rebuild  make it again from scratch
#
# TRIXIE_ROOT overrides the cache (default .cache/trixie-root). Runs as
# root (mmdebstrap's root mode). The machine's apt sources are read for
# the mirror's URL only, never changed.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PROJECT=$(dirname "$HERE")
ROOT=${TRIXIE_ROOT:-$PROJECT/.cache/trixie-root}
# bookworm's debian-archive-keyring carries trixie's keys.
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# What the build, the unit and stack suites and the pytest modules of
# scripts/test-trixie.sh need inside (dpdk-dev: dpdk-telemetry.py), and
# make deb (debhelper, lintian).
PACKAGES=(
	build-essential pkg-config meson ninja-build g++
	libdpdk-dev dpdk-dev libssl-dev libcmocka-dev
	libyaml-dev libpcap-dev
	python3 python3-pytest python3-yaml
	socat ncat
	debhelper lintian help2man
)

usage() {
	sed -n '2,12s/^# \{0,1\}//p' "$0"
}

rebuild=0
case "${1:-}" in
"") ;;
--rebuild) rebuild=1 ;;
-h|--help) usage; exit 0 ;;
*) echo "trixie-root: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

[ "$(id -u)" -eq 0 ] || { echo "trixie-root: must run as root" >&2; exit 1; }
command -v mmdebstrap >/dev/null ||
	{ echo "trixie-root: mmdebstrap missing: run scripts/setup.sh" >&2; exit 1; }

# The stamp names the package list: a root made for another list is
# made again rather than patched.
want="trixie ${PACKAGES[*]}"
stamp="$ROOT/.trixie-root-stamp"
if [ "$rebuild" -eq 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	echo "$ROOT"
	exit 0
fi

# The mirror of the machine's own release, parsed once for the project
# (tests/vm/guest.py, which fetches trixie's kernel the same way).
mirror=$(cd "$PROJECT/tests/vm" &&
	python3 -c 'import guest; print(guest.debian_mirror())')

# Built aside and renamed, so that an interrupted run never leaves a
# root that looks complete.
tmp="$ROOT.new"
rm -rf "$tmp" "$ROOT"
mkdir -p "$(dirname "$ROOT")"
include=$(IFS=,; echo "${PACKAGES[*]}")
echo "trixie-root: making $ROOT from $mirror (trixie)" >&2
mmdebstrap --mode=root --variant=apt --keyring="$KEYRING" \
	--include="$include" --aptopt='APT::Install-Recommends "false"' \
	trixie "$tmp" \
	"deb $mirror trixie main" "deb $mirror trixie-updates main" >&2
mv "$tmp" "$ROOT"
echo "$want" >"$stamp"
echo "$ROOT"
