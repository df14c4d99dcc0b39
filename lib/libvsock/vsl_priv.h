/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libvsock's private structures, shared by vsl_core.c (process state, fd
 * table, control RPC, waiting), vsl_sock.c (socket calls), vsl_io.c (data)
 * and vsl_poll.c (multiplexing).
 *
 * Lock order: a socket's lock, then its rx_lock or tx_lock, then the
 * process's ctl_lock, then the fd table's lock, then the doorbell lock.
 * The fd table's lock is never held across a kernel call that may block.
 */
#ifndef VSL_PRIV_H
#define VSL_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <linux/vm_sockets.h>

#include "vsl_proto.h"
#include "vsl_internal.h"

#ifndef VSL_API
#define VSL_API
#endif

#define VSL_NS_PER_S 1000000000LL
/* Linux's VSOCK_DEFAULT_CONNECT_TIMEOUT (2 s) and buffer defaults. */
#define VSL_CONNECT_TIMEOUT_NS (2 * VSL_NS_PER_S)
#define VSL_BUF_SIZE_DEFAULT (256u << 10)
#define VSL_BUF_MIN_DEFAULT 128u
#define VSL_BUF_MAX_DEFAULT (256u << 10)
/* net.core.wmem_default / rmem_default, what SO_SNDBUF/SO_RCVBUF read. */
#define VSL_SOCKBUF_DEFAULT 212992

/* One connection to vsockd: a process has at most one at a time. */
struct vsl_proc {
	int ctl;			/* AF_UNIX SEQPACKET control socket */
	bool dead;			/* vsockd went away */
	uint64_t cid;			/* vsockd's local CID */
	struct vsl_shm_hdr *hdr;
	size_t size;
	uint32_t nslots;
	uint32_t rx_size;
	uint32_t tx_size;
	uint32_t *db;
	struct vsl_slot *slots;
	uint8_t *slot_used;		/* under ctl_lock */
	pthread_mutex_t ctl_lock;	/* one RPC at a time; slot_used */
	pthread_mutex_t db_lock;	/* pushes on the doorbell ring */
};

/* Misc SOL_SOCKET int options Linux stores for any family. */
enum vsl_iopt {
	VSL_IO_DEBUG,
	VSL_IO_REUSEADDR,
	VSL_IO_REUSEPORT,
	VSL_IO_DONTROUTE,
	VSL_IO_BROADCAST,
	VSL_IO_KEEPALIVE,
	VSL_IO_OOBINLINE,
	VSL_IO_NO_CHECK,
	VSL_IO_PRIORITY,
	VSL_IO_PASSCRED,
	VSL_IO_TIMESTAMP,
	VSL_IO_MAX,
};

struct vsl_sock {
	/* Under the fd table's lock. */
	int refs;			/* one per fd, one per vsl_sock_get */
	int nfds;			/* fds naming this socket */
	int kfd;			/* one of them, for ppoll */
	bool closed;			/* its last fd went */

	/* Threads sleeping on kfd: see vsl_sock_drain(). Under wait_lock,
	 * a leaf lock (only non-blocking eventfd calls under it). */
	pthread_mutex_t wait_lock;
	int waiters;			/* between sleep_begin and _end */
	uint32_t wake_gen;		/* wake-ups drained from kfd */
	int wake_owed;			/* sleepers yet to see wake_gen */
	/* Listener: connections this process accepted that d.accept_ready
	 * (published after the reply) may not show yet: the d.events they
	 * count against in the high half, the count in the low half. */
	uint64_t acc_taken;

	unsigned int gen;		/* vsl_gen when created (fork) */
	struct vsl_proc *p;
	uint32_t idx;			/* slot */
	struct vsl_slot *slot;
	uint8_t *rx;
	uint8_t *tx;
	uint32_t rx_size;
	uint32_t tx_size;
	int type;			/* SOCK_STREAM or SOCK_SEQPACKET */
	int protocol;

