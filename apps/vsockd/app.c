/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Applications: the control socket, each application's shared segment,
 * the RPCs of vsl_proto.h and tear-down when an application goes away.
 *
 * Control sockets are polled (epoll_wait with a zero timeout) from the
 * main loop every few microseconds, never per packet.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_common.h>

#include "vsockd.h"

#define VD_EVENTS 64
#define VD_LISTEN_BACKLOG 128
#define VD_MAX_FDS 4
#define VD_PAGE 4096u

static bool vd_ctl_bound;

/* ---- the listening socket ---- */

static int
vd_mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	char *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	p = strrchr(buf, '/');
	if (p == NULL || p == buf)
		return 0;
	*p = '\0';
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* 1: a live daemon answers at @sa; 0: nothing or a stale socket. */
static int
vd_path_live(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, r;

	if (lstat(sa->sun_path, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (r == 0)
		return 1;
	if (unlink(sa->sun_path) != 0 && errno != ENOENT)
		return -errno;
	VD_LOG(INFO, "removed stale socket %s\n", sa->sun_path);
	return 0;
}

int
vd_ctl_open(void)
{
	const char *path = vd.conf.socket_path;
	struct epoll_event ev = { .events = EPOLLIN };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "vsockd: %s: path too long\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	r = vd_mkdir_p(path);
	if (r != 0) {
		fprintf(stderr, "vsockd: %s: cannot create its directory: "
			"%s\n", path, strerror(-r));
		return -1;
	}
	r = vd_path_live(&sa);
	if (r == 1) {
		fprintf(stderr, "vsockd: %s: in use by a running vsockd\n",
			path);
		return -1;
	}
	if (r < 0) {
		fprintf(stderr, "vsockd: %s: %s\n", path, strerror(-r));
		return -1;
	}
	vd.epfd = epoll_create1(EPOLL_CLOEXEC);
	vd.lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK |
			SOCK_CLOEXEC, 0);
	if (vd.epfd < 0 || vd.lfd < 0) {
		fprintf(stderr, "vsockd: socket: %s\n", strerror(errno));
		return -1;
	}
	/* Nobody may connect before the mode and group are right. */
	old = umask(0177);
	r = bind(vd.lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r != 0) {
		fprintf(stderr, "vsockd: %s: %s\n", path, strerror(errno));
		return -1;
	}
	vd_ctl_bound = true;
	if ((vd.conf.group_set && chown(path, (uid_t)-1,
			vd.conf.socket_group) != 0) ||
			chmod(path, vd.conf.socket_mode) != 0) {
		fprintf(stderr, "vsockd: %s: %s\n", path, strerror(errno));
		return -1;
	}
	vd.lev = VD_EV_LISTEN;
	ev.data.ptr = &vd.lev;
	if (listen(vd.lfd, VD_LISTEN_BACKLOG) != 0 ||
			epoll_ctl(vd.epfd, EPOLL_CTL_ADD, vd.lfd, &ev) != 0) {
		fprintf(stderr, "vsockd: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

void
vd_ctl_close(void)
{
	if (vd.lfd >= 0)
		close(vd.lfd);
	if (vd_ctl_bound)
		unlink(vd.conf.socket_path);
	if (vd.epfd >= 0)
		close(vd.epfd);
	vd.lfd = vd.epfd = -1;
	vd_ctl_bound = false;
}

/* ---- applications ---- */

static void
vd_app_comm(struct vd_app *a)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(a->comm, sizeof(a->comm), "?");
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)a->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, a->comm, sizeof(a->comm) - 1);
	close(fd);
	if (n <= 0) {
		snprintf(a->comm, sizeof(a->comm), "?");
		return;
	}
	a->comm[n] = '\0';
	a->comm[strcspn(a->comm, "\n")] = '\0';
}

/*
 * Serve the application at the other end of control socket @fd, whose
 * credentials are @cr. NULL (errno set) leaves @fd to the caller.
 */
struct vd_app *
vd_app_attach(int fd, const struct ucred *cr)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	struct vd_app *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->ev_kind = VD_EV_APP;
	a->fd = fd;
	a->pid = cr->pid;
	a->uid = cr->uid;
	a->gid = cr->gid;
	ev.data.ptr = a;
	if (epoll_ctl(vd.epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		free(a);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&vd.apps, a, link);
	vd.nb_apps++;
	vd.apps_total++;
	return a;
}

static void
vd_accept(void)
{
	struct ucred cr;
	socklen_t len;
	struct vd_app *a;
	int fd, i;

	for (i = 0; i < VD_EVENTS; i++) {
		fd = accept4(vd.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		len = sizeof(cr);
		if (vd.nb_apps >= vd.conf.max_apps ||
				getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr,
					&len) != 0 ||
				(a = vd_app_attach(fd, &cr)) == NULL) {
			VD_LOG(WARNING, "refusing an application (%u "
				"attached)\n", vd.nb_apps);
			close(fd);
			continue;
		}
		vd_app_comm(a);
		VD_LOG(INFO, "application %s pid %d uid %u attached\n",
			a->comm, (int)a->pid, (unsigned int)a->uid);
	}
}

static void
vd_counters_add(struct vd_counters *to, const struct vd_counters *c)
{
	const uint64_t *src = (const uint64_t *)c;
	uint64_t *dst = (uint64_t *)to;
	size_t i;

	for (i = 0; i < sizeof(*c) / sizeof(uint64_t); i++)
		dst[i] += src[i];
}

/* The last of @a: its segment, its counters, its entry. */
static void
vd_app_release(struct vd_app *a)
{
	if (a->seg != NULL)
		munmap(a->seg, a->seg_size);
	vd_counters_add(&vd.cnt, &a->cnt);
	TAILQ_REMOVE(&vd.apps, a, link);
	vd.nb_apps--;
	free(a->socks);
	free(a);
}

/*
 * The application went away (or the daemon stops, @force). Its open
 * sockets are reset towards their peers: what their rings hold may be
 * half a message. Sockets it had closed, or shut down for writing (all
 * it meant to send is in the ring: socat exits so), finish their close
 * as Linux would after the process exits: what they still hold is sent,
 * from the segment, which stays mapped until the last of them is done
 * (vd_ctl_poll() releases the application then).
 */
static void
vd_app_free(struct vd_app *a, bool force)
{
	uint32_t i;

	for (i = 0; a->socks != NULL && i < a->nslots; i++) {
		struct vd_sock *s = a->socks[i];

		if (s == NULL)
			continue;
		if (force || !vd_sock_finished_writing(s))
			vd_sock_teardown(s);
		else if (s->st != VD_CLOSING)
			vd_rpc_close(s, false);
	}
	if (!a->gone) {
		epoll_ctl(vd.epfd, EPOLL_CTL_DEL, a->fd, NULL);
		close(a->fd);
		a->fd = -1;
		a->gone = true;
		a->hello = false;	/* no more doorbells */
		VD_LOG(INFO, "application %s pid %d detached\n", a->comm,
			(int)a->pid);
	}
	if (a->nb_socks == 0)
		vd_app_release(a);
}

void
vd_app_free_all(void)
{
	struct vd_app *a;

	while ((a = TAILQ_FIRST(&vd.apps)) != NULL)
		vd_app_free(a, true);
}

/* ---- the segment ---- */

static int
vd_hello(struct vd_app *a, int *memfd)
{
	uint32_t n = vd.conf.nslots, ring = vd.conf.ring_size;
	uint64_t db_off, slots_off, rings_off, size;
	struct vsl_shm_hdr *h;
	char name[32];
	void *p;
	int fd;

	db_off = RTE_ALIGN_CEIL(sizeof(struct vsl_shm_hdr), VSL_CACHE_LINE);
	slots_off = RTE_ALIGN_CEIL(db_off + (uint64_t)n * sizeof(uint32_t),
			VSL_CACHE_LINE);
	rings_off = RTE_ALIGN_CEIL(slots_off + (uint64_t)n *
			sizeof(struct vsl_slot), VD_PAGE);
	size = rings_off + (uint64_t)n * 2 * ring;
	a->socks = calloc(n, sizeof(*a->socks));
	if (a->socks == NULL)
		return -ENOMEM;
	snprintf(name, sizeof(name), "vsockd-%d", (int)a->pid);
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* Sealed: the app can neither shrink it under us (SIGBUS) nor grow it. */
	if (ftruncate(fd, (off_t)size) != 0 ||
			fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
				F_SEAL_SEAL) != 0) {
		close(fd);
		return -errno;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return -errno;
	}
	a->seg = p;
	a->seg_size = size;
	a->nslots = n;
	a->ring_size = ring;
	a->hdr = p;
	a->db = (uint32_t *)(a->seg + db_off);
	a->slots = (struct vsl_slot *)(a->seg + slots_off);
	a->rings = a->seg + rings_off;
	h = a->hdr;
	h->magic = VSL_SHM_MAGIC;
	h->version = VSL_PROTO_VERSION;
	h->nslots = n;
	h->rx_ring_size = ring;
	h->tx_ring_size = ring;
	h->size = size;
	h->db_off = db_off;
	h->slots_off = slots_off;
	h->rings_off = rings_off;
	a->hello = true;
	*memfd = fd;
	return 0;
}

