/* SPDX-License-Identifier: MIT */
#include <evsrc/timers.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <evsrc/deadline.h>
#include <evsrc/registry.h>

#include "../timespec.h"
#include "timers_fd.h"

/*
 * The queue is a 4-ary min-heap of slots in one table. A slot caches the key
 * it is sorted by next to the timer pointer, so sifting reads keys without
 * touching the timers, and the four children of a slot share one 64-byte
 * cache line (the table is aligned so that they do). Each timer records its
 * slot's index, which makes stop and restart O(log n) without a search.
 *
 * A restart to a later deadline does not touch the heap: the timer takes its
 * new deadline and start number, while its slot keeps the old key and the
 * old start number (queued_sequence) it is sorted by. That key is a lower
 * bound of the timer's deadline, so the front slot is still the earliest
 * unless it is such a stale one; front() then re-sorts it under its real
 * deadline and looks again. An idle timeout reset on every read thus costs a
 * few stores, and one sift when it finally reaches the front.
 */

_Static_assert(sizeof(void *) != 8 || sizeof(struct evsrc_timer) <= 48, "a timer fits in 48 bytes");

#define NOT_ARMED INT64_MAX          /* q->armed when nothing is armed */
#define LATEST_DEADLINE TIMESPEC_NS_LATEST /* deadlines are clamped here */
#define FIRST_CAPACITY 64
#define CACHE_LINE 64
/* Slot 0 sits 3 slots into a line, so the children of slot i (4i+1 .. 4i+4) start a line. */
#define TABLE_OFFSET 3

struct slot {
    int64_t key;
    struct evsrc_timer *timer;
};

_Static_assert(sizeof(void *) != 8 || 4 * sizeof(struct slot) == CACHE_LINE, "four slots per cache line");

static uint32_t last_queue_id;

/* A queue id for misuse checks: nonzero, and distinct among the next 2^32 - 1 queues. */
static uint32_t new_queue_id(void)
{
    uint32_t id;
    do
        id = __atomic_add_fetch(&last_queue_id, 1, __ATOMIC_RELAXED);
    while (id == 0);
    return id;
}

static int64_t clock_now(clockid_t clock)
{
    return timespec_now_ns(clock);
}

static struct slot *table_of(const struct evsrc_timers *timers)
{
    return timers->table;
}

static bool slot_before(const struct slot *a, const struct slot *b)
{
    if (a->key != b->key)
        return a->key < b->key;
    /* Equal keys: the earlier start first, by serial-number arithmetic so that wrapping is harmless. */
    return (int32_t)(a->timer->queued_sequence - b->timer->queued_sequence) < 0;
}

static void place(struct slot *table, size_t i, struct slot slot)
{
    table[i] = slot;
    slot.timer->index = (uint32_t)i;
}

static void sift_up(struct slot *table, size_t i, struct slot moving)
{
    while (i > 0) {
        size_t parent = (i - 1) / 4;
        if (!slot_before(&moving, &table[parent]))
            break;
        place(table, i, table[parent]);
        i = parent;
    }
    place(table, i, moving);
}

static void sift_down(struct slot *table, size_t len, size_t i, struct slot moving)
{
    for (;;) {
        size_t first = 4 * i + 1;
        if (first >= len)
            break;
        size_t end = len - first < 4 ? len : first + 4;
        size_t best = first;
        for (size_t child = first + 1; child < end; child++)
            if (slot_before(&table[child], &table[best]))
                best = child;
        if (!slot_before(&table[best], &moving))
            break;
        place(table, i, table[best]);
        i = best;
    }
    place(table, i, moving);
}

/* Puts `moving` at slot i, wherever the heap order then takes it. */
static void resift(struct slot *table, size_t len, size_t i, struct slot moving)
{
    if (i > 0 && slot_before(&moving, &table[(i - 1) / 4]))
        sift_up(table, i, moving);
    else
        sift_down(table, len, i, moving);
}

static void remove_slot(struct evsrc_timers *timers, size_t i)
{
    struct slot *table = table_of(timers);
    size_t last = --timers->len;
    if (i != last)
        resift(table, last, i, table[last]);
}

/* The table inside an allocation: slot 0 three slots into a cache line. */
static struct slot *table_in(void *allocation)
{
    uintptr_t line = ((uintptr_t)allocation + CACHE_LINE - 1) & ~(uintptr_t)(CACHE_LINE - 1);
    return (struct slot *)line + TABLE_OFFSET;
}

