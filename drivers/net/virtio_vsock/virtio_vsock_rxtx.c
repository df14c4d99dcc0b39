/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Rx and tx bursts over the virtqueues, split or packed: one path, the
 * layout is the queue's business. Zero copy both ways: rx hands up
 * the mbufs the device wrote; tx posts the caller's segments as they are
 * and frees them when the device has used them. A device that breaks
 * the ring protocol is only marked broken here (virtio_vsock_broken());
 * telling the stack and recovering are the control plane's
 * (virtio_vsock_ctrl.c).
 */
#include <rte_branch_prediction.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include <vsock_hdr.h>

#include "virtio_vsock_internal.h"

#define VV_BURST 32
/*
 * Used tx descriptors are reclaimed in batches, as DPDK's virtio PMD does
 * (tx_free_thresh): reading a descriptor the device is about to write
 * pulls its cache line from the device's core and back, so the driver
 * waits until half the ring is out, or this much payload, before it
 * looks. A poll that posted nothing reclaims at once, so that the
 * stack's byte budget can never wait on bytes already used.
 */
#define VV_TX_LAZY_BYTES (256u * 1024)

static inline uint64_t
vv_seg_addr(const struct virtio_vsock_dev *dev, const struct rte_mbuf *m)
{
	return dev->use_va ? (uint64_t)(uintptr_t)rte_pktmbuf_mtod(m, void *) :
		rte_pktmbuf_iova(m);
}

void
virtio_vsock_broken(struct virtio_vsock_dev *dev, const char *why)
{
	if (dev->broken)
		return;
	dev->broken = true;
	dev->stats.broken++;
	VV_LOG_RL(ERR, "%s: device broken (%s): its rings "
		"are no longer trusted", dev->name, why);
}

void
virtio_vsock_vq_broken(struct virtio_vsock_dev *dev,
		const struct virtqueue *vq)
{
	static const char *const names[VIRTIO_VSOCK_VQ_NUM] = {
		"rx", "tx", "event",
	};

	virtio_vsock_broken(dev, vq->broken ? names[vq->queue_id] :
		vq->queue_id == VIRTIO_VSOCK_VQ_RX ? "bad used id on rx" :
		vq->queue_id == VIRTIO_VSOCK_VQ_TX ? "bad used id on tx" :
		"bad used id on event");
}

int
virtio_vsock_rx_refill(struct virtio_vsock_dev *dev)
{
	struct virtqueue *vq = dev->vq[VIRTIO_VSOCK_VQ_RX];
	struct rte_mbuf *mbufs[VV_BURST];
	uint16_t posted = 0;

	while (vq->num_free > 0) {
		uint16_t n = RTE_MIN(vq->num_free, (uint16_t)VV_BURST);
		uint16_t i;

		if (rte_pktmbuf_alloc_bulk(dev->rx_pool, mbufs, n) != 0) {
			dev->stats.rx_nombuf++;
			break;
		}
		for (i = 0; i < n; i++) {
			struct vq_buf b = {
				.addr = vv_seg_addr(dev, mbufs[i]),
				.len = dev->rx_buf_len,
				.writable = true,
			};

			/* Cannot fail: n <= num_free and one desc each. */
			virtqueue_enqueue(vq, &b, 1, mbufs[i]);
		}
		posted += n;
	}
	if (posted > 0) {
		if (dev->notify_rx)
			virtio_vsock_kick(dev, vq);
		else
			virtqueue_publish(vq);
	}
	return posted;
}

#ifdef VIRTIO_VSOCK_TEST_HOOKS
/*
 * break_after=N: once N packets came in, stop trusting the rings as if
 * the device had broken them, so that recovery runs against devices
 * that never misbehave (the kernel's vhost-vsock).
 */
static bool
vv_break_due(struct virtio_vsock_dev *dev)
{
	if (dev->break_after == 0 || dev->stats.rx_pkts < dev->break_after)
		return false;
	dev->break_after = 0;
	virtio_vsock_broken(dev, "break_after= (test hook)");
	return true;
}
#else
#define vv_break_due(dev) false
#endif

