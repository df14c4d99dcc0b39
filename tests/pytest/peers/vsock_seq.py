#!/usr/bin/env python3
"""SOCK_SEQPACKET over AF_VSOCK: boundaries and MSG_TRUNC.
  vsock_seq.py server PORT     echo each message back with the MSG_EOR it
                               came with (Linux reports MSG_EOR exactly
                               where the sender passed it);
                               after b"trunc", receive the next message
                               with recv(100) and the one after with
                               recvmsg(100), answering what they gave
  vsock_seq.py client CID PORT SEED"""
import random
import socket
import sys

MSG_EOR = socket.MSG_EOR


def server(port):
    l = socket.socket(socket.AF_VSOCK, socket.SOCK_SEQPACKET)
    l.bind((socket.VMADDR_CID_ANY, port))
    l.listen()
    print("listening", flush=True)
    s, _ = l.accept()
    n = 0
    while True:
        m, _, flags, _ = s.recvmsg(1 << 20)
        if not m:
            break
        if flags & socket.MSG_TRUNC:
            s.send(b"BADFLAGS %d" % flags)
            continue
        if m == b"trunc":
            a = s.recv(100)
            b, _, fl, _ = s.recvmsg(100)
            s.send(a)
            s.send(b)
            s.send(b"%d" % fl)
            continue
        s.sendmsg([m], [], flags & MSG_EOR)
        n += 1
    print("server done", n, flush=True)


def client(cid, port, seed):
    rnd = random.Random(seed)
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_SEQPACKET)
    s.connect((cid, port))
    sizes = [1, 2, 3, 7, 8, 9, 63, 64, 65, 4095, 4096, 4097, 65536,
             200000] + [rnd.randint(1, 70000) for _ in range(100)]
    count = 0
    for size in sizes:       # one at a time, large ones too
        m = rnd.randbytes(size)
        eor = rnd.random() < 0.5
        s.sendmsg([m], [], MSG_EOR if eor else 0)
        got, _, fl, _ = s.recvmsg(1 << 20)
        assert got == m, f"size {size}: got {len(got)} B"
        assert bool(fl & MSG_EOR) == eor, f"size {size}: flags {fl:#x}"
        count += 1
    for burst in range(20):  # several queued: boundaries between them
        msgs = [rnd.randbytes(rnd.randint(1, 12000)) for _ in range(10)]
        for m in msgs:
            s.send(m)
        for i, m in enumerate(msgs):
            got = s.recv(1 << 20)
            assert got == m, f"burst {burst} msg {i}: {len(got)} B, " \
                f"want {len(m)}"
            count += 1
    s.send(b"trunc")
    m1, m2 = rnd.randbytes(1000), rnd.randbytes(5000)
    s.send(m1)
    s.send(m2)
    a, b, fl = s.recv(1 << 20), s.recv(1 << 20), int(s.recv(100))
    assert a == m1[:100], f"recv(100) gave {len(a)} B"
    assert b == m2[:100], f"recvmsg(100) gave {len(b)} B"
    assert fl & socket.MSG_TRUNC, f"recvmsg flags {fl:#x} lack MSG_TRUNC"
    # Our own recvmsg with a short buffer.
    s.send(b"x" * 10)
    got = s.recv(1 << 20)
    s.send(b"y" * 300)
    s.send(b"z" * 3)
    d, _, fl, _ = s.recvmsg(50)
    assert got == b"x" * 10 and d == b"y" * 50, (got, d)
    assert fl & socket.MSG_TRUNC, f"client recvmsg flags {fl:#x}"
    assert s.recv(1 << 20) == b"z" * 3, "message after a truncated one"
    # MSG_TRUNC as a recv flag returns the whole length.
    s.send(b"w" * 700)
    n = s.recv_into(bytearray(10), 10, socket.MSG_TRUNC)
    assert n == 700, f"recv_into(MSG_TRUNC) returned {n}"
    s.close()
    print("client ok", count, flush=True)


if sys.argv[1] == "server":
    server(int(sys.argv[2]))
else:
    client(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
