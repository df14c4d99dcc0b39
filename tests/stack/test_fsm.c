/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Every (state, op) pair of the receive state machine, from a table: put
 * a connection (or none, or a listener) in the state, feed it one packet,
 * check the reply on the wire and the state afterwards.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <rte_mbuf.h>

#include "harness.h"

#define LPORT_LISTEN 1234
#define RPORT 5555
#define OP_UNKNOWN 99
#define NO_REPLY 0xffff

enum st { ST_NONE, ST_LISTEN, ST_CONNECTING, ST_ESTABLISHED, ST_CLOSING };

/* What is left afterwards. */
enum after { GONE, SAME, EST };

struct row {
	enum st st;
	uint16_t op;
	uint16_t reply;		/* op we answer with, NO_REPLY for silence */
	enum after after;
};

static const struct row rows[] = {
	{ ST_NONE, VSOCK_OP_INVALID, VSOCK_OP_RST, GONE },
	{ ST_NONE, VSOCK_OP_REQUEST, VSOCK_OP_RST, GONE },
	{ ST_NONE, VSOCK_OP_RESPONSE, VSOCK_OP_RST, GONE },
	{ ST_NONE, VSOCK_OP_RST, NO_REPLY, GONE },
	{ ST_NONE, VSOCK_OP_SHUTDOWN, VSOCK_OP_RST, GONE },
	{ ST_NONE, VSOCK_OP_RW, VSOCK_OP_RST, GONE },
	{ ST_NONE, VSOCK_OP_CREDIT_UPDATE, VSOCK_OP_RST, GONE },
	{ ST_NONE, VSOCK_OP_CREDIT_REQUEST, VSOCK_OP_RST, GONE },
	{ ST_NONE, OP_UNKNOWN, VSOCK_OP_RST, GONE },

	{ ST_LISTEN, VSOCK_OP_INVALID, VSOCK_OP_RST, GONE },
	{ ST_LISTEN, VSOCK_OP_REQUEST, VSOCK_OP_RESPONSE, EST },
	{ ST_LISTEN, VSOCK_OP_RESPONSE, VSOCK_OP_RST, GONE },
	{ ST_LISTEN, VSOCK_OP_RST, NO_REPLY, GONE },
	{ ST_LISTEN, VSOCK_OP_SHUTDOWN, VSOCK_OP_RST, GONE },
	{ ST_LISTEN, VSOCK_OP_RW, VSOCK_OP_RST, GONE },
	{ ST_LISTEN, VSOCK_OP_CREDIT_UPDATE, VSOCK_OP_RST, GONE },
	{ ST_LISTEN, VSOCK_OP_CREDIT_REQUEST, VSOCK_OP_RST, GONE },
	{ ST_LISTEN, OP_UNKNOWN, VSOCK_OP_RST, GONE },

	{ ST_CONNECTING, VSOCK_OP_INVALID, VSOCK_OP_RST, GONE },
	{ ST_CONNECTING, VSOCK_OP_REQUEST, VSOCK_OP_RST, GONE },
	{ ST_CONNECTING, VSOCK_OP_RESPONSE, NO_REPLY, EST },
	{ ST_CONNECTING, VSOCK_OP_RST, NO_REPLY, GONE },
	{ ST_CONNECTING, VSOCK_OP_SHUTDOWN, VSOCK_OP_RST, GONE },
	{ ST_CONNECTING, VSOCK_OP_RW, VSOCK_OP_RST, GONE },
	{ ST_CONNECTING, VSOCK_OP_CREDIT_UPDATE, VSOCK_OP_RST, GONE },
	{ ST_CONNECTING, VSOCK_OP_CREDIT_REQUEST, VSOCK_OP_RST, GONE },
	{ ST_CONNECTING, OP_UNKNOWN, VSOCK_OP_RST, GONE },

	{ ST_ESTABLISHED, VSOCK_OP_INVALID, VSOCK_OP_RST, GONE },
	{ ST_ESTABLISHED, VSOCK_OP_REQUEST, VSOCK_OP_RST, GONE },
	{ ST_ESTABLISHED, VSOCK_OP_RESPONSE, VSOCK_OP_RST, GONE },
	{ ST_ESTABLISHED, VSOCK_OP_RST, NO_REPLY, GONE },
	{ ST_ESTABLISHED, VSOCK_OP_SHUTDOWN, NO_REPLY, SAME },
	{ ST_ESTABLISHED, VSOCK_OP_RW, NO_REPLY, SAME },
	{ ST_ESTABLISHED, VSOCK_OP_CREDIT_UPDATE, NO_REPLY, SAME },
	{ ST_ESTABLISHED, VSOCK_OP_CREDIT_REQUEST, VSOCK_OP_CREDIT_UPDATE,
		SAME },
	{ ST_ESTABLISHED, OP_UNKNOWN, VSOCK_OP_RST, GONE },

	{ ST_CLOSING, VSOCK_OP_INVALID, NO_REPLY, SAME },
	{ ST_CLOSING, VSOCK_OP_REQUEST, NO_REPLY, SAME },
	{ ST_CLOSING, VSOCK_OP_RESPONSE, NO_REPLY, SAME },
	{ ST_CLOSING, VSOCK_OP_RST, NO_REPLY, GONE },
	{ ST_CLOSING, VSOCK_OP_SHUTDOWN, VSOCK_OP_RST, GONE },
	{ ST_CLOSING, VSOCK_OP_RW, NO_REPLY, SAME },
	{ ST_CLOSING, VSOCK_OP_CREDIT_UPDATE, NO_REPLY, SAME },
	{ ST_CLOSING, VSOCK_OP_CREDIT_REQUEST, VSOCK_OP_CREDIT_UPDATE, SAME },
	{ ST_CLOSING, OP_UNKNOWN, NO_REPLY, SAME },
};

