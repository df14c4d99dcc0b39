/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI transport: a modern virtio-vsock PCI function (1af4:1053) claimed
 * through VFIO with DPDK's public rte_vfio API, which also maps EAL's
 * memory for the device's DMA. The virtio capabilities in config space
 * locate the common, notify and device-config structures in the BARs;
 * everything read from them is range-checked before use. Descriptors
 * carry IOVAs. We poll: no interrupts are set up.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <rte_cycles.h>
#include <rte_io.h>
#include <rte_malloc.h>
#include <rte_memory.h>
#include <rte_vfio.h>

#include <vsock_hdr.h>

#include "virtio_vsock_internal.h"

#define PCI_SYSFS "/sys/bus/pci/devices"
#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_VSOCK 0x1053
#define PCI_NB_BARS 6

/* PCI config space. */
#define PCI_STATUS_OFF 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_COMMAND_OFF 0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_CAP_PTR 0x34
#define PCI_CAP_ID_VNDR 0x09

/* struct virtio_pci_cap (virtio 1.x, 4.1.4). */
#define VPCI_CAP_COMMON 1
#define VPCI_CAP_NOTIFY 2
#define VPCI_CAP_DEVICE 4

/* struct virtio_pci_common_cfg offsets. */
#define VPCI_DFSELECT 0
#define VPCI_DF 4
#define VPCI_GFSELECT 8
#define VPCI_GF 12
#define VPCI_STATUS 20
#define VPCI_Q_SELECT 22
#define VPCI_Q_SIZE 24
#define VPCI_Q_ENABLE 28
#define VPCI_Q_NOFF 30
#define VPCI_Q_DESCLO 32
#define VPCI_Q_AVAILLO 40
#define VPCI_Q_USEDLO 48
#define VPCI_COMMON_LEN 56

#define VST_ACKNOWLEDGE 1
#define VST_DRIVER 2
#define VST_DRIVER_OK 4
#define VST_FEATURES_OK 8
#define VST_NEEDS_RESET 64
#define VST_FAILED 128

struct pci_dev {
	char addr[PATH_MAX];	/* DOMAIN:BUS:DEV.FN */
	int fd;			/* VFIO device fd, -1 before set-up */
	void *bar[PCI_NB_BARS];
	uint64_t bar_len[PCI_NB_BARS];
	uint8_t *common;
	uint8_t *notify;
	uint32_t notify_len;
	uint32_t notify_mult;
	uint8_t *devcfg;
	uint64_t cfg_off;	/* of config space in the VFIO device fd */
	uint16_t notify_off[VIRTIO_VSOCK_VQ_NUM];
};

static inline void
cw8(struct pci_dev *p, unsigned int off, uint8_t v)
{
	rte_write8(v, p->common + off);
}

static inline void
cw16(struct pci_dev *p, unsigned int off, uint16_t v)
{
	rte_write16(v, p->common + off);
}

static inline void
cw32(struct pci_dev *p, unsigned int off, uint32_t v)
{
	rte_write32(v, p->common + off);
}

static inline void
cw64(struct pci_dev *p, unsigned int off, uint64_t v)
{
	cw32(p, off, (uint32_t)v);
	cw32(p, off + 4, (uint32_t)(v >> 32));
}

static inline uint8_t
cr8(struct pci_dev *p, unsigned int off)
{
	return rte_read8(p->common + off);
}

static inline uint16_t
cr16(struct pci_dev *p, unsigned int off)
{
	return rte_read16(p->common + off);
}

static inline uint32_t
cr32(struct pci_dev *p, unsigned int off)
{
	return rte_read32(p->common + off);
}

/* Read a sysfs attribute of the device into @buf; 0 or -errno. */
static int
pci_sysfs(const struct pci_dev *p, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX + 64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), PCI_SYSFS "/%s/%s", p->addr, attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	return 0;
}

