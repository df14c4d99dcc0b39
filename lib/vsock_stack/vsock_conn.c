/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Connections and listeners: tables, ports, timers, and the API calls that
 * open and close them.
 */
#include <errno.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_hash.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "vsock_private.h"

struct vsock_conn *
vs_conn_find(struct vsock_stack *s, const struct vsock_conn_key *key)
{
	void *data;

	if (rte_hash_lookup_data(s->conns, key, &data) < 0)
		return NULL;
	return data;
}

struct vsock_listener *
vs_listener_find(struct vsock_stack *s, uint32_t port)
{
	void *data;

	if (rte_hash_lookup_data(s->listeners, &port, &data) < 0)
		return NULL;
	return data;
}

struct vsock_conn *
vs_conn_alloc(struct vsock_stack *s, const struct vsock_conn_key *key,
		enum vsock_type type, const struct vsock_ops *ops, void *ctx)
{
	struct vsock_conn *c;

	if (rte_mempool_get(s->conn_pool, (void **)&c) != 0)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->key = *key;
	c->s = s;
	c->type = type;
	c->ops = ops;
	c->ctx = ctx;
	c->cr.buf_alloc = s->conf.buf_alloc;
	rte_timer_init(&c->timer);
	if (rte_hash_add_key_data(s->conns, key, c) < 0) {
		rte_mempool_put(s->conn_pool, c);
		return NULL;
	}
	s->stats.conns_open++;
	return c;
}

/*
 * Unlink @c from everything and queue its memory for the end of the poll,
 * so that pointers held by the code that called us stay valid until then.
 */
void
vs_conn_free(struct vsock_conn *c)
{
	struct vsock_stack *s = c->s;

	if (c->state == VS_DEAD)
		return;
	c->state = VS_DEAD;
	rte_timer_stop(&c->timer);
	rte_hash_del_key(s->conns, &c->key);
	if (c->owns_port)
		rte_hash_del_key(s->bound, &c->key.local_port);
	if (c->on_active) {
		TAILQ_REMOVE(&s->tx_active, c, tx_link);
		s->nb_active--;
		c->on_active = false;
	}
	if (c->on_writable) {
		TAILQ_REMOVE(&s->writable, c, wr_link);
		c->on_writable = false;
	}
	vs_txq_purge(c);
	TAILQ_INSERT_TAIL(&s->dead, c, dead_link);
	s->stats.conns_open--;
}

void
vs_reap_dead(struct vsock_stack *s)
{
	struct vsock_conn *c;

	while ((c = TAILQ_FIRST(&s->dead)) != NULL) {
		TAILQ_REMOVE(&s->dead, c, dead_link);
		rte_mempool_put(s->conn_pool, c);
	}
}

/* Reset @c: tell the application (unless it closed), optionally RST. */
void
vs_conn_reset(struct vsock_conn *c, enum vsock_reset_reason why,
		bool send_rst)
{
	bool tell = !c->app_closed && c->state != VS_DEAD;
	enum vsock_conn_state was = c->state;

	if (c->state == VS_DEAD)
		return;
	if (send_rst)
		vs_ctl_send(c, VSOCK_OP_RST, 0);
	vs_conn_free(c);
	if (!tell || c->ops == NULL)
		return;
	if (was == VS_CONNECTING) {
		if (c->ops->on_connect != NULL)
			c->ops->on_connect(c, why == VSOCK_RESET_TIMEOUT ?
					-ETIMEDOUT : -ECONNRESET, c->ctx);
	} else if (c->ops->on_reset != NULL) {
		c->ops->on_reset(c, why, c->ctx);
	}
}

static void
vs_conn_timeout(struct rte_timer *t, void *arg)
{
	struct vsock_conn *c = arg;

	RTE_SET_USED(t);
	/* A connect that got no answer, or a close the peer ignored. */
	vs_conn_reset(c, VSOCK_RESET_TIMEOUT, true);
}

void
vs_conn_timer_start(struct vsock_conn *c, uint64_t ticks)
{
	rte_timer_reset(&c->timer, ticks, SINGLE, c->s->lcore,
			vs_conn_timeout, c);
}

static bool
vs_type_ok(const struct vsock_stack *s, enum vsock_type type, int *err)
{
	uint32_t need;

	if (type == VSOCK_TYPE_STREAM)
		need = VSOCK_PORT_F_STREAM;
	else if (type == VSOCK_TYPE_SEQPACKET)
		need = VSOCK_PORT_F_SEQPACKET;
	else {
		*err = -EINVAL;
		return false;
	}
	if (s->port != NULL && !(s->port_features & need)) {
		*err = -EPROTONOSUPPORT;
		return false;
	}
	return true;
}

int
vsock_listen(struct vsock_stack *s, uint32_t port, enum vsock_type type,
		const struct vsock_ops *ops, void *ctx)
{
	struct vsock_listener *l;
	int err;

	if (port == VSOCK_PORT_ANY || ops == NULL)
		return -EINVAL;
	if (!vs_type_ok(s, type, &err))
		return err;
	if (vs_listener_find(s, port) != NULL ||
			rte_hash_lookup(s->bound, &port) >= 0)
		return -EADDRINUSE;
	l = rte_zmalloc_socket("vsock_listener", sizeof(*l), 0,
			s->conf.socket_id);
	if (l == NULL)
		return -ENOMEM;
	l->port = port;
	l->type = type;
	l->ops = ops;
	l->ctx = ctx;
	if (rte_hash_add_key_data(s->listeners, &port, l) < 0) {
		rte_free(l);
		return -ENOMEM;
	}
	return 0;
}

