/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-bridge: the device side of a guest's two rings, and the vsock_port
 * its stack runs over. Runs on the main lcore only.
 *
 * Split or packed rings, as the guest negotiated; EVENT_IDX too.
 *
 * Guest tx (ring 1): each available chain is one packet, header and
 * payload laid out in any number of device-readable buffers; it is copied
 * into an mbuf chain from the bridge's pool and handed to the stack.
 * Guest rx (ring 0): each stack packet is copied into the buffers the
 * guest posted. A packet whose payload does not fit one buffer is cut into
 * several packets, each with its own header (a SEQPACKET message's EOM and
 * EOR stay on its last piece), as Linux's vhost-vsock does.
 *
 * Out of rx buffers in the middle of a packet, the port keeps the packet
 * (tx_burst counts it as taken) with how far it got, and carries on with
 * it before anything else when buffers come back: a packet is never
 * started twice, and the guest sees its pieces in order.
 *
 * Everything the guest wrote is untrusted: descriptor indexes, chain
 * lengths and directions, addresses, the header's len and src_cid. Bad
 * chains are returned unused and counted; nothing from the guest is
 * trusted to be in range.
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

#include "bridge.h"
#include "virtqueue_dev.h"

/* Mbufs one guest packet (header + 64 KiB) may take at most. */
#define BR_PKT_MBUFS 8

/* A position in a list of guest buffers. */
struct br_cursor {
	struct vq_dev_seg *segs;
	int n;
	int i;
	uint32_t off;
};

struct br_port {
	struct vsock_port vport;
	struct br_guest *g;
	struct br_handover *ho;
	struct rte_mempool *pool;
	uint32_t room;		/* data bytes of one pool mbuf */
	struct vq_dev vq[BR_NB_VQ];
	bool call_pending[BR_NB_VQ];
	void *mem;		/* rte_vhost's memory table: xlate context */
	int vid;
	uint32_t features;
	uint32_t have;		/* generation of the rings held, 0: none */
	uint32_t epoch;		/* device session last seen, 0: none */
	bool running;
	bool retired;		/* shutting down: never take rings again */
	/* The stack packet being delivered when rx buffers ran out. */
	struct rte_mbuf *cur;
	struct vsock_hdr cur_hdr;
	uint32_t cur_len;	/* its payload bytes */
	uint32_t cur_off;	/* payload bytes delivered */
	struct br_dev_stats st;
	char name[BR_PATH_MAX + 16];
};

/* ---- hand-over with the control thread ---- */

