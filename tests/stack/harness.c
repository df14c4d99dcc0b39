/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "harness.h"

static struct rte_mempool *pool;
static unsigned int stack_seq;

void
h_eal_init(const char *prog, bool two_lcores)
{
	char *argv[] = {
		(char *)(uintptr_t)prog, "-l", two_lcores ? "0-1" : "0",
		"--in-memory", "--no-pci", "--log-level=lib.eal:error",
		"--log-level=vsock.*:error", NULL,
	};

	if (rte_eal_init((int)RTE_DIM(argv) - 1, argv) < 0) {
		fprintf(stderr, "%s: EAL init failed: %s (hugepages? run "
			"scripts/setup.sh)\n", prog, rte_strerror(rte_errno));
		exit(1);
	}
	/* 16 KiB mbufs like vsock-testpmd's, for real device runs. */
	pool = rte_pktmbuf_pool_create("test_pool", 16383, 256, 0,
			16384 + RTE_PKTMBUF_HEADROOM, SOCKET_ID_ANY);
	if (pool == NULL) {
		fprintf(stderr, "%s: no pool: %s\n", prog,
			rte_strerror(rte_errno));
		exit(1);
	}
}

struct rte_mempool *
h_pool(void)
{
	return pool;
}

struct vsock_stack *
h_stack(const struct vsock_stack_conf *over)
{
	struct vsock_stack_conf conf = { 0 };
	char name[24];
	struct vsock_stack *s;

	if (over != NULL)
		conf = *over;
	conf.pool = pool;
	snprintf(name, sizeof(name), "t%u", stack_seq++);
	s = vsock_stack_create(name, &conf);
	if (s == NULL) {
		fprintf(stderr, "stack create: %s\n", rte_strerror(rte_errno));
		abort();
	}
	return s;
}

static uint16_t
fp_rx(void *priv, struct rte_mbuf **pkts, uint16_t n)
{
	struct fport *fp = priv;
	uint16_t i = 0;

	while (i < n && fp->rx_rd < fp->rx_n)
		pkts[i++] = fp->rx[fp->rx_rd++];
	if (fp->rx_rd == fp->rx_n)
		fp->rx_rd = fp->rx_n = 0;
	return i;
}

static uint16_t
fp_tx(void *priv, struct rte_mbuf **pkts, uint16_t n)
{
	struct fport *fp = priv;
	uint16_t i = 0;

	while (i < n && fp->tx_n < FP_TX_MAX)
		fp->tx[fp->tx_n++] = pkts[i++];
	return i;
}

static uint64_t
fp_cid(void *priv)
{
	return ((struct fport *)priv)->cid;
}

static uint32_t
fp_features(void *priv)
{
	return ((struct fport *)priv)->features;
}

static int
fp_event(void *priv, uint32_t *ev)
{
	struct fport *fp = priv;

	if (fp->event < 0)
		return 0;
	*ev = (uint32_t)fp->event;
	fp->event = -1;
	return 1;
}

static uint32_t
fp_inflight(void *priv)
{
	return ((struct fport *)priv)->inflight;
}

static const struct vsock_port_ops fp_ops = {
	.rx_burst = fp_rx,
	.tx_burst = fp_tx,
	.local_cid = fp_cid,
	.features = fp_features,
	.poll_event = fp_event,
	.tx_inflight = fp_inflight,
};

struct fport *
fport_new(uint64_t cid, uint32_t features)
{
	struct fport *fp = calloc(1, sizeof(*fp));

	fp->port.ops = &fp_ops;
	fp->port.priv = fp;
	fp->port.name = "fake";
	fp->cid = cid;
	fp->features = features;
	fp->event = -1;
	return fp;
}

void
fport_drop_all(struct fport *fp)
{
	while (fp->tx_rd < fp->tx_n)
		rte_pktmbuf_free(fp->tx[fp->tx_rd++]);
	fp->tx_rd = fp->tx_n = 0;
}

void
fport_free(struct fport *fp)
{
	fport_drop_all(fp);
	while (fp->rx_rd < fp->rx_n)
		rte_pktmbuf_free(fp->rx[fp->rx_rd++]);
	free(fp);
}

void
fport_inject(struct fport *fp, const struct vsock_hdr *h, const void *data,
		uint32_t data_len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t *p;

	if (m == NULL || fp->rx_n == FP_RX_MAX)
		abort();
	p = (uint8_t *)rte_pktmbuf_append(m, VSOCK_HDR_LEN + data_len);
	vsock_hdr_encode(p, h);
	if (data_len > 0)
		memcpy(p + VSOCK_HDR_LEN, data, data_len);
	fp->rx[fp->rx_n++] = m;
}

