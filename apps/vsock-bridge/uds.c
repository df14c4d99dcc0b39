/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-bridge: the Unix side, as Firecracker's hybrid vsock does it.
 *
 * Host to guest: a program connects to the --uds socket and writes
 * "CONNECT <port>\n"; we open a vsock connection to <guest CID, port> and
 * answer "OK <local port>\n", then bytes flow both ways. Bytes it wrote
 * after the newline stay in the socket until the connection is up, so
 * none are lost. A malformed line, or a refused connection, closes it.
 *
 * Guest to host: a guest connecting to CID 2 port P meets the all-ports
 * listener, whose on_request connects to "<uds>_P"; nobody listening there
 * refuses the REQUEST (the guest sees ECONNRESET).
 *
 * Flow control: nothing is read from a Unix socket while vsock_send()
 * refuses (on_writable resumes), and credit goes back to the guest only
 * for bytes written to the Unix socket, so a slow reader throttles its
 * guest and nobody else. Per connection we hold at most one refused read
 * and what the guest's credit let it send.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_mbuf.h>

#include "bridge.h"

/* "CONNECT 4294967294\n" and then some: Firecracker's limit. */
#define BR_LINE_MAX 32
#define BR_EVENTS 64
#define BR_IOV_MAX 64
/* Reads of one socket per event: others get their turn. */
#define BR_READS_PER_EVENT 4
#define BR_ACCEPTS_PER_EVENT 16
/* Bridged connections per guest (each holds a file descriptor). */
#define BR_MAX_CONNS 4096
#define BR_LISTEN_BACKLOG 128

/* What an epoll event points to: a listening socket or a connection. */
struct br_ev {
	enum { BR_EV_LISTENER, BR_EV_CONN } kind;
};

enum br_conn_state {
	BR_C_LINE,		/* reading "CONNECT <port>\n" */
	BR_C_CONNECTING,	/* vsock_connect() under way */
	BR_C_OPEN,
};

struct br_conn {
	struct br_ev ev;
	TAILQ_ENTRY(br_conn) link;
	struct br_uds *u;
	struct vsock_conn *vc;	/* NULL once the vsock side is gone */
	int fd;
	enum br_conn_state state;
	uint32_t events;	/* what epoll watches; 0: not registered */
	bool rd_eof;		/* the Unix side sent its last byte */
	bool shut_sent;		/* vsock_shutdown(SEND) done */
	bool up_closed;		/* the guest will not take more bytes */
	bool down_eof;		/* the guest sent its last byte */
	bool wr_shut;		/* SHUT_WR done: the reader saw EOF */
	bool broken;		/* Unix socket error: abandon both ways */
	struct rte_mbuf *up;	/* read, refused by vsock_send() for now */
	/* Guest to Unix: segments linked by next, q_off of q_head sent. */
	struct rte_mbuf *q_head;
	struct rte_mbuf *q_tail;
	uint32_t q_off;
	char pre[BR_LINE_MAX];	/* "OK <port>\n", written before the data */
	uint8_t pre_len;
	uint8_t pre_off;
	char line[BR_LINE_MAX];
	uint8_t line_len;
};

TAILQ_HEAD(br_conn_list, br_conn);

/* The host side all guests share: one epoll set, one pool. */
struct br_unix {
	int epfd;
	struct rte_mempool *pool;
	uint32_t room;		/* data bytes of one pool mbuf */
};

struct br_uds {
	struct br_ev ev;	/* the --uds listening socket */
	struct br_unix *x;
	struct br_guest *g;
	int lfd;
	/* Connected by on_request, waiting for the on_accept that follows. */
	int pend_fd;
	uint32_t pend_port;
	uint64_t pend_cid;
	uint32_t pend_rport;
	struct br_conn_list conns;
	struct br_uds_stats st;
};


static const struct vsock_ops br_uds_ops;

/* ---- connections ---- */

