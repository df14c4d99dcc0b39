/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sockperf: the kernel-socket peer of the benchmark suite. AF_UNIX and TCP
 * loopback, stream throughput both ways, ping-pong round trips from
 * recorded samples, and connection set-up and tear-down rate. One JSON
 * object on one line at the end of each client run.
 *
 *   sockperf --server (--unix PATH | --tcp PORT) [--once]
 *   sockperf --client (--unix PATH | --tcp PORT) [--mode MODE]
 *            [--size BYTES] [--time SECONDS]
 *   sockperf --conn-rate (--unix PATH | --tcp PORT) [--time SECONDS]
 *
 * A client opens one connection and sends a 16-byte request: mode,
 * message size, duration. stream: the client writes messages for the
 * duration, then shuts down its side; the server reads every byte and
 * answers with the count it read; the client's clock runs until that
 * answer. reverse: the server writes, the client reads every byte until
 * the server closes. pingpong: one message each way at a time, each round
 * trip timed. --conn-rate needs no server: one process on one core
 * listens, connects, accepts and closes both ends (TCP with SO_LINGER 0,
 * so no TIME_WAIT is left behind), as fast as it can.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define SP_MAGIC 0x73707266u	/* "sprf" */
#define SP_MAX_SIZE (16u << 20)
#define SP_MAX_SECONDS 3600.0
#define SP_MAX_SAMPLES (32u << 20)
#define SP_IO_BUF (256u << 10)
/* Ping-pong round trips left out at the start (warm-up). */
#define SP_WARMUP 1000

/* Reads take up to this much at once, at least one message. */
#define io_len(size) ((size) > SP_IO_BUF ? (size) : SP_IO_BUF)

enum sp_mode { SP_STREAM = 1, SP_REVERSE, SP_PINGPONG };

struct sp_req {
	uint32_t magic;
	uint32_t mode;
	uint32_t size;
	uint32_t ms;
};

struct sp_opts {
	enum { ROLE_NONE, ROLE_SERVER, ROLE_CLIENT, ROLE_CONNRATE } role;
	int family;		/* AF_UNIX or AF_INET */
	const char *path;
	uint16_t port;
	enum sp_mode mode;
	uint32_t size;
	double seconds;
	bool once;
};

static const char *prog = "sockperf";

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: %s --server (--unix PATH | --tcp PORT) [--once]\n"
		"       %s --client (--unix PATH | --tcp PORT) [--mode MODE]\n"
		"                [--size BYTES] [--time SECONDS]\n"
		"       %s --conn-rate (--unix PATH | --tcp PORT) "
		"[--time SECONDS]\n"
		"\n"
		"AF_UNIX and TCP loopback (127.0.0.1) peer for the benchmarks.\n"
		"  --server         serve clients one after the other\n"
		"  --once           (server) exit after one client\n"
		"  --client         run one test against a server\n"
		"  --conn-rate      connect, accept and close in one process\n"
		"  --unix PATH      AF_UNIX stream socket at PATH\n"
		"  --tcp PORT       TCP on 127.0.0.1:PORT\n"
		"  --mode MODE      stream (client sends, default), reverse\n"
		"                   (server sends) or pingpong (round trips)\n"
		"  --size BYTES     message size, 1..%u (default 64)\n"
		"  --time SECONDS   duration, > 0 (default 2)\n"
		"  --help           this text\n"
		"A client prints one JSON object on one line.\n",
		prog, prog, prog, SP_MAX_SIZE);
}

static void __attribute__((noreturn))
bad_option(const char *fmt, const char *val)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, val);
	fprintf(stderr, " (see --help)\n");
	exit(2);
}

static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
	exit(1);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static uint32_t
parse_u32(const char *s, const char *what, uint32_t min, uint32_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (s[0] == '-' || s[0] == '\0')
		bad_option(what, s);
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		bad_option(what, s);
	return (uint32_t)v;
}

