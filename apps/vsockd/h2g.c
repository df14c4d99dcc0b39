/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsockd --h2g: lib/vsock_vhost back-ends on the daemon's stack, one per
 * guest, so that programs under the preload reach guests by CID and take
 * their connections, as Linux's vhost-vsock gives a host's AF_VSOCK, in
 * userspace. With --dev as well the daemon is a guest of its own host
 * too (a nested VM's L1); the stack routes by CID (vsock_stack_attach()).
 *
 * The option is named as vsock-testpmd's: --dev opens a device (a driver,
 * G2H, "vhost-user:" there being the front-end), --h2g serves one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_mbuf.h>

#include <vsock_vhost.h>

#include "app_opts.h"
#include "vsockd.h"

static struct vsock_vhost *vd_h2g[VD_MAX_H2G];

static int
vd_h2g_key(const char *val, const char *kv, struct vd_h2g_opt *h)
{
	uint64_t v;

	if (strncmp(kv, "cid=", 4) == 0) {
		if (app_parse_u64(kv + 4, VSOCK_CID_HOST + 1, UINT32_MAX - 1,
				&v) != 0)
			return app_bad("--h2g", val, "cid= must be a guest "
				"CID, 3..4294967294");
		h->cid = v;
	} else if (strcmp(kv, "client=1") == 0 ||
			strcmp(kv, "client=0") == 0) {
		h->client = kv[7] == '1';
	} else {
		return app_bad("--h2g", val, "unknown key (cid=, client=)");
	}
	return 0;
}

int
vd_h2g_parse(const char *val, struct vd_conf *c)
{
	struct vd_h2g_opt *h = &c->h2g[c->nb_h2g];
	const char *comma = strchr(val, ',');
	size_t plen = comma != NULL ? (size_t)(comma - val) : strlen(val);
	char keys[64], *save = NULL, *kv;
	unsigned int i;

	if (c->nb_h2g == VD_MAX_H2G)
		return app_bad("--h2g", val, "at most " RTE_STR(VD_MAX_H2G)
			" guests");
	if (plen == 0 || memchr(val, '=', plen) != NULL)
		return app_bad("--h2g", val, "expected PATH,cid=N[,client=1]"
			" with the socket path first");
	if (plen >= sizeof(h->path))
		return app_bad("--h2g", val, "socket path over 107 bytes");
	if (comma == NULL || strlen(comma + 1) >= sizeof(keys))
		return app_bad("--h2g", val, comma == NULL ?
			"cid= is required" : "too long");
	memset(h, 0, sizeof(*h));
	memcpy(h->path, val, plen);
	strcpy(keys, comma + 1);
	for (kv = strtok_r(keys, ",", &save); kv != NULL;
			kv = strtok_r(NULL, ",", &save))
		if (vd_h2g_key(val, kv, h) != 0)
			return -EINVAL;
	if (h->cid == 0)
		return app_bad("--h2g", val, "cid= is required");
	for (i = 0; i < c->nb_h2g; i++) {
		if (strcmp(c->h2g[i].path, h->path) == 0)
			return app_bad("--h2g", val, "socket path given "
				"twice");
		if (c->h2g[i].cid == h->cid)
			return app_bad("--h2g", val, "CID given twice");
	}
	c->nb_h2g++;
	return 0;
}

int
vd_h2g_check(const struct vd_conf *c)
{
	char why[96], val[16];

	if (c->nb_h2g == 0)
		return 0;
	if (c->nb_devs + c->nb_h2g > VSOCK_STACK_MAX_PORTS)
		return app_bad("--h2g", c->h2g[c->nb_h2g - 1].path,
			"--dev and --h2g take at most "
			RTE_STR(VSOCK_STACK_MAX_PORTS) " ports together");
	if (c->mbuf_size < VD_H2G_MIN_ROOM) {
		snprintf(why, sizeof(why), "--h2g needs at least %u (a 64 KiB "
			"packet in 8 mbufs)", (unsigned int)VD_H2G_MIN_ROOM);
		snprintf(val, sizeof(val), "%u", c->mbuf_size);
		return app_bad("--mbuf-size", val, why);
	}
	return 0;
}

int
vd_h2g_start(void)
{
	const struct vd_conf *c = &vd.conf;
	unsigned int i;
	int r;

	for (i = 0; i < c->nb_h2g; i++) {
		const struct vd_h2g_opt *h = &c->h2g[i];
		struct vsock_vhost_conf vc = {
			.socket_path = h->path,
			.guest_cid = h->cid,
			.pool = vd.pool,
			.flags = h->client ? VSOCK_VHOST_F_CLIENT : 0,
		};

		r = vsock_vhost_create(&vc, &vd_h2g[i]);
		if (r == 0) {
			r = vsock_stack_attach(vd.stack,
					vsock_vhost_port(vd_h2g[i]));
			r = r < 0 ? r : 0;
		}
		if (r != 0) {
			fprintf(stderr, "vsockd: --h2g %s,cid=%" PRIu64
				": %s\n", h->path, h->cid, r == -EADDRINUSE ?
				"another process listens on that socket" :
				strerror(-r));
			return -1;
		}
		VD_LOG(INFO, "guest CID %" PRIu64 " served on %s%s\n", h->cid,
			h->path, h->client ? " (client)" : "");
	}
	/* We are the host of these guests: CID 2 is ours to bind. */
	if (c->nb_h2g > 0)
		vd.cids[vd.nb_cids++] = VSOCK_CID_HOST;
	return 0;
}

unsigned int
vd_h2g_snap(struct vd_h2g_snap *out)
{
	unsigned int i, n = 0;

	for (i = 0; i < vd.conf.nb_h2g; i++) {
		if (vd_h2g[i] == NULL)
			continue;
		out[n].cid = vsock_vhost_guest_cid(vd_h2g[i]);
		snprintf(out[n].path, sizeof(out[n].path), "%s",
			vsock_vhost_socket_path(vd_h2g[i]));
		out[n].running = vsock_vhost_running(vd_h2g[i]);
		vsock_vhost_stats_get(vd_h2g[i], &out[n].st);
		n++;
	}
	return n;
}

void
vd_h2g_stop(void)
{
	unsigned int i;

	for (i = 0; i < vd.conf.nb_h2g; i++) {
		vsock_vhost_destroy(vd_h2g[i]);
		vd_h2g[i] = NULL;
	}
}
