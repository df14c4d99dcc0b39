#!/usr/bin/env bash
# Idempotent set-up for dpdk-vsock on Debian 12: packages, hugepages,
# hugetlbfs. Runs as root, or through sudo when not root. Quiet when
# everything is there.
#
# usage: setup.sh [run|test|bench] [--list]   (default: test)
#   run    build the libraries and apps, run vsock-testpmd (make run)
#   test   everything make test uses
#   bench  test's, plus the benchmark peers of perf/ (make bench*)
#   --list print the purpose's packages, one a line, and do nothing
set -euo pipefail

purpose=${1:-test}

# make run: the compilers and build tools, DPDK, and what the libraries
# (libpcap: lib/vsock_capture) and the apps (libyaml: vsock-bridge,
# libcrypto: vsock-perf) link.
RUN_PACKAGES=(
	build-essential pkg-config meson ninja-build python3
	libdpdk-dev libpcap-dev libyaml-dev libssl-dev
)
# make test: the unit tests and microbenchmarks (cmocka, Google
# Benchmark, C++), pytest, the real peers, the QEMU guests, the fuzzers
# (clang), the API docs (doxygen), the portability test (qemu-user).
TEST_PACKAGES=(
	libcmocka-dev libbenchmark-dev g++
	python3-pytest python3-yaml python3-matplotlib
	socat ncat tshark
	qemu-system-x86 qemu-user busybox-static kmod
	clang libclang-rt-14-dev
	doxygen
	# tools/testing/vsock (vsock_test), built by scripts/build-vsock-test.sh
	linux-source-6.1
	nbdkit libnbd-bin qemu-guest-agent
	# the Debian 13 root of make test-trixie (scripts/trixie-root.sh)
	mmdebstrap
)
# make bench*: dpdk-testpmd (dpdk-dev), the peer of the packet-rate rows,
# and perf for perf/profile.py.
BENCH_PACKAGES=(dpdk-dev linux-perf)

case "$purpose" in
run)	packages=("${RUN_PACKAGES[@]}") ;;
test)	packages=("${RUN_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
bench)	packages=("${RUN_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
		"${BENCH_PACKAGES[@]}") ;;
*)	echo "setup: unknown purpose '$purpose' (run, test or bench)" >&2
	exit 2 ;;
esac
if [ "${2:-}" = --list ]; then
	printf '%s\n' "${packages[@]}"
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "setup: run as root or install sudo" >&2; exit 1; }
	SUDO="sudo"
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
		|| missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# 2 MiB hugepages: at least HUGEPAGES_MB (default 1024) MiB in total, in
# the 2 MiB pool whatever the kernel's default page size
# (/proc/sys/vm/nr_hugepages is the default size's pool).
want_mb=${HUGEPAGES_MB:-1024}
want=$(( want_mb / 2 ))
nr_file=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
have=$(cat "$nr_file")
if [ "$have" -lt "$want" ]; then
	echo "setup: reserving $want 2 MiB hugepages (had $have)"
	echo "$want" | $SUDO tee "$nr_file" >/dev/null
	have=$(cat "$nr_file")
	if [ "$have" -lt "$want" ]; then
		echo "setup: only $have of $want hugepages could be reserved (memory fragmented?)" >&2
		exit 1
	fi
fi
if ! grep -qs "^[^ ]* [^ ]* hugetlbfs " /proc/mounts; then
	echo "setup: mounting hugetlbfs on /dev/hugepages"
	$SUDO mkdir -p /dev/hugepages
	$SUDO mount -t hugetlbfs nodev /dev/hugepages
fi
