/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsl-calls: waiting. poll, ppoll, select, pselect and epoll on vsock
 * sockets together with a pipe: readable exactly when data arrives on
 * either; edge-triggered and one-shot epoll; EPOLLRDHUP; no spinning.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <unistd.h>

#include "vsl_calls.h"

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

struct later {
	pthread_t t;
	int fd;
	int us;
};

static void *
later_thread(void *p)
{
	struct later *l = p;

	usleep(l->us);
	if (write(l->fd, "L", 1) != 1)
		return NULL;
	return NULL;
}

/* Write one byte to fd after us microseconds, from another thread. */
static void
later(struct later *l, int fd, int us)
{
	l->fd = fd;
	l->us = us;
	pthread_create(&l->t, NULL, later_thread, l);
}

static int
t_poll_mix(char *why)
{
	int rc = -1, c = -1, s = -1, p[2] = { -1, -1 }, n;
	struct pollfd f[2];
	struct later l;
	char b[8];
	double t0, c0;
	struct timespec ts = { 0, 50000000 };
	sigset_t mask;

	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	SYS(pipe(p));
	f[0] = (struct pollfd){ .fd = s, .events = POLLIN };
	f[1] = (struct pollfd){ .fd = p[0], .events = POLLIN };
	SYS(n = poll(f, 2, 0));
	CHECK(n == 0, "poll(0) %d ready on nothing", n);
	/* Nothing arrives: the wait costs (almost) no CPU. */
	t0 = now_s();
	c0 = cpu_s();
	SYS(n = poll(f, 2, 300));
	CHECK(n == 0, "poll(300) returned %d", n);
	CHECK(now_s() - t0 >= 0.29, "poll(300) returned after %.3f s",
	      now_s() - t0);
	CHECK(cpu_s() - c0 < 0.1, "poll(300) used %.3f s of CPU (spins)",
	      cpu_s() - c0);
	SYS(write(p[1], "p", 1));
	SYS(n = poll(f, 2, 1000));
	CHECK(n == 1 && f[1].revents == POLLIN && f[0].revents == 0,
	      "pipe only: n %d revents 0x%x 0x%x", n, f[0].revents,
	      f[1].revents);
	SYS(read(p[0], b, 1));
	/* A vsock arrival while poll sleeps wakes it. */
	t0 = now_s();
	later(&l, c, 100000);
	SYS(n = poll(f, 2, 5000));
	pthread_join(l.t, NULL);
	CHECK(n == 1 && f[0].revents == POLLIN && f[1].revents == 0,
	      "vsock only: n %d revents 0x%x 0x%x", n, f[0].revents,
	      f[1].revents);
	CHECK(now_s() - t0 >= 0.09, "woke after %.3f s, before the data",
	      now_s() - t0);
	SYS(write(p[1], "p", 1));
	sigemptyset(&mask);
	SYS(n = ppoll(f, 2, &ts, &mask));
	CHECK(n == 2 && f[0].revents == POLLIN && f[1].revents == POLLIN,
	      "both: n %d revents 0x%x 0x%x", n, f[0].revents, f[1].revents);
	SYS(read(p[0], b, 1));
	SYS(read(s, b, 1));
	SYS(n = ppoll(f, 2, &ts, NULL));
	CHECK(n == 0, "ppoll %d after draining both", n);
	f[0].events = POLLOUT;
	SYS(n = poll(f, 1, 0));
	CHECK(n == 1 && f[0].revents == POLLOUT, "POLLOUT revents 0x%x",
	      f[0].revents);
	rc = 0;
out:
	closep(&c);
	closep(&s);
	closep(&p[0]);
	closep(&p[1]);
	return rc;
}

static int
t_select_mix(char *why)
{
	int rc = -1, c = -1, s = -1, p[2] = { -1, -1 }, n, mx;
	fd_set r, w;
	struct timeval tv;
	struct timespec ts;
	struct later l;
	char b[8];
	double t0, c0;

	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	SYS(pipe(p));
	CHECK(s < FD_SETSIZE && p[0] < FD_SETSIZE, "fds too high");
	mx = (s > p[0] ? s : p[0]) + 1;
#define SETS() do { FD_ZERO(&r); FD_SET(s, &r); FD_SET(p[0], &r); } while (0)
	SETS();
	tv = (struct timeval){ 0, 300000 };
	t0 = now_s();
	c0 = cpu_s();
	SYS(n = select(mx, &r, NULL, NULL, &tv));
	CHECK(n == 0, "select(0.3 s) returned %d", n);
	CHECK(now_s() - t0 >= 0.29, "select returned after %.3f s",
	      now_s() - t0);
	CHECK(cpu_s() - c0 < 0.1, "select used %.3f s of CPU (spins)",
	      cpu_s() - c0);
	SETS();
	later(&l, c, 100000);
	t0 = now_s();
	tv = (struct timeval){ 5, 0 };
	SYS(n = select(mx, &r, NULL, NULL, &tv));
	pthread_join(l.t, NULL);
	CHECK(n == 1 && FD_ISSET(s, &r) && !FD_ISSET(p[0], &r),
	      "vsock arrival: n %d", n);
	CHECK(now_s() - t0 >= 0.09, "woke after %.3f s", now_s() - t0);
	SYS(read(s, b, 1));
	SETS();
	later(&l, p[1], 100000);
	ts = (struct timespec){ 5, 0 };
	SYS(n = pselect(mx, &r, NULL, NULL, &ts, NULL));
	pthread_join(l.t, NULL);
	CHECK(n == 1 && !FD_ISSET(s, &r) && FD_ISSET(p[0], &r),
	      "pipe arrival: n %d", n);
	SYS(write(c, "v", 1));
	/*
	 * The byte crosses the stack before s is readable (so it does on
	 * Linux's loopback transport): wait for it, then ask for all three.
	 */
	{
		struct pollfd pf = { .fd = s, .events = POLLIN };

		SYS(n = poll(&pf, 1, 5000));
		CHECK(n == 1, "the byte did not arrive: poll %d", n);
	}
	SETS();
	FD_ZERO(&w);
	FD_SET(c, &w);
	ts = (struct timespec){ 5, 0 };
	SYS(n = pselect(mx > c ? mx : c + 1, &r, &w, NULL, &ts, NULL));
	CHECK(n == 3 && FD_ISSET(s, &r) && FD_ISSET(p[0], &r) &&
	      FD_ISSET(c, &w), "both readable and c writable: n %d", n);
	rc = 0;
out:
	closep(&c);
	closep(&s);
	closep(&p[0]);
	closep(&p[1]);
	return rc;
}