/*
 * Doubles the table (only ever when the number of active timers passes its
 * peak). realloc can move a large block by remapping its pages, without
 * copying; if the block's alignment changed, the slots move within it.
 */
static int grow(struct evsrc_timers *timers)
{
    size_t capacity = timers->capacity ? timers->capacity * 2 : FIRST_CAPACITY;
#if SIZE_MAX > UINT32_MAX
    if (capacity > (size_t)UINT32_MAX + 1)
        return -ENOMEM; /* indexes are 32-bit */
#endif
    if (capacity > (SIZE_MAX - CACHE_LINE) / sizeof(struct slot) - TABLE_OFFSET)
        return -ENOMEM;
    size_t offset = timers->allocation ? (size_t)((char *)timers->table - (char *)timers->allocation) : 0;
    void *allocation = realloc(timers->allocation, (capacity + TABLE_OFFSET) * sizeof(struct slot) + CACHE_LINE - 1);
    if (!allocation)
        return -ENOMEM;
    struct slot *table = table_in(allocation);
    if (timers->len && (char *)table - (char *)allocation != (ptrdiff_t)offset)
        memmove(table, (char *)allocation + offset, timers->len * sizeof *table);
    timers->allocation = allocation;
    timers->table = table;
    timers->capacity = capacity;
    return 0;
}

/*
 * Start numbers are 32-bit and compared by serial-number arithmetic, which
 * holds while no active timer's number lags the queue's by 2^31 or more. A
 * timer left alone while the queue counts 2^31 starts (an hour of a busy
 * server's resets) would seem to be started in the future, and a drain would
 * never hand it out. So every 2^29 starts, numbers more than 2^29 behind are
 * raised to that floor, which keeps every lag below 2^30. Raising is monotone,
 * so the heap order holds (it can only make old timers' numbers equal, among
 * timers that would need equal deadlines to the ns for it to matter).
 */
#define SEQUENCE_WINDOW (UINT32_C(1) << 29)

static void raise_old_sequences(struct evsrc_timers *timers)
{
    uint32_t floor = timers->sequence - SEQUENCE_WINDOW;
    struct slot *table = table_of(timers);
    for (size_t i = 0; i < timers->len; i++) {
        struct evsrc_timer *timer = table[i].timer;
        if ((int32_t)(timer->sequence - floor) < 0)
            timer->sequence = floor;
        if ((int32_t)(timer->queued_sequence - floor) < 0)
            timer->queued_sequence = floor;
    }
    if ((int32_t)(timers->drain_sequence - floor) < 0)
        timers->drain_sequence = floor;
}

/* The next start number: O(1), and O(n) once every 2^29 starts. */
static uint32_t next_sequence(struct evsrc_timers *timers)
{
    uint32_t sequence = ++timers->sequence;
    if ((sequence & (SEQUENCE_WINDOW - 1)) == 0)
        raise_old_sequences(timers);
    return sequence;
}

static bool is_stale(const struct slot *slot)
{
    const struct evsrc_timer *timer = slot->timer;
    return timer->deadline != slot->key || timer->sequence != timer->queued_sequence;
}

/* The earliest timer, once every restarted timer at the front is sorted under its real deadline. */
static struct evsrc_timer *front(struct evsrc_timers *timers)
{
    struct slot *table = table_of(timers);
    while (timers->len && is_stale(&table[0])) {
        struct evsrc_timer *timer = table[0].timer;
        timer->queued_sequence = timer->sequence;
        sift_down(table, timers->len, 0, (struct slot){timer->deadline, timer});
    }
    return timers->len ? table[0].timer : NULL;
}

/*
 * Whether the queue is driven by a poll's deadline (registered with a poll,
 * on CLOCK_MONOTONIC, the clock of the wait), rather than by its timerfd.
 */
static bool uses_deadline(const struct evsrc_timers *timers)
{
    return timers->deadline.queue != NULL;
}

/*
 * Arms the timerfd for `deadline` on the queue's clock, or disarms it for
 * NOT_ARMED. The kernel is asked for deadline + slack, so that timers due
 * within the slack of each other share one wake-up, as the kernel lets the
 * timeouts of poll, epoll_wait and nanosleep do.
 */
static int arm_fd(struct evsrc_timers *timers, int64_t deadline)
{
    return timers_fd_arm(timers->fd, deadline == NOT_ARMED ? NOT_ARMED : timespec_ns_add(deadline, timers->slack));
}

