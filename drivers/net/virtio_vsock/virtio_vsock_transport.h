/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Transports behind one ops table, as DPDK's virtio-user does: adding a
 * transport adds a file and a line in the table of virtio_vsock_dev.c.
 * The device itself and the helpers a transport may call are in
 * virtio_vsock_internal.h.
 */
#ifndef VIRTIO_VSOCK_TRANSPORT_H
#define VIRTIO_VSOCK_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

struct virtio_vsock_dev;
struct virtqueue;

/* Common options a transport may take from its spec. */
struct virtio_vsock_devargs {
	uint16_t queue_size;
	uint32_t rx_buf;
	uint64_t want;		/* ring features asked for with key=1 */
	uint64_t refuse;	/* ring features refused with key=0 */
#ifdef VIRTIO_VSOCK_TEST_HOOKS
	uint64_t break_after;	/* break_after=N, 0: none */
#endif
};

struct virtio_vsock_transport_ops {
	const char *name;	/* spec prefix, e.g. "loopback" */
	const char *usage;	/* one line for --help */
	/* Size of the transport's parsed-args struct, for parse and create. */
	size_t args_size;
	/*
	 * Parse @args (the spec after "name:", may be empty) into @targs,
	 * args_size zeroed bytes, and the common options into @da; touch no
	 * device, so that virtio_vsock_spec_check() can run before EAL is
	 * up. On error fill @err naming the bad value.
	 */
	int (*parse)(const char *args, void *targs,
			struct virtio_vsock_devargs *da, char *err,
			size_t errlen);
	/*
	 * Bring the device up to feature negotiation from what parse left
	 * in @targs: set dev->tpriv, reach the device. On error fill @err
	 * and leave nothing to release.
	 */
	int (*create)(struct virtio_vsock_dev *dev, const void *targs,
			char *err, size_t errlen);
	uint64_t (*get_features)(struct virtio_vsock_dev *dev);
	int (*set_features)(struct virtio_vsock_dev *dev, uint64_t features);
	uint64_t (*get_cid)(struct virtio_vsock_dev *dev);
	/* Hand a laid-out queue to the device. */
	int (*setup_queue)(struct virtio_vsock_dev *dev, struct virtqueue *vq);
	/* DRIVER_OK: the device may start using the queues. */
	int (*start)(struct virtio_vsock_dev *dev);
	void (*notify)(struct virtio_vsock_dev *dev, uint16_t queue_id);
	/* Stop the device; no ring is touched by it afterwards. */
	void (*stop)(struct virtio_vsock_dev *dev);
	void (*release)(struct virtio_vsock_dev *dev);
	/*
	 * Optional, called now and then from the data path: watch the
	 * connection to the device, bring it back. Returns 1 when the device
	 * was lost or came back (the stack hears TRANSPORT_RESET).
	 */
	int (*ctrl_poll)(struct virtio_vsock_dev *dev);
	/* Optional: the largest queue the device takes (PCI devices say). */
	uint16_t (*queue_max)(struct virtio_vsock_dev *dev, uint16_t queue_id);
	/*
	 * Transport feature bits this transport handles on top of the
	 * driver's (PCI: VIRTIO_F_ACCESS_PLATFORM, honoured by VFIO).
	 */
	uint64_t extra_features;
	/* Driver features it cannot carry (vhost-kernel: packed rings). */
	uint64_t no_features;
#ifdef VIRTIO_VSOCK_TEST_HOOKS
	/* Optional: make the device raise event @id (tests, fault drills). */
	int (*inject_event)(struct virtio_vsock_dev *dev, uint32_t id,
			uint64_t new_cid);
#endif
	/*
	 * Optional: reset the device, keeping the way to it (socket, fd,
	 * function): it stops touching the rings and forgets every ring
	 * position, and is back at feature negotiation, with its CID read
	 * again for get_cid. set_features, setup_queue and start follow with
	 * fresh rings (virtio 1.2, 3.1.1). Returns 0; -EAGAIN while the
	 * device is not back from a reset of its own (it answers nothing:
	 * recovery looks again shortly, no failure counted); or another
	 * negative errno when it cannot be reset now. Without it a device
	 * that broke a ring stays down.
	 */
	int (*reset)(struct virtio_vsock_dev *dev);
};

extern const struct virtio_vsock_transport_ops virtio_vsock_loopback_ops;
extern const struct virtio_vsock_transport_ops virtio_vsock_vhost_user_ops;
extern const struct virtio_vsock_transport_ops virtio_vsock_vhost_kernel_ops;
extern const struct virtio_vsock_transport_ops virtio_vsock_pci_ops;

#endif /* VIRTIO_VSOCK_TRANSPORT_H */
