/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The receive path: validate, find the connection or listener, then one
 * small function per (state, op), picked from a table. Every field that
 * arrives is untrusted.
 */
#include <errno.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "vsock_private.h"

/* What a handler is given: the packet, where it came from, its conn. */
struct vs_pkt {
	struct vsock_stack *s;
	struct vsock_conn *c;	/* NULL in VS_NONE and VS_LISTEN */
	const struct vsock_hdr *h;
	struct rte_mbuf *m;
	uint8_t port_idx;
};

/* Returns true when it kept the mbuf. */
typedef bool (*vs_rx_fn)(const struct vs_pkt *p);

/*
 * At most one line a second per call site: a hostile peer or device must
 * not turn each bad packet into a line of log (the counters count all).
 */
#define VS_LOG_RL(level, fmt, ...) do { \
	static uint64_t vs_rl_last_; \
	uint64_t vs_rl_now_ = rte_get_timer_cycles(); \
	if (vs_rl_now_ - __atomic_load_n(&vs_rl_last_, __ATOMIC_RELAXED) >= \
			rte_get_timer_hz()) { \
		__atomic_store_n(&vs_rl_last_, vs_rl_now_, __ATOMIC_RELAXED); \
		VS_LOG(level, fmt, ## __VA_ARGS__); \
	} \
} while (0)

/* Every packet of a connection carries the peer's current credit. */
static void
vs_rx_credit(struct vsock_conn *c, const struct vsock_hdr *h)
{
	struct vsock_stack *s = c->s;
	uint32_t buf = h->buf_alloc;

	if (unlikely(buf > s->conf.peer_buf_max)) {
		/* An absurd window is not a licence to queue without end. */
		buf = s->conf.peer_buf_max;
		s->stats.peer_buf_clamped++;
	}
	/* An answer that shows no progress leaves the request standing. */
	if (h->fwd_cnt != c->cr.peer_fwd_cnt || buf != c->cr.peer_buf_alloc)
		c->credit_requested = false;
	vsock_credit_peer_update(&c->cr, buf, h->fwd_cnt);
	/* Legal, but worth knowing when sends stall. */
	if (unlikely(c->cr.tx_cnt - c->cr.peer_fwd_cnt > buf))
		s->stats.peer_credit_shrunk++;
	vs_pkt_track_ack(c);
	if (vsock_credit_tx_space(&c->cr) > 0)
		rte_timer_stop(&c->credit_timer);
	if ((c->txq.head != NULL || c->shutdown_pending != 0) &&
			vsock_credit_tx_space(&c->cr) > 0)
		vs_tx_activate(c);
}

/* ---- no connection ---- */

static bool
rx_drop(const struct vs_pkt *p)
{
	RTE_SET_USED(p);
	return false;
}

/* Anything but an RST, for nobody: RST. */
static bool
rx_none_rst(const struct vs_pkt *p)
{
	p->s->stats.drop_no_conn++;
	vs_ctl_reply_rst(p->s, p->port_idx, p->h,
		p->h->op == VSOCK_OP_REQUEST ? VSOCK_RESET_NO_LISTENER :
		VSOCK_RESET_NO_CONN);
	return false;
}

