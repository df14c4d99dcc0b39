/* SPDX-License-Identifier: BSD-3-Clause */
/* The stack's internals, shared by its files; not installed. */
#ifndef VSOCK_PRIVATE_H
#define VSOCK_PRIVATE_H

#include <stdbool.h>
#include <sys/queue.h>

#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_ring.h>
#include <rte_timer.h>

#include "vsock_stack.h"
#include "vsock_credit.h"

extern int vsock_stack_logtype;
#define VS_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_ ## level, vsock_stack_logtype, \
		"vsock_stack: " fmt "\n", ## __VA_ARGS__)

#define VS_BURST 32
/* Packets staged per port; leftovers wait for the next poll. */
#define VS_STAGE_MAX 256
/* Control packets waiting for room in a stage. */
#define VS_CTL_MAX 1024
/* Packets one connection may stage per poll (fairness). */
#define VS_CONN_BUDGET 16
/* Small mbufs for what the stack builds itself; never the app's pool. */
#define VS_CTL_POOL_SIZE 8191
/*
 * Its per-lcore cache: the driver gives used tx mbufs back in batches of
 * up to half a ring, and a cache smaller than that sends each batch
 * through the pool's ring and back (-10 % connections per second).
 */
#define VS_CTL_POOL_CACHE 256
#define VS_CTL_ROOM (RTE_PKTMBUF_HEADROOM + 64)
/* Packets for CID 1, handed from tx to rx inside the stack. */
#define VS_LOCAL_RING 4096
/* Port index of the in-stack CID 1 path. */
#define VS_PORT_LOCAL 0xff
/* Most packets a connection tracks in flight (power of two). */
#define VS_PKT_TRACK 256
/* Sends up to this size may be merged into one packet (stream). */
#define VS_COALESCE_MAX 1024

/* Per-mbuf metadata in a dynamic field: queue link, message flags. */
struct vsock_mbuf_meta {
	struct rte_mbuf *next;	/* next queued payload of a connection */
	uint32_t flags;		/* VSOCK_SEQ_* of this message */
	uint32_t rx_len;	/* bytes on_data credited (data_release) */
};

extern int vsock_meta_offset;

static inline struct vsock_mbuf_meta *
vsock_meta(struct rte_mbuf *m)
{
	return RTE_MBUF_DYNFIELD(m, vsock_meta_offset,
			struct vsock_mbuf_meta *);
}

/* A singly linked queue of mbuf chains, linked through the metadata. */
struct vs_mq {
	struct rte_mbuf *head;
	struct rte_mbuf *tail;
	uint32_t bytes;
	uint32_t count;
};

static inline void
vs_mq_push(struct vs_mq *q, struct rte_mbuf *m)
{
	vsock_meta(m)->next = NULL;
	if (q->tail != NULL)
		vsock_meta(q->tail)->next = m;
	else
		q->head = m;
	q->tail = m;
	q->bytes += m->pkt_len;
	q->count++;
}

static inline struct rte_mbuf *
vs_mq_pop(struct vs_mq *q)
{
	struct rte_mbuf *m = q->head;

	if (m == NULL)
		return NULL;
	q->head = vsock_meta(m)->next;
	if (q->head == NULL)
		q->tail = NULL;
	q->bytes -= m->pkt_len;
	q->count--;
	return m;
}

static inline void
vs_mq_purge(struct vs_mq *q)
{
	struct rte_mbuf *m;

	while ((m = vs_mq_pop(q)) != NULL)
		rte_pktmbuf_free(m);
}

/* Connection-table key: both addresses but the local CID's port side. */
struct vsock_conn_key {
	uint64_t remote_cid;
	uint64_t local_cid;
	uint32_t remote_port;
	uint32_t local_port;
};

struct vsock_listener {
	uint32_t port;
	enum vsock_type type;
	uint32_t backlog;	/* connections it may have at once */
	uint32_t nb_conns;
	uint64_t gen;		/* tells this listener from a later one */
	const struct vsock_ops *ops;
	void *ctx;
};

