/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The stack over the real driver and loopback device, and over CID 1 with
 * no device: SEQPACKET boundaries, TRANSPORT_RESET from the event queue,
 * isolated instances with the same CID, and fairness between a bulk sender
 * and a ping-pong connection.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rte_mbuf.h>

#include <virtio_vsock_dev.h>

#include "harness.h"

#define PORT 1234

static struct virtio_vsock_dev *
dev_open(const char *spec)
{
	struct virtio_vsock_conf conf = { .rx_pool = h_pool(),
		.socket_id = SOCKET_ID_ANY };
	char err[256];
	struct virtio_vsock_dev *d = virtio_vsock_open(spec, &conf, err,
			sizeof(err));

	if (d == NULL)
		fail_msg("open %s: %s", spec, err);
	return d;
}

/* A message of @len bytes whose content depends on @seed. */
static struct rte_mbuf *
msg_build(uint32_t len, uint8_t seed)
{
	struct rte_mbuf *head = rte_pktmbuf_alloc(h_pool());
	uint32_t done = 0;

	assert_non_null(head);
	while (done < len) {
		struct rte_mbuf *m = done == 0 ? head :
			rte_pktmbuf_alloc(h_pool());
		uint16_t n = (uint16_t)RTE_MIN(len - done, 16384u);
		uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, n);
		uint16_t i;

		for (i = 0; i < n; i++)
			p[i] = (uint8_t)(seed + (done + i) * 131 +
				((done + i) >> 9));
		if (m != head)
			assert_int_equal(rte_pktmbuf_chain(head, m), 0);
		done += n;
	}
	return head;
}

static void
msg_check(const uint8_t *p, uint32_t len, uint8_t seed)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		if (p[i] != (uint8_t)(seed + i * 131 + (i >> 9)))
			fail_msg("byte %u of %u differs", i, len);
}

/* Client and server in one stack meet at @cid; returns both ends. */
static void
pair(struct vsock_stack *s, uint64_t cid, enum vsock_type type,
		struct rec *cli, struct rec *srv, const struct vsock_ops *sops)
{
	struct vsock_conn *c;

	assert_int_equal(vsock_listen(s, PORT, type, sops, srv), 0);
	assert_int_equal(vsock_connect(s, cid, PORT, type, &rec_ops, cli, &c),
		0);
	H_UNTIL(cli->connects != 0 && srv->accepts != 0, vsock_stack_poll(s));
	assert_int_equal(cli->connect_err, 0);
	assert_non_null(cli->conn);
	assert_non_null(srv->conn);
}

static void
seqpacket_sizes(struct vsock_stack *s, uint64_t cid)
{
	static const uint32_t sizes[] = { 0, 1, 4095, 4096, 65536, 65537,
		262144 };
	static uint8_t buf[262144 + 1];
	struct rec cli, srv;
	size_t k;

	rec_init(&cli);
	rec_init(&srv);
	pair(s, cid, VSOCK_TYPE_SEQPACKET, &cli, &srv, &rec_ops_recv);
	for (k = 0; k < RTE_DIM(sizes); k++) {
		uint32_t flags = 0;
		int got = -EAGAIN;

		assert_int_equal(vsock_send(cli.conn, msg_build(sizes[k],
				(uint8_t)k), 0), 0);
		H_UNTIL(got != -EAGAIN, {
			vsock_stack_poll(s);
			got = vsock_recv(srv.conn, buf, sizeof(buf), &flags);
		});
		if (got != (int)sizes[k])
			fail_msg("message of %u bytes arrived as %d",
				sizes[k], got);
		assert_true(flags & VSOCK_SEQ_EOM);
		assert_false(flags & VSOCK_MSG_TRUNC);
		msg_check(buf, sizes[k], (uint8_t)k);
	}
	/* Nothing more: every boundary was where it was sent. */
	assert_int_equal(vsock_recv(srv.conn, buf, sizeof(buf), NULL),
		-EAGAIN);
	vsock_close(cli.conn);
	vsock_close(srv.conn);
	h_poll(s, 100);
	rec_fini(&cli);
	rec_fini(&srv);
}

static void
test_seqpacket_boundaries_over_loopback_device(void **state)
{
	struct virtio_vsock_dev *d = dev_open("loopback:cid=3");
	struct vsock_stack *s = h_stack(NULL);

	(void)state;
	assert_int_equal(vsock_stack_attach(s, virtio_vsock_port(d)), 0);
	seqpacket_sizes(s, 3);
	virtio_vsock_close(d);
	vsock_stack_destroy(s);
}

