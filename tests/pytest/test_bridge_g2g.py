"""Guest to guest through one vsock-bridge (lib/vsock_vhost's switch), and
vhost-device-vsock's command line (--vm, --config): vsock-testpmd
processes are the guests, their driver the vhost-user front-end."""
import os
import subprocess

import pytest
import yaml

from conftest import (BRIDGE, EAL, TESTPMD, Background, echo_roundtrip,
                      wait_for_path)
from test_pcap import decode

EAL_VU = EAL + ["--single-file-segments"]
PORT = 5000


def vm_spec(tmp_path, cid, groups=None):
    spec = (f"guest-cid={cid},socket={tmp_path}/vhost{cid}.socket,"
            f"uds-path={tmp_path}/vm{cid}.vsock")
    return spec + (f",groups={groups}" if groups else "")


def start_bridge(procs, tmp_path, args, wait_cids):
    br = Background([BRIDGE] + EAL_VU + ["--"] + args + ["--stats"],
                    "vsock-bridge")
    procs.append(br)
    for cid in wait_cids:
        wait_for_path(str(tmp_path / f"vhost{cid}.socket"), br)
    return br


def guest(procs, tmp_path, cid, args):
    """A vsock-testpmd guest on the bridge's socket for @cid."""
    p = Background([TESTPMD] + EAL_VU + [
        "--", "--dev", f"vhost-user:path={tmp_path}/vhost{cid}.socket",
        "--port", str(PORT), "--json"] + args, f"guest{cid}")
    procs.append(p)
    return p


def finish(p, timeout=180):
    p.proc.wait(timeout)
    p.stop()
    return p.json()


def fwd_counts(br):
    """The bridge's final 'guest to guest' lines, one per guest."""
    return [tuple(int(w) for w in l.split()[4::2])
            for l in br.out.splitlines() if "guest to guest:" in l]


@pytest.mark.parametrize("cids", [(3, 4), (3, 4, 5)])
def test_guests_verify_each_other(procs, tmp_path, cids):
    """Each guest verifies against the next one's checking echo, and
    serves the previous one, at the same time (the default group)."""
    br = start_bridge(procs, tmp_path, sum(
        (["--vm", vm_spec(tmp_path, c)] for c in cids), []), cids)
    gs = []
    for i, cid in enumerate(cids):
        nxt = cids[(i + 1) % len(cids)]
        gs.append(guest(procs, tmp_path, cid, [
            "--mode", "verify", "--peer", str(nxt), "--serve", "--conns",
            "4", "--size", "1-100000", "--duration", "3"]))
    for cid, p in zip(cids, gs):
        d = finish(p)
        assert d["errors"] == 0, (cid, p.err)
        assert d["cid"] == cid
        assert d["client"]["conns_done"] == 4
        assert d["client"]["bytes_rx"] == d["client"]["bytes_tx"] > 0
        assert d["server"]["conns_done"] == 4    # the previous guest's
    assert br.alive()
    br.stop()
    counts = fwd_counts(br)
    assert len(counts) == len(cids), br.out
    for fwd, rst, _waits in counts:
        assert fwd > 0 and rst == 0, br.out


def test_no_common_group_and_unknown_cid_get_rst(procs, tmp_path):
    """3 and 4 share no group: RST, as does a CID no guest has; 5 shares
    one with each and reaches both."""
    br = start_bridge(procs, tmp_path, [
        "--vm", vm_spec(tmp_path, 3, "a"),
        "--vm", vm_spec(tmp_path, 4, "b"),
        "--vm", vm_spec(tmp_path, 5, "a+b")], (3, 4, 5))
    srv = guest(procs, tmp_path, 4, ["--mode", "echo", "--duration", "0"])
    # 3 serves 5 while its own clients, to 4, are refused.
    g3 = guest(procs, tmp_path, 3, ["--mode", "verify", "--peer", "4",
                                    "--serve", "--conns", "2",
                                    "--duration", "4"])
    both = guest(procs, tmp_path, 5, ["--mode", "verify", "--peer", "3,4",
                                      "--conns", "4", "--duration", "2"])
    d = finish(both)
    assert d["errors"] == 0, both.err
    assert d["peers"]["3"]["conns_done"] == 2
    assert d["peers"]["4"]["conns_done"] == 2
    for p, peer in ((g3, "4"), (None, "9")):
        if p is None:
            p = guest(procs, tmp_path, 3, ["--mode", "verify", "--peer",
                                           peer, "--conns", "2",
                                           "--duration", "1"])
        d = finish(p)
        assert p.proc.returncode == 1
        assert d["error_detail"]["connect_fail"] == 2, (peer, d)
        assert "Connection reset" in p.err
    srv.stop()
    br.stop()
    rst = [c[1] for c in fwd_counts(br)]
    assert rst == [4, 0, 0], br.out


