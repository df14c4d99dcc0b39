#!/usr/bin/env python3
"""A hostile application: speaks vsockd's control protocol
(lib/libvsock/vsl_proto.h) directly and feeds it garbage, on the control
socket and in its shared segment. Prints what it did, one line a phase;
exits 0 once every phase ran (vsockd's survival is the test's to check).
Usage: vsock_hostile.py CONTROL_SOCKET SEED"""
import mmap
import os
import random
import socket
import struct
import sys
import time

REQ = struct.Struct("<IIIIQIIQ")      # struct vsl_req
REP = struct.Struct("<iIQIIQQ")       # struct vsl_rep
(HELLO, SOCKET, BIND, LISTEN, ACCEPT, CONNECT, SHUTDOWN, CLOSE,
 SETOPT, OPMAX) = range(1, 11)
STREAM, SEQPACKET = 1, 2
ST_CONNECTED = 4
HDR = struct.Struct("<IIIIII QQQQ")   # magic..rings_off
DB_HEAD, DB_TAIL = 64, 128
SLOT = 128                            # sizeof(struct vsl_slot)
A_OFF = 64                            # offsetof(struct vsl_slot, a)

path, rnd = sys.argv[1], random.Random(int(sys.argv[2]))


def req(op, slot=0, typ=0, port=0, cid=0, arg=0, val=0):
    return REQ.pack(op, slot, typ, port, cid, arg, 0, val)


class App:
    def __init__(self):
        self.c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.c.connect(path)
        self.c.settimeout(5)
        self.dropped = False
        rep, fds = self.call(req(HELLO, arg=1))
        st, _, self.cid, _, _, _, size = REP.unpack(rep[:REP.size])
        assert st == 0 and len(fds) == 1, (st, fds)
        self.m = mmap.mmap(fds[0], size)
        os.close(fds[0])
        (magic, ver, self.nslots, self.rxsz, self.txsz, _, self.size,
         self.db, self.slots, self.rings) = HDR.unpack_from(self.m, 0)
        assert magic == 0x76736c31 and self.size == size

    def call(self, data, fds=()):
        """One request; the reply and its fds, or (b"", []) once
        vsockd hung up on us."""
        if self.dropped:
            return b"", []
        try:
            if fds:
                socket.send_fds(self.c, [data], list(fds))
            else:
                self.c.send(data)
            msg, rfds, _, _ = socket.recv_fds(self.c, 4096, 8)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            msg, rfds = b"", []
        if not msg:
            self.dropped = True
        return msg, rfds

    def status(self, data, fds=()):
        msg, rfds = self.call(data, fds)
        for f in rfds:
            os.close(f)
        return REP.unpack(msg[:REP.size]) if len(msg) >= REP.size else None

    def socket(self, slot, typ):
        efd = os.eventfd(0, os.EFD_NONBLOCK)
        r = self.status(req(SOCKET, slot, typ), [efd])
        os.close(efd)
        return r

    def u32(self, off, v=None):
        if v is None:
            return struct.unpack_from("<I", self.m, off)[0]
        struct.pack_into("<I", self.m, off, v & 0xffffffff)

    def slot(self, i):
        return self.slots + i * SLOT

    def ring(self, i):
        self.u32(self.db + 4 * (self.u32(DB_HEAD) % self.nslots), i)
        self.u32(DB_HEAD, self.u32(DB_HEAD) + 1)


def control_garbage():
    a = App()
    bad = 0
    msgs = [b"\x01", os.urandom(7), os.urandom(39), os.urandom(41),
            os.urandom(4000), req(0), req(999), req(OPMAX),
            req(HELLO, arg=1), req(SOCKET, 0, STREAM),   # no eventfd
            req(SOCKET, a.nslots, STREAM), req(SOCKET, 0xffffffff, 1),
            req(SOCKET, 1, 77), req(BIND, 0xfffffff0), req(LISTEN, 5),
            req(ACCEPT, 3, arg=0xffffffff), req(CONNECT, 9, cid=1),
            req(CLOSE, 12345), req(SHUTDOWN, 2, arg=99),
            req(SETOPT, 0, arg=77, val=1 << 63)]
    for m in msgs:
        r = a.status(m)
        if r is not None and r[0] < 0:
            bad += 1
        elif r is not None:
            print("accepted garbage", m[:8].hex(), r, flush=True)
    # Random fds where an eventfd belongs, several fds, fds on ops that
    # take none.
    rd, wr = os.pipe()
    dfd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    mfd = os.memfd_create("junk")
    for fds in ([rd], [dfd], [mfd], [rd, wr, dfd], [wr] * 5):
        a.status(req(SOCKET, rnd.randrange(a.nslots), STREAM), fds)
        a.status(req(BIND, 0, port=rnd.randrange(1 << 32)), fds)
    for f in (rd, wr, dfd, mfd):
        os.close(f)
    n = 0
    while not a.dropped and n < 500:     # until vsockd hangs up
        a.status(os.urandom(rnd.choice([1, 8, 40, 40, 40, 100])))
        n += 1
    print("control garbage: error replies", bad, "random", n,
          "dropped", a.dropped, flush=True)


