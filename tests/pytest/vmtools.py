"""Glue between pytest and tests/vm: the guest runner, scripts for it."""
import os
import sys

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "vm"))
import guest  # noqa: E402


def script(tmp_path, body):
    """Write @body to a script the guest can run; returns its command.

    The host's /tmp is the guest's /run/hosttmp; pytest's tmp_path is
    under /tmp.
    """
    os.makedirs(str(tmp_path), exist_ok=True)
    path = os.path.join(str(tmp_path), "guest.sh")
    with open(path, "w") as f:
        f.write(body)
    rel = os.path.relpath(path, "/tmp")
    assert not rel.startswith(".."), "tmp_path must be under /tmp"
    return f"bash /run/hosttmp/{rel}"
