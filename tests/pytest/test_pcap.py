"""--pcap FILE: vsock-testpmd, vsock-bridge and vsock-perf write every
packet in and out of their port as a pcap of link type LINKTYPE_VSOCK
(vsockmon header, virtio transport); tshark decodes it field by field."""
import collections
import json
import os
import re
import shutil
import socket
import subprocess

import pytest

from conftest import (BRIDGE, BUILD, EAL, TESTPMD, Background, run_testpmd,
                      uds_connect, wait_for_path)

PERF = os.path.join(BUILD, "apps", "vsock-perf")
EAL_VU = EAL + ["--single-file-segments"]



@pytest.fixture(autouse=True)
def tshark_installed():
    # A real peer, installed by scripts/setup.sh: its absence is a failure.
    assert shutil.which("tshark"), "tshark is missing: run scripts/setup.sh"

# Wireshark 4.0 spells the virtio ports "src_prot" and "dst_prot".
FIELDS = ["frame.len", "frame.cap_len", "vsock.src_cid", "vsock.dst_cid",
          "vsock.src_port", "vsock.dst_port", "vsock.op", "vsock.trans",
          "vsock.trans_len", "vsock.virtio.src_cid", "vsock.virtio.dst_cid",
          "vsock.virtio.src_prot", "vsock.virtio.dst_prot",
          "vsock.virtio.len", "vsock.virtio.type", "vsock.virtio.op",
          "vsock.virtio.flags", "vsock.virtio.buf_alloc",
          "vsock.virtio.fwd_cnt", "vsock.payload"]
Rec = collections.namedtuple("Rec", [
    "frame_len", "cap_len", "src_cid", "dst_cid", "src_port", "dst_port",
    "mon_op", "trans", "trans_len", "v_src_cid", "v_dst_cid", "v_src_port",
    "v_dst_port", "v_len", "v_type", "v_op", "v_flags", "v_buf_alloc",
    "v_fwd_cnt", "payload"])

# virtio-vsock ops, and vsockmon's (Linux's mapping of one to the other).
REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST = \
    range(1, 8)
MON_CONNECT, MON_DISCONNECT, MON_CONTROL, MON_PAYLOAD = 1, 2, 3, 4
MON_OP = {REQUEST: MON_CONNECT, RESPONSE: MON_CONNECT, RST: MON_DISCONNECT,
          SHUTDOWN: MON_DISCONNECT, RW: MON_PAYLOAD,
          CREDIT_UPDATE: MON_CONTROL, CREDIT_REQUEST: MON_CONTROL}
NAMES = {REQUEST: "REQUEST", RESPONSE: "RESPONSE", RST: "RST",
         SHUTDOWN: "SHUTDOWN", RW: "RW", CREDIT_UPDATE: "CREDIT_UPDATE",
         CREDIT_REQUEST: "CREDIT_REQUEST"}


def decode(path):
    """Every record of @path as decoded by tshark, one Rec each."""
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=f"]
    for f in FIELDS:
        cmd += ["-e", f]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    recs = []
    for line in r.stdout.splitlines():
        v = line.split("\t")
        assert len(v) == len(FIELDS), line
        nums = [int(x, 0) for x in v[:-1]]
        recs.append(Rec(*nums, bytes.fromhex(v[-1].replace(":", ""))))
    return recs


def check_record(r):
    """What holds for every record, whatever the traffic."""
    # The vsockmon header: virtio transport, 44 bytes of it, and the
    # packet's own addresses and op class.
    assert r.trans == 2 and r.trans_len == 44, r
    assert (r.src_cid, r.dst_cid, r.src_port, r.dst_port) == \
        (r.v_src_cid, r.v_dst_cid, r.v_src_port, r.v_dst_port), r
    assert r.mon_op == MON_OP[r.v_op], r
    assert r.v_type == 1, r                     # STREAM
    # Lengths: the header's len is the payload's, and nothing is cut.
    assert r.v_len == len(r.payload), r
    assert r.frame_len == r.cap_len == 32 + 44 + r.v_len, r
    if r.v_op != RW:
        assert r.v_len == 0, r


def capture_line(err, app):
    """The counters the app printed on stderr when it closed the file."""
    m = re.search(app + r": pcap .*: captured (\d+), dropped (\d+), "
                  r"written (\d+), truncated (\d+)", err)
    assert m, err
    return [int(x) for x in m.groups()]


def split_loopback(recs):
    """On the loopback device every packet is captured twice, sent then
    received: the first sighting of a packet is its tx copy."""
    out = collections.Counter()
    tx, rx = [], []
    for r in recs:
        if out[r] > 0:
            out[r] -= 1
            rx.append(r)
        else:
            out[r] += 1
            tx.append(r)
    assert sum(out.values()) == 0, "packets sent but never received"
    return tx, rx


