#!/usr/bin/python3
"""dpdk-vsock benchmark suite: every target of the performance issue, run
against its peer in the same run, pinned to the same cores.

  driver / client side: core 1     device / server side: core 0

Every row gives, beside its figure, the application's messages/s and the
packets/s the driver moved on the ring (its counters over the test
window): a byte or write rate is never a packet rate.

Targets and peers (the bridge group):
  pkt_rate_64B          SEQPACKET 64 B, vsock-perf -> bridge sink, ring
                        Mpkt/s vs dpdk-testpmd net_virtio_user txonly ->
                        net_vhost rxonly (Mpps, 2-second samples)
  pkt_rate_64B_rx       SEQPACKET 64 B, bridge source -> vsock-perf -R vs
                        net_vhost txonly -> net_virtio_user rxonly
  stream_64B_writes     64-byte STREAM writes/s (a write rate: the stack
                        coalesces them) vs AF_UNIX
  stream/reverse_64KiB/4KiB  hot source, dropping sink, vs AF_UNIX
  stream/reverse_64KiB_cold  the source walks a buffer larger than the
                        LLC, the sink reads every byte; AF_UNIX the same
  pingpong_64B_p50/p99/p999  vsock-perf --latency vs AF_UNIX with both
                        ends busy-polling (the ratio's peer) and AF_UNIX
                        blocking (in the note)
  conn_rate             vsock-perf --conn-rate -P 8 over vhost-user, the
                        bridge accepting (two processes), vs AF_UNIX the
                        same way (8 sockperf --mode connrate clients, one
                        server)
  conn_rate_loopback    the same on the loopback device in one process vs
                        TCP loopback in one process (an extra row)
  cold_copy_ceiling     one core's memcpy from a buffer larger than the LLC
                        (perf/peers/membw on core 0): what the cold rows'
                        copying device side can reach at most (stated)
  idle_100k_throughput  one 64 KiB stream beside 100k idle connections vs
                        the same stream with none (same run)
  idle_conn_memory      bytes per idle connection (stated, no peer)
The socket layer (the preload group): vsockd on the loopback device with
its vsock-perf server (--perf-port) on core 0, an unmodified program
(sockperf --vsock) under libvsock-preload.so inside vsock-guard on core
1, beside AF_UNIX (blocking) and the native API (vsock-perf on the
loopback device, one process on one core):
  preload_pingpong_64B_p50/p99_busy   VSOCK_BUSY_POLL=1 vs AF_UNIX
                        blocking (not like-for-like: ours spins)
  preload_pingpong_64B_p50/p99_sleep  the default (sleeping) vs AF_UNIX
                        blocking (like-for-like)
  preload_stream_64KiB/4KiB  sockperf --vsock stream vs AF_UNIX stream
  preload_idle_cpu      CPU used by a preloaded program blocked in
                        recv() and accept() for 3 s (%)
Plus a message-size sweep (ours, AF_UNIX, TCP) for the plot.

--baseline REV builds REV in a git worktree (.bench-baseline/) and runs
each of our measurements for both trees, interleaved (the order swaps
every repeat), the peers once; it prints ours/baseline for every target
and writes perf/results/<date>-compare.json only.

Each figure is the median over the repeats, with min and max. Writes
perf/results/<date>.json (everything: the commit, whether the tree was
dirty, the machine, the load before and after, the DPDK version),
latest.json (the same header and, per target, name, ours, peer, ratio,
unit, goal, met, msgs/s and ring packets/s), latest.md (the table) and
PNG plots. Progress goes to stderr, the table to stdout. Exit status 0
when every target was measured (met or not), 1 when some figure is
missing, 2 for a bad option, a missing binary or a baseline that does
not build.
"""
import argparse
import datetime
import os
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench_report as rep  # noqa: E402
import bench_targets as tg  # noqa: E402
from bench_procs import (  # noqa: E402
    CLIENT_CORE, CONN_PARALLEL, IDLE_SECS, SERVER_CORE, T0, BenchError,
    Ours, Preload, Sockperf, build_baseline, busy_processes, dpdk_version,
    kill_started, log, membw, testpmd_pair, tree_info)
from bench_targets import rx_figure  # noqa: E402

GROUPS = ("bridge", "preload")


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


