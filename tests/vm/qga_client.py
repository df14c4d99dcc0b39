#!/usr/bin/python3
"""A host's side of qemu-ga: connect to the guest agent over the kernel's
AF_VSOCK (in a guest playing the host), send guest-ping, guest-info and
guest-get-time, check each answer's shape and print one line per
command; exits 1 with the reason on a bad answer. check() takes any
connected stream socket (test_agent_bridge.py gives it one through
vsock-bridge's Unix socket)."""
import argparse
import json
import socket
import sys
import time

# How far the agent's clock may be from ours: both run on one machine.
CLOCK_SLACK_NS = 60 * 10**9


class QgaError(Exception):
    pass


def connect_vsock(addr, timeout):
    cid, sep, port = addr.partition(":")
    if not (sep and cid.isdigit() and port.isdigit()):
        raise QgaError(f"bad address '{addr}': want CID:PORT")
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((int(cid), int(port)))
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
                raise QgaError(f"agent closed before answering "
                               f"{command} (got {self.buf!r})")
            self.buf += b
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            answer = json.loads(line)
        except ValueError as e:
            raise QgaError(f"{command}: not JSON ({e}): {line!r}")
        if not isinstance(answer, dict) or "return" not in answer:
            raise QgaError(f"{command}: no 'return' in {answer!r}")
        return answer["return"]


def check(sock, out=sys.stdout):
    """The three commands over @sock; a line each on @out."""
    agent = Agent(sock)
    ret = agent.call("guest-ping")
    if ret != {}:
        raise QgaError(f"guest-ping returned {ret!r}, not {{}}")
    print("guest-ping {}", file=out, flush=True)
    ret = agent.call("guest-info")
    version = ret.get("version") if isinstance(ret, dict) else None
    cmds = ret.get("supported_commands") if isinstance(ret, dict) else None
    if not isinstance(version, str) or not version[:1].isdigit():
        raise QgaError(f"guest-info: bad version in {ret!r}")
    if not isinstance(cmds, list) or not any(
            isinstance(c, dict) and c.get("name") == "guest-get-time"
            for c in cmds):
        raise QgaError("guest-info: guest-get-time not among "
                       "supported_commands")
    print(f"guest-info version {version} commands {len(cmds)}", file=out,
          flush=True)
    ret = agent.call("guest-get-time")
    now = time.time_ns()
    if type(ret) is not int or abs(ret - now) > CLOCK_SLACK_NS:
        raise QgaError(f"guest-get-time {ret!r} is not an integer "
                       f"within {CLOCK_SLACK_NS} ns of {now}")
    print(f"guest-get-time {ret} off {(ret - now) / 1e9:+.3f} s",
          file=out, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vsock", metavar="CID:PORT", required=True,
                    help="the agent's address")
    ap.add_argument("--timeout", type=float, default=30,
                    help="seconds to wait for each answer (default 30)")
    a = ap.parse_args()
    try:
        sock = connect_vsock(a.vsock, a.timeout)
        check(sock)
    except (QgaError, OSError) as e:
        print(f"qga_client: {e}", file=sys.stderr)
        return 1
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
