/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Telemetry: /vsock/stacks, /vsock/stats, /vsock/ports, /vsock/conns and
 * /vsock/listeners, and the in-process introspection they are built on.
 *
 * A stack runs lockless on its lcore, and telemetry callbacks run on
 * DPDK's telemetry threads, so a callback never walks a stack's tables.
 * It posts a request (kind, range, a buffer it allocated) and raises
 * s->tel_req; vsock_stack_poll() sees the flag with one predictable
 * branch, fills the buffer on its own lcore and publishes it. A stack
 * that does not poll within VS_TEL_WAIT_MS is reported as not polling,
 * and the request is taken back, so the buffer is never written late.
 *
 * Stacks register in a list under a mutex (creation and destruction are
 * slow path); a callback holds the mutex while it waits, so a stack
 * cannot be destroyed under it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_hash.h>
#include <rte_telemetry.h>

#include <vsock_dpdk_compat.h>

#include "vsock_private.h"

/* How long a callback waits for the stack's poll loop. */
#define VS_TEL_WAIT_MS 500
/*
 * Entries per reply: telemetry's replies are at most 16 KiB in DPDK
 * 22.11 and what does not fit is left out silently, so the tables come
 * in pages (the reply's "next" says where the following one starts).
 * A connection takes at most ~600 bytes of JSON, a listener ~120.
 */
#define VS_TEL_CONNS_PAGE 24
#define VS_TEL_LISTENERS_PAGE 96

enum vs_tel_kind {
	VS_TEL_STATS,
	VS_TEL_PORTS,
	VS_TEL_CONNS,
	VS_TEL_LISTENERS,
};

/* One request, answered by the stack's lcore in vs_tel_serve(). */
struct vs_tel_req {
	enum vs_tel_kind kind;
	uint32_t offset;	/* first entry wanted */
	uint32_t cap;		/* entries the buffer holds */
	/* Filled by the lcore: */
	uint32_t total;		/* entries there are */
	uint32_t count;		/* entries written from offset on */
	struct vsock_stack_stats stats;
	unsigned int nb_ports;
	uint64_t local_cid;
	union {
		struct vsock_conn_snapshot *conns;
		struct vsock_listener_info *listeners;
		struct vsock_port_info *ports;
	};
};

struct vs_tel {
	TAILQ_ENTRY(vs_tel) link;
	struct vsock_stack *s;
	uint32_t seq;		/* last request number (under vs_tel_lock) */
	uint32_t done;		/* request number the lcore answered */
	struct vs_tel_req *req;	/* the request tel_req names */
};

static TAILQ_HEAD(, vs_tel) vs_tel_list = TAILQ_HEAD_INITIALIZER(vs_tel_list);
static pthread_mutex_t vs_tel_lock = PTHREAD_MUTEX_INITIALIZER;

/* In-process introspection (stack's lcore). */

static void
vs_conn_snapshot(const struct vsock_conn *c, struct vsock_conn_snapshot *cs)
{
	vsock_conn_info(c, &cs->info);
	cs->fwd_cnt = c->cr.fwd_cnt;
	cs->rx_cnt = c->cr.rx_cnt;
	cs->tx_cnt = c->cr.tx_cnt;
	cs->peer_fwd_cnt = c->cr.peer_fwd_cnt;
	cs->local_shutdown = c->local_shutdown;
	cs->port_idx = c->port_idx;
	cs->closed = c->app_closed;
}

int
vsock_stack_foreach_conn(struct vsock_stack *s, vsock_conn_iter_t fn,
		void *arg)
{
	struct vsock_conn_snapshot cs;
	const void *key;
	void *data;
	uint32_t it = 0;
	int n = 0, r;

	while (rte_hash_iterate(s->conns, &key, &data, &it) >= 0) {
		const struct vsock_conn *c = data;

		/* Freed at the end of this poll: gone for the application. */
		if (c->state == VS_DEAD)
			continue;
		vs_conn_snapshot(c, &cs);
		r = fn(&cs, arg);
		if (r != 0)
			return r;
		n++;
	}
	return n;
}

