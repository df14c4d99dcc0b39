"""vsockd in a guest: it owns a vhost-kernel device (the guest kernel's
vhost-vsock), unmodified programs reach vsock through it under the preload
(and the guard, so a fall-through to the kernel's AF_VSOCK fails), and the
guest kernel's own AF_VSOCK programs are the peers, both ways, with each
guest kernel (Debian 12's 6.1 and Debian 13's 6.12)."""
import hashlib
import os
import re
import textwrap

import pytest

from conftest import BUILD, ROOT
from vmtools import VSOCKD_START, every_kernel, guest, prepare, script

pytestmark = pytest.mark.vm

VSOCKD = os.path.join(BUILD, "apps", "vsockd")
PRELOAD = os.path.join(BUILD, "lib", "libvsock", "libvsock-preload.so")
GUARD = os.path.join(BUILD, "tests", "guard", "vsock-guard")
CLASSIC = os.path.join(ROOT, "tests", "vm", "vsock_classic.py")
CID = 42
NBYTES = 8 << 20


@every_kernel
def test_programs_under_the_preload_against_the_guest_kernel(tmp_path,
                                                             kernel):
    prepare(kernel)
    data = os.urandom(NBYTES)
    src = tmp_path / "data"
    src.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    got1 = tmp_path / "got1"
    got2 = tmp_path / "got2"
    body = textwrap.dedent(f"""
        set -u
        modprobe vhost_vsock || exit 90
        . {VSOCKD_START} {VSOCKD} {CID}
        PRE="env LD_PRELOAD={PRELOAD} VSOCKD_SOCKET=/tmp/vsockd.sock {GUARD} --"
        retry() {{ for i in $(seq 100); do "$@" && return 0; sleep 0.2; done; return 1; }}
        # The ncat demo: our listener, the guest kernel's client ...
        $PRE ncat --vsock -l --recv-only 1234 > /tmp/n1.out &
        N=$!
        retry sh -c 'echo hello-from-linux | ncat --vsock --send-only {CID} 1234'
        wait $N; echo "NCAT1-RC $? $(cat /tmp/n1.out)"
        # ... and the kernel's listener, our client.
        ncat --vsock -l --recv-only 1235 > /tmp/n2.out &
        N=$!
        retry sh -c "echo hello-from-vsockd | $PRE ncat --vsock --send-only 2 1235"
        wait $N; echo "NCAT2-RC $? $(cat /tmp/n2.out)"
        # socat, bulk both ways.
        $PRE socat -u VSOCK-LISTEN:1236 CREATE:{got1} &
        S=$!
        retry socat -u OPEN:{src} VSOCK-CONNECT:{CID}:1236
        wait $S; echo "SOCAT1-RC $? $(sha256sum < {got1})"
        socat -u VSOCK-LISTEN:1237 CREATE:{got2} &
        S=$!
        retry $PRE socat -u OPEN:{src} VSOCK-CONNECT:2:1237
        wait $S; echo "SOCAT2-RC $? $(sha256sum < {got2})"
        # The classic Python example: our client, the kernel's server.
        python3 {CLASSIC} server --port 1238 --once > /tmp/py.out &
        P=$!
        retry $PRE python3 {CLASSIC} client --cid 2 --port 1238 \\
            --message hello-classic
        wait $P; echo "PY-RC $? $(cat /tmp/py.out)"
        kill -INT $VD; wait $VD; echo "VD-RC $?"
        grep -v '^\\[' /tmp/vd.err | tail -5
    """)
    r = guest.run(script(tmp_path, body), timeout=900, kernel=kernel)
    print(r.console[-6000:])
    assert r.rc == 0, r.console[-4000:]
    assert "NCAT1-RC 0 hello-from-linux" in r.console
    assert "NCAT2-RC 0 hello-from-vsockd" in r.console
    for tag in ("SOCAT1", "SOCAT2"):
        m = re.search(tag + r"-RC (\d+) ([0-9a-f]{64})", r.console)
        assert m, (tag, r.console[-3000:])
        assert m.group(1) == "0" and m.group(2) == digest, tag
    m = re.search(r"PY-RC 0 .*peer cid (\d+) port (\d+).*hello-classic",
                  r.console)
    assert m, r.console[-3000:]
    assert int(m.group(1)) == CID and int(m.group(2)) >= 1024
    assert "VD-RC 0" in r.console
