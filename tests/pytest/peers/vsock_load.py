#!/usr/bin/env python3
"""Many AF_VSOCK connections from one program, every byte checked.
  vsock_load.py server PORT
      a selectors echo server; each connection's first line is its tag;
      prints "close TAG eof|reset|error:NAME BYTES" as each one ends and
      runs until SIGINT (then prints "summary OPEN")
  vsock_load.py client CID PORT NAME CONNS SEED [SECONDS]
      CONNS connections at once, each sending "NAME-i\\n" and random
      payloads (1 B..300 KB) and checking the echo; with SECONDS each
      connection repeats rounds until then (0: forever). Prints
      "ok CONNS ROUNDS BYTES" and exits 0, or "bad ..." and exits 1."""
import errno
import random
import selectors
import signal
import socket
import sys
import time


def server(port):
    stop = []
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    sel = selectors.DefaultSelector()
    l = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    l.bind((socket.VMADDR_CID_ANY, port))
    l.listen(256)
    l.setblocking(False)
    sel.register(l, selectors.EVENT_READ, None)
    print("listening", flush=True)
    conns = {}

    def finish(s, how):
        c = conns.pop(s)
        sel.unregister(s)
        s.close()
        tag = c["tag"].decode(errors="replace") or "?"
        print(f"close {tag} {how} {c['bytes']}", flush=True)

    while not stop:
        for key, mask in sel.select(0.2):
            s = key.fileobj
            if s is l:
                n, _ = l.accept()
                n.setblocking(False)
                conns[n] = {"buf": bytearray(), "tag": b"", "intag": True,
                            "bytes": 0}
                sel.register(n, selectors.EVENT_READ, None)
                continue
            c = conns[s]
            try:
                if mask & selectors.EVENT_WRITE and c["buf"]:
                    k = s.send(c["buf"][:1 << 18])
                    del c["buf"][:k]
                if mask & selectors.EVENT_READ and len(c["buf"]) < 1 << 20:
                    b = s.recv(1 << 18)
                    if not b:
                        finish(s, "eof")
                        continue
                    if c["intag"]:
                        c["tag"] += b.split(b"\n")[0]
                        c["intag"] = b"\n" not in b
                    c["bytes"] += len(b)
                    c["buf"] += b
            except BlockingIOError:
                pass
            except OSError as e:
                finish(s, "reset" if e.errno == errno.ECONNRESET else
                       "error:" + errno.errorcode.get(e.errno, "?"))
                continue
            want = selectors.EVENT_READ | (
                selectors.EVENT_WRITE if c["buf"] else 0)
            if key.events != want:
                sel.modify(s, want, None)
    print("summary", len(conns), flush=True)


class Conn:
    def __init__(self, s, tag, rnd):
        self.s, self.tag, self.rnd = s, tag, rnd
        self.rounds = 0
        self.new_round()

    def new_round(self):
        p = self.rnd.randbytes(self.rnd.randint(1, 300000))
        self.out = (self.tag + b"\n" + p) if self.rounds == 0 else p
        self.off = 0
        self.got = bytearray()


def client(cid, port, name, nconns, seed, seconds):
    rnd = random.Random(seed)
    sel = selectors.DefaultSelector()
    forever = seconds == 0
    end = time.monotonic() + seconds if seconds else None
    total = rounds = 0
    for i in range(nconns):
        s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        s.connect((cid, port))
        s.setblocking(False)
        c = Conn(s, f"{name}-{i}".encode(), random.Random(rnd.random()))
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    live = nconns
    last = time.monotonic()
    while live:
        ev = sel.select(1)
        if ev:
            last = time.monotonic()
        elif time.monotonic() - last > 30:
            print("bad: stalled for 30 s with", live, "open", flush=True)
            sys.exit(1)
        for key, mask in ev:
            c = key.data
            if mask & selectors.EVENT_WRITE and c.off < len(c.out):
                try:
                    c.off += c.s.send(c.out[c.off:c.off + (1 << 18)])
                except BlockingIOError:
                    pass
                if c.off == len(c.out):
                    sel.modify(c.s, selectors.EVENT_READ, c)
            if mask & selectors.EVENT_READ:
                try:
                    b = c.s.recv(1 << 20)
                except BlockingIOError:
                    continue
                if not b:
                    print("bad: EOF on", c.tag, flush=True)
                    sys.exit(1)
                c.got += b
                if len(c.got) > len(c.out) or \
                        c.got != c.out[:len(c.got)]:
                    print("bad: data differ on", c.tag, flush=True)
                    sys.exit(1)
                if len(c.got) == len(c.out):
                    total += len(c.out)
                    c.rounds += 1
                    rounds += 1
                    if not forever and (end is None or
                                        time.monotonic() > end):
                        sel.unregister(c.s)
                        c.s.close()
                        live -= 1
                    else:
                        c.new_round()
                        sel.modify(c.s, selectors.EVENT_READ |
                                   selectors.EVENT_WRITE, c)
    print("ok", nconns, rounds, total, flush=True)


if sys.argv[1] == "server":
    server(int(sys.argv[2]))
else:
    a = sys.argv[2:]
    client(int(a[0]), int(a[1]), a[2], int(a[3]), int(a[4]),
           float(a[5]) if len(a) > 5 else None)
