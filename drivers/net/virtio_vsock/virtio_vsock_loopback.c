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
 * Its test hooks, compiled with -Dtest_hooks=true only: fault=NAME makes
 * it a hostile device (virtio_vsock_loopback_fault.c) and inject_event
 * raises an event on its event queue.
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

#include "virtio_vsock_loopback.h"

#define LB_DEFAULT_CID 3
#define LB_LCORE_AUTO (-1)
#define LB_LCORE_INLINE (-2)

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

/*
 * Deliver lb->cur into rx buffers. Returns false when rx buffers ran out
 * first (delivery resumes on the next call).
 */
static bool
lb_deliver(struct lb_dev *lb)
{
	uint16_t pushed = 0;

#ifdef VIRTIO_VSOCK_TEST_HOOKS
	return vq_dev_deliver(&lb->q[VIRTIO_VSOCK_VQ_RX], vq_dev_xlate_va,
			NULL, &lb->cur, &pushed, &lb->st, vv_lb_fault_hooks(lb),
			lb);
#else
	return vq_dev_deliver(&lb->q[VIRTIO_VSOCK_VQ_RX], vq_dev_xlate_va,
			NULL, &lb->cur, &pushed, &lb->st, NULL, NULL);
#endif
}

#ifdef VIRTIO_VSOCK_TEST_HOOKS
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
#endif

