/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the split virtqueue: the driver side (virtqueue.h) paired
 * with the device side (vq_dev.h) over ordinary memory, so that the
 * ring protocol is exercised end to end without EAL or a real device. The
 * device side also plays a hostile device that returns nonsense.
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

#define GUARD_LEN 64
#define GUARD_BYTE 0xA5

/* Cookies must be non-NULL: NULL marks a head that is not posted. */
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
fx_open(struct fixture *f, uint16_t size)
{
	size_t ring_len = virtqueue_ring_mem_size(size);
	size_t priv_len = virtqueue_priv_size(size);
	size_t i;

	f->size = size;
	f->ring = aligned_alloc(VIRTQ_ALIGN, ring_len);
	assert_non_null(f->ring);
	memset(f->ring, 0, ring_len);
	/* Guard bytes after priv catch an init that overruns priv_size. */
	f->priv = malloc(priv_len + GUARD_LEN);
	assert_non_null(f->priv);
	memset(f->priv, GUARD_BYTE, priv_len + GUARD_LEN);
	f->vq = virtqueue_init(f->priv, f->ring, size, 7, 0);
	assert_non_null(f->vq);
	for (i = 0; i < GUARD_LEN; i++)
		assert_int_equal(f->priv[priv_len + i], GUARD_BYTE);
	vq_dev_init(&f->dev, f->vq->desc, f->vq->avail, f->vq->used, size,
			0);
}

static void
fx_close(struct fixture *f)
{
	free(f->ring);
	free(f->priv);
}

static void
post_single(struct fixture *f, uint32_t id)
{
	struct vq_buf b = { .addr = 0x1000 + id, .len = id, .writable = true };

	assert_int_equal(virtqueue_enqueue(f->vq, &b, 1, COOKIE(id)), 0);
}

/* Device takes the next available chain; returns its head. */
static uint16_t
dev_take(struct fixture *f, int expect_segs)
{
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS];
	uint16_t head;

	assert_true(vq_dev_avail(&f->dev) > 0);
	head = vq_dev_peek_head(&f->dev);
	assert_int_equal(vq_dev_walk_va(&f->dev, head, segs), expect_segs);
	vq_dev_consume(&f->dev);
	return head;
}

/* Write a used entry by hand: vq_dev_push_used() cannot express a u32 id. */
static void
dev_push_raw(struct fixture *f, uint32_t id, uint32_t len)
{
	struct virtq_used_elem *e =
		&f->vq->used->ring[f->dev.used_idx & f->dev.mask];

	e->id = id;
	e->len = len;
	f->dev.used_idx++;
}

/*
 * Sizes: powers of two in [2, 32768] only. Layout from the virtio spec
 * (2.7, legacy-compatible): descriptors, the avail ring (flags, idx,
 * ring[size], used_event), then the used ring at the next 4096 boundary.
 * Transports hand these offsets to the device, which computes them itself.
 */
static void
test_init_and_layout(void **state)
{
	static const uint16_t bad[] = {
		0, 1, 3, 5, 6, 12, 100, 1000, 4095, 32767, 32769, 49152, 65535,
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *priv = malloc(virtqueue_priv_size(bad[i]));
		void *ring = aligned_alloc(VIRTQ_ALIGN,
				virtqueue_ring_mem_size(bad[i]));

		assert_true(priv != NULL && ring != NULL);
		assert_null(virtqueue_init(priv, ring, bad[i], 0, 0));
		free(priv);
		free(ring);
	}
	for (uint32_t s = 2; s <= 32768; s <<= 1) {
		size_t desc = 16 * (size_t)s;
		size_t used = (desc + 2 * (3 + (size_t)s) + 4095) / 4096 * 4096;
		size_t used_end = used + 2 * 3 + 8 * (size_t)s;
		size_t total = virtqueue_ring_mem_size((uint16_t)s);
		struct fixture f;

		assert_int_equal(virtqueue_avail_offset((uint16_t)s), desc);
		assert_int_equal(virtqueue_used_offset((uint16_t)s), used);
		assert_true(total >= used_end && total < used_end + 4096);
		assert_int_equal(total % 4096, 0);
		fx_open(&f, (uint16_t)s);
		assert_ptr_equal(f.vq->avail, f.ring + desc);
		assert_ptr_equal(f.vq->used, f.ring + used);
		assert_true(f.vq->mask == s - 1 && f.vq->num_free == s);
		assert_true(virtqueue_in_flight(f.vq) == 0 && !f.vq->broken);
		/* We poll, so the device is asked not to interrupt. */
		assert_int_equal(f.vq->avail->flags,
				VIRTQ_AVAIL_F_NO_INTERRUPT);
		fx_close(&f);
	}
	/* Known values, independent of the formula above. */
	assert_int_equal(virtqueue_used_offset(256), 8192);
	assert_int_equal(virtqueue_used_offset(32768), 593920);
}

