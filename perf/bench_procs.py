"""Process half of the benchmark suite: the programs each target runs
(vsock-bridge, vsock-perf, vsockd under the preload, sockperf, the
testpmd pair), started pinned, their output parsed, every pid killed on
the way out; and what a run records of the machine and the tree."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

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
CONN_PARALLEL = 8     # connections in flight in conn_rate, ours and peer

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


def run_json(cmd, timeout, what):
    """Run @cmd to completion and return the first JSON object it printed,
    or None (logged as @what failing) when it failed or printed none."""
    rc, out, err = run(cmd, timeout)
    j = parse_json(out)
    if rc != 0 or j is None:
        log(f"{what} failed (rc {rc}): {tail(err, 3)}")
        return None
    return j


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

    def client(self, addr, mode, size, busy=False, cold=False):
        """One client run against a server(): stream, reverse, pingpong
        or connrate (connect, the server accepts and closes); --busy:
        both ends spin on non-blocking sockets; --cold: the sender walks
        a buffer larger than the LLC, the receiver reads every byte."""
        cmd = taskset(CLIENT_CORE) + [self.bin, "--client"] + addr + [
            "--mode", mode, "--time", str(self.secs)]
        if mode != "connrate":
            cmd += ["--size", str(size)]
        if busy:
            cmd.append("--busy")
        if cold:
            cmd.append("--cold")
        return run_json(cmd, self.secs + 60, f"sockperf {' '.join(cmd[3:])}")

    def connrate(self, addr, parallel):
        """@parallel connrate clients at once on the client core against
        one server (which accepts and closes one connection after the
        other, so that it never waits for the next): the summed rate,
        as {"per_second": .., "conns": .., "clients": ..}, or None."""
        cmd = taskset(CLIENT_CORE) + [self.bin, "--client"] + addr + [
            "--mode", "connrate", "--time", str(self.secs)]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  stdin=subprocess.DEVNULL)
                 for _ in range(parallel)]
        STARTED.extend(procs)
        total = {"per_second": 0.0, "conns": 0, "clients": parallel}
        for p in procs:
            try:
                out, err = p.communicate(timeout=self.secs + 60)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
            j = parse_json(out)
            if p.returncode != 0 or j is None:
                log(f"sockperf connrate failed (rc {p.returncode}): "
                    f"{tail(err, 3)}")
                return None
            total["per_second"] += j["per_second"]
            total["conns"] += j["conns"]
        return total

    def conn_rate_one(self, family):
        """Connect, accept and close in one process on one core."""
        addr = self._addr(family)
        cmd = taskset(CLIENT_CORE) + [self.bin, "--conn-rate"] + addr + [
            "--time", str(self.secs)]
        return run_json(cmd, self.secs + 60, f"sockperf conn-rate {family}")


def membw(build, secs):
    """build/perf/peers/membw on the device core: one core's memcpy and
    read rates over a buffer larger than the LLC (the cold rows'
    ceiling); its JSON, or None."""
    cmd = taskset(SERVER_CORE) + [os.path.join(build, "perf", "peers",
                                               "membw"), "--time", str(secs)]
    return run_json(cmd, 2 * secs + 60, "membw")


def testpmd_pair(tmp, samples, period=2, direction="tx"):
    """DPDK's own virtio PMD: net_virtio_user (forwarding on core 1) and
    net_vhost (forwarding on core 0), two processes, 64 B packets. "tx":
    virtio_user txonly into vhost rxonly, as our driver sends; "rx":
    vhost txonly into virtio_user rxonly, as our driver receives.
    Returns the receiving side's Rx-pps of each full sample (Mpps)."""
    if not os.access(TESTPMD, os.X_OK):
        raise BenchError(f"{TESTPMD} is missing (Debian package dpdk-dev; "
                         "scripts/setup.sh installs it)")
    if direction not in ("tx", "rx"):
        raise ValueError(direction)
    vhost_mode = "rxonly" if direction == "tx" else "txonly"
    virtio_mode = "txonly" if direction == "tx" else "rxonly"
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
                 app + ([f"--forward-mode={vhost_mode}"] +
                        (["--txpkts=64"] if direction == "rx" else [])),
                 tmp, "testpmd-vhost")
    virtio = None
    try:
        wait_for(lambda: os.path.exists(sock), vhost, "the vhost socket")
        virtio = Proc([TESTPMD, "-l", f"{SERVER_CORE},{CLIENT_CORE}",
                       "--main-lcore", str(SERVER_CORE)] + common +
                      ["--file-prefix", uid("tpv"),
                       "--vdev", f"net_virtio_user0,path={sock},queues=1",
                       "--"] + app +
                      [f"--forward-mode={virtio_mode}"] +
                      (["--txpkts=64"] if direction == "tx" else []),
                      tmp, "testpmd-virtio")
        rx_side = vhost if direction == "tx" else virtio

        def pps():
            return [int(x) for x in
                    re.findall(r"Rx-pps:\s+(\d+)", rx_side.out())]

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
    """vsock-bridge (core 0) and vsock-perf (core 1) of one build tree:
    the tree measured or, with --baseline, the one it is compared with.
    What a build lacks (an option added since) is measured as None."""

    def __init__(self, build, tmp, secs, label="ours"):
        self.perf = os.path.join(build, "apps", "vsock-perf")
        self.bridge = os.path.join(build, "apps", "vsock-bridge")
        self.label = label
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

    def has(self, opt):
        return opt in self.perf_opts

    def start_bridge(self, max_conns=None):
        self.sock = os.path.join(self.tmp, uid("br") + ".sock")
        uds = self.sock[:-5] + ".uds"
        cmd = [self.bridge, "-l", str(SERVER_CORE)] + DPDK_COMMON + [
            "--file-prefix", uid("br"), "--", "--socket", self.sock,
            "--uds", uds, "--guest-cid", str(GUEST_CID),
            "--perf-port", str(PERF_PORT)]
        if max_conns and "--max-conns" in self.bridge_opts:
            cmd += ["--max-conns", str(max_conns)]
        self.br = Proc(cmd, self.tmp, f"vsock-bridge ({self.label})")
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
        # for the bridge and the cold patterns.
        cmd = [self.perf, "-l", str(CLIENT_CORE)] + DPDK_COMMON + [
            "--file-prefix", uid("vp"), "--", "--dev", dev] + args + [
            "-J"]
        if "--nb-mbufs" in self.perf_opts:
            cmd[-1:-1] = ["--nb-mbufs", "4096"]
        what = f"vsock-perf ({self.label}) {' '.join(args)}"
        for attempt in (1, 2):
            rc, out, err = run(cmd, timeout)
            j = parse_json(out)
            if rc == 0 and j is not None:
                break
            if attempt == 1:
                log(f"{what} failed (rc {rc}), once more: "
                    f"{tail(err, 1).strip()}")
                time.sleep(1)
        if rc != 0 or j is None:
            log(f"{what} failed (rc {rc}):\n{tail(err, 6)}{tail(out, 3)}")
            if self.br is not None and not self.br.alive():
                log(f"the bridge died: {tail(self.br.err(), 6)}")
            return None
        end = j.get("end", {})
        if end.get("errors"):
            log(f"{what}: {end['errors']} errors")
        return j

    def client(self, size, reverse=False, latency=False, idle=0,
               seqpacket=False, cold=False):
        """vsock-perf against the bridge's server; None when it failed
        or this build cannot (no --cold, say)."""
        args = ["-c", "2", "-p", str(PERF_PORT), "-l", str(size),
                "-t", str(self.secs)]
        for flag, opt in ((reverse, "-R"), (latency, "--latency"),
                          (seqpacket, "--seqpacket"), (cold, "--cold")):
            if flag:
                if opt.startswith("--") and not self.has(opt):
                    return None
                args.append(opt)
        if idle:
            args += ["--idle", str(idle)]
            if self.has("--max-conns"):
                args += ["--max-conns", str(idle + 1024)]
        return self._run(f"vhost-user:path={self.sock}", args,
                         self.secs + 60 + idle / 1000)

    def conn_rate(self, parallel):
        """connect + close against the bridge's server over vhost-user
        (the bridge accepts and closes), @parallel connections in flight:
        two processes, two cores."""
        return self._run(f"vhost-user:path={self.sock}", [
            "-c", "2", "-p", str(PERF_PORT), "--conn-rate",
            "-P", str(parallel), "-t", str(self.secs)], self.secs + 60)

    def conn_rate_loopback(self):
        """The same on the loopback device, serving itself: one process
        on one core."""
        return self._run("loopback", ["--conn-rate", "-t", str(self.secs)],
                         self.secs + 60)


