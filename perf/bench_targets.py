"""The targets of the benchmark suite: from the raw results of one run
(raw[key] = a list with one entry per repeat) to the rows of latest.json
and latest.md, each with its goal from the performance issue. With
--baseline the same rows are made a second time from the baseline's keys
(prefix "base:") and set side by side (compare_rows)."""
import bench_report as rep
from bench_procs import CONN_PARALLEL, IDLE_SECS, ring_pps, rx_figure

S = rep.summarize
Goal = rep.Goal
BASE = "base:"


class AllOf(Goal):
    """Every one of several goals (e.g. an absolute figure and a ratio)."""

    def __init__(self, *goals):
        super().__init__("all")
        self.goals = goals

    def met(self, ours, rat):
        return all(g.met(ours, rat) for g in self.goals)

    def text(self):
        return " and ".join(g.text() for g in self.goals)


class Below(Goal):
    """Strictly under an absolute figure."""

    def __init__(self, value, unit):
        super().__init__("abs", value, lower_is_better=True, unit=unit)

    def met(self, ours, rat):
        return ours is not None and ours < self.value

    def text(self):
        return f"< {self.value:g} {self.unit}"


def _fmt_med(summary, unit):
    m = rep.median_of(summary)
    return "–" if m is None else f"{m:.3g} {unit}"


class View:
    """raw seen through a key prefix: "" for the tree measured, BASE for
    the baseline's runs of the same measurements (peers are shared)."""

    def __init__(self, raw, prefix=""):
        self.raw = raw
        self.prefix = prefix

    def ours(self, key):
        return self.raw.get(self.prefix + key, [])

    def peer(self, key):
        return self.raw.get(key, [])


def _each(runs, fn):
    return [None if j is None else fn(j) for j in runs]


def _ring(runs):
    """Medians of the ring's tx and rx packets/s (M) over the runs."""
    out = {}
    for side in ("tx", "rx"):
        s = S(_each(runs, lambda j: (ring_pps(j, side) or 0) / 1e6
                    or None))
        out[side] = rep.median_of(s)
    return out


def _with_rates(t, runs, msgs_fn=None):
    """@t with the row's application messages/s and ring packets/s
    (medians, in millions) for latest.md and latest.json."""
    t["_ring"] = _ring(runs)
    if msgs_fn is not None:
        t["_msgs"] = rep.median_of(S(_each(runs, msgs_fn)))
    return t


def _msgs(j):
    v = rx_figure(j, "msgs_per_second")
    return v / 1e6 if v else None


