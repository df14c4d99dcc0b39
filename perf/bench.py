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
The socket layer (--only preload runs these alone): vsockd on the
loopback device with its vsock-perf server (--perf-port) on core 0, an
unmodified program (sockperf --vsock) under libvsock-preload.so inside
vsock-guard on core 1, beside AF_UNIX (blocking) and the native API
(vsock-perf on the loopback device, one process on one core):
  preload_pingpong_64B_p50/p99_busy   VSOCK_BUSY_POLL=1 vs AF_UNIX
                        blocking (not like-for-like: ours spins)
  preload_pingpong_64B_p50/p99_sleep  the default (sleeping) vs AF_UNIX
                        blocking (like-for-like)
  preload_stream_64KiB/4KiB  sockperf --vsock stream vs AF_UNIX stream
  preload_idle_cpu      CPU used by a preloaded program blocked in
                        recv() and accept() for 3 s (%)
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
VSOCKD_EAL = ["-l", str(SERVER_CORE), "--in-memory", "--no-pci",
              "--log-level=lib.eal:warning"]
VMADDR_CID_LOCAL = 1
IDLE_SECS = 3.0       # the idle probe's window
GROUPS = ("bridge", "preload")

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

    def __init__(self, cmd, tmp, name, env=None):
        self.name = name
        self.cmd = cmd
        self.out_path = os.path.join(tmp, uid(name) + ".out")
        self.err_path = self.out_path[:-4] + ".err"
        self.out_f = open(self.out_path, "w")
        self.err_f = open(self.err_path, "w")
        self.p = subprocess.Popen(cmd, stdout=self.out_f,
                                  stderr=self.err_f, stdin=subprocess.DEVNULL,
                                  env=env)
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


