/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The socket layer's wire protocol: what vsockd and libvsock share.
 *
 * Two channels join an application to vsockd:
 *  - a Unix SOCK_SEQPACKET control socket, one struct vsl_req per message,
 *    each answered by one struct vsl_rep; file descriptors (the segment, a
 *    socket's eventfd) travel with SCM_RIGHTS. Set-up and tear-down only.
 *  - one shared segment per application (a memfd vsockd creates, sizes and
 *    seals against shrinking and growing, then hands over in the HELLO
 *    reply): a header with the doorbell ring, one struct vsl_slot per
 *    socket, and each slot's rx and tx byte rings. The data path.
 *
 * Ownership of every shared field is fixed: "app" fields are written by
 * the application only, "daemon" fields by vsockd only. vsockd never
 * trusts what it reads from the segment: it reads an app field once,
 * validates it against its own private copy, and keeps its own indices
 * privately (the copies in the segment are for the application to read).
 *
 * Indices are free-running uint32_t byte counts; a ring's offset is the
 * index masked by (size - 1). Producers publish with a release store,
 * consumers read with an acquire load.
 *
 * STREAM rings carry bytes. SEQPACKET rings carry records: a struct
 * vsl_rec header, then len bytes, then padding to VSL_REC_ALIGN; a record
 * never has its header split by the ring's end (the header is 8 bytes and
 * every record starts 8-aligned), its payload may wrap.
 *
 * Wake-ups: a side that is about to sleep on a socket bumps
 * vsl_slot.a.sleep_seq, re-checks, then blocks in the kernel on the
 * socket's eventfd. vsockd, after any change to a slot's daemon fields,
 * bumps d.events and, only if a.sleep_seq differs from the last one it
 * woke, writes 1 to the eventfd. So a busy application costs the daemon
 * no syscall. The application drains the eventfd (a non-blocking read)
 * when it wakes.
 *
 * Doorbell: after the application moves a.tx_head or a.rx_tail it tells
 * vsockd which slot changed: if atomic_exchange(&a.db_pending, 1) was 0
 * it pushes the slot index on the doorbell ring. vsockd pops it, stores
 * a.db_pending = 0, issues a full fence, then reads the slot's indices.
 * The ring holds nslots entries, so with that rule it never overflows;
 * an entry that names no open slot is counted and ignored.
 */
#ifndef VSL_PROTO_H
#define VSL_PROTO_H

#include <stdint.h>

#define VSL_PROTO_VERSION 1u
#define VSL_SHM_MAGIC 0x76736c31u	/* "vsl1" */

/** Where vsockd listens unless --socket or VSOCKD_SOCKET says otherwise. */
#define VSL_DEFAULT_SOCKET "/run/dpdk-vsock/vsockd.sock"
/** Environment variable naming the control socket. */
#define VSL_ENV_SOCKET "VSOCKD_SOCKET"

#define VSL_CACHE_LINE 64
#define VSL_REC_ALIGN 8u

/* Segment geometry vsockd uses by default (all powers of two). */
#define VSL_DEFAULT_SLOTS 256u
#define VSL_DEFAULT_RING (512u << 10)

/* ---- control socket ------------------------------------------------ */

enum vsl_op {
	/* arg = VSL_PROTO_VERSION. Reply: the segment's memfd (SCM_RIGHTS),
	 * val = its size, cid = vsockd's local CID. First message, once. */
	VSL_OP_HELLO = 1,
	/* slot, type (VSL_TYPE_*); the socket's eventfd in SCM_RIGHTS. */
	VSL_OP_SOCKET,
	/* slot, cid, port. Reply: port = the port bound (ephemeral for
	 * VMADDR_PORT_ANY). -EADDRINUSE, -EADDRNOTAVAIL, -EACCES, -EINVAL. */
	VSL_OP_BIND,
	/* slot (bound), arg = backlog. */
	VSL_OP_LISTEN,
	/* slot = the listener, arg = the new slot; its eventfd in
	 * SCM_RIGHTS. Reply: -EAGAIN when nothing waits, else the new
	 * socket's addresses (cid/port local, rcid/rport remote). */
	VSL_OP_ACCEPT,
	/* slot, cid, port, arg = timeout in ms. Reply 0: started, the
	 * outcome arrives in the slot's state and error. Or -errno now. */
	VSL_OP_CONNECT,
	/* slot, arg = VSL_SHUT_RD | VSL_SHUT_WR. Sent after what the tx
	 * ring holds: vsockd sends that first. */
	VSL_OP_SHUTDOWN,
	/* slot, arg = 1 to abort (SO_LINGER 0: RST, drop queued data).
	 * vsockd sends what the tx ring holds, then closes; the slot is
	 * reusable once its d.state reads VSL_ST_FREE. */
	VSL_OP_CLOSE,
	/* slot, arg = enum vsl_opt, val. Reply: val = the value in force
	 * (buffer sizes are clamped as Linux clamps them). */
	VSL_OP_SETOPT,
	VSL_OP_MAX,
};

/** Socket types, the vsock header's values. */
#define VSL_TYPE_STREAM 1u
#define VSL_TYPE_SEQPACKET 2u

/** VSL_OP_SHUTDOWN bits (the vsock header's SHUTDOWN flags). */
#define VSL_SHUT_RD 1u
#define VSL_SHUT_WR 2u

