// SPDX-License-Identifier: BSD-3-Clause
// Microbenchmarks of dpdk-vsock's hot paths, through a thin C++ harness
// over the C code: split virtqueue enqueue/dequeue per descriptor (driver
// and device side), header encode/decode, credit bookkeeping. No timing
// is asserted anywhere; make bench reports, make test only runs them.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>

extern "C" {
#include "virtqueue.h"
#include "virtqueue_dev.h"
#include "vsock_credit.h"
#include "vsock_hdr.h"
}

namespace {

struct Queue {
	explicit Queue(uint16_t size)
	{
		ring = std::aligned_alloc(4096, virtqueue_ring_mem_size(size));
		std::memset(ring, 0, virtqueue_ring_mem_size(size));
		priv = std::malloc(virtqueue_priv_size(size));
		vq = virtqueue_init(priv, ring, size, 0);
		vq_dev_init(&dev, vq->desc, vq->avail, vq->used, size);
	}
	~Queue()
	{
		std::free(ring);
		std::free(priv);
	}
	void *ring;
	void *priv;
	struct virtqueue *vq;
	struct vq_dev dev;
};

// One post, one device completion, one reclaim: a descriptor's round trip.
void
BM_split_ring_round_trip(benchmark::State &state)
{
	const uint16_t burst = static_cast<uint16_t>(state.range(0));
	Queue q(1024);
	struct vq_buf buf = { 0x1000, 2048, false };
	void *cookies[64];
	uint32_t lens[64];
	static char token;

	for (auto _ : state) {
		for (uint16_t i = 0; i < burst; i++)
			virtqueue_enqueue(q.vq, &buf, 1, &token);
		virtqueue_publish(q.vq);
		while (vq_dev_avail(&q.dev) > 0) {
			uint16_t head = vq_dev_peek_head(&q.dev);

			vq_dev_consume(&q.dev);
			vq_dev_push_used(&q.dev, head, 0);
		}
		vq_dev_publish(&q.dev);
		benchmark::DoNotOptimize(virtqueue_dequeue(q.vq, cookies, lens,
				burst));
	}
	state.SetItemsProcessed(state.iterations() * burst);
}
BENCHMARK(BM_split_ring_round_trip)->Arg(1)->Arg(32);

void
BM_hdr_encode(benchmark::State &state)
{
	struct vsock_hdr h = { 3, 2, 1234, 5678, 4096, 1, 5, 0, 262144, 77 };
	uint8_t buf[VSOCK_HDR_LEN];

	for (auto _ : state) {
		h.fwd_cnt++;
		vsock_hdr_encode(buf, &h);
		benchmark::DoNotOptimize(buf);
	}
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_hdr_encode);

void
BM_hdr_decode(benchmark::State &state)
{
	struct vsock_hdr h = { 3, 2, 1234, 5678, 4096, 1, 5, 0, 262144, 77 };
	uint8_t buf[VSOCK_HDR_LEN];
	struct vsock_hdr out;

	vsock_hdr_encode(buf, &h);
	for (auto _ : state) {
		vsock_hdr_decode(&out, buf);
		benchmark::DoNotOptimize(out);
	}
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_hdr_decode);

// What one RW packet costs the credit books on both ends.
void
BM_credit_per_packet(benchmark::State &state)
{
	struct vsock_credit tx = {}, rx = {};

	rx.buf_alloc = 256 * 1024;
	vsock_credit_peer_update(&tx, rx.buf_alloc, 0);
	for (auto _ : state) {
		uint32_t n = vsock_credit_tx_space(&tx);

		n = n < 4096 ? n : 4096;
		tx.tx_cnt += n;
		vsock_credit_rx(&rx, n);
		if (vsock_credit_consume(&rx, n)) {
			vsock_credit_advertised(&rx);
			vsock_credit_peer_update(&tx, rx.buf_alloc, rx.fwd_cnt);
		}
		benchmark::DoNotOptimize(tx);
	}
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_credit_per_packet);

}  // namespace

BENCHMARK_MAIN();
