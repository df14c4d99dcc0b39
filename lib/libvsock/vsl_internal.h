/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libvsock's internal interface: what the socket core (vsl_sock.c and
 * friends) gives the multiplexing calls (vsl_poll.c: poll, select, epoll)
 * and the preload (vsl_preload.c).
 *
 * Kernel calls made on the library's own behalf go through syscall(2),
 * never through libc's symbols: under the preload those would come back
 * into the library.
 */
#ifndef VSL_INTERNAL_H
#define VSL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

struct vsl_sock;

/*
 * The socket behind @p fd with a reference taken, or NULL (errno kept)
 * when @p fd is not one of ours. Any dup of a socket gives the same one.
 */
struct vsl_sock *vsl_sock_get(int fd);
void vsl_sock_put(struct vsl_sock *s);

/*
 * What poll(2) would report for @p s right now: POLLIN|POLLRDNORM,
 * POLLOUT|POLLWRNORM, POLLHUP, POLLRDHUP, POLLERR, as Linux's vsock_poll()
 * computes them (SO_RCVLOWAT counts).
 */
short vsl_sock_revents(struct vsl_sock *s);

/* Changes whenever vsockd changed the socket (the slot's d.events). */
uint32_t vsl_sock_seq(struct vsl_sock *s);

/*
 * Ask vsockd to wake vsl_sock_kfd(s) at its next change of @p s (bumps
 * a.sleep_seq behind a full fence). Check vsl_sock_revents() once more
 * after arming, then sleep.
 */
void vsl_sock_arm(struct vsl_sock *s);

/* The kernel fd that turns readable (POLLIN) when vsockd wakes @p s. */
int vsl_sock_kfd(struct vsl_sock *s);

/* VSOCK_BUSY_POLL=1: spin on shared memory instead of sleeping. */
bool vsl_busy_poll(void);

/*
 * Called by vsl_close() for every fd it closes (socket or not) before the
 * kernel's close, and when the last fd of socket @p s goes (s != NULL):
 * the multiplexing code forgets epoll sets and memberships.
 */
void vsl_poll_fd_closed(int fd, struct vsl_sock *s);

#endif /* VSL_INTERNAL_H */
