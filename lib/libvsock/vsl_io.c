/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The data calls: read/write, readv/writev, send/recv, sendto/recvfrom,
 * sendmsg/recvmsg over the slot's byte rings, and what poll reports.
 * Semantics are Linux's vsock_connectible_sendmsg/recvmsg and
 * virtio_transport_common.c's (de)queueing; a fd that is not ours goes
 * to the kernel untouched.
 *
 * Every copy from or to the caller's memory is guarded (vsl_copy): a bad
 * pointer is EFAULT, and ring indices move only after a copy succeeded
 * (STREAM data stays readable; a SEQPACKET record is dropped, as Linux
 * drops it).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "libvsock.h"
#include "vsl_priv.h"

#define VSL_IOV_MAX 1024

/* A cursor over the caller's iovec (already copied in). */
struct iov_cur {
	const struct iovec *iov;
	int n;
	size_t total;
};

/* The caller's iovec array into @p out: -EFAULT, -EINVAL (as readv). */
static int
iov_in(struct iovec *out, const struct iovec *iov, int n, size_t *total)
{
	size_t sum = 0;
	int i;

	if (n < 0 || n > VSL_IOV_MAX)
		return -EINVAL;
	if (n > 0 && (iov == NULL ||
		      vsl_copy(out, iov, (size_t)n * sizeof(*iov)) < 0))
		return -EFAULT;
	for (i = 0; i < n; i++) {
		if (out[i].iov_len > (size_t)SSIZE_MAX - sum)
			return -EINVAL;
		sum += out[i].iov_len;
	}
	*total = sum;
	return 0;
}

/*
 * Copies @p n bytes between the caller's iovec (from byte @p off) and a
 * ring (from index @p pos, wrapping). @p to_ring: the direction.
 */
static int
iov_ring(const struct iov_cur *c, size_t off, uint8_t *ring, uint32_t size,
		uint32_t pos, size_t n, bool to_ring)
{
	int i;

	for (i = 0; i < c->n && n > 0; i++) {
		size_t l = c->iov[i].iov_len;
		uint8_t *u = c->iov[i].iov_base;

		if (off >= l) {
			off -= l;
			continue;
		}
		u += off;
		l -= off;
		off = 0;
		if (l > n)
			l = n;
		n -= l;
		while (l > 0) {
			uint32_t o = pos & (size - 1);
			size_t k = size - o < l ? size - o : l;

			if (u == NULL)
				return -EFAULT;
			if ((to_ring ? vsl_copy(ring + o, u, k) :
			     vsl_copy(u, ring + o, k)) < 0)
				return -EFAULT;
			u += k;
			l -= k;
			pos += (uint32_t)k;
		}
	}
	return 0;
}

static void
ring_put(uint8_t *ring, uint32_t size, uint32_t pos, const void *src,
		size_t n)
{
	uint32_t o = pos & (size - 1);
	size_t k = size - o < n ? size - o : n;

	memcpy(ring + o, src, k);
	memcpy(ring, (const uint8_t *)src + k, n - k);
}

static bool
peer_gone(struct vsl_sock *s)
{
	uint32_t st = VSL_LD(s->slot->d.state);

	return st == VSL_ST_CLOSED || st == VSL_ST_CLOSING || s->p->dead;
}

/* ---- send --------------------------------------------------------------*/

struct tx_want {
	uint32_t need;		/* ring bytes */
};

static bool
tx_ready(struct vsl_sock *s, void *arg)
{
	const struct tx_want *w = arg;

	return vsl_tx_space(s) >= w->need || vsl_pending_error(s) ||
		(__atomic_load_n(&s->shut, __ATOMIC_ACQUIRE) & VSL_SHUT_WR) ||
		(VSL_LD(s->slot->d.peer_shut) & VSL_SHUT_RD) ||
		peer_gone(s) || __atomic_load_n(&s->closed, __ATOMIC_RELAXED);
}

/* Why a send cannot go on, or 0. */
static int
tx_blocked(struct vsl_sock *s)
{
	int e = vsl_pending_error(s);

	if (e) {
		vsl_clear_error(s);
		return -e;
	}
	if ((__atomic_load_n(&s->shut, __ATOMIC_ACQUIRE) & VSL_SHUT_WR) ||
	    (VSL_LD(s->slot->d.peer_shut) & VSL_SHUT_RD) || peer_gone(s))
		return -EPIPE;
	if (__atomic_load_n(&s->closed, __ATOMIC_RELAXED))
		return -EBADF;
	return 0;
}

