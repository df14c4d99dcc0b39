/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device bring-up, common to every transport: parse the spec, negotiate
 * features, lay out the queues, post buffers, start; and the port glue.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include <dpdk_vsock_config.h>
#include <vsock_hdr.h>

#include "virtio_vsock_internal.h"

RTE_LOG_REGISTER(virtio_vsock_logtype, vsock.driver, NOTICE);

#define VV_DEFAULT_QUEUE_SIZE VSOCK_DEFAULT_QUEUE_SIZE
#define VV_EVENT_QUEUE_SIZE 8

static const struct virtio_vsock_transport_ops *const transports[] = {
	&virtio_vsock_loopback_ops,
	&virtio_vsock_vhost_user_ops,
	&virtio_vsock_vhost_kernel_ops,
	&virtio_vsock_pci_ops,
};

/* Features this driver implements. */
static const uint64_t driver_features =
	(1ULL << VIRTIO_F_VERSION_1) |
	(1ULL << VIRTIO_F_RING_PACKED) |
	(1ULL << VIRTIO_F_RING_EVENT_IDX) |
	(1ULL << VIRTIO_VSOCK_F_STREAM) |
	(1ULL << VIRTIO_VSOCK_F_SEQPACKET) |
	(1ULL << VIRTIO_VSOCK_F_NO_IMPLIED_STREAM);

/* The public masks of virtio_vsock_dev.h name the same bits. */
_Static_assert(VIRTIO_VSOCK_FEATURE_EVENT_IDX ==
	1ULL << VIRTIO_F_RING_EVENT_IDX, "EVENT_IDX bit");
_Static_assert(VIRTIO_VSOCK_FEATURE_RING_PACKED ==
	1ULL << VIRTIO_F_RING_PACKED, "RING_PACKED bit");

static const struct virtio_vsock_transport_ops *
find_transport(const char *spec, const char **args)
{
	size_t i;

	for (i = 0; i < RTE_DIM(transports); i++) {
		size_t len = strlen(transports[i]->name);

		if (strncmp(spec, transports[i]->name, len) != 0)
			continue;
		if (spec[len] == '\0') {
			*args = "";
			return transports[i];
		}
		/* "loopback,packed=0" reads as well as "loopback:packed=0". */
		if (spec[len] == ':' || spec[len] == ',') {
			*args = spec + len + 1;
			return transports[i];
		}
	}
	return NULL;
}

const char *
virtio_vsock_spec_usage(void)
{
	static char buf[2048];
	size_t i, off = 0;

	if (buf[0] != '\0')
		return buf;
	for (i = 0; i < RTE_DIM(transports) && off < sizeof(buf); i++)
		off += snprintf(buf + off, sizeof(buf) - off, "  %s\n",
				transports[i]->usage);
	return buf;
}

/*
 * Find the transport of @spec and parse its arguments into *@targs (to
 * free) and @da. Returns 0, or a negative errno with @err filled.
 */
static int
vv_spec_parse(const char *spec, const struct virtio_vsock_transport_ops **tp,
		void **targs, struct virtio_vsock_devargs *da, char *err,
		size_t errlen)
{
	const struct virtio_vsock_transport_ops *t;
	const char *args = NULL;
	int ret;

	t = spec != NULL ? find_transport(spec, &args) : NULL;
	if (t == NULL) {
		snprintf(err, errlen, "unknown device '%s'; known devices:\n%s",
			spec != NULL ? spec : "(null)",
			virtio_vsock_spec_usage());
		return -EINVAL;
	}
	*targs = calloc(1, RTE_MAX(t->args_size, (size_t)1));
	if (*targs == NULL) {
		snprintf(err, errlen, "%s: no memory", spec);
		return -ENOMEM;
	}
	ret = t->parse(args, *targs, da, err, errlen);
	if (ret != 0) {
		free(*targs);
		*targs = NULL;
		return ret;
	}
	*tp = t;
	return 0;
}

int
virtio_vsock_spec_check(const char *spec, char *err, size_t errlen)
{
	const struct virtio_vsock_transport_ops *t;
	struct virtio_vsock_devargs da = { 0 };
	void *targs = NULL;
	int ret;

	ret = vv_spec_parse(spec, &t, &targs, &da, err, errlen);
	free(targs);
	return ret;
}

static void
vv_free_mbuf(void *cookie, void *arg)
{
	RTE_SET_USED(arg);
	rte_pktmbuf_free(cookie);
}

static void
vv_forget(void *cookie, void *arg)
{
	RTE_SET_USED(cookie);
	RTE_SET_USED(arg);
}

