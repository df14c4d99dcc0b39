/* SPDX-License-Identifier: BSD-3-Clause */
/* The stack's internals, shared by its files; not installed. */
#ifndef VSOCK_PRIVATE_H
#define VSOCK_PRIVATE_H

#include <stdbool.h>
#include <sys/queue.h>

#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_timer.h>

#include "vsock_stack.h"
#include "vsock_credit.h"

extern int vsock_stack_logtype;
#define VS_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_ ## level, vsock_stack_logtype, \
		"vsock_stack: " fmt "\n", ## __VA_ARGS__)

#define VS_BURST 32
/* Packets staged for the port; leftovers wait for the next poll. */
#define VS_STAGE_MAX 256
/* Control packets waiting for room in the stage. */
#define VS_CTL_MAX 1024
/* Packets one connection may stage per poll (fairness). */
#define VS_CONN_BUDGET 16
/* Small mbufs for what the stack builds itself; never the app's pool. */
#define VS_CTL_POOL_SIZE 8191
#define VS_CTL_ROOM (RTE_PKTMBUF_HEADROOM + 64)
/* Longest payload chain vsock_send() accepts. */
#define VS_MAX_SEGS 60

/* Per-mbuf metadata in a dynamic field: tx queue link, message flags. */
struct vsock_mbuf_meta {
	struct rte_mbuf *next;	/* next queued payload of a connection */
	uint32_t flags;		/* VSOCK_SEQ_* of this message */
};

extern int vsock_meta_offset;

static inline struct vsock_mbuf_meta *
vsock_meta(struct rte_mbuf *m)
{
	return RTE_MBUF_DYNFIELD(m, vsock_meta_offset,
			struct vsock_mbuf_meta *);
}

/* Connection-table key: the remote address and our port. */
struct vsock_conn_key {
	uint64_t remote_cid;
	uint32_t remote_port;
	uint32_t local_port;
};

struct vsock_listener {
	uint32_t port;
	enum vsock_type type;
	const struct vsock_ops *ops;
	void *ctx;
};

enum vsock_conn_state {
	VS_CONNECTING = VSOCK_STATE_CONNECTING,
	VS_ESTABLISHED = VSOCK_STATE_ESTABLISHED,
	VS_CLOSING = VSOCK_STATE_CLOSING,
	VS_DEAD,		/* freed at the end of the poll */
};

struct vsock_conn {
	struct vsock_conn_key key;
	struct vsock_stack *s;
	const struct vsock_ops *ops;
	void *ctx;
	enum vsock_conn_state state;
	enum vsock_type type;
	bool app_closed;	/* no more callbacks */
	bool owns_port;		/* local port bound by connect */
	bool on_active;		/* in s->tx_active */
	bool on_writable;	/* in s->writable */
	bool want_writable;	/* a send was refused */
	bool credit_pending;	/* a CREDIT_UPDATE could not be queued */
	uint32_t local_shutdown;	/* VSOCK_SHUTDOWN_* we did */
	uint32_t shutdown_pending;	/* SHUTDOWN still to send */
	uint32_t peer_shutdown;
	struct vsock_credit cr;
	struct rte_mbuf *txq_head;
	struct rte_mbuf *txq_tail;
	uint32_t tx_queued;
	uint32_t tx_queued_pkts;
	uint64_t bytes_tx;
	uint64_t bytes_rx;
	struct rte_timer timer;
	TAILQ_ENTRY(vsock_conn) tx_link;
	TAILQ_ENTRY(vsock_conn) wr_link;
	TAILQ_ENTRY(vsock_conn) dead_link;
};

TAILQ_HEAD(vsock_conn_list, vsock_conn);

struct vsock_stack {
	struct vsock_port *port;
	uint64_t local_cid;
	uint32_t port_features;
	struct rte_mempool *pool;	/* the application's: copies */
	struct rte_mempool *ctl_pool;	/* control packets, headers, splits */
	struct rte_mempool *conn_pool;
	struct rte_hash *conns;		/* vsock_conn_key -> conn */
	struct rte_hash *listeners;	/* port -> listener */
	struct rte_hash *bound;		/* ports bound by connect -> conn */
	struct vsock_stack_conf conf;
	uint64_t connect_ticks;
	uint64_t close_ticks;
	uint32_t next_ephemeral;
	unsigned int lcore;
	struct vsock_conn_list tx_active;	/* conns with something to send */
	uint32_t nb_active;
	struct vsock_conn_list writable;	/* on_writable to call */
	struct vsock_conn_list dead;		/* to free after the poll */
	struct rte_mbuf *ctl[VS_CTL_MAX];	/* ring of control packets */
	uint32_t ctl_head;
	uint32_t ctl_count;
	struct rte_mbuf *stage[VS_STAGE_MAX];
	uint16_t nb_stage;
	struct vsock_stack_stats stats;
	char name[24];	/* fits hash and pool names with a prefix */
};

/* vsock_conn.c */
struct vsock_conn *vs_conn_alloc(struct vsock_stack *s,
		const struct vsock_conn_key *key, enum vsock_type type,
		const struct vsock_ops *ops, void *ctx);
void vs_conn_free(struct vsock_conn *c);
void vs_conn_reset(struct vsock_conn *c, enum vsock_reset_reason why,
		bool send_rst);
void vs_conn_timer_start(struct vsock_conn *c, uint64_t ticks);
void vs_reap_dead(struct vsock_stack *s);
struct vsock_listener *vs_listener_find(struct vsock_stack *s, uint32_t port);
struct vsock_conn *vs_conn_find(struct vsock_stack *s,
		const struct vsock_conn_key *key);

/* vsock_rx.c */
unsigned int vs_rx(struct vsock_stack *s);

/* vsock_tx.c */
int vs_ctl_send(struct vsock_conn *c, uint16_t op, uint32_t flags);
int vs_ctl_reply_rst(struct vsock_stack *s, const struct vsock_hdr *h);
void vs_tx_activate(struct vsock_conn *c);
void vs_txq_purge(struct vsock_conn *c);
unsigned int vs_tx_flush(struct vsock_stack *s);

#endif /* VSOCK_PRIVATE_H */
