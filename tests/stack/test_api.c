/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The calls that keep applications from redoing the stack's work: the
 * explicit receive mode, vsock_connect_ex()'s options, vsock_data_release()
 * and vsock_send_backlog(), and the edges of vsock_send()/vsock_send_buf().
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rte_mbuf.h>

#include "env.h"
#include "harness.h"

static uint8_t pattern[64 * 1024];

static void
pattern_fill(void)
{
	uint32_t i;

	for (i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 13 + i / 251);
}

static void
api_accept(struct vsock_conn *c, void *ctx)
{
	struct rec *r = ctx;

	r->accepts++;
	r->conn = c;
}

/* Zero copy, the mbuf kept for the test (vsock_data_release()). */
static struct rte_mbuf *held;

static void
hold_data(struct vsock_conn *c, struct rte_mbuf *m, void *ctx)
{
	struct rec *r = ctx;

	RTE_SET_USED(c);
	r->datas++;
	assert_null(held);
	held = m;
}

static const struct vsock_ops hold_ops = {
	.on_accept = api_accept,
	.on_data = hold_data,
};

/* Every received mbuf goes straight back, its credit with it. */
static void
echo_data(struct vsock_conn *c, struct rte_mbuf *m, void *ctx)
{
	struct rec *r = ctx;

	r->datas++;
	assert_int_equal(vsock_send_backlog(c, m, VSOCK_SEND_F_RELEASE), 0);
}

static const struct vsock_ops echo_ops = {
	.on_accept = api_accept,
	.on_data = echo_data,
};

static int
snap_one(const struct vsock_conn_snapshot *cs, void *arg)
{
	*(struct vsock_conn_snapshot *)arg = *cs;
	return 1;
}

/* fwd_cnt of the one connection of @e: the credit given back so far. */
static uint32_t
fwd_cnt(struct env *e)
{
	struct vsock_conn_snapshot cs;

	assert_int_equal(vsock_stack_foreach_conn(e->s, snap_one, &cs), 1);
	return cs.fwd_cnt;
}

static void
test_rx_mode_must_match_on_data(void **state)
{
	struct vsock_ops no_data = { .rx_mode = VSOCK_RX_ZEROCOPY };
	struct vsock_ops copy_with_data = rec_ops;
	struct vsock_ops unknown = rec_ops;
	struct vsock_conn *c = NULL;
	uint8_t buf[8];
	struct env e;

	(void)state;
	copy_with_data.rx_mode = VSOCK_RX_COPY;
	unknown.rx_mode = (enum vsock_rx_mode)7;
	env_open(&e, NULL, 0);
	assert_int_equal(vsock_listen(e.s, LPORT, VSOCK_TYPE_STREAM,
			&no_data, NULL), -EINVAL);
	assert_int_equal(vsock_listen(e.s, LPORT, VSOCK_TYPE_STREAM,
			&copy_with_data, NULL), -EINVAL);
	assert_int_equal(vsock_listen(e.s, LPORT, VSOCK_TYPE_STREAM,
			&unknown, NULL), -EINVAL);
	assert_int_equal(vsock_connect(e.s, 2, RPORT, VSOCK_TYPE_STREAM,
			&no_data, NULL, &c), -EINVAL);
	assert_null(c);
	assert_int_equal(fport_pending(e.fp), 0);
	/* vsock_recv() belongs to copy mode only. */
	c = accept_one(&e, VSOCK_TYPE_STREAM, 65536, &rec_ops);
	assert_int_equal(vsock_recv(c, buf, sizeof(buf), NULL), -EINVAL);
	env_close(&e);
}

static void
test_connect_conf_buf_size_in_request(void **state)
{
	struct vsock_stack_conf conf = { .buf_alloc = 8192, .buf_min = 1024,
		.buf_max = 65536 };
	struct vsock_connect_conf cc = { .cid = 2, .port = RPORT,
		.type = VSOCK_TYPE_STREAM, .buf_size = 4096 };
	struct vsock_conn *c;
	struct vsock_hdr h;
	struct env e;

	(void)state;
	env_open(&e, &conf, 0);
	assert_int_equal(vsock_connect_ex(e.s, &cc, &rec_ops, &e.r, &c), 0);
	cc.buf_size = 1;	/* clamped to buf_min */
	assert_int_equal(vsock_connect_ex(e.s, &cc, &rec_ops, &e.r, &c), 0);
	cc.buf_size = 0;	/* the stack's default */
	assert_int_equal(vsock_connect_ex(e.s, &cc, &rec_ops, &e.r, &c), 0);
	h_poll(e.s, 1);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_REQUEST);
	assert_int_equal(h.buf_alloc, 4096);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.buf_alloc, 1024);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.buf_alloc, 8192);
	env_close(&e);
}

