/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/vsock_vhost: the vhost-user side, on DPDK's rte_vhost, and the
 * instances' life. Each socket is a vhost-user-vsock device: we answer
 * GET_CONFIG with the guest's CID and hand its rx and tx rings to the
 * data path (vsock_vhost_ring.c).
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
 *   the control thread may always wait for the data path;
 * - rte_vhost's callbacks carry a vid and no context, so the instances
 *   are found through a registry, the one piece of process-wide state,
 *   under a mutex (create and destroy run on the application's threads);
 * - rte_vhost_driver_unregister() returns only once no handler of the
 *   socket runs, so an instance is freed after it safely.
 *
 * Every function here runs on rte_vhost's control thread, except the
 * public ones (the application's) and vh_xlate() and vh_ctl_call() (the
 * data path's).
 */
/* For rte_vhost_vring_call_nonblock(), experimental in 22.11. */
#define ALLOW_EXPERIMENTAL_API

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_vhost.h>

#include <vsock_hdr.h>

#include <vhost_user_defs.h>
#include <virtio_vsock_defs.h>

#include "vsock_vhost_private.h"

RTE_LOG_REGISTER(vsock_vhost_logtype, vsock.vhost, INFO);

#define VH_FEATURES ((1ULL << VIRTIO_F_VERSION_1) | \
	(1ULL << VU_F_PROTOCOL_FEATURES) | \
	(1ULL << VIRTIO_F_RING_PACKED) | (1ULL << VIRTIO_F_RING_EVENT_IDX) | \
	(1ULL << VIRTIO_VSOCK_F_STREAM) | (1ULL << VIRTIO_VSOCK_F_SEQPACKET))
#define VH_PROTOCOL_FEATURES (1ULL << VU_PROTOCOL_F_CONFIG)

/* How long the control thread sleeps between looks at the data path. */
#define VH_WAIT_US 100
#define VH_WAIT_WARN_US (1000 * 1000)

/* The instances, for rte_vhost's callbacks (see above). */
static pthread_mutex_t vh_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vsock_vhost *vh_list;

static struct vsock_vhost *
vh_by_vid(int vid)
{
	struct vsock_vhost *vh;

	pthread_mutex_lock(&vh_lock);
	for (vh = vh_list; vh != NULL && vh->vid != vid; vh = vh->next)
		;
	pthread_mutex_unlock(&vh_lock);
	return vh;
}

/* Under vh_lock. */
static struct vsock_vhost *
vh_by_path(const char *path)
{
	struct vsock_vhost *vh;

	for (vh = vh_list; vh != NULL && strcmp(vh->path, path) != 0;
			vh = vh->next)
		;
	return vh;
}

void *
vh_xlate(void *mem, uint64_t addr, uint32_t len)
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
vh_ctl_call(struct vsock_vhost *vh, uint16_t queue)
{
	rte_vhost_set_vring_base(vh->run_vid, queue, vh->ho.last_avail[queue],
			vh->ho.last_used[queue]);
	return rte_vhost_vring_call_nonblock(vh->run_vid, queue);
}

/*
 * Take the rings back from the data path: it finishes the burst it is in,
 * writes back where it stopped, and lets go. rte_vhost learns the indexes
 * (GET_VRING_BASE reports them) and may then change or unmap the memory.
 */
static void
vh_retract(struct vsock_vhost *g)
{
	struct vh_handover *ho = &g->ho;
	unsigned int waited = 0;
	uint16_t q;

	if (!g->published)
		return;
	__atomic_store_n(&ho->want, 0, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&ho->have, __ATOMIC_SEQ_CST) == g->gen) {
		usleep(VH_WAIT_US);
		waited += VH_WAIT_US;
		if (waited % VH_WAIT_WARN_US == 0)
			VH_LOG(WARNING, "%s: data path has not let go of the "
				"rings for %u s", g->path,
				waited / VH_WAIT_WARN_US);
	}
	for (q = 0; q < VH_NB_VQ; q++)
		rte_vhost_set_vring_base(ho->vid, q, ho->last_avail[q],
				ho->last_used[q]);
	free(ho->mem);
	ho->mem = NULL;
	g->published = false;
}

