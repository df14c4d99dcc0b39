/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-bridge: the vhost-user side, on DPDK's rte_vhost. Each guest's
 * socket is a vhost-user-vsock device: we answer GET_CONFIG with the
 * guest's CID and hand its rx and tx rings to the data path.
 *
 * Facts measured with DPDK 22.11 and QEMU 7.2 that shape this file:
 * - setting the device features turns rte_vhost's built-in virtio-net
 *   handling off;
 * - with protocol feature STATUS QEMU never gets new_device called, so
 *   only CONFIG is offered;
 * - destroy_device runs inside GET_VRING_BASE, which then reports the
 *   ring indexes we store back with rte_vhost_set_vring_base();
 * - QEMU sends SET_VRING_CALL again after the device started, so call fds
 *   are never cached (rte_vhost_vring_call reads the current one);
 * - rte_vhost holds every ring's access lock while it handles most
 *   messages (and runs our pre/post hooks), and rte_vhost_vring_call()
 *   takes that lock: the data path only uses the non-blocking variant, so
 *   the control thread may always wait for the data path.
 *
 * Every function here runs on rte_vhost's control thread, except
 * br_vhost_xlate() and br_vhost_call(), which the data path calls.
 */
/* For rte_vhost_vring_call_nonblock(), experimental in 22.11. */
#define ALLOW_EXPERIMENTAL_API

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_vhost.h>

#include <vsock_hdr.h>

#include "bridge.h"

/* vhost-user requests the bridge looks at (QEMU docs/interop/vhost-user). */
enum br_vu_request {
	BR_VU_SET_FEATURES = 2,
	BR_VU_SET_MEM_TABLE = 5,
	BR_VU_SET_VRING_NUM = 8,
	BR_VU_SET_VRING_ADDR = 9,
	BR_VU_SET_VRING_BASE = 10,
	BR_VU_SET_VRING_KICK = 12,
	BR_VU_SET_VRING_ENABLE = 18,
	BR_VU_GET_CONFIG = 24,
	BR_VU_SET_CONFIG = 25,
	BR_VU_ADD_MEM_REG = 37,
	BR_VU_REM_MEM_REG = 38,
};

#define BR_VU_CONFIG_MAX 256
#define BR_VU_CONFIG_HDR 12	/* offset, size, flags */

/* The message as rte_vhost hands it to the hooks: header, then payload. */
struct br_vu_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;		/* payload bytes */
	union {
		struct {
			uint32_t index;
			uint32_t num;
		} state;
		struct {
			uint32_t offset;
			uint32_t size;
			uint32_t flags;
			uint8_t region[BR_VU_CONFIG_MAX];
		} cfg;
	} payload;
} __rte_packed;

/* virtio-vsock device features (virtio spec, device type 19). */
#define BR_VSOCK_F_STREAM 0
#define BR_VSOCK_F_SEQPACKET 1
#define BR_FEATURES ((1ULL << VIRTIO_F_VERSION_1) | \
	(1ULL << VHOST_USER_F_PROTOCOL_FEATURES) | \
	(1ULL << VIRTIO_F_RING_PACKED) | (1ULL << VIRTIO_RING_F_EVENT_IDX) | \
	(1ULL << BR_VSOCK_F_STREAM) | (1ULL << BR_VSOCK_F_SEQPACKET))
#define BR_PROTOCOL_FEATURES (1ULL << VHOST_USER_PROTOCOL_F_CONFIG)

/* How long the control thread sleeps between looks at the data path. */
#define BR_WAIT_US 100
#define BR_WAIT_WARN_US (1000 * 1000)

/* Filled by the main thread, read by the control thread: append only. */
static struct br_guest *br_guests[BR_MAX_GUESTS];
static unsigned int br_nb_guests;

static unsigned int
br_guest_count(void)
{
	return __atomic_load_n(&br_nb_guests, __ATOMIC_ACQUIRE);
}

static struct br_guest *
br_guest_by_vid(int vid)
{
	unsigned int i, n = br_guest_count();

	for (i = 0; i < n; i++)
		if (br_guests[i]->vid == vid)
			return br_guests[i];
	return NULL;
}