static void
test_seqpacket_boundaries_over_cid1(void **state)
{
	struct vsock_stack *s = h_stack(NULL);
	struct vsock_stack_stats st;

	(void)state;
	seqpacket_sizes(s, VSOCK_CID_LOCAL);
	vsock_stack_stats_get(s, &st);
	assert_true(st.local_pkts > 10);
	vsock_stack_destroy(s);
}

static void
test_transport_reset_from_device(void **state)
{
	struct virtio_vsock_dev *d = dev_open("loopback:cid=5");
	struct vsock_stack *s = h_stack(NULL);
	struct vsock_conn_info info;
	struct vsock_conn *c;
	struct rec cli, srv, cli2;

	(void)state;
	rec_init(&cli);
	rec_init(&srv);
	rec_init(&cli2);
	assert_int_equal(vsock_stack_attach(s, virtio_vsock_port(d)), 0);
	pair(s, 5, VSOCK_TYPE_STREAM, &cli, &srv, &rec_ops);
	assert_int_equal(virtio_vsock_inject_event(d,
			VSOCK_PORT_EVENT_TRANSPORT_RESET, 6), 0);
	H_UNTIL(cli.resets != 0 && srv.resets != 0, vsock_stack_poll(s));
	assert_int_equal(cli.reset_why, VSOCK_RESET_TRANSPORT);
	assert_int_equal(srv.reset_why, VSOCK_RESET_TRANSPORT);
	assert_int_equal(vsock_stack_local_cid(s), 6);
	assert_int_equal(virtio_vsock_cid(d), 6);
	/* The listener survived: a new connection to the new CID works. */
	assert_int_equal(vsock_connect(s, 6, PORT, VSOCK_TYPE_STREAM,
			&rec_ops, &cli2, &c), 0);
	H_UNTIL(cli2.connects != 0, vsock_stack_poll(s));
	assert_int_equal(cli2.connect_err, 0);
	vsock_conn_info(c, &info);
	assert_int_equal(info.local_cid, 6);
	assert_int_equal(srv.accepts, 2);
	virtio_vsock_close(d);
	vsock_stack_destroy(s);
	rec_fini(&cli);
	rec_fini(&srv);
	rec_fini(&cli2);
}

static void
test_isolated_instances_share_a_cid(void **state)
{
	struct virtio_vsock_dev *d[2];
	struct vsock_stack *s[2];
	struct rec cli[2], srv[2];
	char spec[64];
	int k, i;

	(void)state;
	for (k = 0; k < 2; k++) {
		snprintf(spec, sizeof(spec), "loopback:cid=3,lcore=inline");
		d[k] = dev_open(spec);
		s[k] = h_stack(NULL);
		rec_init(&cli[k]);
		rec_init(&srv[k]);
		assert_int_equal(vsock_stack_attach(s[k],
				virtio_vsock_port(d[k])), 0);
		/* Same port, same CID: separate port spaces. */
		pair(s[k], 3, VSOCK_TYPE_STREAM, &cli[k], &srv[k], &rec_ops);
	}
	assert_int_equal(vsock_send_buf(cli[0].conn, "zero", 4), 0);
	assert_int_equal(vsock_send_buf(cli[1].conn, "one!", 4), 0);
	for (i = 0; i < 1000; i++) {
		vsock_stack_poll(s[0]);
		vsock_stack_poll(s[1]);
	}
	assert_int_equal(srv[0].data_len, 4);
	assert_memory_equal(srv[0].data, "zero", 4);
	assert_int_equal(srv[1].data_len, 4);
	assert_memory_equal(srv[1].data, "one!", 4);
	for (k = 0; k < 2; k++) {
		virtio_vsock_close(d[k]);
		vsock_stack_destroy(s[k]);
		rec_fini(&cli[k]);
		rec_fini(&srv[k]);
	}
}

/* ---- fairness ---- */

static uint64_t bulk_rx;	/* bytes the bulk sink received */

static void
sink_data(struct vsock_conn *c, struct rte_mbuf *m, void *ctx)
{
	RTE_SET_USED(ctx);
	bulk_rx += m->pkt_len;
	vsock_consumed(c, m->pkt_len);
	rte_pktmbuf_free(m);
}

static void
sink_accept(struct vsock_conn *c, void *ctx)
{
	((struct rec *)ctx)->conn = c;
}

static const struct vsock_ops sink_ops = {
	.on_accept = sink_accept,
	.on_data = sink_data,
};

static void
echo_data(struct vsock_conn *c, struct rte_mbuf *m, void *ctx)
{
	uint32_t len = m->pkt_len;

	RTE_SET_USED(ctx);
	if (vsock_send(c, m, 0) != 0)
		rte_pktmbuf_free(m);
	vsock_consumed(c, len);
}

