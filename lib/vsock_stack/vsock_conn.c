/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Connections and listeners: tables, ports, routes, timers, and the API
 * calls that open, tune and close them.
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

static struct vsock_listener *
vs_listener_find(struct vsock_stack *s, uint32_t port)
{
	void *data;

	if (rte_hash_lookup_data(s->listeners, &port, &data) < 0)
		return NULL;
	return data;
}

/* The listener a REQUEST to @port meets: its own, or the all-ports one. */
struct vsock_listener *
vs_listener_for(struct vsock_stack *s, uint32_t port)
{
	struct vsock_listener *l = vs_listener_find(s, port);

	return l != NULL ? l : s->any;
}

/* Call @fn on every connection; @fn may free the one it is given. */
void
vs_for_each_conn(struct vsock_stack *s,
		void (*fn)(struct vsock_conn *c, void *arg), void *arg)
{
	uint32_t n = rte_hash_count(s->conns), i = 0, it = 0;
	struct vsock_conn **all;
	const void *key;
	void *data;

	if (n == 0)
		return;
	/* Snapshot first: freeing deletes from the table being walked. */
	all = rte_malloc("vsock_conns", sizeof(*all) * n, 0);
	if (all == NULL) {
		VS_LOG(ERR, "%s: no memory to walk %u connections", s->name,
			n);
		return;
	}
	while (i < n && rte_hash_iterate(s->conns, &key, &data, &it) >= 0)
		all[i++] = data;
	n = i;
	for (i = 0; i < n; i++)
		fn(all[i], arg);
	rte_free(all);
}

struct vsock_conn *
vs_conn_alloc(struct vsock_stack *s, const struct vsock_conn_key *key,
		enum vsock_type type, const struct vsock_ops *ops, void *ctx,
		uint8_t port_idx)
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
	c->port_idx = port_idx;
	c->cr.buf_alloc = s->conf.buf_alloc;
	c->connect_ticks = s->connect_ticks;
	rte_timer_init(&c->timer);
	rte_timer_init(&c->credit_timer);
	if (rte_hash_add_key_data(s->conns, key, c) < 0) {
		rte_mempool_put(s->conn_pool, c);
		return NULL;
	}
	s->stats.conns_open++;
	return c;
}

