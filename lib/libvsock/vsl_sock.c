/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The socket calls: socket, bind, listen, accept, connect, shutdown,
 * close, dup and fcntl. Errnos follow Linux's net/vmw_vsock/af_vsock.c.
 * Options and ioctls are in vsl_opt.c, data in vsl_io.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "libvsock.h"
#include "vsl_priv.h"

/* The socket behind @p fd for a call that needs one; NULL with errno. */
struct vsl_sock *
vsl_sock_of(int fd)
{
	struct vsl_sock *s = vsl_sock_get(fd);

	if (s == NULL) {
		errno = syscall(SYS_fcntl, fd, F_GETFD) < 0 ? EBADF : ENOTSOCK;
		return NULL;
	}
	if (vsl_stale(s)) {
		vsl_sock_put(s);
		errno = EBADFD;
		return NULL;
	}
	return s;
}

int
vsl_fail(struct vsl_sock *s, int err)
{
	vsl_sock_put(s);
	errno = err;
	return -1;
}

/* Wake this process's threads sleeping on @p s (vsockd did not). */
void
vsl_wake_local(struct vsl_sock *s)
{
	uint64_t one = 1;

	(void)!syscall(SYS_write, vsl_sock_kfd(s), &one, sizeof(one));
}

/* Picks up the outcome of a connect vsockd finished. Under s->lock or
 * not: the fields only move forward. */
void
vsl_sock_sync(struct vsl_sock *s)
{
	uint32_t st;

	if (!__atomic_load_n(&s->connecting, __ATOMIC_ACQUIRE))
		return;
	st = VSL_LD(s->slot->d.state);
	if (st == VSL_ST_CONNECTED) {
		__atomic_store_n(&s->connected, true, __ATOMIC_RELEASE);
		__atomic_store_n(&s->connecting, false, __ATOMIC_RELEASE);
	} else if (((st == VSL_ST_CLOSED || st == VSL_ST_FREE) &&
		    VSL_LD(s->slot->d.events) != s->connect_seq) ||
		   s->p->dead) {
		/* vsockd publishes after its reply: until d.events moves,
		 * d.state may be an earlier attempt's outcome. */
		if (s->p->dead && st == VSL_ST_CONNECTING)
			__atomic_store_n(&s->lerr, ECONNRESET,
					__ATOMIC_RELAXED);
		__atomic_store_n(&s->connecting, false, __ATOMIC_RELEASE);
	}
}

VSL_API int
vsl_socket(int domain, int type, int protocol)
{
	int flags = type & ~0xf, base = type & 0xf;
	struct vsl_req req = { .op = VSL_OP_SOCKET };
	struct vsl_rep rep;
	struct vsl_proc *p;
	struct vsl_sock *s;
	uint32_t idx;
	int efd, r;

	if (domain != AF_VSOCK) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) {
		errno = EINVAL;
		return -1;
	}
	if (protocol != 0 && protocol != PF_VSOCK) {
		errno = EPROTONOSUPPORT;
		return -1;
	}
	if (base == SOCK_DGRAM) {
		/* No datagram transport besides virtio's: Linux says so. */
		errno = ENODEV;
		return -1;
	}
	if (base != SOCK_STREAM && base != SOCK_SEQPACKET) {
		errno = ESOCKTNOSUPPORT;
		return -1;
	}
	p = vsl_proc_get();
	if (p == NULL)
		return -1;
	r = vsl_slot_take(p, &idx);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	efd = vsl_sys_eventfd(flags & SOCK_CLOEXEC);
	if (efd < 0) {
		r = -errno;
		goto fail_slot;
	}
	s = vsl_sock_new(p, idx, base, protocol);
	if (s == NULL) {
		r = -ENOMEM;
		goto fail_fd;
	}
	req.slot = idx;
	req.type = base == SOCK_STREAM ? VSL_TYPE_STREAM : VSL_TYPE_SEQPACKET;
	r = vsl_rpc(p, &req, efd, &rep, NULL);
	if (r < 0) {
		s->gen--;	/* keeps vsl_sock_free off the slot */
		vsl_sock_free(s);
		goto fail_fd;
	}
	s->nonblock = flags & SOCK_NONBLOCK;
	vsl_fd_install(efd, s);
	return efd;
