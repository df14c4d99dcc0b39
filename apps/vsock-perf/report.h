/* SPDX-License-Identifier: BSD-3-Clause */
/* vsock-perf's reports: interval lines, the summary, iperf3-like JSON. */
#ifndef VSOCK_PERF_REPORT_H
#define VSOCK_PERF_REPORT_H

#include <stdint.h>

#include <virtio_vsock_dev.h>

struct vperf_ctx;
struct vperf_server;

struct vperf_interval {
	double start;
	double end;
	uint64_t bytes;
	uint64_t msgs;		/* messages, or connections (--conn-rate) */
};

struct vperf_report {
	double t0;		/* traffic started */
	double t_end;		/* traffic stopped (-t over) */
	double last;		/* end of the last interval */
	uint64_t last_bytes;
	uint64_t last_msgs;
	struct vperf_interval *iv;
	unsigned int nb_iv;
	unsigned int cap_iv;
	/* --idle */
	uint32_t idle_up;
	double idle_seconds;
	uint64_t idle_bytes;	/* memory the idle connections took */
	double stack_bytes_per_conn;	/* the stack's reservation per slot */
	/*
	 * The driver's counters when traffic started and stopped: packets
	 * on the ring over the test window, not application messages (the
	 * stack coalesces small stream writes).
	 */
	struct virtio_vsock_dev *dev;
	struct virtio_vsock_stats ring0;
	struct virtio_vsock_stats ring1;
};

void vperf_report_start(struct vperf_report *r, const struct vperf_ctx *t,
		struct virtio_vsock_dev *dev);
void vperf_report_begin(struct vperf_report *r, const struct vperf_ctx *t,
		double now);
void vperf_report_interval(struct vperf_report *r, const struct vperf_ctx *t,
		const struct vperf_server *sv, double now);
void vperf_report_end_of_traffic(struct vperf_report *r,
		const struct vperf_ctx *t, double now);
void vperf_report_finish(struct vperf_report *r, const struct vperf_ctx *t,
		const struct vperf_server *sv, struct virtio_vsock_dev *dev);

#endif /* VSOCK_PERF_REPORT_H */