static void
test_data_release_returns_delivered_credit(void **state)
{
	struct vsock_conn *c;
	struct env e;

	(void)state;
	env_open(&e, NULL, 0);
	c = accept_one(&e, VSOCK_TYPE_STREAM, 65536, &hold_ops);
	inject_op(&e, VSOCK_TYPE_STREAM, VSOCK_OP_RW, 0, 0, 65536, pattern,
		1000);
	h_poll(e.s, 1);
	assert_non_null(held);
	assert_int_equal(fwd_cnt(&e), 0);
	/* What the application does to the mbuf does not change the credit. */
	assert_non_null(rte_pktmbuf_adj(held, 300));
	vsock_data_release(c, held);
	held = NULL;
	assert_int_equal(fwd_cnt(&e), 1000);
	vsock_data_release(c, NULL);
	assert_int_equal(fwd_cnt(&e), 1000);
	env_close(&e);
}

/*
 * The peer reads: poll, take RW payload (the pattern from @base on, in
 * order), grant credit for it. Returns the bytes taken.
 */
static uint32_t
drain_peer(struct env *e, uint32_t base, uint32_t want, uint16_t *last_op)
{
	uint32_t total = 0, pkts;
	int rounds;

	for (rounds = 0; rounds < 200 && total < want; rounds++) {
		h_poll(e->s, 2);
		total += take_rw(e, pattern + base + total, &pkts, last_op);
		inject_op(e, VSOCK_TYPE_STREAM, VSOCK_OP_CREDIT_UPDATE, 0,
			base + total, 1u << 20, NULL, 0);
	}
	h_poll(e->s, 2);
	total += take_rw(e, pattern + base + total, &pkts, last_op);
	return total;
}

static void
test_send_backlog_keeps_order_past_sndbuf(void **state)
{
	struct vsock_stack_conf conf = { .sndbuf = 4096 };
	struct vsock_conn_info info;
	struct vsock_conn *c;
	struct rte_mbuf *m;
	uint16_t op = 0;
	uint32_t off;
	struct env e;

	(void)state;
	env_open(&e, &conf, 0);
	c = accept_one(&e, VSOCK_TYPE_STREAM, 1u << 20, &rec_ops);
	for (off = 0; off < 40000; off += 2000)
		assert_int_equal(vsock_send_backlog(c,
				mbuf_of(pattern + off, 2000), 0), 0);
	vsock_conn_info(c, &info);
	assert_true(info.tx_queued >= 4096);
	assert_int_equal(info.tx_queued + info.tx_backlog, 40000);
	/* A plain send must not overtake the backlog. */
	m = mbuf_of(pattern, 10);
	assert_int_equal(vsock_send(c, m, 0), -ENOBUFS);
	rte_pktmbuf_free(m);
	assert_int_equal(drain_peer(&e, 0, 40000, &op), 40000);
	vsock_conn_info(c, &info);
	assert_int_equal(info.tx_backlog, 0);
	assert_int_equal(info.tx_queued, 0);
	/* on_writable said so once the backlog was gone. */
	assert_true(e.r.writables >= 1);
	env_close(&e);
}

static void
test_send_backlog_release_throttles_peer(void **state)
{
	struct vsock_stack_conf conf = { .sndbuf = 1000 };
	uint32_t off, pkts;
	uint16_t op = 0;
	struct env e;

	(void)state;
	env_open(&e, &conf, 0);
	/* The peer takes 1000 bytes until it says more. */
	accept_one(&e, VSOCK_TYPE_STREAM, 1000, &echo_ops);
	for (off = 0; off < 5000; off += 1000)
		inject_op(&e, VSOCK_TYPE_STREAM, VSOCK_OP_RW, 0, 0, 1000,
			pattern + off, 1000);
	h_poll(e.s, 4);
	assert_int_equal(e.r.datas, 5);
	assert_int_equal(take_rw(&e, pattern, &pkts, &op), 1000);
	/* Credit only for what the send buffer took: 1000 sent, 1000 queued. */
	assert_int_equal(fwd_cnt(&e), 2000);
	inject_op(&e, VSOCK_TYPE_STREAM, VSOCK_OP_CREDIT_UPDATE, 0, 1000,
		1u << 20, NULL, 0);
	assert_int_equal(drain_peer(&e, 1000, 4000, &op), 4000);
	assert_int_equal(fwd_cnt(&e), 5000);
	env_close(&e);
}

static void
test_close_sends_backlog_then_shutdown(void **state)
{
	struct vsock_stack_conf conf = { .sndbuf = 2048 };
	struct vsock_conn *c;
	uint16_t op = 0;
	uint32_t off;
	struct env e;

	(void)state;
	env_open(&e, &conf, 0);
	c = accept_one(&e, VSOCK_TYPE_STREAM, 4096, &rec_ops);
	for (off = 0; off < 20000; off += 1500)
		assert_int_equal(vsock_send_backlog(c,
				mbuf_of(pattern + off, 1500), 0), 0);
	vsock_close(c);
	assert_int_equal(drain_peer(&e, 0, 21000, &op), 21000);
	assert_int_equal(op, VSOCK_OP_SHUTDOWN);
	env_close(&e);
}

