"""Linux as the guest: QEMU's vhost-user-vsock-pci served by our
vsock-bridge, the guest kernel's virtio-vsock driver on the other side;
once with Debian 12's Linux 6.1 and once with Debian 13's 6.12 (which
splits a tx packet over 32 KiB into a header and page fragments, several
descriptors)."""
import os
import textwrap
import threading

import pytest

from conftest import (BRIDGE, EAL, ROOT, Background, echo_roundtrip,
                      uds_connect, wait_for_path)
from vmtools import booted, every_kernel, guest, prepare, script

pytestmark = pytest.mark.vm

GUEST_CID = 3
PEER = os.path.join(ROOT, "tests", "vm", "vsock_peer.py")


def start_bridge(procs, tmp_path):
    """vsock-bridge for one guest, with --stats; returns it and the
    vhost-user and Unix socket paths."""
    vsock = str(tmp_path / "vhost.sock")
    uds = str(tmp_path / "v.sock")
    br = Background([BRIDGE] + EAL + ["--single-file-segments", "--",
                    "--socket", vsock, "--uds", uds, "--guest-cid",
                    str(GUEST_CID), "--stats"], "vsock-bridge")
    procs.append(br)
    wait_for_path(vsock, br)
    return br, vsock, uds


def boot(kernel, tmp_path, body, vsock, timeout=400):
    """Boot a @kernel guest on the bridge's device in a thread, running
    @body; returns the thread and the dict its result lands in ("r")."""
    res = {}

    def run():
        res["r"] = guest.run(
            script(tmp_path, body), timeout=timeout, memfd=True,
            kernel=kernel,
            qemu_args=["-chardev", f"socket,id=c0,path={vsock}",
                       "-device", "vhost-user-vsock-pci,chardev=c0"])

    t = threading.Thread(target=run)
    t.start()
    return t, res


def finish(t, res, br, kernel, join=420):
    """Wait for the guest, stop the bridge, print both (the bridge's last
    --stats lines hold its counters); returns the guest's result."""
    t.join(join)
    assert "r" in res, f"the guest did not finish within {join}s"
    r = res["r"]
    print(r.console[-5000:])
    assert br.alive(), f"vsock-bridge died:\n{br.out[-3000:]}{br.err}"
    br.stop()
    print(br.out[-3000:], br.err[-2000:])
    booted(r.console, kernel)
    return r


@every_kernel
def test_linux_guest_through_our_bridge(procs, tmp_path, kernel):
    prepare(kernel)
    br, vsock, uds = start_bridge(procs, tmp_path)
    # Host program the guest reaches as CID 2 port 7000.
    echo = Background(["socat", f"UNIX-LISTEN:{uds}_7000,fork,backlog=64",
                       "EXEC:cat"], "socat")
    procs.append(echo)
    body = textwrap.dedent(f"""
        set -u
        echo KERNEL $(uname -r)
        modprobe vmw_vsock_virtio_transport || exit 90
        echo NCAT-OUT $(echo hello-from-guest | ncat --vsock 2 7000)
        head -c 3000000 /dev/urandom > /tmp/blob
        echo BLOB-SHA $(sha256sum < /tmp/blob | cut -c1-64)
        echo BACK-SHA $(ncat --vsock 2 7000 < /tmp/blob | sha256sum | \\
            cut -c1-64)
        # Listeners the host reaches with CONNECT: ncat, and a Python
        # echo server for the bulk check (its 64 KiB packets are the ones
        # 6.12 splits over several descriptors).
        timeout 200 ncat --vsock -l 5000 > /tmp/from-host &
        N=$!
        timeout 200 python3 {PEER} serve --port 5001 --conns 1 &
        P=$!
        echo GUEST-LISTENING
        wait $N
        echo "NCAT-GOT $(cat /tmp/from-host)"
        wait $P
        echo "SERVE-RC $?"
    """)
    t, res = boot(kernel, tmp_path, body, vsock)
    s, _ = uds_connect(uds, 5000, timeout=300)   # the guest boots first
    s.sendall(b"hello-from-host\n")
    s.close()
    data = os.urandom(int(os.environ.get("VMB_BYTES", 8 << 20)))
    got = echo_roundtrip(uds, data, 5001, timeout=60)
    r = finish(t, res, br, kernel)
    assert r.rc == 0, r.console[-4000:]
    assert "NCAT-GOT hello-from-host" in r.console   # host -> guest ncat
    assert got == data       # host -> guest Python echo -> host
    assert "NCAT-OUT hello-from-guest" in r.console    # guest -> host socat
    blob = [l.split()[-1] for l in r.console.splitlines()
            if "BLOB-SHA" in l or "BACK-SHA" in l]
    assert len(blob) == 2 and blob[0] == blob[1], blob