enum vsl_opt {
	VSL_OPT_BUF_SIZE = 1,	/* SO_VM_SOCKETS_BUFFER_SIZE */
	VSL_OPT_BUF_MIN,	/* SO_VM_SOCKETS_BUFFER_MIN_SIZE */
	VSL_OPT_BUF_MAX,	/* SO_VM_SOCKETS_BUFFER_MAX_SIZE */
};

struct vsl_req {
	uint32_t op;		/* enum vsl_op */
	uint32_t slot;
	uint32_t type;
	uint32_t port;
	uint64_t cid;
	uint32_t arg;
	uint32_t pad;
	uint64_t val;
};

struct vsl_rep {
	int32_t status;		/* 0 or -errno */
	uint32_t port;		/* local port */
	uint64_t cid;		/* local CID */
	uint32_t rport;		/* remote port */
	uint32_t pad;
	uint64_t rcid;		/* remote CID */
	uint64_t val;
};

/* ---- shared segment ------------------------------------------------ */

/** vsl_slot.d.state */
enum vsl_state {
	VSL_ST_FREE = 0,	/* unused; the application may take it */
	VSL_ST_OPEN,		/* created (and maybe bound) */
	VSL_ST_LISTEN,		/* listening */
	VSL_ST_CONNECTING,	/* connect started */
	VSL_ST_CONNECTED,	/* established (maybe half shut down) */
	VSL_ST_CLOSED,		/* reset, refused or timed out: see d.error */
	VSL_ST_CLOSING,		/* closed by the app, vsockd still flushing */
};

/** A SEQPACKET record header in an rx or tx ring. */
struct vsl_rec {
	uint32_t len;		/* payload bytes that follow */
	uint32_t flags;		/* VSL_REC_* */
};
#define VSL_REC_EOR 1u		/* MSG_EOR: end of record */

struct vsl_slot {
	/* Daemon fields: vsockd writes, the application reads. */
	struct {
		uint32_t state;		/* enum vsl_state */
		int32_t error;		/* pending socket error, positive errno */
		uint32_t peer_shut;	/* VSL_SHUT_* the peer did; set once
					 * every byte before it is in rx */
		uint32_t accept_ready;	/* listener: connections waiting */
		uint32_t rx_head;	/* bytes written into the rx ring */
		uint32_t tx_tail;	/* bytes taken from the tx ring */
		uint32_t events;	/* bumped on every change (EPOLLET) */
		uint32_t peer_buf_alloc; /* peer's receive buffer (EMSGSIZE) */
		uint32_t tx_queued;	/* taken from tx, not yet sent (SIOCOUTQ) */
		uint32_t local_port;
		uint32_t remote_port;
		uint32_t pad;
		uint64_t local_cid;
		uint64_t remote_cid;
	} __attribute__((aligned(VSL_CACHE_LINE))) d;
	/* App fields: the application writes, vsockd reads (untrusted). */
	struct {
		uint32_t tx_head;	/* bytes written into the tx ring */
		uint32_t rx_tail;	/* bytes consumed from the rx ring */
		uint32_t sleep_seq;	/* bumped before sleeping on the eventfd */
		uint32_t db_pending;	/* 1 while the slot is on the doorbell */
	} __attribute__((aligned(VSL_CACHE_LINE))) a;
};

/** The segment's first bytes. vsockd fills everything but db_head. */
struct vsl_shm_hdr {
	uint32_t magic;		/* VSL_SHM_MAGIC */
	uint32_t version;	/* VSL_PROTO_VERSION */
	uint32_t nslots;	/* power of two */
	uint32_t rx_ring_size;	/* power of two, bytes */
	uint32_t tx_ring_size;	/* power of two, bytes */
	uint32_t pad;
	uint64_t size;		/* of the whole segment */
	uint64_t db_off;	/* uint32_t db[nslots] */
	uint64_t slots_off;	/* struct vsl_slot slots[nslots] */
	uint64_t rings_off;	/* per slot i: rx ring, then tx ring */
	/* App field: doorbell entries pushed. */
	uint32_t db_head __attribute__((aligned(VSL_CACHE_LINE)));
	/* Daemon field: doorbell entries taken. */
	uint32_t db_tail __attribute__((aligned(VSL_CACHE_LINE)));
} __attribute__((aligned(VSL_CACHE_LINE)));

/** Offset of slot @p i's rx ring in the segment (its tx ring follows). */
static inline uint64_t
vsl_rx_ring_off(const struct vsl_shm_hdr *h, uint32_t i)
{
	return h->rings_off + (uint64_t)i *
		((uint64_t)h->rx_ring_size + h->tx_ring_size);
}

static inline uint64_t
vsl_tx_ring_off(const struct vsl_shm_hdr *h, uint32_t i)
{
	return vsl_rx_ring_off(h, i) + h->rx_ring_size;
}

/** Ring bytes a record of @p len payload bytes takes. */
static inline uint32_t
vsl_rec_size(uint32_t len)
{
	return (uint32_t)sizeof(struct vsl_rec) +
		((len + VSL_REC_ALIGN - 1) & ~(VSL_REC_ALIGN - 1));
}

#endif /* VSL_PROTO_H */
