/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_HANDLES_H
#define EVSRC_HANDLES_H

/* The insides of the poll and registry handles, shared by poll.c and registry.c. */

#include <stdbool.h>
#include <stdint.h>

#include "queue.h"
#include "selector.h"

/* A handle to a queue: a poll's own, or an owned clone. */
struct evsrc_registry {
    selector_t selector; /* this handle to the queue (selector.h): epoll's fd, or poll's shared object */
    bool owned;        /* a clone, freed by evsrc_registry_free() */
    unsigned generation; /* the process generation it was made in (queue.h); another answers -ECHILD */
    uint64_t queue_id; /* shared by every handle of the queue; see queue.h */
};

/* Whether the handle was made in this process rather than inherited through fork(). */
static inline bool handle_is_ours(const struct evsrc_registry *registry)
{
    return registry->generation == queue_generation;
}

struct evsrc_poll {
    struct evsrc_registry registry; /* the borrowed handle; its fd is the one we wait on */
};

/* Opens a waker on the registry's queue (waker.c): the one registration that is not through the public calls. */
int registry_waker_open(struct evsrc_registry *registry, evsrc_token token, selector_waker_t *out);

#endif /* EVSRC_HANDLES_H */
