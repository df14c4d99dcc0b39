/* SPDX-License-Identifier: BSD-3-Clause */
/* The scripted-peer environment of the stack tests (env.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <rte_mbuf.h>

#include "env.h"

void
env_open(struct env *e, const struct vsock_stack_conf *conf, uint32_t feat)
{
	e->fp = fport_new(3, feat != 0 ? feat : VSOCK_PORT_F_STREAM |
			VSOCK_PORT_F_SEQPACKET);
	e->s = h_stack(conf);
	rec_init(&e->r);
	assert_int_equal(vsock_stack_attach(e->s, &e->fp->port), 0);
}

void
env_close(struct env *e)
{
	/* What the stack sent may come from its pools: free that first. */
	fport_drop_all(e->fp);
	vsock_stack_destroy(e->s);
	fport_free(e->fp);
	rec_fini(&e->r);
}

struct vsock_conn *
accept_one(struct env *e, uint16_t type, uint32_t peer_buf,
		const struct vsock_ops *ops)
{
	struct vsock_hdr h;

	assert_int_equal(vsock_listen(e->s, LPORT, type, ops, &e->r), 0);
	h = h_hdr(e->fp, RPORT, LPORT, type, VSOCK_OP_REQUEST);
	h.buf_alloc = peer_buf;
	fport_inject(e->fp, &h, NULL, 0);
	h_poll(e->s, 1);
	assert_int_equal(fport_take(e->fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	assert_non_null(e->r.conn);
	return e->r.conn;
}

void
inject_op(struct env *e, uint16_t type, uint16_t op, uint32_t flags,
		uint32_t fwd_cnt, uint32_t buf, const void *data, uint32_t len)
{
	struct vsock_hdr h = h_hdr(e->fp, RPORT, LPORT, type, op);

	h.flags = flags;
	h.fwd_cnt = fwd_cnt;
	h.buf_alloc = buf;
	h.len = len;
	fport_inject(e->fp, &h, data, len);
}

uint32_t
take_rw(struct env *e, const uint8_t *want, uint32_t *pkts, uint16_t *last_op)
{
	static uint8_t buf[VSOCK_MAX_PKT_PAYLOAD];
	struct vsock_hdr h;
	uint32_t total = 0;
	int len;

	*pkts = 0;
	while ((len = fport_take(e->fp, &h, buf, sizeof(buf))) >= 0) {
		*last_op = h.op;
		if (h.op != VSOCK_OP_RW)
			continue;
		assert_true(h.len == (uint32_t)len);
		if (want != NULL)
			assert_memory_equal(buf, want + total, len);
		total += len;
		(*pkts)++;
	}
	return total;
}

struct rte_mbuf *
mbuf_of(const uint8_t *data, uint32_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(h_pool());

	assert_non_null(m);
	memcpy(rte_pktmbuf_append(m, len), data, len);
	return m;
}
