#!/usr/bin/env bash
# Idempotent set-up for dpdk-vsock on Debian 12: packages, hugepages,
# hugetlbfs. Runs as root, or through sudo when not root.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "setup: run as root or install sudo" >&2; exit 1; }
	SUDO="sudo"
fi

# Debian packages the build, the apps and the tests need.
PACKAGES=(
	build-essential pkg-config meson ninja-build python3
	libdpdk-dev libnuma-dev libssl-dev libcmocka-dev libbenchmark-dev g++
	libyaml-dev
	python3-pytest python3-yaml
	socat ncat
	qemu-system-x86 busybox-static kmod
	dpdk-dev python3-matplotlib linux-perf
	clang libclang-rt-14-dev
	doxygen
	libpcap-dev tshark
	# tools/testing/vsock (vsock_test), built by scripts/build-vsock-test.sh
	linux-source-6.1
	nbdkit libnbd-bin qemu-guest-agent
	# the Debian 13 root of make test-trixie (scripts/trixie-root.sh)
	mmdebstrap
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
		|| missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# 2 MiB hugepages: at least HUGEPAGES_MB (default 1024) MiB in total.
want_mb=${HUGEPAGES_MB:-1024}
want=$(( want_mb / 2 ))
nr_file=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
have=$(cat "$nr_file")
if [ "$have" -lt "$want" ]; then
	echo "setup: reserving $want 2 MiB hugepages (had $have)"
	echo "$want" | $SUDO tee /proc/sys/vm/nr_hugepages >/dev/null
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
