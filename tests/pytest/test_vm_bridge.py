"""Linux as the guest: QEMU's vhost-user-vsock-pci served by our
vsock-bridge, the guest kernel's virtio-vsock driver on the other side."""
import hashlib
import os
import socket
import subprocess
import textwrap
import threading
import time

import pytest

from conftest import BRIDGE, EAL, ROOT, Background, wait_for_path
from vmtools import guest, script

pytestmark = pytest.mark.vm

GUEST_CID = 3
PEER = os.path.join(ROOT, "tests", "vm", "vsock_peer.py")


def host_connect(uds, port, deadline):
    """CONNECT through the bridge, retrying while the guest boots."""
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        try:
            s.connect(uds)
            s.sendall(b"CONNECT %d\n" % port)
            line = b""
            while not line.endswith(b"\n"):
                c = s.recv(1)
                if not c:
                    break
                line += c
            if line.startswith(b"OK "):
                return s
        except OSError:
            pass
        s.close()
        if time.monotonic() > deadline:
            raise AssertionError(f"CONNECT {port}: nobody in the guest")
        time.sleep(0.5)


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
    s = host_connect(uds, 5000, time.monotonic() + 300)
    s.sendall(b"hello-from-host\n")
    s.close()
    s = host_connect(uds, 5001, time.monotonic() + 60)
    data = os.urandom(int(os.environ.get("VMB_BYTES", 8 << 20)))
    got = bytearray()

    def reader():
        while len(got) < len(data):
            b = s.recv(1 << 16)
            if not b:
                break
            got.extend(b)

    rt = threading.Thread(target=reader)
    rt.start()
    s.sendall(data)
    rt.join(120)
    s.close()
    t.join(420)
    r = res["r"]
    print(r.console[-5000:])
    assert br.alive()
    br.stop()
    assert r.rc == 0, r.console[-4000:]
    assert "NCAT-GOT hello-from-host" in r.console   # host -> guest ncat
    assert bytes(got) == data       # host -> guest Python echo -> host
    assert "NCAT-OUT hello-from-guest" in r.console    # guest -> host socat
    blob = [l.split()[-1] for l in r.console.splitlines()
            if "BLOB-SHA" in l or "BACK-SHA" in l]
    assert len(blob) == 2 and blob[0] == blob[1], blob
