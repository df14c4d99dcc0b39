/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <stdlib.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

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

	if (rte_eal_init((int)RTE_DIM(argv) - 1, argv) < 0) {
		fprintf(stderr, "%s: EAL init failed: %s\n", prog,
			rte_strerror(rte_errno));
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

void
fz_check_pool(struct rte_mempool *mp, unsigned int want, const char *what)
{
	unsigned int used = rte_mempool_in_use_count(mp);

	if (used != want) {
		fprintf(stderr, "LEAK: %s: %u objects in use after the run, "
			"%u expected\n", what, used, want);
		abort();
	}
}
