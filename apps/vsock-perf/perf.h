/* SPDX-License-Identifier: BSD-3-Clause */
/* vsock-perf: shared definitions of the option parser, client and report. */
#ifndef VSOCK_PERF_H
#define VSOCK_PERF_H

#include <stdbool.h>
#include <stdint.h>

#include <vsock_stack.h>

struct rte_mempool;
struct vperf_payload;

enum vp_test {
	VP_SEND,	/* client sends, server sinks (default) */
	VP_RECV,	/* -R: server sends, client sinks */
	VP_LATENCY,	/* --latency: ping-pong */
	VP_CONN_RATE,	/* --conn-rate: connect and close */
	VP_VERIFY,	/* --verify: every byte checked against an echo */
};

struct vp_opts {
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
	enum vp_test test;
	bool cold;		/* --cold: cold source, reading sink */
	uint32_t idle;		/* --idle N */
	bool json;
	uint32_t nb_mbufs;
	uint32_t mbuf_size;	/* data room of the pool's mbufs */
	uint32_t max_conns;	/* 0: sized from -P and --idle */
};

/* Log-linear latency histogram in nanoseconds: < 1 % error. */
#define VP_HIST_LINEAR 1024u
#define VP_HIST_SUB 128u
#define VP_HIST_BUCKETS (VP_HIST_LINEAR + 54u * VP_HIST_SUB)

struct vp_hist {
	uint64_t n;
	uint64_t min_ns;
	uint64_t max_ns;
	double sum_ns;
	uint64_t b[VP_HIST_BUCKETS];
};

void vp_hist_add(struct vp_hist *h, uint64_t ns);
/* The @pct-th percentile (0..100) in nanoseconds; 0 without samples. */
double vp_hist_pct(const struct vp_hist *h, double pct);

/* What one direction of the run moved. */
struct vp_count {
	uint64_t bytes;
	uint64_t msgs;
};

/* One --idle connection. */
struct vp_idle {
	struct vsock_conn *vc;
	struct vp_ctx *t;
	bool up;		/* established and said hello */
};

/* --verify's verdicts. */
struct vp_verify_stats {
	uint64_t conns_ok;	/* ended normally, every byte and digest equal */
	uint64_t bytes_ok;
	uint64_t sha256_ok;
	uint64_t resets;	/* reset: the application was told */
	uint64_t bytes_echoed;	/* echoed back and checked, on any connection */
	uint64_t lost_bytes;	/* sent, not echoed (sent = echoed + lost) */
	uint64_t corrupt;	/* echoed bytes that were not the ones sent */
	uint64_t unreported;	/* ended normally but short or different */
};

struct vv_slot;

struct vp_ctx {
	struct vp_opts o;
	struct vsock_stack *stack;
	struct rte_mempool *pool;
	struct vperf_payload *pay;
	uint64_t peer_cid;
	struct vp_stream *streams;	/* -P of them */
	struct vp_idle *idle;		/* --idle of them */
	uint32_t idle_up;		/* idle connections established */
	uint32_t idle_next;		/* idle connections started */
	uint32_t idle_pending;		/* ... not yet answered */
	bool stopping;			/* -t is over: wind down */
	uint32_t live;			/* streams not yet finished */
	struct vp_count sent;		/* by the client */
	struct vp_count rcvd;		/* by the client (-R, echo) */
	uint64_t sink_rcvd;		/* servers' trailers (send test) */
	uint64_t sum;			/* --cold -R: every byte read */
	uint32_t trailers;		/* streams whose trailer came */
	uint64_t conns_done;		/* --conn-rate: connects finished */
	uint64_t errors;
	uint64_t connect_fail;
	uint64_t resets;
	struct vp_hist *hist;
	uint64_t tsc_hz;
	struct vv_slot *vslots;		/* --verify */
	uint64_t window;		/* --verify: bytes in flight per slot */
	struct vp_verify_stats vf;
};

/* client.c */
int vp_client_start(struct vp_ctx *t);
/* Resume starved streams, reconnect --conn-rate slots, open idle ones. */
void vp_client_poll(struct vp_ctx *t);
/* Open the --idle connections (vp_client_poll() continues). */
int vp_idle_start(struct vp_ctx *t);
/* Every idle connection was answered (see idle_up for how many are up). */
bool vp_idle_ready(const struct vp_ctx *t);
void vp_client_stop(struct vp_ctx *t);
bool vp_client_done(const struct vp_ctx *t);
void vp_client_free(struct vp_ctx *t);

/* verify.c */
int vp_verify_start(struct vp_ctx *t);
void vp_verify_poll(struct vp_ctx *t);
/* No new connections; running ones end where they are, checked. */
void vp_verify_stop(struct vp_ctx *t);
bool vp_verify_budget_done(const struct vp_ctx *t);
void vp_verify_free(struct vp_ctx *t);

#endif /* VSOCK_PERF_H */