/* Is it there, is it ours, is it bound to vfio-pci? Say what to do if not. */
static int
pci_check(const struct pci_dev *p, char *err, size_t errlen)
{
	char buf[64], link[PATH_MAX + 64], drv[PATH_MAX];
	unsigned long vendor, device;
	ssize_t n;

	if (pci_sysfs(p, "vendor", buf, sizeof(buf)) != 0) {
		snprintf(err, errlen, "pci: no PCI device %s", p->addr);
		return -ENODEV;
	}
	vendor = strtoul(buf, NULL, 16);
	if (pci_sysfs(p, "device", buf, sizeof(buf)) != 0)
		return -ENODEV;
	device = strtoul(buf, NULL, 16);
	if (vendor != VIRTIO_PCI_VENDOR || device != VIRTIO_PCI_VSOCK) {
		snprintf(err, errlen, "pci: %s is %04lx:%04lx, not a modern "
			"virtio-vsock device (1af4:1053)", p->addr, vendor,
			device);
		return -ENODEV;
	}
	snprintf(link, sizeof(link), PCI_SYSFS "/%s/driver", p->addr);
	n = readlink(link, drv, sizeof(drv) - 1);
	drv[n > 0 ? n : 0] = '\0';
	if (n <= 0 || strcmp(strrchr(drv, '/') + 1, "vfio-pci") != 0) {
		snprintf(err, errlen, "pci: %s is %s; bind it to vfio-pci: "
			"dpdk-devbind.py -b vfio-pci %s", p->addr,
			n <= 0 ? "bound to no driver" : strrchr(drv, '/') + 1,
			p->addr);
		return -EBUSY;
	}
	return 0;
}

static int
pci_region(int fd, uint32_t index, struct vfio_region_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	return ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0 ? -errno : 0;
}

static void *
pci_map_bar(struct pci_dev *p, uint32_t bar)
{
	struct vfio_region_info ri;
	void *va;

	if (p->bar[bar] != NULL)
		return p->bar[bar];
	if (pci_region(p->fd, VFIO_PCI_BAR0_REGION_INDEX + bar, &ri) != 0 ||
			ri.size == 0 || !(ri.flags & VFIO_REGION_INFO_FLAG_MMAP))
		return NULL;
	va = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd,
			(off_t)ri.offset);
	if (va == MAP_FAILED)
		return NULL;
	p->bar[bar] = va;
	p->bar_len[bar] = ri.size;
	return va;
}

/*
 * Walk the capability list in config space for the virtio structures.
 * Each must lie inside its BAR; loops and bad pointers end the walk.
 */
static int
pci_caps(struct pci_dev *p, char *err, size_t errlen)
{
	struct vfio_region_info ri;
	uint8_t cfg[256];
	unsigned int pos, hops = 0;
	uint16_t cmd;

	if (pci_region(p->fd, VFIO_PCI_CONFIG_REGION_INDEX, &ri) != 0 ||
			pread(p->fd, cfg, sizeof(cfg), (off_t)ri.offset) !=
			(ssize_t)sizeof(cfg)) {
		snprintf(err, errlen, "pci %s: cannot read config space",
			p->addr);
		return -EIO;
	}
	p->cfg_off = ri.offset;
	/* Memory decoding and bus mastering, or the device cannot DMA. */
	cmd = vsock_le16_get(cfg + PCI_COMMAND_OFF) | PCI_COMMAND_MEMORY |
		PCI_COMMAND_MASTER;
	if (pwrite(p->fd, &cmd, sizeof(cmd), (off_t)ri.offset +
			PCI_COMMAND_OFF) != sizeof(cmd)) {
		snprintf(err, errlen, "pci %s: cannot enable bus mastering",
			p->addr);
		return -EIO;
	}
	if (!(vsock_le16_get(cfg + PCI_STATUS_OFF) & PCI_STATUS_CAP_LIST)) {
		snprintf(err, errlen, "pci %s: no capability list", p->addr);
		return -EINVAL;
	}
	for (pos = cfg[PCI_CAP_PTR] & ~3u; pos != 0 && hops < 48;
			pos = cfg[pos + 1] & ~3u, hops++) {
		uint8_t type, bar;
		uint32_t off, len;
		uint8_t *base;

		if (pos < 0x40 || pos > sizeof(cfg) - 20)
			break;
		if (cfg[pos] != PCI_CAP_ID_VNDR || cfg[pos + 2] < 16)
			continue;
		type = cfg[pos + 3];
		bar = cfg[pos + 4];
		off = vsock_le32_get(cfg + pos + 8);
		len = vsock_le32_get(cfg + pos + 12);
		if (type != VPCI_CAP_COMMON && type != VPCI_CAP_NOTIFY &&
				type != VPCI_CAP_DEVICE)
			continue;
		if (bar >= PCI_NB_BARS || (base = pci_map_bar(p, bar)) == NULL ||
				(uint64_t)off + len > p->bar_len[bar]) {
			snprintf(err, errlen, "pci %s: virtio capability %u "
				"points outside BAR %u", p->addr, type, bar);
			return -EINVAL;
		}
		if (type == VPCI_CAP_COMMON && len >= VPCI_COMMON_LEN)
			p->common = base + off;
		else if (type == VPCI_CAP_DEVICE && len >= 8)
			p->devcfg = base + off;
		else if (type == VPCI_CAP_NOTIFY && cfg[pos + 2] >= 20) {
			p->notify = base + off;
			p->notify_len = len;
			p->notify_mult = vsock_le32_get(cfg + pos + 16);
		}
	}
	if (p->common == NULL || p->notify == NULL || p->devcfg == NULL) {
		snprintf(err, errlen, "pci %s: virtio capabilities missing "
			"(a legacy-only device? give QEMU disable-legacy=on)",
			p->addr);
		return -EINVAL;
	}
	return 0;
}

