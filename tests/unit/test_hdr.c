/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the virtio-vsock header codec (vsock_hdr.h).
 *
 * The expected bytes are built independently of the codec under test, from
 * the field offsets of struct virtio_vsock_hdr in the virtio spec, so a
 * swapped field, a wrong offset or a wrong byte order shows up as a byte
 * mismatch rather than being hidden by a symmetric encode/decode bug.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vsock_hdr.h"

/* Spec offsets, restated here on purpose rather than taken from the header. */
enum {
	SPEC_SRC_CID = 0,
	SPEC_DST_CID = 8,
	SPEC_SRC_PORT = 16,
	SPEC_DST_PORT = 20,
	SPEC_LEN = 24,
	SPEC_TYPE = 28,
	SPEC_OP = 30,
	SPEC_FLAGS = 32,
	SPEC_BUF_ALLOC = 36,
	SPEC_FWD_CNT = 40,
	SPEC_HDR_LEN = 44,
};

/* Little-endian store of the low @n bytes of @v, byte by byte. */
static void
put_le(uint8_t *buf, size_t off, uint64_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[off + i] = (uint8_t)(v >> (8 * i));
}

/* Every byte of every field is distinct, so any misplacement is visible. */
static const struct vsock_hdr distinct_hdr = {
	.src_cid = 0x0102030405060708ULL,
	.dst_cid = 0x1112131415161718ULL,
	.src_port = 0x21222324,
	.dst_port = 0x31323334,
	.len = 0x41424344,
	.type = 0x5152,
	.op = 0x6162,
	.flags = 0x71727374,
	.buf_alloc = 0x81828384,
	.fwd_cnt = 0x91929394,
};

static void
build_spec_bytes(uint8_t out[SPEC_HDR_LEN], const struct vsock_hdr *h)
{
	memset(out, 0xEE, SPEC_HDR_LEN);
	put_le(out, SPEC_SRC_CID, h->src_cid, 8);
	put_le(out, SPEC_DST_CID, h->dst_cid, 8);
	put_le(out, SPEC_SRC_PORT, h->src_port, 4);
	put_le(out, SPEC_DST_PORT, h->dst_port, 4);
	put_le(out, SPEC_LEN, h->len, 4);
	put_le(out, SPEC_TYPE, h->type, 2);
	put_le(out, SPEC_OP, h->op, 2);
	put_le(out, SPEC_FLAGS, h->flags, 4);
	put_le(out, SPEC_BUF_ALLOC, h->buf_alloc, 4);
	put_le(out, SPEC_FWD_CNT, h->fwd_cnt, 4);
}

static void
assert_hdr_equal(const struct vsock_hdr *a, const struct vsock_hdr *b)
{
	/* Field by field: struct padding must not take part. */
	assert_int_equal(a->src_cid, b->src_cid);
	assert_int_equal(a->dst_cid, b->dst_cid);
	assert_int_equal(a->src_port, b->src_port);
	assert_int_equal(a->dst_port, b->dst_port);
	assert_int_equal(a->len, b->len);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->op, b->op);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->buf_alloc, b->buf_alloc);
	assert_int_equal(a->fwd_cnt, b->fwd_cnt);
}

