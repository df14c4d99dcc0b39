/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * poll, ppoll, select, pselect and epoll over vsock sockets and kernel
 * fds together, sleeping in the kernel.
 *
 * A vsock socket's readiness lives in shared memory (vsl_sock_revents);
 * its eventfd only says "vsockd changed something". So: answer from
 * shared memory; if nothing is ready, arm every vsock socket, check once
 * more, then sleep in one kernel call over the caller's kernel fds and
 * the sockets' eventfds (POLLIN only: an eventfd is always writable),
 * drain, and start again.
 *
 * epoll: a set holding a vsock socket gets an inner epoll fd with the
 * sockets' eventfds, itself a member of the caller's set under a random
 * 64-bit cookie. Kernel fds stay in the caller's set untouched.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "libvsock.h"
#include "vsl_priv.h"

#define VSL_SIGSET_SIZE ((size_t)8)	/* the kernel's sigset_t */
#define VSL_POLL_STACK 64

/* ---- poll ----------------------------------------------------------- */

static int
vsock_ready(struct pollfd *fds, struct vsl_sock **socks, nfds_t n)
{
	int ready = 0;
	nfds_t i;

	for (i = 0; i < n; i++) {
		short m;

		if (socks[i] == NULL)
			continue;
		m = vsl_sock_revents(socks[i]);
		m &= fds[i].events | POLLERR | POLLHUP | POLLNVAL;
		fds[i].revents = m;
		ready += m != 0;
	}
	return ready;
}

/*
 * One kernel ppoll over the kernel fds (as asked) and, when @p seen is
 * given (the caller is a sleeper on every socket), the sockets' eventfds
 * (POLLIN), drained when readable; kernel revents copied back. Without
 * @p seen the eventfds are left out: a thread that is not counted as a
 * sleeper must not drain, or it takes a wake-up another thread of ours
 * sleeps for (the zero-timeout look when vsock sockets are ready already
 * did so). Returns the kernel fds ready, or -1 with errno; *backoff set
 * when an eventfd holds a wake-up for other sleepers only.
 */
static int
kernel_poll(struct pollfd *fds, struct vsl_sock **socks, uint32_t *seen,
		struct pollfd *k, nfds_t n, int64_t deadline,
		const sigset_t *mask, bool *backoff)
{
	struct timespec ts, *tp = vsl_remaining(deadline, &ts);
	int ready = 0;
	nfds_t i;
	long r;

	for (i = 0; i < n; i++) {
		if (socks[i] != NULL) {
			k[i].fd = seen != NULL ? vsl_sock_kfd(socks[i]) : -1;
			k[i].events = POLLIN;
		} else {
			k[i].fd = fds[i].fd;
			k[i].events = fds[i].events;
		}
		k[i].revents = 0;
	}
	r = syscall(SYS_ppoll, k, n, tp, mask, VSL_SIGSET_SIZE);
	if (r < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (socks[i] != NULL) {
			if (seen != NULL && (k[i].revents & POLLIN) &&
			    vsl_sock_drain(socks[i], &seen[i]))
				*backoff = true;
			continue;
		}
		fds[i].revents = k[i].revents;
		ready += k[i].revents != 0;
	}
	return ready;
}

/* Count this thread as a sleeper on each socket and arm it, or stop. */
static void
sleepers(struct vsl_sock **socks, uint32_t *seen, nfds_t n, bool begin)
{
	nfds_t i;

	for (i = 0; i < n; i++) {
		if (socks[i] == NULL)
			continue;
		if (begin) {
			vsl_sleep_begin(socks[i], &seen[i]);
			vsl_sock_arm(socks[i]);
		} else {
			vsl_sleep_end(socks[i], &seen[i]);
		}
	}
}

static int
poll_core(struct pollfd *fds, nfds_t n, int64_t deadline,
		const sigset_t *mask)
{
	struct vsl_sock *sstack[VSL_POLL_STACK], **socks = sstack;
	struct pollfd kstack[VSL_POLL_STACK], *k = kstack;
	uint32_t seenstack[VSL_POLL_STACK], *seen = seenstack;
	int ready = 0, kr;
	bool any = false;
	nfds_t i;

	if (n > VSL_POLL_STACK) {
		socks = calloc(n, sizeof(*socks));
		k = calloc(n, sizeof(*k));
		seen = calloc(n, sizeof(*seen));
		if (socks == NULL || k == NULL || seen == NULL) {
			free(socks);
			free(k);
			free(seen);
			errno = ENOMEM;
			return -1;
		}
	}
	for (i = 0; i < n; i++) {
		fds[i].revents = 0;
		socks[i] = fds[i].fd >= 0 ? vsl_sock_get(fds[i].fd) : NULL;
		any |= socks[i] != NULL;
	}
	for (;;) {
		bool armed = false, backoff = false;

		ready = vsock_ready(fds, socks, n);
		if (ready == 0 && any && deadline != 0 && !vsl_busy_poll()) {
			/* Sleepers from before the arm to after the drain. */
			sleepers(socks, seen, n, true);
			armed = true;
			ready = vsock_ready(fds, socks, n);
		}
		if (ready > 0 || deadline == 0 || vsl_busy_poll()) {
			if (armed)
				sleepers(socks, seen, n, false);
			/* The kernel fds' state now, without sleeping (and
			 * without the eventfds: we sleep on none). */
			kr = kernel_poll(fds, socks, NULL, k, n, 0, NULL,
					&backoff);
			if (kr < 0) {
				ready = -1;
				break;
			}
			ready += kr;
			if (ready > 0 || deadline == 0)
				break;
			if (deadline > 0 && vsl_now_ns() >= deadline)
				break;
			vsl_relax();
			continue;
		}
		kr = kernel_poll(fds, socks, seen, k, n, deadline, mask,
				&backoff);
		sleepers(socks, seen, n, false);
		if (kr < 0) {
			ready = -1;
			break;
		}
		ready = kr + vsock_ready(fds, socks, n);
		if (ready > 0)
			break;
		if (deadline >= 0 && vsl_now_ns() >= deadline)
			break;
		if (backoff)
			vsl_sleep_backoff();
	}
	for (i = 0; i < n; i++)
		vsl_sock_put(socks[i]);
	if (socks != sstack) {
		free(socks);
		free(k);
		free(seen);
	}
	return ready;
}