/* Reset: write 0, then wait for the device to read back 0. */
static int
pci_reset(struct pci_dev *p)
{
	uint64_t end = rte_get_timer_cycles() + rte_get_timer_hz();

	cw8(p, VPCI_STATUS, 0);
	while (cr8(p, VPCI_STATUS) != 0)
		if (rte_get_timer_cycles() > end)
			return -ETIMEDOUT;
	return 0;
}

/* After a reset: we have seen the device and can drive it (3.1.1). */
static void
pci_hello(struct pci_dev *p)
{
	cw8(p, VPCI_STATUS, VST_ACKNOWLEDGE);
	cw8(p, VPCI_STATUS, VST_ACKNOWLEDGE | VST_DRIVER);
}

/* The pci spec, parsed: the function's address. */
struct pci_args {
	char addr[sizeof(((struct pci_dev *)0)->addr)];
};

/* DOMAIN:BUS:DEV.FN, not key=value: no common option either. */
static int
pci_parse(const char *args, void *targs, struct virtio_vsock_devargs *da,
		char *err, size_t errlen)
{
	struct pci_args *a = targs;
	unsigned int dom, bus, dv, fn;
	char tail;

	RTE_SET_USED(da);

	/* DOMAIN:BUS:DEV.FN, the domain may be left out. */
	if (sscanf(args, "%x:%x:%x.%x%c", &dom, &bus, &dv, &fn, &tail) == 4) {
		/* full form */
	} else if (sscanf(args, "%x:%x.%x%c", &bus, &dv, &fn, &tail) == 3) {
		dom = 0;
	} else {
		snprintf(err, errlen, "pci: '%s' is not a PCI address "
			"(DOMAIN:BUS:DEV.FN, e.g. 0000:00:04.0)", args);
		return -EINVAL;
	}
	if (dom > 0xffff || bus > 0xff || dv > 0x1f || fn > 7) {
		snprintf(err, errlen, "pci: '%s' is out of range", args);
		return -EINVAL;
	}
	snprintf(a->addr, sizeof(a->addr), "%04x:%02x:%02x.%x", dom, bus, dv,
		fn);
	return 0;
}

static void
pci_release(struct virtio_vsock_dev *dev)
{
	struct pci_dev *p = dev->tpriv;
	int b;

	if (p == NULL)
		return;
	for (b = 0; b < PCI_NB_BARS; b++)
		if (p->bar[b] != NULL)
			munmap(p->bar[b], p->bar_len[b]);
	if (p->fd >= 0)
		rte_vfio_release_device(PCI_SYSFS, p->addr, p->fd);
	free(p);
	dev->tpriv = NULL;
}