int
vsock_unlisten(struct vsock_stack *s, uint32_t port)
{
	struct vsock_listener *l = vs_listener_find(s, port);

	if (l == NULL)
		return -ENOENT;
	rte_hash_del_key(s->listeners, &port);
	rte_free(l);
	return 0;
}

/* A free ephemeral port: above the reserved range, not bound, not listened. */
static int
vs_ephemeral_port(struct vsock_stack *s, uint32_t *port)
{
	unsigned int tries;

	for (tries = 0; tries < 4 * s->conf.max_conns + 16; tries++) {
		uint32_t p = s->next_ephemeral++;

		if (p <= VSOCK_LAST_RESERVED_PORT || p == VSOCK_PORT_ANY) {
			s->next_ephemeral = VSOCK_LAST_RESERVED_PORT + 1;
			continue;
		}
		if (rte_hash_lookup(s->bound, &p) >= 0 ||
				vs_listener_find(s, p) != NULL)
			continue;
		*port = p;
		return 0;
	}
	return -EADDRNOTAVAIL;
}

int
vsock_connect(struct vsock_stack *s, uint64_t cid, uint32_t port,
		enum vsock_type type, const struct vsock_ops *ops, void *ctx,
		struct vsock_conn **out)
{
	struct vsock_conn_key key = { .remote_cid = cid, .remote_port = port };
	struct vsock_conn *c;
	int err;

	if (s->port == NULL)
		return -ENOTCONN;
	if (port == VSOCK_PORT_ANY || cid == VMADDR_CID_ANY_U32 || ops == NULL ||
			out == NULL)
		return -EINVAL;
	if (!vs_type_ok(s, type, &err))
		return err;
	if (s->stats.conns_open >= s->conf.max_conns)
		return -ENOMEM;
	err = vs_ephemeral_port(s, &key.local_port);
	if (err != 0)
		return err;
	c = vs_conn_alloc(s, &key, type, ops, ctx);
	if (c == NULL)
		return -ENOMEM;
	if (rte_hash_add_key_data(s->bound, &key.local_port, c) < 0) {
		vs_conn_free(c);
		return -ENOMEM;
	}
	c->owns_port = true;
	c->state = VS_CONNECTING;
	if (vs_ctl_send(c, VSOCK_OP_REQUEST, 0) != 0) {
		vs_conn_free(c);
		return -ENOBUFS;
	}
	vs_conn_timer_start(c, s->connect_ticks);
	*out = c;
	return 0;
}

void
vsock_consumed(struct vsock_conn *c, uint32_t bytes)
{
	if (c->state == VS_DEAD)
		return;
	if (!vsock_credit_consume(&c->cr, bytes) ||
			c->state != VS_ESTABLISHED ||
			(c->peer_shutdown & VSOCK_SHUTDOWN_SEND))
		return;
	if (vs_ctl_send(c, VSOCK_OP_CREDIT_UPDATE, 0) == 0) {
		c->s->stats.credit_updates_tx++;
	} else {
		/* Retried from the tx flush: a lost update stalls the peer. */
		c->credit_pending = true;
		vs_tx_activate(c);
	}
}

int
vsock_shutdown(struct vsock_conn *c, unsigned int how)
{
	how &= VSOCK_SHUTDOWN_BOTH;
	if (how == 0)
		return -EINVAL;
	if (c->state != VS_ESTABLISHED)
		return -ENOTCONN;
	how &= ~c->local_shutdown;
	if (how == 0)
		return 0;
	c->local_shutdown |= how;
	/* Sent after the data already queued, from the tx flush. */
	c->shutdown_pending = c->local_shutdown;
	vs_tx_activate(c);
	return 0;
}

void
vsock_close(struct vsock_conn *c)
{
	if (c->app_closed || c->state == VS_DEAD)
		return;
	c->app_closed = true;
	if (c->state == VS_CONNECTING ||
			c->peer_shutdown == VSOCK_SHUTDOWN_BOTH) {
		/* Nothing to shut down gracefully: finish with RST. */
		vs_conn_reset(c, VSOCK_RESET_PEER, true);
		return;
	}
	/* SHUTDOWN follows the queued data; the peer's RST or the timer ends it. */
	c->state = VS_CLOSING;
	c->local_shutdown = VSOCK_SHUTDOWN_BOTH;
	c->shutdown_pending = VSOCK_SHUTDOWN_BOTH;
	vs_tx_activate(c);
	vs_conn_timer_start(c, c->s->close_ticks);
}

void *
vsock_conn_ctx(const struct vsock_conn *c)
{
	return c->ctx;
}

void
vsock_conn_set_ctx(struct vsock_conn *c, void *ctx)
{
	c->ctx = ctx;
}

void
vsock_conn_info(const struct vsock_conn *c, struct vsock_conn_info *info)
{
	memset(info, 0, sizeof(*info));
	info->local_cid = c->s->local_cid;
	info->local_port = c->key.local_port;
	info->remote_cid = c->key.remote_cid;
	info->remote_port = c->key.remote_port;
	info->type = c->type;
	info->state = c->state == VS_DEAD ? VSOCK_STATE_CLOSING :
		(enum vsock_state)c->state;
	info->peer_shutdown = c->peer_shutdown;
	info->bytes_tx = c->bytes_tx;
	info->bytes_rx = c->bytes_rx;
	info->tx_queued = c->tx_queued;
	info->tx_credit = vsock_credit_tx_space(&c->cr);
}