static int
ewait(int ep, struct epoll_event *ev, int ms)
{
	return epoll_wait(ep, ev, 4, ms);
}

static int
t_epoll_level(char *why)
{
	int rc = -1, c = -1, s = -1, p[2] = { -1, -1 }, ep = -1, n;
	struct epoll_event e, ev[4];
	struct pollfd pfd;
	struct later l;
	char b[8];
	double t0, c0;

	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	SYS(pipe(p));
	SYS(ep = epoll_create1(EPOLL_CLOEXEC));
	SYS(n = fcntl(ep, F_GETFD));
	CHECK(n == FD_CLOEXEC, "epoll fd F_GETFD 0x%x", n);
	e = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 1 };
	SYS(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	ERR(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e), EEXIST);
	e = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 2 };
	SYS(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e));
	t0 = now_s();
	c0 = cpu_s();
	SYS(n = ewait(ep, ev, 300));
	CHECK(n == 0, "epoll_wait(300) returned %d", n);
	CHECK(now_s() - t0 >= 0.29, "returned after %.3f s", now_s() - t0);
	CHECK(cpu_s() - c0 < 0.1, "epoll_wait used %.3f s of CPU (spins)",
	      cpu_s() - c0);
	later(&l, c, 100000);
	t0 = now_s();
	SYS(n = ewait(ep, ev, 5000));
	pthread_join(l.t, NULL);
	CHECK(n == 1 && ev[0].data.u64 == 1 && ev[0].events == EPOLLIN,
	      "n %d data %llu events 0x%x", n,
	      (unsigned long long)ev[0].data.u64, ev[0].events);
	CHECK(now_s() - t0 >= 0.09, "woke after %.3f s", now_s() - t0);
	/* Level-triggered: reported again while unread. */
	SYS(n = ewait(ep, ev, 100));
	CHECK(n == 1 && ev[0].data.u64 == 1, "again: n %d", n);
	SYS(read(s, b, 1));
	SYS(n = ewait(ep, ev, 100));
	CHECK(n == 0, "after reading: n %d", n);
	SYS(write(p[1], "p", 1));
	SYS(n = ewait(ep, ev, 1000));
	CHECK(n == 1 && ev[0].data.u64 == 2, "pipe: n %d data %llu", n,
	      (unsigned long long)ev[0].data.u64);
	SYS(write(c, "v", 1));
	/*
	 * The byte crosses vsockd and the device first: wait for it (a
	 * sleep was not always long enough on a loaded machine).
	 */
	pfd = (struct pollfd){ .fd = s, .events = POLLIN };
	SYS(n = poll(&pfd, 1, 5000));
	CHECK(n == 1, "the vsock byte not readable after 5 s: %d", n);
	SYS(n = ewait(ep, ev, 1000));
	CHECK(n == 2 && ev[0].data.u64 + ev[1].data.u64 == 3,
	      "both: n %d", n);
	SYS(epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL));
	ERR(epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL), ENOENT);
	SYS(read(p[0], b, 1));
	SYS(n = ewait(ep, ev, 100));
	CHECK(n == 0, "after DEL with data pending: n %d", n);
	rc = 0;
out:
	closep(&c);
	closep(&s);
	closep(&p[0]);
	closep(&p[1]);
	closep(&ep);
	return rc;
}

