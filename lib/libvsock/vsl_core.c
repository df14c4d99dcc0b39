/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libvsock's process state: the connection to vsockd (made at the first
 * vsl_socket()), the shared segment, the control RPC, slots, the fd table,
 * the doorbell, guarded copies and fork. Waiting is vsl_wait.c.
 *
 * Fork: the child must never touch the parent's rings or control socket
 * (vsockd would see two writers). A pthread_atfork child handler bumps
 * vsl_gen and forgets the connection, so every call on an inherited
 * socket fails with EBADFD, except close(), which only closes the fd. The
 * child's first vsl_socket() makes its own connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vsl_priv.h"

unsigned int vsl_gen;

static struct vsl_proc *vsl_proc_cur;
static pthread_mutex_t vsl_proc_lock = PTHREAD_MUTEX_INITIALIZER;
static bool vsl_warned;
static int vsl_busy = -1;

/* ---- raw kernel calls ------------------------------------------------ */

long
vsl_sys_close(int fd)
{
	return syscall(SYS_close, fd);
}

int
vsl_sys_eventfd(bool cloexec)
{
	/* Always non-blocking underneath: draining must never block, and
	 * the socket's O_NONBLOCK is tracked apart (vsl_sock.nonblock). */
	return (int)syscall(SYS_eventfd2, 0,
			EFD_NONBLOCK | (cloexec ? EFD_CLOEXEC : 0));
}

int64_t
vsl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * VSL_NS_PER_S + ts.tv_nsec;
}

int64_t
vsl_deadline(int64_t timeout_ns, bool nonblock)
{
	if (nonblock || timeout_ns < 0)
		return 0;
	if (timeout_ns == 0)
		return -1;
	return vsl_now_ns() + timeout_ns;
}

bool
vsl_busy_poll(void)
{
	int b = __atomic_load_n(&vsl_busy, __ATOMIC_RELAXED);

	if (b < 0) {
		const char *e = getenv("VSOCK_BUSY_POLL");

		b = e != NULL && strcmp(e, "1") == 0;
		__atomic_store_n(&vsl_busy, b, __ATOMIC_RELAXED);
	}
	return b;
}

/* ---- the connection to vsockd ---------------------------------------- */

static ssize_t
ctl_send(int ctl, const void *buf, size_t len, int fd)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do {
		r = syscall(SYS_sendmsg, ctl, &mh, MSG_NOSIGNAL);
	} while (r < 0 && errno == EINTR);
	return r;
}

static ssize_t
ctl_recv(int ctl, void *buf, size_t len, int *fd)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} cbuf;
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	struct cmsghdr *c;
	ssize_t r;

	*fd = -1;
	do {
		r = syscall(SYS_recvmsg, ctl, &mh, MSG_CMSG_CLOEXEC);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return r;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		size_t i, n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*fd < 0)
				*fd = f;
			else
				vsl_sys_close(f);
		}
	}
	return r;
}

/* The segment as vsockd laid it out, checked before anything reads it. */
static int
proc_map(struct vsl_proc *p, int memfd, uint64_t size)
{
	const struct vsl_shm_hdr *h;
	uint64_t ring;
	void *m;

	if (size < sizeof(struct vsl_shm_hdr) || size > (1ull << 40))
		return -EPROTO;
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (m == MAP_FAILED)
		return -errno;
	h = m;
	ring = (uint64_t)h->rx_ring_size + h->tx_ring_size;
	if (h->magic != VSL_SHM_MAGIC || h->version != VSL_PROTO_VERSION ||
	    h->size != size || h->nslots == 0 ||
	    (h->nslots & (h->nslots - 1)) != 0 ||
	    h->rx_ring_size < 64 || h->tx_ring_size < 64 ||
	    (h->rx_ring_size & (h->rx_ring_size - 1)) != 0 ||
	    (h->tx_ring_size & (h->tx_ring_size - 1)) != 0 ||
	    h->db_off + h->nslots * 4ull > size ||
	    h->slots_off % VSL_CACHE_LINE != 0 ||
	    h->slots_off + h->nslots * sizeof(struct vsl_slot) > size ||
	    h->rings_off % VSL_REC_ALIGN != 0 ||
	    h->rings_off + h->nslots * ring > size) {
		munmap(m, size);
		return -EPROTO;
	}
	p->hdr = m;
	p->size = size;
	p->nslots = h->nslots;
	p->rx_size = h->rx_ring_size;
	p->tx_size = h->tx_ring_size;
	p->db = (uint32_t *)((uint8_t *)m + h->db_off);
	p->slots = (struct vsl_slot *)((uint8_t *)m + h->slots_off);
	return 0;
}

