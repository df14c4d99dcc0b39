/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-bridge: the command line. Guests come in one of three forms, never
 * mixed: ours (--socket/--uds/--guest-cid, the n-th of each make guest n),
 * vhost-device-vsock's --vm (repeatable), or its YAML --config. All end up
 * as struct br_vm_conf (vm_conf.c), checked the same way.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/app_opts.h"
#include "../common/app_pcap.h"
#include "bridge.h"

static void
usage(FILE *f, const char *prog)
{
	fprintf(f,
"Usage: %s [EAL options] -- --socket PATH --uds PATH --guest-cid CID\n"
"           [--socket ... --uds ... --guest-cid ...] [options]\n"
"       %s [EAL options] -- --vm guest-cid=N,socket=PATH,uds-path=PATH\n"
"           [,groups=A+B][,tx-buffer-size=N][,queue-size=N] [--vm ...]\n"
"           [options]\n"
"       %s [EAL options] -- --config FILE.yaml [options]\n"
"\n"
"The host side of virtio-vsock: a vhost-user-vsock device back-end for\n"
"each guest (QEMU's vhost-user-vsock-pci, or any vhost-user front-end),\n"
"whose connections are terminated by the bridge's vsock stack as CID 2\n"
"and bridged to Unix sockets as Firecracker's hybrid vsock does. Guests\n"
"in a common group reach each other by CID (guest to guest).\n"
"Without \"--\", every option is the program's and EAL runs with\n"
"--in-memory --no-pci.\n"
"\n"
"Per guest (up to %u; the n-th of each option make guest n):\n"
"  --socket PATH     vhost-user socket of the guest's device\n"
"  --uds PATH        Unix socket side of the guest (see below); also\n"
"                    spelt --uds-path\n"
"  --guest-cid CID   the guest's CID, reported in its config space\n"
"                    (3..4294967294; default 3 for a single guest)\n"
"For every guest of that form, as vhost-device-vsock's options:\n"
"  --groups A+B      groups the guests are in (default: \"default\")\n"
"  --tx-buffer-size N  receive buffer each connection offers the guest\n"
"                    (buf_alloc; default 262144; 128..16777216)\n"
"  --queue-size N    accepted for compatibility (1..32768): the rings\n"
"                    take the size the front-end sets\n"
"vhost-device-vsock's forms (see README, \"vhost-device-vsock\"):\n"
"  --vm SPEC         one guest: guest-cid, socket, uds-path, groups,\n"
"                    tx-buffer-size, queue-size (repeatable)\n"
"  --config FILE     guests from a YAML file: a \"vms:\" list of maps\n"
"                    with guest_cid, socket, uds_path, groups,\n"
"                    tx_buffer_size, queue_size\n"
"Options:\n"
"  --client          connect to each vhost-user socket as a client,\n"
"                    retrying until a front-end listens (default: create\n"
"                    and listen on it, replacing a stale socket file)\n"
"  --echo-port P     echo service on CID 2 in each guest's reach: port P\n"
"                    echoes STREAM bytes, port P+1 echoes SEQPACKET\n"
"                    messages (0..4294967293)\n"
"  --perf-port P     vsock-perf server on CID 2: port P (STREAM) and P+1\n"
"                    (SEQPACKET) sink, source, echo and count connections\n"
"                    for vsock-perf -c 2 -p P in the guest\n"
"  --max-conns N     connections each guest's stack may hold (default\n"
"                    4096; 16..16777216)\n"
"  --nb-mbufs N      mbufs of %u bytes in the pool (default %u;\n"
"                    1024..1048576); data in flight lives there\n"
"  --stats           print counters once a second\n"
"  --pcap FILE       write every packet to and from the guests to FILE\n"
"                    (pcap, LINKTYPE_VSOCK: tcpdump, tshark, Wireshark);\n"
"                    one file for all guests, told apart by their CIDs\n"
"  --pcap-snaplen N  bytes kept of each packet, header included (default:\n"
"                    whole packets; 44..262144)\n"
"  -h, --help        this text\n"
"\n"
"Unix socket protocol (Firecracker's hybrid vsock):\n"
"  host -> guest  connect to the guest's uds path and write\n"
"                 \"CONNECT <port>\\n\" (decimal port, whole line at most\n"
"                 32 bytes). The bridge connects to <guest CID, port> and\n"
"                 answers \"OK <host port>\\n\" (the connection's local vsock\n"
"                 port); from then on bytes flow both ways, including any\n"
"                 written right after the line. A malformed line, or a\n"
"                 connection the guest refuses, closes the socket.\n"
"  guest -> host  a guest connecting to CID 2 port P is bridged to a\n"
"                 program listening on \"<uds path>_P\" (e.g. /tmp/v.sock\n"
"                 and port 1234: /tmp/v.sock_1234); with nobody there the\n"
"                 guest's connect fails with ECONNRESET.\n"
"  Either side's EOF becomes a shutdown of the other, after the bytes\n"
"  before it; a reset closes the Unix socket once its bytes are written.\n"
"Guest to guest: a guest connecting to another guest's CID reaches it\n"
"  when the two share a group; otherwise, and for a CID no guest has, it\n"
"  gets ECONNRESET.\n"
"\n"
"Exit status: 0 after SIGINT or SIGTERM, 1 on a run-time error, 2 on a\n"
"bad option.\n"
"Example:\n"
"  %s --socket /tmp/vhost-vsock.sock --uds /tmp/v.sock --guest-cid 3\n"
"  %s --vm guest-cid=4,socket=/tmp/vhost4.socket,uds-path=/tmp/vm4.vsock\n",
		prog, prog, prog, BR_MAX_GUESTS, BR_MBUF_ROOM,
		BR_DEFAULT_MBUFS, prog, prog);
}

