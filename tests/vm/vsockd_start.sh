# Sourced by the guest scripts of the vm tests: hugepages, then vsockd
# (binary $1) on the guest kernel's vhost-vsock device as CID $2, with
# its control socket at /tmp/vsockd.sock; VD holds its pid once the
# socket is there (or after 30 s, for the caller's checks to fail on).
echo 300 > /proc/sys/vm/nr_hugepages
mount -t hugetlbfs nodev /dev/hugepages
"$1" -l 0 --in-memory --log-level=lib.eal:warning -- \
	--dev vhost-kernel:cid="$2" --socket /tmp/vsockd.sock \
	> /tmp/vd.out 2> /tmp/vd.err &
VD=$!
for i in $(seq 300); do [ -S /tmp/vsockd.sock ] && break; sleep 0.1; done
