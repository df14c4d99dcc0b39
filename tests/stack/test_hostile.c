/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A hostile peer, packet by packet: each bad header field against one
 * connection while a second one runs beside it. Each case must be
 * counted, must drop or reset (never deliver a byte it cannot vouch
 * for), and must leave the other connection as it was. The same faults
 * from a hostile device, with traffic, are in tests/pytest/test_hostile.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rte_mbuf.h>

#include "harness.h"

#define LPORT 1234
#define RPORT_BAD 7777		/* the connection the bad packet names */
#define RPORT_GOOD 7778		/* the one beside it */
#define SENT 100		/* bytes we send the peer first */
#define ACKED 60		/* of which the peer says it consumed */

struct hcase {
	const char *name;
	void (*bad)(struct vsock_hdr *h);
	size_t counter;		/* offsetof() the stats field that counts it */
	bool reset;		/* the named connection is reset */
	bool delivers;		/* its payload is good and reaches the app */
	uint64_t rst_to;	/* CID an RST goes to; 0 for none */
};

static void bad_len(struct vsock_hdr *h) { h->len++; }
static void bad_op(struct vsock_hdr *h) { h->op = 42; }
static void bad_type(struct vsock_hdr *h) { h->type = 7; }
static void bad_rw_flags(struct vsock_hdr *h) { h->flags = 0x100; }
static void fwd_back(struct vsock_hdr *h) { h->fwd_cnt = ACKED - 1; }
static void fwd_ahead(struct vsock_hdr *h) { h->fwd_cnt = SENT + 1; }
static void dst_cid(struct vsock_hdr *h) { h->dst_cid = 99; }
static void src_local(struct vsock_hdr *h) { h->src_cid = VSOCK_CID_LOCAL; }
static void src_any(struct vsock_hdr *h) { h->src_cid = VSOCK_CID_ANY; }
static void src_high(struct vsock_hdr *h) { h->src_cid |= 1ULL << 32; }
static void src_spoof(struct vsock_hdr *h) { h->src_cid = 5; }
static void buf_huge(struct vsock_hdr *h) { h->buf_alloc = UINT32_MAX; }
static void buf_zero(struct vsock_hdr *h) { h->buf_alloc = 0; }

static void
bad_shut_flags(struct vsock_hdr *h)
{
	h->op = VSOCK_OP_SHUTDOWN;
	h->flags = VSOCK_SHUTDOWN_SEND | 0x10;
}

#define CNT(f) offsetof(struct vsock_stack_stats, f)

static const struct hcase cases[] = {
	{ "len over the payload", bad_len, CNT(drop_bad_hdr), true, false,
		VSOCK_CID_HOST },
	{ "unknown op", bad_op, CNT(drop_bad_op), true, false,
		VSOCK_CID_HOST },
	{ "unknown type", bad_type, CNT(drop_bad_type), true, false,
		VSOCK_CID_HOST },
	{ "RW reserved flags", bad_rw_flags, CNT(drop_bad_flags), true, false,
		VSOCK_CID_HOST },
	{ "SHUTDOWN reserved flags", bad_shut_flags, CNT(drop_bad_flags),
		true, false, VSOCK_CID_HOST },
	{ "fwd_cnt backwards", fwd_back, CNT(drop_bad_credit), true, false,
		VSOCK_CID_HOST },
	{ "fwd_cnt beyond sent", fwd_ahead, CNT(drop_bad_credit), true, false,
		VSOCK_CID_HOST },
	{ "dst_cid not ours", dst_cid, CNT(drop_wrong_cid), false, false, 0 },
	{ "src_cid 1 on a device", src_local, CNT(drop_bad_src_cid), false,
		false, 0 },
	{ "src_cid ANY", src_any, CNT(drop_bad_src_cid), false, false, 0 },
	{ "src_cid upper half", src_high, CNT(drop_bad_src_cid), false, false,
		0 },
	{ "src_cid not the peer", src_spoof, CNT(drop_no_conn), false, false,
		5 },
	{ "buf_alloc 4 GiB", buf_huge, CNT(peer_buf_clamped), false, true, 0 },
	{ "buf_alloc 0", buf_zero, CNT(peer_credit_shrunk), false, true, 0 },
};

struct env {
	struct fport *fp;
	struct vsock_stack *s;
	struct rec r;
	struct vsock_conn *bad;
	struct vsock_conn *good;
};

