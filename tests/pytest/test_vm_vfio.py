"""The driver over VFIO against QEMU's virtio-vsock PCI device: in a guest
with an emulated IOMMU, vsock-testpmd --dev pci:... claims the device
(vhost-user-vsock-pci, served by our bridge on this machine) and verifies
the bridge's echo, byte by byte, across the emulated PCI device."""
import json
import re
import textwrap

import pytest

from conftest import BRIDGE, EAL, TESTPMD, Background, wait_for_path
from vmtools import guest, script

pytestmark = pytest.mark.vm

ADDR = "0000:00:05.0"
ECHO = 5000


def test_driver_over_vfio_against_qemu_virtio_pci(procs, tmp_path):
    vsock = str(tmp_path / "vhost.sock")
    uds = str(tmp_path / "v.sock")
    br = Background([BRIDGE] + EAL + ["--single-file-segments", "--",
                    "--socket", vsock, "--uds", uds, "--guest-cid", "3",
                    "--echo-port", str(ECHO)], "vsock-bridge")
    procs.append(br)
    wait_for_path(vsock, br)
    tp = (f"{TESTPMD} -l 0-1 --in-memory --iova-mode=pa "
          f"--log-level=lib.eal:warning -a {ADDR} -- --dev pci:{ADDR} "
          f"--nb-mbufs 4096 --json")
    body = textwrap.dedent(f"""
        set -u
        D=/sys/bus/pci/devices/{ADDR}
        echo "DEVICE $(cat $D/vendor):$(cat $D/device)"
        modprobe vfio_iommu_type1 && modprobe vfio-pci || exit 90
        [ -e $D/driver ] && echo {ADDR} > $D/driver/unbind
        echo vfio-pci > $D/driver_override
        echo {ADDR} > /sys/bus/pci/drivers_probe
        echo "BOUND $(basename $(readlink $D/driver))"
        echo 300 > /proc/sys/vm/nr_hugepages
        mount -t hugetlbfs nodev /dev/hugepages
        for t in stream seqpacket; do
            p={ECHO}; [ $t = seqpacket ] && p=$((p + 1))
            timeout 300 {tp} --mode verify --type $t --peer 2 --port $p \\
                --conns 8 --size 1-70000 --duration 3 > /tmp/tp.out \\
                2> /tmp/tp.err
            echo "TP-RC $?"
            echo "TP-RESULT $(grep '^{{' /tmp/tp.out)"
            grep -v '^\\[' /tmp/tp.err | tail -4
        done
        # Nobody bound to it any more: a clear error, no crash.
        echo {ADDR} > $D/driver/unbind
        timeout 120 {tp} --mode echo --duration 1 2> /tmp/tp.err
        echo "UNBOUND-RC $?"
        tail -1 /tmp/tp.err
    """)
    r = guest.run(script(tmp_path, body), timeout=600, memfd=True,
                  append="intel_iommu=on",
                  qemu_args=["-device", "intel-iommu,intremap=on",
                             "-chardev", f"socket,id=c0,path={vsock}",
                             "-device", "vhost-user-vsock-pci,chardev=c0,"
                             "disable-legacy=on,addr=05.0"])
    print(r.console[-6000:])
    assert r.rc == 0, r.console[-4000:]
    assert "DEVICE 0x1af4:0x1053" in r.console
    assert "BOUND vfio-pci" in r.console
    rcs = re.findall(r"TP-RC (\d+)", r.console)
    res = [json.loads(m) for m in re.findall(r"TP-RESULT (\{.*\})",
                                             r.console)]
    assert rcs == ["0", "0"], r.console[-4000:]
    for d, t in zip(res, ("stream", "seqpacket")):
        assert d["type"] == t and d["errors"] == 0
        assert d["client"]["bytes_rx"] == d["client"]["bytes_tx"] > 0
        assert d["client"]["conns_done"] == 8
    assert "UNBOUND-RC 1" in r.console
    assert "bind it to vfio-pci" in r.console
    assert br.alive()
    br.stop()
