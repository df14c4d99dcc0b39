/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-bridge: --echo-port, a test service in the bridge's own stack. It
 * listens on CID 2 port P for STREAM and P+1 for SEQPACKET (one listener
 * per port) and sends every byte, or every whole message, back.
 *
 * Zero copy: the mbuf on_data hands us is the one vsock_send() takes back.
 * Credit returns to the guest only once its bytes are accepted for sending,
 * so an echo the guest does not read throttles the guest's own sends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "bridge.h"

/* vsock_send() takes chains of at most this many segments. */
#define BR_ECHO_MAX_SEGS 60

/* Per-mbuf link of an echo queue (a dynamic field, like testpmd's). */
struct br_echo_link {
	struct rte_mbuf *next;
	uint32_t flags;		/* VSOCK_SEQ_EOR of a queued message */
};

static int br_echo_link_off = -1;

static inline struct br_echo_link *
br_link(struct rte_mbuf *m)
{
	return RTE_MBUF_DYNFIELD(m, br_echo_link_off, struct br_echo_link *);
}

struct br_echo_conn {
	TAILQ_ENTRY(br_echo_conn) link;
	struct br_echo *e;
	struct vsock_conn *vc;
	enum vsock_type type;
	bool draining;		/* the peer sends no more: close when sent */
	struct rte_mbuf *q_head;	/* waiting for room in the stack */
	struct rte_mbuf *q_tail;
	struct rte_mbuf *msg;	/* SEQPACKET: the message being gathered */
};

struct br_echo {
	struct br_guest *g;
	TAILQ_HEAD(, br_echo_conn) conns;
	struct br_echo_stats st;
};

/*
 * Append @m to the chain @head: copied behind its last segment when it
 * fits there (few mbufs for many small pieces), chained otherwise.
 */
static int
br_chain_append(struct rte_mbuf *head, struct rte_mbuf *m)
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
	if (head->nb_segs + m->nb_segs > BR_ECHO_MAX_SEGS)
		return -EMSGSIZE;
	return rte_pktmbuf_chain(head, m);
}

static void
br_echo_free(struct br_echo_conn *ec)
{
	struct rte_mbuf *m = ec->q_head;

	while (m != NULL) {
		struct rte_mbuf *next = br_link(m)->next;

		rte_pktmbuf_free(m);
		m = next;
	}
	rte_pktmbuf_free(ec->msg);
	TAILQ_REMOVE(&ec->e->conns, ec, link);
	free(ec);
}

static void
br_echo_close(struct br_echo_conn *ec)
{
	vsock_close(ec->vc);
	br_echo_free(ec);
}

/* Send what is queued, in order; credit goes back for what was taken. */
static void
br_echo_flush(struct br_echo_conn *ec)
{
	struct rte_mbuf *m;

	while ((m = ec->q_head) != NULL) {
		struct rte_mbuf *next = br_link(m)->next;
		uint32_t len = m->pkt_len;
		int r = vsock_send(ec->vc, m, br_link(m)->flags);

		if (r == -ENOBUFS)
			return;		/* on_writable calls us again */
		ec->q_head = next;
		if (ec->q_head == NULL)
			ec->q_tail = NULL;
		if (r != 0) {
			ec->e->st.errors++;
			rte_pktmbuf_free(m);
		} else {
			ec->e->st.bytes += len;
			ec->e->st.msgs += ec->type == VSOCK_TYPE_SEQPACKET;
		}
		vsock_consumed(ec->vc, len);
	}
	if (ec->draining)
		br_echo_close(ec);
}

static void
br_echo_queue(struct br_echo_conn *ec, struct rte_mbuf *m, uint32_t flags)
{
	/* A stream piece may join the one before it: bytes keep their order. */
	if (ec->type == VSOCK_TYPE_STREAM && ec->q_tail != NULL &&
			br_chain_append(ec->q_tail, m) == 0)
		return;
	br_link(m)->next = NULL;
	br_link(m)->flags = flags;
	if (ec->q_tail != NULL)
		br_link(ec->q_tail)->next = m;
	else
		ec->q_head = m;
	ec->q_tail = m;
}

