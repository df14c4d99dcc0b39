/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The virtio-vsock packet header: wire layout, protocol constants and a
 * byte-exact little-endian codec.
 *
 * The header is 44 bytes, packed, little-endian (virtio spec, device type
 * 19). Both the stack and the driver use this file; it depends on nothing
 * but libc so that unit tests and fuzzers need no EAL.
 */
#ifndef VSOCK_HDR_H
#define VSOCK_HDR_H

#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Size of the header on the wire. */
#define VSOCK_HDR_LEN 44

/* Well-known CIDs and the "any" port. */
#define VSOCK_CID_ANY        0xFFFFFFFFu /**< any CID (VMADDR_CID_ANY) */
#define VSOCK_CID_LOCAL      1u   /**< loopback inside one stack */
#define VSOCK_CID_HOST       2u   /**< the host */
#define VSOCK_PORT_ANY       0xFFFFFFFFu /**< any port (VMADDR_PORT_ANY) */
/** Ports up to this one are never handed out as ephemeral ports. */
#define VSOCK_LAST_RESERVED_PORT 1023u

/** Socket types carried in the header's @c type field. */
enum vsock_type {
	VSOCK_TYPE_STREAM = 1,		/**< SOCK_STREAM: a byte stream */
	VSOCK_TYPE_SEQPACKET = 2,	/**< SOCK_SEQPACKET: messages */
};

/** Operations carried in the header's @c op field. */
enum vsock_op {
	VSOCK_OP_INVALID = 0,		/**< never valid on the wire */
	VSOCK_OP_REQUEST = 1,		/**< connection request */
	VSOCK_OP_RESPONSE = 2,		/**< connection accepted */
	VSOCK_OP_RST = 3,		/**< connection reset or refused */
	VSOCK_OP_SHUTDOWN = 4,		/**< shut down (VSOCK_SHUTDOWN_* flags) */
	VSOCK_OP_RW = 5,		/**< payload */
	VSOCK_OP_CREDIT_UPDATE = 6,	/**< buf_alloc and fwd_cnt news */
	VSOCK_OP_CREDIT_REQUEST = 7,	/**< asks the peer for a CREDIT_UPDATE */
	VSOCK_OP_MAX = 8,		/**< number of ops; not an op */
};

/* SHUTDOWN flags (masks, as Linux sends them). */
/** SHUTDOWN flag: the sender will receive no more. */
#define VSOCK_SHUTDOWN_RCV  1u
/** SHUTDOWN flag: the sender will send no more. */
#define VSOCK_SHUTDOWN_SEND 2u
/** SHUTDOWN flags: both directions. */
#define VSOCK_SHUTDOWN_BOTH (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)

/** SEQPACKET flag on RW packets: the last packet of a message. */
#define VSOCK_SEQ_EOM 1u
/** SEQPACKET flag on RW packets: the end of a record (MSG_EOR). */
#define VSOCK_SEQ_EOR 2u

/** Largest payload one packet may carry (Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
#define VSOCK_MAX_PKT_PAYLOAD (64u * 1024u)

/** Header fields in host byte order. */
struct vsock_hdr {
	uint64_t src_cid;	/**< sender's CID */
	uint64_t dst_cid;	/**< receiver's CID */
	uint32_t src_port;	/**< sender's port */
	uint32_t dst_port;	/**< receiver's port */
	uint32_t len;		/**< payload bytes after the header */
	uint16_t type;		/**< enum vsock_type */
	uint16_t op;		/**< enum vsock_op */
	uint32_t flags;		/**< VSOCK_SHUTDOWN_* or VSOCK_SEQ_* by op */
	uint32_t buf_alloc;	/**< sender's receive buffer, bytes */
	uint32_t fwd_cnt;	/**< bytes the sender has consumed so far */
};

/* Byte offsets of each field on the wire (virtio spec, struct virtio_vsock_hdr). */
#define VSOCK_HDR_OFF_SRC_CID   0	/**< wire offset of src_cid */
#define VSOCK_HDR_OFF_DST_CID   8	/**< wire offset of dst_cid */
#define VSOCK_HDR_OFF_SRC_PORT  16	/**< wire offset of src_port */
#define VSOCK_HDR_OFF_DST_PORT  20	/**< wire offset of dst_port */
#define VSOCK_HDR_OFF_LEN       24	/**< wire offset of len */
#define VSOCK_HDR_OFF_TYPE      28	/**< wire offset of type */
#define VSOCK_HDR_OFF_OP        30	/**< wire offset of op */
#define VSOCK_HDR_OFF_FLAGS     32	/**< wire offset of flags */
#define VSOCK_HDR_OFF_BUF_ALLOC 36	/**< wire offset of buf_alloc */
#define VSOCK_HDR_OFF_FWD_CNT   40	/**< wire offset of fwd_cnt */

/*
 * The wire is little-endian: on a little-endian CPU each field is one
 * unaligned load or store (memcpy, which the compiler turns into a
 * single mov), on a big-endian one a byte swap as well. Byte-at-a-time
 * code here was vectorised badly and stalled on store forwarding, at
 * the cost of ~10 ns per packet.
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define VSOCK_LE16(v) __builtin_bswap16(v) /**< CPU <-> little-endian */
#define VSOCK_LE32(v) __builtin_bswap32(v) /**< CPU <-> little-endian */
#define VSOCK_LE64(v) __builtin_bswap64(v) /**< CPU <-> little-endian */
#else
#define VSOCK_LE16(v) (v) /**< CPU <-> little-endian (a no-op here) */
#define VSOCK_LE32(v) (v) /**< CPU <-> little-endian (a no-op here) */
#define VSOCK_LE64(v) (v) /**< CPU <-> little-endian (a no-op here) */
#endif