static void
test_ring_full(void **state)
{
	static const uint16_t sizes[] = { 2, 8, 256 };
	struct vq_buf three[3] = { { 0 } };
	struct fixture f;
	uint16_t head;
	uint32_t i;

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		fx_open(&f, sizes[k]);
		for (i = 0; i < f.size; i++)
			post_single(&f, i);
		assert_int_equal(f.vq->num_free, 0);
		assert_int_equal(f.vq->avail_idx, f.size);
		head = f.vq->free_head;
		assert_int_equal(virtqueue_enqueue(f.vq, three, 1, COOKIE(99)),
				-ENOSPC);
		assert_int_equal(f.vq->avail_idx, f.size);
		assert_int_equal(f.vq->free_head, head);
		assert_int_equal(f.vq->num_free, 0);
		/* Not visible to the device before publish, all after. */
		assert_int_equal(vq_dev_avail(&f.dev), 0);
		virtqueue_publish(f.vq);
		assert_int_equal(vq_dev_avail(&f.dev), f.size);
		fx_close(&f);
	}

	/* A chain longer than what is free posts nothing at all. */
	fx_open(&f, 8);
	for (i = 0; i < 6; i++)
		post_single(&f, i);
	assert_int_equal(virtqueue_enqueue(f.vq, three, 3, COOKIE(9)),
			-ENOSPC);
	assert_int_equal(f.vq->num_free, 2);
	assert_int_equal(f.vq->avail_idx, 6);
	assert_null(f.vq->extra[f.vq->free_head].cookie);
	/* An empty chain is refused too. */
	assert_int_equal(virtqueue_enqueue(f.vq, three, 0, COOKIE(9)),
			-ENOSPC);
	assert_int_equal(virtqueue_enqueue(f.vq, three, 2, COOKIE(9)), 0);
	assert_int_equal(f.vq->num_free, 0);
	fx_close(&f);
}

static void
test_chain(void **state)
{
	uint8_t hdr[44], payload[100], rxbuf[256];
	const struct vq_buf bufs[3] = {
		{ (uint64_t)(uintptr_t)hdr, sizeof(hdr), false },
		{ (uint64_t)(uintptr_t)payload, sizeof(payload), false },
		{ (uint64_t)(uintptr_t)rxbuf, sizeof(rxbuf), true },
	};
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS];
	struct fixture f;
	void *cookie = NULL;
	uint32_t len = 0;
	uint16_t head, i, d;

	(void)state;
	fx_open(&f, 8);
	assert_int_equal(virtqueue_enqueue(f.vq, bufs, 3, COOKIE(42)), 0);
	assert_int_equal(f.vq->num_free, 5);
	virtqueue_publish(f.vq);

	head = d = vq_dev_peek_head(&f.dev);
	assert_int_equal(vq_dev_walk_va(&f.dev, head, segs), 3);
	for (i = 0; i < 3; i++) {
		/* Flags as the device sees them in shared memory. */
		uint16_t want = (i < 2 ? VIRTQ_DESC_F_NEXT : 0) |
			(bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0);

		assert_true(d < f.size);
		assert_int_equal(f.vq->desc[d].flags, want);
		d = f.vq->desc[d].next;
		assert_ptr_equal(segs[i].ptr, (void *)(uintptr_t)bufs[i].addr);
		assert_int_equal(segs[i].len, bufs[i].len);
		assert_int_equal(segs[i].writable, bufs[i].writable);
	}
	vq_dev_consume(&f.dev);
	memset(segs[2].ptr, 0x5A, 200);
	vq_dev_push_used(&f.dev, head, 200);

	/* Nothing comes back before the device publishes. */
	assert_int_equal(virtqueue_dequeue(f.vq, &cookie, &len, 1), 0);
	vq_dev_publish(&f.dev);
	assert_int_equal(virtqueue_in_flight(f.vq), 1);
	assert_int_equal(virtqueue_dequeue(f.vq, &cookie, &len, 1), 1);
	assert_ptr_equal(cookie, COOKIE(42));
	assert_int_equal(len, 200);
	assert_int_equal(rxbuf[199], 0x5A);
	assert_int_equal(f.vq->num_free, 8);
	assert_int_equal(virtqueue_in_flight(f.vq), 0);
	assert_int_equal(virtqueue_dequeue(f.vq, &cookie, &len, 1), 0);
	fx_close(&f);
}

