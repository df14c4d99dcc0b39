/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsl-calls: the harness, shared helpers and the socket-level cases
 * (socket, bind, listen, connect, accept, addresses, options).
 *
 * Usage: vsl-calls [--peer CID] [--local-cid CID] [--only SUBSTRING]
 * Connections go to --peer (default 1, VMADDR_CID_LOCAL: the program is
 * its own peer); --local-cid is vsockd's CID, what
 * IOCTL_VM_SOCKETS_GET_LOCAL_CID must answer (default 3, the loopback
 * device's). It refuses to run unless seccomp is active (vsock-guard),
 * so that it never reaches the kernel's AF_VSOCK.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "vsl_calls.h"

unsigned int peer_cid = VMADDR_CID_LOCAL;
unsigned int local_cid = 3;
volatile int sigpipes;

static int ncase, nfail;
static const char *only;
static const char *cur_name;

static void
on_alarm(int sig)
{
	char line[256];
	int n;

	(void)sig;
	n = snprintf(line, sizeof(line), "not ok %d - %s: timed out\n",
		     ncase, cur_name);
	if (write(1, line, n) < 0)
		_exit(3);
	_exit(1);
}

void
run_case(const char *name, case_fn fn)
{
	char why[WHY] = "";
	int rc;

	if (only && !strstr(name, only))
		return;
	ncase++;
	cur_name = name;
	alarm(60);
	rc = fn(why);
	alarm(0);
	if (rc == 0) {
		printf("ok %d - %s\n", ncase, name);
	} else {
		nfail++;
		printf("not ok %d - %s: %s\n", ncase, name,
		       why[0] ? why : "failed");
	}
	fflush(stdout);
}

void
closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int
vsock_socket(int type)
{
	return socket(AF_VSOCK, type, 0);
}

void
vm_addr(struct sockaddr_vm *a, unsigned int cid, unsigned int port)
{
	memset(a, 0, sizeof(*a));
	a->svm_family = AF_VSOCK;
	a->svm_cid = cid;
	a->svm_port = port;
}

int
listener(int type, unsigned int *port, char *why)
{
	struct sockaddr_vm a;
	socklen_t len = sizeof(a);
	int l = vsock_socket(type);

	if (l < 0) {
		snprintf(why, WHY, "socket: %s", strerror(errno));
		return -1;
	}
	vm_addr(&a, VMADDR_CID_ANY, VMADDR_PORT_ANY);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(l, 16) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0) {
		snprintf(why, WHY, "bind/listen/getsockname: %s",
			 strerror(errno));
		close(l);
		return -1;
	}
	*port = a.svm_port;
	return l;
}

struct conn_arg {
	int fd;
	unsigned int port;
	int rc, err;
};

static void *
connect_thread(void *p)
{
	struct conn_arg *c = p;
	struct sockaddr_vm a;

	vm_addr(&a, peer_cid, c->port);
	c->rc = connect(c->fd, (struct sockaddr *)&a, sizeof(a));
	c->err = errno;
	return NULL;
}

int
pair(int type, int *cp, int *sp, char *why)
{
	struct conn_arg c = { .fd = -1 };
	pthread_t t;
	int l, s;

	*cp = *sp = -1;
	l = listener(type, &c.port, why);
	if (l < 0)
		return -1;
	c.fd = vsock_socket(type);
	if (c.fd < 0) {
		snprintf(why, WHY, "socket: %s", strerror(errno));
		close(l);
		return -1;
	}
	pthread_create(&t, NULL, connect_thread, &c);
	s = accept(l, NULL, NULL);
	int aerr = errno;
	pthread_join(t, NULL);
	close(l);
	if (c.rc < 0 || s < 0) {
		snprintf(why, WHY, "connect: %s, accept: %s",
			 c.rc < 0 ? strerror(c.err) : "ok",
			 s < 0 ? strerror(aerr) : "ok");
		close(c.fd);
		if (s >= 0)
			close(s);
		return -1;
	}
	*cp = c.fd;
	*sp = s;
	return 0;
}

