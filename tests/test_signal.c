/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <evsrc/signal.h>

#include "testutil.h"

/*
 * main() blocks these before the runner starts (and so before any thread):
 * each test runs in its own forked process, which inherits the mask.
 */
static sigset_t blocked_in_main;

static sigset_t set_of(int first, int second)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, first);
    if (second)
        sigaddset(&set, second);
    return set;
}

static void new_registered(struct evsrc_signal *signal, int first, int second, evsrc_token token)
{
    sigset_t set = set_of(first, second);
    ck_assert_int_eq(evsrc_signal_new(signal, &set), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &signal->source, token, EVSRC_READABLE), 0);
}

static struct signalfd_siginfo read_one(struct evsrc_signal *signal)
{
    struct signalfd_siginfo info;
    memset(&info, 0, sizeof info);
    ck_assert_int_eq(evsrc_signal_read(signal, &info), 0);
    return info;
}

static void assert_drained(struct evsrc_signal *signal)
{
    struct signalfd_siginfo info;
    info.ssi_signo = 12345;
    ck_assert_int_eq(evsrc_signal_read(signal, &info), -EAGAIN);
    ck_assert_uint_eq(info.ssi_signo, 12345);
}

START_TEST(new_is_ebusy_until_the_set_is_blocked)
{
    sigset_t old;
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, NULL, &old), 0);
    ck_assert(!sigismember(&old, SIGWINCH));
    sigset_t winch = set_of(SIGWINCH, 0), both = set_of(SIGWINCH, SIGUSR1);
    struct evsrc_signal signal;
    memset(&signal, 0xff, sizeof signal);
    ck_assert_int_eq(evsrc_signal_new(&signal, &winch), -EBUSY);
    ck_assert_int_eq(evsrc_signal_close(&signal), -EBADF);
    /* One unblocked signal in the set is enough to refuse it. */
    ck_assert_int_eq(evsrc_signal_new(&signal, &both), -EBUSY);

    ck_assert_int_eq(evsrc_signal_block(&winch), 0);
    sigset_t now;
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, NULL, &now), 0);
    ck_assert(sigismember(&now, SIGWINCH));
    ck_assert(sigismember(&now, SIGUSR1)); /* blocking adds to the mask */
    ck_assert_int_eq(evsrc_signal_new(&signal, &both), 0);
    int fd = evsrc_signal_fd(&signal);
    ck_assert_int_ge(fd, 0);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &signal.source, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(raise(SIGWINCH), 0);
    ck_assert(testutil_expect_event(1) & EVSRC_EVENT_FLAG_IN);
    ck_assert_uint_eq(read_one(&signal).ssi_signo, SIGWINCH);
    assert_drained(&signal);
    ck_assert_int_eq(evsrc_signal_close(&signal), 0);
    ck_assert(!testutil_fd_is_open(fd));
    ck_assert_int_eq(evsrc_signal_close(&signal), -EBADF);
    ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}
END_TEST

START_TEST(raised_signal_arrives_with_its_sender)
{
    struct evsrc_signal signal;
    new_registered(&signal, SIGUSR1, 0, 7);
    testutil_expect_quiet(7);
    ck_assert_int_eq(raise(SIGUSR1), 0);
    ck_assert(testutil_expect_event(7) & EVSRC_EVENT_FLAG_IN);
    struct signalfd_siginfo info = read_one(&signal);
    ck_assert_uint_eq(info.ssi_signo, SIGUSR1);
    ck_assert_uint_eq(info.ssi_pid, (uint32_t)getpid());
    ck_assert_uint_eq(info.ssi_uid, (uint32_t)getuid());
    assert_drained(&signal);
    testutil_expect_quiet(7);
    ck_assert_int_eq(evsrc_signal_close(&signal), 0);
}
END_TEST

START_TEST(signal_from_a_forked_child_names_the_child)
{
    struct evsrc_signal signal;
    new_registered(&signal, SIGUSR2, 0, 3);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        kill(getppid(), SIGUSR2);
        _exit(0);
    }
    ck_assert(testutil_expect_event(3) & EVSRC_EVENT_FLAG_IN);
    struct signalfd_siginfo info = read_one(&signal);
    ck_assert_uint_eq(info.ssi_signo, SIGUSR2);
    ck_assert_uint_eq(info.ssi_pid, (uint32_t)child);
    ck_assert_int_eq(info.ssi_code, SI_USER);
    assert_drained(&signal);
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(evsrc_signal_close(&signal), 0);
}
END_TEST

START_TEST(two_signals_one_event_two_reads)
{
    struct evsrc_signal signal;
    new_registered(&signal, SIGUSR1, SIGUSR2, 4);
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
    ck_assert(testutil_expect_event(4) & EVSRC_EVENT_FLAG_IN);
    uint32_t first = read_one(&signal).ssi_signo;
    uint32_t second = read_one(&signal).ssi_signo;
    /* Lower numbers come first, but the test needs only both, once each. */
    ck_assert_uint_eq(first + second, SIGUSR1 + SIGUSR2);
    ck_assert_uint_ne(first, second);
    assert_drained(&signal);
    /* Edge-triggered and drained: no second event. */
    testutil_expect_quiet(4);
    ck_assert_int_eq(evsrc_signal_close(&signal), 0);
}
END_TEST

