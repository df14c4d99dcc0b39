/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packed virtqueue, driver side (virtio 1.1+, section 2.8). virtqueue.h
 * dispatches to these; include that one.
 *
 * One ring of descriptors. A chain takes consecutive slots and one buffer
 * id (from a private free list of ids); the head's flags are written last,
 * so the device sees a chain whole or not at all. The device writes one
 * used descriptor per chain, at its own next slot, and both sides then
 * skip as many slots as the chain took: the driver knows how many from
 * its private record of the id, never from the ring.
 *
 * A used descriptor whose id is out of range or not posted is counted
 * (bad_used_id) and skipped as one slot, as the split ring skips one used
 * entry; a used descriptor while nothing is in flight marks the queue
 * broken (bad_used_idx).
 */
#ifndef VIRTIO_VSOCK_VIRTQUEUE_PACKED_H
#define VIRTIO_VSOCK_VIRTQUEUE_PACKED_H

#include "virtqueue_common.h"

/* Move a slot index by @n, flipping @wrap when it passes the end. */
static inline uint16_t
vq_packed_advance(uint16_t pos, uint16_t n, uint16_t size, bool *wrap)
{
	pos = (uint16_t)(pos + n);
	if (pos >= size) {
		pos = (uint16_t)(pos - size);
		*wrap = !*wrap;
	}
	return pos;
}

/* Give buffer id @id back to the free list of ids. */
static inline void
vq_packed_free_id(struct virtqueue *vq, uint16_t id)
{
	vq->next[id] = vq->free_head;
	vq->free_head = id;
	vq->num_free += vq->extra[id].ndescs;
	vq->extra[id].cookie = NULL;
	vq->extra[id].ndescs = 0;
}

static inline int
vq_packed_enqueue(struct virtqueue *vq, const struct vq_buf *bufs, uint16_t n,
		void *cookie)
{
	uint16_t id = vq->free_head;
	uint16_t head = vq->next_avail;
	uint16_t pos = head;
	uint16_t flags = vq->avail_flags;
	uint16_t head_flags = 0;
	uint16_t i;

	if (n == 0 || n > vq->num_free)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		struct virtq_packed_desc *d = &vq->pdesc[pos];
		uint16_t f = flags |
			(bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
			(i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);

		d->addr = bufs[i].addr;
		d->len = bufs[i].len;
		d->id = id;
		if (i == 0)
			head_flags = f;
		else
			d->flags = f;
		if (++pos == vq->size) {
			pos = 0;
			flags ^= VIRTQ_PACKED_DESC_F_AVAIL_USED;
		}
	}
	vq->next_avail = pos;
	vq->avail_flags = flags;
	vq->free_head = vq->next[id];
	vq->num_free -= n;
	vq->extra[id].cookie = cookie;
	vq->extra[id].ndescs = n;
	vq->avail_idx++;
	vq->num_added += n;
	/* The head last: the rest of the chain is in place when it shows. */
	__atomic_store_n(&vq->pdesc[head].flags, head_flags, __ATOMIC_RELEASE);
	return 0;
}

/*
 * The device's event suppression: off and flags read as one word, so a
 * device rewriting both cannot be seen half-way.
 */
static inline bool
vq_packed_kick_prepare(const struct virtqueue *vq, uint16_t added)
{
	uint32_t ev = __atomic_load_n((const uint32_t *)vq->device_event,
			__ATOMIC_RELAXED);
	uint16_t flags = (uint16_t)(ev >> 16);
	uint16_t off_wrap = (uint16_t)ev;
	uint16_t event = off_wrap & ~(1u << VIRTQ_PACKED_EVENT_WRAP_SHIFT);
	bool wrap = (vq->avail_flags & VIRTQ_PACKED_DESC_F_AVAIL) != 0;

	if (flags != VIRTQ_PACKED_EVENT_FLAG_DESC)
		return flags != VIRTQ_PACKED_EVENT_FLAG_DISABLE;
	/* An offset in the previous lap sits one ring size further back. */
	if ((off_wrap >> VIRTQ_PACKED_EVENT_WRAP_SHIFT) != wrap)
		event = (uint16_t)(event - vq->size);
	return virtq_need_event(event, vq->next_avail,
			(uint16_t)(vq->next_avail - added));
}

/*
 * The ring position lives in locals through the loop: each acquire load
 * would otherwise make the compiler reload it from the queue.
 */
static inline uint16_t
vq_packed_dequeue(struct virtqueue *vq, void **cookies, uint32_t *lens,
		uint16_t n)
{
	uint16_t pos = vq->next_used;
	bool wrap = vq->used_wrap;
	uint16_t in_flight = virtqueue_in_flight(vq);
	uint16_t free_head = vq->free_head;
	uint16_t num_free = vq->num_free;
	uint16_t got = 0, i;

	for (i = 0; i < n; i++) {
		const struct virtq_packed_desc *d = &vq->pdesc[pos];
		uint16_t want = wrap ? VIRTQ_PACKED_DESC_F_AVAIL_USED : 0;
		uint16_t flags = virtqueue_load_acquire16(&d->flags);
		struct vq_extra *x;
		uint16_t id;

		if ((flags & VIRTQ_PACKED_DESC_F_AVAIL_USED) != want)
			break;
		if (unlikely_vq(got == in_flight)) {
			vq->stats.bad_used_idx++;
			vq->broken = true;
			break;
		}
		id = d->id;
		x = &vq->extra[id < vq->size ? id : 0];
		if (unlikely_vq(id >= vq->size || x->cookie == NULL)) {
			vq->stats.bad_used_id++;
			pos = vq_packed_advance(pos, 1, vq->size, &wrap);
			continue;
		}
		cookies[got] = x->cookie;
		lens[got] = d->len;
		got++;
		/*
		 * The next slot hangs on this chain's length: a branch the
		 * CPU predicts (single buffers) lets it run ahead, where
		 * arithmetic would wait for the load.
		 */
		if (x->ndescs == 1)
			pos = vq_packed_advance(pos, 1, vq->size, &wrap);
		else
			pos = vq_packed_advance(pos, x->ndescs, vq->size,
					&wrap);
		num_free += x->ndescs;
		vq->next[id] = free_head;
		free_head = id;
		x->cookie = NULL;
		x->ndescs = 0;
	}
	vq->next_used = pos;
	vq->used_wrap = wrap;
	vq->last_used_idx += got;
	vq->free_head = free_head;
	vq->num_free = num_free;
	return got;
}

#endif /* VIRTIO_VSOCK_VIRTQUEUE_PACKED_H */
