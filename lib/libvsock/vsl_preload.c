/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libvsock-preload.so: LD_PRELOAD=libvsock-preload.so PROGRAM runs an
 * unmodified program's AF_VSOCK sockets through vsockd.
 *
 * Each interposed libc call asks one question, "is this fd (or this
 * epoll set) libvsock's?", and hands the call either to libvsock or,
 * untouched, to the next definition of the symbol (libc's). poll and
 * select go to libvsock only when a vsock socket is in the set. The
 * kernel's AF_VSOCK is never reached unless VSOCK_KERNEL=1 is in the
 * environment; /dev/vsock is never opened: an open of it gets /dev/null
 * instead, and IOCTL_VM_SOCKETS_GET_LOCAL_CID on that fd is answered with
 * vsockd's CID.
 *
 * The _chk variants are what programs built with _FORTIFY_SOURCE call.
 */
/*
 * Both open and open64 (fcntl and fcntl64) are defined here: meson's
 * -D_FILE_OFFSET_BITS=64 would rename the first of each to the second.
 */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "libvsock.h"

/* glibc declares these only under _FORTIFY_SOURCE. */
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen,
		int flags, struct sockaddr *addr, socklen_t *alen);

#define VSL_PRELOAD_DEV "/dev/vsock"
#define VSL_PRELOAD_MAX_DEV_FDS 65536

/* The next definition of @name (libc's), looked up on first use. */
#define REAL(name) \
	static __typeof__(name) *real_##name; \
	if (real_##name == NULL) \
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

/* fds where /dev/vsock was opened (they are /dev/null underneath). */
static atomic_uchar dev_fds[VSL_PRELOAD_MAX_DEV_FDS];

static int
kernel_vsock(void)
{
	static int mode = -1;

	if (mode < 0) {
		const char *e = getenv("VSOCK_KERNEL");

		mode = e != NULL && strcmp(e, "1") == 0;
	}
	return mode;
}

static int
is_dev_fd(int fd)
{
	return fd >= 0 && fd < VSL_PRELOAD_MAX_DEV_FDS &&
		atomic_load_explicit(&dev_fds[fd], memory_order_relaxed);
}

static void
set_dev_fd(int fd, unsigned char on)
{
	if (fd >= 0 && fd < VSL_PRELOAD_MAX_DEV_FDS)
		atomic_store(&dev_fds[fd], on);
}

/* ---- sockets ------------------------------------------------------- */

VSL_API int
socket(int domain, int type, int protocol)
{
	REAL(socket);
	if (domain == AF_VSOCK && !kernel_vsock())
		return vsl_socket(domain, type, protocol);
	return real_socket(domain, type, protocol);
}

VSL_API int
socketpair(int domain, int type, int protocol, int sv[2])
{
	REAL(socketpair);
	if (domain == AF_VSOCK && !kernel_vsock()) {
		errno = EOPNOTSUPP;	/* as Linux's vsock: no socketpair */
		return -1;
	}
	return real_socketpair(domain, type, protocol, sv);
}

VSL_API int
bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	REAL(bind);
	if (vsl_is_socket(fd))
		return vsl_bind(fd, addr, len);
	return real_bind(fd, addr, len);
}

VSL_API int
listen(int fd, int backlog)
{
	REAL(listen);
	if (vsl_is_socket(fd))
		return vsl_listen(fd, backlog);
	return real_listen(fd, backlog);
}

VSL_API int
accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	REAL(accept);
	if (vsl_is_socket(fd))
		return vsl_accept(fd, addr, len);
	return real_accept(fd, addr, len);
}

VSL_API int
accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	REAL(accept4);
	if (vsl_is_socket(fd))
		return vsl_accept4(fd, addr, len, flags);
	return real_accept4(fd, addr, len, flags);
}

VSL_API int
connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	REAL(connect);
	if (vsl_is_socket(fd))
		return vsl_connect(fd, addr, len);
	return real_connect(fd, addr, len);
}

