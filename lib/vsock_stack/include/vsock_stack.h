/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * dpdk-vsock's protocol stack: vsock connections over a vsock_port,
 * run to completion on one lcore, zero copy both ways.
 *
 * One stack instance belongs to one lcore: every call on a stack and on its
 * connections is made from that lcore, and callbacks run inline from
 * vsock_stack_poll(). Errors are negative errno values.
 *
 * Ownership: an mbuf handed to the application in vsock_ops.on_data is the
 * application's; credit returns to the peer only through vsock_consumed(),
 * so a slow consumer throttles its own peer and nobody else. An mbuf given
 * to vsock_send() belongs to the stack from then on.
 */
#ifndef VSOCK_STACK_H
#define VSOCK_STACK_H

#include <stdbool.h>
#include <stdint.h>

#include <vsock_hdr.h>
#include <vsock_port.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rte_mbuf;
struct rte_mempool;
struct vsock_stack;
struct vsock_conn;

/** Ports one stack can drive at once (devices, bridges). */
#define VSOCK_STACK_MAX_PORTS 8
/** Static routes (remote CID -> port) one stack holds. */
#define VSOCK_STACK_MAX_ROUTES 16

/** vsock_recv() flag: the message was longer than the buffer. */
#define VSOCK_MSG_TRUNC 0x100u

/** Stack configuration; zero fields take the defaults shown. */
struct vsock_stack_conf {
	/**
	 * Pool for packets the stack builds itself (control packets, headers
	 * that do not fit an mbuf's headroom, copies made by vsock_send_buf).
	 * Its data room must hold at least VSOCK_HDR_LEN bytes. Mandatory.
	 */
	struct rte_mempool *pool;
	uint32_t max_conns;	/**< connections at once (default 4096) */
	/** Receive buffer per connection (256 KiB), like SO_VM_SOCKETS_BUFFER_SIZE. */
	uint32_t buf_alloc;
	uint32_t buf_min;	/**< smallest settable buffer (128) */
	uint32_t buf_max;	/**< largest settable buffer (max(256 KiB, buf_alloc)) */
	/** A peer's buf_alloc above this is taken as this (16 MiB). */
	uint32_t peer_buf_max;
	/** Bytes vsock_send() queues per connection (default 1 MiB). */
	uint32_t sndbuf;
	/**
	 * Sends (mbuf chains) queued per connection (default 256): byte
	 * limits alone let tiny messages pin thousands of mbufs.
	 */
	uint32_t sndbuf_pkts;
	uint32_t connect_timeout_ms;	/**< default 2000 */
	uint32_t close_timeout_ms;	/**< default 8000 */
	/** Send CREDIT_REQUEST after the peer's window stayed shut this long (200). */
	uint32_t credit_request_ms;
	/**
	 * Packets a connection may have in flight, unread by the peer
	 * (default 64, at most 256): byte credit alone lets tiny packets
	 * pile up in a peer's memory, which Linux punishes with a reset.
	 */
	uint32_t max_pkts_in_flight;
	/**
	 * Payload bytes the stack keeps queued in a port's tx ring (default
	 * 1 MiB): what a latency-sensitive packet may wait behind.
	 */
	uint32_t port_tx_bytes;
	uint32_t ephemeral_min;	/**< lowest ephemeral port (1024) */
	uint32_t ephemeral_max;	/**< highest ephemeral port (0xfffffffe) */
	int socket_id;		/**< NUMA socket for the stack's memory */
};

/** Longest mbuf chain vsock_send() takes (segments). */
#define VSOCK_MAX_SEGS 60

/**
 * Why a connection was reset: what vsock_ops.on_reset reports, and why
 * the stack sent an RST (vsock_stack_stats.rst_tx_by).
 */
enum vsock_reset_reason {
	VSOCK_RESET_NONE = 0,	/**< (no reset, no RST sent) */
	VSOCK_RESET_PEER,	/**< the peer sent RST */
	VSOCK_RESET_REFUSED,	/**< RST in answer to our REQUEST */
	VSOCK_RESET_TIMEOUT,	/**< connect or close timed out */
	VSOCK_RESET_PROTOCOL,	/**< the peer broke the protocol */
	VSOCK_RESET_CREDIT,	/**< the peer sent beyond its credit */
	VSOCK_RESET_TRANSPORT,	/**< the device reset (TRANSPORT_RESET) */
	/** We ended it: close after the peer shut down both ways, or abort. */
	VSOCK_RESET_CLOSE,
	VSOCK_RESET_NO_CONN,	/**< RST sent: packet for no connection */
	/** RST sent: REQUEST to a port nobody listens on. */
	VSOCK_RESET_NO_LISTENER,
	VSOCK_RESET_BACKLOG,	/**< RST sent: listener or stack full */
	/** RST sent: unknown or mismatched socket type. */
	VSOCK_RESET_BAD_TYPE,
	VSOCK_RESET_REASONS,	/**< number of reasons (size of rst_tx_by) */
};

