/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sockets: the glue between an application's slot and a vsock_conn, the
 * port table for BIND, listeners and their accept queues, and the
 * stack's callbacks. Every connection's context is its struct vd_sock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_hash.h>
#include <rte_mbuf.h>

#include "vsockd.h"

#define VD_LINUX_BUF_SIZE (256u * 1024)
#define VD_LINUX_BUF_MIN 128u
#define VD_LINUX_BUF_MAX (256u * 1024)
/* Tries before BIND to VMADDR_PORT_ANY gives up. */
#define VD_EPHEMERAL_TRIES 65536u
#define VD_CID_ANY 0xffffffffull
#define CAP_NET_BIND_SERVICE_BIT 10

struct vd_sock *
vd_sock_new(struct vd_app *a, uint32_t type)
{
	struct vd_sock *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->app = a;
	s->idx = VD_NO_SLOT;
	s->type = type;
	s->st = VD_OPEN;
	s->efd = -1;
	s->buf_min = VD_LINUX_BUF_MIN;
	s->buf_max = VD_LINUX_BUF_MAX;
	s->buf_size = RTE_MIN(VD_LINUX_BUF_SIZE, vd.buf_cap);
	TAILQ_INIT(&s->acq);
	vd.sockets_total++;
	return s;
}

void
vd_sock_attach_slot(struct vd_sock *s, uint32_t idx, int efd)
{
	struct vd_app *a = s->app;
	uint64_t ring_pair = 2ull * a->ring_size;
	struct vsl_slot *sh = &a->slots[idx];
	uint32_t events = sh->d.events;

	s->idx = idx;
	s->efd = efd;
	s->sh = sh;
	s->rxr = a->rings + (uint64_t)idx * ring_pair;
	s->txr = s->rxr + a->ring_size;
	s->last_sleep = __atomic_load_n(&sh->a.sleep_seq, __ATOMIC_RELAXED);
	a->socks[idx] = s;
	a->nb_socks++;
	vd.nb_socks++;
	/* A new socket starts at index 0 both ways; events keeps counting. */
	memset(&sh->d, 0, sizeof(sh->d));
	sh->d.events = events;
	vd_touch(s);
}

/* ---- ports ---- */

int
vd_port_reserve(struct vd_sock *s, uint32_t port)
{
	if (rte_hash_lookup(vd.ports, &port) >= 0)
		return -EADDRINUSE;
	if (rte_hash_add_key_data(vd.ports, &port, s) != 0)
		return -ENOMEM;
	s->port = port;
	s->bound = true;
	return 0;
}

void
vd_port_release(struct vd_sock *s)
{
	if (!s->bound)
		return;
	rte_hash_del_key(vd.ports, &s->port);
	s->bound = false;
}

/* CAP_NET_BIND_SERVICE in the effective set of @pid. */
static bool
vd_has_bind_cap(pid_t pid)
{
	char path[64], line[256];
	unsigned long long caps = 0;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "CapEff: %llx", &caps) == 1) {
			found = true;
			break;
		}
	fclose(f);
	return found && (caps >> CAP_NET_BIND_SERVICE_BIT) & 1;
}

static bool
vd_cid_ours(uint64_t cid)
{
	unsigned int i;

	if (cid == VD_CID_ANY || cid == VSOCK_CID_LOCAL)
		return true;
	for (i = 0; i < vd.nb_cids; i++)
		if (vd.cids[i] == cid)
			return true;
	return false;
}

int
vd_rpc_bind(struct vd_sock *s, uint64_t cid, uint32_t port, uint32_t *bound)
{
	uint32_t i;
	int r;

	if (s->st != VD_OPEN || s->bound)
		return -EINVAL;
	if (!vd_cid_ours(cid))
		return -EADDRNOTAVAIL;
	if (port == VSOCK_PORT_ANY) {
		r = -EADDRNOTAVAIL;
		for (i = 0; i < VD_EPHEMERAL_TRIES && r != 0; i++) {
			uint32_t p = vd.next_ephemeral;

			vd.next_ephemeral = p >= 0xfffffffeu ?
				VSOCK_LAST_RESERVED_PORT + 1 : p + 1;
			r = vd_port_reserve(s, p);
			if (r == -ENOMEM)
				return r;
		}
		if (r != 0)
			return -EADDRNOTAVAIL;
	} else {
		if (port <= VSOCK_LAST_RESERVED_PORT && s->app->uid != 0 &&
				!vd_has_bind_cap(s->app->pid))
			return -EACCES;
		r = vd_port_reserve(s, port);
		if (r != 0)
			return r;
	}
	s->bound_cid = cid;
	s->sh->d.local_cid = cid;
	s->sh->d.local_port = s->port;
	vd_touch(s);
	*bound = s->port;
	return 0;
}

