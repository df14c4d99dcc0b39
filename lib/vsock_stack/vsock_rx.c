/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The receive path: validate, find the connection, then a switch on its
 * state with one small function per op. Every field is untrusted.
 */
#include <errno.h>

#include <rte_branch_prediction.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "vsock_private.h"

/* Every packet of a connection carries the peer's current credit. */
static void
vs_rx_credit(struct vsock_conn *c, const struct vsock_hdr *h)
{
	vsock_credit_peer_update(&c->cr, h->buf_alloc, h->fwd_cnt);
	if ((c->txq_head != NULL || c->shutdown_pending != 0) &&
			vsock_credit_tx_space(&c->cr) > 0)
		vs_tx_activate(c);
}

/* A REQUEST for no connection: a listener accepts it or we refuse. */
static void
vs_rx_request(struct vsock_stack *s, const struct vsock_hdr *h)
{
	struct vsock_conn_key key = {
		.remote_cid = h->src_cid,
		.remote_port = h->src_port,
		.local_port = h->dst_port,
	};
	struct vsock_listener *l = vs_listener_find(s, h->dst_port);
	struct vsock_conn *c;

	if (l == NULL || l->type != h->type ||
			s->stats.conns_open >= s->conf.max_conns ||
			(c = vs_conn_alloc(s, &key, l->type, l->ops,
					l->ctx)) == NULL) {
		s->stats.conns_refused++;
		vs_ctl_reply_rst(s, h);
		return;
	}
	c->state = VS_ESTABLISHED;
	vsock_credit_peer_update(&c->cr, h->buf_alloc, h->fwd_cnt);
	if (vs_ctl_send(c, VSOCK_OP_RESPONSE, 0) != 0) {
		vs_conn_free(c);
		return;
	}
	if (c->ops->on_accept != NULL)
		c->ops->on_accept(c, l->ctx);
}

static void
vs_rx_connecting(struct vsock_conn *c, const struct vsock_hdr *h)
{
	switch (h->op) {
	case VSOCK_OP_RESPONSE:
		rte_timer_stop(&c->timer);
		c->state = VS_ESTABLISHED;
		vs_rx_credit(c, h);
		if (c->ops->on_connect != NULL && !c->app_closed)
			c->ops->on_connect(c, 0, c->ctx);
		break;
	case VSOCK_OP_RST:
		c->s->stats.rst_rx++;
		vs_conn_reset(c, VSOCK_RESET_REFUSED, false);
		break;
	default:
		c->s->stats.drop_bad_op++;
		vs_conn_reset(c, VSOCK_RESET_PROTOCOL, true);
		break;
	}
}

/* Payload for an established connection; returns true if @m was taken. */
static bool
vs_rx_rw(struct vsock_conn *c, const struct vsock_hdr *h, struct rte_mbuf *m)
{
	struct vsock_stack *s = c->s;

	if (!vsock_credit_rx(&c->cr, h->len)) {
		s->stats.drop_credit++;
		vs_conn_reset(c, VSOCK_RESET_CREDIT, true);
		return false;
	}
	if (h->len == 0 && c->type == VSOCK_TYPE_STREAM)
		return false;
	c->bytes_rx += h->len;
	s->stats.rx_bytes += h->len;
	if (c->app_closed || (c->local_shutdown & VSOCK_SHUTDOWN_RCV) ||
			c->ops->on_data == NULL) {
		/* Nobody will read it: consume it now so credit flows. */
		vsock_consumed(c, h->len);
		return false;
	}
	rte_pktmbuf_adj(m, VSOCK_HDR_LEN);
	vsock_meta(m)->flags = h->flags & (VSOCK_SEQ_EOM | VSOCK_SEQ_EOR);
	c->ops->on_data(c, m, c->ctx);
	return true;
}

static void
vs_rx_shutdown(struct vsock_conn *c, const struct vsock_hdr *h)
{
	uint32_t how = h->flags & VSOCK_SHUTDOWN_BOTH;
	uint32_t now = c->peer_shutdown | how;

	if (now == c->peer_shutdown)
		return;
	c->peer_shutdown = now;
	if (c->app_closed) {
		/* Both sides closing at once: end it now, not at the timeout. */
		if (now == VSOCK_SHUTDOWN_BOTH)
			vs_conn_reset(c, VSOCK_RESET_PEER, true);
		return;
	}
	if (c->ops->on_shutdown != NULL)
		c->ops->on_shutdown(c, now, c->ctx);
}