/* Rows of the receive state machine; the first two have no connection. */
enum vs_state {
	VS_NONE,		/* no connection, no listener */
	VS_LISTEN,		/* no connection, a listener on dst_port */
	VS_CONNECTING,
	VS_ESTABLISHED,
	VS_CLOSING,
	VS_DEAD,		/* freed at the end of the poll */
	VS_NSTATES,
};

struct vsock_conn {
	struct vsock_conn_key key;
	struct vsock_stack *s;
	const struct vsock_ops *ops;
	void *ctx;
	enum vs_state state;
	enum vsock_type type;
	uint8_t port_idx;	/* port it leaves by, or VS_PORT_LOCAL */
	bool app_closed;	/* no more callbacks */
	bool owns_port;		/* local port bound by connect */
	bool on_active;		/* in s->tx_active */
	bool on_writable;	/* in s->writable */
	bool want_writable;	/* a send was refused */
	bool credit_pending;	/* a CREDIT_UPDATE could not be queued */
	bool credit_requested;	/* CREDIT_REQUEST sent for this stall */
	bool pkt_grace;		/* one packet past max_pkts_in_flight */
	uint32_t local_shutdown;	/* VSOCK_SHUTDOWN_* we did */
	uint32_t shutdown_pending;	/* SHUTDOWN still to send */
	uint32_t peer_shutdown;
	uint64_t listener_gen;	/* accepted by this listener generation */
	uint32_t listener_port;
	struct vsock_credit cr;
	struct vs_mq txq;
	/* vsock_send_backlog()'s, beyond sndbuf; meta flags as in send */
	struct vs_mq backlog;
	struct vs_mq rxq;	/* for vsock_recv(), when there is no on_data */
	uint32_t rx_msgs;	/* complete SEQPACKET messages in rxq */
	uint32_t rx_off;	/* bytes of rxq's head already read */
	uint16_t pkt_head;	/* tx packets in flight: end offsets */
	uint16_t pkt_count;
	uint32_t pkt_end[VS_PKT_TRACK];
	uint64_t bytes_tx;
	uint64_t bytes_rx;
	uint64_t pkts_tx;	/* RW packets */
	uint64_t pkts_rx;
	uint64_t credit_stalls;
	uint64_t pkt_stalls;
	uint64_t drops;		/* data dropped: shut down or closed */
	uint64_t connect_ticks;
	struct rte_timer timer;		/* connect or close timeout */
	struct rte_timer credit_timer;	/* CREDIT_REQUEST while stalled */
	TAILQ_ENTRY(vsock_conn) tx_link;
	TAILQ_ENTRY(vsock_conn) wr_link;
	TAILQ_ENTRY(vsock_conn) dead_link;
};

TAILQ_HEAD(vsock_conn_list, vsock_conn);

/* A staged control packet and the port it leaves by. */
struct vs_ctl {
	struct rte_mbuf *m;
	uint8_t port_idx;
};

struct vs_port {
	struct vsock_port *port;
	uint64_t cid;
	uint64_t peer_cid;	/* H2G: the guest behind it; 0: G2H */
	uint32_t features;
	struct rte_mbuf *stage[VS_STAGE_MAX];
	uint16_t nb_stage;
	uint32_t stage_bytes;	/* payload staged this poll */
	uint32_t tx_room;	/* payload bytes the port may take now */
};

struct vs_route {
	uint64_t cid;
	uint8_t port_idx;
};

/* Polls between counts of the control pool while it is not low. */
#define VS_POOL_CHECK 16

/* How often vsock_stack_poll() runs the stack's timers. */
#define VS_TIMER_POLLS_PER_SEC 100000u

