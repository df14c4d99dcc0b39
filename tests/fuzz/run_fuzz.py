#!/usr/bin/env python3
"""Run the libFuzzer targets of tests/fuzz (make fuzz / make test-fuzz).

For each target: replay tests/fuzz/regressions/<target>/ (inputs that
once found a bug), then fuzz for --seconds from a fresh copy of the
checked-in seeds (tests/fuzz/corpus/<target>/, never modified), at most
--jobs targets at a time (or until --runs inputs each, for a campaign;
the grown corpus stays in <build>/fuzz-work/<target>/corpus). Prints
execs and coverage (libFuzzer's final cov:/ft:) per target, and execs
per CPU second (the machine may be shared); exits 1 when any target
found something (crash, sanitizer report, leak, timeout), naming the
input it saved. A target's own flags, if it has any, are in
fuzz_<target>.options, in the format OSS-Fuzz reads: name = value lines
in a [libfuzzer] section (libFuzzer's flags) and an [asan] one (added to
ASAN_OPTIONS, after what the environment says).
"""
import argparse
import configparser
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = ["rx_device", "stack_input", "vhost_user_reply", "dev_spec",
           "vsockd_app"]
# Per input: a timeout is a finding; memory well above what a run needs.
OPTS = ["-timeout=10", "-rss_limit_mb=2048", "-max_len=4096",
        "-print_final_stats=1"]


def files_in(d):
    if not os.path.isdir(d):
        return []
    return sorted(os.path.join(d, f) for f in os.listdir(d)
                  if not f.startswith("."))


def target_opts(target):
    """The target's own libFuzzer flags and ASan options from
    fuzz_<target>.options: (["-name=value", ...], ["name=value", ...])."""
    cp = configparser.ConfigParser()
    cp.read(os.path.join(HERE, "fuzz_%s.options" % target))

    def section(name, fmt):
        if not cp.has_section(name):
            return []
        return [fmt % kv for kv in cp.items(name)]
    return section("libfuzzer", "-%s=%s"), section("asan", "%s=%s")


def parse(log):
    """Execs, exec/s, cov, ft and corpus size from libFuzzer's output."""
    r = {}
    m = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    if m:
        r["execs"] = int(m[-1])
    m = re.findall(r"stat::average_exec_per_sec:\s*(\d+)", log)
    if m:
        r["exec_s"] = int(m[-1])
    m = re.findall(r"cov: (\d+) ft: (\d+) corp: (\d+)", log)
    if m:
        r["cov"], r["ft"], r["corp"] = (int(x) for x in m[-1])
    return r


class Run:
    def __init__(self, exe, target, work, seconds, runs, opts, asan):
        self.target = target
        self.work = work
        self.corpus = os.path.join(work, "corpus")
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(os.path.join(HERE, "corpus", target), self.corpus)
        self.log_path = os.path.join(work, "fuzz.log")
        self.log = open(self.log_path, "w")
        self.deadline = time.time() + seconds + 120
        self.cpu = 0.0
        limit = ["-runs=%d" % runs] if runs else []
        self.proc = subprocess.Popen(
            [exe, "-max_total_time=%d" % seconds] + limit +
            ["-artifact_prefix=" + work + "/"] + OPTS + opts +
            [self.corpus],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=work,
            env=dict(os.environ, ASAN_OPTIONS=":".join(
                [os.environ.get("ASAN_OPTIONS", "")] + asan).lstrip(":")))

    def poll(self):
        """The exit code once the target is done, else None; its CPU
        seconds (user + system) in self.cpu."""
        if self.proc.returncode is not None:
            return self.proc.returncode
        if time.time() > self.deadline:
            self.proc.kill()	# our own child, by its pid
        pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG)
        if pid == 0:
            return None
        self.cpu = ru.ru_utime + ru.ru_stime
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        return self.proc.returncode


def replay(exe, target, work):
    """Run the regression inputs once each; returns an error or None."""
    regs = files_in(os.path.join(HERE, "regressions", target))
    if not regs:
        return None, 0
    os.makedirs(work, exist_ok=True)
    p = subprocess.run([exe, "-timeout=10"] + regs, cwd=work,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, errors="replace", timeout=300)
    if p.returncode != 0:
        return p.stdout[-3000:], len(regs)
    return None, len(regs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--runs", type=int, default=0,
                    help="stop each target after this many inputs "
                    "(--seconds still bounds it)")
    ap.add_argument("targets", nargs="*", default=TARGETS)
    a = ap.parse_args()

    exes = {t: os.path.join(os.path.abspath(a.build), "tests", "fuzz",
                            "fuzz_" + t) for t in a.targets}
    workroot = os.path.join(os.path.abspath(a.build), "fuzz-work")
    failed = []
    nreg = {}
    for t in a.targets:
        err, nreg[t] = replay(exes[t], t, os.path.join(workroot, t))
        if err is not None:
            print("fuzz %s: a regression input fails again:\n%s" % (t, err))
            failed.append(t)

    pending = list(a.targets)
    running, done = [], {}
    while pending or running:
        while pending and len(running) < a.jobs:
            t = pending.pop(0)
            opts, asan = target_opts(t)
            print("fuzz %s: %d s%s%s%s" % (
                t, a.seconds, ", %d runs" % a.runs if a.runs else "",
                "".join(" " + o for o in opts),
                " ASAN_OPTIONS+=" + ":".join(asan) if asan else ""),
                flush=True)
            running.append(Run(exes[t], t, os.path.join(workroot, t),
                               a.seconds, a.runs, opts, asan))
        time.sleep(0.5)
        for r in list(running):
            if r.poll() is None:
                continue
            running.remove(r)
            r.log.close()
            with open(r.log_path, errors="replace") as f:
                log = f.read()
            done[r.target] = (r.proc.returncode, parse(log))
            # On a shared machine the wall-clock rate says as much about
            # the neighbours: the rate per CPU second is the target's.
            if done[r.target][1].get("execs") and r.cpu > 0:
                done[r.target][1]["exec_cpu"] = int(
                    done[r.target][1]["execs"] / r.cpu)
            if r.proc.returncode != 0:
                failed.append(r.target)
                found = [f for f in os.listdir(r.work)
                         if re.match(r"(crash|leak|timeout|oom)-", f)]
                print("fuzz %s: FINDING (exit %d), input saved: %s\n%s" % (
                    r.target, r.proc.returncode,
                    ", ".join(os.path.join(r.work, f) for f in found) or
                    "none", log[-4000:]), flush=True)

    print("\n%-18s %10s %8s %10s %6s %7s %6s %5s  %s" % (
        "target", "execs", "exec/s", "exec/cpu-s", "cov", "ft", "corpus",
        "regr", "result"))
    for t in a.targets:
        rc, s = done.get(t, (None, {}))
        print("%-18s %10s %8s %10s %6s %7s %6s %5d  %s" % (
            t, s.get("execs", "-"), s.get("exec_s", "-"),
            s.get("exec_cpu", "-"), s.get("cov", "-"), s.get("ft", "-"),
            s.get("corp", "-"), nreg.get(t, 0),
            "FINDING" if t in failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