/* Watch @events on @c's socket (0: not at all). */
static int
br_epoll_set(struct br_conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = &c->ev };
	int op;

	if (events == c->events)
		return 0;
	op = c->events == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL :
		EPOLL_CTL_MOD;
	if (epoll_ctl(c->u->x->epfd, op, c->fd, &ev) != 0) {
		BR_LOG(ERR, "epoll_ctl on fd %d: %s", c->fd, strerror(errno));
		c->u->st.sock_errors++;
		return -errno;
	}
	c->events = events;
	return 0;
}

static struct br_conn *
br_conn_new(struct br_uds *u, int fd, enum br_conn_state state)
{
	struct br_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->ev.kind = BR_EV_CONN;
	c->u = u;
	c->fd = fd;
	c->state = state;
	TAILQ_INSERT_TAIL(&u->conns, c, link);
	u->st.open++;
	return c;
}

/* The read vsock_send() refused can no longer go anywhere. */
static void
br_up_drop(struct br_conn *c)
{
	if (c->up == NULL)
		return;
	c->u->st.lost_bytes += c->up->pkt_len;
	rte_pktmbuf_free(c->up);
	c->up = NULL;
}

static void
br_queue_free(struct br_conn *c)
{
	struct rte_mbuf *m = c->q_head;
	uint32_t lost = 0;

	while (m != NULL) {
		struct rte_mbuf *next = m->next;

		lost += m->data_len;
		rte_pktmbuf_free_seg(m);
		m = next;
	}
	c->u->st.lost_bytes += lost - RTE_MIN(lost, c->q_off);
	c->q_head = c->q_tail = NULL;
	c->q_off = 0;
	br_up_drop(c);
}

/* The end of a connection: the vsock side is closed, the fd too. */
static void
br_conn_free(struct br_conn *c)
{
	struct br_uds *u = c->u;

	if (c->vc != NULL) {
		/* A broken socket lost data: the guest must hear RST. */
		if (c->broken)
			vsock_abort(c->vc);
		else
			vsock_close(c->vc);
		c->vc = NULL;
	}
	br_epoll_set(c, 0);
	close(c->fd);
	br_queue_free(c);
	TAILQ_REMOVE(&u->conns, c, link);
	u->st.open--;
	free(c);
}

/* ---- guest to Unix ---- */

/* Drop the first @n written bytes of the queue; credit goes back for them. */
static void
br_down_advance(struct br_conn *c, size_t n)
{
	uint32_t data = 0;

	if (c->pre_off < c->pre_len) {
		size_t k = RTE_MIN(n, (size_t)(c->pre_len - c->pre_off));

		c->pre_off += k;
		n -= k;
	}
	while (c->q_head != NULL) {
		struct rte_mbuf *m = c->q_head;
		uint32_t left = m->data_len - c->q_off;

		if (n < left) {
			c->q_off += n;
			data += n;
			break;
		}
		n -= left;
		data += left;
		c->q_head = m->next;
		c->q_off = 0;
		rte_pktmbuf_free_seg(m);
	}
	if (c->q_head == NULL)
		c->q_tail = NULL;
	c->u->st.bytes_g2h += data;
	if (c->vc != NULL && data > 0)
		vsock_consumed(c->vc, data);
}

static void
br_down_flush(struct br_conn *c)
{
	while (!c->broken && (c->pre_off < c->pre_len || c->q_head != NULL)) {
		struct iovec iov[BR_IOV_MAX];
		struct msghdr mh = { .msg_iov = iov };
		struct rte_mbuf *m;
		uint32_t off = c->q_off;
		size_t k = 0;
		ssize_t w;

		if (c->pre_off < c->pre_len) {
			iov[k].iov_base = c->pre + c->pre_off;
			iov[k++].iov_len = c->pre_len - c->pre_off;
		}
		for (m = c->q_head; m != NULL && k < BR_IOV_MAX; m = m->next) {
			iov[k].iov_base = rte_pktmbuf_mtod_offset(m, void *,
					off);
			iov[k++].iov_len = m->data_len - off;
			off = 0;
		}
		mh.msg_iovlen = k;
		w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				c->u->st.sock_errors++;
				c->broken = true;
			}
			return;
		}
		br_down_advance(c, (size_t)w);
	}
}