static void
vs_listener_info(const struct vsock_listener *l, bool all_ports,
		struct vsock_listener_info *li)
{
	memset(li, 0, sizeof(*li));
	li->port = all_ports ? VSOCK_PORT_ANY : l->port;
	li->type = l->type;
	li->backlog = l->backlog;
	li->nb_conns = l->nb_conns;
	li->all_ports = all_ports;
}

int
vsock_stack_foreach_listener(struct vsock_stack *s,
		vsock_listener_iter_t fn, void *arg)
{
	struct vsock_listener_info li;
	const void *key;
	void *data;
	uint32_t it = 0;
	int n = 0, r;

	while (rte_hash_iterate(s->listeners, &key, &data, &it) >= 0) {
		vs_listener_info(data, false, &li);
		r = fn(&li, arg);
		if (r != 0)
			return r;
		n++;
	}
	if (s->any != NULL) {
		vs_listener_info(s->any, true, &li);
		r = fn(&li, arg);
		if (r != 0)
			return r;
		n++;
	}
	return n;
}

int
vsock_stack_port_info(struct vsock_stack *s, unsigned int idx,
		struct vsock_port_info *pi)
{
	const struct vs_port *vp;
	const struct vsock_port_ops *ops;
	int n;

	if (idx >= s->nb_ports)
		return -ENOENT;
	vp = &s->ports[idx];
	ops = vp->port->ops;
	memset(pi, 0, sizeof(*pi));
	snprintf(pi->name, sizeof(pi->name), "%s",
		vp->port->name != NULL ? vp->port->name : "");
	pi->cid = vp->cid;
	pi->features = vp->features;
	if (ops->tx_inflight != NULL)
		pi->tx_inflight = ops->tx_inflight(vp->port->priv);
	if (ops->xstats != NULL) {
		n = ops->xstats(vp->port->priv, pi->xstats,
				RTE_DIM(pi->xstats));
		pi->nb_xstats = n < 0 ? 0 :
			RTE_MIN((unsigned int)n, RTE_DIM(pi->xstats));
	}
	return 0;
}

uint64_t
vsock_stack_local_cid(const struct vsock_stack *s)
{
	if (s->has_g2h)
		return s->ports[s->g2h].cid;
	return s->nb_ports > 0 ? VSOCK_CID_HOST : VSOCK_CID_LOCAL;
}

void
vsock_stack_stats_get(const struct vsock_stack *s,
		struct vsock_stack_stats *stats)
{
	*stats = s->stats;
	stats->ctl_mbufs_in_use = rte_mempool_in_use_count(s->ctl_pool);
}

unsigned int
vsock_stack_nb_ports(const struct vsock_stack *s)
{
	return s->nb_ports;
}

const char *
vsock_stack_name(const struct vsock_stack *s)
{
	return s->name;
}

/* The poll loop's side. */

struct vs_tel_fill {
	struct vs_tel_req *r;
	uint32_t seen;
};

static int
vs_tel_fill_conn(const struct vsock_conn_snapshot *cs, void *arg)
{
	struct vs_tel_fill *f = arg;

	if (f->seen++ >= f->r->offset && f->r->count < f->r->cap)
		f->r->conns[f->r->count++] = *cs;
	return 0;
}

static int
vs_tel_fill_listener(const struct vsock_listener_info *li, void *arg)
{
	struct vs_tel_fill *f = arg;

	if (f->seen++ >= f->r->offset && f->r->count < f->r->cap)
		f->r->listeners[f->r->count++] = *li;
	return 0;
}