static int
t_epoll_edge(char *why)
{
	int rc = -1, c = -1, s = -1, ep = -1, n;
	struct epoll_event e, ev[4];

	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	SYS(ep = epoll_create(1));
	e = (struct epoll_event){ .events = EPOLLIN | EPOLLET,
		.data.u64 = 7 };
	SYS(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	SYS(n = ewait(ep, ev, 100));
	CHECK(n == 0, "nothing sent: n %d", n);
	for (int i = 0; i < 3; i++) {
		SYS(write(c, "abcdefghij", 10));
		SYS(n = ewait(ep, ev, 5000));
		CHECK(n == 1 && ev[0].data.u64 == 7 &&
		      (ev[0].events & EPOLLIN), "arrival %d: n %d", i, n);
		/* Unread, but no new arrival: not reported again. */
		SYS(n = ewait(ep, ev, 150));
		CHECK(n == 0, "arrival %d reported twice (n %d)", i, n);
	}
	rc = 0;
out:
	closep(&c);
	closep(&s);
	closep(&ep);
	return rc;
}

static int
t_epoll_oneshot(char *why)
{
	int rc = -1, c = -1, s = -1, ep = -1, n;
	struct epoll_event e, ev[4];
	sigset_t mask;

	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	SYS(ep = epoll_create1(0));
	e = (struct epoll_event){ .events = EPOLLIN | EPOLLONESHOT,
		.data.u64 = 9 };
	SYS(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	SYS(write(c, "x", 1));
	sigemptyset(&mask);
	SYS(n = epoll_pwait(ep, ev, 4, 5000, &mask));
	CHECK(n == 1 && ev[0].data.u64 == 9, "first: n %d", n);
	SYS(write(c, "y", 1));
	SYS(n = epoll_pwait(ep, ev, 4, 150, NULL));
	CHECK(n == 0, "one-shot reported again before MOD (n %d)", n);
	SYS(epoll_ctl(ep, EPOLL_CTL_MOD, s, &e));
	SYS(n = epoll_pwait(ep, ev, 4, 1000, &mask));
	CHECK(n == 1 && ev[0].data.u64 == 9, "after MOD: n %d", n);
	SYS(n = ewait(ep, ev, 150));
	CHECK(n == 0, "after MOD reported twice (n %d)", n);
	rc = 0;
out:
	closep(&c);
	closep(&s);
	closep(&ep);
	return rc;
}

static int
t_epoll_rdhup(char *why)
{
	int rc = -1, c = -1, s = -1, ep = -1, n;
	struct epoll_event e, ev[4];

	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	SYS(ep = epoll_create1(0));
	e = (struct epoll_event){ .events = EPOLLIN | EPOLLRDHUP | EPOLLOUT,
		.data.u64 = 5 };
	SYS(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	SYS(n = ewait(ep, ev, 1000));
	CHECK(n == 1 && ev[0].events == EPOLLOUT, "idle: n %d events 0x%x",
	      n, n > 0 ? ev[0].events : 0);
	SYS(shutdown(c, SHUT_WR));
	double end = now_s() + 5;
	do {
		SYS(n = ewait(ep, ev, 1000));
	} while (n == 1 && !(ev[0].events & EPOLLRDHUP) && now_s() < end);
	CHECK(n == 1 && (ev[0].events & (EPOLLRDHUP | EPOLLIN)) ==
	      (EPOLLRDHUP | EPOLLIN), "after SHUT_WR: n %d events 0x%x", n,
	      n > 0 ? ev[0].events : 0);
	CHECK(!(ev[0].events & EPOLLHUP), "EPOLLHUP on a half close");
	rc = 0;
out:
	closep(&c);
	closep(&s);
	closep(&ep);
	return rc;
}

static int
t_epoll_listener(char *why)
{
	int rc = -1, l = -1, c = -1, s = -1, ep = -1, n;
	unsigned int port;
	struct epoll_event e, ev[4];
	struct sockaddr_vm sa;

	l = listener(SOCK_STREAM, &port, why);
	KEEP(l >= 0);
	SYS(ep = epoll_create1(0));
	e = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 3 };
	SYS(epoll_ctl(ep, EPOLL_CTL_ADD, l, &e));
	SYS(n = ewait(ep, ev, 100));
	CHECK(n == 0, "idle listener: n %d", n);
	SYS(c = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0));
	vm_addr(&sa, peer_cid, port);
	ERR(connect(c, (struct sockaddr *)&sa, sizeof(sa)), EINPROGRESS);
	SYS(n = ewait(ep, ev, 5000));
	CHECK(n == 1 && ev[0].data.u64 == 3, "pending connection: n %d", n);
	SYS(s = accept(l, NULL, NULL));
	SYS(n = ewait(ep, ev, 100));
	CHECK(n == 0, "after accept: n %d", n);
	rc = 0;
out:
	closep(&l);
	closep(&c);
	closep(&s);
	closep(&ep);
	return rc;
}

void
poll_cases(void)
{
	run_case("poll ppoll vsock + pipe", t_poll_mix);
	run_case("select pselect vsock + pipe", t_select_mix);
	run_case("epoll level-triggered vsock + pipe", t_epoll_level);
	run_case("epoll EPOLLET once per arrival", t_epoll_edge);
	run_case("epoll EPOLLONESHOT until MOD, epoll_pwait",
		 t_epoll_oneshot);
	run_case("epoll EPOLLRDHUP on the peer's shutdown", t_epoll_rdhup);
	run_case("epoll on a listener", t_epoll_listener);
}
