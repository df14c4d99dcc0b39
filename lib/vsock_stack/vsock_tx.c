/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The send side: control packets, per-connection queues, credit-limited
 * packetisation, and a round-robin flush with a per-connection budget so
 * that a bulk sender never starves the others.
 */
#include <errno.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>

#include "vsock_private.h"

static void
vs_fill_hdr(const struct vsock_conn *c, struct vsock_hdr *h, uint16_t op,
		uint32_t len, uint32_t flags)
{
	h->src_cid = c->key.local_cid;
	h->dst_cid = c->key.remote_cid;
	h->src_port = c->key.local_port;
	h->dst_port = c->key.remote_port;
	h->len = len;
	h->type = (uint16_t)c->type;
	h->op = op;
	h->flags = flags;
	h->buf_alloc = c->cr.buf_alloc;
	h->fwd_cnt = c->cr.fwd_cnt;
}

/* Queue a header-only packet; control packets overtake no data. */
static int
vs_ctl_queue(struct vsock_stack *s, uint8_t port_idx,
		const struct vsock_hdr *h)
{
	struct rte_mbuf *m;
	struct vs_ctl *e;

	if (s->ctl_count == VS_CTL_MAX ||
			(m = rte_pktmbuf_alloc(s->ctl_pool)) == NULL) {
		s->stats.drop_nomem++;
		return -ENOBUFS;
	}
	vsock_hdr_encode(rte_pktmbuf_append(m, VSOCK_HDR_LEN), h);
	e = &s->ctl[(s->ctl_head + s->ctl_count) % VS_CTL_MAX];
	e->m = m;
	e->port_idx = port_idx;
	s->ctl_count++;
	if (h->op == VSOCK_OP_RST)
		s->stats.rst_tx++;
	return 0;
}

int
vs_ctl_send(struct vsock_conn *c, uint16_t op, uint32_t flags)
{
	struct vsock_hdr h;
	int ret;

	vs_fill_hdr(c, &h, op, 0, flags);
	ret = vs_ctl_queue(c->s, c->port_idx, &h);
	if (ret == 0)
		vsock_credit_advertised(&c->cr);
	return ret;
}

/* RST in answer to @h, which has no connection; back where it came from. */
int
vs_ctl_reply_rst(struct vsock_stack *s, uint8_t port_idx,
		const struct vsock_hdr *h, enum vsock_reset_reason why)
{
	struct vsock_hdr r;
	int ret;

	vsock_hdr_rst_reply(&r, h);
	ret = vs_ctl_queue(s, port_idx, &r);
	if (ret == 0)
		s->stats.rst_tx_by[why]++;
	return ret;
}

void
vs_tx_activate(struct vsock_conn *c)
{
	if (c->on_active || c->state == VS_DEAD)
		return;
	TAILQ_INSERT_TAIL(&c->s->tx_active, c, tx_link);
	c->s->nb_active++;
	c->on_active = true;
}

/*
 * A small stream send joins the unsent mbuf queued last when it fits in its
 * tailroom: one copy now, the mbuf straight back to the (hot) pool cache,
 * and one packet for many sends. Only a direct, unshared, single-segment
 * tail qualifies: nothing else may see its bytes.
 */
static __rte_always_inline bool
vs_append_tail(struct vsock_conn *c, struct rte_mbuf *m)
{
	struct rte_mbuf *t = c->txq.tail;
	uint32_t len = m->pkt_len;

	if (t == NULL || len > VS_COALESCE_MAX || m->nb_segs != 1 ||
			t->nb_segs != 1 || !RTE_MBUF_DIRECT(t) ||
			rte_mbuf_refcnt_read(t) != 1 ||
			rte_pktmbuf_tailroom(t) < len)
		return false;
	rte_memcpy(rte_pktmbuf_mtod_offset(t, void *, t->data_len),
		rte_pktmbuf_mtod(m, const void *), len);
	t->data_len = (uint16_t)(t->data_len + len);
	t->pkt_len += len;
	c->txq.bytes += len;
	c->s->stats.coalesced++;
	rte_pktmbuf_free_seg(m);
	vs_tx_activate(c);
	return true;
}

