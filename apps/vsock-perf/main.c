/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-perf: an iperf3-like client and server on dpdk-vsock's stack,
 * over any virtio-vsock device the driver claims.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include <virtio_vsock_dev.h>
#include <vsock_stack.h>

#include "app_eal.h"
#include "app_opts.h"
#include "app_pcap.h"
#include "perf.h"
#include "perf_proto.h"
#include "perf_server.h"
#include "report.h"

#define VPERF_MBUF_ROOM 16384
/* An mbuf's buf_len is 16-bit: room for the headroom and this much. */
#define VPERF_MBUF_ROOM_MAX (UINT16_MAX - RTE_PKTMBUF_HEADROOM)
/* The stack's 60-segment chains, of the default mbufs, half full. */
#define VPERF_SEQ_MAX (60u * VPERF_MBUF_ROOM / 2 + 32768)
#define VPERF_DRAIN_SECONDS 3.0
#define VPERF_IDLE_SECONDS 60.0

static const char *vperf_pcap;	/* --pcap FILE */
static struct vsock_capture_conf vperf_pcap_conf;	/* --pcap-snaplen */

static void
vperf_usage(FILE *f, const char *prog)
{
	fprintf(f,
"Usage: %s [EAL options] -- [--dev SPEC] -s | -c CID [options]\n"
"\n"
"An iperf3-like benchmark on dpdk-vsock's stack: a server (-s) and a\n"
"client (-c) of STREAM or SEQPACKET connections over a virtio-vsock\n"
"device. On the loopback device with no -c (or -c the device's own CID)\n"
"the process serves itself. vsock-bridge --perf-port serves it too.\n"
"Without \"--\", every option is the program's and EAL runs with\n"
"--in-memory. EAL always gets --no-pci (or -a ADDR for --dev pci:ADDR).\n"
"\n"
"  --dev SPEC        the device (default loopback); one of:\n"
"  %s\n"
"  -s, --server      serve on -p PORT (STREAM) and PORT+1 (SEQPACKET)\n"
"                    until SIGINT (or -t seconds)\n"
"  -c, --client CID  test against the server at CID\n"
"  -p, --port P      server port (default 5201)\n"
"  -l, --len N       message size in bytes (default 65536; 1..%u)\n"
"  -t, --time S      seconds of traffic (default 10)\n"
"  -P, --parallel N  streams at once (default 1; 1..65536)\n"
"  -R, --reverse     the server sends, the client receives (zero copy)\n"
"      --seqpacket   SEQPACKET connections (each message whole)\n"
"      --cold        the source walks a buffer larger than the last-level\n"
"                    cache and the sink reads every byte (this side's\n"
"                    or the server's, by -R) instead of a hot pattern\n"
"                    and a sink that drops unread; the buffer is 1.25 x\n"
"                    the LLC within 64 MiB..1 GiB, or\n"
"                    $VSOCK_PERF_COLD_BYTES (both ends read it)\n"
"      --latency     ping-pong: one message out, its echo back; round\n"
"                    trip p50/p99/p99.9 from a histogram\n"
"      --conn-rate   connect and close as fast as possible, -P at once\n"
"      --verify      every byte checked: -P slots each run connections to\n"
"                    an echo server (vsock-bridge --echo-port) one after\n"
"                    another, -l MIN-MAX random sizes, the echo compared\n"
"                    with what was sent and SHA-256 of both streams;\n"
"                    reset connections are counted with the bytes they\n"
"                    lost and opened again (survives back-end restarts)\n"
"      --bytes N     --verify: stop after sending N bytes in all\n"
"      --conn-bytes N --verify: bytes per connection, uniformly random\n"
"                    in 1..2N (default 16777216)\n"
"      --seed S      --verify: sizes and offsets (default 1)\n"
"      --idle N      open N idle connections first and keep them open\n"
"                    through the test (memory per connection reported)\n"
"  -i, --interval S  seconds between reports (default 1; 0: none)\n"
"  -J, --json        one JSON object at the end, like iperf3 -J\n"
"                    (interval lines go to stderr)\n"
"      --nb-mbufs N  mbufs in the pool (default 16384)\n"
"      --mbuf-size N data bytes per mbuf (default %u; up to 65407): the\n"
"                    largest rx buffer the device can be given (rx_buf=)\n"
"      --max-conns N connections the stack may hold (default: enough\n"
"                    for -P and --idle)\n"
"      --pcap FILE   write every packet in and out of the device to FILE\n"
"                    (pcap, LINKTYPE_VSOCK: tcpdump, tshark, Wireshark)\n"
"      --pcap-snaplen N bytes kept of each packet, header included\n"
"                    (default: whole packets; 44..262144); 128 keeps\n"
"                    the headers of bulk traffic at a fraction of the cost\n"
"  -h, --help        this text\n"
"\n"
"Exit status: 0 when errors is 0, 1 on errors, 2 on a bad option.\n"
"Examples:\n"
"  %s -l 0-1 --in-memory --no-pci -- --dev loopback -l 4096 -t 3\n"
"  %s -l 1 --in-memory --single-file-segments --no-pci -- \\\n"
"      --dev vhost-user:path=/tmp/vhost-vsock.sock -c 2 -p 5201 -R -J\n",
		prog, virtio_vsock_spec_usage(), VPERF_MAX_MSG, VPERF_MBUF_ROOM,
		prog, prog);
}

