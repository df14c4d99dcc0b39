#!/usr/bin/env python3
"""Write the seed corpora of tests/fuzz/corpus/<target>/: a handful of
small valid inputs per target, in the formats the targets' comments
describe. Run from anywhere; rewrites the same files each time."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
HDR = struct.Struct("<QQIIIHHIII")  # struct virtio_vsock_hdr, 44 bytes
REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE = 1, 2, 3, 4, 5, 6
STREAM, SEQPACKET = 1, 2


def hdr(op, typ=STREAM, src=2, dst=3, sport=5000, dport=1000, ln=0,
        flags=0, buf=65536, fwd=0):
    return HDR.pack(src, dst, sport, dport, ln, typ, op, flags, buf, fwd)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def dev_spec():
    for i, s in enumerate([
            "loopback",
            "loopback:cid=5,lcore=inline",
            "loopback:queue_size=64,rx_buf=1024,packed=1,event_idx=0",
            "loopback,packed=0,event_idx=1,lcore=auto",
            "vhost-user:path=/tmp/vsock.sock,cid=4,server=0,wait=5",
            "vhost-kernel:cid=5,queue_size=256",
            "pci:0000:00:04.0"]):
        write("dev_spec", "spec%d" % i, s.encode())


def vu_reply(req, payload):
    return struct.pack("<III", req, 0x5, len(payload)) + payload


def vhost_user_reply():
    feats = (1 << 32) | (1 << 34) | (1 << 29) | 0x7
    base = vu_reply(11, struct.pack("<II", 0, 0)) + \
        vu_reply(11, struct.pack("<II", 1, 0))
    # Protocol features with a config space: the CID from GET_CONFIG.
    write("vhost_user_reply", "config",
          b"\x00" + vu_reply(1, struct.pack("<Q", feats | 1 << 30)) +
          vu_reply(15, struct.pack("<Q", 1 << 9)) +
          vu_reply(24, struct.pack("<III", 0, 8, 0) +
                   struct.pack("<Q", 5)) + base)
    # No protocol features: the CID is cid=N (mode bit 0).
    write("vhost_user_reply", "plain",
          b"\x01" + vu_reply(1, struct.pack("<Q", feats)) + base)
    # Protocol features without config.
    write("vhost_user_reply", "noconfig",
          b"\x01" + vu_reply(1, struct.pack("<Q", feats | 1 << 30)) +
          vu_reply(15, struct.pack("<Q", 0)) + base)


def stack_input():
    # cfg, setup count, setup triples (what, a, b), then commands.
    listen = bytes([0, 0, 0])            # listener on 1000, stream
    accept = bytes([2, 0, 1])            # REQUEST to 1000: accepted
    connect = bytes([1, 0, 2])           # connect to 2:1000, answered
    def pkt(sel, h, pay=b""):
        return bytes([0, sel]) + h + struct.pack("<H", len(pay)) + pay
    poll = bytes([4])
    rw = hdr(RW, ln=10)
    write("stack_input", "request_rw",
          bytes([1, 2]) + listen + accept +
          pkt(0xb0, rw, b"0123456789") + poll)
    write("stack_input", "raw_request",
          bytes([1, 1]) + listen + pkt(0x00, hdr(REQUEST)) + poll +
          pkt(0x00, hdr(RW, ln=4), b"abcd") + poll)
    write("stack_input", "connect_shutdown",
          bytes([5, 3]) + connect + bytes([3, 0, 0]) + bytes([5, 0, 2]) +
          pkt(0xb0, hdr(CREDIT_UPDATE)) + poll +
          bytes([6, 4, 0, 0, 0]) + poll)
    write("stack_input", "seqpacket",
          bytes([1, 2]) + bytes([0, 8, 0]) + bytes([2, 8, 1]) +
          pkt(0xb0, hdr(RW, typ=SEQPACKET, ln=5, flags=1), b"hello") +
          poll + bytes([7]))


def rx_device():
    # cfg (bit 0 packed, 1 event_idx, 2-3 ring size, 4 notify_rx),
    # u16 rx buffer size selector, then commands.
    def rx(data):
        return bytes([0]) + struct.pack("<H", len(data)) + data
    poll, tx = bytes([4]), bytes([6, 1])
    req = hdr(REQUEST)
    rw = hdr(RW, ln=6) + b"abcdef"
    for cfg, name in ((0x00, "split"), (0x01, "packed"),
                      (0x03, "packed_event_idx"), (0x12, "split_event_idx")):
        write("rx_device", name,
              bytes([cfg]) + struct.pack("<H", 2000) + rx(req) + poll + tx +
              rx(rw) + poll + tx)
    write("rx_device", "seqpacket",
          bytes([0x04]) + struct.pack("<H", 200) +
          rx(hdr(REQUEST, typ=SEQPACKET, dport=1001)) + poll + tx +
          rx(hdr(RW, typ=SEQPACKET, dport=1001, ln=3, flags=1) + b"xyz") +
          poll + tx + bytes([8, 0, 0, 0, 0, 4]) + poll)
    # The device breaks (an rx used id out of range) and is recovered at
    # once; or its reset is not back yet, then time passes and it is.
    bad_id = bytes([3]) + struct.pack("<HIB", 0xffff, 0, 0)
    recover = lambda k: bytes([250, k])
    write("rx_device", "recovery",
          bytes([0x00]) + struct.pack("<H", 2000) + rx(req) + poll + tx +
          bad_id + poll + poll + rx(req) + poll + tx)
    write("rx_device", "recovery_not_back",
          bytes([0x01]) + struct.pack("<H", 2000) + rx(req) + poll + tx +
          recover(9) + bad_id + poll + recover(0) + poll + recover(1) +
          recover(0) + poll + rx(req) + poll + tx)


def vsockd_app():
    # cfg (bit 0: root, bit 1: requests in-process, not through the
    # socket), then commands (fuzz_vsockd_app.c): 0 request, 1 tx ring,
    # 2 rx ring, 3 doorbell/scribble, 4 peer packet, 5 round. Each seed
    # in-process; two through the socket too.
    DIRECT = 2
    HELLO, SOCKET, BIND, LISTEN, ACCEPT, CONNECT, SHUTDOWN_, CLOSE, \
        SETOPT = range(1, 10)
    ANY, LOCAL, HOST = 0, 1, 2          # CID selectors

    def req(op, slot=0, typ=STREAM, cid=ANY, port=0, arg=0, val=0):
        # how 0: a valid op, the struct's length, the fds it wants.
        return bytes([0, 0, op - 1, slot, typ, cid, port]) + \
            struct.pack("<HIB", arg, val, 0)

    def tx(k, data, rec=False):
        return bytes([1, 1 if rec else 0, k]) + \
            struct.pack("<H", len(data)) + data

    def rx(k):
        return bytes([2, 0, k])         # consume all there is

    def peer(k, op, flags=0, data=b""):
        # op: 0 RESPONSE, 1 RW, 3 SHUTDOWN, 4 RST, 5 CREDIT_UPDATE,
        # 7 REQUEST (to what slot k is bound to, from port 5001).
        b = bytes([4, op, k, flags])
        if op == 7:
            return b + bytes([1])
        if op == 1:
            return b + struct.pack("<H", len(data)) + data
        return b
    rnd, later, hang_up = bytes([5]), bytes([0x86]), bytes([0x87])
    hello = req(HELLO) + rnd
    stream_accept = hello + req(SOCKET) + req(BIND, port=0) + \
        req(LISTEN, arg=4) + rnd + peer(0, 7) + rnd + \
        req(ACCEPT, arg=1) + rnd + peer(1, 1, data=b"0123456789") + \
        rnd + rx(1) + rnd + tx(1, b"hello") + rnd + \
        req(SHUTDOWN_, slot=1, arg=2) + rnd + req(CLOSE, slot=1) + rnd + \
        req(CLOSE) + rnd
    write("vsockd_app", "stream_accept", bytes([1 | DIRECT]) + stream_accept)
    write("vsockd_app", "stream_accept_socket", bytes([1]) + stream_accept)
    write("vsockd_app", "seqpacket_connect",
          bytes([DIRECT]) + hello + req(SOCKET, slot=2, typ=SEQPACKET) +
          req(CONNECT, slot=2, cid=HOST, port=1, arg=1000) + rnd +
          peer(2, 0) + rnd + tx(2, b"abcd", rec=True) + rnd +
          peer(2, 1, flags=3, data=b"xyz") + rnd + rx(2) + rnd +
          req(SETOPT, slot=2, arg=1, val=100000) + rnd + later + hang_up)
    write("vsockd_app", "local_pair",
          bytes([DIRECT]) + hello + req(SOCKET) + req(BIND, port=2) +
          req(LISTEN, arg=1) + req(SOCKET, slot=1) +
          req(CONNECT, slot=1, cid=LOCAL, port=2) + rnd + rnd +
          req(ACCEPT, arg=2) + rnd + tx(1, b"over the local path") +
          rnd + rnd + rx(2) + rnd + req(CLOSE, slot=1, arg=1) + rnd +
          req(CLOSE, slot=2) + rnd)
    garbage = req(SOCKET) + hello + req(HELLO) + \
        bytes([3, 0, 9, 0, 0, 0]) + bytes([3, 1, 0xff, 0, 0, 0]) + \
        bytes([3, 3, 64, 0, 0, 0, 1, 2, 3, 4]) + rnd + \
        req(SOCKET, typ=3) + rnd
    write("vsockd_app", "garbage", bytes([DIRECT]) + garbage)
    write("vsockd_app", "garbage_socket", bytes([0]) + garbage)


if __name__ == "__main__":
    dev_spec()
    vhost_user_reply()
    stack_input()
    rx_device()
    vsockd_app()
