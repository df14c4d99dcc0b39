"""Logs: one DPDK log type per component (vsock.driver, vsock.stack,
vsock.bridge), each settable with EAL's --log-level, by name or glob."""
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import BUILD, EAL, run_testpmd

# INFO lines each component writes when the device comes up.
DRIVER_LINE = "virtio_vsock: loopback: up, cid 3"
STACK_LINE = "vsock_stack: testpmd: attached loopback as port 0, cid 3"
TESTPMD_ARGS = ["--dev", "loopback", "--mode", "pingpong", "--size", "64",
                "--duration", "0.3"]


@pytest.mark.parametrize("levels,driver,stack", [
    # Defaults: NOTICE for the driver and the stack, INFO lines hidden.
    ([], False, False),
    (["--log-level=vsock.stack:debug"], False, True),
    (["--log-level=vsock.driver:info"], True, False),
    (["--log-level=vsock.*:info"], True, True),
    (["--log-level=vsock.*:error"], False, False),
    # A later glob overrides an earlier name.
    (["--log-level=vsock.stack:debug", "--log-level=vsock.*:error"],
     False, False),
], ids=["default", "stack-debug", "driver-info", "all-info", "all-error",
        "stack-debug-then-all-error"])
def test_testpmd_log_levels(levels, driver, stack):
    r = run_testpmd(TESTPMD_ARGS, eal=EAL + levels)
    assert r.rc == 0, r.stdout + r.stderr
    # EAL logs to stdout once it is up (and to stderr before).
    out = r.stdout + r.stderr
    assert (DRIVER_LINE in out) == driver, out
    assert (STACK_LINE in out) == stack, out


BRIDGE = os.path.join(BUILD, "apps", "vsock-bridge")
BRIDGE_EAL = ["-l", "0", "--in-memory", "--no-pci",
              "--log-level=lib.eal:warning", "--log-level=lib.vhost.*:warning"]
BAD_LINE = "vsock-bridge: {uds}: bad CONNECT line"


def bridge_bad_line(tmp_path, levels):
    """Start a bridge, send its Unix socket a bad CONNECT line (a DEBUG
    line of vsock.bridge), stop it; returns what it printed."""
    sock = str(tmp_path / "v.sock")
    uds = str(tmp_path / "v.uds")
    proc = subprocess.Popen(
        [BRIDGE] + BRIDGE_EAL + levels + ["--", "--socket", sock, "--uds",
                                          uds, "--guest-cid", "7",
                                          "--nb-mbufs", "2048"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(uds):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "bridge did not start"
            time.sleep(0.05)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(uds)
        s.sendall(b"GARBAGE\n")
        # The bridge logs, then closes the connection.
        assert s.recv(100) == b""
        s.close()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out + err
    return out + err, BAD_LINE.format(uds=uds)


@pytest.mark.parametrize("levels,shown", [
    # Default: INFO for the bridge, its DEBUG lines hidden.
    ([], False),
    (["--log-level=vsock.bridge:debug"], True),
    (["--log-level=vsock.bridge:debug", "--log-level=vsock.*:error"], False),
], ids=["default", "bridge-debug", "bridge-debug-then-all-error"])
def test_bridge_log_levels(tmp_path, levels, shown):
    out, line = bridge_bad_line(tmp_path, levels)
    assert (line in out) == shown, out