/* Move packets from tx to rx until one side runs dry; returns packets. */
static unsigned int
lb_process(struct lb_dev *lb)
{
	struct vq_dev *rx = &lb->q[VIRTIO_VSOCK_VQ_RX];
	struct vq_dev *tx = &lb->q[VIRTIO_VSOCK_VQ_TX];
	uint16_t rx_avail = rx->last_avail_idx, rx_used = rx->used_idx;
	uint16_t tx_avail = tx->last_avail_idx, tx_used = tx->used_idx;
	unsigned int done = 0;

#ifdef VIRTIO_VSOCK_TEST_HOOKS
	if (__atomic_load_n(&lb->pending_event, __ATOMIC_RELAXED) != 0)
		lb_event(lb);
#endif

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

/* The loopback device's spec, parsed. */
struct lb_args {
	uint64_t cid;
	int lcore;		/* LB_LCORE_* or an lcore id */
#ifdef VIRTIO_VSOCK_TEST_HOOKS
	struct vv_lb_fault fault;
#endif
};

static const char *const lb_keys[] = {
	"cid", "lcore", "fault", "fault_every", "fault_max", "fault_resets",
	"fault_busy", "fault_cid", NULL,
};

static int
lb_arg(const char *key, const char *val, void *targs, char *err,
		size_t errlen)
{
	struct lb_args *a = targs;
	char *end;
	long v;

	if (strcmp(key, "cid") == 0)
		return virtio_vsock_parse_cid("loopback", val, &a->cid, err,
				errlen);
	if (strcmp(key, "lcore") != 0) {
		/* fault, fault_every, fault_max, fault_resets, fault_busy,
		 * fault_cid
		 */
#ifdef VIRTIO_VSOCK_TEST_HOOKS
		return vv_lb_fault_arg(&a->fault, key, val, err, errlen);
#else
		snprintf(err, errlen, "loopback: %s=%s needs a build with "
			"-Dtest_hooks=true", key, val);
		return -EINVAL;
#endif
	}
	if (strcmp(val, "auto") == 0) {
		a->lcore = LB_LCORE_AUTO;
		return 0;
	}
	if (strcmp(val, "inline") == 0) {
		a->lcore = LB_LCORE_INLINE;
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
	a->lcore = (int)v;
	return 0;
}

static int
lb_parse(const char *args, void *targs, struct virtio_vsock_devargs *da,
		char *err, size_t errlen)
{
	struct lb_args *a = targs;
	int ret;

	a->cid = LB_DEFAULT_CID;
	a->lcore = LB_LCORE_AUTO;
#ifdef VIRTIO_VSOCK_TEST_HOOKS
	vv_lb_fault_init(&a->fault);
#endif
	ret = virtio_vsock_kvargs_parse("loopback", args, lb_keys, lb_arg, a,
			da, err, errlen);
#ifdef VIRTIO_VSOCK_TEST_HOOKS
	if (ret == 0)
		ret = vv_lb_fault_check(&a->fault, (da->refuse &
				(1ULL << VIRTIO_F_RING_PACKED)) != 0, err,
				errlen);
#endif
	return ret;
}

static int
lb_create(struct virtio_vsock_dev *dev, const void *targs, char *err,
		size_t errlen)
{
	const struct lb_args *a = targs;
	struct lb_dev *lb;

	if (a->lcore >= 0 && (!rte_lcore_is_enabled(a->lcore) ||
			(unsigned int)a->lcore == rte_get_main_lcore() ||
			rte_eal_get_lcore_state(a->lcore) != WAIT)) {
		snprintf(err, errlen, "loopback: lcore=%d is not a free "
			"worker lcore (give EAL -l with more cores)",
			a->lcore);
		return -EINVAL;
	}
	lb = rte_zmalloc_socket("vsock_loopback", sizeof(*lb),
			RTE_CACHE_LINE_SIZE, dev->socket_id);
	if (lb == NULL) {
		snprintf(err, errlen, "loopback: no memory");
		return -ENOMEM;
	}
	lb->cid = a->cid;
	lb->lcore = a->lcore;
#ifdef VIRTIO_VSOCK_TEST_HOOKS
	lb->fault = a->fault;
#endif
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
#ifdef VIRTIO_VSOCK_TEST_HOOKS
	if (lb != NULL)
		vv_lb_fault_report(lb);
#endif
	rte_free(lb);
	dev->tpriv = NULL;
}

#ifdef VIRTIO_VSOCK_TEST_HOOKS
static int
lb_inject_event(struct virtio_vsock_dev *dev, uint32_t id, uint64_t new_cid)
{
	struct lb_dev *lb = dev->tpriv;

	if (new_cid != 0 && (new_cid <= VSOCK_CID_HOST ||
			new_cid >= VSOCK_CID_ANY))
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
#endif

/* Stop and forget where we were in the rings: they are laid out anew. */
static int
lb_reset(struct virtio_vsock_dev *dev)
{
	struct lb_dev *lb = dev->tpriv;

	lb_stop(dev);
	lb->have_cur = false;
	lb->cur_put = false;
#ifdef VIRTIO_VSOCK_TEST_HOOKS
	__atomic_store_n(&lb->pending_event, 0, __ATOMIC_RELEASE);
	return vv_lb_fault_reset(lb);
#else
	return 0;
#endif
}

#ifdef VIRTIO_VSOCK_TEST_HOOKS
#define LB_USAGE_FAULT_SPEC "[,fault=NAME[,fault_every=N][,fault_max=M]" \
	"[,fault_resets=R][,fault_busy=B][,fault_cid=C]]"
#define LB_USAGE_FAULT_LIST "; fault: used_id_range, used_id_dup, " \
	"used_len_over, used_len_short, used_idx_ahead, event_garbage, " \
	"hdr_len, dst_cid, src_cid, bad_op, bad_type, bad_flags, buf_zero, " \
	"buf_huge, fwd_back, fwd_ahead"
#else
#define LB_USAGE_FAULT_SPEC ""
#define LB_USAGE_FAULT_LIST ""
#endif

const struct virtio_vsock_transport_ops virtio_vsock_loopback_ops = {
	.name = "loopback",
	.usage = "loopback[:cid=N][,queue_size=Q][,rx_buf=B]"
		"[,lcore=auto|inline|L][,packed=0|1][,event_idx=0|1]"
		LB_USAGE_FAULT_SPEC "  in-process device (default cid 3)"
		LB_USAGE_FAULT_LIST,
	.args_size = sizeof(struct lb_args),
	.parse = lb_parse,
	.create = lb_create,
	.get_features = lb_get_features,
	.set_features = lb_set_features,
	.get_cid = lb_get_cid,
	.setup_queue = lb_setup_queue,
	.start = lb_start,
	.notify = lb_notify,
	.stop = lb_stop,
	.release = lb_release,
#ifdef VIRTIO_VSOCK_TEST_HOOKS
	.inject_event = lb_inject_event,
#endif
	.reset = lb_reset,
};
