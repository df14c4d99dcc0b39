"""The socket layer: vsockd and unmodified programs under
libvsock-preload.so (Python, ncat, socat, vsl-calls).

Every program that gets LD_PRELOAD runs under vsock-guard (see
preloaded()): the kernel's AF_VSOCK is refused there (seccomp) and
/dev/vsock is /dev/null, so a call the preload let through to the kernel
fails the test instead of reaching this machine's vsock device."""
import errno
import hashlib
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import BRIDGE, BUILD, ROOT, uds_connect, wait_for_path
from test_telemetry import (page_conns, runtime_dir, socket_path,
                            telemetry_py, unique_prefix)

VSOCKD = os.path.join(BUILD, "apps", "vsockd")
GUARD = os.path.join(BUILD, "tests", "guard", "vsock-guard")
PRELOAD = os.path.join(BUILD, "lib", "libvsock", "libvsock-preload.so")
VSL_CALLS = os.path.join(BUILD, "tests", "preload", "vsl-calls")
PEERS = os.path.join(ROOT, "tests", "pytest", "peers")
PYTHON = "/usr/bin/python3"
EAL = ["-l", "0-1", "--in-memory", "--no-pci",
       "--log-level=lib.eal:warning"]
LOOP_CID = 3          # the loopback device's default CID
SANITIZER = re.compile(r"Sanitizer|runtime error:|LeakSanitizer")


def peer(name):
    return os.path.join(PEERS, name)


def sanitizer_runtimes(lib):
    """The ASan/UBSan runtimes @lib links (a sanitizer build): they must
    come first in LD_PRELOAD, before the preload itself."""
    out = subprocess.run(["ldd", lib], capture_output=True, text=True,
                         check=True).stdout
    return [m.group(1) for m in re.finditer(
        r"lib(?:asan|ubsan)\.so\S* => (\S+)", out)]


PRELOAD_LIST = ":".join(sanitizer_runtimes(PRELOAD) + [PRELOAD]) \
    if os.path.exists(PRELOAD) else PRELOAD


def preloaded(cmd, sock, user=None):
    """@cmd under vsock-guard with the preload: (argv, env). In a
    sanitizer build the runtimes go first, and leak checks are off for
    the program (they would report the interpreter's own, not ours)."""
    env = dict(os.environ, LD_PRELOAD=PRELOAD_LIST, VSOCKD_SOCKET=sock)
    if PRELOAD_LIST != PRELOAD:
        env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
    guard = [GUARD] + (["--user", user] if user else []) + ["--"]
    return guard + list(cmd), env


def run_pre(cmd, sock, timeout=60, user=None, **kw):
    argv, env = preloaded(cmd, sock, user)
    return subprocess.run(argv, env=env, capture_output=True,
                          timeout=timeout, **kw)


class Proc:
    """A process the test started, its output in files (never a pipe
    that could fill up and stall it); tracked by pid in procs."""

    def __init__(self, procs, cmd, name, dirpath, env=None, stdin=None):
        self.name, self.cmd = name, cmd
        self.outp = os.path.join(dirpath, f"{name}.out")
        self.errp = os.path.join(dirpath, f"{name}.err")
        with open(self.outp, "wb") as o, open(self.errp, "wb") as e:
            self.proc = subprocess.Popen(
                cmd, stdout=o, stderr=e, env=env,
                stdin=stdin if stdin is not None else subprocess.DEVNULL)
        procs.append(self)

    @property
    def out(self):
        with open(self.outp, errors="replace") as f:
            return f.read()

    @property
    def err(self):
        with open(self.errp, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout=60):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"{self.name} did not finish in {timeout}s:\n"
                        f"{self.out}\n{self.err}")

    def stop(self, sig=signal.SIGINT, timeout=30):
        if self.alive():
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait_line(self, pattern, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.out, re.M)
            if m:
                return m
            if not self.alive():
                pytest.fail(f"{self.name} exited ({self.proc.returncode})"
                            f" before '{pattern}':\n{self.out}\n{self.err}")
            time.sleep(0.05)
        pytest.fail(f"{self.name}: no '{pattern}' in {timeout}s:\n"
                    f"{self.out}\n{self.err}")