	/* lock: state changes and options; rx/tx_lock: the data paths. */
	pthread_mutex_t lock;
	pthread_mutex_t rx_lock;
	pthread_mutex_t tx_lock;

	/* Read without a lock from any thread: atomics (__atomic_*). */
	bool nonblock;			/* O_NONBLOCK of the open file */
	bool bound;
	bool listening;
	bool connecting;		/* connect() started, outcome unseen */
	bool connected;			/* established once (SS_CONNECTED) */
	bool disconnecting;		/* shutdown() done (SS_DISCONNECTING) */
	uint32_t shut;			/* VSL_SHUT_* done locally */
	bool err_cleared;		/* d.error reported: SO_ERROR reads 0 */
	int lerr;			/* a pending error of our own */
	uint32_t connect_seq;		/* d.events before VSL_OP_CONNECT */

	uint32_t local_port;		/* once bound */
	uint64_t local_cid;

	uint64_t buf_size;
	uint64_t buf_min;
	uint64_t buf_max;
	int64_t connect_timeout_ns;
	int64_t rcvtimeo_ns;		/* 0: forever */
	int64_t sndtimeo_ns;
	int rcvlowat;
	int linger_on;
	int linger_s;
	int sndbuf;
	int rcvbuf;
	int iopt[VSL_IO_MAX];
};

/* Bumped in a fork child: sockets of an older generation are inherited. */
extern unsigned int vsl_gen;

/* Any vsock socket in the process (poll and select ask). */
bool vsl_any_socket(void);

/* Spinning: a pause for the CPU's sibling thread. */
#if defined(__x86_64__) || defined(__i386__)
#define vsl_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define vsl_relax() __asm__ volatile("yield")
#else
#define vsl_relax() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#endif

/* Raw kernel calls (see vsl_internal.h). */
long vsl_sys_close(int fd);
int vsl_sys_eventfd(bool cloexec);

/* Monotonic clock in ns. A deadline for a timeout in ns (0: forever,
 * < 0: now), -1 for none, 0 for now. */
int64_t vsl_now_ns(void);
int64_t vsl_deadline(int64_t timeout_ns, bool nonblock);

/* A kernel timeout for @p deadline in @p ts; NULL means forever. */
struct timespec *vsl_remaining(int64_t deadline, struct timespec *ts);

/* The process's connection to vsockd, made on first use; NULL + errno. */
struct vsl_proc *vsl_proc_get(void);
int vsl_rpc(struct vsl_proc *p, struct vsl_req *req, int fd_out,
		struct vsl_rep *rep, int *fd_in);

/* A free slot taken (-ENOSPC... -errno if none); release on failure. */
int vsl_slot_take(struct vsl_proc *p, uint32_t *idx);
void vsl_slot_release(struct vsl_proc *p, uint32_t idx);

/* A new socket for slot @p idx; refs 0 and no fd until vsl_fd_install. */
struct vsl_sock *vsl_sock_new(struct vsl_proc *p, uint32_t idx, int type,
		int protocol);
void vsl_sock_free(struct vsl_sock *s);
/* Another reference on @p s (one is held already); vsl_sock_put() it. */
void vsl_sock_ref(struct vsl_sock *s);
/* Record @p fd as naming @p s (takes a ref). */
void vsl_fd_install(int fd, struct vsl_sock *s);
/*
 * Forget @p fd; returns its socket with the fd's ref still held (the
 * caller puts it), *last set when it was the socket's last fd.
 */
struct vsl_sock *vsl_fd_forget(int fd, bool *last);

/* The socket was inherited through fork: every call fails (EBADFD). */
static inline bool
vsl_stale(const struct vsl_sock *s)
{
	return s->gen != __atomic_load_n(&vsl_gen, __ATOMIC_RELAXED);
}