static void
test_send_edges(void **state)
{
	struct rte_mempool *mp = h_pool();
	uint32_t room = rte_pktmbuf_data_room_size(mp) - RTE_PKTMBUF_HEADROOM;
	uint8_t *big = calloc(1, (size_t)room * VSOCK_MAX_SEGS + 1);
	struct rte_mbuf *head = NULL;
	struct vsock_conn *c;
	struct vsock_hdr h;
	uint16_t op = 0;
	unsigned int i;
	struct env e;

	(void)state;
	assert_non_null(big);
	env_open(&e, NULL, 0);
	c = accept_one(&e, VSOCK_TYPE_STREAM, 1u << 20, &rec_ops);
	/* An empty stream send sends nothing, as send(2) of 0 bytes. */
	assert_int_equal(vsock_send_buf(c, NULL, 0), 0);
	h_poll(e.s, 2);
	assert_int_equal(fport_pending(e.fp), 0);
	assert_int_equal(vsock_send_buf(c, big, room * VSOCK_MAX_SEGS + 1),
		-EMSGSIZE);
	free(big);
	/* VSOCK_MAX_SEGS + 1 segments are refused; the chain stays ours. */
	for (i = 0; i < VSOCK_MAX_SEGS + 1; i++) {
		struct rte_mbuf *m = mbuf_of(pattern + i, 1);

		if (head == NULL)
			head = m;
		else
			assert_int_equal(rte_pktmbuf_chain(head, m), 0);
	}
	assert_int_equal(vsock_send(c, head, 0), -EINVAL);
	rte_pktmbuf_free(head);
	/* VSOCK_MAX_SEGS go, as one stream of bytes. */
	head = mbuf_of(pattern, 1);
	for (i = 1; i < VSOCK_MAX_SEGS; i++)
		assert_int_equal(rte_pktmbuf_chain(head,
				mbuf_of(pattern + i, 1)), 0);
	assert_int_equal(vsock_send(c, head, 0), 0);
	assert_int_equal(drain_peer(&e, 0, VSOCK_MAX_SEGS, &op),
		VSOCK_MAX_SEGS);
	env_close(&e);

	/* SEQPACKET: an empty message is one RW with EOM. */
	env_open(&e, NULL, 0);
	c = accept_one(&e, VSOCK_TYPE_SEQPACKET, 1u << 20, &rec_ops);
	assert_int_equal(vsock_send_buf(c, NULL, 0), 0);
	h_poll(e.s, 2);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 0);
	assert_true(h.flags & VSOCK_SEQ_EOM);
	env_close(&e);
}

/*
 * A peer that reads nothing until more arrives (SO_RCVLOWAT) must still
 * get every byte: once the packet bound held for credit_request_ms, one
 * packet goes past it with the rest of the queue merged in.
 */
static void
test_pkt_bound_lets_the_rest_through(void **state)
{
	struct vsock_stack_conf conf = { .max_pkts_in_flight = 4,
		.credit_request_ms = 50 };
	struct vsock_stack_stats st;
	struct vsock_conn *c;
	uint32_t pkts, got;
	uint16_t op = 0;
	unsigned int i;
	struct env e;

	(void)state;
	env_open(&e, &conf, 0);
	c = accept_one(&e, VSOCK_TYPE_STREAM, 1u << 20, &rec_ops);
	/* One byte a poll: four packets, then the bound holds. */
	for (i = 0; i < 10; i++) {
		assert_int_equal(vsock_send_buf(c, pattern + i, 1), 0);
		h_poll(e.s, 1);
	}
	got = take_rw(&e, pattern, &pkts, &op);
	assert_int_equal(got, 4);
	assert_int_equal(pkts, 4);
	vsock_stack_stats_get(e.s, &st);
	assert_int_equal(st.pkt_grace, 0);
	/* The peer acknowledges nothing; after a period the rest goes. */
	h_poll_ms(e.s, 150);
	assert_int_equal(take_rw(&e, pattern + 4, &pkts, &op), 6);
	assert_int_equal(pkts, 1);
	vsock_stack_stats_get(e.s, &st);
	assert_int_equal(st.pkt_grace, 1);
	env_close(&e);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rx_mode_must_match_on_data),
		cmocka_unit_test(test_connect_conf_buf_size_in_request),
		cmocka_unit_test(test_data_release_returns_delivered_credit),
		cmocka_unit_test(test_send_backlog_keeps_order_past_sndbuf),
		cmocka_unit_test(test_send_backlog_release_throttles_peer),
		cmocka_unit_test(test_close_sends_backlog_then_shutdown),
		cmocka_unit_test(test_send_edges),
		cmocka_unit_test(test_pkt_bound_lets_the_rest_through),
	};

	(void)argc;
	pattern_fill();
	h_eal_init(argv[0], false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
