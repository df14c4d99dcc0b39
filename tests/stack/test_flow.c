/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Protocol behaviour against a scripted peer: credit both ways, timers,
 * half-close, bounds, SEQPACKET reassembly and truncation, bad input, and
 * TRANSPORT_RESET.
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

static void
test_sender_stays_within_peer_credit(void **state)
{
	struct env e;
	struct vsock_conn *c;
	static uint8_t data[5000];
	uint32_t pkts, i, sent;
	uint16_t op;

	(void)state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	env_open(&e, NULL, 0);
	c = accept_one(&e, VSOCK_TYPE_STREAM, 1000, &rec_ops);
	assert_int_equal(vsock_send_buf(c, data, sizeof(data)), 0);
	h_poll(e.s, 3);
	sent = take_rw(&e, data, &pkts, &op);
	assert_int_equal(sent, 1000);	/* exactly the window, no more */
	/* The peer consumed 1000: the next 1000 go. */
	inject_op(&e, VSOCK_TYPE_STREAM, VSOCK_OP_CREDIT_UPDATE, 0, 1000,
		1000, NULL, 0);
	h_poll(e.s, 3);
	assert_int_equal(take_rw(&e, data + 1000, &pkts, &op), 1000);
	/* A bigger window lets the rest out. */
	inject_op(&e, VSOCK_TYPE_STREAM, VSOCK_OP_CREDIT_UPDATE, 0, 2000,
		1 << 20, NULL, 0);
	h_poll(e.s, 3);
	assert_int_equal(take_rw(&e, data + 2000, &pkts, &op), 3000);
	env_close(&e);
}

static void
test_credit_update_as_application_consumes(void **state)
{
	struct vsock_stack_conf conf = { .buf_alloc = 4096 };
	uint8_t data[1100] = { 1 };
	struct vsock_hdr h;
	struct env e;

	(void)state;
	env_open(&e, &conf, 0);
	accept_one(&e, VSOCK_TYPE_STREAM, 65536, &rec_ops);
	/* Under a quarter of the buffer consumed: no update yet. */
	inject_op(&e, VSOCK_TYPE_STREAM, VSOCK_OP_RW, 0, 0, 65536, data, 1000);
	h_poll(e.s, 2);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), -1);
	/* Past a quarter (1024): CREDIT_UPDATE with what was consumed. */
	inject_op(&e, VSOCK_TYPE_STREAM, VSOCK_OP_RW, 0, 0, 65536, data, 100);
	h_poll(e.s, 2);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(h.fwd_cnt, 1100);
	assert_int_equal(h.buf_alloc, 4096);
	env_close(&e);
}

static void
test_overrunning_peer_is_reset_others_untouched(void **state)
{
	struct vsock_stack_conf conf = { .buf_alloc = 4096 };
	static uint8_t data[4096];
	struct vsock_stack_stats st;
	struct vsock_hdr h;
	struct rec r2;
	struct env e;

	(void)state;
	env_open(&e, &conf, 0);
	e.r.consume = false;	/* a slow application: nothing handed back */
	accept_one(&e, VSOCK_TYPE_STREAM, 65536, &rec_ops);
	/* A second, well-behaved connection on another port. */
	rec_init(&r2);
	assert_int_equal(vsock_listen(e.s, LPORT + 1, VSOCK_TYPE_STREAM,
			&rec_ops, &r2), 0);
	h = h_hdr(e.fp, RPORT + 1, LPORT + 1, VSOCK_TYPE_STREAM,
		VSOCK_OP_REQUEST);
	fport_inject(e.fp, &h, NULL, 0);
	inject_op(&e, VSOCK_TYPE_STREAM, VSOCK_OP_RW, 0, 0, 65536, data, 4096);
	h_poll(e.s, 2);
	fport_drop_all(e.fp);
	assert_int_equal(e.r.data_len, 4096);
	/* One byte past the window it was given. */
	inject_op(&e, VSOCK_TYPE_STREAM, VSOCK_OP_RW, 0, 0, 65536, data, 1);
	h = h_hdr(e.fp, RPORT + 1, LPORT + 1, VSOCK_TYPE_STREAM, VSOCK_OP_RW);
	h.len = 3;
	fport_inject(e.fp, &h, "abc", 3);
	h_poll(e.s, 2);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_int_equal(h.dst_port, RPORT);
	assert_int_equal(e.r.resets, 1);
	assert_int_equal(e.r.reset_why, VSOCK_RESET_CREDIT);
	vsock_stack_stats_get(e.s, &st);
	assert_int_equal(st.drop_credit, 1);
	assert_int_equal(st.rst_tx_by[VSOCK_RESET_CREDIT], 1);
	assert_int_equal(st.conns_open, 1);
	assert_int_equal(r2.data_len, 3);
	assert_memory_equal(r2.data, "abc", 3);
	rec_fini(&r2);
	env_close(&e);
}

