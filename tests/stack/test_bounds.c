/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bounds under floods: a REQUEST flood far beyond the listener's backlog
 * and the device's appetite is answered, in full, with RSTs; the answers
 * are held back (the stack stops taking packets) rather than dropped, the
 * stack's memory stays within its pools, and an established connection
 * beside the flood keeps its data intact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <rte_mbuf.h>

#include "harness.h"

#define GOOD_PORT 99
#define FLOOD_PORT 1234
#define RPORT 7777
#define BACKLOG 64
#define FLOOD 12000u

static void
test_request_flood_answered_not_dropped(void **state)
{
	struct vsock_listen_conf lc = { .port = FLOOD_PORT,
		.type = VSOCK_TYPE_STREAM, .backlog = BACKLOG };
	struct vsock_stack_stats st;
	struct fport *fp = fport_new(3, VSOCK_PORT_F_STREAM);
	struct vsock_stack *s = h_stack(NULL);
	struct rec good, flood;
	struct vsock_hdr h;
	uint8_t data[100], got[100];
	unsigned int sent = 0, resp = 0, rst = 0, i, idle = 0;

	(void)state;
	rec_init(&good);
	rec_init(&flood);
	assert_int_equal(vsock_stack_attach(s, &fp->port), 0);
	assert_int_equal(vsock_listen(s, GOOD_PORT, VSOCK_TYPE_STREAM,
			&rec_ops, &good), 0);
	assert_int_equal(vsock_listen_ex(s, &lc, &rec_ops, &flood, NULL), 0);
	h = h_hdr(fp, RPORT, GOOD_PORT, VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST);
	fport_inject(fp, &h, NULL, 0);
	h_poll(s, 1);
	assert_int_equal(fport_take(fp, &h, NULL, 0), 0);
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);

	/* The flood, while nobody drains what the stack sends. */
	while (sent < FLOOD && idle < 50) {
		unsigned int before = sent;

		while (sent < FLOOD && fp->rx_n < FP_RX_MAX) {
			h = h_hdr(fp, RPORT + 1 + sent, FLOOD_PORT,
				VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST);
			fport_inject(fp, &h, NULL, 0);
			sent++;
		}
		h_poll(s, 40);
		idle = sent == before ? idle + 1 : 0;
	}
	vsock_stack_stats_get(s, &st);
	/* It pushed back: packets left in the ring, no answer dropped. */
	assert_true(st.rx_paused > 0);
	assert_int_equal(st.drop_nomem, 0);
	assert_true(st.conns_open <= BACKLOG + 1);
	assert_true(fp->rx_n > fp->rx_rd);

	/* The peer reads again: every REQUEST gets its answer. */
	for (idle = 0; idle < 3;) {
		while (fport_take(fp, &h, NULL, 0) >= 0) {
			resp += h.op == VSOCK_OP_RESPONSE;
			rst += h.op == VSOCK_OP_RST;
		}
		while (sent < FLOOD && fp->rx_n < FP_RX_MAX) {
			h = h_hdr(fp, RPORT + 1 + sent, FLOOD_PORT,
				VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST);
			fport_inject(fp, &h, NULL, 0);
			sent++;
		}
		h_poll(s, 8);
		idle = fport_pending(fp) == 0 && sent == FLOOD &&
			fp->rx_n == 0 ? idle + 1 : 0;
	}
	assert_int_equal(resp, BACKLOG);
	assert_int_equal(rst, FLOOD - BACKLOG);
	vsock_stack_stats_get(s, &st);
	assert_int_equal(st.drop_nomem, 0);
	assert_int_equal(st.rst_tx_by[VSOCK_RESET_BACKLOG], FLOOD - BACKLOG);
	assert_int_equal(st.conns_open, BACKLOG + 1);

	/* The good connection never noticed. */
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 3);
	h = h_hdr(fp, RPORT, GOOD_PORT, VSOCK_TYPE_STREAM, VSOCK_OP_RW);
	h.len = sizeof(data);
	fport_inject(fp, &h, data, sizeof(data));
	h_poll(s, 2);
	assert_int_equal(good.data_len, sizeof(data));
	memcpy(got, good.data, sizeof(got));
	assert_memory_equal(got, data, sizeof(data));
	assert_int_equal(good.resets, 0);

	fport_drop_all(fp);
	vsock_stack_destroy(s);
	fport_free(fp);
	rec_fini(&good);
	rec_fini(&flood);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_flood_answered_not_dropped),
	};

	(void)argc;
	h_eal_init(argv[0], false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