/*
 * Queue @m for the socket. A small piece is copied into the room behind
 * the last queued one, so a guest sending tiny packets pins few mbufs.
 */
static void
br_down_queue(struct br_conn *c, struct rte_mbuf *m)
{
	struct rte_mbuf *t = c->q_tail;

	if (t != NULL && RTE_MBUF_DIRECT(t) && rte_mbuf_refcnt_read(t) == 1 &&
			m->pkt_len <= rte_pktmbuf_tailroom(t)) {
		uint8_t *dst = rte_pktmbuf_mtod_offset(t, uint8_t *,
				t->data_len);
		const void *src = rte_pktmbuf_read(m, 0, m->pkt_len, dst);

		if (src != dst)
			memcpy(dst, src, m->pkt_len);
		t->data_len += (uint16_t)m->pkt_len;
		rte_pktmbuf_free(m);
		return;
	}
	/* From here on segments, not packets: only data_len counts. */
	if (t != NULL)
		t->next = m;
	else
		c->q_head = m;
	c->q_tail = rte_pktmbuf_lastseg(m);
}

/* ---- Unix to guest ---- */

static void
br_up_send(struct br_conn *c, struct rte_mbuf *m)
{
	int r = vsock_send(c->vc, m, 0);

	if (r == 0)
		return;
	if (r == -ENOBUFS) {
		c->up = m;	/* on_writable sends it */
		c->u->st.send_stalls++;
		return;
	}
	/* Our send side is shut or the connection is closing. */
	c->u->st.lost_bytes += m->pkt_len;
	rte_pktmbuf_free(m);
	c->up_closed = true;
}

static void
br_up_read(struct br_conn *c)
{
	int budget = BR_READS_PER_EVENT;

	while (budget-- > 0 && c->up == NULL && !c->rd_eof && !c->up_closed &&
			c->vc != NULL && !c->broken) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(c->u->x->pool);
		ssize_t r;

		if (m == NULL) {
			/* epoll reports the socket again next time. */
			c->u->st.nombuf++;
			return;
		}
		r = read(c->fd, rte_pktmbuf_mtod(m, void *), c->u->x->room);
		if (r <= 0) {
			rte_pktmbuf_free(m);
			if (r == 0) {
				c->rd_eof = true;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
					errno != EINTR) {
				c->u->st.sock_errors++;
				c->broken = true;
			}
			return;
		}
		m->data_len = (uint16_t)r;
		m->pkt_len = (uint32_t)r;
		c->u->st.bytes_h2g += (uint64_t)r;
		br_up_send(c, m);
	}
}

/*
 * Every entry point ends here: shut down what is finished, free the
 * connection when both directions are, else watch what it waits for.
 */
static void
br_conn_update(struct br_conn *c)
{
	bool up_done, down_done;
	uint32_t events = 0;

	if (c->state != BR_C_OPEN) {
		/* Connecting: what follows the line waits in the socket. */
		if (br_epoll_set(c, c->state == BR_C_LINE ? EPOLLIN : 0) != 0)
			br_conn_free(c);
		return;
	}
	if (c->broken || c->vc == NULL || c->up_closed)
		br_up_drop(c);	/* nothing more can reach the guest */
	if (c->rd_eof && c->up == NULL && c->vc != NULL && !c->shut_sent &&
			!c->up_closed) {
		/* After what is queued, like a TCP FIN. */
		vsock_shutdown(c->vc, VSOCK_SHUTDOWN_SEND);
		c->shut_sent = true;
	}
	up_done = c->broken || c->vc == NULL || c->up_closed ||
		(c->rd_eof && c->up == NULL);
	down_done = c->broken || ((c->down_eof || c->vc == NULL) &&
		c->pre_off == c->pre_len && c->q_head == NULL);
	if (up_done && down_done) {
		br_conn_free(c);
		return;
	}
	if (down_done && !c->wr_shut) {
		shutdown(c->fd, SHUT_WR);	/* the reader sees EOF */
		c->wr_shut = true;
	}
	if (!up_done && c->up == NULL)
		events |= EPOLLIN;
	if (c->pre_off < c->pre_len || c->q_head != NULL)
		events |= EPOLLOUT;
	if (br_epoll_set(c, events) != 0)
		br_conn_free(c);
}

