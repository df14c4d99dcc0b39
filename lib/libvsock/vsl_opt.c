/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Names, options and ioctls: getsockname, getpeername, getsockopt,
 * setsockopt, ioctl. AF_VSOCK-level options follow Linux's
 * vsock_connectible_[gs]etsockopt(); SOL_SOCKET ones are stored and read
 * back as Linux's generic sk_[gs]etsockopt() does for every family.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <linux/time_types.h>

#include "libvsock.h"
#include "vsl_priv.h"

/* Linux's socket buffer floors and net.core.[rw]mem_max. */
#define VSL_SOCKBUF_MAX 212992
#define VSL_MIN_SNDBUF 4608
#define VSL_MIN_RCVBUF 2304

VSL_API int
vsl_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct vsl_sock *s = vsl_sock_of(fd);
	uint64_t cid;
	uint32_t port;
	int r;

	if (s == NULL)
		return -1;
	vsl_sock_sync(s);
	pthread_mutex_lock(&s->lock);
	cid = s->local_cid;
	port = s->local_port;
	if (s->connected || s->connecting) {
		/* vsockd bound it (connect's auto-bind, accept). */
		cid = VSL_LD(s->slot->d.local_cid);
		port = VSL_LD(s->slot->d.local_port);
	}
	pthread_mutex_unlock(&s->lock);
	if (addr == NULL || len == NULL)
		return vsl_fail(s, EFAULT);
	r = vsl_addr_out(addr, len, cid, port);
	if (r < 0)
		return vsl_fail(s, -r);
	vsl_sock_put(s);
	return 0;
}

VSL_API int
vsl_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct vsl_sock *s = vsl_sock_of(fd);
	int r;

	if (s == NULL)
		return -1;
	vsl_sock_sync(s);
	if (!s->connected || s->disconnecting)
		return vsl_fail(s, ENOTCONN);
	if (addr == NULL || len == NULL)
		return vsl_fail(s, EFAULT);
	r = vsl_addr_out(addr, len, VSL_LD(s->slot->d.remote_cid),
			VSL_LD(s->slot->d.remote_port));
	if (r < 0)
		return vsl_fail(s, -r);
	vsl_sock_put(s);
	return 0;
}

/* ---- timeouts (sock_set_timeout / sock_get_timeout) ------------------- */

/* The caller's timeval, old or new layout; -errno. */
static int
tv_in(const void *val, socklen_t len, bool old, struct __kernel_sock_timeval *tv)
{
	if (old) {
		struct timeval o;

		if (len < sizeof(o))
			return -EINVAL;
		if (val == NULL || vsl_copy(&o, val, sizeof(o)) < 0)
			return -EFAULT;
		tv->tv_sec = o.tv_sec;
		tv->tv_usec = o.tv_usec;
		return 0;
	}
	if (len < sizeof(*tv))
		return -EINVAL;
	if (val == NULL || vsl_copy(tv, val, sizeof(*tv)) < 0)
		return -EFAULT;
	return 0;
}

/* ns: 0 forever, < 0 do not wait (a negative timeval, as Linux). */
static int
timeo_set(int64_t *ns, const void *val, socklen_t len, bool old)
{
	struct __kernel_sock_timeval tv;
	int r = tv_in(val, len, old, &tv);

	if (r < 0)
		return r;
	if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
		return -EDOM;
	if (tv.tv_sec < 0) {
		*ns = -1;
		return 0;
	}
	if (tv.tv_sec > INT32_MAX)
		*ns = 0;
	else
		*ns = tv.tv_sec * VSL_NS_PER_S + tv.tv_usec * 1000;
	return 0;
}

/* Fills @p buf; returns its size. */
static socklen_t
timeo_get(int64_t ns, bool old, void *buf)
{
	int64_t sec = ns > 0 ? ns / VSL_NS_PER_S : 0;
	int64_t usec = ns > 0 ? ns % VSL_NS_PER_S / 1000 : 0;

	if (old) {
		struct timeval o = { .tv_sec = sec, .tv_usec = usec };

		memcpy(buf, &o, sizeof(o));
		return sizeof(o);
	}
	struct __kernel_sock_timeval tv = { .tv_sec = sec, .tv_usec = usec };

	memcpy(buf, &tv, sizeof(tv));
	return sizeof(tv);
}

/* ---- AF_VSOCK level ----------------------------------------------------*/

