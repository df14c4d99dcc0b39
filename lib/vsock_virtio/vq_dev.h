/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Virtqueue, device side: what a device model (the driver's loopback
 * device, lib/vsock_vhost's back-end) does with a driver's rings, split
 * or packed. vq_dev_pkt.h builds vsock packets on top of it.
 * Descriptors come from the driver and are checked before use: a bad
 * index, a loop or an over-long chain ends the walk with an error instead
 * of running away.
 *
 * Devices use the calls that take either layout: vq_dev_avail(),
 * vq_dev_peek(), vq_dev_take(), vq_dev_put(), vq_dev_publish(). Under
 * them, vq_dev_peek_head(), vq_dev_walk(), vq_dev_consume() and
 * vq_dev_push_used() are the split ring's steps, which tests drive one
 * by one.
 */
#ifndef VSOCK_VQ_DEV_H
#define VSOCK_VQ_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "virtq.h"

struct vq_dev {
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
	uint16_t size;
	uint16_t mask;
	uint16_t last_avail_idx;	/* packed: a slot */
	uint16_t used_idx;	/* split: used->idx shadow; packed: a slot */
	bool packed;
	bool event_idx;
	bool no_notify;		/* we poll: the driver need not kick */
	bool avail_wrap;	/* packed: wrap counters */
	bool used_wrap;
	bool broken;		/* packed: a chain without end */
};

/* A chain taken from the ring, to give back with vq_dev_put(). */
struct vq_dev_chain {
	uint16_t id;		/* split: head index; packed: buffer id */
	uint16_t ndescs;	/* packed: slots it took; 0: cannot be put */
};

/* One buffer of a chain, translated to a pointer. */
struct vq_dev_seg {
	void *ptr;
	uint32_t len;
	bool writable;
};

#define VQ_DEV_MAX_SEGS 64

/*
 * @desc, @avail and @used are the three areas the driver gave (for a
 * packed queue: the ring and the driver's and device's event structures).
 * @flags are VQ_F_* of virtqueue.h.
 */
static inline void
vq_dev_init(struct vq_dev *vd, void *desc, void *avail, void *used,
		uint16_t size, unsigned int flags)
{
	/* Casts spelt out: C++ (the microbenchmarks) includes this too. */
	vd->desc = (struct virtq_desc *)desc;
	vd->avail = (struct virtq_avail *)avail;
	vd->used = (struct virtq_used *)used;
	vd->size = size;
	vd->mask = size - 1;
	vd->last_avail_idx = 0;
	vd->used_idx = 0;
	vd->packed = (flags & VQ_F_PACKED) != 0;
	vd->event_idx = (flags & VQ_F_EVENT_IDX) != 0;
	vd->no_notify = false;
	vd->avail_wrap = true;
	vd->used_wrap = true;
	vd->broken = false;
}

/*
 * Where the device stands, as vhost-user's VIRTQ_BASE carries it: for a
 * packed ring the slot with the wrap counter in bit 15.
 */
static inline void
vq_dev_get_base(const struct vq_dev *vd, uint16_t *avail, uint16_t *used)
{
	*avail = vd->last_avail_idx;
	*used = vd->used_idx;
	if (vd->packed) {
		*avail |= (uint16_t)(vd->avail_wrap << 15);
		*used |= (uint16_t)(vd->used_wrap << 15);
	}
}

static inline void
vq_dev_set_base(struct vq_dev *vd, uint16_t avail, uint16_t used)
{
	vd->last_avail_idx = avail;
	vd->used_idx = used;
	if (vd->packed) {
		vd->last_avail_idx = avail & 0x7fff;
		vd->used_idx = used & 0x7fff;
		vd->avail_wrap = (avail >> 15) != 0;
		vd->used_wrap = (used >> 15) != 0;
	}
}

/* Is the packed descriptor at the next slot available to us? */
static inline bool
vq_dev_packed_avail(const struct vq_dev *vd)
{
	uint16_t f = __atomic_load_n(&vd->pdesc[vd->last_avail_idx].flags,
			__ATOMIC_ACQUIRE);

	return !vd->broken &&
		((f & VIRTQ_PACKED_DESC_F_AVAIL) != 0) == vd->avail_wrap &&
		((f & VIRTQ_PACKED_DESC_F_USED) != 0) != vd->avail_wrap;
}

/*
 * Entries the driver has made available and we have not taken: the
 * count for a split ring, 1 or 0 for a packed one (which does not count
 * without walking).
 */
static inline uint16_t
vq_dev_avail(const struct vq_dev *vd)
{
	if (vd->packed)
		return vq_dev_packed_avail(vd);
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
		const struct virtq_desc *d = &vd->desc[idx];

		if (n == VQ_DEV_MAX_SEGS || n == vd->size)
			return -1;
		segs[n].len = d->len;
		segs[n].writable = (d->flags & VIRTQ_DESC_F_WRITE) != 0;
		segs[n].ptr = d->len == 0 ? NULL : xlate(ctx, d->addr, d->len);
		if (segs[n].ptr == NULL && d->len != 0)
			return -1;
		n++;
		if (!(d->flags & VIRTQ_DESC_F_NEXT))
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
	struct virtq_used_elem *e = &vd->used->ring[vd->used_idx & vd->mask];

	e->id = head;
	e->len = len;
	vd->used_idx++;
}

/*
 * Make pushed entries visible to the driver. With EVENT_IDX on a split
 * ring, move avail_event along: just behind what we took while we poll
 * (the driver's index never crosses it), at it when we want a kick.
 */
static inline void
vq_dev_publish(struct vq_dev *vd)
{
	if (vd->packed)
		return;
	__atomic_store_n(&vd->used->idx, vd->used_idx, __ATOMIC_RELEASE);
	if (vd->event_idx)
		__atomic_store_n((uint16_t *)&vd->used->ring[vd->size],
				(uint16_t)(vd->last_avail_idx - vd->no_notify),
				__ATOMIC_RELAXED);
}

/*
 * Walk the packed chain at our next slot (vq_dev_packed_avail() said
 * there is one) without taking it. Returns the segments or -1; @c says
 * how to give the chain back, even a bad one, unless it has no end
 * (ndescs 0).
 */
static inline int
vq_dev_packed_walk(const struct vq_dev *vd, struct vq_dev_seg *segs,
		vq_dev_xlate_t xlate, void *ctx, struct vq_dev_chain *c)
{
	uint16_t pos = vd->last_avail_idx;
	bool bad = false;
	int n = 0;

	c->id = 0;
	c->ndescs = 0;
	for (;;) {
		const struct virtq_packed_desc *d = &vd->pdesc[pos];
		uint16_t flags = d->flags;

		if (n == VQ_DEV_MAX_SEGS || n == vd->size)
			return -1;
		if (flags & VIRTQ_DESC_F_INDIRECT)
			bad = true;	/* not negotiated */
		segs[n].len = d->len;
		segs[n].writable = (flags & VIRTQ_DESC_F_WRITE) != 0;
		segs[n].ptr = d->len == 0 || bad ? NULL :
			xlate(ctx, d->addr, d->len);
		if (segs[n].ptr == NULL && d->len != 0)
			bad = true;
		n++;
		if (!(flags & VIRTQ_DESC_F_NEXT)) {
			c->id = d->id;
			c->ndescs = (uint16_t)n;
			return bad ? -1 : n;
		}
		if (++pos == vd->size)
			pos = 0;
	}
}

/*
 * Walk the next available chain (vq_dev_avail() said there is one)
 * without taking it: the segments, or -1 for a bad chain, which is still
 * to be taken and put back (with length 0).
 */
static inline int
vq_dev_peek(const struct vq_dev *vd, struct vq_dev_seg *segs,
		vq_dev_xlate_t xlate, void *ctx, struct vq_dev_chain *c)
{
	if (vd->packed)
		return vq_dev_packed_walk(vd, segs, xlate, ctx, c);
	c->id = vq_dev_peek_head(vd);
	c->ndescs = 1;
	return vq_dev_walk(vd, c->id, segs, xlate, ctx);
}

static inline int
vq_dev_peek_va(const struct vq_dev *vd, struct vq_dev_seg *segs,
		struct vq_dev_chain *c)
{
	return vq_dev_peek(vd, segs, vq_dev_xlate_va, NULL, c);
}

/*
 * Take the chain vq_dev_peek() returned. A packed chain without end
 * leaves no way to find the next one: the ring is broken for us then.
 */
static inline void
vq_dev_take(struct vq_dev *vd, const struct vq_dev_chain *c)
{
	if (!vd->packed) {
		vd->last_avail_idx++;
		return;
	}
	if (c->ndescs == 0) {
		vd->broken = true;
		return;
	}
	vd->last_avail_idx = (uint16_t)(vd->last_avail_idx + c->ndescs);
	if (vd->last_avail_idx >= vd->size) {
		vd->last_avail_idx = (uint16_t)(vd->last_avail_idx - vd->size);
		vd->avail_wrap = !vd->avail_wrap;
	}
}

/*
 * Give a taken chain back with @len bytes written. A packed used
 * descriptor shows at once (its flags last); a split one at publish.
 */
static inline void
vq_dev_put(struct vq_dev *vd, const struct vq_dev_chain *c, uint32_t len)
{
	struct virtq_packed_desc *d;

	if (!vd->packed) {
		vq_dev_push_used(vd, c->id, len);
		return;
	}
	if (c->ndescs == 0)
		return;
	d = &vd->pdesc[vd->used_idx];
	d->id = c->id;
	d->len = len;
	__atomic_store_n(&d->flags, vd->used_wrap ?
			VIRTQ_PACKED_DESC_F_AVAIL_USED : 0, __ATOMIC_RELEASE);
	vd->used_idx = (uint16_t)(vd->used_idx + c->ndescs);
	if (vd->used_idx >= vd->size) {
		vd->used_idx = (uint16_t)(vd->used_idx - vd->size);
		vd->used_wrap = !vd->used_wrap;
	}
}

/*
 * A polling device tells the driver not to kick it. With EVENT_IDX on a
 * split ring that is avail_event, which vq_dev_publish() keeps up.
 */
static inline void
vq_dev_set_no_notify(struct vq_dev *vd, bool on)
{
	vd->no_notify = on;
	if (vd->packed)
		__atomic_store_n(&vd->device_event->flags, on ?
				VIRTQ_PACKED_EVENT_FLAG_DISABLE :
				VIRTQ_PACKED_EVENT_FLAG_ENABLE,
				__ATOMIC_RELAXED);
	else if (vd->event_idx)
		__atomic_store_n((uint16_t *)&vd->used->ring[vd->size],
				(uint16_t)(vd->last_avail_idx - on),
				__ATOMIC_RELAXED);
	else
		__atomic_store_n(&vd->used->flags,
				on ? VIRTQ_USED_F_NO_NOTIFY : 0,
				__ATOMIC_RELAXED);
}

/* Does the driver want an interrupt for what we put since @old? */
static inline bool
vq_dev_need_interrupt(const struct vq_dev *vd, uint16_t old)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vd->packed)
		return __atomic_load_n(&vd->driver_event->flags,
				__ATOMIC_RELAXED) !=
			VIRTQ_PACKED_EVENT_FLAG_DISABLE;
	if (vd->event_idx)
		return virtq_need_event(__atomic_load_n(
				&vd->avail->ring[vd->size], __ATOMIC_RELAXED),
				vd->used_idx, old);
	return !(__atomic_load_n(&vd->avail->flags, __ATOMIC_RELAXED) &
		VIRTQ_AVAIL_F_NO_INTERRUPT);
}

#endif /* VSOCK_VQ_DEV_H */