/** How a connection hands received data to the application. */
enum vsock_rx_mode {
	/**
	 * Zero copy: every received mbuf goes to vsock_ops.on_data (which
	 * must be set) and is the application's; it gives the credit back
	 * with vsock_data_release() or vsock_consumed().
	 */
	VSOCK_RX_ZEROCOPY = 0,
	/**
	 * Copy: data waits in the connection for vsock_recv(), which hands
	 * the credit back itself; vsock_ops.on_readable says when (on_data
	 * must be NULL).
	 */
	VSOCK_RX_COPY,
};

/**
 * Callbacks, called inline from vsock_stack_poll(), and the receive mode.
 * Any callback may be NULL except on_data in VSOCK_RX_ZEROCOPY mode.
 */
struct vsock_ops {
	/** How received data reaches the application (zero copy by default). */
	enum vsock_rx_mode rx_mode;
	/**
	 * A REQUEST arrived for a listener: return 0 to accept it, or a
	 * negative errno to refuse it with RST before anything is answered
	 * (a bridge that finds nobody behind the port, say).
	 */
	int (*on_request)(uint32_t local_port, uint64_t remote_cid,
			uint32_t remote_port, void *ctx);
	/** A listener accepted @p c; set its context with vsock_conn_set_ctx(). */
	void (*on_accept)(struct vsock_conn *c, void *ctx);
	/**
	 * vsock_connect() finished: @p err is 0, -ECONNRESET (refused) or
	 * -ETIMEDOUT. On error @p c is gone when the callback returns.
	 */
	void (*on_connect)(struct vsock_conn *c, int err, void *ctx);
	/**
	 * VSOCK_RX_ZEROCOPY: payload arrived. @p m (header stripped,
	 * possibly a chain) is the application's; free it and hand its
	 * credit back in one call with vsock_data_release().
	 */
	void (*on_data)(struct vsock_conn *c, struct rte_mbuf *m, void *ctx);
	/**
	 * vsock_send() refused earlier with -ENOBUFS and may now succeed.
	 * Applications that send through vsock_send_backlog() need not set it.
	 */
	void (*on_writable)(struct vsock_conn *c, void *ctx);
	/**
	 * VSOCK_RX_COPY: data was queued for vsock_recv(), or the peer shut
	 * down its send side (vsock_recv() then returns 0).
	 */
	void (*on_readable)(struct vsock_conn *c, void *ctx);
	/** The peer shut down (VSOCK_SHUTDOWN_* bits of what it has shut). */
	void (*on_shutdown)(struct vsock_conn *c, unsigned int how, void *ctx);
	/** @p c was reset; it is gone when the callback returns. */
	void (*on_reset)(struct vsock_conn *c, enum vsock_reset_reason why,
			void *ctx);
};

