/* SPDX-License-Identifier: MIT */
/*
 * Deadlines carried by the wait (<evsrc/deadline.h>).
 *
 * Each poll has one table: a binary min-heap of pointers to the set
 * deadlines (each deadline records its index, so a move or a clear is
 * O(log n) without a search), sized at registration for every registered
 * deadline so that setting one never allocates. A wait on a poll whose
 * table has registered deadlines comes here instead of going straight to
 * the selector: it waits until the earlier of its own timeout and the
 * first deadline, then reports the due deadlines after the kernel's events.
 *
 * Waking a wait in another thread. A thread that sets a deadline earlier
 * than the time a blocked wait ends at (recorded here while it blocks)
 * posts the queue's wake-up (selector.h; on Linux an eventfd in the queue)
 * under the deadline's token: the wait returns, perhaps with a spurious
 * event for that registered token, which the contract allows, and no token
 * value is reserved. A wait takes any wake-up back before it blocks and
 * after it returns, so one that no blocked wait needed is never reported.
 *
 * The first deadline. The unbounded wait tests the poll's deadline_mode word
 * without the lock, so a wait may have read 0 and be blocking, for good, in
 * the plain path when another thread registers the first deadline. So the
 * registration that turns deadline_mode on also posts the wake-up, once; if
 * no wait was blocked, the next one (now in deadline mode) takes it back.
 */
#include <evsrc/deadline.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <evsrc/registry.h>

#include "deadline.h"
#include "handles.h"
#include "queue.h"
#include "selector.h"
#include "../timespec.h"

#define NOT_SET INT64_MAX
#define FIRST_CAPACITY 8

struct deadline_table {
    pthread_mutex_t lock; /* guards everything below but refs, and the deadlines' fields */
    unsigned refs;        /* the poll, its registry clones and the registered deadlines (atomic) */
    unsigned generation;  /* queue_generation when made: a fork child's copy is dead */
    struct evsrc_poll *poll; /* the poll that waits; NULL once it is freed */
    selector_wake_t wake;    /* in the poll's queue, made with the first deadline */
    bool wake_posted;        /* posted since it was last taken back */
    evsrc_token wake_token;  /* the token that post is reported under */
    unsigned waiting;        /* waits blocked (normally one at most) */
    int64_t wait_until;      /* the time the last of them blocks until */
    bool outside_waiting;    /* an outer loop may be blocked on the backend fd (evsrc_poll_next_timeout()) */
    int64_t outside_until;   /* until then (NOT_SET: without limit) */
    bool kernel_turn;        /* capacity 1, deadlines due: whether the kernel's events go first */
    size_t registered;
    struct evsrc_deadline **heap; /* the set deadlines, the earliest at 0 */
    size_t len;
    size_t capacity;
};

static bool table_is_ours(const struct deadline_table *table)
{
    return table->generation == queue_generation;
}

static int64_t deadline_at(const struct evsrc_deadline *deadline)
{
    return __atomic_load_n(&deadline->at, __ATOMIC_RELAXED);
}

static void deadline_store_at(struct evsrc_deadline *deadline, int64_t at)
{
    __atomic_store_n(&deadline->at, at, __ATOMIC_RELAXED);
}

static struct deadline_table *deadline_queue(const struct evsrc_deadline *deadline)
{
    return __atomic_load_n((struct deadline_table *const *)(const void *)&deadline->queue, __ATOMIC_ACQUIRE);
}

static void deadline_store_queue(struct evsrc_deadline *deadline, struct deadline_table *table)
{
    __atomic_store_n((struct deadline_table **)(void *)&deadline->queue, table, __ATOMIC_RELEASE);
}

/* ---- the heap ---- */

static void heap_place(struct deadline_table *table, size_t i, struct evsrc_deadline *deadline)
{
    table->heap[i] = deadline;
    deadline->index = (uint32_t)i;
}

static void heap_sift_up(struct deadline_table *table, size_t i, struct evsrc_deadline *moving)
{
    int64_t at = deadline_at(moving);
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (deadline_at(table->heap[parent]) <= at)
            break;
        heap_place(table, i, table->heap[parent]);
        i = parent;
    }
    heap_place(table, i, moving);
}

static void heap_sift_down(struct deadline_table *table, size_t i, struct evsrc_deadline *moving)
{
    int64_t at = deadline_at(moving);
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= table->len)
            break;
        if (child + 1 < table->len && deadline_at(table->heap[child + 1]) < deadline_at(table->heap[child]))
            child++;
        if (deadline_at(table->heap[child]) >= at)
            break;
        heap_place(table, i, table->heap[child]);
        i = child;
    }
    heap_place(table, i, moving);
}

