/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Credit-based flow control, in three helpers (plus bookkeeping).
 *
 * Each side advertises buf_alloc (its receive buffer) and fwd_cnt (payload
 * bytes it has handed to its application). All counters are u32 and wrap:
 * only differences are ever meaningful, so every comparison below is done on
 * the u32 difference, never on the raw values. Only payload counts.
 *
 * No EAL dependency, so unit tests drive it directly.
 */
#ifndef VSOCK_CREDIT_H
#define VSOCK_CREDIT_H

#include <stdbool.h>
#include <stdint.h>

struct vsock_credit {
	/* our receive side */
	uint32_t buf_alloc;	/* what we advertise */
	uint32_t fwd_cnt;	/* payload bytes the application consumed */
	uint32_t rx_cnt;	/* payload bytes received */
	uint32_t last_fwd_cnt;	/* fwd_cnt the peer last heard from us */
	uint32_t last_buf_alloc;	/* buf_alloc the peer last heard */
	/* our send side */
	uint32_t tx_cnt;	/* payload bytes sent */
	uint32_t peer_buf_alloc;
	uint32_t peer_fwd_cnt;
};

/*
 * 1. How many payload bytes we may still send: the peer's buffer minus what
 * is in flight. A peer that shrinks its buffer below what is already in
 * flight (or lies about fwd_cnt) yields 0, never a huge u32.
 */
static inline uint32_t
vsock_credit_tx_space(const struct vsock_credit *cr)
{
	uint32_t in_flight = cr->tx_cnt - cr->peer_fwd_cnt;

	if (in_flight >= cr->peer_buf_alloc)
		return 0;
	return cr->peer_buf_alloc - in_flight;
}

/*
 * 2. Account for payload the peer sent us. Returns false when the peer
 * overran the window we gave it: len exceeds buf_alloc minus what we hold.
 */
static inline bool
vsock_credit_rx(struct vsock_credit *cr, uint32_t len)
{
	uint32_t held = cr->rx_cnt - cr->fwd_cnt;

	if (held > cr->buf_alloc || len > cr->buf_alloc - held)
		return false;
	cr->rx_cnt += len;
	return true;
}

/*
 * 3. Account for payload the application consumed. Returns true when the
 * peer should be told (CREDIT_UPDATE): once a quarter of the buffer has been
 * consumed without the peer hearing of it. The peer's view of its window is
 * then never below three quarters of our buffer once we have drained, so a
 * one-way transfer of any length cannot stall.
 */
static inline bool
vsock_credit_consume(struct vsock_credit *cr, uint32_t len)
{
	uint32_t held = cr->rx_cnt - cr->fwd_cnt;
	uint32_t win = cr->buf_alloc;

	/* Linux sends no more than its own buffer (peer_buf_alloc) either. */
	if (cr->peer_buf_alloc != 0 && cr->peer_buf_alloc < win)
		win = cr->peer_buf_alloc;
	if (len > held)
		len = held;
	cr->fwd_cnt += len;
	return cr->fwd_cnt - cr->last_fwd_cnt >= win / 4 ||
		cr->buf_alloc != cr->last_buf_alloc;
}

/* Record the peer's view from a received header (every packet carries it). */
static inline void
vsock_credit_peer_update(struct vsock_credit *cr, uint32_t buf_alloc,
		uint32_t fwd_cnt)
{
	cr->peer_buf_alloc = buf_alloc;
	cr->peer_fwd_cnt = fwd_cnt;
}

/* Record what the peer heard from a header we are sending. */
static inline void
vsock_credit_advertised(struct vsock_credit *cr)
{
	cr->last_fwd_cnt = cr->fwd_cnt;
	cr->last_buf_alloc = cr->buf_alloc;
}

#endif /* VSOCK_CREDIT_H */