static ssize_t
sock_send(struct vsl_sock *s, const struct iov_cur *c, int flags)
{
	struct vsl_slot *sl = s->slot;
	struct tx_want w = { .need = 1 };
	int64_t deadline;
	size_t done = 0;
	int err = 0;

	if (flags & MSG_OOB)
		return -EOPNOTSUPP;
	vsl_sock_sync(s);
	if ((__atomic_load_n(&s->shut, __ATOMIC_ACQUIRE) & VSL_SHUT_WR) ||
	    (s->connected && (VSL_LD(sl->d.peer_shut) & VSL_SHUT_RD))) {
		err = -EPIPE;
		goto out;
	}
	if (!s->connected) {
		err = -ENOTCONN;
		goto out;
	}
	if (s->type == SOCK_SEQPACKET) {
		uint32_t max = VSL_LD(sl->d.peer_buf_alloc);

		if (max > s->tx_size - sizeof(struct vsl_rec))
			max = s->tx_size - sizeof(struct vsl_rec);
		if (c->total > max) {
			err = -EMSGSIZE;
			goto out;
		}
		w.need = vsl_rec_size((uint32_t)c->total);
	}
	deadline = vsl_deadline(s->sndtimeo_ns, (flags & MSG_DONTWAIT) ||
			__atomic_load_n(&s->nonblock, __ATOMIC_RELAXED));
	pthread_mutex_lock(&s->tx_lock);
	while (done < c->total) {
		uint32_t head = sl->a.tx_head, space;
		size_t n;

		err = vsl_wait(s, tx_ready, &w, deadline);
		if (err < 0)
			break;
		err = tx_blocked(s);
		if (err < 0)
			break;
		space = vsl_tx_space(s);
		if (space > s->tx_size)
			space = 0;	/* vsockd's tx_tail is nonsense */
		if (s->type == SOCK_SEQPACKET) {
			struct vsl_rec rec = {
				.len = (uint32_t)c->total,
				.flags = flags & MSG_EOR ? VSL_REC_EOR : 0,
			};

			err = iov_ring(c, 0, s->tx, s->tx_size,
					head + sizeof(rec), c->total, true);
			if (err < 0)
				break;
			ring_put(s->tx, s->tx_size, head, &rec, sizeof(rec));
			n = c->total;
			head += w.need;
		} else {
			n = c->total - done < space ? c->total - done : space;
			err = iov_ring(c, done, s->tx, s->tx_size, head, n,
					true);
			if (err < 0)
				break;
			head += (uint32_t)n;
		}
		VSL_ST(sl->a.tx_head, head);
		vsl_doorbell(s);
		done += n;
	}
	pthread_mutex_unlock(&s->tx_lock);
out:
	if (done > 0)
		return (ssize_t)done;
	if (err == -EPIPE) {
		int e = vsl_pending_error(s);

		/* Linux's sk_stream_error(): a pending error first. */
		if (e) {
			vsl_clear_error(s);
			err = -e;
		} else if (!(flags & MSG_NOSIGNAL)) {
			vsl_sigpipe();
		}
	}
	return err;
}

/* ---- receive -----------------------------------------------------------*/

struct rx_want {
	uint32_t need;
};

static bool
rx_eof(struct vsl_sock *s)
{
	return (__atomic_load_n(&s->shut, __ATOMIC_ACQUIRE) & VSL_SHUT_RD) ||
		(VSL_LD(s->slot->d.peer_shut) & VSL_SHUT_WR) ||
		peer_gone(s);
}

static bool
rx_ready(struct vsl_sock *s, void *arg)
{
	const struct rx_want *w = arg;

	return vsl_rx_avail(s) >= w->need || vsl_pending_error(s) ||
		rx_eof(s) || __atomic_load_n(&s->closed, __ATOMIC_RELAXED);
}

/* The record header at the rx tail, checked against the ring. */
static int
rec_head(struct vsl_sock *s, struct vsl_rec *rec)
{
	uint32_t tail = s->slot->a.rx_tail, avail = vsl_rx_avail(s);

	if (avail < sizeof(*rec))
		return -EAGAIN;
	memcpy(rec, s->rx + (tail & (s->rx_size - 1)), sizeof(*rec));
	if (rec->len > s->rx_size || vsl_rec_size(rec->len) > avail)
		return -EIO;
	return 0;
}