static int64_t
ts_deadline(const struct timespec *t)
{
	if (t == NULL)
		return -1;
	if (t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= VSL_NS_PER_S)
		return -2;
	if (t->tv_sec == 0 && t->tv_nsec == 0)
		return 0;
	return vsl_now_ns() + t->tv_sec * VSL_NS_PER_S + t->tv_nsec;
}

VSL_API int
vsl_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
		const sigset_t *sigmask)
{
	int64_t d = ts_deadline(tmo);

	if (d == -2 || n > (nfds_t)1 << 20) {
		errno = EINVAL;
		return -1;
	}
	return poll_core(fds, n, d, sigmask);
}

VSL_API int
vsl_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
	int64_t d = timeout_ms < 0 ? -1 : timeout_ms == 0 ? 0 :
		vsl_now_ns() + (int64_t)timeout_ms * 1000000;

	if (n > (nfds_t)1 << 20) {
		errno = EINVAL;
		return -1;
	}
	return poll_core(fds, n, d, NULL);
}

/* ---- select --------------------------------------------------------- */

#define SEL_IN (POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR)
#define SEL_OUT (POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR)
#define SEL_EX (POLLPRI)

static int
select_core(int nfds, fd_set *r, fd_set *w, fd_set *e, int64_t deadline,
		const sigset_t *mask)
{
	struct pollfd stack[VSL_POLL_STACK], *p = stack;
	int i, n = 0, ret, cnt = 0;

	if (nfds < 0) {
		errno = EINVAL;
		return -1;
	}
	if (nfds > FD_SETSIZE)
		nfds = FD_SETSIZE;
	if (nfds > VSL_POLL_STACK) {
		p = calloc((size_t)nfds, sizeof(*p));
		if (p == NULL) {
			errno = ENOMEM;
			return -1;
		}
	}
	for (i = 0; i < nfds; i++) {
		short ev = 0;

		if (r != NULL && FD_ISSET(i, r))
			ev |= POLLIN;
		if (w != NULL && FD_ISSET(i, w))
			ev |= POLLOUT;
		if (e != NULL && FD_ISSET(i, e))
			ev |= POLLPRI;
		if (ev == 0)
			continue;
		p[n].fd = i;
		p[n].events = ev;
		n++;
	}
	ret = poll_core(p, (nfds_t)n, deadline, mask);
	if (ret >= 0) {
		for (i = 0; i < n; i++)
			if (p[i].revents & POLLNVAL) {
				errno = EBADF;
				ret = -1;
				goto out;
			}
		if (r != NULL)
			FD_ZERO(r);
		if (w != NULL)
			FD_ZERO(w);
		if (e != NULL)
			FD_ZERO(e);
		for (i = 0; i < n; i++) {
			short m = p[i].revents;

			if ((p[i].events & POLLIN) && (m & SEL_IN)) {
				FD_SET(p[i].fd, r);
				cnt++;
			}
			if ((p[i].events & POLLOUT) && (m & SEL_OUT)) {
				FD_SET(p[i].fd, w);
				cnt++;
			}
			if ((p[i].events & POLLPRI) && (m & SEL_EX)) {
				FD_SET(p[i].fd, e);
				cnt++;
			}
		}
		ret = cnt;
	}
out:
	if (p != stack)
		free(p);
	return ret;
}

VSL_API int
vsl_pselect(int nfds, fd_set *r, fd_set *w, fd_set *e,
		const struct timespec *tmo, const sigset_t *sigmask)
{
	int64_t d = ts_deadline(tmo);

	if (d == -2) {
		errno = EINVAL;
		return -1;
	}
	return select_core(nfds, r, w, e, d, sigmask);
}

VSL_API int
vsl_select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tmo)
{
	int64_t d = -1;
	int ret;

	if (tmo != NULL) {
		if (tmo->tv_sec < 0 || tmo->tv_usec < 0) {
			errno = EINVAL;
			return -1;
		}
		d = tmo->tv_sec == 0 && tmo->tv_usec == 0 ? 0 :
			vsl_now_ns() + tmo->tv_sec * VSL_NS_PER_S +
			(int64_t)tmo->tv_usec * 1000;
	}
	ret = select_core(nfds, r, w, e, d, NULL);
	if (tmo != NULL && d > 0) {
		/* Linux's select() writes back the time left. */
		int64_t left = d - vsl_now_ns();

		if (left < 0)
			left = 0;
		tmo->tv_sec = left / VSL_NS_PER_S;
		tmo->tv_usec = left % VSL_NS_PER_S / 1000;
	}
	return ret;
}