void
fill_random(void *buf, size_t len)
{
	static uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
}

int
wait_fd(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };

	if (poll(&p, 1, ms) <= 0)
		return 0;
	return p.revents;
}

double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- cases ---------------------------------------------------------- */

static int
getint(int fd, int level, int opt, int *v)
{
	socklen_t len = sizeof(*v);

	return getsockopt(fd, level, opt, v, &len);
}

static int
t_socket_stream(char *why)
{
	int rc = -1, fd = -1, v;

	SYS(fd = vsock_socket(SOCK_STREAM));
	SYS(getint(fd, SOL_SOCKET, SO_TYPE, &v));
	CHECK(v == SOCK_STREAM, "SO_TYPE %d", v);
	SYS(getint(fd, SOL_SOCKET, SO_DOMAIN, &v));
	CHECK(v == AF_VSOCK, "SO_DOMAIN %d", v);
	SYS(getint(fd, SOL_SOCKET, SO_PROTOCOL, &v));
	CHECK(v == 0, "SO_PROTOCOL %d", v);
	SYS(getint(fd, SOL_SOCKET, SO_ERROR, &v));
	CHECK(v == 0, "SO_ERROR %d", v);
	closep(&fd);
	SYS(fd = vsock_socket(SOCK_SEQPACKET));
	SYS(getint(fd, SOL_SOCKET, SO_TYPE, &v));
	CHECK(v == SOCK_SEQPACKET, "SO_TYPE %d", v);
	rc = 0;
out:
	closep(&fd);
	return rc;
}

static int
t_socket_bad_types(char *why)
{
	int rc = -1;

	ERR(socket(AF_VSOCK, SOCK_DGRAM, 0), ENODEV);
	ERR(socket(AF_VSOCK, SOCK_RAW, 0), ESOCKTNOSUPPORT);
	ERR(socket(AF_VSOCK, SOCK_STREAM, 1), EPROTONOSUPPORT);
	rc = 0;
out:
	return rc;
}

static int
t_socket_flags(char *why)
{
	int rc = -1, fd = -1, fl;

	SYS(fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK |
			SOCK_CLOEXEC, 0));
	SYS(fl = fcntl(fd, F_GETFL));
	CHECK(fl & O_NONBLOCK, "F_GETFL 0x%x lacks O_NONBLOCK", fl);
	SYS(fl = fcntl(fd, F_GETFD));
	CHECK(fl & FD_CLOEXEC, "F_GETFD 0x%x lacks FD_CLOEXEC", fl);
	closep(&fd);
	SYS(fd = vsock_socket(SOCK_STREAM));
	SYS(fl = fcntl(fd, F_GETFL));
	CHECK(!(fl & O_NONBLOCK), "F_GETFL 0x%x has O_NONBLOCK", fl);
	SYS(fl = fcntl(fd, F_GETFD));
	CHECK(!(fl & FD_CLOEXEC), "F_GETFD 0x%x has FD_CLOEXEC", fl);
	SYS(fcntl(fd, F_SETFD, FD_CLOEXEC));
	SYS(fl = fcntl(fd, F_GETFD));
	CHECK(fl == FD_CLOEXEC, "F_GETFD after set 0x%x", fl);
	SYS(fcntl(fd, F_SETFD, 0));
	SYS(fl = fcntl(fd, F_GETFD));
	CHECK(fl == 0, "F_GETFD after clear 0x%x", fl);
	rc = 0;
out:
	closep(&fd);
	return rc;
}

