/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <evsrc/timerfd.h>

#include "testutil.h"

static struct timespec ms(long milliseconds)
{
    return (struct timespec){milliseconds / 1000, (milliseconds % 1000) * 1000000L};
}

static long long ns_of(struct timespec ts)
{
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void wait_fired(evsrc_token token)
{
    ck_assert(testutil_expect_event(token) & EVSRC_EVENT_FLAG_IN);
}

static void sleep_ms(long milliseconds)
{
    struct timespec left = ms(milliseconds);
    while (nanosleep(&left, &left) < 0 && errno == EINTR) {
    }
}

/* A new timer on `clock`, registered for reading under `token`. */
static void new_registered(struct evsrc_timerfd *timer, clockid_t clock, evsrc_token token)
{
    ck_assert_int_eq(evsrc_timerfd_new(timer, clock), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &timer->source, token, EVSRC_READABLE), 0);
}

/* Reads the timer, which must have expired, and returns how many times it did. */
static uint64_t read_expirations(struct evsrc_timerfd *timer)
{
    uint64_t expirations = 0;
    ck_assert_int_eq(evsrc_timerfd_read(timer, &expirations), 0);
    return expirations;
}

static void assert_disarmed(const struct evsrc_timerfd *timer)
{
    struct timespec remaining = {1, 1}, interval = {1, 1};
    ck_assert_int_eq(evsrc_timerfd_get(timer, &remaining, &interval), 0);
    ck_assert_int_eq(ns_of(remaining), 0);
    ck_assert_int_eq(ns_of(interval), 0);
}

START_TEST(new_makes_disarmed_nonblocking_cloexec_timer)
{
    ck_assert_uint_le(sizeof(struct evsrc_timerfd), 32);
    const clockid_t clocks[] = {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME};
    for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        struct evsrc_timerfd timer;
        memset(&timer, 0xff, sizeof timer);
        ck_assert_int_eq(evsrc_timerfd_new(&timer, clocks[i]), 0);
        int fd = evsrc_timerfd_fd(&timer);
        ck_assert_int_ge(fd, 0);
        ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
        ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        assert_disarmed(&timer);
        uint64_t expirations = 77;
        ck_assert_int_eq(evsrc_timerfd_read(&timer, &expirations), -EAGAIN);
        ck_assert_uint_eq(expirations, 77);
        /* Filled with 0xff before, yet registrable: new reset the registration record. */
        ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &timer.source, i, EVSRC_READABLE), 0);
        ck_assert_int_eq(evsrc_timerfd_close(&timer), 0);
        ck_assert(!testutil_fd_is_open(fd));
    }
}
END_TEST

START_TEST(one_shot_fires_once)
{
    const clockid_t clocks[] = {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME};
    const struct timespec zero = {0, 0};
    for (size_t i = 0; i < 6; i++) {
        struct evsrc_timerfd timer;
        new_registered(&timer, clocks[i % 3], 1);
        struct timespec initial = ms(20);
        /* One-shot both ways: no interval, and a zero interval. */
        ck_assert_int_eq(evsrc_timerfd_set(&timer, &initial, i < 3 ? NULL : &zero, 0), 0);
        wait_fired(1);
        ck_assert_uint_eq(read_expirations(&timer), 1);
        testutil_expect_quiet(1);
        uint64_t expirations;
        ck_assert_int_eq(evsrc_timerfd_read(&timer, &expirations), -EAGAIN);
        assert_disarmed(&timer);
        ck_assert_int_eq(evsrc_timerfd_close(&timer), 0);
    }
}
END_TEST

START_TEST(periodic_counts_missed_expirations)
{
    struct evsrc_timerfd timer;
    new_registered(&timer, CLOCK_MONOTONIC, 2);
    struct timespec period = ms(10);
    ck_assert_int_eq(evsrc_timerfd_set(&timer, &period, &period, 0), 0);
    wait_fired(2);
    /* Sleep through ten periods; all are counted at the next read. */
    sleep_ms(100);
    ck_assert_uint_ge(read_expirations(&timer), 2);
    /* Reading re-arms it: it keeps firing. */
    wait_fired(2);
    ck_assert_uint_ge(read_expirations(&timer), 1);
    ck_assert_int_eq(evsrc_timerfd_close(&timer), 0);
}
END_TEST

