"""vsock-bridge on its own: options, sockets, signals, the Unix protocol,
and the device side driven by a scripted vhost-user front-end (a "guest"
in Python: memfd memory, split rings, eventfds), including malformed
descriptors and packets, interrupts, and a guest that goes away."""
import mmap
import os
import re
import signal
import socket
import struct
import subprocess
import time

import pytest

from conftest import BUILD

BRIDGE = os.path.join(BUILD, "apps", "vsock-bridge")
EAL = ["-l", "0", "--in-memory", "--no-pci", "--log-level=lib.eal:warning",
       "--log-level=lib.vhost.*:warning"]
SMALL_POOL = ["--nb-mbufs", "2048"]


def run_bridge(args, timeout=20):
    p = subprocess.run([BRIDGE] + args, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


class Bridge:
    """A bridge process, stopped (by its own pid) at the end."""

    def __init__(self, tmp_path, guests=1, extra=(), client=False):
        self.socks = [str(tmp_path / f"vhost{i}.sock") for i in range(guests)]
        self.udss = [str(tmp_path / f"v{i}.uds") for i in range(guests)]
        args = []
        for i in range(guests):
            args += ["--socket", self.socks[i], "--uds", self.udss[i],
                     "--guest-cid", str(7 + i)]
        if client:
            args.append("--client")
        self.proc = subprocess.Popen(
            [BRIDGE] + EAL + ["--"] + args + SMALL_POOL + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out = self.err = ""
        deadline = time.time() + 15
        want = self.udss + ([] if client else self.socks)
        while not all(os.path.exists(p) for p in want):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                pytest.fail(f"bridge did not start:\n{self.out}\n{self.err}")
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.out, self.err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.out, self.err = self.proc.communicate()
            pytest.fail(f"bridge ignored signal {sig}:\n{self.err}")
        return self.proc.returncode

    def counter(self, name):
        m = re.search(rf"\b{name} (\d+)", self.out)
        assert m, f"no counter {name} in:\n{self.out}"
        return int(m.group(1))


@pytest.fixture
def bridge_factory(tmp_path):
    made = []

    def make(**kw):
        b = Bridge(tmp_path, **kw)
        made.append(b)
        return b
    yield make
    for b in made:
        if b.proc.poll() is None:
            b.stop()


# ---- options ----

def test_help_documents_every_option_and_the_protocol():
    rc, out, _ = run_bridge(["--help"])
    assert rc == 0
    for opt in ("--socket", "--uds", "--guest-cid", "--client",
                "--echo-port", "--nb-mbufs", "--stats", "--help"):
        assert opt in out, opt
    assert "CONNECT <port>" in out and "OK <host port>" in out
    assert "_P" in out and "ECONNRESET" in out


@pytest.mark.parametrize("args, bad", [
    (["--socket", "/tmp/a", "--uds", "/tmp/b", "--guest-cid", "2"],
     "bad --guest-cid '2': must be 3..4294967294"),
    (["--socket", "/tmp/a", "--uds", "/tmp/b", "--guest-cid", "4294967295"],
     "'4294967295'"),
    (["--socket", "/tmp/a", "--uds", "/tmp/b", "--guest-cid", "-5"], "'-5'"),
    (["--socket", "/tmp/a", "--uds", "/tmp/b", "--guest-cid", "0x10"],
     "'0x10'"),
    # One guest may omit --guest-cid (3, as vhost-device-vsock); two not.
    (["--socket", "/tmp/a", "--uds", "/tmp/b", "--socket", "/tmp/c",
      "--uds", "/tmp/d"], "0 --guest-cid"),
    (["--uds", "/tmp/b", "--guest-cid", "3"], "at least one guest"),
    (["--socket", "/tmp/a", "--uds", "/tmp/a", "--guest-cid", "3"],
     "path /tmp/a: VM 1's socket and its uds-path"),
    (["--socket", "/tmp/a", "--uds", "/tmp/" + "u" * 96, "--guest-cid",
      "3"], "longer than"),
    (["--socket", "/tmp/" + "s" * 110, "--uds", "/tmp/b", "--guest-cid",
      "3"], "longer than"),
    (["--socket", "/tmp/a", "--socket", "/tmp/a"], "given twice"),
    (["--socket", "/tmp/a", "--uds", "/tmp/b", "--guest-cid", "3",
      "--guest-cid", "3"], "given twice"),
    (["--socket", "/tmp/a", "--uds", "/tmp/b", "--guest-cid", "3",
      "--echo-port", "4294967294"], "bad --echo-port '4294967294'"),
    (["--socket", "/tmp/a", "--uds", "/tmp/b", "--guest-cid", "3",
      "--nb-mbufs", "10"], "bad --nb-mbufs '10'"),
    (["--socket", "/tmp/a", "--uds", "/tmp/b", "--guest-cid", "3",
      "--bogus"], "'--bogus'"),
    (["--socket", "/tmp/a", "--uds", "/tmp/b", "--guest-cid", "3",
      "extra"], "'extra'"),
    (["--socket"], "needs a value"),
    ([], "at least one guest"),
    (sum((["--socket", f"/tmp/s{i}"] for i in range(65)), []), "at most 64"),
])
def test_bad_options_exit_2_naming_the_value(args, bad):
    # Both with and without EAL options: ours are checked first.
    for argv in (args, EAL + ["--"] + args):
        rc, out, err = run_bridge(argv)
        assert rc == 2, (argv, out, err)
        assert bad in err, err
        assert "EAL" not in err     # rejected before EAL started


# ---- sockets and signals ----

def test_server_mode_creates_sockets_and_stops_on_sigterm(tmp_path,
                                                          bridge_factory):
    # A stale socket file from an earlier run is replaced.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp_path / "vhost0.sock"))
    stale.close()
    b = bridge_factory(guests=2)
    for p in b.socks + b.udss:
        assert os.path.exists(p), p
    assert b.proc.poll() is None
    assert b.stop() == 0, b.err
    for p in b.socks + b.udss:
        assert not os.path.exists(p), p
    assert "guest cid 7: vhost-user" in b.out
    assert "guest cid 8: vhost-user" in b.out


def test_sigint_stops_too(bridge_factory):
    b = bridge_factory(extra=["--echo-port", "1234", "--stats"])
    time.sleep(1.3)
    assert b.stop(signal.SIGINT) == 0, b.err
    assert "dev down" in b.out      # a --stats line


def test_a_live_socket_is_not_stolen(tmp_path, bridge_factory):
    b = bridge_factory()
    rc, _, err = run_bridge(EAL + ["--", "--socket", str(tmp_path / "x"),
                                   "--uds", b.udss[0], "--guest-cid", "3"]
                            + SMALL_POOL)
    assert rc == 1 and "in use" in err, err


def test_a_regular_file_is_not_replaced(tmp_path):
    f = tmp_path / "v.uds"
    f.write_text("precious")
    rc, _, err = run_bridge(EAL + ["--", "--socket", str(tmp_path / "s"),
                                   "--uds", str(f), "--guest-cid", "3"]
                            + SMALL_POOL)
    assert rc == 1 and "--uds" in err, err
    assert f.read_text() == "precious"


def test_client_mode_waits_for_a_front_end(bridge_factory):
    b = bridge_factory(client=True)
    time.sleep(1.5)
    assert b.proc.poll() is None
    assert not os.path.exists(b.socks[0])   # it connects, it does not listen
    assert b.stop() == 0, b.err


# ---- the Unix protocol without a guest ----

def uds_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def closed_by_peer(s):
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True


@pytest.mark.parametrize("line", [
    b"HELLO 5\n", b"CONNECT\n", b"CONNECT \n", b"CONNECT x1\n",
    b"CONNECT 12 \n", b"CONNECT  12\n", b"CONNECT -1\n",
    b"CONNECT 4294967295\n", b"CONNECT 99999999999\n", b"C" * 40,
])
def test_bad_connect_lines_close_the_socket(bridge_factory, line):
    b = bridge_factory()
    s = uds_connect(b.udss[0])
    s.sendall(line)
    assert closed_by_peer(s)
    s.close()
    b.stop()
    assert b.counter("bad_line") == 1


def test_connect_without_guest_times_out_and_closes(bridge_factory):
    b = bridge_factory()
    s = uds_connect(b.udss[0])
    t0 = time.time()
    s.sendall(b"connect 1234\n")    # the keyword in any case
    assert closed_by_peer(s)
    assert 1.0 < time.time() - t0 < 8   # the stack's connect timeout
    b.stop()
    assert b.counter("bad_line") == 0


# ---- a scripted guest over vhost-user ----

HDR = struct.Struct("<QQIIIHHIII")
OP_REQUEST, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW = 1, 2, 3, 4, 5
CTL = (OP_REQUEST, OP_RESPONSE, OP_RST)
STREAM, SEQPACKET = 1, 2
F_NEXT, F_WRITE = 1, 2
QSIZE = 64
MEM_SIZE = 4 << 20
GPA = 0x40000000            # guest "physical" base of our region
UVA = 0x7000000000          # the front-end's own address of the region


class Guest:
    """A vhost-user front-end with one memfd region and two split rings."""

    def __init__(self, path):
        self.fd = os.memfd_create("guest")
        os.ftruncate(self.fd, MEM_SIZE)
        self.mem = mmap.mmap(self.fd, MEM_SIZE)
        # Ring indexes take one 16-bit store: struct.pack_into zeroes its
        # destination first, and the device polls them meanwhile.
        self.u16 = memoryview(self.mem).cast("H")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.kick = [os.eventfd(0, os.EFD_NONBLOCK) for _ in range(2)]
        self.call = [os.eventfd(0, os.EFD_NONBLOCK) for _ in range(2)]
        self.ring_off = [0, 0x4000]        # desc, then avail, used
        self.buf_off = 0x10000
        self.next_buf = self.buf_off
        self.avail_idx = [0, 0]
        self.used_seen = [0, 0]
        self.free = [list(range(QSIZE)), list(range(QSIZE))]
        self.rx_bufs = {}

    # -- vhost-user messages --
    def msg(self, req, payload=b"", fds=(), reply=False):
        hdr = struct.pack("<III", req, 1, len(payload))
        if fds:
            self.sock.sendmsg([hdr + payload], [(socket.SOL_SOCKET,
                               socket.SCM_RIGHTS, struct.pack(
                                   f"{len(fds)}i", *fds))])
        else:
            self.sock.sendall(hdr + payload)
        if not reply:
            return None
        rh = self.sock.recv(12, socket.MSG_WAITALL)
        rreq, flags, size = struct.unpack("<III", rh)
        assert rreq == req and flags & 4, (rreq, flags)
        return self.sock.recv(size, socket.MSG_WAITALL) if size else b""

    def setup(self, features_wanted):
        feats = struct.unpack("<Q", self.msg(1, reply=True))[0]
        self.msg(3)                                     # SET_OWNER
        pf = struct.unpack("<Q", self.msg(15, reply=True))[0]
        assert pf & (1 << 9) and not pf & (1 << 16)    # CONFIG, no STATUS
        self.msg(16, struct.pack("<Q", 1 << 9))
        cfg = self.msg(24, struct.pack("<III", 0, 8, 0) + bytes(8),
                       reply=True)
        self.cid = struct.unpack("<Q", cfg[12:20])[0]
        self.msg(2, struct.pack("<Q", feats & features_wanted))
        self.set_mem_table()
        for q in (0, 1):
            base = self.ring_off[q]
            self.msg(8, struct.pack("<II", q, QSIZE))
            self.msg(10, struct.pack("<II", q, 0))
            self.msg(9, struct.pack("<IIQQQQ", q, 0, UVA + base,
                                    UVA + base + 0x2000,
                                    UVA + base + 0x1000, 0))
            self.msg(12, struct.pack("<Q", q), [self.kick[q]])
            self.msg(13, struct.pack("<Q", q), [self.call[q]])
        for q in (0, 1):
            self.msg(18, struct.pack("<II", q, 1))
        return feats

    def set_mem_table(self):
        self.msg(5, struct.pack("<IIQQQQ", 1, 0, GPA, MEM_SIZE, UVA, 0),
                 [self.fd])

    # -- rings --
    def desc_at(self, q, i):
        return self.ring_off[q] + 16 * i

    def put_desc(self, q, i, addr, length, flags, nxt=0):
        struct.pack_into("<QIHH", self.mem, self.desc_at(q, i), addr,
                         length, flags, nxt)

    def publish(self, q, head):
        avail = (self.ring_off[q] + 0x1000) // 2
        self.u16[avail + 2 + self.avail_idx[q] % QSIZE] = head
        self.avail_idx[q] = (self.avail_idx[q] + 1) & 0xffff
        self.u16[avail + 1] = self.avail_idx[q]

    def used(self, q):
        """New used entries: [(id, len)]."""
        used = self.ring_off[q] + 0x2000
        idx = self.u16[used // 2 + 1]
        out = []
        while self.used_seen[q] != idx:
            out.append(struct.unpack_from(
                "<II", self.mem, used + 4 + 8 * (self.used_seen[q] % QSIZE)))
            self.used_seen[q] = (self.used_seen[q] + 1) & 0xffff
        return out

    def alloc(self, n):
        off = self.next_buf
        self.next_buf += (n + 63) & ~63
        assert self.next_buf < MEM_SIZE
        return off

    def post_rx(self, count, size=4096):
        for _ in range(count):
            i = self.free[0].pop()
            off = self.alloc(size)
            self.put_desc(0, i, GPA + off, size, F_WRITE)
            self.rx_bufs[i] = off
            self.publish(0, i)

    def send_chain(self, parts):
        """parts: [(bytes, flags)] or raw (addr, len, flags) tuples."""
        idx = [self.free[1].pop() for _ in parts]
        for k, part in enumerate(parts):
            if len(part) == 3:
                addr, length, flags = part
            else:
                data, flags = part
                off = self.alloc(len(data))
                self.mem[off:off + len(data)] = data
                addr, length = GPA + off, len(data)
            nxt = idx[k + 1] if k + 1 < len(parts) else 0
            self.put_desc(1, idx[k], addr, length,
                          flags | (F_NEXT if k + 1 < len(parts) else 0), nxt)
        self.publish(1, idx[0])
        os.eventfd_write(self.kick[1], 1)
        return idx

    def hdr(self, dst_port, op, src_port=40000, length=0, typ=STREAM,
            flags=0, src_cid=None, buf_alloc=1 << 20, fwd_cnt=0):
        return HDR.pack(self.cid if src_cid is None else src_cid, 2,
                        src_port, dst_port, length, typ, op, flags,
                        buf_alloc, fwd_cnt)

    def send(self, dst_port, op, payload=b"", **kw):
        kw.setdefault("length", len(payload))
        return self.send_chain([(self.hdr(dst_port, op, **kw) + payload,
                                 0)])

    def reap_tx(self, want):
        """Wait until @want tx chains came back; free their descriptors."""
        got = []
        deadline = time.time() + 10
        while len(got) < want and time.time() < deadline:
            got += self.used(1)
            time.sleep(0.002)
        assert len(got) == want, got
        return got

    def recv_pkts(self, want, ops=(OP_RW,), timeout=10):
        """Collect @want packets with an op in @ops (others are dropped,
        credit updates say), reposting each rx buffer."""
        pkts = []
        deadline = time.time() + timeout
        while len(pkts) < want and time.time() < deadline:
            for i, n in self.used(0):
                off = self.rx_bufs.pop(i)
                raw = bytes(self.mem[off:off + n])
                h = HDR.unpack(raw[:44])
                assert h[4] == n - 44, (h, n)
                if h[6] in ops:
                    pkts.append((h, raw[44:]))
                self.free[0].append(i)
                self.post_rx(1)
            time.sleep(0.002)
        assert len(pkts) == want, pkts
        return pkts

    def call_count(self, q):
        try:
            return os.eventfd_read(self.call[q])
        except BlockingIOError:
            return 0

    def close(self):
        self.sock.close()


def data_of(pkts, port=None):
    return b"".join(p for h, p in pkts
                    if h[6] == OP_RW and (port is None or h[2] == port))


def test_guest_over_vhost_user(tmp_path, bridge_factory):
    b = bridge_factory(extra=["--echo-port", "5000"])
    g = Guest(b.socks[0])
    feats = g.setup((1 << 32) | (1 << 30) | (1 << 1) | (1 << 0))
    assert g.cid == 7
    assert feats & (1 << 32) and feats & (1 << 30) and feats & 3 == 3
    assert not feats & (1 << 28)                       # no indirect descs
    g.post_rx(32)

    # REQUEST to the stream echo; RESPONSE comes back, with an interrupt.
    g.send(5000, OP_REQUEST)
    (h, _), = g.recv_pkts(1, CTL)
    assert h[:4] == (2, 7, 5000, 40000) and h[6] == OP_RESPONSE
    assert g.call_count(0) >= 1
    g.reap_tx(1)

    # Header and payload in separate descriptors, payload in two: the echo
    # comes back cut to our 4 KiB buffers, each piece with its own header.
    payload = os.urandom(10000)
    g.send_chain([(g.hdr(5000, OP_RW, length=len(payload)), 0),
                  (payload[:3000], 0), (payload[3000:], 0)])
    pkts = g.recv_pkts(3)
    assert data_of(pkts) == payload
    assert max(len(p) for h, p in pkts) <= 4096 - 44
    g.reap_tx(1)

    # Malformed chains and packets are returned and counted, never taken.
    g.send(5000, OP_RW, b"x" * 10, length=100)                    # bad_len
    g.send(5000, OP_RW, b"y" * 10, src_cid=99)                   # bad_src_cid
    g.send_chain([(GPA + MEM_SIZE - 16, 44, 0)])                 # bad_chain
    g.send_chain([(g.hdr(5000, OP_RW, length=4), 0), (b"zzzz", F_WRITE)])
    g.send_chain([(b"short", 0)])                                 # bad_size
    i = g.free[1].pop()                                            # bad_chain
    g.put_desc(1, i, GPA + g.alloc(44), 44, F_NEXT, QSIZE + 5)
    g.publish(1, i)
    g.reap_tx(6)

    # The connection still works, as a SEQPACKET one does on port 5001.
    g.send(5000, OP_RW, b"still here")
    assert data_of(g.recv_pkts(1)) == b"still here"
    g.send(5001, OP_REQUEST, src_port=40001, typ=SEQPACKET)
    (h, _), = g.recv_pkts(1, CTL)
    assert h[6] == OP_RESPONSE and h[5] == SEQPACKET
    msg = os.urandom(9000)
    g.send(5001, OP_RW, msg[:5000], src_port=40001, typ=SEQPACKET)
    g.send(5001, OP_RW, msg[5000:], src_port=40001, typ=SEQPACKET,
           flags=1 | 2)                                    # EOM | EOR
    pkts = g.recv_pkts(3)
    assert data_of(pkts) == msg
    assert [h[7] for h, p in pkts] == [0, 0, 3]    # EOM, EOR only at the end
    g.reap_tx(4)

    # Guest -> host: port 6000 has a listener on the Unix side, 6001 not.
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(b.udss[0] + "_6000")
    lsock.listen(4)
    g.send(6000, OP_REQUEST, src_port=41000)
    (h, _), = g.recv_pkts(1, CTL)
    assert h[6] == OP_RESPONSE
    host, _ = lsock.accept()
    host.settimeout(10)
    g.send(6000, OP_RW, b"to the host", src_port=41000)
    assert host.recv(100) == b"to the host"
    host.sendall(b"to the guest")
    assert data_of(g.recv_pkts(1)) == b"to the guest"
    g.send(6001, OP_REQUEST, src_port=41001)
    (h, _), = g.recv_pkts(1, CTL)
    assert h[6] == OP_RST and h[3] == 41001

    # Host -> guest: CONNECT, the guest accepts, "OK <port>" is its port.
    cl = uds_connect(b.udss[0])
    cl.sendall(b"CONNECT 3000\nearly bytes")
    (h, _), = g.recv_pkts(1, CTL)
    assert h[6] == OP_REQUEST and h[3] == 3000 and h[1] == 7
    hostport = h[2]
    g.send(hostport, OP_RESPONSE, src_port=3000)
    line = b""
    while not line.endswith(b"\n"):
        line += cl.recv(1)
    assert line == b"OK %d\n" % hostport
    # Pipelined bytes were not lost.
    assert data_of(g.recv_pkts(1)) == b"early bytes"
    g.send(hostport, OP_RW, b"hello host", src_port=3000)
    assert cl.recv(100) == b"hello host"
    # Credit comes back for what the host program read.
    g.reap_tx(g.avail_idx[1] - g.used_seen[1])

    # The memory table is sent again while running: traffic goes on.
    g.set_mem_table()
    g.send(5000, OP_RW, b"after remap")
    assert data_of(g.recv_pkts(1), 5000) == b"after remap"

    # The guest goes away: its connections reset, Unix sockets close.
    g.close()
    assert closed_by_peer(cl)
    assert closed_by_peer(host)
    assert b.stop() == 0, b.err
    assert b.counter("bad_len") == 1
    assert b.counter("bad_src_cid") == 1
    assert b.counter("bad_chain") == 2
    assert b.counter("bad_dir") == 1
    assert b.counter("bad_size") == 1
    assert b.counter("calls") > 0
    assert re.search(r"g2h accepted 1 refused 1 ", b.out), b.out
    assert b.counter("transport_resets") == 1