fail_fd:
	vsl_sys_close(efd);
fail_slot:
	vsl_slot_release(p, idx);
	errno = -r;
	return -1;
}

/*
 * A sockaddr_vm from the caller, as vsock_addr_cast() takes it: any
 * fault of it is EINVAL in bind and connect, as Linux reports it.
 */
static int
addr_in(const struct sockaddr *addr, socklen_t len, struct sockaddr_vm *vm)
{
	if ((int)len < 0 || len > sizeof(struct sockaddr_storage))
		return -EINVAL;
	if (len < sizeof(*vm))
		return -EINVAL;
	if (addr == NULL || vsl_copy(vm, addr, sizeof(*vm)) < 0)
		return -EFAULT;
	if (vm->svm_family != AF_VSOCK)
		return -EINVAL;
	if (vm->svm_flags & ~VMADDR_FLAG_TO_HOST)
		return -EINVAL;
	return 0;
}

/* Hands an address back as the kernel's move_addr_to_user() does. */
int
vsl_addr_out(struct sockaddr *addr, socklen_t *len, uint64_t cid,
		uint32_t port)
{
	struct sockaddr_vm vm = {
		.svm_family = AF_VSOCK,
		.svm_port = port,
		.svm_cid = (unsigned int)cid,
	};
	socklen_t ulen;

	if (addr == NULL || len == NULL)
		return len == NULL && addr != NULL ? -EFAULT : 0;
	if (vsl_copy(&ulen, len, sizeof(ulen)) < 0)
		return -EFAULT;
	if ((int)ulen < 0)
		return -EINVAL;
	if (ulen > sizeof(vm))
		ulen = sizeof(vm);
	if (vsl_copy(addr, &vm, ulen) < 0)
		return -EFAULT;
	ulen = sizeof(vm);
	if (vsl_copy(len, &ulen, sizeof(ulen)) < 0)
		return -EFAULT;
	return 0;
}

VSL_API int
vsl_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct vsl_req req = { .op = VSL_OP_BIND };
	struct vsl_sock *s = vsl_sock_of(fd);
	struct sockaddr_vm vm;
	struct vsl_rep rep;
	int r;

	if (s == NULL)
		return -1;
	if (addr_in(addr, len, &vm) < 0)
		return vsl_fail(s, EINVAL);
	pthread_mutex_lock(&s->lock);
	if (s->bound || s->connected || s->connecting) {
		r = -EINVAL;
		goto out;
	}
	req.slot = s->idx;
	req.cid = vm.svm_cid;
	req.port = vm.svm_port;
	r = vsl_rpc(s->p, &req, -1, &rep, NULL);
	if (r == 0) {
		s->local_cid = vm.svm_cid;
		s->local_port = rep.port;
		__atomic_store_n(&s->bound, true, __ATOMIC_RELEASE);
	}
out:
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return vsl_fail(s, -r);
	vsl_sock_put(s);
	return 0;
}

