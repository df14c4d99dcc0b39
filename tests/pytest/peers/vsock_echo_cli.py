#!/usr/bin/env python3
"""The classic AF_VSOCK example's client: connect to (CID, PORT), send a
greeting line, print the addresses and the answer (read to EOF).
Usage: vsock_echo_cli.py CID PORT GREETING"""
import socket
import sys

cid, port, greeting = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
s.connect((cid, port))
lcid, lport = s.getsockname()
pcid, pport = s.getpeername()
s.sendall(greeting.encode() + b"\n")
reply = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    reply += b
print(f"local {lcid} {lport} peer {pcid} {pport} reply {reply!r}",
      flush=True)