/* ---- listeners ---- */

int
vd_rpc_listen(struct vd_sock *s, uint32_t backlog)
{
	struct vsock_listen_conf lc = { 0 };
	int r;

	/* Linux caps the backlog too (somaxconn); ours is max_conns. */
	backlog = RTE_MIN(backlog, vd.conf.max_conns);
	if (s->st == VD_LISTEN) {
		s->backlog = backlog;
		return 0;
	}
	/* Linux: listen() on an unbound vsock socket is EINVAL. */
	if (s->st != VD_OPEN || !s->bound)
		return -EINVAL;
	lc.port = s->port;
	lc.type = (enum vsock_type)s->type;
	r = vsock_listen_ex(vd.stack, &lc, &vd_ops, s, NULL);
	if (r != 0)
		return r;
	s->backlog = backlog;
	s->st = VD_LISTEN;
	vd_touch(s);
	return 0;
}

static void
vd_listener_drop_queue(struct vd_sock *l)
{
	struct vd_sock *q;

	while ((q = TAILQ_FIRST(&l->acq)) != NULL) {
		TAILQ_REMOVE(&l->acq, q, qlink);
		l->acq_len--;
		if (q->c != NULL)
			vsock_abort(q->c);
		q->c = NULL;
		vd_sock_free(q);
	}
	if (l->st == VD_LISTEN)
		vsock_unlisten(vd.stack, l->port);
}

/* ---- connections ---- */

static void
vd_apply_buf(struct vd_sock *s)
{
	if (s->c != NULL)
		s->buf_size = vsock_conn_set_buf_size(s->c,
				(uint32_t)s->buf_size);
}

int
vd_rpc_connect(struct vd_sock *s, uint64_t cid, uint32_t port, uint32_t ms)
{
	struct vsock_connect_conf cc = { 0 };
	int r;

	if (s->st == VD_LISTEN)
		return -EINVAL;
	if (s->st == VD_CONNECTING)
		return -EALREADY;
	if (s->st == VD_CONNECTED)
		return -EISCONN;
	if (s->st != VD_OPEN && s->st != VD_CLOSED)
		return -EINVAL;
	/* Again after a failure: what the last connection left goes. */
	vd_pend_free(s);
	s->error = 0;
	s->peer_shut = s->peer_shut_seen = 0;
	s->shut_req = s->shut_done = 0;
	cc.cid = cid;
	cc.port = port;
	cc.type = (enum vsock_type)s->type;
	cc.connect_timeout_ms = ms;
	cc.buf_size = (uint32_t)s->buf_size;
	r = vsock_connect_ex(vd.stack, &cc, &vd_ops, s, &s->c);
	if (r != 0) {
		s->c = NULL;
		return r;
	}
	vd_apply_buf(s);
	s->st = VD_CONNECTING;
	vd_sock_publish_addr(s);
	return 0;
}

void
vd_sock_publish_addr(struct vd_sock *s)
{
	struct vsock_conn_info ci;

	if (s->sh == NULL)
		return;
	if (s->c != NULL) {
		vsock_conn_info(s->c, &ci);
		s->sh->d.local_cid = ci.local_cid;
		s->sh->d.local_port = ci.local_port;
		s->sh->d.remote_cid = ci.remote_cid;
		s->sh->d.remote_port = ci.remote_port;
		s->sh->d.peer_buf_alloc = ci.peer_buf_alloc;
		s->remote_cid = ci.remote_cid;
		s->remote_port = ci.remote_port;
	}
	vd_touch(s);
}

