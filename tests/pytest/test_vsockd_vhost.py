"""vsockd as the host of guests (--h2g: lib/vsock_vhost back-ends on its
stack) and, in another process, a "guest" vsockd whose --dev is the
driver over vhost-user on that back-end's socket; no QEMU. Unmodified
ncat and socat under the preload (and vsock-guard) on both sides: the
host's programs reach the guest at its CID, the guest's reach the host
at CID 2, as with Linux's vhost-vsock."""
import os
import subprocess
import time

import pytest

from conftest import ROOT, wait_for_path
from test_telemetry import page_conns, socket_path, unique_prefix
from test_vsockd import (EAL, PYTHON, VSOCKD, Proc, Vsockd, pre_proc,
                         random_file, run_pre, sha_file, wait_listener)

GUEST_CID = 33
QUIET = ["--log-level=lib.vhost.config:warning"]
# One core each: the two daemons poll, they must not share one.
HOST_EAL = ["-l", "0", "--in-memory", "--no-pci",
            "--log-level=lib.eal:warning"] + QUIET
GUEST_EAL = ["-l", "1", "--in-memory", "--no-pci", "--single-file-segments",
             "--log-level=lib.eal:warning"] + QUIET


class Host(Vsockd):
    """vsockd with --h2g only: a pure host, no --dev."""

    def __init__(self, procs, tmp, h2g, name="host"):
        self.prefix = unique_prefix(name)
        self.sock = os.path.join(tmp, f"{name}.sock")
        self.p = Proc(procs, [VSOCKD] + HOST_EAL + [
            "--file-prefix", self.prefix, "--", "--socket", self.sock] +
            [a for h in h2g for a in ("--h2g", h)], name, tmp)
        wait_for_path(self.sock, self.p)
        wait_for_path(socket_path(self.prefix), self.p)

    def h2g(self):
        (page,) = self.tel("/vsockd/h2g")
        assert "error" not in page, page
        return [page[k] for k in sorted(page, key=int)]


@pytest.fixture
def tmp(tmp_path):
    return str(tmp_path)


def serving(d, timeout=30):
    """Until @d's loop runs (its control socket comes before its devices);
    the guest's CID must be the one the host's back-end gave it."""
    end = time.monotonic() + timeout
    while "serving on" not in d.p.err:
        assert d.p.alive() and time.monotonic() < end, d.p.err
        time.sleep(0.05)
    assert f"(CID {GUEST_CID})" in d.p.err, d.p.err


@pytest.fixture
def pair(procs, tmp):
    """(host, guest): the guest's device is the host's --h2g socket."""
    vhost = os.path.join(tmp, "vm33.sock")
    host = Host(procs, tmp, [f"{vhost},cid={GUEST_CID}"])
    guest = Vsockd(procs, tmp, dev=f"vhost-user:path={vhost}",
                   sock=os.path.join(tmp, "guest.sock"), eal=GUEST_EAL,
                   name="guest")
    serving(guest)
    yield host, guest
    if guest.p.alive():
        guest.stop()
    if host.p.alive():
        host.stop()
    assert not os.path.exists(vhost), "--h2g socket left behind"


def conn_to(d, **want):
    """The connected sockets of daemon @d whose fields match @want."""
    (page,) = d.tel("/vsockd/sockets")
    return [s for s in page_conns(page) if s["state"] == "connected" and
            all(s[k] == v for k, v in want.items())]


def say(src, dst, line, got):
    """Type @line at ncat @src; it must come out of ncat @dst."""
    src.proc.stdin.write(line.encode() + b"\n")
    src.proc.stdin.flush()
    dst.wait_line("^" + line + "$")
    got.setdefault(dst.name, []).append(line)


def chat(listener, connector, tag, got):
    """Lines typed at each end arrive at the other, in turns, each end
    printing exactly what the other typed; then the connecting side's EOF
    ends both ncats with 0."""
    for i in range(5):
        say(connector, listener, f"{tag}-c-{i}-{os.urandom(4).hex()}", got)
        say(listener, connector, f"{tag}-l-{i}-{os.urandom(4).hex()}", got)
    connector.proc.stdin.close()
    assert connector.wait(30) == 0, connector.err
    assert listener.wait(30) == 0, listener.err
    listener.proc.stdin.close()
    for p in (connector, listener):
        assert p.out.splitlines() == got[p.name], p.name


