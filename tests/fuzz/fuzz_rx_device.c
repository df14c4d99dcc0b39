/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The driver's rx path fed by a hostile device. A fake transport hands
 * the driver's real rings (split or packed, with or without EVENT_IDX)
 * to a device played by the input: it takes posted rx buffers, writes
 * the input's bytes into them (vsock packets or garbage) and returns
 * them with honest or lying used entries (ids out of range, never
 * posted or returned twice, lengths past the buffer, a used index run
 * ahead, packed descriptors with any flags); it consumes or lies about
 * tx buffers and writes event-queue entries. The driver's rx and tx
 * bursts and event polling run under a stack with listeners, so what
 * the driver accepts goes on into the stack, and the stack's answers come
 * back through tx. A device that broke is reset and set up again on
 * fresh rings (the recovery path), which the input goes on playing; the
 * input decides whether a reset works, fails or is not back yet, which
 * features the device still offers, whether it starts, and when the
 * backoff's time has passed.
 *
 * Each run lays out fresh rings on a zeroed device; the stack is made
 * once. The run ends with every connection aborted, the rings drained
 * and the stack flushed into a device that takes everything. Findings:
 * a crash, a sanitizer report, a connection or an mbuf still out after
 * that.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_malloc.h>
#include <rte_mbuf.h>

#include <vsock_stack.h>

#include "virtio_vsock_internal.h"
#include "vq_dev.h"
#include "fuzz_common.h"

#define FZ_CID 3
#define FZ_ROOM 2048
#define FZ_QMAX 64
#define FZ_EVQ 8
#define FZ_CONNS 16
#define FZ_CMDS_MAX 512

struct fake {
	struct virtio_vsock_dev dev;
	struct vq_dev q[VIRTIO_VSOCK_VQ_NUM];
	void *mem[VIRTIO_VSOCK_VQ_NUM];
	void *priv[VIRTIO_VSOCK_VQ_NUM];
	uint8_t *event_buf;
	uint64_t cid;		/* what get_cid answers */
	int reset_ret;		/* what reset answers: 0, -EIO, -EAGAIN */
	int start_ret;		/* what start answers */
	uint64_t lost;		/* features no longer offered after a reset */
	bool stopped;		/* stop was called: the rings are not ours */
	struct vsock_stack *s;
	struct vsock_port port;
	struct vsock_conn *conns[FZ_CONNS];
	uint8_t sink;
};

static struct fake fk;

/* ---- the transport: the rings go to the input's device ---- */

static uint64_t
ft_get_cid(struct virtio_vsock_dev *dev)
{
	RTE_SET_USED(dev);
	return fk.cid;
}

static int
ft_setup_queue(struct virtio_vsock_dev *dev, struct virtqueue *vq)
{
	vq_dev_init(&fk.q[vq->queue_id], vq->desc, vq->avail, vq->used,
			vq->size, dev->vq_flags);
	return 0;
}

static void
ft_notify(struct virtio_vsock_dev *dev, uint16_t queue_id)
{
	RTE_SET_USED(dev);
	RTE_SET_USED(queue_id);
}

static uint64_t
ft_get_features(struct virtio_vsock_dev *dev)
{
	RTE_SET_USED(dev);
	return ~fk.lost;
}

static int
ft_set_features(struct virtio_vsock_dev *dev, uint64_t features)
{
	RTE_SET_USED(dev);
	RTE_SET_USED(features);
	return 0;
}

static int
ft_start(struct virtio_vsock_dev *dev)
{
	RTE_SET_USED(dev);
	return fk.start_ret;
}

/* As a real device after its reset: it touches the rings no more. */
static void
ft_stop(struct virtio_vsock_dev *dev)
{
	RTE_SET_USED(dev);
	fk.stopped = true;
}

/* The rings are laid out again and set up through ft_setup_queue. */
static int
ft_reset(struct virtio_vsock_dev *dev)
{
	RTE_SET_USED(dev);
	return fk.reset_ret;
}

static const struct virtio_vsock_transport_ops fake_ops = {
	.name = "fuzz",
	.get_features = ft_get_features,
	.set_features = ft_set_features,
	.get_cid = ft_get_cid,
	.setup_queue = ft_setup_queue,
	.start = ft_start,
	.notify = ft_notify,
	.stop = ft_stop,
	.reset = ft_reset,
};