/* ---- RPCs ---- */

/* /proc/self/fd says what an fd is without trusting the sender. */
static bool
vd_is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	return strcmp(link, "anon_inode:[eventfd]") == 0;
}

static int
vd_rpc_socket(struct vd_app *a, const struct vsl_req *q, int efd)
{
	struct vd_sock *s;

	if (q->type != VSL_TYPE_STREAM && q->type != VSL_TYPE_SEQPACKET)
		return -ESOCKTNOSUPPORT;
	if (!vd_is_eventfd(efd))
		return -EINVAL;
	if (a->socks[q->slot] != NULL)
		return -EBUSY;
	s = vd_sock_new(a, q->type);
	if (s == NULL)
		return -ENOMEM;
	vd_sock_attach_slot(s, q->slot, efd);
	return 0;
}

static int
vd_rpc_accept(struct vd_app *a, struct vd_sock *l, uint32_t nslot, int efd,
		struct vsl_rep *rep)
{
	struct vsock_conn_info ci;
	struct vd_sock *s;

	if (l->st != VD_LISTEN)
		return -EINVAL;
	if (nslot >= a->nslots)
		return -EINVAL;
	if (a->socks[nslot] != NULL)
		return -EBUSY;
	if (!vd_is_eventfd(efd))
		return -EINVAL;
	s = TAILQ_FIRST(&l->acq);
	if (s == NULL)
		return -EAGAIN;
	TAILQ_REMOVE(&l->acq, s, qlink);
	l->acq_len--;
	vd_touch(l);
	s->listener = NULL;
	s->st = VD_CONNECTED;
	vd_sock_attach_slot(s, nslot, efd);
	vd_sock_publish_addr(s);
	/* From the stack, not from the segment the app may scribble on. */
	vsock_conn_info(s->c, &ci);
	rep->cid = ci.local_cid;
	rep->port = ci.local_port;
	rep->rcid = ci.remote_cid;
	rep->rport = ci.remote_port;
	vd_rx_drain(s);
	return 0;
}

