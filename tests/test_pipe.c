/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <evsrc/pipe.h>

#include "testutil.h"

/* The first event for `token` in the last wait (after testutil_wait_token found one). */
static const struct evsrc_event *event_for(evsrc_token token)
{
    for (size_t i = 0; i < evsrc_events_len(testutil_fx.events); i++) {
        const struct evsrc_event *event = evsrc_events_get(testutil_fx.events, i);
        if (evsrc_event_token(event) == token)
            return event;
    }
    ck_abort_msg("no event for token %llu", (unsigned long long)token);
    return NULL;
}

static const struct evsrc_event *wait_event(evsrc_token token)
{
    testutil_expect_event(token);
    return event_for(token);
}

static void drain(struct evsrc_pipe_receiver *receiver)
{
    char buf[4096];
    ssize_t n;
    while ((n = evsrc_pipe_receiver_read(receiver, buf, sizeof buf)) > 0) {
    }
    ck_assert_int_eq(n, -EAGAIN);
}

static void fill(struct evsrc_pipe_sender *sender)
{
    static const char chunk[4096];
    ssize_t n;
    /* 1 MiB bounds the loop well above any default pipe capacity. */
    for (size_t total = 0; (n = evsrc_pipe_sender_write(sender, chunk, sizeof chunk)) > 0; total += (size_t)n)
        ck_assert_uint_lt(total, 1u << 20);
    ck_assert_int_eq(n, -EAGAIN);
    while ((n = evsrc_pipe_sender_write(sender, "x", 1)) > 0) {
    }
    ck_assert_int_eq(n, -EAGAIN);
}

static int fd_flags(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    ck_assert_int_ge(flags, 0);
    return flags;
}

static void close_both(struct evsrc_pipe_sender *sender, struct evsrc_pipe_receiver *receiver)
{
    ck_assert_int_eq(evsrc_pipe_sender_close(sender), 0);
    ck_assert_int_eq(evsrc_pipe_receiver_close(receiver), 0);
}

static bool sigpipe_is_pending(void)
{
    sigset_t pending;
    ck_assert_int_eq(sigpending(&pending), 0);
    return sigismember(&pending, SIGPIPE) == 1;
}

static bool sigpipe_is_blocked(void)
{
    sigset_t mask;
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, NULL, &mask), 0);
    return sigismember(&mask, SIGPIPE) == 1;
}

static bool sigpipe_is_default(void)
{
    struct sigaction action;
    ck_assert_int_eq(sigaction(SIGPIPE, NULL, &action), 0);
    return action.sa_handler == SIG_DFL;
}

static void set_sigpipe_blocked(bool blocked)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    ck_assert_int_eq(pthread_sigmask(blocked ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL), 0);
}

/* Takes every pending SIGPIPE (SIGPIPE must be blocked) and returns how many there were. */
static int take_pending_sigpipes(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    const struct timespec now = {0, 0};
    int taken = 0;
    while (sigtimedwait(&set, NULL, &now) == SIGPIPE)
        taken++;
    return taken;
}

/* A sender whose receiver is gone. */
static void broken_pipe(struct evsrc_pipe_sender *sender)
{
    struct evsrc_pipe_receiver receiver;
    ck_assert_int_eq(evsrc_pipe_new(sender, &receiver), 0);
    ck_assert_int_eq(evsrc_pipe_receiver_close(&receiver), 0);
}

START_TEST(new_makes_nonblocking_cloexec_ends)
{
    ck_assert_uint_le(sizeof(struct evsrc_pipe_sender), 32);
    ck_assert_uint_le(sizeof(struct evsrc_pipe_receiver), 32);
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    ck_assert_int_eq(evsrc_pipe_new(&sender, &receiver), 0);
    int ends[2] = {evsrc_pipe_sender_fd(&sender), evsrc_pipe_receiver_fd(&receiver)};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_ge(ends[i], 0);
        ck_assert(fd_flags(ends[i]) & O_NONBLOCK);
        ck_assert(fcntl(ends[i], F_GETFD) & FD_CLOEXEC);
    }
    ck_assert_int_eq(fd_flags(ends[0]) & O_ACCMODE, O_WRONLY);
    ck_assert_int_eq(fd_flags(ends[1]) & O_ACCMODE, O_RDONLY);

    char buf[8];
    ck_assert_int_eq(evsrc_pipe_receiver_read(&receiver, buf, sizeof buf), -EAGAIN);
    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, "hello", 5), 5);
    ck_assert_int_eq(evsrc_pipe_receiver_read(&receiver, buf, sizeof buf), 5);
    ck_assert_mem_eq(buf, "hello", 5);
    /* Zero-length calls do nothing and report nothing transferred. */
    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, buf, 0), 0);
    ck_assert_int_eq(evsrc_pipe_receiver_read(&receiver, buf, 0), 0);
    close_both(&sender, &receiver);
    ck_assert(!testutil_fd_is_open(ends[0]));
    ck_assert(!testutil_fd_is_open(ends[1]));
}
END_TEST

