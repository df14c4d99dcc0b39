/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-testpmd: drive the vsock stack over a virtio-vsock device, the way
 * DPDK's testpmd drives a NIC. The poll loop and reports (options: opts.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include <virtio_vsock_dev.h>

#include "../common/app_eal.h"
#include "../common/app_opts.h"
#include "../common/app_pcap.h"
#include "testpmd.h"

#define TP_DRAIN_SECONDS 10.0
#define TP_RTT_SAMPLES (1u << 22)

static struct vsock_capture *tp_cap;

static double
tp_now(void)
{
	return (double)rte_get_timer_cycles() / (double)rte_get_timer_hz();
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
rtt_pct(const struct tp_stats *st, double pct)
{
	uint64_t idx;

	if (st->rtt_n == 0)
		return 0;
	idx = (uint64_t)(pct / 100.0 * (double)(st->rtt_n - 1) + 0.5);
	return (double)st->rtt_cycles[idx] * 1e6 / (double)rte_get_tsc_hz();
}

static void
progress(struct tp_ctx *t, double elapsed, uint64_t *last_bytes,
		double *last_t)
{
	FILE *f = t->o.json ? stderr : stdout;
	uint64_t bytes = t->st.client.bytes_rx + t->st.server.bytes_rx;
	double dt = elapsed - *last_t;

	fprintf(f, "[%6.1fs] conns %" PRIu64 "  rx %8.3f Gbit/s  "
		"msgs tx %" PRIu64 " rx %" PRIu64 "  errors %" PRIu64 "\n",
		elapsed, t->st.conns_open,
		dt > 0 ? (double)(bytes - *last_bytes) * 8 / dt / 1e9 : 0,
		t->st.client.msgs_tx + t->st.server.msgs_tx,
		t->st.client.msgs_rx + t->st.server.msgs_rx, t->st.errors);
	fflush(f);
	*last_bytes = bytes;
	*last_t = elapsed;
}

static void
report(struct tp_ctx *t, struct virtio_vsock_dev *dev, double seconds)
{
	struct vsock_stack_stats ss;
	struct virtio_vsock_stats ds;
	const struct tp_side *c = &t->st.client, *s = &t->st.server;
	uint64_t bytes_rx = c->bytes_rx + s->bytes_rx;
	uint64_t msgs_rx = c->msgs_rx + s->msgs_rx;
	double gbps = seconds > 0 ? (double)bytes_rx * 8 / seconds / 1e9 : 0;
	double mpps = seconds > 0 ? (double)msgs_rx / seconds / 1e6 : 0;

	vsock_stack_stats_get(t->stack, &ss);
	memset(&ds, 0, sizeof(ds));
	if (dev != NULL)
		virtio_vsock_stats_get(dev, &ds);
	if (t->st.rtt_n > 0)
		qsort(t->st.rtt_cycles, t->st.rtt_n, sizeof(uint64_t),
			cmp_u64);
	if (!t->o.json) {
		printf("%s %s over %s: %.2f s, %u conns, rx %.3f Gbit/s, "
			"%.4f M msg/s, errors %" PRIu64 "\n",
			tp_mode_names[t->o.mode],
			t->o.type == VSOCK_TYPE_STREAM ? "stream" : "seqpacket",
			t->o.dev, seconds, t->o.conns, gbps, mpps,
			t->st.errors);
		printf("  client: tx %" PRIu64 " B %" PRIu64 " msgs, rx %"
			PRIu64 " B %" PRIu64 " msgs\n", c->bytes_tx,
			c->msgs_tx, c->bytes_rx, c->msgs_rx);
		printf("  server: tx %" PRIu64 " B %" PRIu64 " msgs, rx %"
			PRIu64 " B %" PRIu64 " msgs\n", s->bytes_tx,
			s->msgs_tx, s->bytes_rx, s->msgs_rx);
		if (t->st.rtt_n > 0)
			printf("  rtt: p50 %.2f us, p99 %.2f us (%" PRIu64
				" samples)\n", rtt_pct(&t->st, 50),
				rtt_pct(&t->st, 99), t->st.rtt_n);
		return;
	}
	printf("{\"mode\": \"%s\", \"type\": \"%s\", \"dev\": \"%s\", "
		"\"cid\": %" PRIu64 ", "
		"\"conns\": %u, \"bytes_tx\": %" PRIu64 ", \"bytes_rx\": %"
		PRIu64 ", \"msgs_tx\": %" PRIu64 ", \"msgs_rx\": %" PRIu64
		", \"errors\": %" PRIu64 ", \"seconds\": %.3f, "
		"\"gbps\": %.4f, \"mpps\": %.6f",
		tp_mode_names[t->o.mode],
		t->o.type == VSOCK_TYPE_STREAM ? "stream" : "seqpacket",
		t->o.dev, vsock_stack_local_cid(t->stack), t->o.conns,
		c->bytes_tx + s->bytes_tx, bytes_rx,
		c->msgs_tx + s->msgs_tx, msgs_rx, t->st.errors, seconds,
		gbps, mpps);
	if (t->o.mode == TP_PINGPONG)
		printf(", \"rtt_us_p50\": %.3f, \"rtt_us_p99\": %.3f, "
			"\"rtt_samples\": %" PRIu64, rtt_pct(&t->st, 50),
			rtt_pct(&t->st, 99), t->st.rtt_n);
	printf(", \"client\": {\"bytes_tx\": %" PRIu64 ", \"bytes_rx\": %"
		PRIu64 ", \"msgs_tx\": %" PRIu64 ", \"msgs_rx\": %" PRIu64
		", \"conns_done\": %" PRIu64 "}", c->bytes_tx, c->bytes_rx,
		c->msgs_tx, c->msgs_rx, c->conns_done);
	printf(", \"server\": {\"bytes_tx\": %" PRIu64 ", \"bytes_rx\": %"
		PRIu64 ", \"msgs_tx\": %" PRIu64 ", \"msgs_rx\": %" PRIu64
		", \"conns_done\": %" PRIu64 "}", s->bytes_tx, s->bytes_rx,
		s->msgs_tx, s->msgs_rx, s->conns_done);
	for (unsigned int i = 0; i < t->o.nb_peers; i++)
		printf("%s\"%" PRIu64 "\": {\"bytes_rx\": %" PRIu64
			", \"conns_done\": %" PRIu64 "}%s",
			i == 0 ? ", \"peers\": {" : ", ", t->o.peers[i],
			t->st.by_peer[i].bytes_rx, t->st.by_peer[i].conns_done,
			i + 1 == t->o.nb_peers ? "}" : "");
	printf(", \"error_detail\": {\"connect_fail\": %" PRIu64
		", \"verify_fail\": %" PRIu64 ", \"resets\": %" PRIu64
		", \"send_fail\": %" PRIu64 "}", t->st.connect_fail,
		t->st.verify_fail, t->st.resets, t->st.send_fail);
	printf(", \"resets\": {\"peer\": %" PRIu64 ", \"refused\": %" PRIu64
		", \"timeout\": %" PRIu64 ", \"protocol\": %" PRIu64
		", \"credit\": %" PRIu64 ", \"transport\": %" PRIu64 "}",
		t->st.resets_by[VSOCK_RESET_PEER],
		t->st.resets_by[VSOCK_RESET_REFUSED],
		t->st.resets_by[VSOCK_RESET_TIMEOUT],
		t->st.resets_by[VSOCK_RESET_PROTOCOL],
		t->st.resets_by[VSOCK_RESET_CREDIT],
		t->st.resets_by[VSOCK_RESET_TRANSPORT]);
	printf(", \"stack\": {\"rx_pkts\": %" PRIu64 ", \"tx_pkts\": %" PRIu64
		", \"rst_tx\": %" PRIu64 ", \"rst_rx\": %" PRIu64
		", \"credit_updates_tx\": %" PRIu64 ", \"credit_stalls\": %"
		PRIu64 ", \"drop_bad_hdr\": %" PRIu64 ", \"drop_no_conn\": %"
		PRIu64 ", \"drop_credit\": %" PRIu64 ", \"drop_nomem\": %"
		PRIu64 ", \"conns_open\": %" PRIu64 ", \"local_pkts\": %"
		PRIu64 ", \"coalesced\": %" PRIu64 ", \"pkt_stalls\": %"
		PRIu64 ", \"credit_requests_tx\": %" PRIu64
		", \"transport_resets\": %" PRIu64, ss.rx_pkts,
		ss.tx_pkts, ss.rst_tx, ss.rst_rx, ss.credit_updates_tx,
		ss.credit_stalls, ss.drop_bad_hdr, ss.drop_no_conn,
		ss.drop_credit, ss.drop_nomem, ss.conns_open, ss.local_pkts,
		ss.coalesced, ss.pkt_stalls, ss.credit_requests_tx,
		ss.transport_resets);
	/* What a hostile peer or device was caught at. */
	printf(", \"drop_bad_type\": %" PRIu64 ", \"drop_bad_op\": %" PRIu64
		", \"drop_wrong_cid\": %" PRIu64 ", \"drop_bad_flags\": %"
		PRIu64 ", \"drop_bad_credit\": %" PRIu64
		", \"drop_bad_src_cid\": %" PRIu64 ", \"peer_buf_clamped\": %"
		PRIu64 ", \"peer_credit_shrunk\": %" PRIu64
		", \"conn_reset_bad_pkt\": %" PRIu64 "}", ss.drop_bad_type,
		ss.drop_bad_op, ss.drop_wrong_cid, ss.drop_bad_flags,
		ss.drop_bad_credit, ss.drop_bad_src_cid, ss.peer_buf_clamped,
		ss.peer_credit_shrunk, ss.conn_reset_bad_pkt);
	/* At the end, every mbuf in use should be an rx buffer posted. */
	printf(", \"pool\": {\"baseline\": %u, \"in_use\": %u, "
		"\"rx_posted\": %" PRIu64 ", \"ctl_in_use\": %" PRIu64 "}",
		t->pool_baseline, rte_mempool_in_use_count(t->pool),
		ds.rx_posted, ss.ctl_mbufs_in_use);
	printf(", \"driver\": {\"rx_pkts\": %" PRIu64 ", \"tx_pkts\": %" PRIu64
		", \"rx_bad_len\": %" PRIu64 ", \"bad_used_id\": %" PRIu64
		", \"rx_nombuf\": %" PRIu64 ", \"tx_full\": %" PRIu64
		", \"kicks\": %" PRIu64 ", \"bad_used_idx\": %" PRIu64
		", \"events\": %" PRIu64 ", \"bad_events\": %" PRIu64
		", \"broken\": %" PRIu64 ", \"recoveries\": %" PRIu64
		", \"recovery_failures\": %" PRIu64 ", \"tx_dead\": %" PRIu64
		", \"bad_replies\": %" PRIu64 ", \"status_lost\": %" PRIu64
		", \"packed\": %s"
		", \"event_idx\": %s}}\n", ds.rx_pkts, ds.tx_pkts,
		ds.rx_bad_len, ds.bad_used_id, ds.rx_nombuf, ds.tx_full,
		ds.kicks, ds.bad_used_idx, ds.events, ds.bad_events, ds.broken,
		ds.recoveries, ds.recovery_failures, ds.tx_dead,
		ds.bad_replies, ds.status_lost,
		dev != NULL && (virtio_vsock_features(dev) &
		VIRTIO_VSOCK_FEATURE_RING_PACKED) ? "true" : "false",
		dev != NULL && (virtio_vsock_features(dev) &
		VIRTIO_VSOCK_FEATURE_EVENT_IDX) ? "true" : "false");
}

/* The poll loop: traffic for the duration, then a bounded drain. */
static double
run(struct tp_ctx *t)
{
	double start = tp_now(), stop_at = 0, last_t = 0, next_tick = 1;
	uint64_t last_bytes = 0;
	bool server_only;

	if (t->o.interactive) {
		/* The prompt polls until quit; then the run ends as below. */
		tp_cli_loop(t);
		tp_modes_stop(t);
		stop_at = tp_now() - start;
	}
	server_only = !t->has_client;
	for (;;) {
		double el = tp_now() - start;

		tp_modes_start_clients(t);
		if (t->nb_starved > 0)
			tp_modes_retry_starved(t);
		vsock_stack_poll(t->stack);
		if (el >= next_tick && !t->o.interactive) {
			progress(t, el, &last_bytes, &last_t);
			next_tick += 1;
		}
		if (!t->stopping && (app_quit || (t->o.duration > 0 &&
				el >= t->o.duration) || (t->o.bytes != 0 &&
				t->has_client && tp_modes_clients_done(t)))) {
			tp_modes_stop(t);
			stop_at = el;
		}
		if (!t->stopping)
			continue;
		if (t->o.mode != TP_VERIFY || app_quit)
			tp_modes_stop(t);
		if (server_only || (tp_modes_clients_done(t) &&
				tp_modes_open_conns(t) == 0))
			break;
		if (el - stop_at > TP_DRAIN_SECONDS) {
			fprintf(stderr, "vsock-testpmd: %u connections still "
				"open %.0f s after the end\n",
				tp_modes_open_conns(t), TP_DRAIN_SECONDS);
			t->st.errors++;
			break;
		}
	}
	tp_modes_close_all(t);
	/* Let closes and the last echoes leave, and their answers come. */
	for (double end = tp_now() + 2, quiet = tp_now() + 0.2;
			tp_now() < end;) {
		struct vsock_stack_stats ss;

		vsock_stack_poll(t->stack);
		vsock_stack_stats_get(t->stack, &ss);
		if (ss.conns_open == 0 && tp_now() >= quiet)
			break;
	}
	return t->o.mode == TP_VERIFY || server_only || t->o.interactive ?
		tp_now() - start : stop_at;
}

int
main(int argc, char **argv)
{
	struct tp_ctx t = { 0 };
	struct virtio_vsock_conf dconf = { 0 };
	struct vsock_stack_conf sconf = { 0 };
	struct virtio_vsock_dev *dev;
	struct app_args ea;
	int ret;
	char err[512];
	double seconds;

	app_opts_init("vsock-testpmd");
	if (app_eal_split(argc, argv, &ea) != 0)
		return 1;
	/* Our options are checked before EAL takes hugepages or cores. */
	ret = tp_parse_opts(ea.app_argc, ea.app, &t.o);
	if (ret != 0) {
		app_eal_free(&ea);
		if (ret == 1)
			tp_usage(stdout, argv[0]);
		return ret == 1 ? 0 : 2;
	}
	if (app_eal_start(&ea, "vsock-testpmd", t.o.dev) != 0)
		return 1;
	t.pool = rte_pktmbuf_pool_create("tp_pool", t.o.nb_mbufs, 256, 0,
			TP_MBUF_ROOM + RTE_PKTMBUF_HEADROOM, rte_socket_id());
	if (t.pool == NULL) {
		fprintf(stderr, "vsock-testpmd: cannot create a pool of %u "
			"mbufs: %s\n", t.o.nb_mbufs, rte_strerror(rte_errno));
		return 1;
	}
	/*
	 * Every allocation before the device: a vhost back-end sees only the
	 * memory that exists when the device starts.
	 */
	sconf.pool = t.pool;
	sconf.socket_id = (int)rte_socket_id();
	sconf.max_conns = RTE_MAX(4096u, 2 * t.o.conns + 16);
	t.stack = vsock_stack_create("testpmd", &sconf);
	if (t.stack == NULL) {
		fprintf(stderr, "vsock-testpmd: stack: %s\n",
			rte_strerror(rte_errno));
		return 1;
	}
	t.has_client = t.o.mode >= TP_SOURCE;
	t.has_server = !t.has_client || t.o.peer == 0 || t.o.serve;
	t.nb_conns_max = (t.has_client ? t.o.conns : 0) +
		(t.has_server ? RTE_MAX(t.o.conns, 1024u) : 0);
	if (t.o.interactive) {
		/* Stopped at first, always listening; clients up to 1024. */
		t.has_client = false;
		t.has_server = true;
		t.stopping = true;
		t.client_slots = RTE_MAX(t.o.conns, 1024u);
		t.nb_conns_max = t.client_slots + RTE_MAX(t.o.conns, 1024u);
	}
	t.conns = rte_zmalloc("tp_conns", sizeof(*t.conns) * t.nb_conns_max,
			0);
	t.st.rtt_cap = t.o.mode == TP_PINGPONG ? TP_RTT_SAMPLES : 0;
	t.st.rtt_cycles = t.st.rtt_cap ? rte_malloc("tp_rtt",
			sizeof(uint64_t) * t.st.rtt_cap, 0) : NULL;
	dconf.rx_pool = t.pool;
	dconf.socket_id = (int)rte_socket_id();
	dev = NULL;
	if (t.o.pcap != NULL && strcmp(t.o.dev, "none") != 0) {
		tp_cap = vsock_capture_open(t.o.pcap, &t.o.pcap_conf, err,
				sizeof(err));
		if (tp_cap == NULL) {
			fprintf(stderr, "vsock-testpmd: --pcap %s\n", err);
			return 1;
		}
	}
	/* The back-ends are allocations too: before the device. */
	if (tp_h2g_start(&t) != 0)
		return 1;
	if (strcmp(t.o.dev, "none") != 0) {
		dev = virtio_vsock_open(t.o.dev, &dconf, err, sizeof(err));
		if (dev == NULL) {
			fprintf(stderr, "vsock-testpmd: %s\n", err);
			return rte_errno == EINVAL ? 2 : 1;
		}
		/* With --pcap the stack's port is the capture's wrapper. */
		ret = vsock_stack_attach(t.stack, tp_cap == NULL ?
				virtio_vsock_port(dev) : vsock_capture_wrap(tp_cap,
				virtio_vsock_port(dev)));
		if (ret < 0) {
			fprintf(stderr, "vsock-testpmd: attach: %s\n",
				strerror(-ret));
			return 1;
		}
	}
	t.pool_baseline = rte_mempool_in_use_count(t.pool);
	t.dev = dev;
	t.window = tp_window(&t);
	if (t.conns == NULL || (t.st.rtt_cap && t.st.rtt_cycles == NULL)) {
		fprintf(stderr, "vsock-testpmd: out of memory\n");
		return 1;
	}
	ret = tp_modes_start_server(&t);
	if (ret != 0) {
		fprintf(stderr, "vsock-testpmd: listen on port %u: %s\n",
			t.o.port, strerror(-ret));
		return 1;
	}
	if (!t.o.json)
		printf("vsock-testpmd: %s, cid %" PRIu64 ", mode %s, %u "
			"conns\n", t.o.dev, vsock_stack_local_cid(t.stack),
			tp_mode_names[t.o.mode], t.o.conns);
	seconds = run(&t);
	report(&t, dev, seconds);
	ret = t.st.errors == 0 ? 0 : 1;
	/* Packets still in the device's rings come from the stack's pools. */
	if (dev != NULL)
		virtio_vsock_close(dev);
	tp_h2g_stop(&t);
	vsock_stack_destroy(t.stack);
	if (app_pcap_close_report(tp_cap, "vsock-testpmd", t.o.pcap) != 0)
		ret = 1;
	rte_free(t.conns);
	rte_free(t.st.rtt_cycles);
	rte_mempool_free(t.pool);
	rte_eal_cleanup();
	return ret;
}
