/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <evsrc/timers.h>

#include "testutil.h"

#if defined(_WIN32) && !defined(CLOCK_BOOTTIME)
#define CLOCK_BOOTTIME 7 /* Linux's number: the tests that use it skip on Windows, where the queue refuses it */
#endif
#if defined(_WIN32) && !defined(CLOCK_MONOTONIC_RAW)
#define CLOCK_MONOTONIC_RAW 4 /* Linux's number: a clock the queue refuses everywhere */
#endif

/* The queue's token in the fixture's poll. */
#define QUEUE 1

static struct timespec ms(long milliseconds)
{
    return (struct timespec){milliseconds / 1000, (milliseconds % 1000) * 1000000L};
}

static long long clock_ns(clockid_t clock)
{
    struct timespec now;
    ck_assert_int_eq(clock_gettime(clock, &now), 0);
    return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

static long long ns_of(struct timespec ts)
{
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(long milliseconds)
{
    struct timespec left = ms(milliseconds);
    while (nanosleep(&left, &left) < 0 && errno == EINTR) {
    }
}

/* A new queue on `clock`, registered in the fixture's poll under QUEUE with `interests`. */
static void new_queue(struct evsrc_timers *q, clockid_t clock, evsrc_interest interests)
{
    ck_assert_int_eq(evsrc_timers_new(q, clock), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &q->source, QUEUE, interests), 0);
}

/* Starts a one-shot timer `after_ms` from now and returns the earliest its deadline can be. */
static long long start_ms(struct evsrc_timers *q, struct evsrc_timer *t, long after_ms)
{
    struct timespec after = ms(after_ms);
    long long before = clock_ns(q->clock);
    ck_assert_int_eq(evsrc_timers_start(q, t, &after, NULL), 0);
    return before + ns_of(after);
}

/*
 * Waits for the queue's events and drains it on each, until `want` timers
 * came out (more is a failure) or the deadline passed. Stores the timers in
 * got[] and the clock read right after each came out in at[] (either may be
 * NULL). Returns how many came out.
 */
static size_t collect(struct evsrc_timers *q, struct evsrc_timer **got, long long *at, size_t want)
{
    size_t n = 0;
    long long give_up = testutil_now_ms() + TESTUTIL_EVENT_DEADLINE_MS;
    while (n < want && testutil_now_ms() < give_up) {
        if (!testutil_wait_token(testutil_fx.poll, testutil_fx.events, QUEUE, NULL))
            break;
        struct evsrc_timer *t;
        int r;
        while ((r = evsrc_timers_expired(q, &t)) == 0) {
            ck_assert_uint_lt(n, want);
            if (at)
                at[n] = clock_ns(q->clock);
            if (got)
                got[n] = t;
            n++;
        }
        ck_assert_int_eq(r, -EAGAIN);
    }
    return n;
}

/* Drains the queue now (no wait) and fails if anything comes out. */
static void expect_none_due(struct evsrc_timers *q)
{
    struct evsrc_timer *t = NULL;
    ck_assert_int_eq(evsrc_timers_expired(q, &t), -EAGAIN);
    ck_assert_ptr_null(t);
}

/* The time the queue's fd is armed for, from the kernel. */
static long long fd_remaining_ns(const struct evsrc_timers *q)
{
    struct itimerspec current;
    ck_assert_int_eq(timerfd_gettime(evsrc_timers_fd(q), &current), 0);
    return ns_of(current.it_value);
}

START_TEST(new_queue_is_an_empty_source)
{
    TESTUTIL_SKIP_ON_WINDOWS("it checks the queue's timerfd, which Windows lacks");
    ck_assert_uint_le(sizeof(struct evsrc_timer), 48);
    const clockid_t clocks[] = {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME};
    for (size_t i = 0; i < 3; i++) {
        struct evsrc_timers q;
        memset(&q, 0xff, sizeof q);
        ck_assert_int_eq(evsrc_timers_new(&q, clocks[i]), 0);
        int fd = evsrc_timers_fd(&q);
        ck_assert_int_ge(fd, 0);
        ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
        ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        ck_assert_uint_eq(evsrc_timers_len(&q), 0);
        struct timespec remaining = {7, 7};
        ck_assert_int_eq(evsrc_timers_next_deadline(&q, &remaining), -ENOENT);
        ck_assert_int_eq(remaining.tv_sec, 7);
        ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &q.source, QUEUE, EVSRC_READABLE), 0);
        expect_none_due(&q);
        testutil_expect_quiet(QUEUE);
        ck_assert_int_eq(evsrc_timers_close(&q), 0);
        ck_assert(!testutil_fd_is_open(fd));
    }
}
END_TEST

START_TEST(timer_accessors)
{
    struct evsrc_timer t;
    memset(&t, 0xff, sizeof t);
    evsrc_timer_init(&t, 42);
    ck_assert_uint_eq(evsrc_timer_token(&t), 42);
    ck_assert(!evsrc_timer_is_active(&t));
    ck_assert_uint_eq(evsrc_timer_expirations(&t), 0);
    evsrc_timer_init(NULL, 1);
    ck_assert_uint_eq(evsrc_timer_token(NULL), 0);
    ck_assert(!evsrc_timer_is_active(NULL));
    ck_assert_uint_eq(evsrc_timer_expirations(NULL), 0);
}
END_TEST