def pre_proc(procs, tmp, cmd, sock, name, user=None, stdin=None):
    argv, env = preloaded(cmd, sock, user)
    return Proc(procs, argv, name, tmp, env=env, stdin=stdin)


class Vsockd:
    def __init__(self, procs, tmp, dev="loopback", extra=(), sock=None,
                 eal=EAL, name="vsockd"):
        self.prefix = unique_prefix("vsockd")
        self.sock = sock or os.path.join(tmp, "vsockd.sock")
        self.p = Proc(procs, [VSOCKD] + eal + ["--file-prefix",
                                               self.prefix, "--",
                                               "--dev", dev, "--socket",
                                               self.sock] + list(extra),
                      name, tmp)
        wait_for_path(self.sock, self.p)
        wait_for_path(socket_path(self.prefix), self.p)

    def tel(self, *cmds):
        return telemetry_py(self.prefix, list(cmds))

    def stats(self):
        (st,) = self.tel("/vsockd/stats")
        assert "error" not in st, st
        return st

    def apps(self):
        (page,) = self.tel("/vsockd/apps")
        return page_conns(page)

    def stop(self):
        """SIGINT: exits 0, no sanitizer report, the socket removed."""
        assert self.p.alive(), f"vsockd died:\n{self.p.out}\n{self.p.err}"
        rc = self.p.stop()
        err = self.p.err
        import shutil
        shutil.rmtree(runtime_dir(self.prefix), ignore_errors=True)
        assert rc == 0, f"vsockd exited {rc}:\n{err}"
        assert not SANITIZER.search(err), err
        assert not os.path.exists(self.sock), "socket left behind"
        return err


@pytest.fixture
def tmp(tmp_path):
    return str(tmp_path)


@pytest.fixture
def vsockd(procs, tmp):
    d = Vsockd(procs, tmp)
    yield d
    if d.p.alive():
        d.stop()


def test_built():
    for f in (VSOCKD, GUARD, PRELOAD, VSL_CALLS):
        assert os.path.exists(f), f"{f} is missing: build first"


# ---- the guard -------------------------------------------------------

GUARD_PROBE = """
import errno, os, socket
for f in (lambda: socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM),
          lambda: socket.socketpair(socket.AF_VSOCK, socket.SOCK_STREAM)):
    try:
        f()
        print("created")
    except OSError as e:
        print(errno.errorcode[e.errno])
if os.path.exists("/dev/vsock"):
    st = os.stat("/dev/vsock")
    print("dev", os.major(st.st_rdev), os.minor(st.st_rdev))
socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
print("uid", os.getuid(), os.getgid(), os.getgroups())
"""


