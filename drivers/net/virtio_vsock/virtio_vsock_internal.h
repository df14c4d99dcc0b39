/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The driver's private view of a device: its struct, logging, the
 * helpers transports call and the burst functions. Transports implement
 * the ops table of virtio_vsock_transport.h.
 */
#ifndef VIRTIO_VSOCK_INTERNAL_H
#define VIRTIO_VSOCK_INTERNAL_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_cycles.h>
#include <rte_log.h>

#include "virtio_vsock_dev.h"
#include "virtio_vsock_transport.h"
#include "virtqueue.h"

/* Longest mbuf chain one tx packet may be. */
#define VQ_TX_MAX_SEGS 64

extern int virtio_vsock_logtype;
#define VV_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_ ## level, virtio_vsock_logtype, \
		"virtio_vsock: " fmt "\n", ## __VA_ARGS__)

/*
 * At most one line a second per call site: a hostile device must not
 * turn each bad packet into a line of log (the counters count them all).
 */
#define VV_LOG_RL(level, fmt, ...) do { \
	static uint64_t vv_rl_last_; \
	uint64_t vv_rl_now_ = rte_get_timer_cycles(); \
	if (vv_rl_now_ - __atomic_load_n(&vv_rl_last_, __ATOMIC_RELAXED) >= \
			rte_get_timer_hz()) { \
		__atomic_store_n(&vv_rl_last_, vv_rl_now_, __ATOMIC_RELAXED); \
		VV_LOG(level, fmt, ## __VA_ARGS__); \
	} \
} while (0)

/* The rx/tx hot path touches the first cache lines only. */
struct virtio_vsock_dev {
	struct virtqueue *vq[VIRTIO_VSOCK_VQ_NUM];
	struct rte_mempool *rx_pool;
	uint32_t rx_buf_len;	/* bytes posted per rx buffer */
	bool use_va;		/* descriptors carry VAs, not IOVAs */
	bool notify_rx;		/* kick after rx refill */
	bool up;		/* a device is there to use the rings */
	bool broken;		/* it broke the ring protocol: not trusted */
	bool dead;		/* broken for good: cannot be reset */
	const struct virtio_vsock_transport_ops *ops;
	void *tpriv;		/* transport's private data */
	uint64_t features;	/* negotiated */
	uint64_t want;		/* features the spec requires */
	uint64_t refuse;	/* features the spec refuses */
	unsigned int vq_flags;	/* VQ_F_* of the negotiated features */
	uint64_t cid;
	uint32_t tx_inflight;	/* bytes posted on tx, not yet reclaimed */
	bool tx_posted;		/* tx posted since the last tx_inflight() */
	uint64_t next_ctrl_poll;	/* tsc of the next ctrl_poll */
	/* Recovery of a broken device (virtio_vsock_ctrl.c). */
	bool reset_told;	/* the stack heard of this break */
	uint32_t recover_fails;	/* in a row: failed, or did not hold */
	uint32_t recover_waits;	/* attempts the device was not back for */
	uint64_t recover_at;	/* tsc of the next attempt */
	uint64_t recovered_at;	/* tsc of the last recovery, 0: none */
	uint64_t recovered_rx;	/* stats.rx_pkts then */
#ifdef VIRTIO_VSOCK_TEST_HOOKS
	uint64_t break_after;	/* break_after=: rx packets before a break */
#endif
	struct virtio_vsock_stats stats;
	struct vsock_port port;
	void *vq_mem[VIRTIO_VSOCK_VQ_NUM];	/* ring memory */
	void *vq_priv[VIRTIO_VSOCK_VQ_NUM];
	uint8_t *event_buf;	/* one VIRTIO_VSOCK_EVENT_LEN slot per entry */
	int socket_id;
	uint16_t queue_size;
	char name[64];
};

/* A piece of our memory as a vhost back-end maps it. */
struct vv_mem_region {
	uint64_t addr;		/* virtual = "guest physical" address */
	uint64_t size;
	int fd;			/* vhost-user: the file behind it */
	uint64_t offset;	/* of addr in fd */
};

/*
 * Fill @r with at most @max regions covering EAL's memory. Returns the
 * count, or a negative errno with the reason (and the fix) in @err
 * (virtio_vsock_mem.c, for the vhost transports).
 */
