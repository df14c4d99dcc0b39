/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What every fuzz target shares: EAL started once, quietly and without
 * hugepages or PCI, a pool of mbufs, a byte reader over the input and the
 * leak check that ends each run (a leak is a finding like a crash).
 */
#ifndef VSOCK_FUZZ_COMMON_H
#define VSOCK_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vsock_port.h>

/*
 * Harness code, kept out of the coverage libFuzzer steers by. libFuzzer
 * handles each feature a run hits (a lookup in tables of megabytes), and
 * the harness's set-up, teardown, leak checks, fake port and system-call
 * stand-ins hit much the same ones in every run, telling inputs apart
 * only by the harness's own bookkeeping. In vsockd_app they were 270 of
 * its 4,100 covered edges; without them the same seeds ran at 13.4 k
 * execs/s against 11.3 k, reaching as many of the daemon's edges
 * (tests/fuzz/README.md). The decoding of the input (each target's
 * commands) keeps its coverage: it is how libFuzzer learns the input's
 * structure.
 */
#define FZ_NO_COVERAGE __attribute__((no_sanitize("coverage")))

struct rte_mbuf;
struct rte_mempool;
struct vsock_stack;

/* libFuzzer's entry points. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Start EAL (once) and make the pool: @n mbufs of @room data bytes. */
void fz_eal_init(const char *prog, unsigned int n, uint16_t room);
struct rte_mempool *fz_pool(void);

/* Abort (a finding) unless @mp has exactly @want objects out. */
void fz_check_pool(struct rte_mempool *mp, unsigned int want,
		const char *what);

/*
 * The stack's timeouts pass at once: every timer of @s armed now fires,
 * as a clock moved past it would make it, with no wait.
 */
void fz_time_passes(struct vsock_stack *s);

/*
 * A port whose device the harness plays: what it puts in, rx_burst hands
 * to the stack; what the stack sends, tx_burst takes whole (a torn packet
 * aborts: a finding), counts and frees. Its CID is FZ_PORT_CID.
 */
#define FZ_PORT_CID 3
#define FZ_PORT_RX 256
struct fz_port {
	struct vsock_port port;		/* what vsock_stack_attach() takes */
	uint32_t features;		/* VSOCK_PORT_F_* */
	struct rte_mbuf *rx[FZ_PORT_RX];	/* put, not yet polled */
	unsigned int rx_rd, rx_n;
	uint64_t tx_pkts;
};

void fz_port_init(struct fz_port *fp, uint32_t features);
/* Queue @m for the stack's next poll; false (@m not taken) when full. */
bool fz_port_put(struct fz_port *fp, struct rte_mbuf *m);
/* Free what the stack has not polled. */
void fz_port_flush(struct fz_port *fp);

/* Reads the input front to back; past the end everything reads as 0. */
struct fz_in {
	const uint8_t *p;
	size_t left;
};

static inline FZ_NO_COVERAGE uint8_t
fz_u8(struct fz_in *in)
{
	if (in->left == 0)
		return 0;
	in->left--;
	return *in->p++;
}

static inline FZ_NO_COVERAGE uint16_t
fz_u16(struct fz_in *in)
{
	uint16_t v = fz_u8(in);

	return (uint16_t)(v | fz_u8(in) << 8);
}

static inline FZ_NO_COVERAGE uint32_t
fz_u32(struct fz_in *in)
{
	uint32_t v = fz_u16(in);

	return v | (uint32_t)fz_u16(in) << 16;
}

/* Up to @n bytes: returns how many there were, *@out points at them. */
static inline FZ_NO_COVERAGE size_t
fz_bytes(struct fz_in *in, size_t n, const uint8_t **out)
{
	if (n > in->left)
		n = in->left;
	*out = in->p;
	in->p += n;
	in->left -= n;
	return n;
}

#endif /* VSOCK_FUZZ_COMMON_H */
