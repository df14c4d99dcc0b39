/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The loopback device as a hostile device, for the tests (built with
 * -Dtest_hooks=true only): with fault=NAME, every fault_every-th packet
 * it delivers (at most fault_max times, 0: no limit) breaks one rule the
 * driver or the stack must catch, by corrupting the packet, its used
 * entry, or by sending an extra packet or event. The rest of the traffic
 * goes through untouched. When the driver resets it to recover, it
 * is not back yet (from a reset of its own) for the first fault_busy=
 * attempts, refuses the next fault_resets= resets, and then reports the
 * CID of fault_cid=, if given.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vsock_hdr.h>

#include "virtio_vsock_loopback.h"

#define LB_FAULT_EVERY 1000

/* What a hostile loopback device breaks (fault=NAME). */
enum lb_fault {
	LB_FAULT_NONE,
	LB_FAULT_USED_ID_RANGE,	/* rx used id past the end of the ring */
	LB_FAULT_USED_ID_DUP,	/* an rx buffer returned twice */
	LB_FAULT_USED_LEN_OVER,	/* rx used length over the buffer */
	LB_FAULT_USED_LEN_SHORT,	/* rx used length under a header */
	LB_FAULT_USED_IDX_AHEAD,	/* rx used index past what was posted */
	LB_FAULT_EVENT_GARBAGE,	/* events of unknown ids and lengths */
	LB_FAULT_HDR_LEN,	/* header len one byte over the payload */
	LB_FAULT_DST_CID,	/* an extra packet for a CID not the driver's */
	LB_FAULT_SRC_CID,	/* an extra packet from CID 1 or the host */
	LB_FAULT_BAD_OP,	/* an op outside the spec */
	LB_FAULT_BAD_TYPE,	/* a socket type outside the spec */
	LB_FAULT_BAD_FLAGS,	/* reserved flag bits on RW */
	LB_FAULT_BUF_ZERO,	/* buf_alloc 0 */
	LB_FAULT_BUF_HUGE,	/* buf_alloc 4 GiB - 1 */
	LB_FAULT_FWD_BACK,	/* fwd_cnt going backwards */
	LB_FAULT_FWD_AHEAD,	/* fwd_cnt beyond what was sent */
	LB_FAULT_NUM
};

static const char *const lb_fault_names[LB_FAULT_NUM] = {
	[LB_FAULT_NONE] = "none",
	[LB_FAULT_USED_ID_RANGE] = "used_id_range",
	[LB_FAULT_USED_ID_DUP] = "used_id_dup",
	[LB_FAULT_USED_LEN_OVER] = "used_len_over",
	[LB_FAULT_USED_LEN_SHORT] = "used_len_short",
	[LB_FAULT_USED_IDX_AHEAD] = "used_idx_ahead",
	[LB_FAULT_EVENT_GARBAGE] = "event_garbage",
	[LB_FAULT_HDR_LEN] = "hdr_len",
	[LB_FAULT_DST_CID] = "dst_cid",
	[LB_FAULT_SRC_CID] = "src_cid",
	[LB_FAULT_BAD_OP] = "bad_op",
	[LB_FAULT_BAD_TYPE] = "bad_type",
	[LB_FAULT_BAD_FLAGS] = "bad_flags",
	[LB_FAULT_BUF_ZERO] = "buf_zero",
	[LB_FAULT_BUF_HUGE] = "buf_huge",
	[LB_FAULT_FWD_BACK] = "fwd_back",
	[LB_FAULT_FWD_AHEAD] = "fwd_ahead",
};

void
vv_lb_fault_init(struct vv_lb_fault *f)
{
	*f = (struct vv_lb_fault){ .kind = LB_FAULT_NONE,
		.every = LB_FAULT_EVERY };
}

