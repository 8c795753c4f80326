/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <evsrc/eventfd.h>
#include <evsrc/pipe.h>

#include "testutil.h"

static void new_registered(struct evsrc_eventfd *counter, uint64_t initial, int flags, evsrc_token token)
{
    ck_assert_int_eq(evsrc_eventfd_new(counter, initial, flags), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &counter->source, token, EVSRC_READABLE), 0);
}

static uint64_t take(struct evsrc_eventfd *counter)
{
    uint64_t value = 0;
    ck_assert_int_eq(evsrc_eventfd_take(counter, &value), 0);
    return value;
}

static void assert_zero(struct evsrc_eventfd *counter)
{
    uint64_t value = 99;
    ck_assert_int_eq(evsrc_eventfd_take(counter, &value), -EAGAIN);
    ck_assert_uint_eq(value, 99);
}

START_TEST(add_then_take_the_whole_count)
{
    struct evsrc_eventfd counter;
    memset(&counter, 0xff, sizeof counter);
    new_registered(&counter, 0, 0, 1);
    int fd = evsrc_eventfd_fd(&counter);
    ck_assert_int_ge(fd, 0);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_zero(&counter);
    testutil_expect_quiet(1);
    ck_assert_int_eq(evsrc_eventfd_add(&counter, 3), 0);
    ck_assert_int_eq(evsrc_eventfd_add(&counter, 4), 0);
    ck_assert(testutil_expect_event(1) & EVSRC_EVENT_FLAG_IN);
    ck_assert_uint_eq(take(&counter), 7);
    assert_zero(&counter);
    testutil_expect_quiet(1);
    /* Adding 0 changes nothing and makes nothing readable. */
    ck_assert_int_eq(evsrc_eventfd_add(&counter, 0), 0);
    testutil_expect_quiet(1);
    assert_zero(&counter);
    ck_assert_int_eq(evsrc_eventfd_close(&counter), 0);
    ck_assert(!testutil_fd_is_open(fd));
}
END_TEST

START_TEST(initial_count_is_readable_at_once)
{
    const uint64_t initials[] = {5, (uint64_t)UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_MAX - 1};
    for (size_t i = 0; i < sizeof initials / sizeof initials[0]; i++) {
        struct evsrc_eventfd counter;
        new_registered(&counter, initials[i], 0, 10 + i);
        ck_assert(testutil_expect_event(10 + i) & EVSRC_EVENT_FLAG_IN);
        ck_assert_uint_eq(take(&counter), initials[i]);
        assert_zero(&counter);
        ck_assert_int_eq(evsrc_eventfd_close(&counter), 0);
    }
}
END_TEST

START_TEST(semaphore_mode_takes_one_at_a_time)
{
    struct evsrc_eventfd counter;
    new_registered(&counter, 0, EVSRC_EVENTFD_SEMAPHORE, 2);
    ck_assert_int_eq(evsrc_eventfd_add(&counter, 3), 0);
    ck_assert(testutil_expect_event(2) & EVSRC_EVENT_FLAG_IN);
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(take(&counter), 1);
    assert_zero(&counter);
    ck_assert_int_eq(evsrc_eventfd_close(&counter), 0);

    /* A large initial count in semaphore mode too. */
    new_registered(&counter, (uint64_t)UINT32_MAX + 2, EVSRC_EVENTFD_SEMAPHORE, 3);
    ck_assert_uint_eq(take(&counter), 1);
    ck_assert_int_eq(evsrc_eventfd_close(&counter), 0);
}
END_TEST

START_TEST(overflow_is_eagain_and_adds_nothing)
{
    struct evsrc_eventfd counter;
    new_registered(&counter, UINT64_MAX - 2, 0, 4);
    ck_assert_int_eq(evsrc_eventfd_add(&counter, 1), 0);
    ck_assert_int_eq(evsrc_eventfd_add(&counter, 1), -EAGAIN);
    ck_assert_int_eq(evsrc_eventfd_add(&counter, UINT64_MAX - 1), -EAGAIN);
    ck_assert_int_eq(evsrc_eventfd_add(&counter, UINT64_MAX), -EINVAL);
    ck_assert_uint_eq(take(&counter), UINT64_MAX - 1);
    /* Taken: there is room again. */
    ck_assert_int_eq(evsrc_eventfd_add(&counter, UINT64_MAX - 1), 0);
    ck_assert_uint_eq(take(&counter), UINT64_MAX - 1);
    ck_assert_int_eq(evsrc_eventfd_close(&counter), 0);
}
END_TEST

#define ADDS_PER_THREAD 2000

static void *add_many(void *arg)
{
    struct evsrc_eventfd *counter = arg;
    for (int i = 0; i < ADDS_PER_THREAD; i++)
        ck_assert_int_eq(evsrc_eventfd_add(counter, 1), 0);
    return NULL;
}

