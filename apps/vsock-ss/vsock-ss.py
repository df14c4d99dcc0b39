#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""vsock-ss: list the vsock connections of a running dpdk-vsock process,
as 'ss --vsock' does for the kernel's.

It asks the process's DPDK telemetry socket (protocol v2: a SOCK_SEQPACKET
Unix socket, one command per message, one JSON reply per message) for
/vsock/stacks, /vsock/conns, /vsock/listeners and /vsock/stats. The
process's poll loop answers; a stack that does not poll is reported as
such. Only the Python standard library is needed.

With -p it also asks vsockd's /vsockd/sockets which application owns each
socket (vsockd serves AF_VSOCK sockets to other processes from its stack)
and shows it the way 'ss -p' does.
"""
import argparse
import json
import os
import socket
import sys

SOCKET_NAME = "dpdk_telemetry.v2"
NETID = {"stream": "v_str", "seqpacket": "v_seq"}
STATE = {"connecting": "SYN-SENT", "established": "ESTAB",
         "closing": "CLOSING"}
VMADDR_CID_ANY = 0xFFFFFFFF
VMADDR_PORT_ANY = 0xFFFFFFFF


def runtime_dir(prefix):
    """Where EAL puts a process's runtime files (as EAL and
    dpdk-telemetry.py decide it)."""
    run = os.environ.get("RUNTIME_DIRECTORY")
    if not run:
        run = "/var/run" if os.getuid() == 0 else \
            os.environ.get("XDG_RUNTIME_DIR", "/tmp")
    return os.path.join(run, "dpdk", prefix)


class Telemetry:
    """One connection to a DPDK telemetry v2 socket."""

    def __init__(self, path, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        hello = json.loads(self.sock.recv(1024).decode())
        self.max_len = int(hello.get("max_output_len", 16384))
        self.pid = hello.get("pid")

    def query(self, cmd):
        """Send one command; return the value of its reply (or None when
        the process does not know the command)."""
        self.sock.send(cmd.encode())
        reply = json.loads(self.sock.recv(self.max_len).decode())
        # The reply is keyed by the command without its parameters.
        return reply.get(cmd.split(",")[0])

    def table(self, cmd, stack):
        """Every entry of a paged table (/vsock/conns, /vsock/listeners):
        page after page until 'next' is 0. Returns (entries, error)."""
        out, offset = [], 0
        while True:
            page = self.query(f"{cmd},{stack},{offset}")
            if page is None:
                return out, f"{cmd}: unknown command (not a dpdk-vsock "\
                    "process?)"
            if "error" in page:
                return out, page["error"]
            for k in sorted((k for k in page if k.isdigit()), key=int):
                out.append(page[k])
            if not page.get("next"):
                return out, None
            offset = page["next"]

    def vsockd_sockets(self):
        """vsockd's /vsockd/sockets, every page. Returns (entries, error);
        entries is None when the process is not vsockd."""
        out, offset = [], 0
        while True:
            page = self.query(f"/vsockd/sockets,{offset}")
            if page is None:
                return None, None
            if "error" in page:
                return out, page["error"]
            for k in sorted((k for k in page if k.isdigit()), key=int):
                out.append(page[k])
            if not page.get("next"):
                return out, None
            offset = page["next"]

    def close(self):
        self.sock.close()


def owners(socks):
    """Index vsockd's sockets: connections by both addresses, listeners
    by port (a listener takes every CID, as /vsock/listeners says)."""
    conns, listeners = {}, {}
    for s in socks or []:
        user = f'("{s["comm"]}",pid={s["pid"]},slot={s["slot"]})'
        if s["state"] == "listen":
            listeners.setdefault(s["local_port"], []).append(user)
        elif s["remote_port"] or s["remote_cid"]:
            key = (s["local_cid"], s["local_port"], s["remote_cid"],
                   s["remote_port"])
            conns.setdefault(key, []).append(user)
    return conns, listeners


def users(found):
    return "users:(" + ",".join(found) + ")" if found else ""


def addr(cid, port):
    c = "*" if cid == VMADDR_CID_ANY else str(cid)
    p = "*" if port == VMADDR_PORT_ANY else str(port)
    return f"{c}:{p}"


def conn_row(c):
    state = STATE.get(c["state"], c["state"].upper())
    return {
        "netid": NETID.get(c["type"], c["type"]),
        "state": state,
        "recv_q": c["rx_queued"],
        "send_q": c["tx_queued"],
        "local": addr(c["local_cid"], c["local_port"]),
        "peer": addr(c["remote_cid"], c["remote_port"]),
    }


def listener_row(li):
    # A listener takes any CID of the stack, as Linux's shows '*'.
    return {
        "netid": NETID.get(li["type"], li["type"]),
        "state": "LISTEN",
        "recv_q": 0,
        "send_q": 0,
        "local": addr(VMADDR_CID_ANY, li["local_port"]),
        "peer": "*:*",
    }


def extended(c):
    """-e: credit both ways, as the stack keeps it."""
    return (f"credit:{c['tx_credit']} buf:{c['buf_alloc']} "
            f"peer_buf:{c['peer_buf_alloc']} fwd_cnt:{c['fwd_cnt']} "
            f"peer_fwd_cnt:{c['peer_fwd_cnt']} port:{c['port']}")


def info(c):
    """-i: bytes, packets in flight, shutdowns."""
    s = (f"bytes_tx:{c['bytes_tx']} bytes_rx:{c['bytes_rx']} "
         f"inflight:{c['pkts_in_flight']}")
    shut = {1: "rcv", 2: "send", 3: "both"}
    if c.get("shutdown"):
        s += f" shutdown:{shut.get(c['shutdown'], c['shutdown'])}"
    if c.get("peer_shutdown"):
        s += f" peer_shutdown:" \
            f"{shut.get(c['peer_shutdown'], c['peer_shutdown'])}"
    if c.get("closed"):
        s += " closed"
    return s


def print_table(rows, several, header=True):
    cols = [("netid", "Netid", "<"), ("state", "State", "<"),
            ("recv_q", "Recv-Q", ">"), ("send_q", "Send-Q", ">"),
            ("local", "Local Address:Port", ">"),
            ("peer", "Peer Address:Port", "<")]
    if several:
        cols.insert(0, ("stack", "Stack", "<"))
    if any("process" in r for r in rows):
        cols.append(("process", "Process", "<"))
    width = {k: max([len(h)] + [len(str(r[k])) for r in rows])
             for k, h, _ in cols}
    if header:
        print(" ".join(f"{h:{a}{width[k]}}" for k, h, a in cols).rstrip())
    for r in rows:
        line = [f"{str(r[k]):{a}{width[k]}}" for k, _, a in cols]
        text = " ".join(line).rstrip()
        if r.get("extra"):
            text += "\n\t " + r["extra"]
        print(text)


def summary(stacks, stats):
    for st in stacks:
        s = stats.get(st["name"], {})
        if "error" in s:
            print(f"{st['name']}: {s['error']}")
            continue
        conns = st["conns"]
        by = {}
        for c in conns:
            by[c["state"]] = by.get(c["state"], 0) + 1
        states = ", ".join(f"{STATE.get(k, k)} {v}"
                           for k, v in sorted(by.items()))
        print(f"Stack {st['name']} (cid {s.get('local_cid', '?')}, "
              f"lcore {st['lcore']}, {st['ports']} port(s)): "
              f"{len(conns)} connections ({states or 'none'}), "
              f"{len(st['listeners'])} listeners")
        if not s:
            continue
        drops = sum(v for k, v in s.items() if k.startswith("drop_"))
        print(f"  rx {s['rx_pkts']} pkts {s['rx_bytes']} bytes, "
              f"tx {s['tx_pkts']} pkts {s['tx_bytes']} bytes")
        print(f"  rst tx {s['rst_tx']} rx {s['rst_rx']}, refused "
              f"{s['conns_refused']}, dropped {drops}, credit stalls "
              f"{s['credit_stalls']}, credit updates tx "
              f"{s['credit_updates_tx']}")


def main():
    ap = argparse.ArgumentParser(
        prog="vsock-ss",
        description="List the vsock connections of a running dpdk-vsock "
        "process through its DPDK telemetry socket, like 'ss --vsock'.",
        epilog="The process is found by its EAL --file-prefix (default "
        "'rte'); run each app with its own --file-prefix so that their "
        "sockets do not collide.")
    ap.add_argument("--socket", metavar="PATH",
                    help="telemetry socket (default: the runtime directory "
                    "of --file-prefix, /var/run/dpdk/<prefix>/"
                    + SOCKET_NAME + " for root)")
    ap.add_argument("-f", "--file-prefix", default="rte", metavar="P",
                    help="EAL --file-prefix of the process (default rte)")
    ap.add_argument("--instance", type=int, default=0, metavar="N",
                    help="telemetry instance, when several processes "
                    "share a prefix (socket " + SOCKET_NAME + ":N)")
    ap.add_argument("--stack", metavar="NAME",
                    help="only this stack (name or index; default: all)")
    ap.add_argument("-l", "--listening", action="store_true",
                    help="display only listeners")
    ap.add_argument("-a", "--all", action="store_true",
                    help="display listeners and connections")
    ap.add_argument("-e", "--extended", action="store_true",
                    help="credit: tx credit, buffers, fwd_cnt both ways")
    ap.add_argument("-i", "--info", action="store_true",
                    help="bytes each way, packets in flight, shutdowns")
    ap.add_argument("-s", "--summary", action="store_true",
                    help="summary and counters (/vsock/stats)")
    ap.add_argument("-p", "--processes", action="store_true",
                    help="show the application owning each socket "
                    "(from vsockd's /vsockd/sockets), like 'ss -p'")
    ap.add_argument("-j", "--json", action="store_true",
                    help="everything, as JSON")
    ap.add_argument("-H", "--no-header", action="store_true",
                    help="suppress the header line")
    a = ap.parse_args()

    path = a.socket or os.path.join(runtime_dir(a.file_prefix),
                                    SOCKET_NAME)
    if a.socket is None and a.instance:
        path += f":{a.instance}"
    try:
        t = Telemetry(path)
    except (OSError, ValueError) as e:
        print(f"vsock-ss: cannot talk to {path}: {e} (is the process "
              f"running with --file-prefix {a.file_prefix}, without "
              "--no-telemetry?)", file=sys.stderr)
        return 1
    try:
        stacks = t.query("/vsock/stacks")
        if stacks is None:
            print("vsock-ss: the process has no /vsock/ commands (not "
                  "linked with the vsock stack?)", file=sys.stderr)
            return 1
        chosen = []
        for idx in sorted(stacks, key=int):
            st = dict(stacks[idx], index=int(idx))
            if a.stack is None or a.stack in (st["name"], idx):
                chosen.append(st)
        if not chosen:
            print(f"vsock-ss: no stack {a.stack!r}", file=sys.stderr)
            return 1
        errors, stats = 0, {}
        for st in chosen:
            sel = str(st["index"])
            st["conns"], err = t.table("/vsock/conns", sel)
            if err is None:
                st["listeners"], err = t.table("/vsock/listeners", sel)
            else:
                st["listeners"] = []
            if err is not None:
                print(f"vsock-ss: {st['name']}: {err}", file=sys.stderr)
                errors += 1
            if a.summary or a.json:
                stats[st["name"]] = t.query(f"/vsock/stats,{sel}") or {}
        socks = None
        if a.processes:
            socks, err = t.vsockd_sockets()
            if socks is None:
                print("vsock-ss: -p: the process is not vsockd (no "
                      "/vsockd/sockets); its sockets are its own",
                      file=sys.stderr)
            elif err is not None:
                print(f"vsock-ss: -p: {err}", file=sys.stderr)
                errors += 1
    finally:
        t.close()
    conn_owner, listen_owner = owners(socks)

    def conn_users(c):
        return conn_owner.get((c["local_cid"], c["local_port"],
                               c["remote_cid"], c["remote_port"]), [])

    if a.json:
        for st in chosen:
            st["stats"] = stats.get(st["name"], {})
            if a.processes:
                for c in st["conns"]:
                    c["users"] = conn_users(c)
                for li in st["listeners"]:
                    li["users"] = listen_owner.get(li["local_port"], [])
        json.dump({"pid": t.pid, "stacks": chosen}, sys.stdout, indent=1)
        print()
        return 1 if errors else 0
    if a.summary:
        summary(chosen, stats)
        return 1 if errors else 0
    rows = []
    for st in chosen:
        if a.listening or a.all:
            for li in st["listeners"]:
                r = dict(listener_row(li), stack=st["name"])
                if a.processes:
                    r["process"] = users(
                        listen_owner.get(li["local_port"], []))
                rows.append(r)
        if not a.listening:
            for c in sorted(st["conns"], key=lambda c: (
                    c["local_cid"], c["local_port"], c["remote_cid"],
                    c["remote_port"])):
                r = dict(conn_row(c), stack=st["name"])
                if a.processes:
                    r["process"] = users(conn_users(c))
                extra = []
                if a.extended:
                    extra.append(extended(c))
                if a.info:
                    extra.append(info(c))
                r["extra"] = " ".join(extra)
                rows.append(r)
    print_table(rows, len(chosen) > 1, not a.no_header)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