/*
 * Arms the queue for `deadline` (NOT_ARMED: for nothing): the poll's
 * deadline when the queue is registered with one (the wait itself wakes the
 * loop, and the kernel's slack for the waiting thread lets timers due close
 * together share a wake-up), and the timerfd when there is one. No system
 * call for the deadline, unless another thread waits on the poll.
 */
static int arm(struct evsrc_timers *timers, int64_t deadline)
{
    int r = 0;
    if (uses_deadline(timers) && !timers->spent) {
        if (deadline == NOT_ARMED) {
            r = evsrc_deadline_clear(&timers->deadline);
        } else {
            struct timespec at = timespec_from_ns(deadline);
            r = evsrc_deadline_set(&timers->deadline, &at);
        }
    }
    if (r >= 0 && timers->fd >= 0)
        r = arm_fd(timers, deadline);
    if (r < 0)
        return r;
    timers->armed = deadline;
    return 0;
}

/* Whether `timer` really sits in this queue (its id could be a stale one from uninitialised memory). */
static bool holds(const struct evsrc_timers *timers, const struct evsrc_timer *timer)
{
    return timer->queue == timers->id && timer->index < timers->len &&
           table_of(timers)[timer->index].timer == timer;
}

static bool is_open(const struct evsrc_timers *timers)
{
    return timers->id != 0;
}

/* Only CLOCK_MONOTONIC is the wait's own clock; the others keep a timerfd (timers_fd.h). */
static bool needs_fd(clockid_t clock)
{
    return timers_clock_needs_fd(clock);
}

static int open_fd(struct evsrc_timers *timers)
{
    int fd = timers_fd_open(timers->clock);
    if (fd < 0)
        return fd;
    timers->fd = fd;
    return 0;
}

/* What a drain leaves the queue armed for, and its interests say about reporting. */
#define MODE_KINDS (EVSRC_READABLE | EVSRC_WRITABLE | EVSRC_PRIORITY)

/* Registers the queue: its deadline with the poll, or its timerfd (needs_fd()). */
static int timers_register(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                           evsrc_interest interests)
{
    struct evsrc_timers *timers = evsrc_container_of(source, struct evsrc_timers, source);
    if (!is_open(timers))
        return -EBADF;
    if (needs_fd(timers->clock))
        return evsrc_registry_register_fd(registry, timers->fd, token, interests);
    int r = evsrc_registry_register_deadline(registry, &timers->deadline, token, interests & MODE_KINDS);
    if (r < 0)
        return r;
    timers->mode = interests;
    timers->spent = false;
    /*
     * The poll learns the earliest deadline now; the queue was armed for it,
     * or for nothing. Setting a registered deadline fails only where waking
     * another thread's wait does, after the deadline is set: at worst that
     * wait returns at its own time, and this one is late, not lost.
     */
    if (timers->armed != NOT_ARMED) {
        struct timespec at = timespec_from_ns(timers->armed);
        (void)evsrc_deadline_set(&timers->deadline, &at);
    }
    return 0;
}

static int timers_reregister(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                             evsrc_interest interests)
{
    struct evsrc_timers *timers = evsrc_container_of(source, struct evsrc_timers, source);
    /* Open: the registry calls it only for a registered queue, and closing one takes it out. */
    if (needs_fd(timers->clock))
        return evsrc_registry_reregister_fd(registry, timers->fd, token, interests);
    int r = evsrc_registry_reregister_deadline(registry, &timers->deadline, token, interests & MODE_KINDS);
    if (r < 0)
        return r;
    timers->mode = interests;
    /* As EPOLL_CTL_MOD re-arms a one-shot fd and reports readiness already there. */
    timers->spent = false;
    if (timers->armed != NOT_ARMED && !evsrc_deadline_is_set(&timers->deadline)) {
        struct timespec at = timespec_from_ns(timers->armed);
        r = evsrc_deadline_set(&timers->deadline, &at);
    }
    return r;
}

static int timers_deregister(struct evsrc_source *source, struct evsrc_registry *registry)
{
    struct evsrc_timers *timers = evsrc_container_of(source, struct evsrc_timers, source);
    /* Open: the registry calls it only for a registered queue, and closing one takes it out. */
    if (needs_fd(timers->clock))
        return evsrc_registry_deregister_fd(registry, timers->fd);
    return evsrc_registry_deregister_deadline(registry, &timers->deadline);
}