static int
t_bind(char *why)
{
	int rc = -1, a = -1, b = -1;
	struct sockaddr_vm sa, got;
	socklen_t len = sizeof(got);

	SYS(a = vsock_socket(SOCK_STREAM));
	vm_addr(&sa, 12345, 5000);
	ERR(bind(a, (struct sockaddr *)&sa, sizeof(sa)), EADDRNOTAVAIL);
	vm_addr(&sa, VMADDR_CID_ANY, VMADDR_PORT_ANY);
	ERR(bind(a, (struct sockaddr *)&sa, sizeof(sa) - 1), EINVAL);
	sa.svm_family = AF_INET;
	ERR(bind(a, (struct sockaddr *)&sa, sizeof(sa)), EINVAL);
	sa.svm_family = AF_VSOCK;
	SYS(bind(a, (struct sockaddr *)&sa, sizeof(sa)));
	SYS(getsockname(a, (struct sockaddr *)&got, &len));
	CHECK(len == sizeof(got), "getsockname len %u", len);
	CHECK(got.svm_family == AF_VSOCK, "family %u", got.svm_family);
	CHECK(got.svm_cid == VMADDR_CID_ANY, "cid %u", got.svm_cid);
	CHECK(got.svm_port > 1023 && got.svm_port != VMADDR_PORT_ANY,
	      "ephemeral port %u", got.svm_port);
	ERR(bind(a, (struct sockaddr *)&sa, sizeof(sa)), EINVAL);
	SYS(b = vsock_socket(SOCK_STREAM));
	vm_addr(&sa, VMADDR_CID_ANY, got.svm_port);
	ERR(bind(b, (struct sockaddr *)&sa, sizeof(sa)), EADDRINUSE);
	/* An explicit port, then the local CID by number. */
	vm_addr(&sa, local_cid, got.svm_port + 1);
	SYS(bind(b, (struct sockaddr *)&sa, sizeof(sa)));
	len = sizeof(got);
	SYS(getsockname(b, (struct sockaddr *)&got, &len));
	CHECK(got.svm_cid == local_cid && got.svm_port == sa.svm_port,
	      "bound %u:%u, want %u:%u", got.svm_cid, got.svm_port,
	      local_cid, sa.svm_port);
	rc = 0;
out:
	closep(&a);
	closep(&b);
	return rc;
}

static int
t_listen_accept_errors(char *why)
{
	int rc = -1, a = -1, l = -1;
	unsigned int port;
	struct sockaddr_vm sa;

	SYS(a = vsock_socket(SOCK_STREAM));
	ERR(listen(a, 5), EINVAL);
	ERR(accept(a, NULL, NULL), EINVAL);
	l = listener(SOCK_STREAM, &port, why);
	KEEP(l >= 0);
	SYS(fcntl(l, F_SETFL, O_NONBLOCK));
	ERR(accept(l, NULL, NULL), EAGAIN);
	ERR(accept4(l, NULL, NULL, SOCK_NONBLOCK), EAGAIN);
	ERR(recv(l, &sa, 1, 0), ENOTCONN);
	ERR(send(l, "x", 1, MSG_NOSIGNAL), ENOTCONN);
	vm_addr(&sa, peer_cid, port);
	ERR(connect(l, (struct sockaddr *)&sa, sizeof(sa)), EINVAL);
	ERR(getpeername(a, (struct sockaddr *)&sa,
			&(socklen_t){ sizeof(sa) }), ENOTCONN);
	ERR(recv(a, &sa, 1, 0), ENOTCONN);
	rc = 0;
out:
	closep(&a);
	closep(&l);
	return rc;
}

static int
free_port(unsigned int *port, char *why)
{
	int l = listener(SOCK_STREAM, port, why);

	if (l < 0)
		return -1;
	close(l);
	return 0;
}

static int
t_connect_refused(char *why)
{
	int rc = -1, a = -1, v;
	unsigned int port;
	struct sockaddr_vm sa;

	KEEP(free_port(&port, why) == 0);
	SYS(a = vsock_socket(SOCK_STREAM));
	vm_addr(&sa, peer_cid, port);
	ERR(connect(a, (struct sockaddr *)&sa, sizeof(sa)), ECONNRESET);
	closep(&a);
	/* Non-blocking: the reset arrives in SO_ERROR, read once. */
	SYS(a = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0));
	ERR(connect(a, (struct sockaddr *)&sa, sizeof(sa)), EINPROGRESS);
	v = wait_fd(a, POLLOUT, 5000);
	CHECK(v & (POLLERR | POLLHUP), "revents 0x%x", v);
	SYS(getint(a, SOL_SOCKET, SO_ERROR, &v));
	CHECK(v == ECONNRESET, "SO_ERROR %d (%s)", v, strerror(v));
	SYS(getint(a, SOL_SOCKET, SO_ERROR, &v));
	CHECK(v == 0, "second SO_ERROR %d", v);
	closep(&a);
	/* SEQPACKET too. */
	SYS(a = vsock_socket(SOCK_SEQPACKET));
	ERR(connect(a, (struct sockaddr *)&sa, sizeof(sa)), ECONNRESET);
	rc = 0;
