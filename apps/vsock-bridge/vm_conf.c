/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-device-vsock's `--vm key=value,...` and YAML `vms:` forms of a
 * guest's settings (see vm_conf.h). Each value is checked by one setter
 * whichever form it came in, so a CID, path or group list is taken or
 * refused alike on the command line and in the file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "vm_conf.h"

/* Keys, in the order of the tables below; the forward ones are refused. */
enum vm_key {
	K_CID,
	K_SOCKET,
	K_UDS,
	K_TX_BUF,
	K_QUEUE,
	K_GROUPS,
	K_FWD_CID,
	K_FWD_LISTEN,
	K_NB
};

/* As `--vm` writes them; both spellings are taken everywhere. */
static const char *const key_dash[K_NB] = {
	"guest-cid", "socket", "uds-path", "tx-buffer-size", "queue-size",
	"groups", "forward-cid", "forward-listen",
};

/* As the YAML file (vhost-device-vsock's serde fields) writes them. */
static const char *const key_snake[K_NB] = {
	"guest_cid", "socket", "uds_path", "tx_buffer_size", "queue_size",
	"groups", "forward_cid", "forward_listen",
};

#define KEYS_DASH "guest-cid, socket, uds-path, tx-buffer-size, " \
	"queue-size, groups"
#define KEYS_SNAKE "guest_cid, socket, uds_path, tx_buffer_size, " \
	"queue_size, groups"

/* uds-path's room, leaving "_<port>" and the NUL to the bridge. */
#define UDS_LEN_MAX (BR_VM_PATH_MAX - 1 - BR_VM_PORT_SUFFIX_MAX)

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int
key_find(const char *s, size_t len)
{
	int k;

	for (k = 0; k < K_NB; k++)
		if ((strlen(key_dash[k]) == len &&
				memcmp(s, key_dash[k], len) == 0) ||
				(strlen(key_snake[k]) == len &&
				memcmp(s, key_snake[k], len) == 0))
			return k;
	return -1;
}

/*
 * A decimal u64 as Rust's str::parse reads one, which is what
 * vhost-device-vsock's --vm uses: an optional '+', then digits only.
 */
static bool
num_rust(const char *s, size_t len, uint64_t *v)
{
	uint64_t r = 0;
	size_t i = 0;

	if (len > 0 && s[0] == '+')
		i = 1;
	if (i == len)
		return false;
	for (; i < len; i++) {
		unsigned int d = (unsigned char)s[i] - '0';

		if (d > 9 || r > (UINT64_MAX - d) / 10)
			return false;
		r = r * 10 + d;
	}
	*v = r;
	return true;
}

static int
digit_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

/*
 * A YAML integer as vhost-device-vsock's YAML reader (serde_yaml) takes
 * one into an unsigned field: an optional '+', then 0x hex, 0o octal,
 * 0b binary or decimal; a decimal with a leading zero ("010") is a
 * string to it, so not a number here either.
 */
static bool
num_yaml(const char *s, size_t len, uint64_t *v)
{
	unsigned int base = 10;
	uint64_t r = 0;
	size_t i = 0;

	if (len > 0 && s[0] == '+')
		i = 1;
	if (len - i > 2 && s[i] == '0' && (s[i + 1] == 'x' ||
			s[i + 1] == 'o' || s[i + 1] == 'b')) {
		base = s[i + 1] == 'x' ? 16 : s[i + 1] == 'o' ? 8 : 2;
		i += 2;
	} else if (len - i > 1 && s[i] == '0') {
		return false;
	}
	if (i == len)
		return false;
	for (; i < len; i++) {
		unsigned int d = (unsigned int)digit_val(s[i]);

		if (d >= base || r > (UINT64_MAX - d) / base)
			return false;
		r = r * base + d;
	}
	*v = r;
	return true;
}

static const char *
forward_refusal(void)
{
	return "vsock-bridge has no vsock back-end (forward-cid, "
		"forward-listen): use uds-path, the Unix socket back-end";
}

/*
 * A number for key @k (guest-cid, tx-buffer-size or queue-size); @ok
 * false when the text was no number at all.
 */
