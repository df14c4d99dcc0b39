"""Library packaging: meson install of the build under test into a
temporary DESTDIR, then examples/hello_vsock built out of tree against the
installed libdpdk-vsock.pc (shared and static) and run."""
import os
import shutil
import subprocess

import pytest

from conftest import BUILD, EAL, ROOT, build_option

EXAMPLE = os.path.join(ROOT, "examples", "hello_vsock")
PUBLIC_HEADERS = ["vsock_stack.h", "vsock_port.h", "vsock_hdr.h",
                  "virtio_vsock_dev.h", "vsock_vhost.h", "vsock_capture.h",
                  "libvsock.h"]
LIBS = ["vsock_stack", "virtio_vsock", "vsock_vhost", "vsock_capture"]
# The apps, installed in bindir (and packaged in dpdk-vsock).
TOOLS = ["vsockd", "vsock-testpmd", "vsock-perf", "vsock-bridge", "vsock-ss"]
# What hello_vsock links (it has no use for the back-end).
EXAMPLE_LIBS = ["vsock_stack", "virtio_vsock"]
# Headers that must stay private.
PRIVATE_HEADERS = ["vsock_private.h", "vsock_credit.h", "virtqueue.h",
                   "virtio_vsock_transport.h", "virtio_vsock_internal.h",
                   "virtio_vsock_loopback.h", "virtqueue_common.h",
                   "virtqueue_split.h", "virtqueue_packed.h",
                   "vq_dev.h", "vq_dev_pkt.h",
                   "virtq.h", "virtio_vsock_defs.h", "vhost_user_defs.h",
                   "vsock_vhost_private.h", "dpdk_vsock_config.h",
                   "vsl_proto.h", "vsl_priv.h", "vsl_internal.h"]


def run(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=kw.pop("timeout", 300), **kw)
    assert p.returncode == 0, \
        f"{cmd} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """meson install into a DESTDIR; returns (destdir, prefix dir inside
    it, libdir inside it, a pkg-config dir with the prefix adjusted)."""
    dest = str(tmp_path_factory.mktemp("destdir"))
    # --no-rebuild: install what make built, never build from a test.
    run(["meson", "install", "-C", BUILD, "--destdir", dest,
         "--no-rebuild", "--quiet"])
    prefix = build_option("prefix")
    libdir = build_option("libdir")
    root = dest + prefix
    lib = os.path.join(root, libdir)
    # The .pc names the real prefix; point it at the DESTDIR copy.
    # (pkg-config --define-variable=prefix would move libdpdk too, and
    # --define-prefix does not know a multiarch libdir.)
    pc_src = os.path.join(lib, "pkgconfig", "libdpdk-vsock.pc")
    pc_dir = str(tmp_path_factory.mktemp("pkgconfig"))
    with open(pc_src) as f:
        lines = f.read().splitlines()
    assert f"prefix={prefix}" in lines, f"{pc_src}:\n" + "\n".join(lines)
    with open(os.path.join(pc_dir, "libdpdk-vsock.pc"), "w") as f:
        f.write("\n".join(f"prefix={root}" if l.startswith("prefix=")
                          else l for l in lines) + "\n")
    return dest, root, lib, pc_dir


def test_installed_files(installed):
    dest, root, lib, _ = installed
    inc = os.path.join(root, "include", "dpdk-vsock")
    assert sorted(os.listdir(inc)) == sorted(PUBLIC_HEADERS)
    files = []
    for d, _, names in os.walk(dest):
        files += names
    for h in PRIVATE_HEADERS:
        assert h not in files, f"private header {h} installed"
    for name in LIBS:
        a = os.path.join(lib, f"lib{name}.a")
        so = os.path.join(lib, f"lib{name}.so")
        assert os.path.isfile(a), a
        assert os.path.islink(so), so
        assert os.path.isfile(os.path.realpath(so)), so
    # The socket layer: libvsock, the preload, vsockd and its unit.
    assert os.path.isfile(os.path.join(lib, "libvsock.a"))
    assert os.path.islink(os.path.join(lib, "libvsock.so"))
    assert os.path.isfile(os.path.join(lib, "dpdk-vsock",
                                       "libvsock-preload.so"))
    for tool in TOOLS:
        assert os.access(os.path.join(root, "bin", tool), os.X_OK), tool
    # The unit runs the vsockd installed beside it, wherever the prefix.
    with open(os.path.join(root, "lib", "systemd", "system",
                           "vsockd.service")) as f:
        unit = f.read()
    assert f"ExecStart={build_option('prefix')}/bin/vsockd " in unit, unit
    with open(os.path.join(lib, "pkgconfig", "libvsock.pc")) as f:
        vpc = f.read()
    # No DPDK behind it: nothing required, only itself and pthreads.
    assert "-lvsock" in vpc and "Requires" not in vpc, vpc
    pc = os.path.join(lib, "pkgconfig", "libdpdk-vsock.pc")
    with open(pc) as f:
        text = f.read()
    assert "Requires: libdpdk" in text
    # Capture, driver and back-end before stack: the order a static link
    # needs; capture writes through libpcap.
    assert "-lvsock_capture -lvirtio_vsock -lvsock_vhost -lvsock_stack" \
        in text
    assert "libpcap" in text
    assert "-I${includedir}/dpdk-vsock" in text
    # Nothing installed outside the prefix.
    for d, _, names in os.walk(dest):
        for n in names:
            assert os.path.join(d, n).startswith(root + os.sep), \
                os.path.join(d, n)


def test_headers_self_contained(installed, tmp_path):
    """Each public header compiles on its own with the .pc's flags."""
    _, _, _, pc_dir = installed
    env = dict(os.environ, PKG_CONFIG_PATH=pc_dir)
    cflags = run(["pkg-config", "--cflags", "libdpdk-vsock"],
                 env=env).stdout.split()
    for h in PUBLIC_HEADERS:
        src = tmp_path / f"inc_{h}.c"
        src.write_text(f"#include <{h}>\n#include <{h}>\n"
                       "int main(void) { return 0; }\n")
        run(["cc", "-Wall", "-Wextra", "-Werror", "-c", str(src), "-o",
             str(tmp_path / f"inc_{h}.o")] + cflags)