static void
test_out_of_order(void **state)
{
	static const int order[4] = { 2, 0, 3, 1 };
	struct vq_buf bufs[16] = { { 0 } };
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS];
	uint16_t heads[4], d, seen = 0;
	void *cookies[16];
	uint32_t lens[16];
	struct fixture f;
	int i;

	(void)state;
	fx_open(&f, 16);
	/* Chains of 1, 2, 3 and 4 descriptors. */
	for (i = 0; i < 4; i++)
		assert_int_equal(virtqueue_enqueue(f.vq, bufs, i + 1,
				COOKIE(i)), 0);
	assert_int_equal(f.vq->num_free, 6);
	virtqueue_publish(f.vq);
	for (i = 0; i < 4; i++)
		heads[i] = dev_take(&f, i + 1);
	for (i = 0; i < 4; i++)
		vq_dev_push_used(&f.dev, heads[order[i]], 1000 + order[i]);
	vq_dev_publish(&f.dev);

	/* Two batches, to cover a partial dequeue too. */
	assert_int_equal(virtqueue_dequeue(f.vq, cookies, lens, 1), 1);
	assert_int_equal(virtqueue_dequeue(f.vq, cookies + 1, lens + 1, 16),
			3);
	for (i = 0; i < 4; i++) {
		assert_ptr_equal(cookies[i], COOKIE(order[i]));
		assert_int_equal(lens[i], 1000 + order[i]);
	}
	assert_int_equal(f.vq->num_free, 16);

	/* Free list intact: a 16-chain visits every descriptor once. */
	assert_int_equal(virtqueue_enqueue(f.vq, bufs, 16, COOKIE(77)), 0);
	virtqueue_publish(f.vq);
	d = vq_dev_peek_head(&f.dev);
	assert_int_equal(vq_dev_walk_va(&f.dev, d, segs), 16);
	for (i = 0; i < 16; i++) {
		assert_true(d < 16);
		assert_false(seen & (1u << d));
		seen |= (uint16_t)(1u << d);
		d = f.vq->desc[d].next;
	}
	assert_int_equal(seen, 0xffff);
	fx_close(&f);
}

/*
 * Many cycles with a small queue so that avail->idx, used->idx and both
 * sides' shadows wrap 65535 -> 0 several times, with a random number of
 * entries in flight across the wrap and completions out of order.
 */
