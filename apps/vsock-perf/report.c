/* SPDX-License-Identifier: BSD-3-Clause */
/* vsock-perf's reports and latency histogram. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_mempool.h>

#include <virtio_vsock_dev.h>
#include <vsock_stack.h>

#include "perf.h"
#include "perf_proto.h"
#include "perf_server.h"
#include "report.h"

static const char *const vperf_test_names[] = {
	[VPERF_SEND] = "send", [VPERF_RECV] = "reverse",
	[VPERF_LATENCY] = "latency", [VPERF_CONN_RATE] = "conn-rate",
	[VPERF_VERIFY] = "verify",
};

void
vperf_hist_add(struct vperf_hist *h, uint64_t ns)
{
	unsigned int idx;

	if (ns < VPERF_HIST_LINEAR) {
		idx = (unsigned int)ns;
	} else {
		/* 128 buckets per power of two above 1 us. */
		unsigned int e = 63u - (unsigned int)__builtin_clzll(ns);

		idx = VPERF_HIST_LINEAR + (e - 10) * VPERF_HIST_SUB +
			(unsigned int)((ns >> (e - 7)) & (VPERF_HIST_SUB - 1));
		if (idx >= VPERF_HIST_BUCKETS)
			idx = VPERF_HIST_BUCKETS - 1;
	}
	h->b[idx]++;
	if (h->n == 0 || ns < h->min_ns)
		h->min_ns = ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
	h->n++;
	h->sum_ns += (double)ns;
}

/* The middle of bucket @idx, in nanoseconds. */
static double
vperf_hist_value(unsigned int idx)
{
	unsigned int e, sub;

	if (idx < VPERF_HIST_LINEAR)
		return idx;
	e = (idx - VPERF_HIST_LINEAR) / VPERF_HIST_SUB + 10;
	sub = (idx - VPERF_HIST_LINEAR) % VPERF_HIST_SUB;
	return ((double)(VPERF_HIST_SUB + sub) + 0.5) *
		(double)(1ull << (e - 7));
}

double
vperf_hist_pct(const struct vperf_hist *h, double pct)
{
	uint64_t want, seen = 0;
	unsigned int i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(pct / 100.0 * (double)h->n);
	if (want >= h->n)
		want = h->n - 1;
	for (i = 0; i < VPERF_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > want)
			return RTE_MAX((double)h->min_ns,
				RTE_MIN(vperf_hist_value(i),
					(double)h->max_ns));
	}
	return (double)h->max_ns;
}

static FILE *
vperf_out(const struct vperf_ctx *t)
{
	return t->o.json ? stderr : stdout;
}

/* The counters the test is judged by: bytes and messages (or conns). */
static void
vperf_progress(const struct vperf_ctx *t, const struct vperf_server *sv,
		uint64_t *bytes, uint64_t *msgs)
{
	if (!t->o.client) {
		const struct vperf_server_stats *s = vperf_server_stats(sv);

		*bytes = s->bytes_rx + s->bytes_tx;
		*msgs = s->conns;
		return;
	}
	switch (t->o.test) {
	case VPERF_RECV:
	case VPERF_LATENCY:
		*bytes = t->rcvd.bytes;
		*msgs = t->rcvd.msgs;
		break;
	case VPERF_CONN_RATE:
		*bytes = 0;
		*msgs = t->conns_done;
		break;
	default:
		*bytes = t->sent.bytes;
		*msgs = t->sent.msgs;
	}
}

void
vperf_report_start(struct vperf_report *r, const struct vperf_ctx *t,
		struct virtio_vsock_dev *dev)
{
	r->dev = dev;
	if (t->o.json)
		return;
	printf("vsock-perf: %s on %s (cid %" PRIu64 "), port %u",
		t->o.client ? vperf_test_names[t->o.test] : "server",
		t->o.dev, virtio_vsock_cid(dev), t->o.port);
	if (t->o.client)
		printf(", to cid %" PRIu64 ", %u x %s, %u-byte messages",
			t->peer_cid, t->o.streams,
			t->o.type == VSOCK_TYPE_STREAM ? "stream" : "seqpacket",
			t->o.size);
	printf("\n");
	fflush(stdout);
}

void
vperf_report_begin(struct vperf_report *r, const struct vperf_ctx *t,
		double now)
{
	r->t0 = now;
	r->last = now;
	virtio_vsock_stats_get(r->dev, &r->ring0);
	vperf_progress(t, NULL, &r->last_bytes, &r->last_msgs);
}