VSL_API int
shutdown(int fd, int how)
{
	REAL(shutdown);
	if (vsl_is_socket(fd))
		return vsl_shutdown(fd, how);
	return real_shutdown(fd, how);
}

VSL_API int
getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	REAL(getsockname);
	if (vsl_is_socket(fd))
		return vsl_getsockname(fd, addr, len);
	return real_getsockname(fd, addr, len);
}

VSL_API int
getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	REAL(getpeername);
	if (vsl_is_socket(fd))
		return vsl_getpeername(fd, addr, len);
	return real_getpeername(fd, addr, len);
}

VSL_API int
getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	REAL(getsockopt);
	if (vsl_is_socket(fd))
		return vsl_getsockopt(fd, level, name, val, len);
	return real_getsockopt(fd, level, name, val, len);
}

VSL_API int
setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	REAL(setsockopt);
	if (vsl_is_socket(fd))
		return vsl_setsockopt(fd, level, name, val, len);
	return real_setsockopt(fd, level, name, val, len);
}

/* ---- data ---------------------------------------------------------- */

VSL_API ssize_t
read(int fd, void *buf, size_t len)
{
	REAL(read);
	if (vsl_is_socket(fd))
		return vsl_read(fd, buf, len);
	return real_read(fd, buf, len);
}

VSL_API ssize_t
__read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	REAL(__read_chk);
	if (vsl_is_socket(fd) && len <= buflen)
		return vsl_read(fd, buf, len);
	return real___read_chk(fd, buf, len, buflen);
}

VSL_API ssize_t
write(int fd, const void *buf, size_t len)
{
	REAL(write);
	if (vsl_is_socket(fd))
		return vsl_write(fd, buf, len);
	return real_write(fd, buf, len);
}

VSL_API ssize_t
readv(int fd, const struct iovec *iov, int iovcnt)
{
	REAL(readv);
	if (vsl_is_socket(fd))
		return vsl_readv(fd, iov, iovcnt);
	return real_readv(fd, iov, iovcnt);
}

VSL_API ssize_t
writev(int fd, const struct iovec *iov, int iovcnt)
{
	REAL(writev);
	if (vsl_is_socket(fd))
		return vsl_writev(fd, iov, iovcnt);
	return real_writev(fd, iov, iovcnt);
}

VSL_API ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
	REAL(send);
	if (vsl_is_socket(fd))
		return vsl_send(fd, buf, len, flags);
	return real_send(fd, buf, len, flags);
}

VSL_API ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
	REAL(recv);
	if (vsl_is_socket(fd))
		return vsl_recv(fd, buf, len, flags);
	return real_recv(fd, buf, len, flags);
}

VSL_API ssize_t
__recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	REAL(__recv_chk);
	if (vsl_is_socket(fd) && len <= buflen)
		return vsl_recv(fd, buf, len, flags);
	return real___recv_chk(fd, buf, len, buflen, flags);
}

VSL_API ssize_t
sendto(int fd, const void *buf, size_t len, int flags,
		const struct sockaddr *addr, socklen_t alen)
{
	REAL(sendto);
	if (vsl_is_socket(fd))
		return vsl_sendto(fd, buf, len, flags, addr, alen);
	return real_sendto(fd, buf, len, flags, addr, alen);
}

VSL_API ssize_t
recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
		socklen_t *alen)
{
	REAL(recvfrom);
	if (vsl_is_socket(fd))
		return vsl_recvfrom(fd, buf, len, flags, addr, alen);
	return real_recvfrom(fd, buf, len, flags, addr, alen);
}

VSL_API ssize_t
__recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
		struct sockaddr *addr, socklen_t *alen)
{
	REAL(__recvfrom_chk);
	if (vsl_is_socket(fd) && len <= buflen)
		return vsl_recvfrom(fd, buf, len, flags, addr, alen);
	return real___recvfrom_chk(fd, buf, len, buflen, flags, addr, alen);
}