START_TEST(deadline_order_and_never_early)
{
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE);
    enum { N = 200 };
    static struct evsrc_timer timers[N];
    static long long earliest[N], latest[N], at[N];
    static struct evsrc_timer *got[N];
    srand(1);
    for (size_t i = 0; i < N; i++) {
        evsrc_timer_init(&timers[i], i);
        long after = rand() % 80;
        earliest[i] = start_ms(&q, &timers[i], after);
        latest[i] = clock_ns(CLOCK_MONOTONIC) + after * 1000000LL;
    }
    ck_assert_uint_eq(evsrc_timers_len(&q), N);
    ck_assert_uint_eq(collect(&q, got, at, N), N);
    bool seen[N] = {false};
    for (size_t k = 0; k < N; k++) {
        size_t i = evsrc_timer_token(got[k]);
        ck_assert(!seen[i]);
        seen[i] = true;
        ck_assert(!evsrc_timer_is_active(got[k]));
        ck_assert_uint_eq(evsrc_timer_expirations(got[k]), 1);
        ck_assert_int_ge(at[k], earliest[i]); /* never early */
        if (k > 0) /* in deadline order, as far as the deadlines are known */
            ck_assert_int_le(earliest[evsrc_timer_token(got[k - 1])], latest[i]);
    }
    ck_assert_uint_eq(evsrc_timers_len(&q), 0);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
}
END_TEST

START_TEST(equal_delays_come_out_in_start_order)
{
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE);
    enum { N = 20 };
    struct evsrc_timer timers[N], *got[N];
    for (size_t i = 0; i < N; i++) {
        evsrc_timer_init(&timers[i], i);
        start_ms(&q, &timers[i], 20);
    }
    ck_assert_uint_eq(collect(&q, got, NULL, N), N);
    for (size_t k = 0; k < N; k++)
        ck_assert_uint_eq(evsrc_timer_token(got[k]), k);

    /* Restarted in reverse order, to a later deadline and to an earlier one, they come out reversed. */
    const long first[] = {20, 1000}, then[] = {40, 30};
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < N; i++)
            start_ms(&q, &timers[i], first[pass]);
        for (size_t i = N; i-- > 0;)
            start_ms(&q, &timers[i], then[pass]);
        ck_assert_uint_eq(collect(&q, got, NULL, N), N);
        for (size_t k = 0; k < N; k++)
            ck_assert_uint_eq(evsrc_timer_token(got[k]), N - 1 - k);
    }
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
}
END_TEST

START_TEST(stop_and_restart_later_are_never_reported_early)
{
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE);
    struct evsrc_timer pushed, stopped, *got;
    evsrc_timer_init(&pushed, 1);
    evsrc_timer_init(&stopped, 2);
    start_ms(&q, &pushed, 20);
    start_ms(&q, &stopped, 10);
    long long earliest = start_ms(&q, &pushed, 150); /* a restart: replaces the 20 ms deadline */
    ck_assert_int_eq(evsrc_timers_stop(&q, &stopped), 1);
    ck_assert_int_eq(evsrc_timers_stop(&q, &stopped), 0);
    ck_assert_uint_eq(evsrc_timers_len(&q), 1);
    long long at;
    ck_assert_uint_eq(collect(&q, &got, &at, 1), 1);
    ck_assert_ptr_eq(got, &pushed);
    ck_assert_int_ge(at, earliest);
    ck_assert(!evsrc_timer_is_active(&stopped));
    testutil_expect_quiet(QUEUE);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
}
END_TEST

START_TEST(restart_later_leaves_the_fd_and_earlier_rearms_it)
{
    TESTUTIL_SKIP_ON_WINDOWS("it checks how the timerfd is armed");
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE);
    struct evsrc_timer t, *got;
    evsrc_timer_init(&t, 1);
    start_ms(&q, &t, 1000);
    long long armed = fd_remaining_ns(&q);
    ck_assert_int_gt(armed, 0);
    ck_assert_int_le(armed, 1001000000LL);
    /* The reset pattern: the fd is left as it was (no system call). */
    for (int i = 0; i < 100; i++)
        start_ms(&q, &t, 5000 + i);
    ck_assert_int_le(fd_remaining_ns(&q), armed);
    /* Earlier than the fd is armed for: re-armed (for the deadline plus at most 1 ms of slack), and it fires. */
    long long earliest = start_ms(&q, &t, 20);
    ck_assert_int_le(fd_remaining_ns(&q), 21000000LL);
    long long at;
    ck_assert_uint_eq(collect(&q, &got, &at, 1), 1);
    ck_assert_ptr_eq(got, &t);
    ck_assert_int_ge(at, earliest);
    /* Nothing left: the fd is disarmed. */
    ck_assert_int_eq(fd_remaining_ns(&q), 0);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
}
END_TEST

START_TEST(pushed_back_front_timer_rearms_after_one_spurious_event)
{
    TESTUTIL_SKIP_ON_WINDOWS("it checks how the timerfd is armed");
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE | EVSRC_LEVEL);
    struct evsrc_timer t;
    evsrc_timer_init(&t, 1);
    start_ms(&q, &t, 10);
    long long earliest = start_ms(&q, &t, 2000);
    /* The fd fires at 10 ms for nothing; draining re-arms it for the real deadline. */
    ck_assert(testutil_expect_event(QUEUE) & EVSRC_EVENT_FLAG_IN);
    ck_assert_int_lt(clock_ns(CLOCK_MONOTONIC), earliest);
    expect_none_due(&q);
    ck_assert_int_gt(fd_remaining_ns(&q), 0);
    struct timespec remaining;
    ck_assert_int_eq(evsrc_timers_next_deadline(&q, &remaining), 0);
    ck_assert_int_gt(ns_of(remaining), 1000000000LL);
    /* Level-triggered: a readable fd would report again at once. */
    testutil_expect_quiet(QUEUE);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
}
END_TEST

