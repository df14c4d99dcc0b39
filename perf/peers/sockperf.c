/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sockperf: the kernel-socket peer of the benchmark suite. AF_UNIX and TCP
 * loopback, stream throughput both ways, ping-pong round trips from
 * recorded samples, and connection set-up and tear-down rate. One JSON
 * object on one line at the end of each client run.
 *
 *   sockperf --server (--unix PATH | --tcp PORT) [--once]
 *   sockperf --client (--unix PATH | --tcp PORT) [--mode MODE]
 *            [--size BYTES] [--time SECONDS] [--busy] [--cold]
 *   sockperf --conn-rate (--unix PATH | --tcp PORT) [--time SECONDS]
 *   sockperf --client --vsock CID:PORT [--mode stream|pingpong]
 *            [--size BYTES] [--time SECONDS]
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
 *
 * connrate is the same measure across two processes: for the duration,
 * the client opens connection after connection; on each it sends the
 * request (one 16-byte write: the server has to tell a connrate
 * connection from a test, and the request is how) and waits for the
 * server's close before closing its own end. The server accepts, reads
 * the request and closes. TCP ends use SO_LINGER 0 as --conn-rate does,
 * so the server's close is a reset: the client takes ECONNRESET, like
 * EOF, as the close it waits for.
 *
 * Flags in the high bits of the request's mode word (a request without
 * them is served as it always was):
 * --busy: after the request, both ends' sockets are O_NONBLOCK and every
 * read and write that finds EAGAIN is retried at once, no poll(), so
 * neither end ever sleeps, as in a polling stack.
 * --cold: the sender writes its messages from consecutive offsets of a
 * buffer larger than the last-level cache (perf_cold_len()), wrapping,
 * instead of one hot buffer, and the receiver sums every 64-bit word it
 * reads instead of dropping the data unread: the kernel's copies then
 * come from and go to memory an application would really touch. In
 * stream mode the client walks its buffer and the server sums; in
 * reverse the server walks one, mapped on the first request that needs
 * it and kept, and the client sums. As that first mapping takes time, a
 * cold reverse client starts its clock at the first bytes that arrive
 * and counts only the bytes after them.
 *
 * --vsock is a client of the vsock-perf protocol (apps/common/perf_proto.h)
 * rather than of sockperf's own: the server is vsock-perf's, e.g. vsockd
 * --perf-port at CID 1. stream is its SINK mode (the server answers the
 * u64 byte count after the client's shutdown; a count other than what was
 * sent is a failure), pingpong its ECHO mode. It uses plain AF_VSOCK
 * sockets and is meant to run under libvsock-preload.so (inside
 * vsock-guard in the benchmarks: the kernel's AF_VSOCK is never used).
 */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/vm_sockets.h>

#include "perf_cold.h"

#define SP_MAGIC 0x73707266u	/* "sprf" */
#define SP_MAX_SIZE (16u << 20)
#define SP_MAX_SECONDS 3600.0
#define SP_MAX_SAMPLES (32u << 20)
#define SP_IO_BUF (256u << 10)
/* Ping-pong round trips left out at the start (warm-up). */
#define SP_WARMUP 1000


/* Reads take up to this much at once, at least one message. */
#define io_len(size) ((size) > SP_IO_BUF ? (size) : SP_IO_BUF)

enum sp_mode { SP_STREAM = 1, SP_REVERSE, SP_PINGPONG, SP_CONNRATE };

/* The request's mode word: the mode in the low byte, flags above it. */
#define SP_MODE_MASK 0xffu
#define SP_FLAG_BUSY (1u << 8)
#define SP_FLAG_COLD (1u << 9)

/*
 * The vsock-perf hello, re-declared here so that sockperf stays plain C
 * without DPDK: keep in step with apps/common/perf_proto.h. 16 bytes,
 * little-endian: u32 magic "VPRF", u8 version, u8 mode, u16 zero,
 * u32 msg_size, u32 zero.
 */
#define VPERF_MAGIC 0x46525056u	/* "VPRF" read little-endian */
#define VPERF_VERSION 1
#define VPERF_HELLO_LEN 16u
#define VPERF_MAX_MSG (1u << 20)
enum { VPERF_SINK = 0, VPERF_SOURCE = 1, VPERF_ECHO = 2 };

struct sp_req {
	uint32_t magic;
	uint32_t mode;		/* enum sp_mode | SP_FLAG_* */
	uint32_t size;
	uint32_t ms;
};

/* A --cold sender's buffer; buf is NULL until it is mapped. */
struct sp_cold {
	char *buf;
	size_t len;
};

struct sp_opts {
	enum { ROLE_NONE, ROLE_SERVER, ROLE_CLIENT, ROLE_CONNRATE } role;
	int family;		/* AF_UNIX, AF_INET or AF_VSOCK */
	const char *path;
	uint16_t port;
	uint32_t vsock_cid;
	uint32_t vsock_port;
	enum sp_mode mode;
	uint32_t size;
	double seconds;
	bool once;
	bool busy;
	bool cold;
};

static const char *prog = "sockperf";

/* Where the --cold checksums go, so that the reads cannot be dropped. */
static volatile uint64_t sp_sink;

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: %s --server (--unix PATH | --tcp PORT) [--once]\n"
		"       %s --client (--unix PATH | --tcp PORT) [--mode MODE]\n"
		"                [--size BYTES] [--time SECONDS] [--busy] "
		"[--cold]\n"
		"       %s --conn-rate (--unix PATH | --tcp PORT) "
		"[--time SECONDS]\n"
		"       %s --client --vsock CID:PORT [--mode stream|pingpong]\n"
		"                [--size BYTES] [--time SECONDS]\n"
		"\n"
		"AF_UNIX and TCP loopback (127.0.0.1) peer for the benchmarks.\n"
		"  --server         serve clients one after the other\n"
		"  --once           (server) exit after one client\n"
		"  --client         run one test against a server\n"
		"  --conn-rate      connect, accept and close in one process\n"
		"  --unix PATH      AF_UNIX stream socket at PATH\n"
		"  --tcp PORT       TCP on 127.0.0.1:PORT\n"
		"  --vsock CID:PORT (client) AF_VSOCK stream to a vsock-perf\n"
		"                   server (vsockd --perf-port: CID 1) in its\n"
		"                   protocol: stream is SINK (the byte count\n"
		"                   it answers must match), pingpong is ECHO;\n"
		"                   --size up to %u. Run it under\n"
		"                   libvsock-preload.so (and vsock-guard)\n"
		"  --mode MODE      stream (client sends, default), reverse\n"
		"                   (server sends), pingpong (round trips)\n"
		"                   or connrate (connections per second to\n"
		"                   the server: each sends the 16-byte\n"
		"                   request, the server closes it)\n"
		"  --size BYTES     message size, 1..%u (default 64)\n"
		"  --time SECONDS   duration, > 0 (default 2)\n"
		"  --busy           (client; stream, reverse, pingpong; not\n"
		"                   --vsock) both ends busy-poll: O_NONBLOCK\n"
		"                   sockets, EAGAIN retried at once, no\n"
		"                   sleeping\n"
		"  --cold           (client; stream, reverse; not --vsock)\n"
		"                   the sender walks a buffer of 1.25 x L3\n"
		"                   (in 2 MiB, 64 MiB..1 GiB), the receiver\n"
		"                   sums every byte it reads\n"
		"  --help           this text\n"
		"A client prints one JSON object on one line.\n",
		prog, prog, prog, prog, VPERF_MAX_MSG, SP_MAX_SIZE);
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

