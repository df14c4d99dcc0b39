"""The driver over VFIO against QEMU's virtio-vsock PCI device: in a guest
with an emulated IOMMU, vsock-testpmd --dev pci:... claims the device
(vhost-user-vsock-pci, served by our bridge on this machine) and verifies
the bridge's echo, byte by byte, across the emulated PCI device, with
Debian 12's Linux 6.1 and with Debian 13's 6.12 as the guest (VFIO's and
the IOMMU's host). Then the device breaks its rx ring once, and the
driver resets it and carries on; and the guest kernel resets the
function under the driver, which sees it and carries on too."""
import json
import re
import textwrap

import pytest

from conftest import (BRIDGE, EAL, TESTPMD, Background, build_option,
                      wait_for_path)
from vmtools import (booted, every_kernel, guest, one_recovery, prepare,
                     script)

pytestmark = pytest.mark.vm

ADDR = "0000:00:05.0"
# Behind a PCIe root port the function is a PCIe endpoint, with a
# function-level reset (QEMU's virtio-pci there offers FLR).
PORT_ADDR = "0000:01:00.0"
ECHO = 5000
# Bind the function ADDR to vfio-pci and give EAL its hugepages.
BIND = """
    set -u
    echo KERNEL $(uname -r)
    ADDR={addr}
    D=/sys/bus/pci/devices/{addr}
    echo "DEVICE $(cat $D/vendor):$(cat $D/device)"
    modprobe vfio_iommu_type1 && modprobe vfio-pci || exit 90
    [ -e $D/driver ] && echo $ADDR > $D/driver/unbind
    echo vfio-pci > $D/driver_override
    echo $ADDR > /sys/bus/pci/drivers_probe
    echo "BOUND $(basename $(readlink $D/driver))"
    echo 300 > /proc/sys/vm/nr_hugepages
    mount -t hugetlbfs nodev /dev/hugepages
"""


def run_guest(tmp_path, vsock, body, kernel=guest.DEFAULT_KERNEL,
              root_port=False):
    """Boot a @kernel guest whose 00:05.0 is a vhost-user-vsock-pci served
    on @vsock (01:00.0 behind a PCIe root port at 00:05.0 with
    @root_port), bind it and run @body."""
    where = "addr=05.0"
    ports = []
    if root_port:
        where = "bus=rp0,addr=0"
        ports = ["-device", "pcie-root-port,id=rp0,chassis=1,addr=05.0"]
    addr = PORT_ADDR if root_port else ADDR
    r = guest.run(script(tmp_path, textwrap.dedent(BIND).format(addr=addr) +
                         textwrap.dedent(body)),
                  timeout=600, memfd=True, append="intel_iommu=on",
                  kernel=kernel,
                  qemu_args=["-device", "intel-iommu,intremap=on",
                             "-chardev", f"socket,id=c0,path={vsock}"] +
                  ports + ["-device", "vhost-user-vsock-pci,chardev=c0,"
                           f"disable-legacy=on,{where}"])
    print(r.console[-6000:])
    assert r.rc == 0, r.console[-4000:]
    booted(r.console, kernel)
    assert "DEVICE 0x1af4:0x1053" in r.console
    assert "BOUND vfio-pci" in r.console
    return r


def guest_testpmd(addr):
    """vsock-testpmd in the guest over VFIO on function @addr, its
    options to follow."""
    return (f"{TESTPMD} -l 0-1 --in-memory --iova-mode=pa "
            f"--log-level=lib.eal:warning -a {addr} -- --dev pci:{addr} "
            f"--nb-mbufs 4096 --json")


def echo_backend(procs, vsock, h2g_opts=""):
    """The vhost-user back-end behind QEMU's device: lib/vsock_vhost in a
    vsock-testpmd echoing on ECHO for CID 3 (@h2g_opts: more --h2g
    options)."""
    host = Background([TESTPMD] + EAL + [
        "--", "--dev", "none", "--h2g", f"{vsock},cid=3{h2g_opts}",
        "--mode", "echo", "--port", str(ECHO), "--duration", "0",
        "--json"], "host")
    procs.append(host)
    wait_for_path(vsock, host)
    return host


def backend_carried_on(host):
    """The back-end lived through the guest's recovery, heard the reset
    and lost nothing."""
    assert host.alive(), host.err
    host.stop()
    h = host.json()
    assert h["errors"] == 0 and h["resets"]["transport"] > 0, h


