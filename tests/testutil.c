/* SPDX-License-Identifier: MIT */
#include "testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#if defined(_WIN32)
#include <windows.h>
#endif

#include "load/loadutil.h"

/* ---- Fixtures --------------------------------------------------------------- */

struct testutil_fixture testutil_fx;
static int fixture_fds_at_setup;

struct testutil_fixture testutil_fixture_new(size_t capacity)
{
    struct testutil_fixture f;
    ck_assert_int_eq(evsrc_poll_new(&f.poll), 0);
    ck_assert_int_eq(evsrc_events_new(capacity, &f.events), 0);
    f.registry = evsrc_poll_registry(f.poll);
    ck_assert_ptr_nonnull(f.registry);
    return f;
}

void testutil_fixture_free(struct testutil_fixture *f)
{
    evsrc_events_free(f->events);
    evsrc_poll_free(f->poll);
}

void testutil_fixture_setup(void)
{
    fixture_fds_at_setup = testutil_open_fds();
    testutil_fx = testutil_fixture_new(TESTUTIL_FIXTURE_CAPACITY);
}

void testutil_fixture_teardown(void)
{
    testutil_fixture_free(&testutil_fx);
    ck_assert_int_eq(testutil_open_fds(), fixture_fds_at_setup);
}

uint32_t testutil_expect_event(evsrc_token token)
{
    uint32_t flags = 0;
    ck_assert_msg(testutil_wait_token(testutil_fx.poll, testutil_fx.events, token, &flags),
                  "no event for token %llu", (unsigned long long)token);
    return flags;
}

void testutil_expect_quiet(evsrc_token token)
{
    int n = testutil_wait_ms(testutil_fx.poll, testutil_fx.events, TESTUTIL_QUIET_MS);
    ck_assert_int_ge(n, 0);
    ck_assert_msg(!testutil_events_have(testutil_fx.events, token), "unexpected event for token %llu",
                  (unsigned long long)token);
}

void testutil_expect_no_events(void)
{
    ck_assert_int_eq(testutil_wait_ms(testutil_fx.poll, testutil_fx.events, TESTUTIL_QUIET_MS), 0);
}

/* ---- Waits -------------------------------------------------------------------- */

#if defined(_WIN32)
int testutil_clock_gettime(clockid_t clock, struct timespec *ts)
{
    if (clock != CLOCK_MONOTONIC) {
        /* The wall clock, for what tests read of it: 100 ns since 1601 as a Unix time. */
        FILETIME ft;
        GetSystemTimePreciseAsFileTime(&ft);
        unsigned long long t = ((unsigned long long)ft.dwHighDateTime << 32 | ft.dwLowDateTime) - 116444736000000000ULL;
        ts->tv_sec = (time_t)(t / 10000000ULL);
        ts->tv_nsec = (long)(t % 10000000ULL) * 100;
        return 0;
    }
    LARGE_INTEGER frequency, counter;
    QueryPerformanceFrequency(&frequency);
    QueryPerformanceCounter(&counter);
    ts->tv_sec = (time_t)(counter.QuadPart / frequency.QuadPart);
    ts->tv_nsec = (long)(((counter.QuadPart % frequency.QuadPart) * 1000000000LL + (frequency.QuadPart >> 1)) /
                         frequency.QuadPart);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
    return 0;
}
#endif

long long testutil_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool testutil_events_have(const struct evsrc_events *events, evsrc_token token)
{
    for (size_t i = 0; i < evsrc_events_len(events); i++)
        if (evsrc_event_token(evsrc_events_get(events, i)) == token)
            return true;
    return false;
}

bool testutil_wait_token(struct evsrc_poll *poll, struct evsrc_events *events, evsrc_token token,
                         uint32_t *flags)
{
    long long deadline = testutil_now_ms() + TESTUTIL_EVENT_DEADLINE_MS;
    while (testutil_now_ms() < deadline) {
        struct timespec timeout = {0, 100 * 1000000L};
        int n = evsrc_poll_wait(poll, events, &timeout);
        if (n == -EINTR)
            continue;
        ck_assert_int_ge(n, 0);
        uint32_t seen = 0;
        bool found = false;
        for (size_t i = 0; i < (size_t)n; i++) {
            const struct evsrc_event *event = evsrc_events_get(events, i);
            if (evsrc_event_token(event) == token) {
                found = true;
                seen |= evsrc_event_raw_flags(event);
            }
        }
        if (found) {
            if (flags)
                *flags = seen;
            return true;
        }
    }
    return false;
}

int testutil_wait_ms(struct evsrc_poll *poll, struct evsrc_events *events, long ms)
{
    struct timespec timeout = {ms / 1000, (ms % 1000) * 1000000L};
    return evsrc_poll_wait(poll, events, &timeout);
}

/* ---- fds ---------------------------------------------------------------------- */

#if defined(_WIN32)
/*
 * Windows has handles, not fds: the process's handle count (sockets are
 * handles) tells a leak, and a handle's inheritability stands for
 * close-on-exec. Winsock cannot read a socket's blocking mode back, so the
 * status flags are always 0 there.
 */
int testutil_open_fds(void)
{
    DWORD count = 0;
    ck_assert(GetProcessHandleCount(GetCurrentProcess(), &count));
    return (int)count;
}

bool testutil_fd_is_open(int fd)
{
    DWORD flags;
    return GetHandleInformation((HANDLE)(intptr_t)fd, &flags) != 0;
}

