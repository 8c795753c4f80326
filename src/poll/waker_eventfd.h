/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_WAKER_EVENTFD_H
#define EVSRC_WAKER_EVENTFD_H

/*
 * The waker form of the Linux backends (selector.h): an eventfd registered
 * edge-triggered through selector_add_waker, so every batch of writes is one
 * readable event and nobody reads it. The waker holds only the eventfd, no
 * queue handle, so the poll and its registries may be freed first: closing
 * the fd is what takes it off the queue.
 */

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "rearm.h"

typedef struct selector_waker {
    int fd;
} selector_waker_t;

static inline int selector_waker_open(selector_t selector, evsrc_token token, selector_waker_t *out)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    int r = selector_add_waker(selector, fd, token);
    if (r < 0) {
        close(fd);
        return r;
    }
    out->fd = fd;
    return 0;
}

/* Adds one to the counter: 0, or -EAGAIN if it would overflow. */
static inline int selector_waker_write(int fd)
{
    uint64_t one = 1;
    return write(fd, &one, sizeof one) < 0 ? -errno : 0;
}

static inline int selector_waker_wake(selector_waker_t *waker)
{
    int r = selector_waker_write(waker->fd);
    if (r == -EAGAIN) {
        /* The counter is full (2^64 - 2 unread wakes): empty it and wake again, as mio does. */
        uint64_t count;
        if (read(waker->fd, &count, sizeof count) < 0 && errno != EAGAIN)
            return -errno;
        r = selector_waker_write(waker->fd);
    }
    return r;
}

static inline void selector_waker_close(selector_waker_t *waker)
{
    registry_fd_forget(waker->fd);
    close(waker->fd);
}

#endif /* EVSRC_WAKER_EVENTFD_H */