def test_guard_refuses_kernel_vsock():
    r = subprocess.run([GUARD, "--", PYTHON, "-c", GUARD_PROBE],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "EAFNOSUPPORT" and lines[1] == "EAFNOSUPPORT", lines
    if os.path.exists("/dev/vsock"):       # stat only, never opened
        assert "dev 1 3" in lines, lines   # /dev/null
    assert lines[-1].startswith("uid 0 0 "), lines
    r = subprocess.run([GUARD, "--user", "65534:65534", PYTHON, "-c",
                        GUARD_PROBE], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "EAFNOSUPPORT"
    assert r.stdout.splitlines()[-1] == "uid 65534 65534 [65534]", r.stdout
    # The namespace is the guard's own: the host still has its node.
    if os.path.exists("/dev/vsock"):
        assert os.major(os.stat("/dev/vsock").st_rdev) != 1


def test_guard_options_and_failures():
    r = subprocess.run([GUARD, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--user" in r.stdout
    r = subprocess.run([GUARD, "/nonexistent/prog"], capture_output=True,
                       text=True)
    assert r.returncode == 127 and "/nonexistent/prog" in r.stderr
    for bad in (["--user", "x:1", "true"], ["--user", "1", "true"],
                ["--bogus", "true"], []):
        r = subprocess.run([GUARD] + bad, capture_output=True, text=True)
        assert r.returncode == 126 and r.stderr.strip(), (bad, r.stderr)
    r = subprocess.run([GUARD, "sh", "-c", "exit 7"])
    assert r.returncode == 7
    # vsl-calls refuses to run outside the guard.
    r = subprocess.run([VSL_CALLS], capture_output=True, text=True)
    assert r.returncode == 2 and "vsock-guard" in r.stderr


# ---- vsockd's own behaviour ------------------------------------------

def test_vsockd_help():
    r = subprocess.run([VSOCKD, "--help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    for opt in ("--dev", "--socket", "--socket-mode", "loopback",
                "vhost-user"):
        assert opt in r.stdout, opt


@pytest.mark.parametrize("args,named", [
    (["--dev", "loopback", "--socket-mode", "0999"], "--socket-mode"),
    (["--dev", "loopback", "--ring-size", "1000"], "--ring-size"),
    (["--dev", "bogus:x=1"], "bogus"),
    (["--dev", "loopback", "--no-such-option"], "--no-such-option"),
])
def test_vsockd_bad_option(tmp, args, named):
    r = subprocess.run([VSOCKD] + EAL + ["--"] + args + [
        "--socket", os.path.join(tmp, "s")], capture_output=True,
        text=True, timeout=30)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert named in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(tmp, "s"))


def test_vsockd_socket_in_use(procs, tmp, vsockd):
    r = subprocess.run([VSOCKD] + EAL + ["--file-prefix",
                                         unique_prefix("second"), "--",
                                         "--dev", "loopback", "--socket",
                                         vsockd.sock],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    # One line says why, naming the socket.
    lines = [l for l in r.stderr.splitlines() if vsockd.sock in l]
    assert len(lines) == 1 and "in use" in lines[0], r.stderr
    # The first one still serves on it.
    c = run_pre([PYTHON, "-c", "import socket; s = socket.socket("
                 "socket.AF_VSOCK, socket.SOCK_STREAM); s.bind((-1, "
                 "4321)); print(s.getsockname())"], vsockd.sock)
    assert c.returncode == 0, c.stderr
    assert c.stdout.strip() == b"(4294967295, 4321)"
    vsockd.stop()


def test_vsockd_sigint_removes_socket(procs, tmp):
    d = Vsockd(procs, tmp)
    assert os.path.exists(d.sock)
    d.stop()


# ---- Python, the classic example -------------------------------------

@pytest.mark.parametrize("cid", [1, 7])
def test_python_classic_example(procs, tmp, cid):
    d = Vsockd(procs, tmp, dev="loopback:cid=7" if cid == 7 else
               "loopback")
    srv = pre_proc(procs, tmp, [PYTHON, peer("vsock_echo_srv.py"), "1234"],
                   d.sock, "srv")
    srv.wait_line(r"^listening 1234$")
    r = run_pre([PYTHON, peer("vsock_echo_cli.py"), str(cid), "1234",
                 "hello from vsock"], d.sock)
    assert r.returncode == 0, r.stderr
    assert srv.wait(30) == 0, srv.err
    m = re.fullmatch(rb"local (\d+) (\d+) peer (\d+) 1234 reply "
                     rb"b'\\nkcosv morf olleh'\n", r.stdout)
    assert m, r.stdout
    lport = int(m.group(2))
    assert int(m.group(3)) == cid and lport > 1023
    assert srv.out.splitlines()[1] == \
        f"peer {cid} {lport} local {cid} 1234 data " \
        f"b'hello from vsock\\n'", srv.out
    d.stop()


def test_rcvlowat_reader_gets_one_byte_sends(procs, tmp):
    """A reader that waits for 128 bytes (SO_RCVLOWAT) before it reads
    anything, and 128 sends of one byte: the stack's bound of 64 unread
    packets must not hold the last bytes back for good."""
    d = Vsockd(procs, tmp)
    srv = pre_proc(procs, tmp, [PYTHON, peer("vsock_rcvlowat.py"), "server",
                                "1234", "128"], d.sock, "srv")
    srv.wait_line(r"^listening 1234$")
    r = run_pre([PYTHON, peer("vsock_rcvlowat.py"), "client", "1", "1234",
                 "128"], d.sock)
    assert r.returncode == 0, r.stderr
    assert srv.wait(30) == 0, srv.err
    assert "got 128 True" in srv.out, srv.out
    d.stop()


# ---- through vsock-bridge --------------------------------------------

def test_through_the_bridge(procs, tmp):
    """vsockd as a guest on vhost-user against vsock-bridge: guest->host
    reaches U_P, host->guest is CONNECT P on U."""
    vu = os.path.join(tmp, "vhost.sock")
    uds = os.path.join(tmp, "v.sock")
    br = Proc(procs, [BRIDGE] + EAL + ["--single-file-segments", "--",
                                       "--socket", vu, "--uds", uds,
                                       "--guest-cid", "3"], "bridge", tmp)
    wait_for_path(vu, br)
    d = Vsockd(procs, tmp, dev=f"vhost-user:path={vu}",
               eal=EAL + ["--single-file-segments"])
    wait_for_path(uds, br)
    # guest -> host: a Unix listener at U_5555 answers reversed.
    host = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    host.bind(f"{uds}_5555")
    host.listen()
    host.settimeout(60)
    got = {}

    def serve():
        c, _ = host.accept()
        data = b""
        while not data.endswith(b"\n"):
            b = c.recv(65536)
            if not b:
                break
            data += b
        got["data"] = data
        c.sendall(data[::-1])
        c.close()

    t = threading.Thread(target=serve)
    t.start()
    r = run_pre([PYTHON, peer("vsock_echo_cli.py"), "2", "5555",
                 "guest to host"], d.sock)
    t.join(60)
    assert r.returncode == 0, r.stderr
    assert got["data"] == b"guest to host\n"
    m = re.fullmatch(rb"local \d+ (\d+) peer 2 5555 reply "
                     rb"b'\\ntsoh ot tseug'\n", r.stdout)
    assert m, r.stdout
    # host -> guest: the preloaded server in the guest.
    srv = pre_proc(procs, tmp, [PYTHON, peer("vsock_echo_srv.py"), "1234"],
                   d.sock, "srv")
    srv.wait_line(r"^listening 1234$")
    s, hport = uds_connect(uds, 1234)
    s.sendall(b"host to guest\n")
    reply = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        reply += b
    s.close()
    assert reply == b"\ntseug ot tsoh"
    assert srv.wait(30) == 0, srv.err
    assert srv.out.splitlines()[1] == \
        f"peer 2 {hport} local 3 1234 data b'host to guest\\n'", srv.out
    d.stop()
    assert br.stop() == 0, br.err


# ---- ncat and socat ---------------------------------------------------

def random_file(path, size):
    """@size random bytes into @path; returns their SHA-256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            b = os.urandom(min(left, 1 << 20))
            f.write(b)
            h.update(b)
            left -= len(b)
    return h.hexdigest()


def sha_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def test_ncat_both_ways(procs, tmp, vsockd):
    a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
    sa, sb = random_file(a, 1 << 20), random_file(b, 3 << 20)
    with open(a, "rb") as fa:
        srv = pre_proc(procs, tmp, ["ncat", "--vsock", "-l", "1234"],
                       vsockd.sock, "ncat-l", stdin=fa)
    wait_listener(vsockd, 1234, srv)
    with open(b, "rb") as fb:
        argv, env = preloaded(["ncat", "--vsock", "1", "1234"],
                              vsockd.sock)
        cli = subprocess.run(argv, env=env, stdin=fb, capture_output=True,
                             timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert srv.wait(30) == 0, srv.err
    assert hashlib.sha256(cli.stdout).hexdigest() == sa
    assert sha_file(srv.outp) == sb
    vsockd.stop()


def wait_listener(d, port, proc, timeout=30):
    """Until vsockd has a socket listening on @port."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        (page,) = d.tel("/vsockd/sockets")
        if any(s["state"] == "listen" and s["local_port"] == port
               for s in page_conns(page)):
            return
        if not proc.alive():
            pytest.fail(f"{proc.name} exited:\n{proc.out}\n{proc.err}")
        time.sleep(0.1)
    pytest.fail(f"nobody listens on {port}: {page}")


def test_socat_100mb_both_ways(procs, tmp, vsockd):
    a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
    sa = random_file(a, 100 << 20)
    sb = random_file(b, 100 << 20)
    ga, gb = os.path.join(tmp, "got_a"), os.path.join(tmp, "got_b")
    srv = pre_proc(procs, tmp, ["socat", "-t", "60", "VSOCK-LISTEN:1234",
                                f"OPEN:{a}!!CREATE:{gb}"],
                   vsockd.sock, "socat-l")
    wait_listener(vsockd, 1234, srv)
    r = run_pre(["socat", "-t", "60", "VSOCK-CONNECT:1:1234",
                 f"OPEN:{b}!!CREATE:{ga}"], vsockd.sock, timeout=150)
    assert r.returncode == 0, r.stderr
    assert srv.wait(60) == 0, srv.err
    assert sha_file(ga) == sa, "server -> client differs"
    assert sha_file(gb) == sb, "client -> server differs"
    st = vsockd.stats()
    assert st["rx_bytes"] >= 200 << 20 and st["tx_bytes"] >= 200 << 20, st
    vsockd.stop()


# ---- SEQPACKET --------------------------------------------------------

def test_python_seqpacket(procs, tmp, vsockd):
    srv = pre_proc(procs, tmp, [PYTHON, peer("vsock_seq.py"), "server",
                                "2345"], vsockd.sock, "seq-srv")
    srv.wait_line("^listening$")
    r = run_pre([PYTHON, peer("vsock_seq.py"), "client", "1", "2345",
                 "42"], vsockd.sock)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"client ok 314\n", r.stdout
    assert srv.wait(30) == 0, srv.err
    assert srv.out.splitlines()[-1] == "server done 318", srv.out
    vsockd.stop()


# ---- vsl-calls --------------------------------------------------------

@pytest.mark.parametrize("peer_cid", [1, LOOP_CID])
def test_vsl_calls(vsockd, peer_cid):
    r = run_pre([VSL_CALLS, "--peer", str(peer_cid), "--local-cid",
                 str(LOOP_CID)], vsockd.sock, timeout=150)
    out = r.stdout.decode()
    bad = [l for l in out.splitlines() if l.startswith("not ok")]
    assert not bad, "\n".join(bad) + "\n" + r.stderr.decode()
    plan = re.search(r"^1\.\.(\d+)$", out, re.M)
    assert plan and int(plan.group(1)) >= 33, out
    oks = [l for l in out.splitlines() if l.startswith("ok ")]
    assert len(oks) == int(plan.group(1)), out
    assert r.returncode == 0, out + r.stderr.decode()
    vsockd.stop()


# ---- many programs, many connections ---------------------------------

def test_many_programs_many_connections(procs, tmp, vsockd):
    base = vsockd.stats()
    srv = pre_proc(procs, tmp, [PYTHON, peer("vsock_load.py"), "server",
                                "3000"], vsockd.sock, "load-srv")
    srv.wait_line("^listening$")
    clients = [pre_proc(procs, tmp, [PYTHON, peer("vsock_load.py"),
                                     "client", "1", "3000", f"c{i}", "50",
                                     str(i)], vsockd.sock, f"load-c{i}")
               for i in range(4)]
    for c in clients:
        assert c.wait(120) == 0, c.out + c.err
        assert re.fullmatch(r"ok 50 50 \d+\n", c.out), c.out
    total = sum(int(c.out.split()[3]) for c in clients)
    closes = wait_closes(srv, 200)
    assert all(how == "eof" for how, _ in closes.values()), closes
    assert sum(n for _, n in closes.values()) == total
    assert srv.stop() == 0, srv.err
    assert srv.out.splitlines()[-1] == "summary 0"
    settle(vsockd, base)
    vsockd.stop()


def wait_closes(srv, n, timeout=30):
    end = time.monotonic() + timeout
    while True:
        closes = {m.group(1): (m.group(2), int(m.group(3))) for m in
                  re.finditer(r"^close (\S+) (\S+) (\d+)$", srv.out, re.M)}
        if len(closes) >= n or time.monotonic() > end:
            assert len(closes) == n, (len(closes), srv.out[-2000:])
            return closes
        time.sleep(0.1)


def settle(d, base, timeout=20):
    """No socket, app or mbuf left over: back at the baseline."""
    end = time.monotonic() + timeout
    while True:
        st = d.stats()
        if (st["apps"], st["sockets"], st["mbufs_in_use"]) == (
                base["apps"], base["sockets"], base["mbufs_in_use"]):
            return st
        if time.monotonic() > end:
            pytest.fail(f"leak: now {st}\nbaseline {base}")
        time.sleep(0.2)


# ---- SIGKILL mid-transfer --------------------------------------------

def test_sigkill_mid_transfer(procs, tmp, vsockd):
    base = vsockd.stats()
    srv = pre_proc(procs, tmp, [PYTHON, peer("vsock_load.py"), "server",
                                "3001"], vsockd.sock, "load-srv")
    srv.wait_line("^listening$")
    victim = pre_proc(procs, tmp, [PYTHON, peer("vsock_load.py"), "client",
                                   "1", "3001", "victim", "10", "1", "0"],
                      vsockd.sock, "victim")
    keep = pre_proc(procs, tmp, [PYTHON, peer("vsock_load.py"), "client",
                                 "1", "3001", "keep", "10", "2", "4"],
                    vsockd.sock, "keep")
    time.sleep(1.5)
    assert victim.alive(), victim.out + victim.err
    pids = {a["pid"] for a in vsockd.apps()}
    assert victim.proc.pid in pids, pids
    # The guard exec'ed the program: its pid is the victim's.
    victim.proc.send_signal(signal.SIGKILL)
    assert victim.wait(10) == -signal.SIGKILL
    assert keep.wait(60) == 0, keep.out + keep.err
    assert re.fullmatch(r"ok 10 \d+ \d+\n", keep.out), keep.out
    closes = wait_closes(srv, 20)
    for tag, (how, n) in closes.items():
        if tag.startswith("victim"):
            assert how in ("eof", "reset"), (tag, how)
        else:
            assert how == "eof", (tag, how)
    apps = vsockd.apps()
    assert victim.proc.pid not in {a["pid"] for a in apps}, apps
    assert srv.stop() == 0, srv.err
    settle(vsockd, base)
    vsockd.stop()


# ---- a hostile application -------------------------------------------

def daemon_fds(d):
    return len(os.listdir(f"/proc/{d.p.proc.pid}/fd"))


def test_hostile_application(procs, tmp, vsockd):
    base = vsockd.stats()
    fds = daemon_fds(vsockd)
    a = os.path.join(tmp, "a")
    sa = random_file(a, 30 << 20)
    got = os.path.join(tmp, "got")
    srv = pre_proc(procs, tmp, ["socat", "-u", "VSOCK-LISTEN:1234",
                                f"CREATE:{got}"], vsockd.sock, "socat-l")
    wait_listener(vsockd, 1234, srv)
    # A slow sender (1 MiB every 0.15 s), so the transfer spans the
    # whole attack.
    slow = (f"import sys, time\nf = open('{a}', 'rb')\n"
            "while b := f.read(1 << 20):\n"
            " sys.stdout.buffer.write(b); sys.stdout.flush(); "
            "time.sleep(0.15)")
    cli = pre_proc(procs, tmp, ["sh", "-c", f"{PYTHON} -c \"{slow}\" | "
                                "socat -u - VSOCK-CONNECT:1:1234"],
                   vsockd.sock, "socat-c")
    time.sleep(0.5)
    assert srv.alive() and cli.alive(), cli.err + srv.err
    h = subprocess.run([GUARD, "--", PYTHON, peer("vsock_hostile.py"),
                        vsockd.sock, "7"], capture_output=True, text=True,
                       timeout=120)
    assert h.returncode == 0, h.stdout + h.stderr
    assert "hostile done" in h.stdout
    assert vsockd.p.alive(), vsockd.p.err
    assert cli.wait(120) == 0, cli.err
    assert srv.wait(60) == 0, srv.err
    assert sha_file(got) == sa
    st = vsockd.stats()
    for k in ("bad_request", "bad_doorbell", "bad_index", "bad_record"):
        assert st[k] > base[k], (k, st)
    assert st["apps_dropped"] > base["apps_dropped"], st
    # Still serving well-behaved programs.
    r = run_pre([VSL_CALLS, "--only", "SEQPACKET"], vsockd.sock)
    assert r.returncode == 0, r.stdout + r.stderr
    settle(vsockd, base)
    # Every descriptor an application sent is closed (the empty
    # messages' too): none is left but the daemon's own.
    assert daemon_fds(vsockd) == fds, (fds, os.listdir(
        f"/proc/{vsockd.p.proc.pid}/fd"))
    vsockd.stop()


# ---- errors: DGRAM, privileged ports ---------------------------------

def test_dgram_is_enodev(vsockd):
    r = run_pre([PYTHON, "-c", "import socket, errno\ntry:\n"
                 " socket.socket(socket.AF_VSOCK, socket.SOCK_DGRAM)\n"
                 " print('created')\nexcept OSError as e:\n"
                 " print(errno.errorcode[e.errno])"], vsockd.sock)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"ENODEV\n"
    vsockd.stop()


PRIV = """
import errno, socket, sys
s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
try:
    s.bind((socket.VMADDR_CID_ANY, int(sys.argv[1])))
    print("bound", s.getsockname()[1])
except OSError as e:
    print(errno.errorcode[e.errno])
"""


def test_privileged_port(procs):
    d_ = tempfile.mkdtemp(prefix="vsockd-priv-")
    try:
        os.chmod(d_, 0o755)
        d = Vsockd(procs, d_, extra=["--socket-mode", "0666"])
        assert os.stat(d.sock).st_mode & 0o777 == 0o666
        r = run_pre([PYTHON, "-c", PRIV, "80"], d.sock,
                    user="65534:65534")
        assert r.stdout == b"EACCES\n", r.stdout + r.stderr
        r = run_pre([PYTHON, "-c", PRIV, "1024"], d.sock,
                    user="65534:65534")
        assert r.stdout == b"bound 1024\n", r.stdout + r.stderr
        r = run_pre([PYTHON, "-c", PRIV, "80"], d.sock)
        assert r.stdout == b"bound 80\n", r.stdout + r.stderr
        apps = d.apps()
        d.stop()
    finally:
        for f in os.listdir(d_):
            os.unlink(os.path.join(d_, f))
        os.rmdir(d_)
    assert apps == [], apps


# ---- select/poll/epoll mixing vsock, pipes and TCP ---------------------

def test_select_poll_epoll_mixed(vsockd):
    r = run_pre([PYTHON, peer("vsock_mix.py")], vsockd.sock, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == b"ok select\nok poll\nok epoll\nok selectors\n", \
        r.stdout
    vsockd.stop()