START_TEST(adds_from_other_threads_wake_a_waiting_poll)
{
    struct evsrc_eventfd counter;
    new_registered(&counter, 0, 0, 5);
    pthread_t threads[2];
    for (size_t i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, add_many, &counter), 0);
    /* Every add is seen: each event is followed by taking all there is, until the total arrives. */
    uint64_t total = 0;
    while (total < 2 * ADDS_PER_THREAD) {
        ck_assert(testutil_expect_event(5) & EVSRC_EVENT_FLAG_IN);
        uint64_t value;
        int r;
        while ((r = evsrc_eventfd_take(&counter, &value)) == 0)
            total += value;
        ck_assert_int_eq(r, -EAGAIN);
    }
    ck_assert_uint_eq(total, 2 * ADDS_PER_THREAD);
    for (size_t i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
    assert_zero(&counter);
    ck_assert_int_eq(evsrc_eventfd_close(&counter), 0);
}
END_TEST

static struct evsrc_eventfd handler_counter;
static volatile sig_atomic_t handler_result = 1;

static void add_from_handler(int sig)
{
    (void)sig;
    handler_result = evsrc_eventfd_add(&handler_counter, 1);
}

START_TEST(add_works_in_a_signal_handler_and_keeps_errno)
{
    new_registered(&handler_counter, UINT64_MAX - 1, 0, 6);
    struct sigaction action = {.sa_handler = add_from_handler};
    sigemptyset(&action.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &action, NULL), 0);
    /* The counter is full, so the add fails inside the handler: errno must survive it. */
    errno = 1234;
    ck_assert_int_eq(raise(SIGUSR1), 0);
    ck_assert_int_eq(errno, 1234);
    ck_assert_int_eq(handler_result, -EAGAIN);
    ck_assert_uint_eq(take(&handler_counter), UINT64_MAX - 1);
    ck_assert_int_eq(raise(SIGUSR1), 0);
    ck_assert_int_eq(handler_result, 0);
    ck_assert(testutil_expect_event(6) & EVSRC_EVENT_FLAG_IN);
    ck_assert_uint_eq(take(&handler_counter), 1);
    signal(SIGUSR1, SIG_DFL);
    ck_assert_int_eq(evsrc_eventfd_close(&handler_counter), 0);
}
END_TEST

static struct evsrc_eventfd storm_counter;

static void add_to_full_counter(int sig)
{
    (void)sig;
    (void)evsrc_eventfd_add(&storm_counter, 1); /* -EAGAIN: the counter is full */
}

/*
 * The storm's body, in a child: SIGALRM every 50 us adds to a full counter
 * while this thread reads an empty pipe, both going through the re-arm
 * path. Exits 0 when done; a deadlock makes it hang (issue 20: on the poll
 * backend the handler blocked on a lock the interrupted read held).
 */
static void storm_child(void)
{
    struct evsrc_poll *poll;
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    if (evsrc_poll_new(&poll) < 0 || evsrc_pipe_new(&sender, &receiver) < 0 ||
        evsrc_eventfd_new(&storm_counter, UINT64_MAX - 1, 0) < 0)
        _exit(2);
    struct evsrc_registry *registry = evsrc_poll_registry(poll);
    if (evsrc_registry_register(registry, &receiver.source, 1, EVSRC_READABLE) < 0 ||
        evsrc_registry_register(registry, &storm_counter.source, 2, EVSRC_READABLE) < 0)
        _exit(3);
    struct sigaction action = {.sa_handler = add_to_full_counter, .sa_flags = SA_RESTART};
    sigemptyset(&action.sa_mask);
    struct itimerval every = {.it_interval = {0, 50}, .it_value = {0, 50}};
    if (sigaction(SIGALRM, &action, NULL) < 0 || setitimer(ITIMER_REAL, &every, NULL) < 0)
        _exit(4);
    /* 200 000 reads, or 3 s of them under valgrind's pace: a deadlock comes within the first few. */
    char byte;
    long long stop_at = testutil_now_ms() + 3000;
    for (long i = 0; i < 200000 && (i % 1000 != 0 || testutil_now_ms() < stop_at); i++)
        if (evsrc_pipe_receiver_read(&receiver, &byte, 1) != -EAGAIN)
            _exit(5);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    _exit(0);
}

START_TEST(add_in_a_signal_storm_never_deadlocks)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        storm_child();
    int status = -1;
    long long deadline = testutil_now_ms() + 30000;
    pid_t r = 0;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && testutil_now_ms() < deadline) {
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
    if (r != pid) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ck_abort_msg("the child hung in the signal storm");
    }
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

