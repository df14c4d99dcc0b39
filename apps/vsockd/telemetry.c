/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Telemetry: /vsockd/apps, /vsockd/sockets, /vsockd/stats and /vsockd/h2g.
 *
 * Callbacks run on DPDK's telemetry thread while the main lcore owns
 * every structure without locks, so a callback never reads them: it
 * posts a request (a buffer it allocated) and raises vd_tel_req; the main
 * loop sees the flag with one predictable branch, fills the buffer and
 * publishes it (what lib/vsock_stack/vsock_telemetry.c does for the stack).
 * A loop that does not answer in VD_TEL_WAIT_MS gets its request taken
 * back, so a buffer is never written late.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_telemetry.h>

#include <vsock_dpdk_compat.h>

#include "vsockd.h"

#define VD_TEL_WAIT_MS 500
/* Entries per reply: replies are at most 16 KiB (DPDK 22.11). */
#define VD_TEL_APPS_PAGE 16
#define VD_TEL_SOCKS_PAGE 40

enum vd_tel_kind { VD_TEL_APPS, VD_TEL_SOCKS, VD_TEL_STATS, VD_TEL_H2G };

struct vd_tel_app {
	int pid;
	uint32_t uid, gid;
	char comm[32];
	uint32_t sockets;
	struct vd_counters cnt;
};

struct vd_tel_sock {
	int pid;
	char comm[32];
	int64_t slot;		/* -1: in a listener's accept queue */
	uint32_t type;
	uint32_t state;
	uint64_t local_cid, remote_cid;
	uint32_t local_port, remote_port;
	uint32_t accept_ready;
	uint32_t rx_pending;
	uint32_t tx_queued;
};

struct vd_tel_stats {
	uint64_t apps, sockets, apps_total, apps_dropped, sockets_total;
	uint64_t mbufs_in_use, mbufs_avail;
	struct vd_counters cnt;
};

struct vd_tel_r {
	enum vd_tel_kind kind;
	uint32_t offset, cap;
	uint32_t total, count;	/* filled by the loop */
	struct vd_tel_stats stats;
	struct vd_h2g_snap h2g[VD_MAX_H2G];
	union {
		struct vd_tel_app *apps;
		struct vd_tel_sock *socks;
	};
};

volatile uint32_t vd_tel_req;
static uint32_t vd_tel_done;
static uint32_t vd_tel_seq;
static struct vd_tel_r *vd_tel_cur;
static bool vd_tel_live;
static pthread_mutex_t vd_tel_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- the main loop's side ---- */

static void
vd_tel_sock_fill(struct vd_tel_r *r, uint32_t *seen, struct vd_sock *s)
{
	struct vd_tel_sock *e;
	struct vsock_conn_info ci;

	if ((*seen)++ < r->offset || r->count >= r->cap)
		return;
	e = &r->socks[r->count++];
	memset(e, 0, sizeof(*e));
	e->pid = (int)s->app->pid;
	memcpy(e->comm, s->app->comm, sizeof(e->comm));
	e->slot = s->idx == VD_NO_SLOT ? -1 : (int64_t)s->idx;
	e->type = s->type;
	e->state = (uint32_t)s->st;
	e->local_cid = s->bound ? s->bound_cid : 0;
	e->local_port = s->bound ? s->port : 0;
	e->remote_cid = s->remote_cid;
	e->remote_port = s->remote_port;
	if (s->c != NULL) {
		vsock_conn_info(s->c, &ci);
		e->local_cid = ci.local_cid;
		e->local_port = ci.local_port;
		e->remote_cid = ci.remote_cid;
		e->remote_port = ci.remote_port;
	}
	e->accept_ready = s->acq_len;
	e->rx_pending = s->pend_bytes + s->msg_len;
	e->tx_queued = s->tx_queued;
}