/* This Linux behaviour is why the docs say to read the timer on every event. */
START_TEST(unread_periodic_timer_gives_no_new_edge)
{
    struct evsrc_timerfd timer;
    new_registered(&timer, CLOCK_MONOTONIC, 3);
    struct timespec period = ms(10);
    ck_assert_int_eq(evsrc_timerfd_set(&timer, &period, &period, 0), 0);
    wait_fired(3);
    /* Ten periods pass unread, and no event comes. */
    testutil_expect_quiet(3);
    testutil_expect_quiet(3);
    ck_assert_uint_ge(read_expirations(&timer), 2);
    wait_fired(3);
    ck_assert_int_eq(evsrc_timerfd_close(&timer), 0);
}
END_TEST

START_TEST(abstime_deadlines)
{
    const clockid_t clocks[] = {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME};
    for (size_t i = 0; i < 3; i++) {
        struct evsrc_timerfd timer;
        new_registered(&timer, clocks[i], 4);
        struct timespec now;
        ck_assert_int_eq(clock_gettime(clocks[i], &now), 0);

        /* Far ahead: armed, reported as time remaining. */
        struct timespec later = {now.tv_sec + 3600, now.tv_nsec};
        ck_assert_int_eq(evsrc_timerfd_set(&timer, &later, NULL, EVSRC_TIMERFD_ABSTIME), 0);
        struct timespec remaining;
        ck_assert_int_eq(evsrc_timerfd_get(&timer, &remaining, NULL), 0);
        ck_assert_int_gt(ns_of(remaining), 0);
        ck_assert_int_le(ns_of(remaining), 3600LL * 1000000000LL);
        testutil_expect_quiet(4);

        /* Shortly ahead: fires once. */
        struct timespec soon = {now.tv_sec, now.tv_nsec + 30000000L};
        if (soon.tv_nsec >= 1000000000L) {
            soon.tv_sec++;
            soon.tv_nsec -= 1000000000L;
        }
        ck_assert_int_eq(evsrc_timerfd_set(&timer, &soon, NULL, EVSRC_TIMERFD_ABSTIME), 0);
        wait_fired(4);
        ck_assert_uint_eq(read_expirations(&timer), 1);

        /* Already past: fires at once. */
        ck_assert_int_eq(evsrc_timerfd_set(&timer, &now, NULL, EVSRC_TIMERFD_ABSTIME), 0);
        wait_fired(4);
        ck_assert_uint_eq(read_expirations(&timer), 1);
        ck_assert_int_eq(evsrc_timerfd_close(&timer), 0);
    }
}
END_TEST

START_TEST(get_returns_remaining_and_interval)
{
    struct evsrc_timerfd timer;
    ck_assert_int_eq(evsrc_timerfd_new(&timer, CLOCK_MONOTONIC), 0);
    struct timespec initial = {10, 0}, period = {3, 250000000L};
    ck_assert_int_eq(evsrc_timerfd_set(&timer, &initial, &period, 0), 0);
    struct timespec remaining = {0, 0}, interval = {0, 0};
    ck_assert_int_eq(evsrc_timerfd_get(&timer, &remaining, &interval), 0);
    ck_assert_int_gt(ns_of(remaining), 0);
    ck_assert_int_le(ns_of(remaining), ns_of(initial));
    ck_assert_int_eq(interval.tv_sec, 3);
    ck_assert_int_eq(interval.tv_nsec, 250000000L);

    /* Either value may be left out. */
    interval = (struct timespec){0, 0};
    ck_assert_int_eq(evsrc_timerfd_get(&timer, NULL, &interval), 0);
    ck_assert_int_eq(ns_of(interval), ns_of(period));
    ck_assert_int_eq(evsrc_timerfd_get(&timer, &remaining, NULL), 0);
    ck_assert_int_gt(ns_of(remaining), 0);
    ck_assert_int_eq(evsrc_timerfd_get(&timer, NULL, NULL), 0);
    ck_assert_int_eq(evsrc_timerfd_close(&timer), 0);
}
END_TEST

START_TEST(disarm_stops_the_timer)
{
    struct evsrc_timerfd timer;
    new_registered(&timer, CLOCK_MONOTONIC, 5);
    const struct timespec soon = ms(50), period = ms(10), zero = {0, 0};

    ck_assert_int_eq(evsrc_timerfd_set(&timer, &soon, &period, 0), 0);
    ck_assert_int_eq(evsrc_timerfd_set(&timer, NULL, NULL, 0), 0);
    assert_disarmed(&timer);
    testutil_expect_quiet(5);
    uint64_t expirations;
    ck_assert_int_eq(evsrc_timerfd_read(&timer, &expirations), -EAGAIN);

    /* A zero initial disarms too, and the period given with it is not kept. */
    ck_assert_int_eq(evsrc_timerfd_set(&timer, &soon, &period, 0), 0);
    ck_assert_int_eq(evsrc_timerfd_set(&timer, &zero, &period, 0), 0);
    assert_disarmed(&timer);
    testutil_expect_quiet(5);
    ck_assert_int_eq(evsrc_timerfd_read(&timer, &expirations), -EAGAIN);

    /* Expiries not yet read are dropped by disarming. */
    ck_assert_int_eq(evsrc_timerfd_set(&timer, &period, NULL, 0), 0);
    wait_fired(5);
    ck_assert_int_eq(evsrc_timerfd_set(&timer, NULL, NULL, 0), 0);
    ck_assert_int_eq(evsrc_timerfd_read(&timer, &expirations), -EAGAIN);
    ck_assert_int_eq(evsrc_timerfd_close(&timer), 0);
}
END_TEST

