/* SPDX-License-Identifier: MIT */
/*
 * fork(): a child never deadlocks on the library's state, and every call on
 * a poll, registry or waker made in the parent answers -ECHILD in the child
 * without touching the parent's queue.
 */
#include <evsrc/evsrc.h>

#include <evsrc/pipe.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define PARENT_TOKEN ((evsrc_token)11)
#define CHILD_TOKEN ((evsrc_token)22)
#define WAKER_TOKEN ((evsrc_token)33)
#define FORKS 300

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* The child's exit status, or -1 if it did not exit within the deadline (it is killed then). */
static int reap_child(pid_t pid)
{
    long long deadline = testutil_now_ms() + TESTUTIL_EVENT_DEADLINE_MS;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (r < 0 || testutil_now_ms() > deadline)
            break;
        sleep_ms(1);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static atomic_bool churn_stop;

static void *churn_polls(void *arg)
{
    (void)arg;
    while (!atomic_load(&churn_stop)) {
        struct evsrc_poll *poll = NULL;
        if (evsrc_poll_new(&poll) == 0)
            evsrc_poll_free(poll);
    }
    return NULL;
}

/* The reported hang: a child forked while another thread held the live-queue lock. */
START_TEST(child_of_a_churning_process_can_make_a_poll)
{
    pthread_t thread;
    atomic_store(&churn_stop, false);
    ck_assert_int_eq(pthread_create(&thread, NULL, churn_polls, NULL), 0);
    /*
     * Each child reports through a pipe rather than its exit status, which
     * under valgrind would also count what the vanished churn thread had
     * allocated at the fork as a leak.
     */
    int report[2];
    testutil_pipe(report);
    /* FORKS of them, or as many as fit in a bounded time (valgrind makes each fork slow). */
    long long stop_at = testutil_now_ms() + 20000;
    int failed = 0;
    for (int i = 0; i < FORKS && !failed && testutil_now_ms() < stop_at; i++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            struct evsrc_poll *poll = NULL;
            if (evsrc_poll_new(&poll) == 0 && write(report[1], "k", 1) == 1)
                evsrc_poll_free(poll);
            /* Exec, so that valgrind does not count the vanished thread's memory as the child's leak. */
            execl("/bin/true", "true", (char *)NULL);
            _exit(0);
        }
        char byte = 0;
        failed = reap_child(pid) < 0 || read(report[0], &byte, 1) != 1 || byte != 'k';
    }
    atomic_store(&churn_stop, true);
    pthread_join(thread, NULL);
    testutil_close_pair(report);
    ck_assert_int_eq(failed, 0);
}
END_TEST

/* Everything the child checks; its exit status is the number of the first check that failed. */
static int child_checks(struct evsrc_poll *poll, struct evsrc_registry *clone, struct evsrc_waker *waker,
                        struct evsrc_source_fd *source, int write_fd)
{
    struct evsrc_registry *registry = evsrc_poll_registry(poll);
    struct evsrc_events *events = NULL;
    struct evsrc_registry *clone2 = NULL;
    struct evsrc_waker *waker2 = NULL;
    struct timespec zero = {0, 0};
    if (evsrc_events_new(8, &events) != 0)
        return 1;
    if (evsrc_poll_wait(poll, events, NULL) != -ECHILD || evsrc_poll_wait(poll, events, &zero) != -ECHILD)
        return 2;
    if (evsrc_registry_register(registry, &source->source, CHILD_TOKEN, EVSRC_READABLE) != -ECHILD ||
        evsrc_registry_reregister(clone, &source->source, CHILD_TOKEN, EVSRC_READABLE) != -ECHILD ||
        evsrc_registry_deregister(registry, &source->source) != -ECHILD)
        return 3;
    if (evsrc_registry_register_fd(clone, source->fd, CHILD_TOKEN, EVSRC_READABLE) != -ECHILD ||
        evsrc_registry_reregister_fd(registry, source->fd, CHILD_TOKEN, EVSRC_READABLE) != -ECHILD ||
        evsrc_registry_deregister_fd(registry, source->fd) != -ECHILD)
        return 4;
    if (evsrc_registry_try_clone(clone, &clone2) != -ECHILD || evsrc_waker_wake(waker) != -ECHILD ||
        evsrc_waker_new(&waker2, registry, WAKER_TOKEN) != -ECHILD)
        return 5;
    /* The child's own poll takes the inherited source: its record names a queue that is not the child's. */
    struct evsrc_poll *own = NULL;
    if (evsrc_poll_new(&own) != 0)
        return 6;
    if (evsrc_registry_register(evsrc_poll_registry(own), &source->source, CHILD_TOKEN, EVSRC_READABLE) != 0)
        return 7;
    if (write(write_fd, "c", 1) != 1)
        return 8;
    struct timespec deadline = {TESTUTIL_EVENT_DEADLINE_MS / 1000, 0};
    if (evsrc_poll_wait(own, events, &deadline) != 1 ||
        evsrc_event_token(evsrc_events_get(events, 0)) != CHILD_TOKEN)
        return 9;
    if (evsrc_registry_deregister(evsrc_poll_registry(own), &source->source) != 0)
        return 10;
    /* Freeing the inherited objects releases the child's copies only. */
    evsrc_poll_free(own);
    evsrc_registry_free(clone);
    evsrc_waker_free(waker);
    evsrc_poll_free(poll);
    evsrc_events_free(events);
    return 0;
}

