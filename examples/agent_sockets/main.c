/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * agent_sockets: the request/reply agent of ../agent_proto on plain POSIX
 * AF_VSOCK sockets, and its client. Nothing of dpdk-vsock is in it: it
 * runs on the kernel's vsock in a guest, or unmodified on vsockd under
 * libvsock-preload.so.
 *
 *   agent_sockets --listen PORT [--max-conns N]
 *   agent_sockets --connect CID --port PORT [--requests N] [--probes]
 *                 [--print] [--api NAME]
 *
 * The server serves up to --max-conns connections at once in one poll()
 * loop until SIGINT or SIGTERM; the client sends its requests one at a
 * time and prints requests/s and the round-trip p50/p99.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "agent_proto.h"

#define PROG "agent_sockets"
#define SOCK_MAX_CONNS 64
#define SOCK_READ 16384
/* A client that stops reading loses its connection after this long. */
#define SOCK_SNDTIMEO_S 5
/* How long the client waits for a reply. */
#define SOCK_RCVTIMEO_S 30

struct sock_opts {
	long listen_port;	/* -1: client */
	long cid;		/* -1: server */
	long port;
	long requests;
	long max_conns;
	bool probes, print;
	const char *api;
};

static volatile sig_atomic_t sock_stop;

static void
on_signal(int sig)
{
	(void)sig;
	sock_stop = 1;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " --listen PORT [--max-conns N]\n"
		"       " PROG " --connect CID --port PORT [--requests N] "
		"[--probes] [--print] [--api NAME]\n"
		"A request/reply agent on AF_VSOCK sockets (4-byte big-endian\n"
		"length, then a JSON request: ping, echo, info), and its\n"
		"client.\n"
		"  --listen PORT   serve on PORT until SIGINT/SIGTERM\n"
		"  --max-conns N   connections served at once (default %d)\n"
		"  --connect CID   send requests to CID (1: this machine)\n"
		"  --port PORT     the agent's port\n"
		"  --requests N    requests to send (default 1000)\n"
		"  --probes        send malformed requests first, check each\n"
		"                  gets an error or a close\n"
		"  --print         print every reply\n"
		"  --api NAME      what info replies must name (default\n"
		"                  sockets)\n"
		"  --help          this text\n", SOCK_MAX_CONNS);
}

/* A decimal in [min, max], or -1 with a message naming it. */
static long
num_arg(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, PROG ": %s: bad value '%s' (%ld..%ld)\n", opt,
			s, min, max);
		return -1;
	}
	return v;
}

static int
parse_args(int argc, char **argv, struct sock_opts *o)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		long *dst = NULL, max = UINT_MAX - 1;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return 1;
		if (strcmp(a, "--probes") == 0) {
			o->probes = true;
			continue;
		}
		if (strcmp(a, "--print") == 0) {
			o->print = true;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr, PROG ": unknown option or no value: "
				"'%s'\n", a);
			return -1;
		}
		i++;
		if (strcmp(a, "--api") == 0) {
			o->api = v;
			continue;
		}
		if (strcmp(a, "--listen") == 0)
			dst = &o->listen_port;
		else if (strcmp(a, "--connect") == 0)
			dst = &o->cid;
		else if (strcmp(a, "--port") == 0)
			dst = &o->port;
		else if (strcmp(a, "--requests") == 0)
			dst = &o->requests, max = 10000000;
		else if (strcmp(a, "--max-conns") == 0)
			dst = &o->max_conns, max = SOCK_MAX_CONNS;
		if (dst == NULL) {
			fprintf(stderr, PROG ": unknown option '%s'\n", a);
			return -1;
		}
		*dst = num_arg(a, v, dst == &o->requests ? 0 : 1, max);
		if (*dst < 0)
			return -1;
	}
	if ((o->listen_port < 0) == (o->cid < 0) ||
			(o->cid >= 0 && o->port < 0)) {
		fprintf(stderr, PROG ": give --listen PORT, or --connect CID "
			"and --port PORT\n");
		return -1;
	}
	return 0;
}

