/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split virtqueue, driver side (virtio 1.x, section 2.7): a descriptor
 * table, the avail ring we write and the used ring the device writes.
 * Posted chains become visible at vq_split_publish(), when the avail
 * index moves. virtqueue.h dispatches to these; include that one.
 */
#ifndef VIRTIO_VSOCK_VIRTQUEUE_SPLIT_H
#define VIRTIO_VSOCK_VIRTQUEUE_SPLIT_H

#include "virtqueue_common.h"

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

/* Return a used chain starting at @head to the free list. */
static inline void
vq_split_free_chain(struct virtqueue *vq, uint16_t head)
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

/* Show the chains enqueued so far to the device. */
static inline void
vq_split_publish(struct virtqueue *vq)
{
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
}

/* The device's event index, or its NO_NOTIFY flag without EVENT_IDX. */
static inline bool
vq_split_kick_prepare(const struct virtqueue *vq, uint16_t added)
{
	if (vq->event_idx)
		return virtq_need_event(__atomic_load_n(
				vq_split_avail_event(vq), __ATOMIC_RELAXED),
				vq->avail_idx, (uint16_t)(vq->avail_idx - added));
	return !(__atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED) &
		VIRTQ_USED_F_NO_NOTIFY);
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
		vq_split_free_chain(vq, (uint16_t)id);
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

#endif /* VIRTIO_VSOCK_VIRTQUEUE_SPLIT_H */