static void
vv_free_queues(struct virtio_vsock_dev *dev)
{
	int q;

	for (q = 0; q < VIRTIO_VSOCK_VQ_NUM; q++) {
		if (dev->vq[q] != NULL)
			virtqueue_drain(dev->vq[q], q == VIRTIO_VSOCK_VQ_EVENT ?
					vv_forget : vv_free_mbuf, NULL);
		rte_free(dev->vq_mem[q]);
		rte_free(dev->vq_priv[q]);
		dev->vq[q] = NULL;
		dev->vq_mem[q] = NULL;
		dev->vq_priv[q] = NULL;
	}
	rte_free(dev->event_buf);
	dev->event_buf = NULL;
}

void
virtio_vsock_rings_relayout(struct virtio_vsock_dev *dev)
{
	int q;

	for (q = 0; q < VIRTIO_VSOCK_VQ_NUM; q++) {
		struct virtqueue *vq = dev->vq[q];

		virtqueue_drain(vq, q == VIRTIO_VSOCK_VQ_EVENT ? vv_forget :
				vv_free_mbuf, NULL);
		/* virtqueue_init() clears them: keep the device's record. */
		dev->stats.bad_used_id += vq->stats.bad_used_id;
		dev->stats.bad_used_idx += vq->stats.bad_used_idx;
		memset(dev->vq_mem[q], 0, virtqueue_ring_mem_size(vq->size));
		dev->vq[q] = virtqueue_init(dev->vq_priv[q], dev->vq_mem[q],
				vq->size, (uint16_t)q, dev->vq_flags);
	}
	dev->tx_inflight = 0;
}

static int
vv_setup_queues(struct virtio_vsock_dev *dev, char *err, size_t errlen)
{
	int q;

	for (q = 0; q < VIRTIO_VSOCK_VQ_NUM; q++) {
		uint16_t size = q == VIRTIO_VSOCK_VQ_EVENT ?
			VV_EVENT_QUEUE_SIZE : dev->queue_size;

		/* A device may take less: use what it can. */
		if (dev->ops->queue_max != NULL) {
			uint16_t max = dev->ops->queue_max(dev, (uint16_t)q);

			if (max < 2) {
				snprintf(err, errlen, "%s: device has no queue "
					"%d", dev->name, q);
				return -EIO;
			}
			while (size > max)
				size >>= 1;
		}

		dev->vq_mem[q] = rte_zmalloc_socket("vsock_vring",
				virtqueue_ring_mem_size(size), VIRTQ_ALIGN,
				dev->socket_id);
		dev->vq_priv[q] = rte_zmalloc_socket("vsock_vq",
				virtqueue_priv_size(size), RTE_CACHE_LINE_SIZE,
				dev->socket_id);
		if (dev->vq_mem[q] == NULL || dev->vq_priv[q] == NULL) {
			snprintf(err, errlen, "%s: no memory for queue %d of "
				"%u entries (hugepages reserved?)", dev->name,
				q, size);
			return -ENOMEM;
		}
		dev->vq[q] = virtqueue_init(dev->vq_priv[q], dev->vq_mem[q],
				size, (uint16_t)q, dev->vq_flags);
		if (dev->ops->setup_queue(dev, dev->vq[q]) != 0) {
			snprintf(err, errlen, "%s: device refused queue %d",
				dev->name, q);
			return -EIO;
		}
	}
	dev->event_buf = rte_zmalloc_socket("vsock_events",
			VV_EVENT_QUEUE_SIZE * VIRTIO_VSOCK_EVENT_LEN, 0,
			dev->socket_id);
	if (dev->event_buf == NULL) {
		snprintf(err, errlen, "%s: no memory for events", dev->name);
		return -ENOMEM;
	}
	return 0;
}

static int
vv_negotiate(struct virtio_vsock_dev *dev, char *err, size_t errlen)
{
	uint64_t offered = dev->ops->get_features(dev);

	if (!(offered & (1ULL << VIRTIO_F_VERSION_1))) {
		snprintf(err, errlen, "%s: device does not offer "
			"VIRTIO_F_VERSION_1 (legacy devices are not supported)",
			dev->name);
		return -ENOTSUP;
	}
	dev->features = offered & (driver_features |
			dev->ops->extra_features) &
		~(dev->ops->no_features | dev->refuse);
	if ((dev->want & ~dev->features) != 0) {
		snprintf(err, errlen, "%s: the device does not offer %s",
			dev->name, dev->want & ~dev->features &
			(1ULL << VIRTIO_F_RING_PACKED) ? "packed rings" :
			"EVENT_IDX");
		return -ENOTSUP;
	}
	dev->vq_flags =
		(dev->features & (1ULL << VIRTIO_F_RING_PACKED) ?
			VQ_F_PACKED : 0) |
		(dev->features & (1ULL << VIRTIO_F_RING_EVENT_IDX) ?
			VQ_F_EVENT_IDX : 0);
	if (dev->ops->set_features(dev, dev->features) != 0) {
		snprintf(err, errlen, "%s: device refused features 0x%" PRIx64,
			dev->name, dev->features);
		return -EIO;
	}
	return 0;
}

