/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-perf's wire protocol and payload helpers, shared by the client
 * (apps/vsock-perf), its server and the bridge's --perf-port service.
 *
 * A test connection starts with one hello from the client, like iperf3's
 * parameter exchange but per connection so that every stream stands on
 * its own (16 bytes, little-endian; on SEQPACKET it is a message of its
 * own):
 *
 *   u32 magic "VPRF"  u8 version  u8 mode  u8 flags  u8 zero  u32 msg_size
 *   u32 zero
 *
 * Flags (a server that does not know one refuses the hello):
 *   COLD    the sending side walks a buffer larger than the last-level
 *           cache (vperf_cold_len()) instead of one hot pattern, and the
 *           receiving side reads every byte (vperf_payload_sum()) instead
 *           of dropping it unread: what a real application costs.
 *
 * Modes:
 *   SINK    the client sends; the server reads and drops every byte. When
 *           the client shuts down its send side the server answers with
 *           the u64 payload bytes it received, then closes.
 *   SOURCE  the server sends msg_size messages until the client shuts
 *           down or closes (-R).
 *   ECHO    the server sends every byte (message) back (--latency).
 *   IDLE    nothing more: the connection only exists (--idle).
 * A connection that shuts down before any hello is closed quietly: that
 * is a connection-rate probe.
 */
#ifndef VSOCK_PERF_PROTO_H
#define VSOCK_PERF_PROTO_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <rte_byteorder.h>

struct rte_mbuf;
struct rte_mempool;

#define VPERF_MAGIC 0x46525056u	/* "VPRF" read little-endian */
#define VPERF_VERSION 1
#define VPERF_HELLO_LEN 16u
#define VPERF_TRAILER_LEN 8u
/* Largest message: the stack's chain limit with 16 KiB mbufs is higher,
 * but a message is built from at most this many payload segments. */
#define VPERF_MAX_MSG (1u << 20)

enum vperf_mode {
	VPERF_SINK = 0,
	VPERF_SOURCE = 1,
	VPERF_ECHO = 2,
	VPERF_IDLE = 3,
	VPERF_NB_MODES
};

#define VPERF_F_COLD 0x01u	/* cold source, reading sink */
#define VPERF_F_ALL VPERF_F_COLD

struct vperf_hello {
	uint8_t mode;		/* enum vperf_mode */
	uint8_t flags;		/* VPERF_F_* */
	uint32_t msg_size;
};

static inline void
vperf_hello_encode(uint8_t out[VPERF_HELLO_LEN], const struct vperf_hello *h)
{
	rte_le32_t w[4] = {
		rte_cpu_to_le_32(VPERF_MAGIC),
		rte_cpu_to_le_32(VPERF_VERSION | (uint32_t)h->mode << 8 |
				(uint32_t)h->flags << 16),
		rte_cpu_to_le_32(h->msg_size),
		0,
	};

	memcpy(out, w, sizeof(w));
}

/* 0, or -EPROTO for a hello this version cannot serve. */
static inline int
vperf_hello_decode(const uint8_t in[VPERF_HELLO_LEN], struct vperf_hello *h)
{
	rte_le32_t w[4];
	uint32_t vm;

	memcpy(w, in, sizeof(w));
	vm = rte_le_to_cpu_32(w[1]);
	if (rte_le_to_cpu_32(w[0]) != VPERF_MAGIC ||
			(vm & 0xff) != VPERF_VERSION || vm >> 24 != 0 ||
			((vm >> 16) & ~VPERF_F_ALL) != 0)
		return -EPROTO;
	h->mode = (uint8_t)(vm >> 8);
	h->flags = (uint8_t)(vm >> 16);
	h->msg_size = rte_le_to_cpu_32(w[2]);
	if (h->mode >= VPERF_NB_MODES || h->msg_size == 0 ||
			h->msg_size > VPERF_MAX_MSG)
		return -EPROTO;
	return 0;
}

/*
 * Messages to send, without copying: small ones are copied into direct
 * mbufs (so that the stack can coalesce them), large ones are chains of
 * mbufs attached to one shared, never-written pattern buffer in DPDK
 * memory (so any device can reach it and no byte is written per send).
 */
struct vperf_payload;

/* A pattern of VPERF_MAX_MSG bytes on @socket; NULL with rte_errno. */
struct vperf_payload *vperf_payload_create(int socket);

/* Overrides vperf_cold_len(): bytes, a multiple of 2 MiB up to 1 GiB. */
#define VPERF_COLD_ENV "VSOCK_PERF_COLD_BYTES"

/*
 * Bytes of a cold pattern: 1.25 times the last-level cache, rounded up
 * to 2 MiB, within 64 MiB..1 GiB (64 MiB when the size is unknown), or
 * $VSOCK_PERF_COLD_BYTES; 0 when that is not a valid size.
 */
size_t vperf_cold_len(void);

/*
 * A cold pattern of vperf_cold_len() bytes on @socket, every page
 * touched: vperf_payload_msgs() walks it, each message taken where the
 * last one ended. NULL with rte_errno (ENOMEM: not enough hugepages;
 * EINVAL: a bad $VSOCK_PERF_COLD_BYTES).
 */
struct vperf_payload *vperf_payload_create_cold(int socket);

/* The pattern's length in bytes. */
size_t vperf_payload_len(const struct vperf_payload *p);

/*
 * A sum over every byte of @m's chain, for a sink that reads what it is
 * given (COLD): the caller keeps it so that no read can be left out.
 */
uint64_t vperf_payload_sum(const struct rte_mbuf *m);
void vperf_payload_free(struct vperf_payload *p);

/*
 * The @size bytes of the (endlessly repeated) pattern from offset @off, as
 * a chain attached to it; NULL when the pool is empty.
 */
struct rte_mbuf *vperf_payload_slice(struct vperf_payload *p,
		struct rte_mempool *pool, uint64_t off, uint32_t size);

/* The pattern itself: VPERF_MAX_MSG bytes, repeated endlessly. */
const uint8_t *vperf_payload_bytes(const struct vperf_payload *p);

/* Whether the bytes of @m are the pattern's from offset @off. */
bool vperf_payload_check(const struct vperf_payload *p, uint64_t off,
		const struct rte_mbuf *m);

/*
 * Up to @n messages of @size bytes from @pool into @out; returns how many
 * (0 when the pool is empty). A hot pattern gives its first @size bytes
 * every time; a cold one the next @size bytes of its walk.
 */
unsigned int vperf_payload_msgs(struct vperf_payload *p,
		struct rte_mempool *pool, uint32_t size, struct rte_mbuf **out,
		unsigned int n);

#endif /* VSOCK_PERF_PROTO_H */
