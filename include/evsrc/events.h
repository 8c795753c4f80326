/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_EVENTS_H
#define EVSRC_EVENTS_H

/*
 * Events: the buffer that evsrc_poll_wait() fills, and the readiness events
 * in it.
 *
 * Readiness is a hint. An event says an operation is likely to make progress,
 * not that it will: a read after a readable event may still return -EAGAIN,
 * and wait may report events that no change caused (spurious events). Treat
 * every event as "try the operation now" and handle -EAGAIN by waiting again.
 *
 * The layouts below are public only so that the accessors can be inlined
 * into the caller's event loop (the accessors are the hot path: a load and a
 * mask each). Their fields are private: read events only through the
 * accessors, which keep their names and meaning when the fields change.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <evsrc/export.h>
#include <evsrc/interest.h>

EVSRC_BEGIN_DECLS

/*
 * The flag values the kernel reports in an event. They are Linux's epoll
 * values, which are the same on every architecture; a non-epoll selector
 * backend translates its own flags into these. Private: use the accessors.
 */
#define EVSRC_EVENT_FLAG_IN 0x001u
#define EVSRC_EVENT_FLAG_PRI 0x002u
#define EVSRC_EVENT_FLAG_OUT 0x004u
#define EVSRC_EVENT_FLAG_ERR 0x008u
#define EVSRC_EVENT_FLAG_HUP 0x010u
#define EVSRC_EVENT_FLAG_RDHUP 0x2000u

/*
 * One readiness event: a token and what became ready. Events live in the
 * buffer that holds them and are valid until the next wait into that buffer
 * or until the buffer is freed. The layout is the kernel's, so wait writes
 * events in place with no copy: on x86-64 the kernel packs the token right
 * after the flags, elsewhere it is naturally aligned.
 */
struct evsrc_event {
    uint32_t flags; /* private: EVSRC_EVENT_FLAG_* bits */
#if defined(__x86_64__)
    unsigned char token_bytes[8]; /* private: the token, unaligned */
#else
    uint64_t token; /* private */
#endif
};

/*
 * A buffer of events, made by evsrc_events_new() and filled by
 * evsrc_poll_wait(). Owned by the caller, who frees it with
 * evsrc_events_free(). Not thread-safe: one thread uses a buffer at a time.
 */
struct evsrc_events {
    size_t len;      /* private: events from the last wait */
    size_t capacity; /* private: the most one wait returns */
    /* the `capacity` event slots follow in the same allocation */
};

/* The largest capacity evsrc_events_new() accepts (the kernel's limit on one wait). */
#define EVSRC_EVENTS_CAPACITY_MAX ((size_t)(INT32_MAX / 16))

/*
 * Allocates a buffer for up to `capacity` events per wait and stores it in
 * *out. The buffer starts empty (len 0).
 * Errors: -EINVAL if out is NULL, capacity is 0 or above
 * EVSRC_EVENTS_CAPACITY_MAX; -ENOMEM if memory runs out. *out is untouched on
 * error. Thread-safe.
 */
EVSRC_EXPORT int evsrc_events_new(size_t capacity, struct evsrc_events **out);

/*
 * Frees a buffer and the events in it. NULL does nothing. Any
 * struct evsrc_event pointer taken from the buffer becomes invalid.
 * Not thread-safe: only the thread that owns the buffer.
 */
EVSRC_EXPORT void evsrc_events_free(struct evsrc_events *events);

/* Discards the events of the last wait (len becomes 0). NULL does nothing. Not thread-safe. */
EVSRC_EXPORT void evsrc_events_clear(struct evsrc_events *events);

/*
 * Removes from the buffer every event at a position >= `from` that carries
 * `token`, and returns how many it removed. The events that stay keep their
 * order and move down to fill the gaps; len shrinks by the number removed.
 * Events before `from` are never touched, so a loop at index i that passes
 * i + 1 keeps its place. NULL events, or from >= len, removes nothing.
 * No allocation, no system call: a pass over the rest of the batch.
 *
 * The lifetime rule. A wait returns a batch of events, and the kernel chose
 * them before the loop handled the first one. If, while handling an event,
 * the loop deregisters or closes a source and frees the memory its token
 * names (a timeout that frees an idle connection, an error that closes a
 * peer), events later in the same batch may still carry that token: handling
 * them reads freed memory when the token is a pointer. Deregistering or
 * closing stops new events, never the ones already returned. So, whenever
 * the loop ends a source in the middle of a batch, it calls
 * evsrc_events_drop(events, i + 1, token) before the memory goes, and reads
 * evsrc_events_len() afresh each round (never a count saved before the loop):
 *
 *     for (size_t i = 0; i < evsrc_events_len(events); i++) {
 *         const struct evsrc_event *event = evsrc_events_get(events, i);
 *         struct conn *conn = conn_of(evsrc_event_token(event));
 *         if (conn_handle(conn, event) == CONN_DONE) {
 *             evsrc_events_drop(events, i + 1, evsrc_event_token(event));
 *             conn_close_and_free(conn);
 *         }
 *     }
 *
 * A loop that ends a source other than the one whose event it handles (a
 * timer's event that frees a connection) drops that source's token the same
 * way. Tokens that are indices into a table with generation counts, or
 * sources that are never freed during a batch, need no drop. A pointer
 * event taken from the buffer before the call names another event after it.
 * Not thread-safe: the thread that owns the buffer.
 */
