/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#if !defined(_WIN32)
#include <sys/eventfd.h>
#endif

#include "testutil.h"

static const evsrc_interest invalid_interests[] = {
    0, EVSRC_LEVEL, EVSRC_ONESHOT, EVSRC_LEVEL | EVSRC_ONESHOT, 0x8, EVSRC_READABLE | 0x8,
    EVSRC_READABLE | 0x80000000u, 0xffffffffu,
};

START_TEST(fd_calls_reject_bad_arguments)
{
    int p[2];
    testutil_channel(p);
    ck_assert_int_eq(evsrc_registry_register_fd(NULL, p[0], 1, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_registry_reregister_fd(NULL, p[0], 1, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_registry_deregister_fd(NULL, p[0]), -EINVAL);
    for (size_t i = 0; i < sizeof invalid_interests / sizeof invalid_interests[0]; i++) {
        ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, p[0], 1, invalid_interests[i]), -EINVAL);
        ck_assert_int_eq(evsrc_registry_reregister_fd(testutil_fx.registry, p[0], 1, invalid_interests[i]), -EINVAL);
    }
    /* Nothing was registered by the rejected calls. */
    ck_assert_int_eq(evsrc_registry_deregister_fd(testutil_fx.registry, p[0]), -ENOENT);
    testutil_close_pair(p);
}
END_TEST

START_TEST(bad_fds_are_ebadf)
{
    int p[2];
    testutil_channel(p);
    testutil_close_pair(p);
    const int bad[] = {-1, -100, p[0], 1 << 28};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, bad[i], 1, EVSRC_READABLE), -EBADF);
#if defined(_WIN32)
        /*
         * The AFD backend asks Winsock about a socket only when it registers
         * one: reregistering or deregistering a number it does not hold is
         * -ENOENT, and only INVALID_SOCKET (-1) is -EBADF.
         */
        const int unheld = bad[i] == -1 ? -EBADF : -ENOENT;
        ck_assert_int_eq(evsrc_registry_reregister_fd(testutil_fx.registry, bad[i], 1, EVSRC_READABLE), unheld);
        ck_assert_int_eq(evsrc_registry_deregister_fd(testutil_fx.registry, bad[i]), unheld);
#else
        ck_assert_int_eq(evsrc_registry_reregister_fd(testutil_fx.registry, bad[i], 1, EVSRC_READABLE), -EBADF);
        ck_assert_int_eq(evsrc_registry_deregister_fd(testutil_fx.registry, bad[i]), -EBADF);
#endif
    }
}
END_TEST

START_TEST(registration_state_errors)
{
    int p[2];
    testutil_channel(p);
    ck_assert_int_eq(evsrc_registry_reregister_fd(testutil_fx.registry, p[0], 1, EVSRC_READABLE), -ENOENT);
    ck_assert_int_eq(evsrc_registry_deregister_fd(testutil_fx.registry, p[0]), -ENOENT);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, p[0], 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, p[0], 2, EVSRC_WRITABLE), -EEXIST);
    ck_assert_int_eq(evsrc_registry_reregister_fd(testutil_fx.registry, p[0], 2, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_deregister_fd(testutil_fx.registry, p[0]), 0);
    ck_assert_int_eq(evsrc_registry_deregister_fd(testutil_fx.registry, p[0]), -ENOENT);
    /* A registration in one queue is none of another's business. */
    struct evsrc_poll *other;
    ck_assert_int_eq(evsrc_poll_new(&other), 0);
    ck_assert_int_eq(evsrc_registry_register_fd(evsrc_poll_registry(other), p[0], 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_deregister_fd(testutil_fx.registry, p[0]), -ENOENT);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, p[0], 1, EVSRC_READABLE), 0);
    evsrc_poll_free(other);
    testutil_close_pair(p);
}
END_TEST

START_TEST(regular_files_are_eperm)
{
    TESTUTIL_SKIP_ON_WINDOWS("a regular file is a C runtime fd there, not a socket the backend could be asked about");
    char path[] = "/tmp/evsrc-registry-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, fd, 1, EVSRC_READABLE), -EPERM);
    ck_assert_int_eq(evsrc_registry_reregister_fd(testutil_fx.registry, fd, 1, EVSRC_READABLE), -EPERM);
    ck_assert_int_eq(evsrc_registry_deregister_fd(testutil_fx.registry, fd), -EPERM);
    close(fd);
}
END_TEST

