"""No circle between the source files of a library, the driver or an app,
but the natural ones: a setup file and its data path calling each other.

Read off the build's object files (nm): file A depends on file B when A
calls a function B defines. Data (log types, ops tables, a daemon's one
state struct) does not count: it is shared state, not a call. Each cycle
left must be one of ALLOWED, with the reason it is natural.
"""
import glob
import os
import re
import subprocess

from conftest import BUILD

# Pairs of files that may call each other, and why that is natural.
ALLOWED = {
    frozenset({"virtio_vsock_dev.c", "virtio_vsock_ctrl.c"}):
        "setup <-> control plane: set-up starts the event queue and hands "
        "poll_event to the stack; recovery lays the rings out again with "
        "set-up's code",
    frozenset({"vsock_conn.c", "vsock_tx.c"}):
        "setup <-> data path: a connection's life and its send queue "
        "(a close flushes the queue; the queue reports a stalled window)",
    frozenset({"vsock_vhost_ctl.c", "vsock_vhost_ring.c"}):
        "setup <-> data path: vhost-user set-up (memory table, call fds) "
        "and the rings that translate through it and kick through them",
    frozenset({"vsockd_sock.c", "vsockd_data.c"}):
        "setup <-> data path: a socket's state machine and its shared-"
        "memory rings, which report resets and finished closes back",
    frozenset({"vsl_sock.c", "vsl_epoll.c"}):
        "a socket and the epoll sets watching it: closing its fd drops it "
        "from them (Linux's eventpoll_release), epoll wakes the socket",
}

# Where the sources are compiled: libraries, the driver, the apps.
SCOPES = ("lib", "drivers", "apps")


def functions(obj):
    """(functions @obj defines, symbols it uses but does not define)."""
    out = subprocess.run(["nm", obj], capture_output=True, text=True,
                         check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) == 2 and f[0] == "U":
            undefined.add(f[1])
        elif len(f) == 3 and f[1] == "T":
            defined.add(f[2])
    return defined, undefined


def targets():
    """{target dir: {source file: object}} for every multi-file target."""
    found = {}
    for scope in SCOPES:
        for d in glob.glob(os.path.join(BUILD, scope, "**", "*.p"),
                           recursive=True):
            objs = glob.glob(os.path.join(d, "*.o"))
            if len(objs) < 2:
                continue
            # A library's shared and static objects are the same sources.
            key = re.sub(r"(\.so\..*|\.a)?\.p$", "", d)
            # Object "dir_file.c.o" of source dir/file.c: "dir_file.c".
            found.setdefault(key, {os.path.basename(o)[:-2]: o
                                   for o in objs})
    return found


def cycles(files):
    """Strongly connected groups of more than one file, by calls."""
    info = {f: functions(o) for f, o in files.items()}
    calls = {a: {b for b, (db, _) in info.items()
                 if b != a and ua & db}
             for a, (_, ua) in info.items()}
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in calls[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(frozenset(group))

    for v in sorted(calls):
        if v not in index:
            visit(v)
    return out


def test_no_cycle_between_files_but_natural_ones():
    found = targets()
    names = {os.path.basename(k) for k in found}
    # The test reads real objects: the big targets must be there.
    for want in ("libvsock_stack", "libvirtio_vsock", "vsockd",
                 "vsock-bridge", "vsock-testpmd"):
        assert want in names, (want, sorted(names))
    bad = []
    for target, files in sorted(found.items()):
        for group in cycles(files):
            if group not in ALLOWED:
                bad.append((os.path.relpath(target, BUILD),
                            sorted(group)))
    assert not bad, "files calling each other in a circle: %s" % bad