int
vv_lb_fault_arg(struct vv_lb_fault *f, const char *key, const char *val,
		char *err, size_t errlen)
{
	char *end;
	unsigned long v;
	int k;

	if (strcmp(key, "fault") == 0) {
		for (k = 0; k < LB_FAULT_NUM; k++)
			if (strcmp(val, lb_fault_names[k]) == 0) {
				f->kind = k;
				return 0;
			}
		snprintf(err, errlen, "loopback: fault=%s: unknown fault "
			"(see virtio_vsock_loopback.c for the list)", val);
		return -EINVAL;
	}
	if (strcmp(key, "fault_cid") == 0)
		return virtio_vsock_parse_cid("loopback", val, &f->reset_cid,
				err, errlen);
	errno = 0;
	v = strtoul(val, &end, 10);
	if (errno != 0 || *end != '\0' || val[0] == '\0' || val[0] == '-' ||
			v > UINT32_MAX ||
			(v == 0 && strcmp(key, "fault_every") == 0)) {
		snprintf(err, errlen, "loopback: %s=%s: must be %s to "
			"4294967295", key, val,
			strcmp(key, "fault_every") == 0 ? "1" : "0");
		return -EINVAL;
	}
	if (strcmp(key, "fault_every") == 0)
		f->every = (uint32_t)v;
	else if (strcmp(key, "fault_max") == 0)
		f->max = (uint32_t)v;
	else if (strcmp(key, "fault_busy") == 0)
		f->busy = (uint32_t)v;
	else
		f->resets = (uint32_t)v;
	return 0;
}

int
vv_lb_fault_reset(struct lb_dev *lb)
{
	if (lb->fault.busy > 0) {
		lb->fault.busy--;
		return -EAGAIN;
	}
	if (lb->fault.resets > 0) {
		lb->fault.resets--;
		return -EIO;
	}
	if (lb->fault.reset_cid != 0)
		__atomic_store_n(&lb->cid, lb->fault.reset_cid,
				__ATOMIC_RELAXED);
	return 0;
}

int
vv_lb_fault_check(const struct vv_lb_fault *f, bool packed_refused,
		char *err, size_t errlen)
{
	/*
	 * A packed ring has no used index, and a buffer it returns twice may
	 * already be posted again: the driver cannot tell, so refuse.
	 */
	if ((f->kind == LB_FAULT_USED_ID_DUP ||
			f->kind == LB_FAULT_USED_IDX_AHEAD) && !packed_refused) {
		snprintf(err, errlen, "loopback: fault=%s needs split rings "
			"(packed=0)", lb_fault_names[f->kind]);
		return -EINVAL;
	}
	return 0;
}

/* Is the packet with header @h one to break? */
static bool
lb_fault_due(struct lb_dev *lb, const struct vsock_hdr *h)
{
	if (lb->fault.kind == LB_FAULT_NONE ||
			(lb->fault.max != 0 && lb->fault.hits >= lb->fault.max))
		return false;
	/* Header faults pick data: a connection surely stands behind it. */
	if (lb->fault.kind >= LB_FAULT_HDR_LEN && h->op != VSOCK_OP_RW)
		return false;
	if (++lb->fault.seen % lb->fault.every != 0)
		return false;
	lb->fault.hits++;
	return true;
}

/* Break a header field, for the faults that do. */
static void
lb_fault_hdr(const struct lb_dev *lb, struct vsock_hdr *h)
{
	switch (lb->fault.kind) {
	case LB_FAULT_HDR_LEN:
		h->len++;
		break;
	case LB_FAULT_BAD_OP:
		h->op = 42;
		break;
	case LB_FAULT_BAD_TYPE:
		h->type = 7;
		break;
	case LB_FAULT_BAD_FLAGS:
		h->flags |= 0x100;
		break;
	case LB_FAULT_BUF_ZERO:
		h->buf_alloc = 0;
		break;
	case LB_FAULT_BUF_HUGE:
		h->buf_alloc = UINT32_MAX;
		break;
	/* 1 GiB either way: beyond any window, whatever was consumed. */
	case LB_FAULT_FWD_BACK:
		h->fwd_cnt -= 1u << 30;
		break;
	case LB_FAULT_FWD_AHEAD:
		h->fwd_cnt += 1u << 30;
		break;
	default:
		break;
	}
}

/* Deliver the header-only packet @h into an rx buffer of its own. */
static void
lb_put_extra(struct lb_dev *lb, const struct vsock_hdr *h)
{
	struct vq_dev_pkt x = { .hdr = *h };
	uint16_t pushed = 0;

	vq_dev_deliver(&lb->q[VIRTIO_VSOCK_VQ_RX], vq_dev_xlate_va, NULL, &x,
			&pushed, &lb->st, NULL, NULL);
}

/*
 * The extra packet of the dst_cid and src_cid faults: a credit update
 * that would be harmless if its addresses were right.
 */