def analyse_bridge(raw, P, prefix=""):
    v = View(raw, prefix)

    def ours_rate(key, field, scale):
        return S(_each(v.ours(key), lambda j: (rx_figure(j, field) or 0)
                       / scale or None))

    def peer(key, field, scale=1.0):
        return S(_each(v.peer(key), lambda j: j.get(field, 0) / scale
                       or None))

    def seq_pps(key, side):
        # One 64 B SEQPACKET message is one data packet: a build without
        # the ring counters is measured by its messages instead.
        def f(j):
            r = ring_pps(j, side)
            if r is None:
                r = rx_figure(j, "msgs_per_second")
            return r / 1e6 if r else None
        return S(_each(v.ours(key), f))

    T = []
    for key, name, tp, side in (
            ("ours_seq_fwd_64", "pkt_rate_64B", "testpmd_mpps", "tx"),
            ("ours_seq_rev_64", "pkt_rate_64B_rx", "testpmd_rx_mpps",
             "rx")):
        how = ("driver → bridge sink" if side == "tx" else
               "bridge source → driver")
        T.append(_with_rates(rep.make_target(
            name, seq_pps(key, side), S(v.peer(tp)), "Mpkt/s",
            Goal("ratio", 1.0),
            peer_name=f"(testpmd virtio_user {'→' if side == 'tx' else '←'}"
                      " vhost Mpps)",
            note=f"SEQPACKET 64 B, {how}, one message per packet: packets "
                 "on the ring per second from the driver's counters; the "
                 "peer is DPDK's virtio PMD pair at 64 B, one forwarding "
                 "lcore each, same cores"), v.ours(key), _msgs))
    T.append(_with_rates(rep.make_target(
        "stream_64B_writes", ours_rate("ours_fwd_64", "msgs_per_second",
                                       1e6),
        peer("unix_fwd_64", "msgs_per_second", 1e6), "M writes/s",
        Goal("stated"), peer_name="(AF_UNIX)",
        note="64-byte application writes on one STREAM connection, a "
             "write rate and not a packet rate: the stack coalesces them "
             "into large packets (the ring column shows how few)"),
        v.ours("ours_fwd_64"), _msgs))
    for size, name in ((65536, "64KiB"), (4096, "4KiB")):
        for d, label in (("fwd", "stream"), ("rev", "reverse")):
            key = f"ours_{d}_{size}"
            g = Goal("ratio", 4.0) if size == 4096 else Goal("stated")
            T.append(_with_rates(rep.make_target(
                f"{label}_{name}",
                ours_rate(key, "bits_per_second", 1e9),
                peer(f"unix_{d}_{size}", "bits_per_second", 1e9),
                "Gbit/s", g, peer_name="(AF_UNIX)",
                note="hot source (one pattern re-sent), sink that drops "
                     "unread" if size == 65536 else ""),
                v.ours(key), _msgs))
    for d, label in (("fwd", "stream"), ("rev", "reverse")):
        key = f"ours_cold_{d}_65536"
        T.append(_with_rates(rep.make_target(
            f"{label}_64KiB_cold", ours_rate(key, "bits_per_second", 1e9),
            peer(f"unix_cold_{d}_65536", "bits_per_second", 1e9), "Gbit/s",
            AllOf(Goal("abs", 100, unit="Gbit/s"), Goal("ratio", 3.0)),
            peer_name="(AF_UNIX, cold)",
            note="the source walks a buffer larger than the last-level "
                 "cache, the sink reads (sums) every byte; AF_UNIX does "
                 "the same"), v.ours(key), _msgs))
    T.append(rep.make_target(
        "cold_copy_ceiling", S(_each(v.peer("membw"), lambda j: (
            j.get("copy_bits_per_second") or 0) / 1e9 or None)), None,
        "Gbit/s", Goal("stated"),
        note="one core's memcpy from a buffer of 1.25 x the LLC into a "
             "hot 64 KiB one (perf/peers/membw on core 0; its read rate: "
             + _fmt_med(S(_each(v.peer("membw"), lambda j: (
                 j.get("read_bits_per_second") or 0) / 1e9 or None)),
                 "Gbit/s") + "): the most a device side that copies "
             "each byte once can reach on the cold rows"))
    pp = v.ours("ours_pingpong")
    for pct, goal in (
            ("p50_us", AllOf(Goal("abs", 1.0, lower_is_better=True,
                                  unit="µs"), Goal("ratio", 5.0))),
            ("p99_us", Goal("abs", 2.0, lower_is_better=True, unit="µs")),
            ("p999_us", Goal("abs", 5.0, lower_is_better=True,
                             unit="µs"))):
        blocking = rep.median_of(S(_each(v.peer("unix_pingpong"),
                                         lambda j: j.get(pct))))
        T.append(_with_rates(rep.make_target(
            f"pingpong_64B_{pct[:-3]}",
            S(_each(pp, lambda j: (j.get("end", {}).get("latency") or {})
                    .get(pct))),
            S(_each(v.peer("unix_pingpong_busy"), lambda j: j.get(pct))),
            "µs", goal, peer_name="(AF_UNIX, busy-polling)",
            lower_is_better=True,
            note="driver ↔ bridge echo, both polling; the peer spins on "
                 "non-blocking AF_UNIX sockets at both ends (AF_UNIX "
                 "blocking: " + ("–" if blocking is None else
                                 f"{blocking:.3g} µs") + ")"),
            pp, _msgs))
    conn = v.ours("ours_conn_rate")
    T.append(_with_rates(rep.make_target(
        "conn_rate", S(_each(conn, lambda j: (
            j.get("end", {}).get("connect") or {}).get("per_second"))),
        peer("unix_connrate", "per_second"), "conns/s",
        AllOf(Goal("abs", 1e6, unit="conns/s"), Goal("ratio", 3.0)),
        peer_name="(AF_UNIX, same pattern)",
        note=f"connect + close by vsock-perf over vhost-user, "
             f"{CONN_PARALLEL} connections in flight, accept + close by "
             "the bridge: two processes on two cores; AF_UNIX the same "
             f"pattern ({CONN_PARALLEL} sockperf --mode connrate clients "
             "on core 1, one server accepting and closing on core 0)"),
        conn))
    lo = v.ours("ours_conn_rate_lo")
    T.append(_with_rates(rep.make_target(
        "conn_rate_loopback", S(_each(lo, lambda j: (
            j.get("end", {}).get("connect") or {}).get("per_second"))),
        peer("tcp_conn_rate", "per_second"), "conns/s", Goal("stated"),
        peer_name="(TCP loopback, one process)",
        note="connect + accept + close, one process on one core: ours over "
             "the loopback device, the peer on TCP loopback with SO_LINGER "
             "0 (AF_UNIX one-process in the raw data)"), lo))
    big = max(P["idle"])
    idle = v.ours(f"ours_idle_{big}")
    runs = [j["end"] for j in idle if j]
    up = [(e.get("memory") or {}).get("idle_conns", 0) for e in runs]
    resets = [e.get("resets", 0) for e in runs]
    idle_note = (f"one 64 KiB stream beside {big} idle connections; the "
                 "peer is the same stream with none, same run")
    if runs:
        idle_note += (f"; idle connections up: {min(up)}..{max(up)}, "
                      f"connections reset during the runs: {max(resets)}")
    T.append(_with_rates(rep.make_target(
        f"idle_{big // 1000}k_throughput",
        ours_rate(f"ours_idle_{big}", "bits_per_second", 1e9),
        ours_rate("ours_fwd_65536", "bits_per_second", 1e9), "Gbit/s",
        Goal("ratio", 0.9), peer_name="(ours, no idle conns)",
        note=idle_note), idle, _msgs))
    T.append(rep.make_target(
        "idle_conn_memory", S(_each(idle, lambda j: (
            j.get("end", {}).get("memory") or {}).get(
                "per_idle_conn_bytes"))), None, "bytes/conn",
        Goal("stated"),
        note="memory per idle connection, as vsock-perf --idle reports it"))
    return T


