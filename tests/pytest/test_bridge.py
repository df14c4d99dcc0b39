"""Cross-process: vsock-testpmd's vhost-user front-end against vsock-bridge,
with real host clients (socat, ncat) on the bridge's Unix sockets."""
import hashlib
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import (BRIDGE, EAL, TESTPMD, Background, echo_roundtrip,
                      uds_connect, wait_for_path)

EAL_VU = EAL + ["--single-file-segments"]
GUEST_CID = 3
ECHO_PORT = 1234
BRIDGE_ECHO = 5000


def start_pair(procs, tmp_path, testpmd_args, bridge_args=(), duration=120):
    """testpmd as a vhost-user server, the bridge connecting to it."""
    vsock = str(tmp_path / "vhost.sock")
    uds = str(tmp_path / "v.sock")
    tp = Background([TESTPMD] + EAL_VU + [
        "--", "--dev", f"vhost-user:path={vsock},server=1",
        "--duration", str(duration), "--json"] + list(testpmd_args),
        "vsock-testpmd")
    procs.append(tp)
    wait_for_path(vsock, tp)
    br = start_bridge(procs, vsock, uds, bridge_args)
    return tp, br, vsock, uds


def start_bridge(procs, vsock, uds, extra=()):
    br = Background([BRIDGE] + EAL_VU + [
        "--", "--socket", vsock, "--uds", uds, "--guest-cid",
        str(GUEST_CID), "--client"] + list(extra), "vsock-bridge")
    procs.append(br)
    wait_for_path(uds, br)
    return br


def test_socat_and_ncat_echo_through_the_bridge(procs, tmp_path):
    tp, br, _, uds = start_pair(procs, tmp_path, ["--mode", "echo"])
    uds_connect(uds, ECHO_PORT)[0].close()    # the guest is up
    for client in (["socat", "-t", "5", "-", f"UNIX-CONNECT:{uds}"],
                   ["ncat", "-U", uds]):
        r = subprocess.run(client, input=b"CONNECT 1234\nhello vsock\n",
                           capture_output=True, timeout=30)
        lines = r.stdout.split(b"\n")
        assert lines[0].startswith(b"OK "), (client, r.stdout, r.stderr)
        assert int(lines[0].split()[1]) > 1023
        assert lines[1] == b"hello vsock", (client, r.stdout)
    assert br.alive() and tp.alive()
    assert tp.stop() == 0, tp.err
    d = tp.json()
    assert d["errors"] == 0
    assert d["server"]["bytes_rx"] >= 2 * len(b"hello vsock\n")