def ring_pps(j, side):
    """Packets per second the driver moved over the test window, "tx" or
    "rx", from vsock-perf's "ring" counters (or those Preload.client read
    off vsockd); None without them."""
    if j is None:
        return None
    r = j.get("ring") or j.get("end", {}).get("ring")
    if r is None:
        return None
    return r.get(f"{side}_pkts_per_second")


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

    def __init__(self, build, sp_bin, tmp, secs, label="ours"):
        self.label = label
        self.prefix = None
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
        self.prefix = uid("vd")
        cmd = [self.vsockd] + VSOCKD_EAL + [
            "--file-prefix", self.prefix,
            "--", "--dev", "loopback", "--socket", self.sock,
            "--perf-port", str(PERF_PORT)]
        self.vd = Proc(cmd, self.tmp, f"vsockd ({self.label})")
        wait_for(lambda: os.path.exists(self.sock), self.vd,
                 "vsockd's control socket")

    def ring_counts(self):
        """vsockd's packets: its driver counters (telemetry /vsock/ports)
        plus the stack's local path (/vsock/stats local_pkts: CID 1 and
        the own CID go through no ring); {"tx": n, "rx": n, "local": n}
        or None when they cannot be read."""
        ports = telemetry(self.prefix, "/vsock/ports")
        stacks = telemetry(self.prefix, "/vsock/stats")
        if not ports or not stacks:
            return None
        out = {"tx": 0, "rx": 0, "local": 0}
        for port in ports.values():
            if isinstance(port, dict):
                out["tx"] += port.get("tx_pkts", 0)
                out["rx"] += port.get("rx_pkts", 0)
        for st in stacks.values():
            if isinstance(st, dict):
                out["local"] += st.get("local_pkts", 0)
        return out

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
        what = f"preloaded sockperf ({self.label}) {mode} {size}" + \
            (" (busy-poll)" if busy else "")
        for attempt in (1, 2):
            c0 = self.ring_counts()
            w0 = time.monotonic()
            rc, out, err = run(cmd, self.secs + 60, env=self.env(busy))
            wall = time.monotonic() - w0
            j = parse_json(out)
            if rc == 0 and j is not None and j.get("family") == "vsock":
                c1 = self.ring_counts()
                secs = j.get("seconds") or wall
                if c0 is not None and c1 is not None:
                    # vsockd's device and local path: the client's and
                    # the server's packets both, each counted once.
                    d = {k: (c1[k] - c0[k]) / secs for k in c0}
                    j["ring"] = {"tx_pkts_per_second": d["tx"] + d["local"],
                                 "rx_pkts_per_second": d["rx"] + d["local"],
                                 "local_pkts_per_second": d["local"]}
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
        return run_json(cmd, self.secs + 60,
                        f"native vsock-perf {' '.join(args)}")


