/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-perf's client side: -P streams, each one test connection of the
 * chosen kind, plus the --idle connections. Everything runs from the
 * stack's callbacks on one lcore; sends are zero copy (perf_proto.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>

#include "perf.h"
#include "perf_proto.h"

/* Messages allocated at once for a sending stream. */
#define VPERF_BURST 32
/* --idle connections waiting for their answer at once. */
#define VPERF_IDLE_INFLIGHT 256u

enum vperf_state {
	VPERF_ST_IDLE,
	VPERF_ST_CONNECTING,
	VPERF_ST_RUN,
	VPERF_ST_TRAILER,
	VPERF_ST_DONE,
};

struct vperf_stream {
	struct vperf_ctx *t;
	struct vsock_conn *vc;
	enum vperf_state state;
	bool starved;		/* the pool ran dry: pump on the next poll */
	uint16_t nc;		/* messages in cache[] ... */
	uint16_t ic;		/* ... of which sent */
	uint32_t echo_got;	/* latency: bytes of the echo so far */
	uint64_t t_sent;	/* latency: tsc of the last send */
	uint32_t trailer_got;
	uint8_t trailer[VPERF_TRAILER_LEN];
	struct rte_mbuf *cache[VPERF_BURST];
};

static const uint8_t vperf_mode_of[] = {
	[VPERF_SEND] = VPERF_SINK,
	[VPERF_RECV] = VPERF_SOURCE,
	[VPERF_LATENCY] = VPERF_ECHO,
};

static void
vperf_stream_done(struct vperf_stream *st)
{
	struct vperf_ctx *t = st->t;

	while (st->ic < st->nc)
		rte_pktmbuf_free(st->cache[st->ic++]);
	st->nc = st->ic = 0;
	if (st->state != VPERF_ST_DONE && st->state != VPERF_ST_IDLE)
		t->live--;
	st->state = t->o.test == VPERF_CONN_RATE ? VPERF_ST_IDLE :
		VPERF_ST_DONE;
	st->vc = NULL;
}

static void
vperf_error(struct vperf_stream *st)
{
	st->t->errors++;
	vsock_abort(st->vc);
	vperf_stream_done(st);
}

/* The hello: its own message on SEQPACKET, the first bytes on STREAM. */
static int
vperf_send_hello(struct vperf_ctx *t, struct vsock_conn *vc, uint8_t mode)
{
	struct vperf_hello h = { .mode = mode, .msg_size = t->o.size,
		.flags = t->o.cold && mode != VPERF_IDLE ? VPERF_F_COLD : 0 };
	uint8_t b[VPERF_HELLO_LEN];

	vperf_hello_encode(b, &h);
	return vsock_send_buf(vc, b, sizeof(b));
}

static void
vperf_pump(struct vperf_stream *st)
{
	struct vperf_ctx *t = st->t;

	st->starved = false;
	while (!t->stopping) {
		int r;

		if (st->ic == st->nc) {
			st->ic = 0;
			st->nc = (uint16_t)vperf_payload_msgs(t->pay, t->pool,
					t->o.size, st->cache, VPERF_BURST);
			if (st->nc == 0) {
				st->starved = true;
				return;
			}
		}
		r = vsock_send(st->vc, st->cache[st->ic], 0);
		if (r == -ENOBUFS)
			return;		/* on_writable resumes */
		if (r != 0) {
			vperf_error(st);
			return;
		}
		st->ic++;
		t->sent.bytes += t->o.size;
		t->sent.msgs++;
	}
}

/* Latency: one message out; its echo comes back through on_data. */
static void
vperf_ping(struct vperf_stream *st)
{
	struct vperf_ctx *t = st->t;
	struct rte_mbuf *m;

	if (vperf_payload_msgs(t->pay, t->pool, t->o.size, &m, 1) == 0) {
		st->starved = true;
		return;
	}
	st->starved = false;
	st->t_sent = rte_rdtsc();
	if (vsock_send(st->vc, m, 0) != 0) {
		rte_pktmbuf_free(m);
		vperf_error(st);
		return;
	}
	t->sent.bytes += t->o.size;
	t->sent.msgs++;
}

static void
vperf_stream_on_connect(struct vsock_conn *vc, int err, void *ctx)
{
	struct vperf_stream *st = ctx;
	struct vperf_ctx *t = st->t;

	if (err != 0) {
		t->connect_fail++;
		t->errors++;
		vperf_stream_done(st);
		return;
	}
	if (t->o.test == VPERF_CONN_RATE) {
		/* Set up and torn down: the slot connects again next poll. */
		t->conns_done++;
		vsock_close(vc);
		vperf_stream_done(st);
		return;
	}
	st->state = VPERF_ST_RUN;
	if (vperf_send_hello(t, vc, vperf_mode_of[t->o.test]) != 0) {
		vperf_error(st);
		return;
	}
	if (t->o.test == VPERF_SEND)
		vperf_pump(st);
	else if (t->o.test == VPERF_LATENCY)
		vperf_ping(st);
}

