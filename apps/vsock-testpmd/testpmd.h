/* SPDX-License-Identifier: BSD-3-Clause */
/* vsock-testpmd: shared definitions of the option parser, modes and stats. */
#ifndef VSOCK_TESTPMD_H
#define VSOCK_TESTPMD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <vsock_capture.h>
#include <vsock_stack.h>

#include "../common/app_echo.h"

struct rte_mempool;
struct virtio_vsock_dev;
struct vsock_vhost;

/* --h2g back-ends and --peer CIDs one run takes at most. */
#define TP_MAX_H2G 4
#define TP_MAX_PEERS 8
/* Data room of the pool's mbufs. */
#define TP_MBUF_ROOM 16384

/* One --h2g PATH,cid=N[,client=1]. */
struct tp_h2g {
	char path[108];
	uint64_t cid;
	bool client;
	/* break_rx=N (test hooks): rx buffers before the bad one, -1: none */
	int64_t break_rx;
};

enum tp_mode {
	TP_ECHO,
	TP_SINK,
	TP_SOURCE,
	TP_PINGPONG,
	TP_VERIFY,
};

struct tp_opts {
	const char *dev;
	const char *pcap;	/* --pcap FILE */
	struct vsock_capture_conf pcap_conf;	/* --pcap-snaplen */
	enum tp_mode mode;
	enum vsock_type type;
	uint32_t conns;
	uint32_t size_min;
	uint32_t size_max;
	double duration;	/* seconds; 0 = until SIGINT (servers) */
	uint32_t port;
	uint64_t peer;		/* 0 = the device's own CID */
	uint64_t peers[TP_MAX_PEERS];	/* --peer A,B,...: clients by turns */
	unsigned int nb_peers;
	bool serve;		/* --serve: the server too, with --peer */
	struct tp_h2g h2g[TP_MAX_H2G];
	unsigned int nb_h2g;
	bool json;
	uint32_t nb_mbufs;
	uint64_t seed;
	uint64_t bytes;		/* per client connection; 0 = no limit */
	bool reconnect;		/* a reset client is replaced (verify) */
	bool interactive;	/* -i: the prompt drives the run */
};

/* Counters of one side (client or server) of this process. */
struct tp_side {
	uint64_t bytes_tx;
	uint64_t bytes_rx;
	uint64_t msgs_tx;
	uint64_t msgs_rx;
	uint64_t conns_done;
};

struct tp_stats {
	struct tp_side client;
	struct tp_side server;
	uint64_t errors;
	uint64_t conns_open;
	uint64_t connect_fail;
	uint64_t verify_fail;
	uint64_t resets;	/* unexpected ones: errors */
	uint64_t resets_by[VSOCK_RESET_REASONS];	/* every one, by reason */
	uint64_t send_fail;
	struct tp_side by_peer[TP_MAX_PEERS];	/* clients, by --peer */
	uint64_t *rtt_cycles;	/* pingpong samples */
	uint64_t rtt_n;
	uint64_t rtt_cap;
};

/* Per-connection state of either side. */
struct tp_conn {
	struct vsock_conn *c;
	bool client;
	bool connected;
	bool closed;
	bool starved;		/* the pool ran dry: pump again later */
	uint64_t seed;		/* pattern and sizes (verify) */
	uint64_t rng;		/* message sizes, client side */
	uint64_t rng_rx;	/* the same sequence, replayed by the checker */
	uint64_t tx_off;	/* stream bytes sent */
	uint64_t rx_off;	/* stream bytes received and checked */
	uint64_t msgs_out;	/* messages sent, not yet echoed back */
	uint32_t cur_msg_len;	/* bytes of the message being received */
	uint32_t cur_msg_want;	/* its expected size (verify/pingpong) */
	uint64_t t_sent;	/* pingpong: tsc of the last send */
	struct app_echo echo;	/* server: its echo (echo and verify) */
	bool redo;		/* reset: to be replaced (--reconnect) */
	uint64_t peer_cid;	/* client: where it connects (and reconnects) */
	uint8_t peer_idx;	/* ... its place in --peer */
	uint32_t peer_port;
};

struct tp_ctx {
	struct tp_opts o;
	struct vsock_stack *stack;
	struct rte_mempool *pool;
	struct tp_stats st;
	struct tp_conn *conns;	/* clients first, then servers */
	uint32_t nb_conns_max;
	uint32_t client_slots;	/* conns[0..client_slots) are clients' */
	uint32_t next_server;
	uint32_t next_client;	/* client slots used so far */
	uint32_t client_target;	/* clients this run opens */
	uint32_t nb_starved;
	uint32_t nb_redo;	/* client slots waiting to reconnect */
	uint32_t window;	/* verify: bytes in flight per connection */
	bool stopping;		/* duration over: clients wind down */
	bool has_server;
	bool has_client;
	unsigned int pool_baseline;	/* mbufs in use once the device is up */
	struct virtio_vsock_dev *dev;	/* NULL for --dev none */
	struct vsock_vhost *h2g[TP_MAX_H2G];
	bool quit;		/* the prompt asked to end */
};

/* modes.c */
int tp_modes_start_server(struct tp_ctx *t);
void tp_modes_start_clients(struct tp_ctx *t);
void tp_modes_retry_starved(struct tp_ctx *t);
void tp_modes_stop(struct tp_ctx *t);
bool tp_modes_clients_done(const struct tp_ctx *t);
void tp_modes_close_all(struct tp_ctx *t);
uint32_t tp_modes_open_conns(const struct tp_ctx *t);
bool tp_modes_connect(struct tp_ctx *t, uint64_t cid, uint32_t port);
uint32_t tp_modes_open_clients(const struct tp_ctx *t);
int tp_modes_relisten(struct tp_ctx *t, uint32_t port);
uint32_t tp_window(const struct tp_ctx *t);

/* h2g.c */
int tp_h2g_parse(const char *val, struct tp_opts *o);
int tp_h2g_start(struct tp_ctx *t);
void tp_h2g_stop(struct tp_ctx *t);

/* opts.c */
extern const char *const tp_mode_names[TP_VERIFY + 1];
void tp_usage(FILE *f, const char *prog);
int tp_parse_size(const char *s, struct tp_opts *o);
/* 0; 1 for --help; a negative errno, said on stderr, for a bad option. */
int tp_parse_opts(int argc, char **argv, struct tp_opts *o);

/* cmdline.c: the prompt (-i) runs the poll loop until quit or EOF. */
void tp_cli_loop(struct tp_ctx *t);

/* Shared by the pattern checks: splitmix64. */
static inline uint64_t
tp_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

#endif /* VSOCK_TESTPMD_H */
