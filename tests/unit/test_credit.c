/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the credit helpers (vsock_credit.h).
 *
 * The counters are u32 and wrap after 4 GiB of payload, which any
 * long-lived connection reaches, so every property is checked both near 0
 * and straddling the wrap. The final test runs a sender and a receiver
 * against each other for many GiB to show the window never stalls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vsock_credit.h"

#define WRAP_BASE 0xFFFFFF00u	/* a few bytes short of the u32 wrap */

static void
test_tx_space_basic(void **state)
{
	struct vsock_credit cr;

	(void)state;
	memset(&cr, 0, sizeof(cr));
	assert_int_equal(vsock_credit_tx_space(&cr), 0);

	vsock_credit_peer_update(&cr, 65536, 0);
	assert_int_equal(vsock_credit_tx_space(&cr), 65536);

	cr.tx_cnt += 1000;
	assert_int_equal(vsock_credit_tx_space(&cr), 64536);

	/* The peer consumed part, then all of what we sent. */
	vsock_credit_peer_update(&cr, 65536, 400);
	assert_int_equal(vsock_credit_tx_space(&cr), 65536 - 600);
	vsock_credit_peer_update(&cr, 65536, 1000);
	assert_int_equal(vsock_credit_tx_space(&cr), 65536);

	/* Fill the window exactly, then one byte less. */
	cr.tx_cnt += 65536;
	assert_int_equal(vsock_credit_tx_space(&cr), 0);
	vsock_credit_peer_update(&cr, 65536, 1001);
	assert_int_equal(vsock_credit_tx_space(&cr), 1);

	/* A larger advertised buffer opens the window at once. */
	vsock_credit_peer_update(&cr, 262144, 1001);
	assert_int_equal(vsock_credit_tx_space(&cr), 262144 - 65535);
}

static void
test_tx_space_wrap(void **state)
{
	struct vsock_credit cr;

	(void)state;
	memset(&cr, 0, sizeof(cr));
	cr.tx_cnt = WRAP_BASE;
	vsock_credit_peer_update(&cr, 65536, WRAP_BASE);
	assert_int_equal(vsock_credit_tx_space(&cr), 65536);

	/* tx_cnt wraps past 0 while the peer's fwd_cnt has not. */
	cr.tx_cnt += 0x200;
	assert_int_equal(cr.tx_cnt, 0x100);
	assert_int_equal(vsock_credit_tx_space(&cr), 65536 - 0x200);

	/* Peer's fwd_cnt just below the wrap, tx_cnt above it. */
	vsock_credit_peer_update(&cr, 65536, 0xFFFFFFF0u);
	assert_int_equal(vsock_credit_tx_space(&cr), 65536 - 0x110);

	/* Both wrapped. */
	vsock_credit_peer_update(&cr, 65536, 0x80);
	assert_int_equal(vsock_credit_tx_space(&cr), 65536 - 0x80);
	vsock_credit_peer_update(&cr, 65536, 0x100);
	assert_int_equal(vsock_credit_tx_space(&cr), 65536);
}

/*
 * A peer may shrink its buffer below what we already have in flight, or
 * report a fwd_cnt ahead of what we sent. Either way the answer must be 0:
 * a huge u32 here would let us flood the peer.
 */
static void
test_tx_space_hostile_peer(void **state)
{
	struct vsock_credit cr;

	(void)state;
	memset(&cr, 0, sizeof(cr));
	vsock_credit_peer_update(&cr, 65536, 0);
	cr.tx_cnt = 50000;
	vsock_credit_peer_update(&cr, 32768, 0);
	assert_int_equal(vsock_credit_tx_space(&cr), 0);
	vsock_credit_peer_update(&cr, 50000, 0);
	assert_int_equal(vsock_credit_tx_space(&cr), 0);
	vsock_credit_peer_update(&cr, 0, 0);
	assert_int_equal(vsock_credit_tx_space(&cr), 0);

	/* fwd_cnt ahead of tx_cnt: in-flight looks like ~4 GiB. */
	vsock_credit_peer_update(&cr, 65536, 50010);
	assert_int_equal(vsock_credit_tx_space(&cr), 0);

	/* Same across the wrap. */
	cr.tx_cnt = 0x10;
	vsock_credit_peer_update(&cr, 0x100, WRAP_BASE);
	assert_int_equal(vsock_credit_tx_space(&cr), 0);
	vsock_credit_peer_update(&cr, 0xFFFFFFFFu, 0x11);
	assert_int_equal(vsock_credit_tx_space(&cr), 0);
}