def collect_bridge(o, P, add):
    """One repeat of the bridge group's measurements for one tree."""
    tag = f"  {o.label}:"
    o.start_bridge()
    try:
        for size in P["sizes"]:
            log(f"{tag} {size} B driver -> bridge sink")
            add(f"ours_fwd_{size}", o.client(size))
        for size in P["rev_sizes"]:
            log(f"{tag} {size} B bridge source -> driver -R")
            add(f"ours_rev_{size}", o.client(size, reverse=True))
        for d, rev in (("fwd", False), ("rev", True)):
            log(f"{tag} 64 KiB {d}, cold source, reading sink")
            add(f"ours_cold_{d}_65536", o.client(65536, reverse=rev,
                                                 cold=True))
            log(f"{tag} SEQPACKET 64 B {d} (packet rate)")
            add(f"ours_seq_{d}_64", o.client(64, reverse=rev,
                                             seqpacket=True))
        log(f"{tag} 64 B ping-pong")
        add("ours_pingpong", o.client(64, latency=True))
        log(f"{tag} connection rate over vhost-user")
        add("ours_conn_rate", o.conn_rate(CONN_PARALLEL))
    finally:
        o.stop_bridge()
    # A bridge sized for the idle connections, only for them: hugepages
    # are scarce.
    o.start_bridge(max_conns=max(P["idle"]) + 4096)
    try:
        for n in P["idle"]:
            log(f"{tag} 64 KiB stream beside {n} idle connections")
            add(f"ours_idle_{n}", o.client(65536, idle=n))
    finally:
        o.stop_bridge()
    log(f"{tag} connection rate, loopback, one core")
    add("ours_conn_rate_lo", o.conn_rate_loopback())


def collect_preload(pre, P, add):
    """One repeat of the socket layer's measurements: through vsockd
    (ping-pong both ways of waiting, streams, the idle probe), then the
    native API for the third column."""
    tag = f"  {pre.label}: preload:"
    pre.start()
    try:
        for busy, name in ((True, "busy"), (False, "sleep")):
            log(f"{tag} 64 B ping-pong, "
                f"{'busy-poll' if busy else 'sleeping'}")
            add(f"preload_pingpong_{name}", pre.client("pingpong", 64,
                                                       busy))
        for size in P["preload_sizes"]:
            log(f"{tag} {size} B stream -> vsockd sink")
            add(f"preload_fwd_{size}", pre.client("stream", size))
        for size in P["preload_busy_sizes"]:
            log(f"{tag} {size} B stream, busy-poll")
            add(f"preload_busy_fwd_{size}",
                pre.client("stream", size, busy=True))
        log(f"{tag} idle programs blocked in recv() and accept(), "
            f"{IDLE_SECS:g} s")
        add("preload_idle_cpu", pre.idle_cpu())
    finally:
        pre.stop()
    log(f"  {pre.label}: native: 64 B ping-pong, loopback, one core")
    add("native_pingpong", pre.native(64, latency=True))
    for size in sorted(set(P["preload_sizes"]) & {4096, 65536}):
        log(f"  {pre.label}: native: {size} B stream, loopback, one core")
        add(f"native_fwd_{size}", pre.native(size))


def collect_peers(sp, P, groups, add, build):
    """One repeat of the kernel peers (and of the memory ceiling)."""
    if "bridge" not in groups:
        # only the AF_UNIX peers of the socket layer's targets
        srv, addr = sp.server("unix")
        try:
            for size in sorted(set(P["preload_sizes"]) & {4096, 65536}):
                log(f"  unix: {size} B stream")
                add(f"unix_fwd_{size}", sp.client(addr, "stream", size))
            log("  unix: 64 B ping-pong")
            add("unix_pingpong", sp.client(addr, "pingpong", 64))
        finally:
            srv.stop(signal.SIGTERM)
        return
    log("  membw: one core's copy and read rates, cold memory")
    add("membw", membw(build, P["secs"]))
    for fam, sizes, rsizes in (("unix", P["sizes"], P["rev_sizes"]),
                               ("tcp", P["tcp_sizes"], P["tcp_rev_sizes"])):
        srv, addr = sp.server(fam)
        try:
            for size in sizes:
                log(f"  {fam}: {size} B stream")
                add(f"{fam}_fwd_{size}", sp.client(addr, "stream", size))
            for size in rsizes:
                log(f"  {fam}: {size} B reverse")
                add(f"{fam}_rev_{size}", sp.client(addr, "reverse", size))
            log(f"  {fam}: 64 B ping-pong")
            add(f"{fam}_pingpong", sp.client(addr, "pingpong", 64))
            if fam == "unix":
                log("  unix: 64 B ping-pong, both ends busy-polling")
                add("unix_pingpong_busy",
                    sp.client(addr, "pingpong", 64, busy=True))
                for d, mode in (("fwd", "stream"), ("rev", "reverse")):
                    log(f"  unix: 64 KiB {mode}, cold source, reading sink")
                    add(f"unix_cold_{d}_65536",
                        sp.client(addr, mode, 65536, cold=True))
                log(f"  unix: connection rate, {CONN_PARALLEL} clients, "
                    "one server")
                add("unix_connrate", sp.connrate(addr, CONN_PARALLEL))
        finally:
            srv.stop(signal.SIGTERM)
        log(f"  {fam}: connection rate, one process on one core")
        add(f"{fam}_conn_rate", sp.conn_rate_one(fam))


