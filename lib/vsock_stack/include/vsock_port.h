/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The port interface: what the stack needs from a device.
 *
 * A port moves whole vsock packets as mbufs holding the 44-byte header
 * followed by the payload (possibly as a chain). The stack knows nothing
 * of virtqueues; a driver knows nothing of connections. Ops are called per
 * burst, never per packet.
 */
#ifndef VSOCK_PORT_H
#define VSOCK_PORT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rte_mbuf;

/** Port feature: SEQPACKET was negotiated with the device. */
#define VSOCK_PORT_F_SEQPACKET    (1u << 0)
/** Port feature: STREAM is available (not refused by NO_IMPLIED_STREAM). */
#define VSOCK_PORT_F_STREAM       (1u << 1)

/** Event the device reported on its event queue. */
#define VSOCK_PORT_EVENT_TRANSPORT_RESET 0u

/** A named driver counter (vsock_port_ops.xstats). */
struct vsock_port_xstat {
	char name[32];	/**< counter name, NUL-terminated */
	uint64_t value;	/**< counter value */
};

/** Operations a port implements. */
struct vsock_port_ops {
	/**
	 * Receive up to @p n packets. Each mbuf starts with the header; its
	 * pkt_len is what the device wrote. Ownership passes to the caller.
	 */
	uint16_t (*rx_burst)(void *priv, struct rte_mbuf **pkts, uint16_t n);
	/**
	 * Transmit up to @p n packets; returns how many the port took. The
	 * port owns the ones it took and frees them when the device is done.
	 */
	uint16_t (*tx_burst)(void *priv, struct rte_mbuf **pkts, uint16_t n);
	/** The CID the device assigned to us (re-read after a reset). */
	uint64_t (*local_cid)(void *priv);
	/**
	 * Optional: the one CID behind the port, for a host-to-guest port
	 * (a device back-end, whose peer is its guest). NULL for a
	 * guest-to-host port (a driver), whose peer is the host.
	 */
	uint64_t (*peer_cid)(void *priv);
	/** VSOCK_PORT_F_* flags. */
	uint32_t (*features)(void *priv);
	/**
	 * Fetch one pending event (VSOCK_PORT_EVENT_*). Returns 1 when
	 * @p event was written, 0 when none is pending.
	 */
	int (*poll_event)(void *priv, uint32_t *event);
	/**
	 * Optional: payload bytes taken by tx_burst and not yet done with by
	 * the device. The stack keeps this small so that a packet queued
	 * behind bulk data does not wait for long.
	 */
	uint32_t (*tx_inflight)(void *priv);
	/**
	 * Optional: the driver's counters as name/value pairs, for telemetry
	 * and vsock-ss. Fill at most @p n of @p xs and return how many the
	 * port has. Called on the stack's lcore.
	 */
	int (*xstats)(void *priv, struct vsock_port_xstat *xs, unsigned int n);
};

/** A port: ops plus the driver's private data. */
struct vsock_port {
	const struct vsock_port_ops *ops;	/**< the driver's operations */
	void *priv;	/**< the driver's data, passed to every op */
	const char *name;	/**< for logs, e.g. "loopback" */
};

#ifdef __cplusplus
}
#endif

#endif /* VSOCK_PORT_H */