VSL_API int
vsl_listen(int fd, int backlog)
{
	struct vsl_req req = { .op = VSL_OP_LISTEN };
	struct vsl_sock *s = vsl_sock_of(fd);
	struct vsl_rep rep;
	int r = 0;

	if (s == NULL)
		return -1;
	pthread_mutex_lock(&s->lock);
	vsl_sock_sync(s);
	if (s->connected || s->connecting || s->disconnecting ||
	    !s->bound) {
		r = -EINVAL;
		goto out;
	}
	/* Linux's listen(): a backlog above somaxconn (negative ones too,
	 * compared unsigned) is cut to it. */
	if ((unsigned int)backlog > 4096)
		backlog = 4096;
	req.slot = s->idx;
	req.arg = (uint32_t)backlog;
	r = vsl_rpc(s->p, &req, -1, &rep, NULL);
	if (r == 0)
		__atomic_store_n(&s->listening, true, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return vsl_fail(s, -r);
	vsl_sock_put(s);
	return 0;
}

static bool
accept_ready(struct vsl_sock *s, void *arg)
{
	(void)arg;
	/* Not d.state: vsockd publishes LISTEN after its reply. */
	return vsl_accept_pending(s) > 0 || s->p->dead;
}

/*
 * vsockd answers ACCEPT, then publishes the listener's accept_ready on
 * its next pass: in between, the slot still counts the connection we
 * took, and a level-triggered poll or epoll_wait right after accept()
 * reported the emptied listener readable (and a blocking accept spun on
 * -EAGAIN). So remember what we took against d.events as it read before
 * the request (@p ev0): if it has not moved since, no publish after our
 * request came yet, and vsl_accept_pending() takes ours off until it
 * moves. If it moved already, a publish came, maybe before vsockd saw
 * our request: counting ours then could hide a connection that waits
 * (a hang), not counting it at worst reports a listener readable once
 * more where accept() says EAGAIN, as a racing accept may anyway.
 */
static void
accept_taken(struct vsl_sock *ls, uint32_t ev0)
{
	uint64_t t = __atomic_load_n(&ls->acc_taken, __ATOMIC_ACQUIRE), nt;

	do {
		if (VSL_LD(ls->slot->d.events) != ev0)
			return;
		nt = (uint32_t)(t >> 32) == ev0 ? t + 1 :
			(uint64_t)ev0 << 32 | 1;
	} while (!__atomic_compare_exchange_n(&ls->acc_taken, &t, nt, false,
			__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
}

/* One VSL_OP_ACCEPT: a new socket's fd, -EAGAIN, or -errno. */
static int
accept_one(struct vsl_sock *ls, int flags, uint64_t *rcid, uint32_t *rport)
{
	struct vsl_req req = { .op = VSL_OP_ACCEPT, .slot = ls->idx };
	struct vsl_proc *p = ls->p;
	struct vsl_rep rep;
	struct vsl_sock *s;
	uint32_t idx, ev0;
	int efd, r;

	r = vsl_slot_take(p, &idx);
	if (r < 0)
		return r;
	efd = vsl_sys_eventfd(flags & SOCK_CLOEXEC);
	if (efd < 0) {
		r = -errno;
		goto fail_slot;
	}
	s = vsl_sock_new(p, idx, ls->type, ls->protocol);
	if (s == NULL) {
		r = -ENOMEM;
		goto fail_fd;
	}
	req.arg = idx;
	ev0 = VSL_LD(ls->slot->d.events);
	r = vsl_rpc(p, &req, efd, &rep, NULL);
	if (r < 0) {
		s->gen--;
		vsl_sock_free(s);
		goto fail_fd;
	}
	accept_taken(ls, ev0);
	/* What a Linux child socket inherits from its listener. */
	s->buf_size = ls->buf_size;
	s->buf_min = ls->buf_min;
	s->buf_max = ls->buf_max;
	s->connect_timeout_ns = ls->connect_timeout_ns;
	s->nonblock = flags & SOCK_NONBLOCK;
	s->bound = true;
	s->connected = true;
	s->local_cid = rep.cid;
	s->local_port = rep.port;
	*rcid = rep.rcid;
	*rport = rep.rport;
	vsl_fd_install(efd, s);
	return efd;
fail_fd:
	vsl_sys_close(efd);
fail_slot:
	vsl_slot_release(p, idx);
	return r;
}

VSL_API int
vsl_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct vsl_sock *s;
	int64_t deadline;
	uint64_t rcid = 0;
	uint32_t rport = 0;
	int r;

	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) {
		errno = EINVAL;
		return -1;
	}
	s = vsl_sock_of(fd);
	if (s == NULL)
		return -1;
	if (!__atomic_load_n(&s->listening, __ATOMIC_ACQUIRE))
		return vsl_fail(s, EINVAL);
	deadline = vsl_deadline(s->rcvtimeo_ns,
			__atomic_load_n(&s->nonblock, __ATOMIC_RELAXED));
	for (;;) {
		r = vsl_wait(s, accept_ready, NULL, deadline);
		if (r < 0)
			return vsl_fail(s, -r);
		if (s->p->dead)
			return vsl_fail(s, ECONNABORTED);
		r = accept_one(s, flags, &rcid, &rport);
		if (r != -EAGAIN)
			break;
		/* Another thread or process took it: wait again. */
		if (deadline == 0)
			return vsl_fail(s, EAGAIN);
	}
	if (r < 0)
		return vsl_fail(s, -r);
	vsl_sock_put(s);
	/* Linux hands the connection over first: a bad address buffer
	 * costs the caller the connection. */
	flags = vsl_addr_out(addr, len, rcid, rport);
	if (flags < 0) {
		vsl_close(r);
		errno = -flags;
		return -1;
	}
	return r;
}

VSL_API int
vsl_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return vsl_accept4(fd, addr, len, 0);
}