static bool
rx_listen_request(const struct vs_pkt *p)
{
	struct vsock_stack *s = p->s;
	const struct vsock_hdr *h = p->h;
	struct vsock_conn_key key = {
		.remote_cid = h->src_cid,
		.local_cid = h->dst_cid,
		.remote_port = h->src_port,
		.local_port = h->dst_port,
	};
	struct vsock_listener *l = vs_listener_for(s, h->dst_port);
	struct vsock_conn *c;

	/* Type first: the veto hook may act (connect somewhere) on a yes. */
	if (l->type != h->type) {
		s->stats.conns_refused++;
		vs_ctl_reply_rst(s, p->port_idx, h, VSOCK_RESET_BAD_TYPE);
		return false;
	}
	if (l->ops->on_request != NULL && l->ops->on_request(h->dst_port,
			h->src_cid, h->src_port, l->ctx) != 0) {
		s->stats.conns_refused++;
		vs_ctl_reply_rst(s, p->port_idx, h, VSOCK_RESET_NO_LISTENER);
		return false;
	}
	if (l->nb_conns >= l->backlog ||
			s->stats.conns_open >= s->conf.max_conns ||
			(c = vs_conn_alloc(s, &key, l->type, l->ops, l->ctx,
					p->port_idx)) == NULL) {
		s->stats.conns_refused++;
		vs_ctl_reply_rst(s, p->port_idx, h, VSOCK_RESET_BACKLOG);
		return false;
	}
	c->state = VS_ESTABLISHED;
	c->listener_gen = l->gen;
	c->listener_port = h->dst_port;
	l->nb_conns++;
	vs_rx_credit(c, h);
	if (vs_ctl_send(c, VSOCK_OP_RESPONSE, 0) != 0) {
		vs_conn_free(c);
		return false;
	}
	if (c->ops->on_accept != NULL)
		c->ops->on_accept(c, l->ctx);
	return false;
}

/* ---- any connection ---- */

/* An op this state does not take: reset, as Linux does. */
static bool
rx_protocol_reset(const struct vs_pkt *p)
{
	p->s->stats.drop_bad_op++;
	VS_LOG_RL(WARNING, "%s: op %u (%s) from %" PRIu64 ":%u in state %d: "
		"reset", p->s->name, p->h->op, vsock_op_name(p->h->op),
		p->h->src_cid, p->h->src_port, (int)p->c->state);
	vs_conn_reset(p->c, VSOCK_RESET_PROTOCOL, VSOCK_RESET_PROTOCOL);
	return false;
}

static bool
rx_peer_rst(const struct vs_pkt *p)
{
	p->s->stats.rst_rx++;
	vs_conn_reset(p->c, p->c->state == VS_CONNECTING ?
		VSOCK_RESET_REFUSED : VSOCK_RESET_PEER, VSOCK_RESET_NONE);
	return false;
}

static bool
rx_credit_only(const struct vs_pkt *p)
{
	vs_rx_credit(p->c, p->h);
	return false;
}

static bool
rx_credit_request(const struct vs_pkt *p)
{
	vs_rx_credit(p->c, p->h);
	if (vs_ctl_send(p->c, VSOCK_OP_CREDIT_UPDATE, 0) == 0)
		p->s->stats.credit_updates_tx++;
	return false;
}

/* ---- CONNECTING ---- */

static bool
rx_connecting_response(const struct vs_pkt *p)
{
	struct vsock_conn *c = p->c;

	rte_timer_stop(&c->timer);
	c->state = VS_ESTABLISHED;
	vs_rx_credit(c, p->h);
	if (c->ops->on_connect != NULL)
		c->ops->on_connect(c, 0, c->ctx);
	return false;
}

/* ---- ESTABLISHED ---- */

static bool
rx_established_rw(const struct vs_pkt *p)
{
	struct vsock_conn *c = p->c;
	const struct vsock_hdr *h = p->h;
	struct vsock_stack *s = p->s;
	uint32_t flags = h->flags & (VSOCK_SEQ_EOM | VSOCK_SEQ_EOR);

	vs_rx_credit(c, h);
	if (!vsock_credit_rx(&c->cr, h->len)) {
		/* It sent beyond the window we gave it: it alone pays. */
		s->stats.drop_credit++;
		vs_conn_reset(c, VSOCK_RESET_CREDIT, VSOCK_RESET_CREDIT);
		return false;
	}
	if (c->type == VSOCK_TYPE_STREAM) {
		if (h->len == 0)
			return false;
		flags = 0;
	}
	c->bytes_rx += h->len;
	c->pkts_rx++;
	s->stats.rx_bytes += h->len;
	if ((c->local_shutdown & VSOCK_SHUTDOWN_RCV) ||
			(c->peer_shutdown & VSOCK_SHUTDOWN_SEND)) {
		/* Nobody will read it: consume it now so credit flows. */
		s->stats.drop_closed++;
		c->drops++;
		vsock_consumed(c, h->len);
		return false;
	}
	/* Strip the header; it may sit in an mbuf of its own. */
	if (p->m->data_len > VSOCK_HDR_LEN || p->m->next == NULL) {
		rte_pktmbuf_adj(p->m, VSOCK_HDR_LEN);
		vs_rx_deliver(c, p->m, flags);
	} else {
		struct rte_mbuf *pay = p->m->next;

		pay->nb_segs = p->m->nb_segs - 1;
		pay->pkt_len = p->m->pkt_len - VSOCK_HDR_LEN;
		p->m->next = NULL;
		p->m->nb_segs = 1;
		rte_pktmbuf_free_seg(p->m);
		vs_rx_deliver(c, pay, flags);
	}
	return true;
}