void
vs_tel_serve(struct vsock_stack *s)
{
	uint32_t seq = __atomic_load_n(&s->tel_req, __ATOMIC_ACQUIRE);
	struct vs_tel *t = s->tel;
	struct vs_tel_req *r;
	struct vs_tel_fill f;
	unsigned int p;

	/* Take the request, unless the asker gave up on it meanwhile. */
	if (seq == 0 || !__atomic_compare_exchange_n(&s->tel_req, &seq, 0,
			false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	r = t->req;
	f.r = r;
	f.seen = 0;
	r->count = 0;
	vsock_stack_stats_get(s, &r->stats);
	r->nb_ports = s->nb_ports;
	r->local_cid = vsock_stack_local_cid(s);
	switch (r->kind) {
	case VS_TEL_STATS:
		break;
	case VS_TEL_PORTS:
		for (p = 0; p < s->nb_ports && p < r->cap; p++)
			vsock_stack_port_info(s, p, &r->ports[p]);
		r->count = p;
		r->total = s->nb_ports;
		break;
	case VS_TEL_CONNS:
		vsock_stack_foreach_conn(s, vs_tel_fill_conn, &f);
		r->total = f.seen;
		break;
	case VS_TEL_LISTENERS:
		vsock_stack_foreach_listener(s, vs_tel_fill_listener, &f);
		r->total = f.seen;
		break;
	}
	__atomic_store_n(&t->done, seq, __ATOMIC_RELEASE);
}

/* The telemetry thread's side. */

static void
vs_tel_sleep_us(long us)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = us * 1000 };

	nanosleep(&ts, NULL);
}

/*
 * Have @t's stack fill @r (vs_tel_lock held). Returns 0, or -ETIMEDOUT
 * when the stack did not poll in time; the request is then withdrawn.
 */
