/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsockd: owns the virtio-vsock devices, runs one vsock stack on its main
 * lcore and serves applications (libvsock, the preload) over a Unix
 * control socket and a shared segment each. Options, EAL, devices and the
 * main loop live here.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <virtio_vsock_dev.h>
#include <vsock_stack.h>

#include "app_eal.h"
#include "app_opts.h"
#include "perf_server.h"
#include "vsockd.h"

RTE_LOG_REGISTER(vd_logtype, vsock.vsockd, INFO);

#define VD_DEFAULT_MODE 0660
#define VD_DEFAULT_NB_MBUFS 8192u
#define VD_DEFAULT_MBUF_SIZE 16384u
#define VD_MBUF_ROOM_MAX (UINT16_MAX - RTE_PKTMBUF_HEADROOM)
#define VD_DEFAULT_MAX_CONNS 4096u
#define VD_DEFAULT_MAX_APPS 256u
#define VD_DEFAULT_RPC_US 20u
#define VD_RING_MIN 4096u
#define VD_RING_MAX (64u << 20)
/* Seconds shutdown waits for RSTs to leave. */
#define VD_SETTLE_MS 1000u

struct vd_daemon vd = { .lfd = -1, .epfd = -1 };

static void
usage(FILE *f, const char *prog)
{
	fprintf(f,
"Usage: %s [EAL options] -- [--dev SPEC ...] [--h2g PATH,cid=N ...]\n"
"           [options]\n"
"\n"
"The socket layer's daemon: owns the virtio-vsock devices, runs one vsock\n"
"stack on its main lcore and serves AF_VSOCK sockets to applications\n"
"(libvsock, libvsock-preload.so) over a Unix SOCK_SEQPACKET control\n"
"socket and one shared memory segment per application. At least one\n"
"--dev or --h2g.\n"
"\n"
"  --dev SPEC           a device to attach, as a guest (0..%u of them;\n"
"                       the first one carries connections to CID 2 and\n"
"                       to CIDs without a route):\n"
"  %s\n"
"  --h2g PATH,cid=N[,client=1]\n"
"                       serve a guest (0..%u of them): a vhost-user\n"
"                       vsock device back-end on the Unix socket PATH\n"
"                       (QEMU's vhost-user-vsock-pci, or another\n"
"                       vsockd's --dev vhost-user:path=PATH), the guest's\n"
"                       CID N (3..4294967294); client=1 connects to PATH\n"
"                       instead of listening. Programs reach the guest\n"
"                       at CID N and it reaches them at CID 2, as with\n"
"                       Linux's vhost-vsock; --h2g alone makes a host\n"
"                       (local CID 2). Needs --mbuf-size >= %u\n"
"  --socket PATH        control socket (default: $%s, else\n"
"                       %s); its directory is created\n"
"  --socket-mode OCTAL  its permissions (default 0%o: owner and group;\n"
"                       0666 lets every user in)\n"
"  --socket-group G     its group, a name or a GID\n"
"  --app-sockets N      sockets per application, a power of two\n"
"                       (default %u; 1..65536)\n"
"  --ring-size BYTES    each socket's rx and tx ring, a power of two\n"
"                       (default %u; %u..%u); a socket's buffer size\n"
"                       (SO_VM_SOCKETS_BUFFER_SIZE) is at most this - 16\n"
"                       for SEQPACKET, %u MiB for STREAM\n"
"  --nb-mbufs N         mbufs in the pool (default %u; 1024..4194304)\n"
"  --mbuf-size N        data bytes per mbuf (default %u; 2048..65407)\n"
"  --max-conns N        connections the stack holds (default %u;\n"
"                       16..16777216)\n"
"  --max-apps N         applications attached at once (default %u;\n"
"                       1..65536)\n"
"  --rpc-interval US    microseconds between looks at the control\n"
"                       sockets (default %u; 1..100000)\n"
"  --perf-port P        the vsock-perf server inside the daemon, on its own\n"
"                       stack: port P (STREAM) and P+1 (SEQPACKET), for\n"
"                       benchmarks of the socket layer (sockperf --vsock\n"
"                       1:P under the preload) with no second spinning\n"
"                       process\n"
"  -h, --help           this text\n"
"\n"
"Telemetry (dpdk-telemetry.py, vsock-ss -p): /vsockd/apps,\n"
"/vsockd/sockets, /vsockd/stats, /vsockd/h2g (the back-ends' counters)\n"
"beside the stack's /vsock/*.\n"
"SIGINT or SIGTERM resets every connection, removes the socket and exits 0.\n"
"Exit status: 0 after a signal, 1 when start-up fails, 2 on a bad option.\n"
"Example:\n"
"  %s -l 0 --in-memory -- --dev loopback --socket /tmp/vsockd.sock \\\n"
"      --socket-mode 0666\n"
"  %s -l 0 --in-memory -- --h2g /tmp/vm33.sock,cid=33 \\\n"
"      --socket /tmp/vsockd-host.sock\n",
		prog, VD_MAX_DEVS, virtio_vsock_spec_usage(), VD_MAX_H2G,
		(unsigned int)VD_H2G_MIN_ROOM, VSL_ENV_SOCKET,
		VSL_DEFAULT_SOCKET, VD_DEFAULT_MODE, VSL_DEFAULT_SLOTS,
		VSL_DEFAULT_RING, VD_RING_MIN, VD_RING_MAX,
		VD_STREAM_BUF_MAX >> 20,
		VD_DEFAULT_NB_MBUFS, VD_DEFAULT_MBUF_SIZE,
		VD_DEFAULT_MAX_CONNS, VD_DEFAULT_MAX_APPS, VD_DEFAULT_RPC_US,
		prog, prog);
}

