/* SPDX-License-Identifier: BSD-3-Clause */
/* vsock-testpmd's command line: --help, and every option checked. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>

#include <virtio_vsock_dev.h>

#include "../common/app_opts.h"
#include "../common/app_pcap.h"
#include "testpmd.h"

/* The longest message: the stack's chain limit of pool mbufs. */
#define TP_MAX_MSG (VSOCK_MAX_SEGS * TP_MBUF_ROOM)

const char *const tp_mode_names[TP_VERIFY + 1] = {
	[TP_ECHO] = "echo", [TP_SINK] = "sink", [TP_SOURCE] = "source",
	[TP_PINGPONG] = "pingpong", [TP_VERIFY] = "verify",
};

void
tp_usage(FILE *f, const char *prog)
{
	fprintf(f,
"Usage: %s [EAL options] -- --dev SPEC --mode MODE [options]\n"
"\n"
"Drive dpdk-vsock's stack over a virtio-vsock device, like testpmd.\n"
"Without \"--\", every option is the program's and EAL runs with\n"
"--in-memory. EAL always gets --no-pci (or -a ADDR for --dev pci:ADDR),\n"
"so that no other PCI device is touched.\n"
"\n"
"  --dev SPEC        the device; one of:\n%s"
"                    none: no device, CID 1 (VMADDR_CID_LOCAL) only\n"
"  --mode MODE       echo      server: echo every byte back\n"
"                    sink      server: read and drop\n"
"                    source    client: send as fast as credit allows\n"
"                    pingpong  client: one message at a time, round trip\n"
"                              times (rtt_us_p50, rtt_us_p99)\n"
"                    verify    client and server: random sizes, every\n"
"                              byte checked both ways\n"
"                    Client modes with no --peer (or with --serve) also run\n"
"                    the matching server in this process (source->sink,\n"
"                    pingpong->echo, verify->checking echo).\n"
"  --type T          stream (default) or seqpacket\n"
"  --conns N         client connections (default 1; 1..1000000)\n"
"  --size N|MIN-MAX  message size in bytes, fixed or uniformly random\n"
"                    (default 64; 1..%u)\n"
"  --duration S      seconds of traffic (default 5; 0 with a server mode\n"
"                    runs until SIGINT)\n"
"  --port P          port the server listens on and clients connect to\n"
"                    (default 1234)\n"
"  --peer CID[,CID]  CID clients connect to (default: the device's own);\n"
"                    with several (up to %u), clients take them in turn\n"
"  --serve           run the matching server even with --peer\n"
"  --h2g PATH,cid=N[,client=1]\n"
"                    also be the host of a guest: a vhost-user vsock\n"
"                    back-end (lib/vsock_vhost) on socket PATH, serving\n"
"                    CID N, on the same stack as --dev; repeatable (up\n"
"                    to %u). The stack routes by CID: 2 to --dev, N to\n"
"                    its back-end, our own CID and 1 stay here. With\n"
"                    test hooks, break_rx=B breaks the guest's rx ring\n"
"                    once, after B buffers (a used id out of range)\n"
"  --nb-mbufs N      mbufs in the pool (default 16384, of %u bytes)\n"
"  --seed S          seed of the verify pattern and sizes (default 1)\n"
"  --bytes N         each client sends N bytes, then closes (source) or\n"
"                    waits for the echo and closes (verify, pingpong);\n"
"                    the run ends when every client is done\n"
"  --reconnect       a client connection that is reset is counted (an\n"
"                    error) and replaced by a new one while the run\n"
"                    lasts: traffic goes on past a device reset\n"
"  --json            print one JSON object at the end (progress lines go\n"
"                    to stderr)\n"
"  -i, --interactive a testpmd-like prompt on stdin (\"help\" lists its\n"
"                    commands): traffic starts with \"start\" and the run\n"
"                    ends with \"quit\" or end of input, not --duration;\n"
"                    --mode is optional (default echo)\n"
"  --pcap FILE       write every packet in and out of the device to FILE\n"
"                    (pcap, LINKTYPE_VSOCK: tcpdump, tshark, Wireshark)\n"
"  --pcap-snaplen N  bytes kept of each packet, header included\n"
"                    (44..262144)\n"
"  -h, --help        this text\n"
"\n"
"Exit status: 0 when errors is 0, 1 on errors, 2 on a bad option.\n"
"Example:\n"
"  %s -l 0-1 --in-memory --no-pci -- --dev loopback --mode verify \\\n"
"      --conns 100 --size 1-262144 --duration 3 --json\n",
		prog, virtio_vsock_spec_usage(), TP_MAX_MSG, TP_MAX_PEERS,
		TP_MAX_H2G, TP_MBUF_ROOM, prog);
}