static bool
vs_rx_established(struct vsock_conn *c, const struct vsock_hdr *h,
		struct rte_mbuf *m)
{
	vs_rx_credit(c, h);
	switch (h->op) {
	case VSOCK_OP_RW:
		return vs_rx_rw(c, h, m);
	case VSOCK_OP_CREDIT_UPDATE:
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		if (vs_ctl_send(c, VSOCK_OP_CREDIT_UPDATE, 0) == 0)
			c->s->stats.credit_updates_tx++;
		break;
	case VSOCK_OP_SHUTDOWN:
		vs_rx_shutdown(c, h);
		break;
	case VSOCK_OP_RST:
		c->s->stats.rst_rx++;
		vs_conn_reset(c, VSOCK_RESET_PEER, false);
		break;
	default:
		/* REQUEST/RESPONSE on an open connection, or an unknown op. */
		c->s->stats.drop_bad_op++;
		vs_conn_reset(c, VSOCK_RESET_PROTOCOL, true);
		break;
	}
	return false;
}

/*
 * We closed: our queued data and SHUTDOWN still need the peer's credit;
 * its data goes nowhere but is counted consumed so that it is not stalled.
 */
static void
vs_rx_closing(struct vsock_conn *c, const struct vsock_hdr *h)
{
	vs_rx_credit(c, h);
	switch (h->op) {
	case VSOCK_OP_RST:
		c->s->stats.rst_rx++;
		vs_conn_free(c);
		break;
	case VSOCK_OP_SHUTDOWN:
		vs_rx_shutdown(c, h);
		break;
	case VSOCK_OP_RW:
		if (vsock_credit_rx(&c->cr, h->len))
			vsock_credit_consume(&c->cr, h->len);
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		vs_ctl_send(c, VSOCK_OP_CREDIT_UPDATE, 0);
		break;
	default:
		break;
	}
}

/* Returns true if @m was handed on (the caller must not free it). */
static bool
vs_rx_one(struct vsock_stack *s, struct rte_mbuf *m)
{
	uint8_t raw[VSOCK_HDR_LEN];
	const void *p;
	struct vsock_hdr h;
	struct vsock_conn_key key;
	struct vsock_conn *c;

	p = rte_pktmbuf_read(m, 0, VSOCK_HDR_LEN, raw);
	if (unlikely(p == NULL)) {
		s->stats.drop_bad_hdr++;
		return false;
	}
	vsock_hdr_decode(&h, p);
	if (unlikely(h.len != m->pkt_len - VSOCK_HDR_LEN ||
			h.len > VSOCK_MAX_PKT_PAYLOAD)) {
		s->stats.drop_bad_hdr++;
		return false;
	}
	if (unlikely(h.dst_cid != s->local_cid)) {
		s->stats.drop_wrong_cid++;
		return false;
	}
	if (unlikely(h.type != VSOCK_TYPE_STREAM &&
			h.type != VSOCK_TYPE_SEQPACKET)) {
		s->stats.drop_bad_type++;
		if (h.op != VSOCK_OP_RST)
			vs_ctl_reply_rst(s, &h);
		return false;
	}
	key.remote_cid = h.src_cid;
	key.remote_port = h.src_port;
	key.local_port = h.dst_port;
	c = vs_conn_find(s, &key);
	if (c == NULL) {
		if (h.op == VSOCK_OP_REQUEST) {
			vs_rx_request(s, &h);
		} else if (h.op != VSOCK_OP_RST) {
			/* Never answer an RST with an RST. */
			s->stats.drop_no_conn++;
			vs_ctl_reply_rst(s, &h);
		}
		return false;
	}
	if (unlikely(h.type != c->type)) {
		s->stats.drop_bad_type++;
		vs_conn_reset(c, VSOCK_RESET_PROTOCOL, true);
		return false;
	}
	switch (c->state) {
	case VS_CONNECTING:
		vs_rx_connecting(c, &h);
		return false;
	case VS_ESTABLISHED:
		return vs_rx_established(c, &h, m);
	case VS_CLOSING:
		vs_rx_closing(c, &h);
		return false;
	case VS_DEAD:
		return false;
	}
	return false;
}

unsigned int
vs_rx(struct vsock_stack *s)
{
	struct rte_mbuf *pkts[VS_BURST];
	uint16_t n, i;

	n = s->port->ops->rx_burst(s->port->priv, pkts, VS_BURST);
	s->stats.rx_pkts += n;
	for (i = 0; i < n; i++) {
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		if (!vs_rx_one(s, pkts[i]))
			rte_pktmbuf_free(pkts[i]);
	}
	return n;
}

uint32_t
vsock_mbuf_msg_flags(struct rte_mbuf *m)
{
	return vsock_meta(m)->flags;
}
