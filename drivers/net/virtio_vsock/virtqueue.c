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
	return sizeof(struct vring_desc) * size;
}

size_t
virtqueue_used_offset(uint16_t size)
{
	/* avail: flags, idx, ring[size], used_event */
	return align_up(virtqueue_avail_offset(size) +
			sizeof(uint16_t) * (3 + (size_t)size), VRING_ALIGN);
}

size_t
virtqueue_ring_mem_size(uint16_t size)
{
	/* used: flags, idx, ring[size], avail_event */
	return align_up(virtqueue_used_offset(size) + sizeof(uint16_t) * 3 +
			sizeof(struct vring_used_elem) * (size_t)size,
			VRING_ALIGN);
}

size_t
virtqueue_priv_size(uint16_t size)
{
	return align_up(sizeof(struct virtqueue), 16) +
		align_up(sizeof(uint16_t) * (size_t)size, 16) +
		sizeof(struct vq_extra) * (size_t)size;
}

struct virtqueue *
virtqueue_init(void *priv, void *ring, uint16_t size, uint16_t queue_id)
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
	vq->desc = ring;
	vq->avail = (struct vring_avail *)((uint8_t *)ring +
			virtqueue_avail_offset(size));
	vq->used = (struct vring_used *)((uint8_t *)ring +
			virtqueue_used_offset(size));
	vq->size = size;
	vq->mask = size - 1;
	vq->num_free = size;
	vq->queue_id = queue_id;
	for (i = 0; i < size; i++)
		vq->next[i] = (uint16_t)((i + 1) & vq->mask);
	/* We poll: ask the device not to interrupt us. */
	vq->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
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
		virtqueue_free_chain(vq, i);
		fn(cookie, arg);
	}
	vq->last_used_idx = vq->avail_idx;
}