/* Write all of @p buf; -1 on error (a timeout included). */
static int
write_all(int fd, const char *buf, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- the server ------------------------------------------------------ */

struct sock_conn {
	int fd;
	struct agent_rx rx;
};

static char sock_reply[AGENT_REPLY_BUF];

/* Serve what @p sc has to read; -1 when it is to be closed. */
static int
serve_conn(struct agent_server *s, struct sock_conn *sc)
{
	static uint8_t in[SOCK_READ];
	const char *body;
	uint32_t len;
	size_t used, n;
	ssize_t r;
	uint8_t *p;

	r = read(sc->fd, in, sizeof(in));
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (r <= 0)
		return -1;	/* closed by the client, or reset */
	for (p = in, n = (size_t)r; n > 0; p += used, n -= used) {
		switch (agent_rx_feed(&sc->rx, p, n, &used, &body, &len)) {
		case AGENT_RX_MORE:
			break;
		case AGENT_RX_FRAME:
			if (write_all(sc->fd, sock_reply, agent_serve(s, body,
					len, sock_reply, sizeof(sock_reply))))
				return -1;
			break;
		case AGENT_RX_BAD_LEN:
			/* The stream cannot be framed any more: say why, go. */
			write_all(sc->fd, sock_reply, agent_serve_bad_len(s,
				len, sock_reply, sizeof(sock_reply)));
			return -1;
		}
	}
	return 0;
}

static int
sock_accept(struct agent_server *s, int lfd, struct sock_conn **slot)
{
	struct timeval tv = { .tv_sec = SOCK_SNDTIMEO_S };
	struct sock_conn *sc;
	int fd;

	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return errno == EINTR || errno == ECONNABORTED ? 0 : -1;
	sc = malloc(sizeof(*sc));
	if (sc == NULL ||
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
				sizeof(tv)) < 0) {
		perror(PROG ": accept");
		free(sc);
		close(fd);
		return 0;
	}
	sc->fd = fd;
	sc->rx.have = 0;
	*slot = sc;
	s->conns++;
	return 0;
}

static int
run_server(const struct sock_opts *o)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
		.svm_cid = VMADDR_CID_ANY,
		.svm_port = (unsigned int)o->listen_port };
	struct agent_server s = { .api = "sockets" };
	struct sock_conn *conns[SOCK_MAX_CONNS] = { 0 };
	struct pollfd pfd[SOCK_MAX_CONNS + 1];
	int lfd, i, n, ret = 0;

	lfd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
			listen(lfd, 16) < 0) {
		fprintf(stderr, PROG ": listen on port %ld: %s\n",
			o->listen_port, strerror(errno));
		if (lfd >= 0)
			close(lfd);
		return 1;
	}
	printf(PROG ": listening on port %ld\n", o->listen_port);
	fflush(stdout);
	while (!sock_stop) {
		/* The listener is polled only while a slot is free. */
		for (i = 0, n = 0; i < o->max_conns; i++) {
			pfd[i] = (struct pollfd){ .fd = -1, .events = POLLIN };
			if (conns[i] != NULL)
				pfd[i].fd = conns[i]->fd;
			else
				n++;
		}
		pfd[o->max_conns] = (struct pollfd){
			.fd = n > 0 ? lfd : -1, .events = POLLIN };
		if (poll(pfd, (nfds_t)o->max_conns + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror(PROG ": poll");
			ret = 1;
			break;
		}
		for (i = 0; i < o->max_conns; i++) {
			if (conns[i] == NULL || pfd[i].revents == 0 ||
					serve_conn(&s, conns[i]) == 0)
				continue;
			close(conns[i]->fd);
			free(conns[i]);
			conns[i] = NULL;
		}
		for (i = 0; pfd[o->max_conns].revents != 0 &&
				i < o->max_conns && conns[i] != NULL; i++)
			;
		if (pfd[o->max_conns].revents != 0 && i < o->max_conns &&
				sock_accept(&s, lfd, &conns[i]) < 0) {
			perror(PROG ": accept");
			ret = 1;
			break;
		}
	}
	for (i = 0; i < o->max_conns; i++)
		if (conns[i] != NULL) {
			close(conns[i]->fd);
			free(conns[i]);
		}
	close(lfd);
	agent_server_report(&s, PROG);
	return ret;
}

