/* SPDX-License-Identifier: BSD-3-Clause */
/* vsock-perf's payload: messages built without writing bytes per send. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <rte_atomic.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memzone.h>

#include "perf_proto.h"

/* Up to this size a message is copied into one direct mbuf. */
#define VPERF_COPY_MAX 2048u
/* Bytes of the pattern one attached mbuf covers (buf_len is 16-bit). */
#define VPERF_SEG 32768u

struct vperf_payload {
	const struct rte_memzone *mz;
	struct rte_mbuf_ext_shared_info shinfo;
};

static void
vperf_payload_nofree(void *addr, void *opaque)
{
	/* The pattern outlives every mbuf: we hold a reference of our own. */
	RTE_SET_USED(addr);
	RTE_SET_USED(opaque);
}

struct vperf_payload *
vperf_payload_create(int socket)
{
	static unsigned int seq;
	struct vperf_payload *p = rte_zmalloc("vperf_payload", sizeof(*p), 0);
	char name[RTE_MEMZONE_NAMESIZE];
	uint8_t *b;

	if (p == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	snprintf(name, sizeof(name), "vperf_pat%u", seq++);
	/* One IOVA-contiguous piece: any segment is one device buffer. */
	p->mz = rte_memzone_reserve_aligned(name, VPERF_MAX_MSG, socket,
			RTE_MEMZONE_IOVA_CONTIG, 4096);
	if (p->mz == NULL) {
		rte_free(p);
		return NULL;
	}
	b = p->mz->addr;
	for (uint32_t i = 0; i < VPERF_MAX_MSG; i++)
		b[i] = (uint8_t)(i * 7 + (i >> 8));
	p->shinfo.free_cb = vperf_payload_nofree;
	rte_mbuf_ext_refcnt_set(&p->shinfo, 1);
	return p;
}

void
vperf_payload_free(struct vperf_payload *p)
{
	if (p == NULL)
		return;
	rte_memzone_free(p->mz);
	rte_free(p);
}

struct rte_mbuf *
vperf_payload_slice(struct vperf_payload *p, struct rte_mempool *pool,
		uint64_t off, uint32_t size)
{
	struct rte_mbuf *segs[VPERF_MAX_MSG / VPERF_SEG * 2 + 2];
	unsigned int n = 0, i;
	uint32_t done = 0;

	/* Pieces of at most VPERF_SEG that do not cross the pattern's end. */
	while (done < size) {
		uint32_t at = (uint32_t)((off + done) % VPERF_MAX_MSG);
		uint32_t len = RTE_MIN(RTE_MIN(VPERF_SEG, size - done),
				VPERF_MAX_MSG - at);
		struct rte_mbuf *m = rte_pktmbuf_alloc(pool);

		if (m == NULL || n == RTE_DIM(segs)) {
			rte_pktmbuf_free(m);
			for (i = 0; i < n; i++)
				rte_pktmbuf_free_seg(segs[i]);
			return NULL;
		}
		rte_mbuf_ext_refcnt_update(&p->shinfo, 1);
		rte_pktmbuf_attach_extbuf(m, (uint8_t *)p->mz->addr + at,
				p->mz->iova + at, (uint16_t)len, &p->shinfo);
		m->data_off = 0;
		m->data_len = (uint16_t)len;
		m->pkt_len = len;
		if (n > 0) {
			segs[n - 1]->next = m;
			segs[0]->pkt_len += len;
		}
		segs[n++] = m;
		done += len;
	}
	segs[0]->nb_segs = (uint16_t)n;
	return segs[0];
}

const uint8_t *
vperf_payload_bytes(const struct vperf_payload *p)
{
	return p->mz->addr;
}

bool
vperf_payload_check(const struct vperf_payload *p, uint64_t off,
		const struct rte_mbuf *m)
{
	const uint8_t *pat = p->mz->addr;

	for (; m != NULL; m = m->next) {
		const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
		uint32_t left = m->data_len;

		while (left > 0) {
			uint32_t at = (uint32_t)(off % VPERF_MAX_MSG);
			uint32_t n = RTE_MIN(left, VPERF_MAX_MSG - at);

			if (memcmp(d, pat + at, n) != 0)
				return false;
			d += n;
			off += n;
			left -= n;
		}
	}
	return true;
}

unsigned int
vperf_payload_msgs(struct vperf_payload *p, struct rte_mempool *pool,
		uint32_t size, struct rte_mbuf **out, unsigned int n)
{
	unsigned int i;

	if (size > VPERF_COPY_MAX || size > (uint32_t)
			(rte_pktmbuf_data_room_size(pool) -
			RTE_PKTMBUF_HEADROOM)) {
		for (i = 0; i < n; i++) {
			out[i] = vperf_payload_slice(p, pool, 0, size);
			if (out[i] == NULL)
				break;
		}
		return i;
	}
	if (rte_pktmbuf_alloc_bulk(pool, out, n) != 0)
		return 0;
	for (i = 0; i < n; i++) {
		memcpy(rte_pktmbuf_mtod(out[i], void *), p->mz->addr, size);
		out[i]->data_len = (uint16_t)size;
		out[i]->pkt_len = size;
	}
	return n;
}