static void
vperf_trailer_in(struct vperf_stream *st, struct rte_mbuf *m)
{
	struct vperf_ctx *t = st->t;
	uint32_t take = RTE_MIN(m->pkt_len, VPERF_TRAILER_LEN -
			st->trailer_got);
	const void *p = rte_pktmbuf_read(m, 0, take,
			st->trailer + st->trailer_got);
	rte_le64_t v;

	if (p != st->trailer + st->trailer_got)
		memcpy(st->trailer + st->trailer_got, p, take);
	st->trailer_got += take;
	if (take < m->pkt_len || st->state != VPERF_ST_TRAILER) {
		t->errors++;	/* the sink only ever sends its count */
		return;
	}
	if (st->trailer_got == VPERF_TRAILER_LEN) {
		memcpy(&v, st->trailer, sizeof(v));
		t->sink_rcvd += rte_le_to_cpu_64(v);
		t->trailers++;
	}
}

static void
vperf_stream_on_data(struct vsock_conn *vc, struct rte_mbuf *m, void *ctx)
{
	struct vperf_stream *st = ctx;
	struct vperf_ctx *t = st->t;
	uint32_t len = m->pkt_len;
	uint64_t now;

	switch (t->o.test) {
	case VPERF_SEND:
		vperf_trailer_in(st, m);
		break;
	case VPERF_RECV:
		if (t->o.cold)
			t->sum += vperf_payload_sum(m);
		if (!t->stopping) {
			t->rcvd.bytes += len;
			t->rcvd.msgs = t->rcvd.bytes / t->o.size;
		}
		break;
	case VPERF_LATENCY:
		st->echo_got += len;
		t->rcvd.bytes += len;
		if (st->echo_got < t->o.size)
			break;
		now = rte_rdtsc();
		st->echo_got -= t->o.size;
		t->rcvd.msgs++;
		vperf_hist_add(t->hist, (now - st->t_sent) * 1000000000ull /
				t->tsc_hz);
		if (!t->stopping)
			vperf_ping(st);
		break;
	default:
		t->errors++;
	}
	rte_pktmbuf_free(m);
	if (st->vc != NULL)
		vsock_consumed(vc, len);
}

static void
vperf_stream_on_writable(struct vsock_conn *vc, void *ctx)
{
	struct vperf_stream *st = ctx;

	RTE_SET_USED(vc);
	if (st->t->o.test == VPERF_SEND && st->state == VPERF_ST_RUN)
		vperf_pump(st);
}

static void
vperf_stream_on_shutdown(struct vsock_conn *vc, unsigned int how, void *ctx)
{
	struct vperf_stream *st = ctx;

	RTE_SET_USED(how);
	/* Only a sink that sent its count may end the test. */
	if (st->state != VPERF_ST_TRAILER ||
			st->trailer_got != VPERF_TRAILER_LEN)
		st->t->errors++;
	vsock_close(vc);
	vperf_stream_done(st);
}

static void
vperf_stream_on_reset(struct vsock_conn *vc, enum vsock_reset_reason why,
		void *ctx)
{
	struct vperf_stream *st = ctx;

	RTE_SET_USED(vc);
	RTE_SET_USED(why);
	st->t->resets++;
	st->t->errors++;
	vperf_stream_done(st);
}

static const struct vsock_ops vperf_stream_ops = {
	.on_connect = vperf_stream_on_connect,
	.on_data = vperf_stream_on_data,
	.on_writable = vperf_stream_on_writable,
	.on_shutdown = vperf_stream_on_shutdown,
	.on_reset = vperf_stream_on_reset,
};

static int
vperf_stream_connect(struct vperf_stream *st)
{
	struct vperf_ctx *t = st->t;
	int r = vsock_connect(t->stack, t->peer_cid, t->o.port +
			(t->o.type == VSOCK_TYPE_SEQPACKET), t->o.type,
			&vperf_stream_ops, st, &st->vc);

	if (r != 0)
		return r;
	st->state = VPERF_ST_CONNECTING;
	st->echo_got = 0;
	st->trailer_got = 0;
	t->live++;
	return 0;
}

int
vperf_client_start(struct vperf_ctx *t)
{
	uint32_t i;

	if (t->o.test == VPERF_VERIFY)
		return vperf_verify_start(t);
	t->streams = calloc(t->o.streams, sizeof(*t->streams));
	if (t->streams == NULL)
		return -ENOMEM;
	for (i = 0; i < t->o.streams; i++) {
		struct vperf_stream *st = &t->streams[i];
		int r;

		st->t = t;
		r = vperf_stream_connect(st);
		if (r != 0 && r != -ENOBUFS)
			return r;	/* -ENOBUFS: retried by the poll */
	}
	return 0;
}

/* --idle: each connection says hello, then nothing. */
static void
vperf_idle_gone(struct vperf_idle *id, bool counted)
{
	struct vperf_ctx *t = id->t;

	if (!t->stopping) {
		t->errors++;
		t->resets += counted;
	}
	if (id->up)
		t->idle_up--;
	id->vc = NULL;
	id->up = false;
}