/*
 * Sleeping on @p s's eventfd (see vsl_sock_drain() in vsl_core.c): a
 * thread is a sleeper from vsl_sleep_begin(), before its arm, until
 * vsl_sleep_end(), after its drain; @p seen is its own wake generation.
 * vsl_sock_drain() true: the eventfd holds a wake-up for other sleepers
 * only; leave it to them (vsl_sleep_backoff()) rather than sleep on it.
 */
void vsl_sleep_begin(struct vsl_sock *s, uint32_t *seen);
void vsl_sleep_end(struct vsl_sock *s, const uint32_t *seen);
bool vsl_sock_drain(struct vsl_sock *s, uint32_t *seen);
void vsl_sleep_backoff(void);

/* Tell vsockd that the slot's app indices moved. */
void vsl_doorbell(struct vsl_sock *s);

/*
 * Wait until @p ready says so or @p deadline (vsl_now_ns() based; -1
 * forever, 0 do not wait) passes: 0, -EAGAIN (timeout), -EINTR.
 */
int vsl_wait(struct vsl_sock *s, bool (*ready)(struct vsl_sock *, void *),
		void *arg, int64_t deadline);

/* memcpy that turns a bad user pointer into -EFAULT instead of a crash. */
int vsl_copy(void *dst, const void *src, size_t n);
/* SIGPIPE to the calling thread, as the kernel sends it. */
void vsl_sigpipe(void);

/* vsl_sock.c: the socket of a socket call, or NULL with errno set. */
struct vsl_sock *vsl_sock_of(int fd);
/* Puts @p s, sets errno = @p err, returns -1. */
int vsl_fail(struct vsl_sock *s, int err);
void vsl_wake_local(struct vsl_sock *s);
/* Picks up the outcome of a connect vsockd finished. */
void vsl_sock_sync(struct vsl_sock *s);
int vsl_addr_out(struct sockaddr *addr, socklen_t *len, uint64_t cid,
		uint32_t port);

/* Loads of daemon fields (acquire) and stores of app fields (release). */
#define VSL_LD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define VSL_ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

/* d.error once, until reported (SO_ERROR, a failed call). */
static inline int
vsl_pending_error(struct vsl_sock *s)
{
	int e = __atomic_load_n(&s->lerr, __ATOMIC_RELAXED);

	if (e)
		return e;
	if (__atomic_load_n(&s->err_cleared, __ATOMIC_RELAXED))
		return 0;
	return VSL_LD(s->slot->d.error);
}

static inline void
vsl_clear_error(struct vsl_sock *s)
{
	if (__atomic_exchange_n(&s->lerr, 0, __ATOMIC_RELAXED))
		return;
	__atomic_store_n(&s->err_cleared, true, __ATOMIC_RELAXED);
}

/* Bytes waiting in the rx ring (STREAM) or ring bytes held (SEQPACKET). */
static inline uint32_t
vsl_rx_avail(struct vsl_sock *s)
{
	return VSL_LD(s->slot->d.rx_head) -
		__atomic_load_n(&s->slot->a.rx_tail, __ATOMIC_RELAXED);
}

/*
 * Connections waiting on listener @p s. vsockd publishes accept_ready
 * after its ACCEPT reply: while d.events has not moved since before our
 * ACCEPT, the count still holds what we took (see accept_one()).
 */
static inline uint32_t
vsl_accept_pending(struct vsl_sock *s)
{
	uint32_t ev = VSL_LD(s->slot->d.events);
	uint32_t n = VSL_LD(s->slot->d.accept_ready);
	uint64_t t = __atomic_load_n(&s->acc_taken, __ATOMIC_ACQUIRE);

	if (VSL_LD(s->slot->d.events) != ev || (uint32_t)(t >> 32) != ev)
		return n;
	return n > (uint32_t)t ? n - (uint32_t)t : 0;
}

static inline uint32_t
vsl_tx_space(struct vsl_sock *s)
{
	return s->tx_size -
		(__atomic_load_n(&s->slot->a.tx_head, __ATOMIC_RELAXED) -
		 VSL_LD(s->slot->d.tx_tail));
}

#endif /* VSL_PRIV_H */
