/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * dpdk-vsock's poll-mode virtio-vsock driver: open a device from a spec
 * string and get a vsock_port for the stack.
 *
 * Device specs (the @c --dev option of the apps):
 *   - @c loopback[:cid=N][,queue_size=Q][,rx_buf=B][,lcore=auto|inline|L]
 *     [,fault=NAME[,fault_every=N][,fault_max=M][,fault_resets=R]
 *     [,fault_cid=C]]
 *     the in-process device model; @c fault makes it a hostile device
 *     that breaks every Nth packet (see virtio_vsock_loopback_fault.c),
 *     refuses R resets and comes back from a reset with CID C, in a
 *     library built with -Dtest_hooks=true only: elsewhere it is an
 *     error saying so.
 *   - every transport also takes @c packed=0|1 and @c event_idx=0|1: 0
 *     refuses the feature, 1 requires it; by default the driver takes
 *     what the device offers (for A/B measurements). With
 *     -Dtest_hooks=true, @c break_after=N: after N rx packets the driver
 *     stops trusting the rings as if the device had broken them, and
 *     recovers.
 *
 * Recovery: a device that breaks the ring protocol is reset from the
 * port's poll_event on every transport. The stack hears TRANSPORT_RESET
 * (every connection is reset, listeners stay); the device is reset,
 * given the same features, its CID is read again, and it runs on fresh
 * rings, every buffer of the old ones back in its pool. The first
 * attempt comes at once; after a failure, or a break within a second or
 * 64 rx packets of the last recovery, the next waits 1 ms, then four
 * times longer each time, up to 1 s; after 8 such failures in a row the
 * device is given up for good (logged) and what is sent to it is dropped
 * (tx_dead).
 */
#ifndef VIRTIO_VSOCK_DEV_H
#define VIRTIO_VSOCK_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vsock_port.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rte_mempool;
struct virtio_vsock_dev;

/** Options that are not part of the spec string. */
struct virtio_vsock_conf {
	/** Pool rx buffers come from; its data room bounds rx_buf. */
	struct rte_mempool *rx_pool;
	/** NUMA socket for rings; SOCKET_ID_ANY for any. */
	int socket_id;
};

/** Driver counters. */
struct virtio_vsock_stats {
	uint64_t rx_pkts;	/**< packets received from the device */
	uint64_t rx_bytes;	/**< bytes received, headers included */
	uint64_t tx_pkts;	/**< packets handed to the device */
	uint64_t tx_bytes;	/**< bytes sent, headers included */
	uint64_t rx_bad_len;	/**< used length under a header or over the buffer */
	uint64_t bad_used_id;	/**< used id out of range or never posted */
	uint64_t bad_used_idx;	/**< device returned more than was posted */
	uint64_t rx_nombuf;	/**< rx refill found the pool empty */
	uint64_t tx_full;	/**< tx burst stopped on a full ring */
	uint64_t kicks;		/**< notifications sent to the device */
	uint64_t events;	/**< event-queue entries received */
	uint64_t rx_posted;	/**< rx buffers posted to the device now */
	/** Event-queue entries with an unknown id or a bad length (ignored). */
	uint64_t bad_events;
	/**
	 * Times the device broke the ring protocol (a bad used id, index or
	 * length): the driver stopped trusting its rings and told the stack
	 * TRANSPORT_RESET.
	 */
	uint64_t broken;
	/**
	 * Times a broken device was reset and ran again on fresh rings, with
	 * the same features and its CID read again.
	 */
	uint64_t recoveries;
	/**
	 * Attempts to reset a broken device that failed; after 8 in a row
	 * (counting recoveries that broke again within a second or 64 rx
	 * packets) the device is given up for good.
	 */
	uint64_t recovery_failures;
	/** Packets dropped on tx after the device was given up. */
	uint64_t tx_dead;
	/**
	 * vhost-user replies that broke the protocol (another request, bad
	 * flags, size or contents): that set-up or reconnect failed.
	 */
	uint64_t bad_replies;
	/**
	 * Times a PCI device's status no longer read as the driver left it
	 * (reset under the driver, or DEVICE_NEEDS_RESET): it is then
	 * counted in broken and recovered like one.
	 */
	uint64_t status_lost;
};