static bool
connect_done(struct vsl_sock *s, void *arg)
{
	(void)arg;
	vsl_sock_sync(s);
	return !__atomic_load_n(&s->connecting, __ATOMIC_ACQUIRE);
}

VSL_API int
vsl_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct vsl_req req = { .op = VSL_OP_CONNECT };
	struct vsl_sock *s = vsl_sock_of(fd);
	struct sockaddr_vm vm;
	struct vsl_rep rep;
	int64_t deadline, tmo;
	int r;

	if (s == NULL)
		return -1;
	pthread_mutex_lock(&s->lock);
	vsl_sock_sync(s);
	if (s->disconnecting) {
		r = -EINVAL;
		goto out;
	}
	if (s->connected) {
		r = -EISCONN;
		goto out;
	}
	if (s->connecting) {
		if (__atomic_load_n(&s->nonblock, __ATOMIC_RELAXED)) {
			r = -EALREADY;
			goto out;
		}
	} else {
		if (s->listening || addr_in(addr, len, &vm) < 0) {
			r = -EINVAL;
			goto out;
		}
		tmo = s->connect_timeout_ns / 1000000;
		req.slot = s->idx;
		req.cid = vm.svm_cid;
		req.port = vm.svm_port;
		req.arg = tmo > UINT32_MAX ? UINT32_MAX : (uint32_t)tmo;
		s->lerr = 0;
		__atomic_store_n(&s->err_cleared, false, __ATOMIC_RELAXED);
		s->connect_seq = VSL_LD(s->slot->d.events);
		r = vsl_rpc(s->p, &req, -1, &rep, NULL);
		if (r < 0)
			goto out;
		s->bound = true;
		__atomic_store_n(&s->connecting, true, __ATOMIC_RELEASE);
		if (__atomic_load_n(&s->nonblock, __ATOMIC_RELAXED)) {
			r = -EINPROGRESS;
			goto out;
		}
	}
	/* vsockd keeps the clock; a second more covers its lateness. */
	deadline = vsl_now_ns() + s->connect_timeout_ns + VSL_NS_PER_S;
	pthread_mutex_unlock(&s->lock);
	r = vsl_wait(s, connect_done, NULL, deadline);
	pthread_mutex_lock(&s->lock);
	if (r == -EAGAIN) {
		r = -ETIMEDOUT;
	} else if (r == 0 && !s->connected) {
		r = -vsl_pending_error(s);
		if (r == 0)
			r = -ECONNRESET;
		vsl_clear_error(s);
	}
out:
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return vsl_fail(s, -r);
	vsl_sock_put(s);
	return 0;
}