static void
test_wrap_around(void **state)
{
	enum { QSZ = 16, CYCLES = 200000 };
	/* Never dereferenced, but not NULL: the device refuses NULL. */
	struct vq_buf bufs[3] = { { .addr = 0x1000 }, { .addr = 0x2000 },
		{ .addr = 0x3000 } };
	uint32_t expect[64];	/* completion FIFO of sequence numbers */
	uint32_t exp_head = 0, exp_tail = 0;
	uint32_t posted = 0, done = 0, cycle;
	uint32_t avail_wraps = 0, used_wraps = 0;
	uint16_t prev_avail = 0, prev_used = 0;
	uint64_t rng = 0x243f6a8885a308d3ULL;
	struct fixture f;

	(void)state;
	fx_open(&f, QSZ);
	for (cycle = 0; cycle < CYCLES; cycle++) {
		uint32_t taken[QSZ];
		uint16_t heads[QSZ], ntake, i, got;

		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		/* Driver posts 0-3 chains of 1-3 descriptors, if room. */
		for (i = 0; i < (rng >> 60) % 4; i++) {
			uint16_t n = 1 + (uint16_t)((rng >> (40 + 2 * i)) % 3);

			if (n > f.vq->num_free)
				break;
			/* The device learns seq and length from the data. */
			bufs[0].len = posted << 2 | n;
			assert_int_equal(virtqueue_enqueue(f.vq, bufs, n,
					COOKIE(posted)), 0);
			posted++;
		}
		virtqueue_publish(f.vq);
		assert_int_equal(f.vq->avail->idx, (uint16_t)posted);
		avail_wraps += f.vq->avail->idx < prev_avail;
		prev_avail = f.vq->avail->idx;

		/* Device completes some of what is available. */
		ntake = vq_dev_avail(&f.dev);
		if (ntake > 0)
			ntake = 1 + (uint16_t)((rng >> 32) % ntake);
		for (i = 0; i < ntake; i++) {
			struct vq_dev_seg segs[VQ_DEV_MAX_SEGS];
			uint16_t h = vq_dev_peek_head(&f.dev);
			int nseg = vq_dev_walk_va(&f.dev, h, segs);

			assert_true(h < QSZ);
			assert_int_equal(nseg, segs[0].len & 3);
			vq_dev_consume(&f.dev);
			heads[i] = h;
			taken[i] = segs[0].len >> 2;
		}
		for (i = 0; i < ntake; i++) {
			/* Odd cycles complete in reverse order. */
			uint16_t j = cycle & 1 ? ntake - 1 - i : i;

			vq_dev_push_used(&f.dev, heads[j], taken[j] * 3);
			expect[exp_tail++ % 64] = taken[j];
		}
		vq_dev_publish(&f.dev);
		used_wraps += f.vq->used->idx < prev_used;
		prev_used = f.vq->used->idx;

		/* Driver takes all, in random-sized batches. */
		while (exp_head != exp_tail) {
			void *cookies[QSZ];
			uint32_t lens[QSZ];

			got = virtqueue_dequeue(f.vq, cookies, lens,
					1 + (uint16_t)((rng >> 20) % QSZ));
			assert_true(got > 0);
			for (i = 0; i < got; i++) {
				uint32_t seq = expect[exp_head++ % 64];

				assert_ptr_equal(cookies[i], COOKIE(seq));
				assert_int_equal(lens[i], seq * 3);
				done++;
			}
		}
		assert_int_equal(f.vq->used->idx, (uint16_t)done);
		assert_int_equal(virtqueue_in_flight(f.vq),
				(uint16_t)(posted - done));
		assert_false(f.vq->broken);
	}
	/* Both indices went through 65535 -> 0 several times. */
	assert_true(posted > 3 * 65536);
	assert_int_equal(avail_wraps, posted >> 16);
	assert_int_equal(used_wraps, done >> 16);
	assert_true(used_wraps >= 3);
	assert_true(f.vq->stats.bad_used_id + f.vq->stats.bad_used_idx == 0);
	fx_close(&f);
}

/*
 * Used ids out of range (== size, a huge u32), in range but never posted,
 * and a duplicate completion: each is counted and skipped, and none of
 * them touches the free list or another chain's cookie.
 */
