/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Our memory as a back-end sees it: EAL's memory segments merged into as
 * few regions as possible, for vhost-user (with the fds that back them)
 * and vhost-kernel (addresses only). Descriptors carry virtual addresses,
 * so each region's "guest physical" address is its virtual address.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_memory.h>

#include "virtio_vsock_internal.h"

struct vv_mem_walk {
	struct vv_mem_region *r;
	int max;
	int n;
	bool need_fd;
	int err;
};

static int
vv_mem_seg(const struct rte_memseg_list *msl, const struct rte_memseg *ms,
		void *arg)
{
	struct vv_mem_walk *w = arg;
	struct vv_mem_region *last = w->n > 0 ? &w->r[w->n - 1] : NULL;
	uint64_t va = (uint64_t)(uintptr_t)ms->addr;
	size_t off = 0;
	int fd = -1;

	if (msl->external)
		return 0;	/* not ours to share */
	if (w->need_fd) {
		fd = rte_memseg_get_fd_thread_unsafe(ms);
		if (fd < 0 || rte_memseg_get_fd_offset_thread_unsafe(ms,
				&off) < 0) {
			w->err = -ENOTSUP;
			return -1;
		}
	}
	/* Extend the last region when this segment continues it. */
	if (last != NULL && last->fd == fd && last->addr + last->size == va &&
			(!w->need_fd || last->offset + last->size == off)) {
		last->size += ms->len;
		return 0;
	}
	if (w->n == w->max) {
		w->err = -E2BIG;
		return -1;
	}
	w->r[w->n].addr = va;
	w->r[w->n].size = ms->len;
	w->r[w->n].fd = fd;
	w->r[w->n].offset = off;
	w->n++;
	return 0;
}

int
virtio_vsock_mem_regions(struct vv_mem_region *r, int max, bool need_fd,
		char *err, size_t errlen)
{
	struct vv_mem_walk w = { .r = r, .max = max, .need_fd = need_fd };

	rte_memseg_walk(vv_mem_seg, &w);
	if (w.err == -ENOTSUP) {
		snprintf(err, errlen, "EAL memory has no file descriptors to "
			"share (run EAL with --single-file-segments, and "
			"without --no-huge)");
		return w.err;
	}
	if (w.err == -E2BIG) {
		snprintf(err, errlen, "EAL memory is in more than %d pieces; "
			"a vhost back-end takes at most %d regions (run EAL "
			"with --single-file-segments)", max, max);
		return w.err;
	}
	if (w.n == 0) {
		snprintf(err, errlen, "no EAL memory to share");
		return -ENOMEM;
	}
	return w.n;
}

/*
 * A back-end maps our memory once, when the device starts: memory EAL
 * allocates later is invisible to it, and packets there would be dropped
 * by the device. Say so rather than leave it to be found.
 */
static void
vv_mem_event(enum rte_mem_event type, const void *addr, size_t len, void *arg)
{
	const struct virtio_vsock_dev *dev = arg;

	if (type == RTE_MEM_EVENT_ALLOC)
		VV_LOG(WARNING, "%s: %zu bytes at %p allocated after the "
			"device started are not shared with its back-end: "
			"create pools before opening the device, or reserve "
			"memory up front (EAL -m)", dev->name, len, addr);
}

void
virtio_vsock_mem_watch(struct virtio_vsock_dev *dev, bool on)
{
	if (on)
		rte_mem_event_callback_register(dev->name, vv_mem_event, dev);
	else
		rte_mem_event_callback_unregister(dev->name, dev);
}