static int
vperf_parse_seconds(const char *opt, const char *a, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(a, &end);
	if (errno != 0 || *end != '\0' || a[0] == '\0' ||
			!(*out >= 0 && *out <= 86400.0 * 365))
		return app_bad(opt, a, "expected seconds >= 0");
	return 0;
}

/* -l N or -l MIN-MAX (--verify's random sizes). */
static int
vperf_parse_len(const char *s, struct vperf_opts *o)
{
	uint64_t a, b;

	if (app_parse_range(s, 1, VPERF_MAX_MSG, &a, &b) != 0)
		return -EINVAL;
	o->size_min = (uint32_t)a;
	o->size_max = (uint32_t)b;
	o->size = (uint32_t)b;
	return 0;
}

static int
vperf_parse_opts(int argc, char **argv, struct vperf_opts *o)
{
	enum { O_DEV = 256, O_SEQPACKET, O_LATENCY, O_CONN_RATE, O_VERIFY,
		O_BYTES, O_CONN_BYTES, O_SEED, O_IDLE, O_NB_MBUFS, O_MBUF_SIZE,
		O_MAX_CONNS, O_PCAP, O_PCAP_SNAPLEN, O_COLD };
	static const struct option longopts[] = {
		{ "dev", required_argument, NULL, O_DEV },
		{ "server", no_argument, NULL, 's' },
		{ "client", required_argument, NULL, 'c' },
		{ "port", required_argument, NULL, 'p' },
		{ "len", required_argument, NULL, 'l' },
		{ "time", required_argument, NULL, 't' },
		{ "parallel", required_argument, NULL, 'P' },
		{ "reverse", no_argument, NULL, 'R' },
		{ "seqpacket", no_argument, NULL, O_SEQPACKET },
		{ "cold", no_argument, NULL, O_COLD },
		{ "latency", no_argument, NULL, O_LATENCY },
		{ "conn-rate", no_argument, NULL, O_CONN_RATE },
		{ "verify", no_argument, NULL, O_VERIFY },
		{ "bytes", required_argument, NULL, O_BYTES },
		{ "conn-bytes", required_argument, NULL, O_CONN_BYTES },
		{ "seed", required_argument, NULL, O_SEED },
		{ "idle", required_argument, NULL, O_IDLE },
		{ "interval", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'J' },
		{ "nb-mbufs", required_argument, NULL, O_NB_MBUFS },
		{ "mbuf-size", required_argument, NULL, O_MBUF_SIZE },
		{ "max-conns", required_argument, NULL, O_MAX_CONNS },
		{ "pcap", required_argument, NULL, O_PCAP },
		{ "pcap-snaplen", required_argument, NULL, O_PCAP_SNAPLEN },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[512];
	uint64_t v;
	int opt, tests = 0;
	bool time_set = false;

	*o = (struct vperf_opts){ .dev = "loopback", .port = 5201,
		.size = 65536, .size_min = 65536, .size_max = 65536,
		.duration = 10, .interval = 1, .streams = 1,
		.type = VSOCK_TYPE_STREAM, .test = VPERF_SEND,
		.conn_bytes = 16u << 20, .seed = 1,
		.nb_mbufs = 16384, .mbuf_size = VPERF_MBUF_ROOM };
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":sc:p:l:t:P:Ri:Jh", longopts,
			NULL)) != -1) {
		const char *a = optarg;

		switch (opt) {
		case O_DEV:
			if (virtio_vsock_spec_check(a, err, sizeof(err)) != 0)
				return app_bad("--dev", a, err);
			o->dev = a;
			break;
		case 's':
			o->server = true;
			break;
		case 'c':
			if (app_parse_u64(a, 1, 0xfffffffeULL, &v) != 0)
				return app_bad("-c", a, "expected a CID, "
					"1..4294967294");
			o->client = true;
			o->cid = v;
			break;
		case 'p':
			if (app_parse_u64(a, 0, 0xfffffffdULL, &v) != 0)
				return app_bad("-p", a, "expected 0..4294967293");
			o->port = (uint32_t)v;
			break;
		case 'l':
			if (vperf_parse_len(a, o) != 0)
				return app_bad("-l", a, "expected N or MIN-MAX "
					"with 1 <= MIN <= MAX <= 1048576");
			break;
		case 't':
			if (vperf_parse_seconds("-t", a, &o->duration) != 0)
				return -EINVAL;
			time_set = true;
			break;
		case 'P':
			if (app_parse_u64(a, 1, 65536, &v) != 0)
				return app_bad("-P", a, "expected 1..65536");
			o->streams = (uint32_t)v;
			break;
		case 'R':
			o->test = VPERF_RECV;
			tests++;
			break;
		case O_SEQPACKET:
			o->type = VSOCK_TYPE_SEQPACKET;
			break;
		case O_COLD:
			o->cold = true;
			break;
		case O_LATENCY:
			o->test = VPERF_LATENCY;
			tests++;
			break;
		case O_CONN_RATE:
			o->test = VPERF_CONN_RATE;
			tests++;
			break;
		case O_VERIFY:
			o->test = VPERF_VERIFY;
			tests++;
			break;
		case O_BYTES:
			if (app_parse_u64(a, 1, UINT64_MAX / 2, &v) != 0)
				return app_bad("--bytes", a, "expected a byte "
					"count >= 1");
			o->bytes = v;
			break;
		case O_CONN_BYTES:
			if (app_parse_u64(a, 1, 1ull << 40, &v) != 0)
				return app_bad("--conn-bytes", a, "expected "
					"1..1099511627776");
			o->conn_bytes = v;
			break;
		case O_SEED:
			if (app_parse_u64(a, 0, UINT64_MAX, &v) != 0)
				return app_bad("--seed", a, "expected an integer");
			o->seed = v;
			break;
		case O_IDLE:
			if (app_parse_u64(a, 0, 4000000, &v) != 0)
				return app_bad("--idle", a, "expected 0..4000000");
			o->idle = (uint32_t)v;
			break;
		case 'i':
			if (vperf_parse_seconds("-i", a, &o->interval) != 0)
				return -EINVAL;
			break;
		case 'J':
			o->json = true;
			break;
		case O_NB_MBUFS:
			if (app_parse_u64(a, 1024, 1u << 22, &v) != 0)
				return app_bad("--nb-mbufs", a,
					"expected 1024..4194304");
			o->nb_mbufs = (uint32_t)v;
			break;
		case O_MBUF_SIZE:
			if (app_parse_u64(a, 2048, VPERF_MBUF_ROOM_MAX,
					&v) != 0)
				return app_bad("--mbuf-size", a,
					"expected 2048..65407");
			o->mbuf_size = (uint32_t)v;
			break;
		case O_MAX_CONNS:
			if (app_parse_u64(a, 16, 1u << 24, &v) != 0)
				return app_bad("--max-conns", a,
					"expected 16..16777216");
			o->max_conns = (uint32_t)v;
			break;
		case O_PCAP:
			vperf_pcap = a;
			break;
		case O_PCAP_SNAPLEN:
			if (app_pcap_parse_snaplen(a, &vperf_pcap_conf) != 0)
				return -EINVAL;
			break;
		default:
			return app_opt_other(opt, argv);
		}
	}
	if (optind < argc)
		return app_bad("argument", argv[optind], "unexpected");
	if (tests > 1)
		return app_bad("-R/--latency/--conn-rate/--verify", "",
			"choose one test");
	if (o->size_min != o->size_max && o->test != VPERF_VERIFY)
		return app_bad("-l", "", "a range of sizes needs --verify");
	if (o->test == VPERF_VERIFY && (!o->client ||
			o->type != VSOCK_TYPE_STREAM))
		return app_bad("--verify", "", "needs -c CID of a STREAM echo "
			"server (vsock-bridge --echo-port, vsock-testpmd "
			"--mode echo)");
	if (o->test == VPERF_VERIFY && o->bytes != 0 && !time_set)
		o->duration = 0;	/* --bytes alone ends it */
	if (o->server && o->client)
		return app_bad("-s", "-c", "a server or a client, not both");
	if (!o->server && !o->client && strncmp(o->dev, "loopback", 8) != 0)
		return app_bad("-c", "", "a client needs the server's CID "
			"(only the loopback device serves itself)");
	if (!o->server && o->duration == 0 && !(o->test == VPERF_VERIFY &&
			o->bytes != 0))
		return app_bad("-t", "0", "only a server, or --verify with "
			"--bytes, runs without a time limit");
	if (o->cold && (!o->client || (o->test != VPERF_SEND &&
			o->test != VPERF_RECV)))
		return app_bad("--cold", "", "is for a client's stream tests "
			"(sending, or -R)");
	if (o->type == VSOCK_TYPE_SEQPACKET && o->size > VPERF_SEQ_MAX)
		return app_bad("-l", "", "SEQPACKET messages are at most "
			"524288 bytes");
	return 0;
}

