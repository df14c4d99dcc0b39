#!/usr/bin/env bash
# Run by scripts/test-deb.sh inside a clean Debian 13 root, as root, from
# the folder it was copied to with debs/ (make deb's packages),
# hello_vsock/ (examples/hello_vsock) and vsock-guard beside it:
#   1. apt installs the packages, pulling DPDK's runtime from the mirror;
#   2. hello_vsock builds against the installed -dev package and runs;
#   3. the installed vsockd serves two socat processes under the
#      installed libvsock-preload.so (in vsock-guard: the kernel's
#      AF_VSOCK refused), and 1 MiB crosses byte-exact.
# Any failed step fails it, naming the step.
set -euo pipefail
cd "$(dirname "$0")"
T=$PWD
EAL="-l 0 --in-memory --no-pci --log-level=lib.eal:warning"
fail() { echo "smoke: $*" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
apt-get -q update
apt-get -q install -y --no-install-recommends "$T"/debs/*.deb \
	gcc make pkg-config socat
echo "smoke: installed: $(dpkg-query -W -f '${Package} ' \
	'libvsock*' libvirtio-vsock0 libdpdk-vsock-dev dpdk-vsock)"

unit=/usr/lib/systemd/system/vsockd.service
grep -q '^ExecStart=/usr/bin/vsockd ' "$unit" ||
	fail "$unit does not run /usr/bin/vsockd"
for t in vsockd vsock-testpmd vsock-perf vsock-bridge vsock-ss; do
	"$t" --help >/dev/null 2>&1 || fail "$t --help failed"
done

make -C hello_vsock
# /lib is /usr/lib in Debian 13 (merged /usr): the loader may name either.
ldd hello_vsock/build/hello_vsock | grep -Eq \
	"libvsock_stack.so.0 => (/usr)?/lib/x86_64-linux-gnu/" ||
	fail "hello_vsock does not link the installed libvsock_stack"
# shellcheck disable=SC2086
hello_vsock/build/hello_vsock $EAL | tee hello.out
grep -q 'hello_vsock: received "hello"' hello.out ||
	fail "hello_vsock received nothing"

sock=$T/vsockd.sock
# shellcheck disable=SC2086
vsockd $EAL -- --dev loopback --socket "$sock" >vsockd.log 2>&1 &
vsockd_pid=$!
pids=("$vsockd_pid")
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	[ -S "$sock" ] && break
	kill -0 "$vsockd_pid" 2>/dev/null ||
		fail "vsockd exited: $(cat vsockd.log)"
	sleep 0.1
done
[ -S "$sock" ] || fail "no $sock after 10 s"

pre() {
	env VSOCKD_SOCKET="$sock" \
		LD_PRELOAD=/usr/lib/x86_64-linux-gnu/dpdk-vsock/libvsock-preload.so \
		"$T/vsock-guard" -- "$@"
}
head -c 1M /dev/urandom >data
pre socat -u VSOCK-LISTEN:1234 CREATE:got 2>server.err &
pids+=($!)
server=$!
# The client is refused until the listener is up: try for 10 s.
for _ in $(seq 100); do
	pre socat -u OPEN:data VSOCK-CONNECT:1:1234 2>client.err && break
	sleep 0.1
done
wait "$server" || fail "socat server failed: $(cat server.err)"
cmp data got || fail "1 MiB through vsockd differs"
kill -INT "$vsockd_pid"
wait "$vsockd_pid" || fail "vsockd exited $? on SIGINT: $(cat vsockd.log)"
echo "smoke: hello_vsock and vsockd with socat under the preload ok"
