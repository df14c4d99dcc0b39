"""The benchmark harness's pieces work: the sockperf peer (AF_UNIX and TCP
loopback, stream both ways, ping-pong, connection rate) gives sane JSON,
and perf/bench_report.py writes latest.json, latest.md and the plots with
the fields make bench promises. Nothing here checks a timing."""
import json
import os
import socket
import subprocess
import sys

import pytest

from conftest import BUILD, ROOT, Background, wait_for_path

SOCKPERF = os.path.join(BUILD, "perf", "peers", "sockperf")
BENCH = os.path.join(ROOT, "perf", "bench.py")
sys.path.insert(0, os.path.join(ROOT, "perf"))
import bench_report as rep  # noqa: E402


@pytest.fixture(autouse=True)
def sockperf_built():
    if not os.access(SOCKPERF, os.X_OK):
        pytest.fail(f"{SOCKPERF} is missing: run 'make build' first")


def sockperf(*args, timeout=60):
    p = subprocess.run([SOCKPERF] + list(args), capture_output=True,
                       text=True, timeout=timeout)
    return p


def one_json(out):
    lines = [l for l in out.splitlines() if l.startswith("{")]
    assert len(lines) == 1, out
    return json.loads(lines[0])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_server(procs, family, tmp_path):
    if family == "unix":
        addr = ["--unix", str(tmp_path / "sp.sock")]
    else:
        addr = ["--tcp", str(free_port())]
    srv = Background([SOCKPERF, "--server", "--once"] + addr,
                     f"sockperf {family} server")
    procs.append(srv)
    if family == "unix":
        wait_for_path(addr[1], srv)
    else:
        import time
        end = time.monotonic() + 30
        while True:
            # A probe that connects and closes is served and forgotten;
            # with --once it would end the server, so poll by listening
            # state instead: bind fails while the server holds the port.
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", int(addr[1])))
            except OSError:
                break
            finally:
                s.close()
            assert srv.alive() and time.monotonic() < end
            time.sleep(0.05)
    return srv, addr


def test_help_and_bad_options():
    p = sockperf("--help")
    assert p.returncode == 0 and "--conn-rate" in p.stdout
    p = sockperf("--client", "--unix", "/tmp/x", "--size", "0")
    assert p.returncode == 2 and "'0'" in p.stderr
    p = sockperf("--client", "--tcp", "70000")
    assert p.returncode == 2 and "'70000'" in p.stderr
    p = sockperf("--client", "--unix", "/tmp/x", "--mode", "sideways")
    assert p.returncode == 2 and "'sideways'" in p.stderr
    p = sockperf("--client", "--unix", "/tmp/x", "--time", "-1")
    assert p.returncode == 2 and "'-1'" in p.stderr
    p = sockperf("--frobnicate")
    assert p.returncode == 2 and "--frobnicate" in p.stderr
    p = sockperf("--client")
    assert p.returncode == 2 and "--unix" in p.stderr


def test_vsock_options():
    """sockperf --vsock (the vsock-perf protocol client, run under the
    preload by perf/bench.py) parses its options and rejects bad ones.
    Every call here fails in the parser: no socket is created (a valid
    --vsock run outside the preload and vsock-guard would reach the
    kernel's AF_VSOCK)."""
    p = sockperf("--help")
    assert p.returncode == 0 and "--vsock CID:PORT" in p.stdout
    for bad in ("1:notaport", "x:5201", ":5201", "1:", "5201",
                "4294967296:1", "1:4294967296", "1:-1", "-1:1"):
        p = sockperf("--client", "--vsock", bad, "--time", "0.1")
        assert p.returncode == 2, (bad, p.stderr)
        assert f"'{bad}'" in p.stderr and "--vsock" in p.stderr
        assert p.stdout == ""
    # Well-formed addresses with an option --vsock does not take.
    p = sockperf("--server", "--vsock", "1:5201")
    assert p.returncode == 2 and "--client only" in p.stderr
    p = sockperf("--conn-rate", "--vsock", "1:5201")
    assert p.returncode == 2 and "--client only" in p.stderr
    p = sockperf("--client", "--vsock", "1:5201", "--mode", "reverse")
    assert p.returncode == 2 and "stream or pingpong" in p.stderr
    # The vsock-perf protocol's largest message is 1 MiB.
    p = sockperf("--client", "--vsock", "1:5201", "--size", "1048577")
    assert p.returncode == 2 and "'1048577'" in p.stderr
    # A well-formed address still reaches the other checks first.
    p = sockperf("--client", "--vsock", "0x1:0x1451", "--mode", "sideways")
    assert p.returncode == 2 and "'sideways'" in p.stderr
    p = sockperf("--client", "--vsock", "1:5201", "--time", "0")
    assert p.returncode == 2 and "'0'" in p.stderr


