/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split and packed virtqueue layouts, from the virtio 1.x specification,
 * shared by both sides: the driver (drivers/net/virtio_vsock) and the
 * device models (its loopback device, lib/vsock_vhost). Names follow the
 * specification's own listings (virtq_*, VIRTQ_*), which no system header
 * uses, so this coexists with <linux/virtio_ring.h> and rte_vhost.h.
 * Fields are little-endian on the wire; both sides are built for
 * little-endian hosts only (checked below), which keeps the hot paths free
 * of byte swaps.
 */
#ifndef VSOCK_VIRTQ_H
#define VSOCK_VIRTQ_H

#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "dpdk-vsock: the ring code assumes a little-endian host"
#endif

#define VIRTQ_DESC_F_NEXT	1
#define VIRTQ_DESC_F_WRITE	2
#define VIRTQ_DESC_F_INDIRECT	4

#define VIRTQ_AVAIL_F_NO_INTERRUPT	1
#define VIRTQ_USED_F_NO_NOTIFY		1

/* Rings are aligned to this inside the ring memory (legacy-compatible). */
#define VIRTQ_ALIGN 4096

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];	/* then uint16_t used_event */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[];	/* then uint16_t avail_event */
};

/* Packed ring (virtio 1.1+, section 2.8): one descriptor ring. */
#define VIRTQ_PACKED_DESC_F_AVAIL	(1 << 7)
#define VIRTQ_PACKED_DESC_F_USED	(1 << 15)
#define VIRTQ_PACKED_DESC_F_AVAIL_USED \
	(VIRTQ_PACKED_DESC_F_AVAIL | VIRTQ_PACKED_DESC_F_USED)

struct virtq_packed_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;		/* buffer id, on a chain's last descriptor */
	uint16_t flags;
};

/* Event suppression structure: the driver's and the device's. */
#define VIRTQ_PACKED_EVENT_FLAG_ENABLE	0
#define VIRTQ_PACKED_EVENT_FLAG_DISABLE	1
#define VIRTQ_PACKED_EVENT_FLAG_DESC	2	/* only with EVENT_IDX */
#define VIRTQ_PACKED_EVENT_WRAP_SHIFT	15

struct virtq_packed_event {
	uint16_t off_wrap;	/* descriptor offset; wrap counter: bit 15 */
	uint16_t flags;
};

/*
 * EVENT_IDX (section 2.7.10): notify when the index moved from @old to
 * @new_idx past @event. All three are free-running 16-bit counters, so
 * the comparison is modular.
 */
static inline int
virtq_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/* Ring layout and notification features of one queue, both sides. */
#define VQ_F_PACKED	(1u << 0)
#define VQ_F_EVENT_IDX	(1u << 1)

#endif /* VSOCK_VIRTQ_H */
