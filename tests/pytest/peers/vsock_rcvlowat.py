#!/usr/bin/env python3
"""A reader that reads nothing until SO_RCVLOWAT bytes are there, and a
writer of one byte at a time (vsock_test's SO_RCVLOWAT case, stretched).

  vsock_rcvlowat.py server PORT LOWAT   poll() until LOWAT bytes, print them
  vsock_rcvlowat.py client CID PORT N   N sends of 1 byte, 2 ms apart
"""
import select
import socket
import sys
import time

SO_RCVLOWAT = getattr(socket, "SO_RCVLOWAT", 18)

if sys.argv[1] == "server":
    port, lowat = int(sys.argv[2]), int(sys.argv[3])
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    s.bind((socket.VMADDR_CID_ANY, port))
    s.listen()
    print("listening", port, flush=True)
    conn, _ = s.accept()
    conn.setsockopt(socket.SOL_SOCKET, SO_RCVLOWAT, lowat)
    p = select.poll()
    p.register(conn, select.POLLIN)
    if not p.poll(10000):
        sys.exit("no POLLIN in 10 s: fewer than %d bytes arrived" % lowat)
    data = b""
    while len(data) < lowat:
        data += conn.recv(lowat - len(data))
    print("got", len(data), data == bytes(i & 0xff for i in range(lowat)),
          flush=True)
    conn.close()
else:
    cid, port, n = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    s.connect((cid, port))
    for i in range(n):
        s.sendall(bytes([i & 0xff]))
        time.sleep(0.002)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()