def telemetry(prefix, cmd, timeout=5.0):
    """The value of one DPDK telemetry command of the process running
    with --file-prefix @prefix, or None."""
    path = os.path.join("/var/run" if os.getuid() == 0 else
                        os.environ.get("XDG_RUNTIME_DIR", "/tmp"),
                        "dpdk", prefix, "dpdk_telemetry.v2")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.recv(16384)            # the banner
        s.send(cmd.encode())
        reply = json.loads(s.recv(1 << 20).decode())
        return reply.get(cmd.split(",")[0])
    except (OSError, ValueError):
        return None
    finally:
        s.close()


def cpu_ticks(pid):
    """utime + stime of the process (all its threads), in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return None
    fields = st[st.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])



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


def git(*args, timeout=60):
    p = subprocess.run(["git", "-C", ROOT] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise BenchError(f"git {' '.join(args)}: {p.stderr.strip()}")
    return p.stdout.strip()


def tree_info():
    """The tree measured: its commit, and whether tracked files differ
    from it (dirty: the figures are not that commit's alone)."""
    try:
        return {"commit": git("rev-parse", "HEAD"),
                "dirty": git("status", "--porcelain",
                             "--untracked-files=no") != ""}
    except (OSError, subprocess.SubprocessError, BenchError):
        return {"commit": None, "dirty": None}


def dpdk_version():
    """libdpdk's version (pkg-config), what every program here links."""
    try:
        p = subprocess.run(["pkg-config", "--modversion", "libdpdk"],
                           capture_output=True, text=True, timeout=30)
        return p.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def build_baseline(rev):
    """@rev checked out in a git worktree (.bench-baseline/<commit>) and
    built there with meson, once; returns (its build directory, its
    full commit)."""
    try:
        sha = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    except BenchError:
        raise BenchError(f"--baseline {rev}: not a commit of this "
                         "repository")
    wt = os.path.join(ROOT, ".bench-baseline", sha[:12])
    build = os.path.join(wt, "build")
    if not os.path.isdir(wt):
        log(f"baseline {rev} = {sha[:12]}: git worktree in "
            f"{os.path.relpath(wt, ROOT)}")
        git("worktree", "add", "--detach", wt, sha, timeout=300)
    for step in ([] if os.path.exists(os.path.join(build, "build.ninja"))
                 else [["meson", "setup", build, wt]]) + \
            [["ninja", "-C", build]]:
        log(f"baseline: {' '.join(step[:2])}")
        p = subprocess.run(step, capture_output=True, text=True,
                           timeout=1800, cwd=wt)
        if p.returncode != 0:
            raise BenchError(f"building the baseline {rev} failed: "
                             f"{' '.join(step)}:\n{tail(p.stdout + p.stderr)}")
    return build, sha
