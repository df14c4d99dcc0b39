// SPDX-License-Identifier: BSD-3-Clause
// Connection-table microbenchmarks: the stack's own lookup
// (vs_conn_find(), an rte_hash keyed by both addresses) with 1, 1k and
// 100k connections in the table; lookups that miss (the RST path); and a
// connection's whole table life (vs_conn_alloc, vs_conn_free, reap) beside
// that many others. Real stacks, created after EAL comes up without
// hugepages, PCI or shared files (--no-huge --no-pci --no-shconf). No timing is
// asserted; make test runs it briefly, make bench reports.
#include <benchmark/benchmark.h>

#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include "vsock_private.h"
}

namespace {

struct vsock_conn_key
key_of(uint32_t i)
{
	struct vsock_conn_key k = {};

	// Guests (CIDs 3..) connecting to a few host ports, as a bridge sees.
	k.remote_cid = 3 + i / 60000;
	k.local_cid = 2;
	k.remote_port = 1024 + i % 60000;
	k.local_port = 5201;
	return k;
}

struct rte_mempool *pool;

// One stack per table size, filled once and kept for every benchmark.
struct Table {
	struct vsock_stack *s;
	std::vector<struct vsock_conn_key> hit;	// shuffled present keys
	std::vector<struct vsock_conn_key> miss;
};

Table &
table(uint32_t n)
{
	static std::map<uint32_t, Table> tables;
	auto it = tables.find(n);

	if (it != tables.end())
		return it->second;
	Table &t = tables[n];
	struct vsock_stack_conf conf = {};
	char name[16];

	conf.pool = pool;
	conf.max_conns = n + 16;	// room for the churn benchmark
	snprintf(name, sizeof(name), "bc%u", n);
	t.s = vsock_stack_create(name, &conf);
	if (t.s == nullptr) {
		fprintf(stderr, "bench_conn: vsock_stack_create(%u conns): %s\n",
			n, rte_strerror(rte_errno));
		exit(1);
	}
	for (uint32_t i = 0; i < n; i++) {
		struct vsock_conn_key k = key_of(i);

		if (vs_conn_alloc(t.s, &k, VSOCK_TYPE_STREAM, nullptr,
				nullptr, 0) == nullptr) {
			fprintf(stderr, "bench_conn: connection %u of %u\n", i,
				n);
			exit(1);
		}
		t.hit.push_back(k);
	}
	std::mt19937 rng(42);
	std::shuffle(t.hit.begin(), t.hit.end(), rng);
	for (uint32_t i = 0; i < 4096; i++) {
		struct vsock_conn_key k = key_of(i);

		k.local_port = 4000;	// nobody's
		t.miss.push_back(k);
	}
	return t;
}

void
BM_conn_find(benchmark::State &state)
{
	Table &t = table(static_cast<uint32_t>(state.range(0)));
	size_t i = 0, n = t.hit.size();

	for (auto _ : state) {
		benchmark::DoNotOptimize(vs_conn_find(t.s, &t.hit[i]));
		if (++i == n)
			i = 0;
	}
	state.SetItemsProcessed(state.iterations());
	state.counters["conns"] = static_cast<double>(n);
}
BENCHMARK(BM_conn_find)->Arg(1)->Arg(1000)->Arg(100000);

// A packet for no connection: the lookup that ends in RST.
void
BM_conn_find_miss(benchmark::State &state)
{
	Table &t = table(static_cast<uint32_t>(state.range(0)));
	size_t i = 0, n = t.miss.size();

	for (auto _ : state) {
		benchmark::DoNotOptimize(vs_conn_find(t.s, &t.miss[i]));
		if (++i == n)
			i = 0;
	}
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_conn_find_miss)->Arg(1)->Arg(1000)->Arg(100000);

// Insert, remove, return to the pool: the table's share of a connection's
// set-up and tear-down, beside n others.
void
BM_conn_churn(benchmark::State &state)
{
	Table &t = table(static_cast<uint32_t>(state.range(0)));
	uint32_t i = 0;

	for (auto _ : state) {
		struct vsock_conn_key k = key_of(i++ & 0xfff);
		struct vsock_conn *c;

		k.local_port = 6000;
		c = vs_conn_alloc(t.s, &k, VSOCK_TYPE_STREAM, nullptr,
				nullptr, 0);
		if (c == nullptr) {
			state.SkipWithError("vs_conn_alloc failed");
			break;
		}
		c->app_closed = true;
		vs_conn_free(c);
		vs_reap_dead(t.s);
	}
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_conn_churn)->Arg(1)->Arg(1000)->Arg(100000);

} // namespace

int
main(int argc, char **argv)
{
	std::string lcore = std::to_string(std::max(sched_getcpu(), 0));
	const char *eal[] = {
		"bench_conn", "-l", lcore.c_str(), "--no-huge", "-m", "512",
		"--no-pci", "--no-shconf", "--log-level=lib.eal:error",
	};
	int eal_argc = sizeof(eal) / sizeof(eal[0]);

	if (rte_eal_init(eal_argc, const_cast<char **>(eal)) < 0) {
		fprintf(stderr, "bench_conn: EAL: %s\n",
			rte_strerror(rte_errno));
		return 1;
	}
	pool = rte_pktmbuf_pool_create("bench_conn", 1023, 0, 0,
			RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (pool == nullptr) {
		fprintf(stderr, "bench_conn: mbuf pool: %s\n",
			rte_strerror(rte_errno));
		return 1;
	}
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 2;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	rte_eal_cleanup();
	return 0;
}
