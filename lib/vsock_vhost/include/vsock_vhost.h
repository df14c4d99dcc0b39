/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * A vhost-user virtio-vsock device back-end on DPDK's rte_vhost: the host
 * side of one guest's vsock device (QEMU's vhost-user-vsock-pci, or any
 * vhost-user front-end such as dpdk-vsock's own driver).
 *
 * vsock_vhost_create() makes an instance for one socket and one guest CID
 * and returns a vsock_port, which any vsock stack attaches to
 * (vsock_stack_attach()): the port's local CID is 2, the host, and its
 * only peer is the guest's CID. The stack's lcore runs the rings through
 * the port's ops; rte_vhost's control thread runs the vhost-user
 * messages. The two meet in a hand-over of single-writer atomics, so the
 * data path takes no lock.
 *
 * There is no global state: a program may hold several instances (one per
 * guest), create and destroy them at any time and in any order, and a
 * front-end may come and go (each new session resets the stack's
 * connections of the port, as a TRANSPORT_RESET does).
 *
 * Instances that share a switch (vsock_vhost_conf::sw) forward packets
 * between their guests, guest to guest, when the two have a group in
 * common (vhost-device-vsock's groups). Instances of one switch must be
 * polled by one lcore.
 *
 * Everything the guest writes is untrusted: descriptor indexes, chain
 * lengths and directions, addresses, the header's len and src_cid. Bad
 * chains are returned unused and counted (struct vsock_vhost_stats).
 */
#ifndef VSOCK_VHOST_H
#define VSOCK_VHOST_H

#include <stdbool.h>
#include <stdint.h>

#include <vsock_port.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rte_mempool;
struct vsock_vhost;
struct vsock_vhost_switch;

/** Connect to the socket as a vhost-user client, reconnecting when the
 *  front-end goes (default: create the socket and listen on it). */
#define VSOCK_VHOST_F_CLIENT (1ULL << 0)

/** Most groups an instance may be in. */
#define VSOCK_VHOST_MAX_GROUPS 16
/** Longest group name, with its NUL. */
#define VSOCK_VHOST_GROUP_LEN 64

/** Options of vsock_vhost_create(). */
struct vsock_vhost_conf {
	/** vhost-user socket path (at most 107 bytes). */
	const char *socket_path;
	/** The guest's CID, reported in its config space (3..0xfffffffe). */
	uint64_t guest_cid;
	/**
	 * Mbufs for packets from the guest. Its data room must hold a
	 * header; a 64 KiB packet may take at most 8 mbufs.
	 */
	struct rte_mempool *pool;
	/** VSOCK_VHOST_F_* flags. */
	uint64_t flags;
	/** Guest-to-guest forwarding among this switch's instances, or NULL. */
	struct vsock_vhost_switch *sw;
	/**
	 * Group names, for the switch: guests forward to each other when they
	 * share one. NULL or empty: the group "default".
	 */
	const char *const *groups;
	/** Entries of groups (at most VSOCK_VHOST_MAX_GROUPS). */
	unsigned int nb_groups;
};

/** Counters of one instance: every drop has its own. */
struct vsock_vhost_stats {
	uint64_t rx_pkts;	/**< packets taken from the guest's tx ring */
	uint64_t rx_bytes;	/**< their payload bytes */
	uint64_t tx_pkts;	/**< packets delivered to the guest */
	uint64_t tx_bytes;	/**< their payload bytes */
	uint64_t tx_pieces;	/**< rx buffers filled (more when split) */
	uint64_t tx_partial;	/**< rx buffers ran out inside a packet */
	uint64_t bad_chain;	/**< bad descriptor index, loop, address */
	uint64_t bad_dir;	/**< buffer of the wrong direction */
	uint64_t bad_size;	/**< shorter than a header, or over 64 KiB */
	uint64_t bad_len;	/**< header len disagrees with the bytes */
	uint64_t bad_src_cid;	/**< not the guest's own CID */
	uint64_t bad_rx_buf;	/**< rx buffer too small for header and data */
	uint64_t bad_avail;	/**< avail index beyond the ring: ignored */
	uint64_t rx_nombuf;	/**< pool empty: guest packets left for later */
	uint64_t tx_bad_pkt;	/**< stack packet shorter than a header */
	uint64_t tx_lost;	/**< part-delivered packet of a vanished guest */
	uint64_t calls;		/**< interrupts sent to the guest */
	uint64_t call_retries;	/**< interrupt deferred: rte_vhost was busy */
	uint64_t resets;	/**< TRANSPORT_RESET given to the stack */
	uint64_t fwd_pkts;	/**< packets forwarded to a sibling guest */
	uint64_t fwd_rst;	/**< RSTs for a CID no sibling reaches */
	uint64_t fwd_wait;	/**< bursts held: a sibling's queue was full */
};

/**
 * Create an instance: register @p conf->socket_path with rte_vhost and
 * start serving it. A stale socket file nobody listens on is replaced.
 *
 * @param conf
 *   Options; the strings are copied.
 * @param out
 *   Receives the instance.
 * @return 0; -EINVAL for a bad CID, pool, path or group; -EEXIST when
 *   another instance has the path or (on one switch) the CID;
 *   -EADDRINUSE when another process listens on the path; -ENOMEM;
 *   -EIO when rte_vhost refuses the socket.
 */
int vsock_vhost_create(const struct vsock_vhost_conf *conf,
		struct vsock_vhost **out);

/** The port to attach to a stack; valid until vsock_vhost_destroy(). */
struct vsock_port *vsock_vhost_port(struct vsock_vhost *vh);

/** The guest's CID. */
uint64_t vsock_vhost_guest_cid(const struct vsock_vhost *vh);

/** The vhost-user socket path. */
const char *vsock_vhost_socket_path(const struct vsock_vhost *vh);

/** Is a front-end's device running the rings now (on the polling lcore)? */
bool vsock_vhost_running(const struct vsock_vhost *vh);

/** Copy the counters (on the polling lcore). */
void vsock_vhost_stats_get(const struct vsock_vhost *vh,
		struct vsock_vhost_stats *st);

#ifdef VSOCK_VHOST_TEST_HOOKS
/**
 * Break the guest's rx ring once, as a hostile device would: after
 * @p after more rx buffers filled, the next one is given back with a
 * used id out of range; the rest of the traffic goes through untouched.
 * A front-end that resets the device gets a well-behaved one again.
 *
 * A test hook: it exists only in a library built with -Dtest_hooks=true.
 * Call it on the lcore that polls the port, or before polling starts.
 */
void vsock_vhost_break_rx(struct vsock_vhost *vh, uint64_t after);
#endif

/**
 * Stop serving and free the instance. Call it on the lcore that polls the
 * port, or when nothing polls it; destroy the stack it is attached to
 * after (packets the stack holds may come from the instance's pool, none
 * from the instance). NULL is a no-op.
 */
void vsock_vhost_destroy(struct vsock_vhost *vh);

/** Create an empty switch for guest-to-guest forwarding; NULL: no memory. */
struct vsock_vhost_switch *vsock_vhost_switch_create(void);

/** Free a switch whose instances are all destroyed; NULL is a no-op. */
void vsock_vhost_switch_free(struct vsock_vhost_switch *sw);

/**
 * Remove the socket file at @p path if nobody listens on it.
 * @return 0 (also when there is none); -EADDRINUSE when a process
 *   listens; -EEXIST when it is not a socket; -ENAMETOOLONG.
 */
int vsock_vhost_unlink_stale(const char *path);

#ifdef __cplusplus
}
#endif

#endif /* VSOCK_VHOST_H */
