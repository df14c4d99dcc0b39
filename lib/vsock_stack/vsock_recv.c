/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Handing received data to the application: zero copy through on_data, or
 * queued on the connection for the copying vsock_recv(), which also puts
 * SEQPACKET messages back together.
 */
#include <errno.h>
#include <string.h>

#include <rte_mbuf.h>

#include "vsock_private.h"

void
vs_rx_deliver(struct vsock_conn *c, struct rte_mbuf *m, uint32_t flags)
{
	vsock_meta(m)->flags = flags;
	if (c->ops->rx_mode == VSOCK_RX_ZEROCOPY) {
		vsock_meta(m)->rx_len = m->pkt_len;
		c->ops->on_data(c, m, c->ctx);
		return;
	}
	vs_mq_push(&c->rxq, m);
	if (flags & VSOCK_SEQ_EOM)
		c->rx_msgs++;
	if (c->ops->on_readable != NULL)
		c->ops->on_readable(c, c->ctx);
}

/* Copy up to @len bytes from the head of the queue; frees what it empties. */
static uint32_t
vs_rxq_copy(struct vsock_conn *c, uint8_t *buf, uint32_t len, bool *eom,
		uint32_t *flags)
{
	uint32_t done = 0;

	*eom = false;
	while (done < len && c->rxq.head != NULL) {
		struct rte_mbuf *m = c->rxq.head;
		uint32_t n = RTE_MIN(len - done, m->pkt_len - c->rx_off);
		const void *p = rte_pktmbuf_read(m, c->rx_off, n, buf + done);

		if (n > 0 && p != buf + done)
			memcpy(buf + done, p, n);
		done += n;
		c->rx_off += n;
		if (c->rx_off < m->pkt_len)
			break;
		*flags |= vsock_meta(m)->flags;
		*eom = (vsock_meta(m)->flags & VSOCK_SEQ_EOM) != 0;
		c->rx_off = 0;
		rte_pktmbuf_free(vs_mq_pop(&c->rxq));
		if (*eom && c->type == VSOCK_TYPE_SEQPACKET)
			break;
	}
	return done;
}

/* Drop the rest of the message at the head; returns the bytes dropped. */
static uint32_t
vs_rxq_skip_msg(struct vsock_conn *c, uint32_t *flags)
{
	uint32_t dropped = 0;
	struct rte_mbuf *m;

	while ((m = vs_mq_pop(&c->rxq)) != NULL) {
		uint32_t f = vsock_meta(m)->flags;

		dropped += m->pkt_len - c->rx_off;
		c->rx_off = 0;
		*flags |= f;
		rte_pktmbuf_free(m);
		if (f & VSOCK_SEQ_EOM)
			break;
	}
	return dropped;
}

int
vsock_recv(struct vsock_conn *c, void *buf, uint32_t len, uint32_t *flags)
{
	uint32_t got, f = 0, taken;
	bool eom;

	if (c->state != VS_ESTABLISHED || c->app_closed)
		return -ENOTCONN;
	if (c->ops->rx_mode != VSOCK_RX_COPY)
		return -EINVAL;
	if (c->type == VSOCK_TYPE_SEQPACKET ? c->rx_msgs == 0 :
			c->rxq.head == NULL) {
		if (c->peer_shutdown & VSOCK_SHUTDOWN_SEND) {
			if (flags != NULL)
				*flags = 0;
			return 0;
		}
		return -EAGAIN;
	}
	got = vs_rxq_copy(c, buf, len, &eom, &f);
	taken = got;
	if (c->type == VSOCK_TYPE_SEQPACKET) {
		if (!eom) {
			/* Longer than the buffer: MSG_TRUNC, like Linux. */
			taken += vs_rxq_skip_msg(c, &f);
			f |= VSOCK_MSG_TRUNC;
		}
		c->rx_msgs--;
		f |= VSOCK_SEQ_EOM;
	}
	if (flags != NULL)
		*flags = f;
	vsock_consumed(c, taken);
	return (int)got;
}
