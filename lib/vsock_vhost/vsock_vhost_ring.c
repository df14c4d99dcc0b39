/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/vsock_vhost: the device side of a guest's two rings, and the
 * vsock_port a stack runs over them. Runs on the polling lcore only.
 *
 * Split or packed rings, as the guest negotiated; EVENT_IDX too. The ring
 * work itself is vq_dev_pkt.h's, shared with the driver's loopback
 * device; this file adds mbufs, the guest's CID and the hand-over.
 *
 * Guest tx (ring 1): each available chain is one packet, header and
 * payload laid out in any number of device-readable buffers; it is copied
 * into an mbuf chain from the instance's pool and handed to the stack (or,
 * on a switch, to a sibling guest). Guest rx (ring 0): each packet for the
 * guest is cut into the buffers the guest posted (vq_dev_deliver()).
 *
 * Out of rx buffers in the middle of a packet, the port keeps the packet
 * (tx_burst counts it as taken) with how far it got, and carries on with
 * it before anything else when buffers come back: a packet is never
 * started twice, and the guest sees its pieces in order.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include <vsock_hdr.h>

#include "vsock_vhost_private.h"

/* Mbufs one guest packet (header + 64 KiB) may take at most. */
#define VH_PKT_MBUFS 8

/* ---- hand-over with the control thread ---- */

static void
vh_let_go(struct vsock_vhost *p)
{
	struct vh_handover *ho = &p->ho;
	int q;

	for (q = 0; q < VH_NB_VQ; q++) {
		/* Whoever has the rings next may want kicks. */
		vq_dev_set_no_notify(&p->vq[q], false);
		vq_dev_get_base(&p->vq[q], &ho->last_avail[q],
				&ho->last_used[q]);
	}
	p->running = false;
	p->have = 0;
	__atomic_store_n(&ho->have, 0, __ATOMIC_RELEASE);
}

static void
vh_take(struct vsock_vhost *p, uint32_t want)
{
	struct vh_handover *ho = &p->ho;
	unsigned int vq_flags =
		(ho->features & (1ULL << VIRTIO_F_RING_PACKED) ?
			VQ_F_PACKED : 0) |
		(ho->features & (1ULL << VIRTIO_F_RING_EVENT_IDX) ?
			VQ_F_EVENT_IDX : 0);
	int q;

	/*
	 * Store, then look again: either vh_ctl_retract() sees our claim
	 * and waits, or we see its withdrawal and back off.
	 */
	__atomic_store_n(&ho->have, want, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&ho->want, __ATOMIC_SEQ_CST) != want) {
		__atomic_store_n(&ho->have, 0, __ATOMIC_RELEASE);
		return;
	}
	for (q = 0; q < VH_NB_VQ; q++) {
		vq_dev_init(&p->vq[q], ho->desc[q], ho->avail[q], ho->used[q],
				ho->size[q], vq_flags);
		vq_dev_set_base(&p->vq[q], ho->last_avail[q],
				ho->last_used[q]);
		/* We poll both rings: the guest need not kick. */
		vq_dev_set_no_notify(&p->vq[q], true);
	}
	p->mem = ho->mem;
	p->run_vid = ho->vid;
	p->features = ho->port_features;
	p->have = want;
	p->running = true;
}

/* Follow the control thread: let go of withdrawn rings, take offered ones. */
static inline void
vh_sync(struct vsock_vhost *p)
{
	uint32_t want = __atomic_load_n(&p->ho.want, __ATOMIC_ACQUIRE);

	if (likely(want == p->have))
		return;
	if (p->have != 0)
		vh_let_go(p);
	if (want != 0 && !p->retired)
		vh_take(p, want);
}

/* ---- interrupts ---- */

