/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sockperf's client: it sends the request (or the vsock-perf hello for
 * --vsock), runs the stream, reverse or pingpong test or the connrate
 * loop against the server, and prints the result as one JSON object on
 * one line: rates for the streams and connrate, round-trip percentiles
 * from recorded samples for pingpong.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "perf_cold.h"
#include "sockperf.h"

#define SP_MAX_SAMPLES (32u << 20)
/* Ping-pong round trips left out at the start (warm-up). */
#define SP_WARMUP 1000

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

const char *
family_name(int family)
{
	return family == AF_UNIX ? "unix" : family == AF_VSOCK ? "vsock" :
		"tcp";
}

static const char *
mode_name(enum sp_mode m)
{
	return m == SP_STREAM ? "stream" : m == SP_REVERSE ? "reverse" :
		m == SP_PINGPONG ? "pingpong" : "connrate";
}

static const char *
json_bool(bool b)
{
	return b ? "true" : "false";
}

/* buffer_bytes: the cold buffer's size (the sender's), 0 when hot. */
static void
print_rate(const struct sp_opts *o, uint64_t bytes, double secs)
{
	uint64_t msgs = bytes / o->size;

	printf("{\"tool\":\"sockperf\",\"family\":\"%s\",\"mode\":\"%s\","
		"\"size\":%u,\"seconds\":%.6f,\"bytes\":%" PRIu64 ","
		"\"msgs\":%" PRIu64 ",\"bits_per_second\":%.1f,"
		"\"msgs_per_second\":%.1f,\"gbps\":%.4f,\"mpps\":%.6f,"
		"\"busy\":%s,\"cold\":%s,\"buffer_bytes\":%zu}\n",
		family_name(o->family), mode_name(o->mode), o->size, secs,
		bytes, msgs, bytes * 8.0 / secs, msgs / secs,
		bytes * 8.0 / secs / 1e9, msgs / secs / 1e6,
		json_bool(o->busy), json_bool(o->cold),
		o->cold ? perf_cold_len() : (size_t)0);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples, in microseconds. */
static double
pct_us(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * n);

	if (i >= n)
		i = n - 1;
	return v[i] / 1000.0;
}

static int
client_pingpong(const struct sp_opts *o, int fd, char *buf)
{
	size_t cap = SP_MAX_SAMPLES, n = 0, i;
	uint64_t *s = malloc(cap * sizeof(*s));
	uint64_t t0, t1, sum = 0, rounds = 0;
	double start, end;

	if (s == NULL)
		die("malloc");
	set_nodelay(fd, o->family);
	start = now_s();
	end = start + o->seconds;
	while (n < cap) {
		t0 = now_ns();
		if (write_full(fd, buf, o->size) != 0)
			die("write");
		if (read_full(fd, buf, o->size) != (ssize_t)o->size) {
			fprintf(stderr, "%s: server closed mid round trip\n",
				prog);
			return 1;
		}
		t1 = now_ns();
		if (++rounds > SP_WARMUP)
			s[n++] = t1 - t0;
		if ((rounds & 63) == 0 && t1 / 1e9 >= end)
			break;
	}
	if (n == 0) {
		fprintf(stderr, "%s: no round trips after the warm-up\n",
			prog);
		return 1;
	}
	qsort(s, n, sizeof(*s), cmp_u64);
	for (i = 0; i < n; i++)
		sum += s[i];
	printf("{\"tool\":\"sockperf\",\"family\":\"%s\",\"mode\":"
		"\"pingpong\",\"size\":%u,\"seconds\":%.6f,"
		"\"samples\":%zu,\"min_us\":%.3f,\"p50_us\":%.3f,"
		"\"p90_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,"
		"\"max_us\":%.3f,\"mean_us\":%.3f,\"busy\":%s}\n",
		family_name(o->family), o->size, now_s() - start, n,
		s[0] / 1000.0, pct_us(s, n, 50), pct_us(s, n, 90),
		pct_us(s, n, 99), pct_us(s, n, 99.9), s[n - 1] / 1000.0,
		sum / 1000.0 / n, json_bool(o->busy));
	free(s);
	return 0;
}

/* The vsock-perf hello for @mode (VPERF_*), little-endian. */
static void
vperf_hello(uint8_t out[VPERF_HELLO_LEN], unsigned int mode, uint32_t size)
{
	uint32_t w[4] = { VPERF_MAGIC, VPERF_VERSION | mode << 8, size, 0 };
	unsigned int i;

	for (i = 0; i < VPERF_HELLO_LEN; i++)
		out[i] = (uint8_t)(w[i / 4] >> (8 * (i % 4)));
}

static uint64_t
le64_read(const uint8_t b[8])
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

