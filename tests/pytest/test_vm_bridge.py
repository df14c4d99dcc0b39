"""Linux as the guest: QEMU's vhost-user-vsock-pci served by our
vsock-bridge, the guest kernel's virtio-vsock driver on the other side;
every test once with Debian 12's Linux 6.1 and once with Debian 13's 6.12.
Where a device is concerned, 6.12 splits a tx packet over 32 KiB into a
header and page fragments (several descriptors) and resets a connection
whose queued skbs cost more than its buffer (the CVE-2026-23086 fix; it
collapses the queue first); both, as Debian ships them (6.1.192 and
6.12.117 when this was written), cap their tx credit to their own socket
buffer and never ask for credit: only our CREDIT_UPDATEs reopen their
window."""
import hashlib
import json
import os
import re
import socket
import textwrap
import threading
import time

import pytest

from conftest import (BRIDGE, EAL, ROOT, Background, echo_roundtrip,
                      uds_connect, wait_for_path)
from vmtools import booted, every_kernel, guest, prepare, script

pytestmark = pytest.mark.vm

GUEST_CID = 3
PEER = os.path.join(ROOT, "tests", "vm", "vsock_peer.py")


def start_bridge(procs, tmp_path, extra=(), vdv=False):
    """vsock-bridge for one guest, with --stats (and @extra options);
    returns it and the vhost-user and Unix socket paths. @vdv: the guest
    given as vhost-device-vsock's README gives it (--vm)."""
    vsock = str(tmp_path / "vhost.sock")
    uds = str(tmp_path / "v.sock")
    guest_args = (["--vm", f"guest-cid={GUEST_CID},uds-path={uds},"
                   f"socket={vsock}"] if vdv else
                  ["--socket", vsock, "--uds", uds, "--guest-cid",
                   str(GUEST_CID)])
    br = Background([BRIDGE] + EAL + ["--single-file-segments", "--"] +
                    guest_args + ["--stats"] + list(extra), "vsock-bridge")
    procs.append(br)
    wait_for_path(vsock, br)
    return br, vsock, uds


def boot(kernel, tmp_path, body, vsock, timeout=400, vdv=False):
    """Boot a @kernel guest on the bridge's device in a thread, running
    @body; returns the thread and the dict its result lands in ("r").
    @vdv: the chardev as vhost-device-vsock's README spells it."""
    res = {}
    chardev = (f"socket,id=char0,reconnect=0,path={vsock}" if vdv else
               f"socket,id=char0,path={vsock}")

    def run():
        res["r"] = guest.run(
            script(tmp_path, body), timeout=timeout, memfd=True,
            kernel=kernel,
            qemu_args=["-chardev", chardev,
                       "-device", "vhost-user-vsock-pci,chardev=char0"])

    t = threading.Thread(target=run)
    t.start()
    return t, res


def finish(t, res, br, kernel, join=420):
    """Wait for the guest, stop the bridge, print both (the bridge's last
    --stats lines hold its counters); returns the guest's result."""
    t.join(join)
    assert "r" in res, f"the guest did not finish within {join}s"
    r = res["r"]
    print(r.console[-5000:])
    assert br.alive(), f"vsock-bridge died:\n{br.out[-3000:]}{br.err}"
    br.stop()
    print(br.out[-3000:], br.err[-2000:])
    booted(r.console, kernel)
    return r


def peer_results(console):
    return [json.loads(m) for m in
            re.findall(r"PEER-RESULT (\{.*\})", console)]


def bridge_final(br):
    """The bridge's last --stats line, as numbers: host->guest (tx) and
    guest->host (rx) packets and bytes."""
    m = re.findall(r"guest->host (\d+) pkts (\d+) B, host->guest (\d+) "
                   r"pkts (\d+) B", br.out)
    assert m, f"no --stats line from the bridge:\n{br.out[-2000:]}"
    rx_pkts, rx_bytes, tx_pkts, tx_bytes = map(int, m[-1])
    return {"rx_pkts": rx_pkts, "rx_bytes": rx_bytes,
            "tx_pkts": tx_pkts, "tx_bytes": tx_bytes}