/* Our form's per-guest options, before they become struct br_vm_conf. */
struct br_own {
	const char *sock[BR_MAX_GUESTS];
	const char *uds[BR_MAX_GUESTS];
	const char *cid[BR_MAX_GUESTS];
	unsigned int nb_sock, nb_uds, nb_cid;
	/* --groups, --tx-buffer-size, --queue-size: for all of them. */
	const char *common[3];
};

static const char *const br_common_keys[3] = {
	"groups", "tx-buffer-size", "queue-size",
};

static int
br_own_add(const char *opt, const char *val, const char **list,
		unsigned int *nb)
{
	unsigned int i;

	if (*nb == BR_MAX_GUESTS)
		return app_bad(opt, val, "at most " RTE_STR(BR_MAX_GUESTS)
			" guests");
	for (i = 0; i < *nb; i++)
		if (strcmp(list[i], val) == 0)
			return app_bad(opt, val, "given twice");
	list[(*nb)++] = val;
	return 0;
}

/* One key of @vm from option @opt, checked by vm_conf.c. */
static int
br_own_set(struct br_vm_conf *vm, const char *opt, const char *key,
		const char *val)
{
	char why[160];

	if (br_vm_set(vm, key, val, why, sizeof(why)) != 0)
		return app_bad(opt, val, why);
	return 0;
}

/* Our form into o->vms. */
static int
br_own_finish(const struct br_own *w, struct br_opts *o)
{
	unsigned int i, k;
	int r;

	if (w->nb_sock == 0)
		return app_bad("--socket", "", "at least one guest is needed "
			"(or --vm, --config)");
	/* vhost-device-vsock's default CID, for a single guest. */
	if (w->nb_uds != w->nb_sock || (w->nb_cid != w->nb_sock &&
			!(w->nb_sock == 1 && w->nb_cid == 0))) {
		fprintf(stderr, "vsock-bridge: %u --socket, %u --uds and %u "
			"--guest-cid: give one of each per guest (see "
			"--help)\n", w->nb_sock, w->nb_uds, w->nb_cid);
		return -EINVAL;
	}
	for (i = 0; i < w->nb_sock; i++) {
		struct br_vm_conf *vm = &o->vms[i];

		br_vm_init(vm);
		r = br_own_set(vm, "--socket", "socket", w->sock[i]);
		if (r == 0)
			r = br_own_set(vm, "--uds", "uds-path", w->uds[i]);
		if (r == 0 && w->nb_cid > 0)
			r = br_own_set(vm, "--guest-cid", "guest-cid",
					w->cid[i]);
		for (k = 0; r == 0 && k < RTE_DIM(w->common); k++)
			if (w->common[k] != NULL) {
				char opt[32];

				snprintf(opt, sizeof(opt), "--%s",
					br_common_keys[k]);
				r = br_own_set(vm, opt, br_common_keys[k],
						w->common[k]);
			}
		if (r != 0)
			return r;
	}
	o->nb_vms = w->nb_sock;
	return 0;
}

static int
br_add_vm(struct br_opts *o, const char *val)
{
	char err[512];

	if (o->nb_vms == BR_MAX_GUESTS)
		return app_bad("--vm", val, "at most " RTE_STR(BR_MAX_GUESTS)
			" guests");
	if (br_vm_parse(val, &o->vms[o->nb_vms], err, sizeof(err)) != 0) {
		fprintf(stderr, "vsock-bridge: %s\n", err);
		return -EINVAL;
	}
	o->nb_vms++;
	return 0;
}

static int
br_guests_finish(const struct br_own *w, struct br_opts *o,
		const char *config)
{
	bool own = w->nb_sock + w->nb_uds + w->nb_cid > 0 ||
		w->common[0] != NULL || w->common[1] != NULL ||
		w->common[2] != NULL;
	char err[512];
	int r;

	if ((own ? 1 : 0) + (o->nb_vms > 0) + (config != NULL) > 1) {
		fprintf(stderr, "vsock-bridge: give the guests one way: "
			"--socket/--uds/--guest-cid (with --groups, "
			"--tx-buffer-size, --queue-size), --vm, or --config\n");
		return -EINVAL;
	}
	if (config != NULL) {
		r = br_vm_config_load(config, o->vms, BR_MAX_GUESTS,
				&o->nb_vms, err, sizeof(err));
		if (r != 0) {
			fprintf(stderr, "vsock-bridge: --config %s\n", err);
			return -EINVAL;
		}
	} else if (o->nb_vms == 0) {
		r = br_own_finish(w, o);
		if (r != 0)
			return r;
	}
	if (br_vm_check_dups(o->vms, o->nb_vms, err, sizeof(err)) != 0) {
		fprintf(stderr, "vsock-bridge: %s\n", err);
		return -EINVAL;
	}
	return 0;
}