static uint64_t
fp_cid(void *priv)
{
	return ((struct virtio_vsock_dev *)priv)->cid;
}

static uint32_t
fp_features(void *priv)
{
	RTE_SET_USED(priv);
	return VSOCK_PORT_F_STREAM | VSOCK_PORT_F_SEQPACKET;
}

static const struct vsock_port_ops fp_ops = {
	.rx_burst = virtio_vsock_rx_burst,
	.tx_burst = virtio_vsock_tx_burst,
	.local_cid = fp_cid,
	.features = fp_features,
	.poll_event = virtio_vsock_poll_event,
	.tx_inflight = virtio_vsock_tx_inflight,
};

/* ---- the application: listeners that take and read everything ---- */

static void
app_accept(struct vsock_conn *c, void *ctx)
{
	unsigned int i;

	RTE_SET_USED(ctx);
	for (i = 0; i < FZ_CONNS; i++)
		if (fk.conns[i] == NULL) {
			fk.conns[i] = c;
			vsock_conn_set_ctx(c, &fk.conns[i]);
			return;
		}
	abort();	/* max_conns is FZ_CONNS */
}

static void
app_gone(struct vsock_conn *c, void *ctx)
{
	struct vsock_conn **slot = ctx;

	if (slot == NULL || *slot != c)
		abort();
	*slot = NULL;
}

static void
app_connect(struct vsock_conn *c, int err, void *ctx)
{
	if (err != 0)
		app_gone(c, ctx);
}

static void
app_reset(struct vsock_conn *c, enum vsock_reset_reason why, void *ctx)
{
	RTE_SET_USED(why);
	app_gone(c, ctx);
}

static void
app_data(struct vsock_conn *c, struct rte_mbuf *m, void *ctx)
{
	struct vsock_conn **slot = ctx;
	uint32_t len = m->pkt_len;

	if (slot == NULL || *slot != c || rte_mbuf_refcnt_read(m) != 1)
		abort();
	rte_pktmbuf_free(m);
	vsock_consumed(c, len);
}

static const struct vsock_ops app_ops = {
	.on_accept = app_accept,
	.on_connect = app_connect,
	.on_data = app_data,
	.on_reset = app_reset,
};

/* ---- the device ---- */

/* Lay out fresh rings on a zeroed device and post buffers, as open does. */
static void
dev_start(uint8_t cfg, uint32_t rx_buf)
{
	struct virtio_vsock_dev *dev = &fk.dev;
	uint16_t size = (uint16_t)(8u << (cfg >> 2) % 4);
	int q;

	memset(dev, 0, sizeof(*dev));
	dev->ops = &fake_ops;
	dev->rx_pool = fz_pool();
	dev->rx_buf_len = rx_buf;
	dev->use_va = true;
	dev->notify_rx = (cfg & 0x10) != 0;
	dev->features = (1ULL << VIRTIO_F_VERSION_1) |
		(1ULL << VIRTIO_VSOCK_F_STREAM) |
		(1ULL << VIRTIO_VSOCK_F_SEQPACKET);
	dev->vq_flags = ((cfg & 1) ? VQ_F_PACKED : 0) |
		((cfg & 2) ? VQ_F_EVENT_IDX : 0);
	dev->cid = FZ_CID;
	dev->queue_size = size;
	dev->event_buf = fk.event_buf;
	dev->socket_id = SOCKET_ID_ANY;
	snprintf(dev->name, sizeof(dev->name), "fuzz");
	fk.cid = FZ_CID;
	fk.reset_ret = 0;
	fk.start_ret = 0;
	fk.lost = 0;
	fk.stopped = false;
	for (q = 0; q < VIRTIO_VSOCK_VQ_NUM; q++) {
		uint16_t n = q == VIRTIO_VSOCK_VQ_EVENT ? FZ_EVQ : size;

		memset(fk.mem[q], 0, virtqueue_ring_mem_size(FZ_QMAX));
		dev->vq_mem[q] = fk.mem[q];
		dev->vq_priv[q] = fk.priv[q];
		dev->vq[q] = virtqueue_init(fk.priv[q], fk.mem[q], n,
				(uint16_t)q, dev->vq_flags);
		ft_setup_queue(dev, dev->vq[q]);
	}
	virtio_vsock_event_refill(dev);
	if (virtio_vsock_rx_refill(dev) == 0)
		abort();
	dev->up = true;
}

