"""Recovery of a device that broke the ring protocol: the driver resets
it, negotiates the same features, reads its CID again and runs it on
fresh rings, while vsock-testpmd's verify clients (--reconnect) carry on
byte for byte. Attempts back off (1 ms, x4, up to 1 s) and a device that
keeps breaking (within a second or 64 packets of its recovery) is given
up after 8 failures in a row.

The rings are broken by the loopback device's fault mode and by a
vhost-user back-end (lib/vsock_vhost in another vsock-testpmd, --h2g
...,break_rx=N) that breaks the guest's rx ring once and then behaves:
both are test hooks.
"""
import os
import re
import time

import pytest

from conftest import (EAL, TESTPMD, Background, build_option, run_testpmd,
                      wait_for_path)
from test_telemetry import Proc, telemetry_py, unique_prefix

pytestmark = pytest.mark.skipif(
    not build_option("test_hooks"),
    reason="the build under test has no test hooks (-Dtest_hooks=true)")

CONNS = 4
# The waits of the attempts after 1..7 failures in a row, in ms.
BACKOFF = [1, 4, 16, 64, 256, 1000, 1000]


def verify(spec, duration=20, extra=()):
    r = run_testpmd(["--dev", spec, "--mode", "verify", "--conns",
                     str(CONNS), "--size", "1-4096", "--bytes", "300000",
                     "--reconnect", "--duration", str(duration), "--json"]
                    + list(extra), timeout=90)
    assert r.rc in (0, 1), f"rc {r.rc}\n{r.stderr[-3000:]}"
    assert "Sanitizer" not in r.stderr, r.stderr[-3000:]
    return r, r.json()


def backoffs(stderr):
    return [int(m) for m in re.findall(r"next attempt in (\d+) ms", stderr)]


def assert_carried_on(d, server=True, log="", outage=False):
    """Loss only as resets (and, after an @outage of seconds, connects
    that timed out meanwhile), every client slot then finished a
    connection intact (through our listener, which stayed), every mbuf
    back."""
    e = d["error_detail"]
    assert e["verify_fail"] == 0 and e["send_fail"] == 0, d
    assert outage or e["connect_fail"] == 0, (d, log[-3000:])
    assert d["errors"] == e["resets"] + e["connect_fail"], d
    assert e["resets"] > 0, (d, log[-3000:])
    assert d["client"]["conns_done"] == CONNS, d
    assert not server or d["server"]["conns_done"] >= CONNS, d
    assert d["client"]["bytes_rx"] >= CONNS * 300000, d
    assert d["stack"]["conns_open"] == 0, d
    assert d["pool"]["in_use"] == d["pool"]["rx_posted"] > 0, d["pool"]
    assert d["pool"]["ctl_in_use"] == 0, d["pool"]


@pytest.mark.parametrize("rings", ["", ",packed=0"], ids=["packed", "split"])
def test_each_break_recovered(rings):
    r, d = verify("loopback,fault=used_id_range,fault_every=200,"
                  "fault_max=3" + rings)
    dr = d["driver"]
    # Three breaks, each reported once, each recovered at the first try.
    assert dr["broken"] == 3 and dr["recoveries"] == 3, dr
    assert dr["recovery_failures"] == 0 and dr["tx_dead"] == 0, dr
    assert d["stack"]["transport_resets"] == 3, d["stack"]
    assert "(recovery 3)" in r.stderr, r.stderr
    # A break within a second of the last recovery waited a little (on a
    # loaded machine the faults may come further apart).
    waits = backoffs(r.stderr)
    assert len(waits) <= 2 and waits == BACKOFF[:len(waits)], r.stderr
    assert_carried_on(d, log=r.stderr)


def test_refused_resets_retried_with_backoff():
    r, d = verify("loopback,fault=used_id_range,fault_every=200,"
                  "fault_max=1,fault_resets=3")
    dr = d["driver"]
    assert dr["broken"] == 1 and dr["recovery_failures"] == 3, dr
    assert dr["recoveries"] == 1, dr
    assert backoffs(r.stderr) == BACKOFF[:3], r.stderr
    assert r.stderr.count("recovery failed") == 3, r.stderr
    # One break, one TRANSPORT_RESET, however many attempts.
    assert d["stack"]["transport_resets"] == 1, d["stack"]
    assert_carried_on(d, log=r.stderr)