static int
parse_pow2(const char *opt, const char *a, uint64_t min, uint64_t max,
		uint32_t *out)
{
	char why[96];
	uint64_t v;

	if (app_parse_u64(a, min, max, &v) != 0 || !rte_is_power_of_2(v)) {
		snprintf(why, sizeof(why), "expected a power of two, "
			"%" PRIu64 "..%" PRIu64, min, max);
		return app_bad(opt, a, why);
	}
	*out = (uint32_t)v;
	return 0;
}

static int
parse_group(const char *a, struct vd_conf *c)
{
	struct group *g;
	uint64_t v;

	if (app_parse_u64(a, 0, UINT32_MAX - 1, &v) == 0) {
		c->socket_group = (gid_t)v;
	} else {
		g = getgrnam(a);
		if (g == NULL)
			return app_bad("--socket-group", a, "no such group");
		c->socket_group = g->gr_gid;
	}
	c->group_set = true;
	return 0;
}

static int
parse_opts(int argc, char **argv, struct vd_conf *c)
{
	enum { O_DEV = 256, O_H2G, O_SOCKET, O_MODE, O_GROUP, O_SOCKS, O_RING,
		O_NB_MBUFS, O_MBUF_SIZE, O_MAX_CONNS, O_MAX_APPS, O_RPC,
		O_PERF };
	static const struct option longopts[] = {
		{ "dev", required_argument, NULL, O_DEV },
		{ "h2g", required_argument, NULL, O_H2G },
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "socket-mode", required_argument, NULL, O_MODE },
		{ "socket-group", required_argument, NULL, O_GROUP },
		{ "app-sockets", required_argument, NULL, O_SOCKS },
		{ "ring-size", required_argument, NULL, O_RING },
		{ "nb-mbufs", required_argument, NULL, O_NB_MBUFS },
		{ "mbuf-size", required_argument, NULL, O_MBUF_SIZE },
		{ "max-conns", required_argument, NULL, O_MAX_CONNS },
		{ "max-apps", required_argument, NULL, O_MAX_APPS },
		{ "rpc-interval", required_argument, NULL, O_RPC },
		{ "perf-port", required_argument, NULL, O_PERF },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv(VSL_ENV_SOCKET);
	char err[512], *end;
	unsigned long m;
	uint64_t v;
	int opt;

	*c = (struct vd_conf){
		.socket_path = env != NULL && env[0] != '\0' ? env :
			VSL_DEFAULT_SOCKET,
		.socket_mode = VD_DEFAULT_MODE,
		.nslots = VSL_DEFAULT_SLOTS, .ring_size = VSL_DEFAULT_RING,
		.nb_mbufs = VD_DEFAULT_NB_MBUFS,
		.mbuf_size = VD_DEFAULT_MBUF_SIZE,
		.max_conns = VD_DEFAULT_MAX_CONNS,
		.max_apps = VD_DEFAULT_MAX_APPS,
		.rpc_interval_us = VD_DEFAULT_RPC_US,
	};
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		const char *a = optarg;

		switch (opt) {
		case O_DEV:
			if (virtio_vsock_spec_check(a, err, sizeof(err)) != 0)
				return app_bad("--dev", a, err);
			if (c->nb_devs == VD_MAX_DEVS)
				return app_bad("--dev", a, "at most "
					RTE_STR(VD_MAX_DEVS) " devices");
			c->devs[c->nb_devs++] = a;
			break;
		case O_H2G:
			if (vd_h2g_parse(a, c) != 0)
				return -EINVAL;
			break;
		case O_SOCKET:
			if (a[0] == '\0')
				return app_bad("--socket", a, "empty path");
			c->socket_path = a;
			break;
		case O_MODE:
			errno = 0;
			m = strtoul(a, &end, 8);
			if (a[0] < '0' || a[0] > '7' || *end != '\0' ||
					errno != 0 || m > 0777)
				return app_bad("--socket-mode", a,
					"expected octal permissions, 0..0777");
			c->socket_mode = (unsigned int)m;
			break;
		case O_GROUP:
			if (parse_group(a, c) != 0)
				return -EINVAL;
			break;
		case O_SOCKS:
			if (parse_pow2("--app-sockets", a, 1, 65536,
					&c->nslots) != 0)
				return -EINVAL;
			break;
		case O_RING:
			if (parse_pow2("--ring-size", a, VD_RING_MIN,
					VD_RING_MAX, &c->ring_size) != 0)
				return -EINVAL;
			break;
		case O_NB_MBUFS:
			if (app_parse_u64(a, 1024, 1u << 22, &v) != 0)
				return app_bad("--nb-mbufs", a,
					"expected 1024..4194304");
			c->nb_mbufs = (uint32_t)v;
			break;
		case O_MBUF_SIZE:
			if (app_parse_u64(a, 2048, VD_MBUF_ROOM_MAX, &v) != 0)
				return app_bad("--mbuf-size", a,
					"expected 2048..65407");
			c->mbuf_size = (uint32_t)v;
			break;
		case O_MAX_CONNS:
			if (app_parse_u64(a, 16, 1u << 24, &v) != 0)
				return app_bad("--max-conns", a,
					"expected 16..16777216");
			c->max_conns = (uint32_t)v;
			break;
		case O_MAX_APPS:
			if (app_parse_u64(a, 1, 65536, &v) != 0)
				return app_bad("--max-apps", a,
					"expected 1..65536");
			c->max_apps = (uint32_t)v;
			break;
		case O_RPC:
			if (app_parse_u64(a, 1, 100000, &v) != 0)
				return app_bad("--rpc-interval", a,
					"expected 1..100000 microseconds");
			c->rpc_interval_us = (uint32_t)v;
			break;
		case O_PERF:
			if (app_parse_u64(a, 0, VSOCK_PORT_ANY - 2, &v) != 0)
				return app_bad("--perf-port", a,
					"must be 0..4294967293 (P+1 is used "
					"too)");
			c->perf = true;
			c->perf_port = (uint32_t)v;
			break;
		default:
			return app_opt_other(opt, argv);
		}
	}
	if (optind < argc)
		return app_bad("argument", argv[optind], "unexpected");
	if (c->nb_devs == 0 && c->nb_h2g == 0)
		return app_bad("--dev", "", "at least one --dev or --h2g is "
			"needed");
	return vd_h2g_check(c);
}