static void
test_hostile_used_id(void **state)
{
	void *cookies[8];
	uint32_t lens[8];
	struct fixture f;
	uint16_t h[6];
	int i;

	(void)state;
	fx_open(&f, 8);
	for (i = 0; i < 6; i++)
		post_single(&f, i);
	virtqueue_publish(f.vq);
	for (i = 0; i < 6; i++)
		h[i] = dev_take(&f, 1);
	assert_null(f.vq->extra[6].cookie);

	dev_push_raw(&f, 8, 0);
	dev_push_raw(&f, h[0], 10);
	dev_push_raw(&f, 0xffffffffu, 0);
	dev_push_raw(&f, 6, 0);		/* never posted */
	dev_push_raw(&f, h[0], 11);	/* already returned */
	dev_push_raw(&f, h[2], 12);
	vq_dev_publish(&f.dev);
	assert_int_equal(virtqueue_dequeue(f.vq, cookies, lens, 8), 2);
	assert_ptr_equal(cookies[0], COOKIE(0));
	assert_int_equal(lens[0], 10);
	assert_ptr_equal(cookies[1], COOKIE(2));
	assert_int_equal(lens[1], 12);
	assert_int_equal(f.vq->stats.bad_used_id, 4);
	assert_int_equal(f.vq->stats.bad_used_idx, 0);
	assert_false(f.vq->broken);
	assert_int_equal(f.vq->num_free, 4);
	assert_ptr_equal(f.vq->extra[h[1]].cookie, COOKIE(1));
	assert_ptr_equal(f.vq->extra[h[3]].cookie, COOKIE(3));
	assert_ptr_equal(f.vq->extra[h[4]].cookie, COOKIE(4));
	assert_ptr_equal(f.vq->extra[h[5]].cookie, COOKIE(5));
	fx_close(&f);
}

static void
test_hostile_used_idx(void **state)
{
	void *cookies[8];
	uint32_t lens[8];
	struct fixture f;

	(void)state;
	fx_open(&f, 8);
	post_single(&f, 0);
	post_single(&f, 1);
	virtqueue_publish(f.vq);
	vq_dev_push_used(&f.dev, dev_take(&f, 1), 0);
	/* Claims 5 used entries with only 2 posted. */
	__atomic_store_n(&f.vq->used->idx, 5, __ATOMIC_RELEASE);
	assert_int_equal(virtqueue_dequeue(f.vq, cookies, lens, 8), 0);
	assert_true(f.vq->broken);
	assert_int_equal(f.vq->stats.bad_used_idx, 1);
	assert_int_equal(f.vq->last_used_idx, 0);
	/* Broken stays broken even if the index later looks sane. */
	vq_dev_publish(&f.dev);
	assert_int_equal(virtqueue_dequeue(f.vq, cookies, lens, 8), 0);
	assert_int_equal(f.vq->stats.bad_used_idx, 1);
	fx_close(&f);

	/* Running backwards looks like ~65535 entries: also broken. */
	fx_open(&f, 8);
	post_single(&f, 0);
	virtqueue_publish(f.vq);
	__atomic_store_n(&f.vq->used->idx, 0xffff, __ATOMIC_RELEASE);
	assert_int_equal(virtqueue_dequeue(f.vq, cookies, lens, 8), 0);
	assert_true(f.vq->broken && f.vq->stats.bad_used_idx == 1);
	fx_close(&f);
}