def connected_pair(a, typ, ls, cs, ss):
    """Listener in slot ls, connector cs, accepted ss; returns True once
    the connector reads CONNECTED."""
    a.socket(ls, typ)
    r = a.status(req(BIND, ls, cid=0xffffffff, port=0xffffffff))
    if not r or r[0] != 0:
        return False
    port = r[1]
    a.status(req(LISTEN, ls, arg=8))
    a.socket(cs, typ)
    a.status(req(CONNECT, cs, cid=1, port=port, arg=2000))
    end = time.monotonic() + 5
    while time.monotonic() < end:
        efd = os.eventfd(0, os.EFD_NONBLOCK)
        r = a.status(req(ACCEPT, ls, arg=ss), [efd])
        os.close(efd)
        if r and r[0] == 0:
            break
        time.sleep(0.02)
    while time.monotonic() < end:
        if a.u32(a.slot(cs)) == ST_CONNECTED:
            return True
        time.sleep(0.02)
    return False


def shm_garbage():
    a = App()
    ok1 = connected_pair(a, STREAM, 0, 1, 2)
    ok2 = connected_pair(a, SEQPACKET, 3, 4, 5)
    print("pairs connected", ok1, ok2, flush=True)
    # tx_head far beyond the ring; rx_tail beyond rx_head.
    a.u32(a.slot(1) + A_OFF, a.u32(a.slot(1) + 20) + 4 * a.txsz + 12345)
    a.ring(1)
    a.u32(a.slot(2) + A_OFF + 4, a.u32(a.slot(2) + 16) + 999999)
    a.ring(2)
    time.sleep(0.2)
    # Bad SEQPACKET record headers: huge, unaligned, zero.
    for ln, fl in ((0xffffffff, 1), (a.txsz, 1), (a.txsz * 4, 0),
                   (13, 0xff), (0x7fffffff, 0)):
        head = a.u32(a.slot(4) + A_OFF)
        off = a.rings + 4 * (a.rxsz + a.txsz) + a.rxsz + head % a.txsz
        struct.pack_into("<II", a.m, off, ln, fl)
        a.u32(a.slot(4) + A_OFF, head + 8 + (rnd.randrange(64) & ~7))
        a.ring(4)
        time.sleep(0.05)
    # Doorbell entries out of range, db_head jumps.
    for v in (a.nslots, a.nslots + 1, 0xffffffff, 0x80000000, 77777):
        a.u32(a.db + 4 * (a.u32(DB_HEAD) % a.nslots), v)
        a.u32(DB_HEAD, a.u32(DB_HEAD) + 1)
    a.u32(DB_HEAD, a.u32(DB_HEAD) + (1 << 31))
    time.sleep(0.2)
    a.u32(DB_HEAD, a.u32(DB_TAIL) - 5)
    time.sleep(0.2)
    # Random bytes over every slot's app fields, the doorbell ring, and
    # then over everything, header and rings included.
    for _ in range(300):
        i = rnd.randrange(a.nslots)
        a.m[a.slot(i) + A_OFF:a.slot(i) + A_OFF + 16] = os.urandom(16)
        a.ring(i if rnd.random() < 0.7 else rnd.randrange(1 << 32))
    a.m[a.db:a.db + 4 * a.nslots] = os.urandom(4 * a.nslots)
    a.u32(DB_HEAD, rnd.randrange(1 << 32))
    time.sleep(0.2)
    for _ in range(20):
        off = rnd.randrange(a.size - 4096)
        a.m[off:off + 4096] = os.urandom(4096)
        a.m[a.slots:a.slots + 2 * SLOT * 6] = os.urandom(2 * SLOT * 6)
        a.u32(DB_HEAD, rnd.randrange(1 << 32))
        time.sleep(0.02)
    # The control socket still answers (or hung up on us): close all.
    for i in range(8):
        a.status(req(CLOSE, i, arg=rnd.randrange(2)))
    print("shm garbage done, dropped", a.dropped, flush=True)
    a.m.close()
    a.c.close()


def empty_with_fds():
    """Empty messages carrying descriptors: vsockd cannot tell one from
    the end of the socket, hangs up, and must close what came with it."""
    efd = os.eventfd(0)
    n = 0
    for _ in range(20):
        a = App()
        socket.send_fds(a.c, [b""], [efd, efd])
        try:
            gone = a.c.recv(64) == b""
        except (ConnectionResetError, TimeoutError):
            gone = True
        n += gone
        a.m.close()
        a.c.close()
    os.close(efd)
    print("empty messages with fds: hung up on", n, flush=True)


def abandon():
    """Sockets left connected and the app gone without a word."""
    a = App()
    ok = connected_pair(a, STREAM, 0, 1, 2)
    a.m.close()
    a.c.close()
    print("abandoned a pair", ok, flush=True)


control_garbage()
shm_garbage()
empty_with_fds()
abandon()
for _ in range(3):
    control_garbage()
print("hostile done", flush=True)
