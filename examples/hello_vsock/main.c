/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hello_vsock: the smallest program on the installed dpdk-vsock libraries.
 *
 * It opens the in-process loopback device, attaches it to a stack,
 * listens on a port, connects to itself through the device, sends
 * "hello", receives it on the accepted connection, prints it and exits 0.
 * It builds out of tree against libdpdk-vsock.pc (see the Makefile).
 *
 *   hello_vsock [EAL options] -- [--dev SPEC] [--port N] [--help]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <virtio_vsock_dev.h>
#include <vsock_stack.h>

#define HELLO_MSG "hello"
#define HELLO_PORT 1234
#define HELLO_NB_MBUFS 2047
#define HELLO_MBUF_ROOM 4096
#define HELLO_TIMEOUT_S 10

struct hello {
	struct vsock_conn *client;	/* our connecting side */
	struct vsock_conn *server;	/* the side the listener accepted */
	int err;			/* connect or send failed */
	char got[64];			/* what the server side received */
	uint32_t got_len;
	enum vsock_reset_reason reset;	/* why a connection was reset */
};

static void
usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [EAL options] -- [--dev SPEC] [--port N]\n"
		"Connect to ourselves over a vsock device, send \"%s\" and\n"
		"print what arrives.\n"
		"  --dev SPEC  device (default loopback); one of:\n%s"
		"  --port N    port to listen on (default %u)\n"
		"  --help      this text\n",
		prog, HELLO_MSG, virtio_vsock_spec_usage(), HELLO_PORT);
}

static void
on_accept(struct vsock_conn *c, void *ctx)
{
	struct hello *h = ctx;

	h->server = c;
}

/* Connected: say hello at once (the stack sends it as credit allows). */
static void
on_connect(struct vsock_conn *c, int err, void *ctx)
{
	struct hello *h = ctx;

	if (err == 0)
		err = vsock_send_buf(c, HELLO_MSG, strlen(HELLO_MSG));
	else
		h->client = NULL;
	h->err = err;
}

static void
on_data(struct vsock_conn *c, struct rte_mbuf *m, void *ctx)
{
	struct hello *h = ctx;
	uint32_t n = RTE_MIN(m->pkt_len, sizeof(h->got) - 1 - h->got_len);
	const void *p = rte_pktmbuf_read(m, 0, n, h->got + h->got_len);

	if (p != h->got + h->got_len)
		memcpy(h->got + h->got_len, p, n);
	h->got_len += n;
	/* The payload is ours: free it and hand its credit back, in one. */
	vsock_data_release(c, m);
}

static void
on_reset(struct vsock_conn *c, enum vsock_reset_reason why, void *ctx)
{
	struct hello *h = ctx;

	if (c == h->client)
		h->client = NULL;
	if (c == h->server)
		h->server = NULL;
	h->reset = why;
}

/* Zero copy (the default rx_mode): every mbuf received goes to on_data. */
static const struct vsock_ops hello_ops = {
	.on_accept = on_accept,
	.on_connect = on_connect,
	.on_data = on_data,
	.on_reset = on_reset,
};

static int
parse_args(int argc, char **argv, const char **dev, uint32_t *port)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
		if (strcmp(argv[i], "--dev") == 0 && i + 1 < argc) {
			*dev = argv[++i];
		} else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			char *end;
			unsigned long v = strtoul(argv[++i], &end, 0);

			if (*end != '\0' || v == 0 || v >= VSOCK_PORT_ANY)
				return -1;
			*port = (uint32_t)v;
		} else {
			return -1;
		}
	}
	return 0;
}

