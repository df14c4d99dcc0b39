"""vsock-testpmd end to end over the in-process loopback device."""
import pytest

from conftest import run_testpmd


def check_verify(d, conns):
    """Every byte sent came back, checked on both sides, and closed."""
    assert d["errors"] == 0, d
    c, s = d["client"], d["server"]
    assert c["bytes_tx"] > 0
    # client -> server, checked by the server's pattern check
    assert s["bytes_rx"] == c["bytes_tx"]
    # server -> client, checked by the client's pattern check
    assert s["bytes_tx"] == s["bytes_rx"]
    assert c["bytes_rx"] == c["bytes_tx"]
    assert d["bytes_rx"] == c["bytes_rx"] + s["bytes_rx"]
    assert c["msgs_rx"] == c["msgs_tx"] > 0
    assert c["conns_done"] == conns and s["conns_done"] == conns
    assert d["stack"]["conns_open"] == 0
    assert d["stack"]["drop_bad_hdr"] == 0
    assert d["driver"]["rx_bad_len"] == 0


@pytest.mark.parametrize("vtype", ["stream", "seqpacket"])
def test_verify_100_conns_random_sizes(vtype):
    r = run_testpmd(["--dev", "loopback", "--mode", "verify", "--type",
                     vtype, "--conns", "100", "--size", "1-262144",
                     "--duration", "3", "--json"])
    assert r.rc == 0, r.stderr
    d = r.json()
    assert d["mode"] == "verify" and d["type"] == vtype
    assert d["conns"] == 100
    check_verify(d, 100)
    # Messages up to 256 KiB cross in several packets: splitting happened.
    assert d["stack"]["rx_pkts"] > d["client"]["msgs_rx"]


def test_verify_inline_device_single_lcore():
    """With no free lcore the device model runs inline in the poll loop."""
    r = run_testpmd(["--dev", "loopback:lcore=inline,cid=77", "--mode",
                     "verify", "--conns", "10", "--size", "1-70000",
                     "--duration", "1", "--json"],
                    eal=["-l", "0", "--in-memory", "--no-pci",
                         "--log-level=lib.eal:warning"])
    assert r.rc == 0, r.stderr
    check_verify(r.json(), 10)


def test_verify_small_rx_buffers_split_packets():
    """Rx buffers of 200 bytes: every large packet is split by the device."""
    r = run_testpmd(["--dev", "loopback:rx_buf=200,queue_size=64",
                     "--mode", "verify", "--type", "seqpacket", "--conns",
                     "4", "--size", "1-5000", "--duration", "1", "--json"])
    assert r.rc == 0, r.stderr
    d = r.json()
    check_verify(d, 4)
    assert d["stack"]["rx_pkts"] > 2 * d["client"]["msgs_rx"]


def test_pingpong_reports_rtt():
    r = run_testpmd(["--dev", "loopback", "--mode", "pingpong", "--size",
                     "64", "--duration", "1", "--json"])
    assert r.rc == 0, r.stderr
    d = r.json()
    assert d["errors"] == 0
    assert d["rtt_samples"] > 100
    assert 0 < d["rtt_us_p50"] <= d["rtt_us_p99"]
    # One message in flight: each reply completes exactly one message.
    assert d["client"]["msgs_rx"] == d["rtt_samples"]
    assert d["client"]["bytes_rx"] == 64 * d["client"]["msgs_rx"]


def test_source_to_sink_moves_every_byte():
    r = run_testpmd(["--dev", "loopback", "--mode", "source", "--conns",
                     "4", "--size", "64-65536", "--duration", "1",
                     "--json"])
    assert r.rc == 0, r.stderr
    d = r.json()
    assert d["errors"] == 0
    assert d["client"]["bytes_tx"] > 0
    assert d["server"]["bytes_rx"] == d["client"]["bytes_tx"]
    assert d["gbps"] > 0 and d["mpps"] > 0


def test_tiny_messages_fill_pool_without_stalling():
    """64-byte sends pin whole mbufs; the pool runs dry and recovers."""
    r = run_testpmd(["--dev", "loopback", "--mode", "source", "--size",
                     "64", "--nb-mbufs", "2048", "--duration", "1",
                     "--json"])
    assert r.rc == 0, r.stderr
    d = r.json()
    assert d["errors"] == 0
    assert d["server"]["bytes_rx"] == d["client"]["bytes_tx"]
    # Far more than the pool holds went through: nothing stalled.
    assert d["client"]["msgs_tx"] > 100 * 2048