/* May @c send at all: 0, -ENOTCONN or -EPIPE. */
static inline int
vs_send_state(const struct vsock_conn *c)
{
	if (unlikely(c->state != VS_ESTABLISHED || c->app_closed))
		return -ENOTCONN;
	if (unlikely(c->local_shutdown & VSOCK_SHUTDOWN_SEND))
		return -EPIPE;
	return 0;
}

/* Checks common to every send: 0 when @m may be queued on @c. */
static inline int
vs_send_check(const struct vsock_conn *c, const struct rte_mbuf *m)
{
	int ret = vs_send_state(c);

	if (ret != 0)
		return ret;
	if (unlikely((m->pkt_len == 0 && c->type == VSOCK_TYPE_STREAM) ||
			m->nb_segs > VSOCK_MAX_SEGS))
		return -EINVAL;
	return 0;
}

static inline bool
vs_txq_full(const struct vsock_conn *c)
{
	return c->txq.bytes >= c->s->conf.sndbuf ||
		c->txq.count >= c->s->conf.sndbuf_pkts;
}

/*
 * Into the send buffer; the caller checked there is room. Inlined with
 * the copy of vs_append_tail() into vsock_send(): out of line, with a
 * second caller, 64-byte writes lost a fifth of their rate.
 */
static __rte_always_inline void
vs_txq_put(struct vsock_conn *c, struct rte_mbuf *m, unsigned int flags)
{
	if (c->type == VSOCK_TYPE_STREAM && vs_append_tail(c, m))
		return;
	vs_mq_push(&c->txq, m);
	/* Each send is one message; EOR only where asked. */
	vsock_meta(m)->flags = c->type == VSOCK_TYPE_SEQPACKET ?
		VSOCK_SEQ_EOM | (flags & VSOCK_SEQ_EOR) : 0;
	vs_tx_activate(c);
}

int
vsock_send(struct vsock_conn *c, struct rte_mbuf *m, unsigned int flags)
{
	int ret = vs_send_check(c, m);

	if (ret != 0)
		return ret;
	/* Behind a backlog, a send would overtake it. */
	if (vs_txq_full(c) || c->backlog.head != NULL) {
		c->want_writable = true;
		return -ENOBUFS;
	}
	vs_txq_put(c, m, flags);
	return 0;
}

/* A backlogged send into the send buffer, and its credit back if asked. */
static void
vs_backlog_take(struct vsock_conn *c, struct rte_mbuf *m, unsigned int flags)
{
	uint32_t len = m->pkt_len;

	vs_txq_put(c, m, flags);
	if (flags & VSOCK_SEND_F_RELEASE)
		vsock_consumed(c, len);
}

int
vsock_send_backlog(struct vsock_conn *c, struct rte_mbuf *m,
		unsigned int flags)
{
	int ret = vs_send_check(c, m);

	if (ret != 0)
		return ret;
	if (c->backlog.head == NULL && !vs_txq_full(c)) {
		vs_backlog_take(c, m, flags);
		return 0;
	}
	vs_mq_push(&c->backlog, m);
	vsock_meta(m)->flags = flags;
	return 0;
}

/* Move what the send buffer has room for out of the backlog, in order. */
static void
vs_backlog_drain(struct vsock_conn *c)
{
	while (c->backlog.head != NULL && !vs_txq_full(c)) {
		struct rte_mbuf *m = vs_mq_pop(&c->backlog);

		vs_backlog_take(c, m, vsock_meta(m)->flags);
	}
}

/* All of the backlog into the send buffer: SHUTDOWN goes after it. */
void
vs_backlog_splice(struct vsock_conn *c)
{
	struct rte_mbuf *m;

	while ((m = vs_mq_pop(&c->backlog)) != NULL)
		vs_backlog_take(c, m, vsock_meta(m)->flags);
}

