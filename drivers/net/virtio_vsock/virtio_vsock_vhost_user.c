/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user transport: the driver is a vhost-user front-end, as DPDK's
 * virtio-user is. The "guest memory" is EAL's own, shared as the fds
 * behind its memory segments; descriptors carry virtual addresses, which
 * are the regions' guest physical addresses. The back-end (vsock-bridge,
 * or any vhost-user-vsock device) runs the rx and tx rings; the event
 * queue stays with us, as it stays with QEMU.
 *
 * Everything the back-end sends is checked: a reply to another request, a
 * bad size or no reply at all ends the set-up with an error naming it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>

#include <vsock_hdr.h>

#include <vhost_user_defs.h>

#include "virtio_vsock_internal.h"

#define VU_REPLY_MS 5000
/* The back-end runs these rings; the event queue is ours. */
#define VU_NB_RINGS 2

struct vu_dev {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool server;
	uint64_t cid_arg;	/* cid= when the back-end has no config */
	unsigned int wait_s;	/* server: how long open waits */
	int sock;		/* -1 while no back-end */
	int listen_fd;
	int kick[VU_NB_RINGS];
	int call[VU_NB_RINGS];
	uint64_t features;	/* the back-end's, virtio bits only */
	uint64_t negotiated;
	bool protocol;		/* VHOST_USER_F_PROTOCOL_FEATURES */
	bool has_config;
	uint64_t cid;
	uint64_t next_retry;	/* client: tsc of the next connect */
	struct virtqueue *vq[VU_NB_RINGS];
	uint64_t *bad_replies;	/* the device's counter */
};

static const char *
vu_name(uint32_t req)
{
	switch (req) {
	case VU_GET_FEATURES: return "GET_FEATURES";
	case VU_SET_FEATURES: return "SET_FEATURES";
	case VU_SET_OWNER: return "SET_OWNER";
	case VU_SET_MEM_TABLE: return "SET_MEM_TABLE";
	case VU_SET_VRING_NUM: return "SET_VRING_NUM";
	case VU_SET_VRING_ADDR: return "SET_VRING_ADDR";
	case VU_SET_VRING_BASE: return "SET_VRING_BASE";
	case VU_GET_VRING_BASE: return "GET_VRING_BASE";
	case VU_SET_VRING_KICK: return "SET_VRING_KICK";
	case VU_SET_VRING_CALL: return "SET_VRING_CALL";
	case VU_GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
	case VU_SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
	case VU_SET_VRING_ENABLE: return "SET_VRING_ENABLE";
	case VU_GET_CONFIG: return "GET_CONFIG";
	}
	return "?";
}

static int
vu_send(struct vu_dev *vu, struct vu_msg *msg, const int *fds, int nfds,
		char *err, size_t errlen)
{
	char control[CMSG_SPACE(sizeof(int) * VU_MAX_REGIONS)];
	struct iovec iov = { .iov_base = msg, .iov_len = VU_HDR_SIZE +
		msg->size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;

	msg->flags = VU_VERSION;
	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	do {
		r = sendmsg(vu->sock, &mh, MSG_NOSIGNAL);
	} while (r < 0 && errno == EINTR);
	if (r != (ssize_t)iov.iov_len) {
		snprintf(err, errlen, "vhost-user %s: sending %s failed: %s",
			vu->path, vu_name(msg->request),
			r < 0 ? strerror(errno) : "short write");
		return -EIO;
	}
	return 0;
}

/* Read exactly @len bytes, waiting at most VU_REPLY_MS in all. */
static int
vu_read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t done = 0;

	while (done < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, VU_REPLY_MS) <= 0)
			return -ETIMEDOUT;
		r = recv(fd, p + done, len - done, 0);
		if (r == 0)
			return -ECONNRESET;
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		done += (size_t)r;
	}
	return 0;
}