/**
 * Open the device named by @p spec, negotiate features, set up its
 * queues and start it.
 *
 * @param spec
 *   Device spec, see the file comment.
 * @param conf
 *   Options; rx_pool is mandatory.
 * @param err
 *   On failure, a message naming the bad value or the failing step.
 * @param errlen
 *   Size of @p err.
 * @return
 *   The device, or NULL with rte_errno set (EINVAL for a bad spec).
 */
struct virtio_vsock_dev *virtio_vsock_open(const char *spec,
		const struct virtio_vsock_conf *conf, char *err, size_t errlen);

/**
 * Check a spec's syntax without opening anything.
 *
 * @param spec
 *   Device spec, see the file comment.
 * @param err
 *   On failure, a message naming the bad value.
 * @param errlen
 *   Size of @p err.
 * @return 0, or -EINVAL with a message in @p err.
 */
int virtio_vsock_spec_check(const char *spec, char *err, size_t errlen);

/** One line per transport describing its spec, for --help. */
const char *virtio_vsock_spec_usage(void);

/** The device's port, to attach to a vsock stack. */
struct vsock_port *virtio_vsock_port(struct virtio_vsock_dev *dev);

/** The guest CID read from the device. */
uint64_t virtio_vsock_cid(const struct virtio_vsock_dev *dev);

/**
 * @name Feature bits
 * Masks of the transport features an application may test in
 * virtio_vsock_features() (virtio 1.2, section 6).
 * @{
 */
/** VIRTIO_RING_F_EVENT_IDX: notifications suppressed by ring index. */
#define VIRTIO_VSOCK_FEATURE_EVENT_IDX (1ULL << 29)
/** VIRTIO_F_RING_PACKED: the device runs packed virtqueues. */
#define VIRTIO_VSOCK_FEATURE_RING_PACKED (1ULL << 34)
/** @} */

/**
 * The feature bits negotiated with the device: the transport bits
 * (VIRTIO_VSOCK_FEATURE_*, VIRTIO_F_VERSION_1...) and the vsock ones
 * (bit 0 stream, 1 seqpacket, 2 no implied stream).
 *
 * @param dev
 *   An open device.
 * @return
 *   The bits the driver and the device agreed on at open, a bit mask
 *   as in the virtio spec (bit N is 1ULL << N).
 */
uint64_t virtio_vsock_features(const struct virtio_vsock_dev *dev);

/** Copy the driver counters. */
void virtio_vsock_stats_get(const struct virtio_vsock_dev *dev,
		struct virtio_vsock_stats *stats);

#ifdef VIRTIO_VSOCK_TEST_HOOKS
/**
 * Make the device raise event @p id on its event queue (the loopback
 * device only): VIRTIO_VSOCK_EVENT_TRANSPORT_RESET (0) as after a live
 * migration, with the guest CID changed to @p new_cid when it is not 0.
 *
 * A test hook: it exists only in a library built with
 * -Dtest_hooks=true, which defines VIRTIO_VSOCK_TEST_HOOKS for the
 * library and for what builds on it in the same meson project. Installed
 * libraries are built without it.
 *
 * @return 0; -ENOTSUP for devices that cannot; -EINVAL for a bad CID.
 */
int virtio_vsock_inject_event(struct virtio_vsock_dev *dev, uint32_t id,
		uint64_t new_cid);
#endif

/**
 * Stop the device, return every posted buffer to its pool and free the
 * device. The port must no longer be in use.
 */
void virtio_vsock_close(struct virtio_vsock_dev *dev);

#ifdef __cplusplus
}
#endif

#endif /* VIRTIO_VSOCK_DEV_H */