static void
warn_once(const char *path, int err)
{
	char line[512];
	int n;

	if (__atomic_exchange_n(&vsl_warned, true, __ATOMIC_RELAXED))
		return;
	n = snprintf(line, sizeof(line),
		"libvsock: cannot reach vsockd at %s: %s\n",
		path, strerror(err));
	if (n > 0)
		(void)!syscall(SYS_write, 2, line,
				(size_t)n < sizeof(line) ? (size_t)n :
				sizeof(line) - 1);
}

static struct vsl_proc *
proc_open(void)
{
	const char *path = getenv(VSL_ENV_SOCKET);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct vsl_req req = { .op = VSL_OP_HELLO, .arg = VSL_PROTO_VERSION };
	struct vsl_rep rep;
	struct vsl_proc *p;
	int ctl, memfd = -1, err;
	ssize_t r;

	if (path == NULL || *path == '\0')
		path = VSL_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		warn_once(path, ENAMETOOLONG);
		return NULL;
	}
	strcpy(sun.sun_path, path);
	ctl = (int)syscall(SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC,
			0);
	if (ctl < 0) {
		warn_once(path, errno);
		return NULL;
	}
	if (syscall(SYS_connect, ctl, &sun, sizeof(sun)) < 0) {
		err = errno;
		goto fail;
	}
	if (ctl_send(ctl, &req, sizeof(req), -1) < 0) {
		err = errno;
		goto fail;
	}
	r = ctl_recv(ctl, &rep, sizeof(rep), &memfd);
	if (r < 0) {
		err = errno;
		goto fail;
	}
	if (r != sizeof(rep) || (rep.status == 0 && memfd < 0)) {
		err = EPROTO;
		goto fail;
	}
	if (rep.status != 0) {
		err = -rep.status;
		goto fail;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		err = ENOMEM;
		goto fail;
	}
	err = -proc_map(p, memfd, rep.val);
	vsl_sys_close(memfd);
	memfd = -1;
	if (err == 0)
		p->slot_used = calloc(p->nslots, 1);
	if (err != 0 || p->slot_used == NULL) {
		if (err == 0) {
			munmap(p->hdr, p->size);
			err = ENOMEM;
		}
		free(p);
		goto fail;
	}
	p->ctl = ctl;
	p->cid = rep.cid;
	pthread_mutex_init(&p->ctl_lock, NULL);
	pthread_mutex_init(&p->db_lock, NULL);
	return p;
fail:
	if (memfd >= 0)
		vsl_sys_close(memfd);
	vsl_sys_close(ctl);
	warn_once(path, err);
	return NULL;
}

static void vsl_guard_install(void);

