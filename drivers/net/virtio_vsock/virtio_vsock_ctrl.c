/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control plane of a running device, off the bursts: the event
 * queue, the transport's ctrl_poll now and then, and recovery from a
 * device that broke the ring protocol. The stack reaches all of it
 * through poll_event; the bursts only mark a device broken (rxtx.c).
 */
#include <errno.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_memory.h>

#include <vsock_hdr.h>

#include "virtio_vsock_internal.h"

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

void
virtio_vsock_rings_reset(struct virtio_vsock_dev *dev)
{
	virtio_vsock_rings_relayout(dev);
	virtio_vsock_event_refill(dev);
	virtio_vsock_rx_refill(dev);
}

/*
 * Restart a broken device on fresh rings (transports with ops->reset).
 * Returns 0, or a negative errno when it stays broken.
 */
static int
vv_recover(struct virtio_vsock_dev *dev)
{
	int q, ret;

	if (dev->ops->reset == NULL)
		return -ENOTSUP;
	dev->ops->stop(dev);
	dev->ops->reset(dev);
	virtio_vsock_rings_relayout(dev);
	for (q = 0; q < VIRTIO_VSOCK_VQ_NUM; q++)
		if (dev->ops->setup_queue(dev, dev->vq[q]) != 0)
			return -EIO;
	/* Events before rx buffers, as at bring-up (spec 5.10.6.1). */
	virtio_vsock_event_refill(dev);
	virtio_vsock_rx_refill(dev);
	ret = dev->ops->start(dev);
	if (ret != 0)
		return ret;
	dev->broken = false;
	dev->stats.ring_resets++;
	VV_LOG_RL(NOTICE, "%s: device reset on fresh rings", dev->name);
	return 0;
}

/*
 * A broken device: its connections are lost (the stack hears
 * TRANSPORT_RESET and resets them), then the device starts again on
 * fresh rings, or, when its transport cannot do that, stays dead.
 */
static int
vv_poll_broken(struct virtio_vsock_dev *dev, uint32_t *event)
{
	int ret;

	if (dev->dead)
		return 0;
	ret = vv_recover(dev);
	if (ret != 0) {
		dev->dead = true;
		VV_LOG(ERR, "%s: broken device left stopped: %s", dev->name,
			strerror(-ret));
	}
	*event = VIRTIO_VSOCK_EVENT_TRANSPORT_RESET;
	return 1;
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
	uint64_t cid;
	int found = 0;

	if (unlikely(dev->broken))
		return vv_poll_broken(dev, event);
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
		uint32_t id = vsock_le32_get(slot);

		dev->stats.events++;
		/* Only TRANSPORT_RESET is defined; anything else is noise. */
		if (len != VIRTIO_VSOCK_EVENT_LEN ||
				id != VIRTIO_VSOCK_EVENT_TRANSPORT_RESET) {
			dev->stats.bad_events++;
			VV_LOG_RL(WARNING, "%s: ignored event id %u of %u "
				"bytes", dev->name, id, len);
			continue;
		}
		*event = id;
		found = 1;
		/* After a reset (migration, say) our CID may have changed. */
		cid = dev->ops->get_cid(dev) & UINT32_MAX;
		if (cid <= VSOCK_CID_HOST || cid == VSOCK_CID_ANY) {
			dev->stats.bad_events++;
			virtio_vsock_broken(dev, "invalid CID after reset");
		} else {
			dev->cid = cid;
		}
	}
	if (unlikely(vv_vq_bad(vq))) {
		virtio_vsock_vq_broken(dev, vq);
		return vv_poll_broken(dev, event);
	}
	virtio_vsock_event_refill(dev);
	return found;
}
