/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-bridge: the host side of virtio-vsock. A vhost-user device
 * back-end on rte_vhost per guest, whose rings are the port of a vsock
 * stack acting as CID 2, bridged to host Unix sockets the way Firecracker's
 * hybrid vsock does it.
 *
 * Threads: rte_vhost's control thread runs the vhost-user callbacks
 * (vhost_dev.c); the main lcore runs everything else (rings, stacks, Unix
 * sockets). The two meet only in struct br_handover, through single-writer
 * atomics: the data path never touches rings it was not handed, and hands
 * them back before the control thread changes or unmaps them.
 *
 * This header must not pull in rte_vhost.h: vhost_ring.c includes the
 * driver's ring definitions, which clash with <linux/virtio_ring.h>.
 */
#ifndef VSOCK_BRIDGE_H
#define VSOCK_BRIDGE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_log.h>

#include <vsock_stack.h>

extern int br_logtype;
#define BR_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_ ## level, br_logtype, "vsock-bridge: " fmt "\n", \
		## __VA_ARGS__)

#define BR_MAX_GUESTS 4
/* sizeof(sockaddr_un.sun_path), including the terminating NUL. */
#define BR_PATH_MAX 108
/* "_4294967294" after the --uds path names a guest port's socket. */
#define BR_PORT_SUFFIX_MAX 11

/* The two rings the back-end runs; the event queue stays with QEMU. */
#define BR_VQ_RX 0	/* the guest's rx: host -> guest */
#define BR_VQ_TX 1	/* the guest's tx: guest -> host */
#define BR_NB_VQ 2

/*
 * A guest's rings, handed from rte_vhost's control thread to the data
 * path. The control thread fills the fields, then stores a new generation
 * in @want; the data path takes the rings by storing it in @have. To take
 * them back the control thread stores 0 in @want and waits until @have is
 * no longer its generation; the data path first writes the ring indexes
 * it reached into @last_avail/@last_used.
 */
struct br_handover {
	int vid;
	void *mem;		/* struct rte_vhost_memory *, for xlate */
	void *desc[BR_NB_VQ];
	void *avail[BR_NB_VQ];
	void *used[BR_NB_VQ];
	uint16_t size[BR_NB_VQ];
	uint16_t last_avail[BR_NB_VQ];
	uint16_t last_used[BR_NB_VQ];
	uint32_t port_features;	/* VSOCK_PORT_F_* negotiated */
	uint64_t features;	/* virtio features negotiated: ring layout */
	uint32_t want;		/* written by the control thread only */
	uint32_t have;		/* written by the data path only */
	/* Device session (one per new_device), 0 while there is none. */
	uint32_t epoch;		/* written by the control thread only */
} __rte_cache_aligned;

/* Counters of the device side (vhost_ring.c): every drop has its own. */
struct br_dev_stats {
	uint64_t rx_pkts;	/* packets taken from the guest's tx ring */
	uint64_t rx_bytes;	/* their payload bytes */
	uint64_t tx_pkts;	/* stack packets delivered to the guest */
	uint64_t tx_bytes;	/* their payload bytes */
	uint64_t tx_pieces;	/* rx buffers filled (more when split) */
	uint64_t tx_partial;	/* rx buffers ran out inside a packet */
	uint64_t bad_chain;	/* bad descriptor index, loop, address */
	uint64_t bad_dir;	/* buffer of the wrong direction */
	uint64_t bad_size;	/* shorter than a header, or over 64 KiB */
	uint64_t bad_len;	/* header len disagrees with the bytes */
	uint64_t bad_src_cid;	/* not the guest's own CID */
	uint64_t bad_rx_buf;	/* rx buffer too small for a header and data */
	uint64_t bad_avail;	/* avail index beyond the ring: ignored */
	uint64_t rx_nombuf;	/* pool empty: guest packets left for later */
	uint64_t tx_bad_pkt;	/* stack packet shorter than a header */
	uint64_t tx_lost;	/* part-delivered packet of a vanished guest */
	uint64_t calls;		/* interrupts sent to the guest */
	uint64_t call_retries;	/* interrupt deferred: rte_vhost was busy */
	uint64_t resets;	/* TRANSPORT_RESET given to the stack */
};

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

struct br_port;
struct br_uds;
struct br_echo;
struct vperf_server;

/* One guest: its vhost-user socket, CID, Unix socket and stack. */
struct br_guest {
	unsigned int idx;
	const char *sock_path;
	const char *uds_path;
	uint64_t cid;

	/* rte_vhost's control thread only. */
	int vid;		/* -1 while no front-end is connected */
	bool started;		/* between new_device and destroy_device */
	bool ring_ok[BR_NB_VQ];	/* rings enabled and ready */
	bool published;		/* rings offered to the data path */
	uint32_t gen;		/* last generation published */
	uint32_t epoch;		/* last device session */

	struct br_handover ho;

	/* The main lcore only. */
	struct vsock_stack *stack;
	struct br_port *port;
	struct br_uds *uds;
	struct br_echo *echo;
	struct vperf_server *perf;	/* --perf-port */
};

/* vhost_dev.c: rte_vhost glue, on the control thread. */
int br_vhost_start(struct br_guest *g, bool client);
void br_vhost_stop(struct br_guest *g);
/* Guest address to pointer for vq_dev_walk(); @mem is ho.mem. */
void *br_vhost_xlate(void *mem, uint64_t addr, uint32_t len);
/* Interrupt the guest; -EAGAIN when rte_vhost holds the ring (retry). */
int br_vhost_call(int vid, uint16_t queue);

/* vhost_ring.c: the rings and the vsock_port, on the main lcore. */
struct br_port *br_port_create(struct br_guest *g, struct rte_mempool *pool);
struct vsock_port *br_port_vsock(struct br_port *p);
bool br_port_running(const struct br_port *p);
const struct br_dev_stats *br_port_stats(const struct br_port *p);
/* Give the rings back for good (before unregistering the driver). */
void br_port_retire(struct br_port *p);
void br_port_free(struct br_port *p);

/* uds.c: the Unix side. */
int br_uds_init(struct rte_mempool *pool);
int br_uds_open(struct br_guest *g);
/* Handle ready Unix sockets; returns how many were. */
unsigned int br_uds_poll(int timeout_ms);
/* After each vsock_stack_poll() of @g. */
void br_uds_after_poll(struct br_guest *g);
const struct br_uds_stats *br_uds_stats(const struct br_guest *g);
void br_uds_close(struct br_guest *g);
void br_uds_fini(void);

/* main.c: socket files. */
struct sockaddr_un;
int br_sockaddr(struct sockaddr_un *sa, const char *path);
/* Remove a socket file nobody listens on; -EADDRINUSE if someone does. */
int br_unlink_stale(const char *path);

/* echo.c: the test service on CID 2. */
int br_echo_start(struct br_guest *g, uint32_t port);
const struct br_echo_stats *br_echo_stats(const struct br_guest *g);
void br_echo_stop(struct br_guest *g);

#endif /* VSOCK_BRIDGE_H */
