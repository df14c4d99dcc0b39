/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-testpmd's traffic modes, as stack callbacks: echo and sink servers;
 * source, pingpong and verify clients. Verify sends a pattern derived from
 * the client's port and offset, so both the server (client to server) and
 * the client (the echo, server to client) check every byte, and SEQPACKET
 * message sizes are replayed from the same seed to check every boundary.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "testpmd.h"

/* Messages a verify client keeps in flight per connection. */
#define TP_MAX_MSGS_OUT 8

static struct tp_ctx *g;

static void
tp_error(struct tp_conn *tc, uint64_t *counter, const char *what)
{
	(*counter)++;
	g->st.errors++;
	if (g->st.errors <= 10)
		fprintf(stderr, "vsock-testpmd: %s connection: %s\n",
			tc != NULL && tc->client ? "client" : "server", what);
}

/* ---- pattern and sizes ---- */

static inline uint64_t
tp_rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint32_t
tp_next_size(uint64_t *rng)
{
	uint32_t span = g->o.size_max - g->o.size_min + 1;

	if (span == 1)
		return g->o.size_min;
	return g->o.size_min + (uint32_t)(tp_rng_next(rng) % span);
}

/* Bytes @off.. of the stream of a connection with @seed. */
static void
tp_pat_fill(uint8_t *p, uint32_t len, uint64_t seed, uint64_t off)
{
	uint32_t i = 0;

	while (i < len) {
		uint64_t w = tp_mix64(seed ^ ((off + i) >> 3));
		unsigned int b;

		for (b = (off + i) & 7; b < 8 && i < len; b++, i++)
			p[i] = (uint8_t)(w >> (b * 8));
	}
}

/* Check @m against the pattern from @off; false on the first mismatch. */
static bool
tp_pat_check(const struct rte_mbuf *m, uint64_t seed, uint64_t off)
{
	uint8_t want[4096];

	for (; m != NULL; m = m->next) {
		const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
		uint32_t i, n;

		for (i = 0; i < m->data_len; i += n) {
			n = RTE_MIN((uint32_t)sizeof(want), m->data_len - i);
			tp_pat_fill(want, n, seed, off + i);
			if (memcmp(p + i, want, n) != 0)
				return false;
		}
		off += m->data_len;
	}
	return true;
}

static uint64_t
tp_seed_of(uint32_t client_port)
{
	return tp_mix64(g->o.seed ^ ((uint64_t)client_port << 20));
}

/* A message of @len bytes; the pattern from @off when @seed is set. */
static struct rte_mbuf *
tp_msg_build(uint32_t len, bool fill, uint64_t seed, uint64_t off)
{
	uint16_t room = rte_pktmbuf_data_room_size(g->pool) -
		RTE_PKTMBUF_HEADROOM;
	struct rte_mbuf *head = NULL;
	uint32_t done = 0;

	while (done < len) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(g->pool);
		uint16_t n = (uint16_t)RTE_MIN((uint32_t)room, len - done);
		uint8_t *p;

		if (m == NULL) {
			rte_pktmbuf_free(head);
			return NULL;
		}
		p = (uint8_t *)rte_pktmbuf_append(m, n);
		if (fill)
			tp_pat_fill(p, n, seed, off + done);
		if (head == NULL)
			head = m;
		else
			rte_pktmbuf_chain(head, m);
		done += n;
	}
	return head;
}

/* Size of the next message this connection expects to receive. */
static void
tp_rx_expect(struct tp_conn *tc)
{
	tc->cur_msg_len = 0;
	tc->cur_msg_want = tp_next_size(&tc->rng_rx);
}

/*
 * Account @len received bytes against the expected message sizes. For
 * SEQPACKET the end of a message must fall exactly on an expected
 * boundary. Returns messages completed, or -1 on a boundary error.
 */
static int
tp_rx_account(struct tp_conn *tc, uint32_t len, bool eom)
{
	int done = 0;

	tc->cur_msg_len += len;
	if (g->o.type == VSOCK_TYPE_SEQPACKET) {
		if (tc->cur_msg_len > tc->cur_msg_want ||
				eom != (tc->cur_msg_len == tc->cur_msg_want))
			return -1;
		if (eom) {
			tp_rx_expect(tc);
			done = 1;
		}
		return done;
	}
	while (tc->cur_msg_len >= tc->cur_msg_want) {
		uint32_t extra = tc->cur_msg_len - tc->cur_msg_want;

		tp_rx_expect(tc);
		tc->cur_msg_len = extra;
		done++;
	}
	return done;
}