/* epoll refuses an fd without a poll method; so must every backend (issue 20: the poll backend took /dev/null). */
START_TEST(unpollable_devices_are_eperm)
{
    TESTUTIL_SKIP_ON_WINDOWS("no /dev/null, and only sockets are fds to the backend");
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, fd, 1, EVSRC_READABLE), -EPERM);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, fd, 1, EVSRC_READABLE | EVSRC_LEVEL), -EPERM);
    /* epoll_ctl checks the file before it looks for a registration: -EPERM, not -ENOENT. */
    ck_assert_int_eq(evsrc_registry_reregister_fd(testutil_fx.registry, fd, 1, EVSRC_READABLE), -EPERM);
    ck_assert_int_eq(evsrc_registry_deregister_fd(testutil_fx.registry, fd), -EPERM);
    testutil_expect_no_events();
    close(fd);
}
END_TEST

START_TEST(tokens_come_back_as_given)
{
    int local;
    const evsrc_token tokens[] = {0, UINT64_MAX, (evsrc_token)1 << 63, (evsrc_token)(uintptr_t)&local};
    int p[4][2];
    for (int i = 0; i < 4; i++) {
        testutil_channel(p[i]);
        ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, p[i][0], tokens[i], EVSRC_READABLE), 0);
        ck_assert_int_eq(write(p[i][1], "x", 1), 1);
    }
    for (int i = 0; i < 4; i++)
        ck_assert(testutil_events_have(testutil_fx.events, tokens[i]) ||
                  testutil_wait_token(testutil_fx.poll, testutil_fx.events, tokens[i], NULL));
    for (int i = 0; i < 4; i++) {
        testutil_close_pair(p[i]);
    }
}
END_TEST

START_TEST(reregister_changes_token_and_interests)
{
    int sp[2];
    testutil_socketpair(sp);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, sp[0], 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(write(sp[1], "x", 1), 1);
    uint32_t flags = testutil_expect_event(1);
    ck_assert(!(flags & EVSRC_EVENT_FLAG_OUT));
    /* Now writable under a new token; reregistering reports readiness already present. */
    ck_assert_int_eq(evsrc_registry_reregister_fd(testutil_fx.registry, sp[0], 2, EVSRC_WRITABLE), 0);
    flags = testutil_expect_event(2);
    ck_assert(flags & EVSRC_EVENT_FLAG_OUT);
    ck_assert(!(flags & EVSRC_EVENT_FLAG_IN));
    ck_assert(!testutil_events_have(testutil_fx.events, 1));
    testutil_close_pair(sp);
}
END_TEST

START_TEST(deregistered_fd_reports_nothing)
{
    int p[2];
    testutil_channel(p);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, p[0], 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_deregister_fd(testutil_fx.registry, p[0]), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    testutil_expect_no_events();
    testutil_close_pair(p);
}
END_TEST

START_TEST(level_mode_reports_while_ready)
{
    int p[2];
    testutil_channel(p);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, p[0], 1, EVSRC_READABLE | EVSRC_LEVEL), 0);
    ck_assert_int_eq(write(p[1], "ab", 2), 2);
    for (int i = 0; i < 3; i++)
        testutil_expect_event(1);
    char buf[4];
    ck_assert_int_eq(read(p[0], buf, sizeof buf), 2);
    testutil_expect_no_events();
    testutil_close_pair(p);
}
END_TEST

START_TEST(oneshot_reports_once_until_rearmed)
{
    int p[2];
    char c;
    testutil_channel(p);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, p[0], 1, EVSRC_READABLE | EVSRC_ONESHOT), 0);
    ck_assert_int_eq(write(p[1], "a", 1), 1);
    testutil_expect_event(1);
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    ck_assert_int_eq(write(p[1], "b", 1), 1);
    testutil_expect_no_events();
    /* Still registered: a second register is -EEXIST; reregister rearms. */
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, p[0], 1, EVSRC_READABLE), -EEXIST);
    ck_assert_int_eq(evsrc_registry_reregister_fd(testutil_fx.registry, p[0], 2, EVSRC_READABLE | EVSRC_ONESHOT), 0);
    testutil_expect_event(2);
    testutil_close_pair(p);
}
END_TEST

