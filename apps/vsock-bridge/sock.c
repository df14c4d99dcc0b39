/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsock-bridge: the Unix socket files (--uds PATH, and PATH_<port> of
 * the host's listeners), for uds.c.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vsock_vhost.h>

#include "bridge.h"

int
br_sockaddr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int
br_sock_listen(const char *path, int backlog)
{
	struct sockaddr_un sa;
	int fd, r;

	/* A file left by a bridge that died is replaced, a live one kept. */
	r = vsock_vhost_unlink_stale(path);
	if (r != 0)
		return r;
	if (br_sockaddr(&sa, path) != 0)
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (listen(fd, backlog) != 0) {
		r = -errno;
		close(fd);
		unlink(path);
		return r;
	}
	return fd;
}