EVSRC_EXPORT size_t evsrc_events_drop(struct evsrc_events *events, size_t from, evsrc_token token);

/* The number of events the last wait stored (0 for NULL, or after an error). */
static inline size_t evsrc_events_len(const struct evsrc_events *events)
{
    return events ? events->len : 0;
}

/* The capacity the buffer was made with (0 for NULL). */
static inline size_t evsrc_events_capacity(const struct evsrc_events *events)
{
    return events ? events->capacity : 0;
}

/*
 * The event at `index`, or NULL if events is NULL or index >= len. The
 * pointer is borrowed from the buffer: valid until the next wait into it.
 */
static inline const struct evsrc_event *evsrc_events_get(const struct evsrc_events *events,
                                                         size_t index)
{
    if (!events || index >= events->len)
        return NULL;
    return (const struct evsrc_event *)(const void *)(events + 1) + index;
}

/* The token the event's registration was made with (0 for a NULL event). */
static inline evsrc_token evsrc_event_token(const struct evsrc_event *event)
{
    evsrc_token token = 0;
    if (event) {
#if defined(__x86_64__)
        memcpy(&token, event->token_bytes, sizeof token);
#else
        token = event->token;
#endif
    }
    return token;
}

/*
 * The raw readiness flags (EVSRC_EVENT_FLAG_* bits), 0 for a NULL event: for
 * logging and debugging. Prefer the accessors below, which give the flags
 * their meaning.
 */
static inline uint32_t evsrc_event_raw_flags(const struct evsrc_event *event)
{
    return event ? event->flags : 0;
}

/* Data (or urgent data) can be read, or a read would return end-of-file. */
static inline bool evsrc_event_is_readable(const struct evsrc_event *event)
{
    return (evsrc_event_raw_flags(event) & (EVSRC_EVENT_FLAG_IN | EVSRC_EVENT_FLAG_PRI)) != 0;
}

/* A write would make progress (or fail at once with the peer's error). */
static inline bool evsrc_event_is_writable(const struct evsrc_event *event)
{
    return (evsrc_event_raw_flags(event) & EVSRC_EVENT_FLAG_OUT) != 0;
}

/*
 * The fd has a pending error (a refused connect, a reset). Read it with the
 * source's take_error function or getsockopt(SO_ERROR). Reported whether or
 * not it was asked for.
 */
static inline bool evsrc_event_is_error(const struct evsrc_event *event)
{
    return (evsrc_event_raw_flags(event) & EVSRC_EVENT_FLAG_ERR) != 0;
}

/*
 * The read side is closed: the peer shut down its write side (a read returns
 * 0 once the buffered data is drained), both sides are closed, or a pipe's
 * write end was closed.
 */
static inline bool evsrc_event_is_read_closed(const struct evsrc_event *event)
{
    uint32_t flags = evsrc_event_raw_flags(event);
    if (flags & EVSRC_EVENT_FLAG_HUP)
        return true;
    return (flags & EVSRC_EVENT_FLAG_IN) && (flags & EVSRC_EVENT_FLAG_RDHUP);
}

/*
 * The write side is closed: both sides are closed, or the reader of a pipe
 * went away (a write would fail with -EPIPE).
 */
static inline bool evsrc_event_is_write_closed(const struct evsrc_event *event)
{
    uint32_t flags = evsrc_event_raw_flags(event);
    if (flags & EVSRC_EVENT_FLAG_HUP)
        return true;
    if ((flags & EVSRC_EVENT_FLAG_OUT) && (flags & EVSRC_EVENT_FLAG_ERR))
        return true;
    /* A pipe's write end reports a lone ERR when the read end closes. */
    return flags == EVSRC_EVENT_FLAG_ERR;
}

/* Urgent data is available (EVSRC_PRIORITY). */
static inline bool evsrc_event_is_priority(const struct evsrc_event *event)
{
    return (evsrc_event_raw_flags(event) & EVSRC_EVENT_FLAG_PRI) != 0;
}

EVSRC_END_DECLS

#endif /* EVSRC_EVENTS_H */
