#!/usr/bin/env bash
# The Debian packages in a clean Debian 13 root: one made by mmdebstrap
# (variant apt: the essential packages and apt, nothing of ours) from
# the mirror the machine's own apt uses, kept as a tarball and unpacked
# afresh for every run. tests/deb/smoke.sh runs inside: apt installs
# DEBDIR's packages with DPDK's runtime from the mirror, then
# examples/hello_vsock is built on the -dev package and run, and vsockd
# serves socat under the preload (in vsock-guard, from GUARD).
#
#   scripts/test-deb.sh DEBDIR GUARD
#
# TRIXIE_CLEAN overrides the cache (default .cache/trixie-clean.tar).
# Runs as root; needs the host's hugepages on /dev/hugepages.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PROJECT=$(dirname "$HERE")
TAR=${TRIXIE_CLEAN:-$PROJECT/.cache/trixie-clean.tar}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

case "${1:-}" in
-h|--help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
esac
[ $# -eq 2 ] ||
	{ echo "test-deb: usage: test-deb.sh DEBDIR GUARD" >&2; exit 2; }
debdir=$1
guard=$2
ls "$debdir"/*.deb >/dev/null 2>&1 ||
	{ echo "test-deb: no .deb in '$debdir': run make deb" >&2; exit 1; }
[ -x "$guard" ] || { echo "test-deb: no vsock-guard at '$guard'" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "test-deb: must run as root" >&2; exit 1; }

# One run at a time: they would share the unpacked root.
mkdir -p "$(dirname "$TAR")"
exec 9>"$TAR.run-lock"
flock -n 9 ||
	{ echo "test-deb: another run holds $TAR.run-lock" >&2; exit 1; }

start=$(date +%s)
mirror=$(cd "$PROJECT/tests/vm" &&
	python3 -c 'import guest; print(guest.debian_mirror())')
want="trixie apt $mirror"
if [ ! -f "$TAR" ] || [ "$(cat "$TAR.stamp" 2>/dev/null)" != "$want" ]; then
	echo "test-deb: making $TAR from $mirror (trixie)" >&2
	mmdebstrap --mode=root --variant=apt --keyring="$KEYRING" \
		--aptopt='APT::Install-Recommends "false"' \
		trixie "${TAR%.tar}.new.tar" "deb $mirror trixie main" >&2
	mv "${TAR%.tar}.new.tar" "$TAR"
	echo "$want" >"$TAR.stamp"
fi

R="${TAR%.tar}"
rm -rf "$R"
mkdir -p "$R"
tar -C "$R" -xf "$TAR"
# apt reaches the mirror by name.
cp -L /etc/resolv.conf "$R/etc/resolv.conf"
T=/srv/dpdk-vsock-test
mkdir -p "$R$T/debs"
# The packages, not their debug symbols (-dbgsym).
find "$debdir" -maxdepth 1 -name '*.deb' ! -name '*-dbgsym_*' \
	-exec cp -t "$R$T/debs/" {} +
cp -r "$PROJECT/examples/hello_vsock" "$R$T/"
rm -rf "$R$T/hello_vsock/build"
cp "$guard" "$R$T/vsock-guard"
cp "$PROJECT/tests/deb/smoke.sh" "$R$T/"

. "$HERE/chroot-lib.sh"
chroot_mount "$R"
chroot_run "$R" "$T/smoke.sh"
echo "test-deb: the packages work in a clean Debian 13 root" \
	"($(($(date +%s) - start)) s)"
