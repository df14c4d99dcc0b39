/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-testpmd --h2g: lib/vsock_vhost back-ends on the same stack as the
 * device, so that this process is both a guest of its host (the --dev
 * port, G2H) and the host of guests of its own (H2G ports), as a nested
 * VM's L1 is. The stack routes by CID (vsock_stack_attach()).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>

#include <vsock_vhost.h>

#include "../common/app_opts.h"
#include "testpmd.h"

static int
tp_h2g_bad(const char *val, const char *why)
{
	return app_bad("--h2g", val, why);
}

int
tp_h2g_parse(const char *val, struct tp_opts *o)
{
	struct tp_h2g *h;
	char buf[256], *save = NULL, *kv;
	uint64_t v;

	if (o->nb_h2g == TP_MAX_H2G)
		return tp_h2g_bad(val, "at most " RTE_STR(TP_MAX_H2G)
			" back-ends");
	if (strlen(val) >= sizeof(buf))
		return tp_h2g_bad(val, "too long");
	h = &o->h2g[o->nb_h2g];
	memset(h, 0, sizeof(*h));
	h->break_rx = -1;
	strcpy(buf, val);
	kv = strtok_r(buf, ",", &save);
	if (kv == NULL || strchr(kv, '=') != NULL ||
			strlen(kv) >= sizeof(h->path))
		return tp_h2g_bad(val, "expected PATH,cid=N[,client=1] "
			"(a socket path of at most 107 bytes first)");
	strcpy(h->path, kv);
	while ((kv = strtok_r(NULL, ",", &save)) != NULL) {
		if (strncmp(kv, "cid=", 4) == 0) {
			if (app_parse_u64(kv + 4, 3, 0xfffffffeULL, &v) != 0)
				return tp_h2g_bad(val, "cid= must be "
					"3..4294967294");
			h->cid = v;
		} else if (strcmp(kv, "client=1") == 0) {
			h->client = true;
		} else if (strncmp(kv, "break_rx=", 9) == 0) {
#ifdef VSOCK_VHOST_TEST_HOOKS
			if (app_parse_u64(kv + 9, 0, INT64_MAX, &v) != 0)
				return tp_h2g_bad(val, "break_rx= must be a "
					"count of rx buffers");
			h->break_rx = (int64_t)v;
#else
			return tp_h2g_bad(val, "break_rx= needs a build with "
				"-Dtest_hooks=true");
#endif
		} else if (strcmp(kv, "client=0") != 0) {
			return tp_h2g_bad(val, "unknown key (cid=, client=, "
				"break_rx=)");
		}
	}
	if (h->cid == 0)
		return tp_h2g_bad(val, "cid= is required");
	o->nb_h2g++;
	return 0;
}

int
tp_h2g_start(struct tp_ctx *t)
{
	unsigned int i;
	int r;

	for (i = 0; i < t->o.nb_h2g; i++) {
		const struct tp_h2g *h = &t->o.h2g[i];
		struct vsock_vhost_conf c = {
			.socket_path = h->path,
			.guest_cid = h->cid,
			.pool = t->pool,
			.flags = h->client ? VSOCK_VHOST_F_CLIENT : 0,
		};

		r = vsock_vhost_create(&c, &t->h2g[i]);
#ifdef VSOCK_VHOST_TEST_HOOKS
		if (r == 0 && h->break_rx >= 0)
			vsock_vhost_break_rx(t->h2g[i], (uint64_t)h->break_rx);
#endif
		if (r == 0) {
			r = vsock_stack_attach(t->stack,
					vsock_vhost_port(t->h2g[i]));
			r = r < 0 ? r : 0;
		}
		if (r != 0) {
			fprintf(stderr, "vsock-testpmd: --h2g %s,cid=%" PRIu64
				": %s\n", h->path, h->cid, strerror(-r));
			return r;
		}
	}
	return 0;
}

void
tp_h2g_stop(struct tp_ctx *t)
{
	unsigned int i;

	for (i = 0; i < t->o.nb_h2g; i++) {
		vsock_vhost_destroy(t->h2g[i]);
		t->h2g[i] = NULL;
	}
}
