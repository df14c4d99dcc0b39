"""Packed virtqueues and EVENT_IDX: negotiated by default when offered,
refused or required with packed=0|1 and event_idx=0|1 on the --dev spec;
every byte checked over the loopback device and across processes through
the bridge."""
import pytest

from conftest import BRIDGE, EAL, TESTPMD, Background, run_testpmd, \
    wait_for_path
from test_testpmd_loopback import check_verify

EAL_VU = EAL + ["--single-file-segments"]
BRIDGE_ECHO = 5000


@pytest.mark.parametrize("opts,packed,event_idx", [
    ("", True, True),
    (",packed=1", True, True),
    (",packed=0", False, True),
    (",packed=1,event_idx=0", True, False),
    (",packed=0,event_idx=0", False, False),
])
def test_loopback_verify(opts, packed, event_idx):
    r = run_testpmd(["--dev", "loopback" + opts, "--mode", "verify",
                     "--conns", "20", "--size", "1-100000",
                     "--duration", "2", "--json"])
    assert r.rc == 0, r.stderr
    d = r.json()
    check_verify(d, 20)
    assert d["driver"]["packed"] is packed
    assert d["driver"]["event_idx"] is event_idx
    assert d["driver"]["bad_used_id"] == 0


def test_inline_device_packed():
    """One lcore: the device runs on kicks, so kicks must not be lost."""
    r = run_testpmd(["--dev", "loopback:packed=1", "--mode", "verify",
                     "--conns", "5", "--size", "1-70000",
                     "--duration", "2", "--json"],
                    eal=["-l", "0", "--in-memory", "--no-pci",
                         "--log-level=lib.eal:warning"])
    assert r.rc == 0, r.stderr
    d = r.json()
    check_verify(d, 5)
    assert d["driver"]["packed"] is True
    assert d["driver"]["kicks"] > 0


def test_bad_spec_values():
    r = run_testpmd(["--dev", "loopback,packed=2", "--mode", "verify"])
    assert r.rc != 0
    assert "packed=2" in r.stderr + r.stdout


@pytest.mark.parametrize("opts,packed", [(",packed=1", True),
                                         (",packed=0", False)])
def test_bridge_verify(procs, tmp_path, opts, packed):
    """The driver over vhost-user against the bridge's echo service."""
    vsock = str(tmp_path / "vhost.sock")
    uds = str(tmp_path / "v.sock")
    tp = Background([TESTPMD] + EAL_VU + [
        "--", "--dev", f"vhost-user:path={vsock},server=1" + opts,
        "--mode", "verify", "--peer", "2", "--port", str(BRIDGE_ECHO),
        "--conns", "20", "--size", "1-200000", "--duration", "3",
        "--json"], "testpmd")
    procs.append(tp)
    wait_for_path(vsock, tp)
    br = Background([BRIDGE] + EAL_VU + [
        "--", "--socket", vsock, "--uds", uds, "--guest-cid", "3",
        "--client", "--echo-port", str(BRIDGE_ECHO)], "vsock-bridge")
    procs.append(br)
    tp.proc.wait(120)
    tp.stop()
    if not tp.out:
        br.stop()
        pytest.fail(f"no result:\n{tp.err}\nbridge:\n{br.out}\n{br.err}")
    d = tp.json()
    assert d["errors"] == 0, tp.err
    assert d["client"]["bytes_rx"] == d["client"]["bytes_tx"] > 0
    assert d["client"]["conns_done"] == 20
    assert d["driver"]["packed"] is packed
    assert d["driver"]["event_idx"] is True
    assert d["driver"]["bad_used_id"] == 0
    br.stop()