/* Offer the rings to the data path if the device may run. */
static int
vh_publish(struct vsock_vhost *g)
{
	struct vh_handover *ho = &g->ho;
	struct rte_vhost_memory *mem;
	struct rte_vhost_vring vr;
	uint64_t features;
	uint16_t q;

	if (!g->started || g->published || !g->ring_ok[VH_VQ_RX] ||
			!g->ring_ok[VH_VQ_TX])
		return 0;
	if (rte_vhost_get_negotiated_features(g->vid, &features) != 0 ||
			rte_vhost_get_mem_table(g->vid, &mem) != 0) {
		VH_LOG(ERR, "%s: cannot read the device's features or "
			"memory table", g->path);
		return -EIO;
	}
	for (q = 0; q < VH_NB_VQ; q++) {
		if (rte_vhost_get_vhost_vring(g->vid, q, &vr) != 0 ||
				vr.desc == NULL || vr.avail == NULL ||
				vr.used == NULL || vr.size == 0 ||
				(vr.size & (vr.size - 1)) != 0 ||
				rte_vhost_get_vring_base(g->vid, q,
				&ho->last_avail[q], &ho->last_used[q]) != 0) {
			VH_LOG(ERR, "%s: ring %u is not usable (size %u)",
				g->path, q, vr.size);
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
		((features >> VIRTIO_VSOCK_F_SEQPACKET) & 1 ?
		VSOCK_PORT_F_SEQPACKET : 0);
	if (++g->gen == 0)
		g->gen = 1;	/* 0 means "none" */
	g->published = true;
	__atomic_store_n(&ho->want, g->gen, __ATOMIC_RELEASE);
	return 0;
}

/* GET_CONFIG: struct virtio_vsock_config is { le64 guest_cid; }. */
static enum rte_vhost_msg_result
vh_get_config(const struct vsock_vhost *g, struct vu_msg *m)
{
	uint8_t cfg[sizeof(uint64_t)];
	uint32_t off, size, i;

	if (m->size < VU_CONFIG_HDR ||
			m->p.cfg.size > VU_CONFIG_MAX) {
		VH_LOG(ERR, "%s: GET_CONFIG of %u bytes (payload %u): refused",
			g->path, m->p.cfg.size, m->size);
		return RTE_VHOST_MSG_RESULT_ERR;
	}
	off = m->p.cfg.offset;
	size = m->p.cfg.size;
	vsock_le64_put(cfg, g->cid);
	for (i = 0; i < size; i++)
		m->p.cfg.region[i] = (uint64_t)off + i < sizeof(cfg) ?
			cfg[off + i] : 0;
	m->size = VU_CONFIG_HDR + size;
	return RTE_VHOST_MSG_RESULT_REPLY;
}

/*
 * Before rte_vhost handles a message: answer the config space, and take
 * the rings back before anything they depend on (memory table, ring
 * addresses, features, enable) changes under the data path.
 */
static enum rte_vhost_msg_result
vh_pre_msg(int vid, void *msg)
{
	struct vsock_vhost *g = vh_by_vid(vid);
	struct vu_msg *m = msg;

	if (g == NULL)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	switch (m->request) {
	case VU_GET_CONFIG:
		return vh_get_config(g, m);
	case VU_SET_CONFIG:
		return RTE_VHOST_MSG_RESULT_OK;	/* read-only for us */
	case VU_SET_VRING_ENABLE:
		if (m->p.state.index >= VH_NB_VQ)
			break;
		g->ring_ok[m->p.state.index] =
			m->p.state.num != 0;
		if (m->p.state.num == 0)
			vh_retract(g);
		break;
	case VU_SET_FEATURES:
	case VU_SET_MEM_TABLE:
	case VU_SET_VRING_NUM:
	case VU_SET_VRING_ADDR:
	case VU_SET_VRING_BASE:
	case VU_SET_VRING_KICK:
	case VU_ADD_MEM_REG:
	case VU_REM_MEM_REG:
		vh_retract(g);
		break;
	default:
		break;
	}
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

/* After a message: if the rings were taken back for it, offer them again. */
static enum rte_vhost_msg_result
vh_post_msg(int vid, void *msg)
{
	struct vsock_vhost *g = vh_by_vid(vid);

	RTE_SET_USED(msg);
	if (g != NULL)
		vh_publish(g);
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

static const struct rte_vhost_user_extern_ops vh_extern_ops = {
	.pre_msg_handle = vh_pre_msg,
	.post_msg_handle = vh_post_msg,
};

static struct vsock_vhost *
vh_of(int vid)
{
	char path[PATH_MAX];
	struct vsock_vhost *vh;

	if (rte_vhost_get_ifname(vid, path, sizeof(path)) != 0)
		return NULL;
	pthread_mutex_lock(&vh_lock);
	vh = vh_by_path(path);
	pthread_mutex_unlock(&vh_lock);
	return vh;
}

static int
vh_new_connection(int vid)
{
	struct vsock_vhost *g = vh_of(vid);

	if (g == NULL)
		return -1;
	if (g->vid >= 0) {
		/* One device per guest: a second front-end is turned away. */
		VH_LOG(WARNING, "%s: a front-end is already connected; "
			"refusing another", g->path);
		return -1;
	}
	if (rte_vhost_extern_callback_register(vid, &vh_extern_ops,
			NULL) != 0) {
		VH_LOG(ERR, "%s: cannot hook vhost-user messages",
			g->path);
		return -1;
	}
	pthread_mutex_lock(&vh_lock);
	g->vid = vid;
	pthread_mutex_unlock(&vh_lock);
	VH_LOG(INFO, "%s: front-end connected", g->path);
	return 0;
}

static void
vh_destroy_connection(int vid)
{
	struct vsock_vhost *g = vh_by_vid(vid);

	if (g == NULL)
		return;
	pthread_mutex_lock(&vh_lock);
	g->vid = -1;
	pthread_mutex_unlock(&vh_lock);
	VH_LOG(INFO, "%s: front-end disconnected", g->path);
}

static int
vh_new_device(int vid)
{
	struct vsock_vhost *g = vh_by_vid(vid);
	uint64_t features = 0;

	if (g == NULL)
		return -1;
	g->started = true;
	g->ring_ok[VH_VQ_RX] = true;
	g->ring_ok[VH_VQ_TX] = true;
	/* The session is known before the rings are (see vh_poll_event). */
	if (++g->epoch == 0)
		g->epoch = 1;
	__atomic_store_n(&g->ho.epoch, g->epoch, __ATOMIC_RELEASE);
	if (vh_publish(g) != 0) {
		g->started = false;
		__atomic_store_n(&g->ho.epoch, 0, __ATOMIC_RELEASE);
		return -1;
	}
	rte_vhost_get_negotiated_features(vid, &features);
	VH_LOG(INFO, "%s: guest device up, cid %" PRIu64 ", features 0x%"
		PRIx64, g->path, g->cid, features);
	return 0;
}

static void
vh_destroy_device(int vid)
{
	struct vsock_vhost *g = vh_by_vid(vid);

	if (g == NULL || !g->started)
		return;
	vh_retract(g);
	g->started = false;
	__atomic_store_n(&g->ho.epoch, 0, __ATOMIC_RELEASE);
	VH_LOG(INFO, "%s: guest device down", g->path);
}

/* A ring was disabled, or is ready again (after SET_VRING_CALL, say). */
static int
vh_vring_state_changed(int vid, uint16_t queue, int enable)
{
	struct vsock_vhost *g = vh_by_vid(vid);

	if (g == NULL || queue >= VH_NB_VQ)
		return 0;
	g->ring_ok[queue] = enable != 0;
	if (!enable)
		vh_retract(g);
	else
		vh_publish(g);
	return 0;
}

static const struct rte_vhost_device_ops vh_device_ops = {
	.new_device = vh_new_device,
	.destroy_device = vh_destroy_device,
	.vring_state_changed = vh_vring_state_changed,
	.new_connection = vh_new_connection,
	.destroy_connection = vh_destroy_connection,
};

static int
vh_sockaddr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int
vsock_vhost_unlink_stale(const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, r;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		VH_LOG(ERR, "%s exists and is not a socket: not replacing it",
			path);
		return -EEXIST;
	}
	if (vh_sockaddr(&sa, path) != 0)
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0) {
		VH_LOG(ERR, "%s is in use by another process", path);
		return -EADDRINUSE;
	}
	if (unlink(path) != 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Register with rte_vhost and start serving; vh is in the registry. */
int
vh_ctl_start(struct vsock_vhost *vh)
{
	const char *p = vh->path;
	bool client = (vh->flags & VSOCK_VHOST_F_CLIENT) != 0;
	int r;

	if (!client) {
		r = vsock_vhost_unlink_stale(p);
		if (r != 0)
			return r;
	}
	r = rte_vhost_driver_register(p, client ?
			RTE_VHOST_USER_CLIENT : 0);
	if (r != 0) {
		VH_LOG(ERR, "%s: cannot register the vhost-user socket", p);
		return -EIO;
	}
	vh->registered = true;
	if (rte_vhost_driver_set_features(p, VH_FEATURES) != 0 ||
			rte_vhost_driver_set_protocol_features(p,
			VH_PROTOCOL_FEATURES) != 0 ||
			rte_vhost_driver_callback_register(p,
			&vh_device_ops) != 0 ||
			rte_vhost_driver_start(p) != 0) {
		VH_LOG(ERR, "%s: cannot start the vhost-user device", p);
		return -EIO;
	}
	return 0;
}

/*
 * Close the socket and its connection. rte_vhost may call destroy_device
 * from this thread: the data path must have let go of the rings first
 * (vh_port_retire), or the wait in vh_retract would never end.
 */
void
vh_ctl_stop(struct vsock_vhost *vh)
{
	if (!vh->registered)
		return;
	if (rte_vhost_driver_unregister(vh->path) != 0)
		VH_LOG(WARNING, "%s: cannot unregister", vh->path);
	vh->registered = false;
	if (vh->published) {
		free(vh->ho.mem);
		vh->ho.mem = NULL;
		vh->published = false;
	}
}

static int
vh_conf_check(const struct vsock_vhost_conf *c)
{
	uint32_t room;

	if (c == NULL || c->socket_path == NULL || c->socket_path[0] == '\0' ||
			strlen(c->socket_path) >= VH_PATH_MAX) {
		VH_LOG(ERR, "socket path missing or over %d bytes",
			VH_PATH_MAX - 1);
		return -EINVAL;
	}
	if (c->guest_cid <= VSOCK_CID_HOST || c->guest_cid >= UINT32_MAX) {
		VH_LOG(ERR, "%s: guest CID %" PRIu64 " is not 3..4294967294",
			c->socket_path, c->guest_cid);
		return -EINVAL;
	}
	room = c->pool == NULL ? 0 :
		rte_pktmbuf_data_room_size(c->pool) - RTE_PKTMBUF_HEADROOM;
	if (room < VSOCK_HDR_LEN || (VSOCK_HDR_LEN + VSOCK_MAX_PKT_PAYLOAD +
			room - 1) / room > 8) {
		VH_LOG(ERR, "%s: the pool's mbufs must hold at least %u "
			"bytes of data", c->socket_path,
			(VSOCK_HDR_LEN + VSOCK_MAX_PKT_PAYLOAD + 7) / 8);
		return -EINVAL;
	}
	if ((c->flags & ~VSOCK_VHOST_F_CLIENT) != 0) {
		VH_LOG(ERR, "%s: unknown flags 0x%" PRIx64, c->socket_path,
			c->flags);
		return -EINVAL;
	}
	return 0;
}

/* Take @vh out of the registry (after rte_vhost let go of it). */
static void
vh_unlist(struct vsock_vhost *vh)
{
	struct vsock_vhost **pp;

	pthread_mutex_lock(&vh_lock);
	for (pp = &vh_list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == vh) {
			*pp = vh->next;
			break;
		}
	pthread_mutex_unlock(&vh_lock);
}

int
vsock_vhost_create(const struct vsock_vhost_conf *conf,
		struct vsock_vhost **out)
{
	struct vsock_vhost *vh;
	int r = vh_conf_check(conf);

	if (r != 0)
		return r;
	vh = rte_zmalloc("vsock_vhost", sizeof(*vh), RTE_CACHE_LINE_SIZE);
	if (vh == NULL)
		return -ENOMEM;
	strcpy(vh->path, conf->socket_path);
	vh->cid = conf->guest_cid;
	vh->flags = conf->flags;
	vh->pool = conf->pool;
	vh->vid = -1;
	vh_port_init(vh);
	r = vh_switch_join(vh, conf);
	if (r != 0) {
		rte_free(vh);
		return r;
	}
	pthread_mutex_lock(&vh_lock);
	if (vh_by_path(vh->path) != NULL) {
		pthread_mutex_unlock(&vh_lock);
		VH_LOG(ERR, "%s: another instance serves this socket",
			vh->path);
		vh_switch_leave(vh);
		rte_free(vh);
		return -EEXIST;
	}
	vh->next = vh_list;
	vh_list = vh;
	pthread_mutex_unlock(&vh_lock);
	r = vh_ctl_start(vh);
	if (r != 0) {
		vsock_vhost_destroy(vh);
		return r;
	}
	*out = vh;
	return 0;
}

void
vsock_vhost_destroy(struct vsock_vhost *vh)
{
	if (vh == NULL)
		return;
	/* Rings first: rte_vhost may wait for them while unregistering. */
	vh_port_retire(vh);
	vh_ctl_stop(vh);
	vh_unlist(vh);
	vh_switch_leave(vh);
	vh_port_fini(vh);
	rte_free(vh);
}

uint64_t
vsock_vhost_guest_cid(const struct vsock_vhost *vh)
{
	return vh->cid;
}

const char *
vsock_vhost_socket_path(const struct vsock_vhost *vh)
{
	return vh->path;
}
