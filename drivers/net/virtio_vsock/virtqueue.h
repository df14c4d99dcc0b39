/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Virtqueue, driver side: split (virtio 1.x, section 2.7) and packed
 * (section 2.8) layouts behind one API. Each call branches once on
 * vq->packed, which never changes while a queue lives: a branch the CPU
 * predicts, and no function pointer per packet.
 *
 * The rings live in memory the device can reach; everything the driver
 * relies on to stay consistent (free list, chain lengths, cookies) lives in
 * private memory, so a device that scribbles over the descriptors or
 * returns nonsense as used cannot corrupt the driver. Used entries are
 * validated and counted, never trusted.
 *
 * We poll, so device interrupts are suppressed for good at init; with
 * EVENT_IDX the driver kicks only when the device's event index asks.
 *
 * No EAL dependency: unit tests drive it with ordinary memory.
 */
#ifndef VIRTIO_VSOCK_VIRTQUEUE_H
#define VIRTIO_VSOCK_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtqueue_common.h"
#include "virtqueue_packed.h"
#include "virtqueue_split.h"

/* Bytes of device-visible memory the rings of a queue of @size take. */
size_t virtqueue_ring_mem_size(uint16_t size);

/* Bytes of private memory (struct + free list + cookies) for @size. */
size_t virtqueue_priv_size(uint16_t size);

/*
 * Lay out a queue of @size entries. @priv is virtqueue_priv_size() bytes
 * and becomes the struct virtqueue; @ring is virtqueue_ring_mem_size()
 * bytes, 4 KiB aligned and zeroed (enough for either layout). @flags are
 * VQ_F_*. Returns NULL if @size is not a power of two in [2, 32768].
 */
struct virtqueue *virtqueue_init(void *priv, void *ring, uint16_t size,
		uint16_t queue_id, unsigned int flags);

/* Offsets of the rings inside the ring memory, for the transport. */
size_t virtqueue_avail_offset(uint16_t size);
size_t virtqueue_used_offset(uint16_t size);

/*
 * Post a chain of @n buffers with @cookie. A split queue shows it to the
 * device at virtqueue_publish(), a packed one at once. Returns 0, or
 * -ENOSPC when fewer than @n descriptors are free (nothing is posted).
 */
static inline int
virtqueue_enqueue(struct virtqueue *vq, const struct vq_buf *bufs, uint16_t n,
		void *cookie)
{
	if (vq->packed)
		return vq_packed_enqueue(vq, bufs, n, cookie);
	return vq_split_enqueue(vq, bufs, n, cookie);
}

/* Make everything enqueued so far visible to the device. */
static inline void
virtqueue_publish(struct virtqueue *vq)
{
	/* Packed descriptors became visible one by one as they were posted. */
	if (!vq->packed)
		vq_split_publish(vq);
}

/*
 * After a publish: does the device want a notification for what was
 * posted since the last call? A polling device says no through
 * VIRTQ_USED_F_NO_NOTIFY, its event index or its event suppression
 * structure. The fence orders our publish before that load, or a device
 * that re-enables notifications and then looks at the ring could miss our
 * entries.
 */
static inline bool
virtqueue_kick_prepare(struct virtqueue *vq)
{
	uint16_t added = vq->num_added;

	vq->num_added = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->packed)
		return vq_packed_kick_prepare(vq, added);
	return vq_split_kick_prepare(vq, added);
}

/*
 * Take up to @n used entries: their cookies and the lengths the device
 * reported (untrusted: the caller checks them against what it posted).
 * Entries with an id that is out of range or not posted are counted and
 * skipped; a device returning more than was posted marks the queue
 * broken, and a broken queue returns nothing more.
 */
static inline uint16_t
virtqueue_dequeue(struct virtqueue *vq, void **cookies, uint32_t *lens,
		uint16_t n)
{
	if (vq->broken)
		return 0;
	if (vq->packed)
		return vq_packed_dequeue(vq, cookies, lens, n);
	return vq_split_dequeue(vq, cookies, lens, n);
}

/*
 * Take back every posted chain (device stopped): hands each cookie to
 * @fn. Used on close and reset, so that no buffer is leaked.
 */
void virtqueue_drain(struct virtqueue *vq, void (*fn)(void *cookie, void *arg),
		void *arg);

#endif /* VIRTIO_VSOCK_VIRTQUEUE_H */
