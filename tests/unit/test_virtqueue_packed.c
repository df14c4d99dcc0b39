/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the packed virtqueue and for EVENT_IDX: the driver side
 * (virtqueue.h) against the device side (vq_dev.h) over ordinary
 * memory, across wrap-around, with chains, and with a hostile device
 * that writes used descriptors by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "virtqueue.h"
#include "vq_dev.h"

/* Cookies must be non-NULL: NULL marks an id that is not posted. */
#define COOKIE(i) ((void *)(uintptr_t)((i) + 1))
#define COOKIE_ID(c) ((uint32_t)((uintptr_t)(c) - 1))

struct fixture {
	uint8_t *ring;
	uint8_t *priv;
	struct virtqueue *vq;
	struct vq_dev dev;
	uint16_t size;
};

static void
fx_open(struct fixture *f, uint16_t size, unsigned int flags)
{
	size_t ring_len = virtqueue_ring_mem_size(size);

	f->size = size;
	f->ring = aligned_alloc(VIRTQ_ALIGN, ring_len);
	assert_non_null(f->ring);
	memset(f->ring, 0, ring_len);
	f->priv = malloc(virtqueue_priv_size(size));
	assert_non_null(f->priv);
	f->vq = virtqueue_init(f->priv, f->ring, size, 1, flags);
	assert_non_null(f->vq);
	vq_dev_init(&f->dev, f->vq->desc, f->vq->avail, f->vq->used, size,
			flags);
}

static void
fx_close(struct fixture *f)
{
	free(f->ring);
	free(f->priv);
}

static int
post(struct fixture *f, uint16_t nbufs, uint32_t tag)
{
	struct vq_buf bufs[8];
	uint16_t i;

	for (i = 0; i < nbufs; i++) {
		bufs[i].addr = 0x10000 + tag * 0x100 + i;
		bufs[i].len = 100 + i;
		bufs[i].writable = i > 0;
	}
	return virtqueue_enqueue(f->vq, bufs, nbufs, COOKIE(tag));
}

/* The device takes the next chain and checks what the driver posted. */
static struct vq_dev_chain
dev_take(struct fixture *f, int expect_segs, uint32_t tag)
{
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS];
	struct vq_dev_chain c;
	int i, n;

	assert_int_equal(vq_dev_avail(&f->dev), 1);
	n = vq_dev_peek_va(&f->dev, segs, &c);
	assert_int_equal(n, expect_segs);
	assert_int_equal(c.ndescs, expect_segs);
	for (i = 0; i < n; i++) {
		assert_ptr_equal(segs[i].ptr,
			(void *)(uintptr_t)(0x10000 + tag * 0x100 + i));
		assert_int_equal(segs[i].len, 100 + i);
		assert_int_equal(segs[i].writable, i > 0);
	}
	vq_dev_take(&f->dev, &c);
	return c;
}

/* A used descriptor written by hand, as a hostile device would. */
static void
forge_used(struct fixture *f, uint16_t id, uint32_t len)
{
	struct virtq_packed_desc *d = &f->dev.pdesc[f->dev.used_idx];

	d->id = id;
	d->len = len;
	d->flags = f->dev.used_wrap ? VIRTQ_PACKED_DESC_F_AVAIL_USED : 0;
	if (++f->dev.used_idx == f->size) {
		f->dev.used_idx = 0;
		f->dev.used_wrap = !f->dev.used_wrap;
	}
}

static void
test_init(void **state)
{
	struct fixture f;

	(void)state;
	fx_open(&f, 16, VQ_F_PACKED);
	assert_true(f.vq->packed);
	assert_int_equal(f.vq->num_free, 16);
	/* We poll: the device is asked never to interrupt. */
	assert_int_equal(f.vq->driver_event->flags,
			VIRTQ_PACKED_EVENT_FLAG_DISABLE);
	/* The event structures lie inside the ring memory, past the ring. */
	assert_true((uint8_t *)f.vq->driver_event >=
			f.ring + 16 * sizeof(struct virtq_packed_desc));
	assert_true((uint8_t *)(f.vq->device_event + 1) <=
			f.ring + virtqueue_ring_mem_size(16));
	assert_int_equal(vq_dev_avail(&f.dev), 0);
	fx_close(&f);
}