def sanitizer_flags():
    """A sanitized build installs sanitized libraries: the example is
    compiled and linked with the same -fsanitize flags."""
    san = build_option("b_sanitize")
    if not san or san == "none":
        return ""
    return f"-fsanitize={san} -fno-omit-frame-pointer"


def build_example(installed, tmp_path, example, link, libs, beside=()):
    """Build @example out of tree (its own Makefile, no meson, no source
    tree includes; only what the .pc gives), @link shared or static (or
    the Makefile's own target), and check which of @libs it loads;
    @beside names sibling directories of examples/ its Makefile uses,
    copied beside it. Returns the program and the environment it runs
    in."""
    _, _, lib, pc_dir = installed
    out = str(tmp_path / "build")
    san = sanitizer_flags()
    env = dict(os.environ, PKG_CONFIG_PATH=pc_dir)
    name = os.path.basename(example)
    src = str(tmp_path / name)
    shutil.copytree(example, src)
    for d in beside:
        shutil.copytree(os.path.join(os.path.dirname(example), d),
                        str(tmp_path / d))
    run(["make", "-C", src, link, f"BUILD={out}",
         f"EXTRA_CFLAGS={san}", f"EXTRA_LDFLAGS={san}"], env=env)
    exe = os.path.join(out, name)
    assert os.access(exe, os.X_OK)
    renv = dict(os.environ)
    if link == "shared":
        renv["LD_LIBRARY_PATH"] = lib
        ldd = run(["ldd", exe], env=renv).stdout
        for n in libs:
            assert os.path.join(lib, f"lib{n}.so") in ldd, ldd
    else:
        ldd = run(["ldd", exe]).stdout
        for n in libs:
            assert f"lib{n}.so" not in ldd, ldd
    return exe, renv


@pytest.mark.parametrize("link", ["shared", "static"])
def test_example_builds_and_runs(installed, tmp_path, link):
    exe, renv = build_example(installed, tmp_path, EXAMPLE, link,
                              EXAMPLE_LIBS)

    p = run([exe, "--help"], env=renv, timeout=60)
    assert "--dev" in p.stdout and "loopback" in p.stdout

    p = run([exe] + EAL, env=renv, timeout=120)
    assert 'hello_vsock: received "hello"' in p.stdout, p.stdout + p.stderr


LIBVSOCK_PROG = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <libvsock.h>