/* ---- the client ------------------------------------------------------ */

static int
client_connect(const struct sock_opts *o, struct agent_client *c)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
		.svm_cid = (unsigned int)o->cid,
		.svm_port = (unsigned int)o->port };
	struct timeval tv = { .tv_sec = SOCK_RCVTIMEO_S };
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
			sizeof(tv)) < 0 ||
			connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, PROG ": connect to %ld:%ld: %s\n", o->cid,
			o->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	c->conns++;
	return fd;
}

/*
 * Read until one reply is whole and hand it to the client; returns the
 * step's end, or -1 on a read error or an unexpected close.
 */
static int
client_read_reply(int fd, struct agent_client *c, struct agent_rx *rx)
{
	static uint8_t in[SOCK_READ];
	const char *body;
	uint32_t len;
	size_t used;
	ssize_t r;

	for (;;) {
		r = read(fd, in, sizeof(in));
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return agent_client_closed(c, false);
		if (r < 0) {
			fprintf(stderr, PROG ": step %u: read: %s\n", c->step,
				strerror(errno));
			c->bad++;
			return -1;
		}
		/* One request at a time: the reply is all there is to read. */
		switch (agent_rx_feed(rx, in, (size_t)r, &used, &body, &len)) {
		case AGENT_RX_MORE:
			continue;
		case AGENT_RX_BAD_LEN:
			fprintf(stderr, PROG ": step %u: bad reply frame\n",
				c->step);
			c->bad++;
			return -1;
		case AGENT_RX_FRAME:
			if (used != (size_t)r) {
				c->bad++;
				return -1;
			}
			return agent_client_reply(c, body, len);
		}
	}
}

static int
run_client(const struct sock_opts *o)
{
	static char frame[AGENT_HDR_LEN + AGENT_MAX_REQ];
	static struct agent_rx rx;
	struct agent_client c;
	bool want_reply;
	int fd, end = AGENT_STEP_RECONNECT, ret;

	if (agent_client_init(&c, o->api, (uint32_t)o->requests, o->probes,
			o->print) < 0) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	fd = -1;
	while (end != AGENT_STEP_DONE && end >= 0 && !sock_stop) {
		if (end == AGENT_STEP_RECONNECT) {
			if (fd >= 0)
				close(fd);
			rx.have = 0;
			fd = client_connect(o, &c);
			if (fd < 0)
				break;
		}
		if (write_all(fd, frame, agent_client_frame(&c, frame,
				&want_reply)) < 0) {
			fprintf(stderr, PROG ": write: %s\n", strerror(errno));
			break;
		}
		if (!want_reply) {
			end = agent_client_closed(&c, true);
			continue;
		}
		end = client_read_reply(fd, &c, &rx);
		if (end == AGENT_STEP_AWAIT_CLOSE)
			end = client_read_reply(fd, &c, &rx);
	}
	if (fd >= 0)
		close(fd);
	ret = agent_client_report(&c, PROG) == 0 ? 0 : 1;
	agent_client_free(&c);
	return ret;
}

int
main(int argc, char **argv)
{
	struct sock_opts o = { .listen_port = -1, .cid = -1, .port = -1,
		.requests = 1000, .max_conns = SOCK_MAX_CONNS,
		.api = "sockets" };
	struct sigaction sa = { .sa_handler = on_signal };
	int ret = parse_args(argc, argv, &o);

	if (ret != 0) {
		usage(ret > 0 ? stdout : stderr);
		return ret > 0 ? 0 : 2;
	}
	/* No SA_RESTART: a blocked poll() or read() returns to see it. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return o.listen_port >= 0 ? run_server(&o) : run_client(&o);
}
