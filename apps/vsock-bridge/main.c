/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-bridge: options, EAL, the poll loop and reports. One stack per
 * guest, each with its vhost-user device as port and CID 2 as its own;
 * the main lcore polls the stacks and the Unix sockets in turn.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "../common/app_eal.h"
#include "../common/app_opts.h"
#include "../common/app_pcap.h"
#include "../common/perf_proto.h"
#include "../common/perf_server.h"
#include "bridge.h"

#include <vsock_vhost.h>

RTE_LOG_REGISTER(br_logtype, vsock.bridge, INFO);

#define BR_POOL_CACHE 256
/* With no device running and nothing to do, the loop may doze this long. */
#define BR_IDLE_MS 1
/* Microseconds between looks at the Unix sockets while polling. */
#define BR_UDS_US 20

/* --pcap: one file for every guest's port (their CIDs tell them apart). */
static struct vsock_capture *br_cap;

static void
print_stats(const struct br_guest *g, double t, bool final)
{
	const struct br_uds_stats *u = br_uds_stats(g);
	const struct br_echo_stats *e = br_echo_stats(g);
	struct vsock_vhost_stats dev, *d = &dev;
	struct vsock_stack_stats s;

	vsock_vhost_stats_get(g->vh, d);
	vsock_stack_stats_get(g->stack, &s);
	printf("[%6.1fs] cid %" PRIu64 ": dev %s, conns %" PRIu64
		" (unix %" PRIu64 "), guest->host %" PRIu64 " pkts %" PRIu64
		" B, host->guest %" PRIu64 " pkts %" PRIu64 " B, unix in %"
		PRIu64 " B out %" PRIu64 " B\n", t, g->vm->cid,
		vsock_vhost_running(g->vh) ? "up" : "down", s.conns_open,
		u->open, d->rx_pkts, d->rx_bytes, d->tx_pkts, d->tx_bytes,
		u->bytes_h2g, u->bytes_g2h);
	if (!final)
		return;
	printf("  device: pieces %" PRIu64 " partial %" PRIu64 " calls %"
		PRIu64 " call_retries %" PRIu64 " resets %" PRIu64
		" rx_nombuf %" PRIu64 "\n", d->tx_pieces, d->tx_partial,
		d->calls, d->call_retries, d->resets, d->rx_nombuf);
	printf("  device drops: bad_chain %" PRIu64 " bad_dir %" PRIu64
		" bad_size %" PRIu64 " bad_len %" PRIu64 " bad_src_cid %"
		PRIu64 " bad_rx_buf %" PRIu64 " bad_avail %" PRIu64
		" tx_bad_pkt %" PRIu64 " tx_lost %" PRIu64 "\n", d->bad_chain,
		d->bad_dir, d->bad_size, d->bad_len, d->bad_src_cid,
		d->bad_rx_buf, d->bad_avail, d->tx_bad_pkt, d->tx_lost);
	printf("  guest to guest: forwarded %" PRIu64 " rst %" PRIu64
		" waits %" PRIu64 "\n", d->fwd_pkts, d->fwd_rst, d->fwd_wait);
	printf("  unix: h2g accepted %" PRIu64 " connected %" PRIu64
		" bad_line %" PRIu64 " refused %" PRIu64 "; g2h accepted %"
		PRIu64 " refused %" PRIu64 " backlog %" PRIu64 " unclaimed %"
		PRIu64 "; conn_limit %" PRIu64 " nombuf %" PRIu64
		" send_stalls %" PRIu64 " lost_bytes %" PRIu64 " sock_errors %"
		PRIu64 " resets %" PRIu64 "\n", u->h2g_accepted,
		u->h2g_connected, u->h2g_bad_line, u->h2g_refused,
		u->g2h_accepted, u->g2h_refused, u->g2h_backlog,
		u->g2h_unclaimed, u->conn_limit, u->nombuf, u->send_stalls,
		u->lost_bytes, u->sock_errors, u->resets);
	printf("  stack: rx_pkts %" PRIu64 " tx_pkts %" PRIu64 " rst_tx %"
		PRIu64 " rst_rx %" PRIu64 " drop_bad_hdr %" PRIu64
		" drop_wrong_cid %" PRIu64 " drop_no_conn %" PRIu64
		" drop_credit %" PRIu64 " drop_nomem %" PRIu64
		" transport_resets %" PRIu64 " pkt_stalls %" PRIu64
		" pkt_grace %" PRIu64 " coalesced %" PRIu64 "\n", s.rx_pkts,
		s.tx_pkts, s.rst_tx, s.rst_rx, s.drop_bad_hdr,
		s.drop_wrong_cid, s.drop_no_conn, s.drop_credit, s.drop_nomem,
		s.transport_resets, s.pkt_stalls, s.pkt_grace, s.coalesced);
	if (g->perf != NULL) {
		const struct vperf_server_stats *p =
			vperf_server_stats(g->perf);

		printf("  perf: conns %" PRIu64 " sink %" PRIu64 " source %"
			PRIu64 " echo %" PRIu64 " idle %" PRIu64 " probes %"
			PRIu64 " bad_hello %" PRIu64 " bytes_rx %" PRIu64
			" bytes_tx %" PRIu64 " nombuf %" PRIu64 " errors %"
			PRIu64 "\n", p->conns, p->tests[VPERF_SINK],
			p->tests[VPERF_SOURCE], p->tests[VPERF_ECHO],
			p->tests[VPERF_IDLE], p->probes, p->bad_hello,
			p->bytes_rx, p->bytes_tx, p->nombuf, p->errors);
	}
	if (e != NULL)
		printf("  echo: conns %" PRIu64 " bytes %" PRIu64 " msgs %"
			PRIu64 " errors %" PRIu64 "\n", e->conns, e->bytes,
			e->msgs, e->errors);
}

