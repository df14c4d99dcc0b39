/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost_sink: the host side of several guests in one program, on the
 * installed lib/vsock_vhost. Each --guest PATH,cid=N is a vhost-user vsock
 * device back-end (QEMU's vhost-user-vsock-pci, or dpdk-vsock's own
 * driver as front-end); all are ports of one stack, which routes by CID.
 * A listener on --port takes every guest's connections to CID 2 and
 * counts their bytes; on SIGINT or after --seconds it prints each
 * guest's count and destroys the back-ends, in the order given.
 * It builds out of tree against libdpdk-vsock.pc (see the Makefile).
 *
 *   vhost_sink [EAL options] -- --guest PATH,cid=N [--guest ...]
 *              [--port P] [--seconds S] [--help]
 *
 * EAL always gets --no-pci: no PCI device is probed, whatever the machine
 * has.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <vsock_stack.h>
#include <vsock_vhost.h>

#define SINK_MAX_GUESTS 8
#define SINK_PORT 1234
#define SINK_NB_MBUFS 8191
#define SINK_MBUF_ROOM 16384

struct sink_guest {
	char path[108];
	uint64_t cid;
	struct vsock_vhost *vh;
	uint64_t bytes;
	uint64_t conns;
};

struct sink {
	struct sink_guest g[SINK_MAX_GUESTS];
	unsigned int nb;
};

static volatile sig_atomic_t sink_quit;

static void
on_signal(int sig)
{
	(void)sig;
	sink_quit = 1;
}

static void
usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [EAL options] -- --guest PATH,cid=N [--guest ...]\n"
		"       [--port P] [--seconds S]\n"
		"Serve up to %d guests' vhost-user vsock devices from one stack\n"
		"and count the bytes each sends to CID 2, port P.\n"
		"  --guest PATH,cid=N  a back-end listening on socket PATH for\n"
		"                      the guest of CID N (3..4294967294)\n"
		"  --port P            port of the listener (default %u)\n"
		"  --seconds S         stop after S seconds (default: SIGINT)\n"
		"  --help              this text\n",
		prog, SINK_MAX_GUESTS, SINK_PORT);
}

static struct sink_guest *
sink_guest_of(struct sink *k, struct vsock_conn *c)
{
	struct vsock_conn_info info;
	unsigned int i;

	vsock_conn_info(c, &info);
	for (i = 0; i < k->nb; i++)
		if (k->g[i].cid == info.remote_cid)
			return &k->g[i];
	return NULL;
}

static void
on_accept(struct vsock_conn *c, void *ctx)
{
	struct sink_guest *g = sink_guest_of(ctx, c);

	if (g != NULL)
		g->conns++;
}

static void
on_data(struct vsock_conn *c, struct rte_mbuf *m, void *ctx)
{
	struct sink_guest *g = sink_guest_of(ctx, c);

	if (g != NULL)
		g->bytes += rte_pktmbuf_pkt_len(m);
	vsock_data_release(c, m);
}

static void
on_shutdown(struct vsock_conn *c, unsigned int how, void *ctx)
{
	(void)how;
	(void)ctx;
	vsock_close(c);
}

static const struct vsock_ops sink_ops = {
	.on_accept = on_accept,
	.on_data = on_data,
	.on_shutdown = on_shutdown,
};

static int
parse_guest(struct sink *k, const char *a)
{
	struct sink_guest *g = &k->g[k->nb];
	const char *comma = strchr(a, ',');
	char *end;

	if (k->nb == SINK_MAX_GUESTS || comma == NULL ||
			(size_t)(comma - a) >= sizeof(g->path) ||
			strncmp(comma, ",cid=", 5) != 0)
		return -1;
	memcpy(g->path, a, (size_t)(comma - a));
	g->path[comma - a] = '\0';
	errno = 0;
	g->cid = strtoull(comma + 5, &end, 10);
	if (errno != 0 || *end != '\0' || g->cid < 3 || g->cid > 0xfffffffe)
		return -1;
	k->nb++;
	return 0;
}

static int
parse_args(int argc, char **argv, struct sink *k, uint32_t *port,
		double *seconds)
{
	int i;

	for (i = 1; i < argc; i++) {
		char *end;

		if (i + 1 == argc)
			return -1;
		if (strcmp(argv[i], "--guest") == 0) {
			if (parse_guest(k, argv[++i]) != 0) {
				fprintf(stderr, "vhost_sink: bad --guest '%s'\n",
					argv[i]);
				return -1;
			}
		} else if (strcmp(argv[i], "--port") == 0) {
			unsigned long v = strtoul(argv[++i], &end, 0);

			if (*end != '\0' || v >= VSOCK_PORT_ANY)
				return -1;
			*port = (uint32_t)v;
		} else if (strcmp(argv[i], "--seconds") == 0) {
			*seconds = strtod(argv[++i], &end);
			if (*end != '\0' || !(*seconds > 0))
				return -1;
		} else {
			return -1;
		}
	}
	return k->nb > 0 ? 0 : -1;
}