def collect(args, base_build=None):
    P = plan(args.quick)
    if args.repeats:
        P["repeats"] = args.repeats
    if args.seconds:
        P["secs"] = args.seconds
    sp_bin = os.path.join(args.build, "perf", "peers", "sockperf")
    if not os.access(sp_bin, os.X_OK):
        raise BenchError(f"{sp_bin} is missing: build it first (make build)")
    groups = set(args.only) if args.only else set(GROUPS)
    P["groups"] = sorted(groups)
    tmp = tempfile.mkdtemp(prefix="vsock-bench.")
    sp = Sockperf(sp_bin, tmp, P["secs"])
    builds = [(args.build, "ours", "")]
    if base_build is not None:
        builds.append((base_build, "baseline", tg.BASE))
    trees, pres = [], []
    # raw[key] = list of per-repeat results (dicts or None)
    raw = {"plan": P}
    try:
        for build, label, prefix in builds:
            if args.peers_only:
                break
            if "bridge" in groups:
                o = Ours(build, tmp, P["secs"], label)
                o.check()
                trees.append((o, prefix))
            if "preload" in groups:
                pre = Preload(build, sp_bin, tmp, P["secs"], label)
                why = pre.check()
                if why is not None and args.only and label == "ours":
                    raise BenchError(why)
                if why is not None:
                    log(f"the socket layer's targets are not measured "
                        f"for {label}: {why}")
                    raw[prefix + "preload_missing"] = why
                else:
                    pres.append((pre, prefix))
    except BenchError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    def adder(prefix):
        def add(key, val):
            raw.setdefault(prefix + key, []).append(val)
        return add

    try:
        for r in range(P["repeats"]):
            log(f"repeat {r + 1}/{P['repeats']}")
            # interleaved: who goes first swaps every repeat
            order = slice(None) if r % 2 == 0 else slice(None, None, -1)
            for o, prefix in trees[order]:
                collect_bridge(o, P, adder(prefix))
            for pre, prefix in pres[order]:
                collect_preload(pre, P, adder(prefix))
            collect_peers(sp, P, groups, adder(""), args.build)
            if r < P["testpmd_launches"] and "bridge" in groups:
                for d, key in (("tx", "testpmd_mpps"),
                               ("rx", "testpmd_rx_mpps")):
                    log(f"  testpmd pair ({d}): {P['testpmd_samples']} "
                        "samples of 2 s")
                    try:
                        for v in testpmd_pair(tmp, P["testpmd_samples"],
                                              direction=d):
                            raw.setdefault(key, []).append(v)
                    except BenchError as e:
                        log(f"  testpmd pair ({d}) failed: {e}")
    finally:
        kill_started()
        shutil.rmtree(tmp, ignore_errors=True)
    return raw, P


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
        "AF_UNIX busy-polling": pct_medians("unix_pingpong_busy", False),
        "AF_UNIX blocking": pct_medians("unix_pingpong", False),
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
        "dpdk-vsock\nvhost-user": conn("ours_conn_rate", True),
        "AF_UNIX\n2 processes": conn("unix_connrate", False),
        "dpdk-vsock\nloopback": conn("ours_conn_rate_lo", True),
        "TCP\n1 process": conn("tcp_conn_rate", False),
        "AF_UNIX\n1 process": conn("unix_conn_rate", False)},
        scaling, f"Connections ({date})")
    made.append(path)
    return made


