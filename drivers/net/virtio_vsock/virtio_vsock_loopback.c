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

#include "virtio_vsock_transport.h"
#include "virtqueue_dev.h"

#define LB_DEFAULT_CID 3
#define LB_LCORE_AUTO (-1)
#define LB_LCORE_INLINE (-2)

/* A position in a list of segments. */
struct lb_cursor {
	struct vq_dev_seg *segs;
	int n;
	int i;
	uint32_t off;
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
	int cur_nsegs;
	uint32_t cur_off;	/* payload bytes delivered */
	struct vsock_hdr cur;
	struct vq_dev_seg cur_segs[VQ_DEV_MAX_SEGS];
	uint64_t bad_chains;
	uint64_t bad_pkts;
};

static void
lb_cursor_init(struct lb_cursor *c, struct vq_dev_seg *segs, int n,
		uint32_t skip)
{
	c->segs = segs;
	c->n = n;
	c->i = 0;
	c->off = 0;
	while (c->i < n && skip >= segs[c->i].len) {
		skip -= segs[c->i].len;
		c->i++;
	}
	c->off = skip;
}

/* Copy @len bytes between cursors; returns bytes copied. */
static uint32_t
lb_copy(struct lb_cursor *dst, struct lb_cursor *src, uint32_t len)
{
	uint32_t done = 0;

	while (done < len && dst->i < dst->n && src->i < src->n) {
		struct vq_dev_seg *d = &dst->segs[dst->i];
		struct vq_dev_seg *s = &src->segs[src->i];
		uint32_t n = RTE_MIN(len - done,
				RTE_MIN(d->len - dst->off, s->len - src->off));

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

static uint32_t
lb_seg_total(const struct vq_dev_seg *segs, int n, bool writable)
{
	uint32_t total = 0;
	int i;

	for (i = 0; i < n; i++)
		if (segs[i].writable == writable)
			total += segs[i].len;
	return total;
}

/*
 * Take the next tx packet into lb->cur. Returns false when there is none.
 * Malformed packets are returned to the driver unused and counted.
 */
static bool
lb_take_tx(struct lb_dev *lb)
{
	struct vq_dev *tx = &lb->q[VIRTIO_VSOCK_VQ_TX];
	uint8_t raw[VSOCK_HDR_LEN];
	struct vq_dev_seg hseg = { .ptr = raw, .len = sizeof(raw) };
	struct vq_dev_chain *c = &lb->cur_chain;
	struct lb_cursor dst, src;
	uint32_t total;

	while (vq_dev_avail(tx) > 0) {
		lb->cur_nsegs = vq_dev_peek_va(tx, lb->cur_segs, c);
		vq_dev_take(tx, c);
		if (lb->cur_nsegs < 0) {
			lb->bad_chains++;
			vq_dev_put(tx, c, 0);
			continue;
		}
		total = lb_seg_total(lb->cur_segs, lb->cur_nsegs, false);
		lb_cursor_init(&dst, &hseg, 1, 0);
		lb_cursor_init(&src, lb->cur_segs, lb->cur_nsegs, 0);
		if (total < VSOCK_HDR_LEN ||
				lb_copy(&dst, &src, VSOCK_HDR_LEN) !=
				VSOCK_HDR_LEN) {
			lb->bad_pkts++;
			vq_dev_put(tx, c, 0);
			continue;
		}
		vsock_hdr_decode(&lb->cur, raw);
		if (lb->cur.len != total - VSOCK_HDR_LEN) {
			lb->bad_pkts++;
			vq_dev_put(tx, c, 0);
			continue;
		}
		lb->cur_put = true;
		lb->cur_off = 0;
		lb->have_cur = true;
		if (lb->cur.dst_cid !=
				__atomic_load_n(&lb->cid, __ATOMIC_RELAXED)) {
			/* An empty host: nobody listens anywhere. */
			struct vsock_hdr req = lb->cur;

			vq_dev_put(tx, c, 0);
			lb->have_cur = false;
			if (req.op == VSOCK_OP_RST)
				continue;
			memset(&lb->cur, 0, sizeof(lb->cur));
			lb->cur.src_cid = req.dst_cid;
			lb->cur.dst_cid = req.src_cid;
			lb->cur.src_port = req.dst_port;
			lb->cur.dst_port = req.src_port;
			lb->cur.type = req.type;
			lb->cur.op = VSOCK_OP_RST;
			lb->cur_nsegs = 0;
			lb->cur_put = false;	/* nothing to return */
			lb->have_cur = true;
		}
		return true;
	}
	return false;
}

/*
 * Deliver lb->cur into rx buffers, one piece per buffer. Returns false
 * when rx buffers ran out first (delivery resumes on the next call).
 */
static bool
lb_deliver(struct lb_dev *lb)
{
	struct vq_dev *rx = &lb->q[VIRTIO_VSOCK_VQ_RX];
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS];
	uint8_t raw[VSOCK_HDR_LEN];
	struct vq_dev_seg hseg = { .ptr = raw, .len = sizeof(raw) };
	struct lb_cursor dst, src;
	bool first = true;

	/* A zero-length packet still takes one buffer. */
	while (first || lb->cur_off < lb->cur.len) {
		struct vq_dev_chain c;
		uint32_t cap, piece;
		struct vsock_hdr h;
		int n;

		if (vq_dev_avail(rx) == 0)
			return false;
		n = vq_dev_peek_va(rx, segs, &c);
		vq_dev_take(rx, &c);
		cap = n < 0 ? 0 : lb_seg_total(segs, n, true);
		if (cap <= VSOCK_HDR_LEN) {
			lb->bad_chains++;
			vq_dev_put(rx, &c, 0);
			continue;
		}
		piece = RTE_MIN(lb->cur.len - lb->cur_off, cap - VSOCK_HDR_LEN);
		h = lb->cur;
		h.len = piece;
		if (h.type == VSOCK_TYPE_SEQPACKET && h.op == VSOCK_OP_RW &&
				lb->cur_off + piece < lb->cur.len)
			h.flags &= ~(VSOCK_SEQ_EOM | VSOCK_SEQ_EOR);
		vsock_hdr_encode(raw, &h);
		lb_cursor_init(&dst, segs, n, 0);
		lb_cursor_init(&src, &hseg, 1, 0);
		lb_copy(&dst, &src, VSOCK_HDR_LEN);
		lb_cursor_init(&src, lb->cur_segs, lb->cur_nsegs,
				VSOCK_HDR_LEN + lb->cur_off);
		lb_copy(&dst, &src, piece);
		lb->cur_off += piece;
		vq_dev_put(rx, &c, VSOCK_HDR_LEN + piece);
		first = false;
	}
	return true;
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
		lb->bad_chains++;
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
lb_arg(const char *key, const char *val, void *ctx, char *err, size_t errlen)
{
	struct lb_dev *lb = ctx;
	char *end;
	long v;

	if (strcmp(key, "cid") == 0)
		return virtio_vsock_parse_cid("loopback", val, &lb->cid, err,
				errlen);
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
	struct lb_dev tmp = { .cid = LB_DEFAULT_CID, .lcore = LB_LCORE_AUTO };
	struct lb_dev *lb;
	int ret;

	ret = virtio_vsock_parse_kv("loopback", args, lb_arg, &tmp, da,
			"cid, lcore", err, errlen);
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

	if (lb != NULL && (lb->bad_chains != 0 || lb->bad_pkts != 0))
		VV_LOG(WARNING, "loopback: dropped %" PRIu64 " bad chains, %"
			PRIu64 " bad packets", lb->bad_chains, lb->bad_pkts);
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

const struct virtio_vsock_transport_ops virtio_vsock_loopback_ops = {
	.name = "loopback",
	.usage = "loopback[:cid=N][,queue_size=Q][,rx_buf=B]"
		"[,lcore=auto|inline|L][,packed=0|1][,event_idx=0|1]  "
		"in-process device (default cid 3)",
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
};