def test_idle_probe_refuses_outside_the_guard():
    """perf/idle_probe.py creates its AF_VSOCK socket only under the
    preload and a seccomp filter: here (no LD_PRELOAD) it refuses before
    any socket exists."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    probe = os.path.join(ROOT, "perf", "idle_probe.py")
    for args in (["recv", "1", "5201"], ["accept", "5301"]):
        p = subprocess.run([sys.executable, probe] + args, env=env,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and "refusing" in p.stderr, p.stderr
    p = subprocess.run([sys.executable, probe, "sideways"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "idle_probe.py recv" in p.stderr


@pytest.mark.parametrize("family,mode,size", [
    ("unix", "stream", 64), ("unix", "reverse", 65536),
    ("tcp", "stream", 4096), ("tcp", "reverse", 64)])
def test_throughput(procs, tmp_path, family, mode, size):
    srv, addr = start_server(procs, family, tmp_path)
    p = sockperf("--client", *addr, "--mode", mode, "--size", str(size),
                 "--time", "0.3")
    assert p.returncode == 0, p.stderr
    j = one_json(p.stdout)
    assert j["family"] == family and j["mode"] == mode
    assert j["size"] == size
    assert j["bytes"] > 0 and j["msgs"] == j["bytes"] // size
    assert j["bits_per_second"] > 0 and j["msgs_per_second"] > 0
    assert j["seconds"] > 0
    assert srv.proc.wait(30) == 0


@pytest.mark.parametrize("family", ["unix", "tcp"])
def test_pingpong(procs, tmp_path, family):
    srv, addr = start_server(procs, family, tmp_path)
    p = sockperf("--client", *addr, "--mode", "pingpong", "--size", "64",
                 "--time", "0.3")
    assert p.returncode == 0, p.stderr
    j = one_json(p.stdout)
    assert j["samples"] > 0
    assert 0 < j["min_us"] <= j["p50_us"] <= j["p99_us"] <= j["p999_us"] \
        <= j["max_us"]
    assert srv.proc.wait(30) == 0


@pytest.mark.parametrize("family", ["unix", "tcp"])
def test_conn_rate(tmp_path, family):
    addr = ["--unix", str(tmp_path / "cr.sock")] if family == "unix" \
        else ["--tcp", str(free_port())]
    p = sockperf("--conn-rate", *addr, "--time", "0.2")
    assert p.returncode == 0, p.stderr
    j = one_json(p.stdout)
    assert j["mode"] == "conn-rate" and j["conns"] > 0
    assert j["per_second"] > 0


def test_report_writer(tmp_path):
    S = rep.summarize
    targets = [
        rep.make_target("rate", S([2.0, 3.0, 4.0]), S([1.0, 1.0]),
                        "M msg/s", rep.Goal("ratio", 1.0)),
        rep.make_target("p50", S([4.0]), S([2.0]), "µs",
                        rep.Goal("abs", 2.0, lower_is_better=True,
                                 unit="µs"), lower_is_better=True),
        rep.make_target("missing", S([None]), S([1.0]), "Gbit/s",
                        rep.Goal("abs", 80, unit="Gbit/s")),
        rep.make_target("memory", S([512.0]), None, "bytes/conn",
                        rep.Goal("stated")),
    ]
    targets[0]["_msgs"] = 3.5
    targets[0]["_ring"] = {"tx": 0.25, "rx": None}
    mach = {"cpu": "test cpu", "cores": 2, "kernel": "6.1",
            "loadavg": (0.5, 0.5, 0.5), "commit": "ab" * 20, "dirty": True,
            "dpdk": "22.11.9", "load_before": [0.5, 0.4, 0.3],
            "load_after": [1.5, 0.6, 0.3]}
    table = rep.write_results(str(tmp_path), "2000-01-01", targets,
                              {"x": [1]}, mach, "quick", 12.0)
    doc = json.loads((tmp_path / "latest.json").read_text())
    assert doc["commit"] == "ab" * 20 and doc["dirty"] is True
    assert doc["dpdk"] == "22.11.9" and doc["date"] == "2000-01-01"
    assert doc["load_before"][0] == 0.5 and doc["load_after"][0] == 1.5
    latest = doc["targets"]
    assert [t["name"] for t in latest] == ["rate", "p50", "missing",
                                           "memory"]
    for t in latest:
        assert set(t) == {"name", "ours", "peer", "ratio", "unit", "goal",
                          "met", "msgs_per_second", "ring_pkts_per_second"}
        assert isinstance(t["met"], bool)
    assert latest[0]["msgs_per_second"] == 3.5e6
    assert latest[0]["ring_pkts_per_second"] == {"tx": 2.5e5, "rx": None}
    assert latest[1]["ring_pkts_per_second"] == {"tx": None, "rx": None}
    rate, p50, missing, memory = latest
    assert rate["ours"] == 3.0 and rate["peer"] == 1.0
    assert rate["ratio"] == 3.0 and rate["met"] is True
    # latency: ratio = peer / ours, so > 1 would mean we are better
    assert p50["ratio"] == 0.5 and p50["met"] is False
    assert missing["ours"] is None and missing["ratio"] is None
    assert missing["met"] is False
    assert memory["met"] is True and memory["peer"] is None
    full = json.loads((tmp_path / "2000-01-01.json").read_text())
    assert full["raw"] == {"x": [1]} and full["machine"]["cpu"] == "test cpu"
    md = (tmp_path / "latest.md").read_text()
    assert md == table
    # A run of only some targets leaves latest.* to the last whole run.
    rep.write_results(str(tmp_path), "2000-01-02", targets[:1], {"y": [2]},
                      mach, "quick", 3.0, part="preload")
    part = json.loads((tmp_path / "2000-01-02-preload.json").read_text())
    assert part["raw"] == {"y": [2]}
    assert json.loads((tmp_path / "latest.json").read_text()) == doc
    assert (tmp_path / "latest.md").read_text() == table
    assert not (tmp_path / "2000-01-02.json").exists()
    assert "| target | ours | peer | ratio |" in md
    assert "test cpu" in md and "2 cores" in md and "6.1" in md
    assert "commit abababababab with uncommitted changes" in md
    assert "DPDK 22.11.9" in md and "0.50 before, 1.50 after" in md
    assert "| rate | 3.00 (2.00–4.00) | 1.00 (1.00–1.00) | 3.00× |" in md
    assert "| 3.50 M | 0.250 M / – |" in md


def test_plots(tmp_path):
    import matplotlib  # noqa: F401 (setup.sh installs it: never skipped)
    S = rep.summarize
    rep.plot_throughput(str(tmp_path / "t.png"), {
        "a": {64: S([1.0, 2.0]), 4096: S([5.0])},
        "b": {64: None}}, "t")
    rep.plot_latency(str(tmp_path / "l.png"), {
        "a": {"p50_us": 2.0, "p99_us": 5.0}, "b": {}}, "l")
    rep.plot_connections(str(tmp_path / "c.png"), {"a": S([1e5]),
                                                   "b": None},
                         {0: S([10.0]), 100000: S([9.5])}, "c")
    for n in ("t", "l", "c"):
        assert (tmp_path / f"{n}.png").read_bytes()[:4] == b"\x89PNG"


def test_bench_help_and_missing_build(tmp_path):
    p = subprocess.run([sys.executable, BENCH, "--help"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "--quick" in p.stdout
    assert "--only" in p.stdout and "preload" in p.stdout
    p = subprocess.run([sys.executable, BENCH, "--only", "sideways"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "sideways" in p.stderr
    p = subprocess.run([sys.executable, BENCH, "--quick", "--build",
                        str(tmp_path / "nowhere"), "--out",
                        str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "missing" in p.stderr and "nowhere" in p.stderr


def test_compare_rows_direction_and_limit():
    import bench_targets as tg
    S = rep.summarize

    def row(name, v, unit):
        return rep.make_target(name, S([v]), S([1.0]), unit,
                               rep.Goal("stated"))
    ours = [row("rate", 9.4, "Mpkt/s"), row("lat", 1.0, "µs"),
            row("slow", 1.0, "Gbit/s"), row("new", 5.0, "Gbit/s"),
            row("cpu", 0.0, "% CPU")]
    base = [row("rate", 10.0, "Mpkt/s"), row("lat", 1.25, "µs"),
            row("slow", 2.0, "Gbit/s"), row("cpu", 0.0, "% CPU")]
    rows = {r["name"]: r for r in tg.compare_rows(ours, base)}
    assert rows["rate"]["ratio"] == 0.94 and rows["rate"]["ok"] is False
    # latencies: baseline / ours, > 1 is better
    assert rows["lat"]["ratio"] == 1.25 and rows["lat"]["ok"] is True
    assert rows["slow"]["ratio"] == 0.5 and rows["slow"]["ok"] is False
    # a target the baseline cannot measure has no ratio, and says so
    assert rows["new"]["baseline"] is None and rows["new"]["ok"] is None
    assert rows["cpu"]["ratio"] == 1.0 and rows["cpu"]["ok"] is True
    table = tg.compare_table(tg.compare_rows(ours, base), "aaa", "bbb")
    assert "| rate | 9.40 | 10.0 | 0.940 | Mpkt/s | no |" in table
    assert "| new | 5.00 | – | – | Gbit/s | – |" in table


def test_bench_baseline_names_a_bad_revision(tmp_path):
    p = subprocess.run([sys.executable, BENCH, "--quick", "--baseline",
                        "no-such-rev", "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "no-such-rev" in p.stderr and "not a commit" in p.stderr
    assert not (tmp_path / "out").exists()


def test_membw_reports_the_cold_ceiling():
    membw = os.path.join(BUILD, "perf", "peers", "membw")
    p = subprocess.run([membw, "--time", "0.2"], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    j = one_json(p.stdout)
    assert j["buffer_bytes"] >= 64 << 20 and j["buffer_bytes"] % (2 << 20) \
        == 0
    assert j["copy_bits_per_second"] > 0 and j["read_bits_per_second"] > 0
    p = subprocess.run([membw, "--time", "-3"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "'-3'" in p.stderr
