/* SPDX-License-Identifier: MIT */
#include <evsrc/waker.h>

#include <errno.h>
#include <stdlib.h>

#include <evsrc/registry.h>

#include "handles.h"
#include "queue.h"
#include "selector.h"

/*
 * The backend's waker form (selector.h): on Linux an eventfd, on Windows a
 * completion posted to the port. Neither keeps the registry, so the registry
 * and the poll may be freed before the waker.
 */
struct evsrc_waker {
    selector_waker_t impl;
    unsigned generation; /* the process generation it was made in; another answers -ECHILD */
};

EVSRC_EXPORT int evsrc_waker_new(struct evsrc_waker **out, struct evsrc_registry *registry,
                                 evsrc_token token)
{
    if (!out || !registry)
        return -EINVAL;
    struct evsrc_waker *waker = malloc(sizeof *waker);
    if (!waker)
        return -ENOMEM;
    waker->generation = queue_generation;
    int r = registry_waker_open(registry, token, &waker->impl);
    if (r < 0) {
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
    int r = selector_waker_wake(&waker->impl);
    errno = saved_errno;
    return r;
}

EVSRC_EXPORT void evsrc_waker_free(struct evsrc_waker *waker)
{
    if (!waker)
        return;
    selector_waker_close(&waker->impl);
    free(waker);
}
