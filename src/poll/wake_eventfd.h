/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_WAKE_EVENTFD_H
#define EVSRC_WAKE_EVENTFD_H

/*
 * The deadline table's wake-up (deadline.c) on the Linux backends: an
 * eventfd in the queue, edge-triggered. A wake-up gives its registration the
 * token of the deadline that caused it (a modify) and writes it, so the
 * blocked wait returns with an event for a registered token (a spurious
 * event, which the contract allows): no token value is reserved. Taking a
 * wake-up back empties the eventfd; epoll and poll(2) both look at its
 * readiness again when they report it, so a write taken back before a wait
 * reports it is never reported. See selector.h for the interface.
 */

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct {
    int fd; /* -1 while closed */
} selector_wake_t;

#define SELECTOR_WAKE_CLOSED ((selector_wake_t){-1})

static inline bool selector_wake_is_open(const selector_wake_t *wake)
{
    return wake->fd >= 0;
}

static inline int selector_wake_open(selector_t selector, evsrc_token token, selector_wake_t *out)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    int r = selector_add(selector, fd, token, EVSRC_READABLE);
    /* epoll_ctl is a raw system call on x86-64, out of the fault injection's reach there (docs/testing.md). */
    if (r < 0) {
        close(fd); // GCOVR_EXCL_LINE
        return r;  // GCOVR_EXCL_LINE
    }
    out->fd = fd;
    return 0;
}

static inline int selector_wake_post(selector_wake_t *wake, selector_t selector, evsrc_token token)
{
    int r = selector_modify(selector, wake->fd, token, EVSRC_READABLE);
    if (r < 0)
        return r;
    uint64_t one = 1;
    return write(wake->fd, &one, sizeof one) < 0 ? -errno : 0;
}

static inline int selector_wake_take_back(selector_wake_t *wake)
{
    uint64_t count;
    if (read(wake->fd, &count, sizeof count) < 0 && errno != EAGAIN)
        return -errno;
    return 0;
}

/* Closes it with its queue (which is closing, or gone). */
static inline void selector_wake_close(selector_wake_t *wake)
{
    close(wake->fd);
    wake->fd = -1;
}

/* Takes it out of a queue that stays open, then closes it: undoes selector_wake_open(). */
static inline void selector_wake_remove(selector_wake_t *wake, selector_t selector)
{
    selector_delete(selector, wake->fd);
    selector_wake_close(wake);
}

#endif /* EVSRC_WAKE_EVENTFD_H */