START_TEST(readable_is_edge_triggered)
{
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    ck_assert_int_eq(evsrc_pipe_new(&sender, &receiver), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &receiver.source, 1, EVSRC_READABLE), 0);
    testutil_expect_quiet(1);

    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, "abc", 3), 3);
    const struct evsrc_event *event = wait_event(1);
    ck_assert(evsrc_event_is_readable(event));
    ck_assert(!evsrc_event_is_read_closed(event));

    /* A partial read owes no new event, and neither does draining. */
    char buf[8];
    ck_assert_int_eq(evsrc_pipe_receiver_read(&receiver, buf, 1), 1);
    testutil_expect_quiet(1);
    ck_assert_int_eq(evsrc_pipe_receiver_read(&receiver, buf, sizeof buf), 2);
    ck_assert_int_eq(evsrc_pipe_receiver_read(&receiver, buf, sizeof buf), -EAGAIN);
    testutil_expect_quiet(1);

    /* New data after draining is a new edge. */
    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, "d", 1), 1);
    ck_assert(evsrc_event_is_readable(wait_event(1)));
    close_both(&sender, &receiver);
}
END_TEST

START_TEST(level_reports_while_data_remains)
{
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    ck_assert_int_eq(evsrc_pipe_new(&sender, &receiver), 0);
    ck_assert_int_eq(
        evsrc_registry_register(testutil_fx.registry, &receiver.source, 2, EVSRC_READABLE | EVSRC_LEVEL), 0);
    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, "ab", 2), 2);
    ck_assert(evsrc_event_is_readable(wait_event(2)));
    ck_assert(evsrc_event_is_readable(wait_event(2)));
    char c;
    ck_assert_int_eq(evsrc_pipe_receiver_read(&receiver, &c, 1), 1);
    ck_assert(evsrc_event_is_readable(wait_event(2)));
    ck_assert_int_eq(evsrc_pipe_receiver_read(&receiver, &c, 1), 1);
    testutil_expect_quiet(2);
    close_both(&sender, &receiver);
}
END_TEST

/* A short write, then the reader drains: the writable event comes without an -EAGAIN write (pipe.h). */
START_TEST(short_write_is_enough_to_wait_for_writable)
{
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    ck_assert_int_eq(evsrc_pipe_new(&sender, &receiver), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &sender.source, 1, EVSRC_WRITABLE), 0);
    testutil_expect_event(1);
    enum { BIG = 1 << 20 };
    char *buf = calloc(1, BIG);
    ck_assert_ptr_nonnull(buf);
    ssize_t n = evsrc_pipe_sender_write(&sender, buf, BIG);
    ck_assert_int_gt(n, 0);
    ck_assert_int_lt(n, BIG);
    ssize_t got = 0;
    while (got < n) {
        ssize_t r = evsrc_pipe_receiver_read(&receiver, buf, BIG);
        ck_assert_int_gt(r, 0);
        got += r;
    }
    ck_assert(testutil_expect_event(1) & EVSRC_EVENT_FLAG_OUT);
    free(buf);
    ck_assert_int_eq(evsrc_pipe_sender_close(&sender), 0);
    ck_assert_int_eq(evsrc_pipe_receiver_close(&receiver), 0);
}
END_TEST

START_TEST(writable_again_only_after_drain)
{
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    ck_assert_int_eq(evsrc_pipe_new(&sender, &receiver), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &sender.source, 3, EVSRC_WRITABLE), 0);
    const struct evsrc_event *event = wait_event(3);
    ck_assert(evsrc_event_is_writable(event));
    ck_assert(!evsrc_event_is_write_closed(event));

    fill(&sender);
    testutil_expect_quiet(3);

    drain(&receiver);
    ck_assert(evsrc_event_is_writable(wait_event(3)));
    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, "x", 1), 1);
    close_both(&sender, &receiver);
}
END_TEST