def missing_figures(targets, peers_only):
    return [t["name"] for t in targets
            if t["ours"] is None and not peers_only
            or t["peer"] is None and t["goal"] != "stated"
            and not t["name"].startswith(("idle_", "preload_idle"))]


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Run dpdk-vsock's performance targets against their "
        "peers (testpmd pair, AF_UNIX, TCP loopback) in one run, pinned "
        f"(clients on core {CLIENT_CORE}, servers on core {SERVER_CORE}); "
        "write perf/results/.",
        epilog="Ratio convention: " + rep.RATIO_NOTE + ".")
    ap.add_argument("--quick", action="store_true",
                    help="fewer repeats and sizes, 1-second runs (under 5 "
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
    ap.add_argument("--baseline", metavar="REV",
                    help="also build REV (a commit, tag or HEAD~N) in a "
                    "git worktree and run every one of our measurements "
                    "for both trees, interleaved; print ours/baseline per "
                    "target and write <date>-compare.json (latest.* are "
                    "left alone)")
    ap.add_argument("--readme", action="store_true",
                    help="measure nothing: copy perf/results/latest.md into "
                    "README.md between its markers (the pytest checks the "
                    "two agree)")
    args = ap.parse_args(argv)
    if args.readme:
        readme = os.path.join(ROOT, "README.md")
        if not rep.sync_readme(readme, os.path.join(args.out, "latest.md")):
            print("bench: README.md has no latest.md markers",
                  file=sys.stderr)
            return 2
        log("README.md: the figures are latest.md's")
        return 0
    if args.repeats < 0 or args.seconds < 0:
        ap.error("--repeats and --seconds must be positive")
    if args.baseline is not None and args.peers_only:
        ap.error("--baseline compares our trees: not with --peers-only")
    if (os.cpu_count() or 1) < 2:
        ap.error("needs two cores (clients on core 1, servers on core 0)")

    def on_signal(signum, frame):
        kill_started()
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)

    mach = rep.machine()
    mach.update(tree_info())
    mach["dpdk"] = dpdk_version()
    mach["busy_processes"] = busy_processes()
    for b in mach["busy_processes"]:
        log(f"busy at the start: pid {b['pid']} at {b['cpu_pct']} % "
            f"({b['cmd']}): figures will move")
    date = datetime.date.today().isoformat()
    mode = "quick" if args.quick else "full"
    try:
        base_build = None
        if args.baseline is not None:
            base_build, mach["baseline"] = build_baseline(args.baseline)
        mach["load_before"] = list(os.getloadavg())
        log(f"{mode} run of {(mach['commit'] or '?')[:12]}"
            f"{' (dirty)' if mach['dirty'] else ''} on {mach['cpu']}, "
            f"{mach['cores']} cores, Linux {mach['kernel']}, DPDK "
            f"{mach['dpdk']}, load {mach['load_before'][0]:.2f}")
        raw, P = collect(args, base_build)
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kill_started()
        return 130
    mach["load_after"] = list(os.getloadavg())
    targets = tg.analyse(raw, P)
    wall = time.monotonic() - T0
    out = os.path.relpath(args.out, ROOT)
    if base_build is not None:
        base = tg.analyse(raw, P, tg.BASE)
        rows = tg.compare_rows(targets, base)
        table = tg.compare_table(rows, mach["commit"][:12] +
                                 ("-dirty" if mach["dirty"] else ""),
                                 mach["baseline"][:12])
        rep.write_compare(args.out, date, targets, base, rows, raw, mach,
                          mode, wall)
        log(f"wrote {out}/{date}-compare.json in {wall:.0f} s")
        print(table)
        worse = [r["name"] for r in rows if r["ok"] is False]
        if worse:
            print(f"bench: more than 5 % worse than the baseline: "
                  f"{', '.join(worse)}", file=sys.stderr)
        missing = [r["name"] for r in rows if r["ratio"] is None]
        if missing:
            print(f"bench: no ours/baseline for {', '.join(missing)}",
                  file=sys.stderr)
        return 1 if missing_figures(targets, False) else 0
    # --only: the dated file of that part alone, latest.* left as they are.
    part = "-".join(sorted(set(args.only))) \
        if args.only and set(args.only) != set(GROUPS) else None
    table = rep.write_results(args.out, date, targets, raw, mach, mode, wall,
                              part, extra=tg.preload_table(targets))
    if part:
        log(f"wrote {out}/{date}-{part}.json in {wall:.0f} s (latest.* "
            "are the last whole run's)")
    else:
        try:
            for p in plots(raw, P, args.out, date):
                log(f"wrote {os.path.relpath(p, ROOT)}")
        except Exception as e:  # a plot must not lose the figures
            log(f"plotting failed: {e!r}")
        log(f"wrote {out}/{date}.json, latest.json, latest.md in "
            f"{wall:.0f} s")
    print(table)
    missing = missing_figures(targets, args.peers_only)
    if missing:
        print(f"bench: no figure for {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
