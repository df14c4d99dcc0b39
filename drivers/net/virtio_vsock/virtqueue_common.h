/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the split and the packed virtqueue share: struct virtqueue and
 * the helpers both layouts use. virtqueue.h holds the API.
 */
#ifndef VIRTIO_VSOCK_VIRTQUEUE_COMMON_H
#define VIRTIO_VSOCK_VIRTQUEUE_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <virtio_vsock_defs.h>
#include <virtq.h>

/* One buffer of a chain to post. */
struct vq_buf {
	uint64_t addr;		/* device address: VA or IOVA, transport's choice */
	uint32_t len;
	bool writable;		/* device writes it (rx) */
};

struct vq_extra {
	void *cookie;		/* NULL while the head is not posted */
	uint16_t ndescs;
};

struct vq_stats {
	uint64_t bad_used_id;	/* id out of range or not posted */
	uint64_t bad_used_idx;	/* device claimed more used entries than posted */
};

/*
 * The three areas a transport hands to the device are desc, avail and
 * used; in a packed queue they are the descriptor ring and the driver's
 * and the device's event suppression structures.
 */
struct virtqueue {
	union {
		struct virtq_desc *desc;
		struct virtq_packed_desc *pdesc;
	};
	union {
		struct virtq_avail *avail;
		struct virtq_packed_event *driver_event;
	};
	union {
		struct virtq_used *used;
		struct virtq_packed_event *device_event;
	};
	uint16_t size;		/* power of two */
	uint16_t mask;
	uint16_t free_head;	/* split: free descriptor; packed: free id */
	uint16_t num_free;	/* descriptors */
	uint16_t avail_idx;	/* chains posted (split: avail->idx) */
	uint16_t last_used_idx;	/* chains taken back */
	uint16_t num_added;	/* posted since the last kick check */
	uint16_t queue_id;
	bool broken;		/* device broke the ring protocol */
	bool packed;		/* VIRTIO_F_RING_PACKED */
	bool event_idx;		/* VIRTIO_RING_F_EVENT_IDX */
	bool used_wrap;		/* packed: wrap counter of next_used */
	uint16_t next_avail;	/* packed: slot of the next descriptor */
	uint16_t next_used;	/* packed: slot of the next used one */
	uint16_t avail_flags;	/* packed: AVAIL/USED bits of this lap */
	struct vq_stats stats;
	uint16_t *next;		/* private free list / chain links */
	struct vq_extra *extra;	/* per head (split) or id (packed) */
};

/* No rte_branch_prediction.h here: the unit tests build without DPDK. */
#define unlikely_vq(x) __builtin_expect(!!(x), 0)

static inline uint16_t
virtqueue_load_acquire16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Number of chains posted and not yet returned by the device. */
static inline uint16_t
virtqueue_in_flight(const struct virtqueue *vq)
{
	return (uint16_t)(vq->avail_idx - vq->last_used_idx);
}

#endif /* VIRTIO_VSOCK_VIRTQUEUE_COMMON_H */
