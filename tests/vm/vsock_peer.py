#!/usr/bin/python3
"""The Linux side of the real-peer tests: AF_VSOCK clients and servers
that check every byte, run inside a test guest. Prints one line
'PEER-RESULT {json}' and exits 0 when everything matched."""
import argparse
import hashlib
import json
import socket
import sys
import threading
import time


def connect(cid, port, kind, deadline, bufsize=0):
    """Connect, retrying while the other side is still starting; a
    @bufsize sets the socket's buffer first (advertised in the REQUEST)."""
    while True:
        s = socket.socket(socket.AF_VSOCK, kind)
        if bufsize:
            s.setsockopt(socket.AF_VSOCK, socket.SO_VM_SOCKETS_BUFFER_SIZE,
                         bufsize)
        s.settimeout(60)    # a stuck peer fails the test, not hangs it
        try:
            s.connect((cid, port))
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def pattern(seed, n):
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d:%d" % (seed, i)).digest()
        i += 1
    return bytes(out[:n])


def stream_echo(cid, port, nbytes, seed, deadline):
    """Send nbytes, read the echo concurrently; sha256 both ways."""
    s = connect(cid, port, socket.SOCK_STREAM, deadline)
    data = pattern(seed, min(nbytes, 1 << 20))
    got = hashlib.sha256()
    sent = hashlib.sha256()
    nrecv = [0]

    def reader():
        while nrecv[0] < nbytes:
            b = s.recv(1 << 20)
            if not b:
                break
            got.update(b)
            nrecv[0] += len(b)

    t = threading.Thread(target=reader)
    t.start()
    left = nbytes
    while left > 0:
        chunk = data[:min(left, len(data))]
        s.sendall(chunk)
        sent.update(chunk)
        left -= len(chunk)
    t.join(600)
    s.close()
    return {"bytes": nbytes, "received": nrecv[0],
            "ok": nrecv[0] == nbytes and got.digest() == sent.digest()}


def seqpacket_echo(cid, port, sizes, deadline):
    """Each message must come back whole, at its own boundary."""
    s = connect(cid, port, socket.SOCK_SEQPACKET, deadline)
    ok = True
    for i, n in enumerate(sizes):
        msg = pattern(i, n)
        s.send(msg)
        back = s.recv(n + 1024)
        ok = ok and back == msg
        print(f"seqpacket {n}: {'ok' if back == msg else len(back)}",
              flush=True)
    s.close()
    return {"messages": len(sizes), "ok": ok}


def send_one_way(cid, port, nbytes, bufsize, deadline):
    """Send nbytes and nothing back, through a socket whose own buffer is
    @bufsize (SO_VM_SOCKETS_BUFFER_SIZE; Linux caps its tx credit to it,
    Debian's 6.1 and 6.12 alike): the peer's credit updates alone keep it
    going."""
    s = connect(cid, port, socket.SOCK_STREAM, deadline, bufsize)
    s.settimeout(20)        # a window that never reopens fails, quickly
    data = memoryview(pattern(7, 1 << 16))
    sent = hashlib.sha256()
    done, err = 0, None
    try:
        while done < nbytes:
            n = s.send(data[:min(nbytes - done, len(data))])
            sent.update(data[:n])
            done += n
        s.shutdown(socket.SHUT_WR)
        s.recv(1)           # the peer's close
    except OSError as e:
        err = f"{type(e).__name__}: {e} after {done} bytes"
    s.close()
    return {"bytes": nbytes, "sent": done, "sha256": sent.hexdigest(),
            "error": err, "ok": err is None and done == nbytes}


def slow_sink(port, delay, deadline):
    """Accept one connection, leave it unread for @delay seconds (what the
    peer sends piles up in our receive queue), then read to EOF."""
    srv = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    srv.bind((socket.VMADDR_CID_ANY, port))
    srv.listen(1)
    srv.settimeout(max(1, deadline - time.monotonic()))
    print("PEER-LISTENING", flush=True)
    c, _ = srv.accept()
    time.sleep(delay)
    c.settimeout(60)
    got = hashlib.sha256()
    n, err = 0, None
    try:
        while True:
            b = c.recv(1 << 20)
            if not b:
                break
            got.update(b)
            n += len(b)
    except OSError as e:    # ECONNRESET: Linux dropped the connection
        err = f"{type(e).__name__}: {e} after {n} bytes"
    c.close()
    return {"received": n, "sha256": got.hexdigest(), "error": err,
            "ok": err is None}


def serve(port, kind, count, deadline):
    """Echo server for our driver's clients; returns bytes echoed."""
    srv = socket.socket(socket.AF_VSOCK, kind)
    srv.bind((socket.VMADDR_CID_ANY, port))
    srv.listen(128)
    srv.settimeout(max(1, deadline - time.monotonic()))
    total = [0]
    done = []

    def one(c):
        while True:
            b = c.recv(1 << 20)
            if not b:
                break
            c.sendall(b)
            total[0] += len(b)
        c.close()
        done.append(1)

    print("PEER-LISTENING", flush=True)
    threads = []
    for _ in range(count):
        c, _ = srv.accept()
        t = threading.Thread(target=one, args=(c,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join(max(1, deadline - time.monotonic()))
    return {"conns": len(done), "bytes": total[0], "ok": len(done) == count}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("mode", choices=["stream", "many", "seqpacket", "serve",
                                     "send", "sink"])
    ap.add_argument("--cid", type=int, default=0)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bytes", type=int, default=1 << 20)
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=240)
    ap.add_argument("--bufsize", type=int, default=0,
                    help="send: SO_VM_SOCKETS_BUFFER_SIZE of the socket")
    ap.add_argument("--delay", type=float, default=5,
                    help="sink: seconds before the first read")
    a = ap.parse_args()
    deadline = time.monotonic() + a.timeout
    t0 = time.monotonic()
    if a.mode == "stream":
        r = stream_echo(a.cid, a.port, a.bytes, 1, deadline)
    elif a.mode == "many":
        res = [None] * a.conns
        ths = [threading.Thread(target=lambda i=i: res.__setitem__(
            i, stream_echo(a.cid, a.port, a.bytes, i, deadline)))
            for i in range(a.conns)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(a.timeout)
        r = {"conns": a.conns, "ok": all(x and x["ok"] for x in res)}
    elif a.mode == "seqpacket":
        r = seqpacket_echo(a.cid, a.port,
                           [1, 4095, 4096, 65536, 65537, 200000],
                           deadline)
    elif a.mode == "send":
        r = send_one_way(a.cid, a.port, a.bytes, a.bufsize, deadline)
    elif a.mode == "sink":
        r = slow_sink(a.port, a.delay, deadline)
    else:
        r = serve(a.port, socket.SOCK_STREAM, a.conns, deadline)
    r["seconds"] = round(time.monotonic() - t0, 2)
    print("PEER-RESULT " + json.dumps(r), flush=True)
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
