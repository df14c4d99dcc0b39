/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-perf --verify: end-to-end integrity against a plain echo server
 * (vsock-bridge --echo-port, vsock-testpmd --mode echo, socat on a Linux
 * host). Each of the -P slots runs connections one after another: random
 * message sizes from the shared pattern, at most a window in flight, every
 * echoed byte compared with what was sent at its offset and SHA-256 of
 * both streams compared when the connection ends.
 *
 * Nothing may be lost unreported: a reset connection reports the bytes
 * sent and not echoed as lost (the application was told); a connection
 * that ends normally with fewer bytes, other bytes or another digest is an
 * error. Reset slots connect again, so a soak survives back-end restarts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <rte_cycles.h>
#include <rte_mbuf.h>

#include "perf.h"
#include "perf_proto.h"

/* Pause before a slot connects again after a reset or a failed connect. */
#define VPERF_VERIFY_RETRY_MS 20

enum vperf_verify_state {
	VPERF_VERIFY_IDLE,
	VPERF_VERIFY_CONNECTING,
	VPERF_VERIFY_SENDING,
	VPERF_VERIFY_DRAINING,
};

struct vperf_verify_slot {
	struct vperf_ctx *t;
	struct vsock_conn *vc;
	enum vperf_verify_state state;
	uint64_t seq;		/* connections this slot has opened */
	uint64_t base;		/* pattern offset of this connection's byte 0 */
	uint64_t target;	/* bytes this connection sends */
	uint64_t tx_off;	/* bytes sent */
	uint64_t rx_off;	/* bytes echoed and checked */
	uint64_t retry_at;	/* tsc: connect again from then on */
	uint64_t rng;
	EVP_MD_CTX *tx_md;
	EVP_MD_CTX *rx_md;
};

