/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock packets on a device's rings, once for every device model (the
 * driver's loopback device, lib/vsock_vhost's back-end):
 * - vq_dev_parse_tx() (vq_dev_tx_chain() then vq_dev_tx_len_ok()): the
 *   checks a tx chain (one packet, header and payload in any number of
 *   device-readable buffers) must pass;
 * - vq_dev_deliver(): a packet into the driver's rx buffers, one piece per
 *   buffer. A payload that does not fit one buffer is cut into several
 *   packets, each with its own header, as Linux's vhost-vsock does; a
 *   SEQPACKET message's EOM and EOR stay on its last piece. Out of buffers
 *   in the middle, delivery stops and carries on from where it got on the
 *   next call, so a packet is never started twice.
 *
 * Everything in the rings is the driver's, hence untrusted: each check
 * that fails has its own counter in struct vq_dev_pkt_stats.
 */
#ifndef VSOCK_VQ_DEV_PKT_H
#define VSOCK_VQ_DEV_PKT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <vsock_hdr.h>

#include "vq_dev.h"

/* Counters of the ring-level checks. */
struct vq_dev_pkt_stats {
	uint64_t bad_chain;	/* bad descriptor index, loop, address */
	uint64_t bad_dir;	/* buffer of the wrong direction */
	uint64_t bad_size;	/* shorter than a header, or over 64 KiB */
	uint64_t bad_len;	/* header len disagrees with the bytes */
	uint64_t bad_rx_buf;	/* rx buffer too small for a header and data */
	uint64_t bad_avail;	/* avail index beyond the ring: ignored */
	uint64_t pieces;	/* rx buffers filled (more than packets: split) */
};

/* A position in a list of segments. */
struct vq_dev_cursor {
	const struct vq_dev_seg *segs;
	int n;
	int i;
	uint32_t off;
};

/* Start at byte @skip of @segs. */
static inline void
vq_dev_cursor_init(struct vq_dev_cursor *c, const struct vq_dev_seg *segs,
		int n, uint32_t skip)
{
	c->segs = segs;
	c->n = n;
	c->i = 0;
	while (c->i < n && skip >= segs[c->i].len) {
		skip -= segs[c->i].len;
		c->i++;
	}
	c->off = skip;
}

/* Copy up to @len bytes from @src to @dst; returns the bytes copied. */
static inline uint32_t
vq_dev_copy(struct vq_dev_cursor *dst, struct vq_dev_cursor *src,
		uint32_t len)
{
	uint32_t done = 0;

	while (done < len && dst->i < dst->n && src->i < src->n) {
		const struct vq_dev_seg *d = &dst->segs[dst->i];
		const struct vq_dev_seg *s = &src->segs[src->i];
		uint32_t n = len - done;

		if (n > d->len - dst->off)
			n = d->len - dst->off;
		if (n > s->len - src->off)
			n = s->len - src->off;
		memcpy((uint8_t *)d->ptr + dst->off,
			(const uint8_t *)s->ptr + src->off, n);
		done += n;
		dst->off += n;
		src->off += n;
		if (dst->off == d->len) {
			dst->i++;
			dst->off = 0;
		}
		if (src->off == s->len) {
			src->i++;
			src->off = 0;
		}
	}
	return done;
}

/* Bytes of a chain whose buffers all go one way; -1 if any goes the other. */
static inline int64_t
vq_dev_chain_bytes(const struct vq_dev_seg *segs, int n, bool writable)
{
	int64_t total = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (segs[i].writable != writable)
			return -1;
		total += segs[i].len;
	}
	return total;
}

/*
 * Chains the driver made available (for a packed ring: 1 when there is
 * one). More than the ring holds is a bogus index (a driver writing it
 * in pieces, say): nothing is taken then, for walking stale entries would
 * put the device out of step with the ring for good.
 */
static inline uint16_t
vq_dev_avail_checked(const struct vq_dev *vq, struct vq_dev_pkt_stats *st)
{
	uint16_t n = vq_dev_avail(vq);

	if (n <= vq->size)
		return n;
	st->bad_avail++;
	return 0;
}

/*
 * The chain checks of a tx packet (@nseg from vq_dev_peek(), negative for
 * a bad chain): every buffer device-readable, a header and at most
 * VSOCK_MAX_PKT_PAYLOAD bytes. Returns the packet's bytes, header
 * included, or 0 after counting why not.
 */
static inline uint32_t
vq_dev_tx_chain(const struct vq_dev_seg *segs, int nseg,
		struct vq_dev_pkt_stats *st)
{
	int64_t total;

	if (nseg < 0) {
		st->bad_chain++;
		return 0;
	}
	total = vq_dev_chain_bytes(segs, nseg, false);
	if (total < 0) {
		st->bad_dir++;
		return 0;
	}
	if (total < VSOCK_HDR_LEN ||
			total > VSOCK_HDR_LEN + VSOCK_MAX_PKT_PAYLOAD) {
		st->bad_size++;
		return 0;
	}
	return (uint32_t)total;
}

/* The header check of a tx packet of @total bytes: len is the rest. */
static inline bool
vq_dev_tx_len_ok(const struct vsock_hdr *h, uint32_t total,
		struct vq_dev_pkt_stats *st)
{
	if (h->len == total - VSOCK_HDR_LEN)
		return true;
	st->bad_len++;
	return false;
}

/*
 * Both checks of the tx chain @segs, decoding its header into @h (a
 * device that copies the packet first checks the chain, then the header
 * of its copy). Returns the packet's bytes or 0.
 */