static bool
rx_established_shutdown(const struct vs_pkt *p)
{
	struct vsock_conn *c = p->c;
	uint32_t now = c->peer_shutdown | (p->h->flags & VSOCK_SHUTDOWN_BOTH);

	vs_rx_credit(c, p->h);
	if (now == c->peer_shutdown)
		return false;
	c->peer_shutdown = now;
	if (c->ops->on_shutdown != NULL)
		c->ops->on_shutdown(c, now, c->ctx);
	if ((now & VSOCK_SHUTDOWN_SEND) && c->ops->rx_mode == VSOCK_RX_COPY &&
			c->ops->on_readable != NULL && c->state ==
			VS_ESTABLISHED && !c->app_closed)
		c->ops->on_readable(c, c->ctx);	/* reads see the end */
	return false;
}

/* ---- CLOSING: we closed; only the end of the exchange matters ---- */

static bool
rx_closing_rw(const struct vs_pkt *p)
{
	struct vsock_conn *c = p->c;

	vs_rx_credit(c, p->h);
	/* Its data goes nowhere but counts as read, so it is not stalled. */
	p->s->stats.drop_closed++;
	if (vsock_credit_rx(&c->cr, p->h->len))
		vsock_credit_consume(&c->cr, p->h->len);
	return false;
}

static bool
rx_closing_shutdown(const struct vs_pkt *p)
{
	struct vsock_conn *c = p->c;

	vs_rx_credit(c, p->h);
	c->peer_shutdown |= p->h->flags & VSOCK_SHUTDOWN_BOTH;
	/* Both sides closing at once: end it now, not at the timeout. */
	if (c->peer_shutdown == VSOCK_SHUTDOWN_BOTH)
		vs_conn_reset(c, VSOCK_RESET_CLOSE, VSOCK_RESET_CLOSE);
	return false;
}

static bool
rx_closing_rst(const struct vs_pkt *p)
{
	p->s->stats.rst_rx++;
	vs_conn_free(p->c);
	return false;
}