static void
vh_call(struct vsock_vhost *p, int q)
{
	int r;

	/* rte_vhost decides with these whether the guest wants it. */
	vq_dev_get_base(&p->vq[q], &p->ho.last_avail[q], &p->ho.last_used[q]);
	r = vh_ctl_call(p, (uint16_t)q);

	p->call_pending[q] = r == -EAGAIN;
	if (r == -EAGAIN)
		p->st.call_retries++;
	else if (r == 0)
		p->st.calls++;
}

/* Tell the guest about used entries put since @old, unless it polls. */
static void
vh_notify(struct vsock_vhost *p, int q, uint16_t old)
{
	if (vq_dev_need_interrupt(&p->vq[q], old))
		vh_call(p, q);
}

/* ---- copies between guest buffers and mbufs ---- */

/*
 * The mbuf chain @m as a list of segments for vq_dev_pkt.h; -1 when it
 * has more than @max.
 */
static int
vh_mbuf_segs(const struct rte_mbuf *m, struct vq_dev_seg *segs, int max)
{
	int n = 0;

	for (; m != NULL; m = m->next) {
		if (n == max)
			return -1;
		segs[n].ptr = rte_pktmbuf_mtod(m, void *);
		segs[n].len = m->data_len;
		segs[n].writable = false;
		n++;
	}
	return n;
}

/* Copy a guest packet of @total bytes into a chain from our pool. */
static struct rte_mbuf *
vh_guest_to_mbuf(struct vsock_vhost *p, const struct vq_dev_seg *segs, int n,
		uint32_t total)
{
	struct rte_mbuf *ms[VH_PKT_MBUFS];
	unsigned int nb = (total + p->room - 1) / p->room, k = 0;
	uint32_t off = 0, left = total;
	int i;

	if (rte_pktmbuf_alloc_bulk(p->pool, ms, nb) != 0)
		return NULL;
	for (k = 0; k < nb; k++) {
		ms[k]->data_len = (uint16_t)RTE_MIN(left, p->room);
		left -= ms[k]->data_len;
		ms[k]->next = k + 1 < nb ? ms[k + 1] : NULL;
	}
	ms[0]->nb_segs = (uint16_t)nb;
	ms[0]->pkt_len = total;
	k = 0;
	for (i = 0; i < n; i++) {
		const uint8_t *src = segs[i].ptr;
		uint32_t len = segs[i].len;

		while (len > 0) {
			uint32_t c = RTE_MIN(len, (uint32_t)ms[k]->data_len -
					off);

			memcpy(rte_pktmbuf_mtod_offset(ms[k], uint8_t *, off),
				src, c);
			src += c;
			len -= c;
			off += c;
			if (off == ms[k]->data_len) {
				k++;
				off = 0;
			}
		}
	}
	return ms[0];
}

/*
 * The header checks of a packet copied from the guest (the copy: the
 * guest may write its buffers again meanwhile), its chain having passed
 * vq_dev_tx_chain(): len is the rest (vq_dev_tx_len_ok()) and the CID is
 * the guest's own. The first mbuf holds the whole header (room >=
 * VSOCK_HDR_LEN). Decodes the header into @h.
 */
static inline bool
vh_guest_pkt_ok(struct vsock_vhost *p, struct rte_mbuf *m,
		struct vsock_hdr *h)
{
	vsock_hdr_decode(h, rte_pktmbuf_mtod(m, const void *));
	if (!vq_dev_tx_len_ok(h, m->pkt_len, &p->ring))
		return false;
	if (unlikely(h->src_cid != p->cid)) {
		p->st.bad_src_cid++;
		return false;
	}
	return true;
}

/*
 * Hand a checked packet up, unless it is for another guest: on a switch,
 * those go to vh_switch_forward(). Returns whether @m went into @pkts.
 */
static inline bool
vh_rx_keep(struct vsock_vhost *p, struct rte_mbuf *m,
		const struct vsock_hdr *h)
{
	p->st.rx_pkts++;
	p->st.rx_bytes += h->len;
	if (likely(h->dst_cid == VSOCK_CID_HOST || p->sw == NULL))
		return true;
	vh_switch_forward(p, m, h);
	return false;
}