/* Wait for the reply to @req; @want_size is the payload it must carry. */
static int
vu_reply(struct vu_dev *vu, struct vu_msg *msg, uint32_t req,
		uint32_t want_size, char *err, size_t errlen)
{
	int r = vu_read_full(vu->sock, msg, VU_HDR_SIZE);

	if (r == 0 && (msg->request != req ||
			(msg->flags & 0x3) != VU_VERSION ||
			!(msg->flags & VU_FLAG_REPLY) ||
			msg->size != want_size)) {
		snprintf(err, errlen, "vhost-user %s: bad reply to %s "
			"(request %u, flags 0x%x, size %u; expected request "
			"%u, size %u)", vu->path, vu_name(req), msg->request,
			msg->flags, msg->size, req, want_size);
		(*vu->bad_replies)++;
		return -EPROTO;
	}
	if (r == 0)
		r = vu_read_full(vu->sock, &msg->p, want_size);
	if (r != 0) {
		snprintf(err, errlen, "vhost-user %s: no reply to %s: %s",
			vu->path, vu_name(req), strerror(-r));
		return r;
	}
	return 0;
}

static int
vu_simple(struct vu_dev *vu, uint32_t req, uint32_t size, const void *payload,
		char *err, size_t errlen)
{
	struct vu_msg msg = { .request = req, .size = size };

	if (size > 0)
		memcpy(&msg.p, payload, size);
	return vu_send(vu, &msg, NULL, 0, err, errlen);
}

static int
vu_get_u64(struct vu_dev *vu, uint32_t req, uint64_t *out, char *err,
		size_t errlen)
{
	struct vu_msg msg = { .request = req };
	int r = vu_send(vu, &msg, NULL, 0, err, errlen);

	if (r == 0)
		r = vu_reply(vu, &msg, req, sizeof(uint64_t), err, errlen);
	if (r == 0)
		*out = msg.p.u64;
	return r;
}

/* The guest CID from the device's config space (le64, upper half reserved). */
static int
vu_get_cid(struct vu_dev *vu, char *err, size_t errlen)
{
	struct vu_msg msg = { .request = VU_GET_CONFIG,
		.size = 12 + sizeof(uint64_t) };
	int r;

	msg.p.cfg.offset = 0;
	msg.p.cfg.size = sizeof(uint64_t);
	r = vu_send(vu, &msg, NULL, 0, err, errlen);
	if (r == 0)
		r = vu_reply(vu, &msg, VU_GET_CONFIG, 12 + sizeof(uint64_t),
				err, errlen);
	if (r != 0)
		return r;
	if (msg.p.cfg.offset != 0 || msg.p.cfg.size != sizeof(uint64_t)) {
		snprintf(err, errlen, "vhost-user %s: GET_CONFIG answered %u "
			"bytes at offset %u, not 8 at 0", vu->path,
			msg.p.cfg.size, msg.p.cfg.offset);
		(*vu->bad_replies)++;
		return -EPROTO;
	}
	vu->cid = vsock_le64_get(msg.p.cfg.region);
	return 0;
}

/* Features, owner, protocol features, CID: how every connection starts. */
static int
vu_hello(struct vu_dev *vu, char *err, size_t errlen)
{
	uint64_t f, pf = 0;
	int r;

	r = vu_get_u64(vu, VU_GET_FEATURES, &f, err, errlen);
	if (r == 0)
		r = vu_simple(vu, VU_SET_OWNER, 0, NULL, err, errlen);
	if (r != 0)
		return r;
	vu->protocol = (f >> VU_F_PROTOCOL_FEATURES) & 1;
	vu->features = f & ~(1ULL << VU_F_PROTOCOL_FEATURES);
	vu->has_config = false;
	if (vu->protocol) {
		r = vu_get_u64(vu, VU_GET_PROTOCOL_FEATURES, &pf, err, errlen);
		pf &= 1ULL << VU_PROTOCOL_F_CONFIG;
		if (r == 0)
			r = vu_simple(vu, VU_SET_PROTOCOL_FEATURES,
					sizeof(pf), &pf, err, errlen);
		if (r != 0)
			return r;
		vu->has_config = pf != 0;
	}
	if (vu->has_config)
		return vu_get_cid(vu, err, errlen);
	if (vu->cid_arg == 0) {
		snprintf(err, errlen, "vhost-user %s: the back-end has no "
			"config space to tell our CID: give cid=N", vu->path);
		return -EINVAL;
	}
	vu->cid = vu->cid_arg;
	return 0;
}

