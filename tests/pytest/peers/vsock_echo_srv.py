#!/usr/bin/env python3
"""The classic AF_VSOCK example's server: bind (VMADDR_CID_ANY, PORT),
listen, accept, print the peer's CID and port and the data, and answer
with the data reversed. Usage: vsock_echo_srv.py PORT [CONNECTIONS]"""
import socket
import sys

port = int(sys.argv[1])
count = int(sys.argv[2]) if len(sys.argv) > 2 else 1
s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
s.bind((socket.VMADDR_CID_ANY, port))
s.listen()
print("listening", s.getsockname()[1], flush=True)
for _ in range(count):
    conn, (cid, rport) = s.accept()
    data = b""
    while not data.endswith(b"\n"):
        b = conn.recv(65536)
        if not b:
            break
        data += b
    lcid, lport = conn.getsockname()
    print(f"peer {cid} {rport} local {lcid} {lport} data {data!r}",
          flush=True)
    conn.sendall(data[::-1])
    conn.close()
s.close()