/* ---- guest tx ring: packets for the stack ---- */

/* Chains the fast path takes at once, and the largest it takes. */
#define VH_RX_BATCH 32
#define VH_RX_FAST_MAX 256u

/*
 * The fast path for small packets in one segment (where the per-packet
 * cost is all there is; larger ones stream through the slow path), as
 * rte_vhost batches its dequeue: take a run of such chains first,
 * prefetching each guest buffer (the driver's core wrote it: a miss), then
 * one bulk allocation, then the copies, so the misses overlap instead of
 * stalling each copy in turn. A run the pool cannot cover is given back
 * untouched (nothing was put), and the slow path below handles whatever
 * the run stopped at: that chain is left peeked in @segs and @next, its
 * vq_dev_peek() in *next_nseg (VH_NOT_PEEKED when there is none).
 * Returns the packets handed up; *done counts the chains put back.
 */
#define VH_NOT_PEEKED INT_MIN

static uint16_t
vh_rx_fast(struct vsock_vhost *p, struct vq_dev *vq, struct rte_mbuf **pkts,
		uint16_t n, uint16_t *avail, uint16_t *done,
		struct vq_dev_seg *segs, struct vq_dev_chain *next,
		int *next_nseg)
{
	struct vq_dev_chain c[VH_RX_BATCH];
	struct vq_dev_seg one[VH_RX_BATCH];
	struct rte_mbuf *ms[VH_RX_BATCH];
	struct vsock_hdr h;
	uint16_t save_idx = vq->last_avail_idx, k = 0, got = 0, i;
	bool save_wrap = vq->avail_wrap;
	uint16_t save_avail = *avail;

	*next_nseg = VH_NOT_PEEKED;
	n = RTE_MIN(n, VH_RX_BATCH);
	while (k < n && *avail > 0) {
		int nseg = vq_dev_peek(vq, segs, vh_xlate, p->mem, &c[k]);

		if (nseg != 1 || segs[0].writable ||
				segs[0].len < VSOCK_HDR_LEN ||
				segs[0].len > RTE_MIN(p->room, VH_RX_FAST_MAX)) {
			*next = c[k];
			*next_nseg = nseg;
			break;
		}
		one[k] = segs[0];
		for (i = 0; i < one[k].len; i += RTE_CACHE_LINE_SIZE)
			rte_prefetch0((const uint8_t *)one[k].ptr + i);
		vq_dev_take(vq, &c[k]);
		k++;
		if (--*avail == 0)
			*avail = vq_dev_avail_checked(vq, &p->ring);
	}
	if (k == 0)
		return 0;
	if (rte_pktmbuf_alloc_bulk(p->pool, ms, k) != 0) {
		vq->last_avail_idx = save_idx;
		vq->avail_wrap = save_wrap;
		*avail = save_avail;
		*next_nseg = VH_NOT_PEEKED;
		return 0;
	}
	for (i = 0; i < k; i++) {
		struct rte_mbuf *m = ms[i];

		memcpy(rte_pktmbuf_mtod(m, void *), one[i].ptr, one[i].len);
		m->data_len = (uint16_t)one[i].len;
		m->pkt_len = one[i].len;
		vq_dev_put(vq, &c[i], 0);
		if (!vh_guest_pkt_ok(p, m, &h)) {
			rte_pktmbuf_free(m);
			continue;
		}
		if (vh_rx_keep(p, m, &h))
			pkts[got++] = m;
	}
	*done += k;
	return got;
}

