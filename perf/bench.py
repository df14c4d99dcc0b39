#!/usr/bin/python3
"""dpdk-vsock benchmark suite: every target of the performance issue, run
against its peer in the same run, pinned to the same cores.

  driver / client side: core 1     device / server side: core 0

Targets and peers:
  msg_rate_64B          vsock-perf -l 64 -> bridge sink (M msg/s)
                        vs dpdk-testpmd net_virtio_user txonly ->
                        net_vhost rxonly (Mpps, 2-second samples)
  stream_64KiB/4KiB     vsock-perf -> bridge sink (Gbit/s) vs AF_UNIX
  reverse_64KiB/4KiB    bridge source -> vsock-perf -R vs AF_UNIX reverse
  pingpong_64B_p50/p99  vsock-perf --latency vs AF_UNIX ping-pong (µs)
  conn_rate             vsock-perf --conn-rate over the loopback device, one
                        process on one core, vs TCP loopback connect,
                        accept and close in one process on one core
  idle_100k_throughput  one 64 KiB stream beside 100k idle connections vs
                        the same stream with none (same run)
  idle_conn_memory      bytes per idle connection (stated, no peer)
Plus a message-size sweep (ours, AF_UNIX, TCP) for the plot.

Each figure is the median over the repeats, with min and max. Writes
perf/results/<date>.json (everything), latest.json (name, ours, peer,
ratio, unit, goal, met per target), latest.md (the table) and PNG plots.
Progress goes to stderr, the table to stdout. Exit status 0 when every
target was measured (met or not), 1 when some figure is missing, 2 for a
bad option or a missing binary.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench_report as rep  # noqa: E402

CLIENT_CORE = 1   # driver, vsock-perf, sockperf clients
SERVER_CORE = 0   # device, vsock-bridge, sockperf servers
PERF_PORT = 5201
GUEST_CID = 3
TESTPMD = "/usr/bin/dpdk-testpmd"
DPDK_COMMON = ["--in-memory", "--single-file-segments", "--no-pci",
               "--log-level=lib.eal:warning"]

T0 = time.monotonic()
STARTED = []      # every Popen we started: killed by pid on the way out
SEQ = [0]


class BenchError(Exception):
    pass


def log(msg):
    print(f"[bench {time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr,
          flush=True)


def uid(prefix):
    SEQ[0] += 1
    return f"{prefix}{os.getpid()}x{SEQ[0]}"


class Proc:
    """A background process we started, its output in files."""

    def __init__(self, cmd, tmp, name):
        self.name = name
        self.cmd = cmd
        self.out_path = os.path.join(tmp, uid(name) + ".out")
        self.err_path = self.out_path[:-4] + ".err"
        self.out_f = open(self.out_path, "w")
        self.err_f = open(self.err_path, "w")
        self.p = subprocess.Popen(cmd, stdout=self.out_f,
                                  stderr=self.err_f, stdin=subprocess.DEVNULL)
        STARTED.append(self.p)

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGINT, timeout=15):
        if self.alive():
            self.p.send_signal(sig)
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.out_f.close()
        self.err_f.close()
        return self.p.returncode

    def out(self):
        self.out_f.flush()
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def err(self):
        self.err_f.flush()
        with open(self.err_path, errors="replace") as f:
            return f.read()


def kill_started():
    for p in STARTED:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


def run(cmd, timeout):
    """Run to completion; (rc, stdout, stderr). Killed (by its pid) when
    it overruns."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, text=True)
    STARTED.append(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, out, err + f"\n(killed after {timeout} s)"
    return p.returncode, out, err


def parse_json(text):
    """The first JSON object in a program's output (one line or, as
    iperf3 -J prints it, several)."""
    dec = json.JSONDecoder()
    for m in re.finditer(r"^\{", text, re.M):
        try:
            obj, _ = dec.raw_decode(text[m.start():])
            return obj
        except ValueError:
            continue
    return None


def wait_for(pred, proc, what, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        if proc is not None and not proc.alive():
            raise BenchError(f"{proc.name} exited before {what}:\n"
                             f"{tail(proc.err())}{tail(proc.out())}")
        time.sleep(0.05)
    raise BenchError(f"{what} did not happen within {timeout} s")


def tail(s, n=15):
    lines = s.strip().splitlines()
    return "\n".join(lines[-n:]) + ("\n" if lines else "")


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def taskset(core):
    return ["taskset", "-c", str(core)]


# ---------------------------------------------------------------- peers

class Sockperf:
    def __init__(self, binary, tmp, secs):
        self.bin = binary
        self.tmp = tmp
        self.secs = secs

    def _addr(self, family):
        if family == "unix":
            return ["--unix", os.path.join(self.tmp, uid("sp") + ".sock")]
        return ["--tcp", str(free_tcp_port())]

    def server(self, family):
        addr = self._addr(family)
        srv = Proc(taskset(SERVER_CORE) + [self.bin, "--server"] + addr,
                   self.tmp, f"sockperf-{family}-server")
        if family == "unix":
            wait_for(lambda: os.path.exists(addr[1]), srv,
                     "the AF_UNIX server socket")
        else:
            def up():
                try:
                    socket.create_connection(("127.0.0.1", int(addr[1])),
                                             0.5).close()
                    return True
                except OSError:
                    return False
            wait_for(up, srv, "the TCP server")
        return srv, addr

    def client(self, addr, mode, size):
        cmd = taskset(CLIENT_CORE) + [self.bin, "--client"] + addr + [
            "--mode", mode, "--size", str(size), "--time", str(self.secs)]
        rc, out, err = run(cmd, self.secs + 60)
        j = parse_json(out)
        if rc != 0 or j is None:
            log(f"sockperf {mode} {size} failed (rc {rc}): {tail(err, 3)}")
            return None
        return j

    def conn_rate(self, family):
        addr = self._addr(family)
        cmd = taskset(CLIENT_CORE) + [self.bin, "--conn-rate"] + addr + [
            "--time", str(self.secs)]
        rc, out, err = run(cmd, self.secs + 60)
        j = parse_json(out)
        if rc != 0 or j is None:
            log(f"sockperf conn-rate {family} failed: {tail(err, 3)}")
            return None
        return j


def testpmd_pair(tmp, samples, period=2):
    """DPDK's own virtio PMD: net_virtio_user (txonly, 64 B, forwarding
    on core 1) into net_vhost (rxonly, forwarding on core 0), two
    processes. Returns the vhost side's Rx-pps of each full sample."""
    if not os.access(TESTPMD, os.X_OK):
        raise BenchError(f"{TESTPMD} is missing (Debian package dpdk-dev; "
                         "scripts/setup.sh installs it)")
    sock = os.path.join(tmp, uid("tp") + ".sock")
    common = DPDK_COMMON
    app = ["--nb-cores=1", "--auto-start", f"--stats-period={period}",
           "--total-num-mbufs=8192"]
    # Each process: a main lcore that mostly sleeps, one forwarding lcore;
    # the forwarding lcores sit on different cores.
    vhost = Proc([TESTPMD, "-l", f"{CLIENT_CORE},{SERVER_CORE}",
                  "--main-lcore", str(CLIENT_CORE)] + common +
                 ["--file-prefix", uid("tph"),
                  "--vdev", f"net_vhost0,iface={sock},queues=1", "--"] +
                 app + ["--forward-mode=rxonly"], tmp, "testpmd-vhost")
    virtio = None
    try:
        wait_for(lambda: os.path.exists(sock), vhost, "the vhost socket")
        virtio = Proc([TESTPMD, "-l", f"{SERVER_CORE},{CLIENT_CORE}",
                       "--main-lcore", str(SERVER_CORE)] + common +
                      ["--file-prefix", uid("tpv"),
                       "--vdev", f"net_virtio_user0,path={sock},queues=1",
                       "--"] + app +
                      ["--forward-mode=txonly", "--txpkts=64"],
                      tmp, "testpmd-virtio")

        def pps():
            return [int(x) for x in
                    re.findall(r"Rx-pps:\s+(\d+)", vhost.out())]

        def enough():
            # the first non-zero sample is the ramp; each later one is a
            # whole period (the one printed on the way out is not taken)
            return len([x for x in pps() if x > 0]) >= samples + 1
        wait_for(enough, virtio, "the testpmd samples",
                 timeout=30 + (samples + 2) * period * 3)
        vals = [x for x in pps() if x > 0][1:samples + 1]
    finally:
        if virtio is not None:
            virtio.stop()
        vhost.stop()
        if os.path.exists(sock):
            os.unlink(sock)
    return [v / 1e6 for v in vals]


# ----------------------------------------------------------------- ours

class Ours:
    def __init__(self, build, tmp, secs):
        self.perf = os.path.join(build, "apps", "vsock-perf")
        self.bridge = os.path.join(build, "apps", "vsock-bridge")
        self.tmp = tmp
        self.secs = secs
        self.br = None
        self.sock = None
        self.bridge_opts = ""
        self.perf_opts = ""

    def check(self):
        for b in (self.perf, self.bridge):
            if not os.access(b, os.X_OK):
                raise BenchError(
                    f"{b} is missing: build it first (make build); "
                    "perf/bench.py --peers-only runs the peers alone")
        rc, out, err = run([self.bridge, "--help"], 30)
        self.bridge_opts = out + err
        rc, out, err = run([self.perf, "--help"], 30)
        self.perf_opts = out + err
        if "--perf-port" not in self.bridge_opts:
            raise BenchError(f"{self.bridge} has no --perf-port option (too "
                             "old a build?): rebuild with make build")

    def start_bridge(self, max_conns=None):
        self.sock = os.path.join(self.tmp, uid("br") + ".sock")
        uds = self.sock[:-5] + ".uds"
        cmd = [self.bridge, "-l", str(SERVER_CORE)] + DPDK_COMMON + [
            "--file-prefix", uid("br"), "--", "--socket", self.sock,
            "--uds", uds, "--guest-cid", str(GUEST_CID),
            "--perf-port", str(PERF_PORT)]
        if max_conns and "--max-conns" in self.bridge_opts:
            cmd += ["--max-conns", str(max_conns)]
        self.br = Proc(cmd, self.tmp, "vsock-bridge")
        wait_for(lambda: os.path.exists(self.sock), self.br,
                 "the bridge's vhost-user socket")

    def stop_bridge(self):
        if self.br is not None:
            rc = self.br.stop()
            if rc not in (0, None, -signal.SIGINT, 130):
                log(f"bridge exited with {rc}: {tail(self.br.err(), 5)}")
        for p in (self.sock, self.sock[:-5] + ".uds" if self.sock else None):
            if p and os.path.exists(p):
                os.unlink(p)
        self.br = None

    def _run(self, dev, args, timeout):
        # 64 MiB of 16 KiB mbufs is plenty in flight and leaves hugepages
        # for the bridge (1 GiB in all, shared with whatever else runs).
        cmd = [self.perf, "-l", str(CLIENT_CORE)] + DPDK_COMMON + [
            "--file-prefix", uid("vp"), "--", "--dev", dev] + args + [
            "-J"]
        if "--nb-mbufs" in self.perf_opts:
            cmd[-1:-1] = ["--nb-mbufs", "4096"]
        for attempt in (1, 2):
            rc, out, err = run(cmd, timeout)
            j = parse_json(out)
            if rc == 0 and j is not None:
                break
            if attempt == 1:
                log(f"vsock-perf {' '.join(args)} failed (rc {rc}), once "
                    f"more: {tail(err, 1).strip()}")
                time.sleep(1)
        if rc != 0 or j is None:
            log(f"vsock-perf {' '.join(args)} failed (rc {rc}):\n"
                f"{tail(err, 6)}{tail(out, 3)}")
            if self.br is not None and not self.br.alive():
                log(f"the bridge died: {tail(self.br.err(), 6)}")
            return None
        end = j.get("end", {})
        if end.get("errors"):
            log(f"vsock-perf {' '.join(args)}: {end['errors']} errors")
        return j

    def client(self, size, reverse=False, latency=False, idle=0):
        args = ["-c", "2", "-p", str(PERF_PORT), "-l", str(size),
                "-t", str(self.secs)]
        if reverse:
            args.append("-R")
        if latency:
            args.append("--latency")
        if idle:
            args += ["--idle", str(idle)]
            if "--max-conns" in self.perf_opts:
                args += ["--max-conns", str(idle + 1024)]
        return self._run(f"vhost-user:path={self.sock}", args,
                         self.secs + 60 + idle / 1000)

    def conn_rate(self):
        return self._run("loopback", ["--conn-rate", "-t", str(self.secs)],
                         self.secs + 60)


def rx_figure(j, key):
    """From vsock-perf's JSON: what arrived (sum_received) when it has
    bytes, otherwise what was sent."""
    if j is None:
        return None
    end = j.get("end", {})
    for side in ("sum_received", "sum_sent"):
        s = end.get(side) or {}
        if s.get("bytes"):
            return s.get(key)
    return None


# ------------------------------------------------------------ the plan

def plan(quick):
    if quick:
        return {"repeats": 3, "secs": 1, "testpmd_launches": 3,
                "testpmd_samples": 2,
                "sizes": [64, 4096, 65536], "rev_sizes": [4096, 65536],
                "tcp_sizes": [64, 4096, 65536], "tcp_rev_sizes": [],
                "idle": [100000]}
    return {"repeats": 5, "secs": 3, "testpmd_launches": 3,
            "testpmd_samples": 3,
            "sizes": [64, 256, 1024, 4096, 16384, 65536],
            "rev_sizes": [64, 1024, 4096, 16384, 65536],
            "tcp_sizes": [64, 256, 1024, 4096, 16384, 65536],
            "tcp_rev_sizes": [4096, 65536],
            "idle": [1000, 10000, 100000]}


def collect(args):
    P = plan(args.quick)
    if args.repeats:
        P["repeats"] = args.repeats
    if args.seconds:
        P["secs"] = args.seconds
    sp_bin = os.path.join(args.build, "perf", "peers", "sockperf")
    if not os.access(sp_bin, os.X_OK):
        raise BenchError(f"{sp_bin} is missing: build it first (make build)")
    tmp = tempfile.mkdtemp(prefix="vsock-bench.")
    sp = Sockperf(sp_bin, tmp, P["secs"])
    ours = None if args.peers_only else Ours(args.build, tmp, P["secs"])
    if ours is not None:
        try:
            ours.check()
        except BenchError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    # raw[key] = list of per-repeat results (dicts or None)
    raw = {"plan": P}

    def add(key, val):
        raw.setdefault(key, []).append(val)

    try:
        for r in range(P["repeats"]):
            log(f"repeat {r + 1}/{P['repeats']}")
            if ours is not None:
                ours.start_bridge()
                try:
                    for size in P["sizes"]:
                        log(f"  ours: {size} B driver -> bridge sink")
                        add(f"ours_fwd_{size}", ours.client(size))
                    for size in P["rev_sizes"]:
                        log(f"  ours: {size} B bridge source -> driver -R")
                        add(f"ours_rev_{size}", ours.client(size,
                                                            reverse=True))
                    log("  ours: 64 B ping-pong")
                    add("ours_pingpong", ours.client(64, latency=True))
                finally:
                    ours.stop_bridge()
                # A bridge sized for the idle connections, only for them:
                # hugepages are scarce.
                ours.start_bridge(max_conns=max(P["idle"]) + 4096)
                try:
                    for n in P["idle"]:
                        log(f"  ours: 64 KiB stream beside {n} idle "
                            "connections")
                        add(f"ours_idle_{n}", ours.client(65536, idle=n))
                finally:
                    ours.stop_bridge()
                log("  ours: connection rate, loopback, one core")
                add("ours_conn_rate", ours.conn_rate())
            for fam, sizes, rsizes in (
                    ("unix", P["sizes"], P["rev_sizes"]),
                    ("tcp", P["tcp_sizes"], P["tcp_rev_sizes"])):
                srv, addr = sp.server(fam)
                try:
                    for size in sizes:
                        log(f"  {fam}: {size} B stream")
                        add(f"{fam}_fwd_{size}",
                            sp.client(addr, "stream", size))
                    for size in rsizes:
                        log(f"  {fam}: {size} B reverse")
                        add(f"{fam}_rev_{size}",
                            sp.client(addr, "reverse", size))
                    log(f"  {fam}: 64 B ping-pong")
                    add(f"{fam}_pingpong", sp.client(addr, "pingpong", 64))
                finally:
                    srv.stop(signal.SIGTERM)
                log(f"  {fam}: connection rate, one core")
                add(f"{fam}_conn_rate", sp.conn_rate(fam))
            if r < P["testpmd_launches"]:
                log(f"  testpmd pair: {P['testpmd_samples']} samples of 2 s")
                try:
                    for v in testpmd_pair(tmp, P["testpmd_samples"]):
                        add("testpmd_mpps", v)
                except BenchError as e:
                    log(f"  testpmd pair failed: {e}")
    finally:
        kill_started()
        shutil.rmtree(tmp, ignore_errors=True)
    return raw, P


def analyse(raw, P):
    S = rep.summarize

    def vals(key, fn):
        return [None if x is None else fn(x) for x in raw.get(key, [])]

    def ours_rate(key, field, scale):
        return S(vals(key, lambda j: (rx_figure(j, field) or 0) / scale
                      or None))

    def peer(key, field, scale=1.0):
        return S(vals(key, lambda j: j.get(field, 0) / scale or None))

    def lat(key, pct, ours_side):
        if ours_side:
            return S(vals(key, lambda j: (j.get("end", {})
                                          .get("latency") or {}).get(pct)))
        return S(vals(key, lambda j: j.get(pct)))

    goal = rep.Goal
    T = []
    T.append(rep.make_target(
        "msg_rate_64B", ours_rate("ours_fwd_64", "msgs_per_second", 1e6),
        S(raw.get("testpmd_mpps", [])), "M msg/s", goal("ratio", 1.0),
        peer_name="(testpmd virtio_user→vhost Mpps)"))
    for size, name in ((65536, "64KiB"), (4096, "4KiB")):
        for d, label in (("fwd", "stream"), ("rev", "reverse")):
            g = goal("abs", 80, unit="Gbit/s") if size == 65536 \
                else goal("ratio", 4.0)
            T.append(rep.make_target(
                f"{label}_{name}",
                ours_rate(f"ours_{d}_{size}", "bits_per_second", 1e9),
                peer(f"unix_{d}_{size}", "bits_per_second", 1e9),
                "Gbit/s", g, peer_name="(AF_UNIX)"))
    for pct, lim in (("p50_us", 2.0), ("p99_us", 5.0)):
        T.append(rep.make_target(
            f"pingpong_64B_{pct[:-3]}", lat("ours_pingpong", pct, True),
            lat("unix_pingpong", pct, False), "µs",
            goal("abs", lim, lower_is_better=True, unit="µs"),
            peer_name="(AF_UNIX)", lower_is_better=True))
    conn_ours = S(vals("ours_conn_rate", lambda j: (
        j.get("end", {}).get("connect") or {}).get("per_second")))
    conn_peer = peer("tcp_conn_rate", "per_second")
    T.append(rep.make_target(
        "conn_rate", conn_ours, conn_peer, "conns/s",
        goal("abs", 500000, unit="conns/s"),
        peer_name="(TCP loopback)",
        note="connect + accept + close, one process on one core: ours over "
             "the loopback device, the peer on TCP loopback with SO_LINGER 0 "
             "(AF_UNIX in the raw data)"))
    big = max(P["idle"])
    # vsock-perf counts a reset of a test or idle connection while the test
    # runs (end.resets); the RSTs that end every close are not resets.
    runs = [j["end"] for j in raw.get(f"ours_idle_{big}", []) if j]
    up = [(e.get("memory") or {}).get("idle_conns", 0) for e in runs]
    resets = [e.get("resets", 0) for e in runs]
    idle_note = (f"one 64 KiB stream beside {big} idle connections; the "
                 "peer is the same stream with none, same run")
    if runs:
        idle_note += (f"; idle connections up: {min(up)}..{max(up)}, "
                      f"connections reset during the runs: {max(resets)}")
    T.append(rep.make_target(
        f"idle_{big // 1000}k_throughput",
        ours_rate(f"ours_idle_{big}", "bits_per_second", 1e9),
        ours_rate("ours_fwd_65536", "bits_per_second", 1e9), "Gbit/s",
        goal("ratio", 0.9), peer_name="(ours, no idle conns)",
        note=idle_note))
    mem = S(vals(f"ours_idle_{big}", lambda j: (
        j.get("end", {}).get("memory") or {}).get("per_idle_conn_bytes")))
    T.append(rep.make_target(
        "idle_conn_memory", mem, None, "bytes/conn", goal("stated"),
        note="memory per idle connection, as vsock-perf --idle reports it"))
    return T


def plots(raw, P, outdir, date):
    S = rep.summarize
    made = []

    def series(key_fmt, sizes, fn):
        return {s: S([None if j is None else fn(j)
                      for j in raw.get(key_fmt.format(s), [])])
                for s in sizes}

    def ours_bps(j):
        v = rx_figure(j, "bits_per_second")
        return v / 1e9 if v else None

    def peer_bps(j):
        return j.get("bits_per_second", 0) / 1e9 or None

    tp = {
        "dpdk-vsock driver→bridge": series("ours_fwd_{}", P["sizes"],
                                           ours_bps),
        "dpdk-vsock bridge→driver": series("ours_rev_{}", P["rev_sizes"],
                                           ours_bps),
        "AF_UNIX": series("unix_fwd_{}", P["sizes"], peer_bps),
        "AF_UNIX reverse": series("unix_rev_{}", P["rev_sizes"], peer_bps),
        "TCP loopback": series("tcp_fwd_{}", P["tcp_sizes"], peer_bps),
    }
    if P["tcp_rev_sizes"]:
        tp["TCP reverse"] = series("tcp_rev_{}", P["tcp_rev_sizes"],
                                   peer_bps)
    path = os.path.join(outdir, "throughput.png")
    rep.plot_throughput(path, tp, f"Throughput by message size ({date})")
    made.append(path)

    def pct_medians(key, ours_side):
        out = {}
        for pct in ("min_us", "p50_us", "p90_us", "p99_us", "p999_us"):
            vs = []
            for j in raw.get(key, []):
                if j is None:
                    continue
                src = (j.get("end", {}).get("latency") or {}) if ours_side \
                    else j
                vs.append(src.get(pct))
            s = S(vs)
            if s is not None:
                out[pct] = s["median"]
        return out

    path = os.path.join(outdir, "latency.png")
    rep.plot_latency(path, {
        "dpdk-vsock driver↔bridge": pct_medians("ours_pingpong", True),
        "AF_UNIX": pct_medians("unix_pingpong", False),
        "TCP loopback": pct_medians("tcp_pingpong", False)},
        f"64 B ping-pong round trip ({date})")
    made.append(path)

    def conn(key, ours_side):
        return S([None if j is None else
                  ((j.get("end", {}).get("connect") or {}).get("per_second")
                   if ours_side else j.get("per_second"))
                  for j in raw.get(key, [])])

    scaling = {0: S([None if j is None else ours_bps(j)
                     for j in raw.get("ours_fwd_65536", [])])}
    for n in P["idle"]:
        scaling[n] = S([None if j is None else ours_bps(j)
                        for j in raw.get(f"ours_idle_{n}", [])])
    path = os.path.join(outdir, "connections.png")
    rep.plot_connections(path, {
        "dpdk-vsock\nloopback": conn("ours_conn_rate", True),
        "TCP\nloopback": conn("tcp_conn_rate", False),
        "AF_UNIX": conn("unix_conn_rate", False)},
        scaling, f"Connections ({date})")
    made.append(path)
    return made


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Run dpdk-vsock's performance targets against their "
        "peers (testpmd pair, AF_UNIX, TCP loopback) in one run, pinned "
        f"(clients on core {CLIENT_CORE}, servers on core {SERVER_CORE}); "
        "write perf/results/.",
        epilog="Ratio convention: " + rep.RATIO_NOTE + ".")
    ap.add_argument("--quick", action="store_true",
                    help="fewer repeats and sizes, 1-second runs (under 3 "
                    "minutes)")
    ap.add_argument("--build", default=os.environ.get(
        "VSOCK_BUILD", os.path.join(ROOT, "build")),
        help="build directory (default: build/, or $VSOCK_BUILD)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"),
                    help="results directory (default: perf/results)")
    ap.add_argument("--repeats", type=int, default=0,
                    help="repeats of each measurement (default 3 quick, 5)")
    ap.add_argument("--seconds", type=float, default=0,
                    help="seconds per measurement (default 1 quick, 3)")
    ap.add_argument("--peers-only", action="store_true",
                    help="measure the peers alone (no vsock-perf needed)")
    args = ap.parse_args(argv)
    if args.repeats < 0 or args.seconds < 0:
        ap.error("--repeats and --seconds must be positive")
    if (os.cpu_count() or 1) < 2:
        ap.error("needs two cores (clients on core 1, servers on core 0)")

    def on_signal(signum, frame):
        kill_started()
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)

    mach = rep.machine()
    date = datetime.date.today().isoformat()
    mode = "quick" if args.quick else "full"
    log(f"{mode} run on {mach['cpu']}, {mach['cores']} cores, "
        f"Linux {mach['kernel']}, load {mach['loadavg']}")
    try:
        raw, P = collect(args)
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kill_started()
        return 130
    targets = analyse(raw, P)
    wall = time.monotonic() - T0
    table = rep.write_results(args.out, date, targets, raw, mach, mode, wall)
    try:
        for p in plots(raw, P, args.out, date):
            log(f"wrote {os.path.relpath(p, ROOT)}")
    except Exception as e:  # a plot must not lose the figures
        log(f"plotting failed: {e!r}")
    log(f"wrote {os.path.relpath(args.out, ROOT)}/{date}.json, latest.json,"
        f" latest.md in {wall:.0f} s")
    print(table)
    missing = [t["name"] for t in targets
               if t["ours"] is None and not args.peers_only
               or t["peer"] is None and t["goal"] != "stated"
               and not t["name"].startswith("idle_")]
    if missing:
        print(f"bench: no figure for {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