int
tp_parse_size(const char *s, struct tp_opts *o)
{
	uint64_t a, b;

	if (app_parse_range(s, 1, TP_MAX_MSG, &a, &b) != 0)
		return -EINVAL;
	o->size_min = (uint32_t)a;
	o->size_max = (uint32_t)b;
	return 0;
}

/* --peer A[,B...]: o->peer is the first. */
static int
parse_peers(const char *a, struct tp_opts *o)
{
	char buf[256], *save = NULL, *tok;
	uint64_t v;

	if (strlen(a) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, a);
	o->nb_peers = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
			tok = strtok_r(NULL, ",", &save)) {
		if (o->nb_peers == TP_MAX_PEERS ||
				app_parse_u64(tok, 1, 0xfffffffeULL, &v) != 0)
			return -EINVAL;
		o->peers[o->nb_peers++] = v;
	}
	if (o->nb_peers == 0 || a[strlen(a) - 1] == ',')
		return -EINVAL;
	o->peer = o->peers[0];
	return 0;
}

int
tp_parse_opts(int argc, char **argv, struct tp_opts *o)
{
	enum { O_DEV = 256, O_MODE, O_TYPE, O_CONNS, O_SIZE, O_DURATION,
		O_PORT, O_PEER, O_JSON, O_NB_MBUFS, O_SEED, O_BYTES,
		O_RECONNECT, O_PCAP, O_PCAP_SNAPLEN, O_SERVE, O_H2G,
		O_INTERACTIVE = 'i' };
	static const struct option longopts[] = {
		{ "dev", required_argument, NULL, O_DEV },
		{ "mode", required_argument, NULL, O_MODE },
		{ "type", required_argument, NULL, O_TYPE },
		{ "conns", required_argument, NULL, O_CONNS },
		{ "size", required_argument, NULL, O_SIZE },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "port", required_argument, NULL, O_PORT },
		{ "peer", required_argument, NULL, O_PEER },
		{ "serve", no_argument, NULL, O_SERVE },
		{ "h2g", required_argument, NULL, O_H2G },
		{ "json", no_argument, NULL, O_JSON },
		{ "nb-mbufs", required_argument, NULL, O_NB_MBUFS },
		{ "seed", required_argument, NULL, O_SEED },
		{ "bytes", required_argument, NULL, O_BYTES },
		{ "reconnect", no_argument, NULL, O_RECONNECT },
		{ "pcap", required_argument, NULL, O_PCAP },
		{ "pcap-snaplen", required_argument, NULL, O_PCAP_SNAPLEN },
		{ "interactive", no_argument, NULL, O_INTERACTIVE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[512];
	uint64_t v;
	int opt, mode_set = 0;
	size_t i;

	*o = (struct tp_opts){ .type = VSOCK_TYPE_STREAM, .conns = 1,
		.size_min = 64, .size_max = 64, .duration = 5, .port = 1234,
		.nb_mbufs = 16384, .seed = 1 };
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hi", longopts, NULL)) != -1) {
		const char *a = optarg;

		switch (opt) {
		case O_DEV:
			if (strcmp(a, "none") != 0 &&
					virtio_vsock_spec_check(a, err,
					sizeof(err)) != 0)
				return app_bad("--dev", a, err);
			o->dev = a;
			break;
		case O_MODE:
			for (i = 0; i < RTE_DIM(tp_mode_names); i++)
				if (strcmp(a, tp_mode_names[i]) == 0)
					break;
			if (i == RTE_DIM(tp_mode_names))
				return app_bad("--mode", a, "expected echo, sink, "
					"source, pingpong or verify");
			o->mode = (enum tp_mode)i;
			mode_set = 1;
			break;
		case O_TYPE:
			if (strcmp(a, "stream") == 0)
				o->type = VSOCK_TYPE_STREAM;
			else if (strcmp(a, "seqpacket") == 0)
				o->type = VSOCK_TYPE_SEQPACKET;
			else if (strcmp(a, "dgram") == 0)
				return app_bad("--type", a, "SOCK_DGRAM is not part "
					"of virtio-vsock");
			else
				return app_bad("--type", a, "expected stream or "
					"seqpacket");
			break;
		case O_CONNS:
			if (app_parse_u64(a, 1, 1000000, &v) != 0)
				return app_bad("--conns", a, "expected 1..1000000");
			o->conns = (uint32_t)v;
			break;
		case O_SIZE:
			if (tp_parse_size(a, o) != 0)
				return app_bad("--size", a, "expected N or MIN-MAX "
					"with 1 <= MIN <= MAX <= 983040");
			break;
		case O_DURATION: {
			char *end;

			errno = 0;
			o->duration = strtod(a, &end);
			if (errno != 0 || *end != '\0' || a[0] == '\0' ||
					!(o->duration >= 0 &&
					o->duration <= 86400 * 365))
				return app_bad("--duration", a, "expected seconds "
					">= 0");
			break;
		}
		case O_PORT:
			if (app_parse_u64(a, 0, 0xfffffffeULL, &v) != 0)
				return app_bad("--port", a, "expected 0..4294967294");
			o->port = (uint32_t)v;
			break;
		case O_PEER:
			if (parse_peers(a, o) != 0)
				return app_bad("--peer", a, "expected CIDs "
					"1..4294967294, comma-separated, at "
					"most " RTE_STR(TP_MAX_PEERS));
			break;
		case O_SERVE:
			o->serve = true;
			break;
		case O_H2G:
			if (tp_h2g_parse(a, o) != 0)
				return -EINVAL;
			break;
		case O_JSON:
			o->json = true;
			break;
		case O_NB_MBUFS:
			if (app_parse_u64(a, 1024, 1u << 22, &v) != 0)
				return app_bad("--nb-mbufs", a,
					"expected 1024..4194304");
			o->nb_mbufs = (uint32_t)v;
			break;
		case O_SEED:
			if (app_parse_u64(a, 0, UINT64_MAX, &v) != 0)
				return app_bad("--seed", a, "expected an integer");
			o->seed = v;
			break;
		case O_BYTES:
			if (app_parse_u64(a, 1, UINT64_MAX / 2, &v) != 0)
				return app_bad("--bytes", a, "expected a byte count"
					" >= 1");
			o->bytes = v;
			break;
		case O_RECONNECT:
			o->reconnect = true;
			break;
		case O_PCAP:
			o->pcap = a;
			break;
		case O_PCAP_SNAPLEN:
			if (app_pcap_parse_snaplen(a, &o->pcap_conf) != 0)
				return -EINVAL;
			break;
		case O_INTERACTIVE:
			o->interactive = true;
			break;
		default:
			return app_opt_other(opt, argv);
		}
	}
	if (optind < argc)
		return app_bad("argument", argv[optind], "unexpected");
	if (o->dev == NULL)
		return app_bad("--dev", "", "a device is required");
	/* The prompt starts as an echo server; "set mode" changes it. */
	if (!mode_set && !o->interactive)
		return app_bad("--mode", "", "a mode is required");
	if (o->duration == 0 && !o->interactive && o->mode != TP_ECHO &&
			o->mode != TP_SINK)
		return app_bad("--duration", "0", "only server modes run forever");
	return 0;
}