static void
parse_args(int argc, char **argv, struct sp_opts *o)
{
	static const struct option longopts[] = {
		{ "server", no_argument, NULL, 's' },
		{ "client", no_argument, NULL, 'c' },
		{ "conn-rate", no_argument, NULL, 'C' },
		{ "once", no_argument, NULL, '1' },
		{ "unix", required_argument, NULL, 'u' },
		{ "tcp", required_argument, NULL, 'T' },
		{ "mode", required_argument, NULL, 'm' },
		{ "size", required_argument, NULL, 'l' },
		{ "time", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	o->mode = SP_STREAM;
	o->size = 64;
	o->seconds = 2.0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "scu:T:m:l:t:h", longopts,
			NULL)) != -1) {
		switch (c) {
		case 's':
			o->role = ROLE_SERVER;
			break;
		case 'c':
			o->role = ROLE_CLIENT;
			break;
		case 'C':
			o->role = ROLE_CONNRATE;
			break;
		case '1':
			o->once = true;
			break;
		case 'u':
			if (strlen(optarg) == 0 || strlen(optarg) >=
					sizeof(((struct sockaddr_un *)0)->sun_path))
				bad_option("bad --unix path '%s' (empty or "
					"longer than 107 bytes)", optarg);
			o->family = AF_UNIX;
			o->path = optarg;
			break;
		case 'T':
			o->family = AF_INET;
			o->port = (uint16_t)parse_u32(optarg,
				"bad --tcp port '%s' (1..65535)", 1, 65535);
			break;
		case 'm':
			if (strcmp(optarg, "stream") == 0)
				o->mode = SP_STREAM;
			else if (strcmp(optarg, "reverse") == 0)
				o->mode = SP_REVERSE;
			else if (strcmp(optarg, "pingpong") == 0)
				o->mode = SP_PINGPONG;
			else
				bad_option("bad --mode '%s' (stream, reverse "
					"or pingpong)", optarg);
			break;
		case 'l':
			o->size = parse_u32(optarg,
				"bad --size '%s' (1..16777216 bytes)", 1,
				SP_MAX_SIZE);
			break;
		case 't':
			errno = 0;
			o->seconds = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
					!(o->seconds > 0) ||
					o->seconds > SP_MAX_SECONDS)
				bad_option("bad --time '%s' (seconds, > 0 and "
					"<= 3600)", optarg);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			if (optopt != 0)
				fprintf(stderr, "%s: unknown option '-%c' or "
					"missing value\n", prog, optopt);
			else
				fprintf(stderr, "%s: unknown option '%s' or "
					"missing value\n", prog,
					argv[optind - 1]);
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc)
		bad_option("unexpected argument '%s'", argv[optind]);
	if (o->role == ROLE_NONE)
		bad_option("%s", "one of --server, --client or --conn-rate "
			"is needed");
	if (o->family == 0)
		bad_option("%s", "--unix PATH or --tcp PORT is needed");
}

/* The address of --unix or --tcp. */
static socklen_t
sp_addr(const struct sp_opts *o, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (o->family == AF_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;

		un->sun_family = AF_UNIX;
		snprintf(un->sun_path, sizeof(un->sun_path), "%s", o->path);
		return sizeof(*un);
	}
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	in->sin_family = AF_INET;
	in->sin_port = htons(o->port);
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof(*in);
}

static int
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

static int
sp_connect(const struct sp_opts *o)
{
	struct sockaddr_storage ss;
	socklen_t len = sp_addr(o, &ss);
	int fd = socket(o->family, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&ss, len) != 0)
		die(o->family == AF_UNIX ? o->path : "connect 127.0.0.1");
	return fd;
}

static void
set_nodelay(int fd, int family)
{
	int one = 1;

	if (family == AF_INET)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* All of @len, or -1 on error, 0 on EOF before the end. */
static ssize_t
read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n;
		got += n;
	}
	return (ssize_t)got;
}

static int
write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		done += n;
	}
	return 0;
}

/* Read everything until EOF; the byte count. */
static uint64_t
drain(int fd, char *buf, size_t len)
{
	uint64_t total = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return total;
		total += n;
	}
}

static void
serve_one(int fd, int family, char *buf)
{
	struct sp_req req;
	uint64_t total;
	double end;

	if (read_full(fd, &req, sizeof(req)) != (ssize_t)sizeof(req))
		return;	/* a connect-and-close probe, or a broken client */
	if (req.magic != SP_MAGIC || req.size == 0 ||
			req.size > SP_MAX_SIZE) {
		fprintf(stderr, "%s: bad request from a client\n", prog);
		return;
	}
	switch (req.mode) {
	case SP_STREAM:
		total = drain(fd, buf, io_len(req.size));
		write_full(fd, &total, sizeof(total));
		break;
	case SP_REVERSE:
		end = now_s() + req.ms / 1000.0;
		while (now_s() < end)
			if (write_full(fd, buf, req.size) != 0)
				break;
		break;
	case SP_PINGPONG:
		set_nodelay(fd, family);
		while (read_full(fd, buf, req.size) == (ssize_t)req.size)
			if (write_full(fd, buf, req.size) != 0)
				break;
		break;
	default:
		fprintf(stderr, "%s: unknown mode %u from a client\n", prog,
			req.mode);
	}
}

static int
run_server(const struct sp_opts *o)
{
	char *buf = malloc(SP_MAX_SIZE);
	int lfd = sp_listen(o);

	if (buf == NULL)
		die("malloc");
	memset(buf, 0x5a, SP_MAX_SIZE);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept");
		}
		serve_one(fd, o->family, buf);
		close(fd);
		if (o->once)
			break;
	}
	close(lfd);
	if (o->family == AF_UNIX)
		unlink(o->path);
	free(buf);
	return 0;
}