int main(void)
{
	/* No vsockd is needed for these two: what Linux answers. */
	if (vsl_socket(AF_VSOCK, SOCK_DGRAM, 0) != -1 || errno != ENODEV)
		return printf("DGRAM: %s\\n", strerror(errno)), 1;
	if (vsl_socket(AF_VSOCK, SOCK_STREAM, 0) != -1 ||
			errno != EAFNOSUPPORT)
		return printf("no vsockd: %s\\n", strerror(errno)), 1;
	puts("libvsock ok");
	return 0;
}
"""


def test_libvsock_without_dpdk(installed, tmp_path):
    """A program built on the installed libvsock.pc links no DPDK, and
    libvsock answers as Linux does before any daemon is involved."""
    _, _, lib, _ = installed
    pcd = str(tmp_path / "pc")
    os.makedirs(pcd)
    with open(os.path.join(lib, "pkgconfig", "libvsock.pc")) as f:
        lines = f.read().splitlines()
    prefix = build_option("prefix")
    root = lib[:lib.index(prefix) + len(prefix)]
    with open(os.path.join(pcd, "libvsock.pc"), "w") as f:
        f.write("\n".join(f"prefix={root}" if l.startswith("prefix=")
                          else l for l in lines) + "\n")
    env = dict(os.environ, PKG_CONFIG_PATH=pcd)
    flags = run(["pkg-config", "--cflags", "--libs", "libvsock"],
                env=env).stdout.split()
    src = tmp_path / "prog.c"
    src.write_text(LIBVSOCK_PROG)
    exe = str(tmp_path / "prog")
    san = sanitizer_flags().split()
    run(["cc", "-Wall", "-Werror", str(src), "-o", exe] + san + flags)
    renv = dict(os.environ, LD_LIBRARY_PATH=lib,
                VSOCKD_SOCKET=str(tmp_path / "nobody-here.sock"),
                ASAN_OPTIONS="detect_leaks=0")
    ldd = run(["ldd", exe], env=renv).stdout
    assert os.path.join(lib, "libvsock.so") in ldd, ldd
    assert "librte_" not in ldd, ldd
    p = subprocess.run([exe], env=renv, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0 and p.stdout == "libvsock ok\n", \
        p.stdout + p.stderr
    # One line on stderr says why: the path and the reason.
    assert str(tmp_path / "nobody-here.sock") in p.stderr, p.stderr


VHOST_EXAMPLE = os.path.join(ROOT, "examples", "vhost_sink")


@pytest.mark.parametrize("link", ["shared", "static"])
def test_vhost_example_embeds_two_back_ends(installed, tmp_path, link):
    """examples/vhost_sink, built out of tree on the installed
    lib/vsock_vhost: two back-ends in one program, one stack; two
    vsock-testpmd guests send to CID 2 through them at once."""
    from conftest import TESTPMD, Background, wait_for_path
    exe, renv = build_example(installed, tmp_path, VHOST_EXAMPLE, link,
                              ["vsock_vhost"])
    assert "--guest PATH,cid=N" in run([exe, "--help"], env=renv).stdout
    eal = EAL + ["--single-file-segments"]
    socks = {c: str(tmp_path / f"g{c}.sock") for c in (3, 4)}
    sink = Background([exe] + eal + ["--"] + sum(
        (["--guest", f"{p},cid={c}"] for c, p in socks.items()), []) +
        ["--port", "7000"], "vhost_sink", env=renv)
    guests = {}
    try:
        for p in socks.values():
            wait_for_path(p, sink)
        for c, p in socks.items():
            guests[c] = Background([TESTPMD] + eal + [
                "--", "--dev", f"vhost-user:path={p}", "--mode", "source",
                "--peer", "2", "--port", "7000", "--conns", "2",
                "--bytes", str(c << 20), "--size", "1-65536",
                "--duration", "30", "--json"], f"guest{c}")
        sent = {}
        for c, g in guests.items():
            g.proc.wait(120)
            g.stop()
            d = g.json()
            assert d["errors"] == 0, g.err
            assert d["cid"] == c
            sent[c] = d["client"]["bytes_tx"]
            assert sent[c] == 2 * (c << 20)
        assert sink.stop() == 0, sink.err
    finally:
        for g in list(guests.values()) + [sink]:
            if g.alive():
                g.proc.kill()
                g.proc.communicate()
    for c in socks:
        line = [l for l in sink.out.splitlines()
                if l.startswith(f"vhost_sink: cid {c}:")]
        assert line, sink.out
        assert f": {sent[c]} bytes in 2 conns" in line[0], line


DRIVER_SO = os.path.join("drivers", "net", "virtio_vsock",
                         "libvirtio_vsock.so")
VHOST_SO = os.path.join("lib", "vsock_vhost", "libvsock_vhost.so")


def exported_hooks(build):
    """The test hooks libvirtio_vsock.so and libvsock_vhost.so of @build
    export."""
    names = []
    for so in (DRIVER_SO, VHOST_SO):
        p = run(["nm", "-D", "--defined-only", os.path.join(build, so)])
        names += [line.split()[-1] for line in p.stdout.splitlines()]
    return sorted(n for n in names if "inject_event" in n or "fault" in n
                  or "break_rx" in n)


def lib_build(tmp_path, name, options):
    """Configure a build of this tree with @options; build the driver's
    and the vhost back-end's shared libraries only."""
    out = str(tmp_path / name)
    run(["meson", "setup", out, ROOT] + options, timeout=600)
    run(["meson", "compile", "-C", out, "virtio_vsock:shared_library",
         "vsock_vhost:shared_library"], timeout=1200)
    return out


def test_default_build_has_no_test_hooks(tmp_path):
    """What make install installs (the default options) has neither the
    fault injector, virtio_vsock_inject_event() nor
    vsock_vhost_break_rx(); a -Dtest_hooks=true build has them, or this
    test could not fail."""
    assert exported_hooks(lib_build(tmp_path, "default", [])) == []
    hooked = BUILD if build_option("test_hooks") else \
        lib_build(tmp_path, "hooks", ["-Dtest_hooks=true"])
    found = exported_hooks(hooked)
    assert "virtio_vsock_inject_event" in found, found
    assert "vsock_vhost_break_rx" in found, found
    assert any("fault" in n for n in found), found