def test_connect_to_empty_host_is_refused():
    """CID 2 behind the loopback device has no listener: RST, fast."""
    r = run_testpmd(["--dev", "loopback", "--mode", "source", "--peer", "2",
                     "--conns", "3", "--duration", "0.5", "--json"])
    assert r.rc == 1
    d = r.json()
    assert d["error_detail"]["connect_fail"] == 3
    assert d["errors"] == 3
    assert d["stack"]["rst_rx"] == 3
    assert "Connection reset" in r.stderr


def test_echo_server_runs_for_duration():
    r = run_testpmd(["--dev", "loopback", "--mode", "echo", "--duration",
                     "0.5", "--json"])
    assert r.rc == 0, r.stderr
    d = r.json()
    assert d["mode"] == "echo" and d["errors"] == 0


@pytest.mark.parametrize("args,bad", [
    (["--dev", "nonsense", "--mode", "verify"], "'nonsense'"),
    (["--dev", "loopback:cid=2", "--mode", "verify"], "cid=2"),
    (["--dev", "loopback:queue_size=100", "--mode", "verify"],
     "queue_size=100"),
    (["--dev", "loopback:colour=blue", "--mode", "verify"], "colour"),
    (["--dev", "loopback", "--mode", "flood"], "'flood'"),
    (["--dev", "loopback", "--mode", "verify", "--size", "10-5"],
     "'10-5'"),
    (["--dev", "loopback", "--mode", "verify", "--conns", "0"], "'0'"),
    (["--dev", "loopback", "--mode", "verify", "--type", "dgram"],
     "SOCK_DGRAM"),
    (["--dev", "loopback", "--mode", "verify", "--bogus"], "--bogus"),
    (["--mode", "verify"], "--dev"),
])
def test_bad_options_exit_2_naming_the_value(args, bad):
    r = run_testpmd(args)
    assert r.rc == 2, (r.stdout, r.stderr)
    assert bad in r.stderr
    assert r.stdout == ""


def test_help_lists_every_option():
    r = run_testpmd(["--help"])
    assert r.rc == 0
    for opt in ["--dev", "--mode", "--type", "--conns", "--size",
                "--duration", "--port", "--peer", "--json", "--nb-mbufs",
                "--seed", "loopback[:cid=N]"]:
        assert opt in r.stdout, opt


@pytest.mark.parametrize("vtype", ["stream", "seqpacket"])
@pytest.mark.parametrize("dev", ["loopback", "none"])
def test_verify_1000_conns(vtype, dev):
    """1,000 concurrent connections, 1..256 KiB, over the device or CID 1."""
    r = run_testpmd(["--dev", dev, "--mode", "verify", "--type", vtype,
                     "--conns", "1000", "--size", "1-262144", "--duration",
                     "5" if dev == "loopback" else "2", "--json"])
    assert r.rc == 0, r.stderr
    d = r.json()
    check_verify(d, 1000)
    if dev == "none":
        # No device at all: every packet went over the in-stack path.
        assert d["stack"]["local_pkts"] == d["stack"]["rx_pkts"] > 0
        assert d["driver"]["rx_pkts"] == 0


@pytest.mark.parametrize("dev", ["loopback", "none"])
def test_one_way_1gib_does_not_stall(dev):
    """A receiver that only receives must keep the credit flowing."""
    r = run_testpmd(["--dev", dev, "--mode", "source", "--size",
                     "65536", "--bytes", str(1 << 30), "--duration", "120",
                     "--json"], timeout=180)
    assert r.rc == 0, r.stderr
    d = r.json()
    assert d["client"]["bytes_tx"] == 1 << 30
    assert d["server"]["bytes_rx"] == 1 << 30
    assert d["stack"]["credit_updates_tx"] > 0
    assert d["errors"] == 0


@pytest.mark.parametrize("mode", ["echo", "sink", "source", "pingpong",
                                  "verify"])
def test_seqpacket_every_mode(mode):
    args = ["--dev", "loopback", "--mode", mode, "--type", "seqpacket",
            "--size", "1-70000", "--duration", "1", "--json"]
    r = run_testpmd(args)
    assert r.rc == 0, r.stderr
    d = r.json()
    assert d["type"] == "seqpacket" and d["errors"] == 0
    if mode in ("source", "pingpong", "verify"):
        assert d["client"]["msgs_tx"] > 0
        # Whole messages came through: the server saw each one end.
        assert d["server"]["msgs_rx"] == d["client"]["msgs_tx"]


def test_dev_none_runs_over_cid1():
    r = run_testpmd(["--dev", "none", "--mode", "pingpong", "--duration",
                     "1", "--json"])
    assert r.rc == 0, r.stderr
    d = r.json()
    assert d["rtt_samples"] > 100
    assert d["stack"]["local_pkts"] > 0