void *
br_vhost_xlate(void *mem, uint64_t addr, uint32_t len)
{
	uint64_t got = len;
	uint64_t va = rte_vhost_va_from_guest_pa(mem, addr, &got);

	/* A range that leaves its region is refused, not shortened. */
	return va != 0 && got == len ? (void *)(uintptr_t)va : NULL;
}

/*
 * rte_vhost decides with its own ring indexes whether the guest wants the
 * interrupt (EVENT_IDX, packed event suppression); the data path keeps
 * them in the hand-over, so give them to rte_vhost first.
 */
int
br_vhost_call(int vid, uint16_t queue)
{
	struct br_guest *g = br_guest_by_vid(vid);

	if (g != NULL)
		rte_vhost_set_vring_base(vid, queue, g->ho.last_avail[queue],
				g->ho.last_used[queue]);
	return rte_vhost_vring_call_nonblock(vid, queue);
}

/*
 * Take the rings back from the data path: it finishes the burst it is in,
 * writes back where it stopped, and lets go. rte_vhost learns the indexes
 * (GET_VRING_BASE reports them) and may then change or unmap the memory.
 */
static void
br_dev_retract(struct br_guest *g)
{
	struct br_handover *ho = &g->ho;
	unsigned int waited = 0;
	uint16_t q;

	if (!g->published)
		return;
	__atomic_store_n(&ho->want, 0, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&ho->have, __ATOMIC_SEQ_CST) == g->gen) {
		usleep(BR_WAIT_US);
		waited += BR_WAIT_US;
		if (waited % BR_WAIT_WARN_US == 0)
			BR_LOG(WARNING, "%s: data path has not let go of the "
				"rings for %u s", g->sock_path,
				waited / BR_WAIT_WARN_US);
	}
	for (q = 0; q < BR_NB_VQ; q++)
		rte_vhost_set_vring_base(ho->vid, q, ho->last_avail[q],
				ho->last_used[q]);
	free(ho->mem);
	ho->mem = NULL;
	g->published = false;
}

/* Offer the rings to the data path if the device may run. */
static int
br_dev_publish(struct br_guest *g)
{
	struct br_handover *ho = &g->ho;
	struct rte_vhost_memory *mem;
	struct rte_vhost_vring vr;
	uint64_t features;
	uint16_t q;

	if (!g->started || g->published || !g->ring_ok[BR_VQ_RX] ||
			!g->ring_ok[BR_VQ_TX])
		return 0;
	if (rte_vhost_get_negotiated_features(g->vid, &features) != 0 ||
			rte_vhost_get_mem_table(g->vid, &mem) != 0) {
		BR_LOG(ERR, "%s: cannot read the device's features or "
			"memory table", g->sock_path);
		return -EIO;
	}
	for (q = 0; q < BR_NB_VQ; q++) {
		if (rte_vhost_get_vhost_vring(g->vid, q, &vr) != 0 ||
				vr.desc == NULL || vr.avail == NULL ||
				vr.used == NULL || vr.size == 0 ||
				(vr.size & (vr.size - 1)) != 0 ||
				rte_vhost_get_vring_base(g->vid, q,
				&ho->last_avail[q], &ho->last_used[q]) != 0) {
			BR_LOG(ERR, "%s: ring %u is not usable (size %u)",
				g->sock_path, q, vr.size);
			free(mem);
			return -EINVAL;
		}
		ho->desc[q] = vr.desc;
		ho->avail[q] = vr.avail;
		ho->used[q] = vr.used;
		ho->size[q] = vr.size;
	}
	ho->vid = g->vid;
	ho->mem = mem;
	ho->features = features;
	ho->port_features = VSOCK_PORT_F_STREAM |
		((features >> BR_VSOCK_F_SEQPACKET) & 1 ?
		VSOCK_PORT_F_SEQPACKET : 0);
	if (++g->gen == 0)
		g->gen = 1;	/* 0 means "none" */
	g->published = true;
	__atomic_store_n(&ho->want, g->gen, __ATOMIC_RELEASE);
	return 0;
}