static ssize_t
recv_seqpacket(struct vsl_sock *s, const struct iov_cur *c, int flags,
		int *mflags)
{
	struct vsl_slot *sl = s->slot;
	struct vsl_rec rec;
	size_t n;
	int err;

	err = rec_head(s, &rec);
	if (err < 0)
		return err;
	n = rec.len < c->total ? rec.len : c->total;
	err = iov_ring(c, 0, s->rx, s->rx_size,
			sl->a.rx_tail + sizeof(rec), n, false);
	if (!(flags & MSG_PEEK)) {
		VSL_ST(sl->a.rx_tail, sl->a.rx_tail + vsl_rec_size(rec.len));
		vsl_doorbell(s);
	}
	if (err < 0)
		return err;
	if (rec.len > c->total)
		*mflags |= MSG_TRUNC;
	if (rec.flags & VSL_REC_EOR)
		*mflags |= MSG_EOR;
	return flags & MSG_TRUNC ? (ssize_t)rec.len : (ssize_t)n;
}

static ssize_t
sock_recv(struct vsl_sock *s, const struct iov_cur *c, int flags,
		int *mflags)
{
	struct vsl_slot *sl = s->slot;
	struct rx_want w = { .need = 1 };
	size_t done = 0, target;
	int64_t deadline;
	ssize_t err = 0;

	*mflags = 0;
	if (flags & MSG_OOB)
		return -EOPNOTSUPP;
	vsl_sock_sync(s);
	if (!s->connected)
		return -ENOTCONN;
	if (__atomic_load_n(&s->shut, __ATOMIC_ACQUIRE) & VSL_SHUT_RD)
		return 0;
	if (c->total == 0)
		return 0;
	if (s->type == SOCK_SEQPACKET)
		w.need = sizeof(struct vsl_rec);
	target = flags & MSG_WAITALL ? c->total :
		(size_t)__atomic_load_n(&s->rcvlowat, __ATOMIC_RELAXED);
	if (target > c->total)
		target = c->total;
	if (target == 0)
		target = 1;
	deadline = vsl_deadline(s->rcvtimeo_ns, (flags & MSG_DONTWAIT) ||
			__atomic_load_n(&s->nonblock, __ATOMIC_RELAXED));
	pthread_mutex_lock(&s->rx_lock);
	for (;;) {
		uint32_t avail;
		size_t n;

		err = vsl_wait(s, rx_ready, &w, deadline);
		if (err < 0)
			break;
		avail = vsl_rx_avail(s);
		if (avail > s->rx_size)
			avail = 0;	/* vsockd's rx_head is nonsense */
		if (avail < w.need) {
			err = 0;	/* EOF or an error, below */
			break;
		}
		if (s->type == SOCK_SEQPACKET) {
			err = recv_seqpacket(s, c, flags, mflags);
			pthread_mutex_unlock(&s->rx_lock);
			return err;
		}
		n = c->total - done < avail ? c->total - done : avail;
		err = iov_ring(c, done, s->rx, s->rx_size, sl->a.rx_tail, n,
				false);
		if (err < 0)
			break;
		if (!(flags & MSG_PEEK)) {
			VSL_ST(sl->a.rx_tail, sl->a.rx_tail + (uint32_t)n);
			vsl_doorbell(s);
		}
		done += n;
		if (done >= target || (flags & MSG_PEEK))
			break;
	}
	pthread_mutex_unlock(&s->rx_lock);
	if (done > 0)
		return (ssize_t)done;
	if (err == 0) {
		int e = vsl_pending_error(s);

		/* A reset is reported once, then reads are EOF. */
		if (e) {
			vsl_clear_error(s);
			err = -e;
		}
	}
	return err;
}

/* ---- the calls ---------------------------------------------------------*/