static void
drop_mbuf(void *cookie, void *arg)
{
	RTE_SET_USED(arg);
	rte_pktmbuf_free(cookie);
}

static void
forget(void *cookie, void *arg)
{
	RTE_SET_USED(cookie);
	RTE_SET_USED(arg);
}

static void
dev_drain(void)
{
	int q;

	for (q = 0; q < VIRTIO_VSOCK_VQ_NUM; q++)
		virtqueue_drain(fk.dev.vq[q], q == VIRTIO_VSOCK_VQ_EVENT ?
				forget : drop_mbuf, NULL);
}

/*
 * Take the next available chain of queue @q: its first segment, or NULL
 * when the driver posted nothing (or a chain the device cannot walk,
 * which it takes and returns empty).
 */
static struct vq_dev_seg *
dev_take(int q, struct vq_dev_chain *ch, struct vq_dev_seg *segs, int *n)
{
	struct vq_dev *vd = &fk.q[q];

	if (fk.stopped || vq_dev_avail(vd) == 0)
		return NULL;
	*n = vq_dev_peek_va(vd, segs, ch);
	vq_dev_take(vd, ch);
	if (*n <= 0) {
		vq_dev_put(vd, ch, 0);
		vq_dev_publish(vd);
		return NULL;
	}
	return &segs[0];
}

/* Write @len input bytes into the next rx buffer; return it used. */
static void
cmd_rx(struct fz_in *in, uint8_t how)
{
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS], *sg;
	struct vq_dev *vd = &fk.q[VIRTIO_VSOCK_VQ_RX];
	struct vq_dev_chain ch;
	uint16_t want = fz_u16(in);
	uint32_t len, lie = 0;
	const uint8_t *p;
	int n;

	if (how & 1)
		lie = fz_u32(in);
	if (how & 2)
		ch.id = fz_u16(in);
	sg = dev_take(VIRTIO_VSOCK_VQ_RX, &ch, segs, &n);
	if (sg == NULL)
		return;
	/*
	 * Our own raw used entries overwrite packed descriptors: what we
	 * read back may then be garbage of our making, not the driver's.
	 * A split ring's descriptors are the driver's alone.
	 */
	if (!sg->writable && !vd->packed)
		abort();	/* the driver posted a read-only rx buffer */
	if (!sg->writable || sg->ptr == NULL ||
			sg->len > fk.dev.rx_buf_len) {
		vq_dev_put(vd, &ch, 0);
		vq_dev_publish(vd);
		return;
	}
	len = (uint32_t)fz_bytes(in, RTE_MIN((uint32_t)want, sg->len), &p);
	memcpy(sg->ptr, p, len);
	if (how & 2)
		ch.id = (uint16_t)(fz_u16(in) % (2 * vd->size));
	vq_dev_put(vd, &ch, (how & 1) ? lie : len);
	vq_dev_publish(vd);
}

/* A used entry out of nowhere: any id, any length, any slot. */
static void
cmd_raw_used(struct fz_in *in, int q)
{
	struct vq_dev *vd = &fk.q[q];
	uint16_t id = fz_u16(in);
	uint32_t len = fz_u32(in);
	uint8_t k = fz_u8(in);

	if (fk.stopped)
		return;
	if (vd->packed) {
		struct virtq_packed_desc *d = &vd->pdesc[k % vd->size];

		d->id = id;
		d->len = len;
		/* Any flags, the used bits right or wrong. */
		__atomic_store_n(&d->flags, fz_u16(in), __ATOMIC_RELEASE);
		return;
	}
	vq_dev_push_used(vd, id, len);
	/* Or the used index anywhere. */
	if (k & 0x80)
		vd->used_idx = (uint16_t)(vd->used_idx + (k & 0x7f));
	vq_dev_publish(vd);
}

