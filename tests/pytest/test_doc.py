"""API documentation: doxygen over the public headers (doc/Doxyfile, what
make doc runs) warns about nothing: every public function, struct, field,
enum value and macro is documented."""
import os
import re
import shutil
import subprocess

from conftest import ROOT

DOXYFILE = os.path.join(ROOT, "doc", "Doxyfile")
PUBLIC_HEADERS = ["lib/vsock_stack/include/vsock_stack.h",
                  "lib/vsock_stack/include/vsock_port.h",
                  "lib/vsock_stack/include/vsock_hdr.h",
                  "drivers/net/virtio_vsock/virtio_vsock_dev.h",
                  "lib/libvsock/include/libvsock.h"]


def doxyfile_inputs():
    with open(DOXYFILE) as f:
        text = f.read().replace("\\\n", " ")
    m = re.search(r"^INPUT\s*=(.*)$", text, re.M)
    assert m, "doc/Doxyfile has no INPUT"
    return m.group(1).split()


def test_doxyfile_covers_public_headers():
    """The headers meson installs are the ones documented."""
    inputs = doxyfile_inputs()
    assert sorted(i for i in inputs if i.endswith(".h")) == \
        sorted(PUBLIC_HEADERS)
    for i in inputs:
        assert os.path.isfile(os.path.join(ROOT, i)), i


def test_doxygen_no_warnings(tmp_path):
    assert shutil.which("doxygen"), \
        "doxygen is missing: scripts/setup.sh installs it"
    conf = open(DOXYFILE).read() + f"\nOUTPUT_DIRECTORY = {tmp_path}\n"
    p = subprocess.run(["doxygen", "-"], input=conf, cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=300)
    out = (p.stdout + p.stderr).strip()
    assert p.returncode == 0 and out == "", \
        f"doxygen ({p.returncode}):\n{out}"
    html = tmp_path / "html"
    assert (html / "index.html").is_file()
    # A page per header: each has an @file block.
    for h in PUBLIC_HEADERS:
        page = os.path.basename(h).replace("_", "__").replace(".h", "_8h.html")
        assert (html / page).is_file(), page