START_TEST(periodic_expirations_add_up)
{
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE);
    struct evsrc_timer t;
    evsrc_timer_init(&t, 9);
    const long long period = 10000000LL;
    struct timespec interval = ms(10);
    long long before = clock_ns(CLOCK_MONOTONIC);
    ck_assert_int_eq(evsrc_timers_start(&q, &t, &interval, &interval), 0);
    long long after = clock_ns(CLOCK_MONOTONIC);
    sleep_ms(105);

    uint64_t total = 0;
    for (int round = 0; round < 4; round++) {
        ck_assert(testutil_expect_event(QUEUE) & EVSRC_EVENT_FLAG_IN);
        long long pre = clock_ns(CLOCK_MONOTONIC);
        struct evsrc_timer *got;
        int r, handed = 0;
        while ((r = evsrc_timers_expired(&q, &got)) == 0) {
            ck_assert_ptr_eq(got, &t);
            ck_assert(evsrc_timer_is_active(&t));
            ck_assert_uint_ge(evsrc_timer_expirations(&t), 1);
            total += evsrc_timer_expirations(&t);
            handed++;
        }
        long long post = clock_ns(CLOCK_MONOTONIC);
        ck_assert_int_eq(r, -EAGAIN);
        /* Spurious wakes aside, a drain hands a periodic timer out once, counting what it missed. */
        ck_assert_int_le(handed, 1);
        if (round == 0) {
            ck_assert_int_eq(handed, 1);
            ck_assert_uint_ge(total, 10); /* 105 ms of 10 ms periods, the first after 10 ms */
        }
        /* Phase kept: the periods so far are those between the first deadline and the drain. */
        ck_assert_int_ge((long long)total, (pre - (after + period)) / period + 1);
        ck_assert_int_le((long long)total, (post - (before + period)) / period + 1);
        struct timespec remaining;
        ck_assert_int_eq(evsrc_timers_next_deadline(&q, &remaining), 0);
        ck_assert_int_le(ns_of(remaining), period);
    }
    ck_assert_int_eq(evsrc_timers_stop(&q, &t), 1);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
}
END_TEST

START_TEST(zero_delay_fires_once_without_spinning)
{
    const evsrc_interest modes[] = {EVSRC_READABLE, EVSRC_READABLE | EVSRC_LEVEL};
    for (size_t m = 0; m < 2; m++) {
        struct evsrc_timers q;
        new_queue(&q, CLOCK_MONOTONIC, modes[m]);
        struct evsrc_timer t, *got;
        evsrc_timer_init(&t, 3);
        struct timespec zero = {0, 0};
        ck_assert_int_eq(evsrc_timers_start(&q, &t, &zero, NULL), 0);
        ck_assert_uint_eq(collect(&q, &got, NULL, 1), 1);
        ck_assert_ptr_eq(got, &t);
        testutil_expect_quiet(QUEUE);
        /* A deadline already past when the queue is armed, likewise. */
        start_ms(&q, &t, 1);
        sleep_ms(20);
        ck_assert_uint_eq(collect(&q, &got, NULL, 1), 1);
        testutil_expect_quiet(QUEUE);
        ck_assert_int_eq(evsrc_timers_close(&q), 0);
    }
}
END_TEST

START_TEST(stopped_front_timer_settles)
{
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE | EVSRC_LEVEL);
    struct evsrc_timer soon, late;
    evsrc_timer_init(&soon, 1);
    evsrc_timer_init(&late, 2);
    start_ms(&q, &soon, 5);
    start_ms(&q, &late, 10000);
    ck_assert_int_eq(evsrc_timers_stop(&q, &soon), 1);
    /* At most one event for the stopped timer, and none once drained. */
    if (testutil_wait_token(testutil_fx.poll, testutil_fx.events, QUEUE, NULL))
        expect_none_due(&q);
    testutil_expect_quiet(QUEUE);
    ck_assert_uint_eq(evsrc_timers_len(&q), 1);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
    ck_assert(!evsrc_timer_is_active(&late));
}
END_TEST

START_TEST(hundred_thousand_timers_a_third_stopped)
{
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE);
    enum { N = 100000 };
    struct evsrc_timer *timers = calloc(N, sizeof *timers);
    long long *earliest = calloc(N, sizeof *earliest);
    long long *latest = calloc(N, sizeof *latest);
    long long *at = calloc(N, sizeof *at);
    struct evsrc_timer **got = calloc(N, sizeof *got);
    bool *seen = calloc(N, sizeof *seen);
    ck_assert(timers && earliest && latest && at && got && seen);
    srand(13);
    for (size_t i = 0; i < N; i++) {
        evsrc_timer_init(&timers[i], i);
        struct timespec after = {0, (rand() % 300000) * 1000L}; /* up to 300 ms, in µs steps */
        earliest[i] = clock_ns(CLOCK_MONOTONIC) + ns_of(after);
        ck_assert_int_eq(evsrc_timers_start(&q, &timers[i], &after, NULL), 0);
        latest[i] = clock_ns(CLOCK_MONOTONIC) + ns_of(after);
    }
    size_t left = N;
    for (size_t i = 0; i < N; i += 3) {
        ck_assert_int_eq(evsrc_timers_stop(&q, &timers[i]), 1);
        left--;
    }
    ck_assert_uint_eq(evsrc_timers_len(&q), left);
    ck_assert_uint_eq(collect(&q, got, at, left), left);
    for (size_t k = 0; k < left; k++) {
        size_t i = evsrc_timer_token(got[k]);
        ck_assert_uint_ne(i % 3, 0);
        ck_assert(!seen[i]);
        seen[i] = true;
        ck_assert_int_ge(at[k], earliest[i]);
        if (k > 0)
            ck_assert_int_le(earliest[evsrc_timer_token(got[k - 1])], latest[i]);
    }
    ck_assert_uint_eq(evsrc_timers_len(&q), 0);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
    free(timers);
    free(earliest);
    free(latest);
    free(at);
    free(got);
    free(seen);
}
END_TEST