int
vsock_send_buf(struct vsock_conn *c, const void *buf, uint32_t len)
{
	struct rte_mempool *mp = c->s->pool;
	uint16_t room = rte_pktmbuf_data_room_size(mp) - RTE_PKTMBUF_HEADROOM;
	struct rte_mbuf *head = NULL;
	uint32_t off = 0;
	int ret;

	if (len == 0 && c->type == VSOCK_TYPE_STREAM)
		return vs_send_state(c);
	if ((len + room - 1) / room > VSOCK_MAX_SEGS)
		return -EMSGSIZE;
	/* At least one mbuf: an empty SEQPACKET message is one. */
	do {
		struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
		uint16_t n = (uint16_t)RTE_MIN((uint32_t)room, len - off);

		if (m == NULL) {
			rte_pktmbuf_free(head);
			return -ENOMEM;
		}
		if (n > 0)
			memcpy(rte_pktmbuf_append(m, n),
				(const uint8_t *)buf + off, n);
		if (head == NULL)
			head = m;
		else
			rte_pktmbuf_chain(head, m);
		off += n;
	} while (off < len);
	ret = vsock_send(c, head, 0);
	if (ret != 0)
		rte_pktmbuf_free(head);
	return ret;
}

/*
 * Cut the first @n bytes (0 < n < pkt_len) off the payload chain @m and
 * return them as a chain of their own; @m is left holding the rest. A
 * segment cut in two is shared through an indirect mbuf: no copy.
 */
static struct rte_mbuf *
vs_split(struct vsock_stack *s, struct rte_mbuf **mp, uint32_t n)
{
	struct rte_mbuf *m = *mp, *seg = m, *prev = NULL, *mi = NULL;
	uint32_t off = 0, total = m->pkt_len, cut;
	uint16_t nb = 0, nb_total = m->nb_segs;
	struct vsock_mbuf_meta meta = *vsock_meta(m);

	while (off + seg->data_len <= n) {
		off += seg->data_len;
		prev = seg;
		seg = seg->next;
		nb++;
	}
	cut = n - off;
	if (cut > 0) {
		mi = rte_pktmbuf_alloc(s->ctl_pool);
		if (mi == NULL)
			return NULL;
		rte_pktmbuf_attach(mi, seg);
		mi->data_len = (uint16_t)cut;
		mi->next = NULL;
		seg->data_off += cut;
		seg->data_len -= cut;
	}
	if (prev != NULL)
		prev->next = mi;
	/* The head of the cut-off part: m, or the indirect piece. */
	if (nb == 0)
		m = mi;
	m->nb_segs = nb + (cut > 0);
	m->pkt_len = n;
	seg->nb_segs = nb_total - nb;
	seg->pkt_len = total - n;
	*vsock_meta(seg) = meta;
	*mp = seg;
	return m;
}

static inline bool
vs_can_prepend(const struct rte_mbuf *m)
{
	return RTE_MBUF_DIRECT(m) && rte_mbuf_refcnt_read(m) == 1 &&
		rte_pktmbuf_headroom(m) >= VSOCK_HDR_LEN;
}

/*
 * Put the header in front of @pay: in its headroom when we may write
 * there, else in @hm, chained in front.
 */
static struct rte_mbuf *
vs_push_hdr(struct vsock_conn *c, struct rte_mbuf *pay, struct rte_mbuf *hm,
		uint32_t flags)
{
	struct vsock_hdr h;

	vs_fill_hdr(c, &h, VSOCK_OP_RW, pay->pkt_len, flags);
	if (hm == NULL) {
		vsock_hdr_encode(rte_pktmbuf_prepend(pay, VSOCK_HDR_LEN), &h);
		return pay;
	}
	vsock_hdr_encode(rte_pktmbuf_append(hm, VSOCK_HDR_LEN), &h);
	hm->next = pay;
	hm->nb_segs = pay->nb_segs + 1;
	hm->pkt_len = VSOCK_HDR_LEN + pay->pkt_len;
	return hm;
}

static inline bool
vs_stage_room(const struct vsock_stack *s, uint8_t p)
{
	return p == VS_PORT_LOCAL ? rte_ring_free_count(s->local) > 0 :
		s->ports[p].nb_stage < VS_STAGE_MAX;
}

