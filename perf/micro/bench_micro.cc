// SPDX-License-Identifier: BSD-3-Clause
// Microbenchmarks of dpdk-vsock's hot paths, through a thin C++ harness
// over the C code: split and packed virtqueue round trips per descriptor
// (driver and device side), header encode/decode, credit bookkeeping. No timing
// is asserted anywhere; make bench reports, make test only runs them.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>

extern "C" {
#include "virtqueue.h"
#include "vq_dev.h"
#include "vsock_credit.h"
#include "vsock_hdr.h"
}

namespace {

struct Queue {
	Queue(uint16_t size, unsigned int flags)
	{
		ring = std::aligned_alloc(4096, virtqueue_ring_mem_size(size));
		std::memset(ring, 0, virtqueue_ring_mem_size(size));
		priv = std::malloc(virtqueue_priv_size(size));
		vq = virtqueue_init(priv, ring, size, 0, flags);
		vq_dev_init(&dev, vq->desc, vq->avail, vq->used, size, flags);
		// A polling device: the driver's kick check says no.
		vq_dev_set_no_notify(&dev, true);
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

// A descriptor's round trip, per descriptor: the driver posts a burst and
// asks whether to kick, the device takes and returns each chain, the
// driver reclaims the burst.
void
ring_round_trip(benchmark::State &state, unsigned int flags)
{
	const uint16_t burst = static_cast<uint16_t>(state.range(0));
	Queue q(1024, flags);
	struct vq_buf buf = { 0x1000, 2048, false };
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS];
	void *cookies[256];
	uint32_t lens[256];
	static char token;

	for (auto _ : state) {
		for (uint16_t i = 0; i < burst; i++)
			virtqueue_enqueue(q.vq, &buf, 1, &token);
		virtqueue_publish(q.vq);
		benchmark::DoNotOptimize(virtqueue_kick_prepare(q.vq));
		while (vq_dev_avail(&q.dev) > 0) {
			struct vq_dev_chain c;

			vq_dev_peek_va(&q.dev, segs, &c);
			vq_dev_take(&q.dev, &c);
			vq_dev_put(&q.dev, &c, 0);
		}
		vq_dev_publish(&q.dev);
		benchmark::DoNotOptimize(virtqueue_dequeue(q.vq, cookies, lens,
				burst));
	}
	state.SetItemsProcessed(state.iterations() * burst);
}

void
BM_split_roundtrip(benchmark::State &state)
{
	ring_round_trip(state, 0);
}
BENCHMARK(BM_split_roundtrip)->Arg(1)->Arg(8)->Arg(32)->Arg(256);

void
BM_split_event_idx_roundtrip(benchmark::State &state)
{
	ring_round_trip(state, VQ_F_EVENT_IDX);
}
BENCHMARK(BM_split_event_idx_roundtrip)->Arg(1)->Arg(32);

void
BM_packed_roundtrip(benchmark::State &state)
{
	ring_round_trip(state, VQ_F_PACKED);
}
BENCHMARK(BM_packed_roundtrip)->Arg(1)->Arg(8)->Arg(32)->Arg(256);

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
