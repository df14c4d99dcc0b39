"""Linux as the guest: QEMU's vhost-user-vsock-pci served by our
vsock-bridge, the guest kernel's virtio-vsock driver on the other side."""
import os
import textwrap
import threading

import pytest

from conftest import (BRIDGE, EAL, ROOT, Background, echo_roundtrip,
                      uds_connect, wait_for_path)
from vmtools import guest, script

pytestmark = pytest.mark.vm

GUEST_CID = 3
PEER = os.path.join(ROOT, "tests", "vm", "vsock_peer.py")


def test_linux_guest_through_our_bridge(procs, tmp_path):
    vsock = str(tmp_path / "vhost.sock")
    uds = str(tmp_path / "v.sock")
    # Host program the guest reaches as CID 2 port 7000.
    echo = Background(["socat", f"UNIX-LISTEN:{uds}_7000,fork,backlog=64",
                       "EXEC:cat"], "socat")
    procs.append(echo)
    br = Background([BRIDGE] + EAL + ["--single-file-segments", "--",
                    "--socket", vsock, "--uds", uds, "--guest-cid",
                    str(GUEST_CID), "--stats"], "vsock-bridge")
    procs.append(br)
    wait_for_path(vsock, br)
    body = textwrap.dedent(f"""
        set -u
        modprobe vmw_vsock_virtio_transport || exit 90
        echo NCAT-OUT $(echo hello-from-guest | ncat --vsock 2 7000)
        head -c 3000000 /dev/urandom > /tmp/blob
        echo BLOB-SHA $(sha256sum < /tmp/blob | cut -c1-64)
        echo BACK-SHA $(ncat --vsock 2 7000 < /tmp/blob | sha256sum | \\
            cut -c1-64)
        # Listeners the host reaches with CONNECT: ncat, and a Python
        # echo server for the bulk check.
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
    res = {}

    def boot():
        res["r"] = guest.run(
            script(tmp_path, body), timeout=400, memfd=True,
            qemu_args=["-chardev", f"socket,id=c0,path={vsock}",
                       "-device", "vhost-user-vsock-pci,chardev=c0"])

    t = threading.Thread(target=boot)
    t.start()
    s, _ = uds_connect(uds, 5000, timeout=300)   # the guest boots first
    s.sendall(b"hello-from-host\n")
    s.close()
    data = os.urandom(int(os.environ.get("VMB_BYTES", 8 << 20)))
    got = echo_roundtrip(uds, data, 5001, timeout=60)
    t.join(420)
    r = res["r"]
    print(r.console[-5000:])
    assert br.alive()
    br.stop()
    assert r.rc == 0, r.console[-4000:]
    assert "NCAT-GOT hello-from-host" in r.console   # host -> guest ncat
    assert got == data       # host -> guest Python echo -> host
    assert "NCAT-OUT hello-from-guest" in r.console    # guest -> host socat
    blob = [l.split()[-1] for l in r.console.splitlines()
            if "BLOB-SHA" in l or "BACK-SHA" in l]
    assert len(blob) == 2 and blob[0] == blob[1], blob
