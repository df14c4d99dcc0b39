/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-testpmd -i: a testpmd-like prompt on DPDK's cmdline library.
 *
 * The stack is run-to-completion and single-threaded, so the prompt lives
 * in the poll loop itself: every millisecond the loop looks at stdin
 * (poll() with no wait) and feeds what it finds to cmdline_in(). Commands
 * therefore run on the stack's lcore, between two polls, and may call the
 * stack directly; traffic goes on while the prompt waits for a line.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmdline.h>
#include <cmdline_parse.h>
#include <cmdline_parse_num.h>
#include <cmdline_parse_string.h>
#include <cmdline_socket.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_mempool.h>

#include <virtio_vsock_dev.h>

#include "../common/app_eal.h"
#include "testpmd.h"

#define TP_CLI_PROMPT "vsock-testpmd> "
#define TP_CLI_RTT_SAMPLES (1u << 22)	/* as main.c's pingpong buffer */
#define TP_CID_MAX 0xfffffffeULL	/* 0xffffffff is VMADDR_CID_ANY */

/* cmdline's callbacks get no context of ours: the one run of the process. */
static struct tp_ctx *cli_t;

static bool
cli_is_server_mode(enum tp_mode m)
{
	return m == TP_ECHO || m == TP_SINK;
}

static uint64_t
cli_peer(const struct tp_ctx *t)
{
	return t->o.peer != 0 ? t->o.peer : vsock_stack_local_cid(t->stack);
}

/*
 * Settings that both ends of a connection replay (mode, sizes) must not
 * change under a live one: "set" waits for traffic to stop and every
 * connection to close.
 */
static bool
cli_idle(struct cmdline *cl)
{
	struct tp_ctx *t = cli_t;

	if (!t->stopping) {
		cmdline_printf(cl, "traffic is running: stop it first\n");
		return false;
	}
	if (tp_modes_open_clients(t) > 0 || tp_modes_open_conns(t) > 0) {
		cmdline_printf(cl, "%u connections still open: wait for them "
			"to close (show conns)\n", RTE_MAX(tp_modes_open_conns(t),
			tp_modes_open_clients(t)));
		return false;
	}
	return true;
}

/* Pingpong's samples are taken only once a pingpong client runs. */
static bool
cli_rtt_ready(struct cmdline *cl)
{
	struct tp_ctx *t = cli_t;

	if (t->o.mode != TP_PINGPONG || t->st.rtt_cycles != NULL)
		return true;
	t->st.rtt_cycles = rte_malloc("tp_rtt",
			sizeof(uint64_t) * TP_CLI_RTT_SAMPLES, 0);
	if (t->st.rtt_cycles == NULL) {
		cmdline_printf(cl, "out of memory for round-trip samples\n");
		return false;
	}
	t->st.rtt_cap = TP_CLI_RTT_SAMPLES;
	return true;
}

/* ---- show port stats ---- */

struct cmd_show_port_stats_result {
	cmdline_fixed_string_t show;
	cmdline_fixed_string_t port;
	cmdline_fixed_string_t stats;
};