/*
 * EAL keeps off PCI devices that are not ours: with several pci: devices
 * each gets its -a (app_eal_guard() knows of one).
 */
static int
vd_eal_allow(struct app_args *ea, const struct vd_conf *c,
		const char **first_pci)
{
	unsigned int i, npci = 0;
	char **eal;
	int k;

	*first_pci = NULL;
	for (i = 0; i < c->nb_devs; i++)
		if (strncmp(c->devs[i], "pci:", 4) == 0) {
			npci++;
			if (*first_pci == NULL)
				*first_pci = c->devs[i];
		}
	if (npci < 2)
		return 0;
	for (k = 1; k < ea->eal_argc; k++)
		if (strncmp(ea->eal[k], "-a", 2) == 0 ||
				strncmp(ea->eal[k], "-b", 2) == 0 ||
				strncmp(ea->eal[k], "--allow", 7) == 0 ||
				strncmp(ea->eal[k], "--block", 7) == 0)
			return 0;
	/* app_eal_guard() may still add two entries, and a NULL ends it. */
	eal = calloc((size_t)ea->eal_argc + 2 * npci + 3, sizeof(char *));
	if (eal == NULL)
		return -1;
	memcpy(eal, ea->eal, (size_t)ea->eal_argc * sizeof(char *));
	free(ea->eal);
	ea->eal = eal;
	for (i = 0; i < c->nb_devs; i++)
		if (strncmp(c->devs[i], "pci:", 4) == 0) {
			ea->eal[ea->eal_argc++] = (char *)(uintptr_t)"-a";
			ea->eal[ea->eal_argc++] =
				(char *)(uintptr_t)(c->devs[i] + 4);
		}
	return 0;
}