static const struct vsock_ops echo_ops = {
	.on_accept = sink_accept,
	.on_data = echo_data,
};

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Queue 64 KiB messages (content irrelevant) until the stack says stop. */
static void
bulk_fill(struct vsock_conn *c)
{
	for (;;) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(h_pool());
		int k;

		if (m == NULL)
			return;
		rte_pktmbuf_append(m, 16384);
		for (k = 1; k < 4; k++) {
			struct rte_mbuf *seg = rte_pktmbuf_alloc(h_pool());

			if (seg == NULL)
				break;
			rte_pktmbuf_append(seg, 16384);
			rte_pktmbuf_chain(m, seg);
		}
		if (vsock_send(c, m, 0) != 0) {
			rte_pktmbuf_free(m);
			return;
		}
	}
}

/*
 * A bulk connection keeps the device saturated with 64 KiB messages while
 * a second connection plays ping-pong. Every round trip must complete,
 * and the bulk bytes delivered during one round trip (how long the ping
 * waited, whatever the machine's speed) stay within what the queues in
 * its way can hold: one poll's round-robin budget, the port's byte bound
 * on the tx ring, and the rx ring. Without round-robin the ping would
 * wait behind the bulk connection's whole send buffer too.
 */
static void
test_pingpong_not_starved_by_bulk(void **state)
{
	/* A window and send buffer far beyond the bound being tested. */
	struct vsock_stack_conf conf = { .buf_alloc = 32u << 20,
		.sndbuf = 64u << 20, .sndbuf_pkts = 4096 };
	struct virtio_vsock_dev *d = dev_open("loopback:cid=3,queue_size=256");
	struct vsock_stack *s = h_stack(&conf);
	const uint64_t bound = 16ull * 65536 + (1u << 20) + 256ull * 16384;
	struct rec bcli, bsrv, pcli, psrv;
	uint64_t samples[200], start;
	struct vsock_conn *c;
	unsigned int n = 0, i;

	(void)state;
	rec_init(&bcli);
	rec_init(&bsrv);
	rec_init(&pcli);
	rec_init(&psrv);
	assert_int_equal(vsock_stack_attach(s, virtio_vsock_port(d)), 0);
	assert_int_equal(vsock_listen(s, PORT, VSOCK_TYPE_STREAM, &sink_ops,
			&bsrv), 0);
	assert_int_equal(vsock_listen(s, PORT + 1, VSOCK_TYPE_STREAM,
			&echo_ops, &psrv), 0);
	assert_int_equal(vsock_connect(s, 3, PORT, VSOCK_TYPE_STREAM,
			&rec_ops, &bcli, &c), 0);
	assert_int_equal(vsock_connect(s, 3, PORT + 1, VSOCK_TYPE_STREAM,
			&rec_ops, &pcli, &c), 0);
	H_UNTIL(bcli.connects != 0 && pcli.connects != 0,
		vsock_stack_poll(s));
	assert_non_null(bcli.conn);
	assert_non_null(pcli.conn);
	bulk_rx = 0;
	for (i = 0; i < 2000; i++) {	/* every queue full first */
		bulk_fill(bcli.conn);
		vsock_stack_poll(s);
	}
	while (n < RTE_DIM(samples)) {
		uint32_t want = pcli.data_len + 1;

		assert_int_equal(vsock_send_buf(pcli.conn, "p", 1), 0);
		start = bulk_rx;
		H_UNTIL(pcli.data_len >= want, {
			bulk_fill(bcli.conn);
			vsock_stack_poll(s);
		});
		assert_int_equal(pcli.data_len, want);
		samples[n++] = bulk_rx - start;
	}
	qsort(samples, n, sizeof(samples[0]), cmp_u64);
	printf("bulk bytes per ping round trip: p50 %" PRIu64 " p99 %" PRIu64
		" max %" PRIu64 " (bound %" PRIu64 "), bulk total %" PRIu64
		"\n", samples[n / 2], samples[n * 99 / 100], samples[n - 1],
		bound, bulk_rx);
	assert_true(samples[n * 99 / 100] <= bound);
	/* The bulk connection kept moving all along: it was not starved. */
	assert_true(bulk_rx > 200ull * 65536);
	virtio_vsock_close(d);
	vsock_stack_destroy(s);
	rec_fini(&bcli);
	rec_fini(&bsrv);
	rec_fini(&pcli);
	rec_fini(&psrv);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seqpacket_boundaries_over_loopback_device),
		cmocka_unit_test(test_seqpacket_boundaries_over_cid1),
		cmocka_unit_test(test_transport_reset_from_device),
		cmocka_unit_test(test_isolated_instances_share_a_cid),
		cmocka_unit_test(test_pingpong_not_starved_by_bulk),
	};

	(void)argc;
	h_eal_init(argv[0], true);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
