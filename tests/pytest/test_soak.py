"""The soak's short version: vsock-perf --verify through the bridge's echo
while the bridge is killed and restarted; nothing may be lost unreported."""
import json
import os
import subprocess

from conftest import BUILD, ROOT


def test_soak_quick_survives_bridge_restarts():
    p = subprocess.run(
        ["/usr/bin/python3", os.path.join(ROOT, "perf", "soak.py"),
         "--quick", "--json", "--build", BUILD],
        capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads(p.stdout)
    assert r["ok"] and r["errors"] == 0
    assert r["bridge_restarts"] == 2
    # The restarts hit connections in flight, which were told so...
    assert r["resets"] > 0 and r["lost_bytes_reported"] > 0
    # ...and every other byte came back, checked, digests equal.
    assert r["corrupt"] == 0 and r["unreported_loss"] == 0
    assert r["bytes_echoed_checked"] + r["lost_bytes_reported"] == \
        r["bytes_sent"]
    assert r["connections_ok"] == r["sha256_ok"] > 0
    assert r["bytes_sent"] >= 2 << 30
    assert r["mbufs_in_use"] == r["rx_posted"] and r["ctl_mbufs_in_use"] == 0


def test_soak_rejects_bad_options():
    p = subprocess.run(
        ["/usr/bin/python3", os.path.join(ROOT, "perf", "soak.py"),
         "--bytes", "lots"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "'lots'" in p.stderr