/*
 * The child frees the inherited poll first, then allocates (so the freed
 * memory is reused and overwritten), then goes through every path that
 * knows the library's queues: a pipe read's re-arm on -EAGAIN, a library
 * close, a new poll (issue 20: on the poll backend the freed queue stayed
 * in the child's list of live queues, and these wrote freed memory).
 */
static int child_frees_then_uses(struct evsrc_poll *poll, struct evsrc_pipe_receiver *receiver,
                                 struct evsrc_pipe_sender *sender)
{
    evsrc_poll_free(poll);
    void *reused[64];
    for (size_t i = 0; i < 64; i++) {
        reused[i] = malloc(32 + 16 * i);
        if (!reused[i])
            return 1;
        memset(reused[i], 0xff, 32 + 16 * i);
    }
    char byte;
    if (evsrc_pipe_receiver_read(receiver, &byte, 1) != -EAGAIN)
        return 2;
    struct evsrc_poll *own = NULL;
    if (evsrc_poll_new(&own) != 0)
        return 3;
    if (evsrc_registry_register(evsrc_poll_registry(own), &receiver->source, CHILD_TOKEN, EVSRC_READABLE) != 0)
        return 4;
    if (evsrc_pipe_receiver_read(receiver, &byte, 1) != -EAGAIN || evsrc_pipe_sender_write(sender, "c", 1) != 1)
        return 5;
    struct evsrc_events *events = NULL;
    struct timespec deadline = {TESTUTIL_EVENT_DEADLINE_MS / 1000, 0};
    if (evsrc_events_new(4, &events) != 0 || evsrc_poll_wait(own, events, &deadline) != 1)
        return 6;
    if (evsrc_pipe_receiver_close(receiver) != 0 || evsrc_pipe_sender_close(sender) != 0)
        return 7;
    evsrc_events_free(events);
    evsrc_poll_free(own);
    for (size_t i = 0; i < 64; i++)
        free(reused[i]);
    return 0;
}

START_TEST(child_that_frees_the_inherited_poll_can_go_on)
{
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    ck_assert_int_eq(evsrc_pipe_new(&sender, &receiver), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &receiver.source, PARENT_TOKEN, EVSRC_READABLE),
                     0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        testutil_child_exit(child_frees_then_uses(testutil_fx.poll, &receiver, &sender));
    ck_assert_int_eq(reap_child(pid), 0);
    /* The parent's queue is untouched: its registration still reports. */
    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, "p", 1), 1);
    testutil_expect_event(PARENT_TOKEN);
    ck_assert_int_eq(evsrc_pipe_receiver_close(&receiver), 0);
    ck_assert_int_eq(evsrc_pipe_sender_close(&sender), 0);
}
END_TEST

START_TEST(inherited_objects_answer_echild_and_leave_the_parent_alone)
{
    struct evsrc_registry *clone = NULL;
    struct evsrc_waker *waker = NULL;
    int fds[2];
    testutil_pipe(fds);
    struct evsrc_source_fd source;
    ck_assert_int_eq(evsrc_source_fd_init(&source, fds[0]), 0);
    ck_assert_int_eq(evsrc_registry_try_clone(testutil_fx.registry, &clone), 0);
    ck_assert_int_eq(evsrc_waker_new(&waker, testutil_fx.registry, WAKER_TOKEN), 0);
    ck_assert_int_eq(evsrc_registry_register(clone, &source.source, PARENT_TOKEN, EVSRC_READABLE | EVSRC_LEVEL),
                     0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        testutil_child_exit(child_checks(testutil_fx.poll, clone, waker, &source, fds[1]));
    ck_assert_int_eq(reap_child(pid), 0);
    /* The parent's registration survived the child (the child's byte is still unread: level-triggered). */
    testutil_expect_event(PARENT_TOKEN);
    ck_assert_int_eq(evsrc_waker_wake(waker), 0);
    testutil_expect_event(WAKER_TOKEN);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &source.source), 0);
    evsrc_waker_free(waker);
    evsrc_registry_free(clone);
    testutil_close_pair(fds);
}
END_TEST

