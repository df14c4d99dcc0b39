#!/usr/bin/env bash
# Build and test the project against Debian 13's DPDK 24.11, inside the
# trixie root of scripts/trixie-root.sh: configure and build into
# build-trixie (warnings are errors there), then run the unit and stack
# suites and the pytest modules that need no guest. The worktree is
# bind-mounted at its own path, so the host's build/ and this one sit
# side by side. The last line says how long the root, the build and
# the tests took.
#
#   scripts/test-trixie.sh [--help]
#
# TRIXIE_BUILD overrides the build folder (default build-trixie),
# TRIXIE_PYTEST the pytest modules, TRIXIE_DESELECT their --deselect
# options, NINJA_JOBS ninja's -j (2). Runs as root; needs the host's
# hugepages mounted on /dev/hugepages (scripts/setup.sh does it).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PROJECT=$(dirname "$HERE")
BUILD=${TRIXIE_BUILD:-build-trixie}
# The pytest modules that need no guest and nothing outside the root:
# loopback, packed rings, vhost-user, telemetry, vsockd and its preload.
PYTEST=${TRIXIE_PYTEST:-$(printf 'tests/pytest/test_%s.py ' \
	testpmd_loopback packed vhost_user multi_transport hostile logs \
	bridge_local telemetry vsockd)}
# Debian 13's ncat (7.95) reads 'ncat --vsock -l 1234' as CID 1234 on its
# default port 31337, where bookworm's (7.93) reads a port.
DESELECT=${TRIXIE_DESELECT:---deselect test_vsockd.py::test_ncat_both_ways}

case "${1:-}" in
"") ;;
-h|--help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
*) echo "test-trixie: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

grep -qs "^[^ ]* /dev/hugepages hugetlbfs " /proc/mounts ||
	{ echo "test-trixie: no hugetlbfs on /dev/hugepages: run scripts/setup.sh" >&2; exit 1; }

# One run at a time per root: two would share its /dev and mounts.
lock="${TRIXIE_ROOT:-$PROJECT/.cache/trixie-root}.run-lock"
mkdir -p "$(dirname "$lock")"
exec 9>"$lock"
flock -n 9 || { echo "test-trixie: another run holds $lock" >&2; exit 1; }

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
trap 'exit 130' INT TERM HUP
mnt() {	# mnt TARGET MOUNT-ARGS...
	local t=$1
	shift
	[ -e "$t" ] || mkdir -p "$t"
	mount "$@" "$t"
	mounted+=("$t")
}

# The root a mount point of its own: tests/guard/vsock-guard remounts /
# private in its namespace, which fails on a plain folder.
mnt "$R" --bind "$R"
mnt "$R/proc" -t proc proc
mnt "$R/sys" -t sysfs sysfs
# A /dev of our own with the usual nodes only: the machine's PCI and
# VFIO devices stay out of reach.
mnt "$R/dev" -t tmpfs -o mode=755,nosuid tmpfs
node() {	# node NAME: the host's /dev/NAME, same numbers and mode
	mknod -m "$(stat -c %a "/dev/$1")" "$R/dev/$1" c \
		$((0x$(stat -c %t "/dev/$1"))) $((0x$(stat -c %T "/dev/$1")))
}
for n in null zero full random urandom tty; do
	node $n
done
ln -s /proc/self/fd "$R/dev/fd"
# /dev/vsock as on the host, where the tests stat it (never open it):
# vsock-guard covers it with /dev/null, test_vsockd.py checks that.
if [ -c /dev/vsock ]; then
	node vsock
fi
mnt "$R/dev/shm" -t tmpfs -o mode=1777,nosuid,nodev tmpfs
mnt "$R/dev/pts" -t devpts -o newinstance,ptmxmode=0666 devpts
ln -s pts/ptmx "$R/dev/ptmx"
# The host's hugepages and /run: DPDK's runtime folders (/run/dpdk) and
# hugepage files are then the ones the host's DPDK processes see, so
# file prefixes cannot collide unseen.
mnt "$R/dev/hugepages" --bind /dev/hugepages
mnt "$R/run" --bind /run
mnt "$R$PROJECT" --bind "$PROJECT"
# Debian 13 ships no dpdk-telemetry.py (its dpdk package is gone), which
# test_telemetry.py drives: the host's, a client of the same socket
# protocol (v2), read-only for the run.
tel=/usr/bin/dpdk-telemetry.py
if [ -f "$tel" ] && [ ! -s "$R$tel" ]; then
	touch "$R$tel"
	mnt "$R$tel" --bind -o ro "$tel"
fi

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
inside "python3 -m pytest -q $DESELECT $PYTEST"
end=$(date +%s)
echo "test-trixie: passed against DPDK 24.11 in $((end - start)) s" \
	"(root $((made - start)) s, build $((built - made)) s," \
	"tests $((end - built)) s)"
