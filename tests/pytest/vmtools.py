"""Glue between pytest and tests/vm: the guest runner, scripts for it."""
import os
import sys

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "vm"))
import guest  # noqa: E402


def script(tmp_path, body):
    """Write @body to a script the guest can run; returns its command.

    Guests see the host's whole tree read-only at the same paths, /tmp
    included (writable there through an overlay).
    """
    os.makedirs(str(tmp_path), exist_ok=True)
    path = os.path.join(str(tmp_path), "guest.sh")
    with open(path, "w") as f:
        f.write(body)
    return f"bash {path}"
