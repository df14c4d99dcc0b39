/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The echo service of the apps (vsock-bridge --echo-port, vsock-testpmd's
 * echo and verify servers, the vsock-perf server's echo test): every byte,
 * or every whole SEQPACKET message, goes back on the connection it came
 * from. Zero copy: the mbuf on_data hands over is the one sent back.
 *
 * The stack keeps what the send buffer cannot take yet
 * (vsock_send_backlog()), and gives the peer its credit back only as its
 * bytes are taken for sending: a peer that does not read its echo
 * throttles itself and nobody else.
 */
#ifndef APP_ECHO_H
#define APP_ECHO_H

#include <stdbool.h>
#include <stdint.h>

#include <vsock_stack.h>

struct rte_mbuf;

/* One connection's echo. */
struct app_echo {
	struct vsock_conn *vc;
	enum vsock_type type;
	struct rte_mbuf *msg;	/* SEQPACKET: the message being gathered */
};

/* What an echo service did, over all its connections. */
struct app_echo_stats {
	uint64_t bytes;		/* bytes echoed (taken by the stack) */
	uint64_t msgs;		/* SEQPACKET messages echoed */
	/* Messages too long to send back whole, sends refused. */
	uint64_t errors;
};

/* Start echoing on @vc (from on_accept). */
void app_echo_init(struct app_echo *e, struct vsock_conn *vc);

/*
 * Send @m (from on_data) back, or gather it into the message it ends.
 * Returns 0, or a negative errno when the connection cannot go on (a
 * message over VSOCK_MAX_SEGS pieces that do not merge, a send refused):
 * @m is freed, the error counted, and the caller closes the connection.
 */
int app_echo_data(struct app_echo *e, struct rte_mbuf *m,
		struct app_echo_stats *st);

/*
 * The peer shut down (either way: it sends no more, or will not read the
 * echo). A message it cut short is dropped, and counted as an error. The
 * caller then closes the connection: vsock_close() still sends what the
 * stack holds for it.
 */
void app_echo_shutdown(struct app_echo *e, struct app_echo_stats *st);

/* Free what the echo holds (on reset or close). */
void app_echo_release(struct app_echo *e);

#endif /* APP_ECHO_H */
