/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split virtqueue layout and the feature bits this driver knows, from the
 * virtio 1.x specification. Fields are little-endian on the wire; the
 * driver is built for little-endian hosts only (checked below), which keeps
 * the hot paths free of byte swaps.
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
