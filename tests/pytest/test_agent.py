"""The request/reply agent examples, built out of tree on a `meson
install` (test_install's helpers): examples/agent_native with its
in-process client over the loopback device, and examples/agent_sockets
(plain AF_VSOCK sockets, plain cc) with server and client both under the
preload through one vsockd on the loopback device. Every reply is checked
here with Python's json, beside the client's own byte-exact check;
malformed requests get an error or a close and the agent serves on. The
figures of both, measured in the same run, go to the test output."""
import json
import os
import re
import socket
import subprocess

import pytest

from conftest import EAL, ROOT
from test_install import build_example, installed  # noqa: F401 (fixture)
from test_vsockd import (LOOP_CID, PYTHON, pre_proc, preloaded, tmp,  # noqa
                         vsockd, wait_listener)

NATIVE = os.path.join(ROOT, "examples", "agent_native")
SOCKETS = os.path.join(ROOT, "examples", "agent_sockets")
PROTO = "agent_proto"
# The client's malformed probes: the error class each gets (None: a
# well-formed ping, after which the connection is still served); the
# last two are bad lengths, answered and closed; one more probe is cut
# short by the client and gets nothing.
PROBE_CLASSES = ["GenericError", "CommandNotFound"] + ["GenericError"] * 8 \
    + [None, "GenericError", "GenericError"]
NB_PROBES = len(PROBE_CLASSES) + 1
CLIENT_LINE = re.compile(
    r"client: (\d+) requests, (\d+) good, (\d+) bad, (\d+) connections; "
    r"(\d+) req/s, p50 ([\d.]+) us, p99 ([\d.]+) us")
SERVER_LINE = re.compile(r"served (\d+) requests \((\d+) errors\) on "
                         r"(\d+) connections")
FIGURE_REQUESTS = 20000


@pytest.fixture(scope="module")
def agents(installed, tmp_path_factory):  # noqa: F811
    """Both agents built on the installed tree: {name: (exe, env)}."""
    native = build_example(installed, tmp_path_factory.mktemp("native"),
                           NATIVE, "shared", ["vsock_stack", "virtio_vsock"],
                           beside=[PROTO])
    plain = build_example(installed, tmp_path_factory.mktemp("sockets"),
                          SOCKETS, "all", [], beside=[PROTO])
    return {"native": native, "sockets": plain}


def check_replies(out, n, api, probes):
    """Every reply the client printed, read as JSON: the probes' errors,
    then ping, echo and info in turn, ids where the client sent them."""
    got = {}
    for line in out.splitlines():
        if line.startswith("reply "):
            _, step, text = line.split(" ", 2)
            got[int(step)] = json.loads(text)
    base = NB_PROBES if probes else 0
    want = (list(range(len(PROBE_CLASSES))) if probes else []) + \
        list(range(base, base + n))
    assert sorted(got) == want, f"steps {sorted(got)}"
    for step, cls in enumerate(PROBE_CLASSES if probes else []):
        r = got[step]
        if cls is None:
            assert r == {"return": {}, "id": 'a"b'}, r
        else:
            assert set(r) == {"error"} and r["error"]["class"] == cls, r
            assert r["error"]["desc"], r
    for i in range(n):
        step = base + i
        r = dict(got[step])
        assert r.pop("id", None) == (i if i % 4 == 3 else None), (i, r)
        assert set(r) == {"return"}, (i, r)
        ret = r["return"]
        if i % 3 == 0:
            assert ret == {}, (i, r)
        elif i % 3 == 1:
            data = ret.pop("data")
            assert ret == {} and data.startswith(f"r{i}-"), (i, r)
            # Escapes came back decoded as Python reads them.
            if len(data) > 40:
                assert set('"\\\n\u00e9\U0001F600') <= set(data), data
        else:
            # The count of frames the server answered, this one included
            # (the cut probe is never answered).
            assert ret == {"version": "1",
                           "commands": ["ping", "echo", "info"],
                           "requests": step if probes else step + 1,
                           "api": api}, (i, r)


