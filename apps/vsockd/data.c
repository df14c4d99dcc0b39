/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Moving bytes between the stack and the applications' rings: the fast
 * path. No locks and no syscalls here, except the eventfd write that
 * wakes an application which said it sleeps (vsl_proto.h).
 *
 * Every value read from a segment is read once into a local and checked
 * against the daemon's private copy before it is used; a bad one resets
 * that socket and is counted, and nothing else happens.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <rte_atomic.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "vsockd.h"

/* A SEQPACKET message waiting in a socket's pending queue. */
struct vd_msg_meta {
	struct rte_mbuf *next;	/* next message */
	uint32_t len;
	uint32_t flags;		/* VSOCK_SEQ_* */
};

static int vd_meta_off = -1;

static inline struct vd_msg_meta *
vd_meta(struct rte_mbuf *m)
{
	return RTE_MBUF_DYNFIELD(m, vd_meta_off, struct vd_msg_meta *);
}

int
vd_data_init(void)
{
	static const struct rte_mbuf_dynfield desc = {
		.name = "vsockd_msg_meta",
		.size = sizeof(struct vd_msg_meta),
		.align = __alignof__(struct vd_msg_meta),
	};

	vd_meta_off = rte_mbuf_dynfield_register(&desc);
	return vd_meta_off < 0 ? -rte_errno : 0;
}

/* ---- publishing and waking ---- */

void
vd_touch(struct vd_sock *s)
{
	if (s->sh == NULL || s->dirty)
		return;
	s->dirty = true;
	TAILQ_INSERT_TAIL(&vd.dirty, s, dlink);
}

/*
 * Write 1 to an application's eventfd. The file description is shared
 * with the application, which may have cleared its O_NONBLOCK and pushed
 * the counter to its maximum, where a write blocks: ask first whether a
 * write can go through (POLLOUT), and never wait for it.
 */
