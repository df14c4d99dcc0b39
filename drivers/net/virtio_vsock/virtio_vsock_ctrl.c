/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control plane of a running device, off the bursts: the event
 * queue, the transport's ctrl_poll now and then, and recovery from a
 * device that broke the ring protocol. The stack reaches all of it
 * through poll_event; the bursts only mark a device broken (rxtx.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
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
 * Recovery of a device that broke the ring protocol. The first attempt
 * comes at once; when one fails, or the device breaks again before its
 * recovery held (VV_HOLD_US and VV_HOLD_PKTS rx packets), the next waits
 * four times longer, from VV_BACKOFF_MIN_US up to VV_BACKOFF_MAX_US, so
 * that a device that keeps breaking costs the lcore little. After
 * VV_MAX_FAILS such failures in a row the device is given up for good.
 */
#define VV_BACKOFF_MIN_US 1000
#define VV_BACKOFF_MAX_US 1000000
#define VV_HOLD_US 1000000
#define VV_HOLD_PKTS 64
#define VV_MAX_FAILS 8
/*
 * A device not back from a reset of its own (the transport's reset says
 * -EAGAIN) is looked at again every VV_WAIT_US, VV_MAX_WAITS times at
 * most, before that counts as a failure.
 */
#define VV_WAIT_US 10000
#define VV_MAX_WAITS 500
#define VV_WAIT_MAX_MS (VV_WAIT_US / 1000 * VV_MAX_WAITS)

static uint64_t
vv_us_to_tsc(uint64_t us)
{
	return rte_get_timer_hz() * us / 1000000;
}

/* Wait before the next attempt, in ms: 0 after a recovery that held. */
static uint64_t
vv_backoff_ms(uint32_t fails)
{
	uint64_t us;

	if (fails == 0)
		return 0;
	us = (uint64_t)VV_BACKOFF_MIN_US << (2 * RTE_MIN(fails - 1, 10u));
	return RTE_MIN(us, (uint64_t)VV_BACKOFF_MAX_US) / 1000;
}

static uint64_t
vv_backoff(uint32_t fails)
{
	return vv_us_to_tsc(vv_backoff_ms(fails) * 1000);
}

/*
 * Restart a broken device on fresh rings: reset it, negotiate the same
 * features, read its CID again, take back every buffer of the old rings
 * (the pool is whole again) and post new ones. Returns 0, or a negative
 * errno when it stays broken.
 */
static int
vv_recover(struct virtio_vsock_dev *dev)
{
	char err[256];
	int q, ret;

	ret = dev->ops->reset(dev);
	if (ret == -EAGAIN)
		return ret;	/* not back yet: vv_recover_try() waits */
	if (ret == 0)
		ret = virtio_vsock_renegotiate(dev, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "%s: reset: %s", dev->name,
			strerror(-ret));
	if (ret == 0)
		ret = virtio_vsock_read_cid(dev, err, sizeof(err));
	if (ret != 0) {
		VV_LOG(WARNING, "%s", err);
		return ret;
	}
	virtio_vsock_rings_relayout(dev);
	for (q = 0; q < VIRTIO_VSOCK_VQ_NUM; q++)
		if (dev->ops->setup_queue(dev, dev->vq[q]) != 0)
			return -EIO;
	/* Events before rx buffers, as at bring-up (spec 5.10.6.1). */
	virtio_vsock_event_refill(dev);
	virtio_vsock_rx_refill(dev);
	return dev->ops->start(dev);
}

/*
 * For good: the device stops touching our memory and its buffers come
 * back to the pool; nothing more goes to or comes from it.
 */
static void
vv_give_up(struct virtio_vsock_dev *dev)
{
	dev->dead = true;
	dev->up = false;
	if (dev->ops->reset == NULL) {
		VV_LOG(ERR, "%s: broken device left stopped: its transport "
			"cannot reset it", dev->name);
		return;
	}
	dev->ops->stop(dev);
	virtio_vsock_rings_relayout(dev);
	VV_LOG(ERR, "%s: giving up after %u failed recoveries (each failed "
		"or broke again within %u ms or %u packets): the device "
		"stays down", dev->name, dev->recover_fails,
		VV_HOLD_US / 1000, VV_HOLD_PKTS);
}

/*
 * Did the last recovery hold? It did when it lasted long enough and
 * carried enough packets: a device breaking at its first packet after
 * each reset has not recovered, however rare its packets.
 */
static bool
vv_recovery_held(const struct virtio_vsock_dev *dev, uint64_t now)
{
	return now - dev->recovered_at >= vv_us_to_tsc(VV_HOLD_US) &&
		dev->stats.rx_pkts - dev->recovered_rx >= VV_HOLD_PKTS;
}

/* A new break: schedule the attempt, counting one that did not hold. */
static void
vv_recover_schedule(struct virtio_vsock_dev *dev, uint64_t now)
{
	if (dev->recovered_at == 0 || vv_recovery_held(dev, now))
		dev->recover_fails = 0;
	else
		dev->recover_fails++;
	if (dev->ops->reset == NULL || dev->recover_fails >= VV_MAX_FAILS) {
		vv_give_up(dev);
		return;
	}
	dev->recover_at = now + vv_backoff(dev->recover_fails);
	if (dev->recover_fails > 0)
		VV_LOG(WARNING, "%s: broke again within %u ms or %u "
			"packets of its recovery (%u in a row): next attempt "
			"in %" PRIu64 " ms", dev->name, VV_HOLD_US / 1000,
			VV_HOLD_PKTS, dev->recover_fails,
			vv_backoff_ms(dev->recover_fails));
}

/* The device is not back from a reset of its own: wait, or fail. */
static bool
vv_recover_wait(struct virtio_vsock_dev *dev, uint64_t now)
{
	if (dev->recover_waits >= VV_MAX_WAITS)
		return false;
	if (dev->recover_waits++ == 0)
		VV_LOG(NOTICE, "%s: device not back from a reset of its own: "
			"looking again every %u ms, for up to %u ms",
			dev->name, VV_WAIT_US / 1000, VV_WAIT_MAX_MS);
	dev->recover_at = now + vv_us_to_tsc(VV_WAIT_US);
	return true;
}

/* One attempt; true when the device runs again with another CID. */
static bool
vv_recover_try(struct virtio_vsock_dev *dev, uint64_t now)
{
	uint64_t cid = dev->cid;
	int ret = vv_recover(dev);
	char why[80];

	if (ret == -EAGAIN && vv_recover_wait(dev, now))
		return false;
	dev->recover_waits = 0;
	if (ret == 0) {
		dev->up = true;
		dev->broken = false;
		dev->reset_told = false;
		dev->recovered_at = now;
		dev->recovered_rx = dev->stats.rx_pkts;
		dev->stats.recoveries++;
		VV_LOG(NOTICE, "%s: device reset and running again on fresh "
			"rings, cid %" PRIu64 " (recovery %" PRIu64 ")",
			dev->name, dev->cid, dev->stats.recoveries);
		return dev->cid != cid;
	}
	dev->stats.recovery_failures++;
	dev->recover_fails++;
	if (dev->recover_fails >= VV_MAX_FAILS) {
		vv_give_up(dev);
		return false;
	}
	dev->recover_at = now + vv_backoff(dev->recover_fails);
	/* -EAGAIN here: every look vv_recover_wait() allows found it so. */
	if (ret == -EAGAIN)
		snprintf(why, sizeof(why), "still not back from a reset of "
			"its own after %u ms", VV_WAIT_MAX_MS);
	else
		snprintf(why, sizeof(why), "%s", strerror(-ret));
	VV_LOG(WARNING, "%s: recovery failed: %s (%u in a row): next "
		"attempt in %" PRIu64 " ms", dev->name, why,
		dev->recover_fails, vv_backoff_ms(dev->recover_fails));
	return false;
}

/*
 * A broken device: the stack hears TRANSPORT_RESET at once (it resets
 * every connection; listeners stay), and the device is reset when its
 * backoff allows, or given up. Connections opened meanwhile wait for it;
 * should it come back with another CID, the stack hears it again.
 */
static int
vv_poll_broken(struct virtio_vsock_dev *dev, uint32_t *event)
{
	uint64_t now = rte_get_timer_cycles();
	bool report = !dev->reset_told;

	if (dev->dead)
		return 0;
	if (report) {
		dev->reset_told = true;
		vv_recover_schedule(dev, now);
	}
	if (!dev->dead && now >= dev->recover_at &&
			vv_recover_try(dev, now))
		report = true;
	if (!report)
		return 0;
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