static void
test_rx_window(void **state)
{
	struct vsock_credit cr;

	(void)state;
	memset(&cr, 0, sizeof(cr));
	cr.buf_alloc = 65536;
	assert_true(vsock_credit_rx(&cr, 65536));
	assert_int_equal(cr.rx_cnt, 65536);
	assert_false(vsock_credit_rx(&cr, 1));
	assert_int_equal(cr.rx_cnt, 65536);	/* rejected: no accounting */

	memset(&cr, 0, sizeof(cr));
	cr.buf_alloc = 65536;
	assert_true(vsock_credit_rx(&cr, 60000));
	assert_false(vsock_credit_rx(&cr, 5537));	/* overrun by one */
	assert_int_equal(cr.rx_cnt, 60000);
	assert_true(vsock_credit_rx(&cr, 5536));
	assert_false(vsock_credit_rx(&cr, 1));

	/* Consuming frees exactly that much room. */
	vsock_credit_consume(&cr, 100);
	assert_false(vsock_credit_rx(&cr, 101));
	assert_true(vsock_credit_rx(&cr, 100));
	assert_false(vsock_credit_rx(&cr, 1));

	/* We shrank our buffer below what we hold: nothing more fits. */
	cr.buf_alloc = 1024;
	assert_false(vsock_credit_rx(&cr, 1));
	assert_int_equal(cr.rx_cnt, 65636);
}

static void
test_rx_wrap(void **state)
{
	struct vsock_credit cr;

	(void)state;
	memset(&cr, 0, sizeof(cr));
	cr.buf_alloc = 65536;
	cr.rx_cnt = WRAP_BASE;
	cr.fwd_cnt = WRAP_BASE;
	assert_true(vsock_credit_rx(&cr, 65536));
	assert_int_equal(cr.rx_cnt, (uint32_t)(WRAP_BASE + 65536));
	assert_false(vsock_credit_rx(&cr, 1));

	/* fwd_cnt wraps as well. */
	vsock_credit_consume(&cr, 0x2000);
	assert_int_equal(cr.fwd_cnt, (uint32_t)(WRAP_BASE + 0x2000));
	assert_true(cr.fwd_cnt < WRAP_BASE);
	assert_false(vsock_credit_rx(&cr, 0x2001));
	assert_true(vsock_credit_rx(&cr, 0x2000));
	assert_false(vsock_credit_rx(&cr, 1));
}

static void
test_consume_quarter(void **state)
{
	struct vsock_credit cr;

	(void)state;
	memset(&cr, 0, sizeof(cr));
	cr.buf_alloc = 65536;
	vsock_credit_advertised(&cr);
	assert_true(vsock_credit_rx(&cr, 65536));

	/* Nothing to tell the peer until a quarter (16 KiB) is consumed. */
	assert_false(vsock_credit_consume(&cr, 0));
	assert_false(vsock_credit_consume(&cr, 16383));
	assert_true(vsock_credit_consume(&cr, 1));
	assert_int_equal(cr.fwd_cnt, 16384);

	/* Once the update went out, the count starts again. */
	vsock_credit_advertised(&cr);
	assert_int_equal(cr.last_fwd_cnt, 16384);
	assert_false(vsock_credit_consume(&cr, 1));
	assert_false(vsock_credit_consume(&cr, 16382));
	assert_true(vsock_credit_consume(&cr, 1));
	vsock_credit_advertised(&cr);

	/* More than we hold: clamped to what we hold. */
	assert_int_equal(cr.rx_cnt - cr.fwd_cnt, 65536 - 32768);
	assert_true(vsock_credit_consume(&cr, 100000));
	assert_int_equal(cr.fwd_cnt, cr.rx_cnt);
	vsock_credit_advertised(&cr);
	assert_false(vsock_credit_consume(&cr, 5));
	assert_int_equal(cr.fwd_cnt, 65536);
}

/*
 * Linux (6.12, and 6.1 since 6.1.16x) sends a peer no more than its own
 * buffer unacknowledged, however large ours: the update must come within
 * a quarter of the smaller one, or a one-way transfer stalls for good.
 */
