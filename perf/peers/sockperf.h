/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sockperf's private definitions, shared by its three files: sockperf.c
 * (options, the server, the one-process conn-rate), sockperf_io.c
 * (sockets and I/O loops) and sockperf_client.c (the client's tests and
 * their JSON). The protocol is described at the top of sockperf.c.
 */
#ifndef SOCKPERF_H
#define SOCKPERF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define SP_MAGIC 0x73707266u	/* "sprf" */
#define SP_MAX_SIZE (16u << 20)
#define SP_MAX_SECONDS 3600.0
#define SP_IO_BUF (256u << 10)

/* Reads take up to this much at once, at least one message. */
#define io_len(size) ((size) > SP_IO_BUF ? (size) : SP_IO_BUF)

enum sp_mode { SP_STREAM = 1, SP_REVERSE, SP_PINGPONG, SP_CONNRATE };

/* The request's mode word: the mode in the low byte, flags above it. */
#define SP_MODE_MASK 0xffu
#define SP_FLAG_BUSY (1u << 8)
#define SP_FLAG_COLD (1u << 9)

/*
 * The vsock-perf hello, re-declared here so that sockperf stays plain C
 * without DPDK: keep in step with apps/common/perf_proto.h. 16 bytes,
 * little-endian: u32 magic "VPRF", u8 version, u8 mode, u16 zero,
 * u32 msg_size, u32 zero.
 */
#define VPERF_MAGIC 0x46525056u	/* "VPRF" read little-endian */
#define VPERF_VERSION 1
#define VPERF_HELLO_LEN 16u
#define VPERF_MAX_MSG (1u << 20)
enum { VPERF_SINK = 0, VPERF_SOURCE = 1, VPERF_ECHO = 2 };

struct sp_req {
	uint32_t magic;
	uint32_t mode;		/* enum sp_mode | SP_FLAG_* */
	uint32_t size;
	uint32_t ms;
};

/* A --cold sender's buffer; buf is NULL until it is mapped. */
struct sp_cold {
	char *buf;
	size_t len;
};

struct sp_opts {
	enum { ROLE_NONE, ROLE_SERVER, ROLE_CLIENT, ROLE_CONNRATE } role;
	int family;		/* AF_UNIX, AF_INET or AF_VSOCK */
	const char *path;
	uint16_t port;
	uint32_t vsock_cid;
	uint32_t vsock_port;
	enum sp_mode mode;
	uint32_t size;
	double seconds;
	bool once;
	bool busy;
	bool cold;
};

/* The name messages start with (sockperf.c). */
extern const char *prog;

/* Where the --cold checksums go, so that the reads cannot be dropped. */
extern volatile uint64_t sp_sink;

/* sockperf_io.c: a message naming @what and errno, then exit(1). */
void __attribute__((noreturn)) die(const char *what);
double now_s(void);

/* The address of --unix, --tcp (127.0.0.1) or --vsock; its length. */
socklen_t sp_addr(const struct sp_opts *o, struct sockaddr_storage *ss);
/* A listening or a connected socket; die() on failure. */
int sp_listen(const struct sp_opts *o);
int sp_connect(const struct sp_opts *o);
void set_nodelay(int fd, int family);
void set_nonblock(int fd);

/* Reads and writes that retry EINTR, and EAGAIN (--busy) at once. */
ssize_t read_some(int fd, void *buf, size_t len);
ssize_t read_full(int fd, void *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);
uint64_t drain(int fd, char *buf, size_t len, bool sum);
int cold_map(struct sp_cold *c);
int send_until(int fd, const char *buf, const struct sp_cold *cold,
	uint32_t size, double end, uint64_t *sent);

/* sockperf_client.c: the "family" of the JSON lines. */
const char *family_name(int family);
/* --client: one test (any mode but connrate), or connrate. */
int run_client(const struct sp_opts *o);
int client_connrate(const struct sp_opts *o);

#endif /* SOCKPERF_H */
