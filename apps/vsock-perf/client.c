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
#define VP_BURST 32
/* --idle connections waiting for their answer at once. */
#define VP_IDLE_INFLIGHT 256u

enum vp_state { VS_IDLE, VS_CONNECTING, VS_RUN, VS_TRAILER, VS_DONE };

struct vp_stream {
	struct vp_ctx *t;
	struct vsock_conn *vc;
	enum vp_state state;
	bool starved;		/* the pool ran dry: pump on the next poll */
	uint16_t nc;		/* messages in cache[] ... */
	uint16_t ic;		/* ... of which sent */
	uint32_t echo_got;	/* latency: bytes of the echo so far */
	uint64_t t_sent;	/* latency: tsc of the last send */
	uint32_t trailer_got;
	uint8_t trailer[VPERF_TRAILER_LEN];
	struct rte_mbuf *cache[VP_BURST];
};

static const uint8_t vp_mode_of[] = {
	[VP_SEND] = VPERF_SINK,
	[VP_RECV] = VPERF_SOURCE,
	[VP_LATENCY] = VPERF_ECHO,
};

static void
vp_stream_done(struct vp_stream *st)
{
	struct vp_ctx *t = st->t;

	while (st->ic < st->nc)
		rte_pktmbuf_free(st->cache[st->ic++]);
	st->nc = st->ic = 0;
	if (st->state != VS_DONE && st->state != VS_IDLE)
		t->live--;
	st->state = t->o.test == VP_CONN_RATE ? VS_IDLE : VS_DONE;
	st->vc = NULL;
}

static void
vp_error(struct vp_stream *st)
{
	st->t->errors++;
	vsock_abort(st->vc);
	vp_stream_done(st);
}

/* The hello: its own message on SEQPACKET, the first bytes on STREAM. */
static int
vp_send_hello(struct vp_ctx *t, struct vsock_conn *vc, uint8_t mode)
{
	struct vperf_hello h = { .mode = mode, .msg_size = t->o.size,
		.flags = t->o.cold && mode != VPERF_IDLE ? VPERF_F_COLD : 0 };
	uint8_t b[VPERF_HELLO_LEN];

	vperf_hello_encode(b, &h);
	return vsock_send_buf(vc, b, sizeof(b));
}

static void
vp_pump(struct vp_stream *st)
{
	struct vp_ctx *t = st->t;

	st->starved = false;
	while (!t->stopping) {
		int r;

		if (st->ic == st->nc) {
			st->ic = 0;
			st->nc = (uint16_t)vperf_payload_msgs(t->pay, t->pool,
					t->o.size, st->cache, VP_BURST);
			if (st->nc == 0) {
				st->starved = true;
				return;
			}
		}
		r = vsock_send(st->vc, st->cache[st->ic], 0);
		if (r == -ENOBUFS)
			return;		/* on_writable resumes */
		if (r != 0) {
			vp_error(st);
			return;
		}
		st->ic++;
		t->sent.bytes += t->o.size;
		t->sent.msgs++;
	}
}

/* Latency: one message out; its echo comes back through on_data. */
static void
vp_ping(struct vp_stream *st)
{
	struct vp_ctx *t = st->t;
	struct rte_mbuf *m;

	if (vperf_payload_msgs(t->pay, t->pool, t->o.size, &m, 1) == 0) {
		st->starved = true;
		return;
	}
	st->starved = false;
	st->t_sent = rte_rdtsc();
	if (vsock_send(st->vc, m, 0) != 0) {
		rte_pktmbuf_free(m);
		vp_error(st);
		return;
	}
	t->sent.bytes += t->o.size;
	t->sent.msgs++;
}

static void
vp_on_connect(struct vsock_conn *vc, int err, void *ctx)
{
	struct vp_stream *st = ctx;
	struct vp_ctx *t = st->t;

	if (err != 0) {
		t->connect_fail++;
		t->errors++;
		vp_stream_done(st);
		return;
	}
	if (t->o.test == VP_CONN_RATE) {
		/* Set up and torn down: the slot connects again next poll. */
		t->conns_done++;
		vsock_close(vc);
		vp_stream_done(st);
		return;
	}
	st->state = VS_RUN;
	if (vp_send_hello(t, vc, vp_mode_of[t->o.test]) != 0) {
		vp_error(st);
		return;
	}
	if (t->o.test == VP_SEND)
		vp_pump(st);
	else if (t->o.test == VP_LATENCY)
		vp_ping(st);
}