static const char *const st_names[] = {
	"NONE", "LISTEN", "CONNECTING", "ESTABLISHED", "CLOSING",
};

/* Bring a fresh stack to @st; returns the local port packets go to. */
static uint32_t
reach(struct vsock_stack *s, struct fport *fp, struct rec *r, enum st st)
{
	struct vsock_conn *c;
	struct vsock_hdr h;
	uint32_t lport;

	if (st == ST_NONE)
		return LPORT_LISTEN;
	if (st == ST_LISTEN) {
		assert_int_equal(vsock_listen(s, LPORT_LISTEN,
				VSOCK_TYPE_STREAM, &rec_ops, r), 0);
		return LPORT_LISTEN;
	}
	assert_int_equal(vsock_connect(s, VSOCK_CID_HOST, RPORT,
			VSOCK_TYPE_STREAM, &rec_ops, r, &c), 0);
	h_poll(s, 1);
	assert_int_equal(fport_take(fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_REQUEST);
	lport = h.src_port;
	if (st == ST_CONNECTING)
		return lport;
	h = h_hdr(fp, RPORT, lport, VSOCK_TYPE_STREAM,
			VSOCK_OP_RESPONSE);
	fport_inject(fp, &h, NULL, 0);
	h_poll(s, 1);
	assert_int_equal(r->connects, 1);
	assert_int_equal(r->connect_err, 0);
	if (st == ST_CLOSING) {
		vsock_close(c);
		h_poll(s, 1);
		assert_int_equal(fport_take(fp, &h, NULL, 0), 0);
		assert_int_equal(h.op, VSOCK_OP_SHUTDOWN);
		assert_int_equal(h.flags, VSOCK_SHUTDOWN_BOTH);
	}
	return lport;
}

static void
run_row(const struct row *row)
{
	struct fport *fp = fport_new(3, VSOCK_PORT_F_STREAM);
	struct vsock_stack *s = h_stack(NULL);
	struct vsock_stack_stats st;
	struct vsock_hdr h, out;
	uint8_t payload[10] = "0123456789";
	uint32_t lport, rport = RPORT;
	struct rec r;
	int len;

	rec_init(&r);
	assert_true(vsock_stack_attach(s, &fp->port) >= 0);
	lport = reach(s, fp, &r, row->st);
	h = h_hdr(fp, rport, lport, VSOCK_TYPE_STREAM, row->op);
	if (row->op == VSOCK_OP_SHUTDOWN)
		h.flags = VSOCK_SHUTDOWN_BOTH;
	h.len = row->op == VSOCK_OP_RW ? sizeof(payload) : 0;
	fport_inject(fp, &h, payload, h.len);
	h_poll(s, 1);

	len = fport_take(fp, &out, NULL, 0);
	if (row->reply == NO_REPLY) {
		if (len >= 0)
			fail_msg("%s + %s: unexpected %s", st_names[row->st],
				vsock_op_name(row->op),
				vsock_op_name(out.op));
	} else {
		if (len < 0)
			fail_msg("%s + %s: no reply, expected %s",
				st_names[row->st], vsock_op_name(row->op),
				vsock_op_name(row->reply));
		if (out.op != row->reply)
			fail_msg("%s + %s: replied %s, expected %s",
				st_names[row->st], vsock_op_name(row->op),
				vsock_op_name(out.op),
				vsock_op_name(row->reply));
		/* Replies go back to the sender, from the address it used. */
		assert_int_equal(out.dst_cid, VSOCK_CID_HOST);
		assert_int_equal(out.dst_port, rport);
		assert_int_equal(out.src_cid, 3);
		assert_int_equal(out.src_port, lport);
	}
	vsock_stack_stats_get(s, &st);
	switch (row->after) {
	case GONE:
		assert_int_equal(st.conns_open, 0);
		break;
	case EST:
		assert_int_equal(st.conns_open, 1);
		assert_non_null(r.conn);
		break;
	case SAME:
		assert_int_equal(st.conns_open,
			row->st >= ST_CONNECTING ? 1 : 0);
		break;
	}
	/* What the application heard. */
	if (row->st == ST_ESTABLISHED && row->op == VSOCK_OP_RW) {
		assert_int_equal(r.data_len, sizeof(payload));
		assert_memory_equal(r.data, payload, sizeof(payload));
	}
	if (row->st == ST_ESTABLISHED && row->op == VSOCK_OP_SHUTDOWN) {
		assert_int_equal(r.shutdowns, 1);
		assert_int_equal(r.shut_how, VSOCK_SHUTDOWN_BOTH);
	}
	if (row->st == ST_ESTABLISHED && row->after == GONE) {
		assert_int_equal(r.resets, 1);
		assert_int_equal(r.reset_why, row->op == VSOCK_OP_RST ?
			VSOCK_RESET_PEER : VSOCK_RESET_PROTOCOL);
	}
	if (row->st == ST_CONNECTING && row->after == GONE)
		assert_int_equal(r.connect_err, -ECONNRESET);
	if (row->st == ST_CLOSING)	/* the application closed: silence */
		assert_int_equal(r.resets, 0);
	if (row->st == ST_LISTEN && row->op == VSOCK_OP_REQUEST)
		assert_int_equal(r.accepts, 1);
	fport_drop_all(fp);	/* mbufs from the stack's pools go first */
	vsock_stack_destroy(s);
	fport_free(fp);
	rec_fini(&r);
}

static void
test_every_state_and_op(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		run_row(&rows[i]);
}

/* The table above covers every state and every op once. */
static void
test_table_is_complete(void **state)
{
	int seen[5][VSOCK_OP_MAX + 1] = { { 0 } };
	size_t i;
	int st, op;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		seen[rows[i].st][rows[i].op < VSOCK_OP_MAX ? rows[i].op :
			VSOCK_OP_MAX]++;
	for (st = 0; st < 5; st++)
		for (op = 0; op <= VSOCK_OP_MAX; op++)
			assert_int_equal(seen[st][op], 1);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_is_complete),
		cmocka_unit_test(test_every_state_and_op),
	};

	(void)argc;
	h_eal_init(argv[0], false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