static const struct event_source_ops timers_ops = {timers_register, timers_reregister, timers_deregister};

EVSRC_EXPORT int evsrc_timers_new(struct evsrc_timers *timers, clockid_t clock)
{
    if (!timers)
        return -EINVAL;
    evsrc_source_init(&timers->source, &timers_ops);
    evsrc_deadline_init(&timers->deadline);
    timers->fd = -1;
    timers->id = 0;
    timers->len = 0;
    timers->capacity = 0;
    timers->table = NULL;
    timers->allocation = NULL;
    if (!timers_clock_is_supported(clock))
        return -EINVAL;
    timers->clock = clock;
    if (needs_fd(clock)) {
        int r = open_fd(timers);
        if (r < 0)
            return r;
    }
    timers->id = new_queue_id();
    timers->sequence = 0;
    timers->draining = false;
    timers->drain_sequence = 0;
    timers->now = clock_now(clock);
    timers->armed = NOT_ARMED;
    timers->mode = 0;
    timers->spent = false;
    /* The creating thread's timer slack, capped: what the timerfd is armed late by. */
    timers->slack = timers_fd_slack();
    return 0;
}

EVSRC_EXPORT void evsrc_timer_init(struct evsrc_timer *timer, evsrc_token token)
{
    if (!timer)
        return;
    *timer = (struct evsrc_timer){.token = token};
}

EVSRC_EXPORT evsrc_token evsrc_timer_token(const struct evsrc_timer *timer)
{
    return timer ? timer->token : 0;
}

EVSRC_EXPORT bool evsrc_timer_is_active(const struct evsrc_timer *timer)
{
    return timer && timer->queue != 0;
}

EVSRC_EXPORT uint64_t evsrc_timer_expirations(const struct evsrc_timer *timer)
{
    return timer ? timer->expirations : 0;
}

/* Queues an inactive timer. */
static int insert(struct evsrc_timers *timers, struct evsrc_timer *timer, int64_t deadline)
{
    if (timers->len == timers->capacity) {
        int r = grow(timers);
        if (r < 0)
            return r;
    }
    timer->deadline = deadline;
    timer->queue = timers->id;
    timer->sequence = timer->queued_sequence = next_sequence(timers);
    sift_up(table_of(timers), timers->len++, (struct slot){deadline, timer});
    return 0;
}

/* Moves an active timer of this queue to a new deadline. */
static int restart(struct evsrc_timers *timers, struct evsrc_timer *timer, int64_t deadline)
{
    /* Later than its deadline, so not before its slot's key: mark it, leave the heap alone. */
    if (deadline >= timer->deadline) {
        timer->deadline = deadline;
        timer->sequence = next_sequence(timers);
        return 0;
    }
    if (!holds(timers, timer))
        return -EEXIST;
    struct slot *table = table_of(timers);
    timer->deadline = deadline;
    timer->sequence = next_sequence(timers);
    if (deadline >= table[timer->index].key)
        return 0;
    timer->queued_sequence = timer->sequence;
    sift_up(table, timer->index, (struct slot){deadline, timer});
    return 0;
}

/* Starts or restarts `timer` for `deadline` ns; arguments checked. */
static int start(struct evsrc_timers *timers, struct evsrc_timer *timer, int64_t deadline,
                 const struct timespec *interval)
{
    int r = timer->queue ? restart(timers, timer, deadline) : insert(timers, timer, deadline);
    if (r < 0)
        return r;
    timer->interval = interval ? timespec_to_ns(interval) : 0;
    timer->expirations = 0;
    /* The only case that needs arming: the queue would wake the loop too late. */
    return deadline < timers->armed ? arm(timers, deadline) : 0;
}

/* The checks every start makes, in the order timers.h gives their errors. */
static int start_check(const struct evsrc_timers *timers, const struct evsrc_timer *timer, const struct timespec *when,
                       const struct timespec *interval)
{
    if (!timers || !timer || !when)
        return -EINVAL;
    if (!timespec_is_valid(when) || !timespec_is_valid(interval))
        return -EINVAL;
    if (!is_open(timers))
        return -EBADF;
    if (timer->queue != 0 && timer->queue != timers->id)
        return -EEXIST;
    return 0;
}