/* Packets for CID 1 go straight to our own receive side. */
static inline void
vs_stage_put(struct vsock_stack *s, uint8_t p, struct rte_mbuf *m)
{
	if (p == VS_PORT_LOCAL) {
		/* Cannot fail: the caller checked vs_stage_room(). */
		rte_ring_sp_enqueue(s->local, m);
		s->stats.local_pkts++;
	} else {
		s->ports[p].stage[s->ports[p].nb_stage++] = m;
	}
}

/* May @c's port take more payload this poll (the port's byte budget)? */
static inline bool
vs_port_open(const struct vsock_stack *s, uint8_t p)
{
	return vs_stage_room(s, p) && (p == VS_PORT_LOCAL ||
			s->ports[p].stage_bytes < s->ports[p].tx_room);
}

static inline void
vs_pkt_track_push(struct vsock_conn *c)
{
	c->pkt_end[(c->pkt_head + c->pkt_count) & (VS_PKT_TRACK - 1)] =
		c->cr.tx_cnt;
	c->pkt_count++;
}

/* Forget packets the peer has consumed (its fwd_cnt passed their end). */
void
vs_pkt_track_ack(struct vsock_conn *c)
{
	while (c->pkt_count > 0 && (int32_t)(c->cr.peer_fwd_cnt -
			c->pkt_end[c->pkt_head]) >= 0) {
		c->pkt_head = (c->pkt_head + 1) & (VS_PKT_TRACK - 1);
		c->pkt_count--;
		/* The peer reads again: no grace owed for an old stall. */
		c->pkt_grace = false;
	}
}

/*
 * Merge small stream sends at the head of @c's queue into one mbuf of the
 * application's pool, up to @limit bytes: one packet instead of many.
 */
static void
vs_coalesce(struct vsock_conn *c, uint32_t limit)
{
	struct vsock_stack *s = c->s;
	struct rte_mbuf *m = c->txq.head, *next = vsock_meta(m)->next, *big;
	uint32_t room = rte_pktmbuf_data_room_size(s->pool) -
		RTE_PKTMBUF_HEADROOM;
	uint32_t merged = 0;
	struct rte_mbuf *done[64];
	unsigned int nb_done = 0;

	limit = RTE_MIN(limit, room);
	if (next == NULL || m->pkt_len + next->pkt_len > limit ||
			next->pkt_len > VS_COALESCE_MAX)
		return;
	big = rte_pktmbuf_alloc(s->pool);
	if (big == NULL)
		return;
	while ((m = c->txq.head) != NULL && m->pkt_len <= VS_COALESCE_MAX &&
			big->pkt_len + m->pkt_len <= limit) {
		void *dst = rte_pktmbuf_append(big, (uint16_t)m->pkt_len);
		const void *src = rte_pktmbuf_read(m, 0, m->pkt_len, dst);

		if (src != dst)
			memcpy(dst, src, m->pkt_len);
		/* In bulk: freeing one by one was a fifth of a 64 B stream. */
		done[nb_done++] = vs_mq_pop(&c->txq);
		if (nb_done == RTE_DIM(done)) {
			rte_pktmbuf_free_bulk(done, nb_done);
			nb_done = 0;
		}
		merged++;
	}
	rte_pktmbuf_free_bulk(done, nb_done);
	/* Counted: the sends that no longer cost a packet of their own. */
	s->stats.coalesced += merged - 1;
	/* Put the merged packet back at the head. */
	vsock_meta(big)->next = c->txq.head;
	vsock_meta(big)->flags = 0;
	c->txq.head = big;
	if (c->txq.tail == NULL)
		c->txq.tail = big;
	c->txq.bytes += big->pkt_len;
	c->txq.count++;
}

enum vs_stall { VS_GO, VS_STALL_CREDIT, VS_STALL_PKTS };

/*
 * Stage up to @budget data packets of @c, as far as the peer's credit and
 * packet bound go. Returns why it stopped when it stalled.
 */