struct vsock_stack {
	struct vs_port ports[VSOCK_STACK_MAX_PORTS];
	uint8_t nb_ports;
	uint8_t nb_h2g;			/* ports with a peer_cid */
	bool has_g2h;
	uint8_t g2h;			/* the first G2H port, if has_g2h */
	struct vs_route routes[VSOCK_STACK_MAX_ROUTES];
	uint8_t nb_routes;
	struct rte_ring *local;		/* the CID 1 path */
	struct rte_mempool *pool;	/* the application's: copies */
	struct rte_mempool *ctl_pool;	/* control packets, headers, splits */
	struct rte_mempool *conn_pool;
	struct rte_hash *conns;		/* vsock_conn_key -> conn */
	struct rte_hash *listeners;	/* port -> listener */
	struct rte_hash *bound;		/* ports bound by connect -> conn */
	struct vsock_listener *any;	/* the all_ports listener, if any */
	struct vsock_stack_conf conf;
	uint64_t connect_ticks;
	uint64_t close_ticks;
	uint64_t credit_ticks;
	uint64_t timer_ticks;		/* between rte_timer_manage() calls */
	uint32_t pool_check;		/* polls until ctl_pool is counted */
	bool ctl_low;			/* ctl_pool nearly empty: rx paused */
	uint64_t next_timer;		/* timer cycles of the next one */
	uint64_t listener_gen;
	uint32_t next_ephemeral;
	unsigned int lcore;
	struct vsock_conn_list tx_active;	/* conns with something to send */
	uint32_t nb_active;
	struct vsock_conn_list writable;	/* on_writable to call */
	struct vsock_conn_list dead;		/* to free after the poll */
	struct vs_ctl ctl[VS_CTL_MAX];		/* ring of control packets */
	uint32_t ctl_head;
	uint32_t ctl_count;
	struct vsock_stack_stats stats;
	char name[24];	/* fits hash and pool names with a prefix */
	/*
	 * Telemetry asks the poll loop for a snapshot here
	 * (vsock_telemetry.c); a line of its own, so that asking
	 * does not steal the counters' line.
	 */
	uint32_t tel_req __rte_cache_aligned;
	struct vs_tel *tel;	/* its request, registration */
};

/* vsock_conn.c */
struct vsock_conn *vs_conn_alloc(struct vsock_stack *s,
		const struct vsock_conn_key *key, enum vsock_type type,
		const struct vsock_ops *ops, void *ctx, uint8_t port_idx);
void vs_conn_free(struct vsock_conn *c);
void vs_conn_reset(struct vsock_conn *c, enum vsock_reset_reason why,
		enum vsock_reset_reason rst);
void vs_reap_dead(struct vsock_stack *s);
struct vsock_listener *vs_listener_for(struct vsock_stack *s, uint32_t port);
struct vsock_conn *vs_conn_find(struct vsock_stack *s,
		const struct vsock_conn_key *key);
void vs_for_each_conn(struct vsock_stack *s,
		void (*fn)(struct vsock_conn *c, void *arg), void *arg);
void vs_credit_stalled(struct vsock_conn *c);

/* vsock_rx.c */
unsigned int vs_rx(struct vsock_stack *s);

/* vsock_tx.c */
int vs_ctl_send(struct vsock_conn *c, uint16_t op, uint32_t flags);
int vs_ctl_reply_rst(struct vsock_stack *s, uint8_t port_idx,
		const struct vsock_hdr *h, enum vsock_reset_reason why);
void vs_tx_activate(struct vsock_conn *c);
unsigned int vs_tx_flush(struct vsock_stack *s);
void vs_pkt_track_ack(struct vsock_conn *c);
void vs_backlog_splice(struct vsock_conn *c);

/* vsock_recv.c */
void vs_rx_deliver(struct vsock_conn *c, struct rte_mbuf *m, uint32_t flags);

/* vsock_telemetry.c */
int vs_tel_register(struct vsock_stack *s);
void vs_tel_unregister(struct vsock_stack *s);
void vs_tel_serve(struct vsock_stack *s);

/*
 * Does a connection to @cid stay in the stack? CID 1 always; with H2G
 * ports, also our own CID: the G2H port's, or 2 when we are the host
 * (vsock_stack_attach() has the whole rule).
 */
static inline bool
vs_cid_local(const struct vsock_stack *s, uint64_t cid)
{
	if (cid == VSOCK_CID_LOCAL)
		return true;
	if (s->nb_h2g == 0)
		return false;
	return s->has_g2h ? cid == s->ports[s->g2h].cid :
		cid == VSOCK_CID_HOST;
}

#endif /* VSOCK_PRIVATE_H */
