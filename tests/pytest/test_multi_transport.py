"""Multi-transport by CID, as Linux does it since 5.5 for nested VMs: one
stack holds a G2H port (the driver, to its own host) and H2G ports
(lib/vsock_vhost back-ends for guests of its own).

The L1 is a vsock-testpmd whose driver talks vhost-user to an outer
vsock-bridge (its host, CID 2) and whose --h2g back-ends serve two inner
vsock-testpmd processes (CIDs 5 and 6). L1 verifies traffic with all
three at once; the inner processes' connections to CID 2 reach L1, as a
nested guest's reach its L1."""
import pytest

from conftest import BRIDGE, EAL, TESTPMD, Background, wait_for_path

EAL_VU = EAL + ["--single-file-segments"]
PORT = 5000
L1_CID = 3


def start_testpmd(args, name):
    return Background([TESTPMD] + EAL_VU + ["--"] + args + ["--json"], name)


def test_l1_reaches_its_host_and_both_inner_guests(procs, tmp_path):
    outer = str(tmp_path / "outer.sock")
    uds = str(tmp_path / "outer.uds")
    br = Background([BRIDGE] + EAL_VU + [
        "--", "--socket", outer, "--uds", uds, "--guest-cid", str(L1_CID),
        "--echo-port", str(PORT)], "vsock-bridge")
    procs.append(br)
    wait_for_path(outer, br)
    inner = {}
    for cid in (5, 6):
        sock = str(tmp_path / f"inner{cid}.sock")
        # Each inner guest verifies against CID 2 (L1) and serves L1.
        p = start_testpmd(["--dev", f"vhost-user:path={sock},server=1,wait=60",
                     "--mode", "verify", "--peer", "2", "--serve",
                     "--port", str(PORT), "--conns", "4", "--size",
                     "1-65536", "--duration", "3"], f"inner{cid}")
        procs.append(p)
        wait_for_path(sock, p)
        inner[cid] = (p, sock)
    l1 = start_testpmd(["--dev", f"vhost-user:path={outer}",
                  "--h2g", f"{inner[5][1]},cid=5,client=1",
                  "--h2g", f"{inner[6][1]},cid=6,client=1",
                  "--mode", "verify", "--peer", "2,5,6", "--serve",
                  "--port", str(PORT), "--conns", "6", "--size",
                  "1-65536", "--duration", "5"], "L1")
    procs.append(l1)
    l1.proc.wait(180)
    l1.stop()
    d = l1.json()
    assert d["errors"] == 0, l1.err
    assert d["cid"] == L1_CID
    # Two clients each to the outer host and to both inner guests, all
    # verified byte for byte, at the same time.
    for peer in ("2", "5", "6"):
        assert d["peers"][peer]["conns_done"] == 2, (peer, d["peers"])
        assert d["peers"][peer]["bytes_rx"] > 0, (peer, d["peers"])
    assert d["client"]["bytes_rx"] == d["client"]["bytes_tx"]
    # The inner guests' connections to CID 2 were L1's server's.
    assert d["server"]["conns_done"] >= 8, d["server"]
    for cid, (p, _) in inner.items():
        p.proc.wait(120)
        p.stop()
        di = p.json()
        assert di["errors"] == 0, (cid, p.err)
        assert di["cid"] == cid
        assert di["client"]["conns_done"] == 4
        assert di["client"]["bytes_rx"] == di["client"]["bytes_tx"] > 0
        # ... and L1's clients to this CID were theirs.
        assert di["server"]["conns_done"] == 2, di["server"]
    assert br.alive()
    br.stop()


def test_l1_routing_errors(procs, tmp_path):
    """A guest CID nobody serves is ENODEV, as Linux's vhost-vsock says;
    L1's own CID and CID 1 stay in L1."""
    outer = str(tmp_path / "outer.sock")
    uds = str(tmp_path / "outer.uds")
    br = Background([BRIDGE] + EAL_VU + [
        "--", "--socket", outer, "--uds", uds, "--guest-cid", str(L1_CID)],
        "vsock-bridge")
    procs.append(br)
    wait_for_path(outer, br)
    sock = str(tmp_path / "inner5.sock")
    unknown = start_testpmd(["--dev", f"vhost-user:path={outer}",
                       "--h2g", f"{sock},cid=5", "--mode", "verify",
                       "--peer", "7", "--conns", "1", "--duration", "1"],
                      "L1-unknown")
    procs.append(unknown)
    unknown.proc.wait(120)
    unknown.stop()
    assert unknown.proc.returncode == 1
    d = unknown.json()
    assert d["error_detail"]["connect_fail"] == 1, d
    assert "No such device" in unknown.err
    # Our own CID and CID 1: the checking server in this process answers
    # without the outer host (whose bridge has no listener here).
    for peer in (str(L1_CID), "1"):
        own = start_testpmd(["--dev", f"vhost-user:path={outer}",
                       "--h2g", f"{sock},cid=5", "--mode", "verify",
                       "--peer", peer, "--serve", "--conns", "3",
                       "--size", "1-20000", "--duration", "1"],
                      f"L1-{peer}")
        procs.append(own)
        own.proc.wait(120)
        own.stop()
        d = own.json()
        assert d["errors"] == 0, (peer, own.err)
        assert d["client"]["conns_done"] == 3
        assert d["server"]["conns_done"] == 3
    assert br.alive()
    br.stop()