/* One back-end per guest, all on stack @s. */
static int
sink_start(struct sink *k, struct vsock_stack *s, struct rte_mempool *pool)
{
	unsigned int i;
	int r;

	for (i = 0; i < k->nb; i++) {
		struct vsock_vhost_conf c = {
			.socket_path = k->g[i].path,
			.guest_cid = k->g[i].cid,
			.pool = pool,
		};

		r = vsock_vhost_create(&c, &k->g[i].vh);
		if (r == 0)
			r = vsock_stack_attach(s, vsock_vhost_port(k->g[i].vh));
		if (r < 0) {
			fprintf(stderr, "vhost_sink: %s: %s\n", k->g[i].path,
				strerror(-r));
			return -1;
		}
		printf("vhost_sink: guest cid %" PRIu64 " on %s\n",
			k->g[i].cid, k->g[i].path);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct vsock_stack_conf sconf = { 0 };
	struct rte_mempool *pool = NULL;
	struct vsock_stack *s = NULL;
	struct sink k = { 0 };
	uint32_t port = SINK_PORT;
	double seconds = 0;
	uint64_t end;
	char **eal_argv;
	unsigned int i;
	int ret, rc = 1;

	for (i = 1; i < (unsigned int)argc; i++)
		if (strcmp(argv[i], "--help") == 0 ||
				strcmp(argv[i], "-h") == 0) {
			usage(stdout, argv[0]);
			return 0;
		}
	/* A back-end has no use for PCI: EAL never probes a device. */
	eal_argv = calloc((size_t)argc + 2, sizeof(*eal_argv));
	if (eal_argv == NULL)
		return 1;
	eal_argv[0] = argv[0];
	eal_argv[1] = (char *)(uintptr_t)"--no-pci";
	memcpy(&eal_argv[2], &argv[1], sizeof(*argv) * (size_t)argc);
	ret = rte_eal_init(argc + 1, eal_argv);
	if (ret < 0) {
		fprintf(stderr, "vhost_sink: EAL init failed: %s\n",
			rte_strerror(rte_errno));
		free(eal_argv);
		return 1;
	}
	argc = argc + 1 - ret;
	argv = eal_argv + ret;
	if (parse_args(argc, argv, &k, &port, &seconds) != 0) {
		usage(stderr, "vhost_sink");
		rte_eal_cleanup();
		free(eal_argv);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	pool = rte_pktmbuf_pool_create("sink_pool", SINK_NB_MBUFS, 256, 0,
			SINK_MBUF_ROOM + RTE_PKTMBUF_HEADROOM, rte_socket_id());
	sconf.pool = pool;
	sconf.socket_id = (int)rte_socket_id();
	s = pool == NULL ? NULL : vsock_stack_create("sink", &sconf);
	if (s == NULL) {
		fprintf(stderr, "vhost_sink: %s\n", rte_strerror(rte_errno));
		goto out;
	}
	if (sink_start(&k, s, pool) != 0)
		goto out;
	ret = vsock_listen(s, port, VSOCK_TYPE_STREAM, &sink_ops, &k);
	if (ret < 0) {
		fprintf(stderr, "vhost_sink: listen on %u: %s\n", port,
			strerror(-ret));
		goto out;
	}
	fflush(stdout);
	end = seconds > 0 ? rte_get_timer_cycles() +
		(uint64_t)(seconds * rte_get_timer_hz()) : UINT64_MAX;
	while (!sink_quit && rte_get_timer_cycles() < end)
		vsock_stack_poll(s);
	for (i = 0; i < k.nb; i++) {
		struct vsock_vhost_stats st;

		vsock_vhost_stats_get(k.g[i].vh, &st);
		printf("vhost_sink: cid %" PRIu64 ": %" PRIu64 " bytes in %"
			PRIu64 " conns, %" PRIu64 " packets from the guest\n",
			k.g[i].cid, k.g[i].bytes, k.g[i].conns, st.rx_pkts);
	}
	rc = 0;
out:
	/* The back-ends first: the stack's packets may be on their way. */
	for (i = 0; i < k.nb; i++)
		vsock_vhost_destroy(k.g[i].vh);
	if (s != NULL)
		vsock_stack_destroy(s);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	free(eal_argv);
	return rc;
}
