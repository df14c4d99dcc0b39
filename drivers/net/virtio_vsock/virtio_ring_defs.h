/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split and packed virtqueue layouts and the feature bits this driver
 * knows, from the virtio 1.x specification. Fields are little-endian on
 * the wire; the driver is built for little-endian hosts only (checked
 * below), which keeps the hot paths free of byte swaps.
 */
#ifndef VIRTIO_VSOCK_RING_DEFS_H
#define VIRTIO_VSOCK_RING_DEFS_H

#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "virtio_vsock: the ring code assumes a little-endian host"
#endif

#define VRING_DESC_F_NEXT	1
#define VRING_DESC_F_WRITE	2
#define VRING_DESC_F_INDIRECT	4

#define VRING_AVAIL_F_NO_INTERRUPT	1
#define VRING_USED_F_NO_NOTIFY		1

/* Rings are aligned to this inside the ring memory (legacy-compatible). */
#define VRING_ALIGN 4096

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];	/* then uint16_t used_event */
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[];	/* then uint16_t avail_event */
};

/* Packed ring (virtio 1.1+, section 2.8): one descriptor ring. */
#define VRING_PACKED_DESC_F_AVAIL	(1 << 7)
#define VRING_PACKED_DESC_F_USED	(1 << 15)
#define VRING_PACKED_DESC_F_AVAIL_USED \
	(VRING_PACKED_DESC_F_AVAIL | VRING_PACKED_DESC_F_USED)

struct vring_packed_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;		/* buffer id, on a chain's last descriptor */
	uint16_t flags;
};

/* Event suppression structure: the driver's and the device's. */
#define VRING_PACKED_EVENT_FLAG_ENABLE	0
#define VRING_PACKED_EVENT_FLAG_DISABLE	1
#define VRING_PACKED_EVENT_FLAG_DESC	2	/* only with EVENT_IDX */
#define VRING_PACKED_EVENT_WRAP_SHIFT	15

struct vring_packed_desc_event {
	uint16_t off_wrap;	/* descriptor offset; wrap counter: bit 15 */
	uint16_t flags;
};

/*
 * EVENT_IDX (section 2.7.10): notify when the index moved from @old to
 * @new_idx past @event. All three are free-running 16-bit counters, so
 * the comparison is modular.
 */
static inline int
vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/* Ring layout and notification features of one queue, both sides. */
#define VQ_F_PACKED	(1u << 0)
#define VQ_F_EVENT_IDX	(1u << 1)

/* Transport feature bits (virtio 1.x, section 6). */
#define VIRTIO_F_RING_INDIRECT_DESC	28
#define VIRTIO_F_RING_EVENT_IDX		29
#define VIRTIO_F_VERSION_1		32
#define VIRTIO_F_ACCESS_PLATFORM	33
#define VIRTIO_F_RING_PACKED		34
#define VIRTIO_F_IN_ORDER		35

/* vsock device feature bits (device type 19). */
#define VIRTIO_VSOCK_F_STREAM		0
#define VIRTIO_VSOCK_F_SEQPACKET	1
#define VIRTIO_VSOCK_F_NO_IMPLIED_STREAM 2

/* Virtqueue numbers of the vsock device. */
#define VIRTIO_VSOCK_VQ_RX	0
#define VIRTIO_VSOCK_VQ_TX	1
#define VIRTIO_VSOCK_VQ_EVENT	2
#define VIRTIO_VSOCK_VQ_NUM	3

/* Event queue: struct virtio_vsock_event { le32 id; }. */
#define VIRTIO_VSOCK_EVENT_TRANSPORT_RESET 0
#define VIRTIO_VSOCK_EVENT_LEN 4

#endif /* VIRTIO_VSOCK_RING_DEFS_H */
