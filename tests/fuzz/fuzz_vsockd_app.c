/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsockd's input from an application (vsl_proto.h): requests on its
 * control socket and whatever it writes into its shared segment. The
 * daemon's own app.c, sock.c and data.c run here over one stack on a fake
 * port; this file stands in for main.c (the daemon's state and its loop)
 * and plays both the application and the peer of its connections.
 *
 * The input's first byte sets the application's credentials (bit 0: root
 * or not) and how its requests reach the daemon (bit 1): through the
 * control socket (sendmsg, vd_ctl_poll()'s recvmsg), or handed in-process
 * to vd_app_request(), what vd_ctl_poll() calls with each message it
 * reads, which answers on the socket all the same. A system call costs
 * some 2 us on this VM, most of a run through the socket; the socket's
 * own parsing (descriptors, short, long and empty messages) is what the
 * runs through it are for. The rest is a sequence of commands:
 *  - a request (either way): any op, slot, type, CID, port, argument and
 *    value, short or long, with the file descriptors the op wants, none,
 *    one that is no eventfd, or two;
 *  - segment writes as an application would make them: bytes (or SEQPACKET
 *    records, well-formed or not) into a slot's tx ring and tx_head moved
 *    on, rx_tail moved (by what is there, by anything), doorbells pushed
 *    (any slot index) or db_head set, sleep_seq bumped, or four bytes
 *    anywhere in the segment (headers and daemon fields included);
 *  - a packet from the peer to a slot's connection or listener (REQUEST,
 *    RESPONSE, RW with the input's payload, SHUTDOWN, RST, credit);
 *  - a round of the daemon's loop, time passing (the stack's timers), the
 *    application hanging up.
 *
 * Every run attaches a new application (a socket pair, as the listening
 * socket's accept would give; in-process one made once, since nothing
 * goes through it) to a daemon set up once, and ends with the
 * application gone, the daemon's stop path (vd_app_free_all()) and the
 * stack flushed. Findings: a crash, a sanitizer report, or anything still
 * out after that: an application, a socket, a bound port, a listener, a
 * connection, an mbuf, a file descriptor.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_mbuf.h>

#include <vsock_stack.h>

#include "vsockd.h"
#include "vsock_private.h"
#include "fuzz_common.h"
#include "fuzz_vsockd_sys.h"

#define FZ_CID FZ_PORT_CID
#define FZ_PEER_CID VSOCK_CID_HOST
#define FZ_SLOTS 8u
#define FZ_RING 4096u
#define FZ_ROOM 2048
#define FZ_CONNS 16
#define FZ_CMDS_MAX 256
/* Requests a run sends: past VD_MAX_BAD_REQUESTS, not much further. */
#define FZ_REQS_MAX 80
#define FZ_FDS_MAX 2
#define FZ_FDS_SCAN 128
/* Replies left unread at most (the socket holds some 200). */
#define FZ_UNREAD_MAX 64

/* What main.c defines: the daemon and its log type. */
struct vd_daemon vd = { .lfd = -1, .epfd = -1 };
RTE_LOG_REGISTER(vd_logtype, vsock.vsockd, INFO);

/* A request the daemon is handed in-process, in order. */
struct fz_req {
	uint8_t raw[sizeof(struct vsl_req) + 8];
	uint8_t len;
	uint8_t nfds;
	int fds[FZ_FDS_MAX];	/* the harness's: each handed as a copy */
};

struct fz {
	int app_fd;		/* the application's end; -1 once it hung up */
	/*
	 * Requests go in-process (the input's first byte says): handed to
	 * vd_app_request() where vd_ctl_poll() would read them, in order,
	 * VD_RPC_BURST a round, and the hang-up after them; else through
	 * the socket.
	 */
	bool direct;
	unsigned int q_head, q_len;
	struct fz_req q[FZ_REQS_MAX + 1];
	/*
	 * In-process, the daemon's end is pair[0], made once: its replies
	 * on it are taken (fuzz_vsockd_sys.c).
	 */
	int pair[2];
	/* Messages (and the hang-up) the daemon has still to read. */
	unsigned int ctl_pending;
	unsigned int unread;	/* requests sent since replies were read */
	pid_t pid;		/* the application's, ours */
	int efd;		/* the eventfd it sends with SOCKET, ACCEPT */
	int notfd;		/* a descriptor that is no eventfd */
	int fd_mark;		/* lowest free descriptor after set-up */
	uint64_t fds_open[FZ_FDS_SCAN / 64];	/* libFuzzer's, above fd_mark */
	struct fz_port port;	/* the peer is played here too */
};

static struct fz fz = { .app_fd = -1 };

/* ---- the daemon ---- */

/* main.c's vd_setup(), small: 8 slots of 4 KiB rings, 16 connections. */
static void
daemon_setup(void)
{
	struct rte_hash_parameters hp = {
		.name = "fz_ports",
		.entries = 64,
		.key_len = sizeof(uint32_t),
		.hash_func = rte_jhash,
		.socket_id = SOCKET_ID_ANY,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	struct vsock_stack_conf sc = {
		.pool = fz_pool(),
		.max_conns = FZ_CONNS,
		.socket_id = SOCKET_ID_ANY,
	};

	TAILQ_INIT(&vd.apps);
	TAILQ_INIT(&vd.dirty);
	TAILQ_INIT(&vd.work);
	TAILQ_INIT(&vd.outq);
	vd.conf.nslots = FZ_SLOTS;
	vd.conf.ring_size = FZ_RING;
	vd.conf.max_conns = FZ_CONNS;
	vd.conf.max_apps = 1;
	vd.next_ephemeral = VSOCK_LAST_RESERVED_PORT + 1;
	vd.pool = fz_pool();
	vd.mbuf_room = FZ_ROOM;
	vd.buf_cap = FZ_RING - 2 * VSL_REC_ALIGN;
	vd.epfd = epoll_create1(EPOLL_CLOEXEC);
	vd.ports = rte_hash_create(&hp);
	sc.buf_alloc = vd.buf_cap;
	sc.buf_max = VD_STREAM_BUF_MAX;
	vd.stack = vsock_stack_create("fzvd", &sc);
	fz_port_init(&fz.port, VSOCK_PORT_F_STREAM | VSOCK_PORT_F_SEQPACKET);
	if (vd_data_init() != 0 || vd.epfd < 0 || vd.ports == NULL ||
			vd.stack == NULL ||
			vsock_stack_attach(vd.stack, &fz.port.port) != 0)
		abort();
	vd.cids[vd.nb_cids++] = FZ_CID;
	vd.local_cid = FZ_CID;
}

/* The application's replies: read, and the descriptors they carry closed. */
static FZ_NO_COVERAGE void
drain_replies(void)
{
	union {
		char buf[CMSG_SPACE(FZ_FDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct vsl_rep rep;
	struct iovec iov = { .iov_base = &rep, .iov_len = sizeof(rep) };
	struct msghdr mh;
	struct cmsghdr *cm;
	int fd;

	while (fz.app_fd >= 0) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		if (recvmsg(fz.app_fd, &mh,
				MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
			return;
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL;
				cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_type != SCM_RIGHTS)
				continue;
			memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
			close(fd);
		}
	}
}

/*
 * The requests handed in-process, as vd_ctl_poll() reads them from the
 * socket: in order, VD_RPC_BURST a round, each with copies of the
 * descriptors it carries (the kernel's SCM_RIGHTS makes copies too).
 * One that tells the application to go drops it, and the rest with it,
 * as vd_ctl_poll() does (at its sweep: the round's poll below).
 */
static FZ_NO_COVERAGE void
ctl_direct(struct vd_app *a)
{
	int fds[FZ_FDS_MAX];
	struct fz_req *r;
	unsigned int i, k;

	for (i = 0; i < VD_RPC_BURST && fz.q_head < fz.q_len; i++) {
		r = &fz.q[fz.q_head++];
		for (k = 0; k < r->nfds; k++) {
			fds[k] = fcntl(r->fds[k], F_DUPFD_CLOEXEC, 0);
			if (fds[k] < 0)
				abort();
		}
		if (!vd_app_request(a, r->raw, r->len, false, fds, r->nfds)) {
			a->dead = true;
			fz.q_head = fz.q_len;
			fz.ctl_pending++;
		}
	}
}

/*
 * One round of main.c's vd_loop(). Its slow part reads the control
 * socket; here only when the application sent something or hung up:
 * with nothing to read it is two syscalls that find nothing. Requests
 * handed in-process come first: the hang-up that follows them is read
 * once they are all handled.
 */
static FZ_NO_COVERAGE void
daemon_round(void)
{
	struct vd_app *a;

	vsock_stack_poll(vd.stack);
	vd_apps_poll();
	a = TAILQ_FIRST(&vd.apps);
	if (fz.q_head < fz.q_len)
		ctl_direct(a);
	/* A detached application is released there too. */
	if (fz.q_head == fz.q_len &&
			(fz.ctl_pending > 0 || (a != NULL && a->gone))) {
		/* It reads VD_RPC_BURST at most: the rest next round. */
		fz.ctl_pending -= RTE_MIN(fz.ctl_pending, VD_RPC_BURST);
		vd_ctl_poll();
	}
	/* Read before the socket fills; hanging up discards the rest. */
	if (fz.unread >= FZ_UNREAD_MAX) {
		fz.unread = 0;
		drain_replies();
	}
	vd_outq_refresh();
	vd_flush();
}

/* The application, while the daemon has its segment mapped. */
static FZ_NO_COVERAGE struct vd_app *
app_seg(void)
{
	struct vd_app *a = TAILQ_FIRST(&vd.apps);

	return a != NULL && a->seg != NULL ? a : NULL;
}

/* ---- requests ---- */

static uint64_t
pick_cid(struct fz_in *in)
{
	static const uint64_t cids[] = { 0xffffffffull, VSOCK_CID_LOCAL,
		VSOCK_CID_HOST, FZ_CID };
	uint8_t b = fz_u8(in);

	return b < 0xf0 ? cids[b % RTE_DIM(cids)] : fz_u32(in);
}

static uint32_t
pick_port(struct fz_in *in)
{
	uint8_t b = fz_u8(in);

	if (b < 0xc0)
		return 1000 + b % 8;
	if (b < 0xe0)
		return VSOCK_PORT_ANY;
	return b < 0xf0 ? b : fz_u32(in);
}

static FZ_NO_COVERAGE void
send_req(const void *q, size_t len, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(FZ_FDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)q, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (nfds > 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	/* A full socket: the daemon reads it at its next round. */
	if (sendmsg(fz.app_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
		fz.ctl_pending++;
		fz.unread++;
	}
}

/*
 * A request for ctl_direct(): what send_req() would have sent, unless
 * the daemon has closed its end (sendmsg() would fail).
 */
static FZ_NO_COVERAGE void
queue_req(const void *q, size_t len, const int *fds, int nfds)
{
	struct vd_app *a = TAILQ_FIRST(&vd.apps);
	struct fz_req *r = &fz.q[fz.q_len];

	if (a == NULL || a->gone)
		return;
	fz.q_len++;
	r->len = (uint8_t)len;
	r->nfds = (uint8_t)nfds;
	if (len > 0)
		memcpy(r->raw, q, len);
	if (nfds > 0)
		memcpy(r->fds, fds, nfds * sizeof(int));
}

/*
 * how: bit 7 any op (else a valid one), bit 6 a length of the input's
 * (else the struct's), bits 4-5 the descriptors (those the op wants, none,
 * a non-eventfd instead, or one more), bit 3 any HELLO version.
 */
static void
cmd_request(struct fz_in *in)
{
	uint8_t how = fz_u8(in), raw[sizeof(struct vsl_req) + 8] = { 0 };
	struct vsl_req q = { 0 };
	int fds[FZ_FDS_MAX], nfds = 0;
	size_t len = sizeof(q);

	q.op = (how & 0x80) ? fz_u32(in) : 1u + fz_u8(in) % (VSL_OP_MAX - 1);
	q.slot = fz_u8(in);
	q.slot = q.slot < 0xf0 ? q.slot % (FZ_SLOTS + 1) : fz_u32(in);
	q.type = fz_u8(in) % 4;
	q.cid = pick_cid(in);
	q.port = pick_port(in);
	q.arg = fz_u16(in);
	if (q.op == VSL_OP_HELLO && !(how & 0x08))
		q.arg = VSL_PROTO_VERSION;
	q.val = (uint64_t)fz_u32(in) << (fz_u8(in) % 40);
	if (how & 0x40)
		len = fz_u8(in) % sizeof(raw);
	if (q.op == VSL_OP_SOCKET || q.op == VSL_OP_ACCEPT)
		fds[nfds++] = fz.efd;
	switch ((how >> 4) & 3) {
	case 1:
		nfds = 0;
		break;
	case 2:
		fds[0] = fz.notfd;
		nfds = 1;
		break;
	case 3:
		fds[nfds++] = fz.notfd;
		break;
	}
	memcpy(raw, &q, sizeof(q));
	if (fz.direct)
		queue_req(raw, len, fds, nfds);
	else
		send_req(raw, len, fds, nfds);
}

/* ---- the segment, as the application writes it ---- */

static FZ_NO_COVERAGE void
ring_put(uint8_t *ring, uint32_t idx, const uint8_t *p, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		ring[(idx + i) & (FZ_RING - 1)] = p[i];
}

/* Push slot @v on the doorbell, as vsl_proto.h says (db_pending first). */
static FZ_NO_COVERAGE void
doorbell(struct vd_app *a, uint32_t v)
{
	uint32_t head = a->hdr->db_head;

	if (v < FZ_SLOTS && __atomic_exchange_n(&a->slots[v].a.db_pending, 1,
			__ATOMIC_SEQ_CST) != 0)
		return;
	a->db[head & (FZ_SLOTS - 1)] = v;
	__atomic_store_n(&a->hdr->db_head, head + 1, __ATOMIC_RELEASE);
}

/*
 * sel: bit 0 a record header first (len and flags of the input's, or
 * honest), bit 1 tx_head anywhere instead, bit 2 no doorbell.
 */
static void
cmd_tx(struct fz_in *in, struct vd_app *a)
{
	uint8_t sel = fz_u8(in), k = fz_u8(in) % FZ_SLOTS;
	struct vsl_slot *sl = &a->slots[k];
	uint8_t *txr = a->rings + (uint64_t)k * 2 * FZ_RING + FZ_RING;
	uint32_t head = sl->a.tx_head, n = fz_u16(in) % (FZ_RING + 1);
	struct vsl_rec rec = { .len = 0 };
	const uint8_t *p;

	if (sel & 1) {
		rec.len = (sel & 8) ? fz_u32(in) : 0;
		rec.flags = (sel & 16) ? fz_u32(in) : VSL_REC_EOR;
	}
	n = (uint32_t)fz_bytes(in, n, &p);
	if (sel & 1) {
		if (!(sel & 8))
			rec.len = n;
		ring_put(txr, head, (const uint8_t *)&rec, sizeof(rec));
		head += sizeof(rec);
	}
	ring_put(txr, head, p, n);
	head += (sel & 1) ? vsl_rec_size(n) - sizeof(rec) : n;
	if (sel & 2)
		head = fz_u32(in);
	__atomic_store_n(&sl->a.tx_head, head, __ATOMIC_RELEASE);
	if (!(sel & 4))
		doorbell(a, k);
}

/* sel: 0 all there is, 1 by the input's count, 2 anywhere; bit 2 no bell. */
static void
cmd_rx(struct fz_in *in, struct vd_app *a)
{
	uint8_t sel = fz_u8(in), k = fz_u8(in) % FZ_SLOTS;
	struct vsl_slot *sl = &a->slots[k];
	uint32_t tail = sl->a.rx_tail;

	switch (sel % 3) {
	case 0:
		tail = __atomic_load_n(&sl->d.rx_head, __ATOMIC_ACQUIRE);
		break;
	case 1:
		tail += fz_u16(in);
		break;
	case 2:
		tail = fz_u32(in);
		break;
	}
	__atomic_store_n(&sl->a.rx_tail, tail, __ATOMIC_RELEASE);
	if (!(sel & 4))
		doorbell(a, k);
}

/* Any doorbell entry, or db_head anywhere; or a sleep; or 4 bytes. */
static void
cmd_scribble(struct fz_in *in, struct vd_app *a)
{
	uint8_t sel = fz_u8(in);
	uint32_t v = fz_u32(in), word;

	switch (sel % 4) {
	case 0:
		doorbell(a, v % (2 * FZ_SLOTS));
		break;
	case 1:
		__atomic_store_n(&a->hdr->db_head, v, __ATOMIC_RELEASE);
		break;
	case 2:
		a->slots[v % FZ_SLOTS].a.sleep_seq++;
		break;
	case 3:
		word = fz_u32(in);
		memcpy(a->seg + ((v % a->seg_size) & ~3ull), &word,
			sizeof(word));
		break;
	}
}

/* ---- the peer ---- */

static FZ_NO_COVERAGE void
inject(const struct vsock_hdr *h, const uint8_t *pay, uint32_t plen)
{
	struct rte_mbuf *m;

	if (fz.port.rx_n == FZ_PORT_RX)
		vsock_stack_poll(vd.stack);
	m = rte_pktmbuf_alloc(fz_pool());
	if (m == NULL)
		return;	/* the daemon holds the pool: the peer waits */
	vsock_hdr_encode((uint8_t *)rte_pktmbuf_append(m, VSOCK_HDR_LEN), h);
	if (plen > 0)
		memcpy(rte_pktmbuf_append(m, (uint16_t)plen), pay, plen);
	if (!fz_port_put(&fz.port, m))
		rte_pktmbuf_free(m);
}

/* The connection of slot @k, or the first one its listener queued. */
static FZ_NO_COVERAGE struct vsock_conn *
conn_of(struct vd_app *a, uint8_t k, bool queued)
{
	struct vd_sock *s = a->socks[k % FZ_SLOTS];

	if (s == NULL)
		return NULL;
	if (queued && s->st == VD_LISTEN)
		s = TAILQ_FIRST(&s->acq);
	return s != NULL ? s->c : NULL;
}

static void
cmd_peer(struct fz_in *in, struct vd_app *a)
{
	static const uint16_t ops[] = { VSOCK_OP_RESPONSE, VSOCK_OP_RW,
		VSOCK_OP_RW, VSOCK_OP_SHUTDOWN, VSOCK_OP_RST,
		VSOCK_OP_CREDIT_UPDATE, VSOCK_OP_CREDIT_REQUEST };
	uint8_t sel = fz_u8(in), k = fz_u8(in);
	struct vsock_hdr h = { .src_cid = FZ_PEER_CID, .dst_cid = FZ_CID };
	struct vd_sock *s = a->socks[k % FZ_SLOTS];
	struct vsock_conn_info ci;
	struct vsock_conn *c;
	const uint8_t *pay = NULL;
	uint32_t plen = 0;

	h.buf_alloc = (sel & 0x80) ? fz_u16(in) : 64 * 1024;
	h.fwd_cnt = (sel & 0x40) ? fz_u32(in) : 0;
	h.flags = fz_u8(in);
	if (sel % 8 == 7) {
		/* A connection request to what slot @k is bound to. */
		h.src_port = 5000 + fz_u8(in);
		h.dst_port = s != NULL ? s->port : 1000;
		h.type = s != NULL ? (uint16_t)s->type : VSOCK_TYPE_STREAM;
		h.op = VSOCK_OP_REQUEST;
		inject(&h, NULL, 0);
		return;
	}
	c = conn_of(a, k, (sel & 0x20) != 0);
	if (c == NULL)
		return;
	vsock_conn_info(c, &ci);
	h.src_cid = ci.remote_cid;
	h.dst_cid = ci.local_cid;
	h.src_port = ci.remote_port;
	h.dst_port = ci.local_port;
	h.type = (uint16_t)ci.type;
	h.op = ops[sel % 8];
	/* A packet fits in one mbuf, header included. */
	if (h.op == VSOCK_OP_RW)
		plen = (uint32_t)fz_bytes(in, fz_u16(in) %
				(FZ_ROOM - VSOCK_HDR_LEN), &pay);
	h.len = plen;
	inject(&h, pay, plen);
}

/* ---- one run ---- */

static FZ_NO_COVERAGE void
app_attach(uint8_t cfg)
{
	struct ucred cr = { .pid = fz.pid };
	struct vd_app *a;
	int sv[2];

	cr.uid = cr.gid = (cfg & 1) ? 0 : 1000;
	fz.direct = (cfg & 2) != 0;
	if (fz.direct) {
		sv[0] = fz.pair[0];
		sv[1] = fz.pair[1];
	} else if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK |
			SOCK_CLOEXEC, 0, sv) != 0) {
		abort();
	}
	fz_sys.app_fd = fz.direct ? sv[0] : -1;
	fz_sys.app_gone = false;
	a = vd_app_attach(sv[0], &cr);
	if (a == NULL)
		abort();
	snprintf(a->comm, sizeof(a->comm), "fuzz");
	fz.app_fd = sv[1];
	fz.ctl_pending = fz.unread = 0;
	fz.q_head = fz.q_len = 0;
}

static FZ_NO_COVERAGE void
app_hang_up(void)
{
	if (fz.app_fd < 0)
		return;
	if (fz.direct) {
		/* What recvmsg() returns after what came before: 0 bytes. */
		queue_req(NULL, 0, NULL, 0);
		fz_sys.app_gone = true;
	} else {
		close(fz.app_fd);
		fz.ctl_pending++;
	}
	fz.app_fd = -1;
}

static FZ_NO_COVERAGE int
lowest_free_fd(void)
{
	int fd = dup(fz.notfd);

	if (fd < 0)
		abort();
	close(fd);
	return fd;
}

/*
 * Descriptors open now above those set up once that were not open after
 * the last run, named on stderr. Descriptors are numbered lowest first
 * and a run holds few at a time, so one it leaked is among the first
 * FZ_FDS_SCAN, which one poll() looks at. libFuzzer's symbolizer pipes
 * come between runs and stay: new pipes (the daemon makes none) join
 * the set instead.
 */
static FZ_NO_COVERAGE unsigned int
fds_leaked(void)
{
	struct pollfd pf[FZ_FDS_SCAN];
	char path[64], what[64];
	unsigned int i, n = 0;
	ssize_t len;

	for (i = 0; i < FZ_FDS_SCAN; i++) {
		pf[i].fd = fz.fd_mark + (int)i;
		pf[i].events = 0;
	}
	if (poll(pf, FZ_FDS_SCAN, 0) < 0)
		abort();
	for (i = 0; i < FZ_FDS_SCAN; i++) {
		uint64_t bit = 1ull << (i % 64);

		if ((pf[i].revents & POLLNVAL) || (fz.fds_open[i / 64] & bit))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", pf[i].fd);
		len = readlink(path, what, sizeof(what) - 1);
		what[len > 0 ? len : 0] = '\0';
		if (strncmp(what, "pipe:", 5) == 0) {
			fz.fds_open[i / 64] |= bit;
			continue;
		}
		n++;
		fprintf(stderr, "open: fd %d %s\n", pf[i].fd, what);
	}
	return n;
}

static FZ_NO_COVERAGE void
leak(const char *what, uint64_t n)
{
	fprintf(stderr, "LEAK: %" PRIu64 " %s left after teardown\n", n,
		what);
	abort();
}

static FZ_NO_COVERAGE void
teardown(void)
{
	struct vsock_stack_stats st;
	unsigned int nfds;
	int i;

	app_hang_up();
	daemon_round();
	/* The daemon stops: what still closes is reset. */
	vd_app_free_all();
	fz_port_flush(&fz.port);
	for (i = 0; i < 3; i++) {
		vsock_stack_poll(vd.stack);
		fz_time_passes(vd.stack);
	}
	vsock_stack_poll(vd.stack);
	vsock_stack_stats_get(vd.stack, &st);
	if (vd.nb_apps != 0 || !TAILQ_EMPTY(&vd.apps))
		leak("applications", vd.nb_apps);
	if (vd.nb_socks != 0)
		leak("sockets", vd.nb_socks);
	if (rte_hash_count(vd.ports) != 0)
		leak("bound ports", (uint64_t)rte_hash_count(vd.ports));
	if (!TAILQ_EMPTY(&vd.dirty) || !TAILQ_EMPTY(&vd.work) ||
			!TAILQ_EMPTY(&vd.outq))
		leak("sockets on the daemon's lists", 1);
	if (rte_hash_count(vd.stack->listeners) != 0)
		leak("listeners",
			(uint64_t)rte_hash_count(vd.stack->listeners));
	if (st.conns_open != 0 || st.ctl_mbufs_in_use != 0)
		leak("connections or control mbufs",
			st.conns_open + st.ctl_mbufs_in_use);
	fz_check_pool(fz_pool(), 0, "daemon pool");
	nfds = fds_leaked();
	if (nfds != 0)
		leak("file descriptors", nfds);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	fz_eal_init((*argv)[0], 2047, FZ_ROOM);
	fz_sys_init();
	daemon_setup();
	fz.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	fz.notfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fz.efd < 0 || fz.notfd < 0 || socketpair(AF_UNIX,
			SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
			fz.pair) != 0)
		abort();
	fz.fd_mark = lowest_free_fd();
	fz.pid = getpid();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { .p = data, .left = size };
	unsigned int ncmd = 0, nreq = 0;
	struct vd_app *a;

	app_attach(fz_u8(&in));
	while (in.left > 0 && ncmd++ < FZ_CMDS_MAX) {
		uint8_t c = fz_u8(&in);

		if (c % 8 == 0) {
			if (fz.app_fd >= 0 && nreq++ < FZ_REQS_MAX)
				cmd_request(&in);
			continue;
		}
		if (c % 8 >= 5) {
			if (c % 8 == 7 && (c & 0x80))
				app_hang_up();
			else if (c % 8 == 6 && (c & 0x80))
				fz_time_passes(vd.stack);
			daemon_round();
			continue;
		}
		a = app_seg();
		if (a == NULL)
			continue;	/* no HELLO yet, or released */
		switch (c % 8) {
		case 1:
			cmd_tx(&in, a);
			break;
		case 2:
			cmd_rx(&in, a);
			break;
		case 3:
			cmd_scribble(&in, a);
			break;
		case 4:
			cmd_peer(&in, a);
			break;
		}
	}
	daemon_round();
	teardown();
	return 0;
}