def run(cmd, timeout, env=None):
    """Run to completion; (rc, stdout, stderr). Killed (by its pid) when
    it overruns."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, text=True, env=env)
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


# ------------------------------------------------- the socket layer

class Preload:
    """vsockd on the loopback device with the vsock-perf server inside it
    (--perf-port), on core 0; unmodified programs on core 1 reach it
    through libvsock-preload.so, always inside vsock-guard (the kernel's
    AF_VSOCK is hidden and refused there, so a call that falls through
    fails instead of touching this machine's vsock). At most two threads
    spin: vsockd's lcore and, in busy-poll mode, the client."""

    def __init__(self, build, sp_bin, tmp, secs):
        self.vsockd = os.path.join(build, "apps", "vsockd")
        self.lib = os.path.join(build, "lib", "libvsock",
                                "libvsock-preload.so")
        self.guard = os.path.join(build, "tests", "guard", "vsock-guard")
        self.perf = os.path.join(build, "apps", "vsock-perf")
        self.sp = sp_bin
        self.tmp = tmp
        self.secs = secs
        self.vd = None
        self.sock = None

    def check(self):
        """None when everything is there, else what is missing."""
        for b in (self.vsockd, self.guard, self.perf):
            if not os.access(b, os.X_OK):
                return f"{b} is missing (build it: make build)"
        if not os.path.exists(self.lib):
            return f"{self.lib} is missing (build it: make build)"
        rc, out, err = run([self.vsockd, "--help"], 30)
        if "--perf-port" not in out + err:
            return f"{self.vsockd} has no --perf-port option yet"
        return None

    def start(self):
        self.sock = os.path.join(self.tmp, uid("vd") + ".sock")
        cmd = [self.vsockd] + VSOCKD_EAL + [
            "--", "--dev", "loopback", "--socket", self.sock,
            "--perf-port", str(PERF_PORT)]
        self.vd = Proc(cmd, self.tmp, "vsockd")
        wait_for(lambda: os.path.exists(self.sock), self.vd,
                 "vsockd's control socket")

    def stop(self):
        if self.vd is not None:
            rc = self.vd.stop()
            if rc not in (0, None, -signal.SIGINT, 130):
                log(f"vsockd exited with {rc}: {tail(self.vd.err(), 5)}")
        if self.sock and os.path.exists(self.sock):
            os.unlink(self.sock)
        self.vd = None

    def env(self, busy):
        e = dict(os.environ)
        for k in ("VSOCK_BUSY_POLL", "VSOCK_KERNEL", "LD_PRELOAD"):
            e.pop(k, None)
        e["LD_PRELOAD"] = self.lib
        e["VSOCKD_SOCKET"] = self.sock
        if busy:
            e["VSOCK_BUSY_POLL"] = "1"
        return e

    def guarded(self, cmd):
        """@cmd on the client core, inside the guard."""
        return taskset(CLIENT_CORE) + [self.guard, "--"] + cmd

    def client(self, mode, size, busy=False):
        """sockperf --vsock against vsockd's vsock-perf server (SINK for
        stream, ECHO for pingpong); its JSON, or None."""
        cmd = self.guarded([
            self.sp, "--client", "--vsock",
            f"{VMADDR_CID_LOCAL}:{PERF_PORT}", "--mode", mode,
            "--size", str(size), "--time", str(self.secs)])
        what = f"preloaded sockperf {mode} {size}" + \
            (" (busy-poll)" if busy else "")
        for attempt in (1, 2):
            rc, out, err = run(cmd, self.secs + 60, env=self.env(busy))
            j = parse_json(out)
            if rc == 0 and j is not None and j.get("family") == "vsock":
                return j
            if self.vd is not None and not self.vd.alive():
                log(f"{what} failed (rc {rc}): {tail(err, 3)}"
                    f"vsockd died: {tail(self.vd.err(), 6)}")
                return None
            log(f"{what} failed (rc {rc})"
                + (", once more" if attempt == 1 else "")
                + f": {tail(err, 3).strip()}")
        return None

    def idle_cpu(self):
        """Percent of a core used by preloaded programs blocked in recv()
        and in accept() on vsock sockets (the default, sleeping mode),
        over the same IDLE_SECS; {"recv": %, "accept": %} (None for a
        probe that did not block)."""
        probe = os.path.join(HERE, "idle_probe.py")
        py = sys.executable or "/usr/bin/python3"
        procs = {
            "recv": Proc(self.guarded([py, probe, "recv",
                                       str(VMADDR_CID_LOCAL),
                                       str(PERF_PORT)]),
                         self.tmp, "idle-recv", env=self.env(False)),
            "accept": Proc(self.guarded([py, probe, "accept",
                                         str(PERF_PORT + 100)]),
                           self.tmp, "idle-accept", env=self.env(False)),
        }
        res = {k: None for k in procs}
        try:
            for k, p in procs.items():
                try:
                    wait_for(lambda: "blocked" in p.out(), p,
                             f"the {k} probe blocking", timeout=30)
                except BenchError as e:
                    log(f"idle probe ({k}): {e}")
            up = {k: p for k, p in procs.items()
                  if p.alive() and "blocked" in p.out()}
            time.sleep(0.5)  # into the blocking call, past any spin
            t0 = {k: cpu_ticks(p.p.pid) for k, p in up.items()}
            w0 = time.monotonic()
            time.sleep(IDLE_SECS)
            t1 = {k: cpu_ticks(p.p.pid) for k, p in up.items()}
            wall = time.monotonic() - w0
            hz = os.sysconf("SC_CLK_TCK")
            for k, p in up.items():
                if t0[k] is None or t1[k] is None or not p.alive():
                    log(f"idle probe ({k}) ended during the window: "
                        f"{tail(p.err(), 3)}")
                    continue
                res[k] = 100.0 * (t1[k] - t0[k]) / hz / wall
        finally:
            for p in procs.values():
                p.stop(signal.SIGKILL, timeout=10)
        return res

    def native(self, size, latency=False):
        """The native API for comparison: vsock-perf on the loopback
        device serving itself, one process on the client core (device,
        stack, server and client inline on one lcore)."""
        args = ["-l", str(size), "-t", str(self.secs)]
        if latency:
            args.append("--latency")
        cmd = [self.perf, "-l", str(CLIENT_CORE)] + DPDK_COMMON + [
            "--file-prefix", uid("np"), "--", "--dev", "loopback"] + \
            args + ["-J"]
        rc, out, err = run(cmd, self.secs + 60)
        j = parse_json(out)
        if rc != 0 or j is None:
            log(f"native vsock-perf {' '.join(args)} failed (rc {rc}): "
                f"{tail(err, 3)}")
            return None
        return j


def cpu_ticks(pid):
    """utime + stime of the process (all its threads), in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return None
    fields = st[st.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


# ------------------------------------------------------------ the plan

def plan(quick):
    if quick:
        return {"repeats": 3, "secs": 1, "testpmd_launches": 3,
                "testpmd_samples": 2,
                "sizes": [64, 4096, 65536], "rev_sizes": [4096, 65536],
                "tcp_sizes": [64, 4096, 65536], "tcp_rev_sizes": [],
                "idle": [100000],
                "preload_sizes": [4096, 65536], "preload_busy_sizes": []}
    return {"repeats": 5, "secs": 3, "testpmd_launches": 3,
            "testpmd_samples": 3,
            "sizes": [64, 256, 1024, 4096, 16384, 65536],
            "rev_sizes": [64, 1024, 4096, 16384, 65536],
            "tcp_sizes": [64, 256, 1024, 4096, 16384, 65536],
            "tcp_rev_sizes": [4096, 65536],
            "idle": [1000, 10000, 100000],
            "preload_sizes": [64, 4096, 65536],
            "preload_busy_sizes": [4096, 65536]}


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
    groups = set(args.only) if args.only else set(GROUPS)
    P["groups"] = sorted(groups)
    sp = Sockperf(sp_bin, tmp, P["secs"])
    ours = None if args.peers_only or "bridge" not in groups \
        else Ours(args.build, tmp, P["secs"])
    pre = None if args.peers_only or "preload" not in groups \
        else Preload(args.build, sp_bin, tmp, P["secs"])
    if ours is not None:
        try:
            ours.check()
        except BenchError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    # raw[key] = list of per-repeat results (dicts or None)
    raw = {"plan": P}
    if pre is not None:
        why = pre.check()
        if why is not None and args.only:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BenchError(why)
        if why is not None:
            log(f"the socket layer's targets are not measured: {why}")
            raw["preload_missing"] = why
            pre = None

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
            if pre is not None:
                collect_preload(pre, P, add)
            fams = (("unix", P["sizes"], P["rev_sizes"]),
                    ("tcp", P["tcp_sizes"], P["tcp_rev_sizes"]))
            if "bridge" not in groups:
                # only the AF_UNIX peers of the socket layer's targets
                fams = (("unix", sorted(set(P["preload_sizes"]) &
                                        {4096, 65536}), []),)
            for fam, sizes, rsizes in fams:
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
                if "bridge" not in groups:
                    continue
                log(f"  {fam}: connection rate, one core")
                add(f"{fam}_conn_rate", sp.conn_rate(fam))
            if r < P["testpmd_launches"] and "bridge" in groups:
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


def collect_preload(pre, P, add):
    """One repeat of the socket layer's measurements: through vsockd
    (ping-pong both ways of waiting, streams, the idle probe), then the
    native API for the third column."""
    pre.start()
    try:
        for busy, tag in ((True, "busy"), (False, "sleep")):
            log(f"  preload: 64 B ping-pong, "
                f"{'busy-poll' if busy else 'sleeping'}")
            add(f"preload_pingpong_{tag}", pre.client("pingpong", 64, busy))
        for size in P["preload_sizes"]:
            log(f"  preload: {size} B stream -> vsockd sink")
            add(f"preload_fwd_{size}", pre.client("stream", size))
        for size in P["preload_busy_sizes"]:
            log(f"  preload: {size} B stream, busy-poll")
            add(f"preload_busy_fwd_{size}",
                pre.client("stream", size, busy=True))
        log(f"  preload: idle programs blocked in recv() and accept(), "
            f"{IDLE_SECS:g} s")
        add("preload_idle_cpu", pre.idle_cpu())
    finally:
        pre.stop()
    log("  native: 64 B ping-pong, loopback, one core")
    add("native_pingpong", pre.native(64, latency=True))
    for size in sorted(set(P["preload_sizes"]) & {4096, 65536}):
        log(f"  native: {size} B stream, loopback, one core")
        add(f"native_fwd_{size}", pre.native(size))


class AllOf(rep.Goal):
    """Every one of several goals (e.g. an absolute figure and a ratio)."""

    def __init__(self, *goals):
        super().__init__("all")
        self.goals = goals

    def met(self, ours, rat):
        return all(g.met(ours, rat) for g in self.goals)

    def text(self):
        return " and ".join(g.text() for g in self.goals)


class Below(rep.Goal):
    """Strictly under an absolute figure."""

    def __init__(self, value, unit):
        super().__init__("abs", value, lower_is_better=True, unit=unit)

    def met(self, ours, rat):
        return ours is not None and ours < self.value

    def text(self):
        return f"< {self.value:g} {self.unit}"


def analyse_preload(raw, P):
    """The socket layer's targets; each row's third column (the native
    API) goes into its note and into the extra table."""
    S = rep.summarize
    goal = rep.Goal

    def vals(key, fn):
        return [None if x is None else fn(x) for x in raw.get(key, [])]

    def sp_field(key, field, scale=1.0):
        return S(vals(key, lambda j: j.get(field, 0) / scale or None))

    def native_lat(pct):
        return S(vals("native_pingpong", lambda j: (
            j.get("end", {}).get("latency") or {}).get(pct)))

    def native_bps(size):
        return S(vals(f"native_fwd_{size}", lambda j: (
            rx_figure(j, "bits_per_second") or 0) / 1e9 or None))

    def fmt(summary, unit):
        m = rep.median_of(summary)
        return "–" if m is None else f"{m:.3g} {unit}"

    T = []
    busy_note = ("VSOCK_BUSY_POLL=1 (the client spins) against AF_UNIX's "
                 "blocking ping-pong: not a like-for-like comparison")
    sleep_note = ("the preload's default (it sleeps in blocking calls) "
                  "against AF_UNIX's blocking ping-pong: like-for-like")
    for tag, lim, note in (("busy", 3.0, busy_note),
                           ("sleep", 15.0, sleep_note)):
        for pct in ("p50_us", "p99_us"):
            if pct == "p50_us":
                g = goal("abs", lim, lower_is_better=True, unit="µs")
                if tag == "sleep":
                    g = AllOf(g, goal("ratio", 1.0))
            else:
                g = goal("stated")
            nat = native_lat(pct)
            T.append(dict(rep.make_target(
                f"preload_pingpong_64B_{pct[:-3]}_{tag}",
                sp_field(f"preload_pingpong_{tag}", pct),
                sp_field("unix_pingpong", pct), "µs", g,
                peer_name="(AF_UNIX, blocking)", lower_is_better=True,
                note=f"{note}; native API: {fmt(nat, 'µs')}"),
                _native=rep.median_of(nat)))
    for size, name in ((65536, "64KiB"), (4096, "4KiB")):
        g = goal("ratio", 1.5)
        if size == 65536:
            g = AllOf(goal("abs", 60, unit="Gbit/s"), g)
        nat = native_bps(size)
        busy = S(vals(f"preload_busy_fwd_{size}", lambda j: j.get(
            "bits_per_second", 0) / 1e9 or None))
        note = (f"sockperf --vsock stream (sleeping mode) into vsockd's "
                f"sink, byte count checked; native API: {fmt(nat, 'Gbit/s')}")
        if busy is not None:
            note += f"; busy-poll: {fmt(busy, 'Gbit/s')}"
        T.append(dict(rep.make_target(
            f"preload_stream_{name}",
            sp_field(f"preload_fwd_{size}", "bits_per_second", 1e9),
            sp_field(f"unix_fwd_{size}", "bits_per_second", 1e9),
            "Gbit/s", g, peer_name="(AF_UNIX)", note=note),
            _native=rep.median_of(nat)))
    idle = raw.get("preload_idle_cpu", [])

    def worst(d):
        if d is None or any(v is None for v in d.values()):
            return None
        return max(d.values())
    each = {k: S([None if d is None else d.get(k) for d in idle])
            for k in ("recv", "accept")}
    T.append(rep.make_target(
        "preload_idle_cpu", S([worst(d) for d in idle]), None, "% CPU",
        Below(1.0, "%"),
        note=f"a preloaded program blocked {IDLE_SECS:g} s in recv() "
             f"({fmt(each['recv'], '%')}) and one in accept() "
             f"({fmt(each['accept'], '%')}) on vsock sockets, default "
             "mode; utime + stime from /proc/PID/stat; the worse of the "
             "two"))
    return T


def preload_table(targets):
    """The socket layer's rows with the native API as a third column."""
    rows = [t for t in targets if "_native" in t]
    if not rows:
        return ""
    lines = ["", "Socket layer: an unmodified program through "
             "libvsock-preload.so and vsockd, beside AF_UNIX and the "
             "native API (vsock-perf, loopback device, one process on one "
             "core):", "",
             "| target | preload | AF_UNIX | native API | unit |",
             "| --- | ---: | ---: | ---: | --- |"]

    f = rep._fmt
    for t in rows:
        lines.append(f"| {t['name']} | {f(t['ours'])} | {f(t['peer'])} "
                     f"| {f(t['_native'])} | {t['unit']} |")
    return "\n".join(lines) + "\n"


def analyse(raw, P):
    groups = P.get("groups", GROUPS)
    T = []
    if "bridge" in groups:
        T += analyse_bridge(raw, P)
    if "preload" in groups:
        T += analyse_preload(raw, P)
    return T


def analyse_bridge(raw, P):
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
    if "preload" in P.get("groups", GROUPS):
        tp["preload → vsockd (sockperf --vsock)"] = series(
            "preload_fwd_{}", P["preload_sizes"], peer_bps)
        tp["native API, loopback"] = series(
            "native_fwd_{}", P["preload_sizes"], ours_bps)
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
        "preload busy-poll": pct_medians("preload_pingpong_busy", False),
        "preload sleeping": pct_medians("preload_pingpong_sleep", False),
        "native API, loopback": pct_medians("native_pingpong", True),
        "AF_UNIX": pct_medians("unix_pingpong", False),
        "TCP loopback": pct_medians("tcp_pingpong", False)},
        f"64 B ping-pong round trip ({date})")
    made.append(path)
    if "bridge" not in P.get("groups", GROUPS):
        return made

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