static double
br_now(void)
{
	return (double)rte_get_timer_cycles() / (double)rte_get_timer_hz();
}

/* The poll loop, until a signal; returns the seconds it ran. */
static double
run(struct br_guest *guests, unsigned int nb, bool stats, struct br_unix *ux)
{
	double start = br_now(), next_tick = start + 1;
	uint64_t uds_ticks = rte_get_timer_hz() / 1000000 * BR_UDS_US;
	uint64_t now, next_uds = 0;
	unsigned int i;

	while (!app_quit) {
		unsigned int work = 0;
		bool running = false;

		for (i = 0; i < nb; i++) {
			work += vsock_stack_poll(guests[i].stack);
			br_uds_after_poll(&guests[i]);
			if (guests[i].perf != NULL)
				vperf_server_poll(guests[i].perf);
			running |= vsock_vhost_running(guests[i].vh);
		}
		/*
		 * Poll mode while a guest is up; doze when nothing is. Each
		 * look at the Unix sockets is a syscall, which took 70 % of
		 * the loop when made every time: every BR_UDS_US is enough.
		 */
		now = rte_get_timer_cycles();
		if (!running || now >= next_uds) {
			work += br_uds_poll(ux, work == 0 && !running ?
					BR_IDLE_MS : 0);
			next_uds = now + uds_ticks;
		}
		if (stats && br_now() >= next_tick) {
			for (i = 0; i < nb; i++)
				print_stats(&guests[i], next_tick - start,
					false);
			fflush(stdout);
			next_tick += 1;
		}
	}
	return br_now() - start;
}

/* One stack per guest: its own connections and ports, its own CID 2. */
static int
guest_setup(struct br_guest *g, const struct br_opts *o,
		struct rte_mempool *pool, struct vsock_vhost_switch *sw,
		struct br_unix *ux)
{
	const char *groups[BR_VM_MAX_GROUPS];
	struct vsock_vhost_conf vconf = {
		.socket_path = g->vm->socket,
		.guest_cid = g->vm->cid,
		.pool = pool,
		.flags = o->client ? VSOCK_VHOST_F_CLIENT : 0,
		.sw = sw,
		.groups = groups,
		.nb_groups = g->vm->nb_groups,
	};
	struct vsock_stack_conf sconf = {
		.pool = pool,
		.socket_id = (int)rte_socket_id(),
		.max_conns = o->max_conns,
		.buf_alloc = g->vm->tx_buffer_size,
	};
	struct vsock_port *port;
	char name[16];
	int r;