static int
vu_set_features(struct vu_dev *vu, char *err, size_t errlen)
{
	uint64_t f = vu->negotiated;

	if (vu->protocol)
		f |= 1ULL << VU_F_PROTOCOL_FEATURES;
	return vu_simple(vu, VU_SET_FEATURES, sizeof(f), &f, err, errlen);
}

static int
vu_set_mem_table(struct vu_dev *vu, char *err, size_t errlen)
{
	struct vv_mem_region regs[VU_MAX_REGIONS];
	struct vu_msg msg = { .request = VU_SET_MEM_TABLE };
	int fds[VU_MAX_REGIONS];
	int n, i;

	n = virtio_vsock_mem_regions(regs, VU_MAX_REGIONS, true, err, errlen);
	if (n < 0)
		return n;
	msg.p.mem.nregions = (uint32_t)n;
	for (i = 0; i < n; i++) {
		msg.p.mem.regions[i].guest_phys_addr = regs[i].addr;
		msg.p.mem.regions[i].userspace_addr = regs[i].addr;
		msg.p.mem.regions[i].memory_size = regs[i].size;
		msg.p.mem.regions[i].mmap_offset = regs[i].offset;
		fds[i] = regs[i].fd;
	}
	msg.size = 8 + sizeof(struct vu_region) * (uint32_t)n;
	return vu_send(vu, &msg, fds, n, err, errlen);
}

static int
vu_vring_fd(struct vu_dev *vu, uint32_t req, uint32_t q, int fd, char *err,
		size_t errlen)
{
	struct vu_msg msg = { .request = req, .size = sizeof(uint64_t) };

	msg.p.u64 = q;
	return vu_send(vu, &msg, &fd, 1, err, errlen);
}

/* Memory, then each ring from index 0, then enable them. */
static int
vu_start_rings(struct vu_dev *vu, char *err, size_t errlen)
{
	uint32_t q;
	int r;

	r = vu_set_mem_table(vu, err, errlen);
	for (q = 0; q < VU_NB_RINGS && r == 0; q++) {
		struct virtqueue *vq = vu->vq[q];
		struct vu_state num = { .index = q, .num = vq->size };
		/* A packed ring starts at slot 0 with wrap counters set. */
		struct vu_state base = { .index = q,
			.num = vq->packed ? 1u << 15 : 0 };
		struct vu_addr addr = {
			.index = q,
			.desc = (uint64_t)(uintptr_t)vq->desc,
			.avail = (uint64_t)(uintptr_t)vq->avail,
			.used = (uint64_t)(uintptr_t)vq->used,
		};

		r = vu_simple(vu, VU_SET_VRING_NUM, sizeof(num), &num, err,
				errlen);
		if (r == 0)
			r = vu_simple(vu, VU_SET_VRING_BASE, sizeof(base),
					&base, err, errlen);
		if (r == 0)
			r = vu_simple(vu, VU_SET_VRING_ADDR, sizeof(addr),
					&addr, err, errlen);
		if (r == 0)
			r = vu_vring_fd(vu, VU_SET_VRING_CALL, q, vu->call[q],
					err, errlen);
		if (r == 0)
			r = vu_vring_fd(vu, VU_SET_VRING_KICK, q, vu->kick[q],
					err, errlen);
	}
	/* With protocol features, rings start disabled. */
	for (q = 0; q < VU_NB_RINGS && r == 0 && vu->protocol; q++) {
		struct vu_state en = { .index = q, .num = 1 };

		r = vu_simple(vu, VU_SET_VRING_ENABLE, sizeof(en), &en, err,
				errlen);
	}
	return r;
}

static int
vu_socket(void)
{
	return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

static void
vu_addr(const struct vu_dev *vu, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, vu->path, strlen(vu->path));
}

static int
vu_connect(struct vu_dev *vu, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd = vu_socket();

	vu_addr(vu, &sa);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "vhost-user %s: cannot connect: %s (is "
			"the back-end listening? or give server=1)", vu->path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -ECONNREFUSED;
	}
	vu->sock = fd;
	return 0;
}

