#!/usr/bin/env bash
# Build Linux's own vsock test suite (tools/testing/vsock: vsock_test and
# vsock_diag_test) from Debian's linux-source package, for the guest tests
# that run it with one side on dpdk-vsock and the other on the kernel.
#
# Usage: scripts/build-vsock-test.sh [SERIES]      (SERIES: 6.1, the default)
#
# Unpacks only tools/testing/vsock and tools/include (the suite includes
# about ten headers from there; the uapi ones come from linux-libc-dev)
# out of /usr/src/linux-source-SERIES.tar.xz into
# .vm-cache/vsock_test/SERIES (or $VSOCK_VM_DIR/vsock_test/SERIES) and runs
# the suite's own Makefile. Nothing is built into or loaded from a kernel.
# Idempotent: does nothing while the binaries are newer than the tarball.
# Prints the directory that holds the binaries.
set -euo pipefail

series=${1:-6.1}
case $series in
	[0-9]*.[0-9]*) ;;
	*) echo "build-vsock-test: bad series '$series' (want e.g. 6.1)" >&2
	   exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
tarball=/usr/src/linux-source-$series.tar.xz
out=${VSOCK_VM_DIR:-$root/.vm-cache}/vsock_test/$series
bins=$out/linux-source-$series/tools/testing/vsock

if [ ! -r "$tarball" ]; then
	echo "build-vsock-test: $tarball is missing" \
		"(apt-get install linux-source-$series; scripts/setup.sh does)" >&2
	exit 1
fi
if [ "$bins/vsock_test" -nt "$tarball" ] &&
		[ "$bins/vsock_diag_test" -nt "$tarball" ]; then
	echo "$bins"
	exit 0
fi

rm -rf "$out"
mkdir -p "$out"
# xz cannot seek: the members are found in one pass over the archive.
tar -xJf "$tarball" -C "$out" --wildcards \
	"linux-source-$series/tools/testing/vsock/*" \
	"linux-source-$series/tools/include/*"
make -s -C "$bins" vsock_test vsock_diag_test >&2
echo "$bins"