static void
test_connect_timeout(void **state)
{
	/* Margins wide enough for a loaded machine. */
	const struct vsock_connect_conf cc = { .cid = 2, .port = RPORT,
		.type = VSOCK_TYPE_STREAM, .connect_timeout_ms = 300 };
	struct vsock_conn *c;
	struct vsock_hdr h;
	struct env e;

	(void)state;
	env_open(&e, NULL, 0);
	assert_int_equal(vsock_connect_ex(e.s, &cc, &rec_ops, &e.r, &c), 0);
	h_poll_ms(e.s, 20);
	assert_int_equal(e.r.connects, 0);
	h_poll_ms(e.s, 600);
	assert_int_equal(e.r.connects, 1);
	assert_int_equal(e.r.connect_err, -ETIMEDOUT);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_REQUEST);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_RST);
	env_close(&e);
}

static void
test_close_timeout_forces_rst(void **state)
{
	struct vsock_stack_conf conf = { .close_timeout_ms = 300 };
	struct vsock_stack_stats st;
	struct vsock_hdr h;
	struct env e;

	(void)state;
	env_open(&e, &conf, 0);
	vsock_close(accept_one(&e, VSOCK_TYPE_STREAM, 65536, &rec_ops));
	h_poll(e.s, 2);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_SHUTDOWN);
	/* The peer never answers. */
	h_poll_ms(e.s, 20);
	vsock_stack_stats_get(e.s, &st);
	assert_int_equal(st.conns_open, 1);
	h_poll_ms(e.s, 600);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_RST);
	vsock_stack_stats_get(e.s, &st);
	assert_int_equal(st.conns_open, 0);
	assert_int_equal(st.rst_tx_by[VSOCK_RESET_TIMEOUT], 1);
	assert_int_equal(e.r.resets, 0);	/* it was closed: no callback */
	env_close(&e);
}

static void
test_half_close_both_ways(void **state)
{
	struct vsock_conn *c;
	struct vsock_hdr h;
	uint32_t pkts;
	uint16_t op;
	struct env e;

	(void)state;
	env_open(&e, NULL, 0);
	c = accept_one(&e, VSOCK_TYPE_STREAM, 65536, &rec_ops);
	/* We stop sending; SHUTDOWN(SEND) follows our queued data. */
	assert_int_equal(vsock_send_buf(c, "last", 4), 0);
	assert_int_equal(vsock_shutdown(c, VSOCK_SHUTDOWN_SEND), 0);
	assert_int_equal(vsock_send_buf(c, "more", 4), -EPIPE);
	h_poll(e.s, 2);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 4);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_SHUTDOWN);
	assert_int_equal(h.flags, VSOCK_SHUTDOWN_SEND);
	/* We still receive. */
	inject_op(&e, VSOCK_TYPE_STREAM, VSOCK_OP_RW, 0, 4, 65536, "reply", 5);
	h_poll(e.s, 2);
	assert_int_equal(e.r.data_len, 5);
	/* The peer stops sending: we are told, and can still send... no:
	 * our send side is shut. Reopen the case from the other side. */
	inject_op(&e, VSOCK_TYPE_STREAM, VSOCK_OP_SHUTDOWN,
		VSOCK_SHUTDOWN_SEND, 4, 65536, NULL, 0);
	h_poll(e.s, 2);
	assert_int_equal(e.r.shutdowns, 1);
	assert_int_equal(e.r.shut_how, VSOCK_SHUTDOWN_SEND);
	env_close(&e);

	/* Peer half-closes first: we keep sending. */
	env_open(&e, NULL, 0);
	c = accept_one(&e, VSOCK_TYPE_STREAM, 65536, &rec_ops);
	inject_op(&e, VSOCK_TYPE_STREAM, VSOCK_OP_SHUTDOWN,
		VSOCK_SHUTDOWN_SEND, 0, 65536, NULL, 0);
	h_poll(e.s, 2);
	assert_int_equal(e.r.shut_how, VSOCK_SHUTDOWN_SEND);
	assert_int_equal(vsock_send_buf(c, "still", 5), 0);
	h_poll(e.s, 2);
	assert_int_equal(take_rw(&e, (const uint8_t *)"still", &pkts, &op),
		5);
	env_close(&e);
}