/* ---- clients ---- */

static void tp_client_close(struct tp_conn *tc);

static void
tp_client_pump(struct tp_conn *tc)
{
	bool verify = g->o.mode == TP_VERIFY;

	while (!g->stopping && !tc->closed && tc->connected) {
		uint64_t rng = tc->rng;
		uint32_t len = tp_next_size(&rng);

		if (g->o.bytes != 0) {
			if (tc->tx_off >= g->o.bytes) {
				/* All sent: a source is done, others wait. */
				if (g->o.mode == TP_SOURCE)
					tp_client_close(tc);
				break;
			}
			len = (uint32_t)RTE_MIN((uint64_t)len,
					g->o.bytes - tc->tx_off);
		}
		struct rte_mbuf *m;
		int r;

		if (g->o.mode == TP_PINGPONG && tc->msgs_out > 0)
			break;
		if (verify && tc->msgs_out > 0 &&
				(tc->msgs_out >= TP_MAX_MSGS_OUT ||
				tc->tx_off - tc->rx_off + len > g->window))
			break;
		m = tp_msg_build(len, verify, tc->seed, tc->tx_off);
		if (m == NULL) {
			/* Pool empty: the poll loop pumps us again. */
			if (!tc->starved) {
				tc->starved = true;
				g->nb_starved++;
			}
			break;
		}
		if (g->o.mode == TP_PINGPONG)
			tc->t_sent = rte_rdtsc();
		r = vsock_send(tc->c, m, 0);
		if (r != 0) {
			rte_pktmbuf_free(m);
			if (r != -ENOBUFS)
				tp_error(tc, &g->st.send_fail, strerror(-r));
			break;
		}
		tc->rng = rng;
		tc->tx_off += len;
		tc->msgs_out++;
		g->st.client.msgs_tx++;
		g->st.client.bytes_tx += len;
	}
}

static void
tp_client_close(struct tp_conn *tc)
{
	if (tc->closed)
		return;
	vsock_close(tc->c);
	tc->closed = true;
	g->st.client.conns_done++;
	g->st.by_peer[tc->peer_idx].conns_done++;
	g->st.conns_open--;
}

static void
tp_client_data(struct tp_conn *tc, struct rte_mbuf *m)
{
	uint32_t len = m->pkt_len;
	bool eom = (vsock_mbuf_msg_flags(m) & VSOCK_SEQ_EOM) != 0;
	int done;

	g->st.client.bytes_rx += len;
	g->st.by_peer[tc->peer_idx].bytes_rx += len;
	if (g->o.mode == TP_VERIFY && !tp_pat_check(m, tc->seed, tc->rx_off))
		tp_error(tc, &g->st.verify_fail, "echoed bytes differ");
	tc->rx_off += len;
	done = tp_rx_account(tc, len, eom);
	vsock_consumed(tc->c, len);
	rte_pktmbuf_free(m);
	if (done < 0) {
		tp_error(tc, &g->st.verify_fail, "message boundary moved");
		return;
	}
	g->st.client.msgs_rx += done;
	tc->msgs_out -= RTE_MIN(tc->msgs_out, (uint64_t)done);
	if (g->o.mode == TP_PINGPONG && done > 0 &&
			g->st.rtt_n < g->st.rtt_cap)
		g->st.rtt_cycles[g->st.rtt_n++] = rte_rdtsc() - tc->t_sent;
	if ((g->stopping || (g->o.bytes != 0 && tc->tx_off >= g->o.bytes)) &&
			tc->rx_off == tc->tx_off)
		tp_client_close(tc);
	else
		tp_client_pump(tc);
}

/* ---- servers ---- */

static void tp_server_close(struct tp_conn *tc);

