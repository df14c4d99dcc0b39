/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * agent_native: the request/reply agent of ../agent_proto on dpdk-vsock's
 * native API: a poll loop on one lcore, requests parsed in place in the
 * mbufs the device wrote (copied only when a frame spans mbufs), replies
 * written straight into an mbuf and queued with vsock_send_backlog().
 *
 *   agent_native [EAL options] -- [--dev SPEC] [--port N] [--serve]
 *                [--cid CID] [--requests N] [--probes] [--print]
 *
 * It serves on --port; unless --serve, a client in the same process and
 * on the same stack sends its requests to --cid (default: our own CID,
 * through the device), checks every reply and prints requests/s and the
 * round-trip p50/p99, then the server's counts, and exits.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <virtio_vsock_dev.h>
#include <vsock_stack.h>

#include "agent_proto.h"

#define PROG "agent_native"
#define AN_PORT 9000
#define AN_NB_MBUFS 8191
#define AN_MBUF_ROOM 4096
#define AN_BACKLOG 64		/* connections the listener holds */
/* A client that leaves this many reply bytes unread loses the connection. */
#define AN_MAX_TX_BACKLOG (1u << 20)
#define AN_TIMEOUT_S 60

struct an_client {
	struct agent_client cl;
	struct vsock_conn *conn;	/* NULL between connections */
	struct agent_rx rx;
	bool close_pending;	/* a step wants us to close: the loop does */
	bool done;
};

struct an_app {
	struct vsock_stack *s;
	struct rte_mempool *pool;
	struct agent_server srv;
	uint64_t cid;			/* the client's peer */
	uint32_t port;
	struct an_client cli;
	char buf[AGENT_REPLY_BUF];	/* frames too big for one mbuf */
};

/* A connection the listener accepted. */
struct an_conn {
	TAILQ_ENTRY(an_conn) link;	/* an_conns */
	struct an_app *app;
	struct agent_rx rx;
};

/*
 * Every accepted connection's context: vsock_stack_destroy() resets what
 * is still open without a callback, so the contexts are freed here.
 */
static TAILQ_HEAD(, an_conn) an_conns = TAILQ_HEAD_INITIALIZER(an_conns);

static void
an_conn_free(struct an_conn *ac)
{
	TAILQ_REMOVE(&an_conns, ac, link);
	free(ac);
}

static volatile sig_atomic_t an_stop;

static void
on_signal(int sig)
{
	(void)sig;
	an_stop = 1;
}

/* @p n bytes of @p buf in a chain of mbufs from @p pool. */
static struct rte_mbuf *
mbuf_copy(struct rte_mempool *pool, const char *buf, size_t n)
{
	struct rte_mbuf *head = NULL, *m;
	size_t take;

	while (n > 0) {
		m = rte_pktmbuf_alloc(pool);
		if (m == NULL || (head != NULL &&
				rte_pktmbuf_chain(head, m) != 0)) {
			rte_pktmbuf_free(m);
			rte_pktmbuf_free(head);
			return NULL;
		}
		if (head == NULL)
			head = m;
		take = RTE_MIN(n, (size_t)rte_pktmbuf_tailroom(m));
		memcpy(rte_pktmbuf_mtod(m, char *), buf, take);
		m->data_len = (uint16_t)take;
		if (m != head)
			head->pkt_len += (uint32_t)take;
		else
			m->pkt_len = (uint32_t)take;
		buf += take;
		n -= take;
	}
	return head;
}

static size_t
serve(struct an_app *a, const char *body, uint32_t len, char *out,
		size_t cap)
{
	return body != NULL ? agent_serve(&a->srv, body, len, out, cap) :
		agent_serve_bad_len(&a->srv, len, out, cap);
}

/*
 * Answer @p body (NULL: a bad length @p len). A reply that fits one mbuf
 * is written into it, with no copy; a longer one goes through a->buf.
 */
static int
reply(struct an_app *a, struct vsock_conn *c, const char *body, uint32_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(a->pool);
	size_t need = body != NULL ? AGENT_REPLY_MAX(len) : AGENT_REPLY_MAX(0);
	int ret;

	if (m != NULL && need <= rte_pktmbuf_tailroom(m)) {
		size_t n = serve(a, body, len, rte_pktmbuf_mtod(m, char *),
			rte_pktmbuf_tailroom(m));

		m->data_len = (uint16_t)n;
		m->pkt_len = (uint32_t)n;
	} else {
		rte_pktmbuf_free(m);
		m = mbuf_copy(a->pool, a->buf, serve(a, body, len, a->buf,
			sizeof(a->buf)));
		if (m == NULL)
			return -ENOMEM;
	}
	ret = vsock_send_backlog(c, m, 0);
	if (ret < 0)
		rte_pktmbuf_free(m);
	return ret;
}

