"""Reporting half of the benchmark suite: statistics over repeats, the
target list (latest.json), the Markdown table, the dated raw JSON and the
plots. No processes are started here, so tests can drive it with made-up
figures.

Ratio convention: ratio > 1 always means "we are better". For figures
where more is better (rates, throughput) ratio = ours / peer; for
latencies, where less is better, ratio = peer / ours.
"""
import json
import os
import platform
import statistics
import subprocess

RATIO_NOTE = ("ratio > 1 means dpdk-vsock is better: ours / peer for rates "
              "and throughput, peer / ours for latencies")


def summarize(values):
    """Median and spread of a list of numbers (None entries are failed
    repeats and are left out); None when nothing succeeded."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    out = {"median": statistics.median(vals), "min": vals[0],
           "max": vals[-1], "n": len(vals), "values": vals}
    if len(vals) >= 4:
        q = statistics.quantiles(vals, n=4)
        out["iqr"] = [q[0], q[2]]
    return out


def median_of(summary):
    return None if summary is None else summary["median"]


def ratio(ours, peer, lower_is_better=False):
    if ours is None or peer is None or ours <= 0 or peer <= 0:
        return None
    return peer / ours if lower_is_better else ours / peer


class Goal:
    """A target's goal: on our absolute figure ("abs") or on the ratio
    ("ratio"), with the comparison the direction implies."""

    def __init__(self, kind, value=None, lower_is_better=False, unit=""):
        self.kind = kind
        self.value = value
        self.lower_is_better = lower_is_better
        self.unit = unit

    def met(self, ours, rat):
        if self.kind == "stated":
            return ours is not None
        x = ours if self.kind == "abs" else rat
        if x is None:
            return False
        if self.kind == "abs" and self.lower_is_better:
            return x <= self.value
        return x >= self.value

    def text(self):
        if self.kind == "stated":
            return "stated"
        if self.kind == "ratio":
            return f"ratio >= {self.value:g}"
        op = "<=" if self.lower_is_better else ">="
        return f"{op} {self.value:g} {self.unit}".strip()


def make_target(name, ours, peer, unit, goal, peer_name="",
                lower_is_better=False, note=""):
    """One entry of latest.json; ours and peer are summaries (or None)."""
    o, p = median_of(ours), median_of(peer)
    r = ratio(o, p, lower_is_better)
    return {
        "name": name,
        "ours": _round(o),
        "peer": _round(p),
        "ratio": _round(r),
        "unit": unit,
        "goal": goal.text(),
        "met": bool(goal.met(o, r)),
        # Not part of the latest.json contract: kept in the dated file.
        "_peer_name": peer_name,
        "_ours_spread": _spread(ours),
        "_peer_spread": _spread(peer),
        "_note": note,
    }


def _round(x):
    if x is None:
        return None
    if x == 0:
        return 0.0
    mag = abs(x)
    digits = 4 if mag < 1 else 3 if mag < 100 else 1
    return round(x, digits)


def _spread(s):
    if s is None:
        return None
    return {"min": _round(s["min"]), "max": _round(s["max"]), "n": s["n"]}


TARGET_KEYS = ("name", "ours", "peer", "ratio", "unit", "goal", "met",
               "msgs_per_second", "ring_pkts_per_second")


def public_targets(targets):
    """latest.json's targets: name, ours, peer, ratio, unit, goal, met,
    and our application messages/s and the ring's packets/s each way
    (millions; None where the row has none)."""
    out = []
    for t in targets:
        ring = t.get("_ring") or {}
        e = {k: t[k] for k in TARGET_KEYS[:7]}
        e["msgs_per_second"] = _m(t.get("_msgs"))
        e["ring_pkts_per_second"] = {
            "tx": _m(ring.get("tx")), "rx": _m(ring.get("rx"))}
        out.append(e)
    return out


def _m(millions):
    return None if millions is None else _round(millions * 1e6)


def header(mach, date, mode):
    """What latest.json says of the run before its targets."""
    return {"date": date, "mode": mode, "commit": mach.get("commit"),
            "dirty": mach.get("dirty"), "dpdk": mach.get("dpdk"),
            "load_before": mach.get("load_before"),
            "load_after": mach.get("load_after")}


def machine():
    """lscpu model name, CPU count, kernel, load at the time of the run."""
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True,
                             timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"cpu": model or platform.processor(), "cores": os.cpu_count(),
            "kernel": platform.release(), "loadavg": load,
            "host": platform.node()}


def _fmt(x):
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:#.3g}"


def _cell(value, spread):
    s = _fmt(value)
    if spread is not None and value is not None and spread["n"] > 1:
        s += f" ({_fmt(spread['min'])}–{_fmt(spread['max'])})"
    return s


def _load(mach, key):
    v = mach.get(key)
    return "?" if not v else f"{v[0]:.2f}"


def _rate_cell(millions):
    return "–" if millions is None else f"{_fmt(millions)} M"


def markdown(targets, mach, date, mode, wall_s=None):
    commit = mach.get("commit")
    lines = [
        f"Benchmark run {date} ({mode}) of commit "
        f"{commit[:12] if commit else '?'}"
        + (" with uncommitted changes" if mach.get("dirty") else "")
        + f" on {mach['cpu']}, {mach['cores']} cores, Linux "
        f"{mach['kernel']}, DPDK {mach.get('dpdk') or '?'}; load average "
        f"{_load(mach, 'load_before')} before, {_load(mach, 'load_after')} "
        "after" + (f"; the run took {wall_s:.0f} s." if wall_s else "."),
        "",
        "Medians over the repeats, (min–max) beside them. " + RATIO_NOTE
        + ". Only same-run ratios compare: a busy machine moves every "
        "figure. msg/s is what the application sent or received; ring "
        "pkt/s is what the driver moved on its rings (its counters, tx / "
        "rx), so a write rate is never read as a packet rate.",
        "",
        "| target | ours | peer | ratio | unit | goal | met | msg/s "
        "| ring pkt/s (tx / rx) |",
        "| --- | ---: | ---: | ---: | --- | --- | --- | ---: | ---: |",
    ]
    for t in targets:
        peer = _cell(t["peer"], t.get("_peer_spread"))
        if t.get("_peer_name"):
            peer += f" {t['_peer_name']}"
        ratio_s = "–" if t["ratio"] is None else f"{t['ratio']:.2f}×"
        ring = t.get("_ring") or {}
        ring_s = "–" if not any(ring.values()) else \
            f"{_rate_cell(ring.get('tx'))} / {_rate_cell(ring.get('rx'))}"
        lines.append(
            f"| {t['name']} | {_cell(t['ours'], t.get('_ours_spread'))} "
            f"| {peer} | {ratio_s} | {t['unit']} | {t['goal']} "
            f"| {_fmt(t['met'])} | {_rate_cell(t.get('_msgs'))} "
            f"| {ring_s} |")
    notes = [t for t in targets if t.get("_note")]
    if notes:
        lines.append("")
        for t in notes:
            lines.append(f"- {t['name']}: {t['_note']}")
    return "\n".join(lines) + "\n"


def write_results(outdir, date, targets, raw, mach, mode, wall_s=None,
                  part=None, extra=""):
    """Writes <date>.json, latest.json, latest.md (the table, then
    @extra); returns what latest.md holds. A run of only some targets
    (@part names them) writes <date>-<part>.json alone: latest.* stay
    the last whole run's."""
    os.makedirs(outdir, exist_ok=True)
    full = {"date": date, "mode": mode, "machine": mach,
            "ratio_convention": RATIO_NOTE, "wall_seconds": wall_s,
            "targets": targets, "raw": raw}
    name = f"{date}-{part}.json" if part else f"{date}.json"
    with open(os.path.join(outdir, name), "w") as f:
        json.dump(full, f, indent=1, sort_keys=False)
        f.write("\n")
    table = markdown(targets, mach, date, mode, wall_s) + extra
    if part:
        return table
    with open(os.path.join(outdir, "latest.json"), "w") as f:
        json.dump(dict(header(mach, date, mode),
                       targets=public_targets(targets)), f, indent=1)
        f.write("\n")
    with open(os.path.join(outdir, "latest.md"), "w") as f:
        f.write(table)
    return table