static double
vperf_now(void)
{
	return (double)rte_get_timer_cycles() / (double)rte_get_timer_hz();
}

/* Bytes of memory in use: the DPDK heap and the C heap. */
static uint64_t
vperf_mem_in_use(void)
{
	struct rte_malloc_socket_stats ms;
	struct mallinfo2 mi = mallinfo2();
	uint64_t total = mi.uordblks + mi.hblkhd;

	if (rte_malloc_get_socket_stats((int)rte_socket_id(), &ms) == 0)
		total += ms.heap_allocsz_bytes;
	return total;
}

/* Open the --idle connections; false when they could not all be. */
static bool
vperf_open_idle(struct vperf_ctx *t, struct vperf_server *sv,
		struct vperf_report *rep)
{
	double start = vperf_now(), next = start + 1;
	uint64_t before = vperf_mem_in_use();

	if (vperf_idle_start(t) != 0)
		return false;
	while (!app_quit && !vperf_idle_ready(t) &&
			vperf_now() - start < VPERF_IDLE_SECONDS) {
		vsock_stack_poll(t->stack);
		vperf_client_poll(t);
		if (sv != NULL)
			vperf_server_poll(sv);
		if (vperf_now() >= next) {
			fprintf(t->o.json ? stderr : stdout, "idle: %u of %u "
				"connections up\n", t->idle_up, t->o.idle);
			next += 1;
		}
	}
	rep->idle_up = t->idle_up;
	rep->idle_seconds = vperf_now() - start;
	rep->idle_bytes = vperf_mem_in_use() - before;
	return t->idle_up == t->o.idle;
}

