/* SPDX-License-Identifier: BSD-3-Clause */
/* Stack instances: creation, the poll loop, counters. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>
#include <rte_random.h>
#include <rte_ring.h>

#include "vsock_private.h"

RTE_LOG_REGISTER(vsock_stack_logtype, vsock.stack, NOTICE);

int vsock_meta_offset = -1;

#define VS_DEFAULT_MAX_CONNS 4096
#define VS_DEFAULT_BUF_ALLOC (256u * 1024)
#define VS_DEFAULT_SNDBUF (1024u * 1024)
#define VS_DEFAULT_SNDBUF_PKTS 256
#define VS_DEFAULT_CONNECT_MS 2000
#define VS_DEFAULT_CLOSE_MS 8000
#define VS_DEFAULT_CREDIT_REQUEST_MS 200
#define VS_DEFAULT_BUF_MIN 128
#define VS_DEFAULT_BUF_MAX (256u * 1024)
#define VS_DEFAULT_PEER_BUF_MAX (16u * 1024 * 1024)
#define VS_DEFAULT_PKTS_IN_FLIGHT 64
#define VS_DEFAULT_PORT_TX_BYTES (1024u * 1024)

static int
vs_register_meta(void)
{
	static const struct rte_mbuf_dynfield desc = {
		.name = "vsock_stack_meta",
		.size = sizeof(struct vsock_mbuf_meta),
		.align = __alignof__(struct vsock_mbuf_meta),
	};
	int off;

	if (vsock_meta_offset >= 0)
		return 0;
	off = rte_mbuf_dynfield_register(&desc);
	if (off < 0)
		return -rte_errno;
	vsock_meta_offset = off;
	return 0;
}

static struct rte_hash *
vs_hash_create(struct vsock_stack *s, const char *what, uint32_t entries,
		uint32_t key_len)
{
	char name[RTE_HASH_NAMESIZE];
	struct rte_hash_parameters p = {
		.name = name,
		.entries = RTE_MAX(entries, 16u),
		.key_len = key_len,
		.hash_func = rte_jhash,
		.socket_id = s->conf.socket_id,
		/* Never fail an insert for a full bucket. */
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};

	snprintf(name, sizeof(name), "vs_%s_%s", what, s->name);
	return rte_hash_create(&p);
}

static int
vs_conf_defaults(struct vsock_stack_conf *c)
{
	if (c->max_conns == 0)
		c->max_conns = VS_DEFAULT_MAX_CONNS;
	if (c->buf_alloc == 0)
		c->buf_alloc = VS_DEFAULT_BUF_ALLOC;
	if (c->sndbuf == 0)
		c->sndbuf = VS_DEFAULT_SNDBUF;
	if (c->sndbuf_pkts == 0)
		c->sndbuf_pkts = VS_DEFAULT_SNDBUF_PKTS;
	if (c->connect_timeout_ms == 0)
		c->connect_timeout_ms = VS_DEFAULT_CONNECT_MS;
	if (c->close_timeout_ms == 0)
		c->close_timeout_ms = VS_DEFAULT_CLOSE_MS;
	if (c->credit_request_ms == 0)
		c->credit_request_ms = VS_DEFAULT_CREDIT_REQUEST_MS;
	if (c->buf_min == 0)
		c->buf_min = VS_DEFAULT_BUF_MIN;
	if (c->buf_max == 0)
		c->buf_max = RTE_MAX(VS_DEFAULT_BUF_MAX, c->buf_alloc);
	if (c->peer_buf_max == 0)
		c->peer_buf_max = VS_DEFAULT_PEER_BUF_MAX;
	if (c->max_pkts_in_flight == 0)
		c->max_pkts_in_flight = VS_DEFAULT_PKTS_IN_FLIGHT;
	if (c->port_tx_bytes == 0)
		c->port_tx_bytes = VS_DEFAULT_PORT_TX_BYTES;
	if (c->ephemeral_min == 0)
		c->ephemeral_min = VSOCK_LAST_RESERVED_PORT + 1;
	if (c->ephemeral_max == 0)
		c->ephemeral_max = VSOCK_PORT_ANY - 1;
	if (c->buf_min > c->buf_alloc || c->buf_alloc > c->buf_max ||
			c->max_pkts_in_flight > VS_PKT_TRACK ||
			c->ephemeral_min <= VSOCK_LAST_RESERVED_PORT ||
			c->ephemeral_min > c->ephemeral_max ||
			c->ephemeral_max == VSOCK_PORT_ANY)
		return -EINVAL;
	return 0;
}