static void
vperf_print_rate(FILE *f, const struct vperf_ctx *t, double s, double e,
		uint64_t bytes, uint64_t msgs)
{
	double dt = e - s > 0 ? e - s : 1;

	if (t->o.client && t->o.test == VPERF_CONN_RATE) {
		fprintf(f, "[SUM] %7.2f-%-7.2f sec  %10" PRIu64 " conns  "
			"%10.0f conns/s\n", s, e, msgs, (double)msgs / dt);
		return;
	}
	fprintf(f, "[SUM] %7.2f-%-7.2f sec  %9.3f GBytes  %8.3f Gbit/s  "
		"%8.4f Mmsg/s\n", s, e, (double)bytes / 1e9,
		(double)bytes * 8 / dt / 1e9, (double)msgs / dt / 1e6);
}

void
vperf_report_interval(struct vperf_report *r, const struct vperf_ctx *t,
		const struct vperf_server *sv, double now)
{
	struct vperf_interval iv = { .start = r->last - r->t0,
		.end = now - r->t0 };
	uint64_t bytes, msgs;

	if (t->stopping)
		return;
	vperf_progress(t, sv, &bytes, &msgs);
	iv.bytes = bytes - r->last_bytes;
	iv.msgs = msgs - r->last_msgs;
	r->last_bytes = bytes;
	r->last_msgs = msgs;
	r->last = now;
	if (r->nb_iv == r->cap_iv) {
		unsigned int cap = r->cap_iv ? 2 * r->cap_iv : 64;
		struct vperf_interval *n = realloc(r->iv, cap * sizeof(*n));

		if (n == NULL)
			return;
		r->iv = n;
		r->cap_iv = cap;
	}
	r->iv[r->nb_iv++] = iv;
	vperf_print_rate(vperf_out(t), t, iv.start, iv.end, iv.bytes, iv.msgs);
	if (t->o.client && t->o.test == VPERF_LATENCY)
		fprintf(vperf_out(t), "      rtt so far: p50 %.2f us  p99 %.2f "
			"us\n", vperf_hist_pct(t->hist, 50) / 1e3,
			vperf_hist_pct(t->hist, 99) / 1e3);
	fflush(vperf_out(t));
}

void
vperf_report_end_of_traffic(struct vperf_report *r, const struct vperf_ctx *t,
		double now)
{
	RTE_SET_USED(t);
	r->t_end = now;
	virtio_vsock_stats_get(r->dev, &r->ring1);
}

/* Packets the driver moved over the test window, each way. */
static void
vperf_ring_pkts(const struct vperf_report *r, uint64_t *tx, uint64_t *rx)
{
	*tx = r->ring1.tx_pkts - r->ring0.tx_pkts;
	*rx = r->ring1.rx_pkts - r->ring0.rx_pkts;
}

static void
vperf_json_sum(const char *name, double secs, uint64_t bytes, uint64_t msgs)
{
	printf("\"%s\": {\"seconds\": %.6f, \"bytes\": %" PRIu64
		", \"bits_per_second\": %.1f, \"msgs\": %" PRIu64
		", \"msgs_per_second\": %.1f}", name, secs, bytes,
		secs > 0 ? (double)bytes * 8 / secs : 0, msgs,
		secs > 0 ? (double)msgs / secs : 0);
}

/* sum_sent and sum_received, from the client's point of view. */
static void
vperf_sums(const struct vperf_ctx *t, struct vperf_count *sent,
		struct vperf_count *rcvd)
{
	*sent = t->sent;
	*rcvd = t->rcvd;
	if (t->o.test == VPERF_SEND) {
		/*
		 * The sinks' own counts: a sink that never answered counts
		 * nothing (and is an error, main.c), never what was sent.
		 */
		rcvd->bytes = t->sink_rcvd;
		rcvd->msgs = rcvd->bytes / t->o.size;
	} else if (t->o.test == VPERF_RECV) {
		*sent = t->rcvd;	/* what the servers managed to send */
	}
}

