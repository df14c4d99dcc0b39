/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-bridge: --echo-port, a test service in the bridge's own stack. It
 * listens on CID 2 port P for STREAM and P+1 for SEQPACKET (one listener
 * per port) and sends every byte, or every whole message, back, through
 * the apps' echo service (apps/common/app_echo.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/queue.h>

#include <rte_common.h>

#include "../common/app_echo.h"
#include "bridge.h"

struct br_echo_conn {
	TAILQ_ENTRY(br_echo_conn) link;
	struct br_echo *e;
	struct app_echo echo;
};

struct br_echo {
	struct br_guest *g;
	TAILQ_HEAD(, br_echo_conn) conns;
	struct br_echo_stats st;
	struct app_echo_stats est;
};

static void
br_echo_free(struct br_echo_conn *ec)
{
	app_echo_release(&ec->echo);
	TAILQ_REMOVE(&ec->e->conns, ec, link);
	free(ec);
}

/* Closing still sends what the stack holds; no callback follows. */
static void
br_echo_close(struct br_echo_conn *ec)
{
	vsock_close(ec->echo.vc);
	br_echo_free(ec);
}

static void
br_echo_on_data(struct vsock_conn *vc, struct rte_mbuf *m, void *ctx)
{
	struct br_echo_conn *ec = ctx;

	RTE_SET_USED(vc);
	if (app_echo_data(&ec->echo, m, &ec->e->est) != 0)
		br_echo_close(ec);
}

static void
br_echo_on_shutdown(struct vsock_conn *vc, unsigned int how, void *ctx)
{
	struct br_echo_conn *ec = ctx;

	RTE_SET_USED(vc);
	RTE_SET_USED(how);
	app_echo_shutdown(&ec->echo, &ec->e->est);
	br_echo_close(ec);
}

static void
br_echo_on_reset(struct vsock_conn *vc, enum vsock_reset_reason why,
		void *ctx)
{
	RTE_SET_USED(vc);
	RTE_SET_USED(why);
	br_echo_free(ctx);
}

static void
br_echo_on_accept(struct vsock_conn *vc, void *ctx)
{
	struct br_echo *e = ctx;
	struct br_echo_conn *ec = calloc(1, sizeof(*ec));

	if (ec == NULL) {
		e->est.errors++;
		vsock_close(vc);
		return;
	}
	ec->e = e;
	app_echo_init(&ec->echo, vc);
	TAILQ_INSERT_TAIL(&e->conns, ec, link);
	vsock_conn_set_ctx(vc, ec);
	e->st.conns++;
}

static const struct vsock_ops br_echo_ops = {
	.on_accept = br_echo_on_accept,
	.on_data = br_echo_on_data,
	.on_shutdown = br_echo_on_shutdown,
	.on_reset = br_echo_on_reset,
};

int
br_echo_start(struct br_guest *g, uint32_t port)
{
	struct br_echo *e;
	int r;

	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->g = g;
	TAILQ_INIT(&e->conns);
	g->echo = e;
	r = vsock_listen(g->stack, port, VSOCK_TYPE_STREAM, &br_echo_ops, e);
	if (r == 0)
		r = vsock_listen(g->stack, port + 1, VSOCK_TYPE_SEQPACKET,
				&br_echo_ops, e);
	return r;
}

const struct br_echo_stats *
br_echo_stats(const struct br_guest *g)
{
	struct br_echo *e = g->echo;

	if (e == NULL)
		return NULL;
	e->st.bytes = e->est.bytes;
	e->st.msgs = e->est.msgs;
	e->st.errors = e->est.errors;
	return &e->st;
}

void
br_echo_stop(struct br_guest *g)
{
	struct br_echo *e = g->echo;
	struct br_echo_conn *ec;

	if (e == NULL)
		return;
	while ((ec = TAILQ_FIRST(&e->conns)) != NULL)
		br_echo_close(ec);
	free(e);
	g->echo = NULL;
}