static inline uint32_t
vq_dev_parse_tx(const struct vq_dev_seg *segs, int nseg, struct vsock_hdr *h,
		struct vq_dev_pkt_stats *st)
{
	uint8_t raw[VSOCK_HDR_LEN];
	struct vq_dev_seg hseg = { .ptr = raw, .len = sizeof(raw) };
	struct vq_dev_cursor dst, src;
	uint32_t total = vq_dev_tx_chain(segs, nseg, st);

	if (total == 0)
		return 0;
	if (segs[0].len >= VSOCK_HDR_LEN) {
		vsock_hdr_decode(h, segs[0].ptr);
	} else {
		vq_dev_cursor_init(&dst, &hseg, 1, 0);
		vq_dev_cursor_init(&src, segs, nseg, 0);
		vq_dev_copy(&dst, &src, VSOCK_HDR_LEN);
		vsock_hdr_decode(h, raw);
	}
	return vq_dev_tx_len_ok(h, total, st) ? total : 0;
}

/*
 * The packet being delivered: its header, and its bytes (the header's
 * copy first, then the payload) in @src. Fill @hdr and @src, set @off to
 * 0, then call vq_dev_deliver() until it returns true.
 */
struct vq_dev_pkt {
	struct vsock_hdr hdr;		/* hdr.len: payload bytes */
	const struct vq_dev_seg *src;	/* header + payload */
	int nsrc;
	uint32_t off;			/* payload bytes delivered */
};

/*
 * Hooks for a device that breaks the rules on purpose (the hostile
 * loopback device); NULL for one that does not. @start runs before each
 * piece, with a buffer available; it may use buffers itself and returns a
 * cookie handed to the other two: @hdr may change a piece's header, @put
 * gives the buffer back instead of vq_dev_put(). @cap is its capacity.
 */
struct vq_dev_pkt_hooks {
	int (*start)(void *ctx, const struct vsock_hdr *h);
	void (*hdr)(void *ctx, struct vsock_hdr *h, int cookie);
	void (*put)(void *ctx, const struct vq_dev_chain *c, uint32_t len,
			uint32_t cap, int cookie);
};

/*
 * Deliver @p into @vq's buffers (the driver's rx ring), addresses
 * translated by @xlate. Returns true when the whole packet went (a packet
 * without payload still takes one buffer), false when buffers ran out
 * first. *@pushed counts the buffers given back, bad ones included.
 */
static inline bool
vq_dev_deliver(struct vq_dev *vq, vq_dev_xlate_t xlate, void *xctx,
		struct vq_dev_pkt *p, uint16_t *pushed,
		struct vq_dev_pkt_stats *st, const struct vq_dev_pkt_hooks *hk,
		void *hctx)
{
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS];
	uint8_t raw[VSOCK_HDR_LEN];
	struct vq_dev_seg hseg = { .ptr = raw, .len = sizeof(raw) };
	bool first = true;

	while (first || p->off < p->hdr.len) {
		struct vq_dev_cursor dst, src;
		struct vq_dev_chain c;
		struct vsock_hdr h;
		uint32_t piece;
		int cookie = 0;
		int64_t cap;
		int n;

		if (vq_dev_avail_checked(vq, st) == 0)
			return false;
		if (hk != NULL) {
			cookie = hk->start(hctx, &p->hdr);
			if (vq_dev_avail_checked(vq, st) == 0)
				return false;
		}
		n = vq_dev_peek(vq, segs, xlate, xctx, &c);
		vq_dev_take(vq, &c);
		cap = n < 0 ? -1 : vq_dev_chain_bytes(segs, n, true);
		if (cap <= VSOCK_HDR_LEN) {
			if (n < 0)
				st->bad_chain++;
			else if (cap < 0)
				st->bad_dir++;
			else
				st->bad_rx_buf++;
			vq_dev_put(vq, &c, 0);
			(*pushed)++;
			continue;
		}
		piece = p->hdr.len - p->off;
		if (piece > cap - VSOCK_HDR_LEN)
			piece = (uint32_t)(cap - VSOCK_HDR_LEN);
		h = p->hdr;
		h.len = piece;
		if (h.type == VSOCK_TYPE_SEQPACKET && h.op == VSOCK_OP_RW &&
				p->off + piece < p->hdr.len)
			h.flags &= ~(VSOCK_SEQ_EOM | VSOCK_SEQ_EOR);
		if (hk != NULL)
			hk->hdr(hctx, &h, cookie);
		/* Drivers post header and data in one buffer: no bounce. */
		if (segs[0].len >= VSOCK_HDR_LEN) {
			vsock_hdr_encode(segs[0].ptr, &h);
		} else {
			vsock_hdr_encode(raw, &h);
			vq_dev_cursor_init(&dst, segs, n, 0);
			vq_dev_cursor_init(&src, &hseg, 1, 0);
			vq_dev_copy(&dst, &src, VSOCK_HDR_LEN);
		}
		vq_dev_cursor_init(&dst, segs, n, VSOCK_HDR_LEN);
		vq_dev_cursor_init(&src, p->src, p->nsrc,
				VSOCK_HDR_LEN + p->off);
		vq_dev_copy(&dst, &src, piece);
		p->off += piece;
		if (hk != NULL)
			hk->put(hctx, &c, VSOCK_HDR_LEN + piece, (uint32_t)cap,
					cookie);
		else
			vq_dev_put(vq, &c, VSOCK_HDR_LEN + piece);
		(*pushed)++;
		st->pieces++;
		first = false;
	}
	return true;
}

#endif /* VSOCK_VQ_DEV_PKT_H */