/* Chains of 1 to 3 descriptors, many laps, returned in and out of order. */
static void
test_wrap_chains(void **state)
{
	struct fixture f;
	uint32_t tag = 0, round;

	(void)state;
	fx_open(&f, 8, VQ_F_PACKED);
	for (round = 0; round < 50; round++) {
		struct vq_dev_chain c[3];
		uint16_t len[3] = { 1 + round % 3, 2, 1 + (round + 1) % 3 };
		void *cookies[4];
		uint32_t lens[4];
		int i;

		for (i = 0; i < 3; i++)
			assert_int_equal(post(&f, len[i], tag + i), 0);
		for (i = 0; i < 3; i++)
			c[i] = dev_take(&f, len[i], tag + i);
		assert_int_equal(vq_dev_avail(&f.dev), 0);
		assert_int_equal(virtqueue_dequeue(f.vq, cookies, lens, 4), 0);
		/* Out of order: the last chain first. */
		vq_dev_put(&f.dev, &c[2], 7);
		vq_dev_put(&f.dev, &c[0], 5);
		vq_dev_put(&f.dev, &c[1], 6);
		assert_int_equal(virtqueue_dequeue(f.vq, cookies, lens, 4), 3);
		assert_int_equal(COOKIE_ID(cookies[0]), tag + 2);
		assert_int_equal(lens[0], 7);
		assert_int_equal(COOKIE_ID(cookies[1]), tag);
		assert_int_equal(lens[1], 5);
		assert_int_equal(COOKIE_ID(cookies[2]), tag + 1);
		assert_int_equal(lens[2], 6);
		assert_int_equal(f.vq->num_free, 8);
		assert_int_equal(virtqueue_in_flight(f.vq), 0);
		tag += 3;
	}
	fx_close(&f);
}

/* A full ring, then no more; later a chain that wraps inside itself. */
static void
test_full(void **state)
{
	struct fixture f;
	struct vq_dev_chain c;
	void *cookies[8];
	uint32_t lens[8];

	(void)state;
	fx_open(&f, 8, VQ_F_PACKED);
	assert_int_equal(post(&f, 5, 0), 0);
	assert_int_equal(post(&f, 4, 1), -ENOSPC);
	assert_int_equal(post(&f, 3, 1), 0);
	assert_int_equal(post(&f, 1, 2), -ENOSPC);
	assert_int_equal(post(&f, 0, 2), -ENOSPC);
	c = dev_take(&f, 5, 0);
	vq_dev_put(&f.dev, &c, 0);
	c = dev_take(&f, 3, 1);
	vq_dev_put(&f.dev, &c, 0);
	assert_int_equal(virtqueue_dequeue(f.vq, cookies, lens, 8), 2);
	assert_int_equal(f.vq->num_free, 8);
	assert_int_equal(post(&f, 3, 2), 0);
	c = dev_take(&f, 3, 2);
	vq_dev_put(&f.dev, &c, 0);
	assert_int_equal(virtqueue_dequeue(f.vq, cookies, lens, 8), 1);
	/* Slots 3..7 and 0..1: the chain crosses the end of the ring. */
	assert_int_equal(post(&f, 7, 3), 0);
	c = dev_take(&f, 7, 3);
	vq_dev_put(&f.dev, &c, 70);
	assert_int_equal(virtqueue_dequeue(f.vq, cookies, lens, 8), 1);
	assert_int_equal(COOKIE_ID(cookies[0]), 3);
	assert_int_equal(lens[0], 70);
	assert_int_equal(f.vq->num_free, 8);
	fx_close(&f);
}

