/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Virtqueue, driver side: split (virtio 1.x, section 2.7) and packed
 * (section 2.8) layouts behind one API. Each call branches once on
 * vq->packed, which never changes while a queue lives: a branch the CPU
 * predicts, and no function pointer per packet.
 *
 * The rings live in memory the device can reach; everything the driver
 * relies on to stay consistent (free list, chain lengths, cookies) lives in
 * private memory, so a device that scribbles over the descriptors or
 * returns nonsense as used cannot corrupt the driver. Used entries are
 * validated and counted, never trusted.
 *
 * We poll, so device interrupts are suppressed for good at init; with
 * EVENT_IDX the driver kicks only when the device's event index asks.
 *
 * No EAL dependency: unit tests drive it with ordinary memory.
 */
#ifndef VIRTIO_VSOCK_VIRTQUEUE_H
#define VIRTIO_VSOCK_VIRTQUEUE_H

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

/* Bytes of device-visible memory the rings of a queue of @size take. */
size_t virtqueue_ring_mem_size(uint16_t size);

/* Bytes of private memory (struct + free list + cookies) for @size. */
size_t virtqueue_priv_size(uint16_t size);

/*
 * Lay out a queue of @size entries. @priv is virtqueue_priv_size() bytes
 * and becomes the struct virtqueue; @ring is virtqueue_ring_mem_size()
 * bytes, 4 KiB aligned and zeroed (enough for either layout). @flags are
 * VQ_F_*. Returns NULL if @size is not a power of two in [2, 32768].
 */
struct virtqueue *virtqueue_init(void *priv, void *ring, uint16_t size,
		uint16_t queue_id, unsigned int flags);

/* Offsets of the rings inside the ring memory, for the transport. */
size_t virtqueue_avail_offset(uint16_t size);
size_t virtqueue_used_offset(uint16_t size);

/* No rte_branch_prediction.h here: the unit tests build without DPDK. */
#define unlikely_vq(x) __builtin_expect(!!(x), 0)

static inline uint16_t
virtqueue_load_acquire16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* EVENT_IDX words past the end of the split avail and used rings. */
static inline uint16_t *
vq_split_used_event(const struct virtqueue *vq)
{
	return &vq->avail->ring[vq->size];
}

static inline uint16_t *
vq_split_avail_event(const struct virtqueue *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

static inline int
vq_split_enqueue(struct virtqueue *vq, const struct vq_buf *bufs, uint16_t n,
		void *cookie)
{
	uint16_t head = vq->free_head;
	uint16_t idx = head;
	uint16_t i;

	if (n == 0 || n > vq->num_free)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		struct virtq_desc *d = &vq->desc[idx];
		uint16_t flags = bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0;

		if (i + 1 < n)
			flags |= VIRTQ_DESC_F_NEXT;
		d->addr = bufs[i].addr;
		d->len = bufs[i].len;
		d->flags = flags;
		d->next = vq->next[idx];
		if (i + 1 < n)
			idx = vq->next[idx];
	}
	vq->free_head = vq->next[idx];
	vq->num_free -= n;
	vq->extra[head].cookie = cookie;
	vq->extra[head].ndescs = n;
	vq->avail->ring[vq->avail_idx & vq->mask] = head;
	vq->avail_idx++;
	vq->num_added++;
	return 0;
}

/* Return a used chain starting at @head to the free list. */
static inline void
virtqueue_free_chain(struct virtqueue *vq, uint16_t head)
{
	uint16_t last = head;
	uint16_t i;

	for (i = 1; i < vq->extra[head].ndescs; i++)
		last = vq->next[last];
	vq->next[last] = vq->free_head;
	vq->free_head = head;
	vq->num_free += vq->extra[head].ndescs;
	vq->extra[head].cookie = NULL;
	vq->extra[head].ndescs = 0;
}

/* Number of chains posted and not yet returned by the device. */
static inline uint16_t
virtqueue_in_flight(const struct virtqueue *vq)
{
	return (uint16_t)(vq->avail_idx - vq->last_used_idx);
}