/* xorshift64: deterministic, so a failure reproduces. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void
test_layout_constants(void **state)
{
	(void)state;
	assert_int_equal(VSOCK_HDR_LEN, SPEC_HDR_LEN);
	assert_int_equal(VSOCK_HDR_OFF_SRC_CID, SPEC_SRC_CID);
	assert_int_equal(VSOCK_HDR_OFF_DST_CID, SPEC_DST_CID);
	assert_int_equal(VSOCK_HDR_OFF_SRC_PORT, SPEC_SRC_PORT);
	assert_int_equal(VSOCK_HDR_OFF_DST_PORT, SPEC_DST_PORT);
	assert_int_equal(VSOCK_HDR_OFF_LEN, SPEC_LEN);
	assert_int_equal(VSOCK_HDR_OFF_TYPE, SPEC_TYPE);
	assert_int_equal(VSOCK_HDR_OFF_OP, SPEC_OP);
	assert_int_equal(VSOCK_HDR_OFF_FLAGS, SPEC_FLAGS);
	assert_int_equal(VSOCK_HDR_OFF_BUF_ALLOC, SPEC_BUF_ALLOC);
	assert_int_equal(VSOCK_HDR_OFF_FWD_CNT, SPEC_FWD_CNT);
}

static void
test_encode_matches_spec_bytes(void **state)
{
	uint8_t expect[SPEC_HDR_LEN];
	uint8_t got[SPEC_HDR_LEN + 8];

	(void)state;
	build_spec_bytes(expect, &distinct_hdr);
	/* Guard bytes after the header: encode must write exactly 44. */
	memset(got, 0xA5, sizeof(got));
	vsock_hdr_encode(got, &distinct_hdr);
	assert_memory_equal(got, expect, SPEC_HDR_LEN);
	for (size_t i = SPEC_HDR_LEN; i < sizeof(got); i++)
		assert_int_equal(got[i], 0xA5);

	/* Spot-check a few bytes by hand in case build_spec_bytes is wrong. */
	assert_int_equal(got[0], 0x08);
	assert_int_equal(got[7], 0x01);
	assert_int_equal(got[16], 0x24);
	assert_int_equal(got[28], 0x52);
	assert_int_equal(got[30], 0x62);
	assert_int_equal(got[43], 0x91);
}

static void
test_decode_spec_bytes(void **state)
{
	uint8_t bytes[SPEC_HDR_LEN];
	struct vsock_hdr h;

	(void)state;
	build_spec_bytes(bytes, &distinct_hdr);
	memset(&h, 0, sizeof(h));
	vsock_hdr_decode(&h, bytes);
	assert_hdr_equal(&h, &distinct_hdr);
}

/*
 * A connection REQUEST as a Linux guest (CID 3) sends it to the host
 * (CID 2): STREAM, buf_alloc 256 KiB (Linux's default), everything else 0.
 * Written out as raw bytes so that the test does not depend on any codec.
 */
static const uint8_t linux_request[SPEC_HDR_LEN] = {
	0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* src_cid 3 */
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* dst_cid 2 */
	0x01, 0xc0, 0x00, 0x00,	/* src_port 49153 */
	0xd2, 0x04, 0x00, 0x00,	/* dst_port 1234 */
	0x00, 0x00, 0x00, 0x00,	/* len 0 */
	0x01, 0x00,		/* type STREAM */
	0x01, 0x00,		/* op REQUEST */
	0x00, 0x00, 0x00, 0x00,	/* flags */
	0x00, 0x00, 0x04, 0x00,	/* buf_alloc 262144 */
	0x00, 0x00, 0x00, 0x00,	/* fwd_cnt */
};

static void
test_linux_request_vector(void **state)
{
	const struct vsock_hdr req = {
		.src_cid = 3,
		.dst_cid = VSOCK_CID_HOST,
		.src_port = 49153,
		.dst_port = 1234,
		.type = VSOCK_TYPE_STREAM,
		.op = VSOCK_OP_REQUEST,
		.buf_alloc = 262144,
	};
	uint8_t got[SPEC_HDR_LEN];
	struct vsock_hdr h;

	(void)state;
	vsock_hdr_encode(got, &req);
	assert_memory_equal(got, linux_request, SPEC_HDR_LEN);

	memset(&h, 0xff, sizeof(h));
	vsock_hdr_decode(&h, linux_request);
	assert_hdr_equal(&h, &req);
	assert_string_equal(vsock_op_name(h.op), "REQUEST");
}

static void
test_round_trip_random(void **state)
{
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	int i;

	(void)state;
	for (i = 0; i < 100000; i++) {
		struct vsock_hdr h, back;
		uint8_t wire[SPEC_HDR_LEN], expect[SPEC_HDR_LEN];
		uint64_t r = rng_next(&seed);

		h.src_cid = rng_next(&seed);
		h.dst_cid = rng_next(&seed);
		h.src_port = (uint32_t)r;
		h.dst_port = (uint32_t)(r >> 32);
		r = rng_next(&seed);
		h.len = (uint32_t)r;
		h.type = (uint16_t)(r >> 32);
		h.op = (uint16_t)(r >> 48);
		r = rng_next(&seed);
		h.flags = (uint32_t)r;
		h.buf_alloc = (uint32_t)(r >> 32);
		h.fwd_cnt = (uint32_t)rng_next(&seed);

		vsock_hdr_encode(wire, &h);
		build_spec_bytes(expect, &h);
		assert_memory_equal(wire, expect, SPEC_HDR_LEN);
		vsock_hdr_decode(&back, wire);
		assert_hdr_equal(&back, &h);
	}
}

