/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-kernel transport: /dev/vhost-vsock on a Linux host. The kernel's
 * vhost-vsock becomes our device, and this process a vsock guest with the
 * CID it is given, which the host's AF_VSOCK programs reach. As with
 * vhost-user, descriptors carry virtual addresses and the memory table
 * maps them one to one; the kernel runs the rx and tx rings, the event
 * queue stays with us (as it stays with QEMU).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <vsock_hdr.h>

#include "virtio_vsock_internal.h"

/*
 * The vhost ioctls (Linux's uapi linux/vhost.h, a stable ABI), spelt out
 * here because that header brings its own vring structs, which clash
 * with ours.
 */
#define VK_VIRTIO 0xAF

struct vk_vring_state {
	unsigned int index;
	unsigned int num;
};

struct vk_vring_file {
	unsigned int index;
	int fd;
};

struct vk_vring_addr {
	unsigned int index;
	unsigned int flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};

struct vk_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t flags_padding;
};

struct vk_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vk_mem_region regions[];
};

#define VHOST_GET_FEATURES _IOR(VK_VIRTIO, 0x00, uint64_t)
#define VHOST_SET_FEATURES _IOW(VK_VIRTIO, 0x00, uint64_t)
#define VHOST_SET_OWNER _IO(VK_VIRTIO, 0x01)
#define VHOST_SET_MEM_TABLE _IOW(VK_VIRTIO, 0x03, struct vk_memory)
#define VHOST_SET_VRING_NUM _IOW(VK_VIRTIO, 0x10, struct vk_vring_state)
#define VHOST_SET_VRING_ADDR _IOW(VK_VIRTIO, 0x11, struct vk_vring_addr)
#define VHOST_SET_VRING_BASE _IOW(VK_VIRTIO, 0x12, struct vk_vring_state)
#define VHOST_SET_VRING_KICK _IOW(VK_VIRTIO, 0x20, struct vk_vring_file)
#define VHOST_SET_VRING_CALL _IOW(VK_VIRTIO, 0x21, struct vk_vring_file)
#define VHOST_VSOCK_SET_GUEST_CID _IOW(VK_VIRTIO, 0x60, uint64_t)
#define VHOST_VSOCK_SET_RUNNING _IOW(VK_VIRTIO, 0x61, int)

#define VK_DEV_PATH "/dev/vhost-vsock"
#define VK_NB_RINGS 2
/* Linux's vhost takes 64 memory regions unless told otherwise. */
#define VK_MAX_REGIONS 64

struct vk_dev {
	int fd;
	uint64_t cid;
	int kick[VK_NB_RINGS];
	int call[VK_NB_RINGS];
	struct virtqueue *vq[VK_NB_RINGS];
};

/* The vhost-kernel spec, parsed. */
struct vk_args {
	uint64_t cid;
};

static const char *const vk_keys[] = { "cid", NULL };

static int
vk_arg(const char *key, const char *val, void *targs, char *err,
		size_t errlen)
{
	struct vk_args *a = targs;

	RTE_SET_USED(key);	/* cid, the only one */
	return virtio_vsock_parse_cid("vhost-kernel", val, &a->cid, err,
			errlen);
}

static void
vk_release(struct virtio_vsock_dev *dev)
{
	struct vk_dev *vk = dev->tpriv;
	int q;

	if (vk == NULL)
		return;
	virtio_vsock_mem_watch(dev, false);
	for (q = 0; q < VK_NB_RINGS; q++) {
		if (vk->kick[q] >= 0)
			close(vk->kick[q]);
		if (vk->call[q] >= 0)
			close(vk->call[q]);
	}
	if (vk->fd >= 0)
		close(vk->fd);
	free(vk);
	dev->tpriv = NULL;
}

static int
vk_parse(const char *args, void *targs, struct virtio_vsock_devargs *da,
		char *err, size_t errlen)
{
	struct vk_args *a = targs;
	int ret;

	ret = virtio_vsock_kvargs_parse("vhost-kernel", args, vk_keys, vk_arg,
			a, da, err, errlen);
	if (ret == 0 && a->cid == 0) {
		snprintf(err, errlen, "vhost-kernel: cid=N is required (the "
			"CID this process takes)");
		ret = -EINVAL;
	}
	return ret;
}

