/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The benchmarks' cold buffers, in plain C (no DPDK): vsock-perf --cold
 * (perf_payload.c), sockperf --cold and membw (perf/peers) size theirs
 * by one rule, so that both ends of a run and its ceiling walk the same
 * amount of memory, and read what they receive the same way.
 */
#ifndef VSOCK_PERF_COLD_H
#define VSOCK_PERF_COLD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define PERF_COLD_ALIGN (2ull << 20)	/* whole 2 MiB (huge) pages */
#define PERF_COLD_MIN (64ull << 20)
#define PERF_COLD_MAX (1ull << 30)

/*
 * 1.25 times the last-level cache, so that a walk through it evicts
 * itself, rounded up to 2 MiB, within 64 MiB..1 GiB (64 MiB when the
 * cache size is unknown).
 */
static inline size_t
perf_cold_len(void)
{
	long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
	uint64_t len = llc > 0 ? (uint64_t)llc + (uint64_t)llc / 4 :
		PERF_COLD_MIN;

	len = (len + PERF_COLD_ALIGN - 1) / PERF_COLD_ALIGN * PERF_COLD_ALIGN;
	if (len < PERF_COLD_MIN)
		len = PERF_COLD_MIN;
	return (size_t)(len > PERF_COLD_MAX ? PERF_COLD_MAX : len);
}

/* What a reading sink does with each byte: the sum of the 64-bit words
 * of @p, plus its tail bytes. */
static inline uint64_t
perf_cold_sum(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t sum = 0, w;
	size_t i;

	for (i = 0; i + sizeof(w) <= len; i += sizeof(w)) {
		memcpy(&w, b + i, sizeof(w));
		sum += w;
	}
	for (; i < len; i++)
		sum += b[i];
	return sum;
}

#endif /* VSOCK_PERF_COLD_H */