struct testutil_fd_state testutil_fd_state(int fd)
{
    DWORD flags;
    ck_assert(GetHandleInformation((HANDLE)(intptr_t)fd, &flags));
    return (struct testutil_fd_state){0, (flags & HANDLE_FLAG_INHERIT) ? 1 : 0};
}
#else
int testutil_open_fds(void)
{
    int count = open_fd_count();
    ck_assert_int_ge(count, 0);
    return count;
}

bool testutil_fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

struct testutil_fd_state testutil_fd_state(int fd)
{
    struct testutil_fd_state state = {fcntl(fd, F_GETFL), fcntl(fd, F_GETFD)};
    ck_assert_int_ge(state.status_flags, 0);
    ck_assert_int_ge(state.fd_flags, 0);
    return state;
}

#endif

void testutil_expect_fd_unchanged(int fd, struct testutil_fd_state before)
{
    struct testutil_fd_state now = testutil_fd_state(fd);
    ck_assert_int_eq(now.status_flags, before.status_flags);
    ck_assert_int_eq(now.fd_flags, before.fd_flags);
}

void testutil_pipe(int fds[2])
{
#if defined(_WIN32)
    (void)fds;
    ck_abort_msg("no pipes on Windows: the test should have skipped (TESTUTIL_SKIP_ON_WINDOWS)");
#else
    ck_assert_int_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
#endif
}

void testutil_channel(int fds[2])
{
#if defined(_WIN32)
    testutil_socketpair(fds);
#else
    testutil_pipe(fds);
#endif
}

void testutil_socketpair(int fds[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
}

void testutil_close_pair(int fds[2])
{
    close(fds[0]);
    close(fds[1]);
}

struct rlimit testutil_exhaust_fds(void)
{
#if defined(_WIN32)
    ck_abort_msg("no fd limit on Windows: the test should have skipped (TESTUTIL_SKIP_ON_WINDOWS)");
#endif
    struct rlimit old;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    /* open() takes the lowest free number: every number below it is in use. */
    int lowest_free = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(lowest_free, 0);
    close(lowest_free);
    const struct rlimit low = {(rlim_t)lowest_free, old.rlim_max};
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    return old;
}

void testutil_await_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    int n;
    do
        n = poll(&p, 1, TESTUTIL_EVENT_DEADLINE_MS);
    while (n < 0 && errno == EINTR);
    ck_assert_int_eq(n, 1);
}

/* ---- TCP ---------------------------------------------------------------------- */

void testutil_listen_loopback(struct evsrc_tcp_listener *listener, struct sockaddr_in *addr)
{
    ck_assert_int_eq(listen_loopback(listener, addr), 0);
}

void testutil_tcp_pair(struct evsrc_tcp_stream *client, struct evsrc_tcp_stream *server)
{
    struct evsrc_tcp_listener listener;
    struct sockaddr_in addr;
    testutil_listen_loopback(&listener, &addr);
    ck_assert_int_eq(evsrc_tcp_stream_connect(client, (const struct sockaddr *)&addr, sizeof addr), 0);
    testutil_await_fd(evsrc_tcp_listener_fd(&listener), POLLIN);
    ck_assert_int_eq(evsrc_tcp_listener_accept(&listener, server, NULL, NULL), 0);
    testutil_await_fd(evsrc_tcp_stream_fd(client), POLLOUT);
    ck_assert_int_eq(evsrc_tcp_stream_take_error(client), 0);
    ck_assert_int_eq(evsrc_tcp_listener_close(&listener), 0);
}

/* ---- Running ------------------------------------------------------------------ */

TCase *testutil_add_tcase(Suite *suite, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, testutil_fixture_setup, testutil_fixture_teardown);
    suite_add_tcase(suite, tc);
    return tc;
}

void testutil_child_exit(int status)
{
#if defined(TESTUTIL_COVERAGE)
    exit(status); /* gcov's runtime writes the counts at exit (tests/meson.build defines this with b_coverage) */
#else
    _exit(status);
#endif
}

int testutil_run(Suite *suite)
{
    SRunner *runner = srunner_create(suite);
#if defined(_WIN32)
    /*
     * No fork on Windows: check's no-fork mode. Winsock is started first, so
     * that the handles it opens once are not taken for the first test's leak.
     */
    int warm = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (warm >= 0)
        close(warm);
    struct evsrc_poll *poll = NULL;
    if (evsrc_poll_new(&poll) == 0)
        evsrc_poll_free(poll);
    srunner_set_fork_status(runner, CK_NOFORK);
#else
    srunner_set_fork_status(runner, CK_FORK);
#endif
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void testutil_rearm_fd(struct evsrc_registry *registry, int fd, evsrc_token token, evsrc_interest interests)
{
    if (TESTUTIL_SELECTOR_IS_POLL)
        ck_assert_int_eq(evsrc_registry_reregister_fd(registry, fd, token, interests), 0);
}

const char *testutil_emulator(void)
{
    const char *wrapper = getenv("MESON_EXE_WRAPPER");
    return wrapper && *wrapper ? wrapper : NULL;
}

bool testutil_skip_under_emulator(const char *test, const char *why)
{
    const char *emulator = testutil_emulator();
    if (!emulator)
        return false;
    fprintf(stderr, "%s: skipped under %s: %s\n", test, emulator, why);
    return true;
}
