#!/usr/bin/env bash
# Build and test the project against Debian 13's DPDK 24.11, inside the
# trixie root of scripts/trixie-root.sh: configure and build into
# build-trixie (warnings are errors there), then run the unit and stack
# suites and the loopback pytest modules. The worktree is bind-mounted
# at its own path, so the host's build/ and this one sit side by side.
#
#   scripts/test-trixie.sh [--help]
#
# TRIXIE_BUILD overrides the build folder (default build-trixie),
# TRIXIE_PYTEST the pytest modules run. Runs as root; needs the host's
# hugepages mounted on /dev/hugepages (scripts/setup.sh does it).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PROJECT=$(dirname "$HERE")
BUILD=${TRIXIE_BUILD:-build-trixie}
PYTEST=${TRIXIE_PYTEST:-tests/pytest/test_testpmd_loopback.py}

case "${1:-}" in
"") ;;
-h|--help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
*) echo "test-trixie: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

grep -qs "^[^ ]* /dev/hugepages hugetlbfs " /proc/mounts ||
	{ echo "test-trixie: no hugetlbfs on /dev/hugepages: run scripts/setup.sh" >&2; exit 1; }

start=$(date +%s)
R=$(bash "$HERE/trixie-root.sh")
made=$(date +%s)

# Mounted for this run only, unmounted on any exit, last first.
mounted=()
cleanup() {
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount "${mounted[i]}" || umount -l "${mounted[i]}" || true
	done
}
trap cleanup EXIT
mnt() {	# mnt TARGET MOUNT-ARGS...
	local t=$1
	shift
	mkdir -p "$t"
	mount "$@" "$t"
	mounted+=("$t")
}

mnt "$R/proc" -t proc proc
mnt "$R/sys" -t sysfs sysfs
# A /dev of our own with the usual nodes only: the machine's /dev/vsock
# and PCI devices stay out of reach.
mnt "$R/dev" -t tmpfs -o mode=755,nosuid tmpfs
for n in null zero full random urandom tty; do
	mknod -m 666 "$R/dev/$n" c \
		$((0x$(stat -c %t /dev/$n))) $((0x$(stat -c %T /dev/$n)))
done
ln -s /proc/self/fd "$R/dev/fd"
mnt "$R/dev/shm" -t tmpfs -o mode=1777,nosuid,nodev tmpfs
mnt "$R/dev/pts" -t devpts -o newinstance,ptmxmode=0666 devpts
ln -s pts/ptmx "$R/dev/ptmx"
# The host's hugepages and /run: DPDK's runtime folders (/run/dpdk) and
# hugepage files are then the ones the host's DPDK processes see, so
# file prefixes cannot collide unseen.
mnt "$R/dev/hugepages" --bind /dev/hugepages
mnt "$R/run" --bind /run
mnt "$R$PROJECT" --bind "$PROJECT"

inside() {
	chroot "$R" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		VSOCK_BUILD="$PROJECT/$BUILD" \
		bash -c "cd '$PROJECT' && $1"
}

echo "test-trixie: DPDK $(inside 'pkg-config --modversion libdpdk')"
inside "[ -f '$BUILD/build.ninja' ] || meson setup '$BUILD' \
	-Dtest_hooks=true --werror >/dev/null"
inside "ninja -C '$BUILD' -j${NINJA_JOBS:-2}"
built=$(date +%s)
inside "meson test -C '$BUILD' --suite unit --suite stack --print-errorlogs"
inside "python3 -m pytest -q $PYTEST"
end=$(date +%s)
echo "test-trixie: passed against DPDK 24.11 in $((end - start)) s" \
	"(root $((made - start)) s, build $((built - made)) s," \
	"tests $((end - built)) s)"