START_TEST(closing_sender_gives_read_closed)
{
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    ck_assert_int_eq(evsrc_pipe_new(&sender, &receiver), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &receiver.source, 4, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, "x", 1), 1);
    ck_assert(!evsrc_event_is_read_closed(wait_event(4)));

    /* Data still buffered is read before end of file. */
    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, "yz", 2), 2);
    ck_assert_int_eq(evsrc_pipe_sender_close(&sender), 0);
    const struct evsrc_event *event = wait_event(4);
    ck_assert(evsrc_event_is_read_closed(event));
    ck_assert(evsrc_event_is_readable(event));
    char buf[8];
    ck_assert_int_eq(evsrc_pipe_receiver_read(&receiver, buf, sizeof buf), 3);
    ck_assert_mem_eq(buf, "xyz", 3);
    ck_assert_int_eq(evsrc_pipe_receiver_read(&receiver, buf, sizeof buf), 0);
    ck_assert_int_eq(evsrc_pipe_receiver_read(&receiver, buf, sizeof buf), 0);
    ck_assert_int_eq(evsrc_pipe_receiver_close(&receiver), 0);
}
END_TEST

START_TEST(closing_receiver_gives_write_closed_and_epipe)
{
    ck_assert(sigpipe_is_default());
    ck_assert(!sigpipe_is_blocked());
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    ck_assert_int_eq(evsrc_pipe_new(&sender, &receiver), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &sender.source, 5, EVSRC_WRITABLE), 0);
    ck_assert(!evsrc_event_is_write_closed(wait_event(5)));

    ck_assert_int_eq(evsrc_pipe_receiver_close(&receiver), 0);
    const struct evsrc_event *event = wait_event(5);
    ck_assert(evsrc_event_is_write_closed(event) || evsrc_event_is_error(event));

    /* With SIGPIPE at its default action, a raised signal would kill this process. */
    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, "x", 1), -EPIPE);
    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, "xy", 2), -EPIPE);
    ck_assert(sigpipe_is_default());
    ck_assert(!sigpipe_is_blocked());
    ck_assert(!sigpipe_is_pending());
    ck_assert_int_eq(evsrc_pipe_sender_close(&sender), 0);
}
END_TEST

/* A SIGPIPE the thread had pending (and blocked) before a failed write is still pending after. */
START_TEST(pending_sigpipe_survives_epipe)
{
    struct evsrc_pipe_sender sender;
    broken_pipe(&sender);
    set_sigpipe_blocked(true);

    /* Sent to this thread, as the kernel sends the write's own. */
    ck_assert_int_eq(pthread_kill(pthread_self(), SIGPIPE), 0);
    ck_assert(sigpipe_is_pending());
    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, "x", 1), -EPIPE);
    ck_assert(sigpipe_is_pending());
    ck_assert(sigpipe_is_blocked());
    ck_assert_int_eq(take_pending_sigpipes(), 1);

    /* Sent to the process: it stays pending too. */
    ck_assert_int_eq(kill(getpid(), SIGPIPE), 0);
    ck_assert(sigpipe_is_pending());
    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, "x", 1), -EPIPE);
    ck_assert(sigpipe_is_pending());
    ck_assert_int_ge(take_pending_sigpipes(), 1);

    /* Blocked but not pending: the write's own is taken back, the mask kept. */
    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, "x", 1), -EPIPE);
    ck_assert(!sigpipe_is_pending());
    ck_assert(sigpipe_is_blocked());

    set_sigpipe_blocked(false);
    ck_assert(sigpipe_is_default());
    ck_assert_int_eq(evsrc_pipe_sender_close(&sender), 0);
}
END_TEST

enum { WRITER_THREADS = 4, WRITES_PER_THREAD = 2000 };

struct writer {
    pthread_barrier_t *start;
    struct evsrc_pipe_sender sender;
    int unexpected;  /* writes that did not return -EPIPE */
    bool left_signal; /* SIGPIPE pending or blocked in the thread afterwards */
};

static void *write_broken_pipe(void *arg)
{
    struct writer *writer = arg;
    pthread_barrier_wait(writer->start);
    for (int i = 0; i < WRITES_PER_THREAD; i++)
        if (evsrc_pipe_sender_write(&writer->sender, "x", 1) != -EPIPE)
            writer->unexpected++;
    writer->left_signal = sigpipe_is_pending() || sigpipe_is_blocked();
    return NULL;
}