static void
vperf_json(const struct vperf_report *r, const struct vperf_ctx *t,
		const struct vperf_server *sv, struct virtio_vsock_dev *dev)
{
	double secs = r->t_end - r->t0;
	struct vsock_stack_stats ss;
	struct virtio_vsock_stats ds;
	struct vperf_count sent, rcvd;
	uint64_t ring_tx, ring_rx;
	unsigned int i, ends = sv != NULL && t->o.client ? 2 : 1;

	vsock_stack_stats_get(t->stack, &ss);
	virtio_vsock_stats_get(dev, &ds);
	vperf_sums(t, &sent, &rcvd);
	printf("{\"start\": {\"version\": \"vsock-perf 1\", \"dev\": \"%s\", "
		"\"local_cid\": %" PRIu64 ", \"remote_cid\": %" PRIu64
		", \"port\": %u, \"role\": \"%s\", \"test\": \"%s\", "
		"\"type\": \"%s\", \"msg_size\": %u, \"streams\": %u, "
		"\"reverse\": %s, \"latency\": %s, \"duration\": %.3f, "
		"\"idle\": %u, \"cold\": %s, \"cold_bytes\": %zu},\n", t->o.dev, vsock_stack_local_cid(t->stack),
		t->peer_cid, t->o.port, t->o.client ? "client" : "server",
		vperf_test_names[t->o.test],
		t->o.type == VSOCK_TYPE_STREAM ? "stream" : "seqpacket",
		t->o.size, t->o.streams,
		t->o.test == VPERF_RECV ? "true" : "false",
		t->o.test == VPERF_LATENCY ? "true" : "false", t->o.duration,
		t->o.idle, t->o.cold ? "true" : "false",
		t->o.cold ? vperf_cold_len() : (size_t)0);
	printf(" \"intervals\": [");
	for (i = 0; i < r->nb_iv; i++) {
		const struct vperf_interval *iv = &r->iv[i];
		double dt = iv->end - iv->start > 0 ? iv->end - iv->start : 1;

		printf("%s\n  {\"start\": %.3f, \"end\": %.3f, \"bytes\": %"
			PRIu64 ", \"bits_per_second\": %.1f, \"msgs\": %"
			PRIu64 ", \"msgs_per_second\": %.1f}", i ? "," : "",
			iv->start, iv->end, iv->bytes,
			(double)iv->bytes * 8 / dt, iv->msgs,
			(double)iv->msgs / dt);
	}
	printf("],\n \"end\": {");
	vperf_json_sum("sum_sent", secs, sent.bytes, sent.msgs);
	printf(", ");
	vperf_json_sum("sum_received", secs, rcvd.bytes, rcvd.msgs);
	if (t->o.test == VPERF_LATENCY)
		printf(",\n  \"latency\": {\"samples\": %" PRIu64 ", \"p50_us\":"
			" %.3f, \"p99_us\": %.3f, \"p999_us\": %.3f, \"min_us\":"
			" %.3f, \"max_us\": %.3f, \"mean_us\": %.3f}",
			t->hist->n, vperf_hist_pct(t->hist, 50) / 1e3,
			vperf_hist_pct(t->hist, 99) / 1e3,
			vperf_hist_pct(t->hist, 99.9) / 1e3,
			(double)t->hist->min_ns / 1e3,
			(double)t->hist->max_ns / 1e3, t->hist->n ?
			t->hist->sum_ns / (double)t->hist->n / 1e3 : 0);
	if (t->o.test == VPERF_CONN_RATE)
		printf(",\n  \"connect\": {\"conns\": %" PRIu64 ", \"seconds\": "
			"%.6f, \"per_second\": %.1f}", t->conns_done, secs,
			secs > 0 ? (double)t->conns_done / secs : 0);
	if (t->o.test == VPERF_VERIFY)
		printf(",\n  \"verify\": {\"conns_ok\": %" PRIu64 ", \"bytes_ok\": %"
			PRIu64 ", \"sha256_ok\": %" PRIu64 ", \"resets\": %"
			PRIu64 ", \"bytes_echoed\": %" PRIu64
			", \"lost_bytes\": %" PRIu64
			", \"corrupt\": %" PRIu64 ", \"unreported_loss\": %"
			PRIu64 "}", t->vf.conns_ok, t->vf.bytes_ok,
			t->vf.sha256_ok, t->vf.resets, t->vf.bytes_echoed,
			t->vf.lost_bytes, t->vf.corrupt, t->vf.unreported);
	if (t->o.idle > 0)
		printf(",\n  \"memory\": {\"idle_conns\": %u, \"open_seconds\":"
			" %.3f, \"stack_bytes_per_conn\": %.1f, "
			"\"per_idle_conn_bytes\": %.1f}", r->idle_up,
			r->idle_seconds, r->stack_bytes_per_conn,
			r->stack_bytes_per_conn + (r->idle_up ?
			(double)r->idle_bytes / r->idle_up / ends : 0));
	vperf_ring_pkts(r, &ring_tx, &ring_rx);
	printf(",\n  \"ring\": {\"seconds\": %.6f, \"tx_pkts\": %" PRIu64
		", \"rx_pkts\": %" PRIu64 ", \"tx_pkts_per_second\": %.1f, "
		"\"rx_pkts_per_second\": %.1f}", secs, ring_tx, ring_rx,
		secs > 0 ? (double)ring_tx / secs : 0,
		secs > 0 ? (double)ring_rx / secs : 0);
	printf(",\n  \"stack\": {\"rx_pkts\": %" PRIu64 ", \"tx_pkts\": %"
		PRIu64 ", \"coalesced\": %" PRIu64 ", \"credit_stalls\": %"
		PRIu64 ", \"credit_updates_tx\": %" PRIu64 ", \"rst_tx\": %"
		PRIu64 ", \"rst_rx\": %" PRIu64 "}", ss.rx_pkts, ss.tx_pkts,
		ss.coalesced, ss.credit_stalls, ss.credit_updates_tx,
		ss.rst_tx, ss.rst_rx);
	printf(",\n  \"driver\": {\"kicks\": %" PRIu64 ", \"rx_nombuf\": %"
		PRIu64 ", \"tx_full\": %" PRIu64 "}", ds.kicks, ds.rx_nombuf,
		ds.tx_full);
	/* Every mbuf back: the pool holds only the posted rx buffers. */
	printf(",\n  \"pool\": {\"in_use\": %u, \"rx_posted\": %" PRIu64
		", \"ctl_in_use\": %" PRIu64 "}",
		rte_mempool_in_use_count(t->pool), ds.rx_posted,
		ss.ctl_mbufs_in_use);
	if (sv != NULL) {
		const struct vperf_server_stats *s = vperf_server_stats(sv);

		printf(",\n  \"server\": {\"conns\": %" PRIu64 ", \"probes\": %"
			PRIu64 ", \"bad_hello\": %" PRIu64 ", \"bytes_rx\": %"
			PRIu64 ", \"bytes_tx\": %" PRIu64 ", \"errors\": %"
			PRIu64 "}", s->conns, s->probes, s->bad_hello,
			s->bytes_rx, s->bytes_tx, s->errors);
	}
	printf(",\n  \"connect_fail\": %" PRIu64 ", \"resets\": %" PRIu64
		", \"errors\": %" PRIu64 "}}\n", t->connect_fail, t->resets,
		t->errors);
}

