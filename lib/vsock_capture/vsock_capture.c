/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packet capture of vsock ports: a port wrapper on the poll loop's side,
 * a ring, and a writer thread that turns mbufs into pcap records of link
 * type LINKTYPE_VSOCK (Linux's vsockmon format).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pcap/pcap.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <vsock_hdr.h>
#include <vsock_port.h>

#include "vsock_capture.h"

#ifndef DLT_VSOCK
#define DLT_VSOCK 271	/* LINKTYPE_VSOCK */
#endif

/* Linux include/uapi/linux/vsockmon.h: struct af_vsockmon_hdr, packed. */
#define VSOCKMON_HDR_LEN 32
#define AF_VSOCK_OP_UNKNOWN 0
#define AF_VSOCK_OP_CONNECT 1
#define AF_VSOCK_OP_DISCONNECT 2
#define AF_VSOCK_OP_CONTROL 3
#define AF_VSOCK_OP_PAYLOAD 4
#define AF_VSOCK_TRANSPORT_VIRTIO 2

#define CAP_DEFAULT_RING 4096u
#define CAP_DEFAULT_MBUFS 2047u
/* Copies are chains of these: a 64 KiB packet is five segments. */
#define CAP_SEG_ROOM 16384u
#define CAP_BURST 64u
/* The writer's nap when the ring is empty, growing to the longest. */
#define CAP_NAP_MIN_US 50u
#define CAP_NAP_MAX_US 1000u
/* How often the writer flushes the file while traffic goes on. */
#define CAP_FLUSH_NS 200000000ull

enum cap_dir { CAP_RX, CAP_TX };

/* What a copy carries besides its bytes, in its mbuf's private area. */
struct cap_meta {
	uint64_t tsc;		/* when the burst passed */
	uint32_t orig_len;	/* the packet's length before snaplen */
	uint32_t dir;		/* enum cap_dir; for the counters only */
};

struct cap_wrap {
	struct vsock_port port;		/* what the stack is given */
	struct vsock_port inner;	/* the device's port */
	struct vsock_capture *cap;
	struct cap_wrap *next;
};

struct vsock_capture {
	struct rte_ring *ring;
	struct rte_mempool *pool;
	pcap_t *pd;
	pcap_dumper_t *dumper;
	pthread_t writer;
	bool writer_started;
	bool stop;		/* close asks the writer to finish */
	uint32_t snaplen;
	struct cap_wrap *wraps;
	/* TSC to wall clock: the two read together at open. */
	uint64_t tsc0;
	uint64_t tsc_hz;
	struct timespec wall0;
	uint8_t *rec;		/* the record being written */
	/* Written by the poll loop, read anywhere (relaxed atomics). */
	uint64_t captured;
	uint64_t dropped;
	/* Written by the writer thread. */
	uint64_t written;	/* read anywhere too */
	uint64_t bytes;
	uint64_t truncated;
	uint64_t write_errors;
};

static const struct vsock_port_ops cap_ops;

static inline void
cap_add(uint64_t *c, uint64_t n)
{
	if (n != 0)
		__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/*
 * Copy @p n packets into @p copies (NULL where the pool ran dry); the
 * copies of the packets a burst did not pass are freed by the caller.
 */
static void
cap_copy(struct vsock_capture *cap, struct rte_mbuf **pkts,
		struct rte_mbuf **copies, uint16_t n, enum cap_dir dir)
{
	uint64_t tsc = rte_rdtsc();
	/* Copy no more than the ring can take: a copy that is dropped
	 * anyway is the most expensive drop there is.
	 */
	unsigned int room = rte_ring_free_count(cap->ring);
	uint16_t i;

	for (i = 0; i < n; i++) {
		struct rte_mbuf *c = NULL;
		struct cap_meta *meta;

		if (i < room && pkts[i]->pkt_len > 0)
			c = rte_pktmbuf_copy(pkts[i], cap->pool, 0,
					cap->snaplen);
		copies[i] = c;
		if (c == NULL)
			continue;
		meta = rte_mbuf_to_priv(c);
		meta->tsc = tsc;
		meta->orig_len = pkts[i]->pkt_len;
		meta->dir = dir;
	}
}

/* Queue the copies for the writer; what does not fit is dropped. */
static void
cap_queue(struct vsock_capture *cap, struct rte_mbuf **copies, uint16_t n)
{
	struct rte_mbuf *ok[CAP_BURST];
	unsigned int nb_ok = 0, q;
	uint16_t i;

	for (i = 0; i < n; i++)
		if (copies[i] != NULL)
			ok[nb_ok++] = copies[i];
	q = nb_ok == 0 ? 0 : rte_ring_enqueue_burst(cap->ring,
			(void **)ok, nb_ok, NULL);
	if (q < nb_ok)
		rte_pktmbuf_free_bulk(&ok[q], nb_ok - q);
	cap_add(&cap->captured, q);
	cap_add(&cap->dropped, n - q);
}

static uint16_t
cap_rx_burst(void *priv, struct rte_mbuf **pkts, uint16_t n)
{
	struct cap_wrap *w = priv;
	struct rte_mbuf *copies[CAP_BURST];
	uint16_t got, done, k;

	got = w->inner.ops->rx_burst(w->inner.priv, pkts, n);
	for (done = 0; done < got; done += k) {
		k = RTE_MIN((uint16_t)(got - done), (uint16_t)CAP_BURST);
		cap_copy(w->cap, pkts + done, copies, k, CAP_RX);
		cap_queue(w->cap, copies, k);
	}
	return got;
}

/*
 * Copied before the port is called: once it took a packet, the device may
 * have sent and freed it already (the loopback device runs inline).
 */
static uint16_t
cap_tx_burst(void *priv, struct rte_mbuf **pkts, uint16_t n)
{
	struct cap_wrap *w = priv;
	struct rte_mbuf *copies[CAP_BURST];
	uint16_t sent = 0, k, took;

	while (sent < n) {
		k = RTE_MIN((uint16_t)(n - sent), (uint16_t)CAP_BURST);
		cap_copy(w->cap, pkts + sent, copies, k, CAP_TX);
		took = w->inner.ops->tx_burst(w->inner.priv, pkts + sent, k);
		/* The rest are offered again later, and copied then. */
		for (uint16_t i = took; i < k; i++)
			rte_pktmbuf_free(copies[i]);
		cap_queue(w->cap, copies, took);
		sent += took;
		if (took < k)
			break;
	}
	return sent;
}

static uint64_t
cap_local_cid(void *priv)
{
	struct cap_wrap *w = priv;

	return w->inner.ops->local_cid(w->inner.priv);
}

static uint64_t
cap_peer_cid(void *priv)
{
	struct cap_wrap *w = priv;

	return w->inner.ops->peer_cid(w->inner.priv);
}

static uint32_t
cap_features(void *priv)
{
	struct cap_wrap *w = priv;

	return w->inner.ops->features(w->inner.priv);
}

static int
cap_poll_event(void *priv, uint32_t *event)
{
	struct cap_wrap *w = priv;

	return w->inner.ops->poll_event(w->inner.priv, event);
}

static uint32_t
cap_tx_inflight(void *priv)
{
	struct cap_wrap *w = priv;

	return w->inner.ops->tx_inflight(w->inner.priv);
}

static int
cap_xstats(void *priv, struct vsock_port_xstat *xs, unsigned int n)
{
	struct cap_wrap *w = priv;

	return w->inner.ops->xstats(w->inner.priv, xs, n);
}

static const struct vsock_port_ops cap_ops = {
	.rx_burst = cap_rx_burst,
	.tx_burst = cap_tx_burst,
	.local_cid = cap_local_cid,
	.peer_cid = cap_peer_cid,
	.features = cap_features,
	.poll_event = cap_poll_event,
	.tx_inflight = cap_tx_inflight,
	.xstats = cap_xstats,
};

/* The optional ops stay absent where the inner port has none. */
static const struct vsock_port_ops *
cap_ops_for(const struct vsock_port_ops *in, struct vsock_port_ops *own)
{
	*own = cap_ops;
	if (in->peer_cid == NULL)
		own->peer_cid = NULL;
	if (in->features == NULL)
		own->features = NULL;
	if (in->poll_event == NULL)
		own->poll_event = NULL;
	if (in->tx_inflight == NULL)
		own->tx_inflight = NULL;
	if (in->xstats == NULL)
		own->xstats = NULL;
	return own;
}

/* Linux's mapping (virtio_transport_build_skb) of ops to vsockmon's. */
static uint16_t
cap_mon_op(uint16_t op)
{
	switch (op) {
	case VSOCK_OP_REQUEST:
	case VSOCK_OP_RESPONSE:
		return AF_VSOCK_OP_CONNECT;
	case VSOCK_OP_RST:
	case VSOCK_OP_SHUTDOWN:
		return AF_VSOCK_OP_DISCONNECT;
	case VSOCK_OP_RW:
		return AF_VSOCK_OP_PAYLOAD;
	case VSOCK_OP_CREDIT_UPDATE:
	case VSOCK_OP_CREDIT_REQUEST:
		return AF_VSOCK_OP_CONTROL;
	default:
		return AF_VSOCK_OP_UNKNOWN;
	}
}

/* One pcap record: the vsockmon header, then the packet as captured. */
static void
cap_write(struct vsock_capture *cap, struct rte_mbuf *m)
{
	const struct cap_meta *meta = rte_mbuf_to_priv(m);
	uint8_t *p = cap->rec, *d = cap->rec + VSOCKMON_HDR_LEN;
	struct pcap_pkthdr ph;
	struct vsock_hdr h = { 0 };
	const struct rte_mbuf *s;
	uint32_t len = 0;
	uint64_t ns;

	for (s = m; s != NULL; s = s->next) {
		memcpy(d + len, rte_pktmbuf_mtod(s, const void *),
			s->data_len);
		len += s->data_len;
	}
	if (len >= VSOCK_HDR_LEN)
		vsock_hdr_decode(&h, d);
	/* The outer addresses are the packet's own, as vsockmon has them. */
	vsock_le64_put(p, h.src_cid);
	vsock_le64_put(p + 8, h.dst_cid);
	vsock_le32_put(p + 16, h.src_port);
	vsock_le32_put(p + 20, h.dst_port);
	vsock_le16_put(p + 24, len >= VSOCK_HDR_LEN ? cap_mon_op(h.op) :
		AF_VSOCK_OP_UNKNOWN);
	vsock_le16_put(p + 26, AF_VSOCK_TRANSPORT_VIRTIO);
	/* The transport header's length: what follows is the payload. */
	vsock_le16_put(p + 28, len >= VSOCK_HDR_LEN ? VSOCK_HDR_LEN : 0);
	p[30] = 0;
	p[31] = 0;

	ns = meta->tsc - cap->tsc0;
	ns = ns / cap->tsc_hz * 1000000000ull +
		ns % cap->tsc_hz * 1000000000ull / cap->tsc_hz;
	ns += (uint64_t)cap->wall0.tv_sec * 1000000000ull +
		(uint64_t)cap->wall0.tv_nsec;
	ph.ts.tv_sec = (time_t)(ns / 1000000000ull);
	/* Nanoseconds: the file was opened with nanosecond precision. */
	ph.ts.tv_usec = (suseconds_t)(ns % 1000000000ull);
	ph.caplen = VSOCKMON_HDR_LEN + len;
	ph.len = VSOCKMON_HDR_LEN + meta->orig_len;
	pcap_dump((u_char *)cap->dumper, &ph, cap->rec);
	cap->bytes += ph.caplen;
	if (ph.caplen < ph.len)
		cap->truncated++;
}

static void
cap_flush(struct vsock_capture *cap)
{
	if (pcap_dump_flush(cap->dumper) != 0)
		cap->write_errors++;
}

static uint64_t
cap_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * The writer: drains the ring, flushes now and then so that a file read
 * while the program runs (or after it was killed) holds what came.
 */
static void *
cap_writer(void *arg)
{
	struct vsock_capture *cap = arg;
	struct rte_mbuf *ms[CAP_BURST];
	uint64_t last_flush = cap_mono_ns();
	unsigned int nap = CAP_NAP_MIN_US, n, i;
	bool dirty = false;

	for (;;) {
		/* Read the flag before the ring: the last packets are in. */
		bool stop = __atomic_load_n(&cap->stop, __ATOMIC_ACQUIRE);

		n = rte_ring_sc_dequeue_burst(cap->ring, (void **)ms,
				CAP_BURST, NULL);
		for (i = 0; i < n; i++)
			cap_write(cap, ms[i]);
		if (n > 0) {
			rte_pktmbuf_free_bulk(ms, n);
			cap_add(&cap->written, n);
			dirty = true;
			nap = CAP_NAP_MIN_US;
		}
		if (dirty && cap_mono_ns() - last_flush >= CAP_FLUSH_NS) {
			cap_flush(cap);
			last_flush = cap_mono_ns();
			dirty = false;
		}
		if (n > 0)
			continue;
		if (stop)
			break;
		rte_delay_us_sleep(nap);
		nap = RTE_MIN(nap * 2, CAP_NAP_MAX_US);
	}
	cap_flush(cap);
	return NULL;
}

static void
cap_free(struct vsock_capture *cap)
{
	struct cap_wrap *w, *next;

	if (cap->dumper != NULL)
		pcap_dump_close(cap->dumper);
	if (cap->pd != NULL)
		pcap_close(cap->pd);
	for (w = cap->wraps; w != NULL; w = next) {
		next = w->next;
		free((void *)(uintptr_t)w->port.ops);
		free(w);
	}
	rte_ring_free(cap->ring);
	rte_mempool_free(cap->pool);
	free(cap->rec);
	free(cap);
}

struct vsock_capture *
vsock_capture_open(const char *path, const struct vsock_capture_conf *conf,
		char *err, size_t err_len)
{
	static unsigned int seq;
	struct vsock_capture_conf c = { 0 };
	struct vsock_capture *cap;
	char name[RTE_MEMZONE_NAMESIZE];
	unsigned int id;
	int r;

	if (conf != NULL)
		c = *conf;
	if (c.snaplen == 0)
		c.snaplen = VSOCK_CAPTURE_SNAPLEN_DEFAULT;
	if (c.ring_size == 0)
		c.ring_size = CAP_DEFAULT_RING;
	if (c.nb_mbufs == 0)
		c.nb_mbufs = CAP_DEFAULT_MBUFS;
	if (c.snaplen < VSOCK_HDR_LEN ||
			c.snaplen > VSOCK_CAPTURE_SNAPLEN_MAX) {
		snprintf(err, err_len, "snaplen %u outside %u..%u", c.snaplen,
			VSOCK_HDR_LEN, VSOCK_CAPTURE_SNAPLEN_MAX);
		rte_errno = EINVAL;
		return NULL;
	}
	cap = calloc(1, sizeof(*cap));
	if (cap == NULL)
		goto nomem;
	cap->snaplen = c.snaplen;
	cap->rec = malloc(VSOCKMON_HDR_LEN + c.snaplen);
	if (cap->rec == NULL)
		goto nomem;
	id = __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED);
	snprintf(name, sizeof(name), "vs_cap_ring%u", id);
	cap->ring = rte_ring_create(name, rte_align32pow2(c.ring_size + 1),
			c.socket_id, RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "vs_cap_pool%u", id);
	cap->pool = rte_pktmbuf_pool_create(name, c.nb_mbufs, 256,
			RTE_ALIGN(sizeof(struct cap_meta), RTE_MBUF_PRIV_ALIGN),
			CAP_SEG_ROOM + RTE_PKTMBUF_HEADROOM, c.socket_id);
	if (cap->ring == NULL || cap->pool == NULL) {
		snprintf(err, err_len, "capture ring of %u and pool of %u "
			"mbufs: %s", c.ring_size, c.nb_mbufs,
			rte_strerror(rte_errno));
		r = rte_errno;
		cap_free(cap);
		rte_errno = r;
		return NULL;
	}
	/* The snaplen libpcap records covers our header too. */
	cap->pd = pcap_open_dead_with_tstamp_precision(DLT_VSOCK,
			(int)(VSOCKMON_HDR_LEN + c.snaplen),
			PCAP_TSTAMP_PRECISION_NANO);
	cap->dumper = cap->pd != NULL ? pcap_dump_open(cap->pd, path) : NULL;
	if (cap->dumper == NULL) {
		snprintf(err, err_len, "%s: %s", path, cap->pd != NULL ?
			pcap_geterr(cap->pd) : "pcap_open_dead failed");
		cap_free(cap);
		rte_errno = EIO;
		return NULL;
	}
	cap->tsc_hz = rte_get_tsc_hz();
	cap->tsc0 = rte_rdtsc();
	clock_gettime(CLOCK_REALTIME, &cap->wall0);
	r = pthread_create(&cap->writer, NULL, cap_writer, cap);
	if (r != 0) {
		snprintf(err, err_len, "writer thread: %s", strerror(r));
		cap_free(cap);
		rte_errno = r;
		return NULL;
	}
	cap->writer_started = true;
	pthread_setname_np(cap->writer, "vsock-pcap");
	return cap;
nomem:
	snprintf(err, err_len, "out of memory");
	if (cap != NULL)
		free(cap->rec);
	free(cap);
	rte_errno = ENOMEM;
	return NULL;
}

struct vsock_port *
vsock_capture_wrap(struct vsock_capture *cap, const struct vsock_port *inner)
{
	struct cap_wrap *w = calloc(1, sizeof(*w));
	struct vsock_port_ops *ops = malloc(sizeof(*ops));

	if (w == NULL || ops == NULL) {
		free(w);
		free(ops);
		rte_errno = ENOMEM;
		return NULL;
	}
	w->inner = *inner;
	w->cap = cap;
	w->port.ops = cap_ops_for(inner->ops, ops);
	w->port.priv = w;
	/* Telemetry and logs keep naming the device. */
	w->port.name = inner->name;
	w->next = cap->wraps;
	cap->wraps = w;
	return &w->port;
}

void
vsock_capture_stats_get(const struct vsock_capture *cap,
		struct vsock_capture_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (cap == NULL)
		return;
	st->captured = __atomic_load_n(&cap->captured, __ATOMIC_RELAXED);
	st->dropped = __atomic_load_n(&cap->dropped, __ATOMIC_RELAXED);
	st->written = __atomic_load_n(&cap->written, __ATOMIC_RELAXED);
	/* Only exact once the writer is gone (vsock_capture_close). */
	st->bytes = cap->bytes;
	st->truncated = cap->truncated;
	st->write_errors = cap->write_errors;
}

int
vsock_capture_close(struct vsock_capture *cap, struct vsock_capture_stats *st)
{
	int ret;

	if (cap == NULL)
		return 0;
	if (cap->writer_started) {
		__atomic_store_n(&cap->stop, true, __ATOMIC_RELEASE);
		pthread_join(cap->writer, NULL);
	}
	if (ferror(pcap_dump_file(cap->dumper)))
		cap->write_errors++;
	if (st != NULL)
		vsock_capture_stats_get(cap, st);
	ret = cap->write_errors != 0 ? -EIO : 0;
	cap_free(cap);
	return ret;
}
