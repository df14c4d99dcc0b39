/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/vsock_vhost inside: one instance is a vhost-user device (the
 * control side, vsock_vhost_ctl.c, on rte_vhost's control thread) and a
 * vsock_port over the guest's two rings (the data side, vsock_vhost_ring.c,
 * on the polling lcore); vsock_vhost_switch.c forwards between guests.
 *
 * The two threads meet only in struct vh_handover, through single-writer
 * atomics: the data path never touches rings it was not handed, and hands
 * them back before the control thread changes or unmaps them.
 */
#ifndef VSOCK_VHOST_PRIVATE_H
#define VSOCK_VHOST_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_log.h>

#include <virtio_vsock_defs.h>
#include <vq_dev_pkt.h>
#include <vsock_vhost.h>

extern int vsock_vhost_logtype;
#define VH_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_ ## level, vsock_vhost_logtype, "vsock_vhost: " fmt \
		"\n", ## __VA_ARGS__)

/* sizeof(sockaddr_un.sun_path), including the terminating NUL. */
#define VH_PATH_MAX 108

/* The two rings the back-end runs; the event queue stays with QEMU. */
#define VH_VQ_RX VIRTIO_VSOCK_VQ_RX	/* the guest's rx: host -> guest */
#define VH_VQ_TX VIRTIO_VSOCK_VQ_TX	/* the guest's tx: guest -> host */
#define VH_NB_VQ 2

/* Packets waiting for a guest's rx ring: forwarded ones, and our RSTs. */
#define VH_FWD_SIZE 1024u

/*
 * A guest's rings, handed from rte_vhost's control thread to the data
 * path. The control thread fills the fields, then stores a new generation
 * in @want; the data path takes the rings by storing it in @have. To take
 * them back the control thread stores 0 in @want and waits until @have is
 * no longer its generation; the data path first writes the ring indexes
 * it reached into @last_avail/@last_used.
 */
struct vh_handover {
	int vid;
	void *mem;		/* struct rte_vhost_memory *, for xlate */
	void *desc[VH_NB_VQ];
	void *avail[VH_NB_VQ];
	void *used[VH_NB_VQ];
	uint16_t size[VH_NB_VQ];
	uint16_t last_avail[VH_NB_VQ];
	uint16_t last_used[VH_NB_VQ];
	uint32_t port_features;	/* VSOCK_PORT_F_* negotiated */
	uint64_t features;	/* virtio features negotiated: ring layout */
	uint32_t want;		/* written by the control thread only */
	uint32_t have;		/* written by the data path only */
	/* Device session (one per new_device), 0 while there is none. */
	uint32_t epoch;		/* written by the control thread only */
} __rte_cache_aligned;

struct vsock_vhost {
	struct vh_handover ho;
	char path[VH_PATH_MAX];
	uint64_t cid;
	uint64_t flags;

	/* rte_vhost's control thread only (and create/destroy). */
	int vid;		/* -1 while no front-end is connected */
	bool registered;	/* with rte_vhost */
	bool started;		/* between new_device and destroy_device */
	bool ring_ok[VH_NB_VQ];	/* rings enabled and ready */
	bool published;		/* rings offered to the data path */
	uint32_t gen;		/* last generation published */
	uint32_t epoch;		/* last device session */
	struct vsock_vhost *next;	/* in the registry */

	/* The polling lcore only. */
	struct vsock_port vport;
	struct rte_mempool *pool;
	uint32_t room;		/* data bytes of one pool mbuf */
	struct vq_dev vq[VH_NB_VQ];
	bool call_pending[VH_NB_VQ];
	void *mem;		/* rte_vhost's memory table: xlate context */
	int run_vid;		/* the vid the rings belong to */
	uint32_t features;
	uint32_t have;		/* generation of the rings held, 0: none */
	uint32_t run_epoch;	/* device session last seen, 0: none */
	bool running;
	bool retired;		/* shutting down: never take rings again */
	/* The stack packet being delivered when rx buffers ran out. */
	struct rte_mbuf *cur;
	struct vq_dev_pkt cur_pkt;
	struct vq_dev_seg cur_segs[VQ_DEV_MAX_SEGS];
	/* Guest to guest (vsock_vhost_switch.c). */
	struct vsock_vhost_switch *sw;
	uint64_t group_mask;	/* the switch's groups this guest is in */
	struct rte_mbuf *fwd[VH_FWD_SIZE];	/* packets for this guest */
	uint32_t fwd_head;	/* next to deliver */
	uint32_t fwd_tail;	/* next free */
	struct vq_dev_pkt_stats ring;
	struct vsock_vhost_stats st;
	char name[VH_PATH_MAX + 16];
#ifdef VSOCK_VHOST_TEST_HOOKS
	/* vsock_vhost_break_rx(): buffers to fill before the bad one. */
	bool break_armed;
	uint64_t break_in;
#endif
};

/* vsock_vhost_ctl.c: rte_vhost glue, on the control thread. */
int vh_ctl_start(struct vsock_vhost *vh);
void vh_ctl_stop(struct vsock_vhost *vh);
/* Guest address to pointer for vq_dev_walk(); @mem is ho.mem. */
void *vh_xlate(void *mem, uint64_t addr, uint32_t len);
/* Interrupt the guest; -EAGAIN when rte_vhost holds the ring (retry). */
int vh_ctl_call(struct vsock_vhost *vh, uint16_t queue);

/* vsock_vhost_ring.c: the rings and the vsock_port, on the polling lcore. */
void vh_port_init(struct vsock_vhost *vh);
/* Give the rings back for good (before unregistering). */
void vh_port_retire(struct vsock_vhost *vh);
void vh_port_fini(struct vsock_vhost *vh);

/* vsock_vhost_switch.c: guest to guest. */
int vh_switch_join(struct vsock_vhost *vh, const struct vsock_vhost_conf *c);
void vh_switch_leave(struct vsock_vhost *vh);
/*
 * Room every guest of @vh's switch has for forwarded packets: how many
 * packets a burst from @vh's guest may take (all of them without a switch).
 */
uint16_t vh_switch_room(struct vsock_vhost *vh, uint16_t n);
/*
 * A packet from @vh's guest for @h->dst_cid, not the host: forward it to
 * a sibling, or answer RST. Takes @m.
 */
void vh_switch_forward(struct vsock_vhost *vh, struct rte_mbuf *m,
		const struct vsock_hdr *h);

static inline uint32_t
vh_fwd_count(const struct vsock_vhost *vh)
{
	return vh->fwd_tail - vh->fwd_head;
}

/* Queue @m for @vh's guest; false when full (the caller keeps @m). */
static inline bool
vh_fwd_push(struct vsock_vhost *vh, struct rte_mbuf *m)
{
	if (vh_fwd_count(vh) == VH_FWD_SIZE)
		return false;
	vh->fwd[vh->fwd_tail++ % VH_FWD_SIZE] = m;
	return true;
}

#endif /* VSOCK_VHOST_PRIVATE_H */
