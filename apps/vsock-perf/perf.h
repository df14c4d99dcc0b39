/* SPDX-License-Identifier: BSD-3-Clause */
/* vsock-perf: shared definitions of the option parser, client and report. */
#ifndef VSOCK_PERF_H
#define VSOCK_PERF_H

#include <stdbool.h>
#include <stdint.h>

#include <vsock_stack.h>

struct rte_mempool;
struct vperf_payload;

enum vperf_test {
	VPERF_SEND,	/* client sends, server sinks (default) */
	VPERF_RECV,	/* -R: server sends, client sinks */
	VPERF_LATENCY,	/* --latency: ping-pong */
	VPERF_CONN_RATE,	/* --conn-rate: connect and close */
	VPERF_VERIFY,	/* --verify: every byte checked against an echo */
};

struct vperf_opts {
	const char *dev;
	bool server;
	bool client;
	uint64_t cid;		/* 0: the device's own (loopback) */
	uint32_t port;
	uint32_t size;
	uint32_t size_min;	/* --verify: message sizes, uniformly random */
	uint32_t size_max;
	uint64_t bytes;		/* --verify: stop after sending this many */
	uint64_t conn_bytes;	/* --verify: mean bytes per connection */
	uint64_t seed;
	double duration;	/* seconds; 0 with -s: until SIGINT */
	double interval;	/* seconds between reports; 0: none */
	uint32_t streams;
	enum vsock_type type;
	enum vperf_test test;
	bool cold;		/* --cold: cold source, reading sink */
	uint32_t idle;		/* --idle N */
	bool json;
	uint32_t nb_mbufs;
	uint32_t mbuf_size;	/* data room of the pool's mbufs */
	uint32_t max_conns;	/* 0: sized from -P and --idle */
};

/* Log-linear latency histogram in nanoseconds: < 1 % error. */
#define VPERF_HIST_LINEAR 1024u
#define VPERF_HIST_SUB 128u
#define VPERF_HIST_BUCKETS (VPERF_HIST_LINEAR + 54u * VPERF_HIST_SUB)

struct vperf_hist {
	uint64_t n;
	uint64_t min_ns;
	uint64_t max_ns;
	double sum_ns;
	uint64_t b[VPERF_HIST_BUCKETS];
};

void vperf_hist_add(struct vperf_hist *h, uint64_t ns);
/* The @pct-th percentile (0..100) in nanoseconds; 0 without samples. */
double vperf_hist_pct(const struct vperf_hist *h, double pct);

/* What one direction of the run moved. */
struct vperf_count {
	uint64_t bytes;
	uint64_t msgs;
};

/* One --idle connection. */
struct vperf_idle {
	struct vsock_conn *vc;
	struct vperf_ctx *t;
	bool up;		/* established and said hello */
};

/* --verify's verdicts. */
struct vperf_verify_stats {
	uint64_t conns_ok;	/* ended normally, every byte and digest equal */
	uint64_t bytes_ok;
	uint64_t sha256_ok;
	uint64_t resets;	/* reset: the application was told */
	uint64_t bytes_echoed;	/* echoed back and checked, on any connection */
	uint64_t lost_bytes;	/* sent, not echoed (sent = echoed + lost) */
	uint64_t corrupt;	/* echoed bytes that were not the ones sent */
	uint64_t unreported;	/* ended normally but short or different */
};

struct vperf_verify_slot;

struct vperf_ctx {
	struct vperf_opts o;
	struct vsock_stack *stack;
	struct rte_mempool *pool;
	struct vperf_payload *pay;
	uint64_t peer_cid;
	struct vperf_stream *streams;	/* -P of them */
	struct vperf_idle *idle;		/* --idle of them */
	uint32_t idle_up;		/* idle connections established */
	uint32_t idle_next;		/* idle connections started */
	uint32_t idle_pending;		/* ... not yet answered */
	bool stopping;			/* -t is over: wind down */
	uint32_t live;			/* streams not yet finished */
	struct vperf_count sent;		/* by the client */
	struct vperf_count rcvd;		/* by the client (-R, echo) */
	uint64_t sink_rcvd;		/* servers' trailers (send test) */
	uint64_t sum;			/* --cold -R: every byte read */
	uint32_t trailers;		/* streams whose trailer came */
	uint64_t conns_done;		/* --conn-rate: connects finished */
	uint64_t errors;
	uint64_t connect_fail;
	uint64_t resets;
	struct vperf_hist *hist;
	uint64_t tsc_hz;
	struct vperf_verify_slot *vslots;		/* --verify */
	uint64_t window;		/* --verify: bytes in flight per slot */
	struct vperf_verify_stats vf;
};

/* client.c */
int vperf_client_start(struct vperf_ctx *t);
/* Resume starved streams, reconnect --conn-rate slots, open idle ones. */
void vperf_client_poll(struct vperf_ctx *t);
/* Open the --idle connections (vperf_client_poll() continues). */
int vperf_idle_start(struct vperf_ctx *t);
/* Every idle connection was answered (see idle_up for how many are up). */
bool vperf_idle_ready(const struct vperf_ctx *t);
void vperf_client_stop(struct vperf_ctx *t);
bool vperf_client_done(const struct vperf_ctx *t);
void vperf_client_free(struct vperf_ctx *t);

/* verify.c */
int vperf_verify_start(struct vperf_ctx *t);
void vperf_verify_poll(struct vperf_ctx *t);
/* No new connections; running ones end where they are, checked. */
void vperf_verify_stop(struct vperf_ctx *t);
bool vperf_verify_budget_done(const struct vperf_ctx *t);
void vperf_verify_free(struct vperf_ctx *t);

#endif /* VSOCK_PERF_H */