static void
cmd_show_port_stats_parsed(void *parsed_result, struct cmdline *cl,
		void *data)
{
	struct tp_ctx *t = cli_t;
	const struct tp_side *c = &t->st.client, *s = &t->st.server;
	struct vsock_stack_stats ss;
	struct virtio_vsock_stats ds;

	RTE_SET_USED(parsed_result);
	RTE_SET_USED(data);
	vsock_stack_stats_get(t->stack, &ss);
	cmdline_printf(cl, "\n  ######## port 0: %s, cid %" PRIu64
		" ########\n", t->o.dev, vsock_stack_local_cid(t->stack));
	if (t->dev == NULL) {
		cmdline_printf(cl, "  no device: CID 1 only\n");
	} else {
		virtio_vsock_stats_get(t->dev, &ds);
		cmdline_printf(cl, "  RX-packets: %-14" PRIu64 " RX-bytes: %-14"
			PRIu64 " RX-nombuf: %" PRIu64 "\n", ds.rx_pkts,
			ds.rx_bytes, ds.rx_nombuf);
		cmdline_printf(cl, "  TX-packets: %-14" PRIu64 " TX-bytes: %-14"
			PRIu64 " TX-full: %" PRIu64 "\n", ds.tx_pkts,
			ds.tx_bytes, ds.tx_full);
		cmdline_printf(cl, "  kicks: %" PRIu64 "  events: %" PRIu64
			"  rx-posted: %" PRIu64 "  ring: %s, event_idx %s\n",
			ds.kicks, ds.events, ds.rx_posted,
			virtio_vsock_features(t->dev) &
			VIRTIO_VSOCK_FEATURE_RING_PACKED ? "packed" : "split",
			virtio_vsock_features(t->dev) &
			VIRTIO_VSOCK_FEATURE_EVENT_IDX ? "on" : "off");
		cmdline_printf(cl, "  bad: rx-len %" PRIu64 " used-id %" PRIu64
			" used-idx %" PRIu64 " events %" PRIu64 " replies %"
			PRIu64 "  broken %" PRIu64 "  recovered %" PRIu64
			" failed %" PRIu64 "\n", ds.rx_bad_len, ds.bad_used_id,
			ds.bad_used_idx, ds.bad_events, ds.bad_replies,
			ds.broken, ds.recoveries, ds.recovery_failures);
	}
	cmdline_printf(cl, "  ######## stack ########\n");
	cmdline_printf(cl, "  rx-pkts: %" PRIu64 "  tx-pkts: %" PRIu64
		"  local-pkts: %" PRIu64 "  conns-open: %" PRIu64 "\n",
		ss.rx_pkts, ss.tx_pkts, ss.local_pkts, ss.conns_open);
	cmdline_printf(cl, "  rst-tx: %" PRIu64 "  rst-rx: %" PRIu64
		"  credit-updates-tx: %" PRIu64 "  credit-requests-tx: %"
		PRIu64 "  credit-stalls: %" PRIu64 "  pkt-stalls: %" PRIu64
		"\n", ss.rst_tx, ss.rst_rx, ss.credit_updates_tx,
		ss.credit_requests_tx, ss.credit_stalls, ss.pkt_stalls);
	cmdline_printf(cl, "  drops: bad-hdr %" PRIu64 " no-conn %" PRIu64
		" credit %" PRIu64 " nomem %" PRIu64 "  transport-resets %"
		PRIu64 "\n", ss.drop_bad_hdr, ss.drop_no_conn,
		ss.drop_credit, ss.drop_nomem, ss.transport_resets);
	cmdline_printf(cl, "  ######## %s, %s ########\n",
		tp_mode_names[t->o.mode], t->stopping ? "stopped" : "running");
	cmdline_printf(cl, "  client: tx %" PRIu64 " B %" PRIu64 " msgs, rx %"
		PRIu64 " B %" PRIu64 " msgs, %" PRIu64 " conns done\n",
		c->bytes_tx, c->msgs_tx, c->bytes_rx, c->msgs_rx,
		c->conns_done);
	cmdline_printf(cl, "  server: tx %" PRIu64 " B %" PRIu64 " msgs, rx %"
		PRIu64 " B %" PRIu64 " msgs, %" PRIu64 " conns done\n",
		s->bytes_tx, s->msgs_tx, s->bytes_rx, s->msgs_rx,
		s->conns_done);
	cmdline_printf(cl, "  errors: %" PRIu64 " (connect %" PRIu64
		", verify %" PRIu64 ", resets %" PRIu64 ", send %" PRIu64
		")  pool in use: %u\n\n", t->st.errors, t->st.connect_fail,
		t->st.verify_fail, t->st.resets, t->st.send_fail,
		rte_mempool_in_use_count(t->pool));
}