struct vsock_stack *
vsock_stack_create(const char *name, const struct vsock_stack_conf *conf)
{
	char pname[RTE_MEMPOOL_NAMESIZE];
	struct vsock_stack *s;
	int ret;

	if (name == NULL || conf == NULL || conf->pool == NULL ||
			strlen(name) >= sizeof(s->name) ||
			rte_pktmbuf_data_room_size(conf->pool) <
			RTE_PKTMBUF_HEADROOM + VSOCK_HDR_LEN) {
		rte_errno = EINVAL;
		return NULL;
	}
	if (rte_lcore_id() == LCORE_ID_ANY) {
		/* Timers and mempool caches need an EAL lcore. */
		rte_errno = EINVAL;
		return NULL;
	}
	ret = vs_register_meta();
	if (ret != 0) {
		rte_errno = -ret;
		return NULL;
	}
	ret = rte_timer_subsystem_init();
	if (ret != 0 && ret != -EALREADY) {
		rte_errno = -ret;
		return NULL;
	}
	s = rte_zmalloc_socket("vsock_stack", sizeof(*s), RTE_CACHE_LINE_SIZE,
			conf->socket_id);
	if (s == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->conf = *conf;
	if (vs_conf_defaults(&s->conf) != 0) {
		rte_free(s);
		rte_errno = EINVAL;
		return NULL;
	}
	s->pool = conf->pool;
	s->lcore = rte_lcore_id();
	s->connect_ticks = rte_get_timer_hz() * s->conf.connect_timeout_ms /
		1000;
	s->close_ticks = rte_get_timer_hz() * s->conf.close_timeout_ms / 1000;
	/*
	 * The stack's timers are in milliseconds; walking the timer list on
	 * every poll cost 7 % of a 64-byte stream. Every 10 us is enough.
	 */
	s->timer_ticks = rte_get_timer_hz() / VS_TIMER_POLLS_PER_SEC;
	s->pool_check = 1;
	s->credit_ticks = rte_get_timer_hz() * s->conf.credit_request_ms /
		1000;
	/* A random start, as Linux does, so restarts do not reuse ports. */
	s->next_ephemeral = s->conf.ephemeral_min + (uint32_t)(rte_rand() %
			((uint64_t)s->conf.ephemeral_max -
			s->conf.ephemeral_min + 1));
	TAILQ_INIT(&s->tx_active);
	TAILQ_INIT(&s->writable);
	TAILQ_INIT(&s->dead);
	/* Single producer/consumer: only this stack's lcore touches it. */
	snprintf(pname, sizeof(pname), "vs_loc_%s", name);
	s->local = rte_ring_create(pname, VS_LOCAL_RING, s->conf.socket_id,
			RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(pname, sizeof(pname), "vs_ctl_%s", name);
	s->ctl_pool = rte_pktmbuf_pool_create(pname, VS_CTL_POOL_SIZE,
			VS_CTL_POOL_CACHE, 0, VS_CTL_ROOM, s->conf.socket_id);
	snprintf(pname, sizeof(pname), "vs_conn_%s", name);
	s->conn_pool = rte_mempool_create(pname, s->conf.max_conns,
			sizeof(struct vsock_conn), 0, 0, NULL, NULL, NULL,
			NULL, s->conf.socket_id,
			RTE_MEMPOOL_F_SP_PUT | RTE_MEMPOOL_F_SC_GET);
	s->conns = vs_hash_create(s, "c", s->conf.max_conns,
			sizeof(struct vsock_conn_key));
	s->listeners = vs_hash_create(s, "l", 1024, sizeof(uint32_t));
	s->bound = vs_hash_create(s, "b", s->conf.max_conns,
			sizeof(uint32_t));
	if (s->conn_pool == NULL || s->ctl_pool == NULL || s->local == NULL ||
			s->conns == NULL ||
			s->listeners == NULL || s->bound == NULL) {
		ret = rte_errno != 0 ? rte_errno : ENOMEM;
		vsock_stack_destroy(s);
		rte_errno = ret;
		return NULL;
	}
	ret = vs_tel_register(s);
	if (ret != 0) {
		vsock_stack_destroy(s);
		rte_errno = -ret;
		return NULL;
	}
	return s;
}

static void
vs_destroy_conn(struct vsock_conn *c, void *arg)
{
	RTE_SET_USED(arg);
	c->app_closed = true;
	vs_conn_free(c);
}

void
vsock_stack_destroy(struct vsock_stack *s)
{
	const void *key;
	void *data;
	uint32_t it = 0;
	struct rte_mbuf *m;
	int p;

	if (s == NULL)
		return;
	/* First: telemetry must not ask a stack that is going. */
	vs_tel_unregister(s);
	if (s->conns != NULL)
		vs_for_each_conn(s, vs_destroy_conn, NULL);
	if (s->listeners != NULL)
		while (rte_hash_iterate(s->listeners, &key, &data, &it) >= 0)
			rte_free(data);
	rte_free(s->any);
	vs_reap_dead(s);
	while (s->ctl_count > 0) {
		rte_pktmbuf_free(s->ctl[s->ctl_head].m);
		s->ctl_head = (s->ctl_head + 1) % VS_CTL_MAX;
		s->ctl_count--;
	}
	for (p = 0; p < s->nb_ports; p++)
		rte_pktmbuf_free_bulk(s->ports[p].stage,
				s->ports[p].nb_stage);
	while (s->local != NULL &&
			rte_ring_sc_dequeue(s->local, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	rte_ring_free(s->local);
	rte_hash_free(s->conns);
	rte_hash_free(s->listeners);
	rte_hash_free(s->bound);
	rte_mempool_free(s->conn_pool);
	rte_mempool_free(s->ctl_pool);
	rte_free(s);
}

int
vsock_stack_attach(struct vsock_stack *s, struct vsock_port *port)
{
	struct vs_port *vp;
	uint64_t cid, peer;
	int p;

	if (port == NULL || port->ops == NULL || port->ops->rx_burst == NULL ||
			port->ops->tx_burst == NULL ||
			port->ops->local_cid == NULL)
		return -EINVAL;
	if (s->nb_ports == VSOCK_STACK_MAX_PORTS)
		return -ENOSPC;
	cid = port->ops->local_cid(port->priv);
	peer = port->ops->peer_cid != NULL ?
		port->ops->peer_cid(port->priv) : 0;
	if (cid <= VSOCK_CID_LOCAL || cid >= VSOCK_CID_ANY ||
			(peer != 0 && (cid != VSOCK_CID_HOST ||
			peer <= VSOCK_CID_HOST || peer >= VSOCK_CID_ANY)))
		return -EINVAL;
	for (p = 0; p < s->nb_ports; p++)
		if (s->ports[p].port == port || (peer == 0 ?
				s->ports[p].peer_cid == 0 &&
				s->ports[p].cid == cid :
				s->ports[p].peer_cid == peer))
			return -EINVAL;
	vp = &s->ports[s->nb_ports];
	memset(vp, 0, sizeof(*vp));
	vp->port = port;
	vp->cid = cid;
	vp->peer_cid = peer;
	if (peer != 0) {
		s->nb_h2g++;
	} else if (!s->has_g2h) {
		s->has_g2h = true;
		s->g2h = s->nb_ports;
	}
	vp->features = port->ops->features != NULL ?
		port->ops->features(port->priv) : VSOCK_PORT_F_STREAM;
	VS_LOG(INFO, "%s: attached %s as port %u, cid %" PRIu64 "%s%.0" PRIu64,
		s->name, port->name != NULL ? port->name : "port",
		s->nb_ports, cid, peer != 0 ? ", guest " : "", peer);
	return s->nb_ports++;
}

int
vsock_stack_route(struct vsock_stack *s, uint64_t cid, int port_idx)
{
	uint8_t i;

	if (port_idx < 0 || port_idx >= s->nb_ports ||
			cid <= VSOCK_CID_LOCAL || cid >= VSOCK_CID_ANY)
		return -EINVAL;
	for (i = 0; i < s->nb_routes; i++)
		if (s->routes[i].cid == cid) {
			s->routes[i].port_idx = (uint8_t)port_idx;
			return 0;
		}
	if (s->nb_routes == VSOCK_STACK_MAX_ROUTES)
		return -ENOSPC;
	s->routes[s->nb_routes].cid = cid;
	s->routes[s->nb_routes].port_idx = (uint8_t)port_idx;
	s->nb_routes++;
	return 0;
}

struct vs_reset_arg {
	uint8_t port_idx;
};

static void
vs_reset_port_conn(struct vsock_conn *c, void *arg)
{
	const struct vs_reset_arg *a = arg;

	if (c->port_idx == a->port_idx)
		vs_conn_reset(c, VSOCK_RESET_TRANSPORT, VSOCK_RESET_NONE);
}

/* TRANSPORT_RESET: re-read the CID, reset the port's connections, keep listeners. */
/*
 * Packets staged or queued for port @p belong to the device session that
 * just ended, and to connections about to be reset: the new session must
 * not see them. Other ports' control packets keep their order.
 */
static void
vs_drop_port_queued(struct vsock_stack *s, uint8_t p)
{
	struct vs_port *vp = &s->ports[p];
	uint32_t i, kept = 0;

	rte_pktmbuf_free_bulk(vp->stage, vp->nb_stage);
	vp->nb_stage = 0;
	for (i = 0; i < s->ctl_count; i++) {
		struct vs_ctl *e = &s->ctl[(s->ctl_head + i) % VS_CTL_MAX];

		if (e->port_idx == p)
			rte_pktmbuf_free(e->m);
		else
			s->ctl[(s->ctl_head + kept++) % VS_CTL_MAX] = *e;
	}
	s->ctl_count = kept;
}

static void
vs_transport_reset(struct vsock_stack *s, uint8_t p)
{
	struct vs_port *vp = &s->ports[p];
	struct vs_reset_arg a = { .port_idx = p };

	/* A new device (or the same one reset) may say otherwise now. */
	vp->cid = vp->port->ops->local_cid(vp->port->priv);
	if (vp->port->ops->features != NULL)
		vp->features = vp->port->ops->features(vp->port->priv);
	s->stats.transport_resets++;
	vs_drop_port_queued(s, p);
	vs_for_each_conn(s, vs_reset_port_conn, &a);
	VS_LOG(NOTICE, "%s: transport reset on port %u, cid now %" PRIu64,
		s->name, p, vp->cid);
}

unsigned int
vsock_stack_poll(struct vsock_stack *s)
{
	unsigned int work;
	uint64_t now;
	uint32_t ev;
	uint8_t p;

	for (p = 0; p < s->nb_ports; p++) {
		const struct vsock_port *port = s->ports[p].port;

		if (port->ops->poll_event != NULL &&
				port->ops->poll_event(port->priv, &ev) == 1 &&
				ev == VSOCK_PORT_EVENT_TRANSPORT_RESET)
			vs_transport_reset(s, p);
	}
	work = vs_rx(s);
	now = rte_get_timer_cycles();
	if (now >= s->next_timer) {
		s->next_timer = now + s->timer_ticks;
		rte_timer_manage();
	}
	work += vs_tx_flush(s);
	vs_reap_dead(s);
	/* A snapshot for telemetry: one predictable branch. */
	if (unlikely(__atomic_load_n(&s->tel_req,
			__ATOMIC_RELAXED) != 0))
		vs_tel_serve(s);
	return work;
}