static void
vd_close_fds(const int *fds, int nfds)
{
	int i;

	for (i = 0; i < nfds; i++)
		close(fds[i]);
}

/* Handle @q; @fds it came with are the handler's (used or closed). */
static int
vd_rpc(struct vd_app *a, const struct vsl_req *q, int *fds, int nfds,
		struct vsl_rep *rep, int *out_fd)
{
	int want = q->op == VSL_OP_SOCKET || q->op == VSL_OP_ACCEPT ? 1 : 0;
	struct vd_sock *s = NULL;
	int r;

	if (q->op == 0 || q->op >= VSL_OP_MAX || nfds != want) {
		r = -EINVAL;
		goto bad;
	}
	if (q->op == VSL_OP_HELLO) {
		if (a->hello) {
			r = -EALREADY;
			goto bad;
		}
		if (q->arg != VSL_PROTO_VERSION)
			return -EPROTONOSUPPORT;
		r = vd_hello(a, out_fd);
		rep->val = a->seg_size;
		rep->cid = vd.local_cid;
		return r;
	}
	if (!a->hello || q->slot >= a->nslots) {
		r = !a->hello ? -EPROTO : -EINVAL;
		goto bad;
	}
	if (q->op == VSL_OP_SOCKET) {
		r = vd_rpc_socket(a, q, fds[0]);
		if (r != 0)
			close(fds[0]);
		return r;
	}
	s = a->socks[q->slot];
	if (s == NULL || s->st == VD_CLOSING) {
		r = -EBADF;
		goto bad;
	}
	switch (q->op) {
	case VSL_OP_BIND:
		r = vd_rpc_bind(s, q->cid, q->port, &rep->port);
		rep->cid = s->bound_cid;
		return r;
	case VSL_OP_LISTEN:
		return vd_rpc_listen(s, q->arg);
	case VSL_OP_ACCEPT:
		r = vd_rpc_accept(a, s, q->arg, fds[0], rep);
		if (r != 0)
			close(fds[0]);
		return r;
	case VSL_OP_CONNECT:
		return vd_rpc_connect(s, q->cid, q->port, q->arg);
	case VSL_OP_SHUTDOWN:
		return vd_rpc_shutdown(s, q->arg);
	case VSL_OP_CLOSE:
		if (q->arg > 1) {
			r = -EINVAL;
			goto bad;
		}
		return vd_rpc_close(s, q->arg == 1);
	case VSL_OP_SETOPT:
		return vd_rpc_setopt(s, q->arg, q->val, &rep->val);
	}
	r = -EINVAL;
bad:
	a->cnt.bad_request++;
	a->bad++;
	vd_close_fds(fds, nfds);
	return r;
}

