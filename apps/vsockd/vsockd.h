/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsockd: the daemon of the socket layer. It owns the devices, runs one
 * vsock stack on its main lcore and serves applications over a Unix
 * control socket plus one shared segment each (vsl_proto.h).
 *
 * Everything here runs on the main lcore, lock-free; only telemetry.c
 * has code on another thread, and that code touches none of this (it asks
 * the loop for a snapshot).
 */
#ifndef VSOCKD_H
#define VSOCKD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <rte_log.h>

#include <vsock_stack.h>
#include <vsock_vhost.h>

#include "vsl_proto.h"

extern int vd_logtype;
#define VD_LOG(level, ...) \
	rte_log(RTE_LOG_ ## level, vd_logtype, "vsockd: " __VA_ARGS__)

/* Most --dev options. */
#define VD_MAX_DEVS VSOCK_STACK_MAX_PORTS
/* Most --h2g options (guests served); with --dev, the stack's ports. */
#define VD_MAX_H2G 4
/* Data room lib/vsock_vhost needs: a 64 KiB packet in at most 8 mbufs. */
#define VD_H2G_MIN_ROOM ((VSOCK_HDR_LEN + VSOCK_MAX_PKT_PAYLOAD + 7) / 8)
/* Requests one control socket may send in one epoll round. */
#define VD_RPC_BURST 32
/* Bad requests after which an application is disconnected. */
#define VD_MAX_BAD_REQUESTS 64
/* Doorbell entries taken from one application per loop iteration. */
#define VD_DB_BUDGET 64
/* Bytes one STREAM send takes from a tx ring. */
#define VD_TX_CHUNK (64u * 1024)
/* SEQPACKET messages a socket may hold waiting for ring space. */
#define VD_MAX_PEND_MSGS 4096u

/* Options. */
/*
 * Largest STREAM buffer (SO_VM_SOCKETS_BUFFER_SIZE): what one connection
 * may make the daemon hold in mbufs for an application that does not read.
 */
#define VD_STREAM_BUF_MAX (16u << 20)

/* One --h2g PATH,cid=N[,client=1]. */
struct vd_h2g_opt {
	char path[108];		/* sun_path's size */
	uint64_t cid;
	bool client;
};

struct vd_conf {
	const char *devs[VD_MAX_DEVS];
	unsigned int nb_devs;
	struct vd_h2g_opt h2g[VD_MAX_H2G];
	unsigned int nb_h2g;
	const char *socket_path;
	unsigned int socket_mode;
	bool group_set;
	gid_t socket_group;
	uint32_t nslots;
	uint32_t ring_size;
	uint32_t nb_mbufs;
	uint32_t mbuf_size;
	uint32_t max_conns;
	uint32_t max_apps;
	uint32_t rpc_interval_us;
	bool perf;		/* --perf-port given */
	uint32_t perf_port;
};

/* Counters kept per application and summed for the daemon. */
struct vd_counters {
	uint64_t rpcs;
	uint64_t bad_request;	/* garbage on the control socket */
	uint64_t bad_doorbell;	/* doorbell index or entry out of range */
	uint64_t bad_index;	/* tx_head or rx_tail out of range */
	uint64_t bad_record;	/* SEQPACKET record header out of range */
	uint64_t wakeups;	/* eventfd writes */
	uint64_t doorbells;	/* doorbell entries taken */
	uint64_t rx_bytes;	/* written into rx rings */
	uint64_t tx_bytes;	/* taken from tx rings */
	uint64_t nombuf;	/* tx waited for the pool */
	uint64_t rx_overflow;	/* conns reset: too many queued messages */
};

struct vd_app;

/* Private state of a socket (vsl_proto.h's enum vsl_state, plus one). */
enum vd_state {
	VD_FREE = VSL_ST_FREE,
	VD_OPEN = VSL_ST_OPEN,
	VD_LISTEN = VSL_ST_LISTEN,
	VD_CONNECTING = VSL_ST_CONNECTING,
	VD_CONNECTED = VSL_ST_CONNECTED,
	VD_CLOSED = VSL_ST_CLOSED,
	VD_CLOSING = VSL_ST_CLOSING,
	VD_QUEUED = 100,	/* accepted by the stack, waiting for ACCEPT */
};

/*
 * One socket: a slot of an application, or a connection in a listener's
 * accept queue (then idx is VD_NO_SLOT and there is no slot yet).
 */
#define VD_NO_SLOT UINT32_MAX
struct vd_sock {
	struct vd_app *app;
	uint32_t idx;		/* slot, or VD_NO_SLOT */
	uint32_t type;		/* VSL_TYPE_* */
	enum vd_state st;
	int error;		/* positive errno published in d.error */
	int efd;		/* the application's eventfd, -1 if none */
	struct vsock_conn *c;	/* NULL when there is no connection */
	struct vsl_slot *sh;	/* in the segment; NULL while queued */
	uint8_t *rxr, *txr;	/* the slot's rings */

	/* Address. */
	bool bound;		/* holds a port in the daemon's port table */
	uint64_t bound_cid;
	uint32_t port;
	uint64_t remote_cid;
	uint32_t remote_port;

	/* Listener. */
	struct vd_sock *listener;	/* while queued: whose queue */
	TAILQ_ENTRY(vd_sock) qlink;	/* in listener->acq */
	TAILQ_HEAD(, vd_sock) acq;
	uint32_t acq_len;
	uint32_t backlog;

	/* Buffer options (Linux's three values). */
	uint64_t buf_size, buf_min, buf_max;

	/* rx: private indices, never read back from the segment. */
	uint32_t rx_head;
	uint32_t rx_tail;	/* the app's, last validated */
	uint64_t rx_pay_written;	/* SEQPACKET payload in the ring */
	uint64_t rx_ring_consumed;	/* ring bytes the app took */
	uint64_t rx_credited;	/* bytes handed back with vsock_consumed */
	/* Pending: a flat list of segments (STREAM) or of messages. */
	struct rte_mbuf *pend_head, *pend_tail;
	uint32_t pend_off;	/* STREAM: bytes of pend_head already copied */
	uint32_t pend_bytes;
	uint32_t pend_msgs;
	/* SEQPACKET: message being gathered until EOM. */
	struct rte_mbuf *msg_head, *msg_tail;
	uint32_t msg_len;
	uint32_t peer_shut_seen;	/* from on_shutdown */
	uint32_t peer_shut;	/* published */

	/* tx. */
	uint32_t tx_tail;
	struct rte_mbuf *tx_pend;	/* refused with -ENOBUFS */
	uint32_t tx_pend_flags;
	uint32_t tx_pend_len;
	uint32_t shut_req;	/* SHUTDOWN bits waiting for the tx ring */
	uint32_t shut_done;	/* SHUTDOWN bits sent */
	bool close_req;		/* CLOSE waiting for the tx ring */

	/* Wake-ups. */
	uint32_t last_sleep;
	uint32_t tx_queued;	/* published */
	bool dirty;
	bool on_work;
	bool on_outq;
	TAILQ_ENTRY(vd_sock) dlink;	/* vd.dirty */
	TAILQ_ENTRY(vd_sock) wlink;	/* vd.work */
	TAILQ_ENTRY(vd_sock) olink;	/* vd.outq */
};

/* What an epoll event points to. */
enum vd_ev_kind { VD_EV_LISTEN, VD_EV_APP };

struct vd_app {
	enum vd_ev_kind ev_kind;	/* first: epoll data points here */
	TAILQ_ENTRY(vd_app) link;
	int fd;			/* control socket */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char comm[32];
	bool hello;
	bool dead;		/* torn down at the end of the epoll round */
	bool gone;		/* detached; closed sockets still finishing */
	/* The segment and its geometry, kept privately. */
	uint8_t *seg;
	uint64_t seg_size;
	struct vsl_shm_hdr *hdr;
	uint32_t *db;
	struct vsl_slot *slots;
	uint8_t *rings;
	uint32_t nslots;
	uint32_t ring_size;
	uint32_t db_tail;
	struct vd_sock **socks;	/* [nslots] */
	uint32_t nb_socks;
	uint32_t bad;		/* bad requests so far */
	struct vd_counters cnt;
};

/* The daemon. */
struct vd_daemon {
	struct vd_conf conf;
	struct vsock_stack *stack;
	struct rte_mempool *pool;
	uint32_t mbuf_room;	/* data bytes per mbuf */
	uint32_t buf_cap;	/* largest buffer size a socket may have */
	uint64_t cids[VD_MAX_DEVS + 1];	/* the devices', and 2 with --h2g */
	unsigned int nb_cids;
	uint64_t local_cid;
	int lfd;		/* listening control socket */
	int epfd;
	enum vd_ev_kind lev;	/* epoll data for lfd */
	TAILQ_HEAD(, vd_app) apps;
	uint32_t nb_apps;
	uint32_t nb_socks;
	TAILQ_HEAD(, vd_sock) dirty;
	TAILQ_HEAD(, vd_sock) work;
	TAILQ_HEAD(, vd_sock) outq;
	struct rte_hash *ports;	/* bound port -> vd_sock */
	uint32_t next_ephemeral;
	struct vd_counters cnt;	/* of apps gone */
	uint64_t apps_total;
	uint64_t apps_dropped;	/* disconnected for garbage */
	uint64_t sockets_total;
};

extern struct vd_daemon vd;

/* app.c */
struct ucred;
int vd_ctl_open(void);
struct vd_app *vd_app_attach(int fd, const struct ucred *cr);
void vd_ctl_close(void);
void vd_ctl_poll(void);
bool vd_app_request(struct vd_app *a, const void *raw, size_t n, bool cut,
		int *fds, int nfds);
void vd_app_free_all(void);

/* sock.c */
extern const struct vsock_ops vd_ops;
struct vd_sock *vd_sock_new(struct vd_app *a, uint32_t type);
void vd_sock_attach_slot(struct vd_sock *s, uint32_t idx, int efd);
void vd_sock_free(struct vd_sock *s);
void vd_sock_reset(struct vd_sock *s, int err);
bool vd_sock_finished_writing(const struct vd_sock *s);
void vd_sock_teardown(struct vd_sock *s);
int vd_port_reserve(struct vd_sock *s, uint32_t port);
void vd_port_release(struct vd_sock *s);
int vd_rpc_bind(struct vd_sock *s, uint64_t cid, uint32_t port,
		uint32_t *bound);
int vd_rpc_listen(struct vd_sock *s, uint32_t backlog);
int vd_rpc_connect(struct vd_sock *s, uint64_t cid, uint32_t port,
		uint32_t ms);
int vd_rpc_setopt(struct vd_sock *s, uint32_t opt, uint64_t val,
		uint64_t *out);
void vd_sock_publish_addr(struct vd_sock *s);
void vd_close_maybe_finish(struct vd_sock *s);
int vd_rpc_close(struct vd_sock *s, bool abort);
int vd_rpc_shutdown(struct vd_sock *s, uint32_t how);

/* data.c */
void vd_touch(struct vd_sock *s);
void vd_flush(void);
void vd_flush_one(struct vd_sock *s);
void vd_service(struct vd_sock *s);
void vd_doorbells(struct vd_app *a);
void vd_work(void);
void vd_apps_poll(void);
void vd_outq_refresh(void);
void vd_rx_data(struct vd_sock *s, struct rte_mbuf *m);
void vd_rx_drain(struct vd_sock *s);
void vd_tx_pump(struct vd_sock *s);
void vd_pend_free(struct vd_sock *s);
int vd_data_init(void);

/* h2g.c */
/* One back-end as telemetry shows it. */
struct vd_h2g_snap {
	char path[108];
	uint64_t cid;
	bool running;
	struct vsock_vhost_stats st;
};
int vd_h2g_parse(const char *val, struct vd_conf *c);
/* Checks across options, once they are all parsed. */
int vd_h2g_check(const struct vd_conf *c);
int vd_h2g_start(void);
/* Fill @out (VD_MAX_H2G entries); returns how many. */
unsigned int vd_h2g_snap(struct vd_h2g_snap *out);
void vd_h2g_stop(void);

/* telemetry.c */
void vd_tel_init(void);
void vd_tel_serve(void);
void vd_tel_fini(void);
extern volatile uint32_t vd_tel_req;

static inline struct vd_counters *
vd_cnt(struct vd_sock *s)
{
	return &s->app->cnt;
}

#endif /* VSOCKD_H */
