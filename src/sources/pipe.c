/* SPDX-License-Identifier: MIT */
#include <evsrc/pipe.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fd_source.h"

FD_SOURCE_CHECK_LAYOUT(struct evsrc_pipe_sender);
FD_SOURCE_CHECK_LAYOUT(struct evsrc_pipe_receiver);
_Static_assert(sizeof(struct evsrc_pipe_sender) <= 32, "a sender stays small");
_Static_assert(sizeof(struct evsrc_pipe_receiver) <= 32, "a receiver stays small");

EVSRC_EXPORT int evsrc_pipe_new(struct evsrc_pipe_sender *sender, struct evsrc_pipe_receiver *receiver)
{
    if (sender)
        fd_source_init_closed(&sender->source);
    if (receiver)
        fd_source_init_closed(&receiver->source);
    if (!sender || !receiver)
        return -EINVAL;
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
        return -errno;
    fd_source_init(&receiver->source, fds[0]);
    fd_source_init(&sender->source, fds[1]);
    return 0;
}

/* Checks that fd is a pipe or FIFO open with exactly `access` (O_RDONLY or O_WRONLY). */
static int check_pipe_end(int fd, int access)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISFIFO(st.st_mode))
        return -EINVAL;
    int status = fcntl(fd, F_GETFL);
    if (status < 0)
        return -errno;
    return (status & O_ACCMODE) == access ? 0 : -EINVAL;
}

EVSRC_EXPORT int evsrc_pipe_sender_from_fd(struct evsrc_pipe_sender *sender, int fd)
{
    return fd_source_adopt(FD_SOURCE_OF(sender), fd, check_pipe_end, O_WRONLY);
}

EVSRC_EXPORT int evsrc_pipe_receiver_from_fd(struct evsrc_pipe_receiver *receiver, int fd)
{
    return fd_source_adopt(FD_SOURCE_OF(receiver), fd, check_pipe_end, O_RDONLY);
}

/* Takes back the one SIGPIPE this thread's failed write raised (it is blocked, so it waits). */
static void take_own_sigpipe(const sigset_t *sigpipe_only)
{
    const struct timespec now = {0, 0};
    /* The kernel sends it to the writing thread, and sigtimedwait takes thread-directed signals first. */
    while (sigtimedwait(sigpipe_only, NULL, &now) < 0 && errno == EINTR) {
    }
}

/*
 * write(2) with SIGPIPE blocked in this thread. The kernel then leaves the
 * SIGPIPE of a write to a readerless pipe pending instead of delivering it,
 * and we take it back unless one was pending before (ours merged with it,
 * or, if that one was process-wide, sits beside it: either way taking one
 * could take the caller's). A pending SIGPIPE needs it blocked already:
 * an unblocked one is delivered at once. So the common case is block, write,
 * unblock; and when the caller blocks SIGPIPE itself, check pending, write.
 */
static ssize_t write_without_sigpipe(int fd, const void *buf, size_t len)
{
    sigset_t sigpipe_only, old_mask;
    sigemptyset(&sigpipe_only);
    sigaddset(&sigpipe_only, SIGPIPE);
    int r = pthread_sigmask(SIG_BLOCK, &sigpipe_only, &old_mask);
    if (r != 0)
        return -r;
    bool was_blocked = sigismember(&old_mask, SIGPIPE) == 1;
    bool was_pending = false;
    if (was_blocked) {
        sigset_t pending;
        if (sigpending(&pending) < 0)
            return -errno;
        was_pending = sigismember(&pending, SIGPIPE) == 1;
    }
    ssize_t n = write(fd, buf, len);
    int error = n < 0 ? errno : 0;
    if (error == EPIPE && !was_pending)
        take_own_sigpipe(&sigpipe_only);
    /* Unblock only SIGPIPE, so no other change to the mask is undone. */
    if (!was_blocked)
        pthread_sigmask(SIG_UNBLOCK, &sigpipe_only, NULL);
    return n < 0 ? -error : n;
}

EVSRC_EXPORT ssize_t evsrc_pipe_sender_write(struct evsrc_pipe_sender *sender, const void *buf, size_t len)
{
    int fd = fd_source_io_fd(FD_SOURCE_OF(sender), buf, len);
    if (fd < 0)
        return fd;
    /* A write of nothing never reaches the pipe, so no signal can come of it. */
    if (len == 0)
        return 0;
    ssize_t n = write_without_sigpipe(fd, buf, len);
    /* A short write too: pipe.h lets the program wait for writable after it. */
    if (n == -EAGAIN || (n >= 0 && (size_t)n < len))
        registry_fd_rearm(fd);
    return n;
}

EVSRC_EXPORT ssize_t evsrc_pipe_receiver_read(struct evsrc_pipe_receiver *receiver, void *buf, size_t len)
{
    int fd = fd_source_io_fd(FD_SOURCE_OF(receiver), buf, len);
    if (fd < 0)
        return fd;
    if (len == 0)
        return 0;
    ssize_t n = read(fd, buf, len);
    return fd_source_io_result(fd, n);
}

EVSRC_EXPORT int evsrc_pipe_sender_fd(const struct evsrc_pipe_sender *sender)
{
    return fd_source_get_fd(FD_SOURCE_OF(sender));
}

EVSRC_EXPORT int evsrc_pipe_receiver_fd(const struct evsrc_pipe_receiver *receiver)
{
    return fd_source_get_fd(FD_SOURCE_OF(receiver));
}

EVSRC_EXPORT int evsrc_pipe_sender_close(struct evsrc_pipe_sender *sender)
{
    return sender ? fd_source_close(&sender->source) : -EINVAL;
}

EVSRC_EXPORT int evsrc_pipe_receiver_close(struct evsrc_pipe_receiver *receiver)
{
    return receiver ? fd_source_close(&receiver->source) : -EINVAL;
}