@every_kernel
def test_driver_over_vfio_against_qemu_virtio_pci(procs, tmp_path, kernel):
    prepare(kernel)
    vsock = str(tmp_path / "vhost.sock")
    uds = str(tmp_path / "v.sock")
    br = Background([BRIDGE] + EAL + ["--single-file-segments", "--",
                    "--socket", vsock, "--uds", uds, "--guest-cid", "3",
                    "--echo-port", str(ECHO)], "vsock-bridge")
    procs.append(br)
    wait_for_path(vsock, br)
    tp = guest_testpmd(ADDR)
    body = f"""
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
    """
    r = run_guest(tmp_path, vsock, body, kernel)
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


@pytest.mark.skipif(not build_option("test_hooks"),
                    reason="the back-end's break_rx= is a test hook")
def test_pci_device_reset_after_it_broke_its_ring(procs, tmp_path):
    """The back-end behind QEMU's device (lib/vsock_vhost in a
    vsock-testpmd here, --h2g ...,break_rx=) gives one rx buffer back with
    a used id out of range. The driver in the guest resets the function
    (status 0, read back 0), negotiates the same features, reads the CID
    from the config space again, sets the queues up and sets DRIVER_OK;
    QEMU stops and starts the vhost-user rings behind it. Verify carries
    on byte for byte."""
    vsock = str(tmp_path / "vhost.sock")
    host = echo_backend(procs, vsock, ",break_rx=300")
    tp = guest_testpmd(ADDR)
    body = f"""
        timeout 400 {tp} --mode verify --peer 2 --port {ECHO} --conns 8 \\
            --size 1-4096 --bytes 200000 --reconnect --duration 200 \\
            > /tmp/tp.out 2> /tmp/tp.err
        echo "TP-RC $?"
        echo "TP-RESULT $(grep '^{{' /tmp/tp.out)"
        grep virtio_vsock /tmp/tp.err
    """
    r = run_guest(tmp_path, vsock, body)
    one_recovery(r.console, 3, bad_used_id=1)
    backend_carried_on(host)


def test_pci_function_reset_under_the_driver(procs, tmp_path):
    """The guest kernel resets the function under the driver while verify
    runs (sysfs reset: a PCIe function-level reset, QEMU resets the
    virtio device and stops the vhost-user rings). The device's status
    no longer reads DRIVER_OK; the driver sees it within its 2 ms status
    poll (poll mode takes no config interrupt), counts status_lost,
    resets the connections, sets the device up again, and verify carries
    on byte for byte. Until the kernel has finished the reset (100 ms,
    then the function's config space restored) the function decodes no
    BAR and answers nothing: should the driver see it then, it waits for
    it (every 10 ms) and counts no failed recovery."""
    vsock = str(tmp_path / "vhost.sock")
    host = echo_backend(procs, vsock)
    tp = guest_testpmd(PORT_ADDR)
    body = f"""
        echo "RESET-METHOD $(cat $D/reset_method)"
        timeout 400 {tp} --mode verify --peer 2 --port {ECHO} --conns 8 \\
            --size 1-4096 --reconnect --duration 12 \\
            > /tmp/tp.out 2> /tmp/tp.err &
        T=$!
        # Reset while data flows: after testpmd's first progress line
        # (once a second on stderr) with messages received.
        for i in $(seq 900); do
            grep -q "msgs tx [1-9][0-9]* rx [1-9]" /tmp/tp.err && break
            sleep 0.1
        done
        echo 1 > $D/reset && echo "FUNCTION-RESET done"
        wait $T
        echo "TP-RC $?"
        echo "TP-RESULT $(grep '^{{' /tmp/tp.out)"
        grep virtio_vsock /tmp/tp.err
    """
    r = run_guest(tmp_path, vsock, body, root_port=True)
    assert re.search(r"RESET-METHOD .*\bflr\b", r.console), r.console[-4000:]
    assert "FUNCTION-RESET done" in r.console, r.console[-4000:]
    assert "it was reset under the driver" in r.console, r.console[-4000:]
    d = one_recovery(r.console, 3, bad_used_id=0)
    assert d["driver"]["status_lost"] == 1, d["driver"]
    # Whether the poll saw the function mid-reset is a matter of timing.
    print("function reset: the driver " +
          ("waited for it" if "not back from a reset of its own" in
           r.console else "found it back at once"))
    backend_carried_on(host)
