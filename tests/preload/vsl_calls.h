/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsl-calls: a plain program exercising every libc call on AF_VSOCK
 * sockets, meant to run under libvsock-preload.so and vsock-guard against
 * vsockd. Each case prints a TAP line; a case that fails says why.
 */
#ifndef VSL_CALLS_H
#define VSL_CALLS_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>

#define WHY 512

/* Every case: 0 when it passed, -1 with why[] saying what went wrong. */
typedef int (*case_fn)(char *why);

void run_case(const char *name, case_fn fn);

#define FAIL(...) do { \
		snprintf(why, WHY, __VA_ARGS__); \
		goto out; \
	} while (0)
#define CHECK(c, ...) do { \
		if (!(c)) \
			FAIL(__VA_ARGS__); \
	} while (0)
/* A helper that filled why[] itself. */
#define KEEP(c) do { \
		if (!(c)) \
			goto out; \
	} while (0)
/* A call that must succeed (return >= 0). */
#define SYS(c) do { \
		if ((long)(c) < 0) \
			FAIL("%s: %s (line %d)", #c, strerror(errno), \
			     __LINE__); \
	} while (0)
/* A call that must fail with errno @e. */
#define ERR(c, e) do { \
		errno = 0; \
		long r_ = (long)(c); \
		if (r_ != -1 || errno != (e)) \
			FAIL("%s: want -1 %s, got %ld %s (line %d)", #c, \
			     strerrorname_np(e), r_, \
			     r_ == -1 ? strerrorname_np(errno) : "", \
			     __LINE__); \
	} while (0)

extern unsigned int peer_cid;	/* CID connections go to */
extern unsigned int local_cid;	/* vsockd's CID, what the ioctl says */

void closep(int *fd);
int vsock_socket(int type);
void vm_addr(struct sockaddr_vm *a, unsigned int cid, unsigned int port);
/* A listener bound to (VMADDR_CID_ANY, an ephemeral port). */
int listener(int type, unsigned int *port, char *why);
/* A connected pair through a listener: *c connected, *s accepted. */
int pair(int type, int *c, int *s, char *why);
void fill_random(void *buf, size_t len);
/* Wait (up to ms) for events on fd; returns revents or 0. */
int wait_fd(int fd, short events, int ms);
double now_s(void);
/* Send len bytes from another thread while the caller receives. */
struct sender;
struct sender *sender_start(int fd, const void *buf, size_t len, int api);
/* Joins; returns bytes sent or -errno. */
long sender_join(struct sender *s);
/* Receive exactly len bytes (loops); returns len or -errno, 0 on EOF. */
long recv_all(int fd, void *buf, size_t len, int api);

extern volatile int sigpipes;

void basic_cases(void);
void io_cases(void);
void poll_cases(void);

#endif