START_TEST(epipe_from_several_threads_at_once)
{
    pthread_barrier_t start;
    ck_assert_int_eq(pthread_barrier_init(&start, NULL, WRITER_THREADS), 0);
    struct writer writers[WRITER_THREADS];
    pthread_t threads[WRITER_THREADS];
    for (int i = 0; i < WRITER_THREADS; i++) {
        writers[i] = (struct writer){.start = &start, .unexpected = 0, .left_signal = false};
        broken_pipe(&writers[i].sender);
    }
    for (int i = 0; i < WRITER_THREADS; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, write_broken_pipe, &writers[i]), 0);
    for (int i = 0; i < WRITER_THREADS; i++) {
        ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
        ck_assert_int_eq(writers[i].unexpected, 0);
        ck_assert(!writers[i].left_signal);
        ck_assert_int_eq(evsrc_pipe_sender_close(&writers[i].sender), 0);
    }
    pthread_barrier_destroy(&start);
    ck_assert(sigpipe_is_default());
    ck_assert(!sigpipe_is_pending());
}
END_TEST

START_TEST(deregistered_ends_report_nothing)
{
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    ck_assert_int_eq(evsrc_pipe_new(&sender, &receiver), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &receiver.source, 6, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &sender.source, 7, EVSRC_WRITABLE), 0);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &receiver.source), 0);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &sender.source), 0);

    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, "x", 1), 1);
    testutil_expect_no_events();
    ck_assert_int_eq(evsrc_pipe_sender_close(&sender), 0);
    testutil_expect_no_events();
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &receiver.source), -ENOENT);
    ck_assert_int_eq(evsrc_pipe_receiver_close(&receiver), 0);
}
END_TEST

enum { PIPES = 3 };

/* Waits until each of `want` (distinct indexes of tokens[]) has reported, failing on any other token. */
static void expect_tokens(const evsrc_token tokens[PIPES], const bool want[PIPES])
{
    bool seen[PIPES] = {false};
    for (int round = 0; round < TESTUTIL_EVENT_DEADLINE_MS / 100; round++) {
        int n = testutil_wait_ms(testutil_fx.poll, testutil_fx.events, 100);
        ck_assert_int_ge(n, 0);
        for (size_t i = 0; i < (size_t)n; i++) {
            evsrc_token token = evsrc_event_token(evsrc_events_get(testutil_fx.events, i));
            int index = -1;
            for (int k = 0; k < PIPES; k++)
                if (tokens[k] == token)
                    index = k;
            ck_assert_msg(index >= 0 && want[index], "unexpected token %llu", (unsigned long long)token);
            seen[index] = true;
        }
        if (memcmp(seen, want, sizeof seen) == 0)
            return;
    }
    ck_abort_msg("not every expected token reported");
}

START_TEST(each_source_reports_its_own_token)
{
    const evsrc_token tokens[PIPES] = {100, 0, UINT64_MAX};
    struct evsrc_pipe_sender senders[PIPES];
    struct evsrc_pipe_receiver receivers[PIPES];
    for (int i = 0; i < PIPES; i++) {
        ck_assert_int_eq(evsrc_pipe_new(&senders[i], &receivers[i]), 0);
        ck_assert_int_eq(
            evsrc_registry_register(testutil_fx.registry, &receivers[i].source, tokens[i], EVSRC_READABLE), 0);
    }
    ck_assert_int_eq(evsrc_pipe_sender_write(&senders[0], "a", 1), 1);
    ck_assert_int_eq(evsrc_pipe_sender_write(&senders[2], "c", 1), 1);
    expect_tokens(tokens, (const bool[PIPES]){true, false, true});
    ck_assert_int_eq(evsrc_pipe_sender_write(&senders[1], "b", 1), 1);
    expect_tokens(tokens, (const bool[PIPES]){false, true, false});
    for (int i = 0; i < PIPES; i++) {
        char c;
        ck_assert_int_eq(evsrc_pipe_receiver_read(&receivers[i], &c, 1), 1);
        ck_assert_int_eq(c, "abc"[i]);
        close_both(&senders[i], &receivers[i]);
    }
}
END_TEST