/* GET_CONFIG: struct virtio_vsock_config is { le64 guest_cid; }. */
static enum rte_vhost_msg_result
br_get_config(const struct br_guest *g, struct br_vu_msg *m)
{
	uint8_t cfg[sizeof(uint64_t)];
	uint32_t off, size, i;

	if (m->size < BR_VU_CONFIG_HDR ||
			m->payload.cfg.size > BR_VU_CONFIG_MAX) {
		BR_LOG(ERR, "%s: GET_CONFIG of %u bytes (payload %u): refused",
			g->sock_path, m->payload.cfg.size, m->size);
		return RTE_VHOST_MSG_RESULT_ERR;
	}
	off = m->payload.cfg.offset;
	size = m->payload.cfg.size;
	vsock_le64_put(cfg, g->cid);
	for (i = 0; i < size; i++)
		m->payload.cfg.region[i] = (uint64_t)off + i < sizeof(cfg) ?
			cfg[off + i] : 0;
	m->size = BR_VU_CONFIG_HDR + size;
	return RTE_VHOST_MSG_RESULT_REPLY;
}

/*
 * Before rte_vhost handles a message: answer the config space, and take
 * the rings back before anything they depend on (memory table, ring
 * addresses, features, enable) changes under the data path.
 */
static enum rte_vhost_msg_result
br_pre_msg(int vid, void *msg)
{
	struct br_guest *g = br_guest_by_vid(vid);
	struct br_vu_msg *m = msg;

	if (g == NULL)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	switch (m->request) {
	case BR_VU_GET_CONFIG:
		return br_get_config(g, m);
	case BR_VU_SET_CONFIG:
		return RTE_VHOST_MSG_RESULT_OK;	/* read-only for us */
	case BR_VU_SET_VRING_ENABLE:
		if (m->payload.state.index >= BR_NB_VQ)
			break;
		g->ring_ok[m->payload.state.index] =
			m->payload.state.num != 0;
		if (m->payload.state.num == 0)
			br_dev_retract(g);
		break;
	case BR_VU_SET_FEATURES:
	case BR_VU_SET_MEM_TABLE:
	case BR_VU_SET_VRING_NUM:
	case BR_VU_SET_VRING_ADDR:
	case BR_VU_SET_VRING_BASE:
	case BR_VU_SET_VRING_KICK:
	case BR_VU_ADD_MEM_REG:
	case BR_VU_REM_MEM_REG:
		br_dev_retract(g);
		break;
	default:
		break;
	}
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

/* After a message: if the rings were taken back for it, offer them again. */
static enum rte_vhost_msg_result
br_post_msg(int vid, void *msg)
{
	struct br_guest *g = br_guest_by_vid(vid);

	RTE_SET_USED(msg);
	if (g != NULL)
		br_dev_publish(g);
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

static const struct rte_vhost_user_extern_ops br_extern_ops = {
	.pre_msg_handle = br_pre_msg,
	.post_msg_handle = br_post_msg,
};

static struct br_guest *
br_guest_of(int vid)
{
	char path[PATH_MAX];
	unsigned int i, n = br_guest_count();

	if (rte_vhost_get_ifname(vid, path, sizeof(path)) != 0)
		return NULL;
	for (i = 0; i < n; i++)
		if (strcmp(br_guests[i]->sock_path, path) == 0)
			return br_guests[i];
	return NULL;
}

static int
br_new_connection(int vid)
{
	struct br_guest *g = br_guest_of(vid);

	if (g == NULL)
		return -1;
	if (g->vid >= 0) {
		/* One device per guest: a second front-end is turned away. */
		BR_LOG(WARNING, "%s: a front-end is already connected; "
			"refusing another", g->sock_path);
		return -1;
	}
	if (rte_vhost_extern_callback_register(vid, &br_extern_ops,
			NULL) != 0) {
		BR_LOG(ERR, "%s: cannot hook vhost-user messages",
			g->sock_path);
		return -1;
	}
	g->vid = vid;
	BR_LOG(INFO, "%s: front-end connected", g->sock_path);
	return 0;
}

static void
br_destroy_connection(int vid)
{
	struct br_guest *g = br_guest_by_vid(vid);

	if (g == NULL)
		return;
	g->vid = -1;
	BR_LOG(INFO, "%s: front-end disconnected", g->sock_path);
}

static int
br_new_device(int vid)
{
	struct br_guest *g = br_guest_by_vid(vid);
	uint64_t features = 0;

	if (g == NULL)
		return -1;
	g->started = true;
	g->ring_ok[BR_VQ_RX] = true;
	g->ring_ok[BR_VQ_TX] = true;
	/* The session is known before the rings are (see br_poll_event). */
	if (++g->epoch == 0)
		g->epoch = 1;
	__atomic_store_n(&g->ho.epoch, g->epoch, __ATOMIC_RELEASE);
	if (br_dev_publish(g) != 0) {
		g->started = false;
		__atomic_store_n(&g->ho.epoch, 0, __ATOMIC_RELEASE);
		return -1;
	}
	rte_vhost_get_negotiated_features(vid, &features);
	BR_LOG(INFO, "%s: guest device up, cid %" PRIu64 ", features 0x%"
		PRIx64, g->sock_path, g->cid, features);
	return 0;
}

static void
br_destroy_device(int vid)
{
	struct br_guest *g = br_guest_by_vid(vid);

	if (g == NULL || !g->started)
		return;
	br_dev_retract(g);
	g->started = false;
	__atomic_store_n(&g->ho.epoch, 0, __ATOMIC_RELEASE);
	BR_LOG(INFO, "%s: guest device down", g->sock_path);
}

/* A ring was disabled, or is ready again (after SET_VRING_CALL, say). */
static int
br_vring_state_changed(int vid, uint16_t queue, int enable)
{
	struct br_guest *g = br_guest_by_vid(vid);

	if (g == NULL || queue >= BR_NB_VQ)
		return 0;
	g->ring_ok[queue] = enable != 0;
	if (!enable)
		br_dev_retract(g);
	else
		br_dev_publish(g);
	return 0;
}

static const struct rte_vhost_device_ops br_device_ops = {
	.new_device = br_new_device,
	.destroy_device = br_destroy_device,
	.vring_state_changed = br_vring_state_changed,
	.new_connection = br_new_connection,
	.destroy_connection = br_destroy_connection,
};

int
br_vhost_start(struct br_guest *g, bool client)
{
	const char *p = g->sock_path;
	int r;

	g->vid = -1;
	if (br_nb_guests == BR_MAX_GUESTS)
		return -ENOSPC;
	if (!client) {
		r = br_unlink_stale(p);
		if (r != 0)
			return r;
	}
	r = rte_vhost_driver_register(p, client ? RTE_VHOST_USER_CLIENT : 0);
	if (r != 0) {
		BR_LOG(ERR, "%s: cannot register the vhost-user socket", p);
		return -EIO;
	}
	br_guests[br_nb_guests] = g;
	__atomic_store_n(&br_nb_guests, br_nb_guests + 1, __ATOMIC_RELEASE);
	if (rte_vhost_driver_set_features(p, BR_FEATURES) != 0 ||
			rte_vhost_driver_set_protocol_features(p,
			BR_PROTOCOL_FEATURES) != 0 ||
			rte_vhost_driver_callback_register(p,
			&br_device_ops) != 0 ||
			rte_vhost_driver_start(p) != 0) {
		BR_LOG(ERR, "%s: cannot start the vhost-user device", p);
		return -EIO;
	}
	return 0;
}

/*
 * Close the socket and its connection. rte_vhost may call destroy_device
 * from this thread: the data path must have let go of the rings first
 * (br_port_retire), or the wait in br_dev_retract would never end.
 */
void
br_vhost_stop(struct br_guest *g)
{
	unsigned int i, n = br_guest_count();

	for (i = 0; i < n && br_guests[i] != g; i++)
		;
	if (i == n)
		return;		/* never registered */
	if (rte_vhost_driver_unregister(g->sock_path) != 0)
		BR_LOG(WARNING, "%s: cannot unregister", g->sock_path);
	if (g->published) {
		free(g->ho.mem);
		g->ho.mem = NULL;
		g->published = false;
	}
}
