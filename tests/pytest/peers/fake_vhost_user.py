#!/usr/bin/python3
"""A scripted vhost-user back-end for protocol tests.

It listens on (or connects to) a Unix socket, answers the requests a
front-end must send, records every message (request, size, fds) as JSON
lines on stdout, and can misbehave on purpose:

  --garbage REQ   answer request number REQ with random bytes
  --silent REQ    never answer request REQ
  --close REQ     close the connection on request REQ
  --linger S      once both rings are enabled, stay S seconds, then go
                  (a back-end that crashes)
"""
import argparse
import json
import os
import socket
import struct
import sys
import time

HDR = struct.Struct("<III")
REPLY = 0x4
VERSION = 0x1
GET_FEATURES, GET_PROTOCOL_FEATURES, GET_CONFIG, GET_VRING_BASE = 1, 15, 24, 11
NAMES = {1: "GET_FEATURES", 2: "SET_FEATURES", 3: "SET_OWNER",
         5: "SET_MEM_TABLE", 8: "SET_VRING_NUM", 9: "SET_VRING_ADDR",
         10: "SET_VRING_BASE", 11: "GET_VRING_BASE", 12: "SET_VRING_KICK",
         13: "SET_VRING_CALL", 15: "GET_PROTOCOL_FEATURES",
         16: "SET_PROTOCOL_FEATURES", 18: "SET_VRING_ENABLE",
         24: "GET_CONFIG"}


def recv_msg(conn):
    fds = []
    data, anc, _, _ = conn.recvmsg(HDR.size, socket.CMSG_SPACE(4 * 8))
    if not data:
        return None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += list(struct.unpack("%di" % (len(payload) // 4),
                                      payload[:len(payload) // 4 * 4]))
    req, flags, size = HDR.unpack(data)
    body = b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            return None
        body += chunk
    for fd in fds:
        os.close(fd)
    return req, flags, body, len(fds)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path")
    ap.add_argument("--client", action="store_true",
                    help="connect to PATH instead of listening on it")
    ap.add_argument("--cid", type=int, default=7)
    ap.add_argument("--features", type=lambda v: int(v, 0),
                    default=(1 << 32) | (1 << 30) | 3)
    ap.add_argument("--protocol", type=lambda v: int(v, 0), default=1 << 9)
    ap.add_argument("--garbage", type=int, default=-1)
    ap.add_argument("--silent", type=int, default=-1)
    ap.add_argument("--close", type=int, default=-1)
    ap.add_argument("--linger", type=float, default=-1)
    a = ap.parse_args()

    if a.client:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(a.path)
    else:
        if os.path.exists(a.path):
            os.unlink(a.path)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(a.path)
        srv.listen(1)
        print(json.dumps({"listening": a.path}), flush=True)
        conn, _ = srv.accept()
    while True:
        m = recv_msg(conn)
        if m is None:
            break
        req, flags, body, nfds = m
        print(json.dumps({"req": NAMES.get(req, req), "size": len(body),
                          "fds": nfds, "body": body.hex()}), flush=True)
        if req == a.close:
            break
        if a.linger >= 0 and NAMES.get(req) == "SET_VRING_ENABLE" and \
                body[:4] == struct.pack("<I", 1):
            time.sleep(a.linger)
            break
        if req == a.silent:
            continue
        if req == a.garbage:
            conn.sendall(os.urandom(64))
            continue
        reply = None
        if req == GET_FEATURES:
            reply = struct.pack("<Q", a.features)
        elif req == GET_PROTOCOL_FEATURES:
            reply = struct.pack("<Q", a.protocol)
        elif req == GET_CONFIG:
            off, size, fl = struct.unpack("<III", body[:12])
            cfg = struct.pack("<Q", a.cid) + bytes(256)
            reply = struct.pack("<III", off, size, fl) + cfg[off:off + size]
        elif req == GET_VRING_BASE:
            reply = body[:8]
        if reply is not None:
            conn.sendall(HDR.pack(req, VERSION | REPLY, len(reply)) + reply)
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
