#!/usr/bin/env python3
"""select, poll, epoll and selectors waiting on an AF_VSOCK socket, a
pipe and a TCP socket on 127.0.0.1 in one call: each becomes ready
exactly when data arrives on it. Prints "ok METHOD" per method; exits 1
at the first wrong answer."""
import os
import select
import selectors
import socket
import sys
import threading
import time


def vsock_pair():
    l = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    l.bind((socket.VMADDR_CID_ANY, socket.VMADDR_PORT_ANY))
    l.listen()
    c = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    c.connect((1, l.getsockname()[1]))   # VMADDR_CID_LOCAL
    s, _ = l.accept()
    l.close()
    return c, s


def tcp_pair():
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l.bind(("127.0.0.1", 0))
    l.listen()
    c = socket.create_connection(l.getsockname())
    s, _ = l.accept()
    l.close()
    return c, s


vc, vs = vsock_pair()
tc, ts = tcp_pair()
pr, pw = os.pipe()
fds = {"vsock": vs.fileno(), "tcp": ts.fileno(), "pipe": pr}
writers = {"vsock": lambda: vc.send(b"v"), "tcp": lambda: tc.send(b"t"),
           "pipe": lambda: os.write(pw, b"p")}
readers = {"vsock": lambda: vs.recv(16), "tcp": lambda: ts.recv(16),
           "pipe": lambda: os.read(pr, 16)}
names = {v: k for k, v in fds.items()}


def w_select(t):
    r, _, _ = select.select(list(fds.values()), [], [], t)
    return {names[f] for f in r}


def w_poll(t, p=select.poll()):
    if not hasattr(w_poll, "reg"):
        for f in fds.values():
            p.register(f, select.POLLIN)
        w_poll.reg = True
    return {names[f] for f, ev in p.poll(t * 1000) if ev & select.POLLIN}


def w_epoll(t, e=select.epoll()):
    if not hasattr(w_epoll, "reg"):
        for f in fds.values():
            e.register(f, select.EPOLLIN)
        w_epoll.reg = True
    return {names[f] for f, ev in e.poll(t) if ev & select.EPOLLIN}


def w_selectors(t, s=selectors.DefaultSelector()):
    if not hasattr(w_selectors, "reg"):
        for n, f in fds.items():
            s.register(f, selectors.EVENT_READ, n)
        w_selectors.reg = True
    return {k.data for k, _ in s.select(t)}



for meth, wait in (("select", w_select), ("poll", w_poll),
                   ("epoll", w_epoll), ("selectors", w_selectors)):
    def check(want, t, what):
        got = wait(t)
        if got != want:
            print(f"not ok {meth}: {what}: ready {sorted(got)}, want "
                  f"{sorted(want)}", flush=True)
            sys.exit(1)
    check(set(), 0.1, "nothing sent")
    for one in fds:
        writers[one]()
        check({one}, 5, f"{one} written")
        check({one}, 0, f"{one} still unread")
        readers[one]()
        check(set(), 0.05, f"{one} drained")
    for one in fds:
        writers[one]()
    time.sleep(0.1)
    check(set(fds), 5, "all three written")
    for one in fds:
        readers[one]()
    check(set(), 0.05, "all drained")
    # A blocking wait woken by an arrival from another thread.
    for one in fds:
        th = threading.Timer(0.1, writers[one])
        t0 = time.monotonic()
        th.start()
        check({one}, 10, f"wake on {one}")
        dt = time.monotonic() - t0
        th.join()
        if dt < 0.09:
            print(f"not ok {meth}: woke after {dt:.3f} s before {one}")
            sys.exit(1)
        readers[one]()
    print("ok", meth, flush=True)