static const char *
family_name(int family)
{
	return family == AF_UNIX ? "unix" : "tcp";
}

static const char *
mode_name(enum sp_mode m)
{
	return m == SP_STREAM ? "stream" : m == SP_REVERSE ? "reverse" :
		"pingpong";
}

static void
print_rate(const struct sp_opts *o, uint64_t bytes, double secs)
{
	uint64_t msgs = bytes / o->size;

	printf("{\"tool\":\"sockperf\",\"family\":\"%s\",\"mode\":\"%s\","
		"\"size\":%u,\"seconds\":%.6f,\"bytes\":%" PRIu64 ","
		"\"msgs\":%" PRIu64 ",\"bits_per_second\":%.1f,"
		"\"msgs_per_second\":%.1f,\"gbps\":%.4f,\"mpps\":%.6f}\n",
		family_name(o->family), mode_name(o->mode), o->size, secs,
		bytes, msgs, bytes * 8.0 / secs, msgs / secs,
		bytes * 8.0 / secs / 1e9, msgs / secs / 1e6);
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
		"\"max_us\":%.3f,\"mean_us\":%.3f}\n",
		family_name(o->family), o->size, now_s() - start, n,
		s[0] / 1000.0, pct_us(s, n, 50), pct_us(s, n, 90),
		pct_us(s, n, 99), pct_us(s, n, 99.9), s[n - 1] / 1000.0,
		sum / 1000.0 / n);
	free(s);
	return 0;
}

static int
run_client(const struct sp_opts *o)
{
	struct sp_req req = { SP_MAGIC, o->mode, o->size,
		(uint32_t)(o->seconds * 1000 + 0.5) };
	char *buf = malloc(io_len(o->size));
	uint64_t total = 0;
	double start, end;
	int fd, ret = 0;

	if (buf == NULL)
		die("malloc");
	memset(buf, 0xa5, io_len(o->size));
	fd = sp_connect(o);
	if (write_full(fd, &req, sizeof(req)) != 0)
		die("write request");
	start = now_s();
	switch (o->mode) {
	case SP_STREAM:
		end = start + o->seconds;
		while (now_s() < end)
			if (write_full(fd, buf, o->size) != 0)
				die("write");
		shutdown(fd, SHUT_WR);
		if (read_full(fd, &total, sizeof(total)) !=
				(ssize_t)sizeof(total)) {
			fprintf(stderr, "%s: no byte count from the server\n",
				prog);
			ret = 1;
			break;
		}
		print_rate(o, total, now_s() - start);
		break;
	case SP_REVERSE:
		total = drain(fd, buf, io_len(o->size));
		print_rate(o, total, now_s() - start);
		break;
	case SP_PINGPONG:
		ret = client_pingpong(o, fd, buf);
		break;
	}
	if (ret == 0 && total == 0 && o->mode != SP_PINGPONG) {
		fprintf(stderr, "%s: no bytes moved\n", prog);
		ret = 1;
	}
	close(fd);
	free(buf);
	return ret;
}

static int
run_connrate(const struct sp_opts *o)
{
	struct linger lg = { 1, 0 };
	struct sockaddr_storage ss;
	socklen_t len;
	uint64_t conns = 0;
	double start, end, t;
	int lfd, fd, afd;

	lfd = sp_listen(o);
	len = sp_addr(o, &ss);
	start = now_s();
	end = start + o->seconds;
	do {
		fd = socket(o->family, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
		if (connect(fd, (struct sockaddr *)&ss, len) != 0)
			die("connect");
		afd = accept(lfd, NULL, NULL);
		if (afd < 0)
			die("accept");
		if (o->family == AF_INET) {
			/* Abortive close: no TIME_WAIT to run out of ports. */
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			setsockopt(afd, SOL_SOCKET, SO_LINGER, &lg,
				sizeof(lg));
		}
		close(fd);
		close(afd);
		conns++;
		t = now_s();
	} while (t < end);
	close(lfd);
	if (o->family == AF_UNIX)
		unlink(o->path);
	printf("{\"tool\":\"sockperf\",\"family\":\"%s\",\"mode\":"
		"\"conn-rate\",\"conns\":%" PRIu64 ",\"seconds\":%.6f,"
		"\"per_second\":%.1f}\n", family_name(o->family), conns,
		t - start, conns / (t - start));
	return 0;
}

int
main(int argc, char **argv)
{
	struct sp_opts o;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_args(argc, argv, &o);
	switch (o.role) {
	case ROLE_SERVER:
		return run_server(&o);
	case ROLE_CLIENT:
		return run_client(&o);
	default:
		return run_connrate(&o);
	}
}