static cmdline_parse_token_string_t cmd_show_port_stats_show =
	TOKEN_STRING_INITIALIZER(struct cmd_show_port_stats_result, show,
		"show");
static cmdline_parse_token_string_t cmd_show_port_stats_port =
	TOKEN_STRING_INITIALIZER(struct cmd_show_port_stats_result, port,
		"port");
static cmdline_parse_token_string_t cmd_show_port_stats_stats =
	TOKEN_STRING_INITIALIZER(struct cmd_show_port_stats_result, stats,
		"stats");

static cmdline_parse_inst_t cmd_show_port_stats = {
	.f = cmd_show_port_stats_parsed,
	.data = NULL,
	.help_str = "show port stats: driver, stack and traffic counters",
	.tokens = {
		(void *)&cmd_show_port_stats_show,
		(void *)&cmd_show_port_stats_port,
		(void *)&cmd_show_port_stats_stats,
		NULL,
	},
};

/* ---- show conns ---- */

struct cmd_show_conns_result {
	cmdline_fixed_string_t show;
	cmdline_fixed_string_t conns;
};

struct cli_conns_walk {
	struct cmdline *cl;
	unsigned int n;
	unsigned int established;
};

static const char *
cli_state_name(const struct vsock_conn_snapshot *cs)
{
	/* Closed by us and finishing: the stack still holds it. */
	if (cs->closed)
		return "CLOSED";
	switch (cs->info.state) {
	case VSOCK_STATE_CONNECTING:
		return "CONNECTING";
	case VSOCK_STATE_ESTABLISHED:
		return "ESTABLISHED";
	case VSOCK_STATE_CLOSING:
		return "CLOSING";
	}
	return "?";
}

static int
cli_conn_line(const struct vsock_conn_snapshot *cs, void *arg)
{
	struct cli_conns_walk *w = arg;
	const struct vsock_conn_info *i = &cs->info;
	char local[32], remote[32];

	if (w->n == 0)
		cmdline_printf(w->cl, "  %-21s %-21s %-11s %-9s %14s %14s "
			"%10s\n", "local", "remote", "state", "type",
			"tx-bytes", "rx-bytes", "credit");
	snprintf(local, sizeof(local), "%" PRIu64 ":%u", i->local_cid,
		i->local_port);
	snprintf(remote, sizeof(remote), "%" PRIu64 ":%u", i->remote_cid,
		i->remote_port);
	cmdline_printf(w->cl, "  %-21s %-21s %-11s %-9s %14" PRIu64 " %14"
		PRIu64 " %10u\n", local, remote, cli_state_name(cs),
		i->type == VSOCK_TYPE_STREAM ? "stream" : "seqpacket",
		i->bytes_tx, i->bytes_rx, i->tx_credit);
	w->n++;
	w->established += !cs->closed &&
		i->state == VSOCK_STATE_ESTABLISHED;
	return 0;
}

static void
cmd_show_conns_parsed(void *parsed_result, struct cmdline *cl, void *data)
{
	struct cli_conns_walk w = { .cl = cl };

	RTE_SET_USED(parsed_result);
	RTE_SET_USED(data);
	vsock_stack_foreach_conn(cli_t->stack, cli_conn_line, &w);
	if (w.n == 0)
		cmdline_printf(cl, "no connections\n");
	else
		cmdline_printf(cl, "%u connections, %u established\n", w.n,
			w.established);
}

static cmdline_parse_token_string_t cmd_show_conns_show =
	TOKEN_STRING_INITIALIZER(struct cmd_show_conns_result, show, "show");
static cmdline_parse_token_string_t cmd_show_conns_conns =
	TOKEN_STRING_INITIALIZER(struct cmd_show_conns_result, conns,
		"conns");

static cmdline_parse_inst_t cmd_show_conns = {
	.f = cmd_show_conns_parsed,
	.data = NULL,
	.help_str = "show conns: one line per connection (addresses, state, "
		"type, bytes, credit)",
	.tokens = {
		(void *)&cmd_show_conns_show,
		(void *)&cmd_show_conns_conns,
		NULL,
	},
};

