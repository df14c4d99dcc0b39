"""Linux test guests under QEMU's software emulation.

build(kernel): a Debian kernel (resolved through linux-image-amd64,
fetched with apt-get download, unpacked, never installed) and a
busybox-static initramfs that mounts the host's root read-only over
virtio-9p. Two kernels (KERNELS): "bookworm", Debian 12's Linux 6.1 as the
machine's own apt sees it (the default), and "trixie", Debian 13's Linux
6.12 from the trixie suite of the same Debian mirror, through an apt
configuration of our own in the cache (the machine's sources are read
for the mirror's URL only; its package lists and apt cache are never
touched for it). run(): boot one, run one shell command, return its exit
status and the console. Everything lives in one cache folder
(VSOCK_VM_DIR, default .vm-cache at the project's root), a subfolder per
kernel.
"""
import base64
import gzip
import lzma
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

# Guest kernels: the Debian suite each comes from (None: whatever the
# machine's own apt resolves, Debian 12 here) and its Linux series.
KERNELS = {"bookworm": (None, "6.1"), "trixie": ("trixie", "6.12")}
DEFAULT_KERNEL = "bookworm"
# Debian's keyring (debian-archive-keyring); bookworm's has trixie's keys.
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
APT_SOURCES = "/etc/apt/sources.list"
LISTS_MAX_AGE = 24 * 3600      # our own package lists: refreshed daily

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


def kernel_dir(kernel=DEFAULT_KERNEL):
    """@kernel's cache subfolder: its package, initramfs and apt state."""
    if kernel not in KERNELS:
        raise GuestError(f"unknown guest kernel {kernel!r} "
                         f"(one of {', '.join(KERNELS)})")
    return os.path.join(CACHE, kernel)


def _source_entries(path):
    """(types, URIs, suites) of each entry of an apt sources file, in the
    one-line format (.list) or deb822 (.sources)."""
    with open(path) as f:
        text = f.read()
    if not path.endswith(".sources"):
        for line in text.splitlines():
            m = re.match(r"\s*(deb|deb-src)\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)",
                         line)
            if m:
                yield [m.group(1)], [m.group(2)], [m.group(3)]
        return
    for para in re.split(r"\n[ \t]*\n", text):
        fields, key = {}, None
        for line in para.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        yield (fields.get("types", "").split(), fields.get("uris", "").split(),
               fields.get("suites", "").split())


def _codename():
    """The machine's Debian release (bookworm), from /etc/os-release."""
    try:
        with open("/etc/os-release") as f:
            m = re.search(r"^VERSION_CODENAME=\"?(\w+)", f.read(), re.M)
        return m.group(1) if m else "bookworm"
    except OSError:
        return "bookworm"


def debian_mirror():
    """The Debian mirror the machine's apt uses for its own release: the
    URI of its 'deb' entry for that suite in sources.list or
    sources.list.d (one-line .list or deb822 .sources files)."""
    files = [APT_SOURCES] if os.path.exists(APT_SOURCES) else []
    parts = APT_SOURCES + ".d"
    if os.path.isdir(parts):
        files += [os.path.join(parts, f) for f in sorted(os.listdir(parts))
                  if f.endswith((".list", ".sources"))]
    release = _codename()
    for path in files:
        for types, uris, suites in _source_entries(path):
            if "deb" in types and release in suites and uris:
                return uris[0].rstrip("/")
    raise GuestError(f"no 'deb' entry for {release} in {APT_SOURCES} or "
                     f"{parts}: cannot tell which Debian mirror to fetch "
                     "the trixie kernel from")


def _apt_dir(kernel):
    return os.path.join(kernel_dir(kernel), "apt")