/** Stack counters. */
struct vsock_stack_stats {
	uint64_t rx_pkts;	/**< packets received from the ports */
	uint64_t rx_bytes;	/**< payload bytes */
	uint64_t tx_pkts;	/**< packets sent to the ports */
	uint64_t tx_bytes;	/**< payload bytes */
	uint64_t rst_tx;	/**< RSTs sent */
	uint64_t rst_rx;	/**< RSTs received */
	/** RSTs sent, by enum vsock_reset_reason. */
	uint64_t rst_tx_by[VSOCK_RESET_REASONS];
	uint64_t credit_updates_tx;	/**< CREDIT_UPDATEs sent */
	uint64_t credit_stalls;	/**< sends held for lack of peer credit */
	uint64_t pkt_stalls;	/**< sends held: too many packets in flight */
	/**
	 * Packets sent past max_pkts_in_flight, one per credit_request_ms
	 * that such a stall lasts, with all the queue that fits merged into
	 * it: a peer that reads nothing until more arrives (SO_RCVLOWAT)
	 * still gets the rest.
	 */
	uint64_t pkt_grace;
	uint64_t credit_requests_tx;	/**< CREDIT_REQUESTs sent */
	uint64_t coalesced;	/**< small sends merged into another packet */
	uint64_t peer_buf_clamped;	/**< peer buf_alloc above peer_buf_max */
	uint64_t local_pkts;	/**< packets over the in-stack CID 1 path */
	uint64_t transport_resets;	/**< TRANSPORT_RESET events handled */
	uint64_t drop_bad_hdr;	/**< len field disagrees with the packet */
	uint64_t drop_bad_type;	/**< unknown socket type */
	uint64_t drop_bad_op;	/**< op not valid in the connection's state */
	uint64_t drop_wrong_cid;	/**< dst_cid is not ours */
	uint64_t drop_closed;	/**< data for a connection we closed */
	uint64_t drop_no_conn;	/**< no connection or listener (RST sent) */
	uint64_t drop_credit;	/**< peer overran our buffer (conn reset) */
	uint64_t drop_nomem;	/**< no mbuf for a control packet */
	uint64_t conns_open;	/**< connections currently allocated */
	uint64_t ctl_mbufs_in_use;	/**< of the stack's own pool (leak check) */
	uint64_t conns_refused;	/**< REQUESTs refused (no listener, full) */
	/**
	 * Polls that left packets in the device's ring because the control
	 * queue was nearly full: answers are held back, never dropped.
	 */
	uint64_t rx_paused;
	/** Flag bits the op does not define (RW, SHUTDOWN): conn reset. */
	uint64_t drop_bad_flags;
	/**
	 * fwd_cnt behind the peer's last one or beyond the bytes we sent:
	 * conn reset.
	 */
	uint64_t drop_bad_credit;
	/**
	 * src_cid no peer can have on a device port (CID 1, which only the
	 * stack itself uses, 0xffffffff, or the reserved upper bits): dropped.
	 */
	uint64_t drop_bad_src_cid;
	/** Peer cut buf_alloc below the bytes in flight to it (counted only). */
	uint64_t peer_credit_shrunk;
	/**
	 * Connections reset because a packet for them had to be dropped
	 * (a bad len, type, flags or credit): lost bytes are reported, never
	 * a silent hole in the stream.
	 */
	uint64_t conn_reset_bad_pkt;
};

/** State of a connection, as vsock_conn_info() reports it. */
enum vsock_state {
	VSOCK_STATE_CONNECTING = 1,	/**< REQUEST sent, awaiting RESPONSE */
	VSOCK_STATE_ESTABLISHED,	/**< connected (and maybe half shut) */
	VSOCK_STATE_CLOSING,	/**< we shut down both ways, awaiting RST */
};

/** Addresses and state of a connection. */
struct vsock_conn_info {
	uint64_t local_cid;	/**< our CID */
	uint32_t local_port;	/**< our port */
	uint64_t remote_cid;	/**< the peer's CID */
	uint32_t remote_port;	/**< the peer's port */
	enum vsock_type type;	/**< STREAM or SEQPACKET */
	enum vsock_state state;	/**< connection state */
	uint32_t peer_shutdown;	/**< VSOCK_SHUTDOWN_* the peer has done */
	uint64_t bytes_tx;	/**< payload bytes sent */
	uint64_t bytes_rx;	/**< payload bytes received */
	uint32_t tx_queued;	/**< bytes accepted by vsock_send, not sent */
	/** Bytes vsock_send_backlog() holds beyond the send buffer. */
	uint32_t tx_backlog;
	uint32_t tx_credit;	/**< bytes the peer lets us send now */
	uint32_t buf_alloc;	/**< our receive buffer */
	uint32_t peer_buf_alloc;	/**< the peer's receive buffer */
	uint32_t rx_queued;	/**< bytes waiting for vsock_recv() */
	uint32_t pkts_in_flight;	/**< RW packets the peer has not read */
	uint64_t pkts_tx;	/**< RW packets sent */
	uint64_t pkts_rx;	/**< RW packets received */
	uint64_t credit_stalls;	/**< flushes stopped by a shut window */
	uint64_t pkt_stalls;	/**< flushes stopped by pkts in flight */
	uint64_t drops;		/**< payload packets dropped (shut down) */
};

