"""qemu-ga, unmodified, under the preload with no QEMU: vsockd's driver
is a vhost-user front-end of vsock-bridge (guest CID 3), and the host
reaches the agent through the bridge's Unix socket with
"CONNECT <port>", as a Firecracker host does. The agent runs under
vsock-guard, so nothing here can reach this machine's /dev/vsock."""
import os
import re
import subprocess

from conftest import BRIDGE, ROOT, uds_connect, wait_for_path
from test_vsockd import EAL, PYTHON, Proc, Vsockd, pre_proc

QGA_CLIENT = os.path.join(ROOT, "tests", "vm", "qga_client.py")
GUEST_CID = 3
PORT = 4444


def qga_client(uds, port):
    return subprocess.run([PYTHON, QGA_CLIENT, "--uds", f"{uds}:{port}"],
                          capture_output=True, text=True, timeout=60)


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
    # The agent is up once the bridge can connect to its port.
    s, _ = uds_connect(uds, PORT)
    s.close()
    # Twice: the agent serves one client after another.
    for _ in range(2):
        r = qga_client(uds, PORT)
        assert r.returncode == 0, (r.stdout, r.stderr, qga.err[-3000:])
        lines = r.stdout.splitlines()
        assert lines[0] == "guest-ping {}", r.stdout
        m = re.fullmatch(r"guest-info version (\S+) commands (\d+)",
                         lines[1])
        assert m and int(m.group(2)) > 10, r.stdout
        assert m.group(1) in subprocess.run(
            ["qemu-ga", "--version"], capture_output=True,
            text=True).stdout
        assert lines[2].startswith("guest-get-time "), r.stdout
    # Nobody on another port: the bridge closes the host's socket.
    r = qga_client(uds, PORT + 1)
    assert r.returncode == 1 and f"after CONNECT {PORT + 1}" in r.stderr, \
        r.stderr
    assert qga.alive(), qga.err
    assert qga.stop() == 0, qga.err[-3000:]
    d.stop()
    assert br.stop() == 0, br.err