START_TEST(out_of_fds_is_emfile)
{
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    memset(&sender, 0xff, sizeof sender);
    memset(&receiver, 0xff, sizeof receiver);
    struct rlimit old = testutil_exhaust_fds();
    int r = evsrc_pipe_new(&sender, &receiver);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_eq(r, -EMFILE);
    ck_assert_int_eq(evsrc_pipe_sender_close(&sender), -EBADF);
    ck_assert_int_eq(evsrc_pipe_receiver_close(&receiver), -EBADF);
}
END_TEST

START_TEST(null_arguments_are_einval)
{
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    ck_assert_int_eq(evsrc_pipe_new(NULL, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_pipe_new(NULL, &receiver), -EINVAL);
    ck_assert_int_eq(evsrc_pipe_receiver_close(&receiver), -EBADF);
    ck_assert_int_eq(evsrc_pipe_new(&sender, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_pipe_sender_close(&sender), -EBADF);

    ck_assert_int_eq(evsrc_pipe_sender_write(NULL, "x", 1), -EINVAL);
    ck_assert_int_eq(evsrc_pipe_receiver_read(NULL, &(char){0}, 1), -EINVAL);
    ck_assert_int_eq(evsrc_pipe_sender_fd(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_pipe_receiver_fd(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_pipe_sender_close(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_pipe_receiver_close(NULL), -EINVAL);

    ck_assert_int_eq(evsrc_pipe_new(&sender, &receiver), 0);
    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_pipe_receiver_read(&receiver, NULL, 1), -EINVAL);
    int fds[2] = {evsrc_pipe_receiver_fd(&receiver), evsrc_pipe_sender_fd(&sender)};
    ck_assert_int_eq(evsrc_pipe_sender_from_fd(NULL, fds[1]), -EINVAL);
    ck_assert_int_eq(evsrc_pipe_receiver_from_fd(NULL, fds[0]), -EINVAL);
    ck_assert(testutil_fd_is_open(fds[0]) && testutil_fd_is_open(fds[1]));
    close_both(&sender, &receiver);
}
END_TEST

START_TEST(closed_ends_are_ebadf)
{
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    ck_assert_int_eq(evsrc_pipe_new(&sender, &receiver), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &receiver.source, 8, EVSRC_READABLE), 0);
    close_both(&sender, &receiver);

    char c = 0;
    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, &c, 1), -EBADF);
    ck_assert_int_eq(evsrc_pipe_receiver_read(&receiver, &c, 1), -EBADF);
    ck_assert_int_eq(evsrc_pipe_sender_fd(&sender), -EBADF);
    ck_assert_int_eq(evsrc_pipe_receiver_fd(&receiver), -EBADF);
    /* Closing cleared the registration, so registering again reaches the closed fd. */
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &receiver.source, 8, EVSRC_READABLE), -EBADF);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &sender.source, 9, EVSRC_WRITABLE), -EBADF);

    /* A closed end can be opened again. */
    ck_assert_int_eq(evsrc_pipe_new(&sender, &receiver), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &receiver.source, 8, EVSRC_READABLE), 0);
    close_both(&sender, &receiver);
}
END_TEST

START_TEST(double_close_touches_no_other_fd)
{
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    int spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(spare, 0);
    ck_assert_int_eq(evsrc_pipe_new(&sender, &receiver), 0);
    int sender_fd = evsrc_pipe_sender_fd(&sender);
    int receiver_fd = evsrc_pipe_receiver_fd(&receiver);
    close_both(&sender, &receiver);

    /* Put other files at the closed numbers: a second close must not reach them. */
    ck_assert_int_eq(dup3(spare, sender_fd, O_CLOEXEC), sender_fd);
    ck_assert_int_eq(dup3(spare, receiver_fd, O_CLOEXEC), receiver_fd);
    ck_assert_int_eq(evsrc_pipe_sender_close(&sender), -EBADF);
    ck_assert_int_eq(evsrc_pipe_receiver_close(&receiver), -EBADF);
    ck_assert(testutil_fd_is_open(sender_fd) && testutil_fd_is_open(receiver_fd));
    close(sender_fd);
    close(receiver_fd);
    close(spare);
}
END_TEST

