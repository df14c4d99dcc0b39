/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What every fuzz target shares: EAL started once, quietly and without
 * hugepages or PCI, a pool of mbufs, a byte reader over the input and the
 * leak check that ends each run (a leak is a finding like a crash).
 */
#ifndef VSOCK_FUZZ_COMMON_H
#define VSOCK_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

struct rte_mempool;

/* libFuzzer's entry points. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Start EAL (once) and make the pool: @n mbufs of @room data bytes. */
void fz_eal_init(const char *prog, unsigned int n, uint16_t room);
struct rte_mempool *fz_pool(void);

/* Abort (a finding) unless @mp has exactly @want objects out. */
void fz_check_pool(struct rte_mempool *mp, unsigned int want,
		const char *what);

/* Reads the input front to back; past the end everything reads as 0. */
struct fz_in {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t
fz_u8(struct fz_in *in)
{
	if (in->left == 0)
		return 0;
	in->left--;
	return *in->p++;
}

static inline uint16_t
fz_u16(struct fz_in *in)
{
	uint16_t v = fz_u8(in);

	return (uint16_t)(v | fz_u8(in) << 8);
}

static inline uint32_t
fz_u32(struct fz_in *in)
{
	uint32_t v = fz_u16(in);

	return v | (uint32_t)fz_u16(in) << 16;
}

/* Up to @n bytes: returns how many there were, *@out points at them. */
static inline size_t
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
