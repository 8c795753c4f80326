/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

START_TEST(new_and_free)
{
    int before = testutil_open_fds();
    struct evsrc_poll *poll = NULL;
    ck_assert_int_eq(evsrc_poll_new(&poll), 0);
    ck_assert_ptr_nonnull(poll);
    /*
     * On Windows a queue holds the backend's own handles (a completion port,
     * AFD's), and Wine counts no handles: there only that none leaks is checked.
     */
    if (!TESTUTIL_WINDOWS)
        ck_assert_int_eq(testutil_open_fds(), before + 1);
    evsrc_poll_free(poll);
    evsrc_poll_free(NULL);
    ck_assert_int_eq(testutil_open_fds(), before);
    ck_assert_int_eq(evsrc_poll_new(NULL), -EINVAL);
    ck_assert_ptr_null(evsrc_poll_registry(NULL));
}
END_TEST

/* The queue fd must not leak into exec'd children, and is non-blocking like every fd the library makes. */
START_TEST(queue_fd_is_close_on_exec_and_non_blocking)
{
    TESTUTIL_EPOLL_ONLY("it looks for the epoll fd (the poll backend's eventfd is checked by waker and fork tests)");
    struct evsrc_poll *poll;
    ck_assert_int_eq(evsrc_poll_new(&poll), 0);
    int found = 0;
    for (int fd = 0; fd < 1024; fd++) {
        char path[64], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        if (strstr(target, "eventpoll")) {
            found++;
            ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
            ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
        }
    }
    ck_assert_int_eq(found, 1);
    evsrc_poll_free(poll);
}
END_TEST

