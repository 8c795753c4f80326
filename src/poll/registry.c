/* SPDX-License-Identifier: MIT */
#include <evsrc/registry.h>

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

#include "handles.h"
#include "queue.h"
#include "selector.h"

static bool source_is_valid(const struct evsrc_source *source)
{
    const struct event_source_ops *ops = source ? source->ops : NULL;
    return ops && ops->register_source && ops->reregister_source && ops->deregister_source;
}

/* The record's atomics must be lock-free and naturally aligned on every ABI (source.h). */
_Static_assert(offsetof(struct evsrc_source, registered_queue) % 8 == 0 && _Alignof(struct evsrc_source) >= 8,
               "the registration record is 8-byte aligned");
_Static_assert(sizeof(long long) == sizeof(uint64_t), "long long is the record's width");
#if ATOMIC_LLONG_LOCK_FREE != 2
#error "64-bit atomics are not always lock-free here: the registration record needs them"
#endif

/*
 * The registration record in a source is read and written with atomics so
 * that threads racing on one source see one winner. A register or deregister
 * first sets the record to "busy for this queue" with a compare-and-swap, so
 * at most one op changes a source's registration at a time; the record gets
 * its final value once the op has returned.
 */
static uint64_t record_load(const struct evsrc_source *source)
{
    return __atomic_load_n(&source->registered_queue, __ATOMIC_ACQUIRE);
}

static void record_store(struct evsrc_source *source, uint64_t value)
{
    __atomic_store_n(&source->registered_queue, value, __ATOMIC_RELEASE);
}

