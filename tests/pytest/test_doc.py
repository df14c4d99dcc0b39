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
                  "lib/vsock_vhost/include/vsock_vhost.h",
                  "lib/vsock_capture/include/vsock_capture.h",
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


def test_readme_figures_are_the_latest_run():
    """README's benchmark table is perf/results/latest.md, word for word
    (perf/bench.py --readme copies it), and both name the commit that
    latest.json says was measured, from a tree without uncommitted
    changes, with a row for every target."""
    import json
    import sys
    sys.path.insert(0, os.path.join(ROOT, "perf"))
    import bench_report as rep
    with open(os.path.join(ROOT, "README.md")) as f:
        block = rep.readme_block(f.read())
    assert block is not None, "README.md lacks the latest.md markers"
    results = os.path.join(ROOT, "perf", "results")
    with open(os.path.join(results, "latest.md")) as f:
        md = f.read()
    assert block == md, "README.md's figures differ from latest.md: " \
        "run perf/bench.py --readme"
    with open(os.path.join(results, "latest.json")) as f:
        latest = json.load(f)
    assert latest["commit"] and re.fullmatch(r"[0-9a-f]{40}",
                                             latest["commit"])
    assert latest["dirty"] is False, "figures from a tree with changes"
    assert latest["mode"] == "full"
    assert f"of commit {latest['commit'][:12]} on " in md.splitlines()[0]
    rows = [r for r in re.findall(r"^\| ([A-Za-z0-9_]+) \|", md, re.M)
            if r != "target"]
    names = [t["name"] for t in latest["targets"]]
    assert rows[:len(names)] == names
    for t in latest["targets"]:
        assert set(t) >= {"name", "ours", "peer", "ratio", "unit", "goal",
                          "met", "msgs_per_second", "ring_pkts_per_second"}