int
virtio_vsock_renegotiate(struct virtio_vsock_dev *dev, char *err,
		size_t errlen)
{
	uint64_t lost = dev->features & ~dev->ops->get_features(dev);

	if (lost != 0) {
		snprintf(err, errlen, "%s: after its reset the device no "
			"longer offers features 0x%" PRIx64, dev->name, lost);
		return -ENOTSUP;
	}
	if (dev->ops->set_features(dev, dev->features) != 0) {
		snprintf(err, errlen, "%s: after its reset the device refused "
			"features 0x%" PRIx64, dev->name, dev->features);
		return -EIO;
	}
	return 0;
}

int
virtio_vsock_read_cid(struct virtio_vsock_dev *dev, char *err, size_t errlen)
{
	/* le64 guest_cid; the upper 32 bits are reserved. */
	uint64_t cid = dev->ops->get_cid(dev) & UINT32_MAX;

	if (cid <= VSOCK_CID_HOST || cid == VSOCK_CID_ANY) {
		snprintf(err, errlen, "%s: device reports invalid guest CID "
			"%" PRIu64, dev->name, cid);
		return -EINVAL;
	}
	dev->cid = cid;
	return 0;
}

static uint64_t
vv_port_cid(void *priv)
{
	return ((struct virtio_vsock_dev *)priv)->cid;
}

static uint32_t
vv_port_features(void *priv)
{
	const struct virtio_vsock_dev *dev = priv;
	uint32_t f = 0;

	if (dev->features & (1ULL << VIRTIO_VSOCK_F_SEQPACKET))
		f |= VSOCK_PORT_F_SEQPACKET;
	/* Stream is implied unless the device says it is not. */
	if (!(dev->features & (1ULL << VIRTIO_VSOCK_F_NO_IMPLIED_STREAM)) ||
			(dev->features & (1ULL << VIRTIO_VSOCK_F_STREAM)))
		f |= VSOCK_PORT_F_STREAM;
	return f;
}

/* The driver's counters, for telemetry (/vsock/ports) and vsock-ss. */
static int
vv_port_xstats(void *priv, struct vsock_port_xstat *xs, unsigned int n)
{
	struct virtio_vsock_stats st;
	const struct {
		const char *name;
		size_t off;
	} f[] = {
#define VV_XSTAT(x) { #x, offsetof(struct virtio_vsock_stats, x) }
		VV_XSTAT(rx_pkts), VV_XSTAT(rx_bytes), VV_XSTAT(tx_pkts),
		VV_XSTAT(tx_bytes), VV_XSTAT(rx_bad_len), VV_XSTAT(bad_used_id),
		VV_XSTAT(bad_used_idx), VV_XSTAT(rx_nombuf), VV_XSTAT(tx_full),
		VV_XSTAT(kicks), VV_XSTAT(events), VV_XSTAT(rx_posted),
		VV_XSTAT(bad_events), VV_XSTAT(broken), VV_XSTAT(recoveries),
		VV_XSTAT(recovery_failures), VV_XSTAT(tx_dead),
		VV_XSTAT(status_lost),
#undef VV_XSTAT
	};
	unsigned int i;

	virtio_vsock_stats_get(priv, &st);
	for (i = 0; i < RTE_DIM(f) && i < n; i++) {
		snprintf(xs[i].name, sizeof(xs[i].name), "%s", f[i].name);
		memcpy(&xs[i].value, (const char *)&st + f[i].off,
			sizeof(xs[i].value));
	}
	return RTE_DIM(f);
}

static const struct vsock_port_ops vv_port_ops = {
	.rx_burst = virtio_vsock_rx_burst,
	.tx_burst = virtio_vsock_tx_burst,
	.local_cid = vv_port_cid,
	.features = vv_port_features,
	.poll_event = virtio_vsock_poll_event,
	.tx_inflight = virtio_vsock_tx_inflight,
	.xstats = vv_port_xstats,
};

static int
vv_bring_up(struct virtio_vsock_dev *dev, char *err, size_t errlen)
{
	int ret;

	ret = vv_negotiate(dev, err, errlen);
	if (ret == 0)
		ret = virtio_vsock_read_cid(dev, err, errlen);
	if (ret == 0)
		ret = vv_setup_queues(dev, err, errlen);
	if (ret != 0)
		return ret;
	/* Fill the event queue before the rx queue (spec 5.10.6.1). */
	virtio_vsock_event_refill(dev);
	if (virtio_vsock_rx_refill(dev) == 0) {
		snprintf(err, errlen, "%s: rx pool is empty", dev->name);
		return -ENOBUFS;
	}
	ret = dev->ops->start(dev);
	if (ret != 0) {
		snprintf(err, errlen, "%s: device did not start: %s", dev->name,
			strerror(-ret));
		return ret;
	}
	dev->up = true;
	return 0;
}