/* The device reads what the stack sent; returns it used, maybe lying. */
static void
cmd_tx(struct fz_in *in)
{
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS], *sg;
	struct vq_dev *vd = &fk.q[VIRTIO_VSOCK_VQ_TX];
	struct vq_dev_chain ch;
	uint8_t k = fz_u8(in);
	int n, i;

	do {
		sg = dev_take(VIRTIO_VSOCK_VQ_TX, &ch, segs, &n);
		if (sg == NULL)
			break;
		/* Every byte is read: ASan checks the driver's buffers. */
		for (i = 0; i < n; i++) {
			const uint8_t *b = segs[i].ptr;
			uint32_t j;

			/* As on rx, packed descriptors may be ours. */
			if (segs[i].writable && !vd->packed)
				abort();
			if (vd->packed && (segs[i].writable ||
					segs[i].len > FZ_ROOM))
				continue;
			for (j = 0; j < segs[i].len; j++)
				fk.sink ^= b[j];
		}
		vq_dev_put(vd, &ch, 0);
	} while (k & 1);
	vq_dev_publish(vd);
}

static void
cmd_event(struct fz_in *in)
{
	struct vq_dev_seg segs[VQ_DEV_MAX_SEGS], *sg;
	struct vq_dev *vd = &fk.q[VIRTIO_VSOCK_VQ_EVENT];
	struct vq_dev_chain ch;
	uint32_t id = fz_u32(in);
	uint8_t len = fz_u8(in);
	int n;

	/* A reset may come with a new CID, valid or not. */
	if (len & 0x80)
		fk.cid = fz_u32(in);
	sg = dev_take(VIRTIO_VSOCK_VQ_EVENT, &ch, segs, &n);
	if (sg == NULL)
		return;
	if (sg->ptr != NULL && sg->len >= 4)
		vsock_le32_put(sg->ptr, id);
	vq_dev_put(vd, &ch, len & 0x7f);
	vq_dev_publish(vd);
}

/*
 * How the next recovery goes: the backoff's time passes (and the last
 * recovery is long ago, or not), the reset works, fails or is not back
 * yet, the device loses a feature, or does not start.
 */
static void
cmd_recovery(struct fz_in *in)
{
	static const int rets[] = { 0, -EIO, -EAGAIN, 0 };
	static const uint64_t feats[] = {
		0, 1ULL << VIRTIO_F_VERSION_1, 1ULL << VIRTIO_VSOCK_F_STREAM,
		1ULL << VIRTIO_VSOCK_F_SEQPACKET,
	};
	uint8_t k = fz_u8(in);

	switch (k % 4) {
	case 0:
		fk.dev.recover_at = 0;
		if ((k & 0x80) && fk.dev.recovered_at != 0)
			fk.dev.recovered_at = 1;
		break;
	case 1:
		fk.reset_ret = rets[k / 4 % 4];
		break;
	case 2:
		fk.lost = feats[k / 4 % 4];
		break;
	case 3:
		fk.start_ret = (k & 4) ? -EIO : 0;
		break;
	}
}

static void
cmd_app(struct fz_in *in)
{
	static const uint8_t zeros[FZ_ROOM];
	uint8_t a = fz_u8(in);
	uint16_t n = fz_u16(in);
	struct vsock_conn *c = NULL;
	unsigned int i;

	if (a & 1) {
		c = fk.conns[(a >> 1) % FZ_CONNS];
		if (c != NULL)
			vsock_send_buf(c, zeros, n % FZ_ROOM);
		return;
	}
	for (i = 0; i < FZ_CONNS; i++)
		if (fk.conns[i] == NULL)
			break;
	if (i < FZ_CONNS && vsock_connect(fk.s, VSOCK_CID_HOST, n,
			(a & 2) ? VSOCK_TYPE_SEQPACKET : VSOCK_TYPE_STREAM,
			&app_ops, &fk.conns[i], &c) == 0)
		fk.conns[i] = c;
}

/* ---- one run ---- */

/*
 * The teardown's device: it takes everything the stack sends, and sends
 * nothing. Swapped in for the rings, it spares each run laying out and
 * filling a second set of rings only to flush the stack through them.
 */
static uint16_t
sink_rx(void *priv, struct rte_mbuf **pkts, uint16_t n)
{
	RTE_SET_USED(priv);
	RTE_SET_USED(pkts);
	RTE_SET_USED(n);
	return 0;
}

static uint16_t
sink_tx(void *priv, struct rte_mbuf **pkts, uint16_t n)
{
	RTE_SET_USED(priv);
	rte_pktmbuf_free_bulk(pkts, n);
	return n;
}

static const struct vsock_port_ops sink_ops = {
	.rx_burst = sink_rx,
	.tx_burst = sink_tx,
	.local_cid = fp_cid,
	.features = fp_features,
};