def test_100_concurrent_clients(procs, tmp_path):
    tp, br, _, uds = start_pair(procs, tmp_path, ["--mode", "echo"])
    uds_connect(uds, ECHO_PORT)[0].close()
    results = {}

    def client(i):
        results[i] = echo_roundtrip(uds, payload(i), ECHO_PORT) == payload(i)

    def payload(i):
        return hashlib.sha256(b"%d" % i).digest() * (2048 + 97 * i)

    threads = [threading.Thread(target=client, args=(i,))
               for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert len(results) == 100 and all(results.values()), \
        [i for i, ok in results.items() if not ok]
    assert tp.stop() == 0, tp.err
    d = tp.json()
    assert d["errors"] == 0
    # Every byte every client sent reached the guest's echo server.
    assert d["server"]["bytes_rx"] >= sum(len(payload(i))
                                          for i in range(100))


def test_100mib_each_way_sha256_with_socat(procs, tmp_path):
    tp, br, _, uds = start_pair(procs, tmp_path, ["--mode", "echo"])
    uds_connect(uds, ECHO_PORT)[0].close()
    src = tmp_path / "in.bin"
    with open(src, "wb") as f:
        for i in range(100):
            f.write(hashlib.sha256(b"%d" % i).digest() * 32768)
    out = tmp_path / "out.bin"
    # socat waits -t seconds after our EOF for the echo to finish.
    cmd = (f"{{ printf 'CONNECT {ECHO_PORT}\\n'; cat {src}; }} | "
           f"socat -t 60 - UNIX-CONNECT:{uds} > {out}")
    subprocess.run(cmd, shell=True, check=True, timeout=300)
    with open(out, "rb") as f:
        line = f.readline()
        assert line.startswith(b"OK ")
        echoed = hashlib.sha256(f.read()).hexdigest()
    sent = hashlib.sha256(src.read_bytes()).hexdigest()
    assert echoed == sent
    assert tp.stop() == 0, tp.err
    d = tp.json()
    assert d["server"]["bytes_rx"] == 100 << 20
    assert d["server"]["bytes_tx"] == 100 << 20


def test_guest_connects_to_a_host_socat_server(procs, tmp_path):
    """Guest -> CID 2 port P reaches 'socat UNIX-LISTEN:UDS_P'."""
    port = 7000
    vsock = str(tmp_path / "vhost.sock")
    uds = str(tmp_path / "v.sock")
    # A full listen backlog refuses the guest (as Firecracker does).
    server = Background(["socat", f"UNIX-LISTEN:{uds}_{port},fork,backlog=128",
                         "EXEC:cat"], "socat")
    procs.append(server)
    wait_for_path(f"{uds}_{port}", server)
    tp = Background([TESTPMD] + EAL_VU + [
        "--", "--dev", f"vhost-user:path={vsock},server=1", "--mode",
        "verify", "--peer", "2", "--port", str(port), "--conns", "10",
        "--size", "1-100000", "--duration", "3", "--json"], "testpmd")
    procs.append(tp)
    wait_for_path(vsock, tp)
    start_bridge(procs, vsock, uds)
    assert tp.proc.wait(120) == 0 or tp.stop() == 0, tp.err
    tp.stop()
    d = tp.json()
    assert d["errors"] == 0, tp.err
    assert d["client"]["bytes_rx"] == d["client"]["bytes_tx"] > 0
    assert d["client"]["conns_done"] == 10


def test_guest_connect_to_nobody_is_refused(procs, tmp_path):
    vsock = str(tmp_path / "vhost.sock")
    uds = str(tmp_path / "v.sock")
    tp = Background([TESTPMD] + EAL_VU + [
        "--", "--dev", f"vhost-user:path={vsock},server=1", "--mode",
        "source", "--peer", "2", "--port", "7001", "--conns", "3",
        "--duration", "2", "--json"], "testpmd")
    procs.append(tp)
    wait_for_path(vsock, tp)
    start_bridge(procs, vsock, uds)
    tp.proc.wait(120)
    tp.stop()
    d = tp.json()
    assert d["error_detail"]["connect_fail"] == 3
    assert "Connection reset" in tp.err


@pytest.mark.parametrize("vtype,port", [("stream", BRIDGE_ECHO),
                                        ("seqpacket", BRIDGE_ECHO + 1)])
def test_verify_across_processes(procs, tmp_path, vtype, port):
    """Two dpdk-vsock processes: the driver verifies the bridge's echo."""
    vsock = str(tmp_path / "vhost.sock")
    uds = str(tmp_path / "v.sock")
    tp = Background([TESTPMD] + EAL_VU + [
        "--", "--dev", f"vhost-user:path={vsock},server=1", "--mode",
        "verify", "--type", vtype, "--peer", "2", "--port", str(port),
        "--conns", "50", "--size", "1-200000", "--duration", "3",
        "--json"], "testpmd")
    procs.append(tp)
    wait_for_path(vsock, tp)
    start_bridge(procs, vsock, uds, ["--echo-port", str(BRIDGE_ECHO)])
    tp.proc.wait(120)
    tp.stop()
    d = tp.json()
    assert d["errors"] == 0, tp.err
    assert d["type"] == vtype
    assert d["client"]["bytes_rx"] == d["client"]["bytes_tx"] > 0
    assert d["client"]["msgs_rx"] == d["client"]["msgs_tx"]
    assert d["client"]["conns_done"] == 50


def test_bridge_killed_and_restarted(procs, tmp_path):
    """SIGKILL mid-transfer: the driver resets its connections, keeps its
    listener, takes the new bridge, and leaks no mbuf."""
    tp, br, vsock, uds = start_pair(procs, tmp_path, ["--mode", "echo"])
    s, _ = uds_connect(uds, ECHO_PORT)
    stop = threading.Event()

    def pump():
        try:
            while not stop.is_set():
                s.sendall(b"x" * 65536)
                s.recv(1 << 20)
        except OSError:
            pass

    t = threading.Thread(target=pump)
    t.start()
    time.sleep(1)
    br.proc.send_signal(signal.SIGKILL)
    br.proc.wait(30)
    stop.set()
    t.join(30)
    s.close()
    os.unlink(uds)
    br2 = start_bridge(procs, vsock, uds)
    data = os.urandom(3 << 20)
    assert echo_roundtrip(uds, data, ECHO_PORT) == data
    assert br2.alive()
    time.sleep(1)   # the close of that last connection crosses the bridge
    assert tp.stop() == 0, tp.err
    d = tp.json()
    assert d["errors"] == 0
    assert d["resets"]["transport"] >= 1    # reported to the application
    assert d["stack"]["transport_resets"] >= 2   # lost, then back
    # Every mbuf is back: those in use are the rx buffers now posted.
    assert d["pool"]["in_use"] == d["pool"]["rx_posted"], d["pool"]
    assert d["pool"]["ctl_in_use"] == 0, d["pool"]
    assert "back-end gone" in tp.err
