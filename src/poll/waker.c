/* SPDX-License-Identifier: MIT */
#include <evsrc/waker.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <evsrc/registry.h>

#include "handles.h"
#include "queue.h"
#include "rearm.h"

/*
 * Only the eventfd: no registry pointer, so the registry and the poll may be
 * freed before the waker (closing the fd is what takes it off the queue).
 */
struct evsrc_waker {
    int fd;
    unsigned generation; /* the process generation it was made in; another answers -ECHILD */
};

/* Adds one to the eventfd's counter: 0, or -EAGAIN if it would overflow. */
static int waker_write(int fd)
{
    uint64_t one = 1;
    return write(fd, &one, sizeof one) < 0 ? -errno : 0;
}

/* Empties the counter. -EAGAIN means another thread emptied it first: fine. */
static int waker_reset(int fd)
{
    uint64_t count;
    if (read(fd, &count, sizeof count) < 0 && errno != EAGAIN)
        return -errno;
    return 0;
}

EVSRC_EXPORT int evsrc_waker_new(struct evsrc_waker **out, struct evsrc_registry *registry,
                                 evsrc_token token)
{
    if (!out || !registry)
        return -EINVAL;
    struct evsrc_waker *waker = malloc(sizeof *waker);
    if (!waker)
        return -ENOMEM;
    waker->generation = queue_generation;
    waker->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (waker->fd < 0) {
        int r = -errno;
        free(waker);
        return r;
    }
    /* The selector makes each batch of writes one event without the poll thread reading it. */
    int r = registry_register_waker(registry, waker->fd, token);
    if (r < 0) {
        close(waker->fd);
        free(waker);
        return r;
    }
    *out = waker;
    return 0;
}

EVSRC_EXPORT int evsrc_waker_wake(struct evsrc_waker *waker)
{
    if (!waker)
        return -EINVAL;
    /* A fork child's copy of the eventfd would wake the parent's poll. */
    if (waker->generation != queue_generation)
        return -ECHILD;
    /* Keeps errno as it was, so that a signal handler may wake. */
    int saved_errno = errno;
    int r = waker_write(waker->fd);
    if (r == -EAGAIN) {
        /* The counter is full (2^64 - 2 unread wakes): empty it and wake again, as mio does. */
        r = waker_reset(waker->fd);
        if (r == 0)
            r = waker_write(waker->fd);
    }
    errno = saved_errno;
    return r;
}

EVSRC_EXPORT void evsrc_waker_free(struct evsrc_waker *waker)
{
    if (!waker)
        return;
    registry_fd_forget(waker->fd);
    close(waker->fd);
    free(waker);
}