LOCAL = ("to CID 1, so vsockd's packets take the stack's local path, "
         "no ring: its packet column counts those (/vsock/stats "
         "local_pkts)")


def analyse_preload(raw, P, prefix=""):
    """The socket layer's targets; each row's third column (the native
    API) goes into its note and into the extra table."""
    v = View(raw, prefix)

    def sp_field(key, field, scale=1.0):
        return S(_each(v.ours(key), lambda j: j.get(field, 0) / scale
                       or None))

    def peer_field(key, field, scale=1.0):
        return S(_each(v.peer(key), lambda j: j.get(field, 0) / scale
                       or None))

    def sp_msgs(j):
        # a ping-pong's messages: its round trips
        rate = j.get("msgs_per_second") or (
            j.get("samples", 0) / j["seconds"] if j.get("seconds") else 0)
        return rate / 1e6 or None

    fmt = _fmt_med

    T = []
    busy_note = ("VSOCK_BUSY_POLL=1 (the client spins) against AF_UNIX's "
                 "blocking ping-pong: not a like-for-like comparison")
    sleep_note = ("the preload's default (it sleeps in blocking calls) "
                  "against AF_UNIX's blocking ping-pong: like-for-like")
    for tag, lim, note in (("busy", 3.0, busy_note),
                           ("sleep", 15.0, sleep_note)):
        runs = v.ours(f"preload_pingpong_{tag}")
        for pct in ("p50_us", "p99_us"):
            if pct == "p50_us":
                g = Goal("abs", lim, lower_is_better=True, unit="µs")
                if tag == "sleep":
                    g = AllOf(g, Goal("ratio", 1.0))
            else:
                g = Goal("stated")
            nat = S(_each(v.ours("native_pingpong"), lambda j: (
                j.get("end", {}).get("latency") or {}).get(pct)))
            T.append(_with_rates(dict(rep.make_target(
                f"preload_pingpong_64B_{pct[:-3]}_{tag}",
                sp_field(f"preload_pingpong_{tag}", pct),
                peer_field("unix_pingpong", pct), "µs", g,
                peer_name="(AF_UNIX, blocking)", lower_is_better=True,
                note=f"{note}; native API: {fmt(nat, 'µs')}; {LOCAL}"),
                _native=rep.median_of(nat)), runs, sp_msgs))
    for size, name in ((65536, "64KiB"), (4096, "4KiB")):
        g = Goal("ratio", 1.5)
        if size == 65536:
            g = AllOf(Goal("abs", 60, unit="Gbit/s"), g)
        nat = S(_each(v.ours(f"native_fwd_{size}"), lambda j: (
            rx_figure(j, "bits_per_second") or 0) / 1e9 or None))
        busy = sp_field(f"preload_busy_fwd_{size}", "bits_per_second", 1e9)
        note = (f"sockperf --vsock stream (sleeping mode) into vsockd's "
                f"sink, byte count checked; native API: {fmt(nat, 'Gbit/s')}"
                f"; {LOCAL}")
        if busy is not None:
            note += f"; busy-poll: {fmt(busy, 'Gbit/s')}"
        T.append(_with_rates(dict(rep.make_target(
            f"preload_stream_{name}",
            sp_field(f"preload_fwd_{size}", "bits_per_second", 1e9),
            peer_field(f"unix_fwd_{size}", "bits_per_second", 1e9),
            "Gbit/s", g, peer_name="(AF_UNIX)", note=note),
            _native=rep.median_of(nat)), v.ours(f"preload_fwd_{size}"),
            sp_msgs))
    idle = v.ours("preload_idle_cpu")

    def worst(d):
        if d is None or any(x is None for x in d.values()):
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


