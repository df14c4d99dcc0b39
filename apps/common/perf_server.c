/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vsock-perf server: one small state machine per connection, driven
 * by the stack's callbacks. Zero copy both ways: a sink drops the mbufs
 * it is handed, a source sends the shared pattern (perf_proto.h), an echo
 * sends back the very mbufs it received. With COLD a sink reads every
 * byte first and a source walks a pattern larger than the last-level
 * cache, made on the first such hello (a pause of a fraction of a
 * second on this lcore) and kept.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <vsock_stack.h>

#include "app_echo.h"
#include "perf_proto.h"
#include "perf_server.h"

struct vperf_sconn {
	TAILQ_ENTRY(vperf_sconn) link;	/* sv->conns */
	TAILQ_ENTRY(vperf_sconn) starved_link;
	struct vperf_server *sv;
	struct vsock_conn *vc;
	struct app_echo echo;	/* also the connection's type */
	int mode;		/* enum vperf_mode; -1 until the hello */
	uint8_t flags;		/* the hello's VPERF_F_* */
	uint32_t hello_got;
	uint32_t msg_size;
	bool starved;
	uint64_t bytes_rx;
	struct rte_mbuf *pend;	/* source: refused, to resend */
	uint8_t hello[VPERF_HELLO_LEN];
};

struct vperf_server {
	struct vsock_stack *s;
	struct rte_mempool *pool;
	struct vperf_payload *pay;
	struct vperf_payload *cold;	/* COLD sources: NULL until one */
	uint64_t sum;		/* COLD sinks: what reading every byte gave */
	uint32_t port;
	TAILQ_HEAD(, vperf_sconn) conns;
	TAILQ_HEAD(, vperf_sconn) starved;
	struct vperf_server_stats st;
};

static void
vperf_sconn_free(struct vperf_sconn *pc)
{
	struct vperf_server *sv = pc->sv;

	rte_pktmbuf_free(pc->pend);
	app_echo_release(&pc->echo);
	if (pc->starved)
		TAILQ_REMOVE(&sv->starved, pc, starved_link);
	TAILQ_REMOVE(&sv->conns, pc, link);
	sv->st.open--;
	free(pc);
}

static void
vperf_sconn_close(struct vperf_sconn *pc, bool abort)
{
	if (abort)
		vsock_abort(pc->vc);
	else
		vsock_close(pc->vc);
	vperf_sconn_free(pc);
}

/* Drop the first @n bytes of @m; returns what is left, or NULL. */
static struct rte_mbuf *
vperf_trim_front(struct rte_mbuf *m, uint32_t n)
{
	while (m != NULL && n >= m->data_len) {
		struct rte_mbuf *next = m->next;

		n -= m->data_len;
		if (next != NULL) {
			next->pkt_len = m->pkt_len - m->data_len;
			next->nb_segs = (uint16_t)(m->nb_segs - 1);
		}
		m->next = NULL;
		m->nb_segs = 1;
		rte_pktmbuf_free_seg(m);
		m = next;
	}
	if (m != NULL && n > 0)
		rte_pktmbuf_adj(m, (uint16_t)n);
	return m;
}

/* Source: send messages until the window, sndbuf or pool runs out. */
static void
vperf_source_pump(struct vperf_sconn *pc)
{
	struct vperf_server *sv = pc->sv;
	struct vperf_payload *pay = pc->flags & VPERF_F_COLD ? sv->cold :
		sv->pay;

	for (;;) {
		struct rte_mbuf *m = pc->pend;
		int r;

		if (m == NULL && vperf_payload_msgs(pay, sv->pool,
				pc->msg_size, &m, 1) == 0) {
			if (!pc->starved) {
				pc->starved = true;
				sv->st.nombuf++;
				TAILQ_INSERT_TAIL(&sv->starved, pc,
					starved_link);
			}
			return;
		}
		pc->pend = NULL;
		r = vsock_send(pc->vc, m, 0);
		if (r == -ENOBUFS) {
			pc->pend = m;
			return;		/* on_writable calls again */
		}
		if (r != 0) {
			rte_pktmbuf_free(m);
			sv->st.errors++;
			return;
		}
		sv->st.bytes_tx += pc->msg_size;
	}
}

