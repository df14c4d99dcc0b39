/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsl-calls: the data path (read/write and friends, peeking, timeouts,
 * ioctls, shutdown, EPIPE, dup, SEQPACKET records, EFAULT).
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <termios.h>

#include "vsl_calls.h"

enum { API_RW, API_SEND, API_SENDTO, API_MSG, API_VEC, API_N };
static const char *const api_name[] = { "read/write", "send/recv",
	"sendto/recvfrom", "sendmsg/recvmsg", "readv/writev" };

static ssize_t
xfer(int fd, void *buf, size_t len, int api, int tx)
{
	size_t h = len / 2;
	struct iovec iov[2] = { { buf, h }, { (char *)buf + h, len - h } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };

	switch (api) {
	case API_RW:
		return tx ? write(fd, buf, len) : read(fd, buf, len);
	case API_SEND:
		return tx ? send(fd, buf, len, 0) : recv(fd, buf, len, 0);
	case API_SENDTO:
		return tx ? sendto(fd, buf, len, 0, NULL, 0) :
			recvfrom(fd, buf, len, 0, NULL, NULL);
	case API_MSG:
		return tx ? sendmsg(fd, &m, 0) : recvmsg(fd, &m, 0);
	default:
		return tx ? writev(fd, iov, 2) : readv(fd, iov, 2);
	}
}

struct sender {
	pthread_t t;
	int fd, api;
	const char *buf;
	size_t len;
	long rc;
};

static void *
sender_thread(void *p)
{
	struct sender *s = p;
	size_t off = 0;

	while (off < s->len) {
		ssize_t n = xfer(s->fd, (char *)s->buf + off, s->len - off,
				 s->api, 1);
		if (n <= 0) {
			s->rc = n < 0 ? -errno : -EIO;
			return NULL;
		}
		off += n;
	}
	s->rc = (long)off;
	return NULL;
}

struct sender *
sender_start(int fd, const void *buf, size_t len, int api)
{
	struct sender *s = calloc(1, sizeof(*s));

	s->fd = fd;
	s->buf = buf;
	s->len = len;
	s->api = api;
	pthread_create(&s->t, NULL, sender_thread, s);
	return s;
}

long
sender_join(struct sender *s)
{
	long rc;

	pthread_join(s->t, NULL);
	rc = s->rc;
	free(s);
	return rc;
}

long
recv_all(int fd, void *buf, size_t len, int api)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = xfer(fd, (char *)buf + off, len - off, api, 0);
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		off += n;
	}
	return (long)off;
}

/* Wait until FIONREAD says @want bytes are queued. */
static int
wait_inq(int fd, int want, int ms)
{
	double end = now_s() + ms / 1000.0;
	int n = -1;

	do {
		if (ioctl(fd, FIONREAD, &n) < 0)
			return -1;
		if (n >= want)
			return n;
		usleep(1000);
	} while (now_s() < end);
	return n;
}

static int
t_sizes(char *why)
{
	static const size_t sizes[] = { 1, 2, 100, 4095, 4096, 65537,
		262147, 1 << 20 };
	int rc = -1, c = -1, s = -1;
	char *out = malloc(1 << 20), *in = malloc(1 << 20);

	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	for (int api = 0; api < API_N; api++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			size_t n = sizes[i];
			int from = (i & 1) ? s : c, to = (i & 1) ? c : s;

			fill_random(out, n);
			memset(in, 0, n);
			struct sender *t = sender_start(from, out, n, api);
			long got = recv_all(to, in, n, api);
			long sent = sender_join(t);
			CHECK(sent == (long)n && got == (long)n,
			      "%s %zu B: sent %ld, received %ld",
			      api_name[api], n, sent, got);
			CHECK(!memcmp(in, out, n), "%s %zu B: data differ",
			      api_name[api], n);
		}
	}
	rc = 0;
out:
	free(out);
	free(in);
	closep(&c);
	closep(&s);
	return rc;
}