/** Listener options. */
struct vsock_listen_conf {
	/** Port, or VSOCK_PORT_ANY for an ephemeral one. */
	uint32_t port;
	enum vsock_type type;	/**< STREAM or SEQPACKET */
	/** Connections this listener may have at once; 0: no limit but max_conns. */
	uint32_t backlog;
	/**
	 * Take REQUESTs for every port no other listener has (port must be
	 * VSOCK_PORT_ANY; one such listener per stack): how a bridge serves
	 * whatever port a guest asks for.
	 */
	bool all_ports;
};

/** Connect options (vsock_connect_ex()); zero fields take the defaults. */
struct vsock_connect_conf {
	uint64_t cid;		/**< the peer's CID */
	uint32_t port;		/**< the peer's port */
	enum vsock_type type;	/**< STREAM or SEQPACKET */
	/** This connection's connect timeout; 0: the stack's (conf). */
	uint32_t connect_timeout_ms;
	/**
	 * Receive buffer advertised from the REQUEST on, clamped to
	 * [buf_min, buf_max]; 0: the stack's buf_alloc.
	 */
	uint32_t buf_size;
};

/**
 * Create a stack instance. Each instance has its own port space.
 *
 * @param name
 *   Unique name (for memory zones and logs).
 * @param conf
 *   Configuration; conf->pool is mandatory.
 * @return
 *   The stack, or NULL with rte_errno set: EINVAL for a missing pool or
 *   one whose data room cannot hold a header, a name too long, a conf
 *   value out of range, or a thread that is not an EAL lcore; ENOMEM;
 *   or the error of the DPDK call that failed (EEXIST: a stack of that
 *   name exists).
 */
struct vsock_stack *vsock_stack_create(const char *name,
		const struct vsock_stack_conf *conf);

/**
 * Reset every connection (without callbacks) and free the stack. Close
 * the attached port's device first: packets still in its rings may come
 * from the stack's own pools.
 */
void vsock_stack_destroy(struct vsock_stack *s);

/**
 * Attach a port (a device); its CID becomes one of ours.
 *
 * A port is guest-to-host (G2H: a driver, whose peer is the host) or
 * host-to-guest (H2G: a device back-end such as lib/vsock_vhost, whose
 * ops name its one peer with peer_cid and whose own CID is 2). One stack
 * may hold both, as Linux does since 5.5 for nested VMs; connections are
 * routed by the remote CID:
 * - CID 1 stays in the stack (VMADDR_CID_LOCAL);
 * - a static route (vsock_stack_route()) wins over what follows;
 * - an H2G port's guest CID goes to that port;
 * - with H2G ports, the first G2H port's own CID stays in the stack, and
 *   so does CID 2 when there is no G2H port (we are the host);
 * - CID 2, and with no H2G port every other CID, goes to the first G2H
 *   port (a guest-only stack sends even its own CID to its device, as the
 *   loopback device expects);
 * - any other CID, with H2G ports, is a guest nobody serves: -ENODEV.
 *
 * @return The port's index; -ENOSPC past VSOCK_STACK_MAX_PORTS; -EINVAL
 *   on a bad port, a G2H port with another G2H port's CID, an H2G port
 *   whose CID is not 2 or whose peer another port has.
 */
int vsock_stack_attach(struct vsock_stack *s, struct vsock_port *port);

/**
 * Send connections to @p cid through port @p port_idx (a host bridging
 * its guests, say). CID 1 never leaves the stack.
 *
 * @return 0; -EINVAL for a bad port or CID; -ENOSPC when the table is full.
 */
int vsock_stack_route(struct vsock_stack *s, uint64_t cid, int port_idx);

/**
 * Do one round of work: receive a burst from the port, run timers, send
 * what is queued. Callbacks run from here.
 *
 * @return How many packets were received and sent (0 when idle).
 */
unsigned int vsock_stack_poll(struct vsock_stack *s);

/**
 * The local CID: the first G2H port's; 2 with H2G ports only; 1
 * (VSOCK_CID_LOCAL) with none.
 */
uint64_t vsock_stack_local_cid(const struct vsock_stack *s);

/** Copy the stack counters. */
void vsock_stack_stats_get(const struct vsock_stack *s,
		struct vsock_stack_stats *stats);

/**
 * Accept connections on @p port (any CID).
 *
 * @return 0; -EADDRINUSE if the port is taken; -EINVAL for
 *   VSOCK_PORT_ANY, NULL @p ops, or ops whose rx_mode does not match
 *   their on_data (see enum vsock_rx_mode); -ESOCKTNOSUPPORT for a type that is neither STREAM
 *   nor SEQPACKET (SOCK_DGRAM is not part of virtio-vsock);
 *   -EPROTONOSUPPORT for a type no port negotiated; -ENOMEM.
 */