/* Echo: the apps' echo service; its counts join the server's. */
static void
vperf_echo_data(struct vperf_sconn *pc, struct rte_mbuf *m)
{
	struct app_echo_stats est = { 0 };
	int r = app_echo_data(&pc->echo, m, &est);

	pc->sv->st.bytes_tx += est.bytes;
	pc->sv->st.errors += est.errors;
	if (r != 0)
		vperf_sconn_close(pc, true);
}

/* Payload after the hello, by mode. */
static void
vperf_payload_in(struct vperf_sconn *pc, struct rte_mbuf *m)
{
	uint32_t len = m->pkt_len;

	pc->bytes_rx += len;
	pc->sv->st.bytes_rx += len;
	if (pc->mode == VPERF_ECHO) {
		vperf_echo_data(pc, m);
		return;
	}
	if (pc->flags & VPERF_F_COLD)
		pc->sv->sum += vperf_payload_sum(m);
	/*
	 * Not vsock_data_release(): cutting the hello off the front may have
	 * freed the head on_data handed over, and credited the hello's bytes.
	 */
	rte_pktmbuf_free(m);
	vsock_consumed(pc->vc, len);
}

/*
 * Whether @h can be served: COLD is for sinks and sources only, and a
 * cold source needs the cold pattern (made now, once).
 */
static bool
vperf_cold_ready(struct vperf_server *sv, const struct vperf_hello *h)
{
	if (!(h->flags & VPERF_F_COLD))
		return true;
	if (h->mode != VPERF_SINK && h->mode != VPERF_SOURCE)
		return false;
	if (h->mode == VPERF_SOURCE && sv->cold == NULL) {
		sv->cold = vperf_payload_create_cold((int)rte_socket_id());
		if (sv->cold == NULL) {
			sv->st.errors++;
			return false;
		}
	}
	return true;
}

/* Gather the hello; true when @m (what is left of it) is payload. */
static bool
vperf_hello_in(struct vperf_sconn *pc, struct rte_mbuf **mp)
{
	struct vperf_server *sv = pc->sv;
	struct rte_mbuf *m = *mp;
	uint32_t take = RTE_MIN(VPERF_HELLO_LEN - pc->hello_got, m->pkt_len);
	struct vperf_hello h = { 0 };

	if (pc->echo.type == VSOCK_TYPE_SEQPACKET && (m->pkt_len !=
			VPERF_HELLO_LEN || !(vsock_mbuf_msg_flags(m) &
			VSOCK_SEQ_EOM)))
		take = 0;	/* a hello is one whole message */
	else if (rte_pktmbuf_read(m, 0, take, pc->hello + pc->hello_got) !=
			pc->hello + pc->hello_got)
		memcpy(pc->hello + pc->hello_got,
			rte_pktmbuf_mtod(m, void *), take);
	pc->hello_got += take;
	vsock_consumed(pc->vc, take);
	if (take == 0 || (pc->hello_got == VPERF_HELLO_LEN &&
			(vperf_hello_decode(pc->hello, &h) != 0 ||
			!vperf_cold_ready(sv, &h)))) {
		sv->st.bad_hello++;
		rte_pktmbuf_free(m);
		vperf_sconn_close(pc, true);
		return false;
	}
	*mp = vperf_trim_front(m, take);
	if (pc->hello_got < VPERF_HELLO_LEN)
		return false;
	pc->mode = h.mode;
	pc->flags = h.flags;
	pc->msg_size = h.msg_size;
	sv->st.tests[h.mode]++;
	if (h.mode == VPERF_SOURCE)
		vperf_source_pump(pc);
	return *mp != NULL;
}

static void
vperf_on_data(struct vsock_conn *vc, struct rte_mbuf *m, void *ctx)
{
	struct vperf_sconn *pc = ctx;

	RTE_SET_USED(vc);
	if (pc->mode < 0 && !vperf_hello_in(pc, &m))
		return;
	vperf_payload_in(pc, m);
}

static void
vperf_on_writable(struct vsock_conn *vc, void *ctx)
{
	struct vperf_sconn *pc = ctx;

	RTE_SET_USED(vc);
	/* An echo's sends wait in the stack (vsock_send_backlog()). */
	if (pc->mode == VPERF_SOURCE)
		vperf_source_pump(pc);
}

