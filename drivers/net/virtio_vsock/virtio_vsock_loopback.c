/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The loopback device: an in-process virtio-vsock device model, the
 * embedded default. It plays the device side of the driver's own rings as
 * a real device would: it reads the tx avail ring, copies each packet into
 * buffers the driver posted on rx (splitting a packet that does not fit
 * one buffer into several, as Linux's vhost-vsock does), and returns both
 * through the used rings. Packets addressed to our own CID come back to
 * us; packets for any other CID meet an empty host that answers RST.
 *
 * It runs on a worker lcore of its own when one is free (polling, so it
 * asks the driver not to kick it), or inline: then every kick runs it.
 * It offers packed rings and EVENT_IDX; the driver picks.
 *
 * With fault=NAME it is also a hostile device, for the tests: every
 * fault_every-th packet it delivers (at most fault_max times, 0: no
 * limit) breaks one rule the driver or the stack must catch, by corrupting
 * the packet, its used entry, or by sending an extra packet or event. The
 * rest of the traffic goes through untouched.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_pause.h>

#include <vsock_hdr.h>

#include "virtio_vsock_internal.h"
#include <vq_dev_pkt.h>

#define LB_DEFAULT_CID 3
#define LB_LCORE_AUTO (-1)
#define LB_LCORE_INLINE (-2)
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

struct lb_dev {
	struct vq_dev q[VIRTIO_VSOCK_VQ_NUM];
	uint64_t cid;
	uint64_t features;
	int lcore;		/* LB_LCORE_* or an lcore id */
	bool polling;		/* running on its own lcore */
	bool running;		/* written by the driver's lcore */
	uint32_t pending_event;	/* event id + 1, set by inject_event */
	/* The tx packet being delivered (may span rx buffers and calls). */
	bool have_cur;
	bool cur_put;		/* cur_chain is to be given back */
	struct vq_dev_chain cur_chain;
	struct vq_dev_pkt cur;
	struct vq_dev_seg cur_segs[VQ_DEV_MAX_SEGS];
	struct vq_dev_pkt_stats st;
	enum lb_fault fault;
	uint32_t fault_every;
	uint32_t fault_max;	/* 0: no limit */
	uint64_t fault_seen;	/* packets that could have been hit */
	uint64_t faults;	/* packets that were */
};

/*
 * Take the next tx packet into lb->cur. Returns false when there is none.
 * Malformed packets are returned to the driver unused and counted.
 */
static bool
lb_take_tx(struct lb_dev *lb)
{
	struct vq_dev *tx = &lb->q[VIRTIO_VSOCK_VQ_TX];
	struct vq_dev_chain *c = &lb->cur_chain;
	struct vsock_hdr *h = &lb->cur.hdr;
	int nseg;

	while (vq_dev_avail_checked(tx, &lb->st) > 0) {
		nseg = vq_dev_peek_va(tx, lb->cur_segs, c);
		vq_dev_take(tx, c);
		if (vq_dev_parse_tx(lb->cur_segs, nseg, h, &lb->st) == 0) {
			vq_dev_put(tx, c, 0);
			continue;
		}
		lb->cur.src = lb->cur_segs;
		lb->cur.nsrc = nseg;
		lb->cur.off = 0;
		lb->cur_put = true;
		lb->have_cur = true;
		if (h->dst_cid != __atomic_load_n(&lb->cid, __ATOMIC_RELAXED)) {
			/* An empty host: nobody listens anywhere. */
			vq_dev_put(tx, c, 0);
			lb->have_cur = false;
			if (h->op == VSOCK_OP_RST)
				continue;
			vsock_hdr_rst_reply(h, h);
			lb->cur.nsrc = 0;
			lb->cur_put = false;	/* nothing to return */
			lb->have_cur = true;
		}
		return true;
	}
	return false;
}

/* Is the packet with header @h one to break? */
static bool
lb_fault_due(struct lb_dev *lb, const struct vsock_hdr *h)
{
	if (lb->fault == LB_FAULT_NONE ||
			(lb->fault_max != 0 && lb->faults >= lb->fault_max))
		return false;
	/* Header faults pick data: a connection surely stands behind it. */
	if (lb->fault >= LB_FAULT_HDR_LEN && h->op != VSOCK_OP_RW)
		return false;
	if (++lb->fault_seen % lb->fault_every != 0)
		return false;
	lb->faults++;
	return true;
}

/* Break a header field, for the faults that do. */
static void
lb_fault_hdr(const struct lb_dev *lb, struct vsock_hdr *h)
{
	switch (lb->fault) {
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
	if (lb->fault == LB_FAULT_DST_CID)
		x.dst_cid = h->dst_cid + 1;
	else
		x.src_cid = lb->faults & 1 ? VSOCK_CID_LOCAL : VSOCK_CID_HOST;
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
		vsock_le32_put(segs[0].ptr, lb->faults & 1 ? 0xdead : 0);
		vq_dev_put(ev, &c, lb->faults & 1 ? VIRTIO_VSOCK_EVENT_LEN : 2);
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

	switch (hit ? lb->fault : LB_FAULT_NONE) {
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

	if (hit && (lb->fault == LB_FAULT_DST_CID ||
			lb->fault == LB_FAULT_SRC_CID))
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

/*
 * Deliver lb->cur into rx buffers. Returns false when rx buffers ran out
 * first (delivery resumes on the next call).
 */
static bool
lb_deliver(struct lb_dev *lb)
{
	uint16_t pushed = 0;

	return vq_dev_deliver(&lb->q[VIRTIO_VSOCK_VQ_RX], vq_dev_xlate_va,
			NULL, &lb->cur, &pushed, &lb->st,
			lb->fault != LB_FAULT_NONE ? &lb_fault_hooks : NULL, lb);
}

/* Post an injected event into the driver's event queue, if it has room. */
static void
lb_event(struct lb_dev *lb)
{
	struct vq_dev *ev = &lb->q[VIRTIO_VSOCK_VQ_EVENT];
	uint32_t id = __atomic_load_n(&lb->pending_event, __ATOMIC_ACQUIRE);
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS];
	struct vq_dev_chain c;
	int n;

	if (id == 0 || vq_dev_avail(ev) == 0)
		return;
	n = vq_dev_peek_va(ev, segs, &c);
	vq_dev_take(ev, &c);
	if (n < 1 || !segs[0].writable ||
			segs[0].len < VIRTIO_VSOCK_EVENT_LEN) {
		lb->st.bad_chain++;
		vq_dev_put(ev, &c, 0);
	} else {
		vsock_le32_put(segs[0].ptr, id - 1);
		vq_dev_put(ev, &c, VIRTIO_VSOCK_EVENT_LEN);
	}
	vq_dev_publish(ev);
	__atomic_store_n(&lb->pending_event, 0, __ATOMIC_RELEASE);
}

/* Move packets from tx to rx until one side runs dry; returns packets. */
static unsigned int
lb_process(struct lb_dev *lb)
{
	struct vq_dev *rx = &lb->q[VIRTIO_VSOCK_VQ_RX];
	struct vq_dev *tx = &lb->q[VIRTIO_VSOCK_VQ_TX];
	uint16_t rx_avail = rx->last_avail_idx, rx_used = rx->used_idx;
	uint16_t tx_avail = tx->last_avail_idx, tx_used = tx->used_idx;
	unsigned int done = 0;

	if (__atomic_load_n(&lb->pending_event, __ATOMIC_RELAXED) != 0)
		lb_event(lb);

	for (;;) {
		if (!lb->have_cur && !lb_take_tx(lb))
			break;
		if (!lb_deliver(lb))
			break;
		if (lb->cur_put)
			vq_dev_put(tx, &lb->cur_chain, 0);
		lb->have_cur = false;
		done++;
	}
	/*
	 * An idle poll writes nothing: a store of the same value still
	 * takes the cache line away from the driver. The ring holds what
	 * the last call published, so equal indexes have nothing new.
	 */
	if (rx->used_idx != rx_used || rx->last_avail_idx != rx_avail)
		vq_dev_publish(rx);
	if (tx->used_idx != tx_used || tx->last_avail_idx != tx_avail)
		vq_dev_publish(tx);
	return done;
}

static int
lb_lcore_main(void *arg)
{
	struct lb_dev *lb = arg;

	while (__atomic_load_n(&lb->running, __ATOMIC_ACQUIRE)) {
		if (lb_process(lb) == 0)
			rte_pause();
	}
	return 0;
}

static int
lb_fault_arg(struct lb_dev *lb, const char *key, const char *val, char *err,
		size_t errlen)
{
	char *end;
	unsigned long v;
	int f;

	if (strcmp(key, "fault") == 0) {
		for (f = 0; f < LB_FAULT_NUM; f++)
			if (strcmp(val, lb_fault_names[f]) == 0) {
				lb->fault = (enum lb_fault)f;
				return 0;
			}
		snprintf(err, errlen, "loopback: fault=%s: unknown fault "
			"(see virtio_vsock_loopback.c for the list)", val);
		return -EINVAL;
	}
	errno = 0;
	v = strtoul(val, &end, 10);
	if (errno != 0 || *end != '\0' || val[0] == '\0' || val[0] == '-' ||
			v > UINT32_MAX ||
			(v == 0 && strcmp(key, "fault_every") == 0)) {
		snprintf(err, errlen, "loopback: %s=%s: must be %s to "
			"4294967295", key, val, key[6] == 'e' ? "1" : "0");
		return -EINVAL;
	}
	if (strcmp(key, "fault_every") == 0)
		lb->fault_every = (uint32_t)v;
	else
		lb->fault_max = (uint32_t)v;
	return 0;
}

static int
lb_arg(const char *key, const char *val, void *ctx, char *err, size_t errlen)
{
	struct lb_dev *lb = ctx;
	char *end;
	long v;

	if (strcmp(key, "cid") == 0)
		return virtio_vsock_parse_cid("loopback", val, &lb->cid, err,
				errlen);
	if (strcmp(key, "fault") == 0 || strcmp(key, "fault_every") == 0 ||
			strcmp(key, "fault_max") == 0)
		return lb_fault_arg(lb, key, val, err, errlen);
	if (strcmp(key, "lcore") != 0)
		return 1;
	if (strcmp(val, "auto") == 0) {
		lb->lcore = LB_LCORE_AUTO;
		return 0;
	}
	if (strcmp(val, "inline") == 0) {
		lb->lcore = LB_LCORE_INLINE;
		return 0;
	}
	errno = 0;
	v = strtol(val, &end, 10);
	if (errno != 0 || *end != '\0' || val[0] == '\0' || v < 0 ||
			v >= RTE_MAX_LCORE) {
		snprintf(err, errlen, "loopback: lcore=%s: must be auto, "
			"inline or an lcore id", val);
		return -EINVAL;
	}
	lb->lcore = (int)v;
	return 0;
}

static int
lb_open(struct virtio_vsock_dev *dev, const char *args,
		struct virtio_vsock_devargs *da, char *err, size_t errlen)
{
	struct lb_dev tmp = { .cid = LB_DEFAULT_CID, .lcore = LB_LCORE_AUTO,
		.fault_every = LB_FAULT_EVERY };
	struct lb_dev *lb;
	int ret;

	ret = virtio_vsock_parse_kv("loopback", args, lb_arg, &tmp, da,
			"cid, lcore, fault, fault_every, fault_max", err,
			errlen);
	/*
	 * A packed ring has no used index, and a buffer it returns twice may
	 * already be posted again: the driver cannot tell, so refuse.
	 */
	if (ret == 0 && (tmp.fault == LB_FAULT_USED_ID_DUP ||
			tmp.fault == LB_FAULT_USED_IDX_AHEAD) &&
			!(da->refuse & (1ULL << VIRTIO_F_RING_PACKED))) {
		snprintf(err, errlen, "loopback: fault=%s needs split rings "
			"(packed=0)", lb_fault_names[tmp.fault]);
		ret = -EINVAL;
	}
	if (ret != 0 || dev == NULL)
		return ret;
	if (tmp.lcore >= 0 && (!rte_lcore_is_enabled(tmp.lcore) ||
			(unsigned int)tmp.lcore == rte_get_main_lcore() ||
			rte_eal_get_lcore_state(tmp.lcore) != WAIT)) {
		snprintf(err, errlen, "loopback: lcore=%d is not a free "
			"worker lcore (give EAL -l with more cores)",
			tmp.lcore);
		return -EINVAL;
	}
	lb = rte_zmalloc_socket("vsock_loopback", sizeof(*lb),
			RTE_CACHE_LINE_SIZE, dev->socket_id);
	if (lb == NULL) {
		snprintf(err, errlen, "loopback: no memory");
		return -ENOMEM;
	}
	*lb = tmp;
	lb->features = (1ULL << VIRTIO_F_VERSION_1) |
		(1ULL << VIRTIO_F_RING_PACKED) |
		(1ULL << VIRTIO_F_RING_EVENT_IDX) |
		(1ULL << VIRTIO_VSOCK_F_STREAM) |
		(1ULL << VIRTIO_VSOCK_F_SEQPACKET);
	/* The device reads our virtual addresses directly. */
	dev->use_va = true;
	dev->tpriv = lb;
	return 0;
}

static uint64_t
lb_get_features(struct virtio_vsock_dev *dev)
{
	return ((struct lb_dev *)dev->tpriv)->features;
}

static int
lb_set_features(struct virtio_vsock_dev *dev, uint64_t features)
{
	struct lb_dev *lb = dev->tpriv;

	if ((features & ~lb->features) != 0)
		return -EINVAL;
	lb->features = features;
	return 0;
}

static uint64_t
lb_get_cid(struct virtio_vsock_dev *dev)
{
	return __atomic_load_n(&((struct lb_dev *)dev->tpriv)->cid,
			__ATOMIC_RELAXED);
}

static int
lb_setup_queue(struct virtio_vsock_dev *dev, struct virtqueue *vq)
{
	struct lb_dev *lb = dev->tpriv;

	vq_dev_init(&lb->q[vq->queue_id], vq->desc, vq->avail, vq->used,
			vq->size, dev->vq_flags);
	return 0;
}

static int
lb_pick_lcore(void)
{
	unsigned int l;

	RTE_LCORE_FOREACH_WORKER(l) {
		if (rte_eal_get_lcore_state(l) == WAIT)
			return (int)l;
	}
	return LB_LCORE_INLINE;
}

static int
lb_start(struct virtio_vsock_dev *dev)
{
	struct lb_dev *lb = dev->tpriv;
	int q;

	if (lb->lcore == LB_LCORE_AUTO)
		lb->lcore = lb_pick_lcore();
	if (lb->lcore == LB_LCORE_INLINE) {
		lb_process(lb);
		return 0;
	}
	for (q = 0; q < VIRTIO_VSOCK_VQ_NUM; q++)
		vq_dev_set_no_notify(&lb->q[q], true);
	__atomic_store_n(&lb->running, true, __ATOMIC_RELEASE);
	if (rte_eal_remote_launch(lb_lcore_main, lb, lb->lcore) != 0) {
		lb->running = false;
		return -EBUSY;
	}
	lb->polling = true;
	VV_LOG(INFO, "loopback: device model polling on lcore %d",
		lb->lcore);
	return 0;
}

static void
lb_notify(struct virtio_vsock_dev *dev, uint16_t queue_id)
{
	struct lb_dev *lb = dev->tpriv;

	RTE_SET_USED(queue_id);
	if (!lb->polling)
		lb_process(lb);
}

static void
lb_stop(struct virtio_vsock_dev *dev)
{
	struct lb_dev *lb = dev->tpriv;

	if (lb == NULL || !lb->polling)
		return;
	__atomic_store_n(&lb->running, false, __ATOMIC_RELEASE);
	rte_eal_wait_lcore(lb->lcore);
	lb->polling = false;
}

static void
lb_release(struct virtio_vsock_dev *dev)
{
	struct lb_dev *lb = dev->tpriv;

	if (lb != NULL && (lb->st.bad_chain | lb->st.bad_dir |
			lb->st.bad_size | lb->st.bad_len | lb->st.bad_rx_buf |
			lb->st.bad_avail) != 0)
		VV_LOG(WARNING, "loopback: dropped %" PRIu64 " bad chains, %"
			PRIu64 " bad packets, %" PRIu64 " small rx buffers; "
			"%" PRIu64 " bad avail indexes",
			lb->st.bad_chain + lb->st.bad_dir,
			lb->st.bad_size + lb->st.bad_len, lb->st.bad_rx_buf,
			lb->st.bad_avail);
	if (lb != NULL && lb->fault != LB_FAULT_NONE)
		VV_LOG(NOTICE, "loopback: fault %s injected %" PRIu64
			" times", lb_fault_names[lb->fault], lb->faults);
	rte_free(lb);
	dev->tpriv = NULL;
}

static int
lb_inject_event(struct virtio_vsock_dev *dev, uint32_t id, uint64_t new_cid)
{
	struct lb_dev *lb = dev->tpriv;

	if (new_cid != 0 && (new_cid <= VSOCK_CID_HOST ||
			new_cid >= VMADDR_CID_ANY_U32))
		return -EINVAL;
	if (__atomic_load_n(&lb->pending_event, __ATOMIC_ACQUIRE) != 0)
		return -EBUSY;
	if (new_cid != 0)
		__atomic_store_n(&lb->cid, new_cid, __ATOMIC_RELAXED);
	__atomic_store_n(&lb->pending_event, id + 1, __ATOMIC_RELEASE);
	if (!lb->polling)
		lb_process(lb);
	return 0;
}

/* The driver lays the rings out anew: forget where we were in them. */
static void
lb_reset(struct virtio_vsock_dev *dev)
{
	struct lb_dev *lb = dev->tpriv;

	lb->have_cur = false;
	lb->cur_put = false;
	__atomic_store_n(&lb->pending_event, 0, __ATOMIC_RELEASE);
}

const struct virtio_vsock_transport_ops virtio_vsock_loopback_ops = {
	.name = "loopback",
	.usage = "loopback[:cid=N][,queue_size=Q][,rx_buf=B]"
		"[,lcore=auto|inline|L][,packed=0|1][,event_idx=0|1]"
		"[,fault=NAME[,fault_every=N][,fault_max=M]]  "
		"in-process device (default cid 3); fault: used_id_range, "
		"used_id_dup, used_len_over, used_len_short, used_idx_ahead, "
		"event_garbage, hdr_len, dst_cid, src_cid, bad_op, bad_type, "
		"bad_flags, buf_zero, buf_huge, fwd_back, fwd_ahead",
	.open = lb_open,
	.get_features = lb_get_features,
	.set_features = lb_set_features,
	.get_cid = lb_get_cid,
	.setup_queue = lb_setup_queue,
	.start = lb_start,
	.notify = lb_notify,
	.stop = lb_stop,
	.release = lb_release,
	.inject_event = lb_inject_event,
	.reset = lb_reset,
};
