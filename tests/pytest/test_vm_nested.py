"""The full deployment, the mission's exact path: a first guest (L1) runs
Linux's vhost-vsock for a second guest (L2) it boots itself, with an
emulated IOMMU and iommu_platform=on; in L2 our driver claims the
vhost-vsock-pci device through VFIO and exchanges data with AF_VSOCK
programs in L1. Software emulation twice over: minutes. L1 runs Debian
12's Linux 6.1: with 6.12 there the guest kernel once panicked in early
boot under QEMU's multi-threaded TCG (int3 in sched_clock_cpu, Oops #2,
before any of our code ran), and with 6.12 in both levels L2 did not
finish booting within 900 s on a loaded machine. L2, where our driver
runs over VFIO, runs 6.12 (and 6.1 in make test-long; L2 below)."""
import json
import os
import re
import textwrap

import pytest

from conftest import ROOT, TESTPMD
from vmtools import booted, guest, prepare, script, series

pytestmark = [pytest.mark.vm, pytest.mark.slow]

PEER = os.path.join(ROOT, "tests", "vm", "vsock_peer.py")
NESTED = os.path.join(ROOT, "tests", "vm", "nested.py")
ADDR = "0000:00:05.0"
KERNEL = "bookworm"      # L1: vhost-vsock and the peer
# L2 (our driver over VFIO): its kernel, its CPU model, how long it may
# take. Linux 6.12 in L2 (TCG inside TCG) took double faults in early
# boot, in SLUB's cmpxchg16b fast path with garbage in EFLAGS, on -cpu
# max, and in one of two boots on Nehalem; on Nehalem without cx16 (SLUB
# then takes its other path) it passed in 603 s with the machine loaded. make test runs it;
# 6.1 in L2 (about 300 s) is in make test-long: the VFIO suite runs our
# driver over 6.1's VFIO already.
L2 = [pytest.param("trixie", "Nehalem,-cx16", 1700, id="l2-linux6.12"),
      pytest.param("bookworm", "max", 900, id="l2-linux6.1",
                   marks=pytest.mark.long)]


@pytest.mark.parametrize("l2_kernel,l2_cpu,l2_timeout", L2)
def test_our_driver_in_l2_against_linux_vhost_vsock_in_l1(
        tmp_path, l2_kernel, l2_cpu, l2_timeout):
    prepare(KERNEL)
    prepare(l2_kernel)
    l2 = textwrap.dedent(f"""
        set -u
        D=/sys/bus/pci/devices/{ADDR}
        echo "L2-KERNEL $(uname -r)"
        echo "L2-DEVICE $(cat $D/vendor):$(cat $D/device)"
        modprobe vfio_iommu_type1 && modprobe vfio-pci || exit 90
        [ -e $D/driver ] && echo {ADDR} > $D/driver/unbind
        echo vfio-pci > $D/driver_override
        echo {ADDR} > /sys/bus/pci/drivers_probe
        echo 64 > /proc/sys/vm/nr_hugepages
        mount -t hugetlbfs nodev /dev/hugepages
        {TESTPMD} -l 0 --in-memory --log-level=lib.eal:warning -a {ADDR} \\
            -- --dev pci:{ADDR} --nb-mbufs 2048 --mode verify --peer 2 \\
            --port 9999 --conns 2 --size 1-20000 --duration 5 --json
    """)
    l2_path = tmp_path / "l2.sh"
    l2_path.write_text(l2)
    l1 = textwrap.dedent(f"""
        set -u
        echo KERNEL $(uname -r)
        modprobe vhost_vsock || exit 90
        timeout {l2_timeout + 600} python3 {PEER} serve --port 9999 \\
            --conns 2 --timeout {l2_timeout + 500} > /tmp/peer.out &
        P=$!
        L2_KERNEL={l2_kernel} L2_CPU={l2_cpu} L2_TIMEOUT={l2_timeout} \\
            L2_APPEND=intel_iommu=on \\
            python3 {NESTED} "bash {l2_path}" \\
            -device intel-iommu,intremap=on \\
            -device vhost-vsock-pci,guest-cid=3,disable-legacy=on,iommu_platform=on,addr=05.0
        N=$?
        echo "NESTED-RC $N"
        # Without L2 the peer would wait for its connections in vain.
        [ $N = 0 ] || kill $P
        wait $P
        cat /tmp/peer.out
    """)
    r = guest.run(script(tmp_path / "l1", l1), timeout=l2_timeout + 900,
                  mem="3G",
                  kernel=KERNEL)
    print(r.console[-8000:])
    assert r.rc == 0, r.console[-6000:]
    booted(r.console, KERNEL)
    m = re.search(r"L2-KERNEL (\S+)", r.console)
    assert m and m.group(1).startswith(series(l2_kernel) + "."), \
        r.console[-6000:]
    assert "L2-DEVICE 0x1af4:0x1053" in r.console
    assert "NESTED-RC 0" in r.console
    res = [json.loads(m) for m in re.findall(r"L2\|.*?(\{\"mode\".*\})",
                                             r.console)]
    assert res and res[0]["errors"] == 0
    assert res[0]["client"]["bytes_rx"] == res[0]["client"]["bytes_tx"] > 0
    peer = [json.loads(m) for m in re.findall(r"PEER-RESULT (\{.*\})",
                                              r.console)]
    assert peer and peer[0]["ok"] and peer[0]["conns"] == 2