uint16_t
virtio_vsock_rx_burst(void *priv, struct rte_mbuf **pkts, uint16_t n)
{
	struct virtio_vsock_dev *dev = priv;
	struct virtqueue *vq = dev->vq[VIRTIO_VSOCK_VQ_RX];
	void *cookies[VV_BURST];
	uint32_t lens[VV_BURST];
	uint16_t got, i, k = 0;

	if (unlikely(!dev->up || dev->broken || vv_break_due(dev)))
		return 0;
	if (n > VV_BURST)
		n = VV_BURST;
	got = virtqueue_dequeue(vq, cookies, lens, n);
	if (unlikely(vv_vq_bad(vq))) {
		/*
		 * A packet went missing somewhere in this burst: hand up none,
		 * or a stream could go on past the hole before the reset.
		 */
		virtio_vsock_vq_broken(dev, vq);
		rte_pktmbuf_free_bulk((struct rte_mbuf **)cookies, got);
		return 0;
	}
	for (i = 0; i < got; i++) {
		struct rte_mbuf *m = cookies[i];

		if (i + 1 < got)
			rte_prefetch0(rte_pktmbuf_mtod(
				(struct rte_mbuf *)cookies[i + 1], void *));
		if (unlikely(lens[i] < VSOCK_HDR_LEN ||
				lens[i] > dev->rx_buf_len)) {
			/*
			 * A packet lost here would be bytes missing from a
			 * stream nobody hears of: break the device, so that
			 * its connections are reset instead, and hand up
			 * nothing after the hole.
			 */
			dev->stats.rx_bad_len++;
			VV_LOG_RL(ERR, "%s: rx used length %u outside %u..%u",
				dev->name, lens[i], VSOCK_HDR_LEN,
				dev->rx_buf_len);
			virtio_vsock_broken(dev, "rx used length");
			rte_pktmbuf_free_bulk((struct rte_mbuf **)&cookies[i],
					got - i);
			break;
		}
		m->data_len = (uint16_t)lens[i];
		m->pkt_len = lens[i];
		dev->stats.rx_bytes += lens[i];
		pkts[k++] = m;
	}
	dev->stats.rx_pkts += k;
	/*
	 * Refill once the used entries in sight are taken (or half the ring
	 * is out): a buffer posted again at once would make a device that
	 * returns it twice in a row look right the second time.
	 */
	if ((got < n && vq->num_free >= VV_BURST) ||
			vq->num_free >= vq->size / 2)
		virtio_vsock_rx_refill(dev);
	return k;
}

static void
vv_tx_reclaim(struct virtio_vsock_dev *dev, struct virtqueue *vq)
{
	void *cookies[VV_BURST];
	uint32_t lens[VV_BURST];
	uint16_t got, i;

	do {
		got = virtqueue_dequeue(vq, cookies, lens, VV_BURST);
		for (i = 0; i < got; i++)
			dev->tx_inflight -=
				((struct rte_mbuf *)cookies[i])->pkt_len;
		rte_pktmbuf_free_bulk((struct rte_mbuf **)cookies, got);
	} while (got == VV_BURST);
	if (unlikely(vv_vq_bad(vq)))
		virtio_vsock_vq_broken(dev, vq);
}

static inline bool
vv_tx_reclaim_due(const struct virtio_vsock_dev *dev,
		const struct virtqueue *vq, uint16_t need)
{
	return vq->num_free < need || vq->num_free < vq->size / 2 ||
		dev->tx_inflight >= VV_TX_LAZY_BYTES;
}

uint32_t
virtio_vsock_tx_inflight(void *priv)
{
	struct virtio_vsock_dev *dev = priv;
	struct virtqueue *vq = dev->vq[VIRTIO_VSOCK_VQ_TX];

	if (!dev->tx_posted || vv_tx_reclaim_due(dev, vq, 0))
		vv_tx_reclaim(dev, vq);
	dev->tx_posted = false;
	return dev->tx_inflight;
}

/*
 * No device to take packets: the stack keeps them for when it is back,
 * unless it was given up, when they would wait forever.
 */
static uint16_t
vv_tx_down(struct virtio_vsock_dev *dev, struct rte_mbuf **pkts, uint16_t n)
{
	if (!dev->dead)
		return 0;
	rte_pktmbuf_free_bulk(pkts, n);
	dev->stats.tx_dead += n;
	return n;
}

uint16_t
virtio_vsock_tx_burst(void *priv, struct rte_mbuf **pkts, uint16_t n)
{
	struct virtio_vsock_dev *dev = priv;
	struct virtqueue *vq = dev->vq[VIRTIO_VSOCK_VQ_TX];
	struct vq_buf bufs[VQ_TX_MAX_SEGS];
	uint16_t i;

	if (unlikely(!dev->up || dev->broken))
		return vv_tx_down(dev, pkts, n);
	if (vv_tx_reclaim_due(dev, vq, n))
		vv_tx_reclaim(dev, vq);
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct rte_mbuf *seg;
		uint16_t nseg = 0;

		if (unlikely(m->nb_segs > VQ_TX_MAX_SEGS)) {
			/* The stack never builds these; refuse, don't wedge. */
			dev->stats.tx_full++;
			break;
		}
		if (m->nb_segs > vq->num_free) {
			dev->stats.tx_full++;
			break;
		}
		for (seg = m; seg != NULL; seg = seg->next) {
			bufs[nseg].addr = vv_seg_addr(dev, seg);
			bufs[nseg].len = seg->data_len;
			bufs[nseg].writable = false;
			nseg++;
		}
		virtqueue_enqueue(vq, bufs, nseg, m);
		dev->stats.tx_bytes += m->pkt_len;
		dev->tx_inflight += m->pkt_len;
	}
	dev->stats.tx_pkts += i;
	if (i > 0) {
		dev->tx_posted = true;
		virtio_vsock_kick(dev, vq);
	}
	return i;
}