/* The test itself, until -t is over and the streams have finished. */
static void
vperf_run(struct vperf_ctx *t, struct vperf_server *sv,
		struct vperf_report *rep)
{
	double start = vperf_now(), next = start + t->o.interval, stop_at = 0;
	double duration = t->o.duration;

	vperf_report_begin(rep, t, start);
	while (!app_quit || t->o.client) {
		double now = vperf_now();

		vsock_stack_poll(t->stack);
		if (t->o.client)
			vperf_client_poll(t);
		if (sv != NULL)
			vperf_server_poll(sv);
		if (t->o.interval > 0 && now >= next) {
			vperf_report_interval(rep, t, sv, now);
			next += t->o.interval;
		}
		if (!t->stopping && (app_quit || (duration > 0 &&
				now - start >= duration) ||
				(t->o.test == VPERF_VERIFY &&
				vperf_verify_budget_done(t)))) {
			vperf_report_end_of_traffic(rep, t, now);
			if (!t->o.client)
				break;
			vperf_client_stop(t);
			stop_at = now;
		}
		if (t->stopping && (vperf_client_done(t) ||
				now - stop_at > VPERF_DRAIN_SECONDS))
			break;
	}
}

/* Let closes leave and their answers come back. */
static void
vperf_settle(struct vperf_ctx *t, struct vperf_server *sv)
{
	double end = vperf_now() + 2;

	while (vperf_now() < end) {
		struct vsock_stack_stats ss;

		vsock_stack_poll(t->stack);
		vsock_stack_stats_get(t->stack, &ss);
		if (sv != NULL)
			vperf_server_poll(sv);
		/* Gone, and the device has given back what it was sent. */
		if (ss.conns_open == 0 && ss.ctl_mbufs_in_use == 0)
			break;
	}
}