static void
br_port_let_go(struct br_port *p)
{
	struct br_handover *ho = p->ho;
	int q;

	for (q = 0; q < BR_NB_VQ; q++) {
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
br_port_take(struct br_port *p, uint32_t want)
{
	struct br_handover *ho = p->ho;
	unsigned int vq_flags =
		(ho->features & (1ULL << VIRTIO_F_RING_PACKED) ?
			VQ_F_PACKED : 0) |
		(ho->features & (1ULL << VIRTIO_F_RING_EVENT_IDX) ?
			VQ_F_EVENT_IDX : 0);
	int q;

	/*
	 * Store, then look again: either br_dev_retract() sees our claim
	 * and waits, or we see its withdrawal and back off.
	 */
	__atomic_store_n(&ho->have, want, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&ho->want, __ATOMIC_SEQ_CST) != want) {
		__atomic_store_n(&ho->have, 0, __ATOMIC_RELEASE);
		return;
	}
	for (q = 0; q < BR_NB_VQ; q++) {
		vq_dev_init(&p->vq[q], ho->desc[q], ho->avail[q], ho->used[q],
				ho->size[q], vq_flags);
		vq_dev_set_base(&p->vq[q], ho->last_avail[q],
				ho->last_used[q]);
		/* We poll both rings: the guest need not kick. */
		vq_dev_set_no_notify(&p->vq[q], true);
	}
	p->mem = ho->mem;
	p->vid = ho->vid;
	p->features = ho->port_features;
	p->have = want;
	p->running = true;
}

/* Follow the control thread: let go of withdrawn rings, take offered ones. */
static inline void
br_port_sync(struct br_port *p)
{
	uint32_t want = __atomic_load_n(&p->ho->want, __ATOMIC_ACQUIRE);

	if (likely(want == p->have))
		return;
	if (p->have != 0)
		br_port_let_go(p);
	if (want != 0 && !p->retired)
		br_port_take(p, want);
}

/* ---- interrupts ---- */

static void
br_call(struct br_port *p, int q)
{
	int r;

	/* rte_vhost decides with these whether the guest wants it. */
	vq_dev_get_base(&p->vq[q], &p->ho->last_avail[q], &p->ho->last_used[q]);
	r = br_vhost_call(p->vid, (uint16_t)q);

	p->call_pending[q] = r == -EAGAIN;
	if (r == -EAGAIN)
		p->st.call_retries++;
	else if (r == 0)
		p->st.calls++;
}

/* Tell the guest about used entries put since @old, unless it polls. */
static void
br_notify(struct br_port *p, int q, uint16_t old)
{
	if (vq_dev_need_interrupt(&p->vq[q], old))
		br_call(p, q);
}

/*
 * Chains the guest made available (for a packed ring: 1 when there is
 * one, it does not count them). More than the ring holds is a bogus
 * index (a driver writing it in pieces, say): nothing is taken then, for
 * walking stale entries would put us out of step with the ring for good.
 */
static uint16_t
br_avail(struct br_port *p, struct vq_dev *vq)
{
	uint16_t n = vq_dev_avail(vq);

	if (likely(n <= vq->size))
		return n;
	p->st.bad_avail++;
	return 0;
}

/* ---- copies between guest buffers and mbufs ---- */

static void
br_cursor_init(struct br_cursor *c, struct vq_dev_seg *segs, int n)
{
	c->segs = segs;
	c->n = n;
	c->i = 0;
	c->off = 0;
}

static void
br_cursor_write(struct br_cursor *c, const void *src, uint32_t len)
{
	uint32_t done = 0;

	while (done < len && c->i < c->n) {
		struct vq_dev_seg *s = &c->segs[c->i];
		uint32_t n = RTE_MIN(len - done, s->len - c->off);

		if (n > 0)
			memcpy((uint8_t *)s->ptr + c->off,
				(const uint8_t *)src + done, n);
		done += n;
		c->off += n;
		if (c->off == s->len) {
			c->i++;
			c->off = 0;
		}
	}
}

/* Copy @len bytes of the chain @m from offset @off to the cursor. */
static void
br_mbuf_to_guest(struct br_cursor *c, const struct rte_mbuf *m, uint32_t off,
		uint32_t len)
{
	while (m != NULL && off >= m->data_len) {
		off -= m->data_len;
		m = m->next;
	}
	while (len > 0 && m != NULL) {
		uint32_t n = RTE_MIN(len, (uint32_t)m->data_len - off);

		br_cursor_write(c, rte_pktmbuf_mtod_offset(m, const uint8_t *,
				off), n);
		len -= n;
		off = 0;
		m = m->next;
	}
}

/* Bytes of a chain whose buffers all go one way; -1 if any goes the other. */
static int64_t
br_chain_bytes(const struct vq_dev_seg *segs, int n, bool writable)
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

/* Copy a guest packet of @total bytes into a chain from our pool. */
static struct rte_mbuf *
br_guest_to_mbuf(struct br_port *p, const struct vq_dev_seg *segs, int n,
		uint32_t total)
{
	struct rte_mbuf *ms[BR_PKT_MBUFS];
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

/* Header checks the stack cannot make: the CID is the guest's own. */
static bool
br_guest_pkt_ok(struct br_port *p, struct rte_mbuf *m)
{
	struct vsock_hdr h;

	/* The first mbuf holds the whole header (room >= VSOCK_HDR_LEN). */
	vsock_hdr_decode(&h, rte_pktmbuf_mtod(m, const void *));
	if (h.len != m->pkt_len - VSOCK_HDR_LEN) {
		p->st.bad_len++;
		return false;
	}
	if (h.src_cid != p->g->cid) {
		p->st.bad_src_cid++;
		return false;
	}
	return true;
}

/* ---- guest tx ring: packets for the stack ---- */

/* Chains the fast path takes at once, and the largest it takes. */
#define BR_RX_BATCH 32
#define BR_RX_FAST_MAX 256u

/*
 * The fast path for small packets in one segment (where the per-packet
 * cost is all there is; larger ones stream through the slow path), as
 * rte_vhost batches its dequeue: take a run of such chains first,
 * prefetching each guest buffer (the driver's core wrote it: a miss), then
 * one bulk allocation, then the copies, so the misses overlap instead of
 * stalling each copy in turn. A run the pool cannot cover is given back
 * untouched (nothing was put), and the slow path below handles whatever
 * the run stopped at: that chain is left peeked in @segs and @next, its
 * vq_dev_peek() in *next_nseg (BR_NOT_PEEKED when there is none).
 * Returns the packets handed up; *done counts the chains put back.
 */
#define BR_NOT_PEEKED INT_MIN

static uint16_t
br_rx_fast(struct br_port *p, struct vq_dev *vq, struct rte_mbuf **pkts,
		uint16_t n, uint16_t *avail, uint16_t *done,
		struct vq_dev_seg *segs, struct vq_dev_chain *next,
		int *next_nseg)
{
	struct vq_dev_chain c[BR_RX_BATCH];
	struct vq_dev_seg one[BR_RX_BATCH];
	struct rte_mbuf *ms[BR_RX_BATCH];
	uint16_t save_idx = vq->last_avail_idx, k = 0, got = 0, i;
	bool save_wrap = vq->avail_wrap;
	uint16_t save_avail = *avail;

	*next_nseg = BR_NOT_PEEKED;
	n = RTE_MIN(n, BR_RX_BATCH);
	while (k < n && *avail > 0) {
		int nseg = vq_dev_peek(vq, segs, br_vhost_xlate, p->mem, &c[k]);

		if (nseg != 1 || segs[0].writable ||
				segs[0].len < VSOCK_HDR_LEN ||
				segs[0].len > RTE_MIN(p->room, BR_RX_FAST_MAX)) {
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
			*avail = br_avail(p, vq);
	}
	if (k == 0)
		return 0;
	if (rte_pktmbuf_alloc_bulk(p->pool, ms, k) != 0) {
		vq->last_avail_idx = save_idx;
		vq->avail_wrap = save_wrap;
		*avail = save_avail;
		*next_nseg = BR_NOT_PEEKED;
		return 0;
	}
	for (i = 0; i < k; i++) {
		struct rte_mbuf *m = ms[i];

		memcpy(rte_pktmbuf_mtod(m, void *), one[i].ptr, one[i].len);
		m->data_len = (uint16_t)one[i].len;
		m->pkt_len = one[i].len;
		vq_dev_put(vq, &c[i], 0);
		if (!br_guest_pkt_ok(p, m)) {
			rte_pktmbuf_free(m);
			continue;
		}
		pkts[got++] = m;
		p->st.rx_pkts++;
		p->st.rx_bytes += m->pkt_len - VSOCK_HDR_LEN;
	}
	*done += k;
	return got;
}

static uint16_t
br_rx_burst(void *priv, struct rte_mbuf **pkts, uint16_t n)
{
	struct br_port *p = priv;
	struct vq_dev *vq = &p->vq[BR_VQ_TX];
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS];
	uint16_t got = 0, done = 0, avail;
	uint16_t old = vq->used_idx;

	if (unlikely(!p->running))
		return 0;
	avail = br_avail(p, vq);
	while (got < n && avail > 0) {
		struct vq_dev_chain c;
		struct rte_mbuf *m = NULL;
		int64_t total;
		int nseg;

		got += br_rx_fast(p, vq, pkts + got, n - got, &avail, &done,
				segs, &c, &nseg);
		if (got == n || avail == 0)
			break;
		if (nseg == BR_NOT_PEEKED)
			nseg = vq_dev_peek(vq, segs, br_vhost_xlate, p->mem, &c);
		total = nseg < 0 ? -1 : br_chain_bytes(segs, nseg, false);

		if (nseg < 0) {
			p->st.bad_chain++;
		} else if (total < 0) {
			p->st.bad_dir++;
		} else if (total < VSOCK_HDR_LEN || total >
				VSOCK_HDR_LEN + VSOCK_MAX_PKT_PAYLOAD) {
			p->st.bad_size++;
		} else {
			m = br_guest_to_mbuf(p, segs, nseg, (uint32_t)total);
			if (m == NULL) {
				/* Left in the ring: the guest waits for us. */
				p->st.rx_nombuf++;
				break;
			}
			if (!br_guest_pkt_ok(p, m)) {
				rte_pktmbuf_free(m);
				m = NULL;
			}
		}
		vq_dev_take(vq, &c);
		vq_dev_put(vq, &c, 0);
		done++;
		if (--avail == 0)
			avail = br_avail(p, vq);
		if (m != NULL) {
			pkts[got++] = m;
			p->st.rx_pkts++;
			p->st.rx_bytes += m->pkt_len - VSOCK_HDR_LEN;
		}
	}
	if (done > 0) {
		vq_dev_publish(vq);
		br_notify(p, BR_VQ_TX, old);
	}
	return got;
}

/* ---- guest rx ring: packets from the stack ---- */

/*
 * Deliver p->cur, one piece per rx buffer. Returns false when buffers ran
 * out first; delivery carries on from p->cur_off on the next call.
 */
static bool
br_deliver(struct br_port *p, uint16_t *pushed)
{
	struct vq_dev *vq = &p->vq[BR_VQ_RX];
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS];
	uint8_t raw[VSOCK_HDR_LEN];

	/* A packet without payload still takes one buffer. */
	for (;;) {
		struct vq_dev_chain chain;
		struct br_cursor c;
		struct vsock_hdr h;
		uint32_t piece;
		int64_t cap;
		int nseg;

		if (br_avail(p, vq) == 0)
			return false;
		nseg = vq_dev_peek(vq, segs, br_vhost_xlate, p->mem, &chain);
		vq_dev_take(vq, &chain);
		cap = nseg < 0 ? -1 : br_chain_bytes(segs, nseg, true);
		if (cap <= VSOCK_HDR_LEN) {
			if (nseg < 0)
				p->st.bad_chain++;
			else if (cap < 0)
				p->st.bad_dir++;
			else
				p->st.bad_rx_buf++;
			vq_dev_put(vq, &chain, 0);
			(*pushed)++;
			continue;
		}
		piece = (uint32_t)RTE_MIN((int64_t)(p->cur_len - p->cur_off),
				cap - VSOCK_HDR_LEN);
		h = p->cur_hdr;
		h.len = piece;
		if (h.type == VSOCK_TYPE_SEQPACKET && h.op == VSOCK_OP_RW &&
				p->cur_off + piece < p->cur_len)
			h.flags &= ~(VSOCK_SEQ_EOM | VSOCK_SEQ_EOR);
		vsock_hdr_encode(raw, &h);
		br_cursor_init(&c, segs, nseg);
		br_cursor_write(&c, raw, VSOCK_HDR_LEN);
		br_mbuf_to_guest(&c, p->cur, VSOCK_HDR_LEN + p->cur_off,
				piece);
		p->cur_off += piece;
		vq_dev_put(vq, &chain, VSOCK_HDR_LEN + piece);
		(*pushed)++;
		p->st.tx_pieces++;
		if (p->cur_off >= p->cur_len)
			break;
	}
	p->st.tx_pkts++;
	p->st.tx_bytes += p->cur_len;
	rte_pktmbuf_free(p->cur);
	p->cur = NULL;
	return true;
}

/* Make @m the packet being delivered; false (and @m freed) if malformed. */
static bool
br_start(struct br_port *p, struct rte_mbuf *m)
{
	uint8_t raw[VSOCK_HDR_LEN];
	const void *h = m->pkt_len >= VSOCK_HDR_LEN ?
		rte_pktmbuf_read(m, 0, VSOCK_HDR_LEN, raw) : NULL;

	if (h == NULL) {
		p->st.tx_bad_pkt++;
		rte_pktmbuf_free(m);
		return false;
	}
	vsock_hdr_decode(&p->cur_hdr, h);
	p->cur = m;
	p->cur_len = m->pkt_len - VSOCK_HDR_LEN;
	p->cur_off = 0;
	return true;
}

static uint16_t
br_tx_burst(void *priv, struct rte_mbuf **pkts, uint16_t n)
{
	struct br_port *p = priv;
	uint16_t i = 0, pushed = 0;
	uint16_t old = p->vq[BR_VQ_RX].used_idx;

	if (unlikely(!p->running))
		return 0;
	if (p->cur == NULL || br_deliver(p, &pushed)) {
		for (; i < n; i++) {
			if (br_avail(p, &p->vq[BR_VQ_RX]) == 0)
				break;
			if (!br_start(p, pkts[i]))
				continue;
			if (!br_deliver(p, &pushed)) {
				/* Ours now, finished on a later burst. */
				p->st.tx_partial++;
				i++;
				break;
			}
		}
	}
	if (pushed > 0) {
		vq_dev_publish(&p->vq[BR_VQ_RX]);
		br_notify(p, BR_VQ_RX, old);
	}
	return i;
}

/* ---- the rest of the port ---- */

static uint64_t
br_local_cid(void *priv)
{
	RTE_SET_USED(priv);
	return VSOCK_CID_HOST;
}

/* The stack asks at attach time, before any guest: what we offer. */
static uint32_t
br_features(void *priv)
{
	struct br_port *p = priv;

	return p->running ? p->features :
		VSOCK_PORT_F_STREAM | VSOCK_PORT_F_SEQPACKET;
}

/*
 * Called first in every stack poll: follow the hand-over, retry deferred
 * interrupts, and report TRANSPORT_RESET once when the guest we talked to
 * has gone (or was replaced without us seeing the gap), so that the stack
 * resets its connections.
 */
static int
br_poll_event(void *priv, uint32_t *event)
{
	struct br_port *p = priv;
	uint32_t epoch;
	int q;

	br_port_sync(p);
	if (p->running)
		for (q = 0; q < BR_NB_VQ; q++)
			if (unlikely(p->call_pending[q]))
				br_call(p, q);
	epoch = __atomic_load_n(&p->ho->epoch, __ATOMIC_ACQUIRE);
	if (likely(epoch == p->epoch))
		return 0;
	if (p->epoch == 0) {
		p->epoch = epoch;
		return 0;
	}
	p->epoch = epoch;
	if (p->cur != NULL) {
		p->st.tx_lost++;
		rte_pktmbuf_free(p->cur);
		p->cur = NULL;
	}
	p->call_pending[BR_VQ_RX] = false;
	p->call_pending[BR_VQ_TX] = false;
	p->st.resets++;
	*event = VSOCK_PORT_EVENT_TRANSPORT_RESET;
	return 1;
}

static const struct vsock_port_ops br_port_ops = {
	.rx_burst = br_rx_burst,
	.tx_burst = br_tx_burst,
	.local_cid = br_local_cid,
	.features = br_features,
	.poll_event = br_poll_event,
};

struct br_port *
br_port_create(struct br_guest *g, struct rte_mempool *pool)
{
	uint32_t room = rte_pktmbuf_data_room_size(pool) -
		RTE_PKTMBUF_HEADROOM;
	struct br_port *p;

	if (room < VSOCK_HDR_LEN || (VSOCK_HDR_LEN + VSOCK_MAX_PKT_PAYLOAD +
			room - 1) / room > BR_PKT_MBUFS)
		return NULL;
	p = rte_zmalloc("br_port", sizeof(*p), RTE_CACHE_LINE_SIZE);
	if (p == NULL)
		return NULL;
	p->g = g;
	p->ho = &g->ho;
	p->pool = pool;
	p->room = room;
	snprintf(p->name, sizeof(p->name), "vhost-user:%s", g->sock_path);
	p->vport.ops = &br_port_ops;
	p->vport.priv = p;
	p->vport.name = p->name;
	return p;
}

struct vsock_port *
br_port_vsock(struct br_port *p)
{
	return &p->vport;
}

bool
br_port_running(const struct br_port *p)
{
	return p->running;
}

const struct br_dev_stats *
br_port_stats(const struct br_port *p)
{
	return &p->st;
}

void
br_port_retire(struct br_port *p)
{
	p->retired = true;
	if (p->have != 0)
		br_port_let_go(p);
}

void
br_port_free(struct br_port *p)
{
	if (p == NULL)
		return;
	rte_pktmbuf_free(p->cur);
	rte_free(p);
}
