/* SPDX-License-Identifier: MIT */
#include <evsrc/events.h>

#include <errno.h>
#include <stdlib.h>

/* The slots start right after the header (see evsrc_events_get), aligned on every target. */
_Static_assert(sizeof(struct evsrc_events) % _Alignof(struct evsrc_event) == 0, "event slots are aligned");

EVSRC_EXPORT int evsrc_events_new(size_t capacity, struct evsrc_events **out)
{
    if (!out || capacity == 0 || capacity > EVSRC_EVENTS_CAPACITY_MAX)
        return -EINVAL;
    /* One allocation: the header, then the slots the kernel writes into. */
    struct evsrc_events *events = malloc(sizeof *events + capacity * sizeof(struct evsrc_event));
    if (!events)
        return -ENOMEM;
    events->len = 0;
    events->capacity = capacity;
    *out = events;
    return 0;
}

EVSRC_EXPORT void evsrc_events_free(struct evsrc_events *events)
{
    free(events);
}

EVSRC_EXPORT void evsrc_events_clear(struct evsrc_events *events)
{
    if (events)
        events->len = 0;
}

EVSRC_EXPORT size_t evsrc_events_drop(struct evsrc_events *events, size_t from, evsrc_token token)
{
    if (!events || from >= events->len)
        return 0;
    /* The slots are the kernel's packed layout: move whole events, compare through the accessor. */
    struct evsrc_event *slots = (struct evsrc_event *)(void *)(events + 1);
    size_t kept = from;
    for (size_t i = from; i < events->len; i++) {
        if (evsrc_event_token(&slots[i]) == token)
            continue;
        if (kept != i)
            slots[kept] = slots[i];
        kept++;
    }
    size_t dropped = events->len - kept;
    events->len = kept;
    return dropped;
}