VSL_API ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
	REAL(sendmsg);
	if (vsl_is_socket(fd))
		return vsl_sendmsg(fd, msg, flags);
	return real_sendmsg(fd, msg, flags);
}

VSL_API ssize_t
recvmsg(int fd, struct msghdr *msg, int flags)
{
	REAL(recvmsg);
	if (vsl_is_socket(fd))
		return vsl_recvmsg(fd, msg, flags);
	return real_recvmsg(fd, msg, flags);
}

/* ---- descriptors --------------------------------------------------- */

VSL_API int
close(int fd)
{
	REAL(close);
	if (vsl_is_socket(fd) || vsl_is_epoll(fd))
		return vsl_close(fd);
	if (is_dev_fd(fd))
		set_dev_fd(fd, 0);
	return real_close(fd);
}

VSL_API int
dup(int fd)
{
	REAL(dup);
	if (vsl_is_socket(fd))
		return vsl_dup(fd);
	return real_dup(fd);
}

VSL_API int
dup2(int oldfd, int newfd)
{
	REAL(dup2);
	if (vsl_is_socket(oldfd) || vsl_is_socket(newfd) ||
			vsl_is_epoll(newfd))
		return vsl_dup2(oldfd, newfd);
	return real_dup2(oldfd, newfd);
}

VSL_API int
dup3(int oldfd, int newfd, int flags)
{
	REAL(dup3);
	if (vsl_is_socket(oldfd) || vsl_is_socket(newfd) ||
			vsl_is_epoll(newfd))
		return vsl_dup3(oldfd, newfd, flags);
	return real_dup3(oldfd, newfd, flags);
}

/*
 * fcntl's third argument is an int, a long or a pointer depending on the
 * command; on x86-64 all travel in one register, so a long carries each.
 */
static int
preload_fcntl(int (*real)(int, int, ...), int fd, int cmd, long arg)
{
	if (vsl_is_socket(fd))
		return vsl_fcntl(fd, cmd, arg);
	return real(fd, cmd, arg);
}

VSL_API int
fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	REAL(fcntl);
	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	return preload_fcntl(real_fcntl, fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...);

VSL_API int
fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	REAL(fcntl64);
	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	return preload_fcntl(real_fcntl64, fd, cmd, arg);
}

VSL_API int
ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	REAL(ioctl);
	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (vsl_is_socket(fd))
		return vsl_ioctl(fd, req, arg);
	if (is_dev_fd(fd)) {
		uint64_t cid;

		if (req != IOCTL_VM_SOCKETS_GET_LOCAL_CID) {
			errno = ENOTTY;
			return -1;
		}
		cid = vsl_local_cid();
		if (cid == UINT64_MAX)
			return -1;
		*(unsigned int *)arg = (unsigned int)cid;
		return 0;
	}
	return real_ioctl(fd, req, arg);
}

/* ---- /dev/vsock ---------------------------------------------------- */

/* The /dev/null stand-in for /dev/vsock, or -2 when @path is another file. */
static int
open_dev(const char *path, int flags)
{
	int fd;

	if (path == NULL || strcmp(path, VSL_PRELOAD_DEV) != 0 ||
			kernel_vsock())
		return -2;
	{
		REAL(open);
		fd = real_open("/dev/null", O_RDWR | (flags & O_CLOEXEC));
	}
	if (fd >= 0)
		set_dev_fd(fd, 1);
	return fd;
}

static mode_t
open_mode(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

VSL_API int
open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	int fd;

	REAL(open);
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	fd = open_dev(path, flags);
	return fd != -2 ? fd : real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...);

VSL_API int
open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	int fd;

	REAL(open64);
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	fd = open_dev(path, flags);
	return fd != -2 ? fd : real_open64(path, flags, mode);
}

