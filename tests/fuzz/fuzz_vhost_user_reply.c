/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost-user front-end's reply parsing: the input is the byte stream
 * a hostile back-end sends, played through a socket pair into the
 * driver's own hello (GET_FEATURES, GET_PROTOCOL_FEATURES, GET_CONFIG:
 * vu_reply() and vu_get_cid()) and, when that succeeds, its stop
 * (GET_VRING_BASE for each ring). The peer's end is shut for writing
 * after the input, so a short stream reads as a closed connection rather
 * than a 5-second wait.
 *
 * The parser is static in virtio_vsock_vhost_user.c; rather than export
 * it for a test, this file includes that one, renaming its ops table so
 * that it does not clash with the library's copy. Everything else the
 * transport calls comes from the library as usual.
 *
 * Findings: a crash, an accepted reply sequence that leaves the state
 * inconsistent (a CID from no config, features with the protocol bit),
 * an error without a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define virtio_vsock_vhost_user_ops fuzz_vhost_user_ops
#include "../../drivers/net/virtio_vsock/virtio_vsock_vhost_user.c"
#undef virtio_vsock_vhost_user_ops

#include "fuzz_common.h"

#define FZ_CID_ARG 7

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	/* The transport logs through EAL's log types. */
	fz_eal_init((*argv)[0], 63, 256);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t bad_replies = 0;
	struct vu_dev vu = { .path = "fuzz", .listen_fd = -1,
		.bad_replies = &bad_replies };
	struct virtio_vsock_dev dev = { .tpriv = &vu };
	struct fz_in in = { .p = data, .left = size };
	uint8_t mode = fz_u8(&in);
	char err[256] = "";
	int sv[2], r, q;

	/* More than a socket buffer would block the writer: not useful. */
	if (size > 4096)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		abort();
	if (in.left > 0 && write(sv[1], in.p, in.left) != (ssize_t)in.left)
		abort();
	shutdown(sv[1], SHUT_WR);
	vu.sock = sv[0];
	for (q = 0; q < VU_NB_RINGS; q++)
		vu.kick[q] = vu.call[q] = -1;
	vu.cid_arg = (mode & 1) ? FZ_CID_ARG : 0;

	r = vu_hello(&vu, err, sizeof(err));
	if (r > 0 || (r != 0 && err[0] == '\0')) {
		fprintf(stderr, "vu_hello = %d, '%s'\n", r, err);
		abort();
	}
	if (r == 0) {
		/* What vu_create hands on must be consistent. */
		if ((vu.features >> VU_F_PROTOCOL_FEATURES) & 1)
			abort();
		if (!vu.has_config && vu.cid != vu.cid_arg)
			abort();
		if (vu.has_config && !vu.protocol)
			abort();
		/* Then the stop, which waits for each ring's base. */
		vu_stop(&dev);
		if (vu.sock != -1)
			abort();
	}
	vu_drop(&vu);
	close(sv[1]);
	return 0;
}