/* ---- vsock callbacks of bridged connections ---- */

static void
br_on_connect(struct vsock_conn *vc, int err, void *ctx)
{
	struct br_conn *c = ctx;
	struct vsock_conn_info info;

	if (err != 0) {
		c->vc = NULL;
		c->u->st.h2g_refused++;
		BR_LOG(DEBUG, "guest %" PRIu64 " refused a connection: %s",
			c->u->g->vm->cid, strerror(-err));
		br_conn_free(c);
		return;
	}
	vsock_conn_info(vc, &info);
	c->state = BR_C_OPEN;
	c->pre_len = (uint8_t)snprintf(c->pre, sizeof(c->pre), "OK %u\n",
			info.local_port);
	c->u->st.h2g_connected++;
	br_down_flush(c);
	br_conn_update(c);
}

static void
br_on_data(struct vsock_conn *vc, struct rte_mbuf *m, void *ctx)
{
	struct br_conn *c = ctx;

	RTE_SET_USED(vc);
	br_down_queue(c, m);
	br_down_flush(c);
	br_conn_update(c);
}

static void
br_on_writable(struct vsock_conn *vc, void *ctx)
{
	struct br_conn *c = ctx;
	struct rte_mbuf *m = c->up;

	RTE_SET_USED(vc);
	if (m == NULL)
		return;
	c->up = NULL;
	br_up_send(c, m);
	br_conn_update(c);
}

static void
br_on_shutdown(struct vsock_conn *vc, unsigned int how, void *ctx)
{
	struct br_conn *c = ctx;

	RTE_SET_USED(vc);
	if (how & VSOCK_SHUTDOWN_SEND)
		c->down_eof = true;
	if (how & VSOCK_SHUTDOWN_RCV)
		c->up_closed = true;
	br_conn_update(c);
}

static void
br_on_reset(struct vsock_conn *vc, enum vsock_reset_reason why, void *ctx)
{
	struct br_conn *c = ctx;

	RTE_SET_USED(vc);
	c->vc = NULL;	/* gone when we return */
	c->u->st.resets++;
	BR_LOG(DEBUG, "guest %" PRIu64 " connection reset (reason %d)",
		c->u->g->vm->cid, (int)why);
	/* What the guest sent before the reset still reaches the reader. */
	br_down_flush(c);
	br_conn_update(c);
}

/* ---- guest to host: the all-ports listener ---- */

static void
br_pend_drop(struct br_uds *u)
{
	if (u->pend_fd < 0)
		return;
	close(u->pend_fd);
	u->pend_fd = -1;
	u->st.g2h_unclaimed++;
}

static int
br_on_request(uint32_t local_port, uint64_t remote_cid, uint32_t remote_port,
		void *ctx)
{
	struct br_uds *u = ctx;
	char path[BR_PATH_MAX + BR_PORT_SUFFIX_MAX + 1];
	struct sockaddr_un sa;
	int fd, err;

	br_pend_drop(u);
	if (u->st.open >= BR_MAX_CONNS) {
		u->st.conn_limit++;
		return -ECONNREFUSED;
	}
	snprintf(path, sizeof(path), "%s_%u", u->g->vm->uds_path, local_port);
	if (br_sockaddr(&sa, path) != 0) {
		u->st.g2h_refused++;
		return -ECONNREFUSED;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		u->st.sock_errors++;
		return -ECONNREFUSED;
	}
	/* A Unix connect is done at once, or refused; never in progress. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		err = errno;
		close(fd);
		if (err == EAGAIN)
			u->st.g2h_backlog++;
		else
			u->st.g2h_refused++;
		BR_LOG(DEBUG, "guest %" PRIu64 " port %u: %s: %s",
			u->g->vm->cid, local_port, path, strerror(err));
		return -ECONNREFUSED;
	}
	u->pend_fd = fd;
	u->pend_port = local_port;
	u->pend_cid = remote_cid;
	u->pend_rport = remote_port;
	return 0;
}

static void
br_on_accept(struct vsock_conn *vc, void *ctx)
{
	struct br_uds *u = ctx;
	struct vsock_conn_info info;
	struct br_conn *c;

	vsock_conn_info(vc, &info);
	if (u->pend_fd < 0 || u->pend_port != info.local_port ||
			u->pend_cid != info.remote_cid ||
			u->pend_rport != info.remote_port) {
		/* Cannot happen: on_request precedes every on_accept. */
		br_pend_drop(u);
		vsock_close(vc);
		return;
	}
	c = br_conn_new(u, u->pend_fd, BR_C_OPEN);
	if (c == NULL) {
		br_pend_drop(u);
		vsock_close(vc);
		return;
	}
	u->pend_fd = -1;
	c->vc = vc;
	vsock_conn_set_ctx(vc, c);
	u->st.g2h_accepted++;
	br_conn_update(c);
}

