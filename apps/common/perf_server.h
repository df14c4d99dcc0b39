/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vsock-perf server as a service on any stack: vsock-perf -s runs it,
 * and so do vsock-perf clients on the loopback device (serving themselves)
 * and vsock-bridge --perf-port. Protocol: perf_proto.h.
 */
#ifndef VSOCK_PERF_SERVER_H
#define VSOCK_PERF_SERVER_H

#include <stdint.h>

struct rte_mempool;
struct vsock_stack;
struct vperf_server;

struct vperf_server_stats {
	uint64_t conns;		/* connections accepted */
	uint64_t open;		/* ... still open */
	uint64_t tests[4];	/* hellos, by enum vperf_mode */
	uint64_t probes;	/* closed before any hello (connect rate) */
	uint64_t bad_hello;	/* not a hello of this version: reset */
	uint64_t bytes_rx;	/* payload after the hellos */
	uint64_t bytes_tx;	/* payload sent (source and echo) */
	uint64_t nombuf;	/* source paused: the pool was empty */
	uint64_t errors;	/* sends refused for good */
};

/*
 * Serve on @port (STREAM) and @port + 1 (SEQPACKET) of @s, sending from
 * @pool. NULL with rte_errno set (EADDRINUSE: a port is taken).
 */
struct vperf_server *vperf_server_start(struct vsock_stack *s,
		struct rte_mempool *pool, uint32_t port);

/* After each vsock_stack_poll(): resumes sources the pool starved. */
void vperf_server_poll(struct vperf_server *sv);

const struct vperf_server_stats *
vperf_server_stats(const struct vperf_server *sv);

/* Close every connection and stop listening. */
void vperf_server_stop(struct vperf_server *sv);

/*
 * Free @sv once its device is closed: mbufs in the device's rings may
 * still point into the server's payload until then.
 */
void vperf_server_free(struct vperf_server *sv);

#endif /* VSOCK_PERF_SERVER_H */