def test_ncat_guest_listens_host_connects(procs, tmp, pair):
    host, guest = pair
    lis = pre_proc(procs, tmp, ["ncat", "--vsock", "-l", "1234"],
                   guest.sock, "ncat-guest", stdin=subprocess.PIPE)
    wait_listener(guest, 1234, lis)
    con = pre_proc(procs, tmp, ["ncat", "--vsock", str(GUEST_CID), "1234"],
                   host.sock, "ncat-host", stdin=subprocess.PIPE)
    # The first line proves the connection; then both daemons show it.
    got = {}
    say(con, lis, "hello-guest", got)
    assert conn_to(host, remote_cid=GUEST_CID, remote_port=1234,
                   local_cid=2), host.tel("/vsockd/sockets")
    assert conn_to(guest, local_cid=GUEST_CID, local_port=1234,
                   remote_cid=2), guest.tel("/vsockd/sockets")
    say(lis, con, "hello-host", got)
    chat(lis, con, "g-listens", got)
    # A CID no --h2g serves: ENODEV, as Linux's vhost-vsock answers.
    r = run_pre(["ncat", "--vsock", str(GUEST_CID + 1), "1234"], host.sock,
                stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and b"No such device" in r.stderr, r.stderr
    (be,) = host.h2g()
    assert be["cid"] == GUEST_CID and be["running"] == 1, be
    assert be["resets"] == 0, be
    assert be["rx_pkts"] > 0 and be["tx_pkts"] > 0, be
    assert all(v == 0 for k, v in be.items() if k.startswith("bad_")), be


def test_ncat_host_listens_guest_connects(procs, tmp, pair):
    host, guest = pair
    lis = pre_proc(procs, tmp, ["ncat", "--vsock", "-l", "1234"],
                   host.sock, "ncat-host", stdin=subprocess.PIPE)
    wait_listener(host, 1234, lis)
    con = pre_proc(procs, tmp, ["ncat", "--vsock", "2", "1234"],
                   guest.sock, "ncat-guest", stdin=subprocess.PIPE)
    got = {}
    say(con, lis, "hello-host", got)
    assert conn_to(host, local_cid=2, local_port=1234,
                   remote_cid=GUEST_CID), host.tel("/vsockd/sockets")
    assert conn_to(guest, local_cid=GUEST_CID, remote_cid=2,
                   remote_port=1234), guest.tel("/vsockd/sockets")
    say(lis, con, "hello-guest", got)
    chat(lis, con, "h-listens", got)


SOCAT_BYTES = 6 << 20


def socat_both_ways(procs, tmp, lis_d, con_d, cid, tag):
    """A socat listener on @lis_d, a socat on @con_d connecting to
    @cid: SOCAT_BYTES each way at once, SHA-256 checked."""
    a, b = os.path.join(tmp, f"{tag}-a"), os.path.join(tmp, f"{tag}-b")
    sa, sb = random_file(a, SOCAT_BYTES), random_file(b, SOCAT_BYTES)
    ga, gb = a + ".got", b + ".got"
    srv = pre_proc(procs, tmp, ["socat", "-t", "30", "VSOCK-LISTEN:1235",
                                f"OPEN:{a}!!CREATE:{gb}"], lis_d.sock,
                   f"socat-{tag}")
    wait_listener(lis_d, 1235, srv)
    r = run_pre(["socat", "-t", "30", f"VSOCK-CONNECT:{cid}:1235",
                 f"OPEN:{b}!!CREATE:{ga}"], con_d.sock, timeout=120)
    assert r.returncode == 0, r.stderr
    assert srv.wait(60) == 0, srv.err
    assert sha_file(ga) == sa, f"{tag}: listener -> connector differs"
    assert sha_file(gb) == sb, f"{tag}: connector -> listener differs"


def test_socat_both_ways(procs, tmp, pair):
    host, guest = pair
    socat_both_ways(procs, tmp, guest, host, GUEST_CID, "guest-listens")
    socat_both_ways(procs, tmp, host, guest, 2, "host-listens")
    (be,) = host.h2g()
    # Four transfers crossed the back-end: two each way.
    assert be["rx_bytes"] >= 2 * SOCAT_BYTES, be
    assert be["tx_bytes"] >= 2 * SOCAT_BYTES, be
    assert all(v == 0 for k, v in be.items() if k.startswith("bad_")), be


def test_guest_comes_and_goes(procs, tmp, pair):
    """The guest daemon exits and another takes its place: the host
    serves it again, with the same CID, and its counters show it."""
    host, guest = pair
    guest.stop()
    again = Vsockd(procs, tmp, dev=f"vhost-user:path={tmp}/vm33.sock",
                   sock=os.path.join(tmp, "guest2.sock"), eal=GUEST_EAL,
                   name="guest2")
    serving(again)
    lis = pre_proc(procs, tmp, ["ncat", "--vsock", "-l", "--recv-only",
                                "1234"], again.sock, "ncat-guest2")
    wait_listener(again, 1234, lis)
    r = run_pre(["ncat", "--vsock", "--send-only", str(GUEST_CID), "1234"],
                host.sock, input=b"again\n")
    assert r.returncode == 0, r.stderr
    assert lis.wait(30) == 0, lis.err
    assert lis.out == "again\n"
    (be,) = host.h2g()
    # The first guest's session started none; the second one's did.
    assert be["running"] == 1 and be["resets"] == 1, be
    again.stop()


BIND = """
import errno, socket, sys
for cid in map(int, sys.argv[1:]):
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    try:
        s.bind((cid, 5000))
        print(cid, "ok", s.getsockname()[0])
    except OSError as e:
        print(cid, errno.errorcode[e.errno])
    s.close()
"""


def test_bind_to_own_cids(pair):
    """The host binds CID 2 (it is the host of its guests), not the
    guest's CID; the guest binds its CID 33, not 2."""
    host, guest = pair
    want = {host: f"2 ok 2\n{GUEST_CID} EADDRNOTAVAIL\n",
            guest: f"2 EADDRNOTAVAIL\n{GUEST_CID} ok {GUEST_CID}\n"}
    for d, out in want.items():
        r = run_pre([PYTHON, "-c", BIND, "2", str(GUEST_CID)], d.sock)
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode() == out, (d.p.name, r.stdout)


# ---- options -----------------------------------------------------------

def run_vsockd(args, timeout=30):
    return subprocess.run([VSOCKD] + EAL + ["--"] + args,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args,bad,why", [
    (["--h2g", "/tmp/v.sock"], "'/tmp/v.sock'", "cid= is required"),
    (["--h2g", "/tmp/v.sock,cid=2"], "'/tmp/v.sock,cid=2'", "3..4294967294"),
    (["--h2g", "/tmp/v.sock,cid=4294967295"], "cid=4294967295'",
     "3..4294967294"),
    (["--h2g", "/tmp/v.sock,cid=x"], "cid=x'", "3..4294967294"),
    (["--h2g", "/tmp/v.sock,cid=5,mode=1"], "mode=1'", "unknown key"),
    (["--h2g", "cid=5"], "'cid=5'", "socket path first"),
    (["--h2g", ",cid=5"], "',cid=5'", "socket path first"),
    (["--h2g", "/tmp/" + "x" * 110 + ",cid=5"], "xxx,cid=5'",
     "over 107 bytes"),
    (["--h2g", "/tmp/a,cid=5", "--h2g", "/tmp/b,cid=5"], "'/tmp/b,cid=5'",
     "CID given twice"),
    (["--h2g", "/tmp/a,cid=5", "--h2g", "/tmp/a,cid=6"], "'/tmp/a,cid=6'",
     "path given twice"),
    (["--h2g", "/tmp/a,cid=3", "--h2g", "/tmp/b,cid=4", "--h2g",
      "/tmp/c,cid=5", "--h2g", "/tmp/d,cid=6", "--h2g", "/tmp/e,cid=7"],
     "'/tmp/e,cid=7'", "at most 4 guests"),
    (["--h2g", "/tmp/a,cid=5", "--mbuf-size", "4096"], "'4096'",
     "at least 8198"),
    (["--dev", "loopback"] * 7 + ["--h2g", "/tmp/a,cid=5", "--h2g",
                                  "/tmp/b,cid=6"], "'/tmp/b'",
     "at most 8 ports together"),
    ([], "--dev", "at least one --dev or --h2g"),
])
def test_bad_h2g_options(args, bad, why):
    r = run_vsockd(args)
    assert r.returncode == 2, r.stderr
    assert bad in r.stderr and why in r.stderr, r.stderr