EVSRC_EXPORT int evsrc_timers_start(struct evsrc_timers *timers, struct evsrc_timer *timer,
                                    const struct timespec *after, const struct timespec *interval)
{
    int r = start_check(timers, timer, after, interval);
    if (r < 0)
        return r;
    /* Never early: the delay counts from a clock read now, not from a cached time. */
    timers->now = clock_now(timers->clock);
    return start(timers, timer, timespec_ns_add(timers->now, timespec_to_ns(after)), interval);
}

EVSRC_EXPORT int evsrc_timers_start_at(struct evsrc_timers *timers, struct evsrc_timer *timer,
                                       const struct timespec *deadline, const struct timespec *interval)
{
    int r = start_check(timers, timer, deadline, interval);
    if (r < 0)
        return r;
    return start(timers, timer, timespec_to_ns(deadline), interval);
}

EVSRC_EXPORT int evsrc_timers_now(const struct evsrc_timers *timers, struct timespec *now)
{
    if (!timers || !now)
        return -EINVAL;
    if (!is_open(timers))
        return -EBADF;
    *now = timespec_from_ns(timers->now);
    return 0;
}

EVSRC_EXPORT int evsrc_timers_stop(struct evsrc_timers *timers, struct evsrc_timer *timer)
{
    if (!timers || !timer)
        return -EINVAL;
    if (!is_open(timers))
        return -EBADF;
    if (timer->queue == 0)
        return 0;
    if (!holds(timers, timer))
        return -ENOENT;
    remove_slot(timers, timer->index);
    timer->queue = 0;
    /* The queue stays armed: if it fires for nothing, the drain finds nothing due and re-arms it. */
    return 1;
}

/* Takes the due front timer out, or reschedules it one phase-keeping step past the drain's clock. */
static void hand_out(struct evsrc_timers *timers, struct evsrc_timer *timer)
{
    if (timer->interval == 0) {
        remove_slot(timers, 0);
        timer->queue = 0;
        timer->expirations = 1;
        return;
    }
    uint64_t late = (uint64_t)(timers->now - timer->deadline);
    uint64_t period = (uint64_t)timer->interval;
    uint64_t periods = late / period + 1;
    uint64_t step = late - late % period + period; /* periods * period, without overflow */
    uint64_t room = (uint64_t)(LATEST_DEADLINE - timer->deadline);
    timer->deadline = step > room ? LATEST_DEADLINE : timer->deadline + (int64_t)step;
    timer->sequence = timer->queued_sequence = next_sequence(timers);
    timer->expirations = periods;
    sift_down(table_of(timers), timers->len, 0, (struct slot){timer->deadline, timer});
}

/* A drain begins: the clock is read once for it, and the starts so far are the ones it may hand out. */
static void drain_begin(struct evsrc_timers *timers)
{
    timers->now = clock_now(timers->clock);
    timers->drain_sequence = timers->sequence;
    timers->draining = true;
    /* Level-triggered: until the drain ends, the queue stays ready, as an unread timerfd would. */
    if (uses_deadline(timers) && (timers->mode & EVSRC_LEVEL) && !timers->spent)
        evsrc_deadline_ready_again(&timers->deadline);
}

/*
 * A drain ends: arm the queue for the earliest deadline left. Nothing to do
 * when it is armed for exactly that one and that is still pending: a
 * timerfd set for it has not expired (it is not readable), and a poll's
 * deadline is still set (the poll clears a deadline when it reports it, and
 * a level-triggered drain put it back as ready). Otherwise arming both moves
 * the deadline and clears a readiness that was for nothing (a stopped or
 * pushed-back timer).
 */
static int drain_end(struct evsrc_timers *timers, int64_t next)
{
    timers->draining = false;
    bool reported = false;
    if (uses_deadline(timers) && timers->armed != NOT_ARMED && !timers->spent) {
        reported = (timers->mode & EVSRC_LEVEL) || !evsrc_deadline_is_set(&timers->deadline);
        /* One-shot: reported once, then silent until reregistered (as EPOLLONESHOT). */
        if (reported && (timers->mode & EVSRC_ONESHOT) && !evsrc_deadline_is_set(&timers->deadline))
            timers->spent = true;
    }
    if (next == timers->armed && !reported)
        return 0;
    return arm(timers, next);
}