static void
srv_accept(struct vsock_conn *c, void *ctx)
{
	struct an_conn *ac = malloc(sizeof(*ac));

	if (ac == NULL) {
		vsock_abort(c);
		return;
	}
	ac->app = ctx;
	ac->rx.have = 0;
	ac->app->srv.conns++;
	TAILQ_INSERT_TAIL(&an_conns, ac, link);
	vsock_conn_set_ctx(c, ac);
}

static void
srv_data(struct vsock_conn *c, struct rte_mbuf *m, void *ctx)
{
	struct an_conn *ac = ctx;
	struct vsock_conn_info ci;
	struct rte_mbuf *seg;
	const char *body;
	const uint8_t *p;
	uint32_t len;
	size_t n, used;
	int ret = 0;

	for (seg = m; seg != NULL && ret == 0; seg = seg->next) {
		p = rte_pktmbuf_mtod(seg, const uint8_t *);
		for (n = seg->data_len; n > 0 && ret == 0; p += used,
				n -= used) {
			switch (agent_rx_feed(&ac->rx, p, n, &used, &body,
					&len)) {
			case AGENT_RX_MORE:
				break;
			case AGENT_RX_FRAME:
				ret = reply(ac->app, c, body, len);
				break;
			case AGENT_RX_BAD_LEN:
				/* No framing from here: say why, close. */
				reply(ac->app, c, NULL, len);
				ret = 1;
				break;
			}
		}
	}
	vsock_data_release(c, m);
	vsock_conn_info(c, &ci);
	if (ret == 0 && ci.tx_backlog <= AN_MAX_TX_BACKLOG)
		return;
	if (ret > 0)
		vsock_close(c);		/* the error reply goes first */
	else
		vsock_abort(c);
	an_conn_free(ac);
}

static void
srv_shutdown(struct vsock_conn *c, unsigned int how, void *ctx)
{
	/* The client is done: what we still owe it goes, then we close. */
	if (how & VSOCK_SHUTDOWN_SEND) {
		vsock_close(c);
		an_conn_free(ctx);
	}
}

static void
srv_reset(struct vsock_conn *c, enum vsock_reset_reason why, void *ctx)
{
	(void)c;
	(void)why;
	an_conn_free(ctx);
}

static const struct vsock_ops srv_ops = {
	.on_accept = srv_accept,
	.on_data = srv_data,
	.on_shutdown = srv_shutdown,
	.on_reset = srv_reset,
};

/* ---- the in-process client ------------------------------------------- */

static void cli_next(struct an_app *a, int end);

static const struct vsock_ops cli_ops;

static void
cli_connect(struct an_app *a)
{
	int ret = vsock_connect(a->s, a->cid, a->port, VSOCK_TYPE_STREAM,
			&cli_ops, a, &a->cli.conn);

	if (ret < 0) {
		fprintf(stderr, PROG ": connect to %" PRIu64 ":%u: %s\n",
			a->cid, a->port, strerror(-ret));
		a->cli.conn = NULL;
		a->cli.done = true;
		return;
	}
	a->cli.rx.have = 0;
	a->cli.cl.conns++;
}

/*
 * The connection is over: close @p c (NULL: the stack ended it); @p by_us
 * when a step wanted it so. Then the next step.
 */
static void
cli_ended(struct an_app *a, struct vsock_conn *c, bool by_us)
{
	if (c != NULL)
		vsock_close(c);
	a->cli.conn = NULL;
	cli_next(a, agent_client_closed(&a->cli.cl, by_us));
}

static void
cli_send(struct an_app *a)
{
	bool want_reply;
	size_t n = agent_client_frame(&a->cli.cl, a->buf, &want_reply);
	struct rte_mbuf *m = mbuf_copy(a->pool, a->buf, n);

	if (m == NULL || vsock_send_backlog(a->cli.conn, m, 0) < 0) {
		fprintf(stderr, PROG ": client: cannot send step %u\n",
			a->cli.cl.step);
		rte_pktmbuf_free(m);
		a->cli.cl.bad++;
		a->cli.done = true;
		return;
	}
	a->cli.close_pending = !want_reply;
}

static void
cli_next(struct an_app *a, int end)
{
	switch (end) {
	case AGENT_STEP_NEXT:
		cli_send(a);
		break;
	case AGENT_STEP_AWAIT_CLOSE:
		break;
	case AGENT_STEP_RECONNECT:
		cli_connect(a);
		break;
	default:		/* done, or failed */
		a->cli.done = true;
		break;
	}
}

static void
cli_connected(struct vsock_conn *c, int err, void *ctx)
{
	struct an_app *a = ctx;

	(void)c;
	if (err != 0) {
		fprintf(stderr, PROG ": connect to %" PRIu64 ":%u: %s\n",
			a->cid, a->port, strerror(-err));
		a->cli.conn = NULL;
		a->cli.done = true;
		return;
	}
	cli_send(a);
}

