#!/usr/bin/python3
"""Where a 64-byte packet's cycles go: ours (vsock-perf's driver and stack
on core 1, vsock-bridge's device side and stack on core 0) beside DPDK's
own virtio PMD pair (testpmd net_virtio_user and net_vhost), both
directions, with perf record (cpu-clock: this machine has no hardware
counters) over both processes.

Each figure is nanoseconds of the two cores per packet: a function's
share of the samples x 2 cores / the packets per second of the same run
(both sides spin, so idle polling is in the figures too, as it is in
testpmd's). Ours is grouped by component; testpmd, whose binaries carry
no symbols, by library.

  perf/profile.py [--build DIR] [--seconds S] [--top N]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_procs as bp  # noqa: E402

# Our symbols by component: the first prefix that matches.
COMPONENTS = (
    ("driver", ("virtio_vsock_", "vv_", "virtqueue_", "vq_")),
    ("bridge device", ("br_",)),
    ("stack", ("vs_", "vsock_", "rx_", "tx_")),
    ("mbuf/mempool", ("rte_pktmbuf", "rte_mempool", "rte_mbuf")),
    ("application", ("vperf_", "main")),
    ("libc copies", ("__memmove", "__memcpy", "memcpy", "__memcmp",
                     "memcmp", "__memset")),
    ("hash", ("rte_jhash", "rte_hash")),
)


def record(pids, out, secs):
    p = subprocess.run(["perf", "record", "-e", "cpu-clock", "-F", "4999",
                        "-o", out, "-p", ",".join(map(str, pids)), "--",
                        "sleep", str(secs)], capture_output=True, text=True)
    if p.returncode != 0:
        raise bp.BenchError(f"perf record failed: {p.stderr.strip()}")


def report(data, key):
    out = subprocess.run(["perf", "report", "-i", data, "--no-children",
                          "--sort", key, "--stdio"], capture_output=True,
                         text=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(.*)$", line)
        if m:
            rows.append((float(m.group(1)), m.group(2).split()))
    return rows


def component(comm, sym):
    for name, prefixes in COMPONENTS:
        if sym.startswith(prefixes):
            return f"{comm}: {name}"
    return f"{comm}: other"


def print_ours(title, data, mpps, top):
    per = 2e3 / mpps      # ns of two cores per packet
    rows = report(data, "comm,sym")
    groups = {}
    for pct, f in rows:
        comm, sym = f[0], f[-1]
        groups[component(comm, sym)] = groups.get(
            component(comm, sym), 0) + pct
    print(f"\n{title}: {mpps:.2f} Mpkt/s, {per:.0f} ns of the two cores "
          "per packet")
    for name, pct in sorted(groups.items(), key=lambda x: -x[1]):
        print(f"  {pct * per / 100:6.1f} ns  {pct:5.1f} %  {name}")
    print("  top functions:")
    for pct, f in rows[:top]:
        print(f"  {pct * per / 100:6.1f} ns  {pct:5.1f} %  {f[0]} {f[-1]}")


def print_dso(title, data, mpps):
    per = 2e3 / mpps
    print(f"\n{title}: {mpps:.2f} Mpps, {per:.0f} ns of the two cores per "
          "packet")
    for pct, f in report(data, "comm,dso"):
        if pct >= 0.5:
            print(f"  {pct * per / 100:6.1f} ns  {pct:5.1f} %  {f[0]} "
                  f"{f[-1]}")


def ours(build, tmp, secs, reverse):
    o = bp.Ours(build, tmp, secs + 4, "ours")
    o.check()
    o.start_bridge()
    res = {}
    try:
        t = threading.Thread(target=lambda: res.update(
            j=o.client(64, reverse=reverse, seqpacket=True)))
        t.start()
        time.sleep(2)   # past the connect and the ramp
        pids = [p.pid for p in bp.STARTED if p.poll() is None]
        data = os.path.join(tmp, f"ours-{'rx' if reverse else 'tx'}.data")
        record(pids, data, secs)
        t.join()
    finally:
        o.stop_bridge()
    mpps = (bp.ring_pps(res.get("j"), "rx" if reverse else "tx") or 0) / 1e6
    if not mpps:
        raise bp.BenchError("vsock-perf gave no packet rate")
    return data, mpps


def testpmd(tmp, secs, direction):
    res = {}
    t = threading.Thread(target=lambda: res.update(
        v=bp.testpmd_pair(tmp, 3, direction=direction)))
    t.start()
    time.sleep(6)       # past the start and the ramp sample
    pids = [p.pid for p in bp.STARTED if p.poll() is None]
    data = os.path.join(tmp, f"testpmd-{direction}.data")
    record(pids, data, secs)
    t.join()
    vals = sorted(res.get("v") or [])
    if not vals:
        raise bp.BenchError("the testpmd pair gave no rate")
    return data, vals[len(vals) // 2]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", default=os.path.join(bp.ROOT, "build"),
                    help="build directory (default: build/)")
    ap.add_argument("--seconds", type=float, default=3,
                    help="seconds recorded per run (default 3)")
    ap.add_argument("--top", type=int, default=12,
                    help="functions listed per run (default 12)")
    args = ap.parse_args(argv)
    if args.seconds <= 0:
        ap.error(f"--seconds {args.seconds}: must be > 0")
    tmp = tempfile.mkdtemp(prefix="vsock-profile.")
    try:
        for reverse, d, what in ((False, "tx", "driver → bridge sink"),
                                 (True, "rx", "bridge source → driver")):
            data, mpps = ours(args.build, tmp, args.seconds, reverse)
            print_ours(f"ours, SEQPACKET 64 B, {what}", data, mpps,
                       args.top)
            data, mpps = testpmd(tmp, args.seconds, d)
            print_dso(f"testpmd pair, 64 B, "
                      f"{'virtio_user txonly → vhost rxonly' if d == 'tx' else 'vhost txonly → virtio_user rxonly'}",
                      data, mpps)
    except bp.BenchError as e:
        print(f"profile: {e}", file=sys.stderr)
        return 1
    finally:
        bp.kill_started()
        subprocess.run(["rm", "-rf", tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