@pytest.mark.parametrize("busy", [20, 600])
def test_device_not_back_yet_is_waited_for(busy):
    """The device is not back from a reset of its own (a PCI function
    mid-reset decodes no BAR): the driver looks again every 10 ms, for
    up to 500 times (5 s), without counting a failure; past that, one."""
    r, d = verify("loopback,fault=used_id_range,fault_every=200,"
                  f"fault_max=1,fault_busy={busy}", duration=30)
    dr = d["driver"]
    assert dr["broken"] == 1 and dr["recoveries"] == 1, dr
    assert dr["recovery_failures"] == (busy > 500), dr
    # Said once per wait, not once per look.
    assert r.stderr.count("not back from a reset of its own") == \
        1 + 2 * (busy > 500), r.stderr[-3000:]
    # Past the waits, the failure says why, not strerror(EAGAIN).
    assert ("recovery failed: still not back from a reset of its own "
            "after 5000 ms" in r.stderr) == (busy > 500), r.stderr[-3000:]
    assert d["stack"]["transport_resets"] == 1, d["stack"]
    assert_carried_on(d, log=r.stderr, outage=busy > 500)


def test_cid_read_again():
    """The device comes back with another CID: the stack hears it, and
    the clients (of our own CID) follow it."""
    r, d = verify("loopback,fault=used_id_range,fault_every=200,"
                  "fault_max=1,fault_cid=9")
    assert d["cid"] == 9, d
    assert d["driver"]["recoveries"] == 1, d["driver"]
    assert "cid now 9" in r.stderr, r.stderr
    assert_carried_on(d, log=r.stderr)


def test_break_after_recovered():
    """break_after=N, the hook the guest tests use on devices that never
    break a ring: the same recovery, on the loopback device."""
    r, d = verify("loopback,break_after=500")
    dr = d["driver"]
    assert dr["broken"] == 1 and dr["recoveries"] == 1, dr
    assert "break_after= (test hook)" in r.stderr, r.stderr
    assert_carried_on(d, log=r.stderr)
    bad = run_testpmd(["--dev", "loopback,break_after=0", "--mode",
                       "verify", "--duration", "1"])
    assert bad.rc == 2 and "break_after=0" in bad.stderr, bad.stderr


def gave_up(r, d):
    """The device is down for good, said so once, and holds nothing."""
    assert r.rc == 1
    assert r.stderr.count("giving up after 8 failed recoveries") == 1, \
        r.stderr
    assert d["pool"]["in_use"] == d["pool"]["rx_posted"] == 0, d["pool"]
    assert d["pool"]["ctl_in_use"] == 0, d["pool"]
    assert d["stack"]["conns_open"] == 0, d
    assert d["error_detail"]["verify_fail"] == 0, d


def test_keeps_breaking_gives_up():
    """Breaks on every packet: each recovery holds for one packet. The
    attempts back off from 1 ms to 1 s, and the 9th break is the end
    (after 2.3 s of waits; the run lasts longer for slow machines)."""
    r, d = verify("loopback,fault=used_id_range,fault_every=1",
                  duration=12)
    dr = d["driver"]
    assert dr["recoveries"] == 8 and dr["broken"] == 9, dr
    assert dr["recovery_failures"] == 0, dr
    assert backoffs(r.stderr) == BACKOFF, r.stderr
    # No spinning on a broken device: one bad used id or a few a break.
    assert dr["bad_used_id"] <= 9 * 8, dr
    assert d["stack"]["transport_resets"] == 9, d["stack"]
    gave_up(r, d)