def test_help_lists_h2g():
    r = run_vsockd(["--help"])
    assert r.returncode == 0
    assert "--h2g PATH,cid=N[,client=1]" in r.stdout
    assert "/vsockd/h2g" in r.stdout


def test_h2g_socket_held_by_another_host(procs, tmp):
    """A second host on the same --h2g socket fails at start-up naming
    it; the first keeps serving and removes it on exit."""
    vhost = os.path.join(tmp, "held.sock")
    first = Host(procs, tmp, [f"{vhost},cid=40"], name="first")
    r = subprocess.run([VSOCKD] + HOST_EAL[:1] + ["1"] + HOST_EAL[2:] +
                       ["--file-prefix", unique_prefix("second"), "--",
                        "--socket", os.path.join(tmp, "second.sock"),
                        "--h2g", f"{vhost},cid=41"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert f"--h2g {vhost},cid=41: another process listens" in r.stderr, \
        r.stderr
    assert first.p.alive() and os.path.exists(vhost)
    first.stop()
    assert not os.path.exists(vhost)


QGA_CLIENT = os.path.join(ROOT, "tests", "vm", "qga_client.py")


def test_qemu_ga_reached_through_the_host_vsockd(procs, tmp, pair):
    """qemu-ga under the preload on the guest's vsockd; the host's side of
    qemu-ga (guest-ping, guest-info, guest-get-time, every answer checked)
    under the preload on the host's vsockd, by AF_VSOCK to CID 33."""
    host, guest = pair
    qga = pre_proc(procs, tmp, ["qemu-ga", "--method=vsock-listen",
                                f"--path={GUEST_CID}:4444",
                                "--statedir", tmp,
                                "--pidfile", os.path.join(tmp, "qga.pid")],
                   guest.sock, "qga")
    wait_listener(guest, 4444, qga)
    for _ in range(2):
        r = run_pre([PYTHON, QGA_CLIENT, "--vsock", f"{GUEST_CID}:4444"],
                    host.sock)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.decode().splitlines()
        assert lines[0] == "guest-ping {}", lines
        assert lines[1].startswith("guest-info version "), lines
        assert lines[2].startswith("guest-get-time "), lines
    assert qga.alive(), qga.err
    assert qga.stop() == 0, qga.err[-3000:]