static const struct vsock_ops br_uds_ops = {
	.on_request = br_on_request,
	.on_accept = br_on_accept,
	.on_connect = br_on_connect,
	.on_data = br_on_data,
	.on_writable = br_on_writable,
	.on_shutdown = br_on_shutdown,
	.on_reset = br_on_reset,
};

void
br_uds_after_poll(struct br_guest *g)
{
	/* A socket on_request connected, but the stack refused the REQUEST. */
	br_pend_drop(g->uds);
}

/* ---- host to guest: the --uds socket ---- */

/* "CONNECT <port>": the keyword in any case, as Firecracker reads it. */
static int
br_parse_connect(const char *line, size_t len, uint32_t *port)
{
	static const char kw[] = "CONNECT ";
	uint64_t v = 0;
	size_t i;

	if (len <= sizeof(kw) - 1 || len > sizeof(kw) - 1 + 10 ||
			strncasecmp(line, kw, sizeof(kw) - 1) != 0)
		return -EINVAL;
	for (i = sizeof(kw) - 1; i < len; i++) {
		if (line[i] < '0' || line[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(line[i] - '0');
	}
	if (v >= VSOCK_PORT_ANY)
		return -EINVAL;
	*port = (uint32_t)v;
	return 0;
}

/* Read the CONNECT line, and not one byte beyond its newline. */
static void
br_line_read(struct br_conn *c)
{
	struct br_uds *u = c->u;
	size_t room = BR_LINE_MAX - c->line_len, take;
	char *at = c->line + c->line_len;
	uint32_t port;
	ssize_t r;
	char *nl;
	int err;

	r = recv(c->fd, at, room, MSG_PEEK);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
			errno == EINTR))
		return;
	if (r <= 0) {
		br_conn_free(c);	/* gone before saying where to */
		return;
	}
	nl = memchr(at, '\n', (size_t)r);
	take = nl != NULL ? (size_t)(nl - at) + 1 : (size_t)r;
	if (recv(c->fd, at, take, 0) != (ssize_t)take) {
		u->st.sock_errors++;
		br_conn_free(c);
		return;
	}
	c->line_len += (uint8_t)take;
	if (nl == NULL) {
		if (c->line_len == BR_LINE_MAX) {
			u->st.h2g_bad_line++;
			br_conn_free(c);
		}
		return;
	}
	if (br_parse_connect(c->line, c->line_len - 1, &port) != 0) {
		u->st.h2g_bad_line++;
		BR_LOG(DEBUG, "%s: bad CONNECT line", u->g->vm->uds_path);
		br_conn_free(c);
		return;
	}
	err = vsock_connect(u->g->stack, u->g->vm->cid, port, VSOCK_TYPE_STREAM,
			&br_uds_ops, c, &c->vc);
	if (err != 0) {
		u->st.h2g_refused++;
		BR_LOG(INFO, "connect to guest %" PRIu64 " port %u: %s",
			u->g->vm->cid, port, strerror(-err));
		c->vc = NULL;
		br_conn_free(c);
		return;
	}
	c->state = BR_C_CONNECTING;
	br_conn_update(c);
}