VSL_API int
vsl_shutdown(int fd, int how)
{
	struct vsl_req req = { .op = VSL_OP_SHUTDOWN };
	struct vsl_sock *s;
	struct vsl_rep rep;
	uint32_t mode;
	int r = 0;

	if (how < SHUT_RD || how > SHUT_RDWR) {
		errno = EINVAL;
		return -1;
	}
	s = vsl_sock_of(fd);
	if (s == NULL)
		return -1;
	mode = (uint32_t)how + 1;	/* SHUT_RD 0 → VSL_SHUT_RD 1, ... */
	pthread_mutex_lock(&s->lock);
	vsl_sock_sync(s);
	if (!s->connected && !s->connecting) {
		r = -ENOTCONN;
		goto out;
	}
	s->disconnecting = true;
	__atomic_fetch_or(&s->shut, mode, __ATOMIC_RELEASE);
	req.slot = s->idx;
	req.arg = mode;
	r = vsl_rpc(s->p, &req, -1, &rep, NULL);
	/* Sleepers in recv and send see the shutdown. */
	vsl_wake_local(s);
out:
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return vsl_fail(s, -r);
	vsl_sock_put(s);
	return 0;
}

static bool
close_done(struct vsl_sock *s, void *arg)
{
	(void)arg;
	return VSL_LD(s->slot->d.state) == VSL_ST_FREE || s->p->dead;
}

/* The last fd of @p s went: tell vsockd (unless inherited). */
static void
sock_release(struct vsl_sock *s, int fd)
{
	struct vsl_req req = { .op = VSL_OP_CLOSE, .slot = s->idx };
	struct vsl_rep rep;

	if (vsl_stale(s))
		return;
	req.arg = s->linger_on && s->linger_s == 0;
	(void)vsl_rpc(s->p, &req, -1, &rep, NULL);
	if (s->linger_on && s->linger_s > 0) {
		/* SO_LINGER: wait for vsockd to flush, as Linux's
		 * virtio_transport_wait_close() does. The fd is still ours
		 * to sleep on. */
		s->closed = false;
		s->kfd = fd;
		(void)vsl_wait(s, close_done, NULL, vsl_now_ns() +
				(int64_t)s->linger_s * VSL_NS_PER_S);
		s->closed = true;
	}
	vsl_wake_local(s);
}

VSL_API int
vsl_close(int fd)
{
	struct vsl_sock *s;
	bool last;
	long r;

	s = vsl_fd_forget(fd, &last);
	vsl_poll_fd_closed(fd, last ? s : NULL);
	if (s != NULL && last)
		sock_release(s, fd);
	r = vsl_sys_close(fd);
	vsl_sock_put(s);
	return (int)r;
}

/* After the kernel made @p nfd a copy of @p oldfd. */
static int
dup_record(int oldfd, int nfd)
{
	struct vsl_sock *s;

	if (nfd < 0)
		return nfd;
	s = vsl_sock_get(oldfd);
	if (s != NULL) {
		vsl_fd_install(nfd, s);
		vsl_sock_put(s);
	}
	return nfd;
}

VSL_API int
vsl_dup(int fd)
{
	return dup_record(fd, (int)syscall(SYS_fcntl, fd, F_DUPFD, 0));
}

VSL_API int
vsl_dup3(int oldfd, int newfd, int flags)
{
	struct vsl_sock *s;
	bool last;
	int r;

	if (oldfd == newfd || (flags & ~O_CLOEXEC)) {
		errno = EINVAL;
		return -1;
	}
	if (syscall(SYS_fcntl, oldfd, F_GETFD) < 0)
		return -1;	/* EBADF: newfd must stay open */
	/* The kernel closes newfd silently: if it was ours, close it our
	 * way first (vsockd, epoll sets), then let dup3 take the number. */
	s = vsl_fd_forget(newfd, &last);
	if (s != NULL) {
		vsl_poll_fd_closed(newfd, last ? s : NULL);
		if (last)
			sock_release(s, newfd);
		vsl_sock_put(s);
	} else {
		vsl_poll_fd_closed(newfd, NULL);
	}
	r = (int)syscall(SYS_dup3, oldfd, newfd, flags);
	return dup_record(oldfd, r);
}

