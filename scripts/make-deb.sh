#!/usr/bin/env bash
# make deb: dpdk-vsock's Debian packages (debian/), built from a copy of
# this tree (build folders, caches and .git left out) in BUILD_DEB, then
# checked by lintian, whose warnings fail it: each one is fixed or
# explained in debian/*.lintian-overrides. The packages are built
# against the DPDK installed here (22.11 on Debian 12, 24.11 on
# Debian 13), so they install where that DPDK's runtime packages are.
#
#   scripts/make-deb.sh [--help]
#
# BUILD_DEB overrides the output folder (default build-deb): the .deb
# files and the .changes land there, the build tree below it.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PROJECT=$(dirname "$HERE")
OUT=$(realpath -m "${BUILD_DEB:-$PROJECT/build-deb}")

case "${1:-}" in
"") ;;
-h|--help) sed -n '2,12s/^# \{0,1\}//p' "$0"; exit 0 ;;
*) echo "make-deb: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

bash "$HERE/check-deps.sh" deb
ver=$(dpkg-parsechangelog -l "$PROJECT/debian/changelog" -S Version)
src="$OUT/dpdk-vsock-$ver"
rm -rf "$OUT"
mkdir -p "$src"
# What .gitignore leaves out, without needing git (a Debian root may
# have none): build folders, caches, Python's byte code.
tar -C "$PROJECT" -cf - --exclude-vcs --exclude='./build' \
	--exclude='./build-*' --exclude='./.cache' --exclude='./.vm-cache' \
	--exclude='./.bench-baseline' --exclude='__pycache__' \
	--exclude='.pytest_cache' --exclude='*.pyc' . | tar -C "$src" -xf -
(cd "$src" && dpkg-buildpackage -b -us -uc -j"$(nproc)")
changes=$(ls "$OUT"/dpdk-vsock_"$ver"_*.changes)
lintian --fail-on warning --info "$changes"
echo "make-deb: $(cd "$OUT" && ls ./*.deb | wc -l) packages in $OUT," \
	"lintian clean"