struct virtio_vsock_dev *
virtio_vsock_open(const char *spec, const struct virtio_vsock_conf *conf,
		char *err, size_t errlen)
{
	const struct virtio_vsock_transport_ops *t;
	struct virtio_vsock_devargs da = { 0 };
	struct virtio_vsock_dev *dev;
	void *targs = NULL;
	uint32_t room;
	int ret;

	ret = vv_spec_parse(spec, &t, &targs, &da, err, errlen);
	if (ret != 0) {
		rte_errno = -ret;
		return NULL;
	}
	if (conf == NULL || conf->rx_pool == NULL) {
		snprintf(err, errlen, "%s: no rx pool given", spec);
		free(targs);
		rte_errno = EINVAL;
		return NULL;
	}
	room = rte_pktmbuf_data_room_size(conf->rx_pool) -
		RTE_PKTMBUF_HEADROOM;
	dev = rte_zmalloc_socket("virtio_vsock", sizeof(*dev),
			RTE_CACHE_LINE_SIZE, conf->socket_id);
	if (dev == NULL) {
		snprintf(err, errlen, "%s: no memory", spec);
		free(targs);
		rte_errno = ENOMEM;
		return NULL;
	}
	snprintf(dev->name, sizeof(dev->name), "%s", spec);
	dev->ops = t;
	dev->rx_pool = conf->rx_pool;
	dev->socket_id = conf->socket_id;
	dev->queue_size = VV_DEFAULT_QUEUE_SIZE;
	dev->rx_buf_len = room;
	dev->notify_rx = true;
	ret = t->create(dev, targs, err, errlen);
	free(targs);
	if (ret == 0) {
		if (da.queue_size != 0)
			dev->queue_size = da.queue_size;
		dev->want = da.want;
		dev->refuse = da.refuse;
#ifdef VIRTIO_VSOCK_TEST_HOOKS
		dev->break_after = da.break_after;
#endif
		if (da.rx_buf > room) {
			snprintf(err, errlen, "%s: rx_buf=%u is larger than "
				"the pool's mbuf data room (%u)", spec,
				da.rx_buf, room);
			ret = -EINVAL;
		} else if (da.rx_buf != 0) {
			dev->rx_buf_len = da.rx_buf;
		}
		if (ret == 0)
			ret = vv_bring_up(dev, err, errlen);
		if (ret != 0) {
			t->stop(dev);
			vv_free_queues(dev);
			t->release(dev);
		}
	}
	if (ret != 0) {
		rte_free(dev);
		rte_errno = -ret;
		return NULL;
	}
	dev->port.ops = &vv_port_ops;
	dev->port.priv = dev;
	dev->port.name = dev->name;
	VV_LOG(INFO, "%s: up, cid %" PRIu64 ", features 0x%" PRIx64
		", %s rings of %u entries, rx buffers of %u bytes", dev->name,
		dev->cid, dev->features, dev->vq_flags & VQ_F_PACKED ?
		"packed" : "split", dev->queue_size, dev->rx_buf_len);
	return dev;
}

struct vsock_port *
virtio_vsock_port(struct virtio_vsock_dev *dev)
{
	return &dev->port;
}

uint64_t
virtio_vsock_cid(const struct virtio_vsock_dev *dev)
{
	return dev->cid;
}

uint64_t
virtio_vsock_features(const struct virtio_vsock_dev *dev)
{
	return dev->features;
}

void
virtio_vsock_stats_get(const struct virtio_vsock_dev *dev,
		struct virtio_vsock_stats *stats)
{
	int q;

	*stats = dev->stats;
	stats->rx_posted = virtqueue_in_flight(dev->vq[VIRTIO_VSOCK_VQ_RX]);
	/* Counts of rings laid out before, plus the present ones. */
	for (q = 0; q < VIRTIO_VSOCK_VQ_NUM; q++) {
		stats->bad_used_id += dev->vq[q]->stats.bad_used_id;
		stats->bad_used_idx += dev->vq[q]->stats.bad_used_idx;
	}
}

#ifdef VIRTIO_VSOCK_TEST_HOOKS
int
virtio_vsock_inject_event(struct virtio_vsock_dev *dev, uint32_t id,
		uint64_t new_cid)
{
	if (dev->ops->inject_event == NULL)
		return -ENOTSUP;
	return dev->ops->inject_event(dev, id, new_cid);
}
#endif

void
virtio_vsock_close(struct virtio_vsock_dev *dev)
{
	if (dev == NULL)
		return;
	dev->ops->stop(dev);
	vv_free_queues(dev);
	dev->ops->release(dev);
	rte_free(dev);
}