static int
vs_tel_ask(struct vs_tel *t, struct vs_tel_req *r)
{
	struct vsock_stack *s = t->s;
	uint64_t end = rte_get_timer_cycles() +
		rte_get_timer_hz() * VS_TEL_WAIT_MS / 1000;
	uint32_t seq;

	if (++t->seq == 0)
		t->seq = 1;
	seq = t->seq;
	t->req = r;
	__atomic_store_n(&s->tel_req, seq, __ATOMIC_RELEASE);
	while (__atomic_load_n(&t->done, __ATOMIC_ACQUIRE) != seq) {
		if (rte_get_timer_cycles() < end) {
			vs_tel_sleep_us(100);
			continue;
		}
		/* Withdraw it; if the lcore took it already, it finishes. */
		if (__atomic_compare_exchange_n(&s->tel_req, &seq, 0, false,
				__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return -ETIMEDOUT;
		seq = t->seq;
		while (__atomic_load_n(&t->done, __ATOMIC_ACQUIRE) != seq)
			vs_tel_sleep_us(10);
	}
	return 0;
}

int
vs_tel_register(struct vsock_stack *s)
{
	struct vs_tel *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -ENOMEM;
	t->s = s;
	s->tel = t;
	pthread_mutex_lock(&vs_tel_lock);
	TAILQ_INSERT_TAIL(&vs_tel_list, t, link);
	pthread_mutex_unlock(&vs_tel_lock);
	return 0;
}

void
vs_tel_unregister(struct vsock_stack *s)
{
	struct vs_tel *t = s->tel;

	if (t == NULL)
		return;
	pthread_mutex_lock(&vs_tel_lock);
	TAILQ_REMOVE(&vs_tel_list, t, link);
	pthread_mutex_unlock(&vs_tel_lock);
	s->tel = NULL;
	free(t);
}

/*
 * Parameters: "[<stack>][,<offset>]", where <stack> is a stack's name or
 * its index in /vsock/stacks (default: the first). Returns the stack
 * (vs_tel_lock held), or NULL.
 */
static struct vs_tel *
vs_tel_find(const char *params, uint32_t *offset)
{
	char name[64] = "";
	const char *comma;
	struct vs_tel *t;
	unsigned long idx = 0;
	bool by_idx = true;
	char *end;
	size_t len;

	*offset = 0;
	if (params != NULL && params[0] != '\0') {
		comma = strchr(params, ',');
		len = comma != NULL ? (size_t)(comma - params) :
			strlen(params);
		if (len >= sizeof(name))
			return NULL;
		memcpy(name, params, len);
		name[len] = '\0';
		if (comma != NULL) {
			*offset = (uint32_t)strtoul(comma + 1, &end, 10);
			if (*end != '\0' || comma[1] == '\0')
				return NULL;
		}
		if (name[0] != '\0') {
			idx = strtoul(name, &end, 10);
			by_idx = *end == '\0';
		}
	}
	TAILQ_FOREACH(t, &vs_tel_list, link) {
		if (by_idx ? idx-- == 0 : strcmp(t->s->name, name) == 0)
			return t;
	}
	return NULL;
}

static const char *
vs_tel_type(enum vsock_type type)
{
	return type == VSOCK_TYPE_STREAM ? "stream" :
		type == VSOCK_TYPE_SEQPACKET ? "seqpacket" : "?";
}

static const char *
vs_tel_state(enum vsock_state st)
{
	return st == VSOCK_STATE_CONNECTING ? "connecting" :
		st == VSOCK_STATE_ESTABLISHED ? "established" : "closing";
}

static void
vs_tel_add_stats(struct rte_tel_data *d, const struct vsock_stack_stats *st)
{
	/* Reasons the stack sends an RST for; the others have no key. */
	static const char *const rst[VSOCK_RESET_REASONS] = {
		[VSOCK_RESET_NO_CONN] = "no_conn",
		[VSOCK_RESET_NO_LISTENER] = "no_listener",
		[VSOCK_RESET_BACKLOG] = "backlog",
		[VSOCK_RESET_BAD_TYPE] = "bad_type",
		[VSOCK_RESET_PROTOCOL] = "protocol",
		[VSOCK_RESET_CREDIT] = "credit",
		[VSOCK_RESET_TIMEOUT] = "timeout",
		[VSOCK_RESET_CLOSE] = "close",
	};
	char key[48];
	unsigned int i;

	/* A counter added to vsock_stack_stats needs its line here. */
#define VS_TEL_STAT(f) rte_tel_data_add_dict_uint(d, #f, st->f)
	VS_TEL_STAT(rx_pkts);
	VS_TEL_STAT(rx_bytes);
	VS_TEL_STAT(tx_pkts);
	VS_TEL_STAT(tx_bytes);
	VS_TEL_STAT(rst_tx);
	VS_TEL_STAT(rst_rx);
	for (i = 1; i < VSOCK_RESET_REASONS; i++) {
		if (rst[i] == NULL)
			continue;
		snprintf(key, sizeof(key), "rst_tx_%s", rst[i]);
		rte_tel_data_add_dict_uint(d, key, st->rst_tx_by[i]);
	}
	VS_TEL_STAT(credit_updates_tx);
	VS_TEL_STAT(credit_stalls);
	VS_TEL_STAT(pkt_stalls);
	VS_TEL_STAT(pkt_grace);
	VS_TEL_STAT(credit_requests_tx);
	VS_TEL_STAT(coalesced);
	VS_TEL_STAT(peer_buf_clamped);
	VS_TEL_STAT(local_pkts);
	VS_TEL_STAT(transport_resets);
	VS_TEL_STAT(drop_bad_hdr);
	VS_TEL_STAT(drop_bad_type);
	VS_TEL_STAT(drop_bad_op);
	VS_TEL_STAT(drop_wrong_cid);
	VS_TEL_STAT(drop_closed);
	VS_TEL_STAT(drop_no_conn);
	VS_TEL_STAT(drop_credit);
	VS_TEL_STAT(drop_nomem);
	VS_TEL_STAT(conns_open);
	VS_TEL_STAT(ctl_mbufs_in_use);
	VS_TEL_STAT(conns_refused);
	VS_TEL_STAT(rx_paused);
	VS_TEL_STAT(drop_bad_flags);
	VS_TEL_STAT(drop_bad_credit);
	VS_TEL_STAT(drop_bad_src_cid);
	VS_TEL_STAT(peer_credit_shrunk);
	VS_TEL_STAT(conn_reset_bad_pkt);
#undef VS_TEL_STAT
}

/* Ask @t for @kind into @r; on failure put the error into @d. */
static int
vs_tel_query(struct vs_tel *t, struct vs_tel_req *r, struct rte_tel_data *d)
{
	int ret = vs_tel_ask(t, r);

	if (ret != 0) {
		rte_tel_data_start_dict(d);
		rte_tel_data_add_dict_string(d, "stack", t->s->name);
		rte_tel_data_add_dict_string(d, "error",
			"stack not polling (its lcore did not answer)");
	}
	return ret;
}

static void
vs_tel_add_page(struct rte_tel_data *d, const struct vs_tel *t,
		const struct vs_tel_req *r)
{
	rte_tel_data_add_dict_string(d, "stack", t->s->name);
	rte_tel_data_add_dict_uint(d, "local_cid", r->local_cid);
	rte_tel_data_add_dict_uint(d, "total", r->total);
	rte_tel_data_add_dict_uint(d, "offset", r->offset);
	rte_tel_data_add_dict_uint(d, "count", r->count);
	/* Where the next page starts; 0 after the last one. */
	rte_tel_data_add_dict_uint(d, "next", r->offset + r->count < r->total ?
		r->offset + r->count : 0);
}

static int
vs_tel_stacks(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct rte_tel_data *e;
	struct vs_tel *t;
	char key[16];
	int i = 0;

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	rte_tel_data_start_dict(d);
	pthread_mutex_lock(&vs_tel_lock);
	TAILQ_FOREACH(t, &vs_tel_list, link) {
		/* Set at creation or attach: safe to read from here. */
		e = rte_tel_data_alloc();
		if (e == NULL)
			break;
		rte_tel_data_start_dict(e);
		rte_tel_data_add_dict_string(e, "name", t->s->name);
		rte_tel_data_add_dict_int(e, "lcore", (int)t->s->lcore);
		rte_tel_data_add_dict_int(e, "ports", t->s->nb_ports);
		snprintf(key, sizeof(key), "%d", i++);
		rte_tel_data_add_dict_container(d, key, e, 0);
	}
	pthread_mutex_unlock(&vs_tel_lock);
	return 0;
}

static int
vs_tel_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct vs_tel_req r = { .kind = VS_TEL_STATS };
	struct rte_tel_data *e;
	struct vs_tel *t;
	uint32_t offset;
	char key[16];
	int i = 0;

	RTE_SET_USED(cmd);
	pthread_mutex_lock(&vs_tel_lock);
	if (params != NULL && params[0] != '\0') {
		/* One stack: its counters, flat. */
		t = vs_tel_find(params, &offset);
		if (t == NULL) {
			pthread_mutex_unlock(&vs_tel_lock);
			return -EINVAL;
		}
		if (vs_tel_query(t, &r, d) == 0) {
			rte_tel_data_start_dict(d);
			rte_tel_data_add_dict_string(d, "stack", t->s->name);
			rte_tel_data_add_dict_uint(d, "local_cid",
				r.local_cid);
			vs_tel_add_stats(d, &r.stats);
		}
		pthread_mutex_unlock(&vs_tel_lock);
		return 0;
	}
	/* Every stack, keyed by index (names may hold '-', keys may not). */
	rte_tel_data_start_dict(d);
	TAILQ_FOREACH(t, &vs_tel_list, link) {
		snprintf(key, sizeof(key), "%d", i++);
		e = rte_tel_data_alloc();
		if (e == NULL)
			break;
		if (vs_tel_query(t, &r, e) == 0) {
			rte_tel_data_start_dict(e);
			rte_tel_data_add_dict_string(e, "stack", t->s->name);
			rte_tel_data_add_dict_uint(e, "local_cid",
				r.local_cid);
			vs_tel_add_stats(e, &r.stats);
		}
		rte_tel_data_add_dict_container(d, key, e, 0);
	}
	pthread_mutex_unlock(&vs_tel_lock);
	return 0;
}

static void
vs_tel_features(char *buf, size_t len, uint32_t f)
{
	snprintf(buf, len, "%s%s%s", f & VSOCK_PORT_F_STREAM ? "stream" : "",
		(f & VSOCK_PORT_F_STREAM) && (f & VSOCK_PORT_F_SEQPACKET) ?
		"," : "", f & VSOCK_PORT_F_SEQPACKET ? "seqpacket" : "");
}

static int
vs_tel_ports(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct vsock_port_info pi[VSOCK_STACK_MAX_PORTS];
	struct vs_tel_req r = {
		.kind = VS_TEL_PORTS,
		.cap = VSOCK_STACK_MAX_PORTS,
		.ports = pi,
	};
	struct rte_tel_data *e;
	struct vs_tel *t;
	uint32_t offset, i, x;
	char buf[32];

	RTE_SET_USED(cmd);
	pthread_mutex_lock(&vs_tel_lock);
	t = vs_tel_find(params, &offset);
	if (t == NULL) {
		pthread_mutex_unlock(&vs_tel_lock);
		return -EINVAL;
	}
	if (vs_tel_query(t, &r, d) != 0) {
		pthread_mutex_unlock(&vs_tel_lock);
		return 0;
	}
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "stack", t->s->name);
	rte_tel_data_add_dict_uint(d, "local_cid", r.local_cid);
	rte_tel_data_add_dict_uint(d, "total", r.count);
	for (i = 0; i < r.count; i++) {
		e = rte_tel_data_alloc();
		if (e == NULL)
			break;
		rte_tel_data_start_dict(e);
		rte_tel_data_add_dict_string(e, "name", pi[i].name);
		rte_tel_data_add_dict_uint(e, "cid", pi[i].cid);
		vs_tel_features(buf, sizeof(buf), pi[i].features);
		rte_tel_data_add_dict_string(e, "features", buf);
		rte_tel_data_add_dict_uint(e, "tx_inflight",
			pi[i].tx_inflight);
		for (x = 0; x < pi[i].nb_xstats; x++) {
			/* Keys: letters, digits, '_' and '/' only. */
			pi[i].xstats[x].name[sizeof(pi[i].xstats[x].name) -
				1] = '\0';
			rte_tel_data_add_dict_uint(e, pi[i].xstats[x].name,
				pi[i].xstats[x].value);
		}
		snprintf(buf, sizeof(buf), "%u", i);
		rte_tel_data_add_dict_container(d, buf, e, 0);
	}
	pthread_mutex_unlock(&vs_tel_lock);
	return 0;
}