static void
test_credit_request_when_window_stays_shut(void **state)
{
	struct vsock_stack_conf conf = { .credit_request_ms = 20 };
	struct vsock_conn_info info;
	struct vsock_stack_stats st;
	struct vsock_conn *c;
	uint8_t data[200] = { 0 };
	struct vsock_hdr h;
	struct env e;
	int len, reqs = 0;

	(void)state;
	env_open(&e, &conf, 0);
	c = accept_one(&e, VSOCK_TYPE_STREAM, 100, &rec_ops);
	assert_int_equal(vsock_send_buf(c, data, sizeof(data)), 0);
	h_poll_ms(e.s, 70);
	while ((len = fport_take(e.fp, &h, NULL, 0)) >= 0)
		reqs += h.op == VSOCK_OP_CREDIT_REQUEST;
	assert_true(reqs >= 1);
	vsock_stack_stats_get(e.s, &st);
	assert_true(st.credit_stalls >= 1);
	/* The answer reopens the window and stops the requests. */
	inject_op(&e, VSOCK_TYPE_STREAM, VSOCK_OP_CREDIT_UPDATE, 0, 100, 1000,
		NULL, 0);
	h_poll_ms(e.s, 60);
	reqs = 0;
	while ((len = fport_take(e.fp, &h, NULL, 0)) >= 0)
		reqs += h.op == VSOCK_OP_CREDIT_REQUEST;
	assert_int_equal(reqs, 0);
	vsock_conn_info(c, &info);
	assert_true(info.credit_stalls >= 1);
	assert_int_equal(info.bytes_tx, 200);
	assert_true(info.pkts_tx >= 2);
	env_close(&e);
}

static void
test_absurd_peer_buf_alloc_is_clamped(void **state)
{
	struct vsock_stack_conf conf = { .peer_buf_max = 1 << 20 };
	struct vsock_conn_info info;
	struct vsock_stack_stats st;
	struct env e;

	(void)state;
	env_open(&e, &conf, 0);
	vsock_conn_info(accept_one(&e, VSOCK_TYPE_STREAM, UINT32_MAX,
			&rec_ops), &info);
	assert_int_equal(info.peer_buf_alloc, 1 << 20);
	assert_int_equal(info.tx_credit, 1 << 20);
	vsock_stack_stats_get(e.s, &st);
	assert_int_equal(st.peer_buf_clamped, 1);
	env_close(&e);
}

static void
test_buf_size_clamped_and_advertised(void **state)
{
	struct vsock_stack_conf conf = { .buf_alloc = 8192, .buf_min = 1024,
		.buf_max = 65536 };
	struct vsock_conn *c;
	struct vsock_hdr h;
	struct env e;

	(void)state;
	env_open(&e, &conf, 0);
	c = accept_one(&e, VSOCK_TYPE_STREAM, 65536, &rec_ops);
	assert_int_equal(vsock_conn_set_buf_size(c, 1), 1024);
	assert_int_equal(vsock_conn_set_buf_size(c, 1u << 30), 65536);
	h_poll(e.s, 1);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(h.buf_alloc, 1024);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.buf_alloc, 65536);
	env_close(&e);
}

static void
test_packets_in_flight_bounded(void **state)
{
	struct vsock_stack_conf conf = { .max_pkts_in_flight = 4 };
	struct vsock_stack_stats st;
	struct vsock_conn *c;
	struct vsock_hdr h;
	struct env e;
	int i, rw = 0, req = 0, len;

	(void)state;
	env_open(&e, &conf, 0);
	c = accept_one(&e, VSOCK_TYPE_SEQPACKET, 65536, &rec_ops);
	for (i = 0; i < 10; i++)
		assert_int_equal(vsock_send(c, mbuf_of((const uint8_t *)"x",
				1), 0), 0);
	h_poll(e.s, 3);
	while ((len = fport_take(e.fp, &h, NULL, 0)) >= 0) {
		rw += h.op == VSOCK_OP_RW;
		req += h.op == VSOCK_OP_CREDIT_REQUEST;
	}
	assert_int_equal(rw, 4);
	assert_int_equal(req, 1);	/* asks where the peer stands */
	vsock_stack_stats_get(e.s, &st);
	assert_true(st.pkt_stalls >= 1);
	/* The peer read all four: four more go. */
	inject_op(&e, VSOCK_TYPE_SEQPACKET, VSOCK_OP_CREDIT_UPDATE, 0, 4,
		65536, NULL, 0);
	h_poll(e.s, 3);
	rw = 0;
	while ((len = fport_take(e.fp, &h, NULL, 0)) >= 0)
		rw += h.op == VSOCK_OP_RW;
	assert_int_equal(rw, 4);
	env_close(&e);
}