static void
test_consume_quarter_of_smaller_buffer(void **state)
{
	struct vsock_credit cr;

	(void)state;
	memset(&cr, 0, sizeof(cr));
	cr.buf_alloc = 262144;
	vsock_credit_advertised(&cr);
	vsock_credit_peer_update(&cr, 32768, 0);
	assert_true(vsock_credit_rx(&cr, 32768));
	assert_false(vsock_credit_consume(&cr, 8191));
	assert_true(vsock_credit_consume(&cr, 1));
	vsock_credit_advertised(&cr);
	/* A peer with the larger buffer: ours sets the pace. */
	vsock_credit_peer_update(&cr, 1u << 20, 0);
	assert_true(vsock_credit_rx(&cr, 65536));
	assert_false(vsock_credit_consume(&cr, 65535));
	assert_true(vsock_credit_consume(&cr, 1));
}

static void
test_consume_buf_alloc_change(void **state)
{
	struct vsock_credit cr;

	(void)state;
	memset(&cr, 0, sizeof(cr));
	cr.buf_alloc = 65536;
	vsock_credit_advertised(&cr);
	assert_false(vsock_credit_consume(&cr, 0));

	/* Growing the buffer must reach the peer, or it stays throttled. */
	cr.buf_alloc = 131072;
	assert_true(vsock_credit_consume(&cr, 0));
	vsock_credit_advertised(&cr);
	assert_int_equal(cr.last_buf_alloc, 131072);
	assert_false(vsock_credit_consume(&cr, 0));

	/* Shrinking too. */
	cr.buf_alloc = 4096;
	assert_true(vsock_credit_consume(&cr, 0));
}

