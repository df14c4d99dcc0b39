/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-bridge: the host side of virtio-vsock. A lib/vsock_vhost device
 * back-end per guest, whose port carries a vsock stack acting as CID 2,
 * bridged to host Unix sockets the way Firecracker's hybrid vsock does
 * it. Guests on a common group reach each other through the back-ends'
 * switch. The main lcore runs everything here (stacks, Unix sockets);
 * rte_vhost's control thread runs only inside the library.
 */
#ifndef VSOCK_BRIDGE_H
#define VSOCK_BRIDGE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_log.h>

#include <vsock_capture.h>
#include <vsock_stack.h>

#include "vm_conf.h"

extern int br_logtype;
#define BR_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_ ## level, br_logtype, "vsock-bridge: " fmt "\n", \
		## __VA_ARGS__)

#define BR_MAX_GUESTS 64
/* sizeof(sockaddr_un.sun_path), including the terminating NUL. */
#define BR_PATH_MAX BR_VM_PATH_MAX
/* "_4294967294" after the --uds path names a guest port's socket. */
#define BR_PORT_SUFFIX_MAX BR_VM_PORT_SUFFIX_MAX
#define BR_MBUF_ROOM 16384
#define BR_DEFAULT_MBUFS 8191

/* The command line (opts.c). */
struct br_opts {
	struct br_vm_conf vms[BR_MAX_GUESTS];
	unsigned int nb_vms;
	bool client;
	bool stats;
	bool echo;
	uint32_t echo_port;
	bool perf;
	uint32_t perf_port;
	uint32_t nb_mbufs;
	uint32_t max_conns;	/* per guest's stack; 0: the stack's default */
	const char *pcap;	/* --pcap FILE */
	struct vsock_capture_conf pcap_conf;	/* --pcap-snaplen */
};

/* 0; 1 after --help (printed); a negative errno for a bad option. */
int br_parse_opts(int argc, char **argv, struct br_opts *o);

/* Counters of the Unix side (uds.c). */
struct br_uds_stats {
	uint64_t h2g_accepted;	/* host connections to the --uds socket */
	uint64_t h2g_connected;	/* ... that the guest accepted */
	uint64_t h2g_bad_line;	/* CONNECT line malformed, closed */
	uint64_t h2g_refused;	/* guest refused or timed out */
	uint64_t g2h_accepted;	/* guest connections bridged to UDS_<port> */
	uint64_t g2h_refused;	/* nobody listening on UDS_<port> */
	uint64_t g2h_backlog;	/* UDS_<port>'s backlog was full */
	uint64_t g2h_unclaimed;	/* socket connected but the stack refused */
	uint64_t conn_limit;	/* refused: too many bridged connections */
	uint64_t bytes_h2g;	/* read from Unix sockets, sent to the guest */
	uint64_t bytes_g2h;	/* from the guest, written to Unix sockets */
	uint64_t nombuf;	/* no mbuf to read into: retried */
	uint64_t send_stalls;	/* vsock_send refused: reading paused */
	uint64_t lost_bytes;	/* dropped: the other side was gone */
	uint64_t sock_errors;	/* Unix socket read/write errors */
	uint64_t resets;	/* vsock connections reset under us */
	uint64_t open;		/* bridged connections now */
};

/* Counters of the echo service (echo.c). */
struct br_echo_stats {
	uint64_t conns;
	uint64_t bytes;
	uint64_t msgs;		/* SEQPACKET messages echoed */
	uint64_t errors;	/* sends refused for good, messages too long */
};

struct br_uds;
struct br_echo;
struct vperf_server;
struct vsock_vhost;

/* One guest: its back-end, CID, Unix socket and stack. */
struct br_guest {
	unsigned int idx;
	const struct br_vm_conf *vm;	/* socket, uds path, CID, groups */
	struct vsock_vhost *vh;
	struct vsock_stack *stack;
	struct br_uds *uds;
	struct br_echo *echo;
	struct vperf_server *perf;	/* --perf-port */
};

/* uds.c: the Unix side. */
struct br_unix;
/* The host side all guests share; NULL with errno set. */
struct br_unix *br_uds_init(struct rte_mempool *pool);
int br_uds_open(struct br_unix *x, struct br_guest *g);
/* Handle ready Unix sockets; returns how many were. */
unsigned int br_uds_poll(struct br_unix *x, int timeout_ms);
/* After each vsock_stack_poll() of @g. */
void br_uds_after_poll(struct br_guest *g);
const struct br_uds_stats *br_uds_stats(const struct br_guest *g);
void br_uds_close(struct br_guest *g);
void br_uds_fini(struct br_unix *x);

/* sock.c: the Unix socket files. */
struct sockaddr_un;
/* @sa for @path; -ENAMETOOLONG when it does not fit. */
int br_sockaddr(struct sockaddr_un *sa, const char *path);
/*
 * A non-blocking socket listening on @path, whose stale file it replaces
 * (vsock_vhost_unlink_stale()); the fd, or a negative errno with nothing
 * left behind.
 */
int br_sock_listen(const char *path, int backlog);

/* echo.c: the test service on CID 2. */
int br_echo_start(struct br_guest *g, uint32_t port);
const struct br_echo_stats *br_echo_stats(const struct br_guest *g);
void br_echo_stop(struct br_guest *g);

#endif /* VSOCK_BRIDGE_H */
