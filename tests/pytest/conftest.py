"""Shared helpers: locate the build, run vsock-testpmd with tracked pids."""
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.environ.get("VSOCK_BUILD", os.path.join(ROOT, "build"))
TESTPMD = os.path.join(BUILD, "apps", "vsock-testpmd")
EAL = ["-l", "0-1", "--in-memory", "--no-pci",
       "--log-level=lib.eal:warning"]


class Result:
    def __init__(self, proc, stdout, stderr):
        self.rc = proc.returncode
        self.stdout = stdout
        self.stderr = stderr

    def json(self):
        lines = [l for l in self.stdout.splitlines() if l.startswith("{")]
        assert len(lines) == 1, f"expected one JSON line:\n{self.stdout}"
        return json.loads(lines[0])


def run_testpmd(app_args, eal=None, timeout=120):
    """Run vsock-testpmd; kill it (by its own pid) if it overruns."""
    cmd = [TESTPMD] + (EAL if eal is None else eal) + ["--"] + app_args
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{cmd} timed out after {timeout}s\n{out}\n{err}")
    return Result(proc, out, err)


def build_option(name):
    """A meson option of the build under test (b_sanitize, prefix...)."""
    p = subprocess.run(["meson", "introspect", "--buildoptions", BUILD],
                       stdout=subprocess.PIPE, text=True, check=True)
    for o in json.loads(p.stdout):
        if o["name"] == name:
            return o["value"]
    return None


@pytest.fixture(scope="session", autouse=True)
def built():
    assert os.access(TESTPMD, os.X_OK), \
        f"{TESTPMD} is missing: run 'make build' first"


BRIDGE = os.path.join(BUILD, "apps", "vsock-bridge")


class Background:
    """A process the test started: tracked by pid, stopped by the test."""

    def __init__(self, cmd, name, env=None):
        self.name = name
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=env)
        self.out = self.err = ""

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=None, timeout=60):
        """Signal it (SIGINT by default) and collect its output."""
        import signal
        if self.alive():
            self.proc.send_signal(sig or signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        self.out += out or ""
        self.err += err or ""
        return self.proc.returncode

    def json(self):
        lines = [l for l in self.out.splitlines() if l.startswith("{")]
        assert len(lines) == 1, f"{self.name}: no JSON:\n{self.out}\n{self.err}"
        return json.loads(lines[0])


def wait_for_path(path, proc=None, timeout=30):
    import time
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            return
        if proc is not None and not proc.alive():
            proc.stop()
            pytest.fail(f"{proc.name} exited early:\n{proc.out}\n{proc.err}")
        time.sleep(0.05)
    pytest.fail(f"{path} did not appear within {timeout}s")


@pytest.fixture
def procs():
    """Processes started by a test; whatever is left is killed after it."""
    started = []
    yield started
    for p in started:
        if p.alive():
            p.proc.kill()
            p.proc.communicate()


def uds_connect(uds, port, timeout=30):
    """Open a host->guest connection through a bridge's Unix socket with
    the CONNECT protocol, retrying while the guest is not up yet; returns
    the socket and the vsock port the bridge answered with."""
    import socket
    import time
    end = time.monotonic() + timeout
    line = b""
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(min(timeout, 60))
        try:
            s.connect(uds)
            s.sendall(b"CONNECT %d\n" % port)
            line = b""
            while not line.endswith(b"\n"):
                c = s.recv(1)
                if not c:
                    break
                line += c
            if line.startswith(b"OK "):
                return s, int(line.split()[1])
        except OSError:
            pass
        s.close()
        if time.monotonic() > end:
            pytest.fail(f"CONNECT {port} refused: {line!r}")
        time.sleep(0.2)


def echo_roundtrip(uds, data, port, timeout=30):
    """Send data over a CONNECT to an echo server, reading the echo
    concurrently; returns what came back."""
    import threading
    s, _ = uds_connect(uds, port, timeout)
    got = bytearray()

    def reader():
        while len(got) < len(data):
            b = s.recv(1 << 20)
            if not b:
                break
            got.extend(b)

    t = threading.Thread(target=reader)
    t.start()
    s.sendall(data)
    t.join(120)
    s.close()
    return bytes(got)
