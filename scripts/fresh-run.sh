#!/usr/bin/env bash
# What `make run` does on a fresh Debian 12: a minimal bookworm root
# (mmdebstrap --variant=apt: the essential packages and apt), from the
# mirror the machine's own apt uses, with make and git added and a
# clone of this repository's HEAD; then `make run` in it, timed, and
# the packages it installed counted (dpkg before and after). The README's
# make run figures come from here.
#
#   scripts/fresh-run.sh [--help]
#
# FRESH_ROOT overrides the root's folder (default .cache/bookworm-fresh,
# made anew each run). Runs as root; needs the host's hugepages on
# /dev/hugepages, whose 2 MiB pool make run may raise as on a host.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PROJECT=$(dirname "$HERE")
R=${FRESH_ROOT:-$PROJECT/.cache/bookworm-fresh}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

case "${1:-}" in
"") ;;
-h|--help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
*) echo "fresh-run: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "fresh-run: must run as root" >&2; exit 1; }

mirror=$(cd "$PROJECT/tests/vm" &&
	python3 -c 'import guest; print(guest.debian_mirror())')
rm -rf "$R"
mkdir -p "$(dirname "$R")"
mmdebstrap --mode=root --variant=apt --keyring="$KEYRING" \
	--include=make,git,ca-certificates bookworm "$R" \
	"deb $mirror bookworm main" "deb $mirror bookworm-updates main" >&2
cp -L /etc/resolv.conf "$R/etc/resolv.conf"
git clone -q "$PROJECT" "$R/root/dpdk-vsock"

. "$HERE/chroot-lib.sh"
chroot_mount "$R"
count() { chroot_run "$R" "dpkg-query -W -f '\${Package}\n' | wc -l"; }
before=$(count)
start=$(date +%s)
chroot_run "$R" "cd /root/dpdk-vsock && make run"
end=$(date +%s)
after=$(count)
echo "fresh-run: make run at $(git -C "$PROJECT" rev-parse --short HEAD):" \
	"$((end - start)) s," \
	"$((after - before)) packages installed (root had $before)"