/* Ids out of range, never posted or returned twice: counted, skipped. */
static void
test_bad_ids(void **state)
{
	struct fixture f;
	struct vq_dev_chain c0, c1;
	void *cookies[8];
	uint32_t lens[8];

	(void)state;
	fx_open(&f, 8, VQ_F_PACKED);
	assert_int_equal(post(&f, 1, 0), 0);
	assert_int_equal(post(&f, 1, 1), 0);
	c0 = dev_take(&f, 1, 0);
	c1 = dev_take(&f, 1, 1);
	forge_used(&f, 8, 1);		/* out of range */
	forge_used(&f, 5, 1);		/* never posted */
	vq_dev_put(&f.dev, &c0, 10);
	assert_int_equal(virtqueue_dequeue(f.vq, cookies, lens, 8), 1);
	assert_int_equal(COOKIE_ID(cookies[0]), 0);
	assert_int_equal(lens[0], 10);
	assert_int_equal(f.vq->stats.bad_used_id, 2);
	forge_used(&f, c0.id, 1);	/* a duplicate */
	vq_dev_put(&f.dev, &c1, 11);
	assert_int_equal(virtqueue_dequeue(f.vq, cookies, lens, 8), 1);
	assert_int_equal(COOKIE_ID(cookies[0]), 1);
	assert_int_equal(f.vq->stats.bad_used_id, 3);
	assert_false(f.vq->broken);
	assert_int_equal(f.vq->num_free, 8);
	assert_int_equal(virtqueue_in_flight(f.vq), 0);
	fx_close(&f);
}

/* A used descriptor while nothing is in flight: the queue is broken. */
static void
test_broken(void **state)
{
	struct fixture f;
	struct vq_dev_chain c;
	void *cookies[8];
	uint32_t lens[8];

	(void)state;
	fx_open(&f, 8, VQ_F_PACKED);
	assert_int_equal(post(&f, 2, 0), 0);
	c = dev_take(&f, 2, 0);
	vq_dev_put(&f.dev, &c, 0);
	forge_used(&f, 0, 0);
	assert_int_equal(virtqueue_dequeue(f.vq, cookies, lens, 8), 1);
	assert_true(f.vq->broken);
	assert_int_equal(f.vq->stats.bad_used_idx, 1);
	/* Broken stays broken, whatever the device does next. */
	assert_int_equal(post(&f, 1, 1), 0);
	c = dev_take(&f, 1, 1);
	vq_dev_put(&f.dev, &c, 0);
	assert_int_equal(virtqueue_dequeue(f.vq, cookies, lens, 8), 0);
	fx_close(&f);
}

static void
drained(void *cookie, void *arg)
{
	(*(uint32_t *)arg) += COOKIE_ID(cookie) + 1;
}

/* Drain gives back every posted chain; the queue is as new after. */
static void
test_drain(void **state)
{
	struct fixture f;
	uint32_t sum = 0;

	(void)state;
	fx_open(&f, 8, VQ_F_PACKED);
	assert_int_equal(post(&f, 2, 0), 0);
	assert_int_equal(post(&f, 3, 1), 0);
	virtqueue_drain(f.vq, drained, &sum);
	assert_int_equal(sum, 1 + 2);
	assert_int_equal(f.vq->num_free, 8);
	assert_int_equal(virtqueue_in_flight(f.vq), 0);
	fx_close(&f);
}

/* The device side: a chain without end breaks the ring for it. */
static void
test_dev_endless_chain(void **state)
{
	struct fixture f;
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS];
	struct vq_dev_chain c;
	uint16_t i;

	(void)state;
	fx_open(&f, 8, VQ_F_PACKED);
	assert_int_equal(post(&f, 1, 0), 0);
	for (i = 0; i < 8; i++)
		f.vq->pdesc[i].flags |= VIRTQ_DESC_F_NEXT;
	assert_int_equal(vq_dev_peek_va(&f.dev, segs, &c), -1);
	assert_int_equal(c.ndescs, 0);
	vq_dev_take(&f.dev, &c);
	vq_dev_put(&f.dev, &c, 0);
	assert_true(f.dev.broken);
	assert_int_equal(vq_dev_avail(&f.dev), 0);
	fx_close(&f);
}