int
main(int argc, char **argv)
{
	struct vperf_ctx t = { 0 };
	struct vperf_report rep = { 0 };
	struct virtio_vsock_conf dconf = { 0 };
	struct vsock_stack_conf sconf = { 0 };
	struct virtio_vsock_dev *dev = NULL;
	struct vperf_server *sv = NULL;
	struct vsock_capture *cap = NULL;
	struct vsock_port *port;
	struct app_args ea;
	uint64_t mem0;
	char err[512];
	int ret;

	app_opts_init("vsock-perf");
	if (app_eal_split(argc, argv, &ea) != 0)
		return 1;
	ret = vperf_parse_opts(ea.app_argc, ea.app, &t.o);
	if (ret != 0) {
		app_eal_free(&ea);
		if (ret == 1)
			vperf_usage(stdout, argv[0]);
		return ret == 1 ? 0 : 2;
	}
	if (app_eal_start(&ea, "vsock-perf", t.o.dev) != 0)
		return 1;
	t.tsc_hz = rte_get_tsc_hz();
	t.pool = rte_pktmbuf_pool_create("vperf_pool", t.o.nb_mbufs, 256, 0,
			(uint16_t)(t.o.mbuf_size + RTE_PKTMBUF_HEADROOM),
			rte_socket_id());
	if (t.pool != NULL)
		t.pay = t.o.cold && t.o.test == VPERF_SEND ?
			vperf_payload_create_cold((int)rte_socket_id()) :
			vperf_payload_create((int)rte_socket_id());
	t.hist = rte_zmalloc("vperf_hist", sizeof(*t.hist), 0);
	if (t.pool == NULL || t.hist == NULL) {
		fprintf(stderr, "vsock-perf: cannot allocate %u mbufs: %s\n",
			t.o.nb_mbufs, rte_strerror(rte_errno));
		return 1;
	}
	if (t.pay == NULL && t.o.cold && vperf_cold_len() == 0) {
		fprintf(stderr, "vsock-perf: bad %s '%s': expected bytes, a "
			"multiple of 2 MiB up to 1 GiB\n", VPERF_COLD_ENV,
			getenv(VPERF_COLD_ENV));
		return 2;
	}
	if (t.pay == NULL) {
		fprintf(stderr, "vsock-perf: cannot allocate the %zu-byte %s "
			"pattern in hugepages: %s\n", t.o.cold ?
			vperf_cold_len() : (size_t)VPERF_MAX_MSG,
			t.o.cold ? "cold" : "payload", rte_strerror(rte_errno));
		return 1;
	}
	/*
	 * Every allocation before the device: a vhost back-end sees only the
	 * memory that exists when the device starts.
	 */
	sconf.pool = t.pool;
	sconf.socket_id = (int)rte_socket_id();
	sconf.max_conns = t.o.max_conns != 0 ? t.o.max_conns :
		RTE_MAX(4096u, 2 * (t.o.streams + t.o.idle) + 64);
	mem0 = vperf_mem_in_use();
	t.stack = vsock_stack_create("vsock-perf", &sconf);
	if (t.stack == NULL) {
		fprintf(stderr, "vsock-perf: stack of %u connections: %s\n",
			sconf.max_conns, rte_strerror(rte_errno));
		return 1;
	}
	rep.stack_bytes_per_conn = (double)(vperf_mem_in_use() - mem0) /
		sconf.max_conns;
	if (vperf_pcap != NULL) {
		cap = vsock_capture_open(vperf_pcap, &vperf_pcap_conf, err,
				sizeof(err));
		if (cap == NULL) {
			fprintf(stderr, "vsock-perf: --pcap %s\n", err);
			return 1;
		}
	}
	dconf.rx_pool = t.pool;
	dconf.socket_id = (int)rte_socket_id();
	dev = virtio_vsock_open(t.o.dev, &dconf, err, sizeof(err));
	if (dev == NULL) {
		fprintf(stderr, "vsock-perf: %s\n", err);
		return rte_errno == EINVAL ? 2 : 1;
	}
	/* With --pcap the stack's port is the capture's wrapper. */
	port = virtio_vsock_port(dev);
	if (cap != NULL)
		port = vsock_capture_wrap(cap, port);
	ret = port != NULL ? vsock_stack_attach(t.stack, port) : -ENOMEM;
	if (ret < 0) {
		fprintf(stderr, "vsock-perf: attach: %s\n", strerror(-ret));
		return 1;
	}
	t.peer_cid = t.o.cid != 0 ? t.o.cid : vsock_stack_local_cid(t.stack);
	if (!t.o.server && !t.o.client)
		t.o.client = true;	/* loopback: serve ourselves */
	if (t.o.server || t.peer_cid == vsock_stack_local_cid(t.stack)) {
		sv = vperf_server_start(t.stack, t.pool, t.o.port);
		if (sv == NULL) {
			fprintf(stderr, "vsock-perf: listen on ports %u and "
				"%u: %s\n", t.o.port, t.o.port + 1,
				rte_strerror(rte_errno));
			return 1;
		}
	}
	vperf_report_start(&rep, &t, dev);
	if (t.o.client && t.o.idle > 0 && !vperf_open_idle(&t, sv, &rep))
		fprintf(stderr, "vsock-perf: only %u of %u idle connections "
			"came up\n", t.idle_up, t.o.idle);
	/* --verify: a quarter of the pool's bytes in flight at most. */
	t.window = RTE_MIN(256u << 10, RTE_MAX(16u << 10, (uint64_t)
			t.o.nb_mbufs * t.o.mbuf_size / 4 / t.o.streams));
	if (t.o.client && !app_quit) {
		ret = vperf_client_start(&t);
		if (ret != 0) {
			fprintf(stderr, "vsock-perf: connect to %" PRIu64
				":%u: %s\n", t.peer_cid, t.o.port,
				strerror(-ret));
			t.errors++;
		}
	}
	if (!app_quit && (ret == 0 || !t.o.client))
		vperf_run(&t, sv, &rep);
	vperf_client_free(&t);
	if (sv != NULL)
		vperf_server_stop(sv);
	vperf_settle(&t, sv);
	if (t.o.client && t.o.test == VPERF_SEND && t.trailers != t.o.streams) {
		fprintf(stderr, "vsock-perf: %u of %u sinks never answered "
			"with their byte count\n", t.o.streams - t.trailers,
			t.o.streams);
		t.errors++;
	}
	vperf_report_finish(&rep, &t, sv, dev);
	ret = t.errors == 0 ? 0 : 1;
	/* Packets still in the device's rings come from the stack's pools. */
	virtio_vsock_close(dev);
	vsock_stack_destroy(t.stack);
	if (app_pcap_close_report(cap, "vsock-perf", vperf_pcap) != 0)
		ret = 1;
	vperf_server_free(sv);
	vperf_payload_free(t.pay);
	rte_free(t.hist);
	rte_mempool_free(t.pool);
	rte_eal_cleanup();
	return ret;
}
