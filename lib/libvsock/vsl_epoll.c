/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * epoll over vsock sockets and kernel fds (see vsl_poll.c's comment).
 *
 * A tracked set: the caller's epfd, an inner epoll fd (EPOLL_CLOEXEC)
 * holding each vsock member's eventfd (data: the member's index), added
 * to the caller's epfd with a random cookie as data. Members are answered
 * from shared memory: level-triggered whenever ready; EPOLLET only when
 * the socket changed (vsl_sock_seq) since last reported; EPOLLONESHOT
 * disabled after one report until EPOLL_CTL_MOD.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "libvsock.h"
#include "vsl_priv.h"

#define VSL_EP_FLAGS (EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | \
		EPOLLWAKEUP)

struct ep_member {
	int fd;			/* -1: a free entry */
	struct vsl_sock *s;	/* a reference */
	uint32_t events;
	epoll_data_t data;
	uint32_t seq;		/* EPOLLET: vsl_sock_seq last reported */
	bool reported;
	bool disabled;		/* EPOLLONESHOT fired */
};

struct ep_set {
	int epfd;
	int inner;
	uint64_t cookie;
	pthread_mutex_t lock;
	struct ep_member *m;
	int n;			/* entries used, free ones included */
	int cap;
	int rr;			/* where the next report starts */
	struct ep_set *next;
};

static struct ep_set *ep_sets;
static pthread_mutex_t ep_lock = PTHREAD_MUTEX_INITIALIZER;
static int ep_nsets;

static struct ep_set *
ep_find(int epfd)
{
	struct ep_set *e;

	if (__atomic_load_n(&ep_nsets, __ATOMIC_RELAXED) == 0)
		return NULL;
	pthread_mutex_lock(&ep_lock);
	for (e = ep_sets; e != NULL; e = e->next)
		if (e->epfd == epfd)
			break;
	pthread_mutex_unlock(&ep_lock);
	return e;
}

VSL_API bool
vsl_is_epoll(int epfd)
{
	return ep_find(epfd) != NULL;
}