/* An indirect descriptor was not negotiated: a bad chain, still put. */
static void
test_dev_indirect(void **state)
{
	struct fixture f;
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS];
	struct vq_dev_chain c;
	void *cookies[2];
	uint32_t lens[2];

	(void)state;
	fx_open(&f, 8, VQ_F_PACKED);
	assert_int_equal(post(&f, 1, 0), 0);
	f.vq->pdesc[0].flags |= VIRTQ_DESC_F_INDIRECT;
	assert_int_equal(vq_dev_peek_va(&f.dev, segs, &c), -1);
	assert_int_equal(c.ndescs, 1);
	vq_dev_take(&f.dev, &c);
	vq_dev_put(&f.dev, &c, 0);
	assert_int_equal(virtqueue_dequeue(f.vq, cookies, lens, 2), 1);
	fx_close(&f);
}

/* virtq_need_event() across the 16-bit wrap of the indexes. */
static void
test_need_event(void **state)
{
	(void)state;
	/* event in [old, new): notify. */
	assert_true(virtq_need_event(10, 11, 10));
	assert_true(virtq_need_event(10, 20, 5));
	assert_false(virtq_need_event(10, 10, 5));
	assert_false(virtq_need_event(9, 20, 10));
	assert_false(virtq_need_event(20, 20, 10));
	/* Across 65535 -> 0. */
	assert_true(virtq_need_event(65535, 2, 65530));
	assert_true(virtq_need_event(0, 2, 65530));
	assert_true(virtq_need_event(1, 2, 65530));
	assert_false(virtq_need_event(2, 2, 65530));
	assert_false(virtq_need_event(65529, 2, 65530));
	/* Nothing new: never. */
	assert_false(virtq_need_event(7, 7, 7));
}

/* Packed kicks: DISABLE, ENABLE, and DESC with an offset and a lap. */
static void
test_packed_kick(void **state)
{
	struct fixture f;
	uint16_t i;

	(void)state;
	fx_open(&f, 8, VQ_F_PACKED | VQ_F_EVENT_IDX);
	assert_int_equal(post(&f, 1, 0), 0);
	assert_true(virtqueue_kick_prepare(f.vq));	/* ENABLE (zeroed) */
	vq_dev_set_no_notify(&f.dev, true);
	assert_int_equal(post(&f, 1, 1), 0);
	assert_false(virtqueue_kick_prepare(f.vq));
	/* DESC: kick when the descriptor at slot 3 (this lap) is posted. */
	f.vq->device_event->off_wrap = 3 | 1 << 15;
	f.vq->device_event->flags = VIRTQ_PACKED_EVENT_FLAG_DESC;
	assert_int_equal(post(&f, 1, 2), 0);		/* slot 2 */
	assert_false(virtqueue_kick_prepare(f.vq));
	assert_int_equal(post(&f, 2, 3), 0);		/* slots 3, 4 */
	assert_true(virtqueue_kick_prepare(f.vq));
	assert_int_equal(post(&f, 1, 4), 0);		/* slot 5 */
	assert_false(virtqueue_kick_prepare(f.vq));
	/* Everything back; then an offset in the next lap, slot 1. */
	for (i = 0; i < 5; i++) {
		struct vq_dev_chain c = dev_take(&f, i == 3 ? 2 : 1, i);
		void *cookie;
		uint32_t len;

		vq_dev_put(&f.dev, &c, 0);
		assert_int_equal(virtqueue_dequeue(f.vq, &cookie, &len, 1), 1);
	}
	f.vq->device_event->off_wrap = 1;		/* wrap counter 0 */
	assert_int_equal(post(&f, 1, 5), 0);		/* slot 6 */
	assert_int_equal(post(&f, 1, 6), 0);		/* slot 7 */
	assert_false(virtqueue_kick_prepare(f.vq));
	assert_int_equal(post(&f, 1, 7), 0);		/* slot 0, a new lap */
	assert_int_equal(post(&f, 1, 8), 0);		/* slot 1 */
	assert_true(virtqueue_kick_prepare(f.vq));
	/* An offset of the previous lap is behind us: no kick. */
	f.vq->device_event->off_wrap = 7 | 1 << 15;
	assert_int_equal(post(&f, 1, 9), 0);		/* slot 2 */
	assert_false(virtqueue_kick_prepare(f.vq));
	fx_close(&f);
}

