/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The loopback device's state, shared by virtio_vsock_loopback.c (the
 * device model) and virtio_vsock_loopback_fault.c (its fault injector,
 * built with -Dtest_hooks=true only).
 */
#ifndef VIRTIO_VSOCK_LOOPBACK_H
#define VIRTIO_VSOCK_LOOPBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vq_dev_pkt.h>

#include "virtio_vsock_internal.h"

/* A hostile loopback device's settings and record (fault=NAME...). */
struct vv_lb_fault {
	int kind;		/* enum of virtio_vsock_loopback_fault.c */
	uint32_t every;
	uint32_t max;		/* 0: no limit */
	uint32_t resets;	/* device resets still to refuse */
	uint32_t busy;		/* resets still to answer "not back yet" */
	uint64_t reset_cid;	/* the CID after a reset, 0: unchanged */
	uint64_t seen;		/* packets that could have been hit */
	uint64_t hits;		/* packets that were */
};

struct lb_dev {
	struct vq_dev q[VIRTIO_VSOCK_VQ_NUM];
	uint64_t cid;
	uint64_t features;
	int lcore;		/* LB_LCORE_* or an lcore id */
	bool polling;		/* running on its own lcore */
	bool running;		/* written by the driver's lcore */
	/* The tx packet being delivered (may span rx buffers and calls). */
	bool have_cur;
	bool cur_put;		/* cur_chain is to be given back */
	struct vq_dev_chain cur_chain;
	struct vq_dev_pkt cur;
	struct vq_dev_seg cur_segs[VQ_DEV_MAX_SEGS];
	struct vq_dev_pkt_stats st;
#ifdef VIRTIO_VSOCK_TEST_HOOKS
	uint32_t pending_event;	/* event id + 1, set by inject_event */
	struct vv_lb_fault fault;
#endif
};

#ifdef VIRTIO_VSOCK_TEST_HOOKS
/* Settings of a device that breaks nothing. */
void vv_lb_fault_init(struct vv_lb_fault *f);

/*
 * Parse fault=, fault_every=, fault_max=, fault_resets= or fault_cid=:
 * 0, or -EINVAL with @err naming the value.
 */
int vv_lb_fault_arg(struct vv_lb_fault *f, const char *key, const char *val,
		char *err, size_t errlen);

/*
 * A device reset (the driver recovering): -EIO while fault_resets= says
 * to refuse it, else 0, with the CID of fault_cid= from now on.
 */
int vv_lb_fault_reset(struct lb_dev *lb);

/* Can the fault run on these rings? 0, or -EINVAL with @err filled. */
int vv_lb_fault_check(const struct vv_lb_fault *f, bool packed_refused,
		char *err, size_t errlen);

/* The hooks of vq_dev_deliver() that break packets; NULL: none. */
const struct vq_dev_pkt_hooks *vv_lb_fault_hooks(const struct lb_dev *lb);

/* Log what was injected, at close. */
void vv_lb_fault_report(const struct lb_dev *lb);
#endif

#endif /* VIRTIO_VSOCK_LOOPBACK_H */
