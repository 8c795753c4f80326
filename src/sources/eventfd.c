/* SPDX-License-Identifier: MIT */
#include <evsrc/eventfd.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fd_source.h"

FD_SOURCE_CHECK_LAYOUT(struct evsrc_eventfd);

/* The kernel keeps the count below UINT64_MAX: that value in a write is refused. */
static int write_count(int fd, uint64_t value)
{
    return (int)fd_source_io_result(fd, write(fd, &value, sizeof value) < 0 ? -1 : 0);
}

EVSRC_EXPORT int evsrc_eventfd_new(struct evsrc_eventfd *counter, uint64_t initial, int flags)
{
    if (!counter)
        return -EINVAL;
    fd_source_init_closed(&counter->source);
    if ((flags & ~EVSRC_EVENTFD_SEMAPHORE) != 0 || initial == UINT64_MAX)
        return -EINVAL;
    int kernel_flags = EFD_NONBLOCK | EFD_CLOEXEC;
    if (flags & EVSRC_EVENTFD_SEMAPHORE)
        kernel_flags |= EFD_SEMAPHORE;
    /* eventfd(2) takes an unsigned int; a larger start is written after. */
    unsigned int start = initial <= UINT_MAX ? (unsigned int)initial : 0;
    int fd = eventfd(start, kernel_flags);
    if (fd < 0)
        return -errno;
    if (initial > UINT_MAX) {
        int r = write_count(fd, initial);
        if (r < 0) {
            close(fd);
            return r;
        }
    }
    fd_source_init(&counter->source, fd);
    return 0;
}

/* An eventfd has no call of its own to ask with; /proc names its anonymous inode. */
static int check_is_eventfd(int fd, int kind)
{
    (void)kind;
    if (fcntl(fd, F_GETFD) < 0)
        return -errno;
    char path[64], target[32];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0)
        return 0; /* no /proc: take the caller's word for it */
    target[n] = '\0';
    return strcmp(target, "anon_inode:[eventfd]") == 0 ? 0 : -EINVAL;
}

EVSRC_EXPORT int evsrc_eventfd_from_fd(struct evsrc_eventfd *counter, int fd)
{
    return fd_source_adopt(FD_SOURCE_OF(counter), fd, check_is_eventfd, 0);
}

EVSRC_EXPORT int evsrc_eventfd_add(struct evsrc_eventfd *counter, uint64_t value)
{
    if (!counter || value == UINT64_MAX)
        return -EINVAL;
    if (counter->fd < 0)
        return -EBADF;
    /* A signal handler may call this: leave the interrupted code's errno alone. */
    int saved_errno = errno;
    int r = write_count(counter->fd, value);
    errno = saved_errno;
    return r;
}

EVSRC_EXPORT int evsrc_eventfd_take(struct evsrc_eventfd *counter, uint64_t *value)
{
    /* A read empties the counter (or takes one in semaphore mode). */
    return fd_source_read_record(FD_SOURCE_OF(counter), value, sizeof *value);
}

EVSRC_EXPORT int evsrc_eventfd_fd(const struct evsrc_eventfd *counter)
{
    return fd_source_get_fd(FD_SOURCE_OF(counter));
}

EVSRC_EXPORT int evsrc_eventfd_close(struct evsrc_eventfd *counter)
{
    return counter ? fd_source_close(&counter->source) : -EINVAL;
}
