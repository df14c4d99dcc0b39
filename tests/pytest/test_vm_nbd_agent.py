"""nbdkit, nbdcopy, nbdinfo and qemu-ga, unmodified, under the preload in
one QEMU guest: vsockd owns the guest kernel's vhost-vsock device (CID
42) and the guest kernel's own AF_VSOCK programs play the host (CID 2).

NBD both ways (our nbdkit and the kernel's nbdcopy, the kernel's nbdkit
and our nbdcopy), NBD_MB MiB copied in and out and compared by SHA-256,
a client killed mid-copy each way before the measured copies, and the
same copies between two kernel programs over vsock_loopback (CID 1) as
the baseline, first and last, so that a change in the host's load shows;
then qemu-ga under the preload answering a kernel AF_VSOCK client.
Everything runs under QEMU's software emulation (TCG): the figures
compare the paths in one boot, nothing more."""
import hashlib
import os
import re
import textwrap

import pytest

from conftest import ROOT
from test_vm_vsockd import CID, GUARD, PRELOAD, VSOCKD
from vmtools import VSOCKD_START, every_kernel, guest, prepare, script

pytestmark = pytest.mark.vm

QGA_CLIENT = os.path.join(ROOT, "tests", "vm", "qga_client.py")
NBD_MB = 256
QGA_PORT = 4444
# (tag, what it measures): the copies timed in the guest.
COPIES = [("SRV", "our nbdkit, the kernel's nbdcopy (nbd+vsock://42)"),
          ("CLI", "the kernel's nbdkit, our nbdcopy (nbd+vsock://2)"),
          ("KERN1", "kernel to kernel, vsock_loopback (nbd+vsock://1), "
           "first, before vsockd starts"),
          ("KERN2", "the same, last, vsockd stopped")]


def random_file(path, size):
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(size >> 20):
            b = os.urandom(1 << 20)
            f.write(b)
            h.update(b)
    return h.hexdigest()


def guest_body(src):
    uri_srv = f"nbd+vsock://{CID}:10809/"
    uri_cli = "nbd+vsock://2:10810/"
    uri_kern = "nbd+vsock://1:10811/"
    return textwrap.dedent(f"""
        set -u
        modprobe vhost_vsock || exit 90
        modprobe vsock_loopback && echo "LOOPBACK yes" || echo "LOOPBACK no"
        PRE="env LD_PRELOAD={PRELOAD} VSOCKD_SOCKET=/tmp/vsockd.sock {GUARD} --"
        retry() {{ for i in $(seq 100); do "$@" && return 0; sleep 0.2; done; return 1; }}
        ms() {{ echo $(( $(date +%s%N) / 1000000 )); }}
        timed() {{
            local tag=$1 t0 rc; shift; t0=$(ms); "$@" 2> /tmp/t.err; rc=$?
            echo "TIME $tag rc $rc ms $(( $(ms) - t0 ))"
            sed "s/^/ERR $tag /" /tmp/t.err
        }}
        # A client killed mid-copy (kill -9 while nbdcopy still runs:
        # 137) must leave the server and vsockd serving the next one.
        killed() {{
            local tag=$1 k; shift; "$@" & k=$!; sleep 1; kill -9 $k
            wait $k; echo "KILLED $tag $?"
        }}
        sha() {{ echo "SHA $1 $(sha256sum < /dev/shm/out)"; rm -f /dev/shm/out; }}
        # The baseline, two kernel programs over CID 1, before and after
        # the rest: a change in the host's load between shows in it.
        baseline() {{
            nbdkit -f --vsock --port 10811 memory {NBD_MB}M 2> /tmp/nk.err &
            NK=$!
            echo "INFO $1 $(retry nbdinfo --size {uri_kern})"
            timed $1-IN nbdcopy /dev/shm/src {uri_kern}
            timed $1-OUT nbdcopy {uri_kern} /dev/shm/out
            sha $1
            kill $NK; wait $NK; echo "NK $1 $?"
        }}
        cp {src} /dev/shm/src
        baseline KERN1
        . {VSOCKD_START} {VSOCKD} {CID}
        # 1. Our nbdkit, the kernel's nbdinfo and nbdcopy.
        $PRE nbdkit -f --vsock --port 10809 memory {NBD_MB}M 2> /tmp/nk1.err &
        NK=$!
        echo "INFO SRV $(retry nbdinfo --size {uri_srv})"
        killed SRV nbdcopy /dev/shm/src {uri_srv}
        timed SRV-IN nbdcopy /dev/shm/src {uri_srv}
        timed SRV-OUT nbdcopy {uri_srv} /dev/shm/out
        sha SRV
        kill $NK; wait $NK; echo "NK SRV $?"
        # 2. The kernel's nbdkit, our nbdinfo and nbdcopy.
        nbdkit -f --vsock --port 10810 memory {NBD_MB}M 2> /tmp/nk2.err &
        NK=$!
        echo "INFO CLI $(retry $PRE nbdinfo --size {uri_cli})"
        killed CLI $PRE nbdcopy /dev/shm/src {uri_cli}
        timed CLI-IN $PRE nbdcopy /dev/shm/src {uri_cli}
        timed CLI-OUT $PRE nbdcopy {uri_cli} /dev/shm/out
        sha CLI
        kill $NK; wait $NK; echo "NK CLI $?"
        # 3. qemu-ga under the preload, a kernel AF_VSOCK client.
        mkdir -p /tmp/qga
        $PRE qemu-ga --method=vsock-listen --path={CID}:{QGA_PORT} \\
            --statedir /tmp/qga --pidfile /tmp/qga/pid 2> /tmp/qga.err &
        Q=$!
        retry python3 {QGA_CLIENT} --vsock {CID}:{QGA_PORT} > /tmp/qga.out
        echo "QGA-RC $?"; sed 's/^/QGA /' /tmp/qga.out
        kill $Q; wait $Q; echo "QGA-EXIT $?"
        kill -INT $VD; wait $VD; echo "VD-RC $?"
        grep -v '^\\[' /tmp/vd.err | tail -5
        # 4. The baseline again, vsockd stopped.
        baseline KERN2
        tail -n 3 /tmp/nk1.err /tmp/nk2.err /tmp/nk.err /tmp/qga.err
    """)