START_TEST(from_fd_adopts_an_eventfd)
{
    int fd = eventfd(2, EFD_SEMAPHORE);
    ck_assert_int_ge(fd, 0);
    ck_assert(!(fcntl(fd, F_GETFL) & O_NONBLOCK));
    struct evsrc_eventfd counter;
    ck_assert_int_eq(evsrc_eventfd_from_fd(&counter, fd), 0);
    ck_assert_int_eq(evsrc_eventfd_fd(&counter), fd);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(!(fcntl(fd, F_GETFD) & FD_CLOEXEC)); /* the caller's choice, kept */
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &counter.source, 7, EVSRC_READABLE), 0);
    ck_assert(testutil_expect_event(7) & EVSRC_EVENT_FLAG_IN);
    /* Its semaphore mode came with it. */
    ck_assert_uint_eq(take(&counter), 1);
    ck_assert_uint_eq(take(&counter), 1);
    assert_zero(&counter);
    ck_assert_int_eq(evsrc_eventfd_close(&counter), 0);
    ck_assert(!testutil_fd_is_open(fd));
}
END_TEST

START_TEST(from_fd_refuses_other_files)
{
    int fds[2];
    testutil_pipe(fds);
    struct evsrc_eventfd counter;
    ck_assert_int_eq(evsrc_eventfd_from_fd(&counter, fds[0]), -EINVAL);
    ck_assert(testutil_fd_is_open(fds[0]));
    ck_assert_int_eq(evsrc_eventfd_close(&counter), -EBADF);
    ck_assert_int_eq(evsrc_eventfd_from_fd(&counter, -1), -EBADF);
    testutil_close_pair(fds);
    ck_assert_int_eq(evsrc_eventfd_from_fd(&counter, fds[0]), -EBADF);
    ck_assert_int_eq(evsrc_eventfd_from_fd(NULL, 0), -EINVAL);
}
END_TEST

START_TEST(bad_input_is_einval_and_closed_is_ebadf)
{
    struct evsrc_eventfd counter;
    memset(&counter, 0xff, sizeof counter);
    ck_assert_int_eq(evsrc_eventfd_new(NULL, 0, 0), -EINVAL);
    ck_assert_int_eq(evsrc_eventfd_new(&counter, 0, 2), -EINVAL);
    ck_assert_int_eq(evsrc_eventfd_close(&counter), -EBADF);
    ck_assert_int_eq(evsrc_eventfd_new(&counter, 0, -1), -EINVAL);
    ck_assert_int_eq(evsrc_eventfd_new(&counter, UINT64_MAX, 0), -EINVAL);
    uint64_t value;
    ck_assert_int_eq(evsrc_eventfd_add(NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_eventfd_add(&counter, UINT64_MAX), -EINVAL);
    ck_assert_int_eq(evsrc_eventfd_add(&counter, 1), -EBADF);
    ck_assert_int_eq(evsrc_eventfd_take(NULL, &value), -EINVAL);
    ck_assert_int_eq(evsrc_eventfd_take(&counter, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_eventfd_take(&counter, &value), -EBADF);
    ck_assert_int_eq(evsrc_eventfd_fd(&counter), -EBADF);
    ck_assert_int_eq(evsrc_eventfd_fd(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_eventfd_close(NULL), -EINVAL);

    /* close clears the registration record and is -EBADF the second time. */
    new_registered(&counter, 0, 0, 8);
    ck_assert_int_eq(evsrc_eventfd_close(&counter), 0);
    ck_assert_int_eq(evsrc_eventfd_close(&counter), -EBADF);
    new_registered(&counter, 1, 0, 9);
    ck_assert(testutil_expect_event(9) & EVSRC_EVENT_FLAG_IN);
    ck_assert_int_eq(evsrc_eventfd_close(&counter), 0);
}
END_TEST

START_TEST(out_of_fds_is_emfile)
{
    struct rlimit old = testutil_exhaust_fds();
    struct evsrc_eventfd counter;
    int r = evsrc_eventfd_new(&counter, 0, 0);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_eq(r, -EMFILE);
    ck_assert_int_eq(evsrc_eventfd_close(&counter), -EBADF);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("eventfd");
    TCase *tc = testutil_add_tcase(suite, "eventfd");
    tcase_add_test(tc, add_then_take_the_whole_count);
    tcase_add_test(tc, initial_count_is_readable_at_once);
    tcase_add_test(tc, semaphore_mode_takes_one_at_a_time);
    tcase_add_test(tc, overflow_is_eagain_and_adds_nothing);
    tcase_add_test(tc, adds_from_other_threads_wake_a_waiting_poll);
    tcase_add_test(tc, add_works_in_a_signal_handler_and_keeps_errno);
    tcase_add_test(tc, add_in_a_signal_storm_never_deadlocks);
    tcase_add_test(tc, from_fd_adopts_an_eventfd);
    tcase_add_test(tc, from_fd_refuses_other_files);
    tcase_add_test(tc, bad_input_is_einval_and_closed_is_ebadf);
    tcase_add_test(tc, out_of_fds_is_emfile);
    return testutil_run(suite);
}
