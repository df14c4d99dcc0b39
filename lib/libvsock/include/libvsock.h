/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * libvsock: AF_VSOCK sockets served by vsockd, for programs that do not
 * link DPDK. Plain C and pthreads: no EAL, no hugepages.
 *
 * Every function has the signature and the semantics of the libc call it
 * is named after (see socket(2), vsock(7)): it returns what that call
 * returns and sets errno as Linux's AF_VSOCK does. A socket is a real
 * file descriptor owned by the library (an eventfd the daemon signals),
 * so fd numbering, select()'s FD_SETSIZE, dup, close-on-exec and close
 * behave as programs expect; vsl_poll(), vsl_select() and the vsl_epoll_*
 * calls wait on vsock sockets and on any other file descriptor in one
 * call, sleeping in the kernel.
 *
 * The first vsl_socket() connects to vsockd at $VSOCKD_SOCKET, or
 * /run/dpdk-vsock/vsockd.sock. libvsock-preload.so routes the libc calls
 * of an unmodified program here.
 *
 * fork: a child never touches its parent's connection to vsockd. Every
 * call on a socket inherited through fork fails with EBADFD (poll reports
 * POLLNVAL) except close(), which only closes the child's fd; the child's
 * own vsl_socket() makes its own connection. exec: a socket's fd is an
 * eventfd (non-blocking underneath); without SOCK_CLOEXEC/FD_CLOEXEC the
 * new program inherits it as a plain eventfd, not a socket.
 */
#ifndef LIBVSOCK_H
#define LIBVSOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Is @p fd a socket of this library (any dup of one included)? */
bool vsl_is_socket(int fd);

/** socket(2) for AF_VSOCK: SOCK_STREAM, SOCK_SEQPACKET (SOCK_DGRAM: ENODEV). */
int vsl_socket(int domain, int type, int protocol);
/** bind(2). */
int vsl_bind(int fd, const struct sockaddr *addr, socklen_t len);
/** listen(2). */
int vsl_listen(int fd, int backlog);
/** accept(2). */
int vsl_accept(int fd, struct sockaddr *addr, socklen_t *len);
/** accept4(2): SOCK_NONBLOCK, SOCK_CLOEXEC. */
int vsl_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
/** connect(2): blocking, or EINPROGRESS on a non-blocking socket. */
int vsl_connect(int fd, const struct sockaddr *addr, socklen_t len);

/** read(2). */
ssize_t vsl_read(int fd, void *buf, size_t len);
/** write(2). */
ssize_t vsl_write(int fd, const void *buf, size_t len);
/** readv(2). */
ssize_t vsl_readv(int fd, const struct iovec *iov, int iovcnt);
/** writev(2). */
ssize_t vsl_writev(int fd, const struct iovec *iov, int iovcnt);
/** send(2). */
ssize_t vsl_send(int fd, const void *buf, size_t len, int flags);
/** recv(2): MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, MSG_TRUNC. */
ssize_t vsl_recv(int fd, void *buf, size_t len, int flags);
/** sendto(2): an address gives EISCONN when connected, EOPNOTSUPP before, as Linux does. */
ssize_t vsl_sendto(int fd, const void *buf, size_t len, int flags,
		const struct sockaddr *addr, socklen_t alen);
/** recvfrom(2). */
ssize_t vsl_recvfrom(int fd, void *buf, size_t len, int flags,
		struct sockaddr *addr, socklen_t *alen);
/** sendmsg(2): MSG_EOR on SEQPACKET, MSG_NOSIGNAL, MSG_DONTWAIT. */
ssize_t vsl_sendmsg(int fd, const struct msghdr *msg, int flags);
/** recvmsg(2): msg_flags gets MSG_EOR and MSG_TRUNC as Linux sets them. */
ssize_t vsl_recvmsg(int fd, struct msghdr *msg, int flags);

/** shutdown(2). */
int vsl_shutdown(int fd, int how);
/** close(2) of a socket or of an epoll set this library tracks. */
int vsl_close(int fd);
/** dup(2). */
int vsl_dup(int fd);
/** dup2(2); @p newfd may be a socket of ours, which is closed first. */
int vsl_dup2(int oldfd, int newfd);
/** dup3(2): O_CLOEXEC. */
int vsl_dup3(int oldfd, int newfd, int flags);
/** fcntl(2): F_GETFL/F_SETFL (O_NONBLOCK), F_GETFD/F_SETFD, F_DUPFD(_CLOEXEC). */
int vsl_fcntl(int fd, int cmd, long arg);
/** ioctl(2): FIONREAD/SIOCINQ, SIOCOUTQ, FIONBIO. */
int vsl_ioctl(int fd, unsigned long req, void *arg);

/** getsockname(2). */
int vsl_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
/** getpeername(2). */
int vsl_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
/** getsockopt(2): SOL_SOCKET and AF_VSOCK levels, as Linux answers them. */
int vsl_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
/** setsockopt(2). */
int vsl_setsockopt(int fd, int level, int name, const void *val,
		socklen_t len);

/** poll(2) over any mix of vsock sockets and other file descriptors. */
int vsl_poll(struct pollfd *fds, nfds_t n, int timeout_ms);
/** ppoll(2). */
int vsl_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
		const sigset_t *sigmask);
/** select(2). */
int vsl_select(int nfds, fd_set *r, fd_set *w, fd_set *e,
		struct timeval *tmo);
/** pselect(2). */
int vsl_pselect(int nfds, fd_set *r, fd_set *w, fd_set *e,
		const struct timespec *tmo, const sigset_t *sigmask);
/** epoll_ctl(2): vsock sockets and other fds in one set; EPOLLET, EPOLLONESHOT, EPOLLRDHUP. */
int vsl_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
/** epoll_wait(2). */
int vsl_epoll_wait(int epfd, struct epoll_event *evs, int max,
		int timeout_ms);
/** epoll_pwait(2). */
int vsl_epoll_pwait(int epfd, struct epoll_event *evs, int max,
		int timeout_ms, const sigset_t *sigmask);
/** Does this library track epoll set @p epfd (one holding a vsock socket)? */
bool vsl_is_epoll(int epfd);

/**
 * vsockd's local CID (what IOCTL_VM_SOCKETS_GET_LOCAL_CID answers), or
 * (uint64_t)-1 with errno set when vsockd cannot be reached.
 */
uint64_t vsl_local_cid(void);

#ifdef __cplusplus
}
#endif

#endif /* LIBVSOCK_H */