def test_never_resets_gives_up():
    r, d = verify("loopback,fault=used_id_range,fault_every=200,"
                  "fault_max=1,fault_resets=100", duration=10)
    dr = d["driver"]
    assert dr["recoveries"] == 0 and dr["recovery_failures"] == 8, dr
    assert backoffs(r.stderr) == BACKOFF, r.stderr
    # What the stack still sent went nowhere, and was freed.
    assert dr["tx_dead"] > 0, dr
    gave_up(r, d)


def test_recoveries_in_telemetry(procs):
    """/vsock/ports carries the driver's recovery counters."""
    p = Proc(procs, TESTPMD, ["-l", "0-1", "--in-memory", "--no-pci"],
             ["--dev", "loopback,fault=used_id_range,fault_every=200,"
              "fault_max=2", "--mode", "verify", "--conns", "4",
              "--reconnect", "--duration", "30"], "recovery")
    end = time.monotonic() + 20
    while True:
        (ports,) = telemetry_py(p.prefix, ["/vsock/ports"])
        port = (ports or {}).get("0", {})
        if port.get("recoveries") == 2:
            break
        assert p.bg.alive() and time.monotonic() < end, (ports, p.bg.err)
        time.sleep(0.2)
    assert port["broken"] == 2 and port["recovery_failures"] == 0, port
    assert port["tx_dead"] == 0, port
    p.stop()


# One core each: both processes poll, they must not share one.
HOST_EAL = ["-l", "0", "--in-memory", "--no-pci",
            "--log-level=lib.eal:warning",
            "--log-level=lib.vhost.config:warning"]
GUEST_EAL = ["-l", "1", "--in-memory", "--no-pci", "--single-file-segments",
             "--log-level=lib.eal:warning"]


@pytest.mark.parametrize("rings", ["", ",packed=0"], ids=["packed", "split"])
def test_vhost_user_back_end_breaks_once(procs, tmp_path, rings):
    """The back-end gives one rx buffer back with a used id out of range,
    then behaves: the driver stops its rings over the same socket
    (GET_VRING_BASE), sets them up again from index 0, and verify carries
    on byte for byte."""
    sock = str(tmp_path / "vu.sock")
    host = Background([TESTPMD] + HOST_EAL + [
        "--file-prefix", unique_prefix("vuhost"), "--", "--dev", "none",
        "--h2g", f"{sock},cid=5,break_rx=300", "--mode", "echo",
        "--duration", "0", "--json"], "host")
    procs.append(host)
    wait_for_path(sock, host)
    r = run_testpmd(["--dev", f"vhost-user:path={sock}{rings}", "--mode",
                     "verify", "--peer", "2", "--conns", str(CONNS),
                     "--size", "1-4096", "--bytes", "300000",
                     "--reconnect", "--duration", "30", "--json"],
                    eal=GUEST_EAL + ["--file-prefix",
                                     unique_prefix("vuguest")],
                    timeout=90)
    assert host.alive(), host.err
    host.stop()
    assert r.rc in (0, 1), f"rc {r.rc}\n{r.stderr[-3000:]}"
    assert "Sanitizer" not in r.stderr + host.err, r.stderr + host.err
    d = r.json()
    dr = d["driver"]
    assert dr["broken"] == 1 and dr["bad_used_id"] == 1, dr
    assert dr["recoveries"] == 1 and dr["recovery_failures"] == 0, dr
    assert dr["bad_replies"] == 0 and dr["tx_dead"] == 0, dr
    assert d["stack"]["transport_resets"] == 1, d["stack"]
    assert "(recovery 1)" in r.stderr, r.stderr
    # Over the same socket: the back-end saw no new front-end.
    assert "connecting again" not in r.stderr, r.stderr
    assert d["cid"] == 5
    assert_carried_on(d, server=False, log=r.stderr)
    # The host's connections of the old session were reset, its own
    # stack kept serving, and nothing of its pool was lost.
    h = host.json()
    assert h["errors"] == 0 and h["resets"]["transport"] > 0, h
    assert h["server"]["conns_done"] >= CONNS, h["server"]
    assert h["pool"]["in_use"] == 0 and h["pool"]["ctl_in_use"] == 0, h