START_TEST(set_mask_switches_the_set)
{
    struct evsrc_signal signal;
    new_registered(&signal, SIGUSR1, 0, 5);
    sigset_t usr2 = set_of(SIGUSR2, 0), usr1 = set_of(SIGUSR1, 0);
    ck_assert_int_eq(evsrc_signal_set_mask(&signal, &usr2), 0);
    /* SIGUSR1 is no longer reported: it stays pending, blocked. */
    ck_assert_int_eq(raise(SIGUSR1), 0);
    testutil_expect_quiet(5);
    assert_drained(&signal);
    ck_assert_int_eq(raise(SIGUSR2), 0);
    ck_assert(testutil_expect_event(5) & EVSRC_EVENT_FLAG_IN);
    ck_assert_uint_eq(read_one(&signal).ssi_signo, SIGUSR2);
    assert_drained(&signal);
    /* Back to SIGUSR1: the pending one is there to read. */
    ck_assert_int_eq(evsrc_signal_set_mask(&signal, &usr1), 0);
    ck_assert_uint_eq(read_one(&signal).ssi_signo, SIGUSR1);
    assert_drained(&signal);

    /* The same rules as new; a refused set leaves the old one in place. */
    sigset_t winch = set_of(SIGWINCH, 0), kill_set = set_of(SIGKILL, SIGWINCH), empty;
    sigemptyset(&empty);
    ck_assert_int_eq(evsrc_signal_set_mask(&signal, &winch), -EBUSY);
    ck_assert_int_eq(evsrc_signal_set_mask(&signal, &kill_set), -EINVAL);
    ck_assert_int_eq(evsrc_signal_set_mask(&signal, &empty), -EINVAL);
    ck_assert_int_eq(evsrc_signal_set_mask(&signal, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_signal_set_mask(NULL, &usr1), -EINVAL);
    ck_assert_int_eq(raise(SIGUSR1), 0);
    ck_assert(testutil_expect_event(5) & EVSRC_EVENT_FLAG_IN);
    ck_assert_uint_eq(read_one(&signal).ssi_signo, SIGUSR1);
    ck_assert_int_eq(evsrc_signal_close(&signal), 0);
}
END_TEST

START_TEST(bad_input_is_einval_and_closed_is_ebadf)
{
    sigset_t usr1 = set_of(SIGUSR1, 0), empty, with_kill = set_of(SIGUSR1, SIGKILL),
             with_stop = set_of(SIGUSR1, SIGSTOP), unblocked_kill = set_of(SIGWINCH, SIGKILL);
    sigemptyset(&empty);
    struct evsrc_signal signal;
    ck_assert_int_eq(evsrc_signal_block(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_signal_new(NULL, &usr1), -EINVAL);
    ck_assert_int_eq(evsrc_signal_new(&signal, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_signal_new(&signal, &empty), -EINVAL);
    ck_assert_int_eq(evsrc_signal_new(&signal, &with_kill), -EINVAL);
    ck_assert_int_eq(evsrc_signal_new(&signal, &with_stop), -EINVAL);
    /* The argument error comes before the state error. */
    ck_assert_int_eq(evsrc_signal_new(&signal, &unblocked_kill), -EINVAL);
    ck_assert_int_eq(evsrc_signal_close(&signal), -EBADF);

    struct signalfd_siginfo info;
    ck_assert_int_eq(evsrc_signal_read(NULL, &info), -EINVAL);
    ck_assert_int_eq(evsrc_signal_read(&signal, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_signal_read(&signal, &info), -EBADF);
    ck_assert_int_eq(evsrc_signal_set_mask(&signal, &usr1), -EBADF);
    ck_assert_int_eq(evsrc_signal_set_mask(&signal, &empty), -EINVAL);
    ck_assert_int_eq(evsrc_signal_fd(&signal), -EBADF);
    ck_assert_int_eq(evsrc_signal_fd(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_signal_close(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &signal.source, 1, EVSRC_READABLE), -EBADF);
}
END_TEST

START_TEST(close_clears_the_registration)
{
    struct evsrc_signal signal;
    new_registered(&signal, SIGUSR1, 0, 8);
    ck_assert_int_eq(evsrc_signal_close(&signal), 0);
    ck_assert_int_eq(evsrc_signal_close(&signal), -EBADF);
    /* The same struct, set up again, registers again. */
    new_registered(&signal, SIGUSR1, 0, 9);
    ck_assert_int_eq(raise(SIGUSR1), 0);
    ck_assert(testutil_expect_event(9) & EVSRC_EVENT_FLAG_IN);
    ck_assert_uint_eq(read_one(&signal).ssi_signo, SIGUSR1);
    ck_assert_int_eq(evsrc_signal_close(&signal), 0);
}
END_TEST

int main(void)
{
    /* Before the runner forks anything or any thread exists: every test process inherits this mask. */
    sigemptyset(&blocked_in_main);
    sigaddset(&blocked_in_main, SIGUSR1);
    sigaddset(&blocked_in_main, SIGUSR2);
    if (evsrc_signal_block(&blocked_in_main) != 0)
        return EXIT_FAILURE;

    Suite *suite = suite_create("signal");
    TCase *tc = testutil_add_tcase(suite, "signal");
    tcase_add_test(tc, new_is_ebusy_until_the_set_is_blocked);
    tcase_add_test(tc, raised_signal_arrives_with_its_sender);
    tcase_add_test(tc, signal_from_a_forked_child_names_the_child);
    tcase_add_test(tc, two_signals_one_event_two_reads);
    tcase_add_test(tc, set_mask_switches_the_set);
    tcase_add_test(tc, bad_input_is_einval_and_closed_is_ebadf);
    tcase_add_test(tc, close_clears_the_registration);
    return testutil_run(suite);
}