static void
vd_tel_fill(struct vd_tel_r *r)
{
	struct vd_tel_stats *st = &r->stats;
	struct vd_app *a;
	struct vd_sock *s, *q;
	uint32_t seen = 0, i;

	memset(st, 0, sizeof(*st));
	st->apps = vd.nb_apps;
	st->sockets = vd.nb_socks;
	st->apps_total = vd.apps_total;
	st->apps_dropped = vd.apps_dropped;
	st->sockets_total = vd.sockets_total;
	st->mbufs_in_use = rte_mempool_in_use_count(vd.pool);
	st->mbufs_avail = rte_mempool_avail_count(vd.pool);
	st->cnt = vd.cnt;
	r->count = 0;
	if (r->kind == VD_TEL_H2G) {
		r->count = vd_h2g_snap(r->h2g);
		return;
	}
	TAILQ_FOREACH(a, &vd.apps, link) {
		const uint64_t *src = (const uint64_t *)&a->cnt;
		uint64_t *dst = (uint64_t *)&st->cnt;

		for (i = 0; i < sizeof(a->cnt) / sizeof(uint64_t); i++)
			dst[i] += src[i];
		if (r->kind == VD_TEL_APPS) {
			struct vd_tel_app *e;

			if (seen++ < r->offset || r->count >= r->cap)
				continue;
			e = &r->apps[r->count++];
			e->pid = (int)a->pid;
			e->uid = (uint32_t)a->uid;
			e->gid = (uint32_t)a->gid;
			memcpy(e->comm, a->comm, sizeof(e->comm));
			e->sockets = a->nb_socks;
			e->cnt = a->cnt;
			continue;
		}
		if (r->kind != VD_TEL_SOCKS)
			continue;
		for (i = 0; a->socks != NULL && i < a->nslots; i++) {
			s = a->socks[i];
			if (s == NULL)
				continue;
			vd_tel_sock_fill(r, &seen, s);
			TAILQ_FOREACH(q, &s->acq, qlink)
				vd_tel_sock_fill(r, &seen, q);
		}
	}
	r->total = seen;
}

void
vd_tel_serve(void)
{
	uint32_t seq = __atomic_load_n(&vd_tel_req, __ATOMIC_ACQUIRE);

	/* Take the request, unless the asker gave up on it meanwhile. */
	if (seq == 0 || !__atomic_compare_exchange_n(&vd_tel_req, &seq, 0,
			false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	vd_tel_fill(vd_tel_cur);
	__atomic_store_n(&vd_tel_done, seq, __ATOMIC_RELEASE);
}

/* ---- the telemetry thread's side ---- */

static void
vd_tel_sleep_us(long us)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = us * 1000 };

	nanosleep(&ts, NULL);
}

