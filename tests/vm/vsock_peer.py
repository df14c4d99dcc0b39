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


def connect(cid, port, kind, deadline):
    """Connect, retrying while the other side is still starting."""
    while True:
        s = socket.socket(socket.AF_VSOCK, kind)
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
    ap.add_argument("mode", choices=["stream", "many", "seqpacket", "serve"])
    ap.add_argument("--cid", type=int, default=0)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bytes", type=int, default=1 << 20)
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=240)
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
    else:
        r = serve(a.port, socket.SOCK_STREAM, a.conns, deadline)
    r["seconds"] = round(time.monotonic() - t0, 2)
    print("PEER-RESULT " + json.dumps(r), flush=True)
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