static void
vd_wake(int efd)
{
	static const uint64_t one = 1;
	struct pollfd pf = { .fd = efd, .events = POLLOUT };

	if (poll(&pf, 1, 0) != 1 || (pf.revents & POLLOUT) == 0) {
		VD_LOG(DEBUG, "eventfd %d not writable: wake-up dropped\n",
			efd);
		return;
	}
	if (write(efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		VD_LOG(DEBUG, "eventfd write: %s\n", strerror(errno));
}

static void
vd_publish(struct vd_sock *s)
{
	struct vsl_slot *sh = s->sh;
	uint32_t seq;

	sh->d.state = (uint32_t)s->st;
	sh->d.error = s->error;
	sh->d.peer_shut = s->peer_shut;
	sh->d.accept_ready = s->acq_len;
	sh->d.tx_queued = s->tx_queued;
	__atomic_store_n(&sh->d.rx_head, s->rx_head, __ATOMIC_RELEASE);
	__atomic_store_n(&sh->d.tx_tail, s->tx_tail, __ATOMIC_RELEASE);
	__atomic_store_n(&sh->d.events, sh->d.events + 1, __ATOMIC_RELEASE);
	/* Our stores before its sleep_seq: the app does the mirror image. */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	seq = __atomic_load_n(&sh->a.sleep_seq, __ATOMIC_RELAXED);
	if (seq == s->last_sleep || s->efd < 0)
		return;
	s->last_sleep = seq;
	vd_cnt(s)->wakeups++;
	vd_wake(s->efd);
}

void
vd_flush_one(struct vd_sock *s)
{
	if (s->dirty) {
		TAILQ_REMOVE(&vd.dirty, s, dlink);
		s->dirty = false;
	}
	if (s->sh != NULL)
		vd_publish(s);
}

void
vd_flush(void)
{
	struct vd_sock *s;

	while ((s = TAILQ_FIRST(&vd.dirty)) != NULL) {
		TAILQ_REMOVE(&vd.dirty, s, dlink);
		s->dirty = false;
		vd_publish(s);
	}
}

/* ---- rings ---- */

static inline void
vd_ring_write(uint8_t *ring, uint32_t size, uint32_t idx, const void *src,
		uint32_t n)
{
	uint32_t off = idx & (size - 1), first = RTE_MIN(n, size - off);

	memcpy(ring + off, src, first);
	if (n > first)
		memcpy(ring, (const uint8_t *)src + first, n - first);
}

static inline void
vd_ring_read(const uint8_t *ring, uint32_t size, uint32_t idx, void *dst,
		uint32_t n)
{
	uint32_t off = idx & (size - 1), first = RTE_MIN(n, size - off);

	memcpy(dst, ring + off, first);
	if (n > first)
		memcpy((uint8_t *)dst + first, ring, n - first);
}

/* Free one segment of a flat list and return the next. */
static inline struct rte_mbuf *
vd_seg_free(struct rte_mbuf *m)
{
	struct rte_mbuf *next = m->next;

	m->next = NULL;
	m->nb_segs = 1;
	rte_pktmbuf_free_seg(m);
	return next;
}

static void
vd_segs_free(struct rte_mbuf *m)
{
	while (m != NULL)
		m = vd_seg_free(m);
}

void
vd_pend_free(struct vd_sock *s)
{
	struct rte_mbuf *m = s->pend_head, *next;

	if (s->type == VSL_TYPE_SEQPACKET) {
		while (m != NULL) {
			next = vd_meta(m)->next;
			vd_segs_free(m);
			m = next;
		}
	} else {
		vd_segs_free(m);
	}
	vd_segs_free(s->msg_head);
	rte_pktmbuf_free(s->tx_pend);
	s->pend_head = s->pend_tail = NULL;
	s->msg_head = s->msg_tail = NULL;
	s->tx_pend = NULL;
	s->pend_bytes = s->pend_off = s->pend_msgs = s->msg_len = 0;
	s->tx_pend_len = 0;
}

/* ---- rx: stack -> ring ---- */

static bool
vd_pend_empty(const struct vd_sock *s)
{
	return s->pend_head == NULL && s->msg_head == NULL;
}

static void
vd_rx_drain_stream(struct vd_sock *s)
{
	uint32_t size = s->app->ring_size;
	uint32_t space = size - (s->rx_head - s->rx_tail);
	uint32_t start = s->rx_head;
	struct rte_mbuf *m;

	while (space > 0 && (m = s->pend_head) != NULL) {
		uint32_t n = RTE_MIN((uint32_t)m->data_len - s->pend_off,
				space);

		vd_ring_write(s->rxr, size, s->rx_head,
			rte_pktmbuf_mtod_offset(m, uint8_t *, s->pend_off), n);
		s->rx_head += n;
		space -= n;
		s->pend_off += n;
		s->pend_bytes -= n;
		if (s->pend_off == m->data_len) {
			s->pend_head = vd_seg_free(m);
			s->pend_off = 0;
			if (s->pend_head == NULL)
				s->pend_tail = NULL;
		}
	}
	if (s->rx_head != start) {
		vd_cnt(s)->rx_bytes += s->rx_head - start;
		vd_touch(s);
	}
}

static void
vd_rx_drain_seq(struct vd_sock *s)
{
	uint32_t size = s->app->ring_size;
	struct rte_mbuf *m;

	while ((m = s->pend_head) != NULL) {
		struct vd_msg_meta *mm = vd_meta(m);
		uint32_t space = size - (s->rx_head - s->rx_tail);
		struct vsl_rec rec = { .len = mm->len };
		struct rte_mbuf *next = mm->next, *seg;
		uint32_t idx;

		/* buf_cap keeps every message under the ring's size. */
		if (mm->len > size - sizeof(rec) ||
				vsl_rec_size(mm->len) > size) {
			vd_cnt(s)->rx_overflow++;
			vd_sock_reset(s, EMSGSIZE);
			return;
		}
		if (vsl_rec_size(mm->len) > space)
			break;
		if (mm->flags & VSOCK_SEQ_EOR)
			rec.flags = VSL_REC_EOR;
		vd_ring_write(s->rxr, size, s->rx_head, &rec, sizeof(rec));
		idx = s->rx_head + sizeof(rec);
		for (seg = m; seg != NULL; seg = seg->next) {
			vd_ring_write(s->rxr, size, idx,
				rte_pktmbuf_mtod(seg, uint8_t *),
				seg->data_len);
			idx += seg->data_len;
		}
		s->rx_head += vsl_rec_size(mm->len);
		s->rx_pay_written += mm->len;
		s->pend_bytes -= mm->len;
		s->pend_msgs--;
		vd_cnt(s)->rx_bytes += mm->len;
		vd_segs_free(m);
		s->pend_head = next;
		if (next == NULL)
			s->pend_tail = NULL;
		vd_touch(s);
	}
}

void
vd_rx_drain(struct vd_sock *s)
{
	uint32_t shut;

	if (s->sh == NULL || s->st == VD_CLOSING)
		return;
	if (s->type == VSL_TYPE_SEQPACKET)
		vd_rx_drain_seq(s);
	else
		vd_rx_drain_stream(s);
	/* The peer's "no more sends" goes out after what it sent. */
	shut = s->peer_shut_seen & VSOCK_SHUTDOWN_RCV;
	if (vd_pend_empty(s))
		shut = s->peer_shut_seen;
	if (shut != s->peer_shut) {
		s->peer_shut = shut;
		vd_touch(s);
	}
}

void
vd_rx_data(struct vd_sock *s, struct rte_mbuf *m)
{
	struct rte_mbuf *last = rte_pktmbuf_lastseg(m);
	uint32_t flags;

	if (s->type == VSL_TYPE_STREAM) {
		if (s->pend_tail != NULL)
			s->pend_tail->next = m;
		else
			s->pend_head = m;
		s->pend_tail = last;
		s->pend_bytes += m->pkt_len;
		vd_rx_drain(s);
		return;
	}
	flags = vsock_mbuf_msg_flags(m);
	if (s->msg_tail != NULL)
		s->msg_tail->next = m;
	else
		s->msg_head = m;
	s->msg_tail = last;
	s->msg_len += m->pkt_len;
	if (!(flags & VSOCK_SEQ_EOM))
		return;
	m = s->msg_head;
	vd_meta(m)->next = NULL;
	vd_meta(m)->len = s->msg_len;
	vd_meta(m)->flags = flags;
	if (s->pend_tail != NULL)
		vd_meta(s->pend_tail)->next = m;
	else
		s->pend_head = m;
	s->pend_tail = m;
	s->pend_bytes += s->msg_len;
	s->msg_head = s->msg_tail = NULL;
	s->msg_len = 0;
	/* Credit bounds the bytes; empty messages need their own bound. */
	if (++s->pend_msgs > VD_MAX_PEND_MSGS) {
		vd_cnt(s)->rx_overflow++;
		vd_sock_reset(s, ENOBUFS);
		return;
	}
	vd_rx_drain(s);
}

/* The app moved a.rx_tail: credit goes back to the peer for it. */
static bool
vd_rx_consumed(struct vd_sock *s)
{
	uint32_t tail = __atomic_load_n(&s->sh->a.rx_tail, __ATOMIC_ACQUIRE);
	uint32_t delta = tail - s->rx_tail;
	uint64_t target;

	if (delta == 0)
		return true;
	if (delta > s->rx_head - s->rx_tail) {
		vd_cnt(s)->bad_index++;
		vd_sock_reset(s, EPROTO);
		return false;
	}
	s->rx_tail = tail;
	if (s->type == VSL_TYPE_SEQPACKET) {
		/* Exact once the ring drains; never ahead of the payload. */
		s->rx_ring_consumed += delta;
		target = RTE_MIN(s->rx_pay_written, s->rx_ring_consumed);
	} else {
		target = s->rx_credited + delta;
	}
	if (s->c != NULL && target > s->rx_credited)
		vsock_consumed(s->c, (uint32_t)(target - s->rx_credited));
	s->rx_credited = target;
	vd_rx_drain(s);
	return true;
}

/* ---- tx: ring -> stack ---- */

/* @len bytes of the tx ring from @idx, in a chain of the daemon's pool. */
static struct rte_mbuf *
vd_chain(struct vd_sock *s, uint32_t idx, uint32_t len)
{
	struct rte_mbuf *segs[64];
	uint32_t room = vd.mbuf_room, nseg, i, done = 0;

	nseg = len == 0 ? 1 : (len + room - 1) / room;
	if (nseg > RTE_DIM(segs) ||
			rte_pktmbuf_alloc_bulk(vd.pool, segs, nseg) != 0)
		return NULL;
	for (i = 0; i < nseg; i++) {
		uint32_t n = RTE_MIN(room, len - done);

		vd_ring_read(s->txr, s->app->ring_size, idx + done,
			rte_pktmbuf_mtod(segs[i], void *), n);
		segs[i]->data_len = (uint16_t)n;
		segs[i]->pkt_len = n;
		if (i > 0)
			segs[i - 1]->next = segs[i];
		done += n;
	}
	segs[0]->pkt_len = len;
	segs[0]->nb_segs = (uint16_t)nseg;
	return segs[0];
}

static void
vd_wait_pool(struct vd_sock *s)
{
	vd_cnt(s)->nombuf++;
	if (!s->on_work) {
		s->on_work = true;
		TAILQ_INSERT_TAIL(&vd.work, s, wlink);
	}
}

/* Send @m; false when the stack keeps it for later (on_writable). */
static bool
vd_send(struct vd_sock *s, struct rte_mbuf *m, uint32_t flags)
{
	uint32_t len = m->pkt_len;
	int r = vsock_send(s->c, m, flags);

	if (r == -ENOBUFS) {
		s->tx_pend = m;
		s->tx_pend_flags = flags;
		s->tx_pend_len = len;
		return false;
	}
	if (r != 0) {
		/* Shut down or reset meanwhile: the bytes have nowhere to go. */
		rte_pktmbuf_free(m);
		if (r == -EINVAL && s->type == VSL_TYPE_SEQPACKET) {
			s->error = EMSGSIZE;
			vd_touch(s);
		}
		return true;
	}
	vd_cnt(s)->tx_bytes += len;
	return true;
}

static void
vd_tx_stats(struct vd_sock *s)
{
	struct vsock_conn_info ci;

	if (s->c == NULL)
		return;
	vsock_conn_info(s->c, &ci);
	s->sh->d.peer_buf_alloc = ci.peer_buf_alloc;
	s->tx_queued = ci.tx_queued + s->tx_pend_len;
	if (s->tx_queued != 0 && !s->on_outq) {
		s->on_outq = true;
		TAILQ_INSERT_TAIL(&vd.outq, s, olink);
	}
}

/* Returns false when the socket was reset. */
static bool
vd_tx_stream(struct vd_sock *s, uint32_t head)
{
	while (s->tx_pend == NULL && head != s->tx_tail) {
		uint32_t n = RTE_MIN(head - s->tx_tail, VD_TX_CHUNK);
		struct rte_mbuf *m = vd_chain(s, s->tx_tail, n);

		if (m == NULL) {
			vd_wait_pool(s);
			break;
		}
		s->tx_tail += n;
		vd_send(s, m, 0);
	}
	return true;
}

static bool
vd_tx_seq(struct vd_sock *s, uint32_t head)
{
	uint32_t size = s->app->ring_size;

	while (s->tx_pend == NULL && head != s->tx_tail) {
		uint32_t avail = head - s->tx_tail;
		struct vsl_rec rec;
		struct rte_mbuf *m;

		/* Whole records only: the header is read once, here. */
		if (avail < sizeof(rec))
			goto bad;
		vd_ring_read(s->txr, size, s->tx_tail, &rec, sizeof(rec));
		if (rec.len > size - sizeof(rec) || (rec.flags & ~VSL_REC_EOR) ||
				vsl_rec_size(rec.len) > avail)
			goto bad;
		if (rec.len > 60u * vd.mbuf_room) {
			/* More than one send can carry: Linux's EMSGSIZE. */
			s->tx_tail += vsl_rec_size(rec.len);
			s->error = EMSGSIZE;
			vd_touch(s);
			continue;
		}
		m = vd_chain(s, s->tx_tail + sizeof(rec), rec.len);
		if (m == NULL) {
			vd_wait_pool(s);
			break;
		}
		s->tx_tail += vsl_rec_size(rec.len);
		vd_send(s, m, rec.flags & VSL_REC_EOR ? VSOCK_SEQ_EOR : 0);
	}
	return true;
bad:
	vd_cnt(s)->bad_record++;
	vd_sock_reset(s, EPROTO);
	return false;
}

void
vd_tx_pump(struct vd_sock *s)
{
	uint32_t head, start = s->tx_tail;
	bool ok;

	if (s->sh == NULL)
		return;
	head = __atomic_load_n(&s->sh->a.tx_head, __ATOMIC_ACQUIRE);
	if (head - s->tx_tail > s->app->ring_size) {
		vd_cnt(s)->bad_index++;
		vd_sock_reset(s, EPROTO);
		return;
	}
	if (s->c == NULL || s->st == VD_CONNECTING) {
		/* Reset or refused: what was written cannot be sent. */
		if (s->st == VD_CLOSED && head != s->tx_tail) {
			s->tx_tail = head;
			vd_touch(s);
		}
		return;
	}
	if (s->tx_pend != NULL) {
		struct rte_mbuf *m = s->tx_pend;

		s->tx_pend = NULL;
		s->tx_pend_len = 0;
		if (!vd_send(s, m, s->tx_pend_flags))
			goto out;
	}
	if (s->type == VSL_TYPE_SEQPACKET)
		ok = vd_tx_seq(s, head);
	else
		ok = vd_tx_stream(s, head);
	if (!ok)
		return;
out:
	if (s->tx_tail != start)
		vd_touch(s);
	vd_tx_stats(s);
	if (s->tx_pend == NULL && s->tx_tail == head &&
			(s->close_req || (s->shut_req & ~s->shut_done)))
		vd_close_maybe_finish(s);
}

/* A doorbell or a control op: look at both of the slot's app indices. */
void
vd_service(struct vd_sock *s)
{
	if (s->sh == NULL)
		return;
	/* Closed by the app: only its tx ring still matters. */
	if (s->st != VD_CLOSING && !vd_rx_consumed(s))
		return;
	vd_tx_pump(s);
}

void
vd_doorbells(struct vd_app *a)
{
	uint32_t head = __atomic_load_n(&a->hdr->db_head, __ATOMIC_ACQUIRE);
	uint32_t n = head - a->db_tail, i, k = 0;
	uint32_t idx[VD_DB_BUDGET];

	if (n == 0)
		return;
	if (n > a->nslots) {
		/* More than it can have pushed: skip to its head. */
		VD_LOG(DEBUG, "pid %d: doorbell head %u, tail %u\n",
			(int)a->pid, head, a->db_tail);
		a->cnt.bad_doorbell++;
		a->db_tail = head;
		__atomic_store_n(&a->hdr->db_tail, head, __ATOMIC_RELEASE);
		return;
	}
	n = RTE_MIN(n, (uint32_t)VD_DB_BUDGET);
	for (i = 0; i < n; i++) {
		uint32_t v = __atomic_load_n(&a->db[a->db_tail++ &
				(a->nslots - 1)], __ATOMIC_RELAXED);

		if (v >= a->nslots) {
			VD_LOG(DEBUG, "pid %d: doorbell for slot %u\n",
				(int)a->pid, v);
			a->cnt.bad_doorbell++;
			continue;
		}
		/* Cleared even for a closed slot: its next use rings again. */
		__atomic_store_n(&a->slots[v].a.db_pending, 0,
			__ATOMIC_RELAXED);
		idx[k++] = v;
	}
	__atomic_store_n(&a->hdr->db_tail, a->db_tail, __ATOMIC_RELEASE);
	a->cnt.doorbells += n;
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (i = 0; i < k; i++) {
		struct vd_sock *s = a->socks[idx[i]];

		if (s == NULL) {
			VD_LOG(DEBUG, "pid %d: doorbell for free slot %u\n",
				(int)a->pid, idx[i]);
			a->cnt.bad_doorbell++;
			continue;
		}
		vd_service(s);
	}
}

/* The data path's round: doorbells, sockets that waited, slots published. */
void
vd_apps_poll(void)
{
	struct vd_app *a;

	TAILQ_FOREACH(a, &vd.apps, link)
		if (a->hello)
			vd_doorbells(a);
	if (!TAILQ_EMPTY(&vd.work))
		vd_work();
	vd_flush();
}

/* Sockets that waited for the pool. */
void
vd_work(void)
{
	TAILQ_HEAD(, vd_sock) list = TAILQ_HEAD_INITIALIZER(list);
	struct vd_sock *s;

	TAILQ_CONCAT(&list, &vd.work, wlink);
	while ((s = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, s, wlink);
		s->on_work = false;
		vd_tx_pump(s);
	}
}

/* SIOCOUTQ: tx_queued falls as the stack sends, with no callback. */
void
vd_outq_refresh(void)
{
	struct vd_sock *s, *next;
	uint32_t old;

	for (s = TAILQ_FIRST(&vd.outq); s != NULL; s = next) {
		next = TAILQ_NEXT(s, olink);
		old = s->tx_queued;
		if (s->c != NULL)
			vd_tx_stats(s);
		else
			s->tx_queued = 0;
		if (s->tx_queued != old)
			vd_touch(s);
		if (s->tx_queued == 0) {
			TAILQ_REMOVE(&vd.outq, s, olink);
			s->on_outq = false;
		}
	}
}
