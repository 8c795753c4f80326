/* SPDX-License-Identifier: MIT */
#include <evsrc/poll.h>

#include <errno.h>
#include <stdlib.h>

#include "deadline.h"
#include "handles.h"
#include "queue.h"
#include "selector.h"
#include "../timespec.h"

EVSRC_EXPORT int evsrc_poll_new(struct evsrc_poll **out)
{
    if (!out)
        return -EINVAL;
    struct evsrc_poll *poll = calloc(1, sizeof *poll);
    if (!poll)
        return -ENOMEM;
    selector_t selector = {0};
    int r = selector_open(&selector);
    if (r < 0) {
        free(poll);
        return r;
    }
    struct deadline_table *deadlines = NULL;
    uint64_t id = deadline_table_new(&deadlines, poll) == 0 ? queue_id_create(selector_handle_fd(selector)) : 0;
    if (!id) {
        if (deadlines)
            deadline_table_release(deadlines);
        selector_close(selector);
        free(poll);
        return -ENOMEM;
    }
    poll->registry = (struct evsrc_registry){.selector = selector,
                                             .owned = false,
                                             .generation = queue_generation,
                                             .queue_id = id,
                                             .deadlines = deadlines};
    *out = poll;
    return 0;
}

EVSRC_EXPORT void evsrc_poll_free(struct evsrc_poll *poll)
{
    if (!poll)
        return;
    /* In a fork child this closes only the child's copy: the parent's queue is untouched. */
    deadline_table_detach_poll(poll->registry.deadlines);
    deadline_table_release(poll->registry.deadlines);
    queue_id_release(poll->registry.queue_id, selector_handle_fd(poll->registry.selector));
    selector_close(poll->registry.selector);
    free(poll);
}

EVSRC_EXPORT struct evsrc_registry *evsrc_poll_registry(struct evsrc_poll *poll)
{
    return poll ? &poll->registry : NULL;
}

static struct evsrc_event *events_slots(struct evsrc_events *events)
{
    return (struct evsrc_event *)(void *)(events + 1);
}

static int events_store(struct evsrc_events *events, int n)
{
    events->len = n > 0 ? (size_t)n : 0;
    return n;
}

/*
 * A failed wait on queue fd `selector`. In a fork child an inherited queue fd
 * is no epoll fd any more (queue.c), so the wait fails at once with EINVAL;
 * say why. Checked only here, and by the fd that is still in a register after
 * the system call, so that a successful wait pays nothing for it.
 */
__attribute__((noinline)) static int poll_wait_failed(struct evsrc_events *events, long n, selector_t selector)
{
    events->len = 0;
    return n == -EINVAL && queue_fd_is_inherited(selector_handle_fd(selector)) ? -ECHILD : (int)n;
}

/*
 * Every wait but the unbounded one: argument errors and timeouts. Out of
 * line, so that evsrc_poll_wait's common case stays a few instructions
 * around the system call (the instruction budget in docs/benchmarks.md).
 */
__attribute__((noinline)) static int poll_wait_bounded(struct evsrc_poll *poll, struct evsrc_events *events,
                                                       const struct timespec *timeout)
{
    if (!events)
        return -EINVAL;
    if (!poll || !timespec_is_valid(timeout))
        return events_store(events, -EINVAL);
    /*
     * timeout is not NULL: with valid arguments and no timeout,
     * evsrc_poll_wait() waits itself. evsrc_events_new() bounds capacity, so
     * the cast cannot truncate.
     */
    int capacity = (int)events->capacity;
    long n = selector_wait(poll->registry.selector, events_slots(events), capacity, timeout);
    if (n < 0)
        return poll_wait_failed(events, n, poll->registry.selector);
    return events_store(events, (int)n);
}

/*
 * A wait with a timeout, or on a poll with deadlines. `slow` is the timeout
 * pointer ORed with the poll's deadline_mode (0 or 1) as evsrc_poll_wait()
 * read it: a timespec is at least 4-byte aligned, so bit 0 is the mode and
 * the rest the timeout (NULL: none). With deadlines, deadline.c does the
 * whole wait. The zero timeout, a loop's check that never blocks, is counted
 * by bench/instructions (churn around a zero-timeout wait), so it goes
 * straight to the selector; every other timeout is validated in
 * poll_wait_bounded(). poll and events are not NULL.
 */
_Static_assert(_Alignof(struct timespec) >= 2, "bit 0 of a timespec pointer is free");

__attribute__((noinline)) static int poll_wait_timed(struct evsrc_poll *poll, struct evsrc_events *events,
                                                     uintptr_t slow)
{
    if (__builtin_expect(slow & 1, 0))
        return deadline_wait(poll, events, (const struct timespec *)(slow & ~(uintptr_t)1));
    const struct timespec *timeout = (const struct timespec *)slow;
    /* Both fields zero, tested at once: one instruction fewer than two tests. */
    if (__builtin_expect((timeout->tv_sec | (time_t)timeout->tv_nsec) != 0, 0))
        return poll_wait_bounded(poll, events, timeout);
    selector_t selector = poll->registry.selector;
    long n = selector_wait_now(selector, events_slots(events), (int)events->capacity);
    if (__builtin_expect(n < 0, 0))
        return poll_wait_failed(events, n, selector);
    events->len = (size_t)n;
    return (int)n;
}

/*
 * The unbounded wait is the common case and the hot path (docs/benchmarks.md
 * counts its instructions), so it is laid out for the compiler: one test and
 * branch per argument (written apart, or GCC merges them into setcc
 * arithmetic), the 64-bit result stored as it comes, and every other case out
 * of line in poll_wait_bounded().
 */
EVSRC_EXPORT int evsrc_poll_wait(struct evsrc_poll *poll, struct evsrc_events *events,
                                 const struct timespec *timeout)
{
    if (__builtin_expect(!events, 0))
        return poll_wait_bounded(poll, events, timeout);
    if (__builtin_expect(!poll, 0))
        return poll_wait_bounded(poll, events, timeout);
    /*
     * A timeout or a registered deadline, in one test (poll_wait_timed() takes
     * them apart): a poll without deadlines pays nothing for them.
     */
    uintptr_t slow = (uintptr_t)timeout | poll_deadline_mode(poll);
    if (__builtin_expect(slow != 0, 0))
        return poll_wait_timed(poll, events, slow);
    selector_t selector = poll->registry.selector;
    long n = selector_wait_forever(selector, events_slots(events), (int)events->capacity);
    if (__builtin_expect(n < 0, 0))
        return poll_wait_failed(events, n, selector);
    events->len = (size_t)n;
    return (int)n;
}

EVSRC_EXPORT int evsrc_poll_fd(const struct evsrc_poll *poll)
{
    if (!poll)
        return -EINVAL;
    if (!handle_is_ours(&poll->registry))
        return -ECHILD;
    return selector_backend_fd(poll->registry.selector);
}

EVSRC_EXPORT int evsrc_poll_next_timeout(struct evsrc_poll *poll, struct timespec *timeout)
{
    if (!poll || !timeout)
        return -EINVAL;
    return deadline_next_timeout(poll, timeout);
}
