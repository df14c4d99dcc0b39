"""Linux as the host: in a QEMU guest, the kernel's vhost-vsock is our
driver's device (vsock-testpmd --dev vhost-kernel), and the guest kernel's
AF_VSOCK programs (a Python client and server, ncat, socat) talk to it.
Once with Debian 12's Linux 6.1 and once with Debian 13's 6.12, whose
vhost-vsock splits packets over several descriptors, caps tx credit to
its own buffer and checks header lengths strictly."""
import json
import os
import re
import textwrap

import pytest

from conftest import ROOT, TESTPMD, build_option
from vmtools import (booted, every_kernel, guest, one_recovery, prepare,
                     script)

pytestmark = pytest.mark.vm

PEER = os.path.join(ROOT, "tests", "vm", "vsock_peer.py")
CID = 42


def results(console, tag):
    return [json.loads(m) for m in re.findall(tag + r" (\{.*\})", console)]


@every_kernel
def test_linux_vhost_vsock_against_our_driver(tmp_path, kernel):
    prepare(kernel)
    tp = (f"{TESTPMD} -l 0-1 --in-memory --log-level=lib.eal:warning -- "
          f"--dev vhost-kernel:cid={CID} --nb-mbufs 4096 --json")
    body = textwrap.dedent(f"""
        set -u
        echo KERNEL $(uname -r)
        modprobe vhost_vsock || exit 90
        echo 300 > /proc/sys/vm/nr_hugepages
        mount -t hugetlbfs nodev /dev/hugepages
        start_tp() {{ {tp} "$@" > /tmp/tp.out 2> /tmp/tp.err & TP=$!; }}
        stop_tp() {{
            kill -INT $TP; wait $TP; echo "TP-RC $?"
            echo "TP-RESULT $(grep '^{{' /tmp/tp.out)"
            grep -v '^\\[' /tmp/tp.err | tail -5
        }}
        # Our echo server; Linux's clients.
        start_tp --mode echo --duration 900
        timeout 200 python3 {PEER} stream --cid {CID} --port 1234 --bytes $((64 << 20))
        timeout 200 python3 {PEER} many --cid {CID} --port 1234 --conns 100 \\
            --bytes 32768
        echo NCAT-OUT $(echo hello-ncat | ncat --vsock {CID} 1234)
        echo SOCAT-OUT $(echo hello-socat | \\
            socat -t 10 - VSOCK-CONNECT:{CID}:1234)
        stop_tp
        # SEQPACKET: boundaries as a Linux SOCK_SEQPACKET socket sees them.
        start_tp --mode echo --type seqpacket --duration 900
        timeout 200 python3 {PEER} seqpacket --cid {CID} --port 1234
        stop_tp
        # Our clients; a Linux server (CID 2 is the guest kernel here).
        timeout 200 python3 {PEER} serve --port 2000 --conns 10 > /tmp/peer.out &
        P=$!
        sleep 1
        timeout 200 {tp} --mode verify --peer 2 --port 2000 --conns 10 \\
            --size 1-100000 --duration 5 > /tmp/tp.out 2> /tmp/tp.err
        echo "TP-RC $?"
        echo "TP-RESULT $(grep '^{{' /tmp/tp.out)"
        wait $P
        cat /tmp/peer.out
        # Nobody on a port: Linux answers RST, our connect fails fast.
        timeout 100 {tp} --mode source --peer 2 --port 2999 --conns 2 --duration 1 \\
            > /tmp/tp.out 2> /tmp/tp.err
        echo "TP-RC $?"
        echo "TP-RESULT $(grep '^{{' /tmp/tp.out)"
    """)
    r = guest.run(script(tmp_path, body), timeout=600, kernel=kernel)
    print(r.console[-6000:])
    assert r.rc == 0, r.console[-4000:]
    booted(r.console, kernel)
    peer = results(r.console, "PEER-RESULT")
    assert len(peer) == 4, r.console[-4000:]
    assert peer[0]["ok"] and peer[0]["received"] == 64 << 20   # sha256
    assert peer[1]["ok"] and peer[1]["conns"] == 100
    assert peer[2]["ok"] and peer[2]["messages"] == 6          # boundaries
    assert peer[3]["ok"] and peer[3]["conns"] == 10
    assert "NCAT-OUT hello-ncat" in r.console
    assert "SOCAT-OUT hello-socat" in r.console
    tps = results(r.console, "TP-RESULT")
    rcs = re.findall(r"TP-RC (\d+)", r.console)
    assert rcs[:3] == ["0", "0", "0"], r.console[-4000:]
    echo, seq, verify, refused = tps
    assert echo["server"]["bytes_rx"] >= (64 << 20) + 100 * 32768
    assert seq["type"] == "seqpacket" and seq["errors"] == 0
    assert verify["errors"] == 0 and verify["client"]["conns_done"] == 10
    assert verify["client"]["bytes_rx"] == verify["client"]["bytes_tx"] > 0
    # Refused by Linux with RST: both connects fail, nothing hangs.
    assert rcs[3] == "1"
    assert refused["error_detail"]["connect_fail"] == 2


@pytest.mark.skipif(not build_option("test_hooks"),
                    reason="break_after= is a test hook")
def test_device_reset_and_set_up_again(tmp_path):
    """vhost-vsock never breaks a ring itself: break_after= (a test hook)
    makes the driver stop trusting them after 300 rx packets, as if it
    had. The driver stops the kernel's device (VHOST_VSOCK_SET_RUNNING 0;
    VHOST_SET_VRING_NUM and _BASE answer EBUSY while it runs), sets each
    ring up again from index 0, gives it the same CID and runs it; verify
    against a Linux echo server (socat, with a backlog for the eight
    connections that come back at once) carries on byte for byte."""
    tp = (f"{TESTPMD} -l 0-1 --in-memory --log-level=lib.eal:warning -- "
          f"--dev vhost-kernel:cid={CID},break_after=300 --nb-mbufs 4096 "
          f"--json")
    body = textwrap.dedent(f"""
        set -u
        modprobe vhost_vsock || exit 90
        echo 300 > /proc/sys/vm/nr_hugepages
        mount -t hugetlbfs nodev /dev/hugepages
        socat VSOCK-LISTEN:2000,fork,backlog=64 EXEC:cat &
        S=$!
        sleep 1
        timeout 300 {tp} --mode verify --peer 2 --port 2000 --conns 8 \\
            --size 1-4096 --bytes 200000 --reconnect --duration 200 \\
            > /tmp/tp.out 2> /tmp/tp.err
        echo "TP-RC $?"
        echo "TP-RESULT $(grep '^{{' /tmp/tp.out)"
        grep virtio_vsock /tmp/tp.err
        kill $S
    """)
    r = guest.run(script(tmp_path, body), timeout=600)
    print(r.console[-6000:])
    assert r.rc == 0, r.console[-4000:]
    one_recovery(r.console, CID, bad_used_id=0)