START_TEST(start_and_stop_from_inside_the_drain)
{
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE);
    struct evsrc_timer t[4], *got;
    for (size_t i = 0; i < 4; i++) {
        evsrc_timer_init(&t[i], i);
        start_ms(&q, &t[i], 0);
    }
    sleep_ms(2);
    ck_assert(testutil_expect_event(QUEUE) & EVSRC_EVENT_FLAG_IN);
    ck_assert_int_eq(evsrc_timers_expired(&q, &got), 0);
    ck_assert_ptr_eq(got, &t[0]);
    /* Restarted with no delay, the timer just handed out waits for the next drain. */
    start_ms(&q, &t[0], 0);
    ck_assert_int_eq(evsrc_timers_stop(&q, &t[2]), 1); /* due, but stopped: never comes out */
    start_ms(&q, &t[3], 10000);                        /* due, but pushed back */
    ck_assert_int_eq(evsrc_timers_expired(&q, &got), 0);
    ck_assert_ptr_eq(got, &t[1]);
    expect_none_due(&q);
    ck_assert(evsrc_timer_is_active(&t[0]));
    ck_assert(!evsrc_timer_is_active(&t[2]));
    /* The next event brings t[0] back, once. */
    ck_assert_uint_eq(collect(&q, &got, NULL, 1), 1);
    ck_assert_ptr_eq(got, &t[0]);
    testutil_expect_quiet(QUEUE);
    ck_assert(evsrc_timer_is_active(&t[3]));
    ck_assert_uint_eq(evsrc_timers_len(&q), 1);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
}
END_TEST

START_TEST(periodic_timer_restarted_or_stopped_in_its_handler)
{
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE);
    struct evsrc_timer t, *got;
    evsrc_timer_init(&t, 5);
    struct timespec period = ms(5);
    ck_assert_int_eq(evsrc_timers_start(&q, &t, &period, &period), 0);
    ck_assert_uint_eq(collect(&q, &got, NULL, 1), 1);
    /* Made one-shot from its handler: comes out once more, then it is done. */
    long long earliest = clock_ns(CLOCK_MONOTONIC) + 20000000LL;
    struct timespec later = ms(20);
    ck_assert_int_eq(evsrc_timers_start(&q, &t, &later, NULL), 0);
    ck_assert_uint_eq(evsrc_timer_expirations(&t), 0);
    long long at;
    ck_assert_uint_eq(collect(&q, &got, &at, 1), 1);
    ck_assert_int_ge(at, earliest);
    ck_assert(!evsrc_timer_is_active(&t));
    testutil_expect_quiet(QUEUE);

    ck_assert_int_eq(evsrc_timers_start(&q, &t, &period, &period), 0);
    ck_assert_uint_eq(collect(&q, &got, NULL, 1), 1);
    ck_assert_int_eq(evsrc_timers_stop(&q, &t), 1);
    if (testutil_wait_token(testutil_fx.poll, testutil_fx.events, QUEUE, NULL))
        expect_none_due(&q);
    testutil_expect_quiet(QUEUE);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
}
END_TEST

START_TEST(misuse_across_queues_is_caught)
{
    struct evsrc_timers a, b;
    ck_assert_int_eq(evsrc_timers_new(&a, CLOCK_MONOTONIC), 0);
    ck_assert_int_eq(evsrc_timers_new(&b, CLOCK_MONOTONIC), 0);
    struct evsrc_timer t;
    evsrc_timer_init(&t, 1);
    struct timespec later = {100, 0}, sooner = {1, 0};
    ck_assert_int_eq(evsrc_timers_start(&a, &t, &later, NULL), 0);
    ck_assert_int_eq(evsrc_timers_start(&b, &t, &sooner, NULL), -EEXIST);
    ck_assert_int_eq(evsrc_timers_stop(&b, &t), -ENOENT);
    ck_assert_uint_eq(evsrc_timers_len(&b), 0);
    ck_assert_uint_eq(evsrc_timers_len(&a), 1);
    /* Still in a, under its first deadline. */
    struct timespec remaining;
    ck_assert_int_eq(evsrc_timers_next_deadline(&a, &remaining), 0);
    ck_assert_int_gt(remaining.tv_sec, 50);
    ck_assert_int_eq(evsrc_timers_stop(&a, &t), 1);
    ck_assert_int_eq(evsrc_timers_start(&b, &t, &sooner, NULL), 0);
    ck_assert_int_eq(evsrc_timers_stop(&a, &t), -ENOENT);
    /* Closing a queue frees its timers for any queue. */
    ck_assert_int_eq(evsrc_timers_close(&b), 0);
    ck_assert(!evsrc_timer_is_active(&t));
    ck_assert_int_eq(evsrc_timers_start(&a, &t, &sooner, NULL), 0);
    ck_assert_int_eq(evsrc_timers_close(&a), 0);
}
END_TEST