static void
test_consume_wrap(void **state)
{
	struct vsock_credit cr;

	(void)state;
	memset(&cr, 0, sizeof(cr));
	cr.buf_alloc = 65536;
	cr.rx_cnt = WRAP_BASE;
	cr.fwd_cnt = WRAP_BASE;
	vsock_credit_advertised(&cr);
	assert_true(vsock_credit_rx(&cr, 65536));

	assert_false(vsock_credit_consume(&cr, 0x1000));
	assert_true(cr.fwd_cnt < WRAP_BASE);	/* wrapped */
	assert_false(vsock_credit_consume(&cr, 0x2fff));
	assert_true(vsock_credit_consume(&cr, 1));
	assert_int_equal(cr.fwd_cnt, (uint32_t)(WRAP_BASE + 0x4000));
	vsock_credit_advertised(&cr);
	assert_false(vsock_credit_consume(&cr, 0x3fff));
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

static uint32_t
rng_range(uint64_t *s, uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(rng_next(s) % ((uint64_t)hi - lo + 1));
}

/*
 * One-way transfer of @total bytes. The sender sends bursts of packets of
 * up to @max_pkt bytes within its view of the window; the receiver
 * accounts each packet, consumes in random pieces (some mid-burst) and
 * drains everything each round, sending a CREDIT_UPDATE whenever
 * vsock_credit_consume() says so. Updates reach the sender at the end of
 * the round (packets are delivered in order, so the last one wins).
 *
 * Whenever the receiver has drained, the sender must see at least three
 * quarters of the buffer as free space: otherwise a transfer could stall
 * with both sides waiting.
 */
static void
run_transfer(uint32_t buf_alloc, uint32_t max_pkt, uint64_t total,
		uint64_t seed)
{
	struct vsock_credit snd, rcv;
	uint64_t sent = 0, received = 0, consumed = 0;
	uint64_t rounds = 0, updates = 0;
	uint32_t upd_buf_alloc, upd_fwd_cnt;
	bool upd_pending = false;

	memset(&snd, 0, sizeof(snd));
	memset(&rcv, 0, sizeof(rcv));
	rcv.buf_alloc = buf_alloc;
	/* REQUEST/RESPONSE carried the initial buf_alloc and fwd_cnt. */
	vsock_credit_advertised(&rcv);
	vsock_credit_peer_update(&snd, rcv.buf_alloc, rcv.fwd_cnt);
	upd_buf_alloc = rcv.buf_alloc;
	upd_fwd_cnt = rcv.fwd_cnt;

	while (sent < total) {
		uint32_t burst = rng_range(&seed, 1, 8);
		uint64_t round_sent = 0;
		uint32_t space, i;

		rounds++;
		for (i = 0; i < burst && sent < total; i++) {
			uint32_t len = rng_range(&seed, 1, max_pkt);

			space = vsock_credit_tx_space(&snd);
			if (space == 0)
				break;
			if (len > space)
				len = space;
			if (len > total - sent)
				len = (uint32_t)(total - sent);
			snd.tx_cnt += len;
			sent += len;
			round_sent += len;

			/* Sent within the window: never refused. */
			assert_true(vsock_credit_rx(&rcv, len));
			received += len;

			/* The application reads part of it right away. */
			if (rng_next(&seed) & 1) {
				uint32_t held = rcv.rx_cnt - rcv.fwd_cnt;
				uint32_t take = rng_range(&seed, 0, held);

				consumed += take;
				if (vsock_credit_consume(&rcv, take)) {
					vsock_credit_advertised(&rcv);
					upd_buf_alloc = rcv.buf_alloc;
					upd_fwd_cnt = rcv.fwd_cnt;
					upd_pending = true;
					updates++;
				}
			}
		}
		/* The sender had room at the start of every round. */
		assert_true(round_sent > 0);

		/* The application drains the rest in random pieces. */
		while (rcv.rx_cnt != rcv.fwd_cnt) {
			uint32_t held = rcv.rx_cnt - rcv.fwd_cnt;
			uint32_t take = rng_range(&seed, 1, held);

			consumed += take;
			if (vsock_credit_consume(&rcv, take)) {
				vsock_credit_advertised(&rcv);
				upd_buf_alloc = rcv.buf_alloc;
				upd_fwd_cnt = rcv.fwd_cnt;
				upd_pending = true;
				updates++;
			}
		}
		if (upd_pending) {
			vsock_credit_peer_update(&snd, upd_buf_alloc,
					upd_fwd_cnt);
			upd_pending = false;
		}

		space = vsock_credit_tx_space(&snd);
		assert_true(space > 0);
		assert_true(space >= buf_alloc - buf_alloc / 4);
	}

	assert_int_equal(sent, total);
	assert_int_equal(received, total);
	assert_int_equal(consumed, total);
	/* The u32 counters agree with the totals modulo 2^32. */
	assert_int_equal(snd.tx_cnt, (uint32_t)total);
	assert_int_equal(rcv.rx_cnt, (uint32_t)total);
	assert_int_equal(rcv.fwd_cnt, (uint32_t)total);
	/*
	 * Updates were sent, and (quarter rule) each one stood for at least
	 * a quarter of the buffer, so they are not one per packet.
	 */
	assert_true(updates > 0);
	if (buf_alloc >= 4)
		assert_true(updates <= total / (buf_alloc / 4));
	assert_true(rounds > 0);
}

/* Linux defaults: 256 KiB buffer, 64 KiB packets; 12 GiB wraps u32 3x. */
static void
test_transfer_many_gib(void **state)
{
	(void)state;
	run_transfer(262144, 65536, 12ULL << 30, 0x1234567887654321ULL);
}

/* A window smaller than one packet: every send is window-bound. */
static void
test_transfer_small_window(void **state)
{
	(void)state;
	run_transfer(4096, 65536, 1ULL << 30, 0xdeadbeefcafef00dULL);
}

/* buf_alloc / 4 == 0: every consume must trigger an update. */
static void
test_transfer_tiny_window(void **state)
{
	(void)state;
	run_transfer(3, 65536, 1ULL << 20, 0x0f1e2d3c4b5a6978ULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tx_space_basic),
		cmocka_unit_test(test_tx_space_wrap),
		cmocka_unit_test(test_tx_space_hostile_peer),
		cmocka_unit_test(test_rx_window),
		cmocka_unit_test(test_rx_wrap),
		cmocka_unit_test(test_consume_quarter),
		cmocka_unit_test(test_consume_buf_alloc_change),
		cmocka_unit_test(test_consume_wrap),
		cmocka_unit_test(test_consume_quarter_of_smaller_buffer),
		cmocka_unit_test(test_transfer_many_gib),
		cmocka_unit_test(test_transfer_small_window),
		cmocka_unit_test(test_transfer_tiny_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