/* ---- show config ---- */

struct cmd_show_config_result {
	cmdline_fixed_string_t show;
	cmdline_fixed_string_t config;
};

static void
cmd_show_config_parsed(void *parsed_result, struct cmdline *cl, void *data)
{
	struct tp_ctx *t = cli_t;

	RTE_SET_USED(parsed_result);
	RTE_SET_USED(data);
	cmdline_printf(cl, "  dev %s, cid %" PRIu64 "\n", t->o.dev,
		vsock_stack_local_cid(t->stack));
	cmdline_printf(cl, "  mode %s (%s), type %s\n",
		tp_mode_names[t->o.mode], t->stopping ? "stopped" : "running",
		t->o.type == VSOCK_TYPE_STREAM ? "stream" : "seqpacket");
	cmdline_printf(cl, "  conns %u (at most %u), size %u-%u, port %u, "
		"peer %" PRIu64 "%s\n", t->o.conns, t->client_slots,
		t->o.size_min, t->o.size_max, t->o.port, cli_peer(t),
		t->o.peer == 0 ? " (own cid)" : "");
	cmdline_printf(cl, "  seed %" PRIu64 ", bytes %" PRIu64 ", reconnect "
		"%s, nb-mbufs %u\n", t->o.seed, t->o.bytes,
		t->o.reconnect ? "on" : "off", t->o.nb_mbufs);
}

static cmdline_parse_token_string_t cmd_show_config_show =
	TOKEN_STRING_INITIALIZER(struct cmd_show_config_result, show, "show");
static cmdline_parse_token_string_t cmd_show_config_config =
	TOKEN_STRING_INITIALIZER(struct cmd_show_config_result, config,
		"config");

static cmdline_parse_inst_t cmd_show_config = {
	.f = cmd_show_config_parsed,
	.data = NULL,
	.help_str = "show config: device, mode and traffic settings",
	.tokens = {
		(void *)&cmd_show_config_show,
		(void *)&cmd_show_config_config,
		NULL,
	},
};

/* ---- start, stop ---- */

struct cmd_start_stop_result {
	cmdline_fixed_string_t what;
};

static void
cmd_start_parsed(void *parsed_result, struct cmdline *cl, void *data)
{
	struct tp_ctx *t = cli_t;
	uint32_t open;

	RTE_SET_USED(parsed_result);
	RTE_SET_USED(data);
	if (!t->stopping) {
		cmdline_printf(cl, "already running\n");
		return;
	}
	if (cli_is_server_mode(t->o.mode)) {
		cmdline_printf(cl, "%s is a server mode: it listens on port %u "
			"all along; set mode source, pingpong or verify for "
			"clients\n", tp_mode_names[t->o.mode], t->o.port);
		return;
	}
	open = tp_modes_open_clients(t);
	if (open > 0) {
		cmdline_printf(cl, "%u clients of the last run still closing: "
			"try again\n", open);
		return;
	}
	if (!cli_rtt_ready(cl))
		return;
	t->window = tp_window(t);
	t->next_client = 0;
	t->client_target = t->o.conns;
	t->has_client = true;
	t->stopping = false;
	cmdline_printf(cl, "start: %s, %u conns to %" PRIu64 ":%u\n",
		tp_mode_names[t->o.mode], t->o.conns, cli_peer(t), t->o.port);
}

static void
cmd_stop_parsed(void *parsed_result, struct cmdline *cl, void *data)
{
	struct tp_ctx *t = cli_t;
	uint32_t open;

	RTE_SET_USED(parsed_result);
	RTE_SET_USED(data);
	if (t->stopping) {
		cmdline_printf(cl, "not running\n");
		return;
	}
	open = tp_modes_open_clients(t);
	/* Verify's clients close once every echo is back; others now. */
	tp_modes_stop(t);
	cmdline_printf(cl, "stop: %u clients closed, %u waiting for their "
		"echoes\n", open - tp_modes_open_clients(t),
		tp_modes_open_clients(t));
}

