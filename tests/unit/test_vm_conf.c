/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for vsock-bridge's vhost-device-vsock style settings
 * (apps/vsock-bridge/vm_conf.h): `--vm key=value,...` strings and YAML
 * `vms:` files, what each takes and every refusal with its exact message,
 * since the messages are what a user switching from vhost-device-vsock
 * reads. YAML goes through temporary files, as the bridge reads it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vm_conf.h"

#define KEYS_DASH "guest-cid, socket, uds-path, tx-buffer-size, " \
	"queue-size, groups"
#define KEYS_SNAKE "guest_cid, socket, uds_path, tx_buffer_size, " \
	"queue_size, groups"
#define FWD_REFUSAL "vsock-bridge has no vsock back-end (forward-cid, " \
	"forward-listen): use uds-path, the Unix socket back-end"

#define MAX_VMS 8

/* --vm @arg is refused with exactly @msg (and br_vm_parse survives NULL). */
static void
vm_err(const char *arg, const char *msg)
{
	struct br_vm_conf vm;
	char err[1024];

	memset(err, 'X', sizeof(err));
	assert_int_equal(br_vm_parse(arg, &vm, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, msg);
	assert_int_equal(br_vm_parse(arg, &vm, NULL, 0), -EINVAL);
}

static void
vm_ok(const char *arg, struct br_vm_conf *vm)
{
	char err[1024] = "";

	if (br_vm_parse(arg, vm, err, sizeof(err)) != 0)
		fail_msg("--vm %s: %s", arg, err);
}

/* A string of @n copies of @c after @prefix, in a static buffer. */
static const char *
fill(char *buf, size_t size, const char *prefix, char c, size_t n,
		const char *suffix)
{
	size_t p = strlen(prefix);

	assert_true(p + n + strlen(suffix) < size);
	memcpy(buf, prefix, p);
	memset(buf + p, c, n);
	strcpy(buf + p + n, suffix);
	return buf;
}

static void
test_vm_minimal_defaults(void **state)
{
	struct br_vm_conf vm;

	(void)state;
	vm_ok("socket=/tmp/vhost4.socket,uds-path=/tmp/vm4.vsock", &vm);
	assert_int_equal(vm.cid, 3);
	assert_string_equal(vm.socket, "/tmp/vhost4.socket");
	assert_string_equal(vm.uds_path, "/tmp/vm4.vsock");
	assert_int_equal(vm.tx_buffer_size, 0);
	assert_int_equal(vm.queue_size, 0);
	assert_int_equal(vm.nb_groups, 1);
	assert_string_equal(vm.groups[0], "default");
}

/* The --vm lines of vhost-device-vsock's README and tests. */
static void
test_vm_readme_examples(void **state)
{
	struct br_vm_conf vm;

	(void)state;
	vm_ok("guest-cid=3,socket=/tmp/vhost3.socket,uds-path=/tmp/vm3.vsock,"
		"groups=group1+groupA", &vm);
	assert_int_equal(vm.cid, 3);
	assert_int_equal(vm.nb_groups, 2);
	assert_string_equal(vm.groups[0], "group1");
	assert_string_equal(vm.groups[1], "groupA");

	vm_ok("guest-cid=4,socket=/tmp/vhost4.socket,uds-path=/tmp/vm4.vsock,"
		"tx-buffer-size=32768,queue-size=256", &vm);
	assert_int_equal(vm.cid, 4);
	assert_int_equal(vm.tx_buffer_size, 32768);
	assert_int_equal(vm.queue_size, 256);
	assert_string_equal(vm.groups[0], "default");

	/* Keys in any order, snake case, as in its unit tests. */
	vm_ok("groups=group2+group3,guest-cid=5,socket=/tmp/vhost5.socket,"
		"uds_path=/tmp/vm5.vsock,tx-buffer-size=32768,queue_size=256",
		&vm);
	assert_int_equal(vm.cid, 5);
	assert_string_equal(vm.uds_path, "/tmp/vm5.vsock");
	assert_int_equal(vm.tx_buffer_size, 32768);
	assert_int_equal(vm.queue_size, 256);
	assert_string_equal(vm.groups[1], "group3");

	vm_ok("guest_cid=6,socket=/s,uds_path=/u,tx_buffer_size=65536,"
		"queue_size=1024,groups=g", &vm);
	assert_int_equal(vm.cid, 6);
	assert_int_equal(vm.tx_buffer_size, 65536);
	assert_int_equal(vm.queue_size, 1024);
	assert_int_equal(vm.nb_groups, 1);
	assert_string_equal(vm.groups[0], "g");
}

static void
test_vm_lexical(void **state)
{
	struct br_vm_conf vm;

	(void)state;
	/* Whitespace around the whole value goes, as str::trim does. */
	vm_ok(" \t socket=/s,uds-path=/u,guest-cid=9\n", &vm);
	assert_int_equal(vm.cid, 9);
	assert_string_equal(vm.uds_path, "/u");
	/* Rust's u64 parse: '+' and leading zeros. */
	vm_ok("guest-cid=+7,socket=/s,uds-path=/u", &vm);
	assert_int_equal(vm.cid, 7);
	vm_ok("guest-cid=007,socket=/s,uds-path=/u,queue-size=0128", &vm);
	assert_int_equal(vm.cid, 7);
	assert_int_equal(vm.queue_size, 128);
	/* The value is all after the first '=' (vhost-device-vsock cuts). */
	vm_ok("socket=/tmp/a=b,uds-path=/tmp/c==", &vm);
	assert_string_equal(vm.socket, "/tmp/a=b");
	assert_string_equal(vm.uds_path, "/tmp/c==");
	/* Relative paths and spaces inside are the user's business. */
	vm_ok("socket=vhost.sock,uds-path=my dir/v.sock", &vm);
	assert_string_equal(vm.socket, "vhost.sock");
	assert_string_equal(vm.uds_path, "my dir/v.sock");
	/* A repeated group counts once; names are not trimmed. */
	vm_ok("socket=/s,uds-path=/u,groups=a+b+a+ b", &vm);
	assert_int_equal(vm.nb_groups, 3);
	assert_string_equal(vm.groups[0], "a");
	assert_string_equal(vm.groups[1], "b");
	assert_string_equal(vm.groups[2], " b");
	/* A reused struct is reset: nothing left from before. */
	vm_ok("socket=/s2,uds-path=/u2", &vm);
	assert_int_equal(vm.cid, 3);
	assert_int_equal(vm.queue_size, 0);
	assert_int_equal(vm.nb_groups, 1);
	assert_string_equal(vm.groups[0], "default");
}

static void
test_vm_bounds_ok(void **state)
{
	char arg[2048], a[256], b[256];
	struct br_vm_conf vm;
	unsigned int i;
	size_t n;

	(void)state;
	vm_ok("guest-cid=3,socket=/s,uds-path=/u,tx-buffer-size=128,"
		"queue-size=1", &vm);
	assert_int_equal(vm.cid, 3);
	assert_int_equal(vm.tx_buffer_size, 128);
	assert_int_equal(vm.queue_size, 1);
	vm_ok("guest-cid=4294967294,socket=/s,uds-path=/u,"
		"tx-buffer-size=16777216,queue-size=32768", &vm);
	assert_int_equal(vm.cid, 4294967294u);
	assert_int_equal(vm.tx_buffer_size, 16777216);
	assert_int_equal(vm.queue_size, 32768);

	/* socket: 107 bytes; uds-path: 96, room for "_4294967295". */
	fill(a, sizeof(a), "socket=/", 's', 106, "");
	fill(b, sizeof(b), "uds-path=/", 'u', 95, "");
	snprintf(arg, sizeof(arg), "%s,%s", a, b);
	vm_ok(arg, &vm);
	assert_int_equal(strlen(vm.socket), BR_VM_PATH_MAX - 1);
	assert_int_equal(strlen(vm.uds_path),
		BR_VM_PATH_MAX - 1 - BR_VM_PORT_SUFFIX_MAX);

	/* 16 groups, one of the longest name. */
	n = (size_t)snprintf(arg, sizeof(arg), "socket=/s,uds-path=/u,groups=");
	for (i = 0; i < BR_VM_MAX_GROUPS - 1; i++)
		n += (size_t)snprintf(arg + n, sizeof(arg) - n, "g%u+", i);
	fill(arg + n, sizeof(arg) - n, "", 'x', BR_VM_GROUP_NAME_MAX - 1, "");
	vm_ok(arg, &vm);
	assert_int_equal(vm.nb_groups, BR_VM_MAX_GROUPS);
	assert_string_equal(vm.groups[0], "g0");
	assert_int_equal(strlen(vm.groups[BR_VM_MAX_GROUPS - 1]),
		BR_VM_GROUP_NAME_MAX - 1);
}

static void
test_vm_form_errors(void **state)
{
	char arg[BR_VM_ARG_MAX + 64];

	(void)state;
	vm_err("", "--vm \"\": empty: give key=value pairs (" KEYS_DASH ")");
	vm_err(" \t ", "--vm \" \t \": empty: give key=value pairs ("
		KEYS_DASH ")");
	vm_err("socket", "--vm socket: not key=value");
	vm_err("socket=/s,uds-path", "--vm uds-path: not key=value");
	vm_err("socket=/s,,uds-path=/u", "--vm socket=/s,,uds-path=/u: "
		"empty key=value pair (a stray ',')");
	vm_err("socket=/s,uds-path=/u,", "--vm socket=/s,uds-path=/u,: "
		"empty key=value pair (a stray ',')");
	vm_err(",socket=/s", "--vm ,socket=/s: empty key=value pair (a "
		"stray ',')");
	vm_err("guest-cidd=3,socket=/s,uds-path=/u", "--vm guest-cidd=3: "
		"unknown key \"guest-cidd\" (keys: " KEYS_DASH ")");
	/* vhost-device-vsock's own help says "group"; it refuses it too. */
	vm_err("socket=/s,uds-path=/u,group=a", "--vm group=a: unknown key "
		"\"group\" (keys: " KEYS_DASH ")");
	vm_err("=3", "--vm =3: unknown key \"\" (keys: " KEYS_DASH ")");
	vm_err("Socket=/s", "--vm Socket=/s: unknown key \"Socket\" (keys: "
		KEYS_DASH ")");
	/* Keys are not trimmed inside the value, as vhost-device-vsock. */
	vm_err("socket=/s, uds-path=/u", "--vm  uds-path=/u: unknown key "
		"\" uds-path\" (keys: " KEYS_DASH ")");
	vm_err("socket=/a,socket=/b,uds-path=/u", "--vm socket=/b: key "
		"\"socket\" given twice");
	vm_err("guest-cid=4,socket=/s,guest_cid=5", "--vm guest_cid=5: key "
		"\"guest-cid\" given twice");
	vm_err("uds-path=/u", "--vm uds-path=/u: missing key \"socket\"");
	vm_err("guest-cid=4,socket=/s", "--vm guest-cid=4,socket=/s: missing "
		"key \"uds-path\"");
	vm_err("  tx-buffer-size=4096 ", "--vm tx-buffer-size=4096: missing "
		"key \"socket\"");
	fill(arg, sizeof(arg), "socket=/", 'a', BR_VM_ARG_MAX, "");
	vm_err(arg, "--vm: longer than 4096 bytes");
}

static void
test_vm_value_errors(void **state)
{
	char arg[512], msg[640];

	(void)state;
	vm_err("guest-cid=2,socket=/s,uds-path=/u",
		"--vm guest-cid=2: must be 3..4294967294");
	vm_err("socket=/s,uds-path=/u,guest-cid=0",
		"--vm guest-cid=0: must be 3..4294967294");
	vm_err("guest-cid=4294967295", "--vm guest-cid=4294967295: must be "
		"3..4294967294");
	vm_err("guest-cid=18446744073709551616", "--vm guest-cid="
		"18446744073709551616: must be 3..4294967294");
	vm_err("guest-cid=", "--vm guest-cid=: must be 3..4294967294");
	vm_err("guest-cid=+", "--vm guest-cid=+: must be 3..4294967294");
	vm_err("guest-cid=-4", "--vm guest-cid=-4: must be 3..4294967294");
	vm_err("guest-cid=0x10", "--vm guest-cid=0x10: must be "
		"3..4294967294");
	vm_err("guest-cid= 4", "--vm guest-cid= 4: must be 3..4294967294");
	vm_err("guest-cid=4x", "--vm guest-cid=4x: must be 3..4294967294");
	vm_err("tx-buffer-size=0", "--vm tx-buffer-size=0: must be "
		"128..16777216");
	vm_err("tx_buffer_size=127", "--vm tx_buffer_size=127: must be "
		"128..16777216");
	vm_err("tx-buffer-size=16777217", "--vm tx-buffer-size=16777217: "
		"must be 128..16777216");
	vm_err("queue-size=0", "--vm queue-size=0: must be 1..32768");
	vm_err("queue-size=32769", "--vm queue-size=32769: must be 1..32768");
	vm_err("socket=,uds-path=/u", "--vm socket=: empty path");
	vm_err("socket=/s,uds-path=", "--vm uds-path=: empty path");

	fill(arg, sizeof(arg), "socket=/", 's', 107, ",uds-path=/u");
	snprintf(msg, sizeof(msg), "--vm %.*s: longer than 107 bytes",
		(int)strlen("socket=/") + 107, arg);
	vm_err(arg, msg);
	fill(arg, sizeof(arg), "socket=/s,uds-path=/", 'u', 96, "");
	snprintf(msg, sizeof(msg), "--vm %s: longer than 96 bytes (the "
		"bridge appends \"_<port>\" to it)",
		arg + strlen("socket=/s,"));
	vm_err(arg, msg);

	vm_err("socket=/s,uds-path=/u,groups=", "--vm groups=: empty group "
		"name (groups are name+name+...)");
	vm_err("groups=a++b", "--vm groups=a++b: empty group name (groups "
		"are name+name+...)");
	vm_err("groups=+a", "--vm groups=+a: empty group name (groups are "
		"name+name+...)");
	vm_err("groups=a+", "--vm groups=a+: empty group name (groups are "
		"name+name+...)");
	fill(arg, sizeof(arg), "groups=a+", 'g', BR_VM_GROUP_NAME_MAX, "");
	snprintf(msg, sizeof(msg), "--vm %s: group name longer than 63 bytes",
		arg);
	vm_err(arg, msg);
	snprintf(arg, sizeof(arg), "groups=g0+g1+g2+g3+g4+g5+g6+g7+g8+g9+g10+"
		"g11+g12+g13+g14+g15+g16");
	snprintf(msg, sizeof(msg), "--vm %s: more than 16 groups", arg);
	vm_err(arg, msg);
}

/* The vsock back-end of vhost-device-vsock, which the bridge lacks. */
static void
test_vm_forward_refused(void **state)
{
	(void)state;
	vm_err("guest-cid=5,socket=/tmp/vhost5.socket,forward-cid=1,"
		"forward-listen=9001+9002,tx-buffer-size=32768,queue-size=1024",
		"--vm forward-cid=1: " FWD_REFUSAL);
	vm_err("guest-cid=5,socket=/s,forward_listen=9001",
		"--vm forward_listen=9001: " FWD_REFUSAL);
	vm_err("socket=/s,uds-path=/u,forward-cid=", "--vm forward-cid=: "
		FWD_REFUSAL);
}

static void
test_vm_set_and_missing(void **state)
{
	struct br_vm_conf vm;
	char why[256];

	(void)state;
	br_vm_init(&vm);
	assert_int_equal(vm.cid, BR_VM_DEFAULT_CID);
	assert_string_equal(br_vm_missing(&vm), "socket");
	assert_int_equal(br_vm_set(&vm, "socket", "/s", why, sizeof(why)), 0);
	assert_string_equal(br_vm_missing(&vm), "uds-path");
	assert_int_equal(br_vm_set(&vm, "uds_path", "/u", why, sizeof(why)),
		0);
	assert_null(br_vm_missing(&vm));
	assert_int_equal(br_vm_set(&vm, "guest-cid", "9", why, sizeof(why)),
		0);
	assert_int_equal(vm.cid, 9);
	assert_int_equal(br_vm_set(&vm, "groups", "x+y", why, sizeof(why)),
		0);
	assert_int_equal(vm.nb_groups, 2);
	assert_string_equal(vm.groups[1], "y");
	assert_int_equal(br_vm_set(&vm, "queue-size", "256", why,
		sizeof(why)), 0);
	assert_int_equal(vm.queue_size, 256);

	assert_int_equal(br_vm_set(&vm, "guest-cid", "2", why, sizeof(why)),
		-EINVAL);
	assert_string_equal(why, "must be 3..4294967294");
	assert_int_equal(vm.cid, 9);
	assert_int_equal(br_vm_set(&vm, "tx_buffer_size", "64k", why,
		sizeof(why)), -EINVAL);
	assert_string_equal(why, "must be 128..16777216");
	assert_int_equal(br_vm_set(&vm, "uds-path", "", why, sizeof(why)),
		-EINVAL);
	assert_string_equal(why, "empty path");
	assert_string_equal(vm.uds_path, "/u");
	assert_int_equal(br_vm_set(&vm, "groups", "a++b", why, sizeof(why)),
		-EINVAL);
	assert_string_equal(why, "empty group name (groups are "
		"name+name+...)");
	assert_int_equal(vm.nb_groups, 2);
	assert_int_equal(br_vm_set(&vm, "forward-cid", "1", why, sizeof(why)),
		-EINVAL);
	assert_string_equal(why, FWD_REFUSAL);
	assert_int_equal(br_vm_set(&vm, "uds", "/u", why, sizeof(why)),
		-EINVAL);
	assert_string_equal(why, "unknown key (keys: " KEYS_DASH ")");
	assert_int_equal(br_vm_set(&vm, "uds", "/u", NULL, 0), -EINVAL);
}

static void
dups_err(const struct br_vm_conf *vms, unsigned int nb, const char *msg)
{
	char err[512];

	assert_int_equal(br_vm_check_dups(vms, nb, err, sizeof(err)),
		-EINVAL);
	assert_string_equal(err, msg);
	assert_int_equal(br_vm_check_dups(vms, nb, NULL, 0), -EINVAL);
}

static void
test_check_dups(void **state)
{
	struct br_vm_conf vms[3];
	char err[256];

	(void)state;
	memset(vms, 0, sizeof(vms));
	assert_int_equal(br_vm_check_dups(vms, 0, err, sizeof(err)), 0);
	vm_ok("guest-cid=3,socket=/s3,uds-path=/u3", &vms[0]);
	vm_ok("guest-cid=4,socket=/s4,uds-path=/u4", &vms[1]);
	vm_ok("guest-cid=5,socket=/s5,uds-path=/u5", &vms[2]);
	assert_int_equal(br_vm_check_dups(vms, 3, err, sizeof(err)), 0);

	vms[2].cid = 3;
	dups_err(vms, 3, "guest-cid 3: given to VM 1 and VM 3");
	vms[2].cid = 5;
	strcpy(vms[1].socket, "/s3");
	dups_err(vms, 3, "socket /s3: given to VM 1 and VM 2");
	strcpy(vms[1].socket, "/s4");
	strcpy(vms[2].uds_path, "/u4");
	dups_err(vms, 3, "uds-path /u4: given to VM 2 and VM 3");
	strcpy(vms[2].uds_path, "/u5");
	strcpy(vms[2].socket, "/u3");
	dups_err(vms, 3, "path /u3: VM 1's uds-path and VM 3's socket");
	strcpy(vms[2].socket, "/s5");
	strcpy(vms[1].uds_path, "/s3");
	dups_err(vms, 3, "path /s3: VM 1's socket and VM 2's uds-path");
	strcpy(vms[1].uds_path, "/u4");
	strcpy(vms[0].uds_path, "/s3");
	dups_err(vms, 3, "path /s3: VM 1's socket and its uds-path");
	/* One VM alone can still clash with itself. */
	dups_err(vms, 1, "path /s3: VM 1's socket and its uds-path");
}

/* YAML: @text in a temporary file, loaded with room for @max VMs. */
static char yaml_path[256];

static int
yaml_load(const char *text, struct br_vm_conf *vms, unsigned int max,
		unsigned int *nb, char *err, size_t errlen)
{
	const char *dir = getenv("TMPDIR");
	size_t len = strlen(text);
	int fd, r;

	snprintf(yaml_path, sizeof(yaml_path), "%s/test_vm_conf_XXXXXX.yaml",
		dir != NULL && dir[0] != '\0' ? dir : "/tmp");
	fd = mkstemps(yaml_path, 5);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	r = br_vm_config_load(yaml_path, vms, max, nb, err, errlen);
	unlink(yaml_path);
	return r;
}

static unsigned int
yaml_ok(const char *text, struct br_vm_conf *vms, unsigned int max)
{
	char err[1024] = "";
	unsigned int nb = 99;

	if (yaml_load(text, vms, max, &nb, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return nb;
}

/* Refused with "<file><suffix>", e.g. suffix ":4: unknown key ...". */
static void
yaml_err_max(const char *text, unsigned int max, const char *suffix)
{
	struct br_vm_conf vms[MAX_VMS];
	char err[1024], want[1400];
	unsigned int nb = 99;

	assert_int_equal(yaml_load(text, vms, max, &nb, err, sizeof(err)),
		-EINVAL);
	assert_int_equal(nb, 0);
	snprintf(want, sizeof(want), "%s%s", yaml_path, suffix);
	assert_string_equal(err, want);
}

static void
yaml_err(const char *text, const char *suffix)
{
	yaml_err_max(text, MAX_VMS, suffix);
}

/* The configuration of vhost-device-vsock's README, less the vsock VM. */
static void
test_yaml_readme(void **state)
{
	struct br_vm_conf vms[MAX_VMS];

	(void)state;
	assert_int_equal(yaml_ok(
		"vms:\n"
		"    - guest_cid: 3\n"
		"      socket: /tmp/vhost3.socket\n"
		"      uds_path: /tmp/vm3.vsock\n"
		"      tx_buffer_size: 65536\n"
		"      queue_size: 1024\n"
		"      groups: group1+groupA\n"
		"    - guest_cid: 4\n"
		"      socket: /tmp/vhost4.socket\n"
		"      uds_path: /tmp/vm4.vsock\n"
		"      tx_buffer_size: 32768\n"
		"      queue_size: 256\n"
		"      groups: group2+groupB\n", vms, MAX_VMS), 2);
	assert_int_equal(vms[0].cid, 3);
	assert_string_equal(vms[0].socket, "/tmp/vhost3.socket");
	assert_string_equal(vms[0].uds_path, "/tmp/vm3.vsock");
	assert_int_equal(vms[0].tx_buffer_size, 65536);
	assert_int_equal(vms[0].queue_size, 1024);
	assert_int_equal(vms[0].nb_groups, 2);
	assert_string_equal(vms[0].groups[0], "group1");
	assert_string_equal(vms[0].groups[1], "groupA");
	assert_int_equal(vms[1].cid, 4);
	assert_string_equal(vms[1].socket, "/tmp/vhost4.socket");
	assert_string_equal(vms[1].uds_path, "/tmp/vm4.vsock");
	assert_int_equal(vms[1].tx_buffer_size, 32768);
	assert_int_equal(vms[1].queue_size, 256);
	assert_string_equal(vms[1].groups[1], "groupB");
}

static void
test_yaml_forms(void **state)
{
	struct br_vm_conf vms[MAX_VMS];

	(void)state;
	/* Comments, "---", any indentation, the keys in any order. */
	assert_int_equal(yaml_ok(
		"# two VMs\n"
		"---\n"
		"vms:\n"
		"- socket: /s1   # trailing comment\n"
		"  uds_path: /u1\n"
		"-   uds_path: /u2\n"
		"    groups: g\n"
		"    socket: /s2\n"
		"    guest_cid: 4\n", vms, 2), 2);
	assert_int_equal(vms[0].cid, 3);
	assert_string_equal(vms[0].socket, "/s1");
	assert_string_equal(vms[0].uds_path, "/u1");
	assert_string_equal(vms[0].groups[0], "default");
	assert_int_equal(vms[1].cid, 4);
	assert_string_equal(vms[1].socket, "/s2");
	assert_string_equal(vms[1].uds_path, "/u2");
	assert_int_equal(vms[1].nb_groups, 1);
	assert_string_equal(vms[1].groups[0], "g");
}

static void
test_yaml_values(void **state)
{
	struct br_vm_conf vms[MAX_VMS];

	(void)state;
	assert_int_equal(yaml_ok(
		"---\n"
		"vms:\n"
		"  - socket: /s1\n"
		"    uds_path: /u1\n"
		"    tx_buffer_size:\n"
		"    queue_size: null\n"
		"    groups: ~\n"
		"  - guest-cid: 0x10\n"
		"    socket: '/tmp/with space'\n"
		"    uds-path: \"/u2\"\n"
		"    tx-buffer-size: 0o400\n"
		"    queue-size: 0b100000000\n"
		"    groups: \"  a+b  \"\n"
		"  - {guest_cid: +17, socket: /s3, uds_path: /u3, groups: a}\n"
		"...\n", vms, MAX_VMS), 3);
	assert_int_equal(vms[0].cid, 3);
	assert_int_equal(vms[0].tx_buffer_size, 0);
	assert_int_equal(vms[0].queue_size, 0);
	assert_int_equal(vms[0].nb_groups, 1);
	assert_string_equal(vms[0].groups[0], "default");
	assert_int_equal(vms[1].cid, 16);
	assert_string_equal(vms[1].socket, "/tmp/with space");
	assert_string_equal(vms[1].uds_path, "/u2");
	assert_int_equal(vms[1].tx_buffer_size, 256);
	assert_int_equal(vms[1].queue_size, 256);
	assert_int_equal(vms[1].nb_groups, 2);
	assert_string_equal(vms[1].groups[0], "a");
	assert_string_equal(vms[1].groups[1], "b");
	assert_int_equal(vms[2].cid, 17);
	assert_int_equal(yaml_ok("vms:\n- {guest_cid: 0xaB, socket: /s, "
		"uds_path: /u}\n", vms, 1), 1);
	assert_int_equal(vms[0].cid, 0xab);
	assert_string_equal(vms[2].socket, "/s3");

	/* Flow style throughout; an alias for shared groups. */
	assert_int_equal(yaml_ok("{vms: [{socket: /s, uds_path: /u, groups: "
		"&g x+y}, {guest_cid: 4, socket: /t, uds_path: /v, groups: "
		"*g}]}", vms, 2), 2);
	assert_int_equal(vms[1].nb_groups, 2);
	assert_string_equal(vms[1].groups[1], "y");

	/* A plain scalar YAML would type as a number is a fine path. */
	assert_int_equal(yaml_ok("vms:\n- socket: 123\n  uds_path: true\n",
		vms, 1), 1);
	assert_string_equal(vms[0].socket, "123");
	assert_string_equal(vms[0].uds_path, "true");
}

static void
test_yaml_file_errors(void **state)
{
	struct br_vm_conf vms[MAX_VMS];
	char err[512];
	unsigned int nb = 99;

	(void)state;
	assert_int_equal(br_vm_config_load("/nonexistent/vms.yaml", vms,
		MAX_VMS, &nb, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "/nonexistent/vms.yaml: No such file or "
		"directory");
	assert_int_equal(nb, 0);
	assert_int_equal(br_vm_config_load("/", vms, MAX_VMS, &nb, NULL, 0),
		-EISDIR);
	assert_int_equal(br_vm_config_load("/", vms, MAX_VMS, &nb, err,
		sizeof(err)), -EISDIR);
	assert_string_equal(err, "/: Is a directory");
	/* Reading /proc/self/mem at offset 0 fails with EIO. */
	assert_int_equal(br_vm_config_load("/proc/self/mem", vms, MAX_VMS,
		&nb, err, sizeof(err)), -EIO);
	assert_string_equal(err, "/proc/self/mem: read error");

	yaml_err("", ": no VMs: the file is empty (expected \"vms:\" and a "
		"list of VMs)");
	yaml_err("# nothing\n\n", ": no VMs: the file is empty (expected "
		"\"vms:\" and a list of VMs)");
	yaml_err("---\n", ": no VMs: the file is empty (expected \"vms:\" and "
		"a list of VMs)");
	yaml_err("vms:\n  - socket: /s\n    uds_path: /u\n   groups: a\n",
		":4: YAML: did not find expected '-' indicator (while parsing "
		"a block collection at line 2)");
	yaml_err("vms: [\n", ":2: YAML: did not find expected node content "
		"(while parsing a flow node at line 2)");
	yaml_err("vms:\n  - socket: *nowhere\n", ":2: YAML: found undefined "
		"alias");
	yaml_err("vms:\n  - socket: \"/s\xff\"\n", ": YAML: invalid leading "
		"UTF-8 octet at byte 20");
	yaml_err("vms:\n  - socket: /s\n    uds_path: /u\n---\nvms: []\n",
		":5: a second YAML document: the file must hold one");
	/* A bad second document is a syntax error all the same. */
	yaml_err("vms:\n  - socket: /s\n    uds_path: /u\n---\n[\n",
		":6: YAML: did not find expected node content (while parsing "
		"a flow node at line 6)");
}

static void
test_yaml_layout_errors(void **state)
{
	(void)state;
	yaml_err("- socket: /s\n", ":1: the top level must be a mapping with "
		"the key \"vms\", not a list");
	yaml_err("hello\n", ":1: the top level must be a mapping with the key "
		"\"vms\", not a single value");
	yaml_err("vm:\n  - socket: /s\n", ":1: unknown key \"vm\" (the top "
		"level has only \"vms\")");
	yaml_err("vms:\n  - socket: /s\n    uds_path: /u\nlog: 1\n",
		":4: unknown key \"log\" (the top level has only \"vms\")");
	yaml_err("? [a]\n: b\n", ":1: unknown key \"\" (the top level has "
		"only \"vms\")");
	yaml_err("vms: []\nvms: []\n", ":2: key \"vms\" given twice");
	yaml_err("{}\n", ":1: missing key \"vms\"");
	yaml_err("vms:\n", ":1: vms: no VMs in the list");
	yaml_err("vms: ~\n", ":1: vms: no VMs in the list");
	yaml_err("vms: []\n", ":1: vms: no VMs in the list");
	yaml_err("vms: /tmp/s\n", ":1: vms: must be a list of VMs (\"- "
		"guest_cid: ...\"), not a single value");
	yaml_err("vms:\n  socket: /s\n", ":2: vms: must be a list of VMs "
		"(\"- guest_cid: ...\"), not a mapping");
	yaml_err("vms:\n  - socket=/s\n", ":2: VM 1: must be a mapping "
		"(guest_cid: 3, socket: ..., uds_path: ...), not a single "
		"value");
	yaml_err("vms:\n  - socket: /s\n    uds_path: /u\n  - [a]\n",
		":4: VM 2: must be a mapping (guest_cid: 3, socket: ..., "
		"uds_path: ...), not a list");
	yaml_err("vms:\n  - ? {a: b}\n    : c\n", ":2: VM 1: a key must be a "
		"name, not a mapping");
	yaml_err_max("vms:\n  - socket: /s\n    uds_path: /u\n"
		"  - socket: /t\n    uds_path: /v\n", 1,
		":4: VM 2: too many VMs (at most 1)");
}

static void
test_yaml_key_errors(void **state)
{
	(void)state;
	/* The message of the task's example, line from libyaml's mark. */
	yaml_err("vms:\n"
		"  - socket: /s\n"
		"    uds_path: /u\n"
		"    guest_cidd: 4\n",
		":4: unknown key \"guest_cidd\" (keys: " KEYS_SNAKE ")");
	yaml_err("vms:\n  - socket: /s\n    uds: /u\n",
		":3: unknown key \"uds\" (keys: " KEYS_SNAKE ")");
	yaml_err("vms:\n  - socket: /s\n    <<: {uds_path: /u}\n",
		":3: unknown key \"<<\" (keys: " KEYS_SNAKE ")");
	yaml_err("vms:\n  - socket: /s\n    socket: /t\n",
		":3: key \"socket\" given twice");
	yaml_err("vms:\n  - guest_cid: ~\n    socket: /s\n    guest-cid: 4\n",
		":4: key \"guest_cid\" given twice");
	yaml_err("vms:\n  - uds_path: /u\n    guest_cid: 4\n",
		":2: VM 1: missing key \"socket\"");
	yaml_err("vms:\n  - socket: /s\n    uds_path: /u\n"
		"  - socket: /t\n    uds_path: ~\n",
		":4: VM 2: missing key \"uds_path\"");
	yaml_err("vms:\n  - {socket: null, uds_path: /u}\n",
		":2: VM 1: missing key \"socket\"");
	/* The README's vsock VM: refused, whichever spelling. */
	yaml_err("vms:\n  - guest_cid: 5\n    socket: /tmp/vhost5.socket\n"
		"    forward-cid: 1\n    forward-listen: 9001+9002\n",
		":4: forward-cid: " FWD_REFUSAL);
	yaml_err("vms:\n  - socket: /s\n    forward_listen: 9001\n",
		":3: forward_listen: " FWD_REFUSAL);
}

static void
test_yaml_value_errors(void **state)
{
	char text[512], want[512];

	(void)state;
	yaml_err("vms:\n  - socket: /s\n    guest_cid: 2\n    uds_path: /u\n",
		":3: guest_cid 2: must be 3..4294967294");
	yaml_err("vms:\n  - guest_cid: 4294967295\n",
		":2: guest_cid 4294967295: must be 3..4294967294");
	yaml_err("vms:\n  - guest_cid: -1\n",
		":2: guest_cid -1: must be 3..4294967294");
	/* serde_yaml: a leading zero makes a string, not a number. */
	yaml_err("vms:\n  - guest_cid: 010\n",
		":2: guest_cid 010: must be 3..4294967294");
	yaml_err("vms:\n  - guest_cid: 3.0\n",
		":2: guest_cid 3.0: must be 3..4294967294");
	yaml_err("vms:\n  - guest_cid: +\n",
		":2: guest_cid +: must be 3..4294967294");
	yaml_err("vms:\n  - guest_cid: 0x\n",
		":2: guest_cid 0x: must be 3..4294967294");
	/* serde_yaml's prefixes are lower case only. */
	yaml_err("vms:\n  - guest_cid: 0XA\n",
		":2: guest_cid 0XA: must be 3..4294967294");
	yaml_err("vms:\n  - guest_cid: 0x1g\n",
		":2: guest_cid 0x1g: must be 3..4294967294");
	yaml_err("vms:\n  - guest_cid: true\n",
		":2: guest_cid true: must be 3..4294967294");
	yaml_err("vms:\n  - guest_cid: 0x10000000000000000\n",
		":2: guest_cid 0x10000000000000000: must be 3..4294967294");
	yaml_err("vms:\n  - guest_cid: \"4\"\n",
		":2: guest_cid \"4\": must be 3..4294967294, as an integer, "
		"not a quoted string");
	yaml_err("vms:\n  - guest_cid: '4'\n",
		":2: guest_cid \"4\": must be 3..4294967294, as an integer, "
		"not a quoted string");
	yaml_err("vms:\n  - guest_cid: [3]\n",
		":2: guest_cid: must be a single value, not a list");
	yaml_err("vms:\n  - socket: {a: b}\n",
		":2: socket: must be a single value, not a mapping");
	yaml_err("vms:\n  - tx_buffer_size: 0\n",
		":2: tx_buffer_size 0: must be 128..16777216");
	yaml_err("vms:\n  - tx-buffer-size: 0x1000001\n",
		":2: tx-buffer-size 0x1000001: must be 128..16777216");
	yaml_err("vms:\n  - queue_size: 40000\n",
		":2: queue_size 40000: must be 1..32768");
	yaml_err("vms:\n  - socket: \"\"\n", ":2: socket \"\": empty path");
	yaml_err("vms:\n  - socket: \"/s\\0x\"\n",
		":2: socket \"/s\": holds a NUL byte");
	snprintf(text, sizeof(text), "vms:\n  - socket: /s\n    uds_path: "
		"/%0*d\n", 96, 0);
	snprintf(want, sizeof(want), ":3: uds_path \"/%0*d\": longer than 96 "
		"bytes (the bridge appends \"_<port>\" to it)", 96, 0);
	yaml_err(text, want);
	snprintf(text, sizeof(text), "vms:\n  - socket: /%0*d\n", 107, 0);
	snprintf(want, sizeof(want), ":2: socket \"/%0*d\": longer than 107 "
		"bytes", 107, 0);
	yaml_err(text, want);
	/* Quoted empty groups is a value; plain empty is null (default). */
	yaml_err("vms:\n  - groups: \"\"\n",
		":2: groups \"\": empty group name (groups are name+name+...)");
	yaml_err("vms:\n  - groups: a++b\n",
		":2: groups \"a++b\": empty group name (groups are "
		"name+name+...)");
	yaml_err("vms:\n  - groups: [a, b]\n",
		":2: groups: must be a single value, not a list");
}

static void
test_yaml_dups(void **state)
{
	(void)state;
	yaml_err("vms:\n"
		"  - guest_cid: 4\n"
		"    socket: /s1\n"
		"    uds_path: /u1\n"
		"  - socket: /s2\n"
		"    guest_cid: 4\n"
		"    uds_path: /u2\n",
		":6: guest_cid 4: given to VM 1 and VM 2");
	/* Two VMs without guest_cid: vhost-device-vsock fails at start. */
	yaml_err("vms:\n"
		"  - socket: /s1\n"
		"    uds_path: /u1\n"
		"  - socket: /s2\n"
		"    uds_path: /u2\n",
		":4: guest_cid 3: given to VM 1 and VM 2 (VM without "
		"guest_cid: 3 is the default)");
	yaml_err("vms:\n"
		"  - {guest_cid: 3, socket: /s1, uds_path: /u1}\n"
		"  - {guest_cid: 4, socket: /s2, uds_path: /u2}\n"
		"  - guest_cid: 5\n"
		"    uds_path: /u3\n"
		"    socket: /s2\n",
		":6: socket /s2: given to VM 2 and VM 3");
	yaml_err("vms:\n"
		"  - {guest_cid: 3, socket: /s1, uds_path: /u1}\n"
		"  - guest_cid: 4\n"
		"    socket: /s2\n"
		"    uds_path: /u1\n",
		":5: uds_path /u1: given to VM 1 and VM 2");
	yaml_err("vms:\n"
		"  - {guest_cid: 3, socket: /s1, uds_path: /u1}\n"
		"  - guest_cid: 4\n"
		"    socket: /u1\n"
		"    uds_path: /u2\n",
		":4: path /u1: VM 1's uds_path and VM 2's socket");
	yaml_err("vms:\n"
		"  - {guest_cid: 3, socket: /s1, uds_path: /u1}\n"
		"  - guest_cid: 4\n"
		"    socket: /s2\n"
		"    uds_path: /s1\n",
		":5: path /s1: VM 1's socket and VM 2's uds_path");
	yaml_err("vms:\n"
		"  - socket: /x\n"
		"    uds_path: /x\n",
		":3: path /x: VM 1's socket and its uds_path");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vm_minimal_defaults),
		cmocka_unit_test(test_vm_readme_examples),
		cmocka_unit_test(test_vm_lexical),
		cmocka_unit_test(test_vm_bounds_ok),
		cmocka_unit_test(test_vm_form_errors),
		cmocka_unit_test(test_vm_value_errors),
		cmocka_unit_test(test_vm_forward_refused),
		cmocka_unit_test(test_vm_set_and_missing),
		cmocka_unit_test(test_check_dups),
		cmocka_unit_test(test_yaml_readme),
		cmocka_unit_test(test_yaml_forms),
		cmocka_unit_test(test_yaml_values),
		cmocka_unit_test(test_yaml_file_errors),
		cmocka_unit_test(test_yaml_layout_errors),
		cmocka_unit_test(test_yaml_key_errors),
		cmocka_unit_test(test_yaml_value_errors),
		cmocka_unit_test(test_yaml_dups),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
