/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_FD_SOURCE_H
#define EVSRC_FD_SOURCE_H

/*
 * The fd plumbing every built-in source shares. A built-in source struct
 * starts with `struct evsrc_source source;` followed by `evsrc_fd fd;` (-1,
 * or INVALID_SOCKET on Windows, when closed: src/platform/platform.h), the layout of struct evsrc_source_fd, so one ops table serves them
 * all; each source checks its layout with FD_SOURCE_CHECK_LAYOUT.
 */

#include <errno.h>
#include <stddef.h>
#include <sys/types.h>
#include <unistd.h>

#include <evsrc/source.h>

#include "../platform/platform.h"
#include "../poll/rearm.h"

#define FD_SOURCE_FD_OFFSET offsetof(struct evsrc_source_fd, fd)

/* Compile-time check that `type` has the shared layout. */
#define FD_SOURCE_CHECK_LAYOUT(type)                                                   \
    _Static_assert(offsetof(type, source) == 0 &&                                       \
                       offsetof(type, fd) == FD_SOURCE_FD_OFFSET,                       \
                   #type " must start with source, then fd")

/*
 * The embedded source of a struct with the shared layout, NULL for a NULL
 * struct, so the helpers here report -EINVAL for it. A macro because it
 * serves every source type, const or not.
 */
#define FD_SOURCE_OF(object) ((object) ? &(object)->source : NULL)

/* Registers, reregisters and deregisters the one fd of such a struct. */
extern const struct event_source_ops fd_source_ops;

/* The fd of a source with the shared layout. */
static inline evsrc_fd *fd_source_fd(struct evsrc_source *source)
{
    return (evsrc_fd *)(void *)((char *)source + FD_SOURCE_FD_OFFSET);
}

/* Sets up a source with the shared layout around an fd it now owns. */
void fd_source_init(struct evsrc_source *source, evsrc_fd fd);

/*
 * Leaves a source closed (fd -1, not registered). Constructors start with it,
 * so a failed one leaves nothing a later close could mistake for its own fd.
 */
void fd_source_init_closed(struct evsrc_source *source);

/* The fd of a source with the shared layout: -EINVAL for NULL, -EBADF when closed. Inline: every I/O call asks. */
static inline int fd_source_get_fd(const struct evsrc_source *source)
{
    if (!source)
        return -EINVAL;
    evsrc_fd fd = *fd_source_fd((struct evsrc_source *)source);
    return platform_fd_is_open(fd) ? (int)fd : -EBADF;
}

/* The checks every one-buffer I/O call makes: a NULL buf with a length is -EINVAL, then the source's state. */
static inline int fd_source_io_fd(const struct evsrc_source *source, const void *buf, size_t len)
{
    if (!buf && len > 0)
        return -EINVAL;
    return fd_source_get_fd(source);
}

/*
 * Closes the fd and clears the registration record (closing removes the fd
 * from its queue). -EINVAL for NULL, -EBADF if already closed, and no other
 * fd is ever touched. Returns 0 even when close(2) reports an error, since the
 * fd is released either way (Linux semantics).
 */
int fd_source_close(struct evsrc_source *source);

/*
 * Makes an adopted fd non-blocking. Its close-on-exec flag is the caller's
 * choice and stays as it is. On failure (-EBADF for a bad fd) the fd is left
 * as it was.
 */
int fd_source_set_nonblocking(int fd);

/* Closes a constructor's fd without letting close(2) clobber the errno being reported. */
static inline int fd_source_close_and_fail(int fd, int error)
{
    close(fd);
    return -error;
}

/*
 * Adopts fd into source, the sequence every `_from_fd` follows: -EINVAL for a
 * NULL source; otherwise the source is left closed until the end, -EBADF for
 * fd < 0, then check(fd, kind)'s error (the kind-specific test: 0 when fd is
 * of the kind wanted), then fd_source_set_nonblocking's. Only when nothing
 * can fail any more does the source take fd; on failure fd is left as it was.
 */
int fd_source_adopt(struct evsrc_source *source, evsrc_fd fd, int (*check)(int fd, int kind), int kind);

/*
 * The result of a source's own I/O call on fd: n, or -errno. When the call
 * would block, an edge-triggered registration of fd is re-armed (rearm.h:
 * nothing on epoll), as mio's sources do on a backend without kernel edges.
 */
static inline ssize_t fd_source_io_result(int fd, ssize_t n)
{
    if (n >= 0)
        return n;
    int error = errno;
    if (error == EAGAIN)
        registry_fd_rearm(fd);
    return -error;
}

/*
 * The result of an I/O call that asked for `want` (bytes, or messages): a
 * count short of it re-arms as -EAGAIN does, since the headers let a
 * program stop there and wait (a short write: the buffer filled, write the
 * rest after the writable event; a short recv_many: the socket is drained).
 * epoll would send that next edge, so the poll backend must too.
 */
static inline ssize_t fd_source_io_result_of(int fd, ssize_t n, size_t want)
{
    if (n >= 0 && (size_t)n < want)
        registry_fd_rearm(fd);
    return fd_source_io_result(fd, n);
}

/*
 * Reads one fixed-size record (an eventfd's or timerfd's count, a signalfd's
 * siginfo) into record: -EINVAL for a NULL source or record, -EBADF when
 * closed, then 0 or read(2)'s -errno. These fds hand a record over whole or
 * fail, never short. The read changes the fd's readiness whatever it returns
 * (it empties a counter, or takes one of several signals), so the fd is
 * re-armed either way (rearm.h), at worst for a spurious event.
 */
static inline int fd_source_read_record(struct evsrc_source *source, void *record, size_t size)
{
    int fd = fd_source_io_fd(source, record, size); /* size > 0: a NULL record is -EINVAL */
    if (fd < 0)
        return fd;
    ssize_t n = read(fd, record, size);
    registry_fd_rearm(fd);
    return n < 0 ? -errno : 0;
}

#endif /* EVSRC_FD_SOURCE_H */