START_TEST(each_timer_reports_its_own_token)
{
    struct evsrc_timerfd soon, late;
    new_registered(&soon, CLOCK_MONOTONIC, 6);
    new_registered(&late, CLOCK_MONOTONIC, 7);
    const struct timespec in_20ms = ms(20), in_an_hour = {3600, 0};
    ck_assert_int_eq(evsrc_timerfd_set(&late, &in_an_hour, NULL, 0), 0);
    ck_assert_int_eq(evsrc_timerfd_set(&soon, &in_20ms, NULL, 0), 0);
    wait_fired(6);
    ck_assert(!testutil_events_have(testutil_fx.events, 7));
    testutil_expect_quiet(7);
    ck_assert_int_eq(evsrc_timerfd_close(&soon), 0);
    ck_assert_int_eq(evsrc_timerfd_close(&late), 0);
}
END_TEST

START_TEST(deregistered_timer_reports_nothing)
{
    struct evsrc_timerfd timer;
    new_registered(&timer, CLOCK_MONOTONIC, 8);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &timer.source), 0);
    const struct timespec in_10ms = ms(10);
    ck_assert_int_eq(evsrc_timerfd_set(&timer, &in_10ms, &in_10ms, 0), 0);
    testutil_expect_no_events();
    ck_assert_uint_ge(read_expirations(&timer), 1);
    ck_assert_int_eq(evsrc_timerfd_close(&timer), 0);
}
END_TEST

START_TEST(bad_clocks_are_einval)
{
    const clockid_t clocks[] = {-1, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, CLOCK_MONOTONIC_RAW,
                                CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_REALTIME_ALARM,
                                CLOCK_BOOTTIME_ALARM, CLOCK_TAI, 12345};
    for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        struct evsrc_timerfd timer;
        memset(&timer, 0xff, sizeof timer);
        ck_assert_int_eq(evsrc_timerfd_new(&timer, clocks[i]), -EINVAL);
        ck_assert_int_eq(evsrc_timerfd_close(&timer), -EBADF);
    }
}
END_TEST

START_TEST(out_of_fds_is_emfile)
{
    struct evsrc_timerfd timer;
    memset(&timer, 0xff, sizeof timer);
    struct rlimit old = testutil_exhaust_fds();
    int r = evsrc_timerfd_new(&timer, CLOCK_MONOTONIC);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_eq(r, -EMFILE);
    ck_assert_int_eq(evsrc_timerfd_close(&timer), -EBADF);
}
END_TEST

