/* SPDX-License-Identifier: BSD-3-Clause */
/* The apps' echo service (app_echo.h). */
#include <errno.h>
#include <string.h>

#include <rte_mbuf.h>

#include "app_echo.h"

void
app_echo_init(struct app_echo *e, struct vsock_conn *vc)
{
	struct vsock_conn_info info;

	vsock_conn_info(vc, &info);
	e->vc = vc;
	e->type = info.type;
	e->msg = NULL;
}

/*
 * Append @m to the message @head: copied behind its last segment when it
 * fits there (few mbufs for a message of many small pieces), chained
 * otherwise, up to VSOCK_MAX_SEGS segments.
 */
static int
app_echo_gather(struct rte_mbuf *head, struct rte_mbuf *m)
{
	struct rte_mbuf *t = rte_pktmbuf_lastseg(head);

	if (RTE_MBUF_DIRECT(t) && rte_mbuf_refcnt_read(t) == 1 &&
			m->pkt_len <= rte_pktmbuf_tailroom(t)) {
		uint8_t *dst = rte_pktmbuf_mtod_offset(t, uint8_t *,
				t->data_len);
		const void *src = rte_pktmbuf_read(m, 0, m->pkt_len, dst);

		if (src != dst)
			memcpy(dst, src, m->pkt_len);
		t->data_len += (uint16_t)m->pkt_len;
		head->pkt_len += m->pkt_len;
		rte_pktmbuf_free(m);
		return 0;
	}
	if (head->nb_segs + m->nb_segs > VSOCK_MAX_SEGS)
		return -EMSGSIZE;
	return rte_pktmbuf_chain(head, m);
}

static int
app_echo_send(struct app_echo *e, struct rte_mbuf *m, uint32_t flags,
		struct app_echo_stats *st)
{
	uint32_t len = m->pkt_len;
	int r = vsock_send_backlog(e->vc, m, flags | VSOCK_SEND_F_RELEASE);

	if (r != 0) {
		rte_pktmbuf_free(m);
		st->errors++;
		return r;
	}
	st->bytes += len;
	st->msgs += e->type == VSOCK_TYPE_SEQPACKET;
	return 0;
}

int
app_echo_data(struct app_echo *e, struct rte_mbuf *m,
		struct app_echo_stats *st)
{
	uint32_t flags = vsock_mbuf_msg_flags(m);
	int r;

	if (e->type == VSOCK_TYPE_STREAM)
		return app_echo_send(e, m, 0, st);
	/* SEQPACKET: gather the pieces, send the message back as one. */
	if (e->msg == NULL) {
		e->msg = m;
	} else {
		r = app_echo_gather(e->msg, m);
		if (r != 0) {
			rte_pktmbuf_free(m);
			st->errors++;
			return r;
		}
	}
	if (!(flags & VSOCK_SEQ_EOM))
		return 0;
	m = e->msg;
	e->msg = NULL;
	return app_echo_send(e, m, flags & VSOCK_SEQ_EOR, st);
}

void
app_echo_shutdown(struct app_echo *e, struct app_echo_stats *st)
{
	if (e->msg != NULL) {
		st->errors++;
		app_echo_release(e);
	}
}

void
app_echo_release(struct app_echo *e)
{
	rte_pktmbuf_free(e->msg);
	e->msg = NULL;
}
