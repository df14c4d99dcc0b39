#!/usr/bin/env bash
# Build and test the project against Debian 13's DPDK 24.11, inside the
# trixie root of scripts/trixie-root.sh: configure and build into
# build-trixie (warnings are errors there), then run the unit and stack
# suites and the pytest modules that need no guest; last, make deb
# there (scripts/make-deb.sh, lintian included) and the packages in a
# clean root (scripts/test-deb.sh). The worktree is bind-mounted at its
# own path, so the host's build/ and this one sit side by side. The
# last line says how long the root, the build, the tests and the
# packages took.
#
#   scripts/test-trixie.sh [--help]
#
# TRIXIE_BUILD overrides the build folder (default build-trixie),
# TRIXIE_DEB the packages' (build-deb-trixie), TRIXIE_PYTEST the pytest
# modules, TRIXIE_DESELECT their --deselect options, NINJA_JOBS ninja's
# -j (2). Runs as root; needs the host's hugepages mounted on
# /dev/hugepages (scripts/setup.sh does it).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PROJECT=$(dirname "$HERE")
BUILD=${TRIXIE_BUILD:-build-trixie}
DEB=${TRIXIE_DEB:-build-deb-trixie}
# The pytest modules that need no guest and nothing outside the root,
# where the DPDK APIs the project uses are all reached: loopback, packed
# rings, vhost-user (rte_vhost), telemetry, vsockd and its preload.
PYTEST=${TRIXIE_PYTEST:-$(printf 'tests/pytest/test_%s.py ' \
	testpmd_loopback packed vhost_user telemetry vsockd)}
# Debian 13's ncat (7.95) reads 'ncat --vsock -l 1234' as CID 1234 on its
# default port 31337, where bookworm's (7.93) reads a port.
DESELECT=${TRIXIE_DESELECT:---deselect test_vsockd.py::test_ncat_both_ways}

case "${1:-}" in
"") ;;
-h|--help) sed -n '2,19s/^# \{0,1\}//p' "$0"; exit 0 ;;
*) echo "test-trixie: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

# One run at a time per root: two would share its /dev and mounts.
lock="${TRIXIE_ROOT:-$PROJECT/.cache/trixie-root}.run-lock"
mkdir -p "$(dirname "$lock")"
exec 9>"$lock"
flock -n 9 || { echo "test-trixie: another run holds $lock" >&2; exit 1; }

start=$(date +%s)
R=$(bash "$HERE/trixie-root.sh")
made=$(date +%s)

. "$HERE/chroot-lib.sh"
chroot_mount "$R" "$PROJECT"
# Debian 13 ships no dpdk-telemetry.py (its dpdk package is gone), which
# test_telemetry.py drives: the host's, a client of the same socket
# protocol (v2), read-only for the run.
tel=/usr/bin/dpdk-telemetry.py
if [ -f "$tel" ] && [ ! -s "$R$tel" ]; then
	touch "$R$tel"
	chroot_mnt "$R$tel" --bind -o ro "$tel"
fi

CHROOT_ENV=("VSOCK_BUILD=$PROJECT/$BUILD")
inside() {
	chroot_run "$R" "cd '$PROJECT' && $1"
}

echo "test-trixie: DPDK $(inside 'pkg-config --modversion libdpdk')"
# Not the microbenchmarks (-Dperf): no test here runs them.
inside "[ -f '$BUILD/build.ninja' ] || meson setup '$BUILD' \
	-Dtest_hooks=true -Dperf=false --werror >/dev/null"
inside "ninja -C '$BUILD' -j${NINJA_JOBS:-2}"
built=$(date +%s)
inside "meson test -C '$BUILD' --suite unit --suite stack --print-errorlogs"
inside "python3 -m pytest -q $DESELECT $PYTEST"
tested=$(date +%s)
# make deb here, against 24.11, then the packages in a clean root.
inside "BUILD_DEB='$PROJECT/$DEB' bash scripts/make-deb.sh"
bash "$HERE/test-deb.sh" "$PROJECT/$DEB" \
	"$PROJECT/$BUILD/tests/guard/vsock-guard"
end=$(date +%s)
echo "test-trixie: passed against DPDK 24.11 in $((end - start)) s" \
	"(root $((made - start)) s, build $((built - made)) s," \
	"tests $((tested - built)) s, packages $((end - tested)) s)"
