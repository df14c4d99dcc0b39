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

#include "vsock_private.h"

RTE_LOG_REGISTER(vsock_stack_logtype, vsock.stack, NOTICE);

int vsock_meta_offset = -1;

#define VS_DEFAULT_MAX_CONNS 4096
#define VS_DEFAULT_BUF_ALLOC (256u * 1024)
#define VS_DEFAULT_SNDBUF (1024u * 1024)
#define VS_DEFAULT_SNDBUF_PKTS 256
#define VS_DEFAULT_CONNECT_MS 2000
#define VS_DEFAULT_CLOSE_MS 8000

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

static void
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
	vs_conf_defaults(&s->conf);
	s->pool = conf->pool;
	s->lcore = rte_lcore_id();
	s->connect_ticks = rte_get_timer_hz() * s->conf.connect_timeout_ms /
		1000;
	s->close_ticks = rte_get_timer_hz() * s->conf.close_timeout_ms / 1000;
	s->next_ephemeral = VSOCK_LAST_RESERVED_PORT + 1 +
		(uint32_t)(rte_rand() % 0x7fffffffu);
	TAILQ_INIT(&s->tx_active);
	TAILQ_INIT(&s->writable);
	TAILQ_INIT(&s->dead);
	/* Single producer/consumer: only this stack's lcore touches it. */
	snprintf(pname, sizeof(pname), "vs_ctl_%s", name);
	s->ctl_pool = rte_pktmbuf_pool_create(pname, VS_CTL_POOL_SIZE, 64,
			0, VS_CTL_ROOM, s->conf.socket_id);
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
	if (s->conn_pool == NULL || s->ctl_pool == NULL || s->conns == NULL ||
			s->listeners == NULL || s->bound == NULL) {
		ret = rte_errno != 0 ? rte_errno : ENOMEM;
		vsock_stack_destroy(s);
		rte_errno = ret;
		return NULL;
	}
	return s;
}

void
vsock_stack_destroy(struct vsock_stack *s)
{
	const void *key;
	void *data;
	uint32_t it = 0;

	if (s == NULL)
		return;
	if (s->conns != NULL) {
		while (rte_hash_iterate(s->conns, &key, &data, &it) >= 0) {
			struct vsock_conn *c = data;

			c->app_closed = true;
			vs_conn_free(c);
		}
	}
	if (s->listeners != NULL) {
		it = 0;
		while (rte_hash_iterate(s->listeners, &key, &data, &it) >= 0)
			rte_free(data);
	}
	vs_reap_dead(s);
	while (s->ctl_count > 0) {
		rte_pktmbuf_free(s->ctl[s->ctl_head]);
		s->ctl_head = (s->ctl_head + 1) % VS_CTL_MAX;
		s->ctl_count--;
	}
	rte_pktmbuf_free_bulk(s->stage, s->nb_stage);
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
	if (s->port != NULL)
		return -EBUSY;
	if (port == NULL || port->ops == NULL || port->ops->rx_burst == NULL ||
			port->ops->tx_burst == NULL ||
			port->ops->local_cid == NULL)
		return -EINVAL;
	s->port = port;
	s->local_cid = port->ops->local_cid(port->priv);
	s->port_features = port->ops->features != NULL ?
		port->ops->features(port->priv) : VSOCK_PORT_F_STREAM;
	VS_LOG(INFO, "%s: attached %s, cid %" PRIu64, s->name,
		port->name != NULL ? port->name : "port", s->local_cid);
	return 0;
}

/* TRANSPORT_RESET: re-read the CID, reset every connection, keep listeners. */
static void
vs_transport_reset(struct vsock_stack *s)
{
	const void *key;
	void *data;
	uint32_t it = 0;

	s->local_cid = s->port->ops->local_cid(s->port->priv);
	while (rte_hash_iterate(s->conns, &key, &data, &it) >= 0)
		vs_conn_reset(data, VSOCK_RESET_TRANSPORT, false);
	VS_LOG(NOTICE, "%s: transport reset, cid now %" PRIu64, s->name,
		s->local_cid);
}

unsigned int
vsock_stack_poll(struct vsock_stack *s)
{
	unsigned int work;
	uint32_t ev;

	if (s->port == NULL)
		return 0;
	if (s->port->ops->poll_event != NULL &&
			s->port->ops->poll_event(s->port->priv, &ev) == 1 &&
			ev == VSOCK_PORT_EVENT_TRANSPORT_RESET)
		vs_transport_reset(s);
	work = vs_rx(s);
	rte_timer_manage();
	work += vs_tx_flush(s);
	vs_reap_dead(s);
	return work;
}

uint64_t
vsock_stack_local_cid(const struct vsock_stack *s)
{
	return s->local_cid;
}

void
vsock_stack_stats_get(const struct vsock_stack *s,
		struct vsock_stack_stats *stats)
{
	*stats = s->stats;
}
