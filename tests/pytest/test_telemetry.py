"""Telemetry: /vsock/stacks, /vsock/stats, /vsock/ports, /vsock/conns and
/vsock/listeners read from running processes, both with Debian's
dpdk-telemetry.py and with apps/vsock-ss.

Each process gets its own EAL --file-prefix, so its telemetry socket
(/var/run/dpdk/<prefix>/dpdk_telemetry.v2) is its own; the runtime
directory is removed after the process stopped."""
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import BUILD, TESTPMD, Background, wait_for_path

TELEMETRY_PY = "/usr/bin/dpdk-telemetry.py"
PYTHON = "/usr/bin/python3"
VSOCK_SS = os.path.join(BUILD, "apps", "vsock-ss")
PERF = os.path.join(BUILD, "apps", "vsock-perf")
BRIDGE = os.path.join(BUILD, "apps", "vsock-bridge")
LOG = ["--log-level=lib.eal:warning"]


def runtime_dir(prefix):
    run = os.environ.get("RUNTIME_DIRECTORY") or (
        "/var/run" if os.getuid() == 0 else
        os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    return os.path.join(run, "dpdk", prefix)


def socket_path(prefix):
    return os.path.join(runtime_dir(prefix), "dpdk_telemetry.v2")


def unique_prefix(what):
    return f"vstel_{what}_{os.getpid()}_{time.monotonic_ns() % 1000000}"


def telemetry_py(prefix, cmds, timeout=30):
    """Send @cmds to the process through dpdk-telemetry.py (commands on
    stdin, one JSON reply a line); return the replies' values."""
    p = subprocess.run([PYTHON, TELEMETRY_PY, "-f", prefix],
                       input="".join(c + "\n" for c in cmds),
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert len(lines) == len(cmds), p.stdout + p.stderr
    return [json.loads(l)[c.split(",")[0]] for l, c in zip(lines, cmds)]


def vsock_ss(prefix, *args, check=True):
    p = subprocess.run([VSOCK_SS, "-f", prefix] + list(args),
                       capture_output=True, text=True, timeout=30)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def page_conns(page):
    return [page[k] for k in sorted((k for k in page if k.isdigit()),
                                    key=int)]


class Proc:
    """A dpdk-vsock app with its own --file-prefix; stopped with SIGINT by
    its pid, its runtime directory removed."""

    def __init__(self, procs, binary, eal, app, name):
        self.prefix = unique_prefix(name)
        self.bg = Background([binary] + eal + ["--file-prefix",
                                               self.prefix] + LOG +
                             ["--"] + app, name)
        procs.append(self.bg)
        try:
            wait_for_path(socket_path(self.prefix), self.bg)
        except BaseException:
            self.stop()
            raise

    def wait_conns(self, want, stack="0", timeout=20):
        """Wait until the stack has @want connections established."""
        end = time.monotonic() + timeout
        while True:
            (page,) = telemetry_py(self.prefix, [f"/vsock/conns,{stack}"])
            # The socket is up before the app created its stack.
            page = page or {}
            est = [c for c in page_conns(page)
                   if c["state"] == "established"]
            if page.get("total", 0) >= want and len(est) == min(
                    want, page.get("count", 0)):
                return page
            assert self.bg.alive(), self.bg.err
            assert time.monotonic() < end, page
            time.sleep(0.2)

    def wait_stacks(self, names, timeout=20):
        """Wait until /vsock/stacks lists exactly @names: the telemetry
        socket is up (EAL) before the app has created its stacks."""
        end = time.monotonic() + timeout
        while True:
            (stacks,) = telemetry_py(self.prefix, ["/vsock/stacks"])
            got = sorted(v["name"] for v in (stacks or {}).values())
            if got == sorted(names):
                return
            assert self.bg.alive(), self.bg.err
            assert time.monotonic() < end, stacks
            time.sleep(0.2)

    def stop(self):
        rc = self.bg.stop()
        shutil.rmtree(runtime_dir(self.prefix), ignore_errors=True)
        return rc


@pytest.fixture
def testpmd(procs):
    """vsock-testpmd: 20 verify clients against its own server, so 40
    connections stay open for the whole run."""
    p = Proc(procs, TESTPMD, ["-l", "0-1", "--in-memory", "--no-pci"],
             ["--dev", "loopback", "--mode", "verify", "--conns", "20",
              "--size", "1-4096", "--duration", "60"], "testpmd")
    try:
        p.wait_conns(40)
    except BaseException:
        p.stop()
        raise
    yield p
    # Asked over and over, it still ends its run cleanly.
    assert p.stop() == 0, p.bg.err


def all_conns(prefix, stack="testpmd"):
    """Every page of /vsock/conns, through one dpdk-telemetry.py run
    per page (as a user would, following 'next')."""
    out, offset, total = [], 0, None
    while True:
        (page,) = telemetry_py(prefix, [f"/vsock/conns,{stack},{offset}"])
        assert page["offset"] == offset
        total = page["total"] if total is None else total
        got = page_conns(page)
        assert len(got) == page["count"]
        out += got
        if page["next"] == 0:
            return out, total
        assert page["next"] == offset + len(got)
        offset = page["next"]


def test_conns_stats_ports_with_dpdk_telemetry_py(testpmd):
    stacks, stats, ports, listeners, first = telemetry_py(
        testpmd.prefix, ["/vsock/stacks", "/vsock/stats,testpmd",
                         "/vsock/ports", "/vsock/listeners",
                         "/vsock/conns"])
    assert stacks == {"0": {"name": "testpmd", "lcore": 0, "ports": 1}}
    cid = stats["local_cid"]
    assert cid > 2
    assert stats["stack"] == "testpmd"
    assert stats["conns_open"] == 40
    assert stats["rx_bytes"] > 0 and stats["tx_bytes"] > 0
    assert stats["rst_rx"] == 0 and stats["drop_bad_hdr"] == 0

    assert ports["total"] == 1 and ports["stack"] == "testpmd"
    assert ports["0"]["name"] == "loopback"
    assert ports["0"]["cid"] == cid
    assert "stream" in ports["0"]["features"].split(",")
    # The driver's own counters (vsock_port_ops.xstats).
    assert ports["0"]["rx_pkts"] > 0 and ports["0"]["tx_pkts"] > 0
    assert ports["0"]["broken"] == 0 and ports["0"]["rx_bad_len"] == 0

    assert listeners["total"] == 1
    li = listeners["0"]
    assert li["type"] == "stream" and li["all_ports"] == 0
    assert li["conns"] == 20
    server_port = li["local_port"]

    # 40 connections come in two pages (a reply is at most 16 KiB).
    assert first["total"] == 40 and first["count"] < 40
    conns, total = all_conns(testpmd.prefix)
    assert total == 40 and len(conns) == 40
    clients = [c for c in conns if c["remote_port"] == server_port]
    servers = [c for c in conns if c["local_port"] == server_port]
    assert len(clients) == 20 and len(servers) == 20
    # Every client meets its server: the same two ports, swapped.
    assert sorted(c["local_port"] for c in clients) == \
        sorted(s["remote_port"] for s in servers)
    assert len({c["local_port"] for c in clients}) == 20
    for c in conns:
        assert c["local_cid"] == cid and c["remote_cid"] == cid
        assert c["type"] == "stream" and c["state"] == "established"
        assert c["shutdown"] == 0 and c["peer_shutdown"] == 0
        assert c["closed"] == 0 and c["port"] == 0
        assert c["buf_alloc"] == 262144 and c["peer_buf_alloc"] == 262144
        assert 0 <= c["tx_credit"] <= c["peer_buf_alloc"]
        assert c["bytes_tx"] > 0 and c["bytes_rx"] > 0
        assert c["tx_queued"] >= 0 and c["rx_queued"] >= 0
        # fwd_cnt is a u32 that wraps; a few MB never does here.
        assert c["fwd_cnt"] <= c["bytes_rx"]
        assert c["pkts_in_flight"] <= 64
    # The connections are live: bytes move between two snapshots.
    time.sleep(0.3)
    again, _ = all_conns(testpmd.prefix)
    before = {(c["local_port"], c["remote_port"]): c["bytes_tx"]
              for c in conns}
    moved = [c for c in again
             if c["bytes_tx"] > before[(c["local_port"],
                                        c["remote_port"])]]
    assert len(moved) >= 20


def test_bad_parameters_are_refused(testpmd):
    nosuch, bad_offset, past_end, by_index = telemetry_py(
        testpmd.prefix, ["/vsock/conns,nosuch", "/vsock/conns,0,x",
                         "/vsock/conns,testpmd,1000", "/vsock/stats,0"])
    assert nosuch is None and bad_offset is None
    assert past_end["count"] == 0 and past_end["next"] == 0
    assert by_index["stack"] == "testpmd"


def test_every_stack_stats(testpmd):
    (stats,) = telemetry_py(testpmd.prefix, ["/vsock/stats"])
    assert list(stats) == ["0"]
    assert stats["0"]["stack"] == "testpmd"
    assert stats["0"]["conns_open"] == 40


def test_vsock_ss_table(testpmd):
    out = vsock_ss(testpmd.prefix).stdout.splitlines()
    assert re.match(r"Netid\s+State\s+Recv-Q\s+Send-Q\s+Local Address:Port"
                    r"\s+Peer Address:Port$", out[0])
    rows = [l.split() for l in out[1:]]
    assert len(rows) == 40
    assert all(r[0] == "v_str" and r[1] == "ESTAB" for r in rows)
    assert all(r[2].isdigit() and r[3].isdigit() for r in rows)
    local = [r[4] for r in rows]
    peer = [r[5] for r in rows]
    cid = local[0].split(":")[0]
    assert all(a.startswith(cid + ":") for a in local + peer)
    # The 20 server ends share the listener's port; the clients' differ.
    ports = [a.split(":")[1] for a in local]
    server_port = max(set(ports), key=ports.count)
    assert ports.count(server_port) == 20
    assert sum(p.endswith(":" + server_port) for p in peer) == 20

    # -l: the listener only; -a: both.
    out = vsock_ss(testpmd.prefix, "-l", "-H").stdout.splitlines()
    assert [l.split() for l in out] == [
        ["v_str", "LISTEN", "0", "0", "*:" + server_port, "*:*"]]
    out = vsock_ss(testpmd.prefix, "-a").stdout.splitlines()
    assert len(out) == 42 and out[1].split()[1] == "LISTEN"

    # -e -i: credit and bytes on a line under each connection.
    out = vsock_ss(testpmd.prefix, "-e", "-i").stdout.splitlines()
    extra = [l for l in out if l.startswith("\t")]
    assert len(extra) == 40
    for l in extra:
        kv = dict(f.split(":") for f in l.split() if ":" in f)
        assert int(kv["buf"]) == 262144 and int(kv["peer_buf"]) == 262144
        assert 0 <= int(kv["credit"]) <= 262144
        assert int(kv["bytes_tx"]) > 0 and int(kv["bytes_rx"]) > 0


def test_vsock_ss_summary_and_json(testpmd):
    out = vsock_ss(testpmd.prefix, "-s").stdout
    assert re.search(r"Stack testpmd \(cid \d+, lcore 0, 1 port\(s\)\): "
                     r"40 connections \(ESTAB 40\), 1 listeners", out), out
    assert re.search(r"rx \d+ pkts \d+ bytes, tx \d+ pkts", out), out
    d = json.loads(vsock_ss(testpmd.prefix, "-j").stdout)
    assert d["pid"] == testpmd.bg.proc.pid
    (st,) = d["stacks"]
    assert st["name"] == "testpmd" and len(st["conns"]) == 40
    assert len(st["listeners"]) == 1
    assert st["stats"]["conns_open"] == 40


def test_vsock_ss_no_process():
    p = vsock_ss("vstel_nobody_here", check=False)
    assert p.returncode == 1
    assert "cannot talk to" in p.stderr


def test_vsock_perf_streams(procs):
    """vsock-perf serving itself: -P 4 streams, two ends each, plus
    the server's listeners."""
    p = Proc(procs, PERF, ["-l", "0-1", "--in-memory", "--no-pci"],
             ["--dev", "loopback", "-t", "30", "-P", "4"], "perf")
    try:
        p.wait_conns(8, stack="vsock-perf")
        out = vsock_ss(p.prefix, "-a").stdout.splitlines()
        listen = [l for l in out if " LISTEN " in l]
        estab = [l for l in out if " ESTAB " in l]
        assert len(listen) >= 1 and len(estab) >= 8, out
        (stats,) = telemetry_py(p.prefix, ["/vsock/stats,vsock-perf"])
        assert stats["conns_open"] >= 8 and stats["tx_bytes"] > 0
    finally:
        p.stop()


def test_bridge_one_stack_per_guest(procs, tmp_path):
    """vsock-bridge has a stack per guest: /vsock/stacks lists them and
    each answers for itself, with no guest connected."""
    args = []
    for i in range(2):
        args += ["--socket", str(tmp_path / f"vhost{i}.sock"),
                 "--uds", str(tmp_path / f"v{i}.uds"),
                 "--guest-cid", str(7 + i)]
    p = Proc(procs, BRIDGE, ["-l", "0", "--in-memory", "--no-pci",
                             "--log-level=lib.vhost.*:warning"],
             args + ["--nb-mbufs", "2048", "--echo-port", "7000"],
             "bridge")
    try:
        p.wait_stacks(["br0", "br1"])
        stacks, l0, l1, s1 = telemetry_py(
            p.prefix, ["/vsock/stacks", "/vsock/listeners,br0",
                       "/vsock/listeners,1", "/vsock/stats,br1"])
        assert [stacks[k]["name"] for k in sorted(stacks)] == \
            ["br0", "br1"]
        for li in (l0, l1):
            assert 7000 in [li[k]["local_port"] for k in li
                            if k.isdigit()]
        assert s1["stack"] == "br1" and s1["conns_open"] == 0
        out = vsock_ss(p.prefix, "-l").stdout.splitlines()
        assert out[0].split()[0] == "Stack"
        assert any(l.split()[0] == "br0" and "*:7000" in l for l in out)
        assert any(l.split()[0] == "br1" and "*:7000" in l for l in out)
    finally:
        p.stop()