static void
test_notify_flags(void **state)
{
	struct fixture f;

	(void)state;
	fx_open(&f, 16);
	assert_true(f.vq->avail->flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
	post_single(&f, 0);
	virtqueue_publish(f.vq);
	assert_true(virtqueue_kick_prepare(f.vq));
	vq_dev_set_no_notify(&f.dev, true);
	assert_int_equal(f.vq->used->flags, VIRTQ_USED_F_NO_NOTIFY);
	assert_false(virtqueue_kick_prepare(f.vq));
	vq_dev_set_no_notify(&f.dev, false);
	assert_true(virtqueue_kick_prepare(f.vq));
	fx_close(&f);
}

static void
drain_cb(void *cookie, void *arg)
{
	uint32_t *count = arg;
	uint32_t id = COOKIE_ID(cookie);

	assert_true(id < 8);
	count[id]++;
}

static void
test_drain(void **state)
{
	static const uint16_t lens[6] = { 1, 3, 2, 1, 3, 2 };
	/* 1 and 4 are dequeued normally; 0 is used but never dequeued. */
	static const uint32_t want[8] = { 1, 0, 1, 1, 0, 1, 0, 0 };
	struct vq_buf bufs[3] = { { 0 } };
	uint32_t count[8] = { 0 };
	void *cookies[4];
	uint32_t rlen[4];
	uint16_t heads[6];
	struct fixture f;
	int i;

	(void)state;
	fx_open(&f, 16);
	for (i = 0; i < 6; i++)
		assert_int_equal(virtqueue_enqueue(f.vq, bufs, lens[i],
				COOKIE(i)), 0);
	virtqueue_publish(f.vq);
	for (i = 0; i < 6; i++)
		heads[i] = dev_take(&f, lens[i]);
	vq_dev_push_used(&f.dev, heads[1], 0);
	vq_dev_push_used(&f.dev, heads[4], 0);
	vq_dev_publish(&f.dev);
	assert_int_equal(virtqueue_dequeue(f.vq, cookies, rlen, 4), 2);
	vq_dev_push_used(&f.dev, heads[0], 0);
	vq_dev_publish(&f.dev);

	virtqueue_drain(f.vq, drain_cb, count);
	assert_memory_equal(count, want, sizeof(want));
	assert_int_equal(f.vq->num_free, 16);
	assert_int_equal(virtqueue_in_flight(f.vq), 0);

	/* Draining again finds nothing; the whole ring is reusable. */
	virtqueue_drain(f.vq, drain_cb, count);
	assert_memory_equal(count, want, sizeof(want));
	for (i = 0; i < 16; i++)
		post_single(&f, i);
	assert_int_equal(f.vq->num_free, 0);
	fx_close(&f);
}

static void
test_dev_walk_rejects(void **state)
{
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS];
	struct vq_buf bufs[VQ_DEV_MAX_SEGS + 1] = { { 0 } };
	struct virtq_desc *d;
	struct fixture f;

	(void)state;
	fx_open(&f, 16);
	d = f.vq->desc;
	/* 0 -> 1 -> 0 ..., and 5 -> 5 ... */
	d[0] = (struct virtq_desc){ 0x1000, 10, VIRTQ_DESC_F_NEXT, 1 };
	d[1] = (struct virtq_desc){ 0x2000, 10, VIRTQ_DESC_F_NEXT, 0 };
	d[5] = (struct virtq_desc){ 0x5000, 10, VIRTQ_DESC_F_NEXT, 5 };
	assert_int_equal(vq_dev_walk_va(&f.dev, 0, segs), -1);
	assert_int_equal(vq_dev_walk_va(&f.dev, 1, segs), -1);
	assert_int_equal(vq_dev_walk_va(&f.dev, 5, segs), -1);
	/* next, or the head itself, past the table. */
	d[2] = (struct virtq_desc){ 0x3000, 10, VIRTQ_DESC_F_NEXT, 16 };
	assert_int_equal(vq_dev_walk_va(&f.dev, 2, segs), -1);
	d[2].next = 0xffff;
	assert_int_equal(vq_dev_walk_va(&f.dev, 2, segs), -1);
	assert_int_equal(vq_dev_walk_va(&f.dev, 16, segs), -1);
	/* Sane descriptors next to them still walk. */
	d[7] = (struct virtq_desc){ 0x7000, 10, VIRTQ_DESC_F_NEXT, 8 };
	d[8] = (struct virtq_desc){ 0x8000, 20, VIRTQ_DESC_F_WRITE, 0 };
	assert_int_equal(vq_dev_walk_va(&f.dev, 7, segs), 2);
	assert_ptr_equal(segs[1].ptr, (void *)(uintptr_t)0x8000);
	assert_true(segs[1].writable);
	fx_close(&f);

	/* A chain longer than VQ_DEV_MAX_SEGS is refused, the limit is not. */
	fx_open(&f, 256);
	assert_int_equal(virtqueue_enqueue(f.vq, bufs, VQ_DEV_MAX_SEGS + 1,
			COOKIE(0)), 0);
	assert_int_equal(virtqueue_enqueue(f.vq, bufs, VQ_DEV_MAX_SEGS,
			COOKIE(1)), 0);
	virtqueue_publish(f.vq);
	assert_int_equal(vq_dev_walk_va(&f.dev, vq_dev_peek_head(&f.dev),
			segs), -1);
	vq_dev_consume(&f.dev);
	assert_int_equal(vq_dev_walk_va(&f.dev, vq_dev_peek_head(&f.dev),
			segs), VQ_DEV_MAX_SEGS);
	fx_close(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_and_layout),
		cmocka_unit_test(test_ring_full),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_wrap_around),
		cmocka_unit_test(test_hostile_used_id),
		cmocka_unit_test(test_hostile_used_idx),
		cmocka_unit_test(test_notify_flags),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_dev_walk_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
