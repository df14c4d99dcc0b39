"""The hostile-device suite: the loopback device with a fault mode.

Each fault breaks one rule every Nth packet (or a few times) while
vsock-testpmd's verify mode runs connections beside it, checking every
byte. Each must be counted by its named counter and survived: the process
ends normally, every mbuf is back, and connections the fault hit are
reported as reset (then replaced, --reconnect), never as corrupted data.
Connections it did not hit finish intact.
"""
import pytest

from conftest import build_option, run_testpmd

# The fault modes are test hooks: make test's builds have them
# (-Dtest_hooks=true); a build with the default options refuses fault=.
pytestmark = pytest.mark.skipif(
    not build_option("test_hooks"),
    reason="the build under test has no test hooks (-Dtest_hooks=true)")

CONNS = 4

# (fault, extra spec, counter as "section.name", resets expected)
FAULTS = [
    # The ring protocol: the driver stops trusting the rings, the stack
    # hears TRANSPORT_RESET (every connection reset), the device is reset.
    ("used_id_range", "", "driver.bad_used_id", True),
    ("used_id_range", "packed=0", "driver.bad_used_id", True),
    ("used_id_dup", "packed=0", "driver.bad_used_id", True),
    ("used_idx_ahead", "packed=0", "driver.bad_used_idx", True),
    ("used_len_over", "", "driver.rx_bad_len", True),
    ("used_len_short", "packed=0", "driver.rx_bad_len", True),
    # The event queue: noise is counted and ignored.
    ("event_garbage", "", "driver.bad_events", False),
    # Header fields: the connection named is reset, the others go on.
    ("hdr_len", "", "stack.drop_bad_hdr", True),
    ("bad_op", "", "stack.drop_bad_op", True),
    ("bad_type", "", "stack.drop_bad_type", True),
    ("bad_flags", "", "stack.drop_bad_flags", True),
    ("fwd_back", "", "stack.drop_bad_credit", True),
    ("fwd_ahead", "", "stack.drop_bad_credit", True),
    # Extra packets that must match nothing: dropped, nobody hurt.
    ("dst_cid", "", "stack.drop_wrong_cid", False),
    ("src_cid", "", "stack.drop_bad_src_cid", False),
    # Absurd but survivable credit: clamped, or a stall that ends.
    ("buf_huge", "", "stack.peer_buf_clamped", None),
    ("buf_zero", "", "stack.peer_credit_shrunk", False),
]


def fault_id(f):
    return f[0] + ("-split" if "packed=0" in f[1] else "")


def counter(d, path):
    section, name = path.split(".")
    return d[section][name]


@pytest.mark.parametrize("fault,extra,path,resets", FAULTS,
                         ids=[fault_id(f) for f in FAULTS])
def test_fault_counted_and_survived(fault, extra, path, resets):
    # A few hits for those that reset, many for the harmless ones.
    every = "fault_every=100,fault_max=3" if resets else "fault_every=50"
    spec = f"loopback,fault={fault},{every}" + (f",{extra}" if extra else "")
    r = run_testpmd(["--dev", spec, "--mode", "verify", "--conns",
                     str(CONNS), "--size", "1-4096", "--bytes", "300000",
                     "--reconnect", "--duration", "20", "--json"],
                    timeout=90)
    # Ended on its own, with a verdict: no crash, no sanitizer report.
    assert r.rc in (0, 1), f"rc {r.rc}\n{r.stderr[-3000:]}"
    assert "Sanitizer" not in r.stderr, r.stderr[-3000:]
    d = r.json()
    e = d["error_detail"]
    assert counter(d, path) > 0, (path, d)
    # Loss is reported as a reset, never as bytes that differ.
    assert e["verify_fail"] == 0 and e["send_fail"] == 0, d
    assert d["errors"] == e["resets"] + e["connect_fail"], d
    assert (d["errors"] == 0) == (r.rc == 0)
    if resets is True:
        assert e["resets"] > 0, d
    elif resets is False:
        assert d["errors"] == 0, d
    # Every client slot finished a connection intact, all closed.
    assert d["client"]["conns_done"] == CONNS, d
    assert d["stack"]["conns_open"] == 0, d
    # Every mbuf is back: in use are only the rx buffers posted.
    assert d["pool"]["in_use"] == d["pool"]["rx_posted"], d["pool"]
    assert d["pool"]["ctl_in_use"] == 0, d["pool"]
    if path.startswith("driver.") and resets:
        assert d["driver"]["broken"] > 0 and d["driver"]["recoveries"] > 0
        assert d["stack"]["transport_resets"] > 0


def test_packed_refuses_faults_it_cannot_show():
    """A packed ring has no used index, and a twice-returned buffer may be
    posted again: those two faults want split rings, and say so."""
    r = run_testpmd(["--dev", "loopback,fault=used_id_dup", "--mode",
                     "verify", "--duration", "1", "--json"])
    assert r.rc == 2 and "packed=0" in r.stderr, r.stderr


def test_unknown_fault_named():
    r = run_testpmd(["--dev", "loopback,fault=nonsense", "--mode",
                     "verify", "--duration", "1"])
    assert r.rc == 2 and "fault=nonsense" in r.stderr, r.stderr
