/* SPDX-License-Identifier: MIT */
#include <evsrc/waker.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define WAKER_TOKEN ((evsrc_token)0xabcdef)

static struct evsrc_waker *new_waker(evsrc_token token)
{
    struct evsrc_waker *waker = NULL;
    ck_assert_int_eq(evsrc_waker_new(&waker, testutil_fx.registry, token), 0);
    ck_assert_ptr_nonnull(waker);
    return waker;
}

/* Asserts that every event of the next wait is a readable one for `token`, and that there is one. */
static void assert_only_wakes(evsrc_token token)
{
    testutil_expect_event(token);
    for (size_t i = 0; i < evsrc_events_len(testutil_fx.events); i++) {
        const struct evsrc_event *event = evsrc_events_get(testutil_fx.events, i);
        ck_assert_uint_eq(evsrc_event_token(event), token);
        ck_assert(evsrc_event_is_readable(event));
    }
}

START_TEST(null_arguments_are_rejected)
{
    struct evsrc_waker *sentinel = (struct evsrc_waker *)&sentinel;
    struct evsrc_waker *waker = sentinel;
    ck_assert_int_eq(evsrc_waker_new(NULL, testutil_fx.registry, WAKER_TOKEN), -EINVAL);
    ck_assert_int_eq(evsrc_waker_new(&waker, NULL, WAKER_TOKEN), -EINVAL);
    ck_assert_ptr_eq(waker, sentinel);
    ck_assert_int_eq(evsrc_waker_wake(NULL), -EINVAL);
    evsrc_waker_free(NULL);
}
END_TEST

START_TEST(wake_reports_readable_event_with_token)
{
    /* Any token value round-trips, the extremes included. */
    const evsrc_token tokens[] = {0, WAKER_TOKEN, UINT64_MAX};
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        struct evsrc_waker *waker = new_waker(tokens[i]);
        testutil_expect_no_events();
        ck_assert_int_eq(evsrc_waker_wake(waker), 0);
        assert_only_wakes(tokens[i]);
        evsrc_waker_free(waker);
    }
}
END_TEST

START_TEST(many_wakes_coalesce_and_the_next_wake_rearms)
{
    struct evsrc_waker *waker = new_waker(WAKER_TOKEN);
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 1000; i++)
            ck_assert_int_eq(evsrc_waker_wake(waker), 0);
        assert_only_wakes(WAKER_TOKEN);
        /* The poll thread read nothing from the waker, yet no event is left over... */
        testutil_expect_no_events();
        /* ...and one more wake is a new event. */
        ck_assert_int_eq(evsrc_waker_wake(waker), 0);
        assert_only_wakes(WAKER_TOKEN);
        testutil_expect_no_events();
    }
    evsrc_waker_free(waker);
}
END_TEST

START_TEST(two_wakers_on_one_poll_are_independent)
{
    struct evsrc_waker *first = new_waker(1);
    struct evsrc_waker *second = new_waker(2);
    ck_assert_int_eq(evsrc_waker_wake(second), 0);
    assert_only_wakes(2);
    testutil_expect_no_events();
    ck_assert_int_eq(evsrc_waker_wake(first), 0);
    assert_only_wakes(1);
    testutil_expect_no_events();
    evsrc_waker_free(first);
    evsrc_waker_free(second);
}
END_TEST

START_TEST(free_removes_a_wake_not_yet_received)
{
    struct evsrc_waker *waker = new_waker(WAKER_TOKEN);
    ck_assert_int_eq(evsrc_waker_wake(waker), 0);
    evsrc_waker_free(waker);
    testutil_expect_no_events();
}
END_TEST

START_TEST(waker_outlives_the_registry_clone_it_was_made_with)
{
    struct evsrc_registry *clone = NULL;
    ck_assert_int_eq(evsrc_registry_try_clone(testutil_fx.registry, &clone), 0);
    struct evsrc_waker *waker = NULL;
    ck_assert_int_eq(evsrc_waker_new(&waker, clone, WAKER_TOKEN), 0);
    evsrc_registry_free(clone);
    ck_assert_int_eq(evsrc_waker_wake(waker), 0);
    assert_only_wakes(WAKER_TOKEN);
    evsrc_waker_free(waker);
}
END_TEST

START_TEST(waker_outlives_its_poll)
{
    struct evsrc_waker *waker = new_waker(WAKER_TOKEN);
    ck_assert_int_eq(evsrc_waker_wake(waker), 0);
    evsrc_poll_free(testutil_fx.poll);
    testutil_fx.poll = NULL;
    /* The wake reaches nobody, but it is still a valid call. */
    ck_assert_int_eq(evsrc_waker_wake(waker), 0);
    ck_assert_int_eq(evsrc_waker_wake(waker), 0);
    evsrc_waker_free(waker);
}
END_TEST