EVSRC_EXPORT int evsrc_timers_expired(struct evsrc_timers *timers, struct evsrc_timer **out)
{
    if (!timers || !out)
        return -EINVAL;
    if (!is_open(timers))
        return -EBADF;
    /*
     * A drain hands out, in deadline order, the due timers that were queued
     * when it began (their clock read again only when the front is not due
     * by the last reading). It ends at the first timer in that order that
     * was started during the drain (a handler's restart, a periodic timer's
     * next period), so it cannot go on forever; whatever is due behind that
     * timer comes out in the next drain, which the queue's next event (at
     * once, when something is due) announces.
     */
    if (!timers->draining)
        drain_begin(timers);
    struct evsrc_timer *timer = front(timers);
    if (timer && (int32_t)(timer->sequence - timers->drain_sequence) <= 0) {
        if (timer->deadline > timers->now)
            timers->now = clock_now(timers->clock);
        if (timer->deadline <= timers->now) {
            hand_out(timers, timer);
            *out = timer;
            return 0;
        }
    }
    int r = drain_end(timers, timer ? timer->deadline : NOT_ARMED);
    return r < 0 ? r : -EAGAIN;
}

EVSRC_EXPORT size_t evsrc_timers_len(const struct evsrc_timers *timers)
{
    return timers && is_open(timers) ? timers->len : 0;
}

/*
 * The earliest deadline without re-sorting (the queue is const here): keys
 * are heap-ordered lower bounds of deadlines, so only the subtrees under
 * stale slots with a key below the best deadline so far need a look.
 */
static int64_t earliest_deadline(const struct evsrc_timers *timers)
{
    const struct slot *table = table_of(timers);
    size_t len = timers->len;
    int64_t best = NOT_ARMED;
    size_t i = 0;
    for (;;) {
        const struct slot *slot = &table[i];
        bool descend = false;
        if (slot->key < best) {
            if (slot->timer->deadline < best)
                best = slot->timer->deadline;
            descend = slot->timer->deadline != slot->key;
        }
        if (descend && 4 * i + 1 < len) {
            i = 4 * i + 1;
            continue;
        }
        /* On to the next sibling, climbing while i is a last child. */
        for (;;) {
            if (i == 0)
                return best;
            if (i % 4 != 0 && i + 1 < len) {
                i++;
                break;
            }
            i = (i - 1) / 4;
        }
    }
}

EVSRC_EXPORT int evsrc_timers_next_deadline(const struct evsrc_timers *timers, struct timespec *remaining)
{
    if (!timers || !remaining)
        return -EINVAL;
    if (!is_open(timers))
        return -EBADF;
    if (timers->len == 0)
        return -ENOENT;
    int64_t left = earliest_deadline(timers) - clock_now(timers->clock);
    *remaining = timespec_from_ns(left < 0 ? 0 : left);
    return 0;
}

EVSRC_EXPORT int evsrc_timers_fd(const struct evsrc_timers *timers)
{
    if (!timers)
        return -EINVAL;
    if (!is_open(timers))
        return -EBADF;
    if (timers->fd >= 0)
        return timers->fd;
    /* Made when first asked for, and armed from then on as the queue is (timers.h). */
    struct evsrc_timers *queue = (struct evsrc_timers *)(uintptr_t)timers;
    int r = open_fd(queue);
    if (r == 0 && queue->armed != NOT_ARMED)
        r = arm_fd(queue, queue->armed);
    if (r < 0) {
        if (queue->fd >= 0)
            timers_fd_close(queue->fd);
        queue->fd = -1;
        return r;
    }
    return queue->fd;
}

EVSRC_EXPORT int evsrc_timers_close(struct evsrc_timers *timers)
{
    if (!timers)
        return -EINVAL;
    if (!is_open(timers))
        return -EBADF;
    struct slot *table = table_of(timers);
    /*
     * A timer freed before its queue was closed (the wrong order, timers.h)
     * no longer says it sits here: its memory, perhaps reused, is left alone.
     */
    for (size_t i = 0; i < timers->len; i++)
        if (holds(timers, table[i].timer))
            table[i].timer->queue = 0;
    free(timers->allocation);
    timers->allocation = NULL;
    timers->table = NULL;
    timers->len = 0;
    timers->capacity = 0;
    /* Out of its poll, as closing an fd takes the fd out of its queue (closed even when that reports an error). */
    int r = evsrc_deadline_close(&timers->deadline);
    if (timers->fd >= 0) {
        timers_fd_close(timers->fd);
        timers->fd = -1;
    }
    timers->id = 0;
    evsrc_source_init(&timers->source, &timers_ops);
    return r < 0 ? r : 0;
}