static cmdline_parse_token_string_t cmd_start_what =
	TOKEN_STRING_INITIALIZER(struct cmd_start_stop_result, what, "start");
static cmdline_parse_token_string_t cmd_stop_what =
	TOKEN_STRING_INITIALIZER(struct cmd_start_stop_result, what, "stop");

static cmdline_parse_inst_t cmd_start = {
	.f = cmd_start_parsed,
	.data = NULL,
	.help_str = "start: open the clients of the current mode (set conns, "
		"set peer, set port)",
	.tokens = { (void *)&cmd_start_what, NULL },
};

static cmdline_parse_inst_t cmd_stop = {
	.f = cmd_stop_parsed,
	.data = NULL,
	.help_str = "stop: stop traffic and close the client connections",
	.tokens = { (void *)&cmd_stop_what, NULL },
};

/* ---- set mode, set size ---- */

struct cmd_set_word_result {
	cmdline_fixed_string_t set;
	cmdline_fixed_string_t what;
	cmdline_fixed_string_t value;
};

static void
cmd_set_mode_parsed(void *parsed_result, struct cmdline *cl, void *data)
{
	struct cmd_set_word_result *res = parsed_result;
	struct tp_ctx *t = cli_t;
	unsigned int i;

	RTE_SET_USED(data);
	if (!cli_idle(cl))
		return;
	for (i = 0; i < RTE_DIM(tp_mode_names); i++)
		if (strcmp(res->value, tp_mode_names[i]) == 0)
			break;
	if (i == RTE_DIM(tp_mode_names))
		return;	/* the token admits only the five names */
	t->o.mode = (enum tp_mode)i;
	cmdline_printf(cl, "mode %s\n", tp_mode_names[i]);
}

static void
cmd_set_size_parsed(void *parsed_result, struct cmdline *cl, void *data)
{
	struct cmd_set_word_result *res = parsed_result;
	struct tp_ctx *t = cli_t;
	struct tp_opts o = t->o;

	RTE_SET_USED(data);
	if (tp_parse_size(res->value, &o) != 0) {
		cmdline_printf(cl, "bad size '%s': expected N or MIN-MAX with "
			"1 <= MIN <= MAX\n", res->value);
		return;
	}
	if (!cli_idle(cl))
		return;
	t->o.size_min = o.size_min;
	t->o.size_max = o.size_max;
	cmdline_printf(cl, "size %u-%u\n", o.size_min, o.size_max);
}

static cmdline_parse_token_string_t cmd_set_mode_set =
	TOKEN_STRING_INITIALIZER(struct cmd_set_word_result, set, "set");
static cmdline_parse_token_string_t cmd_set_mode_what =
	TOKEN_STRING_INITIALIZER(struct cmd_set_word_result, what, "mode");
static cmdline_parse_token_string_t cmd_set_mode_value =
	TOKEN_STRING_INITIALIZER(struct cmd_set_word_result, value,
		"echo#sink#source#pingpong#verify");

static cmdline_parse_inst_t cmd_set_mode = {
	.f = cmd_set_mode_parsed,
	.data = NULL,
	.help_str = "set mode echo|sink|source|pingpong|verify: the mode of "
		"the next start and connect (when no connection is open)",
	.tokens = {
		(void *)&cmd_set_mode_set,
		(void *)&cmd_set_mode_what,
		(void *)&cmd_set_mode_value,
		NULL,
	},
};

static cmdline_parse_token_string_t cmd_set_size_set =
	TOKEN_STRING_INITIALIZER(struct cmd_set_word_result, set, "set");
static cmdline_parse_token_string_t cmd_set_size_what =
	TOKEN_STRING_INITIALIZER(struct cmd_set_word_result, what, "size");