static int
t_peek_dontwait(char *why)
{
	int rc = -1, c = -1, s = -1, n;
	char out[100], in[100], pk[100];
	struct sockaddr_vm sa;

	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	ERR(recv(s, in, sizeof(in), MSG_DONTWAIT), EAGAIN);
	fill_random(out, sizeof(out));
	SYS(send(c, out, sizeof(out), 0));
	n = wait_inq(s, sizeof(out), 5000);
	CHECK(n == (int)sizeof(out), "FIONREAD %d, want %zu", n, sizeof(out));
	SYS(n = recv(s, pk, sizeof(pk), MSG_PEEK));
	CHECK(n == (int)sizeof(pk) && !memcmp(pk, out, n), "peek %d", n);
	SYS(n = recv(s, pk, 10, MSG_PEEK | MSG_DONTWAIT));
	CHECK(n == 10 && !memcmp(pk, out, n), "second peek %d", n);
	SYS(n = read(s, in, sizeof(in)));
	CHECK(n == (int)sizeof(in) && !memcmp(in, out, n), "read %d", n);
	ERR(recv(s, in, sizeof(in), MSG_DONTWAIT), EAGAIN);
	vm_addr(&sa, peer_cid, 1234);
	/* Linux's vsock_connectible_sendmsg(): EISCONN once connected. */
	ERR(sendto(c, out, 1, 0, (struct sockaddr *)&sa, sizeof(sa)),
	    EISCONN);
	/* ... and EOPNOTSUPP before: no datagrams on a stream socket. */
	closep(&s);
	SYS(s = socket(AF_VSOCK, SOCK_STREAM, 0));
	ERR(sendto(s, out, 1, 0, (struct sockaddr *)&sa, sizeof(sa)),
	    EOPNOTSUPP);
	rc = 0;
out:
	closep(&c);
	closep(&s);
	return rc;
}

struct slow {
	int fd;
	const char *buf;
};

static void *
slow_thread(void *p)
{
	struct slow *w = p;

	for (int i = 0; i < 3; i++) {
		usleep(50000);
		if (send(w->fd, w->buf + 1000 * i, 1000, 0) != 1000)
			break;
	}
	return NULL;
}

static int
t_waitall(char *why)
{
	int rc = -1, c = -1, s = -1, n;
	char out[3000], in[3000];
	struct slow w;
	pthread_t t;

	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	fill_random(out, sizeof(out));
	w.fd = c;
	w.buf = out;
	pthread_create(&t, NULL, slow_thread, &w);
	n = recv(s, in, sizeof(in), MSG_WAITALL);
	pthread_join(t, NULL);
	CHECK(n == (int)sizeof(in), "MSG_WAITALL returned %d", n);
	CHECK(!memcmp(in, out, sizeof(in)), "data differ");
	rc = 0;
out:
	closep(&c);
	closep(&s);
	return rc;
}