def analyse(raw, P, prefix=""):
    T = []
    if "bridge" in P["groups"]:
        T += analyse_bridge(raw, P, prefix)
    if "preload" in P["groups"]:
        T += analyse_preload(raw, P, prefix)
    return T


LOWER_IS_BETTER_UNITS = ("µs", "% CPU", "bytes/conn")
WORSE_LIMIT = 0.95     # ours/baseline under this: more than 5 % worse


def compare_rows(ours, base):
    """One row per target: ours, the baseline's, and ours/baseline with
    > 1 meaning ours is better (baseline/ours for latencies, CPU and
    memory), and whether ours is within 5 % of the baseline."""
    by_name = {t["name"]: t for t in base}
    rows = []
    for t in ours:
        b = by_name.get(t["name"], {}).get("ours")
        lower = t["unit"] in LOWER_IS_BETTER_UNITS
        r = rep.ratio(t["ours"], b, lower)
        if r is None and t["ours"] == 0 and b == 0:
            r = 1.0          # e.g. 0 % CPU in both
        rows.append({"name": t["name"], "ours": t["ours"], "baseline": b,
                     "unit": t["unit"], "ratio": rep._round(r),
                     "ok": None if r is None else r >= WORSE_LIMIT})
    return rows


def compare_table(rows, ours_commit, base_commit):
    f = rep._fmt
    lines = [f"Ours ({ours_commit}) against the baseline ({base_commit}), "
             "measured interleaved in the same run. ours/baseline > 1 "
             "means ours is better (baseline/ours for latencies, CPU and "
             "memory); 'ok' is no more than 5 % worse.", "",
             "| target | ours | baseline | ours/baseline | unit | ok |",
             "| --- | ---: | ---: | ---: | --- | --- |"]
    for r in rows:
        rs = "–" if r["ratio"] is None else f"{r['ratio']:.3f}"
        lines.append(f"| {r['name']} | {f(r['ours'])} | {f(r['baseline'])}"
                     f" | {rs} | {r['unit']} | {f(r['ok'])} |")
    return "\n".join(lines) + "\n"