	for (unsigned int k = 0; k < g->vm->nb_groups; k++)
		groups[k] = g->vm->groups[k];
	snprintf(name, sizeof(name), "br%u", g->idx);
	g->stack = vsock_stack_create(name, &sconf);
	if (g->stack == NULL) {
		fprintf(stderr, "vsock-bridge: guest %" PRIu64 ": cannot "
			"create its stack: %s\n", g->vm->cid,
			rte_strerror(rte_errno));
		return -ENOMEM;
	}
	r = vsock_vhost_create(&vconf, &g->vh);
	if (r != 0) {
		fprintf(stderr, "vsock-bridge: --socket %s: %s\n",
			g->vm->socket, strerror(-r));
		return r;
	}
	port = vsock_vhost_port(g->vh);
	if (br_cap != NULL)
		port = vsock_capture_wrap(br_cap, port);
	r = port != NULL ? vsock_stack_attach(g->stack, port) : -ENOMEM;
	if (r < 0)
		return r;
	r = br_uds_open(ux, g);
	if (r != 0) {
		fprintf(stderr, "vsock-bridge: --uds %s: %s\n", g->vm->uds_path,
			strerror(-r));
		return r;
	}
	if (o->echo) {
		r = br_echo_start(g, o->echo_port);
		if (r != 0) {
			fprintf(stderr, "vsock-bridge: --echo-port %u: %s\n",
				o->echo_port, strerror(-r));
			return r;
		}
	}
	if (o->perf) {
		g->perf = vperf_server_start(g->stack, pool, o->perf_port);
		if (g->perf == NULL) {
			fprintf(stderr, "vsock-bridge: --perf-port %u: %s\n",
				o->perf_port, rte_strerror(rte_errno));
			return -rte_errno;
		}
	}
	printf("vsock-bridge: guest cid %" PRIu64 ": vhost-user %s (%s), "
		"unix %s%s%s\n", g->vm->cid, g->vm->socket,
		o->client ? "client" : "server", g->vm->uds_path,
		o->echo ? ", echo on CID 2" : "",
		o->perf ? ", vsock-perf server on CID 2" : "");
	return 0;
}

/*
 * Back-ends first (each lets go of its rings before rte_vhost may wait
 * for them), then sockets, then stacks.
 */
static void
teardown(struct br_guest *guests, unsigned int nb, struct br_unix *ux)
{
	unsigned int i;

	for (i = 0; i < nb; i++) {
		struct br_guest *g = &guests[i];

		/* It may hold a packet with a header from the pool. */
		vsock_vhost_destroy(g->vh);
		br_uds_close(g);
		br_echo_stop(g);
		vperf_server_stop(g->perf);
		vsock_stack_destroy(g->stack);
		/* Its payload may be in packets the stack held until now. */
		vperf_server_free(g->perf);
	}
	br_uds_fini(ux);
}

/* Each bridged connection is a file descriptor: allow as many as we may. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	struct br_guest guests[BR_MAX_GUESTS];
	struct vsock_vhost_switch *sw = NULL;
	struct br_unix *ux;
	struct rte_mempool *pool;
	struct app_args ea;
	struct br_opts o;
	int ret;
	unsigned int i, nb;
	double seconds = 0;

	app_opts_init("vsock-bridge");
	if (app_eal_split(argc, argv, &ea) != 0)
		return 1;
	/* Our options are checked before EAL takes hugepages or cores. */
	ret = br_parse_opts(ea.app_argc, ea.app, &o);
	if (ret != 0) {
		app_eal_free(&ea);
		return ret == 1 ? 0 : 2;
	}
	if (app_eal_start(&ea, "vsock-bridge", NULL) != 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	pool = rte_pktmbuf_pool_create("br_pool", o.nb_mbufs, BR_POOL_CACHE,
			0, BR_MBUF_ROOM + RTE_PKTMBUF_HEADROOM,
			rte_socket_id());
	if (pool == NULL) {
		fprintf(stderr, "vsock-bridge: cannot create a pool of %u "
			"mbufs: %s\n", o.nb_mbufs, rte_strerror(rte_errno));
		rte_eal_cleanup();
		return 1;
	}
	ux = br_uds_init(pool);
	ret = ux == NULL ? -errno : 0;
	/* Guests on a common group reach each other (all: "default"). */
	if (ret == 0) {
		sw = vsock_vhost_switch_create();
		if (sw == NULL)
			ret = -ENOMEM;
	}
	if (ret == 0 && o.pcap != NULL) {
		char err[256];

		br_cap = vsock_capture_open(o.pcap, &o.pcap_conf, err,
				sizeof(err));
		if (br_cap == NULL) {
			fprintf(stderr, "vsock-bridge: --pcap %s\n", err);
			ret = -EIO;
		}
	}
	nb = o.nb_vms;
	memset(guests, 0, sizeof(guests));
	for (i = 0; i < nb && ret == 0; i++) {
		struct br_guest *g = &guests[i];

		g->idx = i;
		g->vm = &o.vms[i];
		ret = guest_setup(g, &o, pool, sw, ux);
	}
	fflush(stdout);
	if (ret == 0)
		seconds = run(guests, nb, o.stats, ux);
	for (i = 0; i < nb && ret == 0; i++)
		print_stats(&guests[i], seconds, true);
	teardown(guests, nb, ux);
	vsock_vhost_switch_free(sw);
	if (app_pcap_close_report(br_cap, "vsock-bridge", o.pcap) != 0)
		ret = -EIO;
	rte_mempool_free(pool);
	rte_eal_cleanup();
	return ret == 0 ? 0 : 1;
}