/* NULL: any one word; "N" or "MIN-MAX" is checked by the callback. */
static cmdline_parse_token_string_t cmd_set_size_value =
	TOKEN_STRING_INITIALIZER(struct cmd_set_word_result, value, NULL);

static cmdline_parse_inst_t cmd_set_size = {
	.f = cmd_set_size_parsed,
	.data = NULL,
	.help_str = "set size N|MIN-MAX: message sizes in bytes, fixed or "
		"random (when no connection is open)",
	.tokens = {
		(void *)&cmd_set_size_set,
		(void *)&cmd_set_size_what,
		(void *)&cmd_set_size_value,
		NULL,
	},
};

/* ---- set conns, set peer, set port ---- */

struct cmd_set_num_result {
	cmdline_fixed_string_t set;
	cmdline_fixed_string_t what;
	uint64_t value;
};

static void
cmd_set_num_parsed(void *parsed_result, struct cmdline *cl, void *data)
{
	struct cmd_set_num_result *res = parsed_result;
	struct tp_ctx *t = cli_t;
	uint64_t v = res->value;
	int r;

	RTE_SET_USED(data);
	if (strcmp(res->what, "conns") == 0) {
		if (v < 1 || v > t->client_slots) {
			cmdline_printf(cl, "bad conns %" PRIu64 ": expected "
				"1..%u (start with --conns for more)\n", v,
				t->client_slots);
			return;
		}
		if (!cli_idle(cl))
			return;
		t->o.conns = (uint32_t)v;
		cmdline_printf(cl, "conns %u\n", t->o.conns);
	} else if (strcmp(res->what, "peer") == 0) {
		if (v > TP_CID_MAX) {
			cmdline_printf(cl, "bad peer %" PRIu64 ": expected a CID "
				"(0: this device's own)\n", v);
			return;
		}
		if (!cli_idle(cl))
			return;
		t->o.peer = v;
		cmdline_printf(cl, "peer %" PRIu64 "\n", cli_peer(t));
	} else {
		if (v > 0xfffffffeULL) {
			cmdline_printf(cl, "bad port %" PRIu64 ": expected "
				"0..4294967294\n", v);
			return;
		}
		if (!cli_idle(cl))
			return;
		/* The server follows: it listens where clients go. */
		r = tp_modes_relisten(t, (uint32_t)v);
		if (r != 0) {
			cmdline_printf(cl, "cannot listen on port %" PRIu64
				": %s\n", v, strerror(-r));
			return;
		}
		cmdline_printf(cl, "port %u\n", t->o.port);
	}
}

static cmdline_parse_token_string_t cmd_set_num_set =
	TOKEN_STRING_INITIALIZER(struct cmd_set_num_result, set, "set");
static cmdline_parse_token_string_t cmd_set_conns_what =
	TOKEN_STRING_INITIALIZER(struct cmd_set_num_result, what, "conns");
static cmdline_parse_token_string_t cmd_set_peer_what =
	TOKEN_STRING_INITIALIZER(struct cmd_set_num_result, what, "peer");
static cmdline_parse_token_string_t cmd_set_port_what =
	TOKEN_STRING_INITIALIZER(struct cmd_set_num_result, what, "port");
static cmdline_parse_token_num_t cmd_set_num_value =
	TOKEN_NUM_INITIALIZER(struct cmd_set_num_result, value, RTE_UINT64);

static cmdline_parse_inst_t cmd_set_conns = {
	.f = cmd_set_num_parsed,
	.data = NULL,
	.help_str = "set conns N: client connections start opens",
	.tokens = {
		(void *)&cmd_set_num_set,
		(void *)&cmd_set_conns_what,
		(void *)&cmd_set_num_value,
		NULL,
	},
};