static void
tp_server_data(struct tp_conn *tc, struct rte_mbuf *m)
{
	uint32_t len = m->pkt_len;
	bool eom = (vsock_mbuf_msg_flags(m) & VSOCK_SEQ_EOM) != 0;
	struct app_echo_stats est = { 0 };
	int done = 1, r;

	g->st.server.bytes_rx += len;
	if (g->o.mode == TP_VERIFY) {
		if (!tp_pat_check(m, tc->seed, tc->rx_off))
			tp_error(tc, &g->st.verify_fail, "received bytes differ");
		done = tp_rx_account(tc, len, eom);
		if (done < 0)
			tp_error(tc, &g->st.verify_fail,
				"message boundary moved");
	} else if (g->o.type == VSOCK_TYPE_SEQPACKET) {
		done = eom;
	}
	tc->rx_off += len;
	g->st.server.msgs_rx += done > 0 ? done : 0;
	if (g->o.mode == TP_SINK || g->o.mode == TP_SOURCE) {
		vsock_data_release(tc->c, m);
		return;
	}
	r = app_echo_data(&tc->echo, m, &est);
	if (r != 0) {
		tp_error(tc, &g->st.send_fail, strerror(-r));
		tp_server_close(tc);
		return;
	}
	/* A whole message, or stream bytes, went back. */
	if (est.bytes != 0) {
		g->st.server.bytes_tx += est.bytes;
		g->st.server.msgs_tx++;
	}
}

static void
tp_server_close(struct tp_conn *tc)
{
	if (tc->closed)
		return;
	vsock_close(tc->c);
	tc->closed = true;
	g->st.server.conns_done++;
	g->st.conns_open--;
}

static void
tp_release(struct tp_conn *tc)
{
	if (!tc->client)
		app_echo_release(&tc->echo);
}

/*
 * A free server slot: a new one while there are, then (a long-running
 * server, or the prompt's runs one after another) one whose connection
 * is closed: the stack makes no callback after a close or a reset.
 */
static struct tp_conn *
tp_server_slot(struct tp_ctx *t)
{
	uint32_t i;

	if (t->next_server < t->nb_conns_max)
		return &t->conns[t->next_server++];
	for (i = t->client_slots; i < t->nb_conns_max; i++)
		if (t->conns[i].closed)
			return &t->conns[i];
	return NULL;
}

/* ---- callbacks ---- */

static void
cb_accept(struct vsock_conn *c, void *ctx)
{
	struct vsock_conn_info info;
	struct tp_conn *tc;

	RTE_SET_USED(ctx);
	tc = tp_server_slot(g);
	if (tc == NULL) {
		tp_error(NULL, &g->st.connect_fail, "too many connections");
		vsock_close(c);
		return;
	}
	tp_release(tc);
	memset(tc, 0, sizeof(*tc));
	tc->c = c;
	tc->connected = true;
	app_echo_init(&tc->echo, c);
	vsock_conn_info(c, &info);
	tc->seed = tp_seed_of(info.remote_port);
	tc->rng_rx = tc->seed | 1;
	tp_rx_expect(tc);
	vsock_conn_set_ctx(c, tc);
	g->st.conns_open++;
}

/* --reconnect: a client lost to a reset is replaced at the next poll. */
static void
tp_client_redo(struct tp_conn *tc)
{
	if (!g->o.reconnect || g->stopping || tc->redo)
		return;
	tc->redo = true;
	g->nb_redo++;
}

static void
cb_connect(struct vsock_conn *c, int err, void *ctx)
{
	struct tp_conn *tc = ctx;
	struct vsock_conn_info info;

	if (err != 0) {
		tc->closed = true;
		tp_error(tc, &g->st.connect_fail, strerror(-err));
		tp_client_redo(tc);
		return;
	}
	vsock_conn_info(c, &info);
	tc->connected = true;
	tc->seed = tp_seed_of(info.local_port);
	tc->rng = tc->seed | 1;
	tc->rng_rx = tc->rng;
	tp_rx_expect(tc);
	g->st.conns_open++;
	/* The run ended while it was connecting: nothing left to send. */
	if (g->stopping) {
		tp_client_close(tc);
		return;
	}
	tp_client_pump(tc);
}

static void
cb_data(struct vsock_conn *c, struct rte_mbuf *m, void *ctx)
{
	struct tp_conn *tc = ctx;

	RTE_SET_USED(c);
	if (tc->client)
		tp_client_data(tc, m);
	else
		tp_server_data(tc, m);
}