static void
test_small_stream_sends_coalesced(void **state)
{
	struct vsock_stack_stats st;
	uint8_t want[1000];
	struct vsock_conn *c;
	uint32_t pkts;
	uint16_t op;
	struct env e;
	int i;

	(void)state;
	env_open(&e, NULL, 0);
	c = accept_one(&e, VSOCK_TYPE_STREAM, 65536, &rec_ops);
	for (i = 0; i < 100; i++) {
		memset(want + i * 10, 'a' + i % 26, 10);
		assert_int_equal(vsock_send(c, mbuf_of(want + i * 10, 10), 0),
			0);
	}
	h_poll(e.s, 2);
	assert_int_equal(take_rw(&e, want, &pkts, &op), 1000);
	assert_true(pkts <= 2);
	vsock_stack_stats_get(e.s, &st);
	assert_true(st.coalesced >= 98);
	env_close(&e);
}

static void
test_seqpacket_recv_reassembles_and_truncates(void **state)
{
	struct vsock_conn *c;
	uint8_t buf[64];
	uint32_t flags;
	struct env e;

	(void)state;
	env_open(&e, NULL, 0);
	c = accept_one(&e, VSOCK_TYPE_SEQPACKET, 65536, &rec_ops_recv);
	/* One message in three packets, then an empty one, then a long one. */
	inject_op(&e, VSOCK_TYPE_SEQPACKET, VSOCK_OP_RW, 0, 0, 65536, "hel", 3);
	inject_op(&e, VSOCK_TYPE_SEQPACKET, VSOCK_OP_RW, 0, 0, 65536, "lo ", 3);
	h_poll(e.s, 2);
	assert_int_equal(vsock_recv(c, buf, sizeof(buf), &flags), -EAGAIN);
	inject_op(&e, VSOCK_TYPE_SEQPACKET, VSOCK_OP_RW,
		VSOCK_SEQ_EOM | VSOCK_SEQ_EOR, 0, 65536, "you", 3);
	inject_op(&e, VSOCK_TYPE_SEQPACKET, VSOCK_OP_RW, VSOCK_SEQ_EOM, 0,
		65536, NULL, 0);
	inject_op(&e, VSOCK_TYPE_SEQPACKET, VSOCK_OP_RW, VSOCK_SEQ_EOM, 0,
		65536, "0123456789", 10);
	inject_op(&e, VSOCK_TYPE_SEQPACKET, VSOCK_OP_RW, VSOCK_SEQ_EOM, 0,
		65536, "next", 4);
	h_poll(e.s, 2);
	assert_true(e.r.readables >= 1);
	assert_int_equal(vsock_recv(c, buf, sizeof(buf), &flags), 9);
	assert_memory_equal(buf, "hello you", 9);
	assert_int_equal(flags, VSOCK_SEQ_EOM | VSOCK_SEQ_EOR);
	assert_int_equal(vsock_recv(c, buf, sizeof(buf), &flags), 0);
	assert_int_equal(flags, VSOCK_SEQ_EOM);
	assert_int_equal(vsock_recv(c, buf, 4, &flags), 4);
	assert_memory_equal(buf, "0123", 4);
	assert_int_equal(flags, VSOCK_SEQ_EOM | VSOCK_MSG_TRUNC);
	/* The rest of the truncated message is gone, the next intact. */
	assert_int_equal(vsock_recv(c, buf, sizeof(buf), &flags), 4);
	assert_memory_equal(buf, "next", 4);
	assert_int_equal(vsock_recv(c, buf, sizeof(buf), &flags), -EAGAIN);
	env_close(&e);
}