out:
	closep(&a);
	return rc;
}

static int
t_connect_nonblocking(char *why)
{
	int rc = -1, a = -1, l = -1, s = -1, v;
	unsigned int port;
	struct sockaddr_vm sa;
	socklen_t len = sizeof(sa);

	l = listener(SOCK_STREAM, &port, why);
	KEEP(l >= 0);
	SYS(a = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0));
	vm_addr(&sa, peer_cid, port);
	ERR(connect(a, (struct sockaddr *)&sa, sizeof(sa)), EINPROGRESS);
	v = wait_fd(a, POLLOUT, 5000);
	CHECK(v & POLLOUT, "revents 0x%x, want POLLOUT", v);
	CHECK(!(v & (POLLERR | POLLHUP)), "revents 0x%x", v);
	SYS(getint(a, SOL_SOCKET, SO_ERROR, &v));
	CHECK(v == 0, "SO_ERROR %d", v);
	SYS(getpeername(a, (struct sockaddr *)&sa, &len));
	CHECK(sa.svm_cid == peer_cid && sa.svm_port == port,
	      "peer %u:%u", sa.svm_cid, sa.svm_port);
	ERR(connect(a, (struct sockaddr *)&sa, sizeof(sa)), EISCONN);
	v = wait_fd(l, POLLIN, 5000);
	CHECK(v & POLLIN, "listener revents 0x%x", v);
	SYS(s = accept(l, NULL, NULL));
	rc = 0;
out:
	closep(&a);
	closep(&l);
	closep(&s);
	return rc;
}

struct tv_old {
	long sec, usec;
};
struct tv_new {
	long long sec, usec;
};

static int
t_connect_timeout_opt(char *why)
{
	int rc = -1, a = -1;
	struct tv_old o = { 3, 500000 }, og;
	struct tv_new n, ng;
	socklen_t len;

	SYS(a = vsock_socket(SOCK_STREAM));
	len = sizeof(ng);
	SYS(getsockopt(a, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW, &ng,
		       &len));
	CHECK(len == sizeof(ng) && ng.sec == 2 && ng.usec == 0,
	      "default %lld.%06lld (len %u), want 2 s", ng.sec, ng.usec, len);
	SYS(setsockopt(a, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD, &o,
		       sizeof(o)));
	len = sizeof(ng);
	SYS(getsockopt(a, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW, &ng,
		       &len));
	CHECK(ng.sec == 3 && ng.usec == 500000, "new form %lld.%06lld",
	      ng.sec, ng.usec);
	n.sec = 7;
	n.usec = 200000;
	SYS(setsockopt(a, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW, &n,
		       sizeof(n)));
	len = sizeof(og);
	SYS(getsockopt(a, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD, &og,
		       &len));
	CHECK(len == sizeof(og) && og.sec == 7 && og.usec == 200000,
	      "old form %ld.%06ld", og.sec, og.usec);
	o.usec = 1000000;
	ERR(setsockopt(a, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD, &o,
		       sizeof(o)), ERANGE);
	rc = 0;
out:
	closep(&a);
	return rc;
}