int vsock_listen(struct vsock_stack *s, uint32_t port, enum vsock_type type,
		const struct vsock_ops *ops, void *ctx);

/**
 * vsock_listen() with options: an ephemeral port, a backlog.
 *
 * @param s
 *   The stack.
 * @param lc
 *   Port, type, backlog and all_ports.
 * @param ops
 *   Callbacks of the listener and of the connections it accepts.
 * @param ctx
 *   Context passed to @p ops (until vsock_conn_set_ctx()).
 * @param bound_port
 *   If not NULL, receives the port listened on.
 * @return As vsock_listen(); -EADDRNOTAVAIL when no ephemeral port is
 *   free; -EINVAL for all_ports with a port, or a second all_ports.
 */
int vsock_listen_ex(struct vsock_stack *s, const struct vsock_listen_conf *lc,
		const struct vsock_ops *ops, void *ctx, uint32_t *bound_port);

/**
 * Stop accepting on @p port (VSOCK_PORT_ANY: the all_ports listener).
 * Established connections stay.
 *
 * @return 0; -ENOENT when nobody listens there.
 */
int vsock_unlisten(struct vsock_stack *s, uint32_t port);

/**
 * Start connecting to <@p cid, @p port> from an ephemeral local port, with
 * the stack's defaults; vsock_connect_ex() takes options. The outcome
 * arrives through ops->on_connect.
 *
 * @return 0 with *@p out set; -EINVAL for a bad CID or port, NULL @p ops
 *   or @p out, or ops whose rx_mode does not match their on_data;
 *   -ESOCKTNOSUPPORT; -EPROTONOSUPPORT; -ENETUNREACH when no port
 *   reaches @p cid; -ENODEV for a guest CID no H2G port serves (see
 *   vsock_stack_attach()); -EADDRNOTAVAIL when no local port is free;
 *   -ENOMEM when max_conns connections exist; -ENOBUFS when the control
 *   queue is full (retry).
 */
int vsock_connect(struct vsock_stack *s, uint64_t cid, uint32_t port,
		enum vsock_type type, const struct vsock_ops *ops, void *ctx,
		struct vsock_conn **out);

/**
 * vsock_connect() with options: a connect timeout and a receive buffer
 * of the connection's own.
 *
 * @param s
 *   The stack.
 * @param cc
 *   Peer address, type and options.
 * @param ops
 *   Callbacks and receive mode of the connection.
 * @param ctx
 *   Context passed to @p ops.
 * @param out
 *   Receives the connection.
 * @return As vsock_connect().
 */
int vsock_connect_ex(struct vsock_stack *s,
		const struct vsock_connect_conf *cc, const struct vsock_ops *ops,
		void *ctx, struct vsock_conn **out);

/**
 * Set the receive buffer advertised to the peer, clamped to
 * [buf_min, buf_max]; the peer hears of it at once.
 *
 * @return The size now in force.
 */
uint32_t vsock_conn_set_buf_size(struct vsock_conn *c, uint32_t size);

/**
 * Queue @p m (payload only, possibly a chain) for sending. The stack
 * takes @p m on success; larger payloads are split into packets of at most
 * VSOCK_MAX_PKT_PAYLOAD, and nothing is sent beyond the peer's credit.
 *
 * For SEQPACKET each call is one message (@p flags may add VSOCK_SEQ_EOR);
 * an empty mbuf sends an empty message.
 *
 * @return 0; -ENOBUFS when sndbuf is full, or vsock_send_backlog()
 *   holds data (@p m is still the caller's; on_writable follows);
 *   -ENOTCONN when not established; -EPIPE after our send side was
 *   shut down; -EINVAL for a chain over VSOCK_MAX_SEGS segments or an
 *   empty STREAM send. On error @p m is still the caller's.
 */
int vsock_send(struct vsock_conn *c, struct rte_mbuf *m, unsigned int flags);

/**
 * vsock_send_backlog() flag: @p m holds bytes received on this very
 * connection (an echo, a proxy's turn-around); their credit goes back to
 * the peer once the stack takes them into its send buffer, not before,
 * so a peer that does not read what comes back is throttled.
 */