static int
t_rcvtimeo(char *why)
{
	int rc = -1, c = -1, s = -1;
	struct timeval tv = { 0, 200000 };
	char b[16];
	double t0, dt;

	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	SYS(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	t0 = now_s();
	ERR(recv(s, b, sizeof(b), 0), EAGAIN);
	dt = now_s() - t0;
	CHECK(dt >= 0.2 && dt < 3, "timed out after %.3f s, want 0.2", dt);
	/* Data that arrives during the wait ends it. */
	SYS(send(c, "abc", 3, 0));
	SYS(recv(s, b, sizeof(b), 0));
	rc = 0;
out:
	closep(&c);
	closep(&s);
	return rc;
}

static int
t_ioctls(char *why)
{
	int rc = -1, c = -1, s = -1, n = -1, q = -1, on;
	char out[1000], in[1000];
	double end;

	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	SYS(ioctl(s, FIONREAD, &n));
	CHECK(n == 0, "FIONREAD %d on empty", n);
	fill_random(out, sizeof(out));
	SYS(send(c, out, sizeof(out), 0));
	SYS(ioctl(c, SIOCOUTQ, &q));
	CHECK(q >= 0 && q <= (int)sizeof(out), "SIOCOUTQ %d", q);
	n = wait_inq(s, sizeof(out), 5000);
	CHECK(n == (int)sizeof(out), "FIONREAD %d, want 1000", n);
	SYS(ioctl(s, SIOCINQ, &n));
	CHECK(n == (int)sizeof(out), "SIOCINQ %d", n);
	SYS(read(s, in, 300));
	SYS(ioctl(s, FIONREAD, &n));
	CHECK(n == 700, "FIONREAD %d after reading 300", n);
	SYS(read(s, in + 300, 700));
	CHECK(!memcmp(in, out, sizeof(in)), "data differ");
	end = now_s() + 5;
	do {
		SYS(ioctl(c, SIOCOUTQ, &q));
	} while (q != 0 && now_s() < end);
	CHECK(q == 0, "SIOCOUTQ %d after the peer read it all", q);
	/* FIONBIO, then O_NONBLOCK. */
	on = 1;
	SYS(ioctl(s, FIONBIO, &on));
	ERR(recv(s, in, 1, 0), EAGAIN);
	SYS(n = fcntl(s, F_GETFL));
	CHECK(n & O_NONBLOCK, "FIONBIO not in F_GETFL 0x%x", n);
	on = 0;
	SYS(ioctl(s, FIONBIO, &on));
	SYS(n = fcntl(s, F_GETFL));
	CHECK(!(n & O_NONBLOCK), "FIONBIO 0 left F_GETFL 0x%x", n);
	SYS(fcntl(s, F_SETFL, n | O_NONBLOCK));
	ERR(read(s, in, 1), EAGAIN);
	ERR(ioctl(s, TCGETS, &n), ENOTTY);
	rc = 0;
out:
	closep(&c);
	closep(&s);
	return rc;
}

static int
t_nonblocking_send_fills(char *why)
{
	int rc = -1, c = -1, s = -1;
	long total = 0, got = 0;
	char *buf = malloc(65536), *in = malloc(65536);
	ssize_t n;

	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	SYS(fcntl(c, F_SETFL, O_NONBLOCK));
	memset(buf, 0x5a, 65536);
	/*
	 * Full for good: vsockd keeps moving what the socket holds towards
	 * the peer for a while after the first EAGAIN (as a kernel's queues
	 * drain into the device), so fill again after a pause until a send
	 * after the pause still finds no room.
	 */
	for (int pauses = 0;; pauses++) {
		long before = total;

		for (;;) {
			n = send(c, buf, 65536, 0);
			if (n < 0)
				break;
			total += n;
			CHECK(total < (64l << 20), "64 MiB sent, never EAGAIN");
		}
		CHECK(errno == EAGAIN, "send: %s, want EAGAIN",
		      strerror(errno));
		if (total == before && pauses > 0)
			break;
		CHECK(pauses < 50, "still taking data after %d pauses", pauses);
		usleep(100000);
	}
	CHECK(total >= 262144, "EAGAIN after %ld B, below the peer's "
	      "256 KiB buffer", total);
	CHECK(!(wait_fd(c, POLLOUT, 0) & POLLOUT), "POLLOUT while full");
	while (got < total) {
		n = read(s, in, 65536);
		CHECK(n > 0, "read: %zd %s after %ld of %ld", n,
		      strerror(errno), got, total);
		for (ssize_t i = 0; i < n; i++)
			CHECK(in[i] == 0x5a, "byte %ld is 0x%x", got + i,
			      in[i]);
		got += n;
	}
	CHECK(wait_fd(c, POLLOUT, 5000) & POLLOUT, "no POLLOUT after drain");
	rc = 0;
out:
	free(buf);
	free(in);
	closep(&c);
	closep(&s);
	return rc;
}

static int
t_shutdown(char *why)
{
	int rc = -1, c = -1, s = -1, n, ev, before;
	char out[5000], in[5000];

	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	fill_random(out, sizeof(out));
	SYS(send(c, out, sizeof(out), 0));
	SYS(shutdown(c, SHUT_WR));
	CHECK(recv_all(s, in, sizeof(in), 0) == (long)sizeof(in),
	      "data before the shutdown lost");
	CHECK(!memcmp(in, out, sizeof(in)), "data differ");
	SYS(n = read(s, in, sizeof(in)));
	CHECK(n == 0, "read %d after the peer's SHUT_WR, want EOF", n);
	ev = wait_fd(s, POLLIN | POLLRDHUP, 1000);
	CHECK((ev & (POLLIN | POLLRDHUP)) == (POLLIN | POLLRDHUP),
	      "revents 0x%x", ev);
	/* Half closed: the other way still works. */
	SYS(send(s, "back", 4, 0));
	SYS(n = recv(c, in, sizeof(in), 0));
	CHECK(n == 4 && !memcmp(in, "back", 4), "half-close reply %d", n);
	/* Writing after SHUT_WR: EPIPE and SIGPIPE, none with NOSIGNAL. */
	before = sigpipes;
	ERR(write(c, "x", 1), EPIPE);
	CHECK(sigpipes == before + 1, "%d SIGPIPE, want 1",
	      sigpipes - before);
	ERR(send(c, "x", 1, MSG_NOSIGNAL), EPIPE);
	CHECK(sigpipes == before + 1, "SIGPIPE despite MSG_NOSIGNAL");
	ERR(shutdown(c, 7), EINVAL);
	rc = 0;
out:
	closep(&c);
	closep(&s);
	return rc;
}

static int
t_peer_close(char *why)
{
	int rc = -1, c = -1, s = -1, n, ev, before;
	char out[3000], in[3000];

	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	fill_random(out, sizeof(out));
	SYS(send(c, out, sizeof(out), 0));
	closep(&c);
	CHECK(recv_all(s, in, sizeof(in), 0) == (long)sizeof(in),
	      "data sent before close lost");
	CHECK(!memcmp(in, out, sizeof(in)), "data differ");
	SYS(n = recv(s, in, sizeof(in), 0));
	CHECK(n == 0, "recv %d after the peer closed, want EOF", n);
	ev = wait_fd(s, POLLIN | POLLRDHUP, 1000);
	CHECK((ev & (POLLIN | POLLRDHUP)) == (POLLIN | POLLRDHUP),
	      "revents 0x%x", ev);
	before = sigpipes;
	ERR(send(s, "x", 1, MSG_NOSIGNAL), EPIPE);
	CHECK(sigpipes == before, "SIGPIPE despite MSG_NOSIGNAL");
	rc = 0;
out:
	closep(&c);
	closep(&s);
	return rc;
}

static int
t_dup(char *why)
{
	int rc = -1, c = -1, s = -1, d = -1, c2 = -1, s2 = -1, n, fl;
	char in[16];

	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	SYS(d = dup(c));
	closep(&c);
	SYS(send(d, "dup1", 4, 0));
	CHECK(recv_all(s, in, 4, 0) == 4 && !memcmp(in, "dup1", 4),
	      "data through the dup lost");
	ERR(recv(s, in, 1, MSG_DONTWAIT), EAGAIN);	/* no EOF */
	SYS(send(s, "back", 4, 0));
	CHECK(recv_all(d, in, 4, 0) == 4 && !memcmp(in, "back", 4),
	      "reply to the dup lost");
	/* dup2 onto a fixed number, dup3 with O_CLOEXEC. */
	SYS(c = dup2(d, 200));
	CHECK(c == 200, "dup2 returned %d", c);
	SYS(n = dup3(d, 201, O_CLOEXEC));
	CHECK(n == 201, "dup3 returned %d", n);
	SYS(fl = fcntl(201, F_GETFD));
	CHECK(fl == FD_CLOEXEC, "dup3 F_GETFD 0x%x", fl);
	SYS(fl = fcntl(200, F_GETFD));
	CHECK(fl == 0, "dup2 F_GETFD 0x%x", fl);
	SYS(send(201, "d3", 2, 0));
	close(201);
	SYS(fl = fcntl(d, F_DUPFD_CLOEXEC, 300));
	CHECK(fl >= 300, "F_DUPFD_CLOEXEC gave %d", fl);
	SYS(n = fcntl(fl, F_GETFD));
	CHECK(n == FD_CLOEXEC, "F_DUPFD_CLOEXEC F_GETFD 0x%x", n);
	close(fl);
	closep(&d);
	SYS(send(200, "d2", 2, 0));
	CHECK(recv_all(s, in, 4, 0) == 4 && !memcmp(in, "d3d2", 4),
	      "data through dup3/dup2 lost");
	/* dup2 over another connection's last fd closes that one. */
	KEEP(pair(SOCK_STREAM, &c2, &s2, why) == 0);
	SYS(dup2(c, c2));
	SYS(n = recv(s2, in, 1, 0));
	CHECK(n == 0, "recv %d on the replaced fd's peer, want EOF", n);
	SYS(send(c2, "ov", 2, 0));
	CHECK(recv_all(s, in, 2, 0) == 2 && !memcmp(in, "ov", 2),
	      "data through the dup2 target lost");
	closep(&c);
	closep(&c2);
	SYS(n = recv(s, in, 1, 0));
	CHECK(n == 0, "recv %d after every fd closed, want EOF", n);
	rc = 0;
out:
	closep(&c);
	closep(&s);
	closep(&d);
	closep(&c2);
	closep(&s2);
	return rc;
}

static int
seq_send(int fd, const char *buf, size_t len, int i)
{
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	switch (i % 3) {
	case 0:
		return send(fd, buf, len, MSG_EOR) == (ssize_t)len ? 0 : -1;
	case 1:
		return sendmsg(fd, &m, 0) == (ssize_t)len ? 0 : -1;
	default:
		return write(fd, buf, len) == (ssize_t)len ? 0 : -1;
	}
}

static const size_t seq_sizes[] = { 1, 2, 7, 100, 1000, 4096, 65536,
	200000, 3, 131072 };
#define NSEQ (sizeof(seq_sizes) / sizeof(seq_sizes[0]))

struct seq_arg {
	int fd;
	char *buf;
	int rc;
};

static void *
seq_thread(void *p)
{
	struct seq_arg *a = p;
	size_t off = 0;

	a->rc = 0;
	for (size_t i = 0; i < NSEQ; i++) {
		if (seq_send(a->fd, a->buf + off, seq_sizes[i], i) < 0) {
			a->rc = -errno;
			return NULL;
		}
		off += seq_sizes[i];
	}
	return NULL;
}

static int
t_seqpacket(char *why)
{
	int rc = -1, c = -1, s = -1;
	size_t total = 0, off = 0;
	char *out, *in = malloc(1 << 20);
	struct seq_arg a;
	pthread_t t;

	for (size_t i = 0; i < NSEQ; i++)
		total += seq_sizes[i];
	out = malloc(total);
	fill_random(out, total);
	KEEP(pair(SOCK_SEQPACKET, &c, &s, why) == 0);
	a.fd = c;
	a.buf = out;
	pthread_create(&t, NULL, seq_thread, &a);
	for (size_t i = 0; i < NSEQ; i++) {
		struct iovec iov = { in, 1 << 20 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(s, &m, 0);

		if (n != (ssize_t)seq_sizes[i]) {
			pthread_join(t, NULL);
			FAIL("message %zu: %zd B (%s), want %zu", i, n,
			     n < 0 ? strerror(errno) : "", seq_sizes[i]);
		}
		CHECK(!memcmp(in, out + off, n), "message %zu differs", i);
		/* As Linux: MSG_EOR exactly where the sender passed it. */
		CHECK(!!(m.msg_flags & MSG_EOR) == (i % 3 == 0), "message %zu:"
		      " MSG_EOR %s (flags 0x%x)", i, i % 3 == 0 ? "missing" :
		      "not sent but reported", m.msg_flags);
		CHECK(!(m.msg_flags & MSG_TRUNC), "message %zu: MSG_TRUNC", i);
		off += n;
	}
	pthread_join(t, NULL);
	CHECK(a.rc == 0, "sender: %s", strerror(-a.rc));
	rc = 0;
out:
	free(out);
	free(in);
	closep(&c);
	closep(&s);
	return rc;
}

static int
t_seqpacket_trunc(char *why)
{
	int rc = -1, c = -1, s = -1;
	char out[100], in[100];
	struct iovec iov = { in, 10 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;
	char *big = malloc(1 << 20);

	KEEP(pair(SOCK_SEQPACKET, &c, &s, why) == 0);
	fill_random(out, sizeof(out));
	SYS(send(c, out, sizeof(out), 0));
	memset(in, 0, sizeof(in));
	SYS(n = recv(s, in, 10, MSG_TRUNC));
	CHECK(n == 100, "recv(10, MSG_TRUNC) returned %zd, want 100", n);
	CHECK(!memcmp(in, out, 10) && in[10] == 0, "truncated part differs");
	SYS(send(c, out, sizeof(out), 0));
	SYS(n = recvmsg(s, &m, 0));
	CHECK(n == 10, "recvmsg(10) returned %zd", n);
	CHECK(m.msg_flags & MSG_TRUNC, "no MSG_TRUNC in 0x%x", m.msg_flags);
	CHECK(!memcmp(in, out, 10), "truncated part differs");
	/* The rest of the message is gone: the next one is whole. */
	SYS(send(c, "next", 4, 0));
	SYS(n = recv(s, in, sizeof(in), 0));
	CHECK(n == 4 && !memcmp(in, "next", 4), "next message %zd B", n);
	/* A message over the peer's buffer. */
	ERR(send(c, big, 1 << 20, 0), EMSGSIZE);
	rc = 0;
out:
	free(big);
	closep(&c);
	closep(&s);
	return rc;
}

static int
t_efault(char *why)
{
	int rc = -1, c = -1, s = -1, n;
	char out[100], in[100];
	void *bad = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iovec iov;

	CHECK(bad != MAP_FAILED, "mmap: %s", strerror(errno));
	munmap(bad, 4096);
	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	fill_random(out, sizeof(out));
	SYS(send(c, out, sizeof(out), 0));
	n = wait_inq(s, sizeof(out), 5000);
	CHECK(n == (int)sizeof(out), "FIONREAD %d", n);
	ERR(recv(s, bad, sizeof(out), 0), EFAULT);
	iov.iov_base = bad;
	iov.iov_len = sizeof(out);
	ERR(readv(s, &iov, 1), EFAULT);
	SYS(n = recv(s, in, sizeof(in), 0));
	CHECK(n == (int)sizeof(in) && !memcmp(in, out, n),
	      "after EFAULT: %d B, data %s", n,
	      memcmp(in, out, sizeof(in)) ? "differ" : "intact");
	ERR(write(c, bad, 100), EFAULT);
	ERR(send(c, bad, 100, 0), EFAULT);
	ERR(getsockname(c, bad, &(socklen_t){ 16 }), EFAULT);
	ERR(recv(s, in, 1, MSG_DONTWAIT), EAGAIN);	/* nothing sent */
	rc = 0;
out:
	closep(&c);
	closep(&s);
	return rc;
}

struct blocked {
	int fd;
	volatile int done;
	char buf[16];
	ssize_t n;
};

static void *
blocked_thread(void *p)
{
	struct blocked *b = p;

	b->n = recv(b->fd, b->buf, sizeof(b->buf), 0);
	b->done = 1;
	return NULL;
}

static int
t_blocked_recv_while_sending(char *why)
{
	int rc = -1, c = -1, s = -1;
	struct blocked b = { .fd = -1 };
	pthread_t t;
	int started = 0;
	char *out = malloc(1 << 20), *in = malloc(1 << 20);

	KEEP(pair(SOCK_STREAM, &c, &s, why) == 0);
	b.fd = c;
	pthread_create(&t, NULL, blocked_thread, &b);
	started = 1;
	usleep(100000);
	CHECK(!b.done, "recv returned %zd with nothing sent", b.n);
	fill_random(out, 1 << 20);
	struct sender *snd = sender_start(c, out, 1 << 20, API_SEND);
	long got = recv_all(s, in, 1 << 20, API_RW);
	long sent = sender_join(snd);
	CHECK(sent == 1 << 20 && got == 1 << 20,
	      "sent %ld, received %ld while another thread sat in recv",
	      sent, got);
	CHECK(!memcmp(in, out, 1 << 20), "data differ");
	CHECK(!b.done, "the blocked recv returned %zd early", b.n);
	SYS(send(s, "done", 4, 0));
	pthread_join(t, NULL);
	started = 0;
	CHECK(b.n == 4 && !memcmp(b.buf, "done", 4), "blocked recv got %zd",
	      b.n);
	rc = 0;
out:
	if (started) {
		send(s, "done", 4, MSG_NOSIGNAL);
		pthread_join(t, NULL);
	}
	free(out);
	free(in);
	closep(&c);
	closep(&s);
	return rc;
}

void
io_cases(void)
{
	run_case("send/recv 1 B..1 MiB random, every call pair", t_sizes);
	run_case("MSG_PEEK MSG_DONTWAIT sendto EISCONN", t_peek_dontwait);
	run_case("MSG_WAITALL collects", t_waitall);
	run_case("SO_RCVTIMEO EAGAIN after the timeout", t_rcvtimeo);
	run_case("FIONREAD SIOCINQ SIOCOUTQ FIONBIO O_NONBLOCK", t_ioctls);
	run_case("non-blocking send fills the peer's buffer, EAGAIN",
		 t_nonblocking_send_fills);
	run_case("shutdown SHUT_WR EOF, EPIPE SIGPIPE MSG_NOSIGNAL",
		 t_shutdown);
	run_case("peer close: data, EOF, EPIPE", t_peer_close);
	run_case("dup dup2 dup3 F_DUPFD_CLOEXEC", t_dup);
	run_case("SEQPACKET boundaries MSG_EOR", t_seqpacket);
	run_case("SEQPACKET MSG_TRUNC EMSGSIZE", t_seqpacket_trunc);
	run_case("EFAULT recv/readv/write/send, data kept", t_efault);
	run_case("recv blocked in one thread, send in another",
		 t_blocked_recv_while_sending);
}