int
fport_take(struct fport *fp, struct vsock_hdr *h, void *data, uint32_t cap)
{
	uint8_t raw[VSOCK_HDR_LEN];
	struct rte_mbuf *m;
	uint32_t len;

	if (fp->tx_rd == fp->tx_n)
		return -1;
	m = fp->tx[fp->tx_rd++];
	vsock_hdr_decode(h, rte_pktmbuf_read(m, 0, VSOCK_HDR_LEN, raw));
	len = m->pkt_len - VSOCK_HDR_LEN;
	if (data != NULL && len > 0) {
		const void *p = rte_pktmbuf_read(m, VSOCK_HDR_LEN,
				RTE_MIN(len, cap), data);

		if (p != data)
			memcpy(data, p, RTE_MIN(len, cap));
	}
	rte_pktmbuf_free(m);
	if (fp->tx_rd == fp->tx_n)
		fp->tx_rd = fp->tx_n = 0;
	return (int)len;
}

unsigned int
fport_pending(const struct fport *fp)
{
	return fp->tx_n - fp->tx_rd;
}

struct vsock_hdr
h_hdr(const struct fport *fp, uint32_t rport, uint32_t lport, uint16_t type,
		uint16_t op)
{
	struct vsock_hdr h = {
		.src_cid = VSOCK_CID_HOST,
		.dst_cid = fp->cid,
		.src_port = rport,
		.dst_port = lport,
		.type = type,
		.op = op,
		.buf_alloc = 256 * 1024,
	};

	return h;
}

void
rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	r->consume = true;
}

void
rec_fini(struct rec *r)
{
	free(r->data);
	memset(r, 0, sizeof(*r));
}

static void
rec_accept(struct vsock_conn *c, void *ctx)
{
	struct rec *r = ctx;

	r->accepts++;
	r->conn = c;
}

static void
rec_connect(struct vsock_conn *c, int err, void *ctx)
{
	struct rec *r = ctx;

	r->connects++;
	r->connect_err = err;
	r->conn = err == 0 ? c : NULL;
}

static void
rec_data(struct vsock_conn *c, struct rte_mbuf *m, void *ctx)
{
	struct rec *r = ctx;
	uint32_t len = m->pkt_len;

	r->datas++;
	r->last_flags = vsock_mbuf_msg_flags(m);
	if (r->data_len + len > r->data_cap) {
		r->data_cap = (r->data_len + len) * 2 + 64;
		r->data = realloc(r->data, r->data_cap);
	}
	if (len > 0) {
		const void *p = rte_pktmbuf_read(m, 0, len,
				r->data + r->data_len);

		if (p != r->data + r->data_len)
			memcpy(r->data + r->data_len, p, len);
	}
	r->data_len += len;
	if (r->consume)
		vsock_data_release(c, m);
	else
		rte_pktmbuf_free(m);
}

static void
rec_readable(struct vsock_conn *c, void *ctx)
{
	RTE_SET_USED(c);
	((struct rec *)ctx)->readables++;
}

static void
rec_writable(struct vsock_conn *c, void *ctx)
{
	RTE_SET_USED(c);
	((struct rec *)ctx)->writables++;
}

static void
rec_shutdown(struct vsock_conn *c, unsigned int how, void *ctx)
{
	struct rec *r = ctx;

	RTE_SET_USED(c);
	r->shutdowns++;
	r->shut_how = how;
}

static void
rec_reset(struct vsock_conn *c, enum vsock_reset_reason why, void *ctx)
{
	struct rec *r = ctx;

	RTE_SET_USED(c);
	r->resets++;
	r->reset_why = why;
	r->conn = NULL;
}

const struct vsock_ops rec_ops = {
	.on_accept = rec_accept,
	.on_connect = rec_connect,
	.on_data = rec_data,
	.on_writable = rec_writable,
	.on_shutdown = rec_shutdown,
	.on_reset = rec_reset,
};

/* The same in copy mode: data waits for vsock_recv(). */
const struct vsock_ops rec_ops_recv = {
	.rx_mode = VSOCK_RX_COPY,
	.on_accept = rec_accept,
	.on_connect = rec_connect,
	.on_readable = rec_readable,
	.on_writable = rec_writable,
	.on_shutdown = rec_shutdown,
	.on_reset = rec_reset,
};

void
h_poll(struct vsock_stack *s, unsigned int n)
{
	while (n-- > 0)
		vsock_stack_poll(s);
}

void
h_poll_ms(struct vsock_stack *s, unsigned int ms)
{
	uint64_t end = rte_get_timer_cycles() + rte_get_timer_hz() * ms / 1000;

	while (rte_get_timer_cycles() < end)
		vsock_stack_poll(s);
}