/* Have the loop fill @r (vd_tel_lock held): 0 or -ETIMEDOUT. */
static int
vd_tel_ask(struct vd_tel_r *r)
{
	uint64_t end = rte_get_timer_cycles() +
		rte_get_timer_hz() * VD_TEL_WAIT_MS / 1000;
	uint32_t seq;

	if (!vd_tel_live)
		return -ENODEV;
	if (++vd_tel_seq == 0)
		vd_tel_seq = 1;
	seq = vd_tel_seq;
	vd_tel_cur = r;
	__atomic_store_n(&vd_tel_req, seq, __ATOMIC_RELEASE);
	while (__atomic_load_n(&vd_tel_done, __ATOMIC_ACQUIRE) != seq) {
		if (rte_get_timer_cycles() < end) {
			vd_tel_sleep_us(100);
			continue;
		}
		if (__atomic_compare_exchange_n(&vd_tel_req, &seq, 0, false,
				__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return -ETIMEDOUT;
		seq = vd_tel_seq;
		while (__atomic_load_n(&vd_tel_done, __ATOMIC_ACQUIRE) != seq)
			vd_tel_sleep_us(10);
	}
	return 0;
}

/* Ask the loop for @r and start reply @d: an error entry when it failed. */
static int
vd_tel_reply(struct vd_tel_r *r, struct rte_tel_data *d)
{
	int ret;

	pthread_mutex_lock(&vd_tel_lock);
	ret = vd_tel_ask(r);
	pthread_mutex_unlock(&vd_tel_lock);
	rte_tel_data_start_dict(d);
	if (ret != 0)
		rte_tel_data_add_dict_string(d, "error", "vsockd is not "
			"polling");
	return ret;
}

static const char *
vd_tel_state(uint32_t st)
{
	switch (st) {
	case VD_FREE: return "free";
	case VD_OPEN: return "open";
	case VD_LISTEN: return "listen";
	case VD_CONNECTING: return "connecting";
	case VD_CONNECTED: return "connected";
	case VD_CLOSED: return "closed";
	case VD_CLOSING: return "closing";
	case VD_QUEUED: return "queued";
	}
	return "?";
}

static void
vd_tel_add_counters(struct rte_tel_data *d, const struct vd_counters *c)
{
#define VD_TEL_CNT(f) rte_tel_data_add_dict_uint(d, #f, c->f)
	VD_TEL_CNT(rpcs);
	VD_TEL_CNT(bad_request);
	VD_TEL_CNT(bad_doorbell);
	VD_TEL_CNT(bad_index);
	VD_TEL_CNT(bad_record);
	VD_TEL_CNT(wakeups);
	VD_TEL_CNT(doorbells);
	VD_TEL_CNT(rx_bytes);
	VD_TEL_CNT(tx_bytes);
	VD_TEL_CNT(nombuf);
	VD_TEL_CNT(rx_overflow);
#undef VD_TEL_CNT
}

static uint32_t
vd_tel_offset(const char *params, int *bad)
{
	char *end;
	unsigned long v;

	*bad = 0;
	if (params == NULL || params[0] == '\0')
		return 0;
	v = strtoul(params, &end, 10);
	if (*end != '\0' || v > UINT32_MAX)
		*bad = 1;
	return (uint32_t)v;
}

static void
vd_tel_page(struct rte_tel_data *d, const struct vd_tel_r *r)
{
	rte_tel_data_add_dict_uint(d, "total", r->total);
	rte_tel_data_add_dict_uint(d, "offset", r->offset);
	rte_tel_data_add_dict_uint(d, "count", r->count);
	/* Where the next page starts; 0 after the last one. */
	rte_tel_data_add_dict_uint(d, "next", r->offset + r->count < r->total ?
		r->offset + r->count : 0);
}

static int
vd_tel_table(enum vd_tel_kind kind, const char *params,
		struct rte_tel_data *d)
{
	uint32_t page = kind == VD_TEL_APPS ? VD_TEL_APPS_PAGE :
		VD_TEL_SOCKS_PAGE;
	struct vd_tel_r r = { .kind = kind, .cap = page };
	struct rte_tel_data *e;
	char key[24];
	uint32_t i;
	int bad;

	r.offset = vd_tel_offset(params, &bad);
	if (bad)
		return -EINVAL;
	r.apps = calloc(page, RTE_MAX(sizeof(struct vd_tel_app),
			sizeof(struct vd_tel_sock)));
	if (r.apps == NULL)
		return -ENOMEM;
	if (vd_tel_reply(&r, d) != 0) {
		free(r.apps);
		return 0;
	}
	vd_tel_page(d, &r);
	for (i = 0; i < r.count; i++) {
		e = rte_tel_data_alloc();
		if (e == NULL)
			break;
		rte_tel_data_start_dict(e);
		if (kind == VD_TEL_APPS) {
			const struct vd_tel_app *x = &r.apps[i];

			rte_tel_data_add_dict_int(e, "pid", x->pid);
			rte_tel_data_add_dict_uint(e, "uid", x->uid);
			rte_tel_data_add_dict_uint(e, "gid", x->gid);
			rte_tel_data_add_dict_string(e, "comm", x->comm);
			rte_tel_data_add_dict_uint(e, "sockets", x->sockets);
			vd_tel_add_counters(e, &x->cnt);
		} else {
			const struct vd_tel_sock *x = &r.socks[i];

			rte_tel_data_add_dict_int(e, "pid", x->pid);
			rte_tel_data_add_dict_string(e, "comm", x->comm);
			rte_tel_data_add_dict_int(e, "slot", (int)x->slot);
			rte_tel_data_add_dict_string(e, "type",
				x->type == VSL_TYPE_STREAM ? "stream" :
				"seqpacket");
			rte_tel_data_add_dict_string(e, "state",
				vd_tel_state(x->state));
			rte_tel_data_add_dict_uint(e, "local_cid",
				x->local_cid);
			rte_tel_data_add_dict_uint(e, "local_port",
				x->local_port);
			rte_tel_data_add_dict_uint(e, "remote_cid",
				x->remote_cid);
			rte_tel_data_add_dict_uint(e, "remote_port",
				x->remote_port);
			rte_tel_data_add_dict_uint(e, "accept_ready",
				x->accept_ready);
			rte_tel_data_add_dict_uint(e, "rx_pending",
				x->rx_pending);
			rte_tel_data_add_dict_uint(e, "tx_queued",
				x->tx_queued);
		}
		snprintf(key, sizeof(key), "%u", r.offset + i);
		rte_tel_data_add_dict_container(d, key, e, 0);
	}
	free(r.apps);
	return 0;
}

static int
vd_tel_apps(const char *cmd, const char *params, struct rte_tel_data *d)
{
	RTE_SET_USED(cmd);
	return vd_tel_table(VD_TEL_APPS, params, d);
}

static int
vd_tel_sockets(const char *cmd, const char *params, struct rte_tel_data *d)
{
	RTE_SET_USED(cmd);
	return vd_tel_table(VD_TEL_SOCKS, params, d);
}

static int
vd_tel_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct vd_tel_r r = { .kind = VD_TEL_STATS };
	const struct vd_tel_stats *st = &r.stats;

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	if (vd_tel_reply(&r, d) != 0)
		return 0;
	rte_tel_data_add_dict_uint(d, "apps", st->apps);
	rte_tel_data_add_dict_uint(d, "sockets", st->sockets);
	rte_tel_data_add_dict_uint(d, "apps_total", st->apps_total);
	rte_tel_data_add_dict_uint(d, "apps_dropped", st->apps_dropped);
	rte_tel_data_add_dict_uint(d, "sockets_total", st->sockets_total);
	rte_tel_data_add_dict_uint(d, "mbufs_in_use", st->mbufs_in_use);
	rte_tel_data_add_dict_uint(d, "mbufs_avail", st->mbufs_avail);
	vd_tel_add_counters(d, &st->cnt);
	return 0;
}

static int
vd_tel_h2g(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct vd_tel_r r = { .kind = VD_TEL_H2G };
	struct rte_tel_data *e;
	char key[24];
	uint32_t i;

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	if (vd_tel_reply(&r, d) != 0)
		return 0;
	for (i = 0; i < r.count; i++) {
		const struct vd_h2g_snap *x = &r.h2g[i];

		e = rte_tel_data_alloc();
		if (e == NULL)
			break;
		rte_tel_data_start_dict(e);
		rte_tel_data_add_dict_string(e, "path", x->path);
		rte_tel_data_add_dict_int(e, "running", x->running);
		rte_tel_data_add_dict_uint(e, "cid", x->cid);
#define VD_TEL_H2G(f) rte_tel_data_add_dict_uint(e, #f, x->st.f)
		VD_TEL_H2G(rx_pkts);
		VD_TEL_H2G(rx_bytes);
		VD_TEL_H2G(tx_pkts);
		VD_TEL_H2G(tx_bytes);
		VD_TEL_H2G(tx_partial);
		VD_TEL_H2G(bad_chain);
		VD_TEL_H2G(bad_dir);
		VD_TEL_H2G(bad_size);
		VD_TEL_H2G(bad_len);
		VD_TEL_H2G(bad_src_cid);
		VD_TEL_H2G(bad_rx_buf);
		VD_TEL_H2G(bad_avail);
		VD_TEL_H2G(rx_nombuf);
		VD_TEL_H2G(tx_lost);
		VD_TEL_H2G(resets);
#undef VD_TEL_H2G
		snprintf(key, sizeof(key), "%u", i);
		rte_tel_data_add_dict_container(d, key, e, 0);
	}
	return 0;
}

void
vd_tel_init(void)
{
	pthread_mutex_lock(&vd_tel_lock);
	vd_tel_live = true;
	pthread_mutex_unlock(&vd_tel_lock);
}

/* The loop stops: later requests are answered "not polling". */
void
vd_tel_fini(void)
{
	pthread_mutex_lock(&vd_tel_lock);
	vd_tel_live = false;
	pthread_mutex_unlock(&vd_tel_lock);
}

/* Help texts stay under RTE_TEL_MAX_STRING_LEN, or registering fails. */
RTE_INIT(vd_tel_register)
{
	rte_telemetry_register_cmd("/vsockd/apps", vd_tel_apps,
		"Returns a page of vsockd's applications: pid, uid, comm, "
		"sockets, counters. Parameters: [offset]");
	rte_telemetry_register_cmd("/vsockd/sockets", vd_tel_sockets,
		"Returns a page of vsockd's sockets: owner, slot, type, state, "
		"addresses. Parameters: [offset]");
	rte_telemetry_register_cmd("/vsockd/stats", vd_tel_stats,
		"Returns vsockd's counters. No parameters");
	rte_telemetry_register_cmd("/vsockd/h2g", vd_tel_h2g,
		"Returns each --h2g back-end: path, cid, running, counters. "
		"No parameters");
}