static int
vsock_setopt(struct vsl_sock *s, int name, const void *val, socklen_t len)
{
	struct vsl_req req = { .op = VSL_OP_SETOPT, .slot = s->idx };
	struct __kernel_sock_timeval tv;
	struct vsl_rep rep;
	uint64_t v, size;
	int r;

	switch (name) {
	case SO_VM_SOCKETS_BUFFER_SIZE:
	case SO_VM_SOCKETS_BUFFER_MIN_SIZE:
	case SO_VM_SOCKETS_BUFFER_MAX_SIZE:
		if (len < sizeof(v))
			return -EINVAL;
		if (val == NULL || vsl_copy(&v, val, sizeof(v)) < 0)
			return -EFAULT;
		break;
	case SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD:
	case SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW:
		r = tv_in(val, len, name == SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD,
				&tv);
		if (r < 0)
			return r;
		if (tv.tv_sec < 0 || tv.tv_usec < 0 || tv.tv_usec >= 1000000 ||
		    tv.tv_sec >= INT32_MAX / 1000)
			return -ERANGE;
		s->connect_timeout_ns = tv.tv_sec * VSL_NS_PER_S +
			tv.tv_usec * 1000;
		if (s->connect_timeout_ns == 0)
			s->connect_timeout_ns = VSL_CONNECT_TIMEOUT_NS;
		return 0;
	default:
		return -ENOPROTOOPT;
	}
	/* vsock_update_buffer_size(): the size is clamped into [min, max]. */
	size = s->buf_size;
	if (name == SO_VM_SOCKETS_BUFFER_SIZE) {
		size = v;
	} else {
		req.type = name == SO_VM_SOCKETS_BUFFER_MIN_SIZE ?
			VSL_OPT_BUF_MIN : VSL_OPT_BUF_MAX;
		req.arg = req.type;
		req.val = v;
		r = vsl_rpc(s->p, &req, -1, &rep, NULL);
		if (r < 0)
			return r;
		if (name == SO_VM_SOCKETS_BUFFER_MIN_SIZE)
			s->buf_min = v;
		else
			s->buf_max = v;
	}
	if (size > s->buf_max)
		size = s->buf_max;
	if (size < s->buf_min)
		size = s->buf_min;
	req.type = VSL_OPT_BUF_SIZE;
	req.arg = VSL_OPT_BUF_SIZE;
	req.val = size;
	r = vsl_rpc(s->p, &req, -1, &rep, NULL);
	if (r < 0)
		return r;
	s->buf_size = rep.val;
	return 0;
}

static int
vsock_getopt(struct vsl_sock *s, int name, void *buf, socklen_t *lv)
{
	uint64_t v;

	switch (name) {
	case SO_VM_SOCKETS_BUFFER_SIZE:
		v = s->buf_size;
		break;
	case SO_VM_SOCKETS_BUFFER_MIN_SIZE:
		v = s->buf_min;
		break;
	case SO_VM_SOCKETS_BUFFER_MAX_SIZE:
		v = s->buf_max;
		break;
	case SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD:
	case SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW:
		*lv = timeo_get(s->connect_timeout_ns,
				name == SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD, buf);
		return 0;
	default:
		return -ENOPROTOOPT;
	}
	memcpy(buf, &v, sizeof(v));
	*lv = sizeof(v);
	return 0;
}

/* ---- SOL_SOCKET level --------------------------------------------------*/

static int
iopt_index(int name)
{
	switch (name) {
	case SO_DEBUG: return VSL_IO_DEBUG;
	case SO_REUSEADDR: return VSL_IO_REUSEADDR;
	case SO_REUSEPORT: return VSL_IO_REUSEPORT;
	case SO_DONTROUTE: return VSL_IO_DONTROUTE;
	case SO_BROADCAST: return VSL_IO_BROADCAST;
	case SO_KEEPALIVE: return VSL_IO_KEEPALIVE;
	case SO_OOBINLINE: return VSL_IO_OOBINLINE;
	case SO_NO_CHECK: return VSL_IO_NO_CHECK;
	case SO_PRIORITY: return VSL_IO_PRIORITY;
	case SO_PASSCRED: return VSL_IO_PASSCRED;
	case SO_TIMESTAMP: return VSL_IO_TIMESTAMP;
	default: return -1;
	}
}