/* A custom source whose register op stalls, so a fork can land while its record is busy. */
struct stalling_source {
    struct evsrc_source source;
    int fd;
    bool stall;
    atomic_bool inside, release;
};

static int stalling_register(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                             evsrc_interest interests)
{
    struct stalling_source *self = evsrc_container_of(source, struct stalling_source, source);
    if (self->stall) {
        atomic_store(&self->inside, true);
        while (!atomic_load(&self->release))
            sleep_ms(1);
    }
    return evsrc_registry_register_fd(registry, self->fd, token, interests);
}

static int stalling_reregister(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                               evsrc_interest interests)
{
    struct stalling_source *self = evsrc_container_of(source, struct stalling_source, source);
    return evsrc_registry_reregister_fd(registry, self->fd, token, interests);
}

static int stalling_deregister(struct evsrc_source *source, struct evsrc_registry *registry)
{
    struct stalling_source *self = evsrc_container_of(source, struct stalling_source, source);
    return evsrc_registry_deregister_fd(registry, self->fd);
}

static const struct event_source_ops stalling_ops = {stalling_register, stalling_reregister, stalling_deregister};

static void *register_stalling(void *arg)
{
    struct stalling_source *s = arg;
    return (void *)(intptr_t)evsrc_registry_register(testutil_fx.registry, &s->source, PARENT_TOKEN,
                                                     EVSRC_READABLE);
}

START_TEST(source_busy_in_another_thread_at_fork_is_usable_in_the_child)
{
    int fds[2];
    testutil_pipe(fds);
    struct stalling_source s = {.source = EVSRC_SOURCE_INIT(&stalling_ops), .fd = fds[0], .stall = true};
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, register_stalling, &s), 0);
    while (!atomic_load(&s.inside))
        sleep_ms(1);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* The registering thread does not exist here; its busy mark must not block the child. */
        s.stall = false;
        struct evsrc_poll *own = NULL;
        if (evsrc_poll_new(&own) != 0)
            testutil_child_exit(1);
        struct evsrc_registry *registry = evsrc_poll_registry(own);
        if (evsrc_registry_register(registry, &s.source, CHILD_TOKEN, EVSRC_READABLE) != 0)
            testutil_child_exit(2);
        if (evsrc_registry_deregister(registry, &s.source) != 0)
            testutil_child_exit(3);
        evsrc_poll_free(own);
        testutil_child_exit(0);
    }
    int child = reap_child(pid);
    atomic_store(&s.release, true);
    void *result;
    pthread_join(thread, &result);
    ck_assert_int_eq(child, 0);
    ck_assert_int_eq((int)(intptr_t)result, 0);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &s.source), 0);
    testutil_close_pair(fds);
}
END_TEST

/* A grandchild inherits handles its parent had inherited already: they answer -ECHILD there too. */
START_TEST(grandchild_answers_echild_too)
{
    int fds[2];
    testutil_pipe(fds);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        pid_t grandchild = fork();
        if (grandchild < 0)
            testutil_child_exit(100);
        if (grandchild == 0) {
            struct evsrc_events *events = NULL;
            if (evsrc_events_new(4, &events) != 0)
                testutil_child_exit(1);
            if (evsrc_poll_wait(testutil_fx.poll, events, &(struct timespec){0, 0}) != -ECHILD)
                testutil_child_exit(2);
            if (evsrc_registry_register_fd(testutil_fx.registry, fds[0], CHILD_TOKEN, EVSRC_READABLE) != -ECHILD)
                testutil_child_exit(3);
            evsrc_events_free(events);
            testutil_child_exit(0);
        }
        testutil_child_exit(reap_child(grandchild));
    }
    ck_assert_int_eq(reap_child(pid), 0);
    testutil_close_pair(fds);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("fork");
    TCase *tc = testutil_add_tcase(suite, "fork");
    tcase_add_test(tc, child_of_a_churning_process_can_make_a_poll);
    tcase_add_test(tc, inherited_objects_answer_echild_and_leave_the_parent_alone);
    tcase_add_test(tc, child_that_frees_the_inherited_poll_can_go_on);
    tcase_add_test(tc, source_busy_in_another_thread_at_fork_is_usable_in_the_child);
    tcase_add_test(tc, grandchild_answers_echild_too);
    return testutil_run(suite);
}