static cmdline_parse_inst_t cmd_set_peer = {
	.f = cmd_set_num_parsed,
	.data = NULL,
	.help_str = "set peer CID: where start's clients connect (0: this "
		"device's own CID, served here)",
	.tokens = {
		(void *)&cmd_set_num_set,
		(void *)&cmd_set_peer_what,
		(void *)&cmd_set_num_value,
		NULL,
	},
};

static cmdline_parse_inst_t cmd_set_port = {
	.f = cmd_set_num_parsed,
	.data = NULL,
	.help_str = "set port P: the port served here and start's clients "
		"connect to",
	.tokens = {
		(void *)&cmd_set_num_set,
		(void *)&cmd_set_port_what,
		(void *)&cmd_set_num_value,
		NULL,
	},
};

/* ---- connect CID PORT ---- */

struct cmd_connect_result {
	cmdline_fixed_string_t connect;
	uint64_t cid;
	uint32_t port;
};

static void
cmd_connect_parsed(void *parsed_result, struct cmdline *cl, void *data)
{
	struct cmd_connect_result *res = parsed_result;
	struct tp_ctx *t = cli_t;
	uint32_t open = tp_modes_open_clients(t);

	RTE_SET_USED(data);
	if (res->cid < 1 || res->cid > TP_CID_MAX ||
			res->port > 0xfffffffeU) {
		cmdline_printf(cl, "bad address %" PRIu64 ":%u\n", res->cid,
			res->port);
		return;
	}
	/* Restarting a run whose clients still drain would revive them. */
	if (t->stopping && open > 0) {
		cmdline_printf(cl, "%u clients of the last run still closing: "
			"try again\n", open);
		return;
	}
	if (!cli_rtt_ready(cl))
		return;
	if (t->stopping)
		t->window = tp_window(t);
	if (!tp_modes_connect(t, res->cid, res->port)) {
		cmdline_printf(cl, "all %u client slots are in use\n",
			t->client_slots);
		return;
	}
	cmdline_printf(cl, "connect: %s client to %" PRIu64 ":%u\n",
		cli_is_server_mode(t->o.mode) ? "source" :
		tp_mode_names[t->o.mode], res->cid, res->port);
}

static cmdline_parse_token_string_t cmd_connect_connect =
	TOKEN_STRING_INITIALIZER(struct cmd_connect_result, connect,
		"connect");
static cmdline_parse_token_num_t cmd_connect_cid =
	TOKEN_NUM_INITIALIZER(struct cmd_connect_result, cid, RTE_UINT64);
static cmdline_parse_token_num_t cmd_connect_port =
	TOKEN_NUM_INITIALIZER(struct cmd_connect_result, port, RTE_UINT32);

static cmdline_parse_inst_t cmd_connect = {
	.f = cmd_connect_parsed,
	.data = NULL,
	.help_str = "connect CID PORT: one more client of the current mode "
		"(source in a server mode) to CID:PORT",
	.tokens = {
		(void *)&cmd_connect_connect,
		(void *)&cmd_connect_cid,
		(void *)&cmd_connect_port,
		NULL,
	},
};

/* ---- help, quit ---- */

struct cmd_word_result {
	cmdline_fixed_string_t word;
};

static void
cmd_help_parsed(void *parsed_result, struct cmdline *cl, void *data)
{
	RTE_SET_USED(parsed_result);
	RTE_SET_USED(data);
	cmdline_printf(cl,
		"\n"
		"Commands (TAB completes, \"?\" lists what may follow):\n"
		"  show port stats          driver, stack and traffic "
		"counters\n"
		"  show conns               one line per connection\n"
		"  show config              device, mode and settings\n"
		"  start                    open the clients of the current "
		"mode\n"
		"  stop                     stop traffic, close the clients\n"
		"  set mode echo|sink|source|pingpong|verify\n"
		"  set size N|MIN-MAX       message sizes in bytes\n"
		"  set conns N              clients start opens\n"
		"  set peer CID             where they connect (0: own CID)\n"
		"  set port P               port served and connected to\n"
		"  connect CID PORT         one more client of the current "
		"mode\n"
		"  help                     this list\n"
		"  quit                     end the run and print the report "
		"(also ctrl-d)\n"
		"The server side of the mode (echo, sink, or verify's "
		"checking echo) always\n"
		"listens on the port. \"set\" waits until traffic is stopped "
		"and every\nconnection closed.\n\n");
}