static void
test_stream_recv_and_end_of_stream(void **state)
{
	struct vsock_conn *c;
	uint8_t buf[16];
	struct env e;

	(void)state;
	env_open(&e, NULL, 0);
	c = accept_one(&e, VSOCK_TYPE_STREAM, 65536, &rec_ops_recv);
	inject_op(&e, VSOCK_TYPE_STREAM, VSOCK_OP_RW, 0, 0, 65536, "abcdef", 6);
	inject_op(&e, VSOCK_TYPE_STREAM, VSOCK_OP_SHUTDOWN,
		VSOCK_SHUTDOWN_SEND, 0, 65536, NULL, 0);
	h_poll(e.s, 2);
	assert_int_equal(vsock_recv(c, buf, 4, NULL), 4);
	assert_memory_equal(buf, "abcd", 4);
	assert_int_equal(vsock_recv(c, buf, sizeof(buf), NULL), 2);
	assert_memory_equal(buf, "ef", 2);
	assert_int_equal(vsock_recv(c, buf, sizeof(buf), NULL), 0);
	env_close(&e);
}

static void
test_ephemeral_ports_exhaust_cleanly(void **state)
{
	struct vsock_stack_conf conf = { .ephemeral_min = 2000,
		.ephemeral_max = 2003 };
	struct vsock_conn *c[5];
	uint32_t seen = 0, bound;
	struct vsock_conn_info info;
	struct vsock_listen_conf lc = { .port = VSOCK_PORT_ANY,
		.type = VSOCK_TYPE_STREAM };
	struct env e;
	int i;

	(void)state;
	env_open(&e, &conf, 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(vsock_connect(e.s, 2, RPORT,
				VSOCK_TYPE_STREAM, &rec_ops, &e.r, &c[i]), 0);
		vsock_conn_info(c[i], &info);
		assert_true(info.local_port >= 2000 &&
			info.local_port <= 2003);
		seen |= 1u << (info.local_port - 2000);
	}
	assert_int_equal(seen, 0xf);	/* no collisions */
	assert_int_equal(vsock_connect(e.s, 2, RPORT, VSOCK_TYPE_STREAM,
			&rec_ops, &e.r, &c[4]), -EADDRNOTAVAIL);
	assert_int_equal(vsock_listen_ex(e.s, &lc, &rec_ops, &e.r, &bound),
		-EADDRNOTAVAIL);
	/* One closes; its port is free again. */
	vsock_close(c[2]);
	h_poll(e.s, 1);
	assert_int_equal(vsock_listen_ex(e.s, &lc, &rec_ops, &e.r, &bound),
		0);
	assert_true(bound >= 2000 && bound <= 2003);
	env_close(&e);
}

static void
test_types_and_addresses_refused(void **state)
{
	struct vsock_conn *c;
	struct env e;

	(void)state;
	env_open(&e, NULL, VSOCK_PORT_F_STREAM);
	/* SOCK_DGRAM (3) is not part of virtio-vsock. */
	assert_int_equal(vsock_listen(e.s, 1, (enum vsock_type)3, &rec_ops,
			NULL), -ESOCKTNOSUPPORT);
	assert_int_equal(vsock_connect(e.s, 2, 1, (enum vsock_type)3,
			&rec_ops, NULL, &c), -ESOCKTNOSUPPORT);
	/* SEQPACKET was not negotiated with this device. */
	assert_int_equal(vsock_connect(e.s, 2, 1, VSOCK_TYPE_SEQPACKET,
			&rec_ops, NULL, &c), -EPROTONOSUPPORT);
	assert_int_equal(vsock_listen(e.s, 1, VSOCK_TYPE_SEQPACKET, &rec_ops,
			NULL), -EPROTONOSUPPORT);
	/* ... but over CID 1 it works without any device. */
	assert_int_equal(vsock_connect(e.s, VSOCK_CID_LOCAL, 1,
			VSOCK_TYPE_SEQPACKET, &rec_ops, &e.r, &c), 0);
	assert_int_equal(vsock_listen(e.s, VSOCK_PORT_ANY, VSOCK_TYPE_STREAM,
			&rec_ops, NULL), -EINVAL);
	assert_int_equal(vsock_listen(e.s, 5, VSOCK_TYPE_STREAM, &rec_ops,
			NULL), 0);
	assert_int_equal(vsock_listen(e.s, 5, VSOCK_TYPE_STREAM, &rec_ops,
			NULL), -EADDRINUSE);
	env_close(&e);
}

