"""The default build is portable: built with the default
cpu_instruction_set (generic: the -march Debian's DPDK was built for,
corei7 on x86_64), the unit suite's binaries (cmocka, no EAL) hold no
VEX or EVEX instruction and pass under qemu-x86_64 -cpu Nehalem (SSE4.2,
no AVX). The same binaries built with -Dcpu_instruction_set=native hold
such instructions and fail there when this CPU has AVX, or the first
checks could not fail."""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT

# Only what the unit suite needs: no apps, no C++ microbenchmarks.
OPTIONS = ["-Dtests=true", "-Dapps=false", "-Dperf=false"]
QEMU = "qemu-x86_64"
JOBS = os.environ.get("VSOCK_JOBS", "2")
# objdump -d line: address, then the instruction's bytes. In 64-bit mode
# c4/c5 start a VEX prefix and 62 an EVEX one (LES, LDS and BOUND are
# invalid there), after at most segment or address-size prefixes.
VEX_LINE = re.compile(r"^\s*[0-9a-f]+:\t((?:2e|3e|26|36|64|65|67) )*"
                      r"(c4|c5|62) ")


def run(cmd, timeout=600):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    assert p.returncode == 0, \
        f"{cmd} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p


def unit_build(tmp_path_factory, isa):
    """Configure this tree with cpu_instruction_set=@isa, build the unit
    suite's binaries only; returns their paths."""
    out = str(tmp_path_factory.mktemp("portable-" + isa) / "build")
    run(["meson", "setup", out, ROOT, "-Dcpu_instruction_set=" + isa]
        + OPTIONS)
    tests = json.loads(run(["meson", "introspect", "--tests", out]).stdout)
    bins = [t["cmd"][0] for t in tests
            if any(s.endswith(":unit") for s in t["suite"])]
    assert len(bins) >= 5, tests
    run(["ninja", "-C", out, "-j", JOBS]
        + [os.path.relpath(b, out) for b in bins], timeout=1200)
    return bins


def vex_count(binary):
    """VEX/EVEX-encoded instructions in @binary's own .text."""
    p = run(["objdump", "-d", "-j", ".text", binary])
    return sum(1 for line in p.stdout.splitlines() if VEX_LINE.match(line))


def on_nehalem(binary):
    return subprocess.run([QEMU, "-cpu", "Nehalem", binary],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300)


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


@pytest.fixture(scope="module")
def qemu():
    # Installed by scripts/setup.sh test (qemu-user): never skipped.
    assert shutil.which(QEMU), f"{QEMU} is missing: run scripts/setup.sh test"


def test_default_build_runs_on_nehalem(tmp_path_factory, qemu):
    for b in unit_build(tmp_path_factory, "generic"):
        assert vex_count(b) == 0, f"{b}: VEX/EVEX code in a generic build"
        p = on_nehalem(b)
        assert p.returncode == 0, f"{b} on Nehalem: {p.returncode}\n{p.stdout}"
        assert "[  PASSED  ]" in p.stdout, p.stdout


def test_native_build_is_not_portable(tmp_path_factory, qemu):
    """What the test above guards against: on a CPU with AVX, native code
    is VEX-encoded and Nehalem cannot run it."""
    if "avx" not in cpu_flags():
        pytest.skip("this CPU has no AVX: its native code may run on "
                    "Nehalem, no contrast to show")
    native = unit_build(tmp_path_factory, "native")
    assert all(vex_count(b) > 0 for b in native), native
    failed = [b for b in native if on_nehalem(b).returncode != 0]
    assert failed, "native binaries all passed on a CPU without AVX"