static void
cmd_quit_parsed(void *parsed_result, struct cmdline *cl, void *data)
{
	RTE_SET_USED(parsed_result);
	RTE_SET_USED(data);
	cli_t->quit = true;
	cmdline_quit(cl);
}

static cmdline_parse_token_string_t cmd_help_word =
	TOKEN_STRING_INITIALIZER(struct cmd_word_result, word, "help");
static cmdline_parse_token_string_t cmd_quit_word =
	TOKEN_STRING_INITIALIZER(struct cmd_word_result, word, "quit");

static cmdline_parse_inst_t cmd_help = {
	.f = cmd_help_parsed,
	.data = NULL,
	.help_str = "help: the list of commands",
	.tokens = { (void *)&cmd_help_word, NULL },
};

static cmdline_parse_inst_t cmd_quit = {
	.f = cmd_quit_parsed,
	.data = NULL,
	.help_str = "quit: end the run and print the report",
	.tokens = { (void *)&cmd_quit_word, NULL },
};

static cmdline_parse_ctx_t cli_ctx[] = {
	(cmdline_parse_inst_t *)&cmd_show_port_stats,
	(cmdline_parse_inst_t *)&cmd_show_conns,
	(cmdline_parse_inst_t *)&cmd_show_config,
	(cmdline_parse_inst_t *)&cmd_start,
	(cmdline_parse_inst_t *)&cmd_stop,
	(cmdline_parse_inst_t *)&cmd_set_mode,
	(cmdline_parse_inst_t *)&cmd_set_size,
	(cmdline_parse_inst_t *)&cmd_set_conns,
	(cmdline_parse_inst_t *)&cmd_set_peer,
	(cmdline_parse_inst_t *)&cmd_set_port,
	(cmdline_parse_inst_t *)&cmd_connect,
	(cmdline_parse_inst_t *)&cmd_help,
	(cmdline_parse_inst_t *)&cmd_quit,
	NULL,
};

/* ---- the loop ---- */

/*
 * Feed what stdin has to the prompt, without waiting. Returns false at
 * the end: "quit", ctrl-d on an empty line, or end of input.
 */
static bool
cli_input(struct cmdline *cl)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	char buf[256];
	ssize_t n;

	if (poll(&pfd, 1, 0) <= 0)
		return true;
	n = read(STDIN_FILENO, buf, sizeof(buf));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	return cmdline_in(cl, buf, (int)n) >= 0 && !cli_t->quit;
}

void
tp_cli_loop(struct tp_ctx *t)
{
	uint64_t hz = rte_get_timer_hz(), next = 0;
	struct cmdline *cl;

	cli_t = t;
	/* cmdline writes to fd 1 directly: what stdio holds goes first. */
	fflush(stdout);
	cl = cmdline_stdin_new(cli_ctx, TP_CLI_PROMPT);
	if (cl == NULL) {
		fprintf(stderr, "vsock-testpmd: cannot start the prompt\n");
		t->st.errors++;
		return;
	}
	while (!app_quit) {
		uint64_t now;

		tp_modes_start_clients(t);
		if (t->nb_starved > 0)
			tp_modes_retry_starved(t);
		vsock_stack_poll(t->stack);
		/* A system call per poll would cost traffic: once a ms. */
		now = rte_get_timer_cycles();
		if (now < next)
			continue;
		next = now + hz / 1000;
		if (!cli_input(cl))
			break;
	}
	cmdline_printf(cl, "\n");
	/* Puts the terminal back as it was (a tty's raw mode). */
	cmdline_stdin_exit(cl);
}