static void
test_backlog_full_gets_rst(void **state)
{
	struct vsock_listen_conf lc = { .port = LPORT,
		.type = VSOCK_TYPE_STREAM, .backlog = 2 };
	struct vsock_stack_stats st;
	struct vsock_hdr h;
	struct env e;
	int i, resp = 0, rst = 0;

	(void)state;
	env_open(&e, NULL, 0);
	assert_int_equal(vsock_listen_ex(e.s, &lc, &rec_ops, &e.r, NULL), 0);
	for (i = 0; i < 5; i++) {
		h = h_hdr(e.fp, RPORT + i, LPORT, VSOCK_TYPE_STREAM,
			VSOCK_OP_REQUEST);
		fport_inject(e.fp, &h, NULL, 0);
	}
	h_poll(e.s, 2);
	while (fport_take(e.fp, &h, NULL, 0) >= 0) {
		resp += h.op == VSOCK_OP_RESPONSE;
		rst += h.op == VSOCK_OP_RST;
	}
	assert_int_equal(resp, 2);
	assert_int_equal(rst, 3);
	vsock_stack_stats_get(e.s, &st);
	assert_int_equal(st.rst_tx_by[VSOCK_RESET_BACKLOG], 3);
	assert_int_equal(st.conns_refused, 3);
	/* One goes away (closed, and the peer's RST ends it): room for one. */
	vsock_close(e.r.conn);
	h_poll(e.s, 1);
	fport_drop_all(e.fp);
	h = h_hdr(e.fp, RPORT + 1, LPORT, VSOCK_TYPE_STREAM, VSOCK_OP_RST);
	fport_inject(e.fp, &h, NULL, 0);
	h = h_hdr(e.fp, RPORT + 9, LPORT, VSOCK_TYPE_STREAM,
		VSOCK_OP_REQUEST);
	fport_inject(e.fp, &h, NULL, 0);
	h_poll(e.s, 1);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	env_close(&e);
}

static void
test_bad_packets_counted_and_dropped(void **state)
{
	struct vsock_stack_stats st;
	struct vsock_hdr h;
	struct env e;

	(void)state;
	env_open(&e, NULL, 0);
	accept_one(&e, VSOCK_TYPE_STREAM, 65536, &rec_ops);
	/*
	 * len says 100, 10 bytes came (to no connection: one that gets such
	 * a packet is reset, see test_hostile.c).
	 */
	h = h_hdr(e.fp, RPORT, LPORT + 1, VSOCK_TYPE_STREAM, VSOCK_OP_RW);
	h.len = 100;
	fport_inject(e.fp, &h, "0123456789", 10);
	/* Not our CID. */
	h = h_hdr(e.fp, RPORT, LPORT, VSOCK_TYPE_STREAM, VSOCK_OP_RW);
	h.dst_cid = 99;
	h.len = 1;
	fport_inject(e.fp, &h, "x", 1);
	/* Unknown type, to a port nobody uses: RST; an RST of it: nothing. */
	h = h_hdr(e.fp, RPORT, 4321, 7, VSOCK_OP_REQUEST);
	fport_inject(e.fp, &h, NULL, 0);
	h = h_hdr(e.fp, RPORT, 4321, 7, VSOCK_OP_RST);
	fport_inject(e.fp, &h, NULL, 0);
	h_poll(e.s, 2);
	vsock_stack_stats_get(e.s, &st);
	assert_int_equal(st.drop_bad_hdr, 1);
	assert_int_equal(st.drop_wrong_cid, 1);
	assert_int_equal(st.drop_bad_type, 2);
	assert_int_equal(st.rst_tx_by[VSOCK_RESET_BAD_TYPE], 1);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_int_equal(h.dst_port, RPORT);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), -1);
	/* The connection is untouched. */
	assert_int_equal(st.conns_open, 1);
	assert_int_equal(e.r.data_len, 0);
	assert_int_equal(e.r.resets, 0);
	env_close(&e);
}