static int
sol_setopt(struct vsl_sock *s, int name, const void *val, socklen_t len)
{
	struct linger lg;
	int v, i;

	switch (name) {
	case SO_RCVTIMEO_OLD:
	case SO_RCVTIMEO_NEW:
		return timeo_set(&s->rcvtimeo_ns, val, len,
				name == SO_RCVTIMEO_OLD);
	case SO_SNDTIMEO_OLD:
	case SO_SNDTIMEO_NEW:
		return timeo_set(&s->sndtimeo_ns, val, len,
				name == SO_SNDTIMEO_OLD);
	case SO_LINGER:
		if (len < sizeof(lg))
			return -EINVAL;
		if (val == NULL || vsl_copy(&lg, val, sizeof(lg)) < 0)
			return -EFAULT;
		s->linger_on = lg.l_onoff != 0;
		if (s->linger_on)
			s->linger_s = lg.l_linger < 0 ? INT_MAX : lg.l_linger;
		return 0;
	default:
		break;
	}
	if (len < sizeof(int))
		return -EINVAL;
	if (val == NULL || vsl_copy(&v, val, sizeof(v)) < 0)
		return -EFAULT;
	switch (name) {
	case SO_SNDBUF:
		v = (unsigned int)v > VSL_SOCKBUF_MAX ? VSL_SOCKBUF_MAX : v;
		s->sndbuf = v * 2 > VSL_MIN_SNDBUF ? v * 2 : VSL_MIN_SNDBUF;
		return 0;
	case SO_RCVBUF:
		v = (unsigned int)v > VSL_SOCKBUF_MAX ? VSL_SOCKBUF_MAX : v;
		s->rcvbuf = v * 2 > VSL_MIN_RCVBUF ? v * 2 : VSL_MIN_RCVBUF;
		return 0;
	case SO_RCVLOWAT:
		/* vsock_set_rcvlowat(): no more than the buffer. */
		if (v < 0)
			v = INT_MAX;
		if ((uint64_t)v > s->buf_size)
			return -EINVAL;
		__atomic_store_n(&s->rcvlowat, v ? v : 1, __ATOMIC_RELAXED);
		return 0;
	case SO_PRIORITY:
		if (v < 0 || v > 6)
			return -EPERM;	/* needs CAP_NET_ADMIN */
		s->iopt[VSL_IO_PRIORITY] = v;
		return 0;
	default:
		i = iopt_index(name);
		if (i < 0)
			return -ENOPROTOOPT;
		s->iopt[i] = v != 0;
		return 0;
	}
}

static int
sol_getopt(struct vsl_sock *s, int name, void *buf, socklen_t *lv)
{
	struct linger lg;
	int v, i;

	switch (name) {
	case SO_RCVTIMEO_OLD:
	case SO_RCVTIMEO_NEW:
		*lv = timeo_get(s->rcvtimeo_ns, name == SO_RCVTIMEO_OLD, buf);
		return 0;
	case SO_SNDTIMEO_OLD:
	case SO_SNDTIMEO_NEW:
		*lv = timeo_get(s->sndtimeo_ns, name == SO_SNDTIMEO_OLD, buf);
		return 0;
	case SO_LINGER:
		lg.l_onoff = s->linger_on;
		lg.l_linger = s->linger_s;
		memcpy(buf, &lg, sizeof(lg));
		*lv = sizeof(lg);
		return 0;
	case SO_ERROR:
		v = vsl_pending_error(s);
		vsl_clear_error(s);
		break;
	case SO_TYPE:
		v = s->type;
		break;
	case SO_DOMAIN:
		v = AF_VSOCK;
		break;
	case SO_PROTOCOL:
		v = s->protocol;
		break;
	case SO_ACCEPTCONN:
		v = s->listening;
		break;
	case SO_SNDBUF:
		v = s->sndbuf;
		break;
	case SO_RCVBUF:
		v = s->rcvbuf;
		break;
	case SO_RCVLOWAT:
		v = s->rcvlowat;
		break;
	case SO_SNDLOWAT:
		v = 1;
		break;
	default:
		i = iopt_index(name);
		if (i < 0)
			return -ENOPROTOOPT;
		v = s->iopt[i];
		break;
	}
	memcpy(buf, &v, sizeof(v));
	*lv = sizeof(v);
	return 0;
}