def test_loopback_verify_decoded_field_by_field(tmp_path):
    pcap = tmp_path / "loopback.pcap"
    nbytes = 20000
    r = run_testpmd(["--dev", "loopback", "--mode", "verify", "--conns",
                     "1", "--size", "3000", "--bytes", str(nbytes),
                     "--port", "1234", "--json", "--pcap", str(pcap)])
    assert r.rc == 0, r.stderr
    d = r.json()
    assert d["errors"] == 0
    captured, dropped, written, truncated = capture_line(r.stderr,
                                                          "vsock-testpmd")
    recs = decode(pcap)
    # Every packet the stack saw, each once: nothing dropped.
    assert dropped == 0 and truncated == 0
    assert captured == written == len(recs)
    assert len(recs) == d["stack"]["rx_pkts"] + d["stack"]["tx_pkts"]
    assert len(recs) == d["driver"]["rx_pkts"] + d["driver"]["tx_pkts"]
    for rec in recs:
        check_record(rec)
        assert rec.src_cid == rec.dst_cid == 3      # loopback: our own CID
    tx, rx = split_loopback(recs)
    assert tx == rx         # the device delivered them in order, unchanged
    # One connection: the listener's port and an ephemeral one.
    eph = {rec.src_port for rec in tx if rec.dst_port == 1234}
    assert len(eph) == 1 and min(eph) > 1023
    eph = eph.pop()
    assert {(rec.src_port, rec.dst_port) for rec in tx} == \
        {(eph, 1234), (1234, eph)}
    c2s = [rec for rec in tx if rec.dst_port == 1234]
    s2c = [rec for rec in tx if rec.src_port == 1234]
    # The connection's life: REQUEST, RESPONSE, data, then the close.
    ops = [NAMES[rec.v_op] for rec in tx]
    assert ops[0] == "REQUEST" and c2s[0].v_op == REQUEST
    assert ops[1] == "RESPONSE" and s2c[0].v_op == RESPONSE
    rw = [i for i, o in enumerate(ops) if o == "RW"]
    closing = [i for i, o in enumerate(ops) if o in ("SHUTDOWN", "RST")]
    assert rw and closing and max(rw) < min(closing), ops
    assert ops[-1] == "RST", ops
    assert "SHUTDOWN" in ops, ops
    assert set(ops) <= {"REQUEST", "RESPONSE", "RW", "SHUTDOWN", "RST",
                        "CREDIT_UPDATE", "CREDIT_REQUEST"}
    # Payload: the client's stream of --bytes, echoed back byte for byte.
    sent = b"".join(rec.payload for rec in c2s if rec.v_op == RW)
    echoed = b"".join(rec.payload for rec in s2c if rec.v_op == RW)
    assert len(sent) == nbytes and d["client"]["bytes_tx"] == nbytes
    assert echoed == sent
    # Credit: fwd_cnt counts what the sender of the header has consumed.
    last = [rec for rec in s2c][-1]
    assert last.v_fwd_cnt == nbytes and last.v_buf_alloc > 0


def test_bridge_and_guest_captures_agree(procs, tmp_path):
    """A known string through the bridge's Unix socket to vsock-testpmd's
    echo server over vhost-user; both ends capture, and both files say
    the same, down to the payload bytes."""
    vsock = str(tmp_path / "vhost.sock")
    uds = str(tmp_path / "v.sock")
    tp_pcap, br_pcap = tmp_path / "guest.pcap", tmp_path / "host.pcap"
    tp = Background([TESTPMD] + EAL_VU + [
        "--", "--dev", f"vhost-user:path={vsock},server=1", "--mode",
        "echo", "--port", "1234", "--duration", "120", "--json",
        "--pcap", str(tp_pcap)], "vsock-testpmd")
    procs.append(tp)
    wait_for_path(vsock, tp)
    br = Background([BRIDGE] + EAL_VU + [
        "--", "--socket", vsock, "--uds", uds, "--guest-cid", "3",
        "--client", "--pcap", str(br_pcap)], "vsock-bridge")
    procs.append(br)
    wait_for_path(uds, br)
    msg = b"hello capture\n"
    s, port = uds_connect(uds, 1234)
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        b = s.recv(4096)
        assert b, got
        got += b
    assert got == msg
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    s.close()
    assert br.stop() == 0, br.err
    assert tp.stop() == 0, tp.err
    d = tp.json()

    host, guest = decode(br_pcap), decode(tp_pcap)
    for rec in host + guest:
        check_record(rec)
        assert {rec.src_cid, rec.dst_cid} == {2, 3}, rec
    # Counters: every packet of each stack, and nothing dropped.
    captured, dropped, written, _ = capture_line(br.err, "vsock-bridge")
    assert dropped == 0 and captured == written == len(host)
    m = re.search(r"stack: rx_pkts (\d+) tx_pkts (\d+)", br.out)
    assert m, br.out
    assert len(host) == int(m.group(1)) + int(m.group(2))
    captured, dropped, written, _ = capture_line(tp.err, "vsock-testpmd")
    assert dropped == 0 and captured == written == len(guest)
    assert len(guest) == d["stack"]["rx_pkts"] + d["stack"]["tx_pkts"]

    def conn(recs):
        return [r for r in recs if {(r.src_port, r.dst_port)} <=
                {(port, 1234), (1234, port)}]

    h, g = conn(host), conn(guest)
    # What one end sent is what the other received, in order.
    for src in (2, 3):
        assert [r for r in h if r.src_cid == src] == \
            [r for r in g if r.src_cid == src]
    # The host (CID 2) opened from the port the bridge answered "OK" with.
    req = h[0]
    assert (req.v_op, req.src_cid, req.src_port, req.dst_cid,
            req.dst_port) == (REQUEST, 2, port, 3, 1234), req
    ops = [(r.src_cid, NAMES[r.v_op]) for r in h
           if r.v_op not in (CREDIT_UPDATE, CREDIT_REQUEST)]
    assert ops[:4] == [(2, "REQUEST"), (3, "RESPONSE"), (2, "RW"),
                       (3, "RW")], ops
    assert {o for _, o in ops[4:]} <= {"SHUTDOWN", "RST"}, ops
    assert (2, "SHUTDOWN") in ops and ops[-1][1] == "RST", ops
    rws = [r for r in h if r.v_op == RW]
    assert [r.payload for r in rws] == [msg, msg]
    assert [r.v_len for r in rws] == [len(msg), len(msg)]
    # The host's SHUTDOWN after its EOF: no more sends (flag 2).
    sd = [r for r in h if r.v_op == SHUTDOWN and r.src_cid == 2]
    assert sd[0].v_flags & 2, sd