static void
vs_tel_add_conn(struct rte_tel_data *e, const struct vsock_conn_snapshot *c)
{
	const struct vsock_conn_info *in = &c->info;

	rte_tel_data_start_dict(e);
	rte_tel_data_add_dict_uint(e, "local_cid", in->local_cid);
	rte_tel_data_add_dict_uint(e, "local_port", in->local_port);
	rte_tel_data_add_dict_uint(e, "remote_cid", in->remote_cid);
	rte_tel_data_add_dict_uint(e, "remote_port", in->remote_port);
	rte_tel_data_add_dict_string(e, "type", vs_tel_type(in->type));
	rte_tel_data_add_dict_string(e, "state", vs_tel_state(in->state));
	rte_tel_data_add_dict_int(e, "shutdown", (int)c->local_shutdown);
	rte_tel_data_add_dict_int(e, "peer_shutdown", (int)in->peer_shutdown);
	rte_tel_data_add_dict_int(e, "closed", c->closed);
	rte_tel_data_add_dict_int(e, "port", c->port_idx);
	rte_tel_data_add_dict_uint(e, "bytes_tx", in->bytes_tx);
	rte_tel_data_add_dict_uint(e, "bytes_rx", in->bytes_rx);
	rte_tel_data_add_dict_uint(e, "tx_queued", in->tx_queued);
	rte_tel_data_add_dict_uint(e, "rx_queued", in->rx_queued);
	rte_tel_data_add_dict_uint(e, "tx_credit", in->tx_credit);
	rte_tel_data_add_dict_uint(e, "buf_alloc", in->buf_alloc);
	rte_tel_data_add_dict_uint(e, "peer_buf_alloc", in->peer_buf_alloc);
	rte_tel_data_add_dict_uint(e, "fwd_cnt", c->fwd_cnt);
	rte_tel_data_add_dict_uint(e, "peer_fwd_cnt", c->peer_fwd_cnt);
	rte_tel_data_add_dict_uint(e, "pkts_in_flight", in->pkts_in_flight);
}

