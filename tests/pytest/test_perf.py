"""vsock-perf end to end: every test kind on the loopback device (the
process serves itself) and against vsock-bridge --perf-port over
vhost-user; what the sinks count must equal what was sent."""
import json
import os
import subprocess

import pytest

from conftest import BRIDGE, BUILD, EAL, Background, wait_for_path

PERF = os.path.join(BUILD, "apps", "vsock-perf")
EAL_VU = ["--in-memory", "--single-file-segments", "--no-pci",
          "--log-level=lib.eal:warning"]


def run_perf(args, eal=None, timeout=120):
    cmd = [PERF] + (EAL if eal is None else eal) + ["--"] + args
    p = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=timeout)
    return p


def perf_json(args, eal=None):
    p = run_perf(args + ["-J"], eal)
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    d = json.loads(p.stdout)
    assert d["end"]["errors"] == 0, d
    return d


def check_send(d, size):
    e = d["end"]
    sent, rcvd = e["sum_sent"], e["sum_received"]
    assert sent["bytes"] > 0 and sent["bytes"] % size == 0
    # The sinks' own counts, sent back at the end: nothing lost.
    assert rcvd["bytes"] == sent["bytes"], e
    assert sent["msgs"] == sent["bytes"] // size
    assert e["sum_sent"]["bits_per_second"] > 0


@pytest.mark.parametrize("size", [1, 64, 4096, 65536, 200000])
def test_loopback_send_every_byte_counted(size):
    d = perf_json(["--dev", "loopback", "-l", str(size), "-t", "1"])
    assert d["start"]["test"] == "send"
    check_send(d, size)
    assert d["end"]["server"]["bytes_rx"] == d["end"]["sum_sent"]["bytes"]


def test_loopback_parallel_seqpacket():
    d = perf_json(["-l", "3000", "-t", "1", "-P", "4", "--seqpacket"])
    assert d["start"]["type"] == "seqpacket"
    assert d["end"]["server"]["conns"] == 4
    check_send(d, 3000)


def test_loopback_reverse_zero_copy_receive():
    d = perf_json(["-l", "65536", "-t", "1", "-R"])
    e = d["end"]
    assert e["sum_received"]["bytes"] > 0
    assert e["server"]["bytes_tx"] >= e["sum_received"]["bytes"]


def test_loopback_latency_histogram():
    d = perf_json(["-l", "64", "-t", "1", "--latency"])
    lat = d["end"]["latency"]
    assert lat["samples"] > 100
    assert 0 < lat["min_us"] <= lat["p50_us"] <= lat["p99_us"] \
        <= lat["p999_us"] <= lat["max_us"]
    # Every ping came back whole.
    assert d["end"]["sum_received"]["bytes"] >= 64 * lat["samples"]


def test_loopback_conn_rate():
    d = perf_json(["-t", "1", "--conn-rate", "-P", "8"])
    c = d["end"]["connect"]
    assert c["conns"] > 100 and c["per_second"] > 0
    # Each was accepted by the server and closed before any hello.
    assert d["end"]["server"]["probes"] >= c["conns"] - 8


def test_loopback_idle_connections_and_intervals():
    d = perf_json(["-l", "4096", "-t", "1.6", "-i", "0.5",
                   "--idle", "2000"])
    m = d["end"]["memory"]
    assert m["idle_conns"] == 2000
    # (>=: under ASan, malloc is not glibc's and mallinfo2() sees nothing)
    assert m["per_idle_conn_bytes"] >= m["stack_bytes_per_conn"] > 0
    assert d["end"]["server"]["conns"] == 2001
    assert len(d["intervals"]) >= 3
    assert all(i["bytes"] > 0 for i in d["intervals"])
    check_send(d, 4096)


