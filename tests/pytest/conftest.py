"""Shared helpers: locate the build, run vsock-testpmd with tracked pids."""
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.environ.get("VSOCK_BUILD", os.path.join(ROOT, "build"))
TESTPMD = os.path.join(BUILD, "apps", "vsock-testpmd")
EAL = ["-l", "0-1", "--in-memory", "--no-pci",
       "--log-level=lib.eal:warning"]


class Result:
    def __init__(self, proc, stdout, stderr):
        self.rc = proc.returncode
        self.stdout = stdout
        self.stderr = stderr

    def json(self):
        lines = [l for l in self.stdout.splitlines() if l.startswith("{")]
        assert len(lines) == 1, f"expected one JSON line:\n{self.stdout}"
        return json.loads(lines[0])


def run_testpmd(app_args, eal=None, timeout=120):
    """Run vsock-testpmd; kill it (by its own pid) if it overruns."""
    cmd = [TESTPMD] + (EAL if eal is None else eal) + ["--"] + app_args
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{cmd} timed out after {timeout}s\n{out}\n{err}")
    return Result(proc, out, err)


@pytest.fixture(scope="session", autouse=True)
def built():
    assert os.access(TESTPMD, os.X_OK), \
        f"{TESTPMD} is missing: run 'make build' first"