static void
vs_tel_add_listener(struct rte_tel_data *e,
		const struct vsock_listener_info *li, uint64_t cid)
{
	rte_tel_data_start_dict(e);
	rte_tel_data_add_dict_uint(e, "local_cid", cid);
	rte_tel_data_add_dict_uint(e, "local_port", li->port);
	rte_tel_data_add_dict_string(e, "type", vs_tel_type(li->type));
	rte_tel_data_add_dict_uint(e, "backlog", li->backlog);
	rte_tel_data_add_dict_uint(e, "conns", li->nb_conns);
	rte_tel_data_add_dict_int(e, "all_ports", li->all_ports);
}

/* /vsock/conns and /vsock/listeners: one page of the table. */
static int
vs_tel_table(enum vs_tel_kind kind, const char *params,
		struct rte_tel_data *d)
{
	uint32_t page = kind == VS_TEL_CONNS ? VS_TEL_CONNS_PAGE :
		VS_TEL_LISTENERS_PAGE;
	struct vs_tel_req r = { .kind = kind, .cap = page };
	struct rte_tel_data *e;
	struct vs_tel *t;
	char key[16];
	uint32_t i;
	void *buf;

	buf = calloc(page, RTE_MAX(sizeof(struct vsock_conn_snapshot),
			sizeof(struct vsock_listener_info)));
	if (buf == NULL)
		return -ENOMEM;
	r.conns = buf;
	pthread_mutex_lock(&vs_tel_lock);
	t = vs_tel_find(params, &r.offset);
	if (t == NULL) {
		pthread_mutex_unlock(&vs_tel_lock);
		free(buf);
		return -EINVAL;
	}
	if (vs_tel_query(t, &r, d) != 0)
		goto out;
	rte_tel_data_start_dict(d);
	vs_tel_add_page(d, t, &r);
	for (i = 0; i < r.count; i++) {
		e = rte_tel_data_alloc();
		if (e == NULL)
			break;
		if (kind == VS_TEL_CONNS)
			vs_tel_add_conn(e, &r.conns[i]);
		else
			vs_tel_add_listener(e, &r.listeners[i], r.local_cid);
		snprintf(key, sizeof(key), "%u", r.offset + i);
		rte_tel_data_add_dict_container(d, key, e, 0);
	}
out:
	pthread_mutex_unlock(&vs_tel_lock);
	free(buf);
	return 0;
}

