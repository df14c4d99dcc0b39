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
 *
 * This file holds the options, the server and --conn-rate; the client is
 * sockperf_client.c, the sockets and I/O loops sockperf_io.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "sockperf.h"

const char *prog = "sockperf";

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
		"AF_UNIX and TCP loopback (127.0.0.1) peer for the "
		"benchmarks.\n"
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
	const size_t sun_len = sizeof(((struct sockaddr_un *)0)->sun_path);
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
			if (strlen(optarg) == 0 || strlen(optarg) >= sun_len)
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
