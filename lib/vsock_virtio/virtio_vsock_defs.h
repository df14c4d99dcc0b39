/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtio-vsock device's numbers (virtio 1.x, device type 19, and the
 * transport feature bits of section 6), once for the driver and for the
 * device models. The names are ours where a system header has its own:
 * <linux/virtio_config.h> spells VIRTIO_F_VERSION_1 and friends with the
 * same values, so those are defined only if it has not been included.
 */
#ifndef VSOCK_VIRTIO_DEFS_H
#define VSOCK_VIRTIO_DEFS_H

/* Transport feature bits (virtio 1.x, section 6). */
#define VIRTIO_F_RING_INDIRECT_DESC	28
#define VIRTIO_F_RING_EVENT_IDX		29
#ifndef VIRTIO_F_VERSION_1
#define VIRTIO_F_VERSION_1		32
#endif
#ifndef VIRTIO_F_ACCESS_PLATFORM
#define VIRTIO_F_ACCESS_PLATFORM	33
#endif
#ifndef VIRTIO_F_RING_PACKED
#define VIRTIO_F_RING_PACKED		34
#endif
#ifndef VIRTIO_F_IN_ORDER
#define VIRTIO_F_IN_ORDER		35
#endif

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

#endif /* VSOCK_VIRTIO_DEFS_H */