static enum vs_stall
vs_conn_flush(struct vsock_conn *c, unsigned int budget)
{
	struct vsock_stack *s = c->s;
	uint8_t p = c->port_idx;
	unsigned int done = 0;

	while (c->txq.head != NULL && done < budget && vs_port_open(s, p)) {
		struct rte_mbuf *m, *pay, *hm = NULL;
		uint32_t credit = vsock_credit_tx_space(&c->cr);
		uint32_t n, flags = 0;
		bool split;

		if (credit == 0 && c->txq.head->pkt_len > 0)
			return VS_STALL_CREDIT;
		if (c->pkt_count >= s->conf.max_pkts_in_flight) {
			if (!c->pkt_grace || done > 0)
				return VS_STALL_PKTS;
			/* One packet now (vs_credit_timeout()), then stall. */
			c->pkt_grace = false;
			s->stats.pkt_grace++;
		}
		if (c->type == VSOCK_TYPE_STREAM &&
				c->txq.head->pkt_len <= VS_COALESCE_MAX)
			vs_coalesce(c, RTE_MIN(credit, VSOCK_MAX_PKT_PAYLOAD));
		m = c->txq.head;
		n = RTE_MIN(m->pkt_len, RTE_MIN(credit, VSOCK_MAX_PKT_PAYLOAD));
		split = n < m->pkt_len;
		/* A split inside the first segment yields an indirect head. */
		if (!vs_can_prepend(m) || (split && n < m->data_len)) {
			hm = rte_pktmbuf_alloc(s->ctl_pool);
			if (hm == NULL) {
				s->stats.drop_nomem++;
				break;	/* retried next poll */
			}
		}
		if (split) {
			pay = vs_split(s, &c->txq.head, n);
			if (pay == NULL) {
				rte_pktmbuf_free(hm);
				s->stats.drop_nomem++;
				break;
			}
			/* The rest now stands where m stood. */
			if (c->txq.tail == m)
				c->txq.tail = c->txq.head;
			c->txq.bytes -= n;
		} else {
			pay = vs_mq_pop(&c->txq);
			flags = vsock_meta(pay)->flags;
		}
		vs_stage_put(s, p, vs_push_hdr(c, pay, hm, flags));
		vsock_credit_advertised(&c->cr);
		c->cr.tx_cnt += n;
		vs_pkt_track_push(c);
		c->bytes_tx += n;
		c->pkts_tx++;
		s->stats.tx_bytes += n;
		if (p != VS_PORT_LOCAL)
			s->ports[p].stage_bytes += n;
		done++;
	}
	return VS_GO;
}

/* SHUTDOWN goes out once everything queued before it has. */
static void
vs_conn_flush_shutdown(struct vsock_conn *c)
{
	struct vsock_stack *s = c->s;
	struct vsock_hdr h;
	struct rte_mbuf *m;

	if (c->shutdown_pending == 0 || c->txq.head != NULL ||
			!vs_stage_room(s, c->port_idx))
		return;
	m = rte_pktmbuf_alloc(s->ctl_pool);
	if (m == NULL) {
		s->stats.drop_nomem++;
		return;
	}
	vs_fill_hdr(c, &h, VSOCK_OP_SHUTDOWN, 0, c->shutdown_pending);
	vsock_hdr_encode(rte_pktmbuf_append(m, VSOCK_HDR_LEN), &h);
	vsock_credit_advertised(&c->cr);
	vs_stage_put(s, c->port_idx, m);
	c->shutdown_pending = 0;
}

static void
vs_stage_ctl(struct vsock_stack *s)
{
	while (s->ctl_count > 0) {
		struct vs_ctl *e = &s->ctl[s->ctl_head];

		if (!vs_stage_room(s, e->port_idx))
			break;	/* keeps the order: no overtaking */
		vs_stage_put(s, e->port_idx, e->m);
		s->ctl_head = (s->ctl_head + 1) % VS_CTL_MAX;
		s->ctl_count--;
	}
}