/* Column VSOCK_OP_MAX holds ops outside the spec. */
static const vs_rx_fn vs_rx_table[VS_DEAD][VSOCK_OP_MAX + 1] = {
	[VS_NONE] = {
		[VSOCK_OP_INVALID] = rx_none_rst,
		[VSOCK_OP_REQUEST] = rx_none_rst,
		[VSOCK_OP_RESPONSE] = rx_none_rst,
		[VSOCK_OP_RST] = rx_drop,	/* never RST an RST */
		[VSOCK_OP_SHUTDOWN] = rx_none_rst,
		[VSOCK_OP_RW] = rx_none_rst,
		[VSOCK_OP_CREDIT_UPDATE] = rx_none_rst,
		[VSOCK_OP_CREDIT_REQUEST] = rx_none_rst,
		[VSOCK_OP_MAX] = rx_none_rst,
	},
	[VS_LISTEN] = {
		[VSOCK_OP_INVALID] = rx_none_rst,
		[VSOCK_OP_REQUEST] = rx_listen_request,
		[VSOCK_OP_RESPONSE] = rx_none_rst,
		[VSOCK_OP_RST] = rx_drop,
		[VSOCK_OP_SHUTDOWN] = rx_none_rst,
		[VSOCK_OP_RW] = rx_none_rst,
		[VSOCK_OP_CREDIT_UPDATE] = rx_none_rst,
		[VSOCK_OP_CREDIT_REQUEST] = rx_none_rst,
		[VSOCK_OP_MAX] = rx_none_rst,
	},
	[VS_CONNECTING] = {
		[VSOCK_OP_INVALID] = rx_protocol_reset,
		[VSOCK_OP_REQUEST] = rx_protocol_reset,
		[VSOCK_OP_RESPONSE] = rx_connecting_response,
		[VSOCK_OP_RST] = rx_peer_rst,
		[VSOCK_OP_SHUTDOWN] = rx_protocol_reset,
		[VSOCK_OP_RW] = rx_protocol_reset,
		[VSOCK_OP_CREDIT_UPDATE] = rx_protocol_reset,
		[VSOCK_OP_CREDIT_REQUEST] = rx_protocol_reset,
		[VSOCK_OP_MAX] = rx_protocol_reset,
	},
	[VS_ESTABLISHED] = {
		[VSOCK_OP_INVALID] = rx_protocol_reset,
		[VSOCK_OP_REQUEST] = rx_protocol_reset,
		[VSOCK_OP_RESPONSE] = rx_protocol_reset,
		[VSOCK_OP_RST] = rx_peer_rst,
		[VSOCK_OP_SHUTDOWN] = rx_established_shutdown,
		[VSOCK_OP_RW] = rx_established_rw,
		[VSOCK_OP_CREDIT_UPDATE] = rx_credit_only,
		[VSOCK_OP_CREDIT_REQUEST] = rx_credit_request,
		[VSOCK_OP_MAX] = rx_protocol_reset,
	},
	[VS_CLOSING] = {
		[VSOCK_OP_INVALID] = rx_drop,
		[VSOCK_OP_REQUEST] = rx_drop,
		[VSOCK_OP_RESPONSE] = rx_drop,
		[VSOCK_OP_RST] = rx_closing_rst,
		[VSOCK_OP_SHUTDOWN] = rx_closing_shutdown,
		[VSOCK_OP_RW] = rx_closing_rw,
		[VSOCK_OP_CREDIT_UPDATE] = rx_credit_only,
		[VSOCK_OP_CREDIT_REQUEST] = rx_credit_request,
		[VSOCK_OP_MAX] = rx_drop,
	},
};

/* Is @cid ours on the port the packet came by? */
static inline bool
vs_cid_ours(const struct vsock_stack *s, uint8_t port_idx, uint64_t cid)
{
	return port_idx == VS_PORT_LOCAL ? vs_cid_local(s, cid) :
		cid == s->ports[port_idx].cid;
}

/*
 * Could a peer behind a device port send from @cid? Never from CID 1,
 * which only the stack's own loopback uses, nor from VMADDR_CID_ANY or
 * with the reserved upper half of the le64 set; from an H2G port, only
 * its guest's CID.
 */
static inline bool
vs_src_cid_ok(const struct vsock_stack *s, uint8_t port_idx, uint64_t cid)
{
	if (port_idx == VS_PORT_LOCAL)
		return true;
	/* Behind an H2G port there is one guest. */
	if (s->ports[port_idx].peer_cid != 0)
		return cid == s->ports[port_idx].peer_cid;
	return cid != VSOCK_CID_LOCAL && cid < VSOCK_CID_ANY;
}

/*
 * A packet for @c had to be dropped: its bytes would leave a hole in the
 * stream nobody hears of, so the connection is reset and the loss shows.
 */
static void
vs_rx_lost(struct vsock_stack *s, struct vsock_conn *c,
		enum vsock_reset_reason why)
{
	if (c == NULL || c->state == VS_DEAD)
		return;
	s->stats.conn_reset_bad_pkt++;
	vs_conn_reset(c, VSOCK_RESET_PROTOCOL, why);
}