VSL_API int
vsl_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct vsl_sock *s = vsl_sock_of(fd);
	int r;

	if (s == NULL)
		return -1;
	if ((int)len < 0)
		return vsl_fail(s, EINVAL);
	pthread_mutex_lock(&s->lock);
	if (level == SOL_SOCKET)
		r = sol_setopt(s, name, val, len);
	else if (level == AF_VSOCK)
		r = vsock_setopt(s, name, val, len);
	else
		r = -ENOPROTOOPT;
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return vsl_fail(s, -r);
	vsl_sock_put(s);
	return 0;
}

VSL_API int
vsl_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct vsl_sock *s = vsl_sock_of(fd);
	uint8_t buf[64];
	socklen_t ulen, lv = 0;
	int r;

	if (s == NULL)
		return -1;
	if (len == NULL || vsl_copy(&ulen, len, sizeof(ulen)) < 0)
		return vsl_fail(s, EFAULT);
	if ((int)ulen < 0)
		return vsl_fail(s, EINVAL);
	pthread_mutex_lock(&s->lock);
	if (level == SOL_SOCKET)
		r = sol_getopt(s, name, buf, &lv);
	else if (level == AF_VSOCK)
		r = vsock_getopt(s, name, buf, &lv);
	else
		r = -ENOPROTOOPT;
	pthread_mutex_unlock(&s->lock);
	if (r == 0 && level == AF_VSOCK && ulen < lv)
		r = -EINVAL;	/* vsock's getsockopt wants room */
	if (r < 0)
		return vsl_fail(s, -r);
	if (ulen > lv)
		ulen = lv;
	if ((ulen > 0 && (val == NULL || vsl_copy(val, buf, ulen) < 0)) ||
	    vsl_copy(len, &ulen, sizeof(ulen)) < 0)
		return vsl_fail(s, EFAULT);
	vsl_sock_put(s);
	return 0;
}

/* ---- ioctl -------------------------------------------------------------*/

/* Payload bytes readable: SEQPACKET counts the records' payloads. */
static int
rx_bytes(struct vsl_sock *s)
{
	uint32_t avail = vsl_rx_avail(s), tail, n = 0;

	if (avail > s->rx_size)
		return 0;
	if (s->type == SOCK_STREAM)
		return (int)avail;
	pthread_mutex_lock(&s->rx_lock);
	avail = vsl_rx_avail(s);
	tail = s->slot->a.rx_tail;
	while (avail >= sizeof(struct vsl_rec)) {
		struct vsl_rec rec;
		uint32_t sz;

		memcpy(&rec, s->rx + (tail & (s->rx_size - 1)), sizeof(rec));
		sz = vsl_rec_size(rec.len);
		if (rec.len > s->rx_size || sz > avail)
			break;
		n += rec.len;
		tail += sz;
		avail -= sz;
	}
	pthread_mutex_unlock(&s->rx_lock);
	return (int)n;
}

VSL_API int
vsl_ioctl(int fd, unsigned long req, void *arg)
{
	struct vsl_sock *s;
	int v;

	if (!vsl_is_socket(fd) ||
	    (req != SIOCINQ && req != SIOCOUTQ && req != FIONBIO))
		return (int)syscall(SYS_ioctl, fd, req, arg);
	s = vsl_sock_of(fd);
	if (s == NULL)
		return -1;
	switch (req) {
	case SIOCINQ:
		if (s->listening)
			return vsl_fail(s, EINVAL);
		v = s->connected ? rx_bytes(s) : 0;
		break;
	case SIOCOUTQ:
		if (s->listening)
			return vsl_fail(s, EINVAL);
		v = 0;
		if (s->connected) {
			uint32_t q = s->tx_size - vsl_tx_space(s);

			if (q <= s->tx_size)
				v = (int)(q + VSL_LD(s->slot->d.tx_queued));
		}
		break;
	default:	/* FIONBIO */
		if (arg == NULL || vsl_copy(&v, arg, sizeof(v)) < 0)
			return vsl_fail(s, EFAULT);
		__atomic_store_n(&s->nonblock, v != 0, __ATOMIC_RELAXED);
		vsl_sock_put(s);
		return 0;
	}
	vsl_sock_put(s);
	if (arg == NULL || vsl_copy(arg, &v, sizeof(v)) < 0) {
		errno = EFAULT;
		return -1;
	}
	return 0;
}