README_BEGIN = ("<!-- perf/results/latest.md begins: copied by perf/bench.py "
                "--readme, checked by tests/pytest/test_doc.py -->")
README_END = "<!-- perf/results/latest.md ends -->"


def readme_block(readme_text):
    """What README holds between the markers (None without them)."""
    a = readme_text.find(README_BEGIN)
    b = readme_text.find(README_END)
    if a < 0 or b < a:
        return None
    return readme_text[a + len(README_BEGIN):b].strip("\n") + "\n"


def sync_readme(readme_path, latest_md_path):
    """Copy latest.md between README's markers; False without them."""
    with open(readme_path) as f:
        text = f.read()
    with open(latest_md_path) as f:
        md = f.read()
    a = text.find(README_BEGIN)
    b = text.find(README_END)
    if a < 0 or b < a:
        return False
    text = text[:a + len(README_BEGIN)] + "\n\n" + md.strip("\n") + \
        "\n\n" + text[b:]
    with open(readme_path, "w") as f:
        f.write(text)
    return True


def write_compare(outdir, date, targets, base, rows, raw, mach, mode,
                  wall_s):
    """A --baseline run: <date>-compare.json (both trees' targets, the
    comparison, the raw results); latest.* are left alone."""
    os.makedirs(outdir, exist_ok=True)
    full = {"date": date, "mode": mode, "machine": mach,
            "ratio_convention": RATIO_NOTE, "wall_seconds": wall_s,
            "targets": targets, "baseline_targets": base,
            "compare": rows, "raw": raw}
    with open(os.path.join(outdir, f"{date}-compare.json"), "w") as f:
        json.dump(full, f, indent=1)
        f.write("\n")


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_throughput(path, series, title):
    """series: {label: {size: summary}}; Gbit/s by message size."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, by_size in series.items():
        pts = sorted((s, v) for s, v in by_size.items() if v is not None)
        if not pts:
            continue
        xs = [s for s, _ in pts]
        ys = [v["median"] for _, v in pts]
        lo = [v["median"] - v["min"] for _, v in pts]
        hi = [v["max"] - v["median"] for _, v in pts]
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3,
                    label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("message size (bytes)")
    ax.set_ylabel("Gbit/s (median, min–max)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_latency(path, series, title):
    """series: {label: {"min_us":.., "p50_us":.., ...}} (medians over
    repeats); percentiles of the 64 B round trip, log scale."""
    plt = _plt()
    keys = [("min_us", "min"), ("p50_us", "p50"), ("p90_us", "p90"),
            ("p99_us", "p99"), ("p999_us", "p99.9")]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    labels = [l for l, v in series.items() if v]
    width = 0.8 / max(1, len(labels))
    for i, label in enumerate(labels):
        pcts = series[label]
        xs, ys = [], []
        for j, (k, _) in enumerate(keys):
            if pcts.get(k) is not None:
                xs.append(j + (i - (len(labels) - 1) / 2) * width)
                ys.append(pcts[k])
        ax.bar(xs, ys, width=width, label=label)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([n for _, n in keys])
    ax.set_yscale("log")
    ax.set_ylabel("round trip (µs)")
    ax.set_title(title)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_connections(path, rates, scaling, title):
    """rates: {label: summary} connections/s; scaling: {idle_conns:
    summary} Gbit/s of one stream beside that many idle connections."""
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.2))
    labels = [l for l, v in rates.items() if v is not None]
    a1.bar(labels, [rates[l]["median"] / 1e3 for l in labels],
           yerr=[[(rates[l]["median"] - rates[l]["min"]) / 1e3
                  for l in labels],
                 [(rates[l]["max"] - rates[l]["median"]) / 1e3
                  for l in labels]], capsize=4)
    a1.axhline(500, color="red", linestyle="--", label="goal 500 k/s")
    a1.set_ylabel("connections set up and torn down (k/s)")
    a1.set_title("connection rate, one core")
    a1.legend()
    pts = sorted((n, v) for n, v in scaling.items() if v is not None)
    if pts:
        xs = [max(n, 1) for n, _ in pts]
        ys = [v["median"] for _, v in pts]
        a2.errorbar(xs, ys, yerr=[[v["median"] - v["min"] for _, v in pts],
                                  [v["max"] - v["median"] for _, v in pts]],
                    marker="o", capsize=3)
        a2.set_xscale("log")
        a2.set_ylim(bottom=0)
        a2.axhline(0.9 * ys[0], color="red", linestyle="--",
                   label="90 % of no idle connections")
        a2.legend()
    a2.set_xlabel("idle connections beside the stream (0 shown at 1)")
    a2.set_ylabel("Gbit/s, one 64 KiB stream")
    a2.set_title("throughput with idle connections")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