START_TEST(null_arguments_are_einval)
{
    const struct timespec second = {1, 0};
    uint64_t expirations = 0;
    struct timespec ts;
    ck_assert_int_eq(evsrc_timerfd_new(NULL, CLOCK_MONOTONIC), -EINVAL);
    ck_assert_int_eq(evsrc_timerfd_from_fd(NULL, 0), -EINVAL);
    ck_assert_int_eq(evsrc_timerfd_set(NULL, &second, NULL, 0), -EINVAL);
    ck_assert_int_eq(evsrc_timerfd_read(NULL, &expirations), -EINVAL);
    ck_assert_int_eq(evsrc_timerfd_get(NULL, &ts, &ts), -EINVAL);
    ck_assert_int_eq(evsrc_timerfd_fd(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_timerfd_close(NULL), -EINVAL);

    struct evsrc_timerfd timer;
    ck_assert_int_eq(evsrc_timerfd_new(&timer, CLOCK_MONOTONIC), 0);
    ck_assert_int_eq(evsrc_timerfd_read(&timer, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_timerfd_close(&timer), 0);
}
END_TEST

START_TEST(bad_settings_are_einval_and_change_nothing)
{
    struct evsrc_timerfd timer;
    ck_assert_int_eq(evsrc_timerfd_new(&timer, CLOCK_MONOTONIC), 0);
    const struct timespec initial = {100, 0}, period = {7, 0};
    ck_assert_int_eq(evsrc_timerfd_set(&timer, &initial, &period, 0), 0);

    const struct timespec bad[] = {{-1, 0}, {0, -1}, {0, 1000000000L}, {1, 1000000000L}, {-1, -1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(evsrc_timerfd_set(&timer, &bad[i], NULL, 0), -EINVAL);
        ck_assert_int_eq(evsrc_timerfd_set(&timer, &initial, &bad[i], 0), -EINVAL);
        ck_assert_int_eq(evsrc_timerfd_set(&timer, NULL, &bad[i], 0), -EINVAL);
        ck_assert_int_eq(evsrc_timerfd_set(&timer, &bad[i], NULL, EVSRC_TIMERFD_ABSTIME), -EINVAL);
    }
    const int bad_flags[] = {2, 4, -1, 0x100, EVSRC_TIMERFD_ABSTIME | 0x8000, (int)0x80000000u};
    for (size_t i = 0; i < sizeof bad_flags / sizeof bad_flags[0]; i++)
        ck_assert_int_eq(evsrc_timerfd_set(&timer, &initial, NULL, bad_flags[i]), -EINVAL);

    struct timespec remaining, interval;
    ck_assert_int_eq(evsrc_timerfd_get(&timer, &remaining, &interval), 0);
    ck_assert_int_gt(ns_of(remaining), 0);
    ck_assert_int_eq(ns_of(interval), ns_of(period));
    ck_assert_int_eq(evsrc_timerfd_close(&timer), 0);
}
END_TEST

START_TEST(closed_timer_is_ebadf)
{
    struct evsrc_timerfd timer;
    new_registered(&timer, CLOCK_MONOTONIC, 9);
    int fd = evsrc_timerfd_fd(&timer);
    ck_assert_int_eq(evsrc_timerfd_close(&timer), 0);

    const struct timespec second = {1, 0};
    uint64_t expirations;
    struct timespec ts;
    ck_assert_int_eq(evsrc_timerfd_set(&timer, &second, NULL, 0), -EBADF);
    ck_assert_int_eq(evsrc_timerfd_read(&timer, &expirations), -EBADF);
    ck_assert_int_eq(evsrc_timerfd_get(&timer, &ts, &ts), -EBADF);
    ck_assert_int_eq(evsrc_timerfd_fd(&timer), -EBADF);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &timer.source, 9, EVSRC_READABLE), -EBADF);

    /* Another file at the old number survives a second close. */
    int other = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(other, 0);
    if (other != fd) {
        ck_assert_int_eq(dup3(other, fd, O_CLOEXEC), fd);
        close(other);
    }
    ck_assert_int_eq(evsrc_timerfd_close(&timer), -EBADF);
    ck_assert(testutil_fd_is_open(fd));
    close(fd);

    /* A closed timer can be made anew. */
    new_registered(&timer, CLOCK_MONOTONIC, 9);
    ck_assert_int_eq(evsrc_timerfd_close(&timer), 0);
}
END_TEST

/* A failed constructor leaves the timer closed, whatever fd the struct held before. */
START_TEST(failed_setup_leaves_timer_closed)
{
    int spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(spare, 0);
    struct evsrc_timerfd timer;
    memset(&timer, 0, sizeof timer);
    timer.fd = spare;
    ck_assert_int_eq(evsrc_timerfd_new(&timer, CLOCK_PROCESS_CPUTIME_ID), -EINVAL);
    ck_assert_int_eq(evsrc_timerfd_close(&timer), -EBADF);
    timer.fd = spare;
    ck_assert_int_eq(evsrc_timerfd_from_fd(&timer, spare), -EINVAL);
    ck_assert_int_eq(evsrc_timerfd_close(&timer), -EBADF);
    ck_assert(testutil_fd_is_open(spare));
    close(spare);
}
END_TEST

START_TEST(from_fd_adopts_a_timerfd)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC); /* blocking, as a caller might have it */
    ck_assert_int_ge(fd, 0);
    const struct itimerspec setting = {.it_interval = {0, 0}, .it_value = {3600, 0}};
    ck_assert_int_eq(timerfd_settime(fd, 0, &setting, NULL), 0);

    struct evsrc_timerfd timer;
    memset(&timer, 0xff, sizeof timer);
    ck_assert_int_eq(evsrc_timerfd_from_fd(&timer, fd), 0);
    ck_assert_int_eq(evsrc_timerfd_fd(&timer), fd);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    /* Its setting is kept. */
    struct timespec remaining;
    ck_assert_int_eq(evsrc_timerfd_get(&timer, &remaining, NULL), 0);
    ck_assert_int_gt(ns_of(remaining), 0);
    uint64_t expirations;
    ck_assert_int_eq(evsrc_timerfd_read(&timer, &expirations), -EAGAIN);

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &timer.source, 10, EVSRC_READABLE), 0);
    const struct timespec soon = ms(10);
    ck_assert_int_eq(evsrc_timerfd_set(&timer, &soon, NULL, 0), 0);
    wait_fired(10);
    ck_assert_uint_eq(read_expirations(&timer), 1);
    ck_assert_int_eq(evsrc_timerfd_close(&timer), 0);
    ck_assert(!testutil_fd_is_open(fd));
}
END_TEST