int virtio_vsock_mem_regions(struct vv_mem_region *r, int max, bool need_fd,
		char *err, size_t errlen);

/* Warn about memory allocated after a back-end mapped ours (on/off). */
void virtio_vsock_mem_watch(struct virtio_vsock_dev *dev, bool on);

/*
 * A transport's handler of one of its "key=value" options, with @targs
 * its parsed-args struct: 0, or a negative errno with @err naming the
 * value.
 */
typedef int (*vv_kv_fn)(const char *key, const char *val, void *targs,
		char *err, size_t errlen);

/*
 * Parse @args, "k=v[,k=v...]", for transport @tname with rte_kvargs: the
 * common keys (queue_size, rx_buf, packed, event_idx) into @da, the keys
 * of @keys (NULL-terminated) through @fn. Any other key is an error that
 * names it and lists the known ones (virtio_vsock_args.c).
 */
int virtio_vsock_kvargs_parse(const char *tname, const char *args,
		const char *const keys[], vv_kv_fn fn, void *targs,
		struct virtio_vsock_devargs *da, char *err, size_t errlen);

/* A guest CID value: 3..0xfffffffe (virtio_vsock_args.c). */
int virtio_vsock_parse_cid(const char *tname, const char *val, uint64_t *cid,
		char *err, size_t errlen);

/* Take every buffer back and lay the rings out empty (virtio_vsock_dev.c). */
void virtio_vsock_rings_relayout(struct virtio_vsock_dev *dev);

/*
 * After a device reset: agree on the features negotiated at open again
 * (the rings are laid out for them). 0, or a negative errno with @err
 * naming what the device no longer offers or refused.
 */
int virtio_vsock_renegotiate(struct virtio_vsock_dev *dev, char *err,
		size_t errlen);

/* Read and check the guest CID into dev->cid; -EINVAL names a bad one. */
int virtio_vsock_read_cid(struct virtio_vsock_dev *dev, char *err,
		size_t errlen);

/* Burst functions and rx refill (virtio_vsock_rxtx.c). */
uint16_t virtio_vsock_rx_burst(void *priv, struct rte_mbuf **pkts,
		uint16_t n);
uint16_t virtio_vsock_tx_burst(void *priv, struct rte_mbuf **pkts,
		uint16_t n);
int virtio_vsock_rx_refill(struct virtio_vsock_dev *dev);
uint32_t virtio_vsock_tx_inflight(void *priv);

/* Control plane (virtio_vsock_ctrl.c). */

/* The port's poll_event: events, ctrl_poll, recovery of a broken device. */
int virtio_vsock_poll_event(void *priv, uint32_t *event);

/* Post every free event-queue entry (bring-up, after each event). */
void virtio_vsock_event_refill(struct virtio_vsock_dev *dev);

/* The device: stop using the rings, take every buffer back, post anew. */
void virtio_vsock_rings_reset(struct virtio_vsock_dev *dev);

/*
 * The device broke the ring protocol (@why says how): stop trusting its
 * rings. The next poll_event resets it, or leaves it dead.
 */
void virtio_vsock_broken(struct virtio_vsock_dev *dev, const char *why);

/*
 * A used id the driver does not hold (out of range, returned twice, never
 * posted) means the device and the driver no longer agree on who owns
 * which buffer: a queue that saw one is broken, as one that ran its used
 * index past what was posted.
 */
static inline bool
vv_vq_bad(const struct virtqueue *vq)
{
	return vq->broken || vq->stats.bad_used_id != 0;
}

/* @vq is vv_vq_bad(): break the device, naming the queue. */
void virtio_vsock_vq_broken(struct virtio_vsock_dev *dev,
		const struct virtqueue *vq);

/* Publish what was posted on @vq; notify the device if it asks. */
static inline void
virtio_vsock_kick(struct virtio_vsock_dev *dev, struct virtqueue *vq)
{
	virtqueue_publish(vq);
	if (virtqueue_kick_prepare(vq)) {
		dev->stats.kicks++;
		dev->ops->notify(dev, vq->queue_id);
	}
}

#endif /* VIRTIO_VSOCK_INTERNAL_H */
