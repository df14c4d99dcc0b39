#!/usr/bin/python3
"""The classic AF_VSOCK example: a server that binds (VMADDR_CID_ANY,
PORT), accepts and prints who connected and what it sent; a client that
connects to (CID, PORT) and sends a greeting. Plain socket module calls,
so it runs on the kernel's AF_VSOCK or, unmodified, under the preload."""
import argparse
import socket
import sys


def server(port, once):
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    s.bind((socket.VMADDR_CID_ANY, port))
    s.listen()
    while True:
        c, (cid, rport) = s.accept()
        data = b""
        while True:
            b = c.recv(4096)
            if not b:
                break
            data += b
        print(f"peer cid {cid} port {rport} data: {data.decode()}",
              flush=True)
        c.close()
        if once:
            return 0


def client(cid, port, message):
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    s.connect((cid, port))
    s.sendall(message.encode())
    s.close()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sv = sub.add_parser("server")
    sv.add_argument("--port", type=int, default=1234)
    sv.add_argument("--once", action="store_true")
    cl = sub.add_parser("client")
    cl.add_argument("--cid", type=int, default=socket.VMADDR_CID_HOST)
    cl.add_argument("--port", type=int, default=1234)
    cl.add_argument("--message", default="Hello, world!")
    a = ap.parse_args()
    if a.cmd == "server":
        return server(a.port, a.once)
    return client(a.cid, a.port, a.message)


if __name__ == "__main__":
    sys.exit(main())
