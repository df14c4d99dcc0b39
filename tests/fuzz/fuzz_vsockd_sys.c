/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * System calls of the daemon that fuzz_vsockd_app stands in for. A
 * system call costs some 2 us on this VM and a page of shared memory
 * some 50 us to fault in, against some 50 us for the rest of a run; what
 * is stood in for here depends on nothing in the input, and the daemon's
 * handling of its failure is unreachable from it. The target is linked
 * with --wrap for each.
 *
 * - The segment: vd_hello() maps each application's segment from a new
 *   memfd. Its shared mapping (vd_hello()'s alone) gets a pre-faulted
 *   buffer instead, zeroed as a new memfd is; the daemon and the
 *   application (the target) see one memory, as they see one segment.
 *   Its file is one memfd made once: each memfd_create() gets a copy of
 *   it. The first HELLO sizes and seals it as the daemon asks; later ones
 *   ask the same of a copy and succeed, as they would on a new file, and
 *   anything else goes to the kernel, which refuses it on a sealed file.
 *   The copy is the daemon's to close, or to send (SCM_RIGHTS copies it
 *   again).
 * - An application whose requests are handed in-process: the daemon's
 *   end of it is a socket made once. Its replies are taken whole, as its
 *   end of the socket would take them and as the target would read them
 *   (unseen; a descriptor one carries is the daemon's to close, as after
 *   a real send), and refused once it hung up (EPIPE, as the socket
 *   would). Nothing is ever sent on it, so epoll has nothing to say of
 *   it: the daemon's epoll_ctl() and close() of it are not done. That the
 *   daemon closes and unregisters every application's end exactly once
 *   is checked by the runs through a real socket pair.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "fuzz_vsockd_sys.h"

#define FZ_SEG_MAX (128u << 10)

struct fz_sys fz_sys = { .app_fd = -1 };

static uint8_t *seg_mem;
static bool seg_busy;
static int seg_fd = -1;		/* the segment's file */
static int seg_copy = -1;	/* the copy the daemon has open */
static off_t seg_size = -1;	/* once the first HELLO sized it */
static int seg_seals = -1;	/* once the first HELLO sealed it */

void *__real_mmap64(void *addr, size_t len, int prot, int flags, int fd,
		off_t off);
void *__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd,
		off_t off);
int __real_munmap(void *addr, size_t len);
int __wrap_munmap(void *addr, size_t len);
int __real_memfd_create(const char *name, unsigned int flags);
int __wrap_memfd_create(const char *name, unsigned int flags);
int __real_ftruncate64(int fd, off_t len);
int __wrap_ftruncate64(int fd, off_t len);
int __real_fcntl64(int fd, int cmd, ...);
int __wrap_fcntl64(int fd, int cmd, ...);
int __real_close(int fd);
int __wrap_close(int fd);
int __real_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
ssize_t __real_sendmsg(int fd, const struct msghdr *mh, int flags);
ssize_t __wrap_sendmsg(int fd, const struct msghdr *mh, int flags);

FZ_NO_COVERAGE void *
__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (seg_mem == NULL || seg_busy || addr != NULL || fd < 0 ||
			!(flags & MAP_SHARED) || len > FZ_SEG_MAX)
		return __real_mmap64(addr, len, prot, flags, fd, off);
	seg_busy = true;
	memset(seg_mem, 0, len);
	return seg_mem;
}

FZ_NO_COVERAGE int
__wrap_munmap(void *addr, size_t len)
{
	if (seg_mem == NULL || addr != seg_mem)
		return __real_munmap(addr, len);
	seg_busy = false;
	return 0;
}

FZ_NO_COVERAGE int
__wrap_memfd_create(const char *name, unsigned int flags)
{
	if (seg_copy >= 0 || flags != (MFD_CLOEXEC | MFD_ALLOW_SEALING))
		return __real_memfd_create(name, flags);
	seg_copy = __real_fcntl64(seg_fd, F_DUPFD_CLOEXEC, 0);
	return seg_copy;
}

FZ_NO_COVERAGE int
__wrap_ftruncate64(int fd, off_t len)
{
	if (fd < 0 || fd != seg_copy || (seg_size >= 0 && len != seg_size))
		return __real_ftruncate64(fd, len);
	if (seg_size < 0) {
		if (__real_ftruncate64(fd, len) != 0)
			return -1;
		seg_size = len;
	}
	return 0;
}

FZ_NO_COVERAGE int
__wrap_fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fd < 0 || fd != seg_copy || cmd != F_ADD_SEALS ||
			(seg_seals >= 0 && (int)(intptr_t)arg != seg_seals))
		return __real_fcntl64(fd, cmd, arg);
	if (seg_seals < 0) {
		if (__real_fcntl64(fd, cmd, arg) != 0)
			return -1;
		seg_seals = (int)(intptr_t)arg;
	}
	return 0;
}

FZ_NO_COVERAGE int
__wrap_close(int fd)
{
	if (fd >= 0 && fd == fz_sys.app_fd)
		return 0;
	if (fd >= 0 && fd == seg_copy)
		seg_copy = -1;
	return __real_close(fd);
}

FZ_NO_COVERAGE int
__wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	if (fd >= 0 && fd == fz_sys.app_fd)
		return 0;
	return __real_epoll_ctl(epfd, op, fd, ev);
}

FZ_NO_COVERAGE ssize_t
__wrap_sendmsg(int fd, const struct msghdr *mh, int flags)
{
	size_t i, n = 0;

	if (fd < 0 || fd != fz_sys.app_fd)
		return __real_sendmsg(fd, mh, flags);
	if (fz_sys.app_gone) {
		errno = EPIPE;
		return -1;
	}
	for (i = 0; i < mh->msg_iovlen; i++)
		n += mh->msg_iov[i].iov_len;
	return (ssize_t)n;
}

void
fz_sys_init(void)
{
	void *p = __real_mmap64(NULL, FZ_SEG_MAX, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	seg_fd = __real_memfd_create("vsockd-segment",
			MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (p == MAP_FAILED || seg_fd < 0)
		abort();
	seg_mem = p;
}