/* sockperf's own request for the test @o describes. */
static struct sp_req
sp_request(const struct sp_opts *o)
{
	struct sp_req req = { SP_MAGIC, o->mode, o->size,
		(uint32_t)(o->seconds * 1000 + 0.5) };

	if (o->busy)
		req.mode |= SP_FLAG_BUSY;
	if (o->cold)
		req.mode |= SP_FLAG_COLD;
	return req;
}

/* The request (or vsock-perf hello) that starts a test on @fd. */
static void
send_request(const struct sp_opts *o, int fd)
{
	struct sp_req req = sp_request(o);
	uint8_t hello[VPERF_HELLO_LEN];

	if (o->family != AF_VSOCK) {
		if (write_full(fd, &req, sizeof(req)) != 0)
			die("write request");
		return;
	}
	vperf_hello(hello, o->mode == SP_PINGPONG ? VPERF_ECHO : VPERF_SINK,
		o->size);
	if (write_full(fd, hello, sizeof(hello)) != 0)
		die("write hello");
}

int
run_client(const struct sp_opts *o)
{
	struct sp_cold cold = { NULL, 0 };
	char *buf = malloc(io_len(o->size));
	uint64_t total = 0, sent = 0;
	uint8_t count[8];
	double start;
	ssize_t n;
	int fd, ret = 0;

	if (buf == NULL)
		die("malloc");
	memset(buf, 0xa5, io_len(o->size));
	/* In reverse mode the cold buffer is the server's. */
	if (o->cold && o->mode == SP_STREAM && cold_map(&cold) != 0) {
		free(buf);
		return 1;
	}
	fd = sp_connect(o);
	send_request(o, fd);
	if (o->busy)
		set_nonblock(fd);
	start = now_s();
	switch (o->mode) {
	case SP_STREAM:
		if (send_until(fd, buf, o->cold ? &cold : NULL, o->size,
				start + o->seconds, &sent) != 0)
			die("write");
		if (shutdown(fd, SHUT_WR) != 0)
			die("shutdown");
		if (read_full(fd, count, sizeof(count)) !=
				(ssize_t)sizeof(count)) {
			fprintf(stderr, "%s: no byte count from the server\n",
				prog);
			ret = 1;
			break;
		}
		/* vsock-perf answers little-endian, our server natively. */
		if (o->family == AF_VSOCK)
			total = le64_read(count);
		else
			memcpy(&total, count, sizeof(total));
		if (total != sent) {
			fprintf(stderr, "%s: the server counted %" PRIu64
				" bytes, %" PRIu64 " were sent\n", prog, total,
				sent);
			ret = 1;
			break;
		}
		print_rate(o, total, now_s() - start);
		break;
	case SP_REVERSE:
		/*
		 * A cold server may first have to map its buffer: the clock
		 * starts at the first bytes, which are left out of the count.
		 */
		if (o->cold) {
			n = read_some(fd, buf, io_len(o->size));
			if (n > 0)
				sp_sink += perf_cold_sum(buf, n);
			start = now_s();
		}
		total = drain(fd, buf, io_len(o->size), o->cold);
		print_rate(o, total, now_s() - start);
		break;
	case SP_PINGPONG:
		ret = client_pingpong(o, fd, buf);
		break;
	case SP_CONNRATE:
		break;	/* main() runs client_connrate() instead */
	}
	if (ret == 0 && total == 0 && o->mode != SP_PINGPONG) {
		fprintf(stderr, "%s: no bytes moved\n", prog);
		ret = 1;
	}
	close(fd);
	if (cold.buf != NULL)
		munmap(cold.buf, cold.len);
	free(buf);
	return ret;
}

/*
 * --client --mode connrate: connection after connection to the server,
 * each carrying the request and ending with the server's close.
 */
int
client_connrate(const struct sp_opts *o)
{
	struct linger lg = { 1, 0 };
	struct sp_req req = sp_request(o);
	uint64_t conns = 0;
	double start, end, t;
	ssize_t n;
	char c;
	int fd;

	start = now_s();
	end = start + o->seconds;
	do {
		fd = sp_connect(o);
		if (o->family == AF_INET)
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (write_full(fd, &req, sizeof(req)) != 0)
			die("write request");
		/* TCP: the server's close is a reset (its SO_LINGER 0). */
		n = read_some(fd, &c, 1);
		if (n < 0 && errno != ECONNRESET)
			die("read (waiting for the server's close)");
		if (n > 0) {
			fprintf(stderr, "%s: the server sent data on a "
				"connrate connection\n", prog);
			return 1;
		}
		close(fd);
		conns++;
		t = now_s();
	} while (t < end);
	printf("{\"tool\":\"sockperf\",\"family\":\"%s\",\"mode\":"
		"\"connrate\",\"conns\":%" PRIu64 ",\"seconds\":%.6f,"
		"\"per_second\":%.1f}\n", family_name(o->family), conns,
		t - start, conns / (t - start));
	return 0;
}