static uint16_t
vh_rx_burst(void *priv, struct rte_mbuf **pkts, uint16_t n)
{
	struct vsock_vhost *p = priv;
	struct vq_dev *vq = &p->vq[VH_VQ_TX];
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS];
	uint16_t got = 0, done = 0, avail;
	uint16_t old = vq->used_idx;

	if (unlikely(!p->running))
		return 0;
	/* Whatever this burst forwards must find room: or it waits. */
	n = vh_switch_room(p, n);
	avail = n == 0 ? 0 : vq_dev_avail_checked(vq, &p->ring);
	while (got < n && avail > 0) {
		struct vq_dev_chain c;
		struct rte_mbuf *m = NULL;
		struct vsock_hdr h;
		uint32_t total;
		int nseg;

		got += vh_rx_fast(p, vq, pkts + got, n - got, &avail, &done,
				segs, &c, &nseg);
		if (got == n || avail == 0)
			break;
		if (nseg == VH_NOT_PEEKED)
			nseg = vq_dev_peek(vq, segs, vh_xlate, p->mem, &c);
		total = vq_dev_tx_chain(segs, nseg, &p->ring);
		if (total != 0) {
			m = vh_guest_to_mbuf(p, segs, nseg, total);
			if (m == NULL) {
				/* Left in the ring: the guest waits for us. */
				p->st.rx_nombuf++;
				break;
			}
			if (!vh_guest_pkt_ok(p, m, &h)) {
				rte_pktmbuf_free(m);
				m = NULL;
			}
		}
		vq_dev_take(vq, &c);
		vq_dev_put(vq, &c, 0);
		done++;
		if (--avail == 0)
			avail = vq_dev_avail_checked(vq, &p->ring);
		if (m != NULL && vh_rx_keep(p, m, &h))
			pkts[got++] = m;
	}
	if (done > 0) {
		vq_dev_publish(vq);
		vh_notify(p, VH_VQ_TX, old);
	}
	return got;
}

/* ---- guest rx ring: packets for the guest ---- */

#ifdef VSOCK_VHOST_TEST_HOOKS
/* vsock_vhost_break_rx()'s hooks into vq_dev_deliver(): 1 breaks. */
static int
vh_break_start(void *ctx, const struct vsock_hdr *h)
{
	struct vsock_vhost *p = ctx;

	RTE_SET_USED(h);
	if (!p->break_armed)
		return 0;
	if (p->break_in > 0) {
		p->break_in--;
		return 0;
	}
	p->break_armed = false;
	return 1;
}

static void
vh_break_hdr(void *ctx, struct vsock_hdr *h, int hit)
{
	RTE_SET_USED(ctx);
	RTE_SET_USED(h);
	RTE_SET_USED(hit);
}

static void
vh_break_put(void *ctx, const struct vq_dev_chain *c, uint32_t len,
		uint32_t cap, int hit)
{
	struct vsock_vhost *p = ctx;
	struct vq_dev *rx = &p->vq[VH_VQ_RX];
	struct vq_dev_chain bad = *c;

	RTE_SET_USED(cap);
	if (hit)
		bad.id = (uint16_t)(rx->size + 3);
	vq_dev_put(rx, &bad, len);
}

static const struct vq_dev_pkt_hooks vh_break_hooks = {
	.start = vh_break_start,
	.hdr = vh_break_hdr,
	.put = vh_break_put,
};

void
vsock_vhost_break_rx(struct vsock_vhost *vh, uint64_t after)
{
	vh->break_in = after;
	vh->break_armed = true;
}

#define VH_HOOKS(p) ((p)->break_armed ? &vh_break_hooks : NULL)
#else
#define VH_HOOKS(p) NULL
#endif

/*
 * Deliver p->cur. Returns false when rx buffers ran out first; delivery
 * carries on from where it got on the next call.
 */
static bool
vh_deliver(struct vsock_vhost *p, uint16_t *pushed)
{
	if (!vq_dev_deliver(&p->vq[VH_VQ_RX], vh_xlate, p->mem, &p->cur_pkt,
			pushed, &p->ring, VH_HOOKS(p), p))
		return false;
	p->st.tx_pkts++;
	p->st.tx_bytes += p->cur_pkt.hdr.len;
	rte_pktmbuf_free(p->cur);
	p->cur = NULL;
	return true;
}