static void
test_transport_reset_keeps_listeners(void **state)
{
	struct vsock_conn_info info;
	struct vsock_stack_stats st;
	struct vsock_hdr h;
	struct env e;

	(void)state;
	env_open(&e, NULL, 0);
	accept_one(&e, VSOCK_TYPE_STREAM, 65536, &rec_ops);
	/* Migrated: new CID, every connection reset, the listener stays. */
	e.fp->cid = 9;
	e.fp->event = VSOCK_PORT_EVENT_TRANSPORT_RESET;
	h_poll(e.s, 1);
	assert_int_equal(e.r.resets, 1);
	assert_int_equal(e.r.reset_why, VSOCK_RESET_TRANSPORT);
	vsock_stack_stats_get(e.s, &st);
	assert_int_equal(st.conns_open, 0);
	assert_int_equal(st.transport_resets, 1);
	assert_int_equal(vsock_stack_local_cid(e.s), 9);
	h = h_hdr(e.fp, RPORT, LPORT, VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST);
	fport_inject(e.fp, &h, NULL, 0);
	h_poll(e.s, 1);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	assert_int_equal(h.src_cid, 9);
	vsock_conn_info(e.r.conn, &info);
	assert_int_equal(info.local_cid, 9);
	env_close(&e);
}

/* Round-robin: a ping queued behind 8 MiB of bulk leaves in the first poll. */
static void
test_round_robin_serves_small_behind_bulk(void **state)
{
	struct vsock_stack_conf conf = { .sndbuf = 16u << 20,
		.sndbuf_pkts = 4096, .port_tx_bytes = 64u << 20 };
	static uint8_t chunk[16384];
	struct vsock_conn *bulk, *ping;
	struct vsock_hdr h;
	struct rec r2;
	struct env e;
	int i, pos = -1, len, k = 0;

	(void)state;
	env_open(&e, &conf, 0);
	bulk = accept_one(&e, VSOCK_TYPE_STREAM, UINT32_MAX, &rec_ops);
	rec_init(&r2);
	assert_int_equal(vsock_listen(e.s, LPORT + 1, VSOCK_TYPE_STREAM,
			&rec_ops, &r2), 0);
	h = h_hdr(e.fp, RPORT + 1, LPORT + 1, VSOCK_TYPE_STREAM,
		VSOCK_OP_REQUEST);
	h.buf_alloc = 65536;
	fport_inject(e.fp, &h, NULL, 0);
	h_poll(e.s, 1);
	fport_drop_all(e.fp);
	ping = r2.conn;
	for (i = 0; i < 512; i++)
		assert_int_equal(vsock_send_buf(bulk, chunk, sizeof(chunk)), 0);
	assert_int_equal(vsock_send_buf(ping, "p", 1), 0);
	h_poll(e.s, 1);
	while ((len = fport_take(e.fp, &h, NULL, 0)) >= 0) {
		if (h.dst_port == RPORT + 1 && h.op == VSOCK_OP_RW)
			pos = k;
		k++;
	}
	assert_true(pos >= 0);
	assert_true(pos <= 16);	/* behind one budget of bulk at most */
	rec_fini(&r2);
	env_close(&e);
}

/* A port with a full tx ring gets no more data, control packets still. */
static void
test_port_byte_bound_holds_data_not_control(void **state)
{
	struct vsock_stack_conf conf = { .port_tx_bytes = 1u << 20 };
	struct vsock_conn *c;
	struct vsock_hdr h;
	uint32_t pkts;
	uint16_t op;
	struct env e;

	(void)state;
	env_open(&e, &conf, 0);
	c = accept_one(&e, VSOCK_TYPE_STREAM, 65536, &rec_ops);
	e.fp->inflight = 1u << 20;
	assert_int_equal(vsock_send_buf(c, "held", 4), 0);
	inject_op(&e, VSOCK_TYPE_STREAM, VSOCK_OP_CREDIT_REQUEST, 0, 0, 65536,
		NULL, 0);
	h_poll(e.s, 3);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), -1);
	/* The device caught up: the data goes. */
	e.fp->inflight = 0;
	h_poll(e.s, 1);
	assert_int_equal(take_rw(&e, (const uint8_t *)"held", &pkts, &op), 4);
	env_close(&e);
}

static int
refuse_odd_ports(uint32_t local_port, uint64_t remote_cid,
		uint32_t remote_port, void *ctx)
{
	(void)remote_cid;
	(void)remote_port;
	(void)ctx;
	return (local_port & 1) ? -ECONNREFUSED : 0;
}

