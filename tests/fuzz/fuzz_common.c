/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_timer.h>

#include <vsock_hdr.h>

#include "vsock_private.h"
#include "fuzz_common.h"

static struct rte_mempool *pool;

void
fz_eal_init(const char *prog, unsigned int n, uint16_t room)
{
	/*
	 * No hugepages, no shared config, no telemetry socket: several
	 * fuzzers run side by side and none needs the machine set up.
	 */
	char *argv[] = {
		(char *)(uintptr_t)prog, "-l", "0", "--no-huge", "--no-pci",
		"--no-shconf", "--no-telemetry", "-m", "256",
		"--log-level=*:error",
		/* A hostile device or peer is what we play: expected noise. */
		"--log-level=vsock.*:critical", NULL,
	};
	rte_cpuset_t cpus;

	if (sched_getaffinity(0, sizeof(cpus), &cpus) != 0) {
		fprintf(stderr, "%s: cannot read the CPU affinity: %s\n",
			prog, strerror(errno));
		exit(1);
	}
	if (rte_eal_init((int)RTE_DIM(argv) - 1, argv) < 0) {
		fprintf(stderr, "%s: EAL init failed: %s\n", prog,
			rte_strerror(rte_errno));
		exit(1);
	}
	/*
	 * EAL pinned the main lcore to CPU 0: fuzzers run side by side
	 * (make fuzz runs two) would share that one CPU. It may run on any
	 * the process could, as before.
	 */
	if (rte_thread_set_affinity(&cpus) != 0) {
		fprintf(stderr, "%s: cannot restore the CPU affinity\n", prog);
		exit(1);
	}
	/* A cache: a run may take and give back a whole ring of mbufs. */
	pool = rte_pktmbuf_pool_create("fuzz_pool", n,
			RTE_MIN(n / 4, RTE_MEMPOOL_CACHE_MAX_SIZE), 0,
			(uint16_t)(room + RTE_PKTMBUF_HEADROOM),
			SOCKET_ID_ANY);
	if (pool == NULL) {
		fprintf(stderr, "%s: no pool: %s\n", prog,
			rte_strerror(rte_errno));
		exit(1);
	}
}

struct rte_mempool *
fz_pool(void)
{
	return pool;
}

FZ_NO_COVERAGE void
fz_check_pool(struct rte_mempool *mp, unsigned int want, const char *what)
{
	unsigned int used = rte_mempool_in_use_count(mp);

	if (used != want) {
		fprintf(stderr, "LEAK: %s: %u objects in use after the run, "
			"%u expected\n", what, used, want);
		abort();
	}
}

static FZ_NO_COVERAGE void
expire_now(struct rte_timer *t)
{
	if (rte_timer_pending(t))
		rte_timer_reset(t, 0, SINGLE, rte_lcore_id(), t->f, t->arg);
}

static FZ_NO_COVERAGE void
conn_expire(struct vsock_conn *c, void *arg)
{
	RTE_SET_USED(arg);
	expire_now(&c->timer);
	expire_now(&c->credit_timer);
}

/*
 * A sleep as long as the timeouts held stack_input to 600 runs/s. The
 * clock cannot be moved instead (rte_timer reads the TSC itself), so
 * every armed timer is made due now; what their callbacks arm waits as
 * it would. The timers are the connections' own (vsock_private.h).
 */
FZ_NO_COVERAGE void
fz_time_passes(struct vsock_stack *s)
{
	vs_for_each_conn(s, conn_expire, NULL);
	rte_timer_manage();
}

static FZ_NO_COVERAGE uint16_t
fz_port_rx(void *priv, struct rte_mbuf **pkts, uint16_t n)
{
	struct fz_port *fp = priv;
	uint16_t i = 0;

	while (i < n && fp->rx_rd < fp->rx_n)
		pkts[i++] = fp->rx[fp->rx_rd++];
	if (fp->rx_rd == fp->rx_n)
		fp->rx_rd = fp->rx_n = 0;
	return i;
}

/* The peer reads everything at once; its answers are the input's. */
static FZ_NO_COVERAGE uint16_t
fz_port_tx(void *priv, struct rte_mbuf **pkts, uint16_t n)
{
	struct fz_port *fp = priv;
	uint16_t i;

	for (i = 0; i < n; i++)
		if (pkts[i]->pkt_len < VSOCK_HDR_LEN)
			abort();	/* the stack sent a torn packet */
	fp->tx_pkts += n;
	rte_pktmbuf_free_bulk(pkts, n);
	return n;
}

static FZ_NO_COVERAGE uint64_t
fz_port_cid(void *priv)
{
	RTE_SET_USED(priv);
	return FZ_PORT_CID;
}

static FZ_NO_COVERAGE uint32_t
fz_port_features(void *priv)
{
	return ((const struct fz_port *)priv)->features;
}

static const struct vsock_port_ops fz_port_ops = {
	.rx_burst = fz_port_rx,
	.tx_burst = fz_port_tx,
	.local_cid = fz_port_cid,
	.features = fz_port_features,
};

void
fz_port_init(struct fz_port *fp, uint32_t features)
{
	memset(fp, 0, sizeof(*fp));
	fp->features = features;
	fp->port.ops = &fz_port_ops;
	fp->port.priv = fp;
	fp->port.name = "fuzz";
}

FZ_NO_COVERAGE bool
fz_port_put(struct fz_port *fp, struct rte_mbuf *m)
{
	if (fp->rx_n == FZ_PORT_RX)
		return false;
	fp->rx[fp->rx_n++] = m;
	return true;
}

FZ_NO_COVERAGE void
fz_port_flush(struct fz_port *fp)
{
	while (fp->rx_rd < fp->rx_n)
		rte_pktmbuf_free(fp->rx[fp->rx_rd++]);
	fp->rx_rd = fp->rx_n = 0;
}