static void
vperf_on_shutdown(struct vsock_conn *vc, unsigned int how, void *ctx)
{
	struct vperf_sconn *pc = ctx;
	struct app_echo_stats est = { 0 };
	rte_le64_t total;

	RTE_SET_USED(vc);
	switch (pc->mode) {
	case VPERF_SINK:
		if (!(how & VSOCK_SHUTDOWN_SEND))
			return;
		/* What arrived, for the client's sum_received. */
		total = rte_cpu_to_le_64(pc->bytes_rx);
		if (vsock_send_buf(pc->vc, &total, sizeof(total)) != 0)
			pc->sv->st.errors++;
		vperf_sconn_close(pc, false);
		return;
	case VPERF_SOURCE:
		/* The client stopped reading: what is queued is of no use. */
		vperf_sconn_close(pc, true);
		return;
	case VPERF_ECHO:
		/* The close follows the echo the stack still holds. */
		app_echo_shutdown(&pc->echo, &est);
		pc->sv->st.errors += est.errors;
		vperf_sconn_close(pc, false);
		return;
	default:
		if (pc->mode < 0 && pc->hello_got == 0)
			pc->sv->st.probes++;
		vperf_sconn_close(pc, false);
	}
}

static void
vperf_on_reset(struct vsock_conn *vc, enum vsock_reset_reason why,
		void *ctx)
{
	RTE_SET_USED(vc);
	RTE_SET_USED(why);
	vperf_sconn_free(ctx);
}

static void
vperf_on_accept(struct vsock_conn *vc, void *ctx)
{
	struct vperf_server *sv = ctx;
	struct vperf_sconn *pc = calloc(1, sizeof(*pc));

	if (pc == NULL) {
		sv->st.errors++;
		vsock_abort(vc);
		return;
	}
	pc->sv = sv;
	pc->vc = vc;
	app_echo_init(&pc->echo, vc);
	pc->mode = -1;
	TAILQ_INSERT_TAIL(&sv->conns, pc, link);
	vsock_conn_set_ctx(vc, pc);
	sv->st.conns++;
	sv->st.open++;
}

static const struct vsock_ops vperf_server_ops = {
	.on_accept = vperf_on_accept,
	.on_data = vperf_on_data,
	.on_writable = vperf_on_writable,
	.on_shutdown = vperf_on_shutdown,
	.on_reset = vperf_on_reset,
};

struct vperf_server *
vperf_server_start(struct vsock_stack *s, struct rte_mempool *pool,
		uint32_t port)
{
	struct vperf_server *sv = calloc(1, sizeof(*sv));
	int r;

	if (sv == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	sv->s = s;
	sv->pool = pool;
	sv->port = port;
	TAILQ_INIT(&sv->conns);
	TAILQ_INIT(&sv->starved);
	sv->pay = vperf_payload_create((int)rte_socket_id());
	if (sv->pay == NULL) {
		free(sv);
		return NULL;
	}
	r = vsock_listen(s, port, VSOCK_TYPE_STREAM, &vperf_server_ops, sv);
	if (r == 0) {
		r = vsock_listen(s, port + 1, VSOCK_TYPE_SEQPACKET,
				&vperf_server_ops, sv);
		if (r != 0)
			vsock_unlisten(s, port);
	}
	if (r != 0) {
		vperf_payload_free(sv->pay);
		free(sv);
		rte_errno = -r;
		return NULL;
	}
	return sv;
}

void
vperf_server_poll(struct vperf_server *sv)
{
	struct vperf_sconn *pc;

	while ((pc = TAILQ_FIRST(&sv->starved)) != NULL) {
		TAILQ_REMOVE(&sv->starved, pc, starved_link);
		pc->starved = false;
		vperf_source_pump(pc);
		if (pc->starved)
			return;		/* still empty: try next poll */
	}
}

const struct vperf_server_stats *
vperf_server_stats(const struct vperf_server *sv)
{
	return &sv->st;
}

void
vperf_server_stop(struct vperf_server *sv)
{
	struct vperf_sconn *pc;

	if (sv == NULL)
		return;
	vsock_unlisten(sv->s, sv->port);
	vsock_unlisten(sv->s, sv->port + 1);
	while ((pc = TAILQ_FIRST(&sv->conns)) != NULL)
		vperf_sconn_close(pc, true);
}

void
vperf_server_free(struct vperf_server *sv)
{
	if (sv == NULL)
		return;
	vperf_payload_free(sv->pay);
	vperf_payload_free(sv->cold);
	free(sv);
}