/* The peer, CID 2, connects from @rport; returns our end. */
static struct vsock_conn *
accept_from(struct env *e, uint32_t rport)
{
	struct vsock_hdr h = h_hdr(e->fp, rport, LPORT, VSOCK_TYPE_STREAM,
			VSOCK_OP_REQUEST);

	fport_inject(e->fp, &h, NULL, 0);
	h_poll(e->s, 1);
	assert_int_equal(fport_take(e->fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	return e->r.conn;
}

/* Two connections; we sent SENT bytes on the first, ACKED consumed. */
static void
env_open(struct env *e)
{
	static const uint8_t out[SENT];
	struct vsock_hdr h;

	e->fp = fport_new(3, VSOCK_PORT_F_STREAM | VSOCK_PORT_F_SEQPACKET);
	e->s = h_stack(NULL);
	rec_init(&e->r);
	assert_int_equal(vsock_stack_attach(e->s, &e->fp->port), 0);
	assert_int_equal(vsock_listen(e->s, LPORT, VSOCK_TYPE_STREAM,
			&rec_ops, &e->r), 0);
	e->bad = accept_from(e, RPORT_BAD);
	e->good = accept_from(e, RPORT_GOOD);
	assert_int_equal(vsock_send_buf(e->bad, out, SENT), 0);
	h_poll(e->s, 1);
	assert_int_equal(fport_take(e->fp, &h, NULL, 0), SENT);
	h = h_hdr(e->fp, RPORT_BAD, LPORT, VSOCK_TYPE_STREAM,
		VSOCK_OP_CREDIT_UPDATE);
	h.fwd_cnt = ACKED;
	fport_inject(e->fp, &h, NULL, 0);
	h_poll(e->s, 1);
	fport_drop_all(e->fp);
}

static void
env_close(struct env *e)
{
	fport_drop_all(e->fp);
	vsock_stack_destroy(e->s);
	fport_free(e->fp);
	rec_fini(&e->r);
}

static uint64_t
stat_of(const struct vsock_stack_stats *st, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)st + off, sizeof(v));
	return v;
}

static void
run_case(const struct hcase *c)
{
	struct vsock_stack_stats before, after;
	struct vsock_hdr h;
	bool rst_seen = false;
	struct env e;

	memset(&e, 0, sizeof(e));
	env_open(&e);
	vsock_stack_stats_get(e.s, &before);
	h = h_hdr(e.fp, RPORT_BAD, LPORT, VSOCK_TYPE_STREAM, VSOCK_OP_RW);
	h.fwd_cnt = ACKED;
	h.len = 10;
	c->bad(&h);
	fport_inject(e.fp, &h, "0123456789", 10);
	h_poll(e.s, 2);
	vsock_stack_stats_get(e.s, &after);
	print_message("  %s\n", c->name);
	assert_int_equal(stat_of(&after, c->counter) -
			stat_of(&before, c->counter), 1);
	assert_int_equal(e.r.resets, c->reset ? 1 : 0);
	if (c->reset)
		assert_int_equal(e.r.reset_why, VSOCK_RESET_PROTOCOL);
	assert_int_equal(after.conns_open, c->reset ? 1 : 2);
	assert_int_equal(e.r.data_len, c->delivers ? 10 : 0);
	while (fport_take(e.fp, &h, NULL, 0) >= 0) {
		/* Only an RST may leave, and only to whom the case says. */
		if (h.op == VSOCK_OP_CREDIT_UPDATE && c->delivers)
			continue;
		assert_int_equal(h.op, VSOCK_OP_RST);
		assert_true(h.dst_cid == c->rst_to && !rst_seen);
		rst_seen = true;
	}
	assert_true(rst_seen == (c->rst_to != 0));
	/* The connection beside it is untouched and still carries data. */
	h = h_hdr(e.fp, RPORT_GOOD, LPORT, VSOCK_TYPE_STREAM, VSOCK_OP_RW);
	h.len = 5;
	fport_inject(e.fp, &h, "hello", 5);
	h_poll(e.s, 1);
	assert_int_equal(e.r.data_len, (c->delivers ? 10 : 0) + 5);
	assert_memory_equal(e.r.data + e.r.data_len - 5, "hello", 5);
	env_close(&e);
}

static void
test_each_bad_field_counted_and_contained(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* No window left: nothing more is sent until the peer reopens it. */
static void
test_zero_window_holds_sends(void **state)
{
	static const uint8_t out[1000];
	struct vsock_hdr h;
	struct env e;
	int len;

	(void)state;
	memset(&e, 0, sizeof(e));
	env_open(&e);
	h = h_hdr(e.fp, RPORT_BAD, LPORT, VSOCK_TYPE_STREAM,
		VSOCK_OP_CREDIT_UPDATE);
	h.fwd_cnt = ACKED;
	h.buf_alloc = 0;
	fport_inject(e.fp, &h, NULL, 0);
	h_poll(e.s, 1);
	assert_int_equal(vsock_send_buf(e.bad, out, sizeof(out)), 0);
	h_poll(e.s, 2);
	while ((len = fport_take(e.fp, &h, NULL, 0)) >= 0)
		assert_true(h.op != VSOCK_OP_RW);
	h = h_hdr(e.fp, RPORT_BAD, LPORT, VSOCK_TYPE_STREAM,
		VSOCK_OP_CREDIT_UPDATE);
	h.fwd_cnt = SENT;
	fport_inject(e.fp, &h, NULL, 0);
	h_poll(e.s, 2);
	len = fport_take(e.fp, &h, NULL, 0);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_true(len > 0);
	env_close(&e);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_bad_field_counted_and_contained),
		cmocka_unit_test(test_zero_window_holds_sends),
	};

	(void)argc;
	h_eal_init(argv[0], false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