/* A bridge's listener: every port, each REQUEST vetted before RESPONSE. */
static void
test_all_ports_listener_with_request_hook(void **state)
{
	struct vsock_ops ops = rec_ops;
	struct vsock_listen_conf lc = { .port = VSOCK_PORT_ANY,
		.type = VSOCK_TYPE_STREAM, .all_ports = true };
	struct vsock_conn_info info;
	struct vsock_hdr h;
	struct env e;

	(void)state;
	ops.on_request = refuse_odd_ports;
	env_open(&e, NULL, 0);
	assert_int_equal(vsock_listen(e.s, 80, VSOCK_TYPE_STREAM, &rec_ops,
			&e.r), 0);
	assert_int_equal(vsock_listen_ex(e.s, &lc, &ops, &e.r, NULL), 0);
	assert_int_equal(vsock_listen_ex(e.s, &lc, &ops, &e.r, NULL),
		-EADDRINUSE);
	h = h_hdr(e.fp, RPORT, 4000, VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST);
	fport_inject(e.fp, &h, NULL, 0);
	h = h_hdr(e.fp, RPORT, 4001, VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST);
	fport_inject(e.fp, &h, NULL, 0);
	h_poll(e.s, 1);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	assert_int_equal(h.src_port, 4000);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_RST);	/* vetoed: never answered */
	assert_int_equal(h.src_port, 4001);
	vsock_conn_info(e.r.conn, &info);
	assert_int_equal(info.local_port, 4000);
	/* A port with its own listener is still its own. */
	h = h_hdr(e.fp, RPORT, 80, VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST);
	fport_inject(e.fp, &h, NULL, 0);
	h_poll(e.s, 1);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	assert_int_equal(e.r.accepts, 2);
	assert_int_equal(vsock_unlisten(e.s, VSOCK_PORT_ANY), 0);
	h = h_hdr(e.fp, RPORT, 4002, VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST);
	fport_inject(e.fp, &h, NULL, 0);
	h_poll(e.s, 1);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_RST);
	env_close(&e);
}

static void
test_abort_sends_rst_and_drops_queue(void **state)
{
	struct vsock_stack_stats st;
	struct vsock_conn *c;
	struct vsock_hdr h;
	struct env e;

	(void)state;
	env_open(&e, NULL, 0);
	c = accept_one(&e, VSOCK_TYPE_STREAM, 4, &rec_ops);
	assert_int_equal(vsock_send_buf(c, "0123456789", 10), 0);
	vsock_abort(c);
	h_poll(e.s, 2);
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_RST);	/* no data, no SHUTDOWN */
	assert_int_equal(fport_take(e.fp, &h, NULL, 0), -1);
	vsock_stack_stats_get(e.s, &st);
	assert_int_equal(st.conns_open, 0);
	assert_int_equal(e.r.resets, 0);
	env_close(&e);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sender_stays_within_peer_credit),
		cmocka_unit_test(test_credit_update_as_application_consumes),
		cmocka_unit_test(test_overrunning_peer_is_reset_others_untouched),
		cmocka_unit_test(test_connect_timeout),
		cmocka_unit_test(test_close_timeout_forces_rst),
		cmocka_unit_test(test_half_close_both_ways),
		cmocka_unit_test(test_credit_request_when_window_stays_shut),
		cmocka_unit_test(test_absurd_peer_buf_alloc_is_clamped),
		cmocka_unit_test(test_buf_size_clamped_and_advertised),
		cmocka_unit_test(test_packets_in_flight_bounded),
		cmocka_unit_test(test_small_stream_sends_coalesced),
		cmocka_unit_test(test_seqpacket_recv_reassembles_and_truncates),
		cmocka_unit_test(test_stream_recv_and_end_of_stream),
		cmocka_unit_test(test_ephemeral_ports_exhaust_cleanly),
		cmocka_unit_test(test_types_and_addresses_refused),
		cmocka_unit_test(test_backlog_full_gets_rst),
		cmocka_unit_test(test_bad_packets_counted_and_dropped),
		cmocka_unit_test(test_transport_reset_keeps_listeners),
		cmocka_unit_test(test_round_robin_serves_small_behind_bulk),
		cmocka_unit_test(test_port_byte_bound_holds_data_not_control),
		cmocka_unit_test(test_all_ports_listener_with_request_hook),
		cmocka_unit_test(test_abort_sends_rst_and_drops_queue),
	};

	(void)argc;
	h_eal_init(argv[0], false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
