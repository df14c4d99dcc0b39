/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split virtqueue, driver side (virtio 1.x, section 2.7).
 *
 * The rings live in memory the device can reach; everything the driver
 * relies on to stay consistent (free list, chain lengths, cookies) lives in
 * private memory, so a device that scribbles over the descriptor table or
 * returns nonsense in the used ring cannot corrupt the driver. Used-ring
 * entries are validated and counted, never trusted.
 *
 * No EAL dependency: unit tests drive it with ordinary memory.
 */
#ifndef VIRTIO_VSOCK_VIRTQUEUE_H
#define VIRTIO_VSOCK_VIRTQUEUE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio_ring_defs.h"

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

struct virtqueue {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t size;		/* power of two */
	uint16_t mask;
	uint16_t free_head;
	uint16_t num_free;
	uint16_t avail_idx;	/* shadow of avail->idx */
	uint16_t last_used_idx;
	uint16_t queue_id;
	bool broken;		/* device broke the ring protocol */
	struct vq_stats stats;
	uint16_t *next;		/* private free list / chain links */
	struct vq_extra *extra;	/* per head */
};

/* Bytes of device-visible memory the rings of a queue of @size take. */
size_t virtqueue_ring_mem_size(uint16_t size);

/* Bytes of private memory (struct + free list + cookies) for @size. */
size_t virtqueue_priv_size(uint16_t size);

/*
 * Lay out a queue of @size entries. @priv is virtqueue_priv_size() bytes
 * and becomes the struct virtqueue; @ring is virtqueue_ring_mem_size()
 * bytes, 4 KiB aligned and zeroed. Returns NULL if @size is not a power of
 * two in [2, 32768].
 */
struct virtqueue *virtqueue_init(void *priv, void *ring, uint16_t size,
		uint16_t queue_id);

/* Offsets of the rings inside the ring memory, for the transport. */
size_t virtqueue_avail_offset(uint16_t size);
size_t virtqueue_used_offset(uint16_t size);

static inline uint16_t
virtqueue_load_acquire16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/*
 * Post a chain of @n buffers with @cookie. Not visible to the device until
 * virtqueue_publish(). Returns 0, or -ENOSPC when fewer than @n descriptors
 * are free (nothing is posted then).
 */
static inline int
virtqueue_enqueue(struct virtqueue *vq, const struct vq_buf *bufs, uint16_t n,
		void *cookie)
{
	uint16_t head = vq->free_head;
	uint16_t idx = head;
	uint16_t i;

	if (n == 0 || n > vq->num_free)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		struct vring_desc *d = &vq->desc[idx];
		uint16_t flags = bufs[i].writable ? VRING_DESC_F_WRITE : 0;

		if (i + 1 < n)
			flags |= VRING_DESC_F_NEXT;
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
	return 0;
}

/* Make everything enqueued so far visible to the device. */
static inline void
virtqueue_publish(struct virtqueue *vq)
{
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
}

/*
 * After a publish: does the device want a notification? A device that
 * polls sets VRING_USED_F_NO_NOTIFY. The fence orders our avail->idx store
 * before the flag load, or a device that clears the flag and then looks at
 * avail->idx could miss our entries.
 */
static inline bool
virtqueue_kick_prepare(const struct virtqueue *vq)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return !(__atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED) &
		VRING_USED_F_NO_NOTIFY);
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

/* Number of entries posted and not yet returned by the device. */
static inline uint16_t
virtqueue_in_flight(const struct virtqueue *vq)
{
	return (uint16_t)(vq->avail_idx - vq->last_used_idx);
}

/*
 * Take up to @n used entries: their cookies and the lengths the device
 * reported (untrusted: the caller checks them against what it posted).
 * Entries with an id that is out of range or not posted are counted and
 * skipped; a used index running past what was posted marks the queue
 * broken, and a broken queue returns nothing more.
 */
static inline uint16_t
virtqueue_dequeue(struct virtqueue *vq, void **cookies, uint32_t *lens,
		uint16_t n)
{
	uint16_t used_idx, avail, i, got = 0;

	if (vq->broken)
		return 0;
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
		const struct vring_used_elem *e =
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
	return got;
}

/*
 * Take back every posted chain (device stopped): hands each cookie to
 * @fn. Used on close and reset, so that no buffer is leaked.
 */
void virtqueue_drain(struct virtqueue *vq, void (*fn)(void *cookie, void *arg),
		void *arg);

#endif /* VIRTIO_VSOCK_VIRTQUEUE_H */