int
vd_rpc_setopt(struct vd_sock *s, uint32_t opt, uint64_t val, uint64_t *out)
{
	uint64_t v;

	switch (opt) {
	case VSL_OPT_BUF_SIZE:
		s->buf_size = val;
		break;
	case VSL_OPT_BUF_MIN:
		s->buf_min = val;
		break;
	case VSL_OPT_BUF_MAX:
		s->buf_max = val;
		break;
	default:
		return -ENOPROTOOPT;
	}
	/* As Linux's vsock_update_buffer_size(): max first, then min. */
	v = s->buf_size;
	if (v > s->buf_max)
		v = s->buf_max;
	if (v < s->buf_min)
		v = s->buf_min;
	/*
	 * A SEQPACKET record must fit the rx ring whole; a stream's bytes
	 * beyond the ring wait in mbufs, so only a bound on what one
	 * connection may pin of the pool applies.
	 */
	s->buf_size = RTE_MIN(v, s->type == VSL_TYPE_SEQPACKET ?
			(uint64_t)vd.buf_cap : VD_STREAM_BUF_MAX);
	vd_apply_buf(s);
	*out = opt == VSL_OPT_BUF_SIZE ? s->buf_size :
		opt == VSL_OPT_BUF_MIN ? s->buf_min : s->buf_max;
	return 0;
}

/* ---- closing ---- */

/*
 * Forget @s: its connection must be gone already. A slot reads FREE
 * afterwards (when its segment is still there to tell).
 */
void
vd_sock_free(struct vd_sock *s)
{
	struct vd_app *a = s->app;

	if (s->dirty)
		TAILQ_REMOVE(&vd.dirty, s, dlink);
	if (s->on_work)
		TAILQ_REMOVE(&vd.work, s, wlink);
	if (s->on_outq)
		TAILQ_REMOVE(&vd.outq, s, olink);
	s->dirty = s->on_work = s->on_outq = false;
	vd_pend_free(s);
	vd_port_release(s);
	if (s->sh != NULL) {
		s->st = VD_FREE;
		s->error = 0;
		s->acq_len = 0;
		s->tx_queued = 0;
		vd_touch(s);
		vd_flush_one(s);
	}
	if (s->idx != VD_NO_SLOT) {
		a->socks[s->idx] = NULL;
		a->nb_socks--;
		vd.nb_socks--;
	}
	if (s->efd >= 0)
		close(s->efd);
	free(s);
	/* An app whose last socket went is released by vd_ctl_poll(). */
}

/* The socket breaks (a protocol violation by the app, or no memory). */
void
vd_sock_reset(struct vd_sock *s, int err)
{
	if (s->st == VD_QUEUED) {
		struct vd_sock *l = s->listener;

		TAILQ_REMOVE(&l->acq, s, qlink);
		l->acq_len--;
		vd_touch(l);
		vsock_abort(s->c);
		s->c = NULL;
		vd_sock_free(s);
		return;
	}
	if (s->st == VD_LISTEN)
		vd_listener_drop_queue(s);
	if (s->c != NULL)
		vsock_abort(s->c);
	s->c = NULL;
	vd_pend_free(s);
	if (s->st == VD_CLOSING) {
		vd_sock_free(s);
		return;
	}
	s->st = VD_CLOSED;
	s->error = err;
	vd_touch(s);
}

/* Did the app close @s, or shut it down for writing? */
bool
vd_sock_finished_writing(const struct vd_sock *s)
{
	return s->st == VD_CLOSING ||
		(s->st == VD_CONNECTED && (s->shut_req & VSL_SHUT_WR));
}

/* The app is gone: abort without telling its (unmapped) segment. */
void
vd_sock_teardown(struct vd_sock *s)
{
	if (s->st == VD_LISTEN)
		vd_listener_drop_queue(s);
	if (s->c != NULL)
		vsock_abort(s->c);
	s->c = NULL;
	s->sh = NULL;
	vd_sock_free(s);
}

/*
 * A CLOSE or SHUTDOWN waited for the tx ring: called once the ring is
 * drained into the stack.
 */
void
vd_close_maybe_finish(struct vd_sock *s)
{
	uint32_t bits = s->shut_req & ~s->shut_done;

	if (s->close_req) {
		if (s->c != NULL)
			vsock_close(s->c);
		s->c = NULL;
		vd_sock_free(s);
		return;
	}
	if (bits != 0 && s->c != NULL) {
		vsock_shutdown(s->c, bits);
		s->shut_done |= bits;
	}
}

int
vd_rpc_close(struct vd_sock *s, bool abort)
{
	if (s->st == VD_LISTEN) {
		vd_listener_drop_queue(s);
		vd_sock_free(s);
		return 0;
	}
	if (abort || s->c == NULL || s->st != VD_CONNECTED) {
		if (s->c != NULL)
			vsock_abort(s->c);
		s->c = NULL;
		vd_sock_free(s);
		return 0;
	}
	/* Linger: what the app wrote goes first; FREE once it has. */
	s->close_req = true;
	s->st = VD_CLOSING;
	vd_touch(s);
	vd_service(s);
	return 0;
}