START_TEST(bad_input_is_refused_and_changes_nothing)
{
    ck_assert_int_eq(evsrc_timers_new(NULL, CLOCK_MONOTONIC), -EINVAL);
    struct evsrc_timers q;
    const clockid_t bad_clocks[] = {CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, CLOCK_MONOTONIC_RAW, -1};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(evsrc_timers_new(&q, bad_clocks[i]), -EINVAL);
        ck_assert_int_eq(evsrc_timers_close(&q), -EBADF);
        ck_assert_uint_eq(evsrc_timers_len(&q), 0);
    }
    ck_assert_int_eq(evsrc_timers_new(&q, CLOCK_MONOTONIC), 0);
    struct evsrc_timer t, *got = NULL;
    evsrc_timer_init(&t, 1);
    struct timespec ok = {100, 0}, zero = {0, 0};
    const struct timespec bad[] = {{-1, 0}, {0, -1}, {0, 1000000000L}, {1, 2000000000L}};
    ck_assert_int_eq(evsrc_timers_start(NULL, &t, &ok, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_timers_start(&q, NULL, &ok, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_timers_start(&q, &t, NULL, NULL), -EINVAL);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(evsrc_timers_start(&q, &t, &bad[i], NULL), -EINVAL);
        ck_assert_int_eq(evsrc_timers_start(&q, &t, &ok, &bad[i]), -EINVAL);
    }
    ck_assert(!evsrc_timer_is_active(&t));
    ck_assert_int_eq(evsrc_timers_start(&q, &t, &ok, NULL), 0);
    /* An active timer is left as it was too. */
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(evsrc_timers_start(&q, &t, &bad[i], NULL), -EINVAL);
        ck_assert_int_eq(evsrc_timers_start(&q, &t, &zero, &bad[i]), -EINVAL);
    }
    struct timespec remaining;
    ck_assert_int_eq(evsrc_timers_next_deadline(&q, &remaining), 0);
    ck_assert_int_gt(remaining.tv_sec, 50);
    ck_assert_uint_eq(evsrc_timers_len(&q), 1);

    ck_assert_int_eq(evsrc_timers_stop(NULL, &t), -EINVAL);
    ck_assert_int_eq(evsrc_timers_stop(&q, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_timers_expired(NULL, &got), -EINVAL);
    ck_assert_int_eq(evsrc_timers_expired(&q, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_timers_next_deadline(NULL, &remaining), -EINVAL);
    ck_assert_int_eq(evsrc_timers_next_deadline(&q, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_timers_fd(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_timers_close(NULL), -EINVAL);
    ck_assert_uint_eq(evsrc_timers_len(NULL), 0);
    ck_assert_ptr_null(got);

    /* A deadline past the clock's range is clamped, not an error. */
    /* The largest time_t: 32 bits on i386. */
    const time_t time_max = (time_t)(((uint64_t)1 << (sizeof(time_t) * 8 - 1)) - 1);
    struct timespec huge = {time_max, 999999999L};
    ck_assert_int_eq(evsrc_timers_start(&q, &t, &huge, &huge), 0);
    ck_assert_int_eq(evsrc_timers_next_deadline(&q, &remaining), 0);
    ck_assert_int_gt(remaining.tv_sec, 50LL * 365 * 24 * 3600);
    expect_none_due(&q);

    ck_assert_int_eq(evsrc_timers_close(&q), 0);
    /* Closed: argument errors first, then -EBADF. */
    ck_assert_int_eq(evsrc_timers_start(&q, &t, &bad[0], NULL), -EINVAL);
    ck_assert_int_eq(evsrc_timers_start(&q, &t, &ok, NULL), -EBADF);
    ck_assert_int_eq(evsrc_timers_stop(&q, &t), -EBADF);
    ck_assert_int_eq(evsrc_timers_expired(&q, &got), -EBADF);
    ck_assert_int_eq(evsrc_timers_next_deadline(&q, &remaining), -EBADF);
    ck_assert_int_eq(evsrc_timers_fd(&q), -EBADF);
    ck_assert_int_eq(evsrc_timers_close(&q), -EBADF);
    ck_assert_uint_eq(evsrc_timers_len(&q), 0);
}
END_TEST

/*
 * Timers clamped to the one latest deadline (64-bit time_t: equal to the
 * nanosecond) around stops and restarts: the heap stays ordered, a short
 * timer still comes out first and alone, and the rest stay queued.
 */
#define CLAMPED 13

START_TEST(timers_at_one_clamped_deadline_stay_ordered)
{
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE);
    const time_t time_max = (time_t)(((uint64_t)1 << (sizeof(time_t) * 8 - 1)) - 1);
    struct timespec huge = {time_max, 999999999L};
    struct evsrc_timer t[CLAMPED], shortest;
    for (int i = 0; i < CLAMPED; i++) {
        evsrc_timer_init(&t[i], (evsrc_token)i);
        ck_assert_int_eq(evsrc_timers_start(&q, &t[i], &huge, NULL), 0);
    }
    /* Restarted to the same (clamped) deadline: a new start number, the same key. */
    ck_assert_int_eq(evsrc_timers_start(&q, &t[1], &huge, NULL), 0); /* the front, once t[0] is stopped */
    ck_assert_int_eq(evsrc_timers_stop(&q, &t[0]), 1);
    ck_assert_int_eq(evsrc_timers_stop(&q, &t[6]), 1);
    ck_assert_int_eq(evsrc_timers_stop(&q, &t[CLAMPED - 1]), 1);
    ck_assert_uint_eq(evsrc_timers_len(&q), CLAMPED - 3);

    evsrc_timer_init(&shortest, 100);
    start_ms(&q, &shortest, 1);
    struct evsrc_timer *got[1];
    ck_assert_uint_eq(collect(&q, got, NULL, 1), 1);
    ck_assert_ptr_eq(got[0], &shortest);
    expect_none_due(&q);
    struct timespec remaining;
    ck_assert_int_eq(evsrc_timers_next_deadline(&q, &remaining), 0);
    ck_assert_int_gt(remaining.tv_sec, 50LL * 365 * 24 * 3600);
    /* A front timer pushed back: the earliest deadline looks past it, into the clamped ones, and finds it still. */
    struct evsrc_timer hour;
    evsrc_timer_init(&hour, 101);
    ck_assert_int_eq(evsrc_timers_start(&q, &hour, &(struct timespec){3600, 0}, NULL), 0);
    ck_assert_int_eq(evsrc_timers_start(&q, &hour, &(struct timespec){7200, 0}, NULL), 0);
    ck_assert_int_eq(evsrc_timers_next_deadline(&q, &remaining), 0);
    ck_assert_int_gt(remaining.tv_sec, 3600);
    ck_assert_int_le(remaining.tv_sec, 7200);
    ck_assert_int_eq(evsrc_timers_stop(&q, &hour), 1);
    /* Stopped one by one from the front, each is still found where the heap put it. */
    for (int i = 1; i < CLAMPED - 1; i++)
        if (i != 6)
            ck_assert_int_eq(evsrc_timers_stop(&q, &t[i]), 1);
    ck_assert_uint_eq(evsrc_timers_len(&q), 0);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
}
END_TEST

START_TEST(close_stops_every_timer)
{
    TESTUTIL_SKIP_ON_WINDOWS("it checks the timerfd is closed");
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE);
    enum { N = 300 };
    static struct evsrc_timer timers[N];
    for (size_t i = 0; i < N; i++) {
        evsrc_timer_init(&timers[i], i);
        start_ms(&q, &timers[i], (long)(i % 7));
    }
    int fd = evsrc_timers_fd(&q);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
    ck_assert(!testutil_fd_is_open(fd));
    for (size_t i = 0; i < N; i++)
        ck_assert(!evsrc_timer_is_active(&timers[i]));
    testutil_expect_quiet(QUEUE);
    /* The struct can be set up again, and the timers go into the new queue. */
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE);
    for (size_t i = 0; i < N; i++)
        start_ms(&q, &timers[i], 1);
    ck_assert_uint_eq(collect(&q, NULL, NULL, N), N);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
}
END_TEST