static void
br_accept(struct br_uds *u)
{
	int i;

	for (i = 0; i < BR_ACCEPTS_PER_EVENT; i++) {
		int fd = accept4(u->lfd, NULL, NULL,
				SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct br_conn *c;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
					errno != EINTR)
				u->st.sock_errors++;
			return;
		}
		if (u->st.open >= BR_MAX_CONNS ||
				(c = br_conn_new(u, fd, BR_C_LINE)) == NULL) {
			u->st.conn_limit++;
			close(fd);
			continue;
		}
		u->st.h2g_accepted++;
		br_conn_update(c);
	}
}

static void
br_conn_event(struct br_conn *c, uint32_t ev)
{
	if (c->state == BR_C_LINE) {
		br_line_read(c);
		return;
	}
	if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		br_down_flush(c);
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		br_up_read(c);
	br_conn_update(c);
}

unsigned int
br_uds_poll(struct br_unix *x, int timeout_ms)
{
	struct epoll_event evs[BR_EVENTS];
	int n, i;

	n = epoll_wait(x->epfd, evs, BR_EVENTS, timeout_ms);
	for (i = 0; i < n; i++) {
		struct br_ev *e = evs[i].data.ptr;

		/* Handling one socket never frees another: safe to go on. */
		if (e->kind == BR_EV_LISTENER)
			br_accept(container_of(e, struct br_uds, ev));
		else
			br_conn_event(container_of(e, struct br_conn, ev),
				evs[i].events);
	}
	return n > 0 ? (unsigned int)n : 0;
}

/* ---- set-up and tear-down ---- */

struct br_unix *
br_uds_init(struct rte_mempool *pool)
{
	struct br_unix *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	x->pool = pool;
	x->room = rte_pktmbuf_data_room_size(pool) - RTE_PKTMBUF_HEADROOM;
	x->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (x->epfd < 0) {
		free(x);
		return NULL;
	}
	return x;
}

int
br_uds_open(struct br_unix *x, struct br_guest *g)
{
	struct vsock_listen_conf lc = {
		.port = VSOCK_PORT_ANY,
		.type = VSOCK_TYPE_STREAM,
		.all_ports = true,
	};
	struct epoll_event ev = { .events = EPOLLIN };
	struct br_uds *u;
	int r;

	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return -ENOMEM;
	u->ev.kind = BR_EV_LISTENER;
	u->x = x;
	u->g = g;
	u->lfd = -1;
	u->pend_fd = -1;
	TAILQ_INIT(&u->conns);
	g->uds = u;
	r = br_sock_listen(g->vm->uds_path, BR_LISTEN_BACKLOG);
	if (r < 0)
		return r;
	u->lfd = r;
	ev.data.ptr = &u->ev;
	if (epoll_ctl(x->epfd, EPOLL_CTL_ADD, u->lfd, &ev) != 0)
		return -errno;
	r = vsock_listen_ex(g->stack, &lc, &br_uds_ops, u, NULL);
	if (r != 0)
		BR_LOG(ERR, "guest %" PRIu64 ": cannot listen on every port: "
			"%s", g->vm->cid, strerror(-r));
	return r;
}

const struct br_uds_stats *
br_uds_stats(const struct br_guest *g)
{
	return &g->uds->st;
}

/* Close every socket; the stack is destroyed right after, without polls. */
void
br_uds_close(struct br_guest *g)
{
	struct br_uds *u = g->uds;
	struct br_conn *c;

	if (u == NULL)
		return;
	while ((c = TAILQ_FIRST(&u->conns)) != NULL)
		br_conn_free(c);
	br_pend_drop(u);
	/* The socket file is ours from the moment we listen on it. */
	if (u->lfd >= 0) {
		close(u->lfd);
		unlink(g->vm->uds_path);
	}
	free(u);
	g->uds = NULL;
}

void
br_uds_fini(struct br_unix *x)
{
	if (x == NULL)
		return;
	close(x->epfd);
	free(x);
}