/* A failed constructor leaves the end closed, whatever fd the struct held before. */
START_TEST(failed_setup_leaves_end_closed)
{
    int spare = open("/dev/null", O_WRONLY | O_CLOEXEC);
    ck_assert_int_ge(spare, 0);
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;

    memset(&sender, 0, sizeof sender);
    sender.fd = spare;
    ck_assert_int_eq(evsrc_pipe_new(&sender, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_pipe_sender_close(&sender), -EBADF);

    sender.fd = spare;
    ck_assert_int_eq(evsrc_pipe_sender_from_fd(&sender, spare), -EINVAL);
    ck_assert_int_eq(evsrc_pipe_sender_close(&sender), -EBADF);

    memset(&receiver, 0, sizeof receiver);
    receiver.fd = spare;
    ck_assert_int_eq(evsrc_pipe_receiver_from_fd(&receiver, -1), -EBADF);
    ck_assert_int_eq(evsrc_pipe_receiver_close(&receiver), -EBADF);

    ck_assert(testutil_fd_is_open(spare));
    close(spare);
}
END_TEST

START_TEST(constructors_need_no_zeroed_struct)
{
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    memset(&sender, 0xff, sizeof sender);
    memset(&receiver, 0xff, sizeof receiver);
    ck_assert_int_eq(evsrc_pipe_new(&sender, &receiver), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &sender.source, 10, EVSRC_WRITABLE), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &receiver.source, 11, EVSRC_READABLE), 0);
    ck_assert(evsrc_event_is_writable(wait_event(10)));
    close_both(&sender, &receiver);

    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    memset(&sender, 0xff, sizeof sender);
    memset(&receiver, 0xff, sizeof receiver);
    ck_assert_int_eq(evsrc_pipe_sender_from_fd(&sender, fds[1]), 0);
    ck_assert_int_eq(evsrc_pipe_receiver_from_fd(&receiver, fds[0]), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &receiver.source, 12, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, "x", 1), 1);
    ck_assert(evsrc_event_is_readable(wait_event(12)));
    close_both(&sender, &receiver);

    memset(&sender, 0xff, sizeof sender);
    ck_assert_int_eq(evsrc_pipe_new(&sender, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_pipe_sender_close(&sender), -EBADF);
}
END_TEST

START_TEST(from_fd_adopts_and_owns_pipe_ends)
{
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0); /* blocking, as a caller might have it */
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    ck_assert_int_eq(evsrc_pipe_sender_from_fd(&sender, fds[1]), 0);
    ck_assert_int_eq(evsrc_pipe_receiver_from_fd(&receiver, fds[0]), 0);
    ck_assert_int_eq(evsrc_pipe_sender_fd(&sender), fds[1]);
    ck_assert_int_eq(evsrc_pipe_receiver_fd(&receiver), fds[0]);
    ck_assert(fd_flags(fds[0]) & O_NONBLOCK);
    ck_assert(fd_flags(fds[1]) & O_NONBLOCK);

    char c;
    ck_assert_int_eq(evsrc_pipe_receiver_read(&receiver, &c, 1), -EAGAIN);
    fill(&sender);
    close_both(&sender, &receiver);
    ck_assert(!testutil_fd_is_open(fds[0]));
    ck_assert(!testutil_fd_is_open(fds[1]));
}
END_TEST