static void
vp_trailer_in(struct vp_stream *st, struct rte_mbuf *m)
{
	struct vp_ctx *t = st->t;
	uint32_t take = RTE_MIN(m->pkt_len, VPERF_TRAILER_LEN -
			st->trailer_got);
	const void *p = rte_pktmbuf_read(m, 0, take,
			st->trailer + st->trailer_got);
	rte_le64_t v;

	if (p != st->trailer + st->trailer_got)
		memcpy(st->trailer + st->trailer_got, p, take);
	st->trailer_got += take;
	if (take < m->pkt_len || st->state != VS_TRAILER) {
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
vp_on_data(struct vsock_conn *vc, struct rte_mbuf *m, void *ctx)
{
	struct vp_stream *st = ctx;
	struct vp_ctx *t = st->t;
	uint32_t len = m->pkt_len;
	uint64_t now;

	switch (t->o.test) {
	case VP_SEND:
		vp_trailer_in(st, m);
		break;
	case VP_RECV:
		if (t->o.cold)
			t->sum += vperf_payload_sum(m);
		if (!t->stopping) {
			t->rcvd.bytes += len;
			t->rcvd.msgs = t->rcvd.bytes / t->o.size;
		}
		break;
	case VP_LATENCY:
		st->echo_got += len;
		t->rcvd.bytes += len;
		if (st->echo_got < t->o.size)
			break;
		now = rte_rdtsc();
		st->echo_got -= t->o.size;
		t->rcvd.msgs++;
		vp_hist_add(t->hist, (now - st->t_sent) * 1000000000ull /
				t->tsc_hz);
		if (!t->stopping)
			vp_ping(st);
		break;
	default:
		t->errors++;
	}
	rte_pktmbuf_free(m);
	if (st->vc != NULL)
		vsock_consumed(vc, len);
}

static void
vp_on_writable(struct vsock_conn *vc, void *ctx)
{
	struct vp_stream *st = ctx;

	RTE_SET_USED(vc);
	if (st->t->o.test == VP_SEND && st->state == VS_RUN)
		vp_pump(st);
}

static void
vp_on_shutdown(struct vsock_conn *vc, unsigned int how, void *ctx)
{
	struct vp_stream *st = ctx;

	RTE_SET_USED(how);
	/* Only a sink that sent its count may end the test. */
	if (st->state != VS_TRAILER || st->trailer_got != VPERF_TRAILER_LEN)
		st->t->errors++;
	vsock_close(vc);
	vp_stream_done(st);
}

static void
vp_on_reset(struct vsock_conn *vc, enum vsock_reset_reason why, void *ctx)
{
	struct vp_stream *st = ctx;

	RTE_SET_USED(vc);
	RTE_SET_USED(why);
	st->t->resets++;
	st->t->errors++;
	vp_stream_done(st);
}

static const struct vsock_ops vp_stream_ops = {
	.on_connect = vp_on_connect,
	.on_data = vp_on_data,
	.on_writable = vp_on_writable,
	.on_shutdown = vp_on_shutdown,
	.on_reset = vp_on_reset,
};

static int
vp_stream_connect(struct vp_stream *st)
{
	struct vp_ctx *t = st->t;
	int r = vsock_connect(t->stack, t->peer_cid, t->o.port +
			(t->o.type == VSOCK_TYPE_SEQPACKET), t->o.type,
			&vp_stream_ops, st, &st->vc);

	if (r != 0)
		return r;
	st->state = VS_CONNECTING;
	st->echo_got = 0;
	st->trailer_got = 0;
	t->live++;
	return 0;
}

int
vp_client_start(struct vp_ctx *t)
{
	uint32_t i;

	if (t->o.test == VP_VERIFY)
		return vp_verify_start(t);
	t->streams = calloc(t->o.streams, sizeof(*t->streams));
	if (t->streams == NULL)
		return -ENOMEM;
	for (i = 0; i < t->o.streams; i++) {
		struct vp_stream *st = &t->streams[i];
		int r;

		st->t = t;
		r = vp_stream_connect(st);
		if (r != 0 && r != -ENOBUFS)
			return r;	/* -ENOBUFS: vp_client_poll retries */
	}
	return 0;
}

/* --idle: each connection says hello, then nothing. */
static void
vp_idle_gone(struct vp_idle *id, bool counted)
{
	struct vp_ctx *t = id->t;

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
vp_idle_on_connect(struct vsock_conn *vc, int err, void *ctx)
{
	struct vp_idle *id = ctx;
	struct vp_ctx *t = id->t;

	t->idle_pending--;
	if (err != 0) {
		t->connect_fail++;
		vp_idle_gone(id, false);
		return;
	}
	if (vp_send_hello(t, vc, VPERF_IDLE) != 0) {
		vsock_abort(vc);
		vp_idle_gone(id, false);
		return;
	}
	id->up = true;
	t->idle_up++;
}

static void
vp_idle_on_data(struct vsock_conn *vc, struct rte_mbuf *m, void *ctx)
{
	struct vp_idle *id = ctx;

	/* An idle server says nothing. */
	id->t->errors++;
	vsock_consumed(vc, m->pkt_len);
	rte_pktmbuf_free(m);
}

static void
vp_idle_on_shutdown(struct vsock_conn *vc, unsigned int how, void *ctx)
{
	RTE_SET_USED(how);
	vsock_close(vc);
	vp_idle_gone(ctx, false);
}

static void
vp_idle_on_reset(struct vsock_conn *vc, enum vsock_reset_reason why,
		void *ctx)
{
	RTE_SET_USED(vc);
	RTE_SET_USED(why);
	vp_idle_gone(ctx, true);
}

static const struct vsock_ops vp_idle_ops = {
	.on_connect = vp_idle_on_connect,
	.on_data = vp_idle_on_data,
	.on_shutdown = vp_idle_on_shutdown,
	.on_reset = vp_idle_on_reset,
};

/* Start idle connections, a bounded number answering at once. */
static void
vp_idle_open(struct vp_ctx *t)
{
	while (t->idle_next < t->o.idle &&
			t->idle_pending < VP_IDLE_INFLIGHT) {
		struct vp_idle *id = &t->idle[t->idle_next];
		int r = vsock_connect(t->stack, t->peer_cid, t->o.port +
				(t->o.type == VSOCK_TYPE_SEQPACKET),
				t->o.type, &vp_idle_ops, id, &id->vc);

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
vp_idle_start(struct vp_ctx *t)
{
	t->idle = calloc(t->o.idle, sizeof(*t->idle));
	if (t->idle == NULL)
		return -ENOMEM;
	vp_idle_open(t);
	return 0;
}

bool
vp_idle_ready(const struct vp_ctx *t)
{
	return t->idle_next == t->o.idle && t->idle_pending == 0;
}

void
vp_client_poll(struct vp_ctx *t)
{
	uint32_t i;

	if (t->o.test == VP_VERIFY) {
		vp_verify_poll(t);
		return;
	}
	if (t->idle_next < t->o.idle)
		vp_idle_open(t);
	if (t->streams == NULL)
		return;
	for (i = 0; i < t->o.streams; i++) {
		struct vp_stream *st = &t->streams[i];

		if (st->state == VS_IDLE && !t->stopping &&
				vp_stream_connect(st) == -ENOBUFS)
			break;	/* control queue full: next poll */
		if (st->starved && st->state == VS_RUN)
			t->o.test == VP_LATENCY ? vp_ping(st) : vp_pump(st);
	}
}

void
vp_client_stop(struct vp_ctx *t)
{
	uint32_t i;

	if (t->o.test == VP_VERIFY) {
		vp_verify_stop(t);
		return;
	}
	t->stopping = true;
	for (i = 0; t->streams != NULL && i < t->o.streams; i++) {
		struct vp_stream *st = &t->streams[i];

		if (st->state != VS_RUN)
			continue;
		if (t->o.test == VP_SEND) {
			/* The sink answers the shutdown with its count. */
			while (st->ic < st->nc)
				rte_pktmbuf_free(st->cache[st->ic++]);
			st->state = VS_TRAILER;
			if (vsock_shutdown(st->vc, VSOCK_SHUTDOWN_SEND) != 0)
				vp_error(st);
		} else {
			vsock_close(st->vc);
			vp_stream_done(st);
		}
	}
}

bool
vp_client_done(const struct vp_ctx *t)
{
	return t->live == 0;
}

void
vp_client_free(struct vp_ctx *t)
{
	uint32_t i;

	vp_verify_free(t);
	for (i = 0; t->idle != NULL && i < t->idle_next; i++)
		if (t->idle[i].vc != NULL)
			vsock_close(t->idle[i].vc);
	for (i = 0; t->streams != NULL && i < t->o.streams; i++)
		if (t->streams[i].vc != NULL) {
			vsock_abort(t->streams[i].vc);
			vp_stream_done(&t->streams[i]);
		}
	free(t->idle);
	free(t->streams);
	t->idle = NULL;
	t->streams = NULL;
}