static void assert_refused(int fd, int expected_error)
{
    struct testutil_fd_state before = testutil_fd_state(fd);
    struct evsrc_timerfd timer;
    ck_assert_int_eq(evsrc_timerfd_from_fd(&timer, fd), expected_error);
    ck_assert_int_eq(evsrc_timerfd_close(&timer), -EBADF);
    testutil_expect_fd_unchanged(fd, before);
}

START_TEST(from_fd_refuses_other_files)
{
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    assert_refused(fds[0], -EINVAL);
    assert_refused(fds[1], -EINVAL);
    int pair[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    assert_refused(pair[0], -EINVAL);
    int file = memfd_create("evsrc-test", MFD_CLOEXEC);
    ck_assert_int_ge(file, 0);
    assert_refused(file, -EINVAL);

    struct evsrc_timerfd timer;
    ck_assert_int_eq(evsrc_timerfd_from_fd(&timer, -1), -EBADF);
    testutil_close_pair(fds);
    testutil_close_pair(pair);
    close(file);
    ck_assert_int_eq(evsrc_timerfd_from_fd(&timer, file), -EBADF);
    ck_assert_int_eq(evsrc_timerfd_close(&timer), -EBADF);
}
END_TEST

/*
 * timerfd.h: get on an expired, unread periodic timer re-arms its edge (the
 * kernel's timerfd_gettime does); without get, no edge comes until a read.
 */
START_TEST(get_on_an_expired_periodic_timer_re_arms_its_edge)
{
    struct evsrc_timerfd timer;
    ck_assert_int_eq(evsrc_timerfd_new(&timer, CLOCK_MONOTONIC), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &timer.source, 7, EVSRC_READABLE), 0);
    struct timespec period = ms(5);
    ck_assert_int_eq(evsrc_timerfd_set(&timer, &period, &period, 0), 0);
    testutil_expect_event(7);
    testutil_expect_quiet(7); /* expired and unread: the kernel's timer is stopped */
    struct timespec remaining, interval;
    ck_assert_int_eq(evsrc_timerfd_get(&timer, &remaining, &interval), 0);
    ck_assert_int_eq(ns_of(interval), ns_of(period));
    testutil_expect_event(7); /* the edge get re-armed, as documented */
    uint64_t expirations = 0;
    ck_assert_int_eq(evsrc_timerfd_read(&timer, &expirations), 0);
    ck_assert_uint_ge(expirations, 2);
    ck_assert_int_eq(evsrc_timerfd_close(&timer), 0);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("timerfd");
    TCase *tc = testutil_add_tcase(suite, "timerfd");
    tcase_add_test(tc, new_makes_disarmed_nonblocking_cloexec_timer);
    tcase_add_test(tc, one_shot_fires_once);
    tcase_add_test(tc, periodic_counts_missed_expirations);
    tcase_add_test(tc, unread_periodic_timer_gives_no_new_edge);
    tcase_add_test(tc, abstime_deadlines);
    tcase_add_test(tc, get_returns_remaining_and_interval);
    tcase_add_test(tc, disarm_stops_the_timer);
    tcase_add_test(tc, each_timer_reports_its_own_token);
    tcase_add_test(tc, deregistered_timer_reports_nothing);
    tcase_add_test(tc, bad_clocks_are_einval);
    tcase_add_test(tc, null_arguments_are_einval);
    tcase_add_test(tc, bad_settings_are_einval_and_change_nothing);
    tcase_add_test(tc, closed_timer_is_ebadf);
    tcase_add_test(tc, failed_setup_leaves_timer_closed);
    tcase_add_test(tc, from_fd_adopts_a_timerfd);
    tcase_add_test(tc, from_fd_refuses_other_files);
    tcase_add_test(tc, out_of_fds_is_emfile);
    tcase_add_test(tc, get_on_an_expired_periodic_timer_re_arms_its_edge);
    return testutil_run(suite);
}