static void
vs_listener_release(struct vsock_conn *c)
{
	struct vsock_listener *l;

	if (c->listener_gen == 0)
		return;
	l = vs_listener_for(c->s, c->listener_port);
	if (l != NULL && l->gen == c->listener_gen)
		l->nb_conns--;
	c->listener_gen = 0;
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
	rte_timer_stop(&c->credit_timer);
	rte_hash_del_key(s->conns, &c->key);
	if (c->owns_port)
		rte_hash_del_key(s->bound, &c->key.local_port);
	vs_listener_release(c);
	if (c->on_active) {
		TAILQ_REMOVE(&s->tx_active, c, tx_link);
		s->nb_active--;
		c->on_active = false;
	}
	if (c->on_writable) {
		TAILQ_REMOVE(&s->writable, c, wr_link);
		c->on_writable = false;
	}
	vs_mq_purge(&c->txq);
	vs_mq_purge(&c->backlog);
	vs_mq_purge(&c->rxq);
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

/* Reset @c: RST the peer unless @rst is NONE, tell the app unless it closed. */
void
vs_conn_reset(struct vsock_conn *c, enum vsock_reset_reason why,
		enum vsock_reset_reason rst)
{
	enum vs_state was = c->state;
	bool tell = !c->app_closed && c->ops != NULL;

	if (was == VS_DEAD)
		return;
	if (rst != VSOCK_RESET_NONE && vs_ctl_send(c, VSOCK_OP_RST, 0) == 0)
		c->s->stats.rst_tx_by[rst]++;
	vs_conn_free(c);
	if (!tell)
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
	RTE_SET_USED(t);
	/* A connect that got no answer, or a close the peer ignored. */
	vs_conn_reset(arg, VSOCK_RESET_TIMEOUT, VSOCK_RESET_TIMEOUT);
}

static void
vs_conn_timer_start(struct vsock_conn *c, uint64_t ticks)
{
	rte_timer_reset(&c->timer, ticks, SINGLE, c->s->lcore,
			vs_conn_timeout, c);
}

/* The peer's window stayed shut: ask it where it stands, and again later. */
static void
vs_credit_timeout(struct rte_timer *t, void *arg)
{
	struct vsock_conn *c = arg;

	RTE_SET_USED(t);
	if (c->state != VS_ESTABLISHED && c->state != VS_CLOSING)
		return;
	if (vs_ctl_send(c, VSOCK_OP_CREDIT_REQUEST, 0) == 0)
		c->s->stats.credit_requests_tx++;
	/*
	 * Packets unread all period: the peer may wait for more before it
	 * reads (SO_RCVLOWAT), so the bound would hold the rest for good.
	 * One packet past it, the queue merged in, up to what is tracked.
	 */
	if (c->pkt_count >= c->s->conf.max_pkts_in_flight &&
			c->pkt_count < VS_PKT_TRACK && c->txq.head != NULL) {
		c->pkt_grace = true;
		vs_tx_activate(c);
	}
	vs_credit_stalled(c);
}

void
vs_credit_stalled(struct vsock_conn *c)
{
	if (!rte_timer_pending(&c->credit_timer))
		rte_timer_reset(&c->credit_timer, c->s->credit_ticks, SINGLE,
				c->s->lcore, vs_credit_timeout, c);
}

/*
 * Which port reaches @cid; VS_PORT_LOCAL for one that stays in the stack
 * (the rule is vsock_stack_attach()'s).
 */
static int
vs_route_lookup(const struct vsock_stack *s, uint64_t cid, uint8_t *port_idx)
{
	uint8_t i;

	if (vs_cid_local(s, cid)) {
		*port_idx = VS_PORT_LOCAL;
		return 0;
	}
	for (i = 0; i < s->nb_routes; i++)
		if (s->routes[i].cid == cid) {
			*port_idx = s->routes[i].port_idx;
			return 0;
		}
	for (i = 0; i < s->nb_ports; i++)
		if (s->ports[i].peer_cid == cid) {
			*port_idx = i;
			return 0;
		}
	/* What Linux's vhost-vsock answers for a guest it does not have. */
	if (s->nb_h2g > 0 && cid != VSOCK_CID_HOST)
		return -ENODEV;
	if (!s->has_g2h)
		return -ENETUNREACH;
	*port_idx = s->g2h;
	return 0;
}

static uint32_t
vs_type_feature(enum vsock_type type)
{
	return type == VSOCK_TYPE_SEQPACKET ? VSOCK_PORT_F_SEQPACKET :
		VSOCK_PORT_F_STREAM;
}

/* Can @type run over @port_idx? Every type can over CID 1. */
/* A receive buffer size within [buf_min, buf_max]. */
static inline uint32_t
vs_buf_clamp(const struct vsock_stack_conf *conf, uint32_t size)
{
	return RTE_MAX(conf->buf_min, RTE_MIN(conf->buf_max, size));
}

/* The receive mode and on_data agree (enum vsock_rx_mode). */
static bool
vs_ops_valid(const struct vsock_ops *ops)
{
	if (ops == NULL)
		return false;
	if (ops->rx_mode == VSOCK_RX_COPY)
		return ops->on_data == NULL;
	return ops->rx_mode == VSOCK_RX_ZEROCOPY && ops->on_data != NULL;
}

static int
vs_type_check(const struct vsock_stack *s, enum vsock_type type,
		uint8_t port_idx)
{
	if (type != VSOCK_TYPE_STREAM && type != VSOCK_TYPE_SEQPACKET)
		return -ESOCKTNOSUPPORT;
	if (port_idx != VS_PORT_LOCAL &&
			!(s->ports[port_idx].features & vs_type_feature(type)))
		return -EPROTONOSUPPORT;
	return 0;
}

static bool
vs_port_taken(struct vsock_stack *s, uint32_t p)
{
	return rte_hash_lookup(s->bound, &p) >= 0 ||
		vs_listener_find(s, p) != NULL;
}

/* A free ephemeral port in the configured range, not bound, not listened. */
static int
vs_ephemeral_port(struct vsock_stack *s, uint32_t *port)
{
	uint64_t span = (uint64_t)s->conf.ephemeral_max -
		s->conf.ephemeral_min + 1;
	uint64_t tries = RTE_MIN(span, 4ull * s->conf.max_conns + 64);

	while (tries-- > 0) {
		uint32_t p = s->next_ephemeral;

		s->next_ephemeral = p >= s->conf.ephemeral_max ?
			s->conf.ephemeral_min : p + 1;
		if (!vs_port_taken(s, p)) {
			*port = p;
			return 0;
		}
	}
	return -EADDRNOTAVAIL;
}

int
vsock_listen_ex(struct vsock_stack *s, const struct vsock_listen_conf *lc,
		const struct vsock_ops *ops, void *ctx, uint32_t *bound_port)
{
	struct vsock_listener *l;
	uint32_t port = lc->port;
	uint8_t p;
	int err;

	if (!vs_ops_valid(ops))
		return -EINVAL;
	err = vs_type_check(s, lc->type, VS_PORT_LOCAL);
	if (err != 0)
		return err;
	/* A type no device negotiated can still be used over CID 1 alone. */
	for (p = 0; p < s->nb_ports; p++)
		if (vs_type_check(s, lc->type, p) == 0)
			break;
	if (s->nb_ports > 0 && p == s->nb_ports)
		return -EPROTONOSUPPORT;
	if (lc->all_ports) {
		if (port != VSOCK_PORT_ANY)
			return -EINVAL;
		if (s->any != NULL)
			return -EADDRINUSE;
	} else if (port == VSOCK_PORT_ANY) {
		err = vs_ephemeral_port(s, &port);
		if (err != 0)
			return err;
	} else if (vs_port_taken(s, port)) {
		return -EADDRINUSE;
	}
	l = rte_zmalloc_socket("vsock_listener", sizeof(*l), 0,
			s->conf.socket_id);
	if (l == NULL)
		return -ENOMEM;
	l->port = port;
	l->type = lc->type;
	l->backlog = lc->backlog != 0 ? lc->backlog : UINT32_MAX;
	l->gen = ++s->listener_gen;
	l->ops = ops;
	l->ctx = ctx;
	if (lc->all_ports) {
		s->any = l;
	} else if (rte_hash_add_key_data(s->listeners, &port, l) < 0) {
		rte_free(l);
		return -ENOMEM;
	}
	if (bound_port != NULL)
		*bound_port = port;
	return 0;
}

int
vsock_listen(struct vsock_stack *s, uint32_t port, enum vsock_type type,
		const struct vsock_ops *ops, void *ctx)
{
	struct vsock_listen_conf lc = { .port = port, .type = type };

	if (port == VSOCK_PORT_ANY)
		return -EINVAL;
	return vsock_listen_ex(s, &lc, ops, ctx, NULL);
}

int
vsock_unlisten(struct vsock_stack *s, uint32_t port)
{
	struct vsock_listener *l = vs_listener_find(s, port);

	if (l == NULL && port == VSOCK_PORT_ANY && s->any != NULL) {
		rte_free(s->any);
		s->any = NULL;
		return 0;
	}
	if (l == NULL)
		return -ENOENT;
	rte_hash_del_key(s->listeners, &port);
	rte_free(l);
	return 0;
}

int
vsock_connect_ex(struct vsock_stack *s, const struct vsock_connect_conf *cc,
		const struct vsock_ops *ops, void *ctx, struct vsock_conn **out)
{
	struct vsock_conn_key key = {
		.remote_cid = cc->cid,
		.remote_port = cc->port,
	};
	struct vsock_conn *c;
	uint8_t port_idx;
	int err;

	if (cc->port == VSOCK_PORT_ANY || cc->cid == 0 ||
			cc->cid >= VSOCK_CID_ANY || !vs_ops_valid(ops) ||
			out == NULL)
		return -EINVAL;
	err = vs_route_lookup(s, cc->cid, &port_idx);
	if (err == 0)
		err = vs_type_check(s, cc->type, port_idx);
	if (err != 0)
		return err;
	if (s->stats.conns_open >= s->conf.max_conns)
		return -ENOMEM;
	if (s->ctl_count == VS_CTL_MAX)
		return -ENOBUFS;
	err = vs_ephemeral_port(s, &key.local_port);
	if (err != 0)
		return err;
	/* In the stack, we are whom the application dialled. */
	key.local_cid = port_idx == VS_PORT_LOCAL ? cc->cid :
		s->ports[port_idx].cid;
	c = vs_conn_alloc(s, &key, cc->type, ops, ctx, port_idx);
	if (c == NULL)
		return -ENOMEM;
	if (cc->connect_timeout_ms != 0)
		c->connect_ticks = rte_get_timer_hz() * cc->connect_timeout_ms /
			1000;
	/* The REQUEST already carries it: no CREDIT_UPDATE needed. */
	if (cc->buf_size != 0)
		c->cr.buf_alloc = vs_buf_clamp(&s->conf, cc->buf_size);
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
	vs_conn_timer_start(c, c->connect_ticks);
	*out = c;
	return 0;
}

int
vsock_connect(struct vsock_stack *s, uint64_t cid, uint32_t port,
		enum vsock_type type, const struct vsock_ops *ops, void *ctx,
		struct vsock_conn **out)
{
	const struct vsock_connect_conf cc = {
		.cid = cid,
		.port = port,
		.type = type,
	};

	return vsock_connect_ex(s, &cc, ops, ctx, out);
}

uint32_t
vsock_conn_set_buf_size(struct vsock_conn *c, uint32_t size)
{
	const struct vsock_stack_conf *conf = &c->s->conf;

	size = vs_buf_clamp(conf, size);
	if (size != c->cr.buf_alloc) {
		c->cr.buf_alloc = size;
		if (c->state == VS_ESTABLISHED &&
				vs_ctl_send(c, VSOCK_OP_CREDIT_UPDATE, 0) == 0)
			c->s->stats.credit_updates_tx++;
	}
	return size;
}

void
vsock_data_release(struct vsock_conn *c, struct rte_mbuf *m)
{
	if (m == NULL)
		return;
	vsock_consumed(c, vsock_meta(m)->rx_len);
	rte_pktmbuf_free(m);
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
	if (how & VSOCK_SHUTDOWN_SEND)
		vs_backlog_splice(c);
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
		vs_conn_reset(c, VSOCK_RESET_CLOSE, VSOCK_RESET_CLOSE);
		return;
	}
	/* SHUTDOWN follows the queued data; the peer's RST or the timer ends it. */
	vs_backlog_splice(c);
	c->state = VS_CLOSING;
	vs_mq_purge(&c->rxq);
	c->local_shutdown = VSOCK_SHUTDOWN_BOTH;
	c->shutdown_pending = VSOCK_SHUTDOWN_BOTH;
	vs_tx_activate(c);
	vs_conn_timer_start(c, c->s->close_ticks);
}

