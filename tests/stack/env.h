/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One stack on a scripted port, with a peer at <2, RPORT> and our
 * listener on LPORT: what the protocol tests (test_flow.c) and the API
 * tests (test_api.c) build on.
 */
#ifndef VSOCK_TEST_ENV_H
#define VSOCK_TEST_ENV_H

#include <stdint.h>

#include "harness.h"

#define LPORT 1234
#define RPORT 7777

struct env {
	struct fport *fp;
	struct vsock_stack *s;
	struct rec r;
};

/* A stack on a port of CID 3 with @feat (0: STREAM and SEQPACKET). */
void env_open(struct env *e, const struct vsock_stack_conf *conf,
		uint32_t feat);
void env_close(struct env *e);
/* The peer (CID 2, RPORT) connects to our listener; returns our conn. */
struct vsock_conn *accept_one(struct env *e, uint16_t type,
		uint32_t peer_buf, const struct vsock_ops *ops);
/* The peer sends @op with these credit fields and payload. */
void inject_op(struct env *e, uint16_t type, uint16_t op, uint32_t flags,
		uint32_t fwd_cnt, uint32_t buf, const void *data, uint32_t len);
/* Sum of RW payload the stack sent, checking each byte against @want. */
uint32_t take_rw(struct env *e, const uint8_t *want, uint32_t *pkts,
		uint16_t *last_op);
/* An mbuf of the harness pool holding a copy of @data. */
struct rte_mbuf *mbuf_of(const uint8_t *data, uint32_t len);

#endif /* VSOCK_TEST_ENV_H */