#define VSOCK_SEND_F_RELEASE 0x10000u

/**
 * vsock_send() that never refuses for a full send buffer: what does not
 * fit waits in the connection's backlog, in order, and the stack moves
 * it into the send buffer as room frees, on its own (no on_writable
 * needed). vsock_close() still sends the backlog, then SHUTDOWN.
 *
 * The backlog is bounded by what the caller gives it: with
 * VSOCK_SEND_F_RELEASE, by the peer's credit; otherwise watch
 * vsock_conn_info().tx_backlog.
 *
 * @param c
 *   The connection.
 * @param m
 *   Payload, as for vsock_send(); the stack takes it on success.
 * @param flags
 *   VSOCK_SEQ_EOR, VSOCK_SEND_F_RELEASE.
 * @return 0; -ENOTCONN, -EPIPE or -EINVAL as vsock_send() (@p m is still
 *   the caller's).
 */
int vsock_send_backlog(struct vsock_conn *c, struct rte_mbuf *m,
		unsigned int flags);

/**
 * Copy @p len bytes from @p buf into mbufs from the stack's pool and queue
 * them. Convenience only: it copies. For STREAM, @p len 0 sends nothing
 * and returns 0; for SEQPACKET it sends an empty message.
 *
 * @return 0 or a vsock_send() error; -EMSGSIZE when @p len needs more
 *   than VSOCK_MAX_SEGS mbufs of the stack's pool (its data room less the
 *   headroom each); -ENOMEM when the pool is empty.
 */
int vsock_send_buf(struct vsock_conn *c, const void *buf, uint32_t len);

/**
 * Message flags of a received mbuf (valid in on_data): VSOCK_SEQ_EOM on
 * the last piece of a SEQPACKET message, VSOCK_SEQ_EOR at a record end.
 */
uint32_t vsock_mbuf_msg_flags(struct rte_mbuf *m);

/**
 * Copy received data out (connections in VSOCK_RX_COPY mode).
 * STREAM: up to @p len bytes. SEQPACKET: one whole message; if it is
 * longer than @p len the rest is dropped and VSOCK_MSG_TRUNC is set.
 * Credit is handed back for what was taken.
 *
 * @param c
 *   The connection.
 * @param buf
 *   Where to copy the data.
 * @param len
 *   Size of @p buf.
 * @param flags
 *   If not NULL, receives VSOCK_SEQ_EOM (a message ended), VSOCK_SEQ_EOR
 *   and VSOCK_MSG_TRUNC.
 * @return Bytes copied; 0 at end of stream (peer shut down its send side,
 *   and for an empty SEQPACKET message, with VSOCK_SEQ_EOM); -EAGAIN when
 *   nothing (or no whole message) is queued; -ENOTCONN; -EINVAL for a
 *   connection in VSOCK_RX_ZEROCOPY mode.
 */
int vsock_recv(struct vsock_conn *c, void *buf, uint32_t len,
		uint32_t *flags);

/**
 * The application is done with @p bytes of received payload: credit goes
 * back to the peer (VSOCK_RX_ZEROCOPY; vsock_recv() calls it itself).
 * Prefer vsock_data_release(), which cannot forget it.
 */
void vsock_consumed(struct vsock_conn *c, uint32_t bytes);

/**
 * Free @p m, an mbuf on_data handed over on @p c, and give its bytes'
 * credit back to the peer: vsock_consumed() of the length it had in
 * on_data, then rte_pktmbuf_free(), in one call. The credit is the one
 * on_data delivered, whatever the application did to @p m since (trimmed
 * it, say); @p m must still be the head on_data handed over.
 *
 * @param c
 *   The connection @p m arrived on.
 * @param m
 *   The mbuf, or NULL (nothing is done).
 */
void vsock_data_release(struct vsock_conn *c, struct rte_mbuf *m);

/**
 * Shut down one or both directions (VSOCK_SHUTDOWN_RCV/SEND). The
 * SHUTDOWN packet follows the data already queued, backlog included.
 *
 * @return 0 (also when those directions were already shut); -EINVAL when
 *   @p how has neither bit; -ENOTCONN when not established.
 */
int vsock_shutdown(struct vsock_conn *c, unsigned int how);

/**
 * Close @p c: queued data is still sent, then SHUTDOWN; the stack
 * finishes the close on its own (RST from the peer, or the close timeout).
 * No callback is made for @p c after this, and @p c must not be used.
 */