static void
br_echo_on_data(struct vsock_conn *vc, struct rte_mbuf *m, void *ctx)
{
	struct br_echo_conn *ec = ctx;
	uint32_t flags = vsock_mbuf_msg_flags(m);

	if (ec->type == VSOCK_TYPE_STREAM) {
		br_echo_queue(ec, m, 0);
		br_echo_flush(ec);
		return;
	}
	/* SEQPACKET: gather the pieces, send the message as one. */
	if (ec->msg == NULL) {
		ec->msg = m;
	} else if (br_chain_append(ec->msg, m) != 0) {
		/* Too long to send back whole: give up on the connection. */
		ec->e->st.errors++;
		rte_pktmbuf_free(m);
		br_echo_close(ec);
		return;
	}
	if (flags & VSOCK_SEQ_EOM) {
		m = ec->msg;
		ec->msg = NULL;
		br_echo_queue(ec, m, flags & VSOCK_SEQ_EOR);
		br_echo_flush(ec);
	}
	RTE_SET_USED(vc);
}

static void
br_echo_on_writable(struct vsock_conn *vc, void *ctx)
{
	RTE_SET_USED(vc);
	br_echo_flush(ctx);
}

static void
br_echo_on_shutdown(struct vsock_conn *vc, unsigned int how, void *ctx)
{
	struct br_echo_conn *ec = ctx;

	RTE_SET_USED(vc);
	if (how & VSOCK_SHUTDOWN_RCV) {
		/* It will not read the echo: nothing left to do. */
		br_echo_close(ec);
		return;
	}
	if (how & VSOCK_SHUTDOWN_SEND) {
		/* A message cut short by the shutdown is not echoed. */
		rte_pktmbuf_free(ec->msg);
		ec->msg = NULL;
		ec->draining = true;
		br_echo_flush(ec);
	}
}

static void
br_echo_on_reset(struct vsock_conn *vc, enum vsock_reset_reason why,
		void *ctx)
{
	RTE_SET_USED(vc);
	RTE_SET_USED(why);
	br_echo_free(ctx);
}

static const struct vsock_ops br_echo_ops;

static void
br_echo_on_accept(struct vsock_conn *vc, void *ctx)
{
	struct br_echo *e = ctx;
	struct vsock_conn_info info;
	struct br_echo_conn *ec = calloc(1, sizeof(*ec));

	if (ec == NULL) {
		e->st.errors++;
		vsock_close(vc);
		return;
	}
	vsock_conn_info(vc, &info);
	ec->e = e;
	ec->vc = vc;
	ec->type = info.type;
	TAILQ_INSERT_TAIL(&e->conns, ec, link);
	vsock_conn_set_ctx(vc, ec);
	e->st.conns++;
}

static const struct vsock_ops br_echo_ops = {
	.on_accept = br_echo_on_accept,
	.on_data = br_echo_on_data,
	.on_writable = br_echo_on_writable,
	.on_shutdown = br_echo_on_shutdown,
	.on_reset = br_echo_on_reset,
};

int
br_echo_start(struct br_guest *g, uint32_t port)
{
	static const struct rte_mbuf_dynfield link_desc = {
		.name = "vsock_bridge_echo_link",
		.size = sizeof(struct br_echo_link),
		.align = __alignof__(struct br_echo_link),
	};
	struct br_echo *e;
	int r;

	if (br_echo_link_off < 0) {
		br_echo_link_off = rte_mbuf_dynfield_register(&link_desc);
		if (br_echo_link_off < 0)
			return -rte_errno;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->g = g;
	TAILQ_INIT(&e->conns);
	g->echo = e;
	r = vsock_listen(g->stack, port, VSOCK_TYPE_STREAM, &br_echo_ops, e);
	if (r == 0)
		r = vsock_listen(g->stack, port + 1, VSOCK_TYPE_SEQPACKET,
				&br_echo_ops, e);
	return r;
}

const struct br_echo_stats *
br_echo_stats(const struct br_guest *g)
{
	return g->echo != NULL ? &g->echo->st : NULL;
}

void
br_echo_stop(struct br_guest *g)
{
	struct br_echo *e = g->echo;
	struct br_echo_conn *ec;

	if (e == NULL)
		return;
	while ((ec = TAILQ_FIRST(&e->conns)) != NULL)
		br_echo_close(ec);
	free(e);
	g->echo = NULL;
}
