/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device arguments: the key=value options of a spec, split by DPDK's
 * rte_kvargs. The common keys (queue_size, rx_buf, packed, event_idx)
 * go to struct virtio_vsock_devargs, a transport's own keys to its
 * handler. Every error names the key or the value at fault.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_kvargs.h>

#include <vsock_hdr.h>

#include "virtio_vsock_internal.h"

/* Longest option string: a spec is one word of a command line. */
#define VV_ARGS_MAX 512

static const char *const vv_common_keys[] = {
	"queue_size", "rx_buf", "packed", "event_idx",
#ifdef VIRTIO_VSOCK_TEST_HOOKS
	"break_after",
#endif
	NULL,
};

/* What the rte_kvargs_process() handler needs and tells. */
struct vv_kvargs_ctx {
	const char *tname;
	const char *const *keys;
	vv_kv_fn fn;
	void *targs;
	struct virtio_vsock_devargs *da;
	char *err;
	size_t errlen;
	int ret;
};

static bool
vv_key_in(const char *key, const char *const keys[])
{
	for (; *keys != NULL; keys++)
		if (strcmp(key, *keys) == 0)
			return true;
	return false;
}

static int
vv_parse_uint(const char *val, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (val[0] == '\0' || val[0] == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(val, &end, 0);
	if (errno != 0 || *end != '\0' || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* One of vv_common_keys: 0, or -EINVAL with @err naming the value. */
static int
vv_common_arg(const char *key, const char *val,
		struct virtio_vsock_devargs *da, char *err, size_t errlen)
{
	uint64_t v, bit;

	if (strcmp(key, "queue_size") == 0) {
		if (vv_parse_uint(val, 32768, &v) != 0 || v < 16 ||
				(v & (v - 1)) != 0) {
			snprintf(err, errlen, "queue_size=%s: must be a power "
				"of two from 16 to 32768", val);
			return -EINVAL;
		}
		da->queue_size = (uint16_t)v;
		return 0;
	}
	if (strcmp(key, "rx_buf") == 0) {
		if (vv_parse_uint(val, 65535, &v) != 0 ||
				v < VSOCK_HDR_LEN + 1) {
			snprintf(err, errlen, "rx_buf=%s: must be %d to 65535 "
				"bytes", val, VSOCK_HDR_LEN + 1);
			return -EINVAL;
		}
		da->rx_buf = (uint32_t)v;
		return 0;
	}
#ifdef VIRTIO_VSOCK_TEST_HOOKS
	if (strcmp(key, "break_after") == 0) {
		if (vv_parse_uint(val, UINT64_MAX, &v) != 0 || v == 0) {
			snprintf(err, errlen, "break_after=%s: must be a count "
				"of rx packets, 1 or more", val);
			return -EINVAL;
		}
		da->break_after = v;
		return 0;
	}
#endif
	/* packed or event_idx */
	bit = key[0] == 'p' ? 1ULL << VIRTIO_F_RING_PACKED :
		1ULL << VIRTIO_F_RING_EVENT_IDX;
	if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0) {
		snprintf(err, errlen, "%s=%s: must be 0 (refuse) or 1 "
			"(require)", key, val);
		return -EINVAL;
	}
	da->want &= ~bit;
	da->refuse &= ~bit;
	if (val[0] == '1')
		da->want |= bit;
	else
		da->refuse |= bit;
	return 0;
}

/* Name the unknown @key and list the known ones, as typed in a spec. */
static void
vv_unknown_key(const struct vv_kvargs_ctx *c, const char *key)
{
	char known[256];
	const char *const *k;
	size_t off = 0;

	known[0] = '\0';
	for (k = c->keys; *k != NULL && off < sizeof(known); k++)
		off += snprintf(known + off, sizeof(known) - off, "%s, ", *k);
	for (k = vv_common_keys; *k != NULL && off < sizeof(known); k++)
		off += snprintf(known + off, sizeof(known) - off, "%s%s", *k,
				k[1] != NULL ? ", " : "");
	snprintf(c->err, c->errlen, "%s: unknown option '%s' (known: %s)",
		c->tname, key, known);
}

/* The rte_kvargs_process() handler: every pair, in the spec's order. */
static int
vv_kvargs_one(const char *key, const char *val, void *opaque)
{
	struct vv_kvargs_ctx *c = opaque;

	if (val == NULL) {
		snprintf(c->err, c->errlen, "%s: option '%s' needs a value "
			"(key=value)", c->tname, key);
		c->ret = -EINVAL;
	} else if (vv_key_in(key, vv_common_keys)) {
		c->ret = vv_common_arg(key, val, c->da, c->err, c->errlen);
	} else if (vv_key_in(key, c->keys)) {
		c->ret = c->fn(key, val, c->targs, c->err, c->errlen);
	} else {
		vv_unknown_key(c, key);
		c->ret = -EINVAL;
	}
	return c->ret;
}

int
virtio_vsock_kvargs_parse(const char *tname, const char *args,
		const char *const keys[], vv_kv_fn fn, void *targs,
		struct virtio_vsock_devargs *da, char *err, size_t errlen)
{
	struct vv_kvargs_ctx c = {
		.tname = tname, .keys = keys, .fn = fn, .targs = targs,
		.da = da, .err = err, .errlen = errlen,
	};
	struct rte_kvargs *kv;
	unsigned int i;

	if (strlen(args) >= VV_ARGS_MAX) {
		snprintf(err, errlen, "%s: options too long: '%s'", tname,
			args);
		return -EINVAL;
	}
	/* No valid_keys: rte_kvargs would refuse a key without naming it. */
	kv = rte_kvargs_parse(args, NULL);
	if (kv == NULL) {
		snprintf(err, errlen, "%s: cannot parse options '%s' (at most "
			"%d key=value pairs)", tname, args, RTE_KVARGS_MAX);
		return -EINVAL;
	}
	if (rte_kvargs_process(kv, NULL, vv_kvargs_one, &c) < 0 &&
			c.ret == 0) {
		/* DPDK 23.03+ stops at a key without value, unseen by us. */
		for (i = 0; i < kv->count; i++)
			if (kv->pairs[i].value == NULL)
				break;
		snprintf(err, errlen, "%s: option '%s' needs a value "
			"(key=value)", tname,
			i < kv->count ? kv->pairs[i].key : args);
		c.ret = -EINVAL;
	}
	rte_kvargs_free(kv);
	return c.ret;
}

int
virtio_vsock_parse_cid(const char *tname, const char *val, uint64_t *cid,
		char *err, size_t errlen)
{
	uint64_t v;

	if (vv_parse_uint(val, VSOCK_CID_ANY - 1, &v) != 0 ||
			v <= VSOCK_CID_HOST) {
		snprintf(err, errlen, "%s: cid=%s: must be 3 to 4294967294",
			tname, val);
		return -EINVAL;
	}
	*cid = v;
	return 0;
}