START_TEST(wake_leaves_errno_alone)
{
    struct evsrc_waker *waker = new_waker(WAKER_TOKEN);
    errno = ENOTTY;
    ck_assert_int_eq(evsrc_waker_wake(waker), 0);
    ck_assert_int_eq(errno, ENOTTY);
    evsrc_waker_free(waker);
}
END_TEST

static struct evsrc_waker *signal_waker;
static volatile sig_atomic_t signal_wake_result = 1;

static void wake_on_signal(int signo)
{
    (void)signo;
    signal_wake_result = evsrc_waker_wake(signal_waker);
}

START_TEST(signal_handler_can_wake)
{
    TESTUTIL_SKIP_ON_WINDOWS("no SIGUSR1 or sigaction on Windows (a console control handler would be its form)");
    signal_waker = new_waker(WAKER_TOKEN);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = wake_on_signal;
    sigemptyset(&action.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &action, NULL), 0);
    ck_assert_int_eq(raise(SIGUSR1), 0);
    ck_assert_int_eq(signal_wake_result, 0);
    assert_only_wakes(WAKER_TOKEN);
    evsrc_waker_free(signal_waker);
}
END_TEST

START_TEST(new_out_of_fds_leaves_nothing_behind)
{
    TESTUTIL_SKIP_ON_WINDOWS("Windows has no fd limit to lower");
    int before = testutil_open_fds();
    struct rlimit saved = testutil_exhaust_fds();

    struct evsrc_waker *sentinel = (struct evsrc_waker *)&sentinel;
    struct evsrc_waker *waker = sentinel;
    int r = evsrc_waker_new(&waker, testutil_fx.registry, WAKER_TOKEN);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
    ck_assert_int_eq(r, -EMFILE);
    ck_assert_ptr_eq(waker, sentinel);
    ck_assert_int_eq(testutil_open_fds(), before);
}
END_TEST

/* Marks in `marks` (indexed by fd, below `count`) the fds that are eventfds. */
static void mark_eventfds(bool *marks, int count)
{
    DIR *dir = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(dir);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        int fd = atoi(entry->d_name);
        char path[64], target[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n < 0 || fd >= count)
            continue;
        target[n] = '\0';
        if (strcmp(target, "anon_inode:[eventfd]") == 0)
            marks[fd] = true;
    }
    closedir(dir);
}

/* The eventfd a new waker made: the one that was not there before. */
static int find_waker_eventfd(struct evsrc_waker **out)
{
    enum { MAX_FD = 1024 };
    static bool before[MAX_FD], after[MAX_FD];
    memset(before, 0, sizeof before);
    memset(after, 0, sizeof after);
    mark_eventfds(before, MAX_FD);
    *out = new_waker(WAKER_TOKEN);
    mark_eventfds(after, MAX_FD);
    int found = -1;
    for (int fd = 0; fd < MAX_FD; fd++) {
        if (after[fd] && !before[fd]) {
            ck_assert_int_eq(found, -1);
            found = fd;
        }
    }
    ck_assert_int_ge(found, 0);
    return found;
}

START_TEST(waker_fd_is_cloexec_and_nonblocking)
{
    TESTUTIL_SKIP_ON_WINDOWS("the Windows waker is a posted completion: it has no fd");
    struct evsrc_waker *waker;
    int fd = find_waker_eventfd(&waker);
    ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    evsrc_waker_free(waker);
}
END_TEST

START_TEST(wake_with_a_full_counter_still_wakes)
{
    TESTUTIL_SKIP_ON_WINDOWS("the Windows waker has no counter to fill");
    /* Fill the eventfd's counter to its largest value, which no wake can add to. */
    struct evsrc_waker *waker;
    int fd = find_waker_eventfd(&waker);
    uint64_t full = UINT64_MAX - 1;
    ck_assert_int_eq(write(fd, &full, sizeof full), (ssize_t)sizeof full);
    uint64_t one = 1;
    ck_assert_int_eq(write(fd, &one, sizeof one), -1);
    ck_assert_int_eq(errno, EAGAIN);
    assert_only_wakes(WAKER_TOKEN);
    testutil_expect_no_events();

    ck_assert_int_eq(evsrc_waker_wake(waker), 0);
    assert_only_wakes(WAKER_TOKEN);
    /* The counter was emptied, so wakes keep working. */
    ck_assert_int_eq(evsrc_waker_wake(waker), 0);
    assert_only_wakes(WAKER_TOKEN);
    evsrc_waker_free(waker);
}
END_TEST

/* Cross-thread tests. */

struct wake_thread_args {
    struct evsrc_waker *waker;
    pthread_barrier_t *start;
    atomic_int *poll_tid;   /* the poll thread's tid, once it is about to wait */
    int wakes;
    int result;             /* the first failed wake, or 0 */
};