static int
t_addresses(char *why)
{
	int rc = -1, c = -1, s = -1;
	struct sockaddr_vm cl, cp, sl, sp;
	socklen_t len;

	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	len = sizeof(cl);
	SYS(getsockname(c, (struct sockaddr *)&cl, &len));
	len = sizeof(cp);
	SYS(getpeername(c, (struct sockaddr *)&cp, &len));
	CHECK(len == sizeof(cp), "getpeername len %u", len);
	len = sizeof(sl);
	SYS(getsockname(s, (struct sockaddr *)&sl, &len));
	len = sizeof(sp);
	SYS(getpeername(s, (struct sockaddr *)&sp, &len));
	CHECK(cl.svm_family == AF_VSOCK && sp.svm_family == AF_VSOCK,
	      "families %u %u", cl.svm_family, sp.svm_family);
	CHECK(cp.svm_cid == peer_cid, "client's peer CID %u", cp.svm_cid);
	CHECK(sp.svm_port == cl.svm_port,
	      "accepted peer port %u != connecting local port %u",
	      sp.svm_port, cl.svm_port);
	CHECK(sl.svm_port == cp.svm_port,
	      "accepted local port %u != connected-to port %u",
	      sl.svm_port, cp.svm_port);
	CHECK(sp.svm_cid == peer_cid, "accepted peer CID %u, want %u",
	      sp.svm_cid, peer_cid);
	CHECK(sl.svm_cid == peer_cid, "accepted local CID %u, want %u",
	      sl.svm_cid, peer_cid);
	CHECK(cl.svm_port > 1023 && cl.svm_port != VMADDR_PORT_ANY,
	      "auto-bound port %u", cl.svm_port);
	/* A short buffer gets the truncated address and the full length. */
	len = 4;
	memset(&sp, 0xee, sizeof(sp));
	SYS(getpeername(s, (struct sockaddr *)&sp, &len));
	CHECK(len == sizeof(sp), "short getpeername len %u", len);
	CHECK(((unsigned char *)&sp)[4] == 0xee, "wrote past the length");
	rc = 0;
out:
	closep(&c);
	closep(&s);
	return rc;
}

static int
getu64(int fd, int opt, unsigned long long *v)
{
	socklen_t len = sizeof(*v);

	return getsockopt(fd, AF_VSOCK, opt, v, &len);
}

static int
setu64(int fd, int opt, unsigned long long v)
{
	return setsockopt(fd, AF_VSOCK, opt, &v, sizeof(v));
}

static int
t_buffer_size(char *why)
{
	int rc = -1, a = -1;
	unsigned long long v;
	unsigned int small = 1;

	SYS(a = vsock_socket(SOCK_STREAM));
	SYS(getu64(a, SO_VM_SOCKETS_BUFFER_SIZE, &v));
	CHECK(v == 262144, "default size %llu", v);
	SYS(getu64(a, SO_VM_SOCKETS_BUFFER_MIN_SIZE, &v));
	CHECK(v == 128, "default min %llu", v);
	SYS(getu64(a, SO_VM_SOCKETS_BUFFER_MAX_SIZE, &v));
	CHECK(v == 262144, "default max %llu", v);
	SYS(setu64(a, SO_VM_SOCKETS_BUFFER_SIZE, 1 << 20));
	SYS(getu64(a, SO_VM_SOCKETS_BUFFER_SIZE, &v));
	CHECK(v == 262144, "1 MiB over max 256 KiB gave %llu", v);
	SYS(setu64(a, SO_VM_SOCKETS_BUFFER_MAX_SIZE, 2 << 20));
	SYS(setu64(a, SO_VM_SOCKETS_BUFFER_SIZE, 1 << 20));
	SYS(getu64(a, SO_VM_SOCKETS_BUFFER_SIZE, &v));
	CHECK(v == 1 << 20, "size %llu, want 1 MiB", v);
	SYS(setu64(a, SO_VM_SOCKETS_BUFFER_MAX_SIZE, 65536));
	SYS(getu64(a, SO_VM_SOCKETS_BUFFER_SIZE, &v));
	CHECK(v == 65536, "lowering max left size %llu", v);
	SYS(setu64(a, SO_VM_SOCKETS_BUFFER_MIN_SIZE, 4096));
	SYS(setu64(a, SO_VM_SOCKETS_BUFFER_SIZE, 100));
	SYS(getu64(a, SO_VM_SOCKETS_BUFFER_SIZE, &v));
	CHECK(v == 4096, "100 under min 4096 gave %llu", v);
	ERR(setsockopt(a, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &small,
		       sizeof(small)), EINVAL);
	ERR(setsockopt(a, AF_VSOCK, 999, &v, sizeof(v)), ENOPROTOOPT);
	rc = 0;
out:
	closep(&a);
	return rc;
}