static ssize_t
do_send(int fd, const struct iovec *iov, int n, int flags, bool kernel_ok,
		const struct msghdr *mh)
{
	struct iovec v[VSL_IOV_MAX];
	struct iov_cur c = { .iov = v, .n = n };
	struct vsl_sock *s;
	ssize_t r;

	if (kernel_ok && !vsl_is_socket(fd)) {
		if (mh != NULL)
			return syscall(SYS_sendmsg, fd, mh, flags);
		return syscall(SYS_writev, fd, iov, n);
	}
	s = vsl_sock_of(fd);
	if (s == NULL)
		return -1;
	r = iov_in(v, iov, n, &c.total);
	if (r == 0)
		r = sock_send(s, &c, flags);
	vsl_sock_put(s);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

static ssize_t
do_recv(int fd, const struct iovec *iov, int n, int flags, int *mflags,
		bool kernel_ok, struct msghdr *mh)
{
	struct iovec v[VSL_IOV_MAX];
	struct iov_cur c = { .iov = v, .n = n };
	struct vsl_sock *s;
	ssize_t r;

	if (kernel_ok && !vsl_is_socket(fd)) {
		if (mh != NULL)
			return syscall(SYS_recvmsg, fd, mh, flags);
		return syscall(SYS_readv, fd, iov, n);
	}
	s = vsl_sock_of(fd);
	if (s == NULL)
		return -1;
	r = iov_in(v, iov, n, &c.total);
	if (r == 0)
		r = sock_recv(s, &c, flags, mflags);
	vsl_sock_put(s);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

VSL_API ssize_t
vsl_write(int fd, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	if (!vsl_is_socket(fd))
		return syscall(SYS_write, fd, buf, len);
	return do_send(fd, &iov, 1, 0, true, NULL);
}

VSL_API ssize_t
vsl_writev(int fd, const struct iovec *iov, int iovcnt)
{
	return do_send(fd, iov, iovcnt, 0, true, NULL);
}

VSL_API ssize_t
vsl_send(int fd, const void *buf, size_t len, int flags)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	if (!vsl_is_socket(fd))
		return syscall(SYS_sendto, fd, buf, len, flags, NULL, 0);
	return do_send(fd, &iov, 1, flags, false, NULL);
}

VSL_API ssize_t
vsl_sendto(int fd, const void *buf, size_t len, int flags,
		const struct sockaddr *addr, socklen_t alen)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct vsl_sock *s;

	if (!vsl_is_socket(fd))
		return syscall(SYS_sendto, fd, buf, len, flags, addr, alen);
	/* Linux: connection-oriented vsock takes no destination. */
	if (addr != NULL && alen != 0) {
		s = vsl_sock_of(fd);
		if (s == NULL)
			return -1;
		vsl_sock_sync(s);
		return vsl_fail(s, s->connected ? EISCONN : EOPNOTSUPP);
	}
	return do_send(fd, &iov, 1, flags, false, NULL);
}

VSL_API ssize_t
vsl_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct msghdr m;
	struct vsl_sock *s;

	if (!vsl_is_socket(fd))
		return syscall(SYS_sendmsg, fd, msg, flags);
	if (msg == NULL || vsl_copy(&m, msg, sizeof(m)) < 0) {
		errno = EFAULT;
		return -1;
	}
	if (m.msg_namelen != 0) {
		s = vsl_sock_of(fd);
		if (s == NULL)
			return -1;
		vsl_sock_sync(s);
		return vsl_fail(s, s->connected ? EISCONN : EOPNOTSUPP);
	}
	if (m.msg_iovlen > VSL_IOV_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	return do_send(fd, m.msg_iov, (int)m.msg_iovlen, flags, false, NULL);
}

VSL_API ssize_t
vsl_read(int fd, void *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	int mf;

	if (!vsl_is_socket(fd))
		return syscall(SYS_read, fd, buf, len);
	return do_recv(fd, &iov, 1, 0, &mf, true, NULL);
}

VSL_API ssize_t
vsl_readv(int fd, const struct iovec *iov, int iovcnt)
{
	int mf;

	return do_recv(fd, iov, iovcnt, 0, &mf, true, NULL);
}

VSL_API ssize_t
vsl_recv(int fd, void *buf, size_t len, int flags)
{
	return vsl_recvfrom(fd, buf, len, flags, NULL, NULL);
}

VSL_API ssize_t
vsl_recvfrom(int fd, void *buf, size_t len, int flags,
		struct sockaddr *addr, socklen_t *alen)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	ssize_t r;
	int mf;

	if (!vsl_is_socket(fd))
		return syscall(SYS_recvfrom, fd, buf, len, flags, addr, alen);
	r = do_recv(fd, &iov, 1, flags, &mf, false, NULL);
	if (r >= 0 && addr != NULL && alen != NULL) {
		/* Linux's vsock recvmsg fills no address: length 0. */
		socklen_t zero = 0;

		if (vsl_copy(alen, &zero, sizeof(zero)) < 0) {
			errno = EFAULT;
			return -1;
		}
	}
	return r;
}

VSL_API ssize_t
vsl_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct msghdr m;
	ssize_t r;
	int mf = 0;

	if (!vsl_is_socket(fd))
		return syscall(SYS_recvmsg, fd, msg, flags);
	if (msg == NULL || vsl_copy(&m, msg, sizeof(m)) < 0) {
		errno = EFAULT;
		return -1;
	}
	if (m.msg_iovlen > VSL_IOV_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	r = do_recv(fd, m.msg_iov, (int)m.msg_iovlen, flags, &mf, false,
			NULL);
	if (r < 0)
		return r;
	m.msg_namelen = 0;
	m.msg_controllen = 0;
	m.msg_flags = mf;
	if (vsl_copy(msg, &m, sizeof(m)) < 0) {
		errno = EFAULT;
		return -1;
	}
	return r;
}
