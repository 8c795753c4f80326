/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_TESTUTIL_H
#define EVSRC_TESTUTIL_H

/* Helpers shared by the suites: the per-test fixture, bounded waits, fds, TCP pairs, the suite runner. */

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>

#include <evsrc/evsrc.h>

#if !defined(_WIN32)
#define TESTUTIL_TEST_NAME __func__
#endif
#if defined(_WIN32)
/*
 * In check's no-fork mode a hung test leaves no trace of its name: each test
 * says it on stderr as it starts (check.h's START_TEST, with the one line more;
 * the body keeps the loop index _i, for tcase_add_loop_test).
 */
#undef START_TEST
#define START_TEST(name)                                                                      \
    static void name##_fn(int _i CK_ATTRIBUTE_UNUSED);                                         \
    static void name##_body(const char *test_name, int _i);                                    \
    static const TTest name##_ttest = {"" #name, name##_fn, __FILE__, __LINE__};               \
    static const TTest *name = &name##_ttest;                                                  \
    static void name##_fn(int _i CK_ATTRIBUTE_UNUSED)                                          \
    {                                                                                          \
        fprintf(stderr, "test %s\n", #name);                                                   \
        name##_body(#name, _i);                                                                \
    }                                                                                          \
    static void name##_body(const char *test_name CK_ATTRIBUTE_UNUSED, int _i CK_ATTRIBUTE_UNUSED)
/* The running test's name, for skip messages: its body is a function of its own here. */
#define TESTUTIL_TEST_NAME test_name
/* <windows.h>'s parameter annotations, which would take the suites' names IN and OUT. */
#undef IN
#undef OUT
#endif

/* How long a test waits for an event that must come: generous, for loaded machines. */
#define TESTUTIL_EVENT_DEADLINE_MS 10000
/* How long a test waits to be confident an event that must not come did not. */
#define TESTUTIL_QUIET_MS 100
/* The events buffer of the per-test fixture: more than any suite has sources registered at once. */
#define TESTUTIL_FIXTURE_CAPACITY 64

/* ---- Fixtures --------------------------------------------------------------- */

/* A poll, its own registry and an events buffer. */
struct testutil_fixture {
    struct evsrc_poll *poll;
    struct evsrc_registry *registry;
    struct evsrc_events *events;
};

/* A new fixture whose buffer holds `capacity` events; fails the test on error. */
struct testutil_fixture testutil_fixture_new(size_t capacity);
/* Frees what testutil_fixture_new made (the poll may have been freed and set to NULL already). */
void testutil_fixture_free(struct testutil_fixture *f);

/*
 * The per-test fixture, a checked one (testutil_add_tcase installs it; a
 * suite with more to set up wraps these in its own): every test gets a fresh
 * testutil_fx, and fails if it leaves more or fewer fds open than it found.
 */
extern struct testutil_fixture testutil_fx;
void testutil_fixture_setup(void);
void testutil_fixture_teardown(void);

/* Waits (up to the deadline) on testutil_fx until `token` reports; fails if it does not. Returns its flags. */
uint32_t testutil_expect_event(evsrc_token token);
/* Waits the quiet time on testutil_fx and fails if `token` reported. */
void testutil_expect_quiet(evsrc_token token);
/* Waits the quiet time on testutil_fx and fails if anything at all reported. */
void testutil_expect_no_events(void);

/*
 * Windows: the tests' clock_gettime. libcheck's own replacement, linked into
 * every test there, would answer 0; this reads winpthreads' clocks as the
 * library does (CLOCK_MONOTONIC from the performance counter, rounded the
 * same way), so the deadlines a test computes are instants of the library's
 * clock.
 */
#if defined(_WIN32)
#include <time.h>
int testutil_clock_gettime(clockid_t clock, struct timespec *ts);
#define clock_gettime testutil_clock_gettime
#endif

/* ---- Waits -------------------------------------------------------------------- */

/*
 * Waits (up to the deadline) until an event with `token` arrives, with zero
 * or more unrelated events ignored. Returns true and stores the OR of the
 * flags of that token's events in the same wait in *flags (if not NULL).
 */
bool testutil_wait_token(struct evsrc_poll *poll, struct evsrc_events *events, evsrc_token token,
                         uint32_t *flags);

/* Waits `ms` milliseconds for events and returns how many arrived (-errno on error). */
int testutil_wait_ms(struct evsrc_poll *poll, struct evsrc_events *events, long ms);

/* Whether the last wait into `events` holds an event with `token`. */
bool testutil_events_have(const struct evsrc_events *events, evsrc_token token);

/* Milliseconds on the monotonic clock, for deadlines. */
long long testutil_now_ms(void);

/* ---- fds ---------------------------------------------------------------------- */

/* The number of fds open in this process. */
int testutil_open_fds(void);

/* Whether fd is open. */
bool testutil_fd_is_open(int fd);

/*
 * What a refused adoption (a _from_fd that fails) must leave as it found:
 * the fd open, with the same status flags (blocking or not) and descriptor
 * flags (close-on-exec or not). Take it before the call, check it after.
 */
struct testutil_fd_state {
    int status_flags;
    int fd_flags;
};
/* The fd's state now; fails the test if fd is not open. */
struct testutil_fd_state testutil_fd_state(int fd);
/* Fails the test unless fd is still open and in the state `before`. */
void testutil_expect_fd_unchanged(int fd, struct testutil_fd_state before);

/* A nonblocking pipe (fds[0] read end, fds[1] write end); fails the test on error. */
void testutil_pipe(int fds[2]);
/*
 * The tests' second kind of fd: a pipe (testutil_pipe) on Linux; on Windows,
 * which has no pipe the backend can poll, a connected socket pair
 * (testutil_socketpair: write() and read() work on it there).
 */
void testutil_channel(int fds[2]);
/* A nonblocking, close-on-exec stream socketpair; fails the test on error. */
void testutil_socketpair(int fds[2]);
/* Closes both fds of a pipe or socketpair. */
void testutil_close_pair(int fds[2]);

/* Lowers the soft fd limit so that no new fd fits; returns the limits to restore with setrlimit. */
struct rlimit testutil_exhaust_fds(void);

/* Blocks (up to the deadline) until fd reports one of the poll(2) `events`: for setup, not for what is tested. */
void testutil_await_fd(int fd, short events);

/* ---- TCP ---------------------------------------------------------------------- */

/* Binds `listener` to 127.0.0.1 on a free port and, if `addr` is not NULL, stores that address there. */
void testutil_listen_loopback(struct evsrc_tcp_listener *listener, struct sockaddr_in *addr);

/* A connected loopback pair, open and unregistered: `client` connected, `server` accepted. */
void testutil_tcp_pair(struct evsrc_tcp_stream *client, struct evsrc_tcp_stream *server);

/* ---- Running ------------------------------------------------------------------ */

/*
 * Adds a test case named `name` to `suite`, with the per-test fixture and a
 * 60 s timeout: generous, for loaded machines and sanitizer builds, so that
 * only a hang (a lost wake, say) reaches it.
 */
TCase *testutil_add_tcase(Suite *suite, const char *name);

/* Runs a suite in fork mode and returns the process exit status. */
int testutil_run(Suite *suite);

/* ---- Selector backends (docs/backends.md) ------------------------------------ */

/*
 * Whether the backend has no kernel edges and emulates them (the poll(2)
 * backend, -Dselector=poll, and Windows' AFD backend): the poll rule holds.
 */
#if defined(TESTUTIL_SELECTOR_POLL) || defined(TESTUTIL_SELECTOR_AFD)
#define TESTUTIL_SELECTOR_IS_POLL true
#else
#define TESTUTIL_SELECTOR_IS_POLL false
#endif

/* Whether this is a Windows build, where the Linux-only sources and fork() do not exist. */
#if defined(_WIN32)
#define TESTUTIL_WINDOWS true
#else
#define TESTUTIL_WINDOWS false
#endif

/*
 * At the top of a test of what Windows has no form of (pipes, eventfds,
 * fork, fd limits): there, says so on stderr with the reason and passes.
 */
#define TESTUTIL_SKIP_ON_WINDOWS(reason)                                              \
    do {                                                                             \
        if (TESTUTIL_WINDOWS) {                                                      \
            fprintf(stderr, "%s: skipped on Windows: %s\n", TESTUTIL_TEST_NAME, (reason)); \
            return;                                                                  \
        }                                                                            \
    } while (0)

/*
 * At the top of a test that checks epoll itself (the kernel's edge on a raw
 * fd, the epoll fd): on another backend, says so on stderr and passes.
 */
#define TESTUTIL_EPOLL_ONLY(reason)                                                         \
    do {                                                                                   \
        if (TESTUTIL_SELECTOR_IS_POLL) {                                                   \
            fprintf(stderr, "%s: skipped without epoll: %s\n", __func__, (reason));     \
            return;                                                                        \
        }                                                                                  \
    } while (0)

/*
 * The documented rule for a raw fd on a backend without kernel edges
 * (registry.h): once its I/O has returned -EAGAIN, reregister it before
 * waiting for its next edge. On epoll the tests leave it out, so that they
 * keep checking that the kernel needs none; on poll this reregisters and
 * fails the test on error.
 */
void testutil_rearm_fd(struct evsrc_registry *registry, int fd, evsrc_token token, evsrc_interest interests);

/*
 * Ends a forked child with `status`. In a coverage build through exit(), so
 * that the child's counts are written: what only a fork child runs (the
 * library's fork handling) is then measured too. Elsewhere through _exit(),
 * which flushes nothing twice.
 */
_Noreturn void testutil_child_exit(int status);

/*
 * The emulator this test runs under (meson's exe_wrapper, which `meson test`
 * passes in MESON_EXE_WRAPPER: qemu-aarch64 in the aarch64 cross run), or
 * NULL when it runs natively.
 */
const char *testutil_emulator(void);

/*
 * For the one step of a test that an emulator cannot do: under an emulator,
 * says on stderr that the test skips that step and why (what the emulator
 * lacks) and returns true, and the test cleans up and returns; natively it
 * returns false. Never for a whole test that could run, nor a suite.
 */
bool testutil_skip_under_emulator(const char *test, const char *why);

#endif /* EVSRC_TESTUTIL_H */