static uint64_t
vperf_verify_rand(uint64_t *s)
{
	uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint32_t
vperf_verify_size(struct vperf_verify_slot *sl)
{
	const struct vperf_opts *o = &sl->t->o;

	return o->size_min + (uint32_t)(vperf_verify_rand(&sl->rng) %
			(o->size_max - o->size_min + 1));
}

/* SHA-256 of the pattern's bytes [off, off + len), wrapping. */
static void
vperf_verify_digest_pattern(EVP_MD_CTX *md, const uint8_t *pat, uint64_t off,
		uint64_t len)
{
	while (len > 0) {
		uint32_t at = (uint32_t)(off % VPERF_MAX_MSG);
		uint32_t n = (uint32_t)RTE_MIN(len, (uint64_t)VPERF_MAX_MSG - at);

		EVP_DigestUpdate(md, pat + at, n);
		off += n;
		len -= n;
	}
}

static void vperf_verify_end(struct vperf_verify_slot *sl, bool reset);

static void
vperf_verify_pump(struct vperf_verify_slot *sl)
{
	struct vperf_ctx *t = sl->t;

	while (sl->state == VPERF_VERIFY_SENDING && sl->tx_off < sl->target &&
			sl->tx_off - sl->rx_off < t->window) {
		uint32_t n = (uint32_t)RTE_MIN((uint64_t)vperf_verify_size(sl),
				sl->target - sl->tx_off);
		struct rte_mbuf *m = vperf_payload_slice(t->pay, t->pool,
				sl->base + sl->tx_off, n);
		int r;

		if (m == NULL)
			return;		/* the pool refills: next poll */
		r = vsock_send(sl->vc, m, 0);
		if (r == -ENOBUFS) {
			rte_pktmbuf_free(m);
			return;		/* on_writable resumes */
		}
		if (r != 0) {
			rte_pktmbuf_free(m);
			t->errors++;
			vsock_abort(sl->vc);
			vperf_verify_end(sl, true);
			return;
		}
		vperf_verify_digest_pattern(sl->tx_md,
				vperf_payload_bytes(t->pay),
				sl->base + sl->tx_off, n);
		sl->tx_off += n;
		t->sent.bytes += n;
		t->sent.msgs++;
	}
	if (sl->state == VPERF_VERIFY_SENDING && sl->tx_off == sl->target) {
		/* All sent: the echo server closes once it has echoed. */
		sl->state = VPERF_VERIFY_DRAINING;
		if (vsock_shutdown(sl->vc, VSOCK_SHUTDOWN_SEND) != 0) {
			t->errors++;
			vsock_abort(sl->vc);
			vperf_verify_end(sl, true);
		}
	}
}

/* The connection is over: judge it, free the slot for the next one. */
static void
vperf_verify_end(struct vperf_verify_slot *sl, bool reset)
{
	struct vperf_ctx *t = sl->t;
	uint8_t a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
	unsigned int la = 0, lb = 0;

	if (reset) {
		/* Told to the application: reported, not silent, loss. */
		t->vf.resets++;
		t->vf.lost_bytes += sl->tx_off - sl->rx_off;
		t->vf.bytes_echoed += sl->rx_off;
		sl->retry_at = rte_rdtsc() +
			t->tsc_hz / 1000 * VPERF_VERIFY_RETRY_MS;
	} else {
		EVP_DigestFinal_ex(sl->tx_md, a, &la);
		EVP_DigestFinal_ex(sl->rx_md, b, &lb);
		if (sl->rx_off != sl->tx_off || la != lb ||
				memcmp(a, b, la) != 0) {
			t->vf.unreported++;
			t->errors++;
		} else {
			t->vf.conns_ok++;
			t->vf.bytes_ok += sl->tx_off;
			t->vf.sha256_ok++;
		}
		t->vf.bytes_echoed += sl->rx_off;
		if (sl->rx_off < sl->tx_off) {
			/* Short and not reset: lost without a word. */
			t->vf.lost_bytes += sl->tx_off - sl->rx_off;
		}
		sl->retry_at = 0;
	}
	sl->vc = NULL;
	sl->state = VPERF_VERIFY_IDLE;
	t->live--;
}

static void
vperf_verify_on_connect(struct vsock_conn *vc, int err, void *ctx)
{
	struct vperf_verify_slot *sl = ctx;
	struct vperf_ctx *t = sl->t;

	RTE_SET_USED(vc);
	if (err != 0) {
		/* A back-end that is away: try again shortly. */
		t->connect_fail++;
		sl->vc = NULL;
		sl->state = VPERF_VERIFY_IDLE;
		sl->retry_at = rte_rdtsc() +
			t->tsc_hz / 1000 * VPERF_VERIFY_RETRY_MS;
		t->live--;
		return;
	}
	sl->state = VPERF_VERIFY_SENDING;
	vperf_verify_pump(sl);
}

static void
vperf_verify_on_data(struct vsock_conn *vc, struct rte_mbuf *m, void *ctx)
{
	struct vperf_verify_slot *sl = ctx;
	struct vperf_ctx *t = sl->t;
	uint32_t len = m->pkt_len;
	const struct rte_mbuf *s;

	if (sl->rx_off + len > sl->tx_off ||
			!vperf_payload_check(t->pay, sl->base + sl->rx_off, m)) {
		/* More than was sent, or other bytes: never silently. */
		t->vf.corrupt++;
		t->errors++;
		rte_pktmbuf_free(m);
		vsock_abort(vc);
		vperf_verify_end(sl, true);
		return;
	}
	for (s = m; s != NULL; s = s->next)
		EVP_DigestUpdate(sl->rx_md, rte_pktmbuf_mtod(s, const void *),
				s->data_len);
	sl->rx_off += len;
	t->rcvd.bytes += len;
	rte_pktmbuf_free(m);
	vsock_consumed(vc, len);
	vperf_verify_pump(sl);
}

static void
vperf_verify_on_writable(struct vsock_conn *vc, void *ctx)
{
	RTE_SET_USED(vc);
	vperf_verify_pump(ctx);
}

static void
vperf_verify_on_shutdown(struct vsock_conn *vc, unsigned int how, void *ctx)
{
	struct vperf_verify_slot *sl = ctx;

	RTE_SET_USED(how);
	/* The echo server is done: judged on what came back. */
	vsock_close(vc);
	vperf_verify_end(sl, false);
}

static void
vperf_verify_on_reset(struct vsock_conn *vc, enum vsock_reset_reason why,
		void *ctx)
{
	RTE_SET_USED(vc);
	RTE_SET_USED(why);
	vperf_verify_end(ctx, true);
}

static const struct vsock_ops vperf_verify_ops = {
	.on_connect = vperf_verify_on_connect,
	.on_data = vperf_verify_on_data,
	.on_writable = vperf_verify_on_writable,
	.on_shutdown = vperf_verify_on_shutdown,
	.on_reset = vperf_verify_on_reset,
};

static void
vperf_verify_open(struct vperf_verify_slot *sl)
{
	struct vperf_ctx *t = sl->t;
	const struct vperf_opts *o = &t->o;
	int r;

	if (t->stopping || (o->bytes != 0 && t->sent.bytes >= o->bytes) ||
			rte_rdtsc() < sl->retry_at)
		return;
	r = vsock_connect(t->stack, t->peer_cid, o->port, VSOCK_TYPE_STREAM,
			&vperf_verify_ops, sl, &sl->vc);
	if (r != 0) {
		if (r != -ENOBUFS)
			t->connect_fail++;
		sl->retry_at = rte_rdtsc() +
			t->tsc_hz / 1000 * VPERF_VERIFY_RETRY_MS;
		return;
	}
	sl->state = VPERF_VERIFY_CONNECTING;
	sl->seq++;
	sl->base = vperf_verify_rand(&sl->rng) % VPERF_MAX_MSG;
	sl->target = 1 + vperf_verify_rand(&sl->rng) % (2 * o->conn_bytes);
	sl->tx_off = sl->rx_off = 0;
	EVP_DigestInit_ex(sl->tx_md, EVP_sha256(), NULL);
	EVP_DigestInit_ex(sl->rx_md, EVP_sha256(), NULL);
	t->live++;
}

int
vperf_verify_start(struct vperf_ctx *t)
{
	struct vperf_verify_slot *sl;
	uint32_t i;

	sl = calloc(t->o.streams, sizeof(*sl));
	if (sl == NULL)
		return -ENOMEM;
	t->vslots = sl;
	for (i = 0; i < t->o.streams; i++) {
		sl[i].t = t;
		sl[i].rng = t->o.seed * 0x100000001b3ULL + i;
		sl[i].tx_md = EVP_MD_CTX_new();
		sl[i].rx_md = EVP_MD_CTX_new();
		if (sl[i].tx_md == NULL || sl[i].rx_md == NULL)
			return -ENOMEM;
		vperf_verify_open(&sl[i]);
	}
	return 0;
}

void
vperf_verify_poll(struct vperf_ctx *t)
{
	struct vperf_verify_slot *sl = t->vslots;
	uint32_t i;

	for (i = 0; i < t->o.streams; i++) {
		if (sl[i].state == VPERF_VERIFY_IDLE)
			vperf_verify_open(&sl[i]);
		else if (sl[i].state == VPERF_VERIFY_SENDING)
			/* The pool may have refilled. */
			vperf_verify_pump(&sl[i]);
	}
}

void
vperf_verify_stop(struct vperf_ctx *t)
{
	struct vperf_verify_slot *sl = t->vslots;
	uint32_t i;

	t->stopping = true;
	/* Cut each connection short where it is: it still ends checked. */
	for (i = 0; i < t->o.streams; i++)
		if (sl[i].state == VPERF_VERIFY_SENDING)
			sl[i].target = sl[i].tx_off;
	vperf_verify_poll(t);
}

bool
vperf_verify_budget_done(const struct vperf_ctx *t)
{
	return t->o.bytes != 0 && t->sent.bytes >= t->o.bytes;
}

void
vperf_verify_free(struct vperf_ctx *t)
{
	struct vperf_verify_slot *sl = t->vslots;
	uint32_t i;

	if (sl == NULL)
		return;
	for (i = 0; i < t->o.streams; i++) {
		if (sl[i].vc != NULL) {
			/* Still open at the end: what it had is reported. */
			vsock_abort(sl[i].vc);
			vperf_verify_end(&sl[i], true);
		}
		EVP_MD_CTX_free(sl[i].tx_md);
		EVP_MD_CTX_free(sl[i].rx_md);
	}
	free(sl);
	t->vslots = NULL;
}