/* Poll until a few polls in a row do nothing: the stack has let go. */
static void
flush(void)
{
	int i, quiet = 0;

	for (i = 0; i < 10000 && quiet < 2; i++)
		quiet = vsock_stack_poll(fk.s) == 0 ? quiet + 1 : 0;
}

static void
teardown(void)
{
	struct vsock_stack_stats st;
	unsigned int i;

	for (i = 0; i < FZ_CONNS; i++)
		if (fk.conns[i] != NULL) {
			vsock_conn_set_ctx(fk.conns[i], NULL);
			vsock_abort(fk.conns[i]);
			fk.conns[i] = NULL;
		}
	/* What the rings hold comes back; what the stack holds goes out. */
	dev_drain();
	fk.port.ops = &sink_ops;
	flush();
	fk.port.ops = &fp_ops;
	vsock_stack_stats_get(fk.s, &st);
	if (st.conns_open != 0 || st.ctl_mbufs_in_use != 0) {
		fprintf(stderr, "LEAK: %" PRIu64 " connections, %" PRIu64
			" control mbufs left after teardown\n", st.conns_open,
			st.ctl_mbufs_in_use);
		abort();
	}
	fz_check_pool(fz_pool(), 0, "rx pool");
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct vsock_stack_conf conf = { .max_conns = FZ_CONNS };
	int q;

	(void)argc;
	fz_eal_init((*argv)[0], 1023, FZ_ROOM);
	for (q = 0; q < VIRTIO_VSOCK_VQ_NUM; q++) {
		fk.mem[q] = rte_zmalloc("fz_ring",
				virtqueue_ring_mem_size(FZ_QMAX), VIRTQ_ALIGN);
		fk.priv[q] = rte_zmalloc("fz_vq", virtqueue_priv_size(FZ_QMAX),
				RTE_CACHE_LINE_SIZE);
		if (fk.mem[q] == NULL || fk.priv[q] == NULL)
			abort();
	}
	fk.event_buf = rte_zmalloc("fz_ev", FZ_EVQ * VIRTIO_VSOCK_EVENT_LEN,
			0);
	conf.pool = fz_pool();
	conf.socket_id = SOCKET_ID_ANY;
	fk.s = vsock_stack_create("fzrx", &conf);
	if (fk.event_buf == NULL || fk.s == NULL)
		abort();
	/* The port reads the device's fields; a run lays out a new one. */
	dev_start(0, FZ_ROOM);
	fk.port.ops = &fp_ops;
	fk.port.priv = &fk.dev;
	fk.port.name = "fuzz";
	if (vsock_stack_attach(fk.s, &fk.port) != 0 ||
			vsock_listen(fk.s, 1000, VSOCK_TYPE_STREAM, &app_ops,
				NULL) != 0 ||
			vsock_listen(fk.s, 1001, VSOCK_TYPE_SEQPACKET,
				&app_ops, NULL) != 0)
		abort();
	dev_drain();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { .p = data, .left = size };
	uint8_t cfg = fz_u8(&in);
	/* Buffers from a bare header up to the mbuf's room. */
	uint32_t rx_buf = VSOCK_HDR_LEN + 1 +
		fz_u16(&in) % (FZ_ROOM - VSOCK_HDR_LEN);
	unsigned int ncmd = 0;

	dev_start(cfg, rx_buf);
	while (in.left > 0 && ncmd++ < FZ_CMDS_MAX) {
		uint8_t c = fz_u8(&in);

		/* The top values, which the seeds leave alone: recovery. */
		if (c >= 250) {
			cmd_recovery(&in);
			continue;
		}
		switch (c % 10) {
		case 0: case 1: case 2:
			cmd_rx(&in, (uint8_t)(c / 10 % 4));
			break;
		case 3:
			cmd_raw_used(&in, VIRTIO_VSOCK_VQ_RX);
			break;
		case 4: case 5:
			vsock_stack_poll(fk.s);
			break;
		case 6:
			cmd_tx(&in);
			break;
		case 7:
			cmd_raw_used(&in, (c & 0x10) ? VIRTIO_VSOCK_VQ_TX :
					VIRTIO_VSOCK_VQ_EVENT);
			break;
		case 8:
			cmd_event(&in);
			break;
		case 9:
			cmd_app(&in);
			break;
		}
	}
	vsock_stack_poll(fk.s);
	teardown();
	return 0;
}