def client_figures(out, total):
    m = CLIENT_LINE.search(out)
    assert m, out
    req, good, bad, _, rps, p50, p99 = m.groups()
    assert int(req) == total and int(good) == total and int(bad) == 0, \
        m.group(0)
    return {"req_s": int(rps), "p50_us": float(p50), "p99_us": float(p99)}


def server_counts(out):
    m = SERVER_LINE.search(out)
    assert m, out
    return tuple(int(x) for x in m.groups())


def run_native(agents, args, timeout=180):
    exe, env = agents["native"]
    p = subprocess.run([exe] + EAL + ["--"] + args, env=env,
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout


def test_help_and_bad_options(agents):
    for name, (exe, env) in agents.items():
        p = subprocess.run([exe, "--help"], env=env, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 0 and "--probes" in p.stdout, p.stdout
    exe, env = agents["sockets"]
    p = subprocess.run([exe, "--connect", "1", "--port", "70000x"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "'70000x'" in p.stderr, p.stderr
    exe, env = agents["native"]
    p = subprocess.run([exe] + EAL + ["--", "--requests", "-3"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "'-3'" in p.stderr, p.stderr


def test_native_serve_mode(agents, procs, tmp):  # noqa: F811
    """--serve: serves until SIGINT, then says what it served, exit 0."""
    from test_vsockd import Proc
    exe, env = agents["native"]
    srv = Proc(procs, [exe] + EAL + ["--", "--serve", "--port", "7100"],
               "agent-native", tmp, env=env)
    srv.wait_line(r"^agent_native: serving on cid 3 port 7100$", 120)
    assert srv.stop() == 0, srv.err
    assert server_counts(srv.out) == (0, 0, 0), srv.out


def test_sockets_agent_is_plain(agents):
    """No DPDK and no dpdk-vsock in the sockets agent: only libc."""
    exe, _ = agents["sockets"]
    ldd = subprocess.run(["ldd", exe], capture_output=True, text=True,
                         check=True).stdout
    assert "librte_" not in ldd and "vsock" not in ldd, ldd


@pytest.mark.parametrize("cid", [None, 1])
def test_native_agent(agents, cid):
    """Over the loopback device (our own CID) and over CID 1 (in the
    stack): every probe and every request answered as it must be, the
    server counting each, then 1000 more requests byte-checked."""
    n = 60
    extra = ["--cid", str(cid)] if cid else []
    out = run_native(agents, ["--requests", str(n), "--probes", "--print"]
                     + extra)
    check_replies(out, n, "native", probes=True)
    client_figures(out, NB_PROBES + n)
    # Answered frames: all but the cut one; 10 bad JSON, 2 bad lengths;
    # the probes' three connections and the requests' one.
    assert server_counts(out) == (NB_PROBES - 1 + n, 12, 4), out
    out = run_native(agents, ["--requests", "1000"] + extra)
    client_figures(out, 1000)
    assert server_counts(out) == (1000, 0, 1), out


def start_sockets_agent(agents, procs, tmp, d, port):  # noqa: F811
    exe, _ = agents["sockets"]
    srv = pre_proc(procs, tmp, [exe, "--listen", str(port)], d.sock,
                   "agent-srv")
    srv.wait_line("^agent_sockets: listening on port")
    wait_listener(d, port, srv)
    return srv


def run_sockets_client(agents, d, args, timeout=180):
    exe, _ = agents["sockets"]
    argv, env = preloaded([exe, "--connect"] + args, d.sock)
    p = subprocess.run(argv, env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout


# A third-party client (Python's socket module under the preload): its
# own malformed frames, each followed by a check that the agent answers.
RAW_CLIENT = r"""
import json, socket, struct, sys
cid, port = int(sys.argv[1]), int(sys.argv[2])

def conn():
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect((cid, port))
    return s

def recv_n(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return None
        b += c
    return b

def reply(s):
    h = recv_n(s, 4)
    if h is None:
        return None
    return json.loads(recv_n(s, struct.unpack(">I", h)[0]))

def req(s, body):
    s.sendall(struct.pack(">I", len(body)) + body)
    return reply(s)

s = conn()
print(req(s, b"\xc3(")["error"]["class"])
print(req(s, b'{"execute":"echo","arguments":{"data":"\\ud83d\\ude00"}}'))
s.sendall(struct.pack(">I", 1 << 20))
print(reply(s)["error"]["class"], reply(s))
s.close()
s = conn()
s.sendall(b"\x00\x00")
s.close()
s = conn()
print(req(s, b'{"execute":"ping"}'))
"""


@pytest.mark.parametrize("cid", [1, LOOP_CID])
def test_sockets_agent_under_preload(agents, procs, tmp, vsockd, cid):  # noqa
    """Server and client unmodified under the preload on one vsockd:
    every reply checked, the probes and a Python client's own malformed
    frames answered or closed, the agent serving on after each."""
    port = 6200
    srv = start_sockets_agent(agents, procs, tmp, vsockd, port)
    n = 60
    out = run_sockets_client(agents, vsockd, [str(cid), "--port", str(port),
                                              "--requests", str(n),
                                              "--probes", "--print"])
    check_replies(out, n, "sockets", probes=True)
    client_figures(out, NB_PROBES + n)
    raw = os.path.join(tmp, "raw_client.py")
    with open(raw, "w") as f:
        f.write(RAW_CLIENT)
    argv, env = preloaded([PYTHON, raw, str(cid), str(port)], vsockd.sock)
    p = subprocess.run(argv, env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        "GenericError",
        "{'return': {'data': '\U0001F600'}}",
        "GenericError None",
        "{'return': {}}"], p.stdout
    out = run_sockets_client(agents, vsockd, [str(cid), "--port", str(port),
                                              "--requests", "1000"])
    client_figures(out, 1000)
    assert srv.stop() == 0, srv.err
    # Frames: the probes', the Python client's 4 (a half header is none),
    # 1000; connections: 4 + 3 + 1.
    assert server_counts(srv.out) == (NB_PROBES - 1 + n + 4 + 1000, 12 + 2,
                                      8), srv.out
    vsockd.stop()


def test_agent_figures(agents, procs, tmp, vsockd, capsys):  # noqa: F811
    """Requests/s and round-trip p50/p99 of both agents in one run: the
    native one polling in-process over the loopback device, the sockets
    one under the preload through vsockd (the library sleeping, vsockd
    polling), client and server each a process."""
    n = FIGURE_REQUESTS
    # The device inline: one thread. On a worker lcore of its own (the
    # default), two threads poll, and a crowded machine stalls the pair
    # for whole time slices: test_native_agent runs that one.
    dev = "loopback:lcore=inline"
    native = client_figures(run_native(
        agents, ["--dev", dev, "--requests", str(n)]), n)
    port = 6300
    srv = start_sockets_agent(agents, procs, tmp, vsockd, port)
    plain = client_figures(run_sockets_client(
        agents, vsockd, ["1", "--port", str(port), "--requests", str(n)]),
        n)
    assert srv.stop() == 0, srv.err
    assert server_counts(srv.out) == (n, 0, 1), srv.out
    vsockd.stop()
    with capsys.disabled():
        print(f"\nagent figures, {n} requests one at a time "
              "(ping/echo/info in turn):")
        for name, f in ((f"agent_native --dev {dev} (polling)", native),
                        ("agent_sockets under the preload, vsockd --dev "
                         "loopback", plain)):
            print(f"  {name}: {f['req_s']} req/s, p50 {f['p50_us']:.2f} us,"
                  f" p99 {f['p99_us']:.2f} us")