VSL_API int
vsl_dup2(int oldfd, int newfd)
{
	if (oldfd == newfd)
		return syscall(SYS_fcntl, oldfd, F_GETFD) < 0 ? -1 : newfd;
	return vsl_dup3(oldfd, newfd, 0);
}

VSL_API int
vsl_fcntl(int fd, int cmd, long arg)
{
	struct vsl_sock *s;
	long r;

	if (!vsl_is_socket(fd))
		return (int)syscall(SYS_fcntl, fd, cmd, arg);
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		return dup_record(fd, (int)syscall(SYS_fcntl, fd, cmd, arg));
	case F_GETFL:
		s = vsl_sock_get(fd);
		r = syscall(SYS_fcntl, fd, cmd, arg);
		if (r >= 0 && s != NULL) {
			r &= ~O_NONBLOCK;
			if (__atomic_load_n(&s->nonblock, __ATOMIC_RELAXED))
				r |= O_NONBLOCK;
		}
		vsl_sock_put(s);
		return (int)r;
	case F_SETFL:
		/* The eventfd underneath stays non-blocking: draining it
		 * must not block. The socket's mode is ours. */
		r = syscall(SYS_fcntl, fd, cmd, arg | O_NONBLOCK);
		s = vsl_sock_get(fd);
		if (r == 0 && s != NULL)
			__atomic_store_n(&s->nonblock, (arg & O_NONBLOCK) != 0,
					__ATOMIC_RELAXED);
		vsl_sock_put(s);
		return (int)r;
	default:
		return (int)syscall(SYS_fcntl, fd, cmd, arg);
	}
}

/* ---- readiness ------------------------------------------------------ */

short
vsl_sock_revents(struct vsl_sock *s)
{
	struct vsl_slot *sl = s->slot;
	uint32_t st, shut, pshut;
	short m = 0;

	/* An inherited socket (fork): nothing valid to say. */
	if (vsl_stale(s))
		return POLLNVAL;
	vsl_sock_sync(s);
	if (s->p->dead)
		return POLLERR | POLLHUP;
	st = VSL_LD(sl->d.state);
	shut = __atomic_load_n(&s->shut, __ATOMIC_ACQUIRE);
	pshut = s->connected ? VSL_LD(sl->d.peer_shut) : 0;
	if (vsl_pending_error(s))
		m |= POLLERR;
	if (shut == (VSL_SHUT_RD | VSL_SHUT_WR) ||
	    ((shut & VSL_SHUT_WR) && (pshut & VSL_SHUT_WR)))
		m |= POLLHUP;
	if ((shut & VSL_SHUT_RD) || (pshut & VSL_SHUT_WR))
		m |= POLLRDHUP | POLLIN | POLLRDNORM;
	if (s->listening) {
		if (vsl_accept_pending(s) > 0)
			m |= POLLIN | POLLRDNORM;
		return m;
	}
	if (s->connected && !(shut & VSL_SHUT_RD)) {
		uint32_t avail = vsl_rx_avail(s);

		if (s->type == SOCK_SEQPACKET ? avail > 0 :
		    avail >= (uint32_t)__atomic_load_n(&s->rcvlowat,
				__ATOMIC_RELAXED))
			m |= POLLIN | POLLRDNORM;
	}
	if (shut & VSL_SHUT_WR)
		return m;
	if (st == VSL_ST_CONNECTED && s->connected) {
		if (vsl_tx_space(s) > 0)
			m |= POLLOUT | POLLWRNORM;
	} else if (!s->connecting) {
		/* Linux's TCP_CLOSE (fresh, failed or reset): writable,
		 * as INET sockets are. */
		m |= POLLOUT | POLLWRNORM;
	}
	return m;
}