/** Store @p v at @p p, little-endian, unaligned. */
static inline void
vsock_le16_put(uint8_t *p, uint16_t v)
{
	v = VSOCK_LE16(v);
	memcpy(p, &v, sizeof(v));
}

/** Store @p v at @p p, little-endian, unaligned. */
static inline void
vsock_le32_put(uint8_t *p, uint32_t v)
{
	v = VSOCK_LE32(v);
	memcpy(p, &v, sizeof(v));
}

/** Store @p v at @p p, little-endian, unaligned. */
static inline void
vsock_le64_put(uint8_t *p, uint64_t v)
{
	v = VSOCK_LE64(v);
	memcpy(p, &v, sizeof(v));
}

/** Load a little-endian value from @p p, unaligned. */
static inline uint16_t
vsock_le16_get(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return VSOCK_LE16(v);
}

/** Load a little-endian value from @p p, unaligned. */
static inline uint32_t
vsock_le32_get(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return VSOCK_LE32(v);
}

/** Load a little-endian value from @p p, unaligned. */
static inline uint64_t
vsock_le64_get(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return VSOCK_LE64(v);
}

/**
 * Write @p h to @p buf as the 44-byte wire header.
 *
 * @param buf
 *   At least VSOCK_HDR_LEN bytes; no alignment needed.
 * @param h
 *   Header in host byte order.
 */
static inline void
vsock_hdr_encode(void *buf, const struct vsock_hdr *h)
{
	uint8_t *p = (uint8_t *)buf;

	vsock_le64_put(p + VSOCK_HDR_OFF_SRC_CID, h->src_cid);
	vsock_le64_put(p + VSOCK_HDR_OFF_DST_CID, h->dst_cid);
	vsock_le32_put(p + VSOCK_HDR_OFF_SRC_PORT, h->src_port);
	vsock_le32_put(p + VSOCK_HDR_OFF_DST_PORT, h->dst_port);
	vsock_le32_put(p + VSOCK_HDR_OFF_LEN, h->len);
	vsock_le16_put(p + VSOCK_HDR_OFF_TYPE, h->type);
	vsock_le16_put(p + VSOCK_HDR_OFF_OP, h->op);
	vsock_le32_put(p + VSOCK_HDR_OFF_FLAGS, h->flags);
	vsock_le32_put(p + VSOCK_HDR_OFF_BUF_ALLOC, h->buf_alloc);
	vsock_le32_put(p + VSOCK_HDR_OFF_FWD_CNT, h->fwd_cnt);
}

/**
 * Read the 44-byte wire header at @p buf into @p h.
 *
 * Performs no validation: every field is untrusted and checked by the
 * caller against its own state.
 */
static inline void
vsock_hdr_decode(struct vsock_hdr *h, const void *buf)
{
	const uint8_t *p = (const uint8_t *)buf;

	h->src_cid = vsock_le64_get(p + VSOCK_HDR_OFF_SRC_CID);
	h->dst_cid = vsock_le64_get(p + VSOCK_HDR_OFF_DST_CID);
	h->src_port = vsock_le32_get(p + VSOCK_HDR_OFF_SRC_PORT);
	h->dst_port = vsock_le32_get(p + VSOCK_HDR_OFF_DST_PORT);
	h->len = vsock_le32_get(p + VSOCK_HDR_OFF_LEN);
	h->type = vsock_le16_get(p + VSOCK_HDR_OFF_TYPE);
	h->op = vsock_le16_get(p + VSOCK_HDR_OFF_OP);
	h->flags = vsock_le32_get(p + VSOCK_HDR_OFF_FLAGS);
	h->buf_alloc = vsock_le32_get(p + VSOCK_HDR_OFF_BUF_ALLOC);
	h->fwd_cnt = vsock_le32_get(p + VSOCK_HDR_OFF_FWD_CNT);
}

/**
 * Fill @p r (which may be @p h) with the RST that answers @p h: addresses
 * and ports swapped, the same type, every other field 0.
 */
static inline void
vsock_hdr_rst_reply(struct vsock_hdr *r, const struct vsock_hdr *h)
{
	uint64_t src_cid = h->dst_cid, dst_cid = h->src_cid;
	uint32_t src_port = h->dst_port, dst_port = h->src_port;
	uint16_t type = h->type;

	memset(r, 0, sizeof(*r));
	r->src_cid = src_cid;
	r->dst_cid = dst_cid;
	r->src_port = src_port;
	r->dst_port = dst_port;
	r->type = type;
	r->op = VSOCK_OP_RST;
}

/** Name of an op for logs; "UNKNOWN" for values outside the spec. */
static inline const char *
vsock_op_name(uint16_t op)
{
	static const char *const names[VSOCK_OP_MAX] = {
		"INVALID", "REQUEST", "RESPONSE", "RST", "SHUTDOWN", "RW",
		"CREDIT_UPDATE", "CREDIT_REQUEST",
	};

	return op < VSOCK_OP_MAX ? names[op] : "UNKNOWN";
}

#ifdef __cplusplus
}
#endif

#endif /* VSOCK_HDR_H */
