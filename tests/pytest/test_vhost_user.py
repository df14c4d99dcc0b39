"""The vhost-user front-end against a scripted back-end: the messages it
sends, and what it does with a back-end that misbehaves."""
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import EAL, ROOT, run_testpmd

FAKE = os.path.join(ROOT, "tests", "pytest", "peers", "fake_vhost_user.py")
EAL_SFS = EAL + ["--single-file-segments"]


def start_fake(path, *extra):
    """Start the fake back-end listening on path; returns the process."""
    p = subprocess.Popen([sys.executable, FAKE, path] + list(extra),
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert "listening" in line, line
    return p


def fake_log(p):
    try:
        out, _ = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def test_front_end_sends_a_complete_setup(tmp_path):
    sock = str(tmp_path / "vu.sock")
    fake = start_fake(sock)
    r = run_testpmd(["--dev", f"vhost-user:path={sock}", "--mode", "echo",
                     "--duration", "0.5", "--json"], eal=EAL_SFS)
    log = fake_log(fake)
    assert r.rc == 0, r.stderr
    reqs = [m["req"] for m in log]
    assert reqs[:2] == ["GET_FEATURES", "SET_OWNER"]
    assert "GET_CONFIG" in reqs and "SET_FEATURES" in reqs
    mem = [m for m in log if m["req"] == "SET_MEM_TABLE"]
    assert len(mem) == 1
    nregions = int.from_bytes(bytes.fromhex(mem[0]["body"])[:4], "little")
    assert 1 <= nregions <= 8 and mem[0]["fds"] == nregions
    for q in (0, 1):
        for req in ("SET_VRING_NUM", "SET_VRING_ADDR", "SET_VRING_BASE",
                    "SET_VRING_KICK", "SET_VRING_CALL",
                    "SET_VRING_ENABLE", "GET_VRING_BASE"):
            assert any(m["req"] == req and
                       int.from_bytes(bytes.fromhex(m["body"])[:4],
                                      "little") == q for m in log), (req, q)
    # Kick and call eventfds travel with their messages.
    assert all(m["fds"] == 1 for m in log
               if m["req"] in ("SET_VRING_KICK", "SET_VRING_CALL"))
    # The event queue is ours: no ring 2 for the back-end.
    assert not any(m["req"] == "SET_VRING_NUM" and
                   bytes.fromhex(m["body"])[0] == 2 for m in log)
    # The CID came from the back-end's config space (the fake's 7).
    assert r.json()["cid"] == 7, r.stdout


def test_multi_fd_memory_is_refused_with_the_fix(tmp_path):
    sock = str(tmp_path / "vu.sock")
    fake = start_fake(sock)
    r = run_testpmd(["--dev", f"vhost-user:path={sock}", "--mode", "echo",
                     "--duration", "0.5"])
    fake_log(fake)
    assert r.rc == 1
    assert "--single-file-segments" in r.stderr


@pytest.mark.parametrize("how,req,msg", [
    ("--garbage", 1, "bad reply to GET_FEATURES"),
    ("--garbage", 24, "bad reply to GET_CONFIG"),
    ("--silent", 1, "no reply to GET_FEATURES"),
    ("--close", 15, "no reply to GET_PROTOCOL_FEATURES"),
])
def test_misbehaving_back_end_is_a_clear_error(tmp_path, how, req, msg):
    sock = str(tmp_path / "vu.sock")
    fake = start_fake(sock, how, str(req))
    t0 = time.monotonic()
    r = run_testpmd(["--dev", f"vhost-user:path={sock}", "--mode", "echo",
                     "--duration", "0.5"], eal=EAL_SFS, timeout=60)
    fake_log(fake)
    assert r.rc == 1, (r.stdout, r.stderr)
    assert msg in r.stderr
    assert "Segmentation" not in r.stderr
    assert time.monotonic() - t0 < 30


def test_no_config_needs_cid(tmp_path):
    sock = str(tmp_path / "vu.sock")
    fake = start_fake(sock, "--protocol", "0")
    r = run_testpmd(["--dev", f"vhost-user:path={sock}", "--mode", "echo",
                     "--duration", "0.5"], eal=EAL_SFS)
    fake_log(fake)
    assert r.rc == 2    # the spec lacks what the device cannot tell
    assert "give cid=N" in r.stderr


def test_server_mode_waits_then_says_so(tmp_path):
    sock = str(tmp_path / "vu.sock")
    t0 = time.monotonic()
    r = run_testpmd(["--dev", f"vhost-user:path={sock},server=1,wait=1",
                     "--mode", "echo", "--duration", "0.5"], eal=EAL_SFS)
    assert r.rc == 1
    assert "no back-end connected within 1 s" in r.stderr
    assert 0.9 < time.monotonic() - t0 < 20
    assert not os.path.exists(sock)   # cleaned up after itself


def test_server_mode_accepts_a_back_end(tmp_path):
    sock = str(tmp_path / "vu.sock")
    cmd_done = []
    proc = subprocess.Popen(
        [os.path.join(os.environ.get("VSOCK_BUILD",
                                     os.path.join(ROOT, "build")),
                      "apps", "vsock-testpmd")] + EAL_SFS +
        ["--", "--dev", f"vhost-user:path={sock},server=1", "--mode",
         "echo", "--duration", "0.5", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        fake = subprocess.Popen([sys.executable, FAKE, sock, "--client"],
                                stdout=subprocess.PIPE, text=True)
        out, err = proc.communicate(timeout=60)
        cmd_done.append(proc.returncode)
        log = fake_log(fake)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert cmd_done == [0], err
    assert [m["req"] for m in log][:2] == ["GET_FEATURES", "SET_OWNER"]


def test_vhost_kernel_without_the_module_is_a_clear_error():
    r = run_testpmd(["--dev", "vhost-kernel:cid=5", "--mode", "echo",
                     "--duration", "0.5"])
    if os.path.exists("/dev/vhost-vsock"):
        pytest.fail("this test expects a host without vhost-vsock; the "
                    "real-peer suite covers hosts that have it")
    assert r.rc == 1
    assert "/dev/vhost-vsock" in r.stderr and "vhost_vsock" in r.stderr


@pytest.mark.parametrize("spec,bad", [
    ("vhost-kernel", "cid=N is required"),
    ("vhost-kernel:cid=1", "cid=1"),
    ("vhost-user:path=/x,server=2", "server=2"),
    ("vhost-user:path=/x,wait=-1", "wait=-1"),
    ("vhost-user:path=" + "a" * 200, "path="),
])
def test_bad_vhost_specs(spec, bad):
    r = run_testpmd(["--dev", spec, "--mode", "echo"])
    assert r.rc == 2
    assert bad in r.stderr


def test_server_mode_takes_a_restarted_back_end_back(tmp_path):
    """The back-end dies after set-up; a new one gets the whole set-up."""
    sock = str(tmp_path / "vu.sock")
    build = os.environ.get("VSOCK_BUILD", os.path.join(ROOT, "build"))
    proc = subprocess.Popen(
        [os.path.join(build, "apps", "vsock-testpmd")] + EAL_SFS +
        ["--", "--dev", f"vhost-user:path={sock},server=1", "--mode",
         "echo", "--duration", "3", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    fakes = []
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        first = subprocess.Popen([sys.executable, FAKE, sock, "--client",
                                  "--linger", "0.3"],
                                 stdout=subprocess.PIPE, text=True)
        fakes.append(first)
        log1 = fake_log(first)
        time.sleep(0.3)
        second = subprocess.Popen([sys.executable, FAKE, sock, "--client",
                                   "--cid", "9"],
                                  stdout=subprocess.PIPE, text=True)
        fakes.append(second)
        out, err = proc.communicate(timeout=60)
        log2 = fake_log(second)
    finally:
        for p in [proc] + fakes:
            if p.poll() is None:
                p.kill()
    assert proc.returncode == 0, err
    assert "back-end gone" in err and "back-end back, cid 9" in err
    for log in (log1, log2):
        reqs = [m["req"] for m in log]
        assert reqs[:2] == ["GET_FEATURES", "SET_OWNER"]
        assert reqs.count("SET_VRING_ENABLE") == 2
        assert "SET_MEM_TABLE" in reqs
    d = [l for l in out.splitlines() if l.startswith("{")]
    # Lost, then back: the stack heard of both.
    assert json.loads(d[0])["stack"]["transport_resets"] == 2