static int
t_sol_socket_opts(char *why)
{
	int rc = -1, a = -1, v;
	struct linger lg = { 1, 5 };
	socklen_t len;
	struct timeval tv = { 1, 500000 };

	SYS(a = vsock_socket(SOCK_STREAM));
	SYS(setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	memset(&lg, 0, sizeof(lg));
	len = sizeof(lg);
	SYS(getsockopt(a, SOL_SOCKET, SO_LINGER, &lg, &len));
	CHECK(lg.l_onoff == 1 && lg.l_linger == 5, "SO_LINGER %d,%d",
	      lg.l_onoff, lg.l_linger);
	v = 1;
	SYS(setsockopt(a, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)));
	SYS(getint(a, SOL_SOCKET, SO_KEEPALIVE, &v));
	CHECK(v == 1, "SO_KEEPALIVE %d", v);
	SYS(setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	memset(&tv, 0, sizeof(tv));
	len = sizeof(tv);
	SYS(getsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, &len));
	CHECK(tv.tv_sec == 1 && tv.tv_usec == 500000, "SO_RCVTIMEO %ld.%06ld",
	      (long)tv.tv_sec, (long)tv.tv_usec);
	SYS(getint(a, SOL_SOCKET, SO_ACCEPTCONN, &v));
	CHECK(v == 0, "SO_ACCEPTCONN %d on a plain socket", v);
	rc = 0;
out:
	closep(&a);
	return rc;
}

static int
t_accept4_flags(char *why)
{
	int rc = -1, l = -1, c = -1, s = -1, fl, v;
	unsigned int port;
	struct sockaddr_vm sa, peer, cl;
	socklen_t len = sizeof(peer);

	l = listener(SOCK_STREAM, &port, why);
	KEEP(l >= 0);
	SYS(getint(l, SOL_SOCKET, SO_ACCEPTCONN, &v));
	CHECK(v == 1, "listener SO_ACCEPTCONN %d", v);
	SYS(c = vsock_socket(SOCK_STREAM));
	vm_addr(&sa, peer_cid, port);
	/* Linux completes a connect to a listener before accept(). */
	SYS(connect(c, (struct sockaddr *)&sa, sizeof(sa)));
	SYS(s = accept4(l, (struct sockaddr *)&peer, &len,
			SOCK_NONBLOCK | SOCK_CLOEXEC));
	SYS(fl = fcntl(s, F_GETFL));
	CHECK(fl & O_NONBLOCK, "accept4 F_GETFL 0x%x", fl);
	SYS(fl = fcntl(s, F_GETFD));
	CHECK(fl & FD_CLOEXEC, "accept4 F_GETFD 0x%x", fl);
	len = sizeof(cl);
	SYS(getsockname(c, (struct sockaddr *)&cl, &len));
	CHECK(peer.svm_port == cl.svm_port && peer.svm_cid == cl.svm_cid,
	      "accept4 address %u:%u, connector %u:%u", peer.svm_cid,
	      peer.svm_port, cl.svm_cid, cl.svm_port);
	closep(&s);
	closep(&c);
	SYS(c = vsock_socket(SOCK_STREAM));
	SYS(connect(c, (struct sockaddr *)&sa, sizeof(sa)));
	SYS(s = accept(l, NULL, NULL));
	SYS(fl = fcntl(s, F_GETFL));
	CHECK(!(fl & O_NONBLOCK), "accept F_GETFL 0x%x", fl);
	SYS(fl = fcntl(s, F_GETFD));
	CHECK(!(fl & FD_CLOEXEC), "accept F_GETFD 0x%x", fl);
	ERR(accept4(l, NULL, NULL, 0x1234), EINVAL);
	rc = 0;
out:
	closep(&l);
	closep(&c);
	closep(&s);
	return rc;
}