@every_kernel
def test_nbd_and_qemu_ga_under_the_preload(tmp_path, kernel):
    prepare(kernel)
    src = tmp_path / "src"
    digest = random_file(str(src), NBD_MB << 20)
    r = guest.run(script(tmp_path, guest_body(src)), timeout=1800,
                  mem="3G", kernel=kernel)
    print(r.console[-6000:])
    c = r.console
    assert r.rc == 0, c[-4000:]
    assert "LOOPBACK yes" in c, c[-4000:]
    figures = []
    for tag, what in COPIES:
        assert f"INFO {tag} {NBD_MB << 20}" in c, (tag, c[-4000:])
        if not tag.startswith("KERN"):
            assert f"KILLED {tag} 137" in c, (tag, c[-4000:])
        m = re.search(f"SHA {tag} ([0-9a-f]{{64}})", c)
        assert m and m.group(1) == digest, (tag, c[-4000:])
        assert f"NK {tag} 0" in c, (tag, c[-4000:])
        for way in ("IN", "OUT"):
            m = re.search(f"TIME {tag}-{way} rc (\\d+) ms (\\d+)", c)
            assert m and m.group(1) == "0", (tag, way, c[-4000:])
            assert f"ERR {tag}-{way} " not in c, (tag, way, c[-4000:])
            ms = max(int(m.group(2)), 1)
            figures.append((f"{tag}-{way}", what, ms, NBD_MB * 1000 / ms))
    m = re.search(r"QGA guest-info version (\S+) commands (\d+)", c)
    assert "QGA-RC 0" in c and "QGA guest-ping {}" in c, c[-4000:]
    assert m and int(m.group(2)) > 10, c[-4000:]
    assert re.search(r"QGA guest-get-time \d+ off ", c), c[-4000:]
    assert "QGA-EXIT 0" in c, c[-4000:]
    assert "VD-RC 0" in c, c[-4000:]
    print(f"\n{NBD_MB} MiB nbdcopy under QEMU TCG (2 vCPUs; vsockd "
          f"busy-polls vCPU 0 in SRV and CLI, not running in KERN):")
    for tag, what, ms, rate in figures:
        print(f"  {tag:9} {ms / 1000:7.2f} s {rate:8.1f} MiB/s  {what}")