static int
vs_tel_conns(const char *cmd, const char *params, struct rte_tel_data *d)
{
	RTE_SET_USED(cmd);
	return vs_tel_table(VS_TEL_CONNS, params, d);
}

static int
vs_tel_listeners(const char *cmd, const char *params,
		struct rte_tel_data *d)
{
	RTE_SET_USED(cmd);
	return vs_tel_table(VS_TEL_LISTENERS, params, d);
}

/* Help texts stay under RTE_TEL_MAX_STRING_LEN, or registering fails. */
RTE_INIT(vs_tel_init)
{
	rte_telemetry_register_cmd("/vsock/stacks", vs_tel_stacks,
		"Returns the vsock stacks: index, name, lcore, ports. "
		"No parameters");
	rte_telemetry_register_cmd("/vsock/stats", vs_tel_stats,
		"Returns stack counters. Parameters: none (all stacks), "
		"or a stack name or index");
	rte_telemetry_register_cmd("/vsock/ports", vs_tel_ports,
		"Returns a stack's ports and driver counters. "
		"Parameters: [stack name or index]");
	rte_telemetry_register_cmd("/vsock/conns", vs_tel_conns,
		"Returns a page of a stack's connections. "
		"Parameters: [stack name or index][,offset]");
	rte_telemetry_register_cmd("/vsock/listeners", vs_tel_listeners,
		"Returns a page of a stack's listeners. "
		"Parameters: [stack name or index][,offset]");
}