def busy_processes(window=0.5, above=20.0):
    """Other processes using more than @above % of a core over @window s
    at the start (the machine is shared: a spinning one moves figures)."""
    def sample():
        out = {}
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                t = cpu_ticks(int(pid))
                if t is not None:
                    out[int(pid)] = t
        return out
    a = sample()
    time.sleep(window)
    b = sample()
    hz = os.sysconf("SC_CLK_TCK")
    busy = []
    for pid, t in b.items():
        pct = 100.0 * (t - a.get(pid, t)) / hz / window
        if pct > above and pid != os.getpid():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(
                        errors="replace").strip()[:120]
            except OSError:
                cmd = "?"
            busy.append({"pid": pid, "cpu_pct": round(pct), "cmd": cmd})
    return busy


def git_commit():
    """HEAD of the tree measured, "-dirty" when tracked files differ."""
    try:
        out = subprocess.run(["git", "-C", ROOT, "describe", "--always",
                              "--dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=30)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


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
    ap.add_argument("--only", action="append", choices=GROUPS,
                    help="only these targets (repeatable): bridge (the "
                    "native API against the bridge and its peers), "
                    "preload (the socket layer: vsockd and "
                    "libvsock-preload.so, beside AF_UNIX and the native "
                    "API); default both")
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
    mach["commit"] = git_commit()
    mach["busy_processes"] = busy_processes()
    for b in mach["busy_processes"]:
        log(f"busy at the start: pid {b['pid']} at {b['cpu_pct']} % "
            f"({b['cmd']}): figures will move")
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
    # --only: the dated file of that part alone, latest.* left as they are.
    part = "-".join(sorted(set(args.only))) \
        if args.only and set(args.only) != set(GROUPS) else None
    table = rep.write_results(args.out, date, targets, raw, mach, mode, wall,
                              part)
    # The commit measured, and the socket layer's three columns.
    lines = table.split("\n", 1)
    table = lines[0] + f"\n\nCommit: {mach['commit']}.\n" + lines[1] + \
        preload_table(targets)
    out = os.path.relpath(args.out, ROOT)
    if part:
        log(f"wrote {out}/{date}-{part}.json in {wall:.0f} s (latest.* "
            "are the last whole run's)")
    else:
        with open(os.path.join(args.out, "latest.md"), "w") as f:
            f.write(table)
        try:
            for p in plots(raw, P, args.out, date):
                log(f"wrote {os.path.relpath(p, ROOT)}")
        except Exception as e:  # a plot must not lose the figures
            log(f"plotting failed: {e!r}")
        log(f"wrote {out}/{date}.json, latest.json, latest.md in "
            f"{wall:.0f} s")
    print(table)
    missing = [t["name"] for t in targets
               if t["ours"] is None and not args.peers_only
               or t["peer"] is None and t["goal"] != "stated"
               and not t["name"].startswith(("idle_", "preload_idle"))]
    if missing:
        print(f"bench: no figure for {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