/* Split EVENT_IDX: kick only when avail_event is crossed, across wrap. */
static void
test_split_event_idx(void **state)
{
	struct fixture f;
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS];
	uint16_t *avail_event;
	void *cookies[4];
	uint32_t lens[4];
	uint32_t n;

	(void)state;
	fx_open(&f, 8, VQ_F_EVENT_IDX);
	avail_event = (uint16_t *)&f.vq->used->ring[8];
	/* A polling device keeps avail_event just behind what it took. */
	vq_dev_set_no_notify(&f.dev, true);
	for (n = 0; n < 70000; n++) {
		struct vq_dev_chain c;

		assert_int_equal(post(&f, 1, n), 0);
		virtqueue_publish(f.vq);
		assert_false(virtqueue_kick_prepare(f.vq));
		assert_int_equal(vq_dev_peek_va(&f.dev, segs, &c), 1);
		vq_dev_take(&f.dev, &c);
		vq_dev_put(&f.dev, &c, 0);
		vq_dev_publish(&f.dev);
		assert_int_equal(virtqueue_dequeue(f.vq, cookies, lens, 4), 1);
		/* Our used_event stays behind the device's used index. */
		assert_int_equal((uint16_t)(f.vq->avail->ring[8] + 1),
				f.vq->last_used_idx);
	}
	assert_int_equal(*avail_event, (uint16_t)(n - 1));
	/* A device that wants kicks: at its index, so the next post kicks. */
	vq_dev_set_no_notify(&f.dev, false);
	assert_int_equal(post(&f, 1, 0), 0);
	virtqueue_publish(f.vq);
	assert_true(virtqueue_kick_prepare(f.vq));
	assert_int_equal(post(&f, 1, 1), 0);
	virtqueue_publish(f.vq);
	assert_false(virtqueue_kick_prepare(f.vq));
	fx_close(&f);
}

/* Driver and device agree on where they stopped, wrap counters too. */
static void
test_base(void **state)
{
	struct fixture f;
	struct vq_dev_chain c;
	struct vq_dev d2;
	void *cookie = NULL;
	uint32_t len;
	uint16_t a, u;
	int i;

	(void)state;
	fx_open(&f, 8, VQ_F_PACKED);
	for (i = 0; i < 10; i++) {
		assert_int_equal(post(&f, 1, i), 0);
		c = dev_take(&f, 1, i);
		vq_dev_put(&f.dev, &c, 0);
		assert_int_equal(virtqueue_dequeue(f.vq, &cookie, &len, 1), 1);
	}
	vq_dev_get_base(&f.dev, &a, &u);
	assert_int_equal(a, 2);		/* slot 2, wrap counter 0 */
	assert_int_equal(u, 2);
	vq_dev_init(&d2, f.vq->desc, f.vq->avail, f.vq->used, 8, VQ_F_PACKED);
	vq_dev_set_base(&d2, a, u);
	f.dev = d2;
	assert_int_equal(post(&f, 1, 20), 0);
	c = dev_take(&f, 1, 20);
	vq_dev_put(&f.dev, &c, 0);
	assert_int_equal(virtqueue_dequeue(f.vq, &cookie, &len, 1), 1);
	assert_int_equal(COOKIE_ID(cookie), 20);
	fx_close(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_wrap_chains),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_bad_ids),
		cmocka_unit_test(test_broken),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_dev_endless_chain),
		cmocka_unit_test(test_dev_indirect),
		cmocka_unit_test(test_need_event),
		cmocka_unit_test(test_packed_kick),
		cmocka_unit_test(test_split_event_idx),
		cmocka_unit_test(test_base),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
