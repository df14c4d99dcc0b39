"""vsockd as a Linux guest's host: QEMU's vhost-user-vsock-pci on vsockd's
--h2g socket (lib/vsock_vhost inside the daemon), the guest kernel's
virtio-vsock driver and AF_VSOCK on the other side, and on ours ncat
under the preload (and vsock-guard, so a fall-through to this machine's
AF_VSOCK fails). Lines typed at each end, in turns, both ways: the guest
kernel's ncat listens and ours connects to the guest's CID, then ours
listens and the guest kernel's connects to CID 2. One boot for both."""
import os
import subprocess
import textwrap
import threading
import time

import pytest

from test_vsockd import pre_proc
from test_vsockd_vhost import Host, conn_to
from vmtools import booted, guest, prepare, script

pytestmark = pytest.mark.vm

KERNEL = "bookworm"
CID = 3
LINES = 3
# A local counter: the callers' loops count with $i.
WAITFOR = 'waitfor() { local n; for n in $(seq 600); do ' \
    'grep -qx "$1" "$2" && return 0; sleep 0.1; done; ' \
    'echo "NO $1 in $2"; return 1; }'


def guest_body():
    """Phase 1: the guest kernel's ncat listens on 1234 and answers each
    host line with one of its own. Phase 2: it connects to CID 2 port
    1235, says a line and waits for the host's answer, each turn."""
    return textwrap.dedent(f"""
        set -u
        echo KERNEL $(uname -r)
        modprobe vmw_vsock_virtio_transport || exit 90
        {WAITFOR}
        mkfifo /tmp/in1 /tmp/in2
        : > /tmp/from-host1
        timeout 150 ncat --vsock -l 1234 < /tmp/in1 > /tmp/from-host1 &
        N=$!
        exec 3> /tmp/in1
        echo GUEST-LISTENING
        for i in $(seq {LINES}); do
            waitfor host-says-$i /tmp/from-host1 || break
            echo guest-answers-$i >&3
        done
        wait $N; echo "NCAT1-RC $?"
        exec 3>&-
        : > /tmp/from-host2
        timeout 120 ncat --vsock 2 1235 < /tmp/in2 > /tmp/from-host2 &
        N=$!
        exec 4> /tmp/in2
        for i in $(seq {LINES}); do
            echo guest-says-$i >&4
            waitfor host-answers-$i /tmp/from-host2 || break
        done
        exec 4>&-
        wait $N; echo "NCAT2-RC $?"
        echo "FROM-HOST1 $(tr '\\n' ' ' < /tmp/from-host1)"
        echo "FROM-HOST2 $(tr '\\n' ' ' < /tmp/from-host2)"
    """)


def say(p, line):
    p.proc.stdin.write(line.encode() + b"\n")
    p.proc.stdin.flush()


def host_connects(procs, tmp, host, deadline):
    """Our ncat to the guest's CID, retried while the guest boots (a
    connect then times out, or the guest kernel answers RST)."""
    n = 0
    while time.monotonic() < deadline:
        n += 1
        con = pre_proc(procs, tmp, ["ncat", "--vsock", str(CID), "1234"],
                       host.sock, f"ncat-c{n}", stdin=subprocess.PIPE)
        say(con, "host-says-1")
        end = time.monotonic() + 20
        while time.monotonic() < end and con.alive():
            if "guest-answers-1" in con.out:
                return con
            time.sleep(0.1)
        if con.alive():
            con.proc.kill()
        con.wait(10)
        time.sleep(1)
    pytest.fail(f"no answer from the guest's ncat in {n} tries")


def test_ncat_between_a_linux_guest_and_the_preload(procs, tmp_path):
    prepare(KERNEL)
    tmp = str(tmp_path)
    vhost = os.path.join(tmp, "vm3.sock")
    host = Host(procs, tmp, [f"{vhost},cid={CID}"])
    lis = pre_proc(procs, tmp, ["ncat", "--vsock", "-l", "1235"], host.sock,
                   "ncat-l", stdin=subprocess.PIPE)
    res = {}

    def boot():
        res["r"] = guest.run(
            script(tmp_path, guest_body()), timeout=600, memfd=True,
            kernel=KERNEL,
            qemu_args=["-chardev", f"socket,id=char0,path={vhost}",
                       "-device", "vhost-user-vsock-pci,chardev=char0"])

    t = threading.Thread(target=boot)
    t.start()
    try:
        # Phase 1: the guest kernel listens, our ncat connects to CID 3.
        con = host_connects(procs, tmp, host, time.monotonic() + 450)
        assert conn_to(host, remote_cid=CID, remote_port=1234), \
            host.tel("/vsockd/sockets")
        for i in range(2, LINES + 1):
            say(con, f"host-says-{i}")
            con.wait_line(f"^guest-answers-{i}$")
        con.proc.stdin.close()
        assert con.wait(60) == 0, con.err
        assert con.out.split() == [f"guest-answers-{i}"
                                   for i in range(1, LINES + 1)]
        # Phase 2: ours listens, the guest kernel's connects to CID 2.
        for i in range(1, LINES + 1):
            lis.wait_line(f"^guest-says-{i}$", timeout=120)
            if i == 1:
                assert conn_to(host, local_port=1235, remote_cid=CID), \
                    host.tel("/vsockd/sockets")
            say(lis, f"host-answers-{i}")
        assert lis.wait(60) == 0, lis.err
        assert lis.out.split() == [f"guest-says-{i}"
                                   for i in range(1, LINES + 1)]
        (be,) = host.h2g()
    finally:
        t.join(600)
    assert "r" in res, "the guest did not finish"
    r = res["r"]
    print(r.console[-5000:])
    booted(r.console, KERNEL)
    assert r.rc == 0, r.console[-4000:]
    assert "NCAT1-RC 0" in r.console and "NCAT2-RC 0" in r.console
    said = " ".join(f"host-says-{i}" for i in range(1, LINES + 1))
    answered = " ".join(f"host-answers-{i}" for i in range(1, LINES + 1))
    assert f"FROM-HOST1 {said} " in r.console, r.console[-3000:]
    assert f"FROM-HOST2 {answered} " in r.console, r.console[-3000:]
    assert be["cid"] == CID and be["rx_pkts"] > 0 and be["tx_pkts"] > 0, be
    assert all(v == 0 for k, v in be.items() if k.startswith("bad_")), be
    host.stop()
