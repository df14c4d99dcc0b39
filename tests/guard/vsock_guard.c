/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-guard: run a program where the kernel's AF_VSOCK cannot be reached.
 *
 *  - a private mount namespace in which /dev/vsock (when the host has one)
 *    is /dev/null, bind-mounted over it (/dev/vsock itself is never
 *    opened);
 *  - a seccomp-BPF filter under which socket(AF_VSOCK, ...) and
 *    socketpair(AF_VSOCK, ...) fail with EAFNOSUPPORT; everything else is
 *    allowed;
 *  - optionally (--user UID:GID) the privileges dropped after both, before
 *    the exec.
 *
 * Tests run preloaded programs under it, so that a call the preload lets
 * fall through to the kernel fails the test instead of touching the
 * machine's vsock device.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

#define EXIT_SETUP 126	/* the guard could not be set up */
#define EXIT_NOEXEC 127	/* the program could not be run */

static const char *prog = "vsock-guard";

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [--user UID:GID] [--] PROGRAM [ARGS...]\n"
		"\n"
		"Run PROGRAM where the kernel's AF_VSOCK cannot be reached:\n"
		"  - in a private mount namespace where /dev/vsock (if the host\n"
		"    has one) is /dev/null, bind-mounted over it;\n"
		"  - under a seccomp filter making socket(AF_VSOCK, ...) and\n"
		"    socketpair(AF_VSOCK, ...) fail with EAFNOSUPPORT.\n"
		"Needs CAP_SYS_ADMIN (root) for the mount namespace.\n"
		"\n"
		"Options:\n"
		"  --user UID:GID  drop to UID and GID (no supplementary\n"
		"                  groups) after setting up, before the exec\n"
		"  -h, --help      this text\n"
		"\n"
		"Exit status: PROGRAM's, or 126 when the guard cannot be set\n"
		"up, 127 when PROGRAM cannot be executed.\n", prog);
}

static void
die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
	exit(EXIT_SETUP);
}

static void
hide_dev_vsock(void)
{
	struct stat st;

	if (unshare(CLONE_NEWNS) < 0)
		die("unshare(CLONE_NEWNS) (needs CAP_SYS_ADMIN)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("mount --make-rprivate /");
	/* lstat only: the device node is never opened. */
	if (lstat("/dev/vsock", &st) < 0) {
		if (errno == ENOENT)
			return;
		die("lstat /dev/vsock");
	}
	if (mount("/dev/null", "/dev/vsock", NULL, MS_BIND, NULL) < 0)
		die("bind-mount /dev/null over /dev/vsock");
}

#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, \
	offsetof(struct seccomp_data, nr))
#define LOAD_ARG0 BPF_STMT(BPF_LD | BPF_W | BPF_ABS, \
	offsetof(struct seccomp_data, args[0]))

static void
install_filter(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		LOAD_NR,
		/* x32 system calls would bypass the numbers below. */
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socketpair, 0, 3),
		LOAD_ARG0,
		/* The domain is an int: only the low 32 bits count. */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_VSOCK, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EAFNOSUPPORT),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fp = {
		.len = sizeof(f) / sizeof(f[0]),
		.filter = f,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("prctl(PR_SET_NO_NEW_PRIVS)");
	if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) < 0)
		die("seccomp(SECCOMP_SET_MODE_FILTER)");
}

static int
parse_id(const char *s, char **end, unsigned long *out)
{
	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	*out = strtoul(s, end, 10);
	if (errno || *out >= UINT_MAX)
		return -1;
	return 0;
}

static void
drop_to(unsigned long uid, unsigned long gid)
{
	gid_t g = (gid_t)gid;

	if (setgroups(1, &g) < 0)
		die("setgroups");
	if (setresgid(g, g, g) < 0)
		die("setresgid");
	if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0)
		die("setresuid");
	if (setresuid(0, 0, 0) == 0 && uid != 0) {
		fprintf(stderr, "%s: privileges were not dropped\n", prog);
		exit(EXIT_SETUP);
	}
}

int
main(int argc, char **argv)
{
	unsigned long uid = 0, gid = 0;
	int have_user = 0;
	int i = 1;

	if (argc > 0 && argv[0] && argv[0][0])
		prog = argv[0];
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--user")) {
			char *end;

			if (i + 1 >= argc ||
			    parse_id(argv[i + 1], &end, &uid) < 0 ||
			    *end != ':' ||
			    parse_id(end + 1, &end, &gid) < 0 || *end) {
				fprintf(stderr, "%s: --user wants UID:GID "
					"(decimal), got '%s'\n", prog,
					i + 1 < argc ? argv[i + 1] : "");
				return EXIT_SETUP;
			}
			have_user = 1;
			i += 2;
			continue;
		}
		fprintf(stderr, "%s: unknown option '%s' (see --help)\n",
			prog, argv[i]);
		return EXIT_SETUP;
	}
	if (i >= argc) {
		fprintf(stderr, "%s: no PROGRAM given (see --help)\n", prog);
		return EXIT_SETUP;
	}
	hide_dev_vsock();
	/* The filter comes before the privilege drop: setuid is allowed by
	 * it, and a non-root process could not install it without
	 * no_new_privs anyway. */
	install_filter();
	if (have_user)
		drop_to(uid, gid);
	execvp(argv[i], argv + i);
	fprintf(stderr, "%s: cannot execute '%s': %s\n", prog, argv[i],
		strerror(errno));
	return EXIT_NOEXEC;
}
