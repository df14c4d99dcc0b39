/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The system calls fuzz_vsockd_app stands in for, for the daemon
 * (fuzz_vsockd_sys.c says which and why). The target is linked with
 * --wrap for each of them.
 */
#ifndef FUZZ_VSOCKD_SYS_H
#define FUZZ_VSOCKD_SYS_H

#include <stdbool.h>

struct fz_sys {
	/*
	 * The daemon's end of an application whose requests are handed
	 * in-process (a socket made once), else -1: its replies are taken,
	 * and what the daemon does with it as a descriptor (epoll, close)
	 * is not done.
	 */
	int app_fd;
	bool app_gone;	/* it hung up: replies are refused (EPIPE) */
};

extern struct fz_sys fz_sys;

/* The segment's memory and file, made once. */
void fz_sys_init(void);

#endif