/* --vsock CID:PORT, both 32-bit numbers (decimal, 0x hex). */
static void
parse_vsock(const char *arg, struct sp_opts *o)
{
	static const char what[] = "bad --vsock address '%s' (CID:PORT, "
		"each 0..4294967295)";
	const char *colon = strchr(arg, ':');
	unsigned long long cid, port;
	char *end;

	if (colon == NULL || colon == arg || colon[1] == '\0' ||
			arg[0] == '-' || colon[1] == '-')
		bad_option(what, arg);
	errno = 0;
	cid = strtoull(arg, &end, 0);
	if (errno != 0 || end != colon || cid > UINT32_MAX)
		bad_option(what, arg);
	port = strtoull(colon + 1, &end, 0);
	if (errno != 0 || *end != '\0' || port > UINT32_MAX)
		bad_option(what, arg);
	o->family = AF_VSOCK;
	o->vsock_cid = (uint32_t)cid;
	o->vsock_port = (uint32_t)port;
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
		{ "vsock", required_argument, NULL, 'V' },
		{ "mode", required_argument, NULL, 'm' },
		{ "size", required_argument, NULL, 'l' },
		{ "time", required_argument, NULL, 't' },
		{ "busy", no_argument, NULL, 'b' },
		{ "cold", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *size_arg = "";
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
		case 'V':
			parse_vsock(optarg, o);
			break;
		case 'm':
			if (strcmp(optarg, "stream") == 0)
				o->mode = SP_STREAM;
			else if (strcmp(optarg, "reverse") == 0)
				o->mode = SP_REVERSE;
			else if (strcmp(optarg, "pingpong") == 0)
				o->mode = SP_PINGPONG;
			else if (strcmp(optarg, "connrate") == 0)
				o->mode = SP_CONNRATE;
			else
				bad_option("bad --mode '%s' (stream, reverse, "
					"pingpong or connrate)", optarg);
			break;
		case 'l':
			size_arg = optarg;
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
		case 'b':
			o->busy = true;
			break;
		case 'k':
			o->cold = true;
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
		bad_option("%s", "--unix PATH, --tcp PORT or --vsock CID:PORT "
			"is needed");
	/* The client asks the server for these in its request. */
	if ((o->busy || o->cold) && o->role != ROLE_CLIENT)
		bad_option("%s", "--busy and --cold are for --client only");
	if (o->mode == SP_CONNRATE && o->role != ROLE_CLIENT)
		bad_option("%s", "--mode connrate is for --client only");
	if (o->busy && o->mode == SP_CONNRATE)
		bad_option("%s", "--busy takes --mode stream, reverse or "
			"pingpong");
	if (o->cold && o->mode != SP_STREAM && o->mode != SP_REVERSE)
		bad_option("%s", "--cold takes --mode stream or reverse");
	if (o->family == AF_VSOCK) {
		/* The server is vsock-perf's (vsockd --perf-port). */
		if (o->role != ROLE_CLIENT)
			bad_option("%s", "--vsock is for --client only (the "
				"server is vsock-perf's)");
		if (o->mode != SP_STREAM && o->mode != SP_PINGPONG)
			bad_option("%s", "--vsock takes --mode stream or "
				"pingpong");
		if (o->busy || o->cold)
			bad_option("%s", "--busy and --cold are for --unix "
				"and --tcp (the vsock-perf server knows "
				"neither)");
		if (o->size > VPERF_MAX_MSG)
			bad_option("bad --size '%s' with --vsock (1..1048576 "
				"bytes)", size_arg);
	}
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
		die(o->family == AF_UNIX ? o->path : o->family == AF_VSOCK ?
			"connect (AF_VSOCK)" : "connect 127.0.0.1");
	return fd;
}

static void
set_nodelay(int fd, int family)
{
	int one = 1;

	if (family == AF_INET)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* --busy: from here on, reads and writes on @fd spin instead of sleeping. */
static void
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
static ssize_t
read_some(int fd, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && retry());
	return n;
}

/* All of @len, or -1 on error, 0 on EOF before the end. */
static ssize_t
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

static int
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
static uint64_t
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
static int
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
static int
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

/* @cold: the server's --cold buffer, mapped on the first need and kept. */
static void
serve_one(int fd, int family, char *buf, struct sp_cold *cold)
{
	struct linger lg = { 1, 0 };
	struct sp_req req;
	uint32_t flags;
	uint64_t total;
	double end;

	if (read_full(fd, &req, sizeof(req)) != (ssize_t)sizeof(req))
		return;	/* a connect-and-close probe, or a broken client */
	if (req.magic != SP_MAGIC || req.size == 0 ||
			req.size > SP_MAX_SIZE) {
		fprintf(stderr, "%s: bad request from a client\n", prog);
		return;
	}
	flags = req.mode & ~SP_MODE_MASK;
	if ((flags & ~(SP_FLAG_BUSY | SP_FLAG_COLD)) != 0) {
		fprintf(stderr, "%s: unknown flags 0x%x from a client\n",
			prog, flags);
		return;
	}
	if (flags & SP_FLAG_BUSY)
		set_nonblock(fd);
	switch (req.mode & SP_MODE_MASK) {
	case SP_STREAM:
		total = drain(fd, buf, io_len(req.size),
			(flags & SP_FLAG_COLD) != 0);
		write_full(fd, &total, sizeof(total));
		break;
	case SP_REVERSE:
		if ((flags & SP_FLAG_COLD) && cold->buf == NULL &&
				cold_map(cold) != 0)
			return;	/* the client finds no bytes */
		end = now_s() + req.ms / 1000.0;
		send_until(fd, buf, flags & SP_FLAG_COLD ? cold : NULL,
			req.size, end, &total);
		break;
	case SP_CONNRATE:
		/* Closed at once by the caller; a reset, no TIME_WAIT. */
		if (family == AF_INET)
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
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
	struct sp_cold cold = { NULL, 0 };
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
		serve_one(fd, o->family, buf, &cold);
		close(fd);
		if (o->once)
			break;
	}
	close(lfd);
	if (o->family == AF_UNIX)
		unlink(o->path);
	if (cold.buf != NULL)
		munmap(cold.buf, cold.len);
	free(buf);
	return 0;
}

static const char *
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

static int
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
static int
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
		return o.mode == SP_CONNRATE ? client_connrate(&o) :
			run_client(&o);
	default:
		return run_connrate(&o);
	}
}