def stack_final(br):
    """The bridge's last 'stack:' statistics line, name -> number."""
    m = re.findall(r"^  stack: (.*)$", br.out, re.M)
    assert m, f"no stack line from the bridge:\n{br.out[-2000:]}"
    return {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", m[-1])}


@every_kernel
def test_linux_guest_through_our_bridge(procs, tmp_path, kernel):
    """ncat, socat and Python both ways. The 6.12 guest's bridge is given
    in vhost-device-vsock's form, with its README's QEMU line: a script
    written for it runs unchanged."""
    prepare(kernel)
    vdv = kernel == "trixie"
    br, vsock, uds = start_bridge(procs, tmp_path, vdv=vdv)
    # Host program the guest reaches as CID 2 port 7000.
    echo = Background(["socat", f"UNIX-LISTEN:{uds}_7000,fork,backlog=64",
                       "EXEC:cat"], "socat")
    procs.append(echo)
    body = textwrap.dedent(f"""
        set -u
        echo KERNEL $(uname -r)
        modprobe vmw_vsock_virtio_transport || exit 90
        echo NCAT-OUT $(echo hello-from-guest | ncat --vsock 2 7000)
        head -c 3000000 /dev/urandom > /tmp/blob
        echo BLOB-SHA $(sha256sum < /tmp/blob | cut -c1-64)
        echo BACK-SHA $(ncat --vsock 2 7000 < /tmp/blob | sha256sum | \\
            cut -c1-64)
        # Listeners the host reaches with CONNECT: ncat, and a Python
        # echo server for the bulk check (its 64 KiB packets are the ones
        # 6.12 splits over several descriptors).
        timeout 200 ncat --vsock -l 5000 > /tmp/from-host &
        N=$!
        timeout 200 python3 {PEER} serve --port 5001 --conns 1 &
        P=$!
        echo GUEST-LISTENING
        wait $N
        echo "NCAT-GOT $(cat /tmp/from-host)"
        wait $P
        echo "SERVE-RC $?"
    """)
    t, res = boot(kernel, tmp_path, body, vsock, vdv=vdv)
    s, _ = uds_connect(uds, 5000, timeout=300)   # the guest boots first
    s.sendall(b"hello-from-host\n")
    s.close()
    data = os.urandom(int(os.environ.get("VMB_BYTES", 8 << 20)))
    got = echo_roundtrip(uds, data, 5001, timeout=60)
    r = finish(t, res, br, kernel)
    assert r.rc == 0, r.console[-4000:]
    assert "NCAT-GOT hello-from-host" in r.console   # host -> guest ncat
    assert got == data       # host -> guest Python echo -> host
    assert "NCAT-OUT hello-from-guest" in r.console    # guest -> host socat
    blob = [l.split()[-1] for l in r.console.splitlines()
            if "BLOB-SHA" in l or "BACK-SHA" in l]
    assert len(blob) == 2 and blob[0] == blob[1], blob


SMALL_BUF = 32 << 10     # a guest socket buffer below a quarter of ours
BIG_BUF = 4 << 20        # our buffer: a quarter is 4x Linux's default
ONE_WAY = 2 << 20


def one_way(procs, tmp_path, kernel, senders, bridge_args=()):
    """Guest -> host only, nothing coming back to carry our fwd_cnt: each
    of @senders (port, guest socket buffer or 0 for Linux's default)
    sends ONE_WAY bytes to a socat on the host; checks every byte."""
    prepare(kernel)
    br, vsock, uds = start_bridge(procs, tmp_path, bridge_args)
    sinks, lines = {}, []
    for port, bufsize in senders:
        sinks[port] = (tmp_path / f"got{port}", bufsize)
        procs.append(Background(["socat", "-u", f"UNIX-LISTEN:{uds}_{port}",
                                 f"CREATE:{sinks[port][0]}"], "socat"))
        lines.append(f"timeout 100 python3 {PEER} send --cid 2 --port "
                     f"{port} --bytes {ONE_WAY} --bufsize {bufsize}")
    body = textwrap.dedent("""
        set -u
        echo KERNEL $(uname -r)
        modprobe vmw_vsock_virtio_transport || exit 90
    """) + "\n".join(lines) + "\ntrue\n"
    t, res = boot(kernel, tmp_path, body, vsock, timeout=300)
    r = finish(t, res, br, kernel, join=320)
    assert r.rc == 0, r.console[-4000:]
    st = bridge_final(br)
    print("bridge counters:", st)
    peers = peer_results(r.console)
    assert len(peers) == len(senders), r.console[-3000:]
    for (port, (out, bufsize)), p in zip(sinks.items(), peers):
        got = out.read_bytes() if out.exists() else b""
        what = (f"port {port} (guest socket buffer {bufsize or 'default'}, "
                f"bridge {' '.join(bridge_args) or 'defaults'}): the guest "
                f"sent {p['sent']} of {p['bytes']} B ({p['error']}), the "
                f"host got {len(got)} B; bridge {st}")
        assert p["ok"], what
        assert len(got) == ONE_WAY, what
        assert hashlib.sha256(got).hexdigest() == p["sha256"], what


@every_kernel
def test_one_way_from_a_guest_socket_with_a_small_buffer(procs, tmp_path,
                                                         kernel):
    """From a socket with Linux's default 256 KiB buffer, then from one
    set to 32 KiB (SO_VM_SOCKETS_BUFFER_SIZE). The guest never has more
    than its own buffer in flight, whatever we advertise, so it moves
    only on our CREDIT_UPDATEs: they must come before we have consumed
    more than that."""
    one_way(procs, tmp_path, kernel, [(7001, 0), (7002, SMALL_BUF)])


@every_kernel
def test_one_way_to_a_bridge_with_a_large_buffer(procs, tmp_path, kernel):
    """The same from Linux's default socket to a bridge offering 4 MiB
    (--tx-buffer-size): the guest still sends at most its own 256 KiB
    before it waits for our CREDIT_UPDATE."""
    one_way(procs, tmp_path, kernel, [(7003, 0)],
            ["--tx-buffer-size", str(BIG_BUF)])


# (bytes a write, writes): 1-byte sends and the Linux fix's own
# reproducer's (iperf3 --vsock -l 129, just above the 128 B that Linux
# copies into its last skb), then 300 B writes.
FLOODS = [(1, 5000), (129, 5000), (300, 2000)]
FLOOD_PORT = 5002
# Linux 6.12's second receive limit (the CVE-2026-23086 fix, 6.12.94):
# a connection is reset once (queued skbs + 1) * SKB_TRUESIZE(0) exceeds
# its buf_alloc, whatever the bytes: 256 KiB / 576 B on x86_64.
LINUX_SKB_TRUESIZE = 576
LINUX_BUF_ALLOC = 256 << 10
LINUX_MAX_SKBS = LINUX_BUF_ALLOC // LINUX_SKB_TRUESIZE     # 455
# The stack's default bound on packets the peer has not read.
MAX_PKTS_IN_FLIGHT = 64


def flood(uds, port, size, count):
    """@count writes of @size bytes to the guest's @port, each paced so
    that the bridge reads and sends it on its own; returns their
    SHA-256."""
    s, _ = uds_connect(uds, port, timeout=250)
    sent = hashlib.sha256()
    msg = os.urandom(size)
    t0, writes = time.monotonic(), 0
    try:
        for i in range(count):
            chunk = bytes([i & 0xff]) + msg[1:]
            s.sendall(chunk)
            sent.update(chunk)
            writes += 1
            time.sleep(0.001)
        s.shutdown(socket.SHUT_WR)
        s.recv(1)            # the guest's close
    except OSError as e:
        print(f"host writer: {e}")
    s.close()
    print(f"host wrote {writes} x {size} B in "
          f"{time.monotonic() - t0:.1f}s")
    return sent.hexdigest()


def test_small_send_floods_to_a_slow_612_guest(procs, tmp_path):
    """Host -> a Linux 6.12 guest that leaves each connection unread for
    5 s, in writes of 1, 129 and 300 bytes, each its own packet while the
    guest has credit (one connection a size, one after the other): byte
    credit alone would let thousands of such packets queue in the guest.
    6.12 resets a connection at 455 queued skbs (256 KiB / 576 B); the
    stack stops at 64 packets unread (max_pkts_in_flight), then merges
    what queues behind into one packet per credit_request_ms (pkt_grace),
    so the guest never holds more than 64 + pkt_grace packets of ours.
    Every byte must arrive in order (a reset, 6.12's ENOBUFS, would end
    the guest's reads early), and the wait for the reader must stay
    quiet: what the guest sends back is its credit news, about one
    packet per data packet at most, not a storm."""
    kernel = "trixie"
    prepare(kernel)
    br, vsock, uds = start_bridge(procs, tmp_path)
    sinks = "\n".join(
        f"timeout 200 python3 {PEER} sink --port {FLOOD_PORT + i} --delay 5"
        for i in range(len(FLOODS)))
    body = textwrap.dedent("""
        set -u
        echo KERNEL $(uname -r)
        modprobe vmw_vsock_virtio_transport || exit 90
    """) + sinks + "\ntrue\n"
    t, res = boot(kernel, tmp_path, body, vsock, timeout=400)
    digests = [flood(uds, FLOOD_PORT + i, size, count)
               for i, (size, count) in enumerate(FLOODS)]
    r = finish(t, res, br, kernel, join=420)
    assert r.rc == 0, r.console[-4000:]
    st = bridge_final(br)
    stack = stack_final(br)
    print("bridge counters:", st, "stack:", stack)
    peers = peer_results(r.console)
    assert len(peers) == len(FLOODS), r.console[-3000:]
    for p, (size, count), digest in zip(peers, FLOODS, digests):
        what = f"{size} B x {count}: guest {p}; bridge {st} {stack}"
        assert p["ok"], what
        assert p["received"] == size * count, what
        assert p["sha256"] == digest, what
    sends = sum(count for _, count in FLOODS)
    assert st["rx_pkts"] <= 2 * sends, \
        f"{st['rx_pkts']} packets from the guest, {sends} sends: {st}"
    # pkt_grace over all three connections: a bound for each.
    held = MAX_PKTS_IN_FLIGHT + stack["pkt_grace"]
    print(f"at most {held} packets unread in the guest; 6.12 resets at "
          f"{LINUX_MAX_SKBS}")
    assert stack["pkt_stalls"] > 0, f"the packet bound never engaged: {stack}"
    assert stack["coalesced"] > 0, f"nothing merged: {stack}"
    assert held < LINUX_MAX_SKBS, stack
