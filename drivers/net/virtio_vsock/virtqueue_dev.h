/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split virtqueue, device side: what a device model (the loopback device,
 * the bridge's back-end) does with a driver's rings. Descriptors come from
 * the driver and are checked before use: a bad index, a loop or an
 * over-long chain ends the walk with an error instead of running away.
 */
#ifndef VIRTIO_VSOCK_VIRTQUEUE_DEV_H
#define VIRTIO_VSOCK_VIRTQUEUE_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio_ring_defs.h"

struct vq_dev {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t size;
	uint16_t mask;
	uint16_t last_avail_idx;
	uint16_t used_idx;	/* shadow of used->idx */
};

/* One buffer of a chain, translated to a pointer. */
struct vq_dev_seg {
	void *ptr;
	uint32_t len;
	bool writable;
};

#define VQ_DEV_MAX_SEGS 64

static inline void
vq_dev_init(struct vq_dev *vd, void *desc, void *avail, void *used,
		uint16_t size)
{
	/* Casts spelt out: C++ (the microbenchmarks) includes this too. */
	vd->desc = (struct vring_desc *)desc;
	vd->avail = (struct vring_avail *)avail;
	vd->used = (struct vring_used *)used;
	vd->size = size;
	vd->mask = size - 1;
	vd->last_avail_idx = 0;
	vd->used_idx = 0;
}

/* Entries the driver has made available and we have not taken. */
static inline uint16_t
vq_dev_avail(const struct vq_dev *vd)
{
	return (uint16_t)(__atomic_load_n(&vd->avail->idx, __ATOMIC_ACQUIRE) -
			vd->last_avail_idx);
}

/* Head index of the next available chain (does not consume it). */
static inline uint16_t
vq_dev_peek_head(const struct vq_dev *vd)
{
	return vd->avail->ring[vd->last_avail_idx & vd->mask];
}

/*
 * Turn a driver address into a pointer to @len bytes, or NULL when the
 * range is not wholly inside memory the driver shared.
 */
typedef void *(*vq_dev_xlate_t)(void *ctx, uint64_t addr, uint32_t len);

/*
 * Collect the chain at @head into @segs (at most VQ_DEV_MAX_SEGS),
 * translating each address with @xlate. Returns the number of segments,
 * or -1 on a bad head, a bad next, a loop, an over-long chain or an
 * address outside shared memory.
 */
static inline int
vq_dev_walk(const struct vq_dev *vd, uint16_t head, struct vq_dev_seg *segs,
		vq_dev_xlate_t xlate, void *ctx)
{
	uint16_t idx = head;
	int n = 0;

	if (head >= vd->size)
		return -1;
	for (;;) {
		const struct vring_desc *d = &vd->desc[idx];

		if (n == VQ_DEV_MAX_SEGS || n == vd->size)
			return -1;
		segs[n].len = d->len;
		segs[n].writable = (d->flags & VRING_DESC_F_WRITE) != 0;
		segs[n].ptr = d->len == 0 ? NULL : xlate(ctx, d->addr, d->len);
		if (segs[n].ptr == NULL && d->len != 0)
			return -1;
		n++;
		if (!(d->flags & VRING_DESC_F_NEXT))
			return n;
		idx = d->next;
		if (idx >= vd->size)
			return -1;
	}
}

static inline void *
vq_dev_xlate_va(void *ctx, uint64_t addr, uint32_t len)
{
	(void)ctx;
	(void)len;
	return (void *)(uintptr_t)addr;
}

/* The driver shares its whole address space (in-process devices). */
static inline int
vq_dev_walk_va(const struct vq_dev *vd, uint16_t head, struct vq_dev_seg *segs)
{
	return vq_dev_walk(vd, head, segs, vq_dev_xlate_va, NULL);
}

/* Consume the chain vq_dev_peek_head() returned. */
static inline void
vq_dev_consume(struct vq_dev *vd)
{
	vd->last_avail_idx++;
}

/* Return a chain to the driver with @len bytes written. */
static inline void
vq_dev_push_used(struct vq_dev *vd, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vd->used->ring[vd->used_idx & vd->mask];

	e->id = head;
	e->len = len;
	vd->used_idx++;
}

/* Make pushed entries visible to the driver. */
static inline void
vq_dev_publish(struct vq_dev *vd)
{
	__atomic_store_n(&vd->used->idx, vd->used_idx, __ATOMIC_RELEASE);
}

/* A polling device tells the driver not to kick it. */
static inline void
vq_dev_set_no_notify(struct vq_dev *vd, bool on)
{
	__atomic_store_n(&vd->used->flags, on ? VRING_USED_F_NO_NOTIFY : 0,
			__ATOMIC_RELAXED);
}

#endif /* VIRTIO_VSOCK_VIRTQUEUE_DEV_H */