/* Puts `moving` at i, wherever the order then takes it. */
static void heap_resift(struct deadline_table *table, size_t i, struct evsrc_deadline *moving)
{
    if (i > 0 && deadline_at(moving) < deadline_at(table->heap[(i - 1) / 2]))
        heap_sift_up(table, i, moving);
    else
        heap_sift_down(table, i, moving);
}

static void heap_remove(struct deadline_table *table, struct evsrc_deadline *deadline)
{
    size_t i = deadline->index;
    size_t last = --table->len;
    if (i != last)
        heap_resift(table, i, table->heap[last]);
    deadline_store_at(deadline, NOT_SET);
}

/* Room for every registered deadline in the heap, so that setting one never allocates. */
static int heap_reserve(struct deadline_table *table, size_t need)
{
    if (need <= table->capacity)
        return 0;
    size_t capacity = table->capacity ? table->capacity * 2 : FIRST_CAPACITY;
    if (capacity > UINT32_MAX || capacity > SIZE_MAX / sizeof *table->heap)
        return -ENOMEM;
    struct evsrc_deadline **heap = realloc(table->heap, capacity * sizeof *heap);
    if (!heap)
        return -ENOMEM;
    table->heap = heap;
    table->capacity = capacity;
    return 0;
}

/* ---- waking another thread's wait ---- */

/* Makes a blocked wait of the poll return, perhaps with an event for `token`. */
static int table_wake_locked(struct deadline_table *table, evsrc_token token)
{
    if (!selector_wake_is_open(&table->wake) || !table->poll)
        return 0;
    int r = selector_wake_post(&table->wake, table->poll->registry.selector, token);
    if (r < 0)
        return r;
    table->wake_posted = true;
    table->wake_token = token;
    return 0;
}

/*
 * Takes a posted wake-up back: one that no wait has reported yet is then
 * never reported. 0 or -errno; a wait goes on whatever it is, a
 * deregistration reports it.
 */
static int table_unwake_locked(struct deadline_table *table)
{
    if (!table->wake_posted)
        return 0;
    table->wake_posted = false;
    return selector_wake_take_back(&table->wake);
}

static void table_set_mode_locked(struct deadline_table *table)
{
    if (table->poll)
        __atomic_store_n(&table->poll->deadline_mode, (uintptr_t)(table->registered > 0), __ATOMIC_RELAXED);
}

/* ---- the table's life ---- */

int deadline_table_new(struct deadline_table **out, struct evsrc_poll *poll)
{
    struct deadline_table *table = calloc(1, sizeof *table);
    if (!table)
        return -ENOMEM;
    pthread_mutex_init(&table->lock, NULL);
    table->refs = 1;
    table->generation = queue_generation;
    table->poll = poll;
    table->wake = SELECTOR_WAKE_CLOSED;
    table->wait_until = NOT_SET;
    /* Room from the start, so that registering the first deadlines allocates nothing (see register). */
    if (heap_reserve(table, FIRST_CAPACITY) < 0) {
        pthread_mutex_destroy(&table->lock);
        free(table);
        return -ENOMEM;
    }
    *out = table;
    return 0;
}

void deadline_table_retain(struct deadline_table *table)
{
    __atomic_add_fetch(&table->refs, 1, __ATOMIC_RELAXED);
}

