#!/usr/bin/python3
"""Run in a first guest (L1): boot a second guest (L2) inside it with the
same kernel (the one L1 runs) and initramfs, or L2_KERNEL's (a
guest.KERNELS name), on L2_CPU's model (QEMU's, max by default), and
stream its console, prefixed. Exits with L2's
command status (125 when there was none).

usage: nested.py SCRIPT [QEMU ARGS...]   (SCRIPT as L2 sees it)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guest  # noqa: E402


def main():
    command = sys.argv[1]
    r = guest.run(command, timeout=float(os.environ.get("L2_TIMEOUT", 900)),
                  mem=os.environ.get("L2_MEM", "768M"), smp=1,
                  append=os.environ.get("L2_APPEND", ""),
                  cpu=os.environ.get("L2_CPU", "max"),
                  kernel=os.environ.get("L2_KERNEL") or
                  guest.kernel_of(os.uname().release),
                  qemu_args=sys.argv[2:])
    for line in r.console.splitlines():
        print("  L2| " + line, flush=True)
    print(f"L2-RC {r.rc} after {r.seconds:.0f}s", flush=True)
    return r.rc if r.rc is not None else 125


if __name__ == "__main__":
    sys.exit(main())