static void
vs_conn_stall(struct vsock_conn *c, enum vs_stall why)
{
	struct vsock_stack *s = c->s;

	if (why == VS_STALL_CREDIT) {
		s->stats.credit_stalls++;
		c->credit_stalls++;
		vs_credit_stalled(c);
		return;
	}
	/*
	 * Too many packets unread by the peer. A peer only tells us its
	 * fwd_cnt when a quarter of its buffer has gone, which small packets
	 * may never reach: ask.
	 */
	s->stats.pkt_stalls++;
	c->pkt_stalls++;
	if (!c->credit_requested &&
			vs_ctl_send(c, VSOCK_OP_CREDIT_REQUEST, 0) == 0) {
		c->credit_requested = true;
		s->stats.credit_requests_tx++;
	}
	vs_credit_stalled(c);
}

static void
vs_stage_data(struct vsock_stack *s)
{
	uint32_t visits = s->nb_active;

	/* Data only behind every control packet, so none overtakes one. */
	while (visits-- > 0 && s->ctl_count == 0) {
		struct vsock_conn *c = TAILQ_FIRST(&s->tx_active);
		enum vs_stall why = VS_GO;

		TAILQ_REMOVE(&s->tx_active, c, tx_link);
		s->nb_active--;
		c->on_active = false;
		if (c->credit_pending && c->state == VS_ESTABLISHED &&
				vs_ctl_send(c, VSOCK_OP_CREDIT_UPDATE, 0) == 0) {
			c->credit_pending = false;
			s->stats.credit_updates_tx++;
		}
		if (c->state == VS_ESTABLISHED || c->state == VS_CLOSING) {
			why = vs_conn_flush(c, VS_CONN_BUDGET);
			vs_backlog_drain(c);
			vs_conn_flush_shutdown(c);
			if (why != VS_GO)
				vs_conn_stall(c, why);
			/* Stalled ones come back when credit arrives. */
			else if (c->txq.head != NULL ||
					c->shutdown_pending != 0)
				vs_tx_activate(c);
		}
		if (c->credit_pending)
			vs_tx_activate(c);
		if (c->want_writable && !c->app_closed && !c->on_writable &&
				c->backlog.head == NULL &&
				c->txq.bytes <= s->conf.sndbuf / 2 &&
				c->txq.count <= s->conf.sndbuf_pkts / 2) {
			TAILQ_INSERT_TAIL(&s->writable, c, wr_link);
			c->on_writable = true;
		}
	}
}

/* How much payload each port may take this poll (bounded queueing). */
static void
vs_port_budgets(struct vsock_stack *s)
{
	uint8_t p;

	for (p = 0; p < s->nb_ports; p++) {
		struct vs_port *vp = &s->ports[p];
		uint32_t busy = vp->port->ops->tx_inflight != NULL ?
			vp->port->ops->tx_inflight(vp->port->priv) : 0;

		vp->tx_room = busy < s->conf.port_tx_bytes ?
			s->conf.port_tx_bytes - busy : 0;
		vp->stage_bytes = 0;
	}
}

unsigned int
vs_tx_flush(struct vsock_stack *s)
{
	struct vsock_conn *c;
	unsigned int sent = 0;
	uint8_t p;

	vs_port_budgets(s);
	vs_stage_ctl(s);
	vs_stage_data(s);
	for (p = 0; p < s->nb_ports; p++) {
		struct vs_port *vp = &s->ports[p];
		uint16_t n;

		if (vp->nb_stage == 0)
			continue;
		n = vp->port->ops->tx_burst(vp->port->priv, vp->stage,
				vp->nb_stage);
		if (n < vp->nb_stage)
			memmove(vp->stage, vp->stage + n,
				(vp->nb_stage - n) * sizeof(vp->stage[0]));
		vp->nb_stage -= n;
		sent += n;
	}
	s->stats.tx_pkts += sent;
	while ((c = TAILQ_FIRST(&s->writable)) != NULL) {
		TAILQ_REMOVE(&s->writable, c, wr_link);
		c->on_writable = false;
		c->want_writable = false;
		if (!c->app_closed && c->state == VS_ESTABLISHED &&
				c->ops->on_writable != NULL)
			c->ops->on_writable(c, c->ctx);
	}
	return sent;
}