/* Make @m the packet being delivered; false (and @m freed) if malformed. */
static bool
vh_start(struct vsock_vhost *p, struct rte_mbuf *m)
{
	uint8_t raw[VSOCK_HDR_LEN];
	const void *h = m->pkt_len >= VSOCK_HDR_LEN ?
		rte_pktmbuf_read(m, 0, VSOCK_HDR_LEN, raw) : NULL;
	int n = h == NULL ? -1 : vh_mbuf_segs(m, p->cur_segs,
			RTE_DIM(p->cur_segs));

	if (n < 0) {
		p->st.tx_bad_pkt++;
		rte_pktmbuf_free(m);
		return false;
	}
	vsock_hdr_decode(&p->cur_pkt.hdr, h);
	/* What goes is what the mbuf holds, whatever its header says. */
	p->cur_pkt.hdr.len = m->pkt_len - VSOCK_HDR_LEN;
	p->cur_pkt.src = p->cur_segs;
	p->cur_pkt.nsrc = n;
	p->cur_pkt.off = 0;
	p->cur = m;
	return true;
}

/*
 * Deliver up to @n of @pkts, after any packet left part-delivered;
 * returns how many were taken (the last may be part-delivered, ours now).
 */
static uint16_t
vh_tx_pkts(struct vsock_vhost *p, struct rte_mbuf **pkts, uint16_t n,
		uint16_t *pushed)
{
	uint16_t i;

	if (p->cur != NULL && !vh_deliver(p, pushed))
		return 0;
	for (i = 0; i < n; i++) {
		if (vq_dev_avail_checked(&p->vq[VH_VQ_RX], &p->ring) == 0)
			break;
		if (!vh_start(p, pkts[i]))
			continue;
		if (!vh_deliver(p, pushed)) {
			p->st.tx_partial++;
			return i + 1;
		}
	}
	return i;
}

/*
 * Deliver the forwarded packets queued for this guest; false while some
 * remain (the guest's rx ring is full).
 */
static bool
vh_fwd_drain(struct vsock_vhost *p, uint16_t *pushed)
{
	while (vh_fwd_count(p) > 0 || p->cur != NULL) {
		uint32_t k = vh_fwd_count(p), first = p->fwd_head % VH_FWD_SIZE;
		uint16_t take = (uint16_t)RTE_MIN(RTE_MIN(k,
				VH_FWD_SIZE - first), 32u);
		uint16_t done = vh_tx_pkts(p, &p->fwd[first], take, pushed);

		p->fwd_head += done;
		if (done < take || p->cur != NULL)
			return false;
	}
	return true;
}

static void
vh_rx_publish(struct vsock_vhost *p, uint16_t pushed, uint16_t old)
{
	if (pushed > 0) {
		vq_dev_publish(&p->vq[VH_VQ_RX]);
		vh_notify(p, VH_VQ_RX, old);
	}
}

static uint16_t
vh_tx_burst(void *priv, struct rte_mbuf **pkts, uint16_t n)
{
	struct vsock_vhost *p = priv;
	uint16_t pushed = 0, i = 0;
	uint16_t old = p->vq[VH_VQ_RX].used_idx;

	if (unlikely(!p->running))
		return 0;
	if (likely(vh_fwd_count(p) == 0) || vh_fwd_drain(p, &pushed))
		i = vh_tx_pkts(p, pkts, n, &pushed);
	vh_rx_publish(p, pushed, old);
	return i;
}

/* ---- the rest of the port ---- */

static uint64_t
vh_local_cid(void *priv)
{
	RTE_SET_USED(priv);
	return VSOCK_CID_HOST;
}

static uint64_t
vh_peer_cid(void *priv)
{
	return ((struct vsock_vhost *)priv)->cid;
}