static int
vd_setup(void)
{
	struct vsock_stack_conf sconf = { 0 };
	struct rte_hash_parameters hp = {
		.name = "vsockd_ports",
		.key_len = sizeof(uint32_t),
		.hash_func = rte_jhash,
		.socket_id = (int)rte_socket_id(),
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	const struct vd_conf *c = &vd.conf;
	int r;

	TAILQ_INIT(&vd.apps);
	TAILQ_INIT(&vd.dirty);
	TAILQ_INIT(&vd.work);
	TAILQ_INIT(&vd.outq);
	vd.next_ephemeral = VSOCK_LAST_RESERVED_PORT + 1;
	vd.pool = rte_pktmbuf_pool_create("vsockd_pool", c->nb_mbufs, 256, 0,
			(uint16_t)(c->mbuf_size + RTE_PKTMBUF_HEADROOM),
			(int)rte_socket_id());
	if (vd.pool == NULL) {
		fprintf(stderr, "vsockd: cannot allocate %u mbufs: %s\n",
			c->nb_mbufs, rte_strerror(rte_errno));
		return -1;
	}
	vd.mbuf_room = c->mbuf_size;
	/* A SEQPACKET record of a whole buffer fits the rx ring. */
	vd.buf_cap = c->ring_size - 2 * VSL_REC_ALIGN;
	r = vd_data_init();
	if (r != 0) {
		fprintf(stderr, "vsockd: mbuf field: %s\n", strerror(-r));
		return -1;
	}
	hp.entries = RTE_MAX(c->max_conns, 64u);
	vd.ports = rte_hash_create(&hp);
	if (vd.ports == NULL) {
		fprintf(stderr, "vsockd: port table: %s\n",
			rte_strerror(rte_errno));
		return -1;
	}
	sconf.pool = vd.pool;
	sconf.max_conns = c->max_conns;
	sconf.buf_alloc = RTE_MIN(256u << 10, vd.buf_cap);
	sconf.buf_max = RTE_MAX(vd.buf_cap, VD_STREAM_BUF_MAX);
	sconf.socket_id = (int)rte_socket_id();
	vd.stack = vsock_stack_create("vsockd", &sconf);
	if (vd.stack == NULL) {
		fprintf(stderr, "vsockd: stack of %u connections: %s\n",
			c->max_conns, rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

static struct virtio_vsock_dev *vd_devs[VD_MAX_DEVS];

static int
vd_open_devs(void)
{
	struct virtio_vsock_conf dconf = {
		.rx_pool = vd.pool,
		.socket_id = (int)rte_socket_id(),
	};
	char err[512];
	unsigned int i;
	int r;

	for (i = 0; i < vd.conf.nb_devs; i++) {
		vd_devs[i] = virtio_vsock_open(vd.conf.devs[i], &dconf, err,
				sizeof(err));
		if (vd_devs[i] == NULL) {
			fprintf(stderr, "vsockd: %s\n", err);
			return -1;
		}
		r = vsock_stack_attach(vd.stack, virtio_vsock_port(vd_devs[i]));
		if (r < 0) {
			fprintf(stderr, "vsockd: --dev %s: attach: %s\n",
				vd.conf.devs[i], strerror(-r));
			return -1;
		}
		vd.cids[vd.nb_cids++] = virtio_vsock_cid(vd_devs[i]);
		VD_LOG(INFO, "device %s: CID %" PRIu64 "\n", vd.conf.devs[i],
			virtio_vsock_cid(vd_devs[i]));
	}
	return 0;
}

/* --perf-port: the vsock-perf server on the daemon's own stack. */
static struct vperf_server *vd_perf;

static int
vd_perf_start(void)
{
	if (!vd.conf.perf)
		return 0;
	vd_perf = vperf_server_start(vd.stack, vd.pool, vd.conf.perf_port);
	if (vd_perf == NULL) {
		fprintf(stderr, "vsockd: --perf-port %u: %s\n",
			vd.conf.perf_port, rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

static void
vd_loop(void)
{
	uint64_t slow = rte_get_tsc_hz() * vd.conf.rpc_interval_us / 1000000;
	uint64_t last = 0, now;

	while (!app_quit) {
		vsock_stack_poll(vd.stack);
		if (vd_perf != NULL)
			vperf_server_poll(vd_perf);
		vd_apps_poll();
		now = rte_rdtsc();
		if (now - last >= slow) {
			last = now;
			vd_ctl_poll();
			vd_outq_refresh();
			vd_flush();
		}
		if (unlikely(__atomic_load_n(&vd_tel_req, __ATOMIC_RELAXED)))
			vd_tel_serve();
	}
}

/* Let the RSTs of the shutdown leave before the devices close. */
static void
vd_settle(void)
{
	uint64_t end = rte_get_timer_cycles() +
		rte_get_timer_hz() * VD_SETTLE_MS / 1000;
	struct vsock_stack_stats ss;

	while (rte_get_timer_cycles() < end) {
		vsock_stack_poll(vd.stack);
		vsock_stack_stats_get(vd.stack, &ss);
		if (ss.conns_open == 0 && ss.ctl_mbufs_in_use == 0)
			break;
	}
}

int
main(int argc, char **argv)
{
	const char *pci = NULL;
	struct app_args ea;
	unsigned int i;
	int ret;

	app_opts_init("vsockd");
	if (app_eal_split(argc, argv, &ea) != 0)
		return 1;
	ret = parse_opts(ea.app_argc, ea.app, &vd.conf);
	if (ret != 0) {
		app_eal_free(&ea);
		if (ret == 1)
			usage(stdout, argv[0]);
		return ret == 1 ? 0 : 2;
	}
	if (vd_eal_allow(&ea, &vd.conf, &pci) != 0)
		return 1;
	if (app_eal_start(&ea, "vsockd", pci) != 0)
		return 1;
	if (rte_lcore_count() > 1)
		VD_LOG(NOTICE, "one lcore is used; the others stay idle\n");
	ret = 1;
	/* Every allocation before the devices: a vhost back-end maps them. */
	if (vd_setup() != 0 || vd_ctl_open() != 0 || vd_open_devs() != 0 ||
			vd_h2g_start() != 0 || vd_perf_start() != 0)
		goto out;
	vd.local_cid = vsock_stack_local_cid(vd.stack);
	vd_tel_init();
	VD_LOG(NOTICE, "serving on %s (CID %" PRIu64 ")\n",
		vd.conf.socket_path, vd.local_cid);
	vd_loop();
	VD_LOG(NOTICE, "shutting down\n");
	vd_app_free_all();
	if (vd_perf != NULL)
		vperf_server_stop(vd_perf);
	vd_settle();
	ret = 0;
out:
	vd_tel_fini();
	vd_app_free_all();
	vd_ctl_close();
	for (i = 0; i < vd.conf.nb_devs; i++)
		if (vd_devs[i] != NULL)
			virtio_vsock_close(vd_devs[i]);
	vd_h2g_stop();
	if (vd.stack != NULL)
		vsock_stack_destroy(vd.stack);
	/* Its payload may sit in the devices' rings until they close. */
	vperf_server_free(vd_perf);
	if (vd.ports != NULL)
		rte_hash_free(vd.ports);
	rte_mempool_free(vd.pool);
	rte_eal_cleanup();
	return ret;
}