static void
cli_data(struct vsock_conn *c, struct rte_mbuf *m, void *ctx)
{
	struct an_app *a = ctx;
	struct rte_mbuf *seg;
	const char *body;
	const uint8_t *p;
	uint32_t len;
	size_t n, used;

	int end = -2;	/* no reply yet */

	for (seg = m; seg != NULL && end == -2; seg = seg->next) {
		p = rte_pktmbuf_mtod(seg, const uint8_t *);
		for (n = seg->data_len; n > 0 && end == -2; p += used,
				n -= used) {
			switch (agent_rx_feed(&a->cli.rx, p, n, &used, &body,
					&len)) {
			case AGENT_RX_MORE:
				break;
			case AGENT_RX_FRAME:
				end = agent_client_reply(&a->cli.cl, body,
					len);
				break;
			case AGENT_RX_BAD_LEN:
				fprintf(stderr, PROG ": client: reply length "
					"%u\n", len);
				a->cli.cl.bad++;
				end = -1;
				break;
			}
		}
	}
	/* One request at a time: nothing may follow its reply. */
	if (end != -2 && (n > 0 || seg != NULL)) {
		fprintf(stderr, PROG ": client: bytes after a reply\n");
		a->cli.cl.bad++;
		end = -1;
	}
	vsock_data_release(c, m);
	if (end != -2)
		cli_next(a, end);
}

static void
cli_shutdown(struct vsock_conn *c, unsigned int how, void *ctx)
{
	struct an_app *a = ctx;

	if (how & VSOCK_SHUTDOWN_SEND)
		cli_ended(a, c, false);
}

static void
cli_reset(struct vsock_conn *c, enum vsock_reset_reason why, void *ctx)
{
	struct an_app *a = ctx;

	(void)c;
	(void)why;
	cli_ended(a, NULL, false);
}

static const struct vsock_ops cli_ops = {
	.on_connect = cli_connected,
	.on_data = cli_data,
	.on_shutdown = cli_shutdown,
	.on_reset = cli_reset,
};

/* ---- set-up ---------------------------------------------------------- */

struct an_opts {
	const char *dev;
	uint32_t port;
	uint64_t cid;		/* UINT64_MAX: our own */
	uint32_t requests;
	bool serve, probes, print;
};

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [EAL options] -- [--dev SPEC] [--port N] "
		"[--serve]\n"
		"       [--cid CID] [--requests N] [--probes] [--print]\n"
		"A request/reply agent on the native vsock API (4-byte\n"
		"big-endian length, then a JSON request: ping, echo, info).\n"
		"Unless --serve, a client in this process sends it requests\n"
		"over the device and prints requests/s and p50/p99.\n"
		"  --dev SPEC    device (default loopback); one of:\n%s"
		"  --port N      port to serve on (default %u)\n"
		"  --serve       serve only, until SIGINT/SIGTERM\n"
		"  --cid CID     the client's peer (default our own CID)\n"
		"  --requests N  requests the client sends (default 1000)\n"
		"  --probes      send malformed requests first, check each\n"
		"                gets an error or a close\n"
		"  --print       print every reply\n"
		"  --help        this text\n",
		virtio_vsock_spec_usage(), AN_PORT);
}

static int
num_arg(const char *opt, const char *s, uint64_t min, uint64_t max,
		uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' ||
			*v < min || *v > max) {
		fprintf(stderr, PROG ": %s: bad value '%s' (%" PRIu64 "..%"
			PRIu64 ")\n", opt, s, min, max);
		return -1;
	}
	return 0;
}

static int
parse_args(int argc, char **argv, struct an_opts *o)
{
	uint64_t v;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] :
			NULL;

		if (strcmp(a, "--serve") == 0) {
			o->serve = true;
		} else if (strcmp(a, "--probes") == 0) {
			o->probes = true;
		} else if (strcmp(a, "--print") == 0) {
			o->print = true;
		} else if (val == NULL) {
			fprintf(stderr, PROG ": unknown option or no value: "
				"'%s'\n", a);
			return -1;
		} else if (strcmp(a, "--dev") == 0) {
			o->dev = argv[++i];
		} else if (strcmp(a, "--port") == 0) {
			if (num_arg(a, argv[++i], 1, VSOCK_PORT_ANY - 1, &v))
				return -1;
			o->port = (uint32_t)v;
		} else if (strcmp(a, "--cid") == 0) {
			if (num_arg(a, argv[++i], 1, UINT32_MAX - 1, &o->cid))
				return -1;
		} else if (strcmp(a, "--requests") == 0) {
			if (num_arg(a, argv[++i], 0, 10000000, &v))
				return -1;
			o->requests = (uint32_t)v;
		} else {
			fprintf(stderr, PROG ": unknown option '%s'\n", a);
			return -1;
		}
	}
	return 0;
}