static void
cb_writable(struct vsock_conn *c, void *ctx)
{
	struct tp_conn *tc = ctx;

	RTE_SET_USED(c);
	/* Servers' echoes wait in the stack (vsock_send_backlog()). */
	if (tc->client)
		tp_client_pump(tc);
}

static void
cb_shutdown(struct vsock_conn *c, unsigned int how, void *ctx)
{
	struct tp_conn *tc = ctx;
	struct app_echo_stats est = { 0 };

	RTE_SET_USED(c);
	if (!(how & VSOCK_SHUTDOWN_SEND) || tc->closed)
		return;
	if (tc->client) {
		if (tc->rx_off != tc->tx_off)
			tp_error(tc, &g->st.verify_fail,
				"peer closed before echoing everything");
		tp_client_close(tc);
		return;
	}
	if (tc->echo.msg != NULL)
		tp_error(tc, &g->st.send_fail, "peer closed mid-message");
	/* Counted just above, with its message. */
	app_echo_shutdown(&tc->echo, &est);
	/* The peer sends no more: the close follows the echo still queued. */
	tp_server_close(tc);
}

static void
cb_reset(struct vsock_conn *c, enum vsock_reset_reason why, void *ctx)
{
	struct tp_conn *tc = ctx;
	char msg[64];

	RTE_SET_USED(c);
	tp_release(tc);
	tc->closed = true;
	g->st.conns_open--;
	g->st.resets_by[RTE_MIN((unsigned int)why,
		(unsigned int)VSOCK_RESET_REASONS - 1)]++;
	/*
	 * A server outlives its clients: a client that aborts, or a device
	 * that restarts, is reported, not an error. Clients must finish.
	 */
	if (!tc->client && !g->has_client)
		return;
	snprintf(msg, sizeof(msg), "reset (reason %d)", (int)why);
	tp_error(tc, &g->st.resets, msg);
	if (tc->client)
		tp_client_redo(tc);
}

static const struct vsock_ops tp_ops = {
	.on_accept = cb_accept,
	.on_connect = cb_connect,
	.on_data = cb_data,
	.on_writable = cb_writable,
	.on_shutdown = cb_shutdown,
	.on_reset = cb_reset,
};

/* ---- driving ---- */

int
tp_modes_start_server(struct tp_ctx *t)
{
	g = t;
	/* The prompt sizes its client slots itself and starts stopped. */
	if (!t->o.interactive) {
		t->client_slots = t->has_client ? t->o.conns : 0;
		t->client_target = t->client_slots;
	}
	t->next_server = t->client_slots;
	if (!t->has_server)
		return 0;
	return vsock_listen(t->stack, t->o.port, t->o.type, &tp_ops, t);
}

/* Connect the client of slot @tc to @cid:@port; false: try again later. */
static bool
tp_client_open(struct tp_ctx *t, struct tp_conn *tc, uint64_t cid,
		uint32_t port)
{
	int r;

	memset(tc, 0, sizeof(*tc));
	tc->client = true;
	tc->peer_cid = cid;
	while (tc->peer_idx + 1u < t->o.nb_peers &&
			t->o.peers[tc->peer_idx] != cid)
		tc->peer_idx++;
	tc->peer_port = port;
	r = vsock_connect(t->stack, cid, port, t->o.type, &tp_ops, tc,
			&tc->c);
	if (r == -ENOBUFS) {
		tc->closed = true;
		return false;	/* control queue full: more next poll */
	}
	if (r != 0) {
		tc->closed = true;
		tp_error(tc, &t->st.connect_fail, strerror(-r));
		tp_client_redo(tc);
	}
	return true;
}

void
tp_modes_start_clients(struct tp_ctx *t)
{
	uint64_t peer = t->o.peer != 0 ? t->o.peer :
		vsock_stack_local_cid(t->stack);
	uint32_t i;

	while (t->has_client && !t->stopping &&
			t->next_client < t->client_target) {
		/* Several --peer CIDs: the clients take them in turn. */
		if (t->o.nb_peers > 1)
			peer = t->o.peers[t->next_client % t->o.nb_peers];
		if (!tp_client_open(t, &t->conns[t->next_client], peer,
				t->o.port))
			return;
		t->next_client++;
	}
	for (i = 0; i < t->next_client && t->nb_redo > 0 && !t->stopping;
			i++) {
		struct tp_conn *tc = &t->conns[i];

		if (!tc->redo)
			continue;
		t->nb_redo--;
		/* Our own CID may have changed with the device's reset. */
		if (t->o.peer == 0)
			tc->peer_cid = vsock_stack_local_cid(t->stack);
		if (!tp_client_open(t, tc, tc->peer_cid, tc->peer_port)) {
			tc->redo = true;
			t->nb_redo++;
			return;
		}
	}
}