struct vsl_proc *
vsl_proc_get(void)
{
	struct vsl_proc *p = __atomic_load_n(&vsl_proc_cur, __ATOMIC_ACQUIRE);

	if (p != NULL)
		return p;
	pthread_mutex_lock(&vsl_proc_lock);
	p = vsl_proc_cur;
	if (p == NULL) {
		p = proc_open();
		if (p != NULL) {
			vsl_guard_install();
			__atomic_store_n(&vsl_proc_cur, p, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&vsl_proc_lock);
	if (p == NULL)
		errno = EAFNOSUPPORT;
	return p;
}

VSL_API uint64_t
vsl_local_cid(void)
{
	struct vsl_proc *p = vsl_proc_get();

	return p != NULL ? p->cid : (uint64_t)-1;
}

int
vsl_rpc(struct vsl_proc *p, struct vsl_req *req, int fd_out,
		struct vsl_rep *rep, int *fd_in)
{
	int fd = -1, ret;
	ssize_t r;

	pthread_mutex_lock(&p->ctl_lock);
	if (p->dead) {
		ret = -ECONNRESET;
		goto out;
	}
	if (ctl_send(p->ctl, req, sizeof(*req), fd_out) < 0) {
		ret = -errno;
		goto dead;
	}
	r = ctl_recv(p->ctl, rep, sizeof(*rep), &fd);
	if (r <= 0 || r != sizeof(*rep)) {
		ret = r < 0 ? -errno : -ECONNRESET;
		goto dead;
	}
	ret = rep->status > 0 ? -EPROTO : rep->status;
	if (fd_in != NULL)
		*fd_in = fd;
	else if (fd >= 0)
		vsl_sys_close(fd);
	goto out;
dead:
	/* Out of step with vsockd, or it is gone: no further RPC. */
	p->dead = true;
	if (ret != -ENOMEM && ret != -ENOBUFS)
		ret = -ECONNRESET;
out:
	pthread_mutex_unlock(&p->ctl_lock);
	return ret;
}

/* ---- slots ------------------------------------------------------------ */

int
vsl_slot_take(struct vsl_proc *p, uint32_t *idx)
{
	uint32_t i;
	int ret = -ENOMEM;

	pthread_mutex_lock(&p->ctl_lock);
	for (i = 0; i < p->nslots; i++) {
		struct vsl_slot *sl = &p->slots[i];

		if (p->slot_used[i] || VSL_LD(sl->d.state) != VSL_ST_FREE)
			continue;
		p->slot_used[i] = 1;
		/* A fresh socket's app indices start at zero, like vsockd's
		 * private copies. */
		VSL_ST(sl->a.tx_head, 0);
		VSL_ST(sl->a.rx_tail, 0);
		VSL_ST(sl->a.db_pending, 0);
		*idx = i;
		ret = 0;
		break;
	}
	pthread_mutex_unlock(&p->ctl_lock);
	return ret;
}

void
vsl_slot_release(struct vsl_proc *p, uint32_t idx)
{
	pthread_mutex_lock(&p->ctl_lock);
	p->slot_used[idx] = 0;
	pthread_mutex_unlock(&p->ctl_lock);
}

/* ---- sockets and the fd table ---------------------------------------- */

#define VSL_FD_CHUNK 4096
#define VSL_FD_CHUNKS 1024	/* 4 Mi fds */

static struct vsl_sock **vsl_fds[VSL_FD_CHUNKS];
static pthread_mutex_t vsl_fd_lock = PTHREAD_MUTEX_INITIALIZER;
static int vsl_nsocks;		/* live sockets, any generation */

struct vsl_sock *
vsl_sock_new(struct vsl_proc *p, uint32_t idx, int type, int protocol)
{
	struct vsl_sock *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->kfd = -1;
	s->gen = __atomic_load_n(&vsl_gen, __ATOMIC_RELAXED);
	s->p = p;
	s->idx = idx;
	s->slot = &p->slots[idx];
	s->rx = (uint8_t *)p->hdr + vsl_rx_ring_off(p->hdr, idx);
	s->tx = (uint8_t *)p->hdr + vsl_tx_ring_off(p->hdr, idx);
	s->rx_size = p->rx_size;
	s->tx_size = p->tx_size;
	s->type = type;
	s->protocol = protocol;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->rx_lock, NULL);
	pthread_mutex_init(&s->tx_lock, NULL);
	pthread_mutex_init(&s->wait_lock, NULL);
	s->local_port = VMADDR_PORT_ANY;
	s->local_cid = VMADDR_CID_ANY;
	s->buf_size = VSL_BUF_SIZE_DEFAULT;
	s->buf_min = VSL_BUF_MIN_DEFAULT;
	s->buf_max = VSL_BUF_MAX_DEFAULT;
	s->connect_timeout_ns = VSL_CONNECT_TIMEOUT_NS;
	s->rcvlowat = 1;
	s->sndbuf = VSL_SOCKBUF_DEFAULT;
	s->rcvbuf = VSL_SOCKBUF_DEFAULT;
	return s;
}

void
vsl_sock_free(struct vsl_sock *s)
{
	/* The slot is ours until now: a thread that still held a ref may
	 * have been reading it. vsockd frees it on its side (d.state). */
	if (!vsl_stale(s))
		vsl_slot_release(s->p, s->idx);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->rx_lock);
	pthread_mutex_destroy(&s->tx_lock);
	pthread_mutex_destroy(&s->wait_lock);
	free(s);
}