static int
hello_run(struct vsock_stack *s, uint32_t port)
{
	struct hello h = { 0 };
	uint64_t deadline = rte_get_timer_cycles() +
		HELLO_TIMEOUT_S * rte_get_timer_hz();
	int ret;

	ret = vsock_listen(s, port, VSOCK_TYPE_STREAM, &hello_ops, &h);
	if (ret < 0) {
		fprintf(stderr, "hello_vsock: listen on %u: %s\n", port,
			strerror(-ret));
		return -1;
	}
	/* Connect to our own CID: the packets go through the device. */
	ret = vsock_connect(s, vsock_stack_local_cid(s), port,
			VSOCK_TYPE_STREAM, &hello_ops, &h, &h.client);
	if (ret < 0) {
		fprintf(stderr, "hello_vsock: connect: %s\n", strerror(-ret));
		return -1;
	}
	while (h.got_len < strlen(HELLO_MSG) && h.err == 0 && h.reset == 0 &&
			rte_get_timer_cycles() < deadline)
		vsock_stack_poll(s);
	if (h.got_len < strlen(HELLO_MSG)) {
		fprintf(stderr, "hello_vsock: received %u of %zu bytes: %s\n",
			h.got_len, strlen(HELLO_MSG), h.err != 0 ?
			strerror(-h.err) : h.reset != 0 ? "reset" :
			"timed out");
		return -1;
	}
	printf("hello_vsock: received \"%s\" over cid %" PRIu64 " port %u\n",
		h.got, vsock_stack_local_cid(s), port);
	/* Both sides close; the stack finishes the close on its own. */
	vsock_close(h.client);
	vsock_close(h.server);
	return 0;
}

int
main(int argc, char **argv)
{
	struct virtio_vsock_conf dconf = { 0 };
	struct vsock_stack_conf sconf = { 0 };
	struct virtio_vsock_dev *dev = NULL;
	struct vsock_stack *s = NULL;
	struct rte_mempool *pool = NULL;
	const char *spec = "loopback";
	uint32_t port = HELLO_PORT;
	char err[256] = "";
	int i, ret, rc = 1;

	/* --help before EAL: it needs no hugepages. */
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 ||
				strcmp(argv[i], "-h") == 0) {
			usage(stdout, argv[0]);
			return 0;
		}
	ret = rte_eal_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "hello_vsock: EAL init failed: %s\n",
			rte_strerror(rte_errno));
		return 1;
	}
	argc -= ret;
	argv += ret;
	ret = parse_args(argc, argv, &spec, &port);
	if (ret != 0 || virtio_vsock_spec_check(spec, err, sizeof(err)) != 0) {
		if (err[0] != '\0')
			fprintf(stderr, "hello_vsock: --dev: %s\n", err);
		usage(stderr, "hello_vsock");
		rte_eal_cleanup();
		return 2;
	}

	pool = rte_pktmbuf_pool_create("hello_pool", HELLO_NB_MBUFS, 256, 0,
			HELLO_MBUF_ROOM + RTE_PKTMBUF_HEADROOM, rte_socket_id());
	if (pool == NULL) {
		fprintf(stderr, "hello_vsock: pool: %s\n",
			rte_strerror(rte_errno));
		goto out;
	}
	sconf.pool = pool;
	sconf.socket_id = (int)rte_socket_id();
	s = vsock_stack_create("hello", &sconf);
	if (s == NULL) {
		fprintf(stderr, "hello_vsock: stack: %s\n",
			rte_strerror(rte_errno));
		goto out;
	}
	dconf.rx_pool = pool;
	dconf.socket_id = (int)rte_socket_id();
	dev = virtio_vsock_open(spec, &dconf, err, sizeof(err));
	if (dev == NULL) {
		fprintf(stderr, "hello_vsock: %s: %s\n", spec, err);
		goto out;
	}
	ret = vsock_stack_attach(s, virtio_vsock_port(dev));
	if (ret < 0) {
		fprintf(stderr, "hello_vsock: attach: %s\n", strerror(-ret));
		goto out;
	}
	if (hello_run(s, port) == 0)
		rc = 0;
out:
	/* The device first: packets in its rings come from the pool. */
	if (dev != NULL)
		virtio_vsock_close(dev);
	if (s != NULL)
		vsock_stack_destroy(s);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	return rc;
}