void deadline_table_release(struct deadline_table *table)
{
    if (__atomic_sub_fetch(&table->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    /* A fork child's copy: its lock may be held by a thread that does not exist here. */
    if (table_is_ours(table))
        pthread_mutex_destroy(&table->lock);
    /* No wake-up is left: the poll closed it with its queue (deadline_table_detach_poll), before this. */
    free(table->heap);
    free(table);
}

void deadline_table_detach_poll(struct deadline_table *table)
{
    bool ours = table_is_ours(table);
    if (ours)
        pthread_mutex_lock(&table->lock);
    table->poll = NULL;
    /* Its queue is closing: the wake-up goes with it (in a fork child, only the child's copy). */
    if (selector_wake_is_open(&table->wake))
        selector_wake_close(&table->wake);
    table->wake_posted = false;
    if (ours)
        pthread_mutex_unlock(&table->lock);
}

/* ---- registration ---- */

static bool interests_are_valid(evsrc_interest interests)
{
    const evsrc_interest kinds = EVSRC_READABLE | EVSRC_WRITABLE | EVSRC_PRIORITY;
    return (interests & kinds) != 0 && (interests & ~kinds) == 0;
}

static uint32_t interests_to_flags(evsrc_interest interests)
{
    uint32_t flags = 0;
    if (interests & EVSRC_READABLE)
        flags |= EVSRC_EVENT_FLAG_IN;
    if (interests & EVSRC_WRITABLE)
        flags |= EVSRC_EVENT_FLAG_OUT;
    if (interests & EVSRC_PRIORITY)
        flags |= EVSRC_EVENT_FLAG_PRI;
    return flags;
}

/* Undoes table_open_wake_locked() when the registration that opened it fails later. */
static void table_close_wake_locked(struct deadline_table *table)
{
    selector_wake_remove(&table->wake, table->poll->registry.selector);
    table->wake_posted = false;
}

/* The first deadline gives the queue its wake-up, while the poll lives to wait: 1 when opened now. */
static int table_open_wake_locked(struct deadline_table *table, evsrc_token token)
{
    if (selector_wake_is_open(&table->wake) || !table->poll)
        return 0;
    int r = selector_wake_open(table->poll->registry.selector, token, &table->wake);
    return r < 0 ? r : 1;
}

/*
 * Claims an unregistered deadline for table: one compare-and-swap, so that
 * two threads registering one deadline see one winner. A record of a queue
 * of the fork parent counts as unregistered in the child.
 */
static int deadline_claim(struct evsrc_deadline *deadline, struct deadline_table *table)
{
    struct deadline_table *current = deadline_queue(deadline);
    for (;;) {
        if (current && table_is_ours(current))
            return -EEXIST;
        if (__atomic_compare_exchange_n((struct deadline_table **)(void *)&deadline->queue, &current, table, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return 0;
    }
}

EVSRC_EXPORT int evsrc_deadline_init(struct evsrc_deadline *deadline)
{
    if (!deadline)
        return -EINVAL;
    *deadline = (struct evsrc_deadline)EVSRC_DEADLINE_INIT;
    return 0;
}

EVSRC_EXPORT int evsrc_registry_register_deadline(struct evsrc_registry *registry, struct evsrc_deadline *deadline,
                                                  evsrc_token token, evsrc_interest interests)
{
    if (!registry || !deadline || !interests_are_valid(interests))
        return -EINVAL;
    if (!handle_is_ours(registry))
        return -ECHILD;
    struct deadline_table *table = registry->deadlines;
    int r = deadline_claim(deadline, table);
    if (r < 0)
        return r;
    pthread_mutex_lock(&table->lock);
    /*
     * The first deadline turns deadline_mode on, then wakes a wait that read
     * it as 0 (see "the first deadline" above), in that order: a wait that
     * returns for the wake then reads 1. The table has room for the first
     * deadlines from the start, so a failed registration leaves neither an
     * fd nor memory behind.
     */
    int opened = table_open_wake_locked(table, token);
    r = opened < 0 ? opened : heap_reserve(table, table->registered + 1);
    if (r >= 0 && table->registered == 0) {
        table->registered = 1;
        table_set_mode_locked(table);
        r = table_wake_locked(table, token);
        table->registered = 0;
        if (r < 0)
            table_set_mode_locked(table);
    }
    if (r < 0) {
        if (opened > 0)
            table_close_wake_locked(table);
        pthread_mutex_unlock(&table->lock);
        deadline_store_queue(deadline, NULL);
        return r;
    }
    deadline->token = token;
    deadline->interests = interests;
    deadline->index = 0;
    deadline_store_at(deadline, NOT_SET);
    deadline_table_retain(table);
    table->registered++;
    pthread_mutex_unlock(&table->lock);
    return 0;
}

/* Locks the table the deadline is registered with, checking it is `expected` (NULL: any). */
static int deadline_lock(struct evsrc_deadline *deadline, struct deadline_table *expected,
                         struct deadline_table **out)
{
    struct deadline_table *table = deadline_queue(deadline);
    if (!table || (expected && table != expected))
        return -ENOENT;
    if (!table_is_ours(table))
        return -ECHILD;
    pthread_mutex_lock(&table->lock);
    /*
     * Deregistered by another thread between the read above and the lock: a
     * race no test can bring about on purpose (docs/testing.md, excluded lines).
     */
    if (deadline_queue(deadline) != table) {
        pthread_mutex_unlock(&table->lock); // GCOVR_EXCL_LINE
        return -ENOENT;                     // GCOVR_EXCL_LINE
    }
    *out = table;
    return 0;
}

/* The checks of a registry-side call on a registered deadline, then its table locked. */
static int deadline_lock_through(struct evsrc_registry *registry, struct evsrc_deadline *deadline,
                                 struct deadline_table **out)
{
    if (!handle_is_ours(registry))
        return -ECHILD;
    return deadline_lock(deadline, registry->deadlines, out);
}

EVSRC_EXPORT int evsrc_registry_reregister_deadline(struct evsrc_registry *registry,
                                                    struct evsrc_deadline *deadline, evsrc_token token,
                                                    evsrc_interest interests)
{
    if (!registry || !deadline || !interests_are_valid(interests))
        return -EINVAL;
    struct deadline_table *table;
    int r = deadline_lock_through(registry, deadline, &table);
    if (r < 0)
        return r;
    deadline->token = token;
    deadline->interests = interests;
    pthread_mutex_unlock(&table->lock);
    return 0;
}

/*
 * Takes a registered deadline out of its locked table, and unlocks it: 0, or
 * the error of taking back a wake-up (the deadline is out all the same).
 */
static int deadline_detach_locked(struct deadline_table *table, struct evsrc_deadline *deadline)
{
    if (deadline_at(deadline) != NOT_SET)
        heap_remove(table, deadline);
    /* A wake written under its token and not reported yet must not name it in a later wait. */
    int r = 0;
    if (table->wake_posted && table->wake_token == deadline->token)
        r = table_unwake_locked(table);
    if (--table->registered == 0)
        table_set_mode_locked(table);
    deadline_store_queue(deadline, NULL);
    pthread_mutex_unlock(&table->lock);
    deadline_table_release(table);
    return r;
}

EVSRC_EXPORT int evsrc_registry_deregister_deadline(struct evsrc_registry *registry,
                                                    struct evsrc_deadline *deadline)
{
    if (!registry || !deadline)
        return -EINVAL;
    struct deadline_table *table;
    int r = deadline_lock_through(registry, deadline, &table);
    if (r < 0)
        return r;
    /* The registry's own reference keeps the table alive: the release is never the last. */
    return deadline_detach_locked(table, deadline);
}

EVSRC_EXPORT int evsrc_deadline_close(struct evsrc_deadline *deadline)
{
    if (!deadline)
        return -EINVAL;
    struct deadline_table *table;
    int r = deadline_lock(deadline, NULL, &table);
    int detached = r == 0 ? deadline_detach_locked(table, deadline) : 0; /* may free the table */
    /* Not registered, or registered with a queue of the fork parent: nothing of this process to undo. */
    *deadline = (struct evsrc_deadline)EVSRC_DEADLINE_INIT;
    if (detached < 0)
        return detached;
    return r == 0;
}

/* Sets a registered deadline to `at` ns; wakes a wait in another thread that would block past it. */
static int deadline_set_ns(struct evsrc_deadline *deadline, int64_t at)
{
    struct deadline_table *table;
    int r = deadline_lock(deadline, NULL, &table);
    if (r < 0)
        return r;
    if (deadline_at(deadline) == NOT_SET) {
        deadline_store_at(deadline, at);
        heap_sift_up(table, table->len++, deadline);
    } else {
        deadline_store_at(deadline, at);
        heap_resift(table, deadline->index, deadline);
    }
    /* A wait in another thread, or an outer loop's (evsrc_poll_next_timeout()), would block past it. */
    if ((table->waiting && at < table->wait_until) || (table->outside_waiting && at < table->outside_until))
        r = table_wake_locked(table, deadline->token);
    pthread_mutex_unlock(&table->lock);
    return r;
}

EVSRC_EXPORT int evsrc_deadline_set(struct evsrc_deadline *deadline, const struct timespec *at)
{
    if (!deadline || !at || !timespec_is_valid(at))
        return -EINVAL;
    return deadline_set_ns(deadline, timespec_to_ns(at));
}

EVSRC_EXPORT int evsrc_deadline_ready_again(struct evsrc_deadline *deadline)
{
    if (!deadline)
        return -EINVAL;
    return deadline_set_ns(deadline, 0);
}

EVSRC_EXPORT int evsrc_deadline_clear(struct evsrc_deadline *deadline)
{
    if (!deadline)
        return -EINVAL;
    struct deadline_table *table;
    int r = deadline_lock(deadline, NULL, &table);
    if (r < 0)
        return r;
    bool was_set = deadline_at(deadline) != NOT_SET;
    if (was_set)
        heap_remove(table, deadline);
    pthread_mutex_unlock(&table->lock);
    return was_set;
}

EVSRC_EXPORT bool evsrc_deadline_is_set(const struct evsrc_deadline *deadline)
{
    return deadline && deadline_at(deadline) != NOT_SET;
}

/* ---- the wait ---- */

/* Moves the due deadlines, earliest first, into up to `room` events; each is cleared. */
static int table_take_due_locked(struct deadline_table *table, struct evsrc_event *slots, int room, int64_t now)
{
    int n = 0;
    while (n < room && table->len && deadline_at(table->heap[0]) <= now) {
        struct evsrc_deadline *deadline = table->heap[0];
        heap_remove(table, deadline);
        selector_event_store(&slots[n++], deadline->token, interests_to_flags(deadline->interests));
    }
    return n;
}

/*
 * How much of the buffer the kernel's events may take when deadlines are due:
 * at least half, so that a token put back as ready again and again cannot
 * starve the fds; with one slot, every other wait.
 */
static int table_kernel_room_locked(struct deadline_table *table, int capacity)
{
    if (capacity > 1)
        return capacity - capacity / 2;
    table->kernel_turn = !table->kernel_turn;
    return table->kernel_turn ? 1 : 0;
}

/* One system call: blocks until `until` (NOT_SET: no limit, `now` or earlier: not at all). */
static long selector_wait_until(selector_t selector, struct evsrc_event *slots, int room, int64_t until,
                                int64_t now)
{
    if (until <= now)
        return selector_wait_now(selector, slots, room);
    if (until == NOT_SET)
        return selector_wait_forever(selector, slots, room);
    struct timespec left = timespec_from_ns(until - now);
    return selector_wait(selector, slots, room, &left);
}

int deadline_wait(struct evsrc_poll *poll, struct evsrc_events *events, const struct timespec *timeout)
{
    struct deadline_table *table = poll->registry.deadlines;
    if (!timespec_is_valid(timeout)) {
        events->len = 0;
        return -EINVAL;
    }
    if (!handle_is_ours(&poll->registry) || !table_is_ours(table)) {
        events->len = 0;
        return -ECHILD;
    }
    struct evsrc_event *slots = (struct evsrc_event *)(void *)(events + 1);
    int capacity = (int)events->capacity;
    selector_t selector = poll->registry.selector;
    int64_t now = timespec_now_ns(CLOCK_MONOTONIC);
    int64_t end = timeout ? timespec_ns_add(now, timespec_to_ns(timeout)) : NOT_SET;
    long n;
    pthread_mutex_lock(&table->lock);
    table->outside_waiting = false; /* the outer loop's wait, if any, is over: this one follows it */
    for (;;) {
        (void)table_unwake_locked(table);
        int64_t first = table->len ? deadline_at(table->heap[0]) : NOT_SET;
        int64_t until = first < end ? first : end;
        int room = first <= now ? table_kernel_room_locked(table, capacity) : capacity;
        n = 0;
        if (room > 0) {
            bool blocks = until > now;
            if (blocks) {
                table->waiting++;
                table->wait_until = until;
            }
            pthread_mutex_unlock(&table->lock);
            n = selector_wait_until(selector, slots, room, until, now);
            pthread_mutex_lock(&table->lock);
            if (blocks)
                table->waiting--;
            if (n < 0)
                break;
            (void)table_unwake_locked(table);
            now = timespec_now_ns(CLOCK_MONOTONIC);
        }
        n += table_take_due_locked(table, slots + n, capacity - (int)n, now);
        /* Nothing to report before the timeout: a deadline was moved or cleared meanwhile; wait again. */
        if (n > 0 || now >= end)
            break;
    }
    pthread_mutex_unlock(&table->lock);
    events->len = n > 0 ? (size_t)n : 0;
    return (int)n;
}

int deadline_next_timeout(struct evsrc_poll *poll, struct timespec *timeout)
{
    struct deadline_table *table = poll->registry.deadlines;
    if (!handle_is_ours(&poll->registry) || !table_is_ours(table))
        return -ECHILD;
    pthread_mutex_lock(&table->lock);
    int64_t first = table->len ? deadline_at(table->heap[0]) : NOT_SET;
    /*
     * The outer loop now blocks on the backend fd until `first` at most: a
     * deadline set earlier from another thread must wake it, as it wakes a
     * wait of ours, through the wake-up in the queue (which the fd reports).
     */
    table->outside_waiting = true;
    table->outside_until = first;
    (void)table_unwake_locked(table);
    pthread_mutex_unlock(&table->lock);
    if (first == NOT_SET)
        return 0;
    int64_t left = first - timespec_now_ns(CLOCK_MONOTONIC);
    *timeout = timespec_from_ns(left > 0 ? left : 0);
    return 1;
}