static void
vperf_idle_on_connect(struct vsock_conn *vc, int err, void *ctx)
{
	struct vperf_idle *id = ctx;
	struct vperf_ctx *t = id->t;

	t->idle_pending--;
	if (err != 0) {
		t->connect_fail++;
		vperf_idle_gone(id, false);
		return;
	}
	if (vperf_send_hello(t, vc, VPERF_IDLE) != 0) {
		vsock_abort(vc);
		vperf_idle_gone(id, false);
		return;
	}
	id->up = true;
	t->idle_up++;
}

static void
vperf_idle_on_data(struct vsock_conn *vc, struct rte_mbuf *m, void *ctx)
{
	struct vperf_idle *id = ctx;

	/* An idle server says nothing. */
	id->t->errors++;
	vsock_consumed(vc, m->pkt_len);
	rte_pktmbuf_free(m);
}

static void
vperf_idle_on_shutdown(struct vsock_conn *vc, unsigned int how, void *ctx)
{
	RTE_SET_USED(how);
	vsock_close(vc);
	vperf_idle_gone(ctx, false);
}

static void
vperf_idle_on_reset(struct vsock_conn *vc, enum vsock_reset_reason why,
		void *ctx)
{
	RTE_SET_USED(vc);
	RTE_SET_USED(why);
	vperf_idle_gone(ctx, true);
}

static const struct vsock_ops vperf_idle_ops = {
	.on_connect = vperf_idle_on_connect,
	.on_data = vperf_idle_on_data,
	.on_shutdown = vperf_idle_on_shutdown,
	.on_reset = vperf_idle_on_reset,
};

/* Start idle connections, a bounded number answering at once. */
static void
vperf_idle_open(struct vperf_ctx *t)
{
	while (t->idle_next < t->o.idle &&
			t->idle_pending < VPERF_IDLE_INFLIGHT) {
		struct vperf_idle *id = &t->idle[t->idle_next];
		int r = vsock_connect(t->stack, t->peer_cid, t->o.port +
				(t->o.type == VSOCK_TYPE_SEQPACKET),
				t->o.type, &vperf_idle_ops, id, &id->vc);

		if (r == -ENOBUFS)
			return;		/* control queue full: next poll */
		if (r != 0) {
			t->errors++;
			t->connect_fail += t->o.idle - t->idle_next;
			t->o.idle = t->idle_next;	/* give up on the rest */
			return;
		}
		id->t = t;
		t->idle_next++;
		t->idle_pending++;
	}
}

int
vperf_idle_start(struct vperf_ctx *t)
{
	t->idle = calloc(t->o.idle, sizeof(*t->idle));
	if (t->idle == NULL)
		return -ENOMEM;
	vperf_idle_open(t);
	return 0;
}

bool
vperf_idle_ready(const struct vperf_ctx *t)
{
	return t->idle_next == t->o.idle && t->idle_pending == 0;
}

void
vperf_client_poll(struct vperf_ctx *t)
{
	uint32_t i;

	if (t->o.test == VPERF_VERIFY) {
		vperf_verify_poll(t);
		return;
	}
	if (t->idle_next < t->o.idle)
		vperf_idle_open(t);
	if (t->streams == NULL)
		return;
	for (i = 0; i < t->o.streams; i++) {
		struct vperf_stream *st = &t->streams[i];

		if (st->state == VPERF_ST_IDLE && !t->stopping &&
				vperf_stream_connect(st) == -ENOBUFS)
			break;	/* control queue full: next poll */
		if (st->starved && st->state == VPERF_ST_RUN)
			t->o.test == VPERF_LATENCY ? vperf_ping(st) :
				vperf_pump(st);
	}
}

void
vperf_client_stop(struct vperf_ctx *t)
{
	uint32_t i;

	if (t->o.test == VPERF_VERIFY) {
		vperf_verify_stop(t);
		return;
	}
	t->stopping = true;
	for (i = 0; t->streams != NULL && i < t->o.streams; i++) {
		struct vperf_stream *st = &t->streams[i];

		if (st->state != VPERF_ST_RUN)
			continue;
		if (t->o.test == VPERF_SEND) {
			/* The sink answers the shutdown with its count. */
			while (st->ic < st->nc)
				rte_pktmbuf_free(st->cache[st->ic++]);
			st->state = VPERF_ST_TRAILER;
			if (vsock_shutdown(st->vc, VSOCK_SHUTDOWN_SEND) != 0)
				vperf_error(st);
		} else {
			vsock_close(st->vc);
			vperf_stream_done(st);
		}
	}
}

bool
vperf_client_done(const struct vperf_ctx *t)
{
	return t->live == 0;
}

void
vperf_client_free(struct vperf_ctx *t)
{
	uint32_t i;

	vperf_verify_free(t);
	for (i = 0; t->idle != NULL && i < t->idle_next; i++)
		if (t->idle[i].vc != NULL)
			vsock_close(t->idle[i].vc);
	for (i = 0; t->streams != NULL && i < t->o.streams; i++)
		if (t->streams[i].vc != NULL) {
			vsock_abort(t->streams[i].vc);
			vperf_stream_done(&t->streams[i]);
		}
	free(t->idle);
	free(t->streams);
	t->idle = NULL;
	t->streams = NULL;
}
