#!/usr/bin/python3
"""The idle-application probe of perf/bench.py: an unmodified Python
program that blocks in recv() (connected to vsockd's vsock-perf server,
which says nothing until it gets a hello, and none is sent) or in
accept() (listening where nobody connects) on an AF_VSOCK socket, until
it is killed. bench.py reads its utime + stime from /proc/PID/stat before
and after a few seconds of that.

  idle_probe.py recv CID PORT | accept PORT

It prints "blocked" on stdout just before the blocking call. It runs only
under libvsock-preload.so inside vsock-guard and refuses to start
otherwise: the machine's kernel AF_VSOCK must never be reached.
"""
import os
import socket
import sys


def guarded():
    """LD_PRELOAD names the preload and a seccomp filter is on (the
    guard's: socket(AF_VSOCK) fails in the kernel)."""
    if "libvsock-preload" not in os.environ.get("LD_PRELOAD", ""):
        return False
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Seccomp:"):
                    return line.split()[1] == "2"
    except OSError:
        pass
    return False


def main(argv):
    if len(argv) not in (3, 4) or argv[1] not in ("recv", "accept") or \
            (argv[1] == "recv") != (len(argv) == 4):
        print(__doc__, file=sys.stderr)
        return 2
    if not guarded():
        print("idle_probe: not under libvsock-preload.so and vsock-guard: "
              "refusing to create an AF_VSOCK socket", file=sys.stderr)
        return 2
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    if argv[1] == "recv":
        s.connect((int(argv[2], 0), int(argv[3], 0)))
        print("blocked", flush=True)
        data = s.recv(1)
        print(f"recv returned {len(data)} bytes", file=sys.stderr)
        return 1
    s.bind((socket.VMADDR_CID_ANY, int(argv[2], 0)))
    s.listen(1)
    print("blocked", flush=True)
    s.accept()
    print("accept returned", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