int
vd_rpc_shutdown(struct vd_sock *s, uint32_t how)
{
	if (how == 0 || (how & ~(VSL_SHUT_RD | VSL_SHUT_WR)))
		return -EINVAL;
	if (s->st != VD_CONNECTED)
		return -ENOTCONN;
	s->shut_req |= how;
	vd_service(s);
	return 0;
}

/* ---- stack callbacks ---- */

static int
vd_on_request(uint32_t local_port, uint64_t remote_cid, uint32_t remote_port,
		void *ctx)
{
	struct vd_sock *l = ctx;

	RTE_SET_USED(local_port);
	RTE_SET_USED(remote_cid);
	RTE_SET_USED(remote_port);
	/* listen(fd, 0) still takes one connection on Linux. */
	if (l->st != VD_LISTEN || l->acq_len >= RTE_MAX(l->backlog, 1u))
		return -ECONNREFUSED;
	return 0;
}

static void
vd_on_accept(struct vsock_conn *c, void *ctx)
{
	struct vd_sock *l = ctx;
	struct vd_sock *q = vd_sock_new(l->app, l->type);

	if (q == NULL) {
		vsock_abort(c);
		return;
	}
	q->st = VD_QUEUED;
	q->c = c;
	q->listener = l;
	/* A child takes the listener's buffer options, as on Linux. */
	q->buf_size = l->buf_size;
	q->buf_min = l->buf_min;
	q->buf_max = l->buf_max;
	vsock_conn_set_ctx(c, q);
	vd_apply_buf(q);
	TAILQ_INSERT_TAIL(&l->acq, q, qlink);
	l->acq_len++;
	vd_touch(l);
}

static void
vd_on_connect(struct vsock_conn *c, int err, void *ctx)
{
	struct vd_sock *s = ctx;

	RTE_SET_USED(c);
	if (err != 0) {
		s->c = NULL;
		s->st = VD_CLOSED;
		s->error = err == -ETIMEDOUT ? ETIMEDOUT : ECONNRESET;
		vd_touch(s);
		return;
	}
	s->st = VD_CONNECTED;
	vd_sock_publish_addr(s);
	/* Bytes written while connecting go now. */
	vd_tx_pump(s);
}

static void
vd_on_data(struct vsock_conn *c, struct rte_mbuf *m, void *ctx)
{
	struct vd_sock *s = ctx;

	if (s->st == VD_CLOSING) {
		/* Closed by the app: nobody reads it any more. */
		vsock_consumed(c, m->pkt_len);
		rte_pktmbuf_free(m);
		return;
	}
	vd_rx_data(s, m);
}

static void
vd_on_writable(struct vsock_conn *c, void *ctx)
{
	RTE_SET_USED(c);
	vd_tx_pump(ctx);
}

static void
vd_on_shutdown(struct vsock_conn *c, unsigned int how, void *ctx)
{
	struct vd_sock *s = ctx;

	RTE_SET_USED(c);
	s->peer_shut_seen |= how & (VSL_SHUT_RD | VSL_SHUT_WR);
	vd_rx_drain(s);
}

static void
vd_on_reset(struct vsock_conn *c, enum vsock_reset_reason why, void *ctx)
{
	struct vd_sock *s = ctx;

	RTE_SET_USED(c);
	s->c = NULL;
	if (s->st == VD_QUEUED) {
		struct vd_sock *l = s->listener;

		TAILQ_REMOVE(&l->acq, s, qlink);
		l->acq_len--;
		vd_touch(l);
		vd_sock_free(s);
		return;
	}
	if (s->st == VD_CLOSING) {
		vd_sock_free(s);
		return;
	}
	/* What arrived before the RST stays readable. */
	rte_pktmbuf_free(s->tx_pend);
	s->tx_pend = NULL;
	s->tx_pend_len = 0;
	s->st = VD_CLOSED;
	s->error = why == VSOCK_RESET_TIMEOUT ? ETIMEDOUT : ECONNRESET;
	s->tx_queued = 0;
	vd_touch(s);
}

const struct vsock_ops vd_ops = {
	.on_request = vd_on_request,
	.on_accept = vd_on_accept,
	.on_connect = vd_on_connect,
	.on_data = vd_on_data,
	.on_writable = vd_on_writable,
	.on_shutdown = vd_on_shutdown,
	.on_reset = vd_on_reset,
};