static int
vk_create(struct virtio_vsock_dev *dev, const void *targs, char *err,
		size_t errlen)
{
	const struct vk_args *a = targs;
	struct vk_dev *vk;
	int q;

	vk = calloc(1, sizeof(*vk));
	if (vk == NULL)
		return -ENOMEM;
	vk->fd = -1;
	vk->cid = a->cid;
	for (q = 0; q < VK_NB_RINGS; q++)
		vk->kick[q] = vk->call[q] = -1;
	dev->tpriv = vk;
	dev->use_va = true;
	vk->fd = open(VK_DEV_PATH, O_RDWR | O_CLOEXEC);
	if (vk->fd < 0) {
		snprintf(err, errlen, "vhost-kernel: cannot open %s: %s (load "
			"the vhost_vsock module; the kernel must have "
			"CONFIG_VHOST_VSOCK)", VK_DEV_PATH, strerror(errno));
		vk_release(dev);
		return -ENODEV;
	}
	if (ioctl(vk->fd, VHOST_SET_OWNER) < 0) {
		snprintf(err, errlen, "vhost-kernel: VHOST_SET_OWNER: %s",
			strerror(errno));
		vk_release(dev);
		return -EIO;
	}
	for (q = 0; q < VK_NB_RINGS; q++) {
		vk->kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		vk->call[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (vk->kick[q] < 0 || vk->call[q] < 0) {
			snprintf(err, errlen, "vhost-kernel: eventfd: %s",
				strerror(errno));
			vk_release(dev);
			return -EIO;
		}
	}
	return 0;
}

static uint64_t
vk_get_features(struct virtio_vsock_dev *dev)
{
	struct vk_dev *vk = dev->tpriv;
	uint64_t f = 0;

	if (ioctl(vk->fd, VHOST_GET_FEATURES, &f) < 0)
		VV_LOG(ERR, "vhost-kernel: VHOST_GET_FEATURES: %s",
			strerror(errno));
	return f;
}

static int
vk_set_features(struct virtio_vsock_dev *dev, uint64_t features)
{
	struct vk_dev *vk = dev->tpriv;

	if (ioctl(vk->fd, VHOST_SET_FEATURES, &features) < 0) {
		VV_LOG(ERR, "vhost-kernel: VHOST_SET_FEATURES 0x%" PRIx64
			": %s", features, strerror(errno));
		return -errno;
	}
	return 0;
}

static uint64_t
vk_get_cid(struct virtio_vsock_dev *dev)
{
	return ((struct vk_dev *)dev->tpriv)->cid;
}

static int
vk_setup_queue(struct virtio_vsock_dev *dev, struct virtqueue *vq)
{
	struct vk_dev *vk = dev->tpriv;

	if (vq->queue_id < VK_NB_RINGS)
		vk->vq[vq->queue_id] = vq;
	return 0;
}

static int
vk_set_mem_table(struct vk_dev *vk)
{
	struct vv_mem_region regs[VK_MAX_REGIONS];
	struct vk_memory *mem;
	char err[256];
	int n, i, r = 0;

	n = virtio_vsock_mem_regions(regs, VK_MAX_REGIONS, false, err,
			sizeof(err));
	if (n < 0) {
		VV_LOG(ERR, "vhost-kernel: %s", err);
		return n;
	}
	mem = calloc(1, sizeof(*mem) + sizeof(mem->regions[0]) * n);
	if (mem == NULL)
		return -ENOMEM;
	mem->nregions = (uint32_t)n;
	for (i = 0; i < n; i++) {
		mem->regions[i].guest_phys_addr = regs[i].addr;
		mem->regions[i].userspace_addr = regs[i].addr;
		mem->regions[i].memory_size = regs[i].size;
	}
	if (ioctl(vk->fd, VHOST_SET_MEM_TABLE, mem) < 0) {
		r = -errno;
		VV_LOG(ERR, "vhost-kernel: VHOST_SET_MEM_TABLE (%d regions): "
			"%s", n, strerror(errno));
	}
	free(mem);
	return r;
}

static int
vk_ring(struct vk_dev *vk, uint32_t q)
{
	struct virtqueue *vq = vk->vq[q];
	struct vk_vring_state num = { .index = q, .num = vq->size };
	struct vk_vring_state base = { .index = q, .num = 0 };
	struct vk_vring_addr addr = {
		.index = q,
		.desc_user_addr = (uint64_t)(uintptr_t)vq->desc,
		.avail_user_addr = (uint64_t)(uintptr_t)vq->avail,
		.used_user_addr = (uint64_t)(uintptr_t)vq->used,
	};
	struct vk_vring_file kick = { .index = q, .fd = vk->kick[q] };
	struct vk_vring_file call = { .index = q, .fd = vk->call[q] };

	if (ioctl(vk->fd, VHOST_SET_VRING_NUM, &num) < 0 ||
			ioctl(vk->fd, VHOST_SET_VRING_BASE, &base) < 0 ||
			ioctl(vk->fd, VHOST_SET_VRING_ADDR, &addr) < 0 ||
			ioctl(vk->fd, VHOST_SET_VRING_CALL, &call) < 0 ||
			ioctl(vk->fd, VHOST_SET_VRING_KICK, &kick) < 0) {
		VV_LOG(ERR, "vhost-kernel: setting up ring %u: %s", q,
			strerror(errno));
		return -errno;
	}
	return 0;
}

static int
vk_start(struct virtio_vsock_dev *dev)
{
	struct vk_dev *vk = dev->tpriv;
	int running = 1;
	uint32_t q;
	int r;

	r = vk_set_mem_table(vk);
	for (q = 0; q < VK_NB_RINGS && r == 0; q++)
		r = vk_ring(vk, q);
	if (r != 0)
		return r;
	if (ioctl(vk->fd, VHOST_VSOCK_SET_GUEST_CID, &vk->cid) < 0) {
		r = -errno;
		VV_LOG(ERR, "vhost-kernel: CID %" PRIu64 ": %s", vk->cid,
			errno == EADDRINUSE ? "in use by another guest" :
			strerror(errno));
		return r;
	}
	if (ioctl(vk->fd, VHOST_VSOCK_SET_RUNNING, &running) < 0) {
		r = -errno;
		VV_LOG(ERR, "vhost-kernel: VHOST_VSOCK_SET_RUNNING: %s",
			strerror(errno));
		return r;
	}
	virtio_vsock_mem_watch(dev, true);
	return 0;
}

static void
vk_notify(struct virtio_vsock_dev *dev, uint16_t queue_id)
{
	struct vk_dev *vk = dev->tpriv;

	if (queue_id < VK_NB_RINGS && eventfd_write(vk->kick[queue_id], 1) < 0)
		VV_LOG(DEBUG, "vhost-kernel: kick: %s", strerror(errno));
}

/*
 * Running 0: vhost-vsock takes each ring's mutex and unhooks it, so the
 * kernel stops touching our rings before this returns.
 */
static int
vk_halt(struct vk_dev *vk)
{
	int running = 0;

	if (ioctl(vk->fd, VHOST_VSOCK_SET_RUNNING, &running) < 0) {
		VV_LOG(WARNING, "vhost-kernel: stopping: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static void
vk_stop(struct virtio_vsock_dev *dev)
{
	struct vk_dev *vk = dev->tpriv;

	if (vk != NULL && vk->fd >= 0)
		vk_halt(vk);
}

/*
 * A stopped ring takes VHOST_SET_VRING_NUM and _BASE again (EBUSY only
 * while running): vk_start sets each up from index 0, the same CID again
 * (the kernel keeps it ours) and runs. Our CID is the one we gave.
 */
static int
vk_reset(struct virtio_vsock_dev *dev)
{
	return vk_halt(dev->tpriv);
}

const struct virtio_vsock_transport_ops virtio_vsock_vhost_kernel_ops = {
	.name = "vhost-kernel",
	.usage = "vhost-kernel:cid=N[,queue_size=Q][,rx_buf=B]  "
		VK_DEV_PATH " on a Linux host; this process gets CID N",
	.args_size = sizeof(struct vk_args),
	.parse = vk_parse,
	.create = vk_create,
	.get_features = vk_get_features,
	.set_features = vk_set_features,
	.get_cid = vk_get_cid,
	.setup_queue = vk_setup_queue,
	/* Linux's vhost has no packed rings, whatever it may report. */
	.no_features = 1ULL << VIRTIO_F_RING_PACKED,
	.start = vk_start,
	.notify = vk_notify,
	.stop = vk_stop,
	.release = vk_release,
	.reset = vk_reset,
};
