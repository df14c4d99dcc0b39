/* SPDX-License-Identifier: BSD-3-Clause */
#include "libvsock.h"
#include "vsl_priv.h"

void
vsl_poll_fd_closed(int fd, struct vsl_sock *s)
{
	(void)fd;
	(void)s;
}