/* Flag bits the op does not define (only RW and SHUTDOWN carry any). */
static inline bool
vs_flags_bad(const struct vsock_hdr *h)
{
	if (h->op == VSOCK_OP_RW)
		return (h->flags & ~(VSOCK_SEQ_EOM | VSOCK_SEQ_EOR)) != 0;
	if (h->op == VSOCK_OP_SHUTDOWN)
		return (h->flags & ~VSOCK_SHUTDOWN_BOTH) != 0;
	return false;
}

/*
 * fwd_cnt only moves forward and never past what we sent: outside
 * [the last one, tx_cnt] it is a lie (u32 arithmetic, wrap-safe).
 */
static inline bool
vs_fwd_cnt_bad(const struct vsock_conn *c, const struct vsock_hdr *h)
{
	return h->fwd_cnt - c->cr.peer_fwd_cnt >
		c->cr.tx_cnt - c->cr.peer_fwd_cnt;
}

/*
 * The checks that need the connection: a packet it cannot take resets
 * it. Returns false when the packet was dropped.
 */
static bool
vs_rx_check_conn(struct vsock_stack *s, const struct vsock_hdr *h,
		struct vsock_conn *c)
{
	if (unlikely(h->type != c->type)) {
		s->stats.drop_bad_type++;
		VS_LOG_RL(WARNING, "%s: type %u for a connection of type %u "
			"from %" PRIu64 ":%u: reset", s->name, h->type,
			c->type, h->src_cid, h->src_port);
		vs_rx_lost(s, c, VSOCK_RESET_BAD_TYPE);
		return false;
	}
	if (unlikely(vs_flags_bad(h))) {
		s->stats.drop_bad_flags++;
		VS_LOG_RL(WARNING, "%s: %s with flags 0x%x from %" PRIu64
			":%u: reset", s->name, vsock_op_name(h->op), h->flags,
			h->src_cid, h->src_port);
		vs_rx_lost(s, c, VSOCK_RESET_PROTOCOL);
		return false;
	}
	if (unlikely(h->op != VSOCK_OP_RST && vs_fwd_cnt_bad(c, h))) {
		s->stats.drop_bad_credit++;
		VS_LOG_RL(WARNING, "%s: fwd_cnt %u from %" PRIu64 ":%u "
			"outside %u..%u: reset", s->name, h->fwd_cnt,
			h->src_cid, h->src_port, c->cr.peer_fwd_cnt,
			c->cr.tx_cnt);
		vs_rx_lost(s, c, VSOCK_RESET_PROTOCOL);
		return false;
	}
	return true;
}

