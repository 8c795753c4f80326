/* SPDX-License-Identifier: MIT */
#include <evsrc/events.h>

#include <errno.h>
#include <stdlib.h>

EVSRC_EXPORT int evsrc_events_new(size_t capacity, struct evsrc_events **out)
{
    if (!out || capacity == 0 || capacity > EVSRC_EVENTS_CAPACITY_MAX)
        return -EINVAL;
    /*
     * One allocation: the header, then the slots the kernel writes into, the
     * header rounded up so the slots are aligned (on 32-bit targets an 8-byte
     * aligned event follows a 12-byte header).
     */
    size_t align = _Alignof(struct evsrc_event);
    size_t header = (sizeof(struct evsrc_events) + align - 1) / align * align;
    struct evsrc_events *events = malloc(header + capacity * sizeof(struct evsrc_event));
    if (!events)
        return -ENOMEM;
    events->len = 0;
    events->capacity = capacity;
    events->items = (struct evsrc_event *)(void *)((char *)events + header);
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
