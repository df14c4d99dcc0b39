"""Linux test guests under QEMU's software emulation.

build(): Debian's current bookworm kernel (resolved through
linux-image-amd64, fetched with apt-get download, unpacked, never
installed) and a busybox-static initramfs that mounts the host's root
read-only over virtio-9p. run(): boot it, run one shell command, return
its exit status and the console. Everything lives in one cache folder
(VSOCK_VM_DIR, default .vm-cache at the project's root).
"""
import base64
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("VSOCK_VM_DIR", os.path.join(ROOT, ".vm-cache"))

# Loaded by /init before the root is mounted.
BOOT_MODS = ["virtio_pci", "9pnet_virtio", "9p", "overlay"]
# Shipped for the tests to modprobe.
EXTRA_MODS = ["vhost_vsock", "vsock_loopback", "vmw_vsock_virtio_transport",
              "vsock_diag", "vfio", "vfio_iommu_type1", "vfio_pci"]


class GuestError(Exception):
    pass


def _sh(cmd, cwd=None):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise GuestError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


def kernel_package():
    """The image package linux-image-amd64 depends on, e.g. ...-6.1.0-56-amd64."""
    for attempt in range(2):
        r = subprocess.run(["apt-cache", "depends", "linux-image-amd64"],
                           capture_output=True, text=True)
        m = re.search(r"Depends:\s*(linux-image-[0-9][^\s]*)", r.stdout)
        if m:
            return m.group(1)
        if attempt == 0:
            # A machine whose package lists were never fetched.
            subprocess.run(["apt-get", "update", "-q"], capture_output=True)
    raise GuestError("cannot resolve linux-image-amd64's kernel package "
                     "(apt-get update failed?)")


def _modules_dep(kdir, kver):
    path = os.path.join(kdir, "lib", "modules", kver, "modules.dep")
    deps = {}
    with open(path) as f:
        for line in f:
            mod, _, rest = line.partition(":")
            deps[mod] = rest.split()
    return deps


def _find(deps, name):
    name = name.replace("-", "_")
    for p in deps:
        base = os.path.basename(p)
        base = re.sub(r"\.ko(\.xz|\.zst|\.gz)?$", "", base).replace("-", "_")
        if base == name:
            return p
    raise GuestError(f"module {name} is not in the kernel package")


def _closure(deps, paths):
    """Modules in load order: each after everything it depends on."""
    order, seen = [], set()

    def visit(p):
        if p in seen:
            return
        seen.add(p)
        for d in reversed(deps.get(p, [])):
            visit(d)
        order.append(p)
    for p in paths:
        visit(p)
    return order