START_TEST(boottime_and_realtime_queues)
{
    TESTUTIL_SKIP_ON_WINDOWS("queues run on CLOCK_MONOTONIC only (no timerfd for the other clocks)");
    const clockid_t clocks[] = {CLOCK_BOOTTIME, CLOCK_REALTIME};
    for (size_t c = 0; c < 2; c++) {
        struct evsrc_timers q;
        new_queue(&q, clocks[c], EVSRC_READABLE);
        struct evsrc_timer t[3], *got[3];
        long long earliest[3];
        for (size_t i = 0; i < 3; i++) {
            evsrc_timer_init(&t[i], i);
            /* 100 ms apart: the order holds even when a loaded machine (valgrind) takes a while between starts. */
            earliest[i] = start_ms(&q, &t[i], (long)(300 - 100 * i));
        }
        long long at[3];
        ck_assert_uint_eq(collect(&q, got, at, 3), 3);
        for (size_t k = 0; k < 3; k++) {
            ck_assert_ptr_eq(got[k], &t[2 - k]);
            ck_assert_int_ge(at[k], earliest[2 - k]);
        }
        testutil_expect_quiet(QUEUE);
        ck_assert_int_eq(evsrc_timers_close(&q), 0);
    }
}
END_TEST

START_TEST(deregistered_queue_reports_nothing)
{
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE);
    struct evsrc_timer t, *got;
    evsrc_timer_init(&t, 1);
    start_ms(&q, &t, 5);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &q.source), 0);
    sleep_ms(20);
    testutil_expect_quiet(QUEUE);
    /* Drained without the poll, it still hands the timer out. */
    ck_assert_int_eq(evsrc_timers_expired(&q, &got), 0);
    ck_assert_ptr_eq(got, &t);
    expect_none_due(&q);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
}
END_TEST

START_TEST(next_deadline_sees_through_pushed_back_timers)
{
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE);
    enum { N = 100 };
    static struct evsrc_timer timers[N];
    for (size_t i = 0; i < N; i++) {
        evsrc_timer_init(&timers[i], i);
        start_ms(&q, &timers[i], (long)(1000 + 10 * i));
    }
    /* Push every timer back but the last, which is now the earliest, without a drain to re-sort them. */
    for (size_t i = 0; i + 1 < N; i++)
        start_ms(&q, &timers[i], (long)(100000 + i));
    struct timespec remaining;
    ck_assert_int_eq(evsrc_timers_next_deadline(&q, &remaining), 0);
    ck_assert_int_gt(ns_of(remaining), 1000LL * 1000000LL);
    ck_assert_int_le(ns_of(remaining), (1000LL + 10 * (N - 1)) * 1000000LL);
    ck_assert_int_eq(evsrc_timers_stop(&q, &timers[N - 1]), 1);
    ck_assert_int_eq(evsrc_timers_next_deadline(&q, &remaining), 0);
    ck_assert_int_gt(ns_of(remaining), 99000LL * 1000000LL);
    ck_assert_int_le(ns_of(remaining), 100000LL * 1000000LL);
    /* Pulled in again, but not before the first deadline: still a restart that leaves the heap alone. */
    long long earliest = start_ms(&q, &timers[7], 150);
    start_ms(&q, &timers[7], 400);
    earliest = start_ms(&q, &timers[7], 200);
    struct evsrc_timer *got;
    long long at;
    ck_assert_uint_eq(collect(&q, &got, &at, 1), 1);
    ck_assert_ptr_eq(got, &timers[7]);
    ck_assert_int_ge(at, earliest);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
}
END_TEST

/*
 * Start numbers are 32-bit. A timer left alone while the queue counts 2^31
 * other starts must still come out (rather than seem started in the future
 * and make the queue wake for nothing forever). The queue's private start
 * counter is moved on to each point where the library renumbers, as that
 * many starts would, with one real start there.
 */
START_TEST(a_timer_outlives_billions_of_starts)
{
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE);
    struct evsrc_timer old, busy, *got;
    evsrc_timer_init(&old, 1);
    evsrc_timer_init(&busy, 2);
    long long earliest = start_ms(&q, &old, 30);
    for (int k = 0; k < 6; k++) {
        q.sequence |= (UINT32_C(1) << 29) - 1;
        start_ms(&q, &busy, 10000);
    }
    long long at;
    ck_assert_uint_eq(collect(&q, &got, &at, 1), 1);
    ck_assert_ptr_eq(got, &old);
    ck_assert_int_ge(at, earliest);
    testutil_expect_quiet(QUEUE);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
}
END_TEST

/* The timerfds this process has open (what /proc/self/fd links them to). */
static int open_timerfds(void)
{
    int count = 0;
#if !defined(_WIN32)
    char path[64], target[64];
    for (int fd = 0; fd < 1024; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        if (strstr(target, "timerfd"))
            count++;
    }
#endif
    return count;
}