static inline uint16_t
vq_split_dequeue(struct virtqueue *vq, void **cookies, uint32_t *lens,
		uint16_t n)
{
	uint16_t used_idx, avail, i, got = 0;

	used_idx = virtqueue_load_acquire16(&vq->used->idx);
	avail = (uint16_t)(used_idx - vq->last_used_idx);
	if (avail > virtqueue_in_flight(vq)) {
		vq->stats.bad_used_idx++;
		vq->broken = true;
		return 0;
	}
	if (avail < n)
		n = avail;
	for (i = 0; i < n; i++) {
		const struct virtq_used_elem *e =
			&vq->used->ring[vq->last_used_idx & vq->mask];
		uint32_t id = e->id;
		uint32_t len = e->len;

		vq->last_used_idx++;
		if (id >= vq->size || vq->extra[id].cookie == NULL) {
			vq->stats.bad_used_id++;
			continue;
		}
		cookies[got] = vq->extra[id].cookie;
		lens[got] = len;
		got++;
		virtqueue_free_chain(vq, (uint16_t)id);
	}
	/*
	 * Keep used_event just behind what we took: the device's used index
	 * is never behind it, so it never crosses it and never interrupts.
	 */
	if (vq->event_idx && n > 0)
		__atomic_store_n(vq_split_used_event(vq),
				(uint16_t)(vq->last_used_idx - 1),
				__ATOMIC_RELAXED);
	return got;
}

#include "virtqueue_packed.h"

/*
 * Post a chain of @n buffers with @cookie. A split queue shows it to the
 * device at virtqueue_publish(), a packed one at once. Returns 0, or
 * -ENOSPC when fewer than @n descriptors are free (nothing is posted).
 */
static inline int
virtqueue_enqueue(struct virtqueue *vq, const struct vq_buf *bufs, uint16_t n,
		void *cookie)
{
	if (vq->packed)
		return vq_packed_enqueue(vq, bufs, n, cookie);
	return vq_split_enqueue(vq, bufs, n, cookie);
}

/* Make everything enqueued so far visible to the device. */
static inline void
virtqueue_publish(struct virtqueue *vq)
{
	/* Packed descriptors became visible one by one as they were posted. */
	if (!vq->packed)
		__atomic_store_n(&vq->avail->idx, vq->avail_idx,
				__ATOMIC_RELEASE);
}

/*
 * After a publish: does the device want a notification for what was
 * posted since the last call? A polling device says no through
 * VIRTQ_USED_F_NO_NOTIFY, its event index or its event suppression
 * structure. The fence orders our publish before that load, or a device
 * that re-enables notifications and then looks at the ring could miss our
 * entries.
 */
static inline bool
virtqueue_kick_prepare(struct virtqueue *vq)
{
	uint16_t added = vq->num_added;

	vq->num_added = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->packed)
		return vq_packed_kick_prepare(vq, added);
	if (vq->event_idx)
		return virtq_need_event(__atomic_load_n(
				vq_split_avail_event(vq), __ATOMIC_RELAXED),
				vq->avail_idx, (uint16_t)(vq->avail_idx - added));
	return !(__atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED) &
		VIRTQ_USED_F_NO_NOTIFY);
}

/*
 * Take up to @n used entries: their cookies and the lengths the device
 * reported (untrusted: the caller checks them against what it posted).
 * Entries with an id that is out of range or not posted are counted and
 * skipped; a device returning more than was posted marks the queue
 * broken, and a broken queue returns nothing more.
 */
static inline uint16_t
virtqueue_dequeue(struct virtqueue *vq, void **cookies, uint32_t *lens,
		uint16_t n)
{
	if (vq->broken)
		return 0;
	if (vq->packed)
		return vq_packed_dequeue(vq, cookies, lens, n);
	return vq_split_dequeue(vq, cookies, lens, n);
}

/*
 * Take back every posted chain (device stopped): hands each cookie to
 * @fn. Used on close and reset, so that no buffer is leaked.
 */
void virtqueue_drain(struct virtqueue *vq, void (*fn)(void *cookie, void *arg),
		void *arg);

#endif /* VIRTIO_VSOCK_VIRTQUEUE_H */
