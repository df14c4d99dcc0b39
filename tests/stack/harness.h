/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test harness for the stack: EAL start-up, a scripted port that records
 * what the stack sends and feeds it what a peer would, and callbacks that
 * record what the application is told.
 */
#ifndef VSOCK_TEST_HARNESS_H
#define VSOCK_TEST_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_cycles.h>

#include <vsock_stack.h>

struct rte_mempool;

#define FP_RX_MAX 1024
#define FP_TX_MAX 8192

/* A port whose "device" is the test itself. */
struct fport {
	struct vsock_port port;
	uint64_t cid;
	uint32_t features;
	struct rte_mbuf *rx[FP_RX_MAX];
	unsigned int rx_rd, rx_n;
	struct rte_mbuf *tx[FP_TX_MAX];
	unsigned int tx_rd, tx_n;
	int64_t event;		/* pending event id, -1 for none */
	uint32_t inflight;	/* what tx_inflight reports */
};

/* What the application was told, for one connection or listener. */
struct rec {
	int accepts;
	int connects;
	int connect_err;
	int datas;
	int readables;
	int shutdowns;
	unsigned int shut_how;
	int resets;
	enum vsock_reset_reason reset_why;
	int writables;
	struct vsock_conn *conn;	/* last accepted or connected */
	bool consume;			/* hand credit back on receipt */
	uint8_t *data;			/* received bytes, in order */
	uint32_t data_len;
	uint32_t data_cap;
	uint32_t last_flags;
};

extern const struct vsock_ops rec_ops;
extern const struct vsock_ops rec_ops_recv;

/* Start EAL once for the test binary; exits on failure. */
void h_eal_init(const char *prog, bool two_lcores);
struct rte_mempool *h_pool(void);

/* A stack with a unique name and the given tweaks to its conf. */
struct vsock_stack *h_stack(const struct vsock_stack_conf *over);

struct fport *fport_new(uint64_t cid, uint32_t features);
void fport_free(struct fport *fp);
/* Queue a packet for the stack; @h->len is sent as given. */
void fport_inject(struct fport *fp, const struct vsock_hdr *h,
		const void *data, uint32_t data_len);
/* Take the oldest packet the stack sent: -1 when none, else payload bytes. */
int fport_take(struct fport *fp, struct vsock_hdr *h, void *data,
		uint32_t cap);
unsigned int fport_pending(const struct fport *fp);
void fport_drop_all(struct fport *fp);

void rec_init(struct rec *r);
void rec_fini(struct rec *r);

/* Poll @s @n times. */
void h_poll(struct vsock_stack *s, unsigned int n);
/* Poll @s for @ms milliseconds. */
void h_poll_ms(struct vsock_stack *s, unsigned int ms);

/* Seconds H_UNTIL gives a condition: a loaded machine's, not a count's. */
#define H_WAIT_S 10

/*
 * Run @step until @cond holds or H_WAIT_S seconds pass: a device on a
 * worker lcore needs time, not a number of polls, when the machine is
 * busy.
 */
#define H_UNTIL(cond, step) do { \
	uint64_t h_end_ = rte_get_timer_cycles() + \
		rte_get_timer_hz() * H_WAIT_S; \
	while (!(cond) && rte_get_timer_cycles() < h_end_) { \
		step; \
	} \
} while (0)

/* A header from <2, @rport> to <@fp's cid, @lport> of @type and @op. */
struct vsock_hdr h_hdr(const struct fport *fp, uint32_t rport, uint32_t lport,
		uint16_t type, uint16_t op);

#endif /* VSOCK_TEST_HARNESS_H */