static int
pci_create(struct virtio_vsock_dev *dev, const void *targs, char *err,
		size_t errlen)
{
	const struct pci_args *a = targs;
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct pci_dev tmp = { .fd = -1 }, *p;
	int ret;

	memcpy(tmp.addr, a->addr, sizeof(tmp.addr));
	ret = pci_check(&tmp, err, errlen);
	if (ret != 0)
		return ret;
	if (!rte_vfio_is_enabled("vfio")) {
		snprintf(err, errlen, "pci %s: VFIO is not available (modprobe "
			"vfio-pci; EAL must see the device: -a %s)", tmp.addr,
			tmp.addr);
		return -ENODEV;
	}
	p = malloc(sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	*p = tmp;
	dev->tpriv = p;
	dev->use_va = false;
	if (rte_vfio_setup_device(PCI_SYSFS, p->addr, &p->fd, &info) != 0) {
		p->fd = -1;
		snprintf(err, errlen, "pci %s: VFIO set-up failed (in use by "
			"another process? an IOMMU group it shares?)", p->addr);
		pci_release(dev);
		return -EBUSY;
	}
	ret = pci_caps(p, err, errlen);
	if (ret == 0 && pci_reset(p) != 0) {
		snprintf(err, errlen, "pci %s: device does not reset", p->addr);
		ret = -EIO;
	}
	if (ret != 0) {
		pci_release(dev);
		return ret;
	}
	pci_hello(p);
	return 0;
}

static uint64_t
pci_get_features(struct virtio_vsock_dev *dev)
{
	struct pci_dev *p = dev->tpriv;
	uint64_t f;

	cw32(p, VPCI_DFSELECT, 0);
	f = cr32(p, VPCI_DF);
	cw32(p, VPCI_DFSELECT, 1);
	return f | (uint64_t)cr32(p, VPCI_DF) << 32;
}

static int
pci_set_features(struct virtio_vsock_dev *dev, uint64_t features)
{
	struct pci_dev *p = dev->tpriv;

	cw32(p, VPCI_GFSELECT, 0);
	cw32(p, VPCI_GF, (uint32_t)features);
	cw32(p, VPCI_GFSELECT, 1);
	cw32(p, VPCI_GF, (uint32_t)(features >> 32));
	cw8(p, VPCI_STATUS, VST_ACKNOWLEDGE | VST_DRIVER | VST_FEATURES_OK);
	/* The device clears FEATURES_OK when it cannot live with them. */
	if (!(cr8(p, VPCI_STATUS) & VST_FEATURES_OK)) {
		cw8(p, VPCI_STATUS, VST_FAILED);
		return -ENOTSUP;
	}
	return 0;
}

static uint64_t
pci_get_cid(struct virtio_vsock_dev *dev)
{
	struct pci_dev *p = dev->tpriv;

	return (uint64_t)rte_read32(p->devcfg) |
		(uint64_t)rte_read32(p->devcfg + 4) << 32;
}

static uint16_t
pci_queue_max(struct virtio_vsock_dev *dev, uint16_t queue_id)
{
	struct pci_dev *p = dev->tpriv;

	cw16(p, VPCI_Q_SELECT, queue_id);
	return cr16(p, VPCI_Q_SIZE);
}

static int
pci_setup_queue(struct virtio_vsock_dev *dev, struct virtqueue *vq)
{
	struct pci_dev *p = dev->tpriv;
	uint16_t q = vq->queue_id;
	uint64_t noff;

	cw16(p, VPCI_Q_SELECT, q);
	cw16(p, VPCI_Q_SIZE, vq->size);
	cw64(p, VPCI_Q_DESCLO, rte_mem_virt2iova(vq->desc));
	cw64(p, VPCI_Q_AVAILLO, rte_mem_virt2iova(vq->avail));
	cw64(p, VPCI_Q_USEDLO, rte_mem_virt2iova(vq->used));
	p->notify_off[q] = cr16(p, VPCI_Q_NOFF);
	noff = (uint64_t)p->notify_off[q] * p->notify_mult;
	if (noff + 2 > p->notify_len) {
		VV_LOG(ERR, "pci %s: queue %u notify offset %" PRIu64
			" outside the notify area", p->addr, q, noff);
		return -EINVAL;
	}
	cw16(p, VPCI_Q_ENABLE, 1);
	return 0;
}

static int
pci_start(struct virtio_vsock_dev *dev)
{
	struct pci_dev *p = dev->tpriv;

	cw8(p, VPCI_STATUS, VST_ACKNOWLEDGE | VST_DRIVER | VST_FEATURES_OK |
		VST_DRIVER_OK);
	return (cr8(p, VPCI_STATUS) & VST_FAILED) ? -EIO : 0;
}

static void
pci_notify(struct virtio_vsock_dev *dev, uint16_t queue_id)
{
	struct pci_dev *p = dev->tpriv;

	/* rte_write16 orders the ring updates before the doorbell. */
	rte_write16(queue_id, p->notify +
		(uint64_t)p->notify_off[queue_id] * p->notify_mult);
}

static void
pci_stop(struct virtio_vsock_dev *dev)
{
	struct pci_dev *p = dev->tpriv;

	/* After the reset the device touches none of our memory. */
	if (p != NULL && p->common != NULL && pci_reset(p) != 0)
		VV_LOG(WARNING, "pci %s: device did not reset", p->addr);
}

/*
 * A device reset under the driver (a function reset, the platform's) or
 * one that asks for a reset (DEVICE_NEEDS_RESET, virtio 1.2 2.1.2) no
 * longer reads the status we left. Poll mode takes no config interrupt
 * to hear it; one register read every VV_CTRL_POLL_US does. The device
 * is then broken like one that broke a ring: the stack hears
 * TRANSPORT_RESET, and the device is reset and set up again.
 */
static int
pci_ctrl_poll(struct virtio_vsock_dev *dev)
{
	struct pci_dev *p = dev->tpriv;
	uint8_t st = cr8(p, VPCI_STATUS);
	char why[64];

	if ((st & (VST_DRIVER_OK | VST_NEEDS_RESET | VST_FAILED)) ==
			VST_DRIVER_OK)
		return 0;
	dev->stats.status_lost++;
	snprintf(why, sizeof(why), "status 0x%02x: %s", st,
		(st & VST_NEEDS_RESET) ? "it needs a reset" :
		"it was reset under the driver");
	virtio_vsock_broken(dev, why);
	return 0;
}

/*
 * A function reset under us (a function-level reset takes 100 ms and
 * more) decodes none of its BARs until the kernel restores its config
 * space: its registers read as nothing meanwhile. Not back yet.
 */
static bool
pci_decoding(const struct pci_dev *p)
{
	uint8_t cmd[2];

	return pread(p->fd, cmd, sizeof(cmd), (off_t)(p->cfg_off +
			PCI_COMMAND_OFF)) == (ssize_t)sizeof(cmd) &&
		(vsock_le16_get(cmd) & PCI_COMMAND_MEMORY) != 0;
}

/*
 * Device reset (status 0, read back as 0: the device touches none of our
 * memory, virtio 1.2 4.1.4.3.2), then ACKNOWLEDGE and DRIVER as at open
 * (3.1.1); the features follow, then the CID from the config space, the
 * queues (their sizes and addresses are back to the defaults) and
 * DRIVER_OK.
 */
static int
pci_reinit(struct virtio_vsock_dev *dev)
{
	struct pci_dev *p = dev->tpriv;

	if (!pci_decoding(p))
		return -EAGAIN;
	if (pci_reset(p) != 0) {
		VV_LOG(ERR, "pci %s: device did not reset", p->addr);
		return -EIO;
	}
	pci_hello(p);
	return 0;
}

const struct virtio_vsock_transport_ops virtio_vsock_pci_ops = {
	.name = "pci",
	.usage = "pci:DOMAIN:BUS:DEV.FN  virtio-vsock PCI function bound to "
		"vfio-pci",
	.args_size = sizeof(struct pci_args),
	.parse = pci_parse,
	.create = pci_create,
	.get_features = pci_get_features,
	.set_features = pci_set_features,
	.get_cid = pci_get_cid,
	.setup_queue = pci_setup_queue,
	.start = pci_start,
	.notify = pci_notify,
	.stop = pci_stop,
	.release = pci_release,
	.queue_max = pci_queue_max,
	.ctrl_poll = pci_ctrl_poll,
	.reset = pci_reinit,
	.extra_features = 1ULL << VIRTIO_F_ACCESS_PLATFORM,
};
