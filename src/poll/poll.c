/* SPDX-License-Identifier: MIT */
#include <evsrc/poll.h>

#include <errno.h>
#include <stdlib.h>

#include "handles.h"
#include "queue.h"
#include "selector.h"

EVSRC_EXPORT int evsrc_poll_new(struct evsrc_poll **out)
{
    if (!out)
        return -EINVAL;
    struct evsrc_poll *poll = calloc(1, sizeof *poll);
    if (!poll)
        return -ENOMEM;
    int selector = selector_open();
    if (selector < 0) {
        free(poll);
        return selector;
    }
    uint64_t id = queue_id_create();
    if (!id) {
        selector_close(selector);
        free(poll);
        return -ENOMEM;
    }
    poll->registry = (struct evsrc_registry){.selector = selector, .owned = false, .queue_id = id};
    *out = poll;
    return 0;
}

EVSRC_EXPORT void evsrc_poll_free(struct evsrc_poll *poll)
{
    if (!poll)
        return;
    selector_close(poll->registry.selector);
    queue_id_release(poll->registry.queue_id);
    free(poll);
}

EVSRC_EXPORT struct evsrc_registry *evsrc_poll_registry(struct evsrc_poll *poll)
{
    return poll ? &poll->registry : NULL;
}

EVSRC_EXPORT int evsrc_poll_wait(struct evsrc_poll *poll, struct evsrc_events *events,
                                 const struct timespec *timeout)
{
    if (!events)
        return -EINVAL;
    if (!poll || (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L))) {
        events->len = 0;
        return -EINVAL;
    }
    /* evsrc_events_new() bounds capacity, so the cast cannot truncate. */
    int n = selector_wait(poll->registry.selector, events->items, (int)events->capacity, timeout);
    events->len = n > 0 ? (size_t)n : 0;
    return n;
}
