/* SPDX-License-Identifier: BSD-3-Clause */
/* vsock-perf's payload: messages built without writing bytes per send. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_atomic.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memzone.h>

#include "perf_cold.h"
#include "perf_proto.h"

/* Up to this size a message is copied into one direct mbuf. */
#define VPERF_COPY_MAX 2048u
/* Bytes of the pattern one attached mbuf covers (buf_len is 16-bit). */
#define VPERF_SEG 32768u

struct vperf_payload {
	const struct rte_memzone *mz;
	/*
	 * A cold pattern is too big to ask for IOVA-contiguous memory: the
	 * IOVA of each of its pages, and no piece crosses a page.
	 */
	rte_iova_t *page_iova;
	size_t page_sz;
	size_t len;
	bool walk;		/* cold: messages walk the whole pattern */
	uint64_t cursor;	/* where the walk's next message starts */
	struct rte_mbuf_ext_shared_info shinfo;
};

static void
vperf_payload_nofree(void *addr, void *opaque)
{
	/* The pattern outlives every mbuf: we hold a reference of our own. */
	RTE_SET_USED(addr);
	RTE_SET_USED(opaque);
}

/* Each page's IOVA, for a pattern that is not IOVA-contiguous. */
static int
vperf_payload_pages(struct vperf_payload *p)
{
	size_t n = RTE_ALIGN_CEIL(p->len, p->page_sz) / p->page_sz;
	uint8_t *b = p->mz->addr;

	p->page_iova = rte_malloc("vperf_pages", n * sizeof(rte_iova_t), 0);
	if (p->page_iova == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		p->page_iova[i] = rte_mem_virt2iova(b + i * p->page_sz);
		if (p->page_iova[i] == RTE_BAD_IOVA)
			return -EFAULT;
	}
	return 0;
}

static struct vperf_payload *
vperf_payload_new(int socket, size_t len, bool walk)
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
	/* The hot one in one IOVA-contiguous piece: any segment is one
	 * device buffer. */
	p->mz = rte_memzone_reserve_aligned(name, len, socket,
			walk ? 0 : RTE_MEMZONE_IOVA_CONTIG, 4096);
	if (p->mz == NULL) {
		rte_free(p);
		return NULL;
	}
	p->len = len;
	p->walk = walk;
	p->page_sz = walk ? p->mz->hugepage_sz : len;
	if (walk && vperf_payload_pages(p) != 0) {
		vperf_payload_free(p);
		rte_errno = ENOMEM;
		return NULL;
	}
	b = p->mz->addr;
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 7 + (i >> 8));
	p->shinfo.free_cb = vperf_payload_nofree;
	rte_mbuf_ext_refcnt_set(&p->shinfo, 1);
	return p;
}

struct vperf_payload *
vperf_payload_create(int socket)
{
	return vperf_payload_new(socket, VPERF_MAX_MSG, false);
}

size_t
vperf_cold_len(void)
{
	const char *env = getenv(VPERF_COLD_ENV);
	unsigned long long len;
	char *end;

	if (env == NULL)
		return perf_cold_len();
	errno = 0;
	len = strtoull(env, &end, 0);
	if (errno != 0 || end == env || *end != '\0' ||
			len < PERF_COLD_ALIGN || len > PERF_COLD_MAX ||
			len % PERF_COLD_ALIGN != 0)
		return 0;
	return (size_t)len;
}

struct vperf_payload *
vperf_payload_create_cold(int socket)
{
	size_t len = vperf_cold_len();

	if (len == 0) {
		rte_errno = EINVAL;
		return NULL;
	}
	return vperf_payload_new(socket, len, true);
}

size_t
vperf_payload_len(const struct vperf_payload *p)
{
	return p->len;
}

uint64_t
vperf_payload_sum(const struct rte_mbuf *m)
{
	uint64_t sum = 0;

	for (; m != NULL; m = m->next)
		sum += perf_cold_sum(rte_pktmbuf_mtod(m, const void *),
				m->data_len);
	return sum;
}

void
vperf_payload_free(struct vperf_payload *p)
{
	if (p == NULL)
		return;
	rte_memzone_free(p->mz);
	rte_free(p->page_iova);
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
		size_t at = (size_t)((off + done) % p->len);
		size_t in_page = p->page_sz - at % p->page_sz;
		uint32_t len = (uint32_t)RTE_MIN(RTE_MIN(VPERF_SEG,
				size - done), RTE_MIN(p->len - at, in_page));
		struct rte_mbuf *m = rte_pktmbuf_alloc(pool);

		if (m == NULL || n == RTE_DIM(segs)) {
			rte_pktmbuf_free(m);
			for (i = 0; i < n; i++)
				rte_pktmbuf_free_seg(segs[i]);
			return NULL;
		}
		rte_mbuf_ext_refcnt_update(&p->shinfo, 1);
		rte_pktmbuf_attach_extbuf(m, (uint8_t *)p->mz->addr + at,
				p->page_iova != NULL ?
				p->page_iova[at / p->page_sz] + at % p->page_sz :
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
			size_t at = (size_t)(off % p->len);
			uint32_t n = (uint32_t)RTE_MIN(left, p->len - at);

			if (memcmp(d, pat + at, n) != 0)
				return false;
			d += n;
			off += n;
			left -= n;
		}
	}
	return true;
}

/* Where the next message of @size starts: 0, or the walk's next bytes. */
static uint64_t
vperf_payload_next(struct vperf_payload *p, uint32_t size, bool whole)
{
	uint64_t off;

	if (!p->walk)
		return 0;
	/* A copied message is one memcpy: it must not wrap. */
	if (whole && p->cursor + size > p->len)
		p->cursor = 0;
	off = p->cursor;
	p->cursor = (p->cursor + size) % p->len;
	return off;
}

unsigned int
vperf_payload_msgs(struct vperf_payload *p, struct rte_mempool *pool,
		uint32_t size, struct rte_mbuf **out, unsigned int n)
{
	const uint8_t *b = p->mz->addr;
	unsigned int i;

	if (size > VPERF_COPY_MAX || size > (uint32_t)
			(rte_pktmbuf_data_room_size(pool) -
			RTE_PKTMBUF_HEADROOM)) {
		for (i = 0; i < n; i++) {
			uint64_t save = p->cursor;

			out[i] = vperf_payload_slice(p, pool,
					vperf_payload_next(p, size, false),
					size);
			if (out[i] == NULL) {
				p->cursor = save;
				break;
			}
		}
		return i;
	}
	if (rte_pktmbuf_alloc_bulk(pool, out, n) != 0)
		return 0;
	for (i = 0; i < n; i++) {
		memcpy(rte_pktmbuf_mtod(out[i], void *),
			b + vperf_payload_next(p, size, true), size);
		out[i]->data_len = (uint16_t)size;
		out[i]->pkt_len = size;
	}
	return n;
}