static void
lb_fault_extra(struct lb_dev *lb, const struct vsock_hdr *h)
{
	struct vsock_hdr x = *h;

	x.op = VSOCK_OP_CREDIT_UPDATE;
	x.len = 0;
	x.flags = 0;
	if (lb->fault.kind == LB_FAULT_DST_CID)
		x.dst_cid = h->dst_cid + 1;
	else
		x.src_cid = lb->fault.hits & 1 ? VSOCK_CID_LOCAL : VSOCK_CID_HOST;
	lb_put_extra(lb, &x);
}

/* Events of no known id, and of a short length. */
static void
lb_event_garbage(struct lb_dev *lb)
{
	struct vq_dev *ev = &lb->q[VIRTIO_VSOCK_VQ_EVENT];
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS];
	struct vq_dev_chain c;
	int n;

	if (vq_dev_avail(ev) == 0)
		return;
	n = vq_dev_peek_va(ev, segs, &c);
	vq_dev_take(ev, &c);
	if (n < 1 || segs[0].len < VIRTIO_VSOCK_EVENT_LEN) {
		vq_dev_put(ev, &c, 0);
	} else {
		vsock_le32_put(segs[0].ptr, lb->fault.hits & 1 ? 0xdead : 0);
		vq_dev_put(ev, &c, lb->fault.hits & 1 ? VIRTIO_VSOCK_EVENT_LEN : 2);
	}
	vq_dev_publish(ev);
}

/* Give back rx chain @c holding @len bytes, broken as the fault says. */
static void
lb_put_rx(struct lb_dev *lb, const struct vq_dev_chain *c, uint32_t len,
		uint32_t cap, bool hit)
{
	struct vq_dev *rx = &lb->q[VIRTIO_VSOCK_VQ_RX];
	struct vq_dev_chain bad = *c;

	switch (hit ? lb->fault.kind : LB_FAULT_NONE) {
	case LB_FAULT_USED_ID_RANGE:
		bad.id = (uint16_t)(rx->size + 3);
		vq_dev_put(rx, &bad, len);
		break;
	case LB_FAULT_USED_ID_DUP:
		vq_dev_put(rx, c, len);
		vq_dev_put(rx, c, len);
		break;
	case LB_FAULT_USED_LEN_OVER:
		vq_dev_put(rx, c, cap + 1);
		break;
	case LB_FAULT_USED_LEN_SHORT:
		vq_dev_put(rx, c, VSOCK_HDR_LEN - 1);
		break;
	case LB_FAULT_USED_IDX_AHEAD:
		/* A whole ring more than it holds (split rings only). */
		vq_dev_put(rx, c, len);
		rx->used_idx = (uint16_t)(rx->used_idx + rx->size);
		break;
	case LB_FAULT_EVENT_GARBAGE:
		vq_dev_put(rx, c, len);
		lb_event_garbage(lb);
		break;
	default:
		vq_dev_put(rx, c, len);
		break;
	}
}

/*
 * The hostile device's hooks into vq_dev_deliver(): pick the pieces to
 * break (sending the extra packet of the faults that have one), break
 * their header or their used entry.
 */
static int
lb_piece_start(void *ctx, const struct vsock_hdr *h)
{
	struct lb_dev *lb = ctx;
	bool hit = lb_fault_due(lb, h);

	if (hit && (lb->fault.kind == LB_FAULT_DST_CID ||
			lb->fault.kind == LB_FAULT_SRC_CID))
		lb_fault_extra(lb, h);
	return hit;
}

static void
lb_piece_hdr(void *ctx, struct vsock_hdr *h, int hit)
{
	if (hit)
		lb_fault_hdr(ctx, h);
}

static void
lb_piece_put(void *ctx, const struct vq_dev_chain *c, uint32_t len,
		uint32_t cap, int hit)
{
	lb_put_rx(ctx, c, len, cap, hit);
}

static const struct vq_dev_pkt_hooks lb_fault_hooks = {
	.start = lb_piece_start,
	.hdr = lb_piece_hdr,
	.put = lb_piece_put,
};

const struct vq_dev_pkt_hooks *
vv_lb_fault_hooks(const struct lb_dev *lb)
{
	return lb->fault.kind != LB_FAULT_NONE ? &lb_fault_hooks : NULL;
}

void
vv_lb_fault_report(const struct lb_dev *lb)
{
	if (lb->fault.kind != LB_FAULT_NONE)
		VV_LOG(NOTICE, "loopback: fault %s injected %" PRIu64
			" times", lb_fault_names[lb->fault.kind],
			lb->fault.hits);
}
