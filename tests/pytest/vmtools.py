"""Glue between pytest and tests/vm: the guest runner, scripts for it,
the guest kernels a test runs over."""
import json
import os
import re
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "vm"))
import guest  # noqa: E402

# Sourced by a guest script: vsockd on the guest's vhost-vsock device
# (". VSOCKD_START VSOCKD CID"; its pid in $VD).
VSOCKD_START = os.path.join(ROOT, "tests", "vm", "vsockd_start.sh")


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


def series(kernel):
    """@kernel's Linux series: "6.1" (bookworm), "6.12" (trixie)."""
    return guest.KERNELS[kernel][1]


# Runs a test once per guest kernel, as "kernel": ids linux6.1, linux6.12.
every_kernel = pytest.mark.parametrize(
    "kernel", list(guest.KERNELS),
    ids=["linux" + series(k) for k in guest.KERNELS])


def prepare(kernel):
    """Fetch and build @kernel's guest before a test starts its peers: a
    failure (no mirror, no network, a bad signature) fails the test with
    apt's message, never skips it."""
    try:
        guest.build(kernel)
    except guest.GuestError as e:
        pytest.fail(f"cannot prepare the {kernel} guest kernel "
                    f"(Linux {series(kernel)}): {e}", pytrace=False)


def booted(console, kernel):
    """The release the guest printed as 'KERNEL <uname -r>', checked to be
    @kernel's series."""
    m = re.search(r"^\[[ 0-9.]+\] KERNEL (\S+)", console, re.M)
    assert m, f"the guest printed no KERNEL line:\n{console[-3000:]}"
    assert m.group(1).startswith(series(kernel) + "."), \
        f"{kernel} guest booted Linux {m.group(1)}, not {series(kernel)}.x"
    return m.group(1)


def one_recovery(console, cid, bad_used_id):
    """What a guest's vsock-testpmd --mode verify --reconnect printed
    (TP-RC, TP-RESULT) after its device broke once: one recovery, no
    failed one, the broken connections reset and reported, nothing else
    lost, every buffer back; @bad_used_id bad used ids counted. Returns
    the JSON."""
    (rc,) = re.findall(r"TP-RC (\d+)", console)
    (res,) = re.findall(r"TP-RESULT (\{.*\})", console)
    d = json.loads(res)
    # Errors there are: the connections the break reset.
    assert rc == "1", console[-4000:]
    assert "(recovery 1)" in console, console[-4000:]
    dr = d["driver"]
    assert dr["broken"] == 1 and dr["bad_used_id"] == bad_used_id, dr
    assert dr["recoveries"] == 1 and dr["recovery_failures"] == 0, dr
    assert d["stack"]["transport_resets"] == 1, d["stack"]
    assert d["cid"] == cid
    e = d["error_detail"]
    assert e["verify_fail"] == 0 and e["send_fail"] == 0, d
    assert e["connect_fail"] == 0 and d["errors"] == e["resets"] > 0, d
    assert d["client"]["conns_done"] == 8, d
    assert d["pool"]["in_use"] == d["pool"]["rx_posted"] > 0, d["pool"]
    assert d["pool"]["ctl_in_use"] == 0, d["pool"]
    return d
