#!/usr/bin/python3
"""A host's side of qemu-ga: connect to the guest agent, send guest-ping,
guest-info and guest-get-time, check each answer's shape and print one
line per command. It reaches the agent over the kernel's AF_VSOCK
(--vsock CID:PORT, in a guest playing the host) or through a
Firecracker-style Unix socket (--uds PATH:PORT, vsock-bridge's
"CONNECT <port>"), never both. Exits 1 with the reason on a bad answer."""
import argparse
import json
import socket
import sys
import time

# How far the agent's clock may be from ours: both run on one machine.
CLOCK_SLACK_NS = 60 * 10**9


def parse_addr(text, what):
    head, sep, port = text.rpartition(":")
    if not sep or not head or not port.isdigit():
        sys.exit(f"qga_client: bad address '{text}': want "
                 f"{what.upper()}:PORT")
    return head, int(port)


def connect_vsock(addr, timeout):
    cid, port = parse_addr(addr, "cid")
    if not cid.isdigit():
        sys.exit(f"qga_client: bad cid '{cid}' in '{addr}'")
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((int(cid), port))
    return s


def connect_uds(addr, timeout):
    """vsock-bridge's host->guest protocol: CONNECT <port>, then OK."""
    path, port = parse_addr(addr, "path")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(b"CONNECT %d\n" % port)
    line = b""
    while not line.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            sys.exit(f"qga_client: {path} closed after CONNECT {port} "
                     f"(got {line!r})")
        line += c
    if not line.startswith(b"OK "):
        sys.exit(f"qga_client: {path} answered {line!r} to CONNECT {port}")
    return s


class Agent:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def call(self, command):
        self.sock.sendall(json.dumps({"execute": command}).encode() + b"\n")
        while b"\n" not in self.buf:
            b = self.sock.recv(65536)
            if not b:
                sys.exit(f"qga_client: agent closed before answering "
                         f"{command} (got {self.buf!r})")
            self.buf += b
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            answer = json.loads(line)
        except ValueError as e:
            sys.exit(f"qga_client: {command}: not JSON ({e}): {line!r}")
        if not isinstance(answer, dict) or "return" not in answer:
            sys.exit(f"qga_client: {command}: no 'return' in {answer!r}")
        return answer["return"]


def check(agent):
    ret = agent.call("guest-ping")
    if ret != {}:
        sys.exit(f"qga_client: guest-ping returned {ret!r}, not {{}}")
    print("guest-ping {}", flush=True)
    ret = agent.call("guest-info")
    version = ret.get("version") if isinstance(ret, dict) else None
    cmds = ret.get("supported_commands") if isinstance(ret, dict) else None
    if not isinstance(version, str) or not version[:1].isdigit():
        sys.exit(f"qga_client: guest-info: bad version in {ret!r}")
    if not isinstance(cmds, list) or not any(
            isinstance(c, dict) and c.get("name") == "guest-get-time"
            for c in cmds):
        sys.exit("qga_client: guest-info: guest-get-time not among "
                 "supported_commands")
    print(f"guest-info version {version} commands {len(cmds)}", flush=True)
    ret = agent.call("guest-get-time")
    now = time.time_ns()
    if type(ret) is not int or abs(ret - now) > CLOCK_SLACK_NS:
        sys.exit(f"qga_client: guest-get-time {ret!r} is not an integer "
                 f"within {CLOCK_SLACK_NS} ns of {now}")
    print(f"guest-get-time {ret} off {(ret - now) / 1e9:+.3f} s",
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    to = ap.add_mutually_exclusive_group(required=True)
    to.add_argument("--vsock", metavar="CID:PORT",
                    help="the agent over the kernel's AF_VSOCK")
    to.add_argument("--uds", metavar="PATH:PORT",
                    help="the agent through a vsock-bridge Unix socket")
    ap.add_argument("--timeout", type=float, default=30,
                    help="seconds to wait for each answer (default 30)")
    a = ap.parse_args()
    if a.vsock:
        sock = connect_vsock(a.vsock, a.timeout)
    else:
        sock = connect_uds(a.uds, a.timeout)
    check(Agent(sock))
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