/* On failure, *expected is updated to the record's current value. */
static bool record_swap(struct evsrc_source *source, uint64_t *expected, uint64_t desired)
{
    return __atomic_compare_exchange_n(&source->registered_queue, expected, desired, false,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/*
 * The claim when the record was not 0: a registration, a race, or a stale
 * record of a dead queue. Out of line, so the common claim stays one
 * compare-and-swap with little register pressure around the op call.
 */
__attribute__((noinline)) static int record_claim_contended(struct evsrc_source *source, uint64_t queue,
                                                            uint64_t current)
{
    do {
        /* Busy: another thread is registering or deregistering it right now. */
        if (current == queue || queue_id_is_live(current & ~QUEUE_ID_BUSY))
            return -EEXIST;
        /*
         * Stale or just cleared. A busy mark of a queue that is not live was
         * left in a fork child by a thread of the parent that was mid-op: that
         * op never ends here, so it is stale too. Try again to swap what we saw.
         */
    } while (!record_swap(source, &current, queue | QUEUE_ID_BUSY));
    return 0;
}

/*
 * A failed call through `registry`. In a fork child an inherited handle's fd
 * is no epoll fd any more (queue.c), so every epoll_ctl through it fails; and
 * a source's record may name the parent's queue. Either way the caller is
 * told -ECHILD (an op's failure reaches the caller as its fd-level call
 * returned it, so that is -ECHILD already). Checked only on failure, so that the register path pays
 * nothing for it.
 */
__attribute__((noinline)) static int registry_failed(int r, const struct evsrc_registry *registry)
{
    return handle_is_ours(registry) ? r : -ECHILD;
}

/* Claims an unregistered source for `queue`, replacing a record left by a dead queue. */
static int record_claim(struct evsrc_source *source, uint64_t queue)
{
    uint64_t current = 0;
    if (__builtin_expect(record_swap(source, &current, queue | QUEUE_ID_BUSY), 1))
        return 0;
    return record_claim_contended(source, queue, current);
}

EVSRC_EXPORT int evsrc_registry_register(struct evsrc_registry *registry, struct evsrc_source *source,
                                         evsrc_token token, evsrc_interest interests)
{
    if (!registry || !source_is_valid(source) || !selector_interests_are_valid(interests))
        return -EINVAL;
    int r = record_claim(source, registry->queue_id);
    if (r < 0)
        return registry_failed(r, registry);
    /* An op's failure through an inherited handle is already -ECHILD (the fd-level functions say so). */
    r = source->ops->register_source(source, registry, token, interests);
    record_store(source, r >= 0 ? registry->queue_id : 0);
    return r;
}

EVSRC_EXPORT int evsrc_registry_reregister(struct evsrc_registry *registry, struct evsrc_source *source,
                                           evsrc_token token, evsrc_interest interests)
{
    if (!registry || !source_is_valid(source) || !selector_interests_are_valid(interests))
        return -EINVAL;
    if (record_load(source) != registry->queue_id)
        return registry_failed(-ENOENT, registry);
    return source->ops->reregister_source(source, registry, token, interests);
}

EVSRC_EXPORT int evsrc_registry_deregister(struct evsrc_registry *registry, struct evsrc_source *source)
{
    if (!registry || !source_is_valid(source))
        return -EINVAL;
    uint64_t queue = registry->queue_id;
    if (!record_swap(source, &queue, queue | QUEUE_ID_BUSY))
        return registry_failed(-ENOENT, registry);
    int r = source->ops->deregister_source(source, registry);
    record_store(source, 0);
    return r;
}

EVSRC_EXPORT int evsrc_source_init(struct evsrc_source *source, const struct event_source_ops *ops)
{
    if (!source || !ops)
        return -EINVAL;
    source->ops = ops;
    record_store(source, 0);
    return 0;
}

/* -EINVAL, out of line: a return block shared with the hot path would cost it a register move. */
__attribute__((noinline, cold)) static int registry_invalid(void)
{
    return -EINVAL;
}

/*
 * The fd-level calls are the hot path of churn (bench/instructions: a
 * register + deregister pair within 10 instructions of raw epoll), so they
 * test only what the kernel cannot: a negative fd is the selector's -EBADF
 * (epoll_ctl's own), and the fork check waits for a failure.
 */
EVSRC_EXPORT int evsrc_registry_register_fd(struct evsrc_registry *registry, evsrc_fd fd, evsrc_token token,
                                            evsrc_interest interests)
{
    /* The selector rejects invalid interests (-EINVAL) in the lookup that translates them. */
    if (__builtin_expect(!registry, 0))
        return registry_invalid();
    int r = selector_add(registry->selector, fd, token, interests);
    if (__builtin_expect(r < 0, 0))
        return registry_failed(r, registry);
    return r;
}

EVSRC_EXPORT int evsrc_registry_reregister_fd(struct evsrc_registry *registry, evsrc_fd fd, evsrc_token token,
                                              evsrc_interest interests)
{
    if (!registry)
        return -EINVAL;
    int r = selector_modify(registry->selector, fd, token, interests);
    if (__builtin_expect(r < 0, 0))
        return registry_failed(r, registry);
    return r;
}

EVSRC_EXPORT int evsrc_registry_deregister_fd(struct evsrc_registry *registry, evsrc_fd fd)
{
    if (__builtin_expect(!registry, 0))
        return registry_invalid();
    int r = selector_delete(registry->selector, fd);
    if (__builtin_expect(r < 0, 0))
        return registry_failed(r, registry);
    return r;
}

int registry_waker_open(struct evsrc_registry *registry, evsrc_token token, selector_waker_t *out)
{
    int r = selector_waker_open(registry->selector, token, out);
    return r < 0 ? registry_failed(r, registry) : r;
}

EVSRC_EXPORT int evsrc_registry_try_clone(const struct evsrc_registry *registry, struct evsrc_registry **out)
{
    if (!registry || !out)
        return -EINVAL;
    if (!handle_is_ours(registry))
        return -ECHILD;
    struct evsrc_registry *clone = malloc(sizeof *clone);
    if (!clone)
        return -ENOMEM;
    selector_t selector = {0};
    int r = selector_clone(registry->selector, &selector);
    if (r < 0) {
        free(clone);
        return r;
    }
    /* The handle being cloned is live, so its queue is too: only memory can fail. */
    r = queue_id_retain(registry->queue_id, selector_handle_fd(selector));
    if (r < 0) {
        selector_close(selector);
        free(clone);
        return r;
    }
    deadline_table_retain(registry->deadlines);
    *clone = (struct evsrc_registry){.selector = selector,
                                     .owned = true,
                                     .generation = queue_generation,
                                     .queue_id = registry->queue_id,
                                     .deadlines = registry->deadlines};
    *out = clone;
    return 0;
}

EVSRC_EXPORT void evsrc_registry_free(struct evsrc_registry *registry)
{
    if (!registry || !registry->owned)
        return;
    /* In a fork child this closes only the child's copy: the parent's queue is untouched. */
    queue_id_release(registry->queue_id, selector_handle_fd(registry->selector));
    deadline_table_release(registry->deadlines);
    selector_close(registry->selector);
    free(registry);
}
