/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_HANDLES_H
#define EVSRC_HANDLES_H

/* The insides of the poll and registry handles, shared by poll.c and registry.c. */

#include <stdbool.h>
#include <stdint.h>

#include "deadline.h"
#include "queue.h"
#include "selector.h"

/* A handle to a queue: a poll's own, or an owned clone. */
struct evsrc_registry {
    selector_t selector; /* this handle to the queue (selector.h): epoll's fd, or poll's shared object */
    bool owned;        /* a clone, freed by evsrc_registry_free() */
    unsigned generation; /* the process generation it was made in (queue.h); another answers -ECHILD */
    uint64_t queue_id; /* shared by every handle of the queue; see queue.h */
    struct deadline_table *deadlines; /* the queue's deadlines (deadline.h), shared by every handle */
};

/* Whether the handle was made in this process rather than inherited through fork(). */
static inline bool handle_is_ours(const struct evsrc_registry *registry)
{
    return registry->generation == queue_generation;
}

struct evsrc_poll {
    struct evsrc_registry registry; /* the borrowed handle; its fd is the one we wait on */
    /*
     * Non-zero while a deadline is registered with the queue: the wait then
     * goes through deadline_wait(). A word that the unbounded wait ORs with
     * its timeout pointer, so that one test covers both. Written under the
     * deadline table's lock, read without it (poll_deadline_mode(); a stale
     * 0 is covered: see deadline.c, "the first deadline").
     */
    uintptr_t deadline_mode;
};

/*
 * The wait's read of deadline_mode. A plain load, which the compiler folds
 * into the unbounded wait's one test (an atomic load it does not fold, and
 * that costs the hot path an instruction); the word is aligned and written
 * with atomic stores, so the load sees the old or the new value on every
 * target. ThreadSanitizer gets the atomic load it understands.
 */
#if defined(__SANITIZE_THREAD__)
#define POLL_RACY_LOAD_IS_ATOMIC 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define POLL_RACY_LOAD_IS_ATOMIC 1
#endif
#endif
static inline uintptr_t poll_deadline_mode(const struct evsrc_poll *poll)
{
#if defined(POLL_RACY_LOAD_IS_ATOMIC)
    return __atomic_load_n(&poll->deadline_mode, __ATOMIC_RELAXED);
#else
    return poll->deadline_mode;
#endif
}

/* Opens a waker on the registry's queue (waker.c): the one registration that is not through the public calls. */
int registry_waker_open(struct evsrc_registry *registry, evsrc_token token, selector_waker_t *out);

#endif /* EVSRC_HANDLES_H */
