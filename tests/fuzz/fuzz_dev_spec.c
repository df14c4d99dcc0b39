/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The --dev spec parser: virtio_vsock_spec_check() on any string (every
 * transport's key=value parser, parse_u32, the CID and PCI address
 * forms), and for a loopback spec it accepts, virtio_vsock_open() and
 * close: the checks that only run with a device (lcore, rx_buf against
 * the pool, queue sizes the pool cannot fill) and their unwinding.
 *
 * Findings: a crash, an error without a message, the two error buffer
 * sizes disagreeing, or an mbuf left out of the pool after close.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_mbuf.h>

#include <virtio_vsock_dev.h>

#include "fuzz_common.h"

#define SPEC_MAX 1024

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	fz_eal_init((*argv)[0], 2047, 2048);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtio_vsock_conf conf = {
		.rx_pool = fz_pool(),
		.socket_id = SOCKET_ID_ANY,
	};
	struct virtio_vsock_dev *dev;
	char *spec, *err, *tiny;
	int r, r2;

	if (size >= SPEC_MAX)
		return -1;	/* not worth keeping: the limit is 512 */
	/* Exactly sized heap buffers: ASan sees a byte written past them. */
	spec = malloc(size + 1);
	err = malloc(256);
	tiny = malloc(7);
	memcpy(spec, data, size);
	spec[size] = '\0';
	err[0] = '\0';
	r = virtio_vsock_spec_check(spec, err, 256);
	r2 = virtio_vsock_spec_check(spec, tiny, 7);
	if (r > 0 || r != r2 || (r != 0 && (err[0] == '\0' ||
			strnlen(err, 256) == 256 || strnlen(tiny, 7) == 7))) {
		fprintf(stderr, "spec_check('%s') = %d / %d, '%s'\n", spec, r,
			r2, err);
		abort();
	}
	/* Devices other than loopback would reach for sockets and sysfs. */
	if (r == 0 && strncmp(spec, "loopback", 8) == 0) {
		dev = virtio_vsock_open(spec, &conf, err, 256);
		if (dev != NULL) {
			struct virtio_vsock_stats st;

			virtio_vsock_stats_get(dev, &st);
			if (st.rx_posted == 0)
				abort();	/* open promises buffers */
			virtio_vsock_close(dev);
		} else if (err[0] == '\0') {
			abort();
		}
		fz_check_pool(fz_pool(), 0, "rx pool");
	}
	free(tiny);
	free(err);
	free(spec);
	return 0;
}