START_TEST(wait_rejects_bad_arguments)
{
    struct testutil_fixture f = testutil_fixture_new(4);
    struct timespec zero = {0, 0};
    ck_assert_int_eq(evsrc_poll_wait(NULL, f.events, &zero), -EINVAL);
    ck_assert_int_eq(evsrc_poll_wait(f.poll, NULL, &zero), -EINVAL);
    const struct timespec bad[] = {{-1, 0}, {0, -1}, {0, 1000000000L}, {1, 2000000000L}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(evsrc_poll_wait(f.poll, f.events, &bad[i]), -EINVAL);
    ck_assert_uint_eq(evsrc_events_len(f.events), 0);
    testutil_fixture_free(&f);
}
END_TEST

/* Every failed wait leaves the buffer empty, whatever it held before. */
START_TEST(failed_wait_empties_the_buffer)
{
    struct testutil_fixture f = testutil_fixture_new(4);
    int p[2];
    testutil_channel(p);
    ck_assert_int_eq(evsrc_registry_register_fd(f.registry, p[0], 1, EVSRC_READABLE | EVSRC_LEVEL), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    const struct timespec bad = {0, -1};
    ck_assert(testutil_wait_token(f.poll, f.events, 1, NULL));
    ck_assert_int_eq(evsrc_poll_wait(NULL, f.events, NULL), -EINVAL);
    ck_assert_uint_eq(evsrc_events_len(f.events), 0);
    ck_assert(testutil_wait_token(f.poll, f.events, 1, NULL));
    ck_assert_int_eq(evsrc_poll_wait(f.poll, f.events, &bad), -EINVAL);
    ck_assert_uint_eq(evsrc_events_len(f.events), 0);
    testutil_close_pair(p);
    testutil_fixture_free(&f);
}
END_TEST

START_TEST(timeouts_return_zero_when_nothing_is_ready)
{
    struct testutil_fixture f = testutil_fixture_new(4);
    /* Zero, sub-millisecond, odd nanoseconds, whole milliseconds, and the largest valid nanoseconds. */
    const struct timespec timeouts[] = {{0, 0}, {0, 1}, {0, 1000}, {0, 1500000}, {0, 20000000}, {0, 999999999}};
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++)
        ck_assert_int_eq(evsrc_poll_wait(f.poll, f.events, &timeouts[i]), 0);
    ck_assert_uint_eq(evsrc_events_len(f.events), 0);
    testutil_fixture_free(&f);
}
END_TEST

/* The largest time_t: 2^31 - 1 where it has 32 bits (i386), 2^63 - 1 where it has 64. */
#define TEST_TIME_T_MAX ((time_t)(((uint64_t)1 << (sizeof(time_t) * CHAR_BIT - 1)) - 1))

/* A huge timeout is valid: the pipe is ready, so it returns at once. */
/*
 * Where epoll_pwait2 is refused (EPERM under a seccomp profile) or missing
 * (ENOSYS), sub-millisecond timeouts fall back to epoll_wait, every time.
 * The library's internal test hook simulates the answer on its first call;
 * each test runs in its own process, so each probes afresh.
 */
static void sub_millisecond_waits_survive(const char *simulated)
{
#if !defined(_WIN32)
    ck_assert_int_eq(setenv("EVSRC_TEST_EPOLL_PWAIT2", simulated, 1), 0);
    struct testutil_fixture f = testutil_fixture_new(4);
    struct timespec short_wait = {0, 1000};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(evsrc_poll_wait(f.poll, f.events, &short_wait), 0);
    int fds[2];
    testutil_channel(fds);
    ck_assert_int_eq(evsrc_registry_register_fd(f.registry, fds[0], 5, EVSRC_READABLE), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    struct timespec long_wait = {TESTUTIL_EVENT_DEADLINE_MS / 1000, 1000};
    ck_assert_int_eq(evsrc_poll_wait(f.poll, f.events, &long_wait), 1);
    testutil_close_pair(fds);
    testutil_fixture_free(&f);
    unsetenv("EVSRC_TEST_EPOLL_PWAIT2");
#else
    (void)simulated;
#endif
}

START_TEST(pwait2_refused_with_eperm_falls_back)
{
    TESTUTIL_SKIP_ON_WINDOWS("epoll_pwait2 and its test hook are Linux's");
    sub_millisecond_waits_survive("EPERM");
}
END_TEST

START_TEST(pwait2_missing_with_enosys_falls_back)
{
    TESTUTIL_SKIP_ON_WINDOWS("epoll_pwait2 and its test hook are Linux's");
    sub_millisecond_waits_survive("ENOSYS");
}
END_TEST

/* The test hook takes only its two values: anything else leaves epoll_pwait2 to answer for itself. */
START_TEST(pwait2_hook_ignores_other_values)
{
    TESTUTIL_SKIP_ON_WINDOWS("epoll_pwait2 and its test hook are Linux's");
    sub_millisecond_waits_survive("EAGAIN");
}
END_TEST

START_TEST(huge_timeouts_are_valid)
{
    struct testutil_fixture f = testutil_fixture_new(4);
    int p[2];
    testutil_channel(p);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(evsrc_registry_register_fd(f.registry, p[0], 1, EVSRC_READABLE | EVSRC_LEVEL), 0);
    const struct timespec timeouts[] = {{INT32_MAX, 0}, {INT32_MAX, 999999999}, {TEST_TIME_T_MAX, 1}};
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++)
        ck_assert_int_eq(evsrc_poll_wait(f.poll, f.events, &timeouts[i]), 1);
    testutil_close_pair(p);
    testutil_fixture_free(&f);
}
END_TEST

START_TEST(null_timeout_waits_until_ready)
{
    struct testutil_fixture f = testutil_fixture_new(4);
    int p[2];
    testutil_channel(p);
    ck_assert_int_eq(evsrc_registry_register_fd(f.registry, p[0], 77, EVSRC_READABLE), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(evsrc_poll_wait(f.poll, f.events, NULL), 1);
    ck_assert_uint_eq(evsrc_event_token(evsrc_events_get(f.events, 0)), 77);
    testutil_close_pair(p);
    testutil_fixture_free(&f);
}
END_TEST

/* Edge-triggered by default: one event per change, none while data merely remains. */
START_TEST(edge_triggered_until_drained)
{
    struct testutil_fixture f = testutil_fixture_new(4);
    int p[2];
    char buf[16];
    testutil_channel(p);
    ck_assert_int_eq(evsrc_registry_register_fd(f.registry, p[0], 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(write(p[1], "abc", 3), 3);
    ck_assert(testutil_wait_token(f.poll, f.events, 1, NULL));
    ck_assert_int_eq(read(p[0], buf, 1), 1); /* partial read: no new event is owed */
    ck_assert_int_eq(testutil_wait_ms(f.poll, f.events, TESTUTIL_QUIET_MS), 0);
    ck_assert_int_eq(read(p[0], buf, sizeof buf), 2);
    ck_assert_int_eq(read(p[0], buf, sizeof buf), -1); /* drained: -EAGAIN */
    testutil_rearm_fd(f.registry, p[0], 1, EVSRC_READABLE);
    ck_assert_int_eq(write(p[1], "d", 1), 1); /* new data: a new edge */
    ck_assert(testutil_wait_token(f.poll, f.events, 1, NULL));
    testutil_close_pair(p);
    testutil_fixture_free(&f);
}
END_TEST

/*
 * A hang-up is one edge: reported once, then silent while nothing changes,
 * so a waiting thread never spins on it (poll(2) reports hang-ups whatever it
 * is asked for; the poll backend must keep the fd out of its set).
 */
START_TEST(hang_up_is_reported_once)
{
    struct testutil_fixture f = testutil_fixture_new(4);
    int p[2];
    testutil_channel(p);
    ck_assert_int_eq(evsrc_registry_register_fd(f.registry, p[0], 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(close(p[1]), 0);
    uint32_t flags = 0;
    ck_assert(testutil_wait_token(f.poll, f.events, 1, &flags));
#if defined(_WIN32)
    /* The channel is a socket there: the peer's close is a read hang-up (a half-close), as for a socket on Linux. */
    ck_assert(flags & EVSRC_EVENT_FLAG_RDHUP);
#else
    ck_assert(flags & EVSRC_EVENT_FLAG_HUP);
#endif
    ck_assert_int_eq(testutil_wait_ms(f.poll, f.events, TESTUTIL_QUIET_MS), 0);
    ck_assert_int_eq(evsrc_registry_deregister_fd(f.registry, p[0]), 0);
    ck_assert_int_eq(close(p[0]), 0);
    testutil_fixture_free(&f);
}
END_TEST

/* More ready fds than slots: each wait returns at most capacity, and the rest come next. */
START_TEST(small_buffer_returns_the_rest_next_time)
{
    struct testutil_fixture f = testutil_fixture_new(2);
    int p[5][2];
    for (int i = 0; i < 5; i++) {
        testutil_channel(p[i]);
        ck_assert_int_eq(evsrc_registry_register_fd(f.registry, p[i][0], (evsrc_token)i, EVSRC_READABLE), 0);
        ck_assert_int_eq(write(p[i][1], "x", 1), 1);
    }
    bool seen[5] = {false};
    int total = 0;
    for (int round = 0; round < 100 && total < 5; round++) {
        struct timespec timeout = {0, 100000000L};
        int n = evsrc_poll_wait(f.poll, f.events, &timeout);
        ck_assert_int_ge(n, 0);
        ck_assert_int_le(n, 2);
        for (int i = 0; i < n; i++) {
            evsrc_token token = evsrc_event_token(evsrc_events_get(f.events, (size_t)i));
            ck_assert_uint_lt(token, 5);
            ck_assert(!seen[token]);
            seen[token] = true;
            total++;
        }
    }
    ck_assert_int_eq(total, 5);
    for (int i = 0; i < 5; i++) {
        testutil_close_pair(p[i]);
    }
    testutil_fixture_free(&f);
}
END_TEST

static atomic_int signals_seen;
static void on_signal(int signo)
{
    (void)signo;
    atomic_fetch_add(&signals_seen, 1);
}

struct signaller {
    pthread_t target;
    atomic_bool stop;
};

static void *send_signals(void *arg)
{
    struct signaller *s = arg;
    while (!atomic_load(&s->stop)) {
        pthread_kill(s->target, SIGUSR1);
        usleep(1000);
    }
    return NULL;
}

/* A signal interrupts a wait with -EINTR (as mio does), and the next wait still sees the event. */
START_TEST(signal_gives_eintr_and_loses_nothing)
{
    TESTUTIL_SKIP_ON_WINDOWS("no POSIX signals to interrupt a wait");
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal; /* no SA_RESTART: epoll_wait is never restarted anyway */
    sigemptyset(&action.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &action, NULL), 0);

    struct testutil_fixture f = testutil_fixture_new(4);
    struct signaller s = {.target = pthread_self(), .stop = false};
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, send_signals, &s), 0);
    int r = evsrc_poll_wait(f.poll, f.events, NULL);
    ck_assert_int_eq(r, -EINTR);
    ck_assert_uint_eq(evsrc_events_len(f.events), 0);

    int p[2];
    testutil_channel(p);
    ck_assert_int_eq(evsrc_registry_register_fd(f.registry, p[0], 3, EVSRC_READABLE), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    bool seen = false;
    for (int i = 0; i < 100000 && !seen; i++) {
        r = evsrc_poll_wait(f.poll, f.events, NULL);
        ck_assert(r == 1 || r == -EINTR);
        seen = r == 1 && evsrc_event_token(evsrc_events_get(f.events, 0)) == 3;
    }
    ck_assert(seen);
    atomic_store(&s.stop, true);
    pthread_join(thread, NULL);
    ck_assert_int_gt(atomic_load(&signals_seen), 0);
    testutil_close_pair(p);
    testutil_fixture_free(&f);
}
END_TEST

/* The poll's registrations end with it; the fds stay open and usable. */
/*
 * Two LEVEL fds always ready and a buffer of one: both are reported within a
 * few waits, as epoll rotates its ready list (issue 20: the poll backend
 * reported the lower fd every time).
 */
START_TEST(full_buffer_rotates_between_ready_fds)
{
    struct testutil_fixture f = testutil_fixture_new(1);
    int p[2][2];
    for (int i = 0; i < 2; i++) {
        testutil_channel(p[i]);
        ck_assert_int_eq(write(p[i][1], "x", 1), 1);
        ck_assert_int_eq(
            evsrc_registry_register_fd(f.registry, p[i][0], (evsrc_token)i, EVSRC_READABLE | EVSRC_LEVEL), 0);
    }
    int seen[2] = {0, 0};
    for (int round = 0; round < 10; round++) {
        struct timespec timeout = {TESTUTIL_EVENT_DEADLINE_MS / 1000, 0};
        ck_assert_int_eq(evsrc_poll_wait(f.poll, f.events, &timeout), 1);
        evsrc_token token = evsrc_event_token(evsrc_events_get(f.events, 0));
        ck_assert_uint_lt(token, 2);
        seen[token]++;
    }
    ck_assert_int_ge(seen[0], 1);
    ck_assert_int_ge(seen[1], 1);
    for (int i = 0; i < 2; i++)
        testutil_close_pair(p[i]);
    testutil_fixture_free(&f);
}
END_TEST

START_TEST(free_leaves_sources_open)
{
    struct testutil_fixture f = testutil_fixture_new(4);
    int p[2];
    testutil_channel(p);
    ck_assert_int_eq(evsrc_registry_register_fd(f.registry, p[0], 1, EVSRC_READABLE), 0);
    testutil_fixture_free(&f);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    /* And a new poll can take the fd. */
    f = testutil_fixture_new(4);
    ck_assert_int_eq(evsrc_registry_register_fd(f.registry, p[0], 2, EVSRC_READABLE), 0);
    ck_assert_int_eq(write(p[1], "y", 1), 1);
    ck_assert(testutil_wait_token(f.poll, f.events, 2, NULL));
    testutil_close_pair(p);
    testutil_fixture_free(&f);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("poll");
    TCase *tc = tcase_create("poll");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, new_and_free);
    tcase_add_test(tc, queue_fd_is_close_on_exec_and_non_blocking);
    tcase_add_test(tc, wait_rejects_bad_arguments);
    tcase_add_test(tc, failed_wait_empties_the_buffer);
    tcase_add_test(tc, timeouts_return_zero_when_nothing_is_ready);
    tcase_add_test(tc, huge_timeouts_are_valid);
    tcase_add_test(tc, null_timeout_waits_until_ready);
    tcase_add_test(tc, edge_triggered_until_drained);
    tcase_add_test(tc, hang_up_is_reported_once);
    tcase_add_test(tc, small_buffer_returns_the_rest_next_time);
    tcase_add_test(tc, signal_gives_eintr_and_loses_nothing);
    tcase_add_test(tc, free_leaves_sources_open);
    tcase_add_test(tc, full_buffer_rotates_between_ready_fds);
    tcase_add_test(tc, pwait2_refused_with_eperm_falls_back);
    tcase_add_test(tc, pwait2_missing_with_enosys_falls_back);
    tcase_add_test(tc, pwait2_hook_ignores_other_values);
    suite_add_tcase(suite, tc);
    return testutil_run(suite);
}
