/* SPDX-License-Identifier: BSD-3-Clause */
/* vsock-perf's payload: messages built without writing bytes per send. */
#include <errno.h>
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

/* A chain of mbufs attached to the pattern; NULL when the pool is empty. */
static struct rte_mbuf *
vperf_attached_msg(struct vperf_payload *p, struct rte_mempool *pool,
		uint32_t size)
{
	struct rte_mbuf *segs[VPERF_MAX_MSG / VPERF_SEG];
	unsigned int n = (size + VPERF_SEG - 1) / VPERF_SEG, i;
	uint32_t off = 0;

	if (rte_pktmbuf_alloc_bulk(pool, segs, n) != 0)
		return NULL;
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = segs[i];
		uint32_t len = RTE_MIN(VPERF_SEG, size - off);

		rte_mbuf_ext_refcnt_update(&p->shinfo, 1);
		rte_pktmbuf_attach_extbuf(m, (uint8_t *)p->mz->addr + off,
				p->mz->iova + off, (uint16_t)len, &p->shinfo);
		m->data_off = 0;
		m->data_len = (uint16_t)len;
		m->pkt_len = len;
		if (i > 0) {
			segs[i - 1]->next = m;
			segs[0]->pkt_len += len;
		}
		off += len;
	}
	segs[0]->nb_segs = (uint16_t)n;
	return segs[0];
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
			out[i] = vperf_attached_msg(p, pool, size);
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