/*
 * Any 44 bytes are a header (no field is reserved), so decode followed by
 * encode must reproduce arbitrary input exactly: nothing is lost or masked.
 */
static void
test_random_bytes_round_trip(void **state)
{
	uint64_t seed = 0x0123456789abcdefULL;
	int i;

	(void)state;
	for (i = 0; i < 100000; i++) {
		uint8_t in[48], out[SPEC_HDR_LEN];
		struct vsock_hdr h;
		size_t j;

		for (j = 0; j < sizeof(in); j += 8) {
			uint64_t r = rng_next(&seed);

			memcpy(&in[j], &r, 8);
		}
		vsock_hdr_decode(&h, in);
		vsock_hdr_encode(out, &h);
		assert_memory_equal(in, out, SPEC_HDR_LEN);
	}
}

/*
 * Headers sit wherever the buffer puts them (any mbuf data offset, any
 * guest address), so odd addresses must work for both directions.
 */
static void
test_unaligned(void **state)
{
	uint8_t buf[SPEC_HDR_LEN + 16];
	uint8_t expect[SPEC_HDR_LEN];
	struct vsock_hdr h;
	size_t off, i;

	(void)state;
	build_spec_bytes(expect, &distinct_hdr);
	for (off = 1; off < 8; off++) {
		memset(buf, 0, sizeof(buf));
		memcpy(buf + off, expect, SPEC_HDR_LEN);
		memset(&h, 0, sizeof(h));
		vsock_hdr_decode(&h, buf + off);
		assert_hdr_equal(&h, &distinct_hdr);

		memset(buf, 0x5A, sizeof(buf));
		vsock_hdr_encode(buf + off, &distinct_hdr);
		assert_memory_equal(buf + off, expect, SPEC_HDR_LEN);
		for (i = 0; i < off; i++)
			assert_int_equal(buf[i], 0x5A);
		for (i = off + SPEC_HDR_LEN; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 0x5A);
	}
}

static void
test_op_names(void **state)
{
	(void)state;
	assert_string_equal(vsock_op_name(VSOCK_OP_INVALID), "INVALID");
	assert_string_equal(vsock_op_name(VSOCK_OP_REQUEST), "REQUEST");
	assert_string_equal(vsock_op_name(VSOCK_OP_RESPONSE), "RESPONSE");
	assert_string_equal(vsock_op_name(VSOCK_OP_RST), "RST");
	assert_string_equal(vsock_op_name(VSOCK_OP_SHUTDOWN), "SHUTDOWN");
	assert_string_equal(vsock_op_name(VSOCK_OP_RW), "RW");
	assert_string_equal(vsock_op_name(VSOCK_OP_CREDIT_UPDATE),
			"CREDIT_UPDATE");
	assert_string_equal(vsock_op_name(VSOCK_OP_CREDIT_REQUEST),
			"CREDIT_REQUEST");
	/* Values from the wire are untrusted: never index past the table. */
	assert_string_equal(vsock_op_name(8), "UNKNOWN");
	assert_string_equal(vsock_op_name(VSOCK_OP_MAX), "UNKNOWN");
	assert_string_equal(vsock_op_name(0x100), "UNKNOWN");
	assert_string_equal(vsock_op_name(0xffff), "UNKNOWN");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_constants),
		cmocka_unit_test(test_encode_matches_spec_bytes),
		cmocka_unit_test(test_decode_spec_bytes),
		cmocka_unit_test(test_linux_request_vector),
		cmocka_unit_test(test_round_trip_random),
		cmocka_unit_test(test_random_bytes_round_trip),
		cmocka_unit_test(test_unaligned),
		cmocka_unit_test(test_op_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