def write_config(tmp_path, vms):
    path = tmp_path / "vsock.yaml"
    path.write_text(yaml.safe_dump({"vms": vms}, sort_keys=False))
    return str(path)


def test_config_file_and_host_sockets(procs, tmp_path):
    """vhost-device-vsock's YAML layout: two guests, each reached from the
    host through its uds_path, and one reaching the other."""
    vms = [{"guest_cid": c, "socket": f"{tmp_path}/vhost{c}.socket",
            "uds_path": f"{tmp_path}/vm{c}.vsock",
            "tx_buffer_size": 65536, "queue_size": 1024,
            "groups": "group1"} for c in (3, 4)]
    cap = tmp_path / "bridge.pcap"
    br = start_bridge(procs, tmp_path, ["--config",
                                        write_config(tmp_path, vms),
                                        "--pcap", str(cap)], (3, 4))
    echo = guest(procs, tmp_path, 4, ["--mode", "echo", "--duration", "0"])
    data = os.urandom(1 << 20)
    assert echo_roundtrip(f"{tmp_path}/vm4.vsock", data, PORT,
                          timeout=60) == data
    client = guest(procs, tmp_path, 3, ["--mode", "verify", "--peer", "4",
                                        "--conns", "3", "--duration", "2"])
    d = finish(client)
    assert d["errors"] == 0, client.err
    assert d["client"]["conns_done"] == 3
    echo.stop()
    br.stop()
    # The bridge's connections offer the guest what tx_buffer_size says
    # (tshark reads its capture, which holds what the bridge's stack sends
    # and receives: guest-to-guest packets pass below it).
    own = [r for r in decode(cap) if r.v_src_cid == 2]
    assert own and all(r.v_buf_alloc == 65536 for r in own), own[:3]


@pytest.mark.parametrize("args,bad", [
    (["--vm", "guest-cid=2,socket=/tmp/a,uds-path=/tmp/b"],
     "--vm guest-cid=2: must be 3..4294967294"),
    (["--vm", "socket=/tmp/a,uds-path=/tmp/b,forward-cid=1"],
     "no vsock back-end"),
    (["--vm", "socket=/tmp/a,uds-path=/tmp/b", "--vm",
      "socket=/tmp/c,uds-path=/tmp/d"], "guest-cid 3: given to VM 1 and VM 2"),
    (["--vm", "socket=/tmp/a,uds-path=/tmp/b", "--socket", "/tmp/c"],
     "give the guests one way"),
    (["--socket", "/tmp/a", "--uds-path", "/tmp/b", "--groups", "a++b"],
     "bad --groups 'a++b'"),
])
def test_vhost_device_vsock_options_refused(args, bad):
    r = subprocess.run([BRIDGE] + args, capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert bad in r.stderr, r.stderr
    assert "EAL" not in r.stderr


def test_config_file_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("vms:\n  - guest_cid: 4\n    socket: /tmp/a\n"
                    "    uds_pathh: /tmp/b\n")
    r = subprocess.run([BRIDGE, "--config", str(path)], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 2
    assert f"{path}:4: unknown key \"uds_pathh\"" in r.stderr, r.stderr


def test_single_guest_without_cid_is_cid_3(procs, tmp_path):
    """vhost-device-vsock's single-VM options, as its README gives them:
    --guest-cid defaults to 3, --uds-path spells --uds."""
    br = start_bridge(procs, tmp_path, [
        "--socket", f"{tmp_path}/vhost3.socket",
        "--uds-path", f"{tmp_path}/vm3.vsock"], (3,))
    echo = guest(procs, tmp_path, 3, ["--mode", "echo", "--duration", "0"])
    assert echo_roundtrip(f"{tmp_path}/vm3.vsock", b"cid three", PORT,
                          timeout=60) == b"cid three"
    echo.stop()
    d = echo.json()
    assert d["cid"] == 3
    br.stop()