static struct vsl_sock **
fd_entry(int fd, bool create)
{
	struct vsl_sock **c;

	if (fd < 0 || fd >= VSL_FD_CHUNK * VSL_FD_CHUNKS)
		return NULL;
	c = __atomic_load_n(&vsl_fds[fd / VSL_FD_CHUNK], __ATOMIC_ACQUIRE);
	if (c == NULL && create) {
		/* Under vsl_fd_lock: chunks are never freed. */
		c = calloc(VSL_FD_CHUNK, sizeof(*c));
		if (c == NULL)
			return NULL;
		__atomic_store_n(&vsl_fds[fd / VSL_FD_CHUNK], c,
				__ATOMIC_RELEASE);
	}
	return c != NULL ? &c[fd % VSL_FD_CHUNK] : NULL;
}

VSL_API bool
vsl_is_socket(int fd)
{
	struct vsl_sock **e = fd_entry(fd, false);

	return e != NULL && __atomic_load_n(e, __ATOMIC_ACQUIRE) != NULL;
}

bool
vsl_any_socket(void)
{
	return __atomic_load_n(&vsl_nsocks, __ATOMIC_RELAXED) > 0;
}

struct vsl_sock *
vsl_sock_get(int fd)
{
	struct vsl_sock **e = fd_entry(fd, false);
	struct vsl_sock *s = NULL;

	if (e == NULL || __atomic_load_n(e, __ATOMIC_RELAXED) == NULL)
		return NULL;
	pthread_mutex_lock(&vsl_fd_lock);
	s = *e;
	if (s != NULL)
		s->refs++;
	pthread_mutex_unlock(&vsl_fd_lock);
	return s;
}

void
vsl_sock_ref(struct vsl_sock *s)
{
	pthread_mutex_lock(&vsl_fd_lock);
	s->refs++;
	pthread_mutex_unlock(&vsl_fd_lock);
}

void
vsl_sock_put(struct vsl_sock *s)
{
	bool last;

	if (s == NULL)
		return;
	pthread_mutex_lock(&vsl_fd_lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&vsl_fd_lock);
	if (last)
		vsl_sock_free(s);
}

void
vsl_fd_install(int fd, struct vsl_sock *s)
{
	struct vsl_sock **e;

	pthread_mutex_lock(&vsl_fd_lock);
	e = fd_entry(fd, true);
	if (e == NULL) {
		/* Past 4 Mi fds or out of memory: cannot happen in practice
		 * (RLIMIT_NOFILE's hard maximum is lower). */
		pthread_mutex_unlock(&vsl_fd_lock);
		abort();
	}
	s->refs++;
	if (s->nfds++ == 0) {
		s->kfd = fd;
		vsl_nsocks++;
	}
	__atomic_store_n(e, s, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vsl_fd_lock);
}

struct vsl_sock *
vsl_fd_forget(int fd, bool *last)
{
	struct vsl_sock **e = fd_entry(fd, false);
	struct vsl_sock *s;

	*last = false;
	if (e == NULL)
		return NULL;
	pthread_mutex_lock(&vsl_fd_lock);
	s = *e;
	if (s != NULL) {
		__atomic_store_n(e, NULL, __ATOMIC_RELEASE);
		if (--s->nfds == 0) {
			*last = true;
			s->closed = true;
			vsl_nsocks--;
		} else if (s->kfd == fd) {
			int i, n = VSL_FD_CHUNK * VSL_FD_CHUNKS;

			/* Another fd of the socket takes over (rare: only
			 * when the first one is closed before a dup). */
			for (i = 0; i < n; i += VSL_FD_CHUNK) {
				struct vsl_sock **c = vsl_fds[i / VSL_FD_CHUNK];
				int j;

				if (c == NULL)
					continue;
				for (j = 0; j < VSL_FD_CHUNK; j++)
					if (c[j] == s)
						break;
				if (j < VSL_FD_CHUNK) {
					s->kfd = i + j;
					break;
				}
			}
		}
	}
	pthread_mutex_unlock(&vsl_fd_lock);
	return s;
}

int
vsl_sock_kfd(struct vsl_sock *s)
{
	return __atomic_load_n(&s->kfd, __ATOMIC_RELAXED);
}

uint32_t
vsl_sock_seq(struct vsl_sock *s)
{
	if (vsl_stale(s))
		return 0;
	return VSL_LD(s->slot->d.events);
}

/* ---- doorbell ---------------------------------------------------------*/