/* Returns true if @m was handed on (the caller must not free it). */
static bool
vs_rx_one(struct vsock_stack *s, uint8_t port_idx, struct rte_mbuf *m)
{
	uint8_t raw[VSOCK_HDR_LEN];
	struct vsock_conn_key key;
	struct vs_pkt p = { .s = s, .m = m, .port_idx = port_idx };
	struct vsock_hdr h;
	enum vs_state st;
	const void *raw_p;

	raw_p = rte_pktmbuf_read(m, 0, VSOCK_HDR_LEN, raw);
	if (unlikely(raw_p == NULL)) {
		s->stats.drop_bad_hdr++;
		VS_LOG_RL(WARNING, "%s: packet of %u bytes has no header",
			s->name, m->pkt_len);
		return false;
	}
	vsock_hdr_decode(&h, raw_p);
	p.h = &h;
	if (unlikely(!vs_cid_ours(s, port_idx, h.dst_cid))) {
		s->stats.drop_wrong_cid++;
		VS_LOG_RL(WARNING, "%s: packet for CID %" PRIu64 ", not ours",
			s->name, h.dst_cid);
		return false;
	}
	if (unlikely(!vs_src_cid_ok(s, port_idx, h.src_cid))) {
		s->stats.drop_bad_src_cid++;
		VS_LOG_RL(WARNING, "%s: packet from CID %" PRIu64 " on port "
			"%u: no peer has it", s->name, h.src_cid, port_idx);
		return false;
	}
	key.remote_cid = h.src_cid;
	key.local_cid = h.dst_cid;
	key.remote_port = h.src_port;
	key.local_port = h.dst_port;
	p.c = vs_conn_find(s, &key);
	if (unlikely(h.len != m->pkt_len - VSOCK_HDR_LEN ||
			h.len > VSOCK_MAX_PKT_PAYLOAD)) {
		s->stats.drop_bad_hdr++;
		VS_LOG_RL(WARNING, "%s: header len %u on %u payload bytes",
			s->name, h.len, m->pkt_len - VSOCK_HDR_LEN);
		vs_rx_lost(s, p.c, VSOCK_RESET_PROTOCOL);
		return false;
	}
	if (p.c != NULL) {
		st = p.c->state;
		if (!vs_rx_check_conn(s, &h, p.c))
			return false;
	} else if (unlikely(h.type != VSOCK_TYPE_STREAM &&
			h.type != VSOCK_TYPE_SEQPACKET)) {
		s->stats.drop_bad_type++;
		VS_LOG_RL(WARNING, "%s: unknown type %u from %" PRIu64 ":%u",
			s->name, h.type, h.src_cid, h.src_port);
		if (h.op != VSOCK_OP_RST)
			vs_ctl_reply_rst(s, port_idx, &h, VSOCK_RESET_BAD_TYPE);
		return false;
	} else {
		st = vs_listener_for(s, h.dst_port) != NULL ? VS_LISTEN :
			VS_NONE;
	}
	if (st == VS_DEAD)
		return false;
	return vs_rx_table[st][RTE_MIN(h.op, (uint16_t)VSOCK_OP_MAX)](&p);
}

static unsigned int
vs_rx_burst(struct vsock_stack *s, uint8_t port_idx, struct rte_mbuf **pkts,
		uint16_t n)
{
	uint16_t i;

	for (i = 0; i < n; i++) {
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		if (!vs_rx_one(s, port_idx, pkts[i]))
			rte_pktmbuf_free(pkts[i]);
	}
	return n;
}

unsigned int
vs_rx(struct vsock_stack *s)
{
	struct rte_mbuf *pkts[VS_BURST];
	unsigned int work = 0, n;
	uint8_t p;

	/*
	 * A packet may need a control packet in answer (RESPONSE, RST, a
	 * credit update). With no room for a burst of answers (queue slots,
	 * or mbufs: counting the pool walks every lcore's cache, so only
	 * every VS_POOL_CHECK polls while it is not low), leave what arrives
	 * in the device's ring: the peer's queue backs up instead of a
	 * REQUEST flood or a mass close making us drop answers.
	 */
	if (unlikely(--s->pool_check == 0)) {
		/* Room for every answer until the next count, and more. */
		s->ctl_low = rte_mempool_avail_count(s->ctl_pool) <
			(VS_POOL_CHECK + 2) * VS_BURST;
		s->pool_check = s->ctl_low ? 1 : VS_POOL_CHECK;
	}
	if (unlikely(s->ctl_count > VS_CTL_MAX - VS_BURST || s->ctl_low)) {
		s->stats.rx_paused++;
		return 0;
	}
	for (p = 0; p < s->nb_ports; p++) {
		const struct vsock_port *port = s->ports[p].port;

		n = port->ops->rx_burst(port->priv, pkts, VS_BURST);
		s->stats.rx_pkts += n;
		work += vs_rx_burst(s, p, pkts, (uint16_t)n);
	}
	n = rte_ring_sc_dequeue_burst(s->local, (void **)pkts, VS_BURST, NULL);
	s->stats.rx_pkts += n;
	work += vs_rx_burst(s, VS_PORT_LOCAL, pkts, (uint16_t)n);
	return work;
}

uint32_t
vsock_mbuf_msg_flags(struct rte_mbuf *m)
{
	return vsock_meta(m)->flags;
}