void
vperf_report_finish(struct vperf_report *r, const struct vperf_ctx *t,
		const struct vperf_server *sv, struct virtio_vsock_dev *dev)
{
	struct vperf_count sent, rcvd;
	uint64_t ring_tx, ring_rx;
	double secs;

	if (r->t_end == 0) {
		r->t_end = r->last;
		virtio_vsock_stats_get(r->dev, &r->ring1);
	}
	secs = r->t_end - r->t0;
	if (t->o.json) {
		vperf_json(r, t, sv, dev);
	} else if (t->o.client) {
		vperf_sums(t, &sent, &rcvd);
		printf("- - - - - - - - - - - - - - - - - - - - - - - - -\n");
		if (t->o.test == VPERF_CONN_RATE) {
			vperf_print_rate(stdout, t, 0, secs, 0, t->conns_done);
		} else {
			vperf_print_rate(stdout, t, 0, secs, sent.bytes,
				sent.msgs);
			printf("      sender\n");
			vperf_print_rate(stdout, t, 0, secs, rcvd.bytes,
				rcvd.msgs);
			printf("      receiver\n");
		}
		vperf_ring_pkts(r, &ring_tx, &ring_rx);
		printf("ring: tx %.3f Mpkt/s, rx %.3f Mpkt/s (driver "
			"counters)\n", secs > 0 ? ring_tx / secs / 1e6 : 0,
			secs > 0 ? ring_rx / secs / 1e6 : 0);
		if (t->o.test == VPERF_LATENCY)
			printf("rtt: p50 %.2f us  p99 %.2f us  p99.9 %.2f us"
				"  (%" PRIu64 " samples)\n",
				vperf_hist_pct(t->hist, 50) / 1e3,
				vperf_hist_pct(t->hist, 99) / 1e3,
				vperf_hist_pct(t->hist, 99.9) / 1e3,
				t->hist->n);
		if (t->o.test == VPERF_VERIFY)
			printf("verify: %" PRIu64 " connections ok (%" PRIu64
				" B, SHA-256 equal), %" PRIu64 " reset losing %"
				PRIu64 " B (reported), corrupt %" PRIu64
				", unreported loss %" PRIu64 "\n",
				t->vf.conns_ok, t->vf.bytes_ok, t->vf.resets,
				t->vf.lost_bytes, t->vf.corrupt,
				t->vf.unreported);
		if (t->o.idle > 0)
			printf("idle: %u connections, %.0f bytes each\n",
				r->idle_up, r->stack_bytes_per_conn +
				(r->idle_up ? (double)r->idle_bytes /
				r->idle_up : 0));
		printf("errors %" PRIu64 ", resets %" PRIu64 ", connect "
			"failures %" PRIu64 "\n", t->errors, t->resets,
			t->connect_fail);
	} else {
		const struct vperf_server_stats *s = vperf_server_stats(sv);

		printf("vsock-perf server: %" PRIu64 " connections, rx %"
			PRIu64 " B, tx %" PRIu64 " B, bad hellos %" PRIu64
			"\n", s->conns, s->bytes_rx, s->bytes_tx,
			s->bad_hello);
	}
	free(r->iv);
	r->iv = NULL;
}
