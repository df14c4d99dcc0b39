"""vsock-testpmd -i: the interactive prompt, driven through a pipe."""
import re
import subprocess
import threading
import time

import pytest

from conftest import EAL, TESTPMD

PROMPT = "vsock-testpmd> "
# rdline's line editing: cursor moves and "erase to end of line".
ESCAPES = re.compile(r"\x1b(\[[0-9;]*[A-Za-z]|[A-Za-z])")


class Prompt:
    """vsock-testpmd -i with stdin and stdout on pipes; stdout is read by a
    thread so that the test can wait for the next prompt."""

    def __init__(self, app_args=(), eal=None):
        cmd = [TESTPMD] + (EAL if eal is None else eal) + \
            ["--", "--dev", "loopback", "-i"] + list(app_args)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.buf = bytearray()
        self.err = bytearray()
        self.cond = threading.Condition()
        self.readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout,
                                                      self.buf),
                             daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr,
                                                      self.err),
                             daemon=True)]
        for t in self.readers:
            t.start()
        self.wait_prompts(1, 60)

    def _read(self, f, into):
        while True:
            b = f.read1(65536)
            with self.cond:
                if not b:
                    self.cond.notify_all()
                    return
                into.extend(b)
                self.cond.notify_all()

    def text(self, start=0):
        with self.cond:
            raw = bytes(self.buf[start:])
        return ESCAPES.sub("", raw.decode(errors="replace")).replace(
            "\r", "")

    def prompts(self):
        return self.buf.count(PROMPT.encode())

    def wait_prompts(self, n, timeout=30):
        end = time.monotonic() + timeout
        with self.cond:
            while self.prompts() < n:
                left = end - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    pytest.fail(f"no prompt {n}:\n{self.text()}\n"
                                f"{self.err.decode(errors='replace')}")
                self.cond.wait(min(left, 0.2))

    def send(self, keys, newline=True):
        """Type @keys (and Enter); return what came back up to the next
        prompt: the echoed line and the command's output."""
        with self.cond:
            n = self.prompts()
            start = len(self.buf)
        self.proc.stdin.write(keys.encode() + (b"\n" if newline else b""))
        self.proc.stdin.flush()
        if newline:
            self.wait_prompts(n + 1)
        return self.text(start)

    def until(self, line, ok, timeout=20):
        """Repeat @line until ok(output) holds; return that output."""
        end = time.monotonic() + timeout
        while True:
            out = self.send(line)
            if ok(out):
                return out
            if time.monotonic() > end:
                pytest.fail(f"{line!r} never satisfied:\n{out}")
            time.sleep(0.2)

    def finish(self, timeout=60):
        """Wait for the exit; return code and everything it printed."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"no exit:\n{self.text()}")
        for t in self.readers:
            t.join(10)
        return self.proc.returncode, self.text()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def prompt():
    started = []

    def start(*args, **kw):
        p = Prompt(*args, **kw)
        started.append(p)
        return p
    yield start
    for p in started:
        p.kill()


def conn_lines(out):
    return [l.split() for l in out.splitlines()
            if re.match(r"\s+\d+:\d+\s+\d+:\d+\s", l)]


def established(out):
    return [c for c in conn_lines(out) if c[2] == "ESTABLISHED"]


def stat(out, name):
    m = re.search(re.escape(name) + r":\s+(\d+)", out)
    assert m, f"no {name} in:\n{out}"
    return int(m.group(1))


def test_prompt_session(prompt):
    p = prompt()
    out = p.send("help")
    for cmd in ["show port stats", "show conns", "show config", "start",
                "stop", "set mode echo|sink|source|pingpong|verify",
                "set size N|MIN-MAX", "set conns N", "set peer CID",
                "set port P", "connect CID PORT", "help", "quit"]:
        assert cmd in out, f"{cmd!r} missing from help:\n{out}"
    # No --mode: an echo server, stopped until "start".
    out = p.send("show config")
    assert "mode echo (stopped)" in out and "port 1234" in out, out
    assert "mode verify" in p.send("set mode verify")
    assert "conns 4" in p.send("set conns 4")
    assert "start: verify, 4 conns to 3:1234" in p.send("start")
    # 4 clients and the 4 server sides that accepted them, moving data.
    out = p.until("show conns", lambda o: len(established(o)) == 8 and
                  all(int(c[4]) > 0 and int(c[5]) > 0
                      for c in established(o)))
    conns = established(out)
    assert sum(c[1] == "3:1234" for c in conns) == 4, out
    assert sum(c[0] == "3:1234" for c in conns) == 4, out
    assert all(c[3] == "stream" for c in conns), out
    assert "8 connections, 8 established" in out
    out = p.send("show port stats")
    assert stat(out, "RX-packets") > 0 and stat(out, "TX-packets") > 0, out
    assert stat(out, "RX-bytes") > 0 and stat(out, "TX-bytes") > 0, out
    assert re.search(r"ring: (packed|split)", out), out
    assert "verify, running" in out and stat(out, "errors") == 0, out
    # While running, settings wait.
    assert "stop it first" in p.send("set conns 2")
    assert "already running" in p.send("start")
    assert "stop:" in p.send("stop")
    p.until("show conns", lambda o: "no connections" in o)
    # One client to an explicit address, while stopped: it runs alone.
    out = p.send("connect 3 1234")
    assert "connect: verify client to 3:1234" in out, out
    out = p.until("show conns", lambda o: len(established(o)) == 2)
    assert sum(c[1] == "3:1234" for c in established(out)) == 1, out
    # Errors are reported and the prompt goes on.
    assert "Command not found" in p.send("frobnicate")
    assert "Bad arguments" in p.send("connect three 1234")
    assert "bad size" in p.send("set size 0")
    assert "bad conns" in p.send("set conns 0")
    assert "mode verify (running)" in p.send("show config")
    # quit ends the run as --duration would: the verify client drains.
    before = len(p.buf)
    p.proc.stdin.write(b"quit\n")
    p.proc.stdin.flush()
    rc, text = p.finish()
    tail = p.text(before)
    assert rc == 0, text + p.err.decode(errors="replace")
    assert "verify stream over loopback" in tail, tail
    assert "errors 0" in tail, tail
    m = re.search(r"client: tx (\d+) B \d+ msgs, rx (\d+) B", tail)
    assert m and int(m.group(1)) == int(m.group(2)) > 0, tail


def test_prompt_completion_and_help_key(prompt):
    p = prompt()
    # TAB completes a unique prefix: rdline echoes the rest of the word.
    p.send("sho\t", newline=False)
    out = p.send("conns")
    assert "show conns" in out and "no connections" in out, out
    out = p.send("set mode pi\t", newline=False)
    out = p.send("")
    assert "set mode pingpong" in out and "mode pingpong" in out, out
    # "?" lists what may follow, with the help strings.
    with p.cond:
        start = len(p.buf)
    p.send("set ?", newline=False)
    end = time.monotonic() + 20
    # Then the prompt comes back with the line typed so far.
    while not re.search(r"port \[.*" + re.escape(PROMPT) + "set ",
                        p.text(start), re.S) and time.monotonic() < end:
        time.sleep(0.05)
    out = p.text(start)
    for word in ["mode", "size", "conns", "peer", "port"]:
        assert f" {word} [" in out, out
    # The listed line is still there: finish it.
    out = p.send(" conns 2")
    assert "conns 2" in out, out
    # A pingpong run started and stopped twice: slots are reused.
    for _ in range(2):
        assert "start: pingpong" in p.send("start")
        p.until("show conns", lambda o: len(established(o)) == 4)
        p.send("stop")
        p.until("show conns", lambda o: "no connections" in o)
    before = len(p.buf)
    p.proc.stdin.write(b"quit\n")
    p.proc.stdin.flush()
    rc, text = p.finish()
    assert rc == 0, text
    tail = p.text(before)
    assert "pingpong stream over loopback" in tail, tail
    assert "rtt: p50" in tail, tail


def test_prompt_end_of_input_quits(prompt):
    """EOF on stdin ends the run like quit, running traffic included."""
    p = prompt(["--mode", "source", "--conns", "2"])
    assert "start: source" in p.send("start")
    p.until("show conns", lambda o: len(established(o)) == 4)
    before = len(p.buf)
    p.proc.stdin.close()
    rc, text = p.finish()
    assert rc == 0, text + p.err.decode(errors="replace")
    tail = p.text(before)
    assert "source stream over loopback" in tail, tail
    assert "errors 0" in tail, tail


def test_prompt_on_a_terminal():
    """On a tty the prompt puts it in raw mode (rdline echoes and edits):
    TAB completes, Enter is "\\r", ctrl-d on an empty line quits."""
    import os
    import pty
    import select
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(TESTPMD, [TESTPMD] + EAL +
                 ["--", "--dev", "loopback", "-i"])
    out = bytearray()
    done = 0

    def read_until(what, timeout=30):
        end = time.monotonic() + timeout
        while what not in ESCAPES.sub("", out.decode(errors="replace")):
            if time.monotonic() > end:
                return False
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    out.extend(os.read(fd, 65536))
                except OSError:
                    return what in out.decode(errors="replace")
        return True
    try:
        assert read_until(PROMPT), out
        os.write(fd, b"sho\tconf\t\r")
        assert read_until("mode echo (stopped)"), out
        os.write(fd, b"\x04")
        assert read_until("echo stream over loopback"), out
        end = time.monotonic() + 30
        while time.monotonic() < end:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            read_until("\0", 0.2)  # keep the pty drained
        assert done, out
        assert os.waitstatus_to_exitcode(status) == 0, out
    finally:
        if not done:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