def build():
    """Fetch and unpack the kernel and build the initramfs (cached)."""
    os.makedirs(CACHE, exist_ok=True)
    stamp = os.path.join(CACHE, "ready")
    pkg = kernel_package()
    if os.path.exists(stamp) and open(stamp).read().strip() == pkg:
        return
    kdir = os.path.join(CACHE, "kernel")
    shutil.rmtree(kdir, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as dl:
        _sh(["apt-get", "download", pkg], cwd=dl)
        deb = [f for f in os.listdir(dl) if f.endswith(".deb")][0]
        _sh(["dpkg", "-x", os.path.join(dl, deb), kdir])
    kver = sorted(os.listdir(os.path.join(kdir, "lib", "modules")))[0]
    smap = os.path.join(kdir, "boot", f"System.map-{kver}")
    _sh(["depmod", "-b", kdir, "-F", smap, kver])
    deps = _modules_dep(kdir, kver)
    boot = _closure(deps, [_find(deps, m) for m in BOOT_MODS])
    every = _closure(deps, [_find(deps, m) for m in BOOT_MODS + EXTRA_MODS])

    stage = os.path.join(CACHE, "initramfs")
    shutil.rmtree(stage, ignore_errors=True)
    for d in ("bin", "sbin", "dev", "proc", "sys", "newroot"):
        os.makedirs(os.path.join(stage, d))
    shutil.copy("/bin/busybox", os.path.join(stage, "bin", "busybox"))
    mroot = os.path.join(stage, "lib", "modules", kver)
    for p in every:
        os.makedirs(os.path.join(mroot, os.path.dirname(p)), exist_ok=True)
        shutil.copy(os.path.join(kdir, "lib", "modules", kver, p),
                    os.path.join(mroot, p))
    for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        src = os.path.join(kdir, "lib", "modules", kver, f)
        if os.path.exists(src):
            shutil.copy(src, mroot)
    _sh(["depmod", "-b", stage, "-F", smap, kver])
    with open(os.path.join(stage, "modules.boot"), "w") as f:
        f.write("\n".join(boot) + "\n")
    shutil.copy(os.path.join(HERE, "guest_init.sh"),
                os.path.join(stage, "init"))
    os.chmod(os.path.join(stage, "init"), 0o755)
    out = os.path.join(CACHE, "initramfs.cpio.gz")
    subprocess.run(f"find . | /bin/busybox cpio -o -H newc 2>/dev/null | "
                   f"gzip -6 > {out}", shell=True, cwd=stage, check=True)
    with open(stamp, "w") as f:
        f.write(pkg + "\n")


def kernel_image():
    kdir = os.path.join(CACHE, "kernel")
    kver = sorted(os.listdir(os.path.join(kdir, "lib", "modules")))[0]
    return os.path.join(kdir, "boot", f"vmlinuz-{kver}"), kver


class Result:
    def __init__(self, rc, console, seconds):
        self.rc = rc            # the command's exit status, None if unknown
        self.console = console
        self.seconds = seconds


def qemu_cmd(command, mem="2G", smp=2, memfd=False, machine="q35",
             qemu_args=(), append=""):
    """The QEMU command line that boots a guest and runs @command."""
    vmlinuz, _ = kernel_image()
    enc = base64.b64encode(command.encode()).decode()
    line = (f"console=ttyS0 loglevel=3 quiet panic=-1 {append} "
            f"vmcmd={enc}")
    if len(line) > 3500:
        raise GuestError("command too long for the kernel command line: "
                         "put it in a script under /tmp (the guest sees "
                         "the host's /tmp at the same path)")
    m = machine + (",memory-backend=mem" if memfd else "")
    cmd = ["qemu-system-x86_64", "-accel", "tcg,thread=multi",
           "-machine", m, "-cpu", "max", "-smp", str(smp), "-m", mem,
           "-nodefaults", "-display", "none", "-serial", "stdio",
           "-monitor", "none", "-no-reboot",
           "-kernel", vmlinuz,
           "-initrd", os.path.join(CACHE, "initramfs.cpio.gz"),
           "-append", line,
           "-virtfs", "local,path=/,mount_tag=hostroot,"
           "security_model=none,readonly=on,multidevs=remap"]
    if memfd:
        cmd += ["-object", f"memory-backend-memfd,id=mem,size={mem},"
                "share=on"]
    return cmd + list(qemu_args)


def run(command, timeout=300, **kw):
    """Boot a guest, run @command in it; never outlives @timeout."""
    build()
    t0 = time.monotonic()
    p = subprocess.Popen(qemu_cmd(command, **kw), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    killer = threading.Timer(timeout, p.kill)
    killer.daemon = True
    killer.start()
    lines, rc = [], None
    try:
        for raw in iter(p.stdout.readline, b""):
            line = raw.decode(errors="replace").rstrip("\r\n")
            lines.append(f"[{time.monotonic() - t0:7.2f}] {line}")
            m = re.match(r"=== VMCMD EXIT (\d+)", line)
            if m:
                rc = int(m.group(1))
        p.wait()
    finally:
        killer.cancel()
        if p.poll() is None:
            p.kill()
            p.wait()
    console = "\n".join(lines)
    if rc is None:
        console += f"\n### no exit status from the guest within {timeout}s"
    return Result(rc, console, time.monotonic() - t0)
