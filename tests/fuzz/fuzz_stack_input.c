/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The stack's packet input. The input's first part builds a connection
 * table in random states through well-formed exchanges (listeners,
 * accepted and connected connections, half-closed either way, closing,
 * with data queued and credit given or not); the rest is a sequence of
 * commands: raw packets (44-byte header + payload, in one mbuf or with
 * the header in its own), polls, application calls and time passing
 * (every timer armed then fires, fz_time_passes()) in between. Packets
 * may be addressed to a connection of the table (its ephemeral port is
 * random) with the rest of the header left as the input says.
 *
 * Every run takes the stack of its configuration (made once, on a fake
 * port) and ends with the table torn down through the API (abort, the
 * peer's RST for closing connections, unlisten). Findings: a crash, a sanitizer report, a
 * connection or an mbuf (application pool or the stack's own) still out
 * after that.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_mbuf.h>

#include <vsock_stack.h>

#include "fuzz_common.h"

#define FZ_CID FZ_PORT_CID
#define FZ_PEER_CID VSOCK_CID_HOST
#define FZ_SLOTS 16
#define FZ_ROOM 4096
#define FZ_CMDS_MAX 512
/* Every timer of the stack: connect, close and credit request. */
#define FZ_TIMEOUT_MS 5

struct slot {
	struct vsock_conn *c;	/* NULL once gone or closed by us */
	struct vsock_conn_info key;	/* addressing, kept after close */
	bool used;		/* key is valid */
	bool closing;		/* we closed it: the peer's RST ends it */
	bool consume;		/* hand credit back on data */
};

/*
 * Stacks are made once per configuration and reused: making one costs
 * more than most runs (its control pool, its hash tables), and a run
 * leaves it as it found it or that is a finding.
 */
#define FZ_NB_CONF 2
#define FZ_NB_FEAT 3
static const uint32_t fz_feat[FZ_NB_FEAT] = {
	VSOCK_PORT_F_STREAM,
	VSOCK_PORT_F_STREAM | VSOCK_PORT_F_SEQPACKET,
	VSOCK_PORT_F_SEQPACKET,
};

struct fz_inst {
	struct vsock_stack *s;
	struct fz_port port;
};

static struct fz_inst inst[FZ_NB_CONF][FZ_NB_FEAT];

struct fz {
	struct vsock_stack *s;
	struct fz_port *port;	/* the stack's */
	struct slot slot[FZ_SLOTS];
};

static struct fz fz;

/* ---- the application ---- */

static struct slot *
slot_new(struct vsock_conn *c)
{
	unsigned int i;

	for (i = 0; i < FZ_SLOTS; i++) {
		struct slot *sl = &fz.slot[i];

		if (sl->c == NULL && !sl->closing) {
			memset(sl, 0, sizeof(*sl));
			sl->c = c;
			sl->used = true;
			sl->consume = true;
			vsock_conn_info(c, &sl->key);
			vsock_conn_set_ctx(c, sl);
			return sl;
		}
	}
	/*
	 * Every slot is ours or closing, and max_conns is FZ_SLOTS: one of
	 * the closing connections is gone. Reuse the first; should it live
	 * on, its close timer ends it (teardown waits for that).
	 */
	for (i = 0; i < FZ_SLOTS; i++)
		if (fz.slot[i].closing) {
			fz.slot[i].closing = false;
			return slot_new(c);
		}
	abort();
}

static void
app_accept(struct vsock_conn *c, void *ctx)
{
	RTE_SET_USED(ctx);
	slot_new(c);
}

static void
app_connect(struct vsock_conn *c, int err, void *ctx)
{
	struct slot *sl = ctx;

	if (sl == NULL || sl->c != c)
		abort();	/* a callback for a connection we don't have */
	if (err != 0)
		sl->c = NULL;
	else
		vsock_conn_info(c, &sl->key);
}

static void
app_data(struct vsock_conn *c, struct rte_mbuf *m, void *ctx)
{
	struct slot *sl = ctx;
	uint32_t len = m->pkt_len;

	if (sl == NULL || sl->c != c)
		abort();
	rte_pktmbuf_free(m);
	if (sl->consume)
		vsock_consumed(c, len);
}

static void
app_reset(struct vsock_conn *c, enum vsock_reset_reason why, void *ctx)
{
	struct slot *sl = ctx;

	RTE_SET_USED(why);
	if (sl == NULL || sl->c != c)
		abort();
	sl->c = NULL;
}

static void
app_readable(struct vsock_conn *c, void *ctx)
{
	RTE_SET_USED(c);
	RTE_SET_USED(ctx);
}

static const struct vsock_ops ops_data = {
	.on_accept = app_accept,
	.on_connect = app_connect,
	.on_data = app_data,
	.on_reset = app_reset,
};

/* Copy mode: data waits for vsock_recv(). */
static const struct vsock_ops ops_recv = {
	.rx_mode = VSOCK_RX_COPY,
	.on_accept = app_accept,
	.on_connect = app_connect,
	.on_readable = app_readable,
	.on_reset = app_reset,
};

/* ---- packets from the peer ---- */

static void
inject(const struct vsock_hdr *h, const uint8_t *pay, uint32_t plen,
		bool chain)
{
	struct rte_mbuf *m, *p;
	uint8_t *d;

	if (fz.port->rx_n == FZ_PORT_RX)
		vsock_stack_poll(fz.s);
	if (fz.port->rx_n == FZ_PORT_RX)
		return;
	m = rte_pktmbuf_alloc(fz_pool());
	if (m == NULL)
		abort();
	d = (uint8_t *)rte_pktmbuf_append(m, VSOCK_HDR_LEN);
	vsock_hdr_encode(d, h);
	if (plen > 0 && chain) {
		/* The header in an mbuf of its own, as a driver may hand it. */
		p = rte_pktmbuf_alloc(fz_pool());
		if (p == NULL)
			abort();
		memcpy(rte_pktmbuf_append(p, (uint16_t)plen), pay, plen);
		rte_pktmbuf_chain(m, p);
	} else if (plen > 0) {
		memcpy(rte_pktmbuf_append(m, (uint16_t)plen), pay, plen);
	}
	fz_port_put(fz.port, m);
}

/* A well-formed packet from the peer of @sl. */
static void
peer_send(const struct slot *sl, uint16_t op, uint32_t flags,
		uint32_t buf_alloc, uint32_t fwd_cnt, const uint8_t *pay,
		uint32_t plen)
{
	struct vsock_hdr h = {
		.src_cid = sl->key.remote_cid,
		.dst_cid = sl->key.local_cid,
		.src_port = sl->key.remote_port,
		.dst_port = sl->key.local_port,
		.len = plen,
		.type = (uint16_t)sl->key.type,
		.op = op,
		.flags = flags,
		.buf_alloc = buf_alloc,
		.fwd_cnt = fwd_cnt,
	};

	inject(&h, pay, plen, false);
}

static struct slot *
pick(uint8_t b)
{
	struct slot *sl = &fz.slot[b % FZ_SLOTS];

	return sl->used ? sl : NULL;
}

static enum vsock_type
type_of(uint8_t b)
{
	return (b & 1) ? VSOCK_TYPE_SEQPACKET : VSOCK_TYPE_STREAM;
}

static const uint8_t zeros[FZ_ROOM];

/* ---- the table: one well-formed exchange per entry ---- */

static void
setup_one(struct fz_in *in)
{
	uint8_t what = fz_u8(in), a = fz_u8(in), b = fz_u8(in);
	uint32_t lport = 1000 + (a & 7);
	enum vsock_type type = type_of(a >> 3);
	struct vsock_conn *c = NULL;
	struct vsock_hdr h;
	struct slot *sl;
	unsigned int i;

	switch (what % 6) {
	case 0:		/* a listener */
		vsock_listen(fz.s, lport, type, (b & 1) ? &ops_recv :
				&ops_data, NULL);
		return;
	case 1:		/* a connect, left CONNECTING or answered */
		if (vsock_connect(fz.s, FZ_PEER_CID, lport, type, (b & 1) ?
				&ops_recv : &ops_data, NULL, &c) != 0)
			return;
		sl = slot_new(c);
		if (b & 2) {
			peer_send(sl, VSOCK_OP_RESPONSE, 0,
				(b & 4) ? 0 : 64 * 1024, 0, NULL, 0);
			vsock_stack_poll(fz.s);
		}
		return;
	case 2:		/* a REQUEST to a listener (accepted, or RST) */
		memset(&h, 0, sizeof(h));
		h.src_cid = FZ_PEER_CID;
		h.dst_cid = FZ_CID;
		h.src_port = 5000 + b;
		h.dst_port = lport;
		h.type = (uint16_t)type;
		h.op = VSOCK_OP_REQUEST;
		h.buf_alloc = (a & 0x80) ? 0 : 64 * 1024;
		inject(&h, NULL, 0, false);
		vsock_stack_poll(fz.s);
		return;
	case 3:		/* the peer shuts down a connection, one or both ways */
		sl = pick(a);
		if (sl != NULL)
			peer_send(sl, VSOCK_OP_SHUTDOWN, 1 + b % 3, 64 * 1024,
				0, NULL, 0);
		vsock_stack_poll(fz.s);
		return;
	case 4:		/* we shut down or close one */
		sl = pick(a);
		if (sl == NULL || sl->c == NULL)
			return;
		if (b & 1) {
			vsock_shutdown(sl->c, 1 + (b >> 1) % 3);
		} else {
			vsock_conn_set_ctx(sl->c, NULL);
			vsock_close(sl->c);
			sl->c = NULL;
			sl->closing = true;
		}
		vsock_stack_poll(fz.s);
		return;
	case 5:		/* data both ways, the application slow to read */
		sl = pick(a);
		if (sl == NULL || sl->c == NULL)
			return;
		sl->consume = (b & 1) != 0;
		for (i = 0; i < 1u + (b >> 1) % 4; i++) {
			vsock_send_buf(sl->c, zeros, RTE_MIN(100u << (b >> 4),
					(uint32_t)sizeof(zeros)));
			peer_send(sl, VSOCK_OP_RW, VSOCK_SEQ_EOM, 64 * 1024, 0,
				zeros, 300);
		}
		vsock_stack_poll(fz.s);
		return;
	}
}

/* ---- commands ---- */

static void
cmd_packet(struct fz_in *in)
{
	uint8_t sel = fz_u8(in);
	const uint8_t *raw, *pay;
	uint8_t hb[VSOCK_HDR_LEN] = { 0 };
	struct vsock_hdr h;
	uint16_t plen;
	struct slot *sl;
	size_t got = fz_bytes(in, VSOCK_HDR_LEN, &raw);

	memcpy(hb, raw, got);
	vsock_hdr_decode(&h, hb);
	plen = fz_u16(in) % FZ_ROOM;
	plen = (uint16_t)fz_bytes(in, plen, &pay);
	if ((sel & 0x80) && (sl = pick(sel)) != NULL) {
		h.src_cid = sl->key.remote_cid;
		h.dst_cid = sl->key.local_cid;
		h.src_port = sl->key.remote_port;
		h.dst_port = sl->key.local_port;
		if (sel & 0x10)
			h.type = (uint16_t)sl->key.type;
	}
	if (sel & 0x20)
		h.len = plen;	/* get past the length check */
	inject(&h, pay, plen, (sel & 0x40) != 0);
}

static void
cmd_app(struct fz_in *in)
{
	uint8_t op = fz_u8(in), a = fz_u8(in);
	uint16_t n = fz_u16(in);
	struct slot *sl = pick(a);
	struct vsock_conn *c = NULL;
	static uint8_t buf[FZ_ROOM];
	struct rte_mbuf *m;
	uint32_t flags;

	switch (op % 10) {
	case 0:
		if (sl != NULL && sl->c != NULL)
			vsock_send_buf(sl->c, zeros, n % FZ_ROOM);
		break;
	case 1:
		if (sl != NULL && sl->c != NULL)
			vsock_consumed(sl->c, n);
		break;
	case 2:
		if (sl != NULL && sl->c != NULL)
			vsock_recv(sl->c, buf, n % sizeof(buf), &flags);
		break;
	case 3:
		if (sl != NULL && sl->c != NULL)
			vsock_shutdown(sl->c, n & 3);
		break;
	case 4:
		if (sl != NULL && sl->c != NULL) {
			vsock_conn_set_ctx(sl->c, NULL);
			if (n & 1) {
				vsock_abort(sl->c);
			} else {
				vsock_close(sl->c);
				sl->closing = true;
			}
			sl->c = NULL;
		}
		break;
	case 5:
		if (sl != NULL && sl->c != NULL)
			vsock_conn_set_buf_size(sl->c, (uint32_t)n << (a >> 5));
		break;
	case 6:
		if (sl != NULL && sl->c != NULL) {
			m = rte_pktmbuf_alloc(fz_pool());
			if (m == NULL)
				abort();
			rte_pktmbuf_append(m, n % 2048);
			if (vsock_send(sl->c, m, a & 1) != 0)
				rte_pktmbuf_free(m);
		}
		break;
	case 7:
		if (vsock_connect(fz.s, (a & 1) ? VSOCK_CID_LOCAL : FZ_PEER_CID,
				1000 + (n & 7), type_of(a >> 1), &ops_data,
				NULL, &c) == 0)
			slot_new(c);
		break;
	case 8:
		if (n & 1)
			vsock_unlisten(fz.s, 1000 + (a & 7));
		else
			vsock_listen(fz.s, 1000 + (a & 7), type_of(a >> 3),
				&ops_data, NULL);
		break;
	case 9:
		if (sl != NULL && sl->c != NULL)
			sl->consume = !sl->consume;
		break;
	}
}

/* ---- one run ---- */

static void
teardown(void)
{
	struct vsock_stack_stats st;
	unsigned int i, p;

	for (i = 0; i < FZ_SLOTS; i++) {
		struct slot *sl = &fz.slot[i];

		if (sl->c != NULL) {
			vsock_conn_set_ctx(sl->c, NULL);
			vsock_abort(sl->c);
			sl->c = NULL;
		} else if (sl->closing) {
			/* The peer's RST ends what we closed. */
			peer_send(sl, VSOCK_OP_RST, 0, 0, 0, NULL, 0);
		}
	}
	for (p = 1000; p < 1008; p++)
		vsock_unlisten(fz.s, p);
	for (i = 0; i < 4; i++)
		vsock_stack_poll(fz.s);
	vsock_stack_stats_get(fz.s, &st);
	if (st.conns_open != 0) {
		/* Closing ones we lost track of: their timer ends them. */
		fz_time_passes(fz.s);
		for (i = 0; i < 4; i++)
			vsock_stack_poll(fz.s);
		vsock_stack_stats_get(fz.s, &st);
	}
	if (st.conns_open != 0 || st.ctl_mbufs_in_use != 0) {
		fprintf(stderr, "LEAK: %" PRIu64 " connections, %" PRIu64
			" control mbufs left after teardown\n", st.conns_open,
			st.ctl_mbufs_in_use);
		abort();
	}
	fz_port_flush(fz.port);
	fz_check_pool(fz_pool(), 0, "application pool");
}

static struct fz_inst *
stack_for(bool small, unsigned int feat)
{
	struct fz_inst *fi = &inst[small][feat];
	struct vsock_stack_conf conf = {
		.pool = fz_pool(),
		.max_conns = FZ_SLOTS,
		.connect_timeout_ms = FZ_TIMEOUT_MS,
		.close_timeout_ms = FZ_TIMEOUT_MS,
		.credit_request_ms = FZ_TIMEOUT_MS,
		.socket_id = SOCKET_ID_ANY,
	};
	char name[16];

	if (fi->s != NULL)
		return fi;
	/* Small buffers and windows reach the credit edges quickly. */
	if (small) {
		conf.buf_alloc = 4096;
		conf.buf_min = 128;
		conf.sndbuf = 8192;
		conf.max_pkts_in_flight = 4;
		conf.peer_buf_max = 65536;
	}
	snprintf(name, sizeof(name), "fz%d%u", small, feat);
	fi->s = vsock_stack_create(name, &conf);
	if (fi->s == NULL)
		abort();
	fz_port_init(&fi->port, fz_feat[feat]);
	if (vsock_stack_attach(fi->s, &fi->port.port) != 0)
		abort();
	return fi;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	fz_eal_init((*argv)[0], 4095, FZ_ROOM);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { .p = data, .left = size };
	uint8_t cfg = fz_u8(&in);
	struct fz_inst *fi = stack_for((cfg & 4) != 0, (cfg & 3) % FZ_NB_FEAT);
	unsigned int i, nsetup, ncmd = 0;

	memset(&fz, 0, sizeof(fz));
	fz.s = fi->s;
	fz.port = &fi->port;
	nsetup = fz_u8(&in) % 16;
	for (i = 0; i < nsetup; i++)
		setup_one(&in);
	while (in.left > 0 && ncmd++ < FZ_CMDS_MAX) {
		uint8_t c = fz_u8(&in);

		switch (c % 8) {
		case 0: case 1: case 2: case 3:
			cmd_packet(&in);
			break;
		case 4: case 5:
			for (i = 0; i <= (c >> 3) % 4; i++)
				vsock_stack_poll(fz.s);
			break;
		case 6:
			cmd_app(&in);
			break;
		case 7:
			/* The timers fire, between polls as they would. */
			vsock_stack_poll(fz.s);
			fz_time_passes(fz.s);
			vsock_stack_poll(fz.s);
			break;
		}
	}
	vsock_stack_poll(fz.s);
	teardown();
	return 0;
}