static int
vu_listen(struct vu_dev *vu, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd = vu_socket();

	vu_addr(vu, &sa);
	unlink(vu->path);	/* a stale socket from an earlier run */
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
			listen(fd, 1) < 0 ||
			fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		snprintf(err, errlen, "vhost-user %s: cannot listen: %s",
			vu->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	vu->listen_fd = fd;
	return 0;
}

/* Server mode: take a back-end's connection, waiting up to @ms. */
static int
vu_accept(struct vu_dev *vu, int ms)
{
	struct pollfd pfd = { .fd = vu->listen_fd, .events = POLLIN };
	int fd;

	if (poll(&pfd, 1, ms) <= 0)
		return -EAGAIN;
	fd = accept4(vu->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	vu->sock = fd;
	return 0;
}

/*
 * Connect to the back-end, or (server) take its connection, waiting up
 * to @wait_s seconds: 0, or a negative errno with @err filled.
 */
static int
vu_reach(struct vu_dev *vu, unsigned int wait_s, char *err, size_t errlen)
{
	if (!vu->server)
		return vu_connect(vu, err, errlen);
	if (vu_accept(vu, (int)wait_s * 1000) == 0)
		return 0;
	snprintf(err, errlen, "vhost-user %s: no back-end connected within "
		"%u s (wait=S sets it)", vu->path, wait_s);
	return -ETIMEDOUT;
}

static void
vu_drop(struct vu_dev *vu)
{
	if (vu->sock >= 0)
		close(vu->sock);
	vu->sock = -1;
}

/* The vhost-user spec, parsed. */
struct vu_args {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint64_t cid;		/* 0: from the back-end's config */
	bool server;
	unsigned int wait_s;
};

static const char *const vu_keys[] = {
	"path", "cid", "server", "wait", NULL,
};

static int
vu_arg(const char *key, const char *val, void *targs, char *err,
		size_t errlen)
{
	struct vu_args *a = targs;
	char *end;
	unsigned long v;

	if (strcmp(key, "path") == 0) {
		if (val[0] == '\0' || strlen(val) >= sizeof(a->path)) {
			snprintf(err, errlen, "vhost-user: path=%s: must be 1 "
				"to %zu characters", val,
				sizeof(a->path) - 1);
			return -EINVAL;
		}
		strcpy(a->path, val);
		return 0;
	}
	if (strcmp(key, "cid") == 0)
		return virtio_vsock_parse_cid("vhost-user", val, &a->cid, err,
				errlen);
	if (strcmp(key, "server") == 0) {
		if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0) {
			snprintf(err, errlen, "vhost-user: server=%s: must be "
				"0 or 1", val);
			return -EINVAL;
		}
		a->server = val[0] == '1';
		return 0;
	}
	/* wait */
	errno = 0;
	v = strtoul(val, &end, 10);
	if (errno != 0 || *end != '\0' || val[0] == '\0' || val[0] == '-' ||
			v > 3600) {
		snprintf(err, errlen, "vhost-user: wait=%s: must be 0 to 3600 "
			"seconds", val);
		return -EINVAL;
	}
	a->wait_s = (unsigned int)v;
	return 0;
}

static void
vu_release(struct virtio_vsock_dev *dev)
{
	struct vu_dev *vu = dev->tpriv;
	int q;

	if (vu == NULL)
		return;
	virtio_vsock_mem_watch(dev, false);
	vu_drop(vu);
	for (q = 0; q < VU_NB_RINGS; q++) {
		if (vu->kick[q] >= 0)
			close(vu->kick[q]);
		if (vu->call[q] >= 0)
			close(vu->call[q]);
	}
	if (vu->listen_fd >= 0) {
		close(vu->listen_fd);
		unlink(vu->path);
	}
	free(vu);
	dev->tpriv = NULL;
}

static int
vu_parse(const char *args, void *targs, struct virtio_vsock_devargs *da,
		char *err, size_t errlen)
{
	struct vu_args *a = targs;
	int ret;

	a->wait_s = 30;
	ret = virtio_vsock_kvargs_parse("vhost-user", args, vu_keys, vu_arg,
			a, da, err, errlen);
	if (ret == 0 && a->path[0] == '\0') {
		snprintf(err, errlen, "vhost-user: path=P is required");
		ret = -EINVAL;
	}
	return ret;
}

static int
vu_create(struct virtio_vsock_dev *dev, const void *targs, char *err,
		size_t errlen)
{
	const struct vu_args *a = targs;
	struct vu_dev *vu;
	int ret, q;

	vu = calloc(1, sizeof(*vu));
	if (vu == NULL)
		return -ENOMEM;
	memcpy(vu->path, a->path, sizeof(vu->path));
	vu->cid_arg = a->cid;
	vu->server = a->server;
	vu->wait_s = a->wait_s;
	vu->bad_replies = &dev->stats.bad_replies;
	vu->sock = -1;
	vu->listen_fd = -1;
	for (q = 0; q < VU_NB_RINGS; q++) {
		vu->kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		vu->call[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	}
	dev->tpriv = vu;
	dev->use_va = true;
	for (q = 0; q < VU_NB_RINGS; q++)
		if (vu->kick[q] < 0 || vu->call[q] < 0) {
			snprintf(err, errlen, "vhost-user: eventfd: %s",
				strerror(errno));
			vu_release(dev);
			return -EIO;
		}
	ret = vu->server ? vu_listen(vu, err, errlen) : 0;
	if (ret == 0)
		ret = vu_reach(vu, vu->wait_s, err, errlen);
	if (ret == 0)
		ret = vu_hello(vu, err, errlen);
	if (ret != 0)
		vu_release(dev);
	return ret;
}

static uint64_t
vu_get_features(struct virtio_vsock_dev *dev)
{
	return ((struct vu_dev *)dev->tpriv)->features;
}

static int
vu_set_features_op(struct virtio_vsock_dev *dev, uint64_t features)
{
	struct vu_dev *vu = dev->tpriv;
	char err[256];
	int r;

	vu->negotiated = features;
	r = vu_set_features(vu, err, sizeof(err));
	if (r != 0)
		VV_LOG(ERR, "%s", err);
	return r;
}

static uint64_t
vu_get_cid_op(struct virtio_vsock_dev *dev)
{
	return ((struct vu_dev *)dev->tpriv)->cid;
}

static int
vu_setup_queue(struct virtio_vsock_dev *dev, struct virtqueue *vq)
{
	struct vu_dev *vu = dev->tpriv;

	if (vq->queue_id < VU_NB_RINGS)
		vu->vq[vq->queue_id] = vq;
	return 0;
}

static int
vu_start(struct virtio_vsock_dev *dev)
{
	struct vu_dev *vu = dev->tpriv;
	char err[256];
	int r = vu_start_rings(vu, err, sizeof(err));

	if (r != 0)
		VV_LOG(ERR, "%s", err);
	else
		virtio_vsock_mem_watch(dev, true);
	return r;
}

static void
vu_notify(struct virtio_vsock_dev *dev, uint16_t queue_id)
{
	struct vu_dev *vu = dev->tpriv;

	if (queue_id < VU_NB_RINGS && vu->sock >= 0 &&
			eventfd_write(vu->kick[queue_id], 1) < 0)
		VV_LOG(DEBUG, "vhost-user: kick: %s", strerror(errno));
}

/* Ask the back-end to stop each ring (its answer says where it stopped). */
static int
vu_stop_rings(struct vu_dev *vu, char *err, size_t errlen)
{
	uint32_t q;
	int r;

	for (q = 0; q < VU_NB_RINGS; q++) {
		struct vu_msg msg = { .request = VU_GET_VRING_BASE,
			.size = sizeof(struct vu_state) };

		msg.p.state.index = q;
		r = vu_send(vu, &msg, NULL, 0, err, errlen);
		if (r == 0)
			r = vu_reply(vu, &msg, VU_GET_VRING_BASE,
					sizeof(struct vu_state), err, errlen);
		if (r != 0)
			return r;
		/* It answered for another ring: nothing more it says counts. */
		if (msg.p.state.index != q) {
			(*vu->bad_replies)++;
			snprintf(err, errlen, "vhost-user %s: GET_VRING_BASE "
				"of ring %u answered for ring %u", vu->path, q,
				msg.p.state.index);
			return -EPROTO;
		}
	}
	return 0;
}

static void
vu_stop(struct virtio_vsock_dev *dev)
{
	struct vu_dev *vu = dev->tpriv;
	char err[256];

	if (vu == NULL || vu->sock < 0)
		return;
	if (vu_stop_rings(vu, err, sizeof(err)) != 0)
		VV_LOG(WARNING, "%s", err);
	vu_drop(vu);
}

/* Has the back-end gone? A reply-only socket that is readable has. */
static bool
vu_lost(struct vu_dev *vu)
{
	struct pollfd pfd = { .fd = vu->sock, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0;
}

/* A back-end is there again: same features, fresh rings from index 0. */
static int
vu_resume(struct virtio_vsock_dev *dev)
{
	struct vu_dev *vu = dev->tpriv;
	uint64_t before = vu->negotiated;
	char err[256];
	int r;

	r = vu_hello(vu, err, sizeof(err));
	if (r == 0 && (vu->features & before) != before) {
		snprintf(err, sizeof(err), "vhost-user %s: the new back-end "
			"lacks features 0x%" PRIx64, vu->path,
			before & ~vu->features);
		r = -ENOTSUP;
	}
	if (r == 0)
		r = vu_set_features(vu, err, sizeof(err));
	if (r == 0) {
		/* Whatever was posted while nobody was there goes. */
		virtio_vsock_rings_reset(dev);
		dev->cid = vu->cid;
		r = vu_start_rings(vu, err, sizeof(err));
	}
	if (r != 0) {
		VV_LOG(ERR, "%s", err);
		vu_drop(vu);
		return r;
	}
	dev->up = true;
	VV_LOG(NOTICE, "vhost-user %s: back-end back, cid %" PRIu64,
		vu->path, dev->cid);
	return 0;
}

/*
 * Stop the rings and read the CID again over the same connection, or
 * over a new one when the back-end has gone or answered wrong.
 */
static int
vu_reset(struct virtio_vsock_dev *dev)
{
	struct vu_dev *vu = dev->tpriv;
	char err[256];
	int r;

	if (vu->sock >= 0 && !vu_lost(vu)) {
		r = vu_stop_rings(vu, err, sizeof(err));
		if (r == 0 && vu->has_config)
			r = vu_get_cid(vu, err, sizeof(err));
		if (r == 0)
			return 0;
		VV_LOG(WARNING, "%s; connecting again", err);
	}
	vu_drop(vu);
	r = vu_reach(vu, 0, err, sizeof(err));
	if (r == 0)
		r = vu_hello(vu, err, sizeof(err));
	if (r != 0) {
		VV_LOG(WARNING, "%s", err);
		vu_drop(vu);
	}
	return r;
}

static int
vu_ctrl_poll(struct virtio_vsock_dev *dev)
{
	struct vu_dev *vu = dev->tpriv;
	char err[256];

	if (vu->sock >= 0) {
		if (!vu_lost(vu))
			return 0;
		VV_LOG(WARNING, "vhost-user %s: back-end gone; connections "
			"reset, waiting for it", vu->path);
		vu_drop(vu);
		dev->up = false;
		virtio_vsock_rings_reset(dev);
		return 1;
	}
	if (!vu->server) {
		uint64_t now = rte_get_timer_cycles();

		if (now < vu->next_retry)
			return 0;
		vu->next_retry = now + rte_get_timer_hz();
	}
	if (vu_reach(vu, 0, err, sizeof(err)) != 0)
		return 0;
	/* Tell the stack again: connections made meanwhile are void. */
	return vu_resume(dev) == 0 ? 1 : 0;
}

const struct virtio_vsock_transport_ops virtio_vsock_vhost_user_ops = {
	.name = "vhost-user",
	.usage = "vhost-user:path=P[,cid=N][,server=1][,wait=S][,queue_size=Q]"
		"[,rx_buf=B][,packed=0|1][,event_idx=0|1]  vhost-user "
		"front-end (EAL needs --single-file-segments)",
	.args_size = sizeof(struct vu_args),
	.parse = vu_parse,
	.create = vu_create,
	.get_features = vu_get_features,
	.set_features = vu_set_features_op,
	.get_cid = vu_get_cid_op,
	.setup_queue = vu_setup_queue,
	.start = vu_start,
	.notify = vu_notify,
	.stop = vu_stop,
	.release = vu_release,
	.ctrl_poll = vu_ctrl_poll,
	.reset = vu_reset,
};
