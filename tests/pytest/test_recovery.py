"""Recovery of a device that broke the ring protocol: the driver resets
it, negotiates the same features, reads its CID again and runs it on
fresh rings, while vsock-testpmd's verify clients (--reconnect) carry on
byte for byte. Attempts back off (1 ms, x4, up to 1 s) and a device that
keeps breaking is given up after 8 failures in a row.

The loopback device's fault mode breaks the rings here (test hooks); the
vhost-user back-end that breaks once is in test_recovery_vhost_user.py.
"""
import re

import pytest

from conftest import build_option, run_testpmd

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


def assert_carried_on(d):
    """Loss only as resets, every client slot then finished a connection
    intact through the listener that stayed, every mbuf back."""
    e = d["error_detail"]
    assert e["verify_fail"] == 0 and e["send_fail"] == 0, d
    assert e["connect_fail"] == 0 and d["errors"] == e["resets"] > 0, d
    assert d["client"]["conns_done"] == CONNS, d
    assert d["server"]["conns_done"] >= CONNS, d
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
    # They came quickly: the second and third waited a little.
    assert backoffs(r.stderr) == BACKOFF[:2], r.stderr
    assert_carried_on(d)


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
    assert_carried_on(d)


def test_cid_read_again():
    """The device comes back with another CID: the stack hears it, and
    the clients (of our own CID) follow it."""
    r, d = verify("loopback,fault=used_id_range,fault_every=200,"
                  "fault_max=1,fault_cid=9")
    assert d["cid"] == 9, d
    assert d["driver"]["recoveries"] == 1, d["driver"]
    assert "cid now 9" in r.stderr, r.stderr
    assert_carried_on(d)


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
    attempts back off from 1 ms to 1 s, and the 9th break is the end."""
    r, d = verify("loopback,fault=used_id_range,fault_every=1",
                  duration=6)
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
                  "fault_max=1,fault_resets=100", duration=6)
    dr = d["driver"]
    assert dr["recoveries"] == 0 and dr["recovery_failures"] == 8, dr
    assert backoffs(r.stderr) == BACKOFF, r.stderr
    # What the stack still sent went nowhere, and was freed.
    assert dr["tx_dead"] > 0, dr
    gave_up(r, d)