void
vsock_abort(struct vsock_conn *c)
{
	if (c->state == VS_DEAD)
		return;
	c->app_closed = true;
	vs_conn_reset(c, VSOCK_RESET_CLOSE, VSOCK_RESET_CLOSE);
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
	info->local_cid = c->key.local_cid;
	info->local_port = c->key.local_port;
	info->remote_cid = c->key.remote_cid;
	info->remote_port = c->key.remote_port;
	info->type = c->type;
	info->state = c->state == VS_CONNECTING ? VSOCK_STATE_CONNECTING :
		c->state == VS_ESTABLISHED ? VSOCK_STATE_ESTABLISHED :
		VSOCK_STATE_CLOSING;
	info->peer_shutdown = c->peer_shutdown;
	info->bytes_tx = c->bytes_tx;
	info->bytes_rx = c->bytes_rx;
	info->tx_queued = c->txq.bytes;
	info->tx_backlog = c->backlog.bytes;
	info->tx_credit = vsock_credit_tx_space(&c->cr);
	info->buf_alloc = c->cr.buf_alloc;
	info->peer_buf_alloc = c->cr.peer_buf_alloc;
	info->rx_queued = c->rxq.bytes - c->rx_off;
	info->pkts_in_flight = c->pkt_count;
	info->pkts_tx = c->pkts_tx;
	info->pkts_rx = c->pkts_rx;
	info->credit_stalls = c->credit_stalls;
	info->pkt_stalls = c->pkt_stalls;
	info->drops = c->drops;
}