static int
vd_reply(struct vd_app *a, const struct vsl_rep *rep, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)rep,
		.iov_len = sizeof(*rep) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	/* One request, one reply: a full socket means it does not read. */
	return sendmsg(a->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) ==
		(ssize_t)sizeof(*rep) ? 0 : -1;
}

/*
 * Handle one message the application sent: @n bytes at @raw (@cut: the
 * message or its descriptors did not fit), with the descriptors @fds it
 * carried, which are the handler's (used or closed); then answer it.
 * Returns false when the application must go.
 */
bool
vd_app_request(struct vd_app *a, const void *raw, size_t n, bool cut,
		int *fds, int nfds)
{
	struct vsl_rep rep = { 0 };
	struct vsl_req q;
	int out_fd = -1, r;

	/*
	 * The end, or an empty message (SEQPACKET cannot tell them apart):
	 * either way the application goes, and the descriptors an empty
	 * message carried are closed.
	 */
	if (n == 0) {
		vd_close_fds(fds, nfds);
		return false;
	}
	a->cnt.rpcs++;
	if (n != sizeof(q) || cut) {
		vd_close_fds(fds, nfds);
		a->cnt.bad_request++;
		a->bad++;
		rep.status = -EINVAL;
	} else {
		memcpy(&q, raw, sizeof(q));
		rep.status = vd_rpc(a, &q, fds, nfds, &rep, &out_fd);
	}
	/*
	 * What the request changed is in the slots before the reply leaves:
	 * an application that took the last queued connection must not read
	 * the listener as readable still.
	 */
	vd_flush();
	r = vd_reply(a, &rep, out_fd);
	if (out_fd >= 0)
		close(out_fd);
	if (r != 0 || a->bad > VD_MAX_BAD_REQUESTS) {
		if (a->bad > VD_MAX_BAD_REQUESTS) {
			vd.apps_dropped++;
			VD_LOG(WARNING, "application %s pid %d: too many bad "
				"requests, disconnected\n", a->comm,
				(int)a->pid);
		}
		return false;
	}
	return true;
}

/*
 * One message from @a's control socket into @raw (@size bytes), and the
 * descriptors it carried into @fds (VD_MAX_FDS; more are closed). Returns
 * recvmsg()'s result, errno set when negative.
 */
static ssize_t
vd_app_recv(struct vd_app *a, void *raw, size_t size, int *fds, int *nfds,
		bool *cut)
{
	union {
		char buf[CMSG_SPACE(VD_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = raw, .iov_len = size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	ssize_t n;

	*nfds = 0;
	n = recvmsg(a->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return n;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k, cnt;

		if (cm->cmsg_level != SOL_SOCKET ||
				cm->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < cnt; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int),
				sizeof(int));
			if (*nfds < VD_MAX_FDS)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	*cut = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
	return n;
}

/* Returns false when the application is gone or must go. */
static bool
vd_app_read(struct vd_app *a)
{
	char raw[sizeof(struct vsl_req) + 1];
	int fds[VD_MAX_FDS], nfds, i;
	bool cut;
	ssize_t n;

	for (i = 0; i < VD_RPC_BURST; i++) {
		n = vd_app_recv(a, raw, sizeof(raw), fds, &nfds, &cut);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		if (!vd_app_request(a, raw, (size_t)n, cut, fds, nfds))
			return false;
	}
	return true;
}

void
vd_ctl_poll(void)
{
	struct epoll_event evs[VD_EVENTS];
	struct vd_app *a, *next;
	int n, i;

	n = epoll_wait(vd.epfd, evs, VD_EVENTS, 0);
	for (i = 0; i < n; i++) {
		enum vd_ev_kind *k = evs[i].data.ptr;

		if (*k == VD_EV_LISTEN) {
			vd_accept();
			continue;
		}
		a = (struct vd_app *)k;
		if (a->dead)
			continue;
		if (!vd_app_read(a) ||
				(evs[i].events & (EPOLLHUP | EPOLLERR)))
			a->dead = true;
	}
	/* After the round: one event never frees what another points to. */
	for (a = TAILQ_FIRST(&vd.apps); a != NULL; a = next) {
		next = TAILQ_NEXT(a, link);
		if (a->dead && !a->gone)
			vd_app_free(a, false);
		/* Detached, and its last socket finished closing since. */
		else if (a->gone && a->nb_socks == 0)
			vd_app_release(a);
	}
}