def apt_options(kernel=DEFAULT_KERNEL):
    """apt-get/apt-cache options for @kernel's suite: the machine's own apt
    for the default kernel, else a sources list, package lists, cache and
    (empty) dpkg status of our own, so that the machine's sources, lists
    and cache are neither read nor written (its apt.conf.d still applies:
    a proxy, say)."""
    if KERNELS[kernel][0] is None:
        return []
    d = _apt_dir(kernel)
    return ["-o", f"Dir::Etc::SourceList={d}/sources.list",
            "-o", "Dir::Etc::SourceParts=/nonexistent",
            "-o", "Dir::Etc::Preferences=/nonexistent",
            "-o", "Dir::Etc::PreferencesParts=/nonexistent",
            "-o", f"Dir::State={d}/state",
            "-o", f"Dir::State::status={d}/status",
            "-o", f"Dir::Cache={d}/cache",
            "-o", "Debug::NoLocking=1",
            "-o", "Acquire::Languages=none"]


def _apt_update(kernel):
    """Fetch @kernel's suite's package lists from the machine's Debian
    mirror into our own apt state, checked against Debian's keyring
    (once a day; any failed or unsigned index is an error)."""
    suite = KERNELS[kernel][0]
    d = _apt_dir(kernel)
    stamp = os.path.join(d, "updated")
    if (os.path.exists(stamp) and
            time.time() - os.path.getmtime(stamp) < LISTS_MAX_AGE):
        return
    if not os.path.exists(KEYRING):
        raise GuestError(f"{KEYRING} is missing (debian-archive-keyring): "
                         f"cannot check the {suite} archive's signature")
    mirror = debian_mirror()
    for sub in ("state/lists/partial", "cache/archives/partial"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    open(os.path.join(d, "status"), "a").close()
    with open(os.path.join(d, "sources.list"), "w") as f:
        f.write(f"deb [arch=amd64 signed-by={KEYRING}] {mirror} {suite} "
                "main\n")
    r = subprocess.run(["apt-get"] + apt_options(kernel) +
                       ["-q", "-o", "APT::Update::Error-Mode=any", "update"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise GuestError(f"apt-get update of {mirror} {suite} (lists in "
                         f"{d}) failed: {(r.stderr or r.stdout).strip()}")
    open(stamp, "w").close()


def _image_depends(opts):
    r = subprocess.run(["apt-cache"] + opts + ["depends", "linux-image-amd64"],
                       capture_output=True, text=True)
    m = re.search(r"Depends:\s*(linux-image-[0-9][^\s]*)", r.stdout)
    return m.group(1) if m else None


def kernel_package(kernel=DEFAULT_KERNEL):
    """The image package linux-image-amd64 depends on in @kernel's suite,
    e.g. linux-image-6.1.0-56-amd64 or linux-image-6.12.48+deb13-amd64."""
    suite = KERNELS[kernel][0]
    if suite is not None:
        _apt_update(kernel)
        pkg = _image_depends(apt_options(kernel))
        if pkg is None:
            raise GuestError(f"linux-image-amd64 is not in {suite}'s lists "
                             f"(in {_apt_dir(kernel)})")
        return pkg
    for attempt in range(2):
        pkg = _image_depends([])
        if pkg:
            return pkg
        if attempt == 0:
            # A machine whose package lists were never fetched.
            subprocess.run(["apt-get", "update", "-q"], capture_output=True)
    raise GuestError("cannot resolve linux-image-amd64's kernel package "
                     "(apt-get update failed?)")


def _mod_name(path):
    base = os.path.basename(path)
    return re.sub(r"\.ko(\.xz|\.zst|\.gz)?$", "", base).replace("-", "_")


def _modules_dep(kdir, kver):
    path = os.path.join(kdir, "lib", "modules", kver, "modules.dep")
    deps = {}
    with open(path) as f:
        for line in f:
            mod, _, rest = line.partition(":")
            deps[mod] = rest.split()
    return deps


def _builtin(kdir, kver):
    """Names of the modules built into the image (virtio_pci in 6.12)."""
    path = os.path.join(kdir, "lib", "modules", kver, "modules.builtin")
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {_mod_name(line.strip()) for line in f if line.strip()}


def _find(deps, builtin, names):
    """modules.dep paths of @names, leaving out the built-in ones."""
    paths = []
    for name in names:
        name = name.replace("-", "_")
        hits = [p for p in deps if _mod_name(p) == name]
        if hits:
            paths.append(hits[0])
        elif name not in builtin:
            raise GuestError(f"module {name} is not in the kernel package")
    return paths


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


def _stage_module(src, mroot, rel):
    """Copy module @rel into the initramfs decompressed (6.12's are .ko.xz;
    busybox's insmod and modprobe take plain .ko); returns its path there."""
    plain = re.sub(r"\.(xz|zst|gz)$", "", rel)
    dst = os.path.join(mroot, plain)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if rel.endswith(".zst"):
        _sh(["zstd", "-q", "-d", "-f", src, "-o", dst])
        return plain
    opener = {".xz": lzma.open, ".gz": gzip.open}.get(
        os.path.splitext(rel)[1], open)
    with opener(src, "rb") as i, open(dst, "wb") as o:
        shutil.copyfileobj(i, o)
    return plain


def _drop_old_layout():
    """Remove what the one-kernel layout left at the cache's top."""
    if not os.path.exists(os.path.join(CACHE, "ready")):
        return
    for d in ("kernel", "initramfs"):
        shutil.rmtree(os.path.join(CACHE, d), ignore_errors=True)
    for f in ("initramfs.cpio.gz", "ready"):
        if os.path.exists(os.path.join(CACHE, f)):
            os.remove(os.path.join(CACHE, f))


def _unpack(kernel, pkg, kdir):
    """apt-get download @pkg and unpack it into @kdir; returns the kernel
    release. Debian 13 ships the modules under usr/lib: lib links there,
    where depmod (kmod 30) and the rest look."""
    shutil.rmtree(kdir, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=kernel_dir(kernel)) as dl:
        _sh(["apt-get"] + apt_options(kernel) + ["download", pkg], cwd=dl)
        deb = [f for f in os.listdir(dl) if f.endswith(".deb")][0]
        _sh(["dpkg", "-x", os.path.join(dl, deb), kdir])
    if (not os.path.exists(os.path.join(kdir, "lib")) and
            os.path.isdir(os.path.join(kdir, "usr", "lib", "modules"))):
        os.symlink(os.path.join("usr", "lib"), os.path.join(kdir, "lib"))
    kver = sorted(os.listdir(os.path.join(kdir, "lib", "modules")))[0]
    smap = os.path.join(kdir, "boot", f"System.map-{kver}")
    _sh(["depmod", "-b", kdir, "-F", smap, kver])
    return kver


def _initramfs(kernel, kdir, kver):
    """The busybox initramfs with the boot modules and the tests' ones."""
    deps = _modules_dep(kdir, kver)
    builtin = _builtin(kdir, kver)
    boot = _closure(deps, _find(deps, builtin, BOOT_MODS))
    every = _closure(deps, _find(deps, builtin, BOOT_MODS + EXTRA_MODS))
    stage = os.path.join(kernel_dir(kernel), "initramfs")
    shutil.rmtree(stage, ignore_errors=True)
    for d in ("bin", "sbin", "dev", "proc", "sys", "newroot"):
        os.makedirs(os.path.join(stage, d))
    shutil.copy("/bin/busybox", os.path.join(stage, "bin", "busybox"))
    kmods = os.path.join(kdir, "lib", "modules", kver)
    mroot = os.path.join(stage, "lib", "modules", kver)
    staged = {p: _stage_module(os.path.join(kmods, p), mroot, p)
              for p in every}
    for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        src = os.path.join(kmods, f)
        if os.path.exists(src):
            shutil.copy(src, mroot)
    smap = os.path.join(kdir, "boot", f"System.map-{kver}")
    _sh(["depmod", "-b", stage, "-F", smap, kver])
    with open(os.path.join(stage, "modules.boot"), "w") as f:
        f.write("\n".join(staged[p] for p in boot) + "\n")
    shutil.copy(os.path.join(HERE, "guest_init.sh"),
                os.path.join(stage, "init"))
    os.chmod(os.path.join(stage, "init"), 0o755)
    out = os.path.join(kernel_dir(kernel), "initramfs.cpio.gz")
    subprocess.run(f"find . | /bin/busybox cpio -o -H newc 2>/dev/null | "
                   f"gzip -6 > {out}", shell=True, cwd=stage, check=True)


def build(kernel=DEFAULT_KERNEL):
    """Fetch and unpack @kernel and build its initramfs (cached)."""
    kd = kernel_dir(kernel)
    os.makedirs(kd, exist_ok=True)
    _drop_old_layout()
    stamp = os.path.join(kd, "ready")
    pkg = kernel_package(kernel)
    if os.path.exists(stamp) and open(stamp).read().strip() == pkg:
        return
    kdir = os.path.join(kd, "kernel")
    kver = _unpack(kernel, pkg, kdir)
    _initramfs(kernel, kdir, kver)
    with open(stamp, "w") as f:
        f.write(pkg + "\n")


def kernel_image(kernel=DEFAULT_KERNEL):
    """@kernel's vmlinuz (built) and its release, e.g. 6.12.48+deb13-amd64."""
    kdir = os.path.join(kernel_dir(kernel), "kernel")
    kver = sorted(os.listdir(os.path.join(kdir, "lib", "modules")))[0]
    return os.path.join(kdir, "boot", f"vmlinuz-{kver}"), kver


def kernel_of(release):
    """The KERNELS entry whose built image is @release (the kernel a guest
    runs, so that a nested guest boots the same one); the default if none."""
    for k in KERNELS:
        try:
            if kernel_image(k)[1] == release:
                return k
        except OSError:
            pass
    return DEFAULT_KERNEL


class Result:
    def __init__(self, rc, console, seconds):
        self.rc = rc            # the command's exit status, None if unknown
        self.console = console
        self.seconds = seconds


def qemu_cmd(command, mem="2G", smp=2, memfd=False, machine="q35",
             qemu_args=(), append="", kernel=DEFAULT_KERNEL, cpu="max"):
    """The QEMU command line that boots a @kernel guest on a @cpu model and
    runs @command."""
    vmlinuz, _ = kernel_image(kernel)
    enc = base64.b64encode(command.encode()).decode()
    line = (f"console=ttyS0 loglevel=3 quiet panic=-1 {append} "
            f"vmcmd={enc}")
    if len(line) > 3500:
        raise GuestError("command too long for the kernel command line: "
                         "put it in a script under /tmp (the guest sees "
                         "the host's /tmp at the same path)")
    m = machine + (",memory-backend=mem" if memfd else "")
    cmd = ["qemu-system-x86_64", "-accel", "tcg,thread=multi",
           "-machine", m, "-cpu", cpu, "-smp", str(smp), "-m", mem,
           "-nodefaults", "-display", "none", "-serial", "stdio",
           "-monitor", "none", "-no-reboot",
           "-kernel", vmlinuz,
           "-initrd", os.path.join(kernel_dir(kernel), "initramfs.cpio.gz"),
           "-append", line,
           "-virtfs", "local,path=/,mount_tag=hostroot,"
           "security_model=none,readonly=on,multidevs=remap"]
    if memfd:
        cmd += ["-object", f"memory-backend-memfd,id=mem,size={mem},"
                "share=on"]
    return cmd + list(qemu_args)


def run(command, timeout=300, kernel=DEFAULT_KERNEL, **kw):
    """Boot a @kernel guest, run @command in it; never outlives @timeout."""
    build(kernel)
    t0 = time.monotonic()
    p = subprocess.Popen(qemu_cmd(command, kernel=kernel, **kw),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
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