def test_perf_capture_counts(tmp_path):
    """vsock-perf --pcap: every packet is either in the file or counted as
    dropped, and the JSON on stdout stays one object."""
    pcap = tmp_path / "perf.pcap"
    cmd = [PERF] + EAL + ["--", "--dev", "loopback", "-l", "1000", "-t",
                          "1", "-i", "0", "-J", "--pcap", str(pcap)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    st = d["end"]["stack"]
    captured, dropped, written, truncated = capture_line(r.stderr,
                                                          "vsock-perf")
    assert captured + dropped == st["rx_pkts"] + st["tx_pkts"]
    assert written == captured and truncated == 0
    recs = decode(pcap)
    assert len(recs) == captured
    for rec in recs[:200]:
        check_record(rec)
    assert recs[0].v_op == REQUEST and recs[0].dst_port == 5201


def test_pcap_unwritable_path_fails(tmp_path):
    r = run_testpmd(["--dev", "loopback", "--mode", "echo", "--duration",
                     "1", "--pcap", str(tmp_path / "no" / "such.pcap")])
    assert r.rc == 1
    assert "--pcap" in r.stderr and "such.pcap" in r.stderr, r.stderr


def test_perf_snaplen_keeps_headers(tmp_path):
    """--pcap-snaplen 100: big packets are cut at 100 bytes of packet (the
    record's length stays the real one) and still decode."""
    pcap = tmp_path / "snap.pcap"
    cmd = [PERF] + EAL + ["--", "--dev", "loopback", "-l", "4000", "-t",
                          "0.5", "-i", "0", "-J", "--pcap", str(pcap),
                          "--pcap-snaplen", "100"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    captured, _, written, truncated = capture_line(r.stderr, "vsock-perf")
    recs = decode(pcap)
    assert len(recs) == written == captured and truncated > 0
    cut = 0
    for rec in recs:
        assert rec.trans == 2 and rec.trans_len == 44, rec
        assert rec.mon_op == MON_OP[rec.v_op], rec
        assert rec.frame_len == 32 + 44 + rec.v_len, rec
        assert rec.cap_len == min(rec.frame_len, 32 + 100), rec
        cut += rec.cap_len < rec.frame_len
    assert cut == truncated


def test_testpmd_snaplen(tmp_path):
    """vsock-testpmd --pcap-snaplen 60: payload packets are cut at 60 bytes
    of packet, control packets (44 bytes) are whole; a bad value exits 2."""
    pcap = tmp_path / "tp.pcap"
    r = run_testpmd(["--dev", "loopback", "--mode", "pingpong", "--size",
                     "100", "--bytes", "300", "--json", "--pcap", str(pcap),
                     "--pcap-snaplen", "60"])
    assert r.rc == 0, r.stderr
    captured, dropped, written, truncated = capture_line(r.stderr,
                                                         "vsock-testpmd")
    recs = decode(pcap)
    assert len(recs) == written == captured and dropped == 0
    assert truncated == sum(rec.v_len > 16 for rec in recs) > 0
    for rec in recs:
        assert rec.cap_len == min(rec.frame_len, 32 + 60), rec
    bad = run_testpmd(["--dev", "loopback", "--mode", "pingpong",
                       "--pcap-snaplen", "7"])
    assert bad.rc == 2 and "'7'" in bad.stderr
