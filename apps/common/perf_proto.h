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
 *   u32 magic "VPRF"  u8 version  u8 mode  u16 zero  u32 msg_size  u32 zero
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

struct vperf_hello {
	uint8_t mode;		/* enum vperf_mode */
	uint32_t msg_size;
};

static inline void
vperf_hello_encode(uint8_t out[VPERF_HELLO_LEN], const struct vperf_hello *h)
{
	rte_le32_t w[4] = {
		rte_cpu_to_le_32(VPERF_MAGIC),
		rte_cpu_to_le_32(VPERF_VERSION | (uint32_t)h->mode << 8),
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
			(vm & 0xff) != VPERF_VERSION || vm >> 16 != 0)
		return -EPROTO;
	h->mode = (uint8_t)(vm >> 8);
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
 * (0 when the pool is empty).
 */
unsigned int vperf_payload_msgs(struct vperf_payload *p,
		struct rte_mempool *pool, uint32_t size, struct rte_mbuf **out,
		unsigned int n);

#endif /* VSOCK_PERF_PROTO_H */