void
vsl_doorbell(struct vsl_sock *s)
{
	struct vsl_proc *p = s->p;
	struct vsl_shm_hdr *h = p->hdr;

	/* Index stores before db_pending's exchange (seq_cst); vsockd
	 * clears db_pending and fences before it reads the indices. */
	if (__atomic_exchange_n(&s->slot->a.db_pending, 1, __ATOMIC_SEQ_CST))
		return;
	pthread_mutex_lock(&p->db_lock);
	while (h->db_head - VSL_LD(h->db_tail) >= p->nslots) {
		/* Cannot happen with one entry per slot, unless vsockd lags
		 * behind a slot reused after close: let it catch up. */
		pthread_mutex_unlock(&p->db_lock);
		sched_yield();
		pthread_mutex_lock(&p->db_lock);
	}
	p->db[h->db_head & (p->nslots - 1)] = s->idx;
	VSL_ST(h->db_head, h->db_head + 1);
	pthread_mutex_unlock(&p->db_lock);
}

static __thread sigjmp_buf *vsl_jb __attribute__((tls_model("initial-exec")));
static struct sigaction vsl_old_segv, vsl_old_bus;

static void
vsl_fault(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *jb = vsl_jb;
	struct sigaction *old = sig == SIGSEGV ? &vsl_old_segv : &vsl_old_bus;

	if (jb != NULL) {
		vsl_jb = NULL;
		siglongjmp(*jb, 1);
	}
	/* Not ours: whoever handled it before us, or the default action. */
	if (old->sa_flags & SA_SIGINFO) {
		old->sa_sigaction(sig, si, uc);
	} else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
	} else {
		struct sigaction dfl = { .sa_handler = SIG_DFL };

		sigaction(sig, &dfl, NULL);
		/* A real fault strikes again on return; a sent one is sent
		 * again. */
		if (si->si_code <= 0)
			syscall(SYS_tgkill, syscall(SYS_getpid),
					syscall(SYS_gettid), sig);
	}
}

static void
vsl_guard_install(void)
{
	struct sigaction sa = { .sa_sigaction = vsl_fault };

	/* SA_NODEFER: siglongjmp out of the handler leaves the signal
	 * unblocked (sigsetjmp saves no mask, for speed). */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &vsl_old_segv);
	sigaction(SIGBUS, &sa, &vsl_old_bus);
}

int
vsl_copy(void *dst, const void *src, size_t n)
{
	sigjmp_buf jb;

	if (n == 0)
		return 0;
	if (sigsetjmp(jb, 0)) {
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		return -EFAULT;
	}
	vsl_jb = &jb;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	memcpy(dst, src, n);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	vsl_jb = NULL;
	return 0;
}

void
vsl_sigpipe(void)
{
	syscall(SYS_tgkill, syscall(SYS_getpid), syscall(SYS_gettid),
			SIGPIPE);
}

/* ---- fork --------------------------------------------------------------*/

static void
atfork_prepare(void)
{
	struct vsl_proc *p;

	pthread_mutex_lock(&vsl_proc_lock);
	p = vsl_proc_cur;
	if (p != NULL) {
		pthread_mutex_lock(&p->ctl_lock);
		pthread_mutex_lock(&p->db_lock);
	}
	pthread_mutex_lock(&vsl_fd_lock);
}

static void
atfork_parent(void)
{
	struct vsl_proc *p = vsl_proc_cur;

	pthread_mutex_unlock(&vsl_fd_lock);
	if (p != NULL) {
		pthread_mutex_unlock(&p->db_lock);
		pthread_mutex_unlock(&p->ctl_lock);
	}
	pthread_mutex_unlock(&vsl_proc_lock);
}

static void
atfork_child(void)
{
	struct vsl_proc *p = vsl_proc_cur;

	/* The parent's connection stays the parent's: close our copy of
	 * the control socket (vsockd then sees the parent's exit alone),
	 * keep the mapping (inherited sockets point into it) unused. */
	if (p != NULL)
		vsl_sys_close(p->ctl);
	vsl_proc_cur = NULL;
	__atomic_fetch_add(&vsl_gen, 1, __ATOMIC_RELAXED);
	pthread_mutex_init(&vsl_fd_lock, NULL);
	pthread_mutex_init(&vsl_proc_lock, NULL);
}

__attribute__((constructor)) static void
vsl_init(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}