int
br_parse_opts(int argc, char **argv, struct br_opts *o)
{
	enum { O_SOCKET = 256, O_UDS, O_CID, O_CLIENT, O_ECHO, O_PERF,
		O_MBUFS, O_MAX_CONNS, O_STATS, O_PCAP, O_PCAP_SNAPLEN,
		O_VM, O_CONFIG, O_GROUPS, O_TX_BUF, O_QUEUE };
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "uds", required_argument, NULL, O_UDS },
		{ "uds-path", required_argument, NULL, O_UDS },
		{ "guest-cid", required_argument, NULL, O_CID },
		{ "groups", required_argument, NULL, O_GROUPS },
		{ "tx-buffer-size", required_argument, NULL, O_TX_BUF },
		{ "queue-size", required_argument, NULL, O_QUEUE },
		{ "vm", required_argument, NULL, O_VM },
		{ "config", required_argument, NULL, O_CONFIG },
		{ "client", no_argument, NULL, O_CLIENT },
		{ "echo-port", required_argument, NULL, O_ECHO },
		{ "perf-port", required_argument, NULL, O_PERF },
		{ "max-conns", required_argument, NULL, O_MAX_CONNS },
		{ "nb-mbufs", required_argument, NULL, O_MBUFS },
		{ "stats", no_argument, NULL, O_STATS },
		{ "pcap", required_argument, NULL, O_PCAP },
		{ "pcap-snaplen", required_argument, NULL, O_PCAP_SNAPLEN },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct br_own w = { 0 };
	const char *config = NULL;
	uint64_t v;
	int opt, r = 0;

	*o = (struct br_opts){ .nb_mbufs = BR_DEFAULT_MBUFS };
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		const char *a = optarg;

		switch (opt) {
		case O_SOCKET:
			r = br_own_add("--socket", a, w.sock, &w.nb_sock);
			break;
		case O_UDS:
			r = br_own_add("--uds", a, w.uds, &w.nb_uds);
			break;
		case O_CID:
			r = br_own_add("--guest-cid", a, w.cid, &w.nb_cid);
			break;
		case O_GROUPS:
		case O_TX_BUF:
		case O_QUEUE:
			w.common[opt - O_GROUPS] = a;
			break;
		case O_VM:
			r = br_add_vm(o, a);
			break;
		case O_CONFIG:
			if (config != NULL)
				return app_bad("--config", a, "given twice");
			config = a;
			break;
		case O_CLIENT:
			o->client = true;
			break;
		case O_ECHO:
			if (app_parse_u64(a, 0, VSOCK_PORT_ANY - 2, &v) != 0)
				return app_bad("--echo-port", a,
					"must be 0..4294967293 (P+1 is used "
					"too)");
			o->echo = true;
			o->echo_port = (uint32_t)v;
			break;
		case O_PERF:
			if (app_parse_u64(a, 0, VSOCK_PORT_ANY - 2, &v) != 0)
				return app_bad("--perf-port", a,
					"must be 0..4294967293 (P+1 is used "
					"too)");
			o->perf = true;
			o->perf_port = (uint32_t)v;
			break;
		case O_MAX_CONNS:
			if (app_parse_u64(a, 16, 1u << 24, &v) != 0)
				return app_bad("--max-conns", a,
					"must be 16..16777216");
			o->max_conns = (uint32_t)v;
			break;
		case O_MBUFS:
			if (app_parse_u64(a, 1024, 1u << 20, &v) != 0)
				return app_bad("--nb-mbufs", a,
					"must be 1024..1048576");
			o->nb_mbufs = (uint32_t)v;
			break;
		case O_STATS:
			o->stats = true;
			break;
		case O_PCAP:
			o->pcap = a;
			break;
		case O_PCAP_SNAPLEN:
			if (app_pcap_parse_snaplen(a, &o->pcap_conf) != 0)
				return -EINVAL;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 1;
		default:
			return app_opt_other(opt, argv);
		}
		if (r != 0)
			return r;
	}
	if (optind < argc)
		return app_bad("argument", argv[optind], "unexpected");
	if (o->echo && o->perf && (o->echo_port == o->perf_port ||
			o->echo_port == o->perf_port + 1 ||
			o->perf_port == o->echo_port + 1))
		return app_bad("--perf-port", "", "overlaps --echo-port");
	return br_guests_finish(&w, o, config);
}