static struct ep_set *
ep_create(int epfd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct ep_set *e = calloc(1, sizeof(*e));

	if (e == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	e->epfd = epfd;
	e->inner = (int)syscall(SYS_epoll_create1, EPOLL_CLOEXEC);
	if (e->inner < 0) {
		free(e);
		return NULL;
	}
	/* Any 64 bits: a caller's own data colliding is 2^-64 likely. */
	if (syscall(SYS_getrandom, &e->cookie, sizeof(e->cookie), 0) !=
	    sizeof(e->cookie))
		e->cookie = (uint64_t)vsl_now_ns() * 0x9e3779b97f4a7c15ull;
	ev.data.u64 = e->cookie;
	if (syscall(SYS_epoll_ctl, epfd, EPOLL_CTL_ADD, e->inner, &ev) < 0) {
		int err = errno;

		vsl_sys_close(e->inner);
		free(e);
		errno = err;
		return NULL;
	}
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_lock(&ep_lock);
	e->next = ep_sets;
	ep_sets = e;
	ep_nsets++;
	pthread_mutex_unlock(&ep_lock);
	return e;
}

static int
member_find(struct ep_set *e, int fd)
{
	int i;

	for (i = 0; i < e->n; i++)
		if (e->m[i].fd == fd)
			return i;
	return -1;
}

static void
member_drop(struct ep_set *e, int i)
{
	(void)syscall(SYS_epoll_ctl, e->inner, EPOLL_CTL_DEL, e->m[i].fd,
			NULL);
	vsl_sock_put(e->m[i].s);
	e->m[i].s = NULL;
	e->m[i].fd = -1;
}

VSL_API int
vsl_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct epoll_event uev = { 0 }, kev = { .events = EPOLLIN };
	struct ep_set *e;
	struct vsl_sock *s;
	int i, err = 0;

	s = vsl_sock_get(fd);
	if (s == NULL)
		return (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
	if (vsl_stale(s))
		return vsl_fail(s, EBADFD);
	if (op != EPOLL_CTL_DEL &&
	    (ev == NULL || vsl_copy(&uev, ev, sizeof(uev)) < 0))
		return vsl_fail(s, EFAULT);
	if (epfd == fd)
		return vsl_fail(s, EINVAL);
	e = ep_find(epfd);
	if (e == NULL) {
		if (op != EPOLL_CTL_ADD) {
			/* Not a set we track: ENOENT, or the kernel's word
			 * on a bad epfd. */
			err = syscall(SYS_fcntl, epfd, F_GETFD) < 0 ? EBADF :
				ENOENT;
			return vsl_fail(s, err);
		}
		e = ep_create(epfd);
		if (e == NULL)
			return vsl_fail(s, errno == EBADF ? EBADF : EINVAL);
	}
	pthread_mutex_lock(&e->lock);
	i = member_find(e, fd);
	switch (op) {
	case EPOLL_CTL_ADD:
		if (i >= 0) {
			err = EEXIST;
			break;
		}
		i = member_find(e, -1);
		if (i < 0) {
			if (e->n == e->cap) {
				int cap = e->cap ? e->cap * 2 : 8;
				void *m = realloc(e->m, cap * sizeof(*e->m));

				if (m == NULL) {
					err = ENOMEM;
					break;
				}
				e->m = m;
				e->cap = cap;
			}
			i = e->n++;
		}
		kev.data.u64 = (uint64_t)i;
		if (syscall(SYS_epoll_ctl, e->inner, EPOLL_CTL_ADD, fd,
				&kev) < 0) {
			err = errno;
			e->m[i].fd = -1;
			e->m[i].s = NULL;
			break;
		}
		e->m[i] = (struct ep_member){
			.fd = fd, .s = s, .events = uev.events,
			.data = uev.data,
		};
		s = NULL;	/* the member keeps the reference */
		break;
	case EPOLL_CTL_MOD:
		if (i < 0) {
			err = ENOENT;
			break;
		}
		e->m[i].events = uev.events;
		e->m[i].data = uev.data;
		e->m[i].disabled = false;
		e->m[i].reported = false;
		break;
	case EPOLL_CTL_DEL:
		if (i < 0) {
			err = ENOENT;
			break;
		}
		member_drop(e, i);
		break;
	default:
		err = EINVAL;
	}
	if (err == 0 && op != EPOLL_CTL_DEL) {
		/* A thread asleep in epoll_wait re-checks the new member. */
		struct vsl_sock *ms = e->m[i].s;

		vsl_wake_local(ms);
	}
	pthread_mutex_unlock(&e->lock);
	vsl_sock_put(s);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

/* Ready vsock members into @p evs (at most @p max). Under e->lock. */
static int
ep_collect(struct ep_set *e, struct epoll_event *evs, int max)
{
	int k, n = 0;

	for (k = 0; k < e->n && n < max; k++) {
		int i = (e->rr + k) % e->n;
		struct ep_member *m = &e->m[i];
		uint32_t ready, seq;

		if (m->fd < 0 || m->disabled)
			continue;
		ready = (uint32_t)(unsigned short)vsl_sock_revents(m->s);
		if (ready & POLLNVAL)
			continue;
		ready &= (m->events & ~VSL_EP_FLAGS) | EPOLLERR | EPOLLHUP;
		if (ready == 0)
			continue;
		if (m->events & EPOLLET) {
			seq = vsl_sock_seq(m->s);
			if (m->reported && seq == m->seq)
				continue;
			m->seq = seq;
			m->reported = true;
		}
		if (m->events & EPOLLONESHOT)
			m->disabled = true;
		evs[n].events = ready;
		evs[n].data = m->data;
		n++;
	}
	if (e->n > 0)
		e->rr = (e->rr + 1) % e->n;
	return n;
}

/*
 * This call's sleeps: the members it counted itself a sleeper on (with a
 * reference: epoll_ctl may drop them meanwhile) and its generations.
 */
struct ep_sleep {
	int i;			/* member index */
	struct vsl_sock *s;
	uint32_t seen;
};

#define VSL_EP_STACK 64

/*
 * The inner set fired: drain the eventfds it names that we sleep on. One
 * we are not counted on is left readable for the next round, counted:
 * draining it would take a wake-up another of our threads sleeps for.
 * True when an eventfd holds a wake-up for other sleepers only.
 */
static bool
ep_drain(struct ep_set *e, struct ep_sleep *sl, int nsl)
{
	struct epoll_event kev[64];
	bool backoff = false;
	long r;
	int j, x;

	r = syscall(SYS_epoll_pwait, e->inner, kev, 64, 0, NULL,
			(size_t)8);
	for (j = 0; j < r; j++) {
		uint64_t i = kev[j].data.u64;

		if (i >= (uint64_t)e->n || e->m[i].fd < 0)
			continue;
		for (x = 0; x < nsl; x++)
			if (sl[x].i == (int)i && sl[x].s == e->m[i].s)
				break;
		if (x < nsl && vsl_sock_drain(sl[x].s, &sl[x].seen))
			backoff = true;
	}
	return backoff;
}

/*
 * Kernel events minus our cookie (drained when @p sl says we sleep on
 * the members, else only dropped).
 */
static int
ep_filter(struct ep_set *e, struct epoll_event *evs, int n,
		struct ep_sleep *sl, int nsl, bool *backoff)
{
	int i, k = 0;

	for (i = 0; i < n; i++) {
		if (evs[i].data.u64 == e->cookie) {
			if (sl != NULL && ep_drain(e, sl, nsl))
				*backoff = true;
			continue;
		}
		evs[k++] = evs[i];
	}
	return k;
}

/* Count this call as a sleeper on every enabled member. Under e->lock. */
static int
ep_sleep_begin(struct ep_set *e, struct ep_sleep **slp,
		struct ep_sleep *stack)
{
	struct ep_sleep *sl = stack;
	int i, n = 0;

	if (e->n > VSL_EP_STACK) {
		sl = malloc((size_t)e->n * sizeof(*sl));
		if (sl == NULL)
			return -1;
	}
	for (i = 0; i < e->n; i++) {
		struct vsl_sock *s = e->m[i].s;

		if (e->m[i].fd < 0 || e->m[i].disabled)
			continue;
		vsl_sock_ref(s);
		sl[n].i = i;
		sl[n].s = s;
		vsl_sleep_begin(s, &sl[n].seen);
		vsl_sock_arm(s);
		n++;
	}
	*slp = sl;
	return n;
}

static void
ep_sleep_end(struct ep_sleep *sl, int n, struct ep_sleep *stack)
{
	int x;

	for (x = 0; x < n; x++) {
		vsl_sleep_end(sl[x].s, &sl[x].seen);
		vsl_sock_put(sl[x].s);
	}
	if (sl != stack)
		free(sl);
}

/*
 * The kernel fds ready now, without sleeping, into @p evs (room for
 * @p max). Our cookie may take one of the kernel's entries: ask for one
 * more, or a ready kernel fd waits for the next call while we return
 * fewer than it and the vsock members (selectors lost a pipe so).
 */
static int
ep_kernel_now(struct ep_set *e, struct epoll_event *evs, int max)
{
	struct epoll_event stack[VSL_EP_STACK + 1], *t = stack;
	bool backoff = false;
	long r;
	int n;

	if (max > VSL_EP_STACK) {
		t = malloc(((size_t)max + 1) * sizeof(*t));
		if (t == NULL)
			return -1;
	}
	r = syscall(SYS_epoll_pwait, e->epfd, t, max + 1, 0, NULL,
			(size_t)8);
	if (r < 0) {
		n = -1;
		goto out;
	}
	n = ep_filter(e, t, (int)r, NULL, 0, &backoff);
	if (n > max)
		n = max;
	memcpy(evs, t, (size_t)n * sizeof(*t));
out:
	if (t != stack)
		free(t);
	return n;
}

VSL_API int
vsl_epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout_ms,
		const sigset_t *sigmask)
{
	struct ep_set *e = ep_find(epfd);
	struct ep_sleep slstack[VSL_EP_STACK], *sl;
	int64_t deadline;
	bool backoff;
	int n, k, nsl;
	long r;

	if (e == NULL)
		return (int)syscall(SYS_epoll_pwait, epfd, evs, max,
				timeout_ms, sigmask, (size_t)8);
	if (max <= 0) {
		errno = EINVAL;
		return -1;
	}
	deadline = timeout_ms < 0 ? -1 : timeout_ms == 0 ? 0 :
		vsl_now_ns() + (int64_t)timeout_ms * 1000000;
	for (;;) {
		pthread_mutex_lock(&e->lock);
		n = ep_collect(e, evs, max);
		pthread_mutex_unlock(&e->lock);
		if (n < max) {
			pthread_mutex_lock(&e->lock);
			k = ep_kernel_now(e, evs + n, max - n);
			pthread_mutex_unlock(&e->lock);
			if (k < 0)
				return n > 0 ? n : -1;
			n += k;
		}
		if (n > 0 || deadline == 0)
			return n;
		if (deadline > 0 && vsl_now_ns() >= deadline)
			return 0;
		if (vsl_busy_poll()) {
			vsl_relax();
			continue;
		}
		pthread_mutex_lock(&e->lock);
		nsl = ep_sleep_begin(e, &sl, slstack);
		if (nsl < 0) {
			pthread_mutex_unlock(&e->lock);
			errno = ENOMEM;
			return -1;
		}
		n = ep_collect(e, evs, max);
		pthread_mutex_unlock(&e->lock);
		if (n > 0) {
			ep_sleep_end(sl, nsl, slstack);
			return n;
		}
		k = deadline < 0 ? -1 :
			(int)((deadline - vsl_now_ns() + 999999) / 1000000);
		if (k < -1)
			k = 0;
		r = syscall(SYS_epoll_pwait, epfd, evs, max, k, sigmask,
				(size_t)8);
		if (r < 0) {
			ep_sleep_end(sl, nsl, slstack);
			return -1;
		}
		/* Drained before we stop counting as sleepers. */
		backoff = false;
		pthread_mutex_lock(&e->lock);
		n = ep_filter(e, evs, (int)r, sl, nsl, &backoff);
		pthread_mutex_unlock(&e->lock);
		ep_sleep_end(sl, nsl, slstack);
		pthread_mutex_lock(&e->lock);
		if (n < max)
			n += ep_collect(e, evs + n, max - n);
		pthread_mutex_unlock(&e->lock);
		if (n > 0)
			return n;
		if (backoff)
			vsl_sleep_backoff();
	}
}

VSL_API int
vsl_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout_ms)
{
	return vsl_epoll_pwait(epfd, evs, max, timeout_ms, NULL);
}

void
vsl_poll_fd_closed(int fd, struct vsl_sock *s)
{
	struct ep_set *e, **pp;
	int i;

	if (__atomic_load_n(&ep_nsets, __ATOMIC_RELAXED) == 0)
		return;
	pthread_mutex_lock(&ep_lock);
	for (pp = &ep_sets; (e = *pp) != NULL;) {
		if (e->epfd == fd) {
			/* The caller's set goes: so does our tracking. */
			*pp = e->next;
			ep_nsets--;
			for (i = 0; i < e->n; i++)
				if (e->m[i].fd >= 0)
					vsl_sock_put(e->m[i].s);
			vsl_sys_close(e->inner);
			pthread_mutex_destroy(&e->lock);
			free(e->m);
			free(e);
			continue;
		}
		/* The kernel drops a closed fd from an epoll set (when its
		 * file goes); so do we, for this fd number. */
		pthread_mutex_lock(&e->lock);
		for (i = 0; i < e->n; i++)
			if (e->m[i].fd == fd ||
			    (s != NULL && e->m[i].s == s && e->m[i].fd == fd))
				member_drop(e, i);
		pthread_mutex_unlock(&e->lock);
		pp = &e->next;
	}
	pthread_mutex_unlock(&ep_lock);
}