static int
set_num(struct br_vm_conf *vm, int k, bool ok, uint64_t v, char *why,
		size_t whylen)
{
	uint64_t lo = BR_VM_QUEUE_SIZE_MIN, hi = BR_VM_QUEUE_SIZE_MAX;

	if (k == K_CID) {
		lo = BR_VM_CID_MIN;
		hi = BR_VM_CID_MAX;
	} else if (k == K_TX_BUF) {
		lo = BR_VM_TX_BUF_MIN;
		hi = BR_VM_TX_BUF_MAX;
	}
	if (!ok || v < lo || v > hi)
		return fail(why, whylen, "must be %" PRIu64 "..%" PRIu64, lo,
			hi);
	if (k == K_CID)
		vm->cid = v;
	else if (k == K_TX_BUF)
		vm->tx_buffer_size = (uint32_t)v;
	else
		vm->queue_size = (uint32_t)v;
	return 0;
}

static int
set_path(char *dst, const char *s, size_t len, size_t max, bool uds,
		char *why, size_t whylen)
{
	if (len == 0)
		return fail(why, whylen, "empty path");
	if (len > max)
		return fail(why, whylen, "longer than %zu bytes%s", max,
			uds ? " (the bridge appends \"_<port>\" to it)" : "");
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

/* "a+b+c": each name once (a repeat is merged), none empty. */
static int
set_groups(struct br_vm_conf *vm, const char *s, size_t len, char *why,
		size_t whylen)
{
	char names[BR_VM_MAX_GROUPS][BR_VM_GROUP_NAME_MAX];
	unsigned int nb = 0, i;
	size_t pos = 0;

	for (;;) {
		const char *p = s + pos;
		const char *plus = memchr(p, '+', len - pos);
		size_t n = plus != NULL ? (size_t)(plus - p) : len - pos;

		if (n == 0)
			return fail(why, whylen, "empty group name (groups "
				"are name+name+...)");
		if (n >= BR_VM_GROUP_NAME_MAX)
			return fail(why, whylen, "group name longer than %d "
				"bytes", BR_VM_GROUP_NAME_MAX - 1);
		for (i = 0; i < nb; i++)
			if (strlen(names[i]) == n &&
					memcmp(names[i], p, n) == 0)
				break;
		if (i == nb) {
			if (nb == BR_VM_MAX_GROUPS)
				return fail(why, whylen, "more than %d groups",
					BR_VM_MAX_GROUPS);
			memcpy(names[nb], p, n);
			names[nb++][n] = '\0';
		}
		if (plus == NULL)
			break;
		pos += n + 1;
	}
	memcpy(vm->groups, names, sizeof(names[0]) * nb);
	vm->nb_groups = nb;
	return 0;
}

/*
 * A text value for key @k (socket, uds-path, groups, or a refused
 * forward one); the file's may hold a NUL, the options' cannot.
 */
static int
set_text(struct br_vm_conf *vm, int k, const char *s, size_t len,
		char *why, size_t whylen)
{
	if (k == K_FWD_CID || k == K_FWD_LISTEN)
		return fail(why, whylen, "%s", forward_refusal());
	if (memchr(s, '\0', len) != NULL)
		return fail(why, whylen, "holds a NUL byte");
	if (k == K_SOCKET)
		return set_path(vm->socket, s, len, BR_VM_PATH_MAX - 1, false,
			why, whylen);
	if (k == K_UDS)
		return set_path(vm->uds_path, s, len, UDS_LEN_MAX, true, why,
			whylen);
	return set_groups(vm, s, len, why, whylen);
}

/* A --vm value (or an option's) for key @k: numbers as Rust reads them. */
static int
set_arg(struct br_vm_conf *vm, int k, const char *s, size_t len,
		char *why, size_t whylen)
{
	uint64_t v = 0;
	bool ok;

	switch (k) {
	case K_CID:
	case K_TX_BUF:
	case K_QUEUE:
		ok = num_rust(s, len, &v);
		return set_num(vm, k, ok, v, why, whylen);
	default:
		return set_text(vm, k, s, len, why, whylen);
	}
}

void
br_vm_init(struct br_vm_conf *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->cid = BR_VM_DEFAULT_CID;
	snprintf(vm->groups[0], sizeof(vm->groups[0]), "%s",
		BR_VM_DEFAULT_GROUP);
	vm->nb_groups = 1;
}

int
br_vm_set(struct br_vm_conf *vm, const char *key, const char *val,
		char *why, size_t whylen)
{
	int k = key_find(key, strlen(key));

	if (k < 0)
		return fail(why, whylen, "unknown key (keys: " KEYS_DASH ")");
	return set_arg(vm, k, val, strlen(val), why, whylen);
}

/* The first required key missing, as key_dash or key_snake index. */
static int
vm_missing_key(const struct br_vm_conf *vm)
{
	if (vm->socket[0] == '\0')
		return K_SOCKET;
	if (vm->uds_path[0] == '\0')
		return K_UDS;
	return -1;
}

const char *
br_vm_missing(const struct br_vm_conf *vm)
{
	int k = vm_missing_key(vm);

	return k < 0 ? NULL : key_dash[k];
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\f' || c == '\v';
}

int
br_vm_parse(const char *arg, struct br_vm_conf *vm, char *err,
		size_t errlen)
{
	char why[160];
	unsigned int seen = 0;
	size_t len, pos = 0;
	const char *s = arg;
	int k;

	br_vm_init(vm);
	len = strlen(s);
	while (len > 0 && is_space(s[0])) {
		s++;
		len--;
	}
	while (len > 0 && is_space(s[len - 1]))
		len--;
	if (len == 0)
		return fail(err, errlen, "--vm \"%s\": empty: give key=value "
			"pairs (" KEYS_DASH ")", arg);
	if (len > BR_VM_ARG_MAX)
		return fail(err, errlen, "--vm: longer than %d bytes",
			BR_VM_ARG_MAX);
	for (;;) {
		const char *p = s + pos;
		const char *comma = memchr(p, ',', len - pos);
		size_t n = comma != NULL ? (size_t)(comma - p) : len - pos;
		const char *eq = memchr(p, '=', n);
		size_t klen;

		if (n == 0)
			return fail(err, errlen, "--vm %.*s: empty key=value "
				"pair (a stray ',')", (int)len, s);
		if (eq == NULL)
			return fail(err, errlen, "--vm %.*s: not key=value",
				(int)n, p);
		klen = (size_t)(eq - p);
		k = key_find(p, klen);
		if (k < 0)
			return fail(err, errlen, "--vm %.*s: unknown key "
				"\"%.*s\" (keys: " KEYS_DASH ")", (int)n, p,
				(int)klen, p);
		if (seen & (1u << k))
			return fail(err, errlen, "--vm %.*s: key \"%s\" "
				"given twice", (int)n, p, key_dash[k]);
		seen |= 1u << k;
		if (set_arg(vm, k, eq + 1, n - klen - 1, why,
				sizeof(why)) != 0)
			return fail(err, errlen, "--vm %.*s: %s", (int)n, p,
				why);
		if (comma == NULL)
			break;
		pos += n + 1;
	}
	k = vm_missing_key(vm);
	if (k >= 0)
		return fail(err, errlen, "--vm %.*s: missing key \"%s\"",
			(int)len, s, key_dash[k]);
	return 0;
}

/* What VM @i shares with an earlier one (or with itself). */
enum vm_dup {
	DUP_NONE,
	DUP_CID,	/* one CID */
	DUP_SOCKET,	/* one vhost-user socket */
	DUP_UDS,	/* one uds-path */
	DUP_SOCK_UDS,	/* @i's socket is @j's uds-path */
	DUP_UDS_SOCK,	/* @i's uds-path is @j's socket */
	DUP_SELF,	/* @i's socket is its own uds-path */
};

static enum vm_dup
vm_dup(const struct br_vm_conf *vms, unsigned int i, unsigned int *j)
{
	const struct br_vm_conf *a = &vms[i];
	unsigned int o;

	*j = i;
	if (strcmp(a->socket, a->uds_path) == 0)
		return DUP_SELF;
	for (o = 0; o < i; o++) {
		const struct br_vm_conf *b = &vms[o];

		*j = o;
		if (a->cid == b->cid)
			return DUP_CID;
		if (strcmp(a->socket, b->socket) == 0)
			return DUP_SOCKET;
		if (strcmp(a->uds_path, b->uds_path) == 0)
			return DUP_UDS;
		if (strcmp(a->socket, b->uds_path) == 0)
			return DUP_SOCK_UDS;
		if (strcmp(a->uds_path, b->socket) == 0)
			return DUP_UDS_SOCK;
	}
	return DUP_NONE;
}

/* "<what> <value>: ..." for a clash of VM @i with VM @j, 1-based. */
static void
dup_msg(char *buf, size_t len, const struct br_vm_conf *vms, unsigned int i,
		unsigned int j, enum vm_dup d, const char *const *names)
{
	const struct br_vm_conf *a = &vms[i];

	switch (d) {
	case DUP_CID:
		snprintf(buf, len, "%s %" PRIu64 ": given to VM %u and VM %u",
			names[K_CID], a->cid, j + 1, i + 1);
		break;
	case DUP_SOCKET:
		snprintf(buf, len, "%s %s: given to VM %u and VM %u",
			names[K_SOCKET], a->socket, j + 1, i + 1);
		break;
	case DUP_UDS:
		snprintf(buf, len, "%s %s: given to VM %u and VM %u",
			names[K_UDS], a->uds_path, j + 1, i + 1);
		break;
	case DUP_SOCK_UDS:
		snprintf(buf, len, "path %s: VM %u's %s and VM %u's %s",
			a->socket, j + 1, names[K_UDS], i + 1,
			names[K_SOCKET]);
		break;
	case DUP_UDS_SOCK:
		snprintf(buf, len, "path %s: VM %u's %s and VM %u's %s",
			a->uds_path, j + 1, names[K_SOCKET], i + 1,
			names[K_UDS]);
		break;
	case DUP_SELF:
	default:	/* DUP_NONE is never asked about */
		snprintf(buf, len, "path %s: VM %u's %s and its %s",
			a->socket, i + 1, names[K_SOCKET], names[K_UDS]);
		break;
	}
}

int
br_vm_check_dups(const struct br_vm_conf *vms, unsigned int nb, char *err,
		size_t errlen)
{
	unsigned int i, j;
	enum vm_dup d;

	for (i = 0; i < nb; i++) {
		d = vm_dup(vms, i, &j);
		if (d != DUP_NONE) {
			if (err != NULL && errlen > 0)
				dup_msg(err, errlen, vms, i, j, d, key_dash);
			return -EINVAL;
		}
	}
	return 0;
}

/* The YAML file: one document, walked as a tree of libyaml nodes. */
struct cfg {
	const char *path;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
};

static unsigned long
line_of(const yaml_node_t *n)
{
	return (unsigned long)n->start_mark.line + 1;
}

static int __attribute__((format(printf, 3, 4)))
cfg_fail(const struct cfg *c, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fail(c->err, c->errlen, "%s:%lu: %s", c->path, line_of(n),
		msg);
}

static const char *
scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/*
 * Null as vhost-device-vsock's reader sees it (an optional key then
 * counts as not given): an unquoted "~", "null" or nothing.
 */
static bool
is_null(const yaml_node_t *n)
{
	size_t len = n->data.scalar.length;

	return n->type == YAML_SCALAR_NODE &&
		n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		(len == 0 || (len == 1 && scalar(n)[0] == '~') ||
		(len == 4 && memcmp(scalar(n), "null", 4) == 0));
}

static const char *
node_kind(const yaml_node_t *n)
{
	return n->type == YAML_SEQUENCE_NODE ? "a list" : "a mapping";
}

/*
 * One value of a VM's mapping, for key @k written as @kn. Errors show
 * numbers bare and text quoted: `guest_cid 2: ...`, `socket "": ...`.
 */
static int
cfg_value(const struct cfg *c, struct br_vm_conf *vm, int k,
		const yaml_node_t *kn, const yaml_node_t *v)
{
	int klen = (int)kn->data.scalar.length;
	const char *key = scalar(kn);
	bool plain, quote = true;
	const char *s;
	char why[160];
	uint64_t num = 0;
	size_t len;
	bool ok;
	int r;

	if (k == K_FWD_CID || k == K_FWD_LISTEN)
		return cfg_fail(c, kn, "%.*s: %s", klen, key,
			forward_refusal());
	if (v->type != YAML_SCALAR_NODE)
		return cfg_fail(c, v, "%.*s: must be a single value, not %s",
			klen, key, node_kind(v));
	s = scalar(v);
	len = v->data.scalar.length;
	plain = v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	switch (k) {
	case K_CID:
	case K_TX_BUF:
	case K_QUEUE:
		/* serde_yaml reads a quoted "4" as a string: no number. */
		ok = plain && num_yaml(s, len, &num);
		r = set_num(vm, k, ok, num, why, sizeof(why));
		if (r != 0 && !plain)
			return cfg_fail(c, v, "%.*s \"%.*s\": %s, as an "
				"integer, not a quoted string", klen, key,
				(int)len, s, why);
		quote = false;
		break;
	case K_GROUPS:
		/* vhost-device-vsock trims the file's groups, not --vm's. */
		while (len > 0 && is_space(s[0])) {
			s++;
			len--;
		}
		while (len > 0 && is_space(s[len - 1]))
			len--;
		r = set_text(vm, k, s, len, why, sizeof(why));
		break;
	default:
		r = set_text(vm, k, s, len, why, sizeof(why));
		break;
	}
	if (r != 0)
		return cfg_fail(c, v, quote ? "%.*s \"%.*s\": %s" :
			"%.*s %.*s: %s", klen, key, (int)len, s, why);
	return 0;
}

/* Line of the value of each key given, for errors found afterwards. */
struct vm_lines {
	unsigned long line[K_NB];
};

static int
cfg_vm(const struct cfg *c, const yaml_node_t *m, unsigned int idx,
		struct br_vm_conf *vm, struct vm_lines *lines)
{
	const yaml_node_pair_t *pair;
	unsigned int seen = 0;
	int k, r;

	br_vm_init(vm);
	memset(lines, 0, sizeof(*lines));
	if (m->type != YAML_MAPPING_NODE)
		return cfg_fail(c, m, "VM %u: must be a mapping (guest_cid: "
			"3, socket: ..., uds_path: ...), not %s", idx + 1,
			m->type == YAML_SCALAR_NODE ? "a single value" :
			node_kind(m));
	for (pair = m->data.mapping.pairs.start;
			pair < m->data.mapping.pairs.top; pair++) {
		const yaml_node_t *kn = yaml_document_get_node(c->doc,
			pair->key);
		const yaml_node_t *vn = yaml_document_get_node(c->doc,
			pair->value);

		if (kn->type != YAML_SCALAR_NODE)
			return cfg_fail(c, kn, "VM %u: a key must be a name, "
				"not %s", idx + 1, node_kind(kn));
		k = key_find(scalar(kn), kn->data.scalar.length);
		if (k < 0)
			return cfg_fail(c, kn, "unknown key \"%.*s\" (keys: "
				KEYS_SNAKE ")", (int)kn->data.scalar.length,
				scalar(kn));
		if (seen & (1u << k))
			return cfg_fail(c, kn, "key \"%s\" given twice",
				key_snake[k]);
		seen |= 1u << k;
		if (is_null(vn))
			continue;
		r = cfg_value(c, vm, k, kn, vn);
		if (r != 0)
			return r;
		lines->line[k] = line_of(vn);
	}
	k = vm_missing_key(vm);
	if (k >= 0)
		return cfg_fail(c, m, "VM %u: missing key \"%s\"", idx + 1,
			key_snake[k]);
	return 0;
}

/* The line to blame a clash on: where VM @i gives the clashing value. */
static unsigned long
dup_line(const struct vm_lines *l, enum vm_dup d, unsigned long vm_line)
{
	int k;

	switch (d) {
	case DUP_CID:
		k = K_CID;
		break;
	case DUP_SOCKET:
	case DUP_SOCK_UDS:
		k = K_SOCKET;
		break;
	default:
		k = K_UDS;
		break;
	}
	return l->line[k] != 0 ? l->line[k] : vm_line;
}

static int
cfg_vms(const struct cfg *c, const yaml_node_t *seq, struct br_vm_conf *vms,
		unsigned int max, unsigned int *nb)
{
	const yaml_node_item_t *item;
	struct vm_lines lines;
	unsigned int i = 0, j;
	enum vm_dup d;
	char msg[384];
	int r;

	if (is_null(seq) || (seq->type == YAML_SEQUENCE_NODE &&
			seq->data.sequence.items.start ==
			seq->data.sequence.items.top))
		return cfg_fail(c, seq, "vms: no VMs in the list");
	if (seq->type != YAML_SEQUENCE_NODE)
		return cfg_fail(c, seq, "vms: must be a list of VMs (\"- "
			"guest_cid: ...\"), not %s",
			seq->type == YAML_SCALAR_NODE ? "a single value" :
			node_kind(seq));
	for (item = seq->data.sequence.items.start;
			item < seq->data.sequence.items.top; item++, i++) {
		const yaml_node_t *m = yaml_document_get_node(c->doc, *item);

		if (i == max)
			return cfg_fail(c, m, "VM %u: too many VMs (at most "
				"%u)", i + 1, max);
		r = cfg_vm(c, m, i, &vms[i], &lines);
		if (r != 0)
			return r;
		d = vm_dup(vms, i, &j);
		if (d != DUP_NONE) {
			dup_msg(msg, sizeof(msg), vms, i, j, d, key_snake);
			return fail(c->err, c->errlen, "%s:%lu: %s%s", c->path,
				dup_line(&lines, d, line_of(m)), msg,
				d == DUP_CID && lines.line[K_CID] == 0 ?
				" (VM without guest_cid: 3 is the default)" :
				"");
		}
	}
	*nb = i;
	return 0;
}

static int
cfg_root(const struct cfg *c, struct br_vm_conf *vms, unsigned int max,
		unsigned int *nb)
{
	const yaml_node_t *root = yaml_document_get_root_node(c->doc);
	const yaml_node_t *vms_node = NULL;
	const yaml_node_pair_t *pair;

	if (root == NULL || is_null(root))
		return fail(c->err, c->errlen, "%s: no VMs: the file is empty "
			"(expected \"vms:\" and a list of VMs)", c->path);
	if (root->type != YAML_MAPPING_NODE)
		return cfg_fail(c, root, "the top level must be a mapping with "
			"the key \"vms\", not %s",
			root->type == YAML_SCALAR_NODE ? "a single value" :
			node_kind(root));
	for (pair = root->data.mapping.pairs.start;
			pair < root->data.mapping.pairs.top; pair++) {
		const yaml_node_t *kn = yaml_document_get_node(c->doc,
			pair->key);

		if (kn->type != YAML_SCALAR_NODE ||
				kn->data.scalar.length != 3 ||
				memcmp(scalar(kn), "vms", 3) != 0)
			return cfg_fail(c, kn, "unknown key \"%.*s\" (the top "
				"level has only \"vms\")",
				kn->type == YAML_SCALAR_NODE ?
				(int)kn->data.scalar.length : 0,
				kn->type == YAML_SCALAR_NODE ? scalar(kn) :
				"");
		if (vms_node != NULL)
			return cfg_fail(c, kn, "key \"vms\" given twice");
		vms_node = yaml_document_get_node(c->doc, pair->value);
	}
	if (vms_node == NULL)
		return cfg_fail(c, root, "missing key \"vms\"");
	return cfg_vms(c, vms_node, vms, max, nb);
}

static int
cfg_syntax(const struct cfg *c, const yaml_parser_t *p, FILE *f)
{
	if (p->error == YAML_MEMORY_ERROR) {
		fail(c->err, c->errlen, "%s: out of memory", c->path);
		return -ENOMEM;
	}
	if (p->error == YAML_READER_ERROR) {
		if (ferror(f)) {
			fail(c->err, c->errlen, "%s: read error", c->path);
			return -EIO;
		}
		return fail(c->err, c->errlen, "%s: YAML: %s at byte %zu",
			c->path, p->problem, p->problem_offset);
	}
	if (p->context != NULL)
		return fail(c->err, c->errlen, "%s:%lu: YAML: %s (%s at line "
			"%lu)", c->path,
			(unsigned long)p->problem_mark.line + 1, p->problem,
			p->context, (unsigned long)p->context_mark.line + 1);
	return fail(c->err, c->errlen, "%s:%lu: YAML: %s", c->path,
		(unsigned long)p->problem_mark.line + 1,
		p->problem != NULL ? p->problem : "syntax error");
}

int
br_vm_config_load(const char *path, struct br_vm_conf *vms,
		unsigned int max, unsigned int *nb, char *err, size_t errlen)
{
	struct cfg c = { .path = path, .err = err, .errlen = errlen };
	yaml_document_t doc, next;
	yaml_parser_t parser;
	struct stat st;
	FILE *f;
	int r;

	*nb = 0;
	f = fopen(path, "rb");
	if (f == NULL) {
		r = -errno;
		fail(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	/* fopen() opens a directory; its read error would say less. */
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		fail(err, errlen, "%s: %s", path, strerror(EISDIR));
		return -EISDIR;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		fail(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		r = cfg_syntax(&c, &parser, f);
		goto out;
	}
	c.doc = &doc;
	r = cfg_root(&c, vms, max, nb);
	if (r == 0) {
		/* vhost-device-vsock's reader refuses a second document. */
		if (!yaml_parser_load(&parser, &next)) {
			r = cfg_syntax(&c, &parser, f);
		} else {
			const yaml_node_t *n = yaml_document_get_root_node(
				&next);

			if (n != NULL) {
				c.doc = &next;
				r = cfg_fail(&c, n, "a second YAML document: "
					"the file must hold one");
			}
			yaml_document_delete(&next);
		}
	}
	yaml_document_delete(&doc);
	if (r != 0)
		*nb = 0;
out:
	yaml_parser_delete(&parser);
	fclose(f);
	return r;
}
