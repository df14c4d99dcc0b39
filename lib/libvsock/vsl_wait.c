/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libvsock's waiting: arming a socket so that vsockd wakes its eventfd,
 * sleeping on it in the kernel, and sharing one eventfd between several
 * threads of the process that sleep on the same socket.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vsl_priv.h"

void
vsl_sock_arm(struct vsl_sock *s)
{
	if (vsl_stale(s))
		return;
	__atomic_fetch_add(&s->slot->a.sleep_seq, 1, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/*
 * Several threads may sleep on one eventfd (recv in one, send or poll in
 * another), and vsockd writes it once per change of a.sleep_seq: one
 * wake-up for all who armed since its last one. Whoever drains it takes
 * it from the others; passing a marker on after the drain (the earlier
 * design) still lost wake-ups: the drainer, not ready, went back to sleep
 * on its own marker and took it before the other thread, woken but not
 * yet running, looked (a kernel poll re-checks readiness when it runs),
 * and so left that thread asleep for good; a third sleeper got nothing.
 *
 * So the bookkeeping is exact, under wait_lock, with each drain's read
 * and re-post done under it too:
 *  - a thread is a sleeper from before its arm until after its drain
 *    (waiters), and notes the wake generation it started from (seen);
 *  - a drain that takes a count vsockd (or vsl_wake_local) wrote starts
 *    a new generation: every other sleeper is owed it (wake_owed), as
 *    each may have armed before the write and be asleep;
 *  - while wake_owed > 0 the eventfd is kept readable (a marker, a count
 *    vsockd never writes); a sleeper owed the generation that drains it
 *    or leaves pays its debt once (seen catches up);
 *  - a sleeper not owed anything that finds only the marker puts it back
 *    and must not sleep on the eventfd (it would take the marker again):
 *    vsl_sock_drain() says so and it backs off briefly. Those owed are
 *    awake or about to look, and each pays within its next steps, so the
 *    back-off ends; a new write meanwhile starts a generation it is owed.
 * A sleeper can thus only miss a wake-up it is not owed, that is one
 * that came before its begin, and its check after its arm sees that.
 */
#define VSL_WAKE_MARK (1ull << 32)
#define VSL_BACKOFF_NS (200 * 1000)

void
vsl_sleep_begin(struct vsl_sock *s, uint32_t *seen)
{
	/* Inherited through fork: its wait_lock may be a parent thread's. */
	*seen = 0;
	if (vsl_stale(s))
		return;
	pthread_mutex_lock(&s->wait_lock);
	s->waiters++;
	*seen = s->wake_gen;
	pthread_mutex_unlock(&s->wait_lock);
}

void
vsl_sleep_end(struct vsl_sock *s, const uint32_t *seen)
{
	if (vsl_stale(s))
		return;
	pthread_mutex_lock(&s->wait_lock);
	s->waiters--;
	/* Owed a wake-up it no longer waits for: nobody keeps it for us.
	 * A marker left behind costs one later sleeper a spurious look. */
	if (*seen != s->wake_gen && s->wake_owed > 0)
		s->wake_owed--;
	pthread_mutex_unlock(&s->wait_lock);
}

bool
vsl_sock_drain(struct vsl_sock *s, uint32_t *seen)
{
	uint64_t v = 0;
	bool backoff = false;
	int fd;

	if (vsl_stale(s))
		return false;
	fd = vsl_sock_kfd(s);
	pthread_mutex_lock(&s->wait_lock);
	if (syscall(SYS_read, fd, &v, sizeof(v)) != sizeof(v))
		v = 0;
	if ((v & (VSL_WAKE_MARK - 1)) != 0) {
		/* A wake-up from vsockd: everyone else asleep is owed it. */
		s->wake_gen++;
		s->wake_owed = s->waiters - 1;
		*seen = s->wake_gen;
	} else if (*seen != s->wake_gen) {
		if (s->wake_owed > 0)
			s->wake_owed--;
		*seen = s->wake_gen;
	} else if (v != 0 && s->wake_owed > 0) {
		/* Their marker, not ours. */
		backoff = true;
	}
	if (v != 0 && s->wake_owed > 0) {
		v = VSL_WAKE_MARK;
		(void)!syscall(SYS_write, fd, &v, sizeof(v));
	}
	pthread_mutex_unlock(&s->wait_lock);
	return backoff;
}

void
vsl_sleep_backoff(void)
{
	struct timespec ts = { 0, VSL_BACKOFF_NS };

	(void)!syscall(SYS_nanosleep, &ts, NULL);
}

struct timespec *
vsl_remaining(int64_t deadline, struct timespec *ts)
{
	int64_t left;

	if (deadline < 0)
		return NULL;
	left = deadline - vsl_now_ns();
	if (left < 0)
		left = 0;
	ts->tv_sec = left / VSL_NS_PER_S;
	ts->tv_nsec = left % VSL_NS_PER_S;
	return ts;
}

int
vsl_wait(struct vsl_sock *s, bool (*ready)(struct vsl_sock *, void *),
		void *arg, int64_t deadline)
{
	struct timespec ts, *tp;
	struct pollfd pf[2];
	uint32_t seen;
	bool backoff;
	long r;

	for (;;) {
		if (ready(s, arg))
			return 0;
		if (deadline == 0)
			return -EAGAIN;
		if (deadline > 0 && vsl_now_ns() >= deadline)
			return -EAGAIN;
		if (__atomic_load_n(&s->closed, __ATOMIC_RELAXED))
			return -EBADF;
		if (vsl_busy_poll()) {
			vsl_relax();
			continue;
		}
		/* A sleeper from before the arm to after the drain: see
		 * vsl_sock_drain(). */
		vsl_sleep_begin(s, &seen);
		vsl_sock_arm(s);
		if (ready(s, arg)) {
			vsl_sleep_end(s, &seen);
			return 0;
		}
		pf[0].fd = vsl_sock_kfd(s);
		pf[0].events = POLLIN;
		/* A hang-up of the control socket: vsockd is gone. */
		pf[1].fd = s->p->ctl;
		pf[1].events = 0;
		tp = vsl_remaining(deadline, &ts);
		r = syscall(SYS_ppoll, pf, 2, tp, NULL, (size_t)8);
		backoff = false;
		if (r > 0 && (pf[0].revents & POLLIN))
			backoff = vsl_sock_drain(s, &seen);
		vsl_sleep_end(s, &seen);
		if (r < 0 && errno == EINTR)
			return -EINTR;
		if (r > 0 && pf[1].revents & (POLLHUP | POLLERR)) {
			s->p->dead = true;
			return 0;
		}
		if (backoff)
			vsl_sleep_backoff();
	}
}

/* ---- guarded copies ----------------------------------------------------*/