START_TEST(level_oneshot_reports_once)
{
    int p[2];
    testutil_channel(p);
    ck_assert_int_eq(
        evsrc_registry_register_fd(testutil_fx.registry, p[0], 1, EVSRC_READABLE | EVSRC_LEVEL | EVSRC_ONESHOT), 0);
    ck_assert_int_eq(write(p[1], "a", 1), 1);
    testutil_expect_event(1);
    testutil_expect_no_events();
    testutil_close_pair(p);
}
END_TEST

/* Priority interest reports urgent data: TCP out-of-band over loopback. */
START_TEST(priority_reports_urgent_data)
{
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(listener, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    ck_assert_int_eq(bind(listener, (struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_int_eq(listen(listener, 1), 0);
    ck_assert_int_eq(getsockname(listener, (struct sockaddr *)&addr, &len), 0);
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(client, (struct sockaddr *)&addr, sizeof addr), 0);
    int server = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    ck_assert_int_ge(server, 0);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, server, 8, EVSRC_PRIORITY), 0);
    ck_assert_int_eq(send(client, "!", 1, MSG_OOB), 1);
    ck_assert(testutil_expect_event(8) & EVSRC_EVENT_FLAG_PRI);
    ck_assert(evsrc_event_is_priority(evsrc_events_get(testutil_fx.events, 0)));
    close(server);
    close(client);
    close(listener);
}
END_TEST

/* An eventfd, a socketpair and a pipe in one queue, each under its own token. */
START_TEST(many_kinds_of_fd_in_one_queue)
{
    TESTUTIL_SKIP_ON_WINDOWS("no eventfds or pipes: sockets are its only kind of fd");
#if !defined(_WIN32)
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int sp[2], p[2];
    testutil_socketpair(sp);
    testutil_channel(p);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, efd, 10, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, sp[0], 20, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, p[0], 30, EVSRC_READABLE), 0);
    uint64_t one = 1;
    ck_assert_int_eq(write(efd, &one, sizeof one), (ssize_t)sizeof one);
    ck_assert_int_eq(write(sp[1], "x", 1), 1);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    bool seen[3] = {false, false, false};
    for (int round = 0; round < 100 && !(seen[0] && seen[1] && seen[2]); round++) {
        ck_assert_int_ge(testutil_wait_ms(testutil_fx.poll, testutil_fx.events, 100), 0);
        for (size_t i = 0; i < evsrc_events_len(testutil_fx.events); i++) {
            evsrc_token token = evsrc_event_token(evsrc_events_get(testutil_fx.events, i));
            ck_assert(token == 10 || token == 20 || token == 30);
            seen[token / 10 - 1] = true;
        }
    }
    ck_assert(seen[0] && seen[1] && seen[2]);
    close(efd);
    testutil_close_pair(sp);
    testutil_close_pair(p);
#endif
}
END_TEST

/* Closing the last fd of an open file removes it from the queue by itself. */
START_TEST(closed_fd_leaves_the_queue)
{
    int p[2];
    testutil_channel(p);
    /* Level-triggered and always writable: it would report on every wait while in the queue. */
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, p[1], 1, EVSRC_WRITABLE | EVSRC_LEVEL), 0);
    testutil_expect_event(1);
    close(p[1]);
    testutil_expect_no_events();
    close(p[0]);
}
END_TEST

/*
 * A registered fd closed without deregistering, its number then taken by
 * another file: the registration belonged to the closed file, so nothing
 * reports for the new one (issue 20: the poll backend reported the old
 * token for whatever reused the number).
 */
