/* SPDX-License-Identifier: BSD-3-Clause */
#include <string.h>

#include "virtqueue.h"

static size_t
align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

size_t
virtqueue_avail_offset(uint16_t size)
{
	return sizeof(struct virtq_desc) * size;
}

size_t
virtqueue_used_offset(uint16_t size)
{
	/* avail: flags, idx, ring[size], used_event */
	return align_up(virtqueue_avail_offset(size) +
			sizeof(uint16_t) * (3 + (size_t)size), VIRTQ_ALIGN);
}

size_t
virtqueue_ring_mem_size(uint16_t size)
{
	/* used: flags, idx, ring[size], avail_event; a packed ring is less */
	return align_up(virtqueue_used_offset(size) + sizeof(uint16_t) * 3 +
			sizeof(struct virtq_used_elem) * (size_t)size,
			VIRTQ_ALIGN);
}

size_t
virtqueue_priv_size(uint16_t size)
{
	return align_up(sizeof(struct virtqueue), 16) +
		align_up(sizeof(uint16_t) * (size_t)size, 16) +
		sizeof(struct vq_extra) * (size_t)size;
}

/* Packed: the event structures each on a cache line after the ring. */
static void
vq_packed_layout(struct virtqueue *vq, void *ring, uint16_t size)
{
	size_t off = align_up(sizeof(struct virtq_packed_desc) * size, 64);
	uint16_t i;

	vq->pdesc = ring;
	vq->driver_event = (struct virtq_packed_event *)
		((uint8_t *)ring + off);
	vq->device_event = (struct virtq_packed_event *)
		((uint8_t *)ring + off + 64);
	vq->packed = true;
	vq->used_wrap = true;
	vq->avail_flags = VIRTQ_PACKED_DESC_F_AVAIL;
	/* We poll: ask the device not to interrupt us. */
	vq->driver_event->flags = VIRTQ_PACKED_EVENT_FLAG_DISABLE;
	for (i = 0; i < size; i++)
		vq->next[i] = (uint16_t)(i + 1);
}

struct virtqueue *
virtqueue_init(void *priv, void *ring, uint16_t size, uint16_t queue_id,
		unsigned int flags)
{
	struct virtqueue *vq = priv;
	uint8_t *p = priv;
	uint16_t i;

	if (size < 2 || size > 32768 || (size & (size - 1)) != 0)
		return NULL;
	memset(priv, 0, virtqueue_priv_size(size));
	vq->next = (uint16_t *)(p + align_up(sizeof(*vq), 16));
	vq->extra = (struct vq_extra *)(p + align_up(sizeof(*vq), 16) +
			align_up(sizeof(uint16_t) * (size_t)size, 16));
	vq->size = size;
	vq->mask = size - 1;
	vq->num_free = size;
	vq->queue_id = queue_id;
	vq->event_idx = (flags & VQ_F_EVENT_IDX) != 0;
	if (flags & VQ_F_PACKED) {
		vq_packed_layout(vq, ring, size);
		return vq;
	}
	vq->desc = ring;
	vq->avail = (struct virtq_avail *)((uint8_t *)ring +
			virtqueue_avail_offset(size));
	vq->used = (struct virtq_used *)((uint8_t *)ring +
			virtqueue_used_offset(size));
	for (i = 0; i < size; i++)
		vq->next[i] = (uint16_t)((i + 1) & vq->mask);
	/*
	 * We poll: ask the device not to interrupt us. With EVENT_IDX the
	 * flag is ignored and used_event, kept behind the used index,
	 * does it.
	 */
	vq->avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	*vq_split_used_event(vq) = (uint16_t)-1;
	return vq;
}

void
virtqueue_drain(struct virtqueue *vq, void (*fn)(void *cookie, void *arg),
		void *arg)
{
	uint16_t i;

	for (i = 0; i < vq->size; i++) {
		void *cookie = vq->extra[i].cookie;

		if (cookie == NULL)
			continue;
		if (vq->packed)
			vq_packed_free_id(vq, i);
		else
			vq_split_free_chain(vq, i);
		fn(cookie, arg);
	}
	vq->last_used_idx = vq->avail_idx;
	vq->next_used = vq->next_avail;
	vq->used_wrap = (vq->avail_flags & VIRTQ_PACKED_DESC_F_AVAIL) != 0;
}
