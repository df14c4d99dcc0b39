/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sockperf's sockets and I/O loops, shared by its server and its client:
 * the address, listen and connect of --unix, --tcp and --vsock, the
 * --busy socket set-up, reads and writes that retry at once, the
 * receiver's drain (summing with --cold), the --cold buffer's mapping
 * and the sender's timed write loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/vm_sockets.h>

#include "perf_cold.h"
#include "sockperf.h"

volatile uint64_t sp_sink;

void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
	exit(1);
}

double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The address of --unix, --tcp or --vsock. */
socklen_t
sp_addr(const struct sp_opts *o, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (o->family == AF_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;

		un->sun_family = AF_UNIX;
		snprintf(un->sun_path, sizeof(un->sun_path), "%s", o->path);
		return sizeof(*un);
	}
	if (o->family == AF_VSOCK) {
		struct sockaddr_vm *vm = (struct sockaddr_vm *)ss;

		vm->svm_family = AF_VSOCK;
		vm->svm_cid = o->vsock_cid;
		vm->svm_port = o->vsock_port;
		return sizeof(*vm);
	}
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	in->sin_family = AF_INET;
	in->sin_port = htons(o->port);
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof(*in);
}

int
sp_listen(const struct sp_opts *o)
{
	struct sockaddr_storage ss;
	socklen_t len = sp_addr(o, &ss);
	int one = 1;
	int fd = socket(o->family, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	if (o->family == AF_UNIX)
		unlink(o->path);
	else
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0)
		die(o->family == AF_UNIX ? o->path : "bind 127.0.0.1");
	if (listen(fd, 4096) != 0)
		die("listen");
	return fd;
}

int
sp_connect(const struct sp_opts *o)
{
	struct sockaddr_storage ss;
	socklen_t len = sp_addr(o, &ss);
	int fd = socket(o->family, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&ss, len) != 0)
		die(o->family == AF_UNIX ? o->path : o->family == AF_VSOCK ?
			"connect (AF_VSOCK)" : "connect 127.0.0.1");
	return fd;
}

void
set_nodelay(int fd, int family)
{
	int one = 1;

	if (family == AF_INET)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* --busy: from here on, reads and writes on @fd spin instead of sleeping. */
void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
		die("fcntl O_NONBLOCK");
}

/*
 * Is the call that failed with errno worth repeating at once? EAGAIN
 * only comes from a --busy (O_NONBLOCK) socket, and retrying it without
 * poll() is what keeps that end spinning.
 */
static bool
retry(void)
{
	return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK;
}

/* Some bytes (> 0), 0 on EOF, -1 on error. */
ssize_t
read_some(int fd, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && retry());
	return n;
}

/* All of @len, or -1 on error, 0 on EOF before the end. */
ssize_t
read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read_some(fd, (char *)buf + got, len - got);

		if (n <= 0)
			return n;
		got += n;
	}
	return (ssize_t)got;
}

int
write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);

		if (n < 0 && retry())
			continue;
		if (n < 0)
			return -1;
		done += n;
	}
	return 0;
}

/* Read everything until EOF, summing it if @sum; the byte count. */
uint64_t
drain(int fd, char *buf, size_t len, bool sum)
{
	uint64_t total = 0;
	ssize_t n;

	while ((n = read_some(fd, buf, len)) > 0) {
		if (sum)
			sp_sink += perf_cold_sum(buf, n);
		total += n;
	}
	return total;
}

/*
 * Map and fill the --cold buffer, so that no page fault lands inside a
 * measurement. Huge pages where the kernel grants them: DPDK's buffers
 * are on huge pages, and the walk is to measure cache misses, not TLB
 * misses. 0, or -1 with a message.
 */
int
cold_map(struct sp_cold *c)
{
	size_t len = perf_cold_len();
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "%s: cannot map a %zu-byte --cold buffer: "
			"%s\n", prog, len, strerror(errno));
		return -1;
	}
	madvise(p, len, MADV_HUGEPAGE);	/* a hint: 4 KiB pages also do */
	memset(p, 0x5a, len);
	c->buf = p;
	c->len = len;
	return 0;
}

/*
 * Write @size-byte messages until @end; the bytes written go to @sent.
 * Hot (@cold NULL): @buf every time. Cold: consecutive slices of the
 * cold buffer, back to its start when the next would run past the end.
 * 0, or -1 on a write error.
 */
int
send_until(int fd, const char *buf, const struct sp_cold *cold,
	uint32_t size, double end, uint64_t *sent)
{
	const char *msg = buf;
	size_t off = 0;

	*sent = 0;
	while (now_s() < end) {
		if (cold != NULL) {
			msg = cold->buf + off;
			off += size;
			if (off + size > cold->len)
				off = 0;
		}
		if (write_full(fd, msg, size) != 0)
			return -1;
		*sent += size;
	}
	return 0;
}