static bool fd_is_regular(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static void expect_nothing_for_a_reused_number(int new_file)
{
    int p[2];
    testutil_channel(p);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, p[0], 1, EVSRC_READABLE | EVSRC_LEVEL), 0);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, p[1], 2, EVSRC_WRITABLE | EVSRC_ONESHOT), 0);
    testutil_expect_event(2); /* the one-shot reports and is disarmed: a stale entry that stays quiet */
    /* dup2 closes the registered pipe end and puts new_file under its number, in one step. */
    ck_assert_int_eq(dup2(new_file, p[0]), p[0]);
    for (int i = 0; i < 100; i++) {
        const struct timespec zero = {0, 0};
        ck_assert_int_eq(evsrc_poll_wait(testutil_fx.poll, testutil_fx.events, &zero), 0);
    }
    testutil_expect_no_events();
    /* Nor do the calls about the number find a registration of the file now under it. */
    ck_assert_int_eq(dup2(new_file, p[1]), p[1]); /* the pipe's other end: its registration is stale too */
    int expected = fd_is_regular(new_file) ? -EPERM : -ENOENT;
    ck_assert_int_eq(evsrc_registry_reregister_fd(testutil_fx.registry, p[1], 2, EVSRC_READABLE), expected);
    ck_assert_int_eq(evsrc_registry_deregister_fd(testutil_fx.registry, p[1]), expected);
    close(p[0]);
    close(p[1]);
}

START_TEST(reused_fd_number_reports_nothing)
{
    TESTUTIL_SKIP_ON_WINDOWS("it reuses a number with dup2 over pipes and regular files");
    int other[2];
    testutil_channel(other);
    ck_assert_int_eq(write(other[1], "x", 1), 1); /* readable under the reused number */
    expect_nothing_for_a_reused_number(other[0]);
    testutil_close_pair(other);

    char path[] = "/tmp/evsrc-registry-XXXXXX";
    int file = mkstemp(path);
    ck_assert_int_ge(file, 0);
    unlink(path);
    expect_nothing_for_a_reused_number(file); /* a regular file: always "ready" to poll(2) */
    close(file);
}
END_TEST

START_TEST(clone_is_the_same_queue)
{
    int before = testutil_open_fds();
    struct evsrc_registry *clone = NULL;
    ck_assert_int_eq(evsrc_registry_try_clone(NULL, &clone), -EINVAL);
    ck_assert_int_eq(evsrc_registry_try_clone(testutil_fx.registry, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_registry_try_clone(testutil_fx.registry, &clone), 0);
    ck_assert_ptr_nonnull(clone);
    /* An epoll clone holds a dup of the queue fd; a poll-backend clone shares the queue object. */
    ck_assert_int_eq(testutil_open_fds(), before + (TESTUTIL_SELECTOR_IS_POLL ? 0 : 1));
    int p[2];
    testutil_channel(p);
    ck_assert_int_eq(evsrc_registry_register_fd(clone, p[0], 5, EVSRC_READABLE), 0);
    /* The fd is in the queue, whichever handle asks. */
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, p[0], 5, EVSRC_READABLE), -EEXIST);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    testutil_expect_event(5);
    ck_assert_int_eq(evsrc_registry_deregister_fd(testutil_fx.registry, p[0]), 0);
    evsrc_registry_free(clone);
    evsrc_registry_free(NULL);
    evsrc_registry_free(testutil_fx.registry); /* borrowed: a no-op */
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, p[0], 6, EVSRC_READABLE), 0);
    testutil_close_pair(p);
    ck_assert_int_eq(testutil_open_fds(), before);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("registry");
    TCase *tc = testutil_add_tcase(suite, "registry");
    tcase_add_test(tc, fd_calls_reject_bad_arguments);
    tcase_add_test(tc, bad_fds_are_ebadf);
    tcase_add_test(tc, registration_state_errors);
    tcase_add_test(tc, regular_files_are_eperm);
    tcase_add_test(tc, unpollable_devices_are_eperm);
    tcase_add_test(tc, tokens_come_back_as_given);
    tcase_add_test(tc, reregister_changes_token_and_interests);
    tcase_add_test(tc, deregistered_fd_reports_nothing);
    tcase_add_test(tc, level_mode_reports_while_ready);
    tcase_add_test(tc, oneshot_reports_once_until_rearmed);
    tcase_add_test(tc, level_oneshot_reports_once);
    tcase_add_test(tc, priority_reports_urgent_data);
    tcase_add_test(tc, many_kinds_of_fd_in_one_queue);
    tcase_add_test(tc, closed_fd_leaves_the_queue);
    tcase_add_test(tc, reused_fd_number_reports_nothing);
    tcase_add_test(tc, clone_is_the_same_queue);
    return testutil_run(suite);
}
