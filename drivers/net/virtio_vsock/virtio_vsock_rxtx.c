/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Rx and tx bursts over the virtqueues, split or packed: one path, the
 * layout is the queue's business. Zero copy both ways: rx hands up
 * the mbufs the device wrote; tx posts the caller's segments as they are
 * and frees them when the device has used them.
 */
#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_memory.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include <vsock_hdr.h>

#include "virtio_vsock_transport.h"

#define VV_BURST 32

static inline uint64_t
vv_seg_addr(const struct virtio_vsock_dev *dev, const struct rte_mbuf *m)
{
	return dev->use_va ? (uint64_t)(uintptr_t)rte_pktmbuf_mtod(m, void *) :
		rte_pktmbuf_iova(m);
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

uint16_t
virtio_vsock_rx_burst(void *priv, struct rte_mbuf **pkts, uint16_t n)
{
	struct virtio_vsock_dev *dev = priv;
	struct virtqueue *vq = dev->vq[VIRTIO_VSOCK_VQ_RX];
	void *cookies[VV_BURST];
	uint32_t lens[VV_BURST];
	uint16_t got, i, k = 0;

	if (unlikely(!dev->up))
		return 0;
	if (n > VV_BURST)
		n = VV_BURST;
	got = virtqueue_dequeue(vq, cookies, lens, n);
	for (i = 0; i < got; i++) {
		struct rte_mbuf *m = cookies[i];

		if (i + 1 < got)
			rte_prefetch0(rte_pktmbuf_mtod(
				(struct rte_mbuf *)cookies[i + 1], void *));
		if (unlikely(lens[i] < VSOCK_HDR_LEN ||
				lens[i] > dev->rx_buf_len)) {
			dev->stats.rx_bad_len++;
			rte_pktmbuf_free(m);
			continue;
		}
		m->data_len = (uint16_t)lens[i];
		m->pkt_len = lens[i];
		dev->stats.rx_bytes += lens[i];
		pkts[k++] = m;
	}
	dev->stats.rx_pkts += k;
	if (vq->num_free >= VV_BURST || vq->num_free == vq->size)
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
}

uint32_t
virtio_vsock_tx_inflight(void *priv)
{
	struct virtio_vsock_dev *dev = priv;

	vv_tx_reclaim(dev, dev->vq[VIRTIO_VSOCK_VQ_TX]);
	return dev->tx_inflight;
}

uint16_t
virtio_vsock_tx_burst(void *priv, struct rte_mbuf **pkts, uint16_t n)
{
	struct virtio_vsock_dev *dev = priv;
	struct virtqueue *vq = dev->vq[VIRTIO_VSOCK_VQ_TX];
	struct vq_buf bufs[VQ_TX_MAX_SEGS];
	uint16_t i;

	if (unlikely(!dev->up))
		return 0;	/* no device: the stack keeps its packets */
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
	if (i > 0)
		virtio_vsock_kick(dev, vq);
	return i;
}

void
virtio_vsock_event_refill(struct virtio_vsock_dev *dev)
{
	struct virtqueue *vq = dev->vq[VIRTIO_VSOCK_VQ_EVENT];
	uint16_t posted = 0;

	while (vq->num_free > 0) {
		/* The slot is named by the free head we are about to use. */
		uint8_t *slot = dev->event_buf +
			(size_t)vq->free_head * VIRTIO_VSOCK_EVENT_LEN;
		struct vq_buf b = {
			.addr = dev->use_va ? (uint64_t)(uintptr_t)slot :
				rte_mem_virt2iova(slot),
			.len = VIRTIO_VSOCK_EVENT_LEN,
			.writable = true,
		};

		virtqueue_enqueue(vq, &b, 1, slot);
		posted++;
	}
	if (posted > 0)
		virtio_vsock_kick(dev, vq);
}

/* How often the data path lets a transport look after its connection. */
#define VV_CTRL_POLL_US 2000

int
virtio_vsock_poll_event(void *priv, uint32_t *event)
{
	struct virtio_vsock_dev *dev = priv;
	struct virtqueue *vq = dev->vq[VIRTIO_VSOCK_VQ_EVENT];
	void *slot;
	uint32_t len;
	int found = 0;

	if (dev->ops->ctrl_poll != NULL) {
		uint64_t now = rte_get_timer_cycles();

		/* A syscall or two, so not on every poll. */
		if (now >= dev->next_ctrl_poll) {
			dev->next_ctrl_poll = now + rte_get_timer_hz() *
				VV_CTRL_POLL_US / 1000000;
			if (dev->ops->ctrl_poll(dev) == 1) {
				*event = VIRTIO_VSOCK_EVENT_TRANSPORT_RESET;
				return 1;
			}
		}
	}
	while (!found && virtqueue_dequeue(vq, &slot, &len, 1) == 1) {
		dev->stats.events++;
		if (len < VIRTIO_VSOCK_EVENT_LEN)
			continue;	/* short event: nothing to act on */
		*event = vsock_le32_get(slot);
		found = 1;
		/* After a reset (migration, say) our CID may have changed. */
		if (*event == VIRTIO_VSOCK_EVENT_TRANSPORT_RESET)
			dev->cid = dev->ops->get_cid(dev) & UINT32_MAX;
	}
	virtio_vsock_event_refill(dev);
	return found;
}
