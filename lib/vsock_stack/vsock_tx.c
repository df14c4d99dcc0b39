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

#include "vsock_private.h"

static void
vs_fill_hdr(const struct vsock_conn *c, struct vsock_hdr *h, uint16_t op,
		uint32_t len, uint32_t flags)
{
	h->src_cid = c->s->local_cid;
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
vs_ctl_queue(struct vsock_stack *s, const struct vsock_hdr *h)
{
	struct rte_mbuf *m;
	void *p;

	if (s->ctl_count == VS_CTL_MAX ||
			(m = rte_pktmbuf_alloc(s->ctl_pool)) == NULL) {
		s->stats.drop_nomem++;
		return -ENOBUFS;
	}
	p = rte_pktmbuf_append(m, VSOCK_HDR_LEN);
	vsock_hdr_encode(p, h);
	s->ctl[(s->ctl_head + s->ctl_count) % VS_CTL_MAX] = m;
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
	ret = vs_ctl_queue(c->s, &h);
	if (ret == 0)
		vsock_credit_advertised(&c->cr);
	return ret;
}

/* RST in answer to @h, for a packet that has no connection. */
int
vs_ctl_reply_rst(struct vsock_stack *s, const struct vsock_hdr *h)
{
	struct vsock_hdr r = {
		.src_cid = s->local_cid,
		.dst_cid = h->src_cid,
		.src_port = h->dst_port,
		.dst_port = h->src_port,
		.type = h->type,
		.op = VSOCK_OP_RST,
	};

	return vs_ctl_queue(s, &r);
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

void
vs_txq_purge(struct vsock_conn *c)
{
	struct rte_mbuf *m = c->txq_head;

	while (m != NULL) {
		struct rte_mbuf *next = vsock_meta(m)->next;

		rte_pktmbuf_free(m);
		m = next;
	}
	c->txq_head = NULL;
	c->txq_tail = NULL;
	c->tx_queued = 0;
	c->tx_queued_pkts = 0;
}

int
vsock_send(struct vsock_conn *c, struct rte_mbuf *m, unsigned int flags)
{
	struct vsock_mbuf_meta *meta;

	if (unlikely(c->state != VS_ESTABLISHED || c->app_closed))
		return -ENOTCONN;
	if (unlikely(c->local_shutdown & VSOCK_SHUTDOWN_SEND))
		return -EPIPE;
	if (unlikely(m->pkt_len == 0 || m->nb_segs > VS_MAX_SEGS))
		return -EINVAL;
	if (c->tx_queued >= c->s->conf.sndbuf ||
			c->tx_queued_pkts >= c->s->conf.sndbuf_pkts) {
		c->want_writable = true;
		return -ENOBUFS;
	}
	meta = vsock_meta(m);
	meta->next = NULL;
	/* Each send is one message; EOR only where asked. */
	meta->flags = c->type == VSOCK_TYPE_SEQPACKET ?
		VSOCK_SEQ_EOM | (flags & VSOCK_SEQ_EOR) : 0;
	if (c->txq_tail != NULL)
		vsock_meta(c->txq_tail)->next = m;
	else
		c->txq_head = m;
	c->txq_tail = m;
	c->tx_queued += m->pkt_len;
	c->tx_queued_pkts++;
	vs_tx_activate(c);
	return 0;
}

int
vsock_send_buf(struct vsock_conn *c, const void *buf, uint32_t len)
{
	struct rte_mempool *mp = c->s->pool;
	uint16_t room = rte_pktmbuf_data_room_size(mp) - RTE_PKTMBUF_HEADROOM;
	struct rte_mbuf *head = NULL;
	uint32_t off = 0;
	int ret;

	if (len == 0)
		return -EINVAL;
	if ((len + room - 1) / room > VS_MAX_SEGS)
		return -EMSGSIZE;
	while (off < len) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
		uint16_t n = (uint16_t)RTE_MIN((uint32_t)room, len - off);

		if (m == NULL) {
			rte_pktmbuf_free(head);
			return -ENOMEM;
		}
		memcpy(rte_pktmbuf_append(m, n), (const uint8_t *)buf + off, n);
		if (head == NULL)
			head = m;
		else
			rte_pktmbuf_chain(head, m);
		off += n;
	}
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

/*
 * Stage up to @budget data packets of @c, as far as the peer's credit goes.
 * Returns packets staged; *@stalled tells whether credit ran out first.
 */
static unsigned int
vs_conn_flush(struct vsock_conn *c, unsigned int budget, bool *stalled)
{
	struct vsock_stack *s = c->s;
	unsigned int done = 0;

	*stalled = false;
	while (c->txq_head != NULL && done < budget &&
			s->nb_stage < VS_STAGE_MAX) {
		struct rte_mbuf *m = c->txq_head, *pay, *hm = NULL;
		uint32_t credit = vsock_credit_tx_space(&c->cr);
		uint32_t n = RTE_MIN(m->pkt_len, VSOCK_MAX_PKT_PAYLOAD);
		uint32_t flags = 0;
		bool split;

		if (credit == 0) {
			*stalled = true;
			s->stats.credit_stalls++;
			break;
		}
		n = RTE_MIN(n, credit);
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
			pay = vs_split(s, &c->txq_head, n);
			if (pay == NULL) {
				rte_pktmbuf_free(hm);
				s->stats.drop_nomem++;
				break;
			}
		} else {
			pay = m;
			flags = vsock_meta(m)->flags;
			c->txq_head = vsock_meta(m)->next;
			if (c->txq_head == NULL)
				c->txq_tail = NULL;
			c->tx_queued_pkts--;
		}
		s->stage[s->nb_stage++] = vs_push_hdr(c, pay, hm, flags);
		vsock_credit_advertised(&c->cr);
		c->cr.tx_cnt += n;
		c->tx_queued -= n;
		c->bytes_tx += n;
		s->stats.tx_bytes += n;
		done++;
	}
	return done;
}

/* SHUTDOWN goes out once everything queued before it has. */
static void
vs_conn_flush_shutdown(struct vsock_conn *c)
{
	struct vsock_stack *s = c->s;
	struct vsock_hdr h;
	struct rte_mbuf *m;

	if (c->shutdown_pending == 0 || c->txq_head != NULL ||
			s->nb_stage == VS_STAGE_MAX)
		return;
	m = rte_pktmbuf_alloc(s->ctl_pool);
	if (m == NULL) {
		s->stats.drop_nomem++;
		return;
	}
	vs_fill_hdr(c, &h, VSOCK_OP_SHUTDOWN, 0, c->shutdown_pending);
	vsock_hdr_encode(rte_pktmbuf_append(m, VSOCK_HDR_LEN), &h);
	vsock_credit_advertised(&c->cr);
	s->stage[s->nb_stage++] = m;
	c->shutdown_pending = 0;
}

static void
vs_stage_ctl(struct vsock_stack *s)
{
	while (s->ctl_count > 0 && s->nb_stage < VS_STAGE_MAX) {
		s->stage[s->nb_stage++] = s->ctl[s->ctl_head];
		s->ctl_head = (s->ctl_head + 1) % VS_CTL_MAX;
		s->ctl_count--;
	}
}

static void
vs_stage_data(struct vsock_stack *s)
{
	uint32_t visits = s->nb_active;

	/* Data only behind every control packet, so none overtakes one. */
	while (visits-- > 0 && s->ctl_count == 0 &&
			s->nb_stage < VS_STAGE_MAX) {
		struct vsock_conn *c = TAILQ_FIRST(&s->tx_active);
		bool stalled;

		TAILQ_REMOVE(&s->tx_active, c, tx_link);
		s->nb_active--;
		c->on_active = false;
		if (c->credit_pending && c->state == VS_ESTABLISHED &&
				vs_ctl_send(c, VSOCK_OP_CREDIT_UPDATE, 0) == 0) {
			c->credit_pending = false;
			s->stats.credit_updates_tx++;
		}
		if (c->state == VS_ESTABLISHED || c->state == VS_CLOSING) {
			vs_conn_flush(c, VS_CONN_BUDGET, &stalled);
			vs_conn_flush_shutdown(c);
			/* Stalled ones come back when credit arrives. */
			if ((!stalled && (c->txq_head != NULL ||
					c->shutdown_pending != 0)) ||
					c->credit_pending)
				vs_tx_activate(c);
		}
		if (c->want_writable && !c->app_closed && !c->on_writable &&
				c->tx_queued <= c->s->conf.sndbuf / 2 &&
				c->tx_queued_pkts <= c->s->conf.sndbuf_pkts / 2) {
			TAILQ_INSERT_TAIL(&s->writable, c, wr_link);
			c->on_writable = true;
		}
	}
}

unsigned int
vs_tx_flush(struct vsock_stack *s)
{
	struct vsock_conn *c;
	uint16_t sent = 0;

	vs_stage_ctl(s);
	vs_stage_data(s);
	if (s->nb_stage > 0) {
		sent = s->port->ops->tx_burst(s->port->priv, s->stage,
				s->nb_stage);
		s->stats.tx_pkts += sent;
		if (sent < s->nb_stage)
			memmove(s->stage, s->stage + sent,
				(s->nb_stage - sent) * sizeof(s->stage[0]));
		s->nb_stage -= sent;
	}
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