def test_text_output_has_intervals_and_summary():
    p = run_perf(["-l", "1024", "-t", "1.2", "-i", "0.5"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("[SUM]") >= 4
    assert "sender" in p.stdout and "receiver" in p.stdout


@pytest.mark.parametrize("args,bad", [
    (["-l", "0"], "'0'"),
    (["-l", "2000000"], "'2000000'"),
    (["-P", "0"], "'0'"),
    (["-c", "abc"], "'abc'"),
    (["-t", "-1"], "'-1'"),
    (["--idle", "x"], "'x'"),
    (["-s", "-c", "2"], "-s"),
    (["-R", "--latency"], "choose one"),
    (["--verify"], "echo server"),
    (["-l", "1-100"], "needs --verify"),
    (["-c", "2", "--verify", "-l", "9-3"], "'9-3'"),
    (["--dev", "nonsense"], "'nonsense'"),
    (["--dev", "vhost-user:path=/x"], "-c"),
    (["--bogus"], "--bogus"),
    (["--cold"], "--cold"),
    (["-c", "2", "--cold", "--latency"], "--cold"),
])
def test_bad_options_exit_2_naming_the_value(args, bad):
    p = run_perf(args)
    assert p.returncode == 2, (args, p.stdout, p.stderr)
    assert bad in p.stderr, p.stderr


def test_help():
    p = run_perf(["--help"])
    assert p.returncode == 0
    for opt in ("-s", "-c CID", "-R", "--latency", "--conn-rate",
                "--idle", "-J"):
        assert opt in p.stdout


@pytest.fixture
def bridge(procs, tmp_path):
    sock = str(tmp_path / "vhost.sock")
    uds = str(tmp_path / "v.sock")
    br = Background([BRIDGE, "-l", "0"] + EAL_VU + [
        "--", "--socket", sock, "--uds", uds, "--guest-cid", "3",
        "--perf-port", "5201", "--max-conns", "8192"], "vsock-bridge")
    procs.append(br)
    wait_for_path(sock, br)
    return br, sock


def perf_vu(sock, args):
    return perf_json(["--dev", f"vhost-user:path={sock}", "-c", "2",
                      "-p", "5201"] + args, eal=["-l", "1"] + EAL_VU)


def test_bridge_serves_every_test(bridge):
    br, sock = bridge
    check_send(perf_vu(sock, ["-l", "65536", "-t", "1"]), 65536)
    check_send(perf_vu(sock, ["-l", "64", "-t", "1", "-P", "2"]), 64)
    check_send(perf_vu(sock, ["-l", "5000", "-t", "1", "--seqpacket"]),
               5000)
    d = perf_vu(sock, ["-l", "65536", "-t", "1", "-R"])
    assert d["end"]["sum_received"]["bytes"] > 0
    d = perf_vu(sock, ["-l", "64", "-t", "1", "--latency"])
    assert d["end"]["latency"]["samples"] > 100
    d = perf_vu(sock, ["-t", "1", "--conn-rate", "-P", "4"])
    assert d["end"]["connect"]["conns"] > 100
    d = perf_vu(sock, ["-l", "1024", "-t", "1", "--idle", "1000"])
    assert d["end"]["memory"]["idle_conns"] == 1000
    assert br.stop() == 0, br.err
    perf = [l for l in br.out.splitlines() if l.strip().startswith("perf:")]
    assert perf, br.out
    f = perf[0].split()
    stat = dict(zip(f[1::2], map(int, f[2::2])))
    assert stat["sink"] == 1 + 2 + 1 + 1 and stat["source"] == 1
    assert stat["echo"] == 1 and stat["idle"] == 1000
    assert stat["bad_hello"] == 0 and stat["errors"] == 0


def test_ring_counts_packets_not_writes(bridge):
    """The "ring" figures are the driver's packets over the test window:
    64 B SEQPACKET is one packet per message each way; 64 B STREAM
    writes are coalesced, so far fewer packets than writes."""
    br, sock = bridge
    d = perf_vu(sock, ["-l", "64", "-t", "1", "--seqpacket"])
    check_send(d, 64)
    ring, msgs = d["end"]["ring"], d["end"]["sum_sent"]["msgs"]
    assert 0 < ring["seconds"] <= 1.5
    # a few messages may still be staged when the window closes
    assert 0.9 * msgs <= ring["tx_pkts"] <= 1.02 * msgs + 64, d["end"]
    assert ring["tx_pkts_per_second"] == pytest.approx(
        ring["tx_pkts"] / ring["seconds"], rel=1e-5)
    d = perf_vu(sock, ["-l", "64", "-t", "1", "--seqpacket", "-R"])
    ring, msgs = d["end"]["ring"], d["end"]["sum_received"]["msgs"]
    assert 0.9 * msgs <= ring["rx_pkts"] <= 1.02 * msgs + 64, d["end"]
    d = perf_vu(sock, ["-l", "64", "-t", "1"])
    ring, msgs = d["end"]["ring"], d["end"]["sum_sent"]["msgs"]
    assert 0 < ring["tx_pkts"] < msgs / 10, d["end"]
    assert br.stop() == 0, br.err


COLD_MIB = 64


def test_cold_source_and_reading_sink_both_ways(procs, tmp_path):
    """--cold: the sender walks a pattern larger than a small LLC and the
    receiver reads every byte, on both ends of the protocol (the bridge
    serves it as sink and as source); every byte still counted."""
    env = dict(os.environ, VSOCK_PERF_COLD_BYTES=str(COLD_MIB << 20))
    sock, uds = str(tmp_path / "vhost.sock"), str(tmp_path / "v.sock")
    br = Background([BRIDGE, "-l", "0"] + EAL_VU + [
        "--", "--socket", sock, "--uds", uds, "--guest-cid", "3",
        "--perf-port", "5201"], "vsock-bridge", env=env)
    procs.append(br)
    wait_for_path(sock, br)
    base = [PERF, "-l", "1"] + EAL_VU + [
        "--", "--dev", f"vhost-user:path={sock}", "-c", "2", "-p", "5201",
        "--cold", "-t", "1", "-J"]
    for extra in (["-l", "65536"], ["-l", "1000"], ["-l", "65536", "-R"]):
        p = subprocess.run(base + extra, capture_output=True, text=True,
                           timeout=120, env=env)
        assert p.returncode == 0, (extra, p.stdout, p.stderr)
        d = json.loads(p.stdout)
        assert d["start"]["cold"] is True, d["start"]
        assert d["start"]["cold_bytes"] == COLD_MIB << 20
        assert d["end"]["errors"] == 0, d["end"]
        if "-R" in extra:
            assert d["end"]["sum_received"]["bytes"] > 0
        else:
            check_send(d, int(extra[1]))
    # a bad size is named, before any traffic
    p = subprocess.run(base + ["-l", "4096"], capture_output=True,
                       text=True, timeout=120,
                       env=dict(env, VSOCK_PERF_COLD_BYTES="12345"))
    assert p.returncode == 2 and "'12345'" in p.stderr, p.stderr
    assert br.stop() == 0, br.err
    perf = [l for l in br.out.splitlines() if l.strip().startswith("perf:")]
    f = perf[0].split()
    stat = dict(zip(f[1::2], map(int, f[2::2])))
    assert stat["sink"] == 2 and stat["source"] == 1, stat
    assert stat["bad_hello"] == 0 and stat["errors"] == 0, stat


def test_verify_against_the_bridge_echo(procs, tmp_path):
    """Every echoed byte compared, SHA-256 of both streams per connection;
    without faults nothing is lost."""
    sock = str(tmp_path / "vhost.sock")
    br = Background([BRIDGE, "-l", "0"] + EAL_VU + [
        "--", "--socket", sock, "--uds", str(tmp_path / "v.sock"),
        "--guest-cid", "3", "--echo-port", "1234"], "vsock-bridge")
    procs.append(br)
    wait_for_path(sock, br)
    d = perf_json(["--dev", f"vhost-user:path={sock}", "-c", "2", "-p",
                   "1234", "--verify", "-P", "20", "-l", "1-70000",
                   "--bytes", "100000000", "--conn-bytes", "1000000"],
                  eal=["-l", "1"] + EAL_VU)
    v, e = d["end"]["verify"], d["end"]
    assert v["corrupt"] == 0 and v["unreported_loss"] == 0
    assert v["resets"] == 0 and v["lost_bytes"] == 0
    assert v["conns_ok"] == v["sha256_ok"] > 20
    assert v["bytes_echoed"] == v["bytes_ok"] == e["sum_sent"]["bytes"]
    assert e["sum_sent"]["bytes"] >= 100000000
    assert e["pool"]["in_use"] == e["pool"]["rx_posted"]
    assert br.stop() == 0, br.err


def test_verify_through_exhausted_pools(procs, tmp_path):
    """Both sides with the smallest pools and 200 connections: the driver's
    rx refill finds the pool empty again and again and retries; nothing is
    lost, every mbuf comes back."""
    sock = str(tmp_path / "vhost.sock")
    br = Background([BRIDGE, "-l", "0"] + EAL_VU + [
        "--", "--socket", sock, "--uds", str(tmp_path / "v.sock"),
        "--guest-cid", "3", "--echo-port", "1234", "--nb-mbufs", "1024"],
        "vsock-bridge")
    procs.append(br)
    wait_for_path(sock, br)
    d = perf_json(["--dev", f"vhost-user:path={sock}", "-c", "2", "-p",
                   "1234", "--verify", "-P", "200", "-l", "1-65536",
                   "--bytes", "100000000", "--conn-bytes", "500000",
                   "--nb-mbufs", "1024"], eal=["-l", "1"] + EAL_VU)
    v, e = d["end"]["verify"], d["end"]
    assert e["driver"]["rx_nombuf"] > 0
    assert v["corrupt"] == 0 and v["unreported_loss"] == 0
    assert v["resets"] == 0 and v["conns_ok"] > 0
    assert v["bytes_echoed"] == e["sum_sent"]["bytes"] >= 100000000
    assert e["pool"]["in_use"] == e["pool"]["rx_posted"]
    assert br.stop() == 0, br.err


def test_bridge_resets_a_bad_hello(bridge, procs):
    """A client that does not speak the protocol is reset and counted;
    the server keeps serving."""
    br, sock = bridge
    testpmd = os.path.join(BUILD, "apps", "vsock-testpmd")
    p = subprocess.run([testpmd, "-l", "1"] + EAL_VU + [
        "--", "--dev", f"vhost-user:path={sock}", "--mode", "source",
        "--peer", "2", "--port", "5201", "--size", "64", "--duration",
        "1", "--json"], capture_output=True, text=True, timeout=60)
    d = json.loads([l for l in p.stdout.splitlines()
                    if l.startswith("{")][0])
    assert sum(d["resets"].values()) > 0, d
    check_send(perf_vu(sock, ["-l", "4096", "-t", "1"]), 4096)
    assert br.stop() == 0, br.err
    line = [l for l in br.out.splitlines() if l.strip().startswith("perf:")]
    f = line[0].split()
    stat = dict(zip(f[1::2], map(int, f[2::2])))
    assert stat["bad_hello"] >= 1 and stat["sink"] == 1