START_TEST(from_fd_adopts_named_fifo)
{
    char dir[] = "/tmp/evsrc-pipe-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[sizeof dir + 8];
    snprintf(path, sizeof path, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    int read_fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ck_assert_int_ge(read_fd, 0);
    int write_fd = open(path, O_WRONLY | O_CLOEXEC);
    ck_assert_int_ge(write_fd, 0);
    unlink(path);
    rmdir(dir);

    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    ck_assert_int_eq(evsrc_pipe_sender_from_fd(&sender, write_fd), 0);
    ck_assert_int_eq(evsrc_pipe_receiver_from_fd(&receiver, read_fd), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &receiver.source, 13, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_pipe_sender_write(&sender, "f", 1), 1);
    ck_assert(evsrc_event_is_readable(wait_event(13)));
    char c;
    ck_assert_int_eq(evsrc_pipe_receiver_read(&receiver, &c, 1), 1);
    ck_assert_int_eq(c, 'f');
    close_both(&sender, &receiver);
}
END_TEST

/* Refuses fd as either end, leaving it open with its flags as they were. */
static void assert_refused(int fd, int expected_error)
{
    int flags = fd_flags(fd);
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    ck_assert_int_eq(evsrc_pipe_sender_from_fd(&sender, fd), expected_error);
    ck_assert_int_eq(evsrc_pipe_receiver_from_fd(&receiver, fd), expected_error);
    ck_assert_int_eq(evsrc_pipe_sender_close(&sender), -EBADF);
    ck_assert_int_eq(evsrc_pipe_receiver_close(&receiver), -EBADF);
    ck_assert(testutil_fd_is_open(fd));
    ck_assert_int_eq(fd_flags(fd), flags);
}

START_TEST(from_fd_refuses_other_files)
{
    int pair[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    assert_refused(pair[0], -EINVAL);

    int file = memfd_create("evsrc-test", MFD_CLOEXEC);
    ck_assert_int_ge(file, 0);
    assert_refused(file, -EINVAL);

    int null_device = open("/dev/null", O_WRONLY | O_CLOEXEC);
    ck_assert_int_ge(null_device, 0);
    assert_refused(null_device, -EINVAL);

    testutil_close_pair(pair);
    close(file);
    close(null_device);
}
END_TEST

START_TEST(from_fd_refuses_wrong_direction)
{
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    ck_assert_int_eq(evsrc_pipe_sender_from_fd(&sender, fds[0]), -EINVAL);
    ck_assert_int_eq(evsrc_pipe_receiver_from_fd(&receiver, fds[1]), -EINVAL);
    ck_assert(!(fd_flags(fds[0]) & O_NONBLOCK));
    ck_assert(!(fd_flags(fds[1]) & O_NONBLOCK));
    ck_assert_int_eq(evsrc_pipe_sender_close(&sender), -EBADF);
    ck_assert_int_eq(evsrc_pipe_receiver_close(&receiver), -EBADF);

    /* Opened read-write, a pipe fd fits neither end. */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fds[0]);
    int both = open(path, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(both, 0);
    assert_refused(both, -EINVAL);

    ck_assert(testutil_fd_is_open(fds[0]) && testutil_fd_is_open(fds[1]));
    close(both);
    testutil_close_pair(fds);
}
END_TEST

START_TEST(from_fd_refuses_bad_fds)
{
    struct evsrc_pipe_sender sender;
    struct evsrc_pipe_receiver receiver;
    ck_assert_int_eq(evsrc_pipe_sender_from_fd(&sender, -1), -EBADF);
    ck_assert_int_eq(evsrc_pipe_receiver_from_fd(&receiver, -7), -EBADF);

    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    testutil_close_pair(fds);
    ck_assert_int_eq(evsrc_pipe_sender_from_fd(&sender, fds[1]), -EBADF);
    ck_assert_int_eq(evsrc_pipe_receiver_from_fd(&receiver, fds[0]), -EBADF);
    ck_assert_int_eq(evsrc_pipe_sender_close(&sender), -EBADF);
    ck_assert_int_eq(evsrc_pipe_receiver_close(&receiver), -EBADF);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("pipe");
    TCase *tc = testutil_add_tcase(suite, "pipe");
    tcase_add_test(tc, new_makes_nonblocking_cloexec_ends);
    tcase_add_test(tc, readable_is_edge_triggered);
    tcase_add_test(tc, level_reports_while_data_remains);
    tcase_add_test(tc, writable_again_only_after_drain);
    tcase_add_test(tc, short_write_is_enough_to_wait_for_writable);
    tcase_add_test(tc, closing_sender_gives_read_closed);
    tcase_add_test(tc, closing_receiver_gives_write_closed_and_epipe);
    tcase_add_test(tc, pending_sigpipe_survives_epipe);
    tcase_add_test(tc, epipe_from_several_threads_at_once);
    tcase_add_test(tc, deregistered_ends_report_nothing);
    tcase_add_test(tc, each_source_reports_its_own_token);
    tcase_add_test(tc, null_arguments_are_einval);
    tcase_add_test(tc, closed_ends_are_ebadf);
    tcase_add_test(tc, double_close_touches_no_other_fd);
    tcase_add_test(tc, failed_setup_leaves_end_closed);
    tcase_add_test(tc, constructors_need_no_zeroed_struct);
    tcase_add_test(tc, from_fd_adopts_and_owns_pipe_ends);
    tcase_add_test(tc, from_fd_adopts_named_fifo);
    tcase_add_test(tc, from_fd_refuses_other_files);
    tcase_add_test(tc, from_fd_refuses_wrong_direction);
    tcase_add_test(tc, from_fd_refuses_bad_fds);
    tcase_add_test(tc, out_of_fds_is_emfile);
    return testutil_run(suite);
}