/* Serve, and run the client unless --serve; 0 when every reply was good. */
static int
an_run(struct an_app *a, const struct an_opts *o)
{
	struct vsock_listen_conf lc = { .port = o->port,
		.type = VSOCK_TYPE_STREAM, .backlog = AN_BACKLOG };
	uint64_t deadline = agent_now_ns() + AN_TIMEOUT_S * 1000000000ull;
	int ret;

	ret = vsock_listen_ex(a->s, &lc, &srv_ops, a, NULL);
	if (ret < 0) {
		fprintf(stderr, PROG ": listen on %u: %s\n", o->port,
			strerror(-ret));
		return -1;
	}
	printf(PROG ": serving on cid %" PRIu64 " port %u\n",
		vsock_stack_local_cid(a->s), o->port);
	fflush(stdout);
	if (o->serve) {
		while (!an_stop)
			vsock_stack_poll(a->s);
		agent_server_report(&a->srv, PROG);
		return 0;
	}
	a->cid = o->cid != UINT64_MAX ? o->cid : vsock_stack_local_cid(a->s);
	if (agent_client_init(&a->cli.cl, "native", o->requests, o->probes,
			o->print) < 0) {
		fprintf(stderr, PROG ": out of memory\n");
		return -1;
	}
	cli_connect(a);
	while (!a->cli.done && !an_stop && agent_now_ns() < deadline) {
		vsock_stack_poll(a->s);
		if (a->cli.close_pending) {
			a->cli.close_pending = false;
			cli_ended(a, a->cli.conn, true);
		}
	}
	if (!a->cli.done)
		fprintf(stderr, PROG ": client: %s at step %u\n", an_stop ?
			"interrupted" : "timed out", a->cli.cl.step);
	if (a->cli.conn != NULL)
		vsock_close(a->cli.conn);
	ret = agent_client_report(&a->cli.cl, PROG);
	agent_client_free(&a->cli.cl);
	agent_server_report(&a->srv, PROG);
	return ret;
}

int
main(int argc, char **argv)
{
	struct an_opts o = { .dev = "loopback", .port = AN_PORT,
		.cid = UINT64_MAX, .requests = 1000 };
	struct sigaction sa = { .sa_handler = on_signal };
	struct virtio_vsock_conf dconf = { 0 };
	struct vsock_stack_conf sconf = { 0 };
	struct virtio_vsock_dev *dev = NULL;
	static struct an_app app = { .srv = { .api = "native" } };
	char err[256] = "";
	int i, ret, rc = 1;

	/* --help before EAL: it needs no hugepages. */
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 ||
				strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
	ret = rte_eal_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, PROG ": EAL init failed: %s\n",
			rte_strerror(rte_errno));
		return 1;
	}
	if (parse_args(argc - ret, argv + ret, &o) != 0 ||
			virtio_vsock_spec_check(o.dev, err, sizeof(err)) != 0) {
		if (err[0] != '\0')
			fprintf(stderr, PROG ": --dev: %s\n", err);
		usage(stderr);
		rte_eal_cleanup();
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	app.port = o.port;
	app.pool = rte_pktmbuf_pool_create("agent_pool", AN_NB_MBUFS, 256, 0,
			AN_MBUF_ROOM + RTE_PKTMBUF_HEADROOM, rte_socket_id());
	if (app.pool == NULL) {
		fprintf(stderr, PROG ": pool: %s\n", rte_strerror(rte_errno));
		goto out;
	}
	sconf.pool = app.pool;
	sconf.socket_id = (int)rte_socket_id();
	app.s = vsock_stack_create("agent", &sconf);
	if (app.s == NULL) {
		fprintf(stderr, PROG ": stack: %s\n", rte_strerror(rte_errno));
		goto out;
	}
	dconf.rx_pool = app.pool;
	dconf.socket_id = (int)rte_socket_id();
	dev = virtio_vsock_open(o.dev, &dconf, err, sizeof(err));
	if (dev == NULL) {
		fprintf(stderr, PROG ": %s: %s\n", o.dev, err);
		goto out;
	}
	ret = vsock_stack_attach(app.s, virtio_vsock_port(dev));
	if (ret < 0) {
		fprintf(stderr, PROG ": attach: %s\n", strerror(-ret));
		goto out;
	}
	if (an_run(&app, &o) == 0)
		rc = 0;
out:
	/* The device first: packets in its rings come from the pool. */
	if (dev != NULL)
		virtio_vsock_close(dev);
	if (app.s != NULL)
		vsock_stack_destroy(app.s);
	while (!TAILQ_EMPTY(&an_conns))
		an_conn_free(TAILQ_FIRST(&an_conns));
	rte_mempool_free(app.pool);
	rte_eal_cleanup();
	return rc;
}