/* The stack asks at attach time, before any guest: what we offer. */
static uint32_t
vh_features(void *priv)
{
	struct vsock_vhost *p = priv;

	return p->running ? p->features :
		VSOCK_PORT_F_STREAM | VSOCK_PORT_F_SEQPACKET;
}

/* Free what waits for a guest that has gone. */
static void
vh_drop_pending(struct vsock_vhost *p)
{
	if (p->cur != NULL) {
		p->st.tx_lost++;
		rte_pktmbuf_free(p->cur);
		p->cur = NULL;
	}
	while (vh_fwd_count(p) > 0) {
		p->st.tx_lost++;
		rte_pktmbuf_free(p->fwd[p->fwd_head++ % VH_FWD_SIZE]);
	}
}

/*
 * Called first in every stack poll: follow the hand-over, retry deferred
 * interrupts, deliver forwarded packets, and report TRANSPORT_RESET once
 * when the guest we talked to has gone (or was replaced without us seeing
 * the gap), so that the stack resets its connections.
 */
static int
vh_poll_event(void *priv, uint32_t *event)
{
	struct vsock_vhost *p = priv;
	uint32_t epoch;
	int q;

	vh_sync(p);
	if (p->running) {
		for (q = 0; q < VH_NB_VQ; q++)
			if (unlikely(p->call_pending[q]))
				vh_call(p, q);
		if (unlikely(vh_fwd_count(p) > 0)) {
			uint16_t pushed = 0, old = p->vq[VH_VQ_RX].used_idx;

			vh_fwd_drain(p, &pushed);
			vh_rx_publish(p, pushed, old);
		}
	}
	epoch = __atomic_load_n(&p->ho.epoch, __ATOMIC_ACQUIRE);
	if (likely(epoch == p->run_epoch))
		return 0;
	if (p->run_epoch == 0) {
		p->run_epoch = epoch;
		return 0;
	}
	p->run_epoch = epoch;
	vh_drop_pending(p);
	p->call_pending[VH_VQ_RX] = false;
	p->call_pending[VH_VQ_TX] = false;
	p->st.resets++;
	*event = VSOCK_PORT_EVENT_TRANSPORT_RESET;
	return 1;
}

static const struct vsock_port_ops vh_port_ops = {
	.rx_burst = vh_rx_burst,
	.tx_burst = vh_tx_burst,
	.local_cid = vh_local_cid,
	.peer_cid = vh_peer_cid,
	.features = vh_features,
	.poll_event = vh_poll_event,
};

void
vh_port_init(struct vsock_vhost *p)
{
	p->room = rte_pktmbuf_data_room_size(p->pool) - RTE_PKTMBUF_HEADROOM;
	snprintf(p->name, sizeof(p->name), "vhost-user:%s", p->path);
	p->vport.ops = &vh_port_ops;
	p->vport.priv = p;
	p->vport.name = p->name;
}

struct vsock_port *
vsock_vhost_port(struct vsock_vhost *p)
{
	return &p->vport;
}

bool
vsock_vhost_running(const struct vsock_vhost *p)
{
	return p->running;
}

void
vsock_vhost_stats_get(const struct vsock_vhost *p,
		struct vsock_vhost_stats *st)
{
	*st = p->st;
	st->tx_pieces = p->ring.pieces;
	st->bad_chain = p->ring.bad_chain;
	st->bad_dir = p->ring.bad_dir;
	st->bad_size = p->ring.bad_size;
	st->bad_len = p->ring.bad_len;
	st->bad_rx_buf = p->ring.bad_rx_buf;
	st->bad_avail = p->ring.bad_avail;
}

void
vh_port_retire(struct vsock_vhost *p)
{
	p->retired = true;
	if (p->have != 0)
		vh_let_go(p);
}

void
vh_port_fini(struct vsock_vhost *p)
{
	vh_drop_pending(p);
}