void vsock_close(struct vsock_conn *c);

/**
 * Abort @p c: drop what is queued both ways and send RST now (what a
 * socket with SO_LINGER 0 does on close). No callback follows.
 */
void vsock_abort(struct vsock_conn *c);

/** Application context of a connection (from listen/connect, or set). */
void *vsock_conn_ctx(const struct vsock_conn *c);

/** Set the application context of @p c (usually in on_accept). */
void vsock_conn_set_ctx(struct vsock_conn *c, void *ctx);

/** Addresses, state and counters of @p c. */
void vsock_conn_info(const struct vsock_conn *c, struct vsock_conn_info *info);

/*
 * Introspection: what telemetry (/vsock/stats, /vsock/ports, /vsock/conns,
 * /vsock/listeners) and vsock-ss report, for use inside the process.
 */

/** A connection with its credit counters (vsock_stack_foreach_conn()). */
struct vsock_conn_snapshot {
	struct vsock_conn_info info;	/**< what vsock_conn_info() says */
	uint32_t fwd_cnt;	/**< payload bytes our application consumed */
	uint32_t rx_cnt;	/**< payload bytes received */
	uint32_t tx_cnt;	/**< payload bytes sent */
	uint32_t peer_fwd_cnt;	/**< the peer's fwd_cnt, as last heard */
	uint32_t local_shutdown;	/**< VSOCK_SHUTDOWN_* we did */
	uint8_t port_idx;	/**< port it leaves by; 0xff: CID 1, in-stack */
	bool closed;		/**< closed by the application, finishing */
};

/** A listener (vsock_stack_foreach_listener()). */
struct vsock_listener_info {
	uint32_t port;		/**< VSOCK_PORT_ANY for the all_ports one */
	enum vsock_type type;	/**< STREAM or SEQPACKET */
	uint32_t backlog;	/**< UINT32_MAX: no limit but max_conns */
	uint32_t nb_conns;	/**< connections it accepted, still open */
	bool all_ports;		/**< takes every port nobody listens on */
};

/** Most driver counters vsock_stack_port_info() reports per port. */
#define VSOCK_PORT_INFO_XSTATS 32

/** An attached port (vsock_stack_port_info()). */
struct vsock_port_info {
	char name[32];		/**< the port's name, "" if it has none */
	uint64_t cid;		/**< its local CID */
	uint32_t features;	/**< VSOCK_PORT_F_* */
	uint32_t tx_inflight;	/**< payload bytes in its tx ring */
	unsigned int nb_xstats;	/**< driver counters in xstats[] */
	/** Driver counters, if the port has vsock_port_ops.xstats. */
	struct vsock_port_xstat xstats[VSOCK_PORT_INFO_XSTATS];
};

/**
 * Called for each connection or listener; return non-zero to stop.
 * It must not call into the stack.
 */
typedef int (*vsock_conn_iter_t)(const struct vsock_conn_snapshot *cs,
		void *arg);
/** See vsock_conn_iter_t. */
typedef int (*vsock_listener_iter_t)(const struct vsock_listener_info *li,
		void *arg);

/**
 * Report every connection of @p s, in no particular order. Call it from
 * the stack's lcore only (as every stack call): the tables are not locked.
 * Other threads use telemetry (/vsock/conns), which the poll loop answers.
 *
 * @return Connections reported; or the non-zero value @p fn stopped with.
 */
int vsock_stack_foreach_conn(struct vsock_stack *s, vsock_conn_iter_t fn,
		void *arg);

/**
 * Report every listener of @p s, as vsock_stack_foreach_conn() does.
 *
 * @return Listeners reported; or the non-zero value @p fn stopped with.
 */
int vsock_stack_foreach_listener(struct vsock_stack *s,
		vsock_listener_iter_t fn, void *arg);

/**
 * Describe port @p idx of @p s, with its driver counters. Stack's lcore
 * only: the driver's counters are read without a lock.
 *
 * @return 0; -ENOENT when there is no such port.
 */
int vsock_stack_port_info(struct vsock_stack *s, unsigned int idx,
		struct vsock_port_info *pi);

/** Ports attached to @p s. */
unsigned int vsock_stack_nb_ports(const struct vsock_stack *s);

/** The name @p s was created with. */
const char *vsock_stack_name(const struct vsock_stack *s);

#ifdef __cplusplus
}
#endif

#endif /* VSOCK_STACK_H */