/* Whether thread `tid` of this process is asleep (in the kernel, waiting). */
static bool thread_is_sleeping(int tid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *file = fopen(path, "re");
    if (!file)
        return false;
    size_t n = fread(line, 1, sizeof line - 1, file);
    fclose(file);
    line[n] = '\0';
    /* The state follows the command name, which is in parentheses and may hold anything. */
    const char *state = strrchr(line, ')');
    return state && state[1] == ' ' && state[2] == 'S';
}

/*
 * Gives the poll thread (bounded) time to block in its wait, so that the wake
 * is tested against a sleeping waiter. Correctness does not depend on it: a
 * wake that comes first is reported by the wait all the same.
 */
static void let_poll_thread_block(atomic_int *poll_tid)
{
    struct timespec pause = {0, 1000000L};
    int tid = 0;
    for (int i = 0; i < 2000 && (tid = atomic_load(poll_tid)) == 0; i++)
        nanosleep(&pause, NULL);
    for (int i = 0; tid != 0 && i < 2000 && !thread_is_sleeping(tid); i++)
        nanosleep(&pause, NULL);
}

static void *wake_thread(void *arg)
{
    struct wake_thread_args *args = arg;
    pthread_barrier_wait(args->start);
    if (args->poll_tid)
        let_poll_thread_block(args->poll_tid);
    for (int i = 0; i < args->wakes && args->result == 0; i++)
        args->result = evsrc_waker_wake(args->waker);
    return NULL;
}

START_TEST(wake_from_another_thread_ends_a_wait_without_timeout)
{
    struct evsrc_waker *waker = new_waker(WAKER_TOKEN);
    for (int round = 0; round < 3; round++) {
        pthread_barrier_t start;
        ck_assert_int_eq(pthread_barrier_init(&start, NULL, 2), 0);
        atomic_int poll_tid = 0;
        struct wake_thread_args args = {waker, &start, &poll_tid, 1, 0};
        pthread_t thread;
        ck_assert_int_eq(pthread_create(&thread, NULL, wake_thread, &args), 0);
        pthread_barrier_wait(&start);
        atomic_store(&poll_tid, gettid());
        /* No timeout: only the wake can end this wait (the test's own timeout catches a hang). */
        int n;
        do
            n = evsrc_poll_wait(testutil_fx.poll, testutil_fx.events, NULL);
        while (n == -EINTR);
        ck_assert_int_eq(n, 1);
        ck_assert_uint_eq(evsrc_event_token(evsrc_events_get(testutil_fx.events, 0)), WAKER_TOKEN);
        ck_assert(evsrc_event_is_readable(evsrc_events_get(testutil_fx.events, 0)));
        ck_assert_int_eq(pthread_join(thread, NULL), 0);
        ck_assert_int_eq(args.result, 0);
        pthread_barrier_destroy(&start);
    }
    evsrc_waker_free(waker);
}
END_TEST

START_TEST(wakes_from_many_threads_coalesce)
{
    enum { THREADS = 4, WAKES = 250 };
    struct evsrc_waker *waker = new_waker(WAKER_TOKEN);
    pthread_barrier_t start;
    ck_assert_int_eq(pthread_barrier_init(&start, NULL, THREADS), 0);
    struct wake_thread_args args[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct wake_thread_args){waker, &start, NULL, WAKES, 0};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, wake_thread, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
        ck_assert_int_eq(args[i].result, 0);
    }
    pthread_barrier_destroy(&start);
    assert_only_wakes(WAKER_TOKEN);
    testutil_expect_no_events();
    ck_assert_int_eq(evsrc_waker_wake(waker), 0);
    assert_only_wakes(WAKER_TOKEN);
    evsrc_waker_free(waker);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("waker");
    TCase *tc = testutil_add_tcase(suite, "waker");
    tcase_add_test(tc, null_arguments_are_rejected);
    tcase_add_test(tc, wake_reports_readable_event_with_token);
    tcase_add_test(tc, many_wakes_coalesce_and_the_next_wake_rearms);
    tcase_add_test(tc, two_wakers_on_one_poll_are_independent);
    tcase_add_test(tc, free_removes_a_wake_not_yet_received);
    tcase_add_test(tc, waker_outlives_the_registry_clone_it_was_made_with);
    tcase_add_test(tc, waker_outlives_its_poll);
    tcase_add_test(tc, wake_leaves_errno_alone);
    tcase_add_test(tc, signal_handler_can_wake);
    tcase_add_test(tc, new_out_of_fds_leaves_nothing_behind);
    tcase_add_test(tc, waker_fd_is_cloexec_and_nonblocking);
    tcase_add_test(tc, wake_with_a_full_counter_still_wakes);
    tcase_add_test(tc, wake_from_another_thread_ends_a_wait_without_timeout);
    tcase_add_test(tc, wakes_from_many_threads_coalesce);
    return testutil_run(suite);
}
