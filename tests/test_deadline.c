/* SPDX-License-Identifier: MIT */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if !defined(_WIN32)
#include <sys/wait.h>
#endif
#include <time.h>
#include <unistd.h>

#include <evsrc/deadline.h>

#include "testutil.h"

#define TOKEN 7
#define OTHER 8

static long long now_ns(void)
{
    struct timespec now;
    ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &now), 0);
    return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

static struct timespec at_ns(long long ns)
{
    return (struct timespec){(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
}

/* Sets the deadline `ms` from now and returns that instant in ns. */
static long long set_in_ms(struct evsrc_deadline *d, long ms)
{
    long long at = now_ns() + ms * 1000000LL;
    struct timespec ts = at_ns(at);
    ck_assert_int_eq(evsrc_deadline_set(d, &ts), 0);
    return at;
}

static void register_deadline(struct evsrc_deadline *d, evsrc_token token, evsrc_interest interests)
{
    ck_assert_int_eq(evsrc_deadline_init(d), 0);
    ck_assert_int_eq(evsrc_registry_register_deadline(testutil_fx.registry, d, token, interests), 0);
}

START_TEST(bad_arguments_are_refused)
{
    struct evsrc_deadline d = EVSRC_DEADLINE_INIT;
    struct timespec ts = {0, 0};
    ck_assert_int_eq(evsrc_deadline_init(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_registry_register_deadline(NULL, &d, TOKEN, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_registry_register_deadline(testutil_fx.registry, NULL, TOKEN, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_registry_register_deadline(testutil_fx.registry, &d, TOKEN, 0), -EINVAL);
    ck_assert_int_eq(evsrc_registry_register_deadline(testutil_fx.registry, &d, TOKEN, EVSRC_READABLE | EVSRC_LEVEL),
                     -EINVAL);
    ck_assert_int_eq(evsrc_registry_register_deadline(testutil_fx.registry, &d, TOKEN, 0x80), -EINVAL);
    /* Not registered: every call on it says so. */
    ck_assert_int_eq(evsrc_deadline_set(&d, &ts), -ENOENT);
    ck_assert_int_eq(evsrc_deadline_ready_again(&d), -ENOENT);
    ck_assert_int_eq(evsrc_deadline_clear(&d), -ENOENT);
    ck_assert_int_eq(evsrc_registry_deregister_deadline(testutil_fx.registry, &d), -ENOENT);
    ck_assert_int_eq(evsrc_registry_reregister_deadline(testutil_fx.registry, &d, TOKEN, EVSRC_READABLE), -ENOENT);
    ck_assert(!evsrc_deadline_is_set(&d));
    ck_assert(!evsrc_deadline_is_set(NULL));
    ck_assert_int_eq(evsrc_deadline_close(&d), 0);
    ck_assert_int_eq(evsrc_deadline_close(NULL), -EINVAL);
    /* Registered: bad times and NULLs. */
    ck_assert_int_eq(evsrc_registry_register_deadline(testutil_fx.registry, &d, TOKEN, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_register_deadline(testutil_fx.registry, &d, TOKEN, EVSRC_READABLE), -EEXIST);
    ck_assert_int_eq(evsrc_deadline_set(NULL, &ts), -EINVAL);
    ck_assert_int_eq(evsrc_deadline_set(&d, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_deadline_set(&d, &(struct timespec){-1, 0}), -EINVAL);
    ck_assert_int_eq(evsrc_deadline_set(&d, &(struct timespec){0, 1000000000L}), -EINVAL);
    ck_assert_int_eq(evsrc_deadline_ready_again(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_deadline_clear(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_registry_deregister_deadline(NULL, &d), -EINVAL);
    ck_assert_int_eq(evsrc_registry_deregister_deadline(testutil_fx.registry, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_registry_reregister_deadline(testutil_fx.registry, &d, TOKEN, 0), -EINVAL);
    ck_assert(!evsrc_deadline_is_set(&d));
    ck_assert_int_eq(evsrc_registry_deregister_deadline(testutil_fx.registry, &d), 0);
    ck_assert_int_eq(evsrc_registry_deregister_deadline(testutil_fx.registry, &d), -ENOENT);
}
END_TEST

START_TEST(a_deadline_is_reported_once_never_early)
{
    struct evsrc_deadline d;
    register_deadline(&d, TOKEN, EVSRC_READABLE);
    /* Registered but not set: the wait blocks as without it. */
    testutil_expect_no_events();
    long long at = set_in_ms(&d, 30);
    ck_assert(evsrc_deadline_is_set(&d));
    /* A wait without a timeout returns by the deadline. */
    ck_assert_int_eq(evsrc_poll_wait(testutil_fx.poll, testutil_fx.events, NULL), 1);
    ck_assert_int_ge(now_ns(), at);
    const struct evsrc_event *e = evsrc_events_get(testutil_fx.events, 0);
    ck_assert_uint_eq(evsrc_event_token(e), TOKEN);
    ck_assert(evsrc_event_is_readable(e));
    ck_assert(!evsrc_event_is_writable(e));
    /* One-shot: reported, then cleared. */
    ck_assert(!evsrc_deadline_is_set(&d));
    testutil_expect_no_events();
    ck_assert_int_eq(evsrc_registry_deregister_deadline(testutil_fx.registry, &d), 0);
}
END_TEST

START_TEST(a_wait_timeout_earlier_than_the_deadline_still_ends_it)
{
    struct evsrc_deadline d;
    register_deadline(&d, TOKEN, EVSRC_READABLE);
    set_in_ms(&d, 60000);
    ck_assert_int_eq(testutil_wait_ms(testutil_fx.poll, testutil_fx.events, 20), 0);
    ck_assert(evsrc_deadline_is_set(&d));
    /* And the zero timeout does not block. */
    ck_assert_int_eq(evsrc_poll_wait(testutil_fx.poll, testutil_fx.events, &(struct timespec){0, 0}), 0);
    ck_assert_int_eq(evsrc_poll_wait(testutil_fx.poll, testutil_fx.events, &(struct timespec){0, -1}), -EINVAL);
    ck_assert_int_eq(evsrc_deadline_clear(&d), 1);
    ck_assert_int_eq(evsrc_deadline_clear(&d), 0);
    ck_assert_int_eq(evsrc_registry_deregister_deadline(testutil_fx.registry, &d), 0);
}
END_TEST

START_TEST(interests_become_the_event_flags_and_reregister_changes_them)
{
    struct evsrc_deadline d;
    register_deadline(&d, TOKEN, EVSRC_WRITABLE);
    ck_assert_int_eq(evsrc_deadline_ready_again(&d), 0);
    uint32_t flags = testutil_expect_event(TOKEN);
    ck_assert_uint_eq(flags, EVSRC_EVENT_FLAG_OUT);
    ck_assert_int_eq(
        evsrc_registry_reregister_deadline(testutil_fx.registry, &d, OTHER, EVSRC_READABLE | EVSRC_PRIORITY), 0);
    ck_assert_int_eq(evsrc_deadline_ready_again(&d), 0);
    flags = testutil_expect_event(OTHER);
    ck_assert_uint_eq(flags, EVSRC_EVENT_FLAG_IN | EVSRC_EVENT_FLAG_PRI);
    ck_assert_int_eq(evsrc_registry_deregister_deadline(testutil_fx.registry, &d), 0);
}
END_TEST

START_TEST(deadlines_come_out_in_order_and_moves_count)
{
    struct evsrc_deadline d[4];
    for (int i = 0; i < 4; i++)
        register_deadline(&d[i], (evsrc_token)(100 + i), EVSRC_READABLE);
    long long base = now_ns();
    /* 3 at 40 ms, 1 at 10 ms, 0 moved from 5 ms to 30 ms, 2 set then cleared. */
    const struct timespec t3 = at_ns(base + 40000000LL), t1 = at_ns(base + 10000000LL);
    const struct timespec t0a = at_ns(base + 5000000LL), t0b = at_ns(base + 30000000LL);
    ck_assert_int_eq(evsrc_deadline_set(&d[3], &t3), 0);
    ck_assert_int_eq(evsrc_deadline_set(&d[1], &t1), 0);
    ck_assert_int_eq(evsrc_deadline_set(&d[0], &t0a), 0);
    ck_assert_int_eq(evsrc_deadline_set(&d[0], &t0b), 0);
    ck_assert_int_eq(evsrc_deadline_set(&d[2], &t1), 0);
    ck_assert_int_eq(evsrc_deadline_clear(&d[2]), 1);
    evsrc_token order[3];
    int got = 0;
    while (got < 3) {
        int n = testutil_wait_ms(testutil_fx.poll, testutil_fx.events, TESTUTIL_EVENT_DEADLINE_MS);
        ck_assert_int_gt(n, 0);
        for (int i = 0; i < n; i++) {
            ck_assert_int_lt(got, 3);
            order[got++] = evsrc_event_token(evsrc_events_get(testutil_fx.events, (size_t)i));
        }
    }
    ck_assert_uint_eq(order[0], 101);
    ck_assert_uint_eq(order[1], 100);
    ck_assert_uint_eq(order[2], 103);
    ck_assert_int_ge(now_ns(), base + 40000000LL);
    testutil_expect_no_events();
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(evsrc_registry_deregister_deadline(testutil_fx.registry, &d[i]), 0);
}
END_TEST

START_TEST(ready_again_shares_the_buffer_with_the_kernel)
{
    TESTUTIL_SKIP_ON_WINDOWS("a level-triggered AFD poll is re-armed asynchronously, so a zero-timeout wait need not see it again at once (docs/backends.md)");
    /* Capacity 2: a token put back as ready on every wait, and a pipe always readable (level). */
    struct testutil_fixture f = testutil_fixture_new(2);
    struct evsrc_deadline d = EVSRC_DEADLINE_INIT;
    ck_assert_int_eq(evsrc_registry_register_deadline(f.registry, &d, TOKEN, EVSRC_READABLE), 0);
    int fds[2];
    testutil_socketpair(fds);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert_int_eq(evsrc_registry_register_fd(f.registry, fds[0], OTHER, EVSRC_READABLE | EVSRC_LEVEL), 0);
    for (int round = 0; round < 20; round++) {
        ck_assert_int_eq(evsrc_deadline_ready_again(&d), 0);
        ck_assert_int_eq(evsrc_poll_wait(f.poll, f.events, NULL), 2);
        ck_assert(testutil_events_have(f.events, TOKEN));
        ck_assert(testutil_events_have(f.events, OTHER));
    }
    ck_assert_int_eq(evsrc_registry_deregister_fd(f.registry, fds[0]), 0);
    testutil_close_pair(fds);
    ck_assert_int_eq(evsrc_registry_deregister_deadline(f.registry, &d), 0);
    testutil_fixture_free(&f);
}
END_TEST

START_TEST(capacity_one_alternates_between_ready_again_and_the_kernel)
{
    TESTUTIL_SKIP_ON_WINDOWS("a level-triggered AFD poll is re-armed asynchronously, so a zero-timeout wait need not see it again at once (docs/backends.md)");
    struct testutil_fixture f = testutil_fixture_new(1);
    struct evsrc_deadline d = EVSRC_DEADLINE_INIT;
    ck_assert_int_eq(evsrc_registry_register_deadline(f.registry, &d, TOKEN, EVSRC_READABLE), 0);
    int fds[2];
    testutil_socketpair(fds);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert_int_eq(evsrc_registry_register_fd(f.registry, fds[0], OTHER, EVSRC_READABLE | EVSRC_LEVEL), 0);
    int seen[2] = {0, 0};
    for (int round = 0; round < 20; round++) {
        if (!evsrc_deadline_is_set(&d))
            ck_assert_int_eq(evsrc_deadline_ready_again(&d), 0);
        ck_assert_int_eq(evsrc_poll_wait(f.poll, f.events, NULL), 1);
        seen[evsrc_event_token(evsrc_events_get(f.events, 0)) == TOKEN]++;
    }
    /* Neither starves the other. */
    ck_assert_int_ge(seen[0], 9);
    ck_assert_int_ge(seen[1], 9);
    ck_assert_int_eq(evsrc_registry_deregister_fd(f.registry, fds[0]), 0);
    testutil_close_pair(fds);
    ck_assert_int_eq(evsrc_registry_deregister_deadline(f.registry, &d), 0);
    testutil_fixture_free(&f);
}
END_TEST

START_TEST(due_deadlines_beyond_the_capacity_wait_their_turn)
{
    struct testutil_fixture f = testutil_fixture_new(2);
    struct evsrc_deadline d[5];
    for (int i = 0; i < 5; i++) {
        evsrc_deadline_init(&d[i]);
        ck_assert_int_eq(evsrc_registry_register_deadline(f.registry, &d[i], (evsrc_token)i, EVSRC_READABLE), 0);
        ck_assert_int_eq(evsrc_deadline_ready_again(&d[i]), 0);
    }
    bool seen[5] = {false};
    int total = 0;
    while (total < 5) {
        int n = evsrc_poll_wait(f.poll, f.events, &(struct timespec){0, 0});
        ck_assert_int_gt(n, 0);
        for (int i = 0; i < n; i++) {
            evsrc_token t = evsrc_event_token(evsrc_events_get(f.events, (size_t)i));
            ck_assert_uint_lt(t, 5);
            ck_assert(!seen[t]);
            seen[t] = true;
            total++;
        }
    }
    ck_assert_int_eq(evsrc_poll_wait(f.poll, f.events, &(struct timespec){0, 0}), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(evsrc_registry_deregister_deadline(f.registry, &d[i]), 0);
    testutil_fixture_free(&f);
}
END_TEST

START_TEST(deregistered_and_closed_deadlines_report_nothing)
{
    struct evsrc_deadline d, e;
    register_deadline(&d, TOKEN, EVSRC_READABLE);
    register_deadline(&e, OTHER, EVSRC_READABLE);
    ck_assert_int_eq(evsrc_deadline_ready_again(&d), 0);
    ck_assert_int_eq(evsrc_deadline_ready_again(&e), 0);
    ck_assert_int_eq(evsrc_registry_deregister_deadline(testutil_fx.registry, &d), 0);
    ck_assert_int_eq(evsrc_deadline_close(&e), 1);
    ck_assert_int_eq(evsrc_deadline_close(&e), 0);
    testutil_expect_no_events();
    /* Both may be registered again, here or elsewhere. */
    ck_assert_int_eq(evsrc_registry_register_deadline(testutil_fx.registry, &e, OTHER, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_deadline_ready_again(&e), 0);
    testutil_expect_event(OTHER);
    ck_assert_int_eq(evsrc_deadline_close(&e), 1);
}
END_TEST

START_TEST(a_deadline_outlives_its_poll_and_a_clone_registers_into_the_poll)
{
    struct evsrc_poll *poll;
    struct evsrc_registry *clone;
    ck_assert_int_eq(evsrc_poll_new(&poll), 0);
    ck_assert_int_eq(evsrc_registry_try_clone(evsrc_poll_registry(poll), &clone), 0);
    struct evsrc_deadline d = EVSRC_DEADLINE_INIT;
    ck_assert_int_eq(evsrc_registry_register_deadline(clone, &d, TOKEN, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_deadline_ready_again(&d), 0);
    ck_assert(testutil_wait_token(poll, testutil_fx.events, TOKEN, NULL));
    ck_assert_int_eq(evsrc_deadline_ready_again(&d), 0);
    /* The poll and the clone go; the deadline still works (nothing waits) until it is closed. */
    evsrc_poll_free(poll);
    evsrc_registry_free(clone);
    set_in_ms(&d, 10);
    ck_assert(evsrc_deadline_is_set(&d));
    ck_assert_int_eq(evsrc_deadline_clear(&d), 1);
    ck_assert_int_eq(evsrc_deadline_close(&d), 1); /* frees the queue's last memory: ASan and valgrind see it */
}
END_TEST

struct mover {
    struct evsrc_deadline *deadline;
    struct evsrc_registry *registry;
    bool register_it;
    int done; /* atomic: the deadline is set */
};

static void *move_earlier(void *arg)
{
    struct mover *m = arg;
    /* Give the main thread time to block; correctness does not depend on it. */
    struct timespec pause = {0, 50000000L};
    nanosleep(&pause, NULL);
    if (m->register_it)
        ck_assert_int_eq(evsrc_registry_register_deadline(m->registry, m->deadline, TOKEN, EVSRC_READABLE), 0);
    long long at = now_ns() + 20000000LL;
    struct timespec ts = at_ns(at);
    ck_assert_int_eq(evsrc_deadline_set(m->deadline, &ts), 0);
    __atomic_store_n(&m->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* A wait blocked with no timeout (and a far deadline, or none at all) wakes for a deadline set from another thread. */
static void wait_woken_by(bool register_in_thread)
{
    struct evsrc_deadline d = EVSRC_DEADLINE_INIT;
    if (!register_in_thread) {
        ck_assert_int_eq(evsrc_registry_register_deadline(testutil_fx.registry, &d, TOKEN, EVSRC_READABLE), 0);
        set_in_ms(&d, 3600 * 1000L);
    }
    struct mover m = {&d, testutil_fx.registry, register_in_thread, 0};
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, move_earlier, &m), 0);
    /* Without a timeout: only the deadline (or a spurious event for its token) can end it. */
    bool due = false;
    for (int round = 0; round < 3 && !due; round++) {
        int n = evsrc_poll_wait(testutil_fx.poll, testutil_fx.events, NULL);
        ck_assert_int_eq(n, 1);
        ck_assert_uint_eq(evsrc_event_token(evsrc_events_get(testutil_fx.events, 0)), TOKEN);
        /* Reported (not a spurious wake-up for its registration or its move): set, then cleared. */
        due = __atomic_load_n(&m.done, __ATOMIC_ACQUIRE) && !evsrc_deadline_is_set(&d);
    }
    ck_assert(due);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    ck_assert_int_eq(evsrc_registry_deregister_deadline(testutil_fx.registry, &d), 0);
}

START_TEST(moving_a_deadline_earlier_from_another_thread_wakes_the_wait)
{
    wait_woken_by(false);
}
END_TEST

START_TEST(registering_the_first_deadline_from_another_thread_wakes_the_wait)
{
    wait_woken_by(true);
}
END_TEST

START_TEST(moving_a_deadline_later_reports_nothing_early)
{
    struct evsrc_deadline d;
    register_deadline(&d, TOKEN, EVSRC_READABLE);
    set_in_ms(&d, 20);
    long long later = set_in_ms(&d, 60);
    testutil_expect_event(TOKEN);
    ck_assert_int_ge(now_ns(), later);
    ck_assert_int_eq(evsrc_registry_deregister_deadline(testutil_fx.registry, &d), 0);
}
END_TEST

START_TEST(a_fork_child_gets_echild_and_may_register_with_its_own_poll)
{
    TESTUTIL_SKIP_ON_WINDOWS("no fork");
#if !defined(_WIN32)
    struct evsrc_deadline d;
    register_deadline(&d, TOKEN, EVSRC_READABLE);
    set_in_ms(&d, 10);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int status = 0;
        struct timespec ts = {0, 0};
        struct timespec left;
        if (evsrc_deadline_set(&d, &ts) != -ECHILD || evsrc_deadline_clear(&d) != -ECHILD ||
            evsrc_poll_wait(testutil_fx.poll, testutil_fx.events, &ts) != -ECHILD ||
            evsrc_poll_wait(testutil_fx.poll, testutil_fx.events, NULL) != -ECHILD ||
            evsrc_registry_register_deadline(testutil_fx.registry, &d, TOKEN, EVSRC_READABLE) != -ECHILD ||
            evsrc_registry_reregister_deadline(testutil_fx.registry, &d, TOKEN, EVSRC_READABLE) != -ECHILD ||
            evsrc_registry_deregister_deadline(testutil_fx.registry, &d) != -ECHILD ||
            evsrc_poll_next_timeout(testutil_fx.poll, &left) != -ECHILD || evsrc_poll_fd(testutil_fx.poll) != -ECHILD)
            status = 1;
        struct evsrc_poll *poll;
        struct evsrc_events *events;
        if (status == 0 && (evsrc_poll_new(&poll) < 0 || evsrc_events_new(4, &events) < 0))
            status = 2;
        if (status == 0) {
            /* Inherited, so unregistered here: it registers with the child's own poll. */
            if (evsrc_registry_register_deadline(evsrc_poll_registry(poll), &d, OTHER, EVSRC_READABLE) != 0 ||
                evsrc_deadline_ready_again(&d) != 0 || evsrc_poll_wait(poll, events, NULL) != 1 ||
                evsrc_event_token(evsrc_events_get(events, 0)) != OTHER)
                status = 3;
            evsrc_deadline_close(&d);
            evsrc_events_free(events);
            evsrc_poll_free(poll);
        }
        testutil_child_exit(status);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    /* The parent's deadline is untouched. */
    testutil_expect_event(TOKEN);
    ck_assert_int_eq(evsrc_registry_deregister_deadline(testutil_fx.registry, &d), 0);
#endif
}
END_TEST

START_TEST(many_deadlines_in_random_order)
{
    enum { COUNT = 500 };
    struct evsrc_deadline *d = calloc(COUNT, sizeof *d);
    ck_assert_ptr_nonnull(d);
    struct testutil_fixture f = testutil_fixture_new(64);
    long long base = now_ns() + 5000000LL;
    uint32_t seed = 12345;
    for (int i = 0; i < COUNT; i++) {
        evsrc_deadline_init(&d[i]);
        ck_assert_int_eq(evsrc_registry_register_deadline(f.registry, &d[i], (evsrc_token)i, EVSRC_READABLE), 0);
        seed = seed * 1103515245u + 12345u; /* a fixed sequence on every platform */
        long long at = base + (long long)((seed >> 16) % 20) * 1000000LL;
        struct timespec ts = at_ns(at);
        ck_assert_int_eq(evsrc_deadline_set(&d[i], &ts), 0);
    }
    /* A third cleared, a third moved earlier. */
    for (int i = 0; i < COUNT; i += 3)
        ck_assert_int_eq(evsrc_deadline_clear(&d[i]), 1);
    for (int i = 1; i < COUNT; i += 3) {
        struct timespec ts = at_ns(base - 1000000LL);
        ck_assert_int_eq(evsrc_deadline_set(&d[i], &ts), 0);
    }
    int expected = COUNT - (COUNT + 2) / 3, total = 0;
    long long last = 0;
    bool *seen = calloc(COUNT, sizeof *seen);
    ck_assert_ptr_nonnull(seen);
    while (total < expected) {
        int n = testutil_wait_ms(f.poll, f.events, TESTUTIL_EVENT_DEADLINE_MS);
        ck_assert_int_gt(n, 0);
        long long woke = now_ns();
        for (int i = 0; i < n; i++) {
            evsrc_token t = evsrc_event_token(evsrc_events_get(f.events, (size_t)i));
            ck_assert_uint_lt(t, COUNT);
            ck_assert(t % 3 != 0);
            ck_assert(!seen[t]);
            seen[t] = true;
            total++;
        }
        ck_assert_int_ge(woke, last);
        last = woke;
    }
    ck_assert_int_eq(evsrc_poll_wait(f.poll, f.events, &(struct timespec){0, 0}), 0);
    for (int i = 0; i < COUNT; i++)
        ck_assert_int_eq(evsrc_registry_deregister_deadline(f.registry, &d[i]), 0);
    testutil_fixture_free(&f);
    free(seen);
    free(d);
}
END_TEST

START_TEST(setting_a_deadline_with_no_wait_blocked_wakes_nothing)
{
    TESTUTIL_EPOLL_ONLY("a wake-up is seen through the poll's fd (evsrc_poll_fd), which this backend lacks");
    /*
     * No wait blocked, no outer loop waiting: setting and moving a deadline
     * writes nothing to the queue (a wake-up would make its fd readable,
     * and cost two system calls a move).
     */
    struct evsrc_deadline d;
    register_deadline(&d, TOKEN, EVSRC_READABLE);
    testutil_expect_no_events();
    struct pollfd queue = {.fd = evsrc_poll_fd(testutil_fx.poll), .events = POLLIN};
    for (int i = 0; i < 3; i++) {
        set_in_ms(&d, 3600 * 1000L - i);
        ck_assert_int_eq(poll(&queue, 1, 0), 0);
    }
    /* After evsrc_poll_next_timeout() an outer loop may wait on the fd: setting it earlier wakes that. */
    struct timespec left;
    ck_assert_int_eq(evsrc_poll_next_timeout(testutil_fx.poll, &left), 1);
    set_in_ms(&d, 1800 * 1000L);
    testutil_await_fd(queue.fd, POLLIN);
    /* The next wait takes the wake-up back: nothing to report, the deadline is still ahead. */
    testutil_expect_no_events();
    ck_assert_int_eq(poll(&queue, 1, 0), 0);
    ck_assert(evsrc_deadline_is_set(&d));
    ck_assert_int_eq(evsrc_registry_deregister_deadline(testutil_fx.registry, &d), 0);
}
END_TEST

START_TEST(a_deadline_registered_but_not_set_leaves_an_unbounded_wait_to_the_fds)
{
    struct evsrc_deadline d;
    register_deadline(&d, TOKEN, EVSRC_READABLE);
    int fds[2];
    testutil_socketpair(fds);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, fds[0], OTHER, EVSRC_READABLE), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    /* Deadline mode, nothing set, no timeout: the wait blocks without limit, and the fd ends it. */
    ck_assert_int_eq(evsrc_poll_wait(testutil_fx.poll, testutil_fx.events, NULL), 1);
    ck_assert_uint_eq(evsrc_event_token(evsrc_events_get(testutil_fx.events, 0)), OTHER);
    ck_assert_int_eq(evsrc_registry_deregister_fd(testutil_fx.registry, fds[0]), 0);
    testutil_close_pair(fds);
    ck_assert_int_eq(evsrc_registry_deregister_deadline(testutil_fx.registry, &d), 0);
}
END_TEST

START_TEST(another_queue_cannot_reregister_or_deregister_it)
{
    struct testutil_fixture other = testutil_fixture_new(4);
    struct evsrc_deadline d;
    register_deadline(&d, TOKEN, EVSRC_READABLE);
    ck_assert_int_eq(evsrc_registry_reregister_deadline(other.registry, &d, TOKEN, EVSRC_READABLE), -ENOENT);
    ck_assert_int_eq(evsrc_registry_deregister_deadline(other.registry, &d), -ENOENT);
    ck_assert_int_eq(evsrc_registry_register_deadline(other.registry, &d, TOKEN, EVSRC_READABLE), -EEXIST);
    ck_assert_int_eq(evsrc_registry_reregister_deadline(NULL, &d, TOKEN, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_registry_reregister_deadline(testutil_fx.registry, NULL, TOKEN, EVSRC_READABLE), -EINVAL);
    /* A clone of the right queue may. */
    struct evsrc_registry *clone;
    ck_assert_int_eq(evsrc_registry_try_clone(testutil_fx.registry, &clone), 0);
    ck_assert_int_eq(evsrc_registry_reregister_deadline(clone, &d, OTHER, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_deregister_deadline(clone, &d), 0);
    evsrc_registry_free(clone);
    testutil_fixture_free(&other);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("deadline");
    TCase *tc = testutil_add_tcase(suite, "deadline");
    tcase_add_test(tc, bad_arguments_are_refused);
    tcase_add_test(tc, a_deadline_is_reported_once_never_early);
    tcase_add_test(tc, a_wait_timeout_earlier_than_the_deadline_still_ends_it);
    tcase_add_test(tc, interests_become_the_event_flags_and_reregister_changes_them);
    tcase_add_test(tc, deadlines_come_out_in_order_and_moves_count);
    tcase_add_test(tc, ready_again_shares_the_buffer_with_the_kernel);
    tcase_add_test(tc, capacity_one_alternates_between_ready_again_and_the_kernel);
    tcase_add_test(tc, due_deadlines_beyond_the_capacity_wait_their_turn);
    tcase_add_test(tc, deregistered_and_closed_deadlines_report_nothing);
    tcase_add_test(tc, a_deadline_outlives_its_poll_and_a_clone_registers_into_the_poll);
    tcase_add_test(tc, moving_a_deadline_earlier_from_another_thread_wakes_the_wait);
    tcase_add_test(tc, registering_the_first_deadline_from_another_thread_wakes_the_wait);
    tcase_add_test(tc, moving_a_deadline_later_reports_nothing_early);
    tcase_add_test(tc, a_fork_child_gets_echild_and_may_register_with_its_own_poll);
    tcase_add_test(tc, many_deadlines_in_random_order);
    tcase_add_test(tc, setting_a_deadline_with_no_wait_blocked_wakes_nothing);
    tcase_add_test(tc, a_deadline_registered_but_not_set_leaves_an_unbounded_wait_to_the_fds);
    tcase_add_test(tc, another_queue_cannot_reregister_or_deregister_it);
    return testutil_run(suite);
}