void
tp_modes_retry_starved(struct tp_ctx *t)
{
	uint32_t i;

	for (i = 0; i < t->next_client && t->nb_starved > 0; i++) {
		struct tp_conn *tc = &t->conns[i];

		if (!tc->starved)
			continue;
		tc->starved = false;
		t->nb_starved--;
		tp_client_pump(tc);
	}
}

void
tp_modes_stop(struct tp_ctx *t)
{
	uint32_t i;

	t->stopping = true;
	t->nb_redo = 0;
	for (i = 0; i < t->next_client; i++) {
		struct tp_conn *tc = &t->conns[i];

		tc->redo = false;
		if (tc->closed || !tc->connected)
			continue;
		/* Verify waits for every echo; the others stop now. */
		if (t->o.mode != TP_VERIFY || tc->rx_off == tc->tx_off)
			tp_client_close(tc);
	}
}

bool
tp_modes_clients_done(const struct tp_ctx *t)
{
	uint32_t i;

	if (t->next_client < t->client_target || t->nb_redo > 0)
		return false;
	for (i = 0; i < t->next_client; i++)
		if (!t->conns[i].closed)
			return false;
	return true;
}

/* Close whatever is still open (end of run); returns how many were. */
void
tp_modes_close_all(struct tp_ctx *t)
{
	uint32_t i;

	for (i = 0; i < t->next_server; i++) {
		struct tp_conn *tc = &t->conns[i];

		if (tc->c == NULL || tc->closed || (!tc->connected &&
				!tc->client))
			continue;
		tp_release(tc);
		vsock_close(tc->c);
		tc->closed = true;
	}
}

uint32_t
tp_modes_open_conns(const struct tp_ctx *t)
{
	return (uint32_t)t->st.conns_open;
}

/* Client connections not closed yet (connecting, running or draining). */
uint32_t
tp_modes_open_clients(const struct tp_ctx *t)
{
	uint32_t i, n = 0;

	for (i = 0; i < t->next_client; i++)
		n += !t->conns[i].closed;
	return n;
}

/*
 * One more client of the current mode, to @cid:@port (the prompt's
 * connect). It joins the run, or starts one when traffic is stopped.
 * False when every client slot is taken.
 */
bool
tp_modes_connect(struct tp_ctx *t, uint64_t cid, uint32_t port)
{
	/* The slots of a finished run are free again. */
	if (t->stopping && tp_modes_open_clients(t) == 0) {
		t->next_client = 0;
		t->client_target = 0;
	}
	if (t->next_client == t->client_slots)
		return false;
	t->stopping = false;
	t->has_client = true;
	/* -ENOBUFS (control queue full) is retried as a reconnect would be. */
	if (!tp_client_open(t, &t->conns[t->next_client], cid, port)) {
		t->conns[t->next_client].redo = true;
		t->nb_redo++;
	}
	t->next_client++;
	t->client_target = RTE_MAX(t->client_target, t->next_client);
	return true;
}

/* Serve port @port instead (the prompt's "set port"); 0 or -errno. */
int
tp_modes_relisten(struct tp_ctx *t, uint32_t port)
{
	int r;

	if (port == t->o.port)
		return 0;
	vsock_unlisten(t->stack, t->o.port);
	r = vsock_listen(t->stack, port, t->o.type, &tp_ops, t);
	if (r != 0) {
		/* Keep serving where we did. */
		vsock_listen(t->stack, t->o.port, t->o.type, &tp_ops, t);
		return r;
	}
	t->o.port = port;
	return 0;
}

/* Verify keeps a quarter of the pool's bytes in flight at most. */
uint32_t
tp_window(const struct tp_ctx *t)
{
	return (uint32_t)RTE_MIN(256u * 1024, RTE_MAX(16u * 1024,
			(uint64_t)t->o.nb_mbufs * TP_MBUF_ROOM / 4 /
			RTE_MAX(t->o.conns, 1u)));
}
