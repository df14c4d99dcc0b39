"""qemu-ga, unmodified, under the preload with no QEMU: vsockd's driver
is a vhost-user front-end of vsock-bridge (guest CID 3), and the host
reaches the agent through the bridge's Unix socket with
"CONNECT <port>", as a Firecracker host does. The agent runs under
vsock-guard, so nothing here can reach this machine's /dev/vsock."""
import io
import os
import re
import socket
import subprocess

import vmtools  # noqa: F401 (puts tests/vm on sys.path for qga_client)
import qga_client
from conftest import BRIDGE, uds_connect, wait_for_path
from test_vsockd import EAL, Proc, Vsockd, pre_proc

GUEST_CID = 3
PORT = 4444


def test_qemu_ga_through_the_bridge(procs, tmp_path):
    tmp = str(tmp_path)
    vu = os.path.join(tmp, "vhost.sock")
    uds = os.path.join(tmp, "v.sock")
    eal = EAL + ["--single-file-segments"]
    br = Proc(procs, [BRIDGE] + eal + ["--", "--socket", vu, "--uds", uds,
                                       "--guest-cid", str(GUEST_CID)],
              "bridge", tmp)
    wait_for_path(vu, br)
    d = Vsockd(procs, tmp, dev=f"vhost-user:path={vu}", eal=eal)
    wait_for_path(uds, br)
    qga = pre_proc(procs, tmp, ["qemu-ga", "--method=vsock-listen",
                                f"--path={GUEST_CID}:{PORT}",
                                "--statedir", tmp,
                                "--pidfile", os.path.join(tmp, "qga.pid"),
                                "--verbose"],
                   d.sock, "qga")
    version = subprocess.run(["qemu-ga", "--version"], capture_output=True,
                             text=True, check=True).stdout
    # Twice: the agent serves one host connection after another.
    for _ in range(2):
        s, _ = uds_connect(uds, PORT)
        out = io.StringIO()
        qga_client.check(s, out)
        s.close()
        lines = out.getvalue().splitlines()
        assert lines[0] == "guest-ping {}", lines
        m = re.fullmatch(r"guest-info version (\S+) commands (\d+)",
                         lines[1])
        assert m and int(m.group(2)) > 10 and m.group(1) in version, lines
        assert lines[2].startswith("guest-get-time "), lines
    # Nobody on another port: the bridge closes the host's socket.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(uds)
    s.sendall(b"CONNECT %d\n" % (PORT + 1))
    assert s.recv(64) == b""
    s.close()
    assert qga.alive(), qga.err
    assert qga.stop() == 0, qga.err[-3000:]
    d.stop()
    assert br.stop() == 0, br.err
