/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * membw: what one core can do with memory larger than the last-level
 * cache, the ceiling of the benchmarks' cold-stream rows. It walks a
 * buffer of perf_cold_len() bytes (as vsock-perf --cold and sockperf
 * --cold size theirs) in 64 KiB steps and reports, each for
 * --time seconds: "copy", memcpy of each step into one hot 64 KiB buffer
 * (what a copying device does with a cold source), and "read", a sum of
 * every 64-bit word (what a reading sink does). One JSON line.
 *
 *   membw [--time SECONDS]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "perf_cold.h"

#define MB_STEP (64u << 10)

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bits per second of @copy (or read) over @secs. */
static double
walk(const uint8_t *b, size_t len, uint8_t *dst, int copy, double secs,
		volatile uint64_t *sink)
{
	double t0 = now_s(), t;
	uint64_t done = 0;
	size_t off = 0;

	do {
		for (int k = 0; k < 64; k++) {
			if (copy) {
				memcpy(dst, b + off, MB_STEP);
				/* the copy is used: it cannot be dropped */
				*sink += dst[off % MB_STEP];
			} else {
				*sink += perf_cold_sum(b + off, MB_STEP);
			}
			off = (off + MB_STEP) % len;
			done += MB_STEP;
		}
		t = now_s() - t0;
	} while (t < secs);
	return (double)done * 8 / t;
}

int
main(int argc, char **argv)
{
	static uint8_t dst[MB_STEP];
	volatile uint64_t sink = 0;
	double secs = 2, copy, rd;
	size_t len = perf_cold_len();
	uint8_t *b;
	char *end;

	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		printf("usage: %s [--time SECONDS]\n"
			"One core's memcpy and read rate over a buffer larger "
			"than the LLC (%zu bytes here): the ceiling of the "
			"cold-stream benchmarks. One JSON line.\n", argv[0], len);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "--time") == 0) {
		secs = strtod(argv[2], &end);
		if (*end != '\0' || !(secs > 0 && secs <= 600)) {
			fprintf(stderr, "membw: bad --time '%s': expected "
				"seconds, 0 < S <= 600\n", argv[2]);
			return 2;
		}
	} else if (argc != 1) {
		fprintf(stderr, "membw: bad argument '%s' (see --help)\n",
			argv[1]);
		return 2;
	}
	b = mmap(NULL, len, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED) {
		fprintf(stderr, "membw: cannot map %zu bytes: %s\n", len,
			strerror(errno));
		return 1;
	}
	/* Huge pages, as the DPDK buffers: misses, not TLB walks, count. */
	madvise(b, len, MADV_HUGEPAGE);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 7 + (i >> 8));
	copy = walk(b, len, dst, 1, secs, &sink);
	rd = walk(b, len, dst, 0, secs, &sink);
	printf("{\"tool\":\"membw\",\"buffer_bytes\":%zu,\"seconds\":%.3f,"
		"\"copy_bits_per_second\":%.1f,\"read_bits_per_second\":%.1f,"
		"\"sink\":%" PRIu64 "}\n", len, secs, copy, rd,
		(uint64_t)sink);
	return 0;
}