static int
t_local_cid_ioctl(char *why)
{
	int rc = -1, fd = -1, c = -1, s = -1, l = -1;
	unsigned int cid = 0xdeadbeef, port;
	struct stat st;
	struct sockaddr_vm sa;
	socklen_t len = sizeof(sa);

	/* Under vsock-guard /dev/vsock is /dev/null (1:3); never open a
	 * real one. */
	SYS(stat("/dev/vsock", &st));
	CHECK(S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 &&
	      minor(st.st_rdev) == 3,
	      "/dev/vsock is not /dev/null: not under vsock-guard");
	SYS(fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC));
	SYS(ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid));
	CHECK(cid == local_cid, "ioctl says CID %u, vsockd has %u", cid,
	      local_cid);
	/* A connection to that CID is accepted with that local CID. */
	l = listener(SOCK_STREAM, &port, why);
	KEEP(l >= 0);
	SYS(c = vsock_socket(SOCK_STREAM));
	vm_addr(&sa, cid, port);
	SYS(connect(c, (struct sockaddr *)&sa, sizeof(sa)));
	SYS(s = accept(l, NULL, NULL));
	SYS(getsockname(s, (struct sockaddr *)&sa, &len));
	CHECK(sa.svm_cid == cid && sa.svm_port == port,
	      "accepted local %u:%u, want %u:%u", sa.svm_cid, sa.svm_port,
	      cid, port);
	rc = 0;
out:
	closep(&fd);
	closep(&c);
	closep(&s);
	closep(&l);
	return rc;
}

void
basic_cases(void)
{
	run_case("socket SO_TYPE SO_DOMAIN SO_PROTOCOL", t_socket_stream);
	run_case("socket DGRAM ENODEV, RAW, protocol", t_socket_bad_types);
	run_case("socket flags, fcntl FD_CLOEXEC round trip", t_socket_flags);
	run_case("bind EADDRNOTAVAIL EINVAL EADDRINUSE ephemeral", t_bind);
	run_case("listen/accept/recv/connect on wrong states",
		 t_listen_accept_errors);
	run_case("connect to nobody ECONNRESET (blocking, SO_ERROR)",
		 t_connect_refused);
	run_case("non-blocking connect EINPROGRESS POLLOUT SO_ERROR 0",
		 t_connect_nonblocking);
	run_case("connect timeout old/new forms", t_connect_timeout_opt);
	run_case("getsockname getpeername", t_addresses);
	run_case("SO_VM_SOCKETS_BUFFER_SIZE MIN MAX clamping",
		 t_buffer_size);
	run_case("SO_LINGER SO_KEEPALIVE SO_RCVTIMEO", t_sol_socket_opts);
	run_case("accept4 SOCK_NONBLOCK SOCK_CLOEXEC", t_accept4_flags);
	run_case("IOCTL_VM_SOCKETS_GET_LOCAL_CID on /dev/vsock",
		 t_local_cid_ioctl);
}

static int
under_seccomp(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	int on = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Seccomp:", 8))
			on = atoi(line + 8) == 2;
	fclose(f);
	return on;
}

static void
on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

int
main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sigpipe };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--peer") && i + 1 < argc)
			peer_cid = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--local-cid") && i + 1 < argc)
			local_cid = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--peer CID] "
				"[--local-cid CID] [--only SUBSTRING]\n",
				argv[0]);
			return 2;
		}
	}
	if (!under_seccomp()) {
		fprintf(stderr, "%s: not under vsock-guard (no seccomp "
			"filter): refusing to reach the kernel's AF_VSOCK\n",
			argv[0]);
		return 2;
	}
	sigaction(SIGPIPE, &sa, NULL);
	signal(SIGALRM, on_alarm);
	basic_cases();
	io_cases();
	poll_cases();
	printf("1..%d\n", ncase);
	if (ncase == 0)
		return 1;
	return nfail ? 1 : 0;
}