START_TEST(a_monotonic_queue_in_a_poll_needs_no_timerfd)
{
    TESTUTIL_SKIP_ON_WINDOWS("no timerfd to count or ask for");
    int before = open_timerfds();
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE);
    struct evsrc_timer t[3], *got[3];
    for (int i = 0; i < 3; i++) {
        evsrc_timer_init(&t[i], (evsrc_token)i);
        start_ms(&q, &t[i], 5 + 5 * i);
    }
    ck_assert_uint_eq(collect(&q, got, NULL, 3), 3);
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_eq(got[i], &t[i]);
    /* The wait itself was the timer: no timerfd was made. */
    ck_assert_int_eq(open_timerfds(), before);
    /* One is made when asked for, and is armed as the queue is from then on. */
    start_ms(&q, &t[0], 3600 * 1000L);
    int fd = evsrc_timers_fd(&q);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(evsrc_timers_fd(&q), fd);
    ck_assert_int_eq(open_timerfds(), before + 1);
    ck_assert_int_gt(fd_remaining_ns(&q), 3500 * 1000000000LL);
    start_ms(&q, &t[1], 5);
    testutil_await_fd(fd, POLLIN);
    ck_assert_uint_eq(collect(&q, got, NULL, 1), 1);
    ck_assert_ptr_eq(got[0], &t[1]);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
    ck_assert(!testutil_fd_is_open(fd));
    ck_assert_int_eq(open_timerfds(), before);
}
END_TEST

START_TEST(start_at_takes_the_cached_time_and_is_never_early)
{
    struct evsrc_timers q;
    ck_assert_int_eq(evsrc_timers_new(&q, CLOCK_MONOTONIC), 0);
    struct timespec now;
    long long before = clock_ns(CLOCK_MONOTONIC);
    ck_assert_int_eq(evsrc_timers_now(&q, &now), 0);
    ck_assert_int_le(ns_of(now), before);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &q.source, QUEUE, EVSRC_READABLE), 0);
    /* A batch of starts sharing one reading: 20, 10 and -5 ms from it. */
    struct evsrc_timer t[3], *got[3];
    const long offsets_ms[3] = {20, 10, -5};
    long long deadline[3];
    for (int i = 0; i < 3; i++) {
        evsrc_timer_init(&t[i], (evsrc_token)i);
        deadline[i] = ns_of(now) + offsets_ms[i] * 1000000LL;
        struct timespec at = {(time_t)(deadline[i] / 1000000000LL), (long)(deadline[i] % 1000000000LL)};
        ck_assert_int_eq(evsrc_timers_start_at(&q, &t[i], &at, NULL), 0);
    }
    long long at[3];
    ck_assert_uint_eq(collect(&q, got, at, 3), 3);
    ck_assert_ptr_eq(got[0], &t[2]);
    ck_assert_ptr_eq(got[1], &t[1]);
    ck_assert_ptr_eq(got[2], &t[0]);
    for (int i = 0; i < 3; i++)
        ck_assert_int_ge(at[i], deadline[2 - i]);
    /* The drain read the clock: now moved on, and never backwards. */
    struct timespec later;
    ck_assert_int_eq(evsrc_timers_now(&q, &later), 0);
    ck_assert_int_ge(ns_of(later), deadline[0]);
    /* A periodic start_at keeps its phase from the given deadline. */
    struct timespec first = {(time_t)(ns_of(later) / 1000000000LL), (long)(ns_of(later) % 1000000000LL)};
    struct timespec interval = ms(5);
    ck_assert_int_eq(evsrc_timers_start_at(&q, &t[0], &first, &interval), 0);
    ck_assert_uint_eq(collect(&q, got, NULL, 1), 1);
    ck_assert(evsrc_timer_is_active(&t[0]));
    ck_assert_int_eq(evsrc_timers_stop(&q, &t[0]), 1);
    /* Errors, as for evsrc_timers_start(). */
    ck_assert_int_eq(evsrc_timers_start_at(NULL, &t[0], &first, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_timers_start_at(&q, NULL, &first, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_timers_start_at(&q, &t[0], NULL, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_timers_start_at(&q, &t[0], &(struct timespec){0, -1}, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_timers_start_at(&q, &t[0], &first, &(struct timespec){-1, 0}), -EINVAL);
    ck_assert_int_eq(evsrc_timers_now(NULL, &later), -EINVAL);
    ck_assert_int_eq(evsrc_timers_now(&q, NULL), -EINVAL);
    ck_assert(!evsrc_timer_is_active(&t[0]));
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
    ck_assert_int_eq(evsrc_timers_start_at(&q, &t[0], &first, NULL), -EBADF);
    ck_assert_int_eq(evsrc_timers_now(&q, &later), -EBADF);
}
END_TEST

/* Issue 20, item 12: a handler starts a timer earlier than one queued before the drain and already due. */
START_TEST(a_drain_ends_at_a_timer_started_during_it_and_the_rest_follows_at_once)
{
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE);
    struct evsrc_timer first, older, newer, *got;
    evsrc_timer_init(&first, 1);
    evsrc_timer_init(&older, 2);
    evsrc_timer_init(&newer, 3);
    struct timespec now;
    ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &now), 0);
    long long base = ns_of(now) - 10000000LL;
    struct timespec at_first = {(time_t)(base / 1000000000LL), (long)(base % 1000000000LL)};
    struct timespec at_older = {(time_t)((base + 2000) / 1000000000LL), (long)((base + 2000) % 1000000000LL)};
    struct timespec at_newer = {(time_t)((base + 1000) / 1000000000LL), (long)((base + 1000) % 1000000000LL)};
    ck_assert_int_eq(evsrc_timers_start_at(&q, &first, &at_first, NULL), 0);
    ck_assert_int_eq(evsrc_timers_start_at(&q, &older, &at_older, NULL), 0);
    testutil_expect_event(QUEUE);
    ck_assert_int_eq(evsrc_timers_expired(&q, &got), 0);
    ck_assert_ptr_eq(got, &first);
    /* The handler's timer is due before `older`, which was queued before the drain and is due too. */
    ck_assert_int_eq(evsrc_timers_start_at(&q, &newer, &at_newer, NULL), 0);
    /* Deadline order holds and the drain does not hand out what it started: it ends here. */
    ck_assert_int_eq(evsrc_timers_expired(&q, &got), -EAGAIN);
    /* Both are due, so the queue's next event comes at once, and the next drain hands out both, in order. */
    testutil_expect_event(QUEUE);
    ck_assert_int_eq(evsrc_timers_expired(&q, &got), 0);
    ck_assert_ptr_eq(got, &newer);
    ck_assert_int_eq(evsrc_timers_expired(&q, &got), 0);
    ck_assert_ptr_eq(got, &older);
    expect_none_due(&q);
    testutil_expect_quiet(QUEUE);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
}
END_TEST