VSL_API int
openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	int fd;

	REAL(openat);
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	fd = open_dev(path, flags);
	return fd != -2 ? fd : real_openat(dirfd, path, flags, mode);
}

int __open_2(const char *path, int flags);

VSL_API int
__open_2(const char *path, int flags)
{
	int fd = open_dev(path, flags);

	REAL(__open_2);
	return fd != -2 ? fd : real___open_2(path, flags);
}

int __open64_2(const char *path, int flags);

VSL_API int
__open64_2(const char *path, int flags)
{
	int fd = open_dev(path, flags);

	REAL(__open64_2);
	return fd != -2 ? fd : real___open64_2(path, flags);
}

/* ---- waiting ------------------------------------------------------- */

static int
any_socket(const struct pollfd *fds, nfds_t n)
{
	nfds_t i;

	for (i = 0; i < n; i++)
		if (vsl_is_socket(fds[i].fd))
			return 1;
	return 0;
}

static int
any_socket_set(int nfds, const fd_set *r, const fd_set *w, const fd_set *e)
{
	int fd;

	for (fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
		if (((r != NULL && FD_ISSET(fd, r)) ||
				(w != NULL && FD_ISSET(fd, w)) ||
				(e != NULL && FD_ISSET(fd, e))) &&
				vsl_is_socket(fd))
			return 1;
	return 0;
}

VSL_API int
poll(struct pollfd *fds, nfds_t n, int timeout)
{
	REAL(poll);
	if (any_socket(fds, n))
		return vsl_poll(fds, n, timeout);
	return real_poll(fds, n, timeout);
}

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);

VSL_API int
__poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	REAL(__poll_chk);
	if (n <= fdslen / sizeof(*fds) && any_socket(fds, n))
		return vsl_poll(fds, n, timeout);
	return real___poll_chk(fds, n, timeout, fdslen);
}

VSL_API int
ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
		const sigset_t *sigmask)
{
	REAL(ppoll);
	if (any_socket(fds, n))
		return vsl_ppoll(fds, n, tmo, sigmask);
	return real_ppoll(fds, n, tmo, sigmask);
}

int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
		const sigset_t *sigmask, size_t fdslen);

VSL_API int
__ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
		const sigset_t *sigmask, size_t fdslen)
{
	REAL(__ppoll_chk);
	if (n <= fdslen / sizeof(*fds) && any_socket(fds, n))
		return vsl_ppoll(fds, n, tmo, sigmask);
	return real___ppoll_chk(fds, n, tmo, sigmask, fdslen);
}

VSL_API int
select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tmo)
{
	REAL(select);
	if (any_socket_set(nfds, r, w, e))
		return vsl_select(nfds, r, w, e, tmo);
	return real_select(nfds, r, w, e, tmo);
}

VSL_API int
pselect(int nfds, fd_set *r, fd_set *w, fd_set *e,
		const struct timespec *tmo, const sigset_t *sigmask)
{
	REAL(pselect);
	if (any_socket_set(nfds, r, w, e))
		return vsl_pselect(nfds, r, w, e, tmo, sigmask);
	return real_pselect(nfds, r, w, e, tmo, sigmask);
}

VSL_API int
epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	REAL(epoll_ctl);
	if (vsl_is_socket(fd) || vsl_is_epoll(epfd))
		return vsl_epoll_ctl(epfd, op, fd, ev);
	return real_epoll_ctl(epfd, op, fd, ev);
}

VSL_API int
epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	REAL(epoll_wait);
	if (vsl_is_epoll(epfd))
		return vsl_epoll_wait(epfd, evs, max, timeout);
	return real_epoll_wait(epfd, evs, max, timeout);
}

VSL_API int
epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout,
		const sigset_t *sigmask)
{
	REAL(epoll_pwait);
	if (vsl_is_epoll(epfd))
		return vsl_epoll_pwait(epfd, evs, max, timeout, sigmask);
	return real_epoll_pwait(epfd, evs, max, timeout, sigmask);
}