START_TEST(a_oneshot_queue_reports_once_until_reregistered)
{
    struct evsrc_timers q;
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE | EVSRC_ONESHOT);
    struct evsrc_timer a, b, *got;
    evsrc_timer_init(&a, 1);
    evsrc_timer_init(&b, 2);
    start_ms(&q, &a, 5);
    start_ms(&q, &b, 15);
    testutil_expect_event(QUEUE);
    ck_assert_int_eq(evsrc_timers_expired(&q, &got), 0);
    ck_assert_ptr_eq(got, &a);
    expect_none_due(&q);
    sleep_ms(30);
    testutil_expect_quiet(QUEUE);
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &q.source, QUEUE, EVSRC_READABLE), 0);
    testutil_expect_event(QUEUE);
    ck_assert_int_eq(evsrc_timers_expired(&q, &got), 0);
    ck_assert_ptr_eq(got, &b);
    expect_none_due(&q);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
}
END_TEST

START_TEST(a_queue_registered_late_learns_its_earliest_deadline)
{
    struct evsrc_timers q;
    ck_assert_int_eq(evsrc_timers_new(&q, CLOCK_MONOTONIC), 0);
    struct evsrc_timer t, *got;
    evsrc_timer_init(&t, 1);
    start_ms(&q, &t, 10);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &q.source, QUEUE, EVSRC_READABLE), 0);
    ck_assert_uint_eq(collect(&q, &got, NULL, 1), 1);
    /* Closing a registered queue takes its deadline out of the poll: nothing reports for it later. */
    start_ms(&q, &t, 5);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
    testutil_expect_quiet(QUEUE);
}
END_TEST

START_TEST(the_queue_ops_on_closed_and_timerfd_queues)
{
    /* A closed queue registers as nothing: -EBADF from its op. */
    struct evsrc_timers q;
    ck_assert_int_eq(evsrc_timers_new(&q, CLOCK_MONOTONIC), 0);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &q.source, QUEUE, EVSRC_READABLE), -EBADF);
    /* Registered, then closed: closing took it out, so the registry knows it no more. */
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &q.source), -ENOENT);
    TESTUTIL_SKIP_ON_WINDOWS("the timerfd half: queues on other clocks need a timerfd");
    /* A CLOCK_REALTIME queue goes through its timerfd: reregister and deregister it too. */
    struct evsrc_timer t, *got;
    evsrc_timer_init(&t, 1);
    new_queue(&q, CLOCK_REALTIME, EVSRC_READABLE);
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &q.source, QUEUE, EVSRC_READABLE | EVSRC_LEVEL),
                     0);
    start_ms(&q, &t, 5);
    ck_assert_uint_eq(collect(&q, &got, NULL, 1), 1);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &q.source), 0);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
    /* A monotonic queue with a timer pending when it is reregistered LEVEL, after it reported once as ONESHOT. */
    new_queue(&q, CLOCK_MONOTONIC, EVSRC_READABLE | EVSRC_ONESHOT);
    start_ms(&q, &t, 5);
    testutil_expect_event(QUEUE);
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &q.source, QUEUE, EVSRC_READABLE | EVSRC_LEVEL),
                     0);
    testutil_expect_event(QUEUE);
    ck_assert_int_eq(evsrc_timers_expired(&q, &got), 0);
    ck_assert_ptr_eq(got, &t);
    expect_none_due(&q);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("timers");
    TCase *tc = testutil_add_tcase(suite, "timers");
    tcase_add_test(tc, new_queue_is_an_empty_source);
    tcase_add_test(tc, timer_accessors);
    tcase_add_test(tc, deadline_order_and_never_early);
    tcase_add_test(tc, equal_delays_come_out_in_start_order);
    tcase_add_test(tc, stop_and_restart_later_are_never_reported_early);
    tcase_add_test(tc, restart_later_leaves_the_fd_and_earlier_rearms_it);
    tcase_add_test(tc, pushed_back_front_timer_rearms_after_one_spurious_event);
    tcase_add_test(tc, periodic_expirations_add_up);
    tcase_add_test(tc, zero_delay_fires_once_without_spinning);
    tcase_add_test(tc, stopped_front_timer_settles);
    tcase_add_test(tc, hundred_thousand_timers_a_third_stopped);
    tcase_add_test(tc, start_and_stop_from_inside_the_drain);
    tcase_add_test(tc, periodic_timer_restarted_or_stopped_in_its_handler);
    tcase_add_test(tc, misuse_across_queues_is_caught);
    tcase_add_test(tc, bad_input_is_refused_and_changes_nothing);
    tcase_add_test(tc, close_stops_every_timer);
    tcase_add_test(tc, boottime_and_realtime_queues);
    tcase_add_test(tc, deregistered_queue_reports_nothing);
    tcase_add_test(tc, next_deadline_sees_through_pushed_back_timers);
    tcase_add_test(tc, a_timer_outlives_billions_of_starts);
    tcase_add_test(tc, timers_at_one_clamped_deadline_stay_ordered);
    tcase_add_test(tc, a_monotonic_queue_in_a_poll_needs_no_timerfd);
    tcase_add_test(tc, start_at_takes_the_cached_time_and_is_never_early);
    tcase_add_test(tc, a_drain_ends_at_a_timer_started_during_it_and_the_rest_follows_at_once);
    tcase_add_test(tc, a_oneshot_queue_reports_once_until_reregistered);
    tcase_add_test(tc, a_queue_registered_late_learns_its_earliest_deadline);
    tcase_add_test(tc, the_queue_ops_on_closed_and_timerfd_queues);
    return testutil_run(suite);
}
