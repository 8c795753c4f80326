/* SPDX-License-Identifier: MIT */
/*
 * Fault injection in the manner of SQLite's out-of-memory loop: each scenario
 * runs with the library's 1st fallible call failed, then its 2nd, and so on
 * (fault_injection.h fails exactly one call per run) until a run has no call
 * left to fail. Every fallible library call in a scenario is a step (FAULT_CALL
 * or FAULT_OK), and when the fault fires inside a step:
 *
 *   - the call returns exactly -errno of the injected failure;
 *   - it leaves no fd and no allocated byte behind (counted before and after);
 *   - the same call made again succeeds (no fault fires twice), so the object
 *     that just failed is usable, and the scenario goes on with it.
 *
 * Each run ends with every object closed or freed, and must leave as many fds
 * open as it found and no byte the library allocated.
 *
 * A new source is one scenario function (every public function of its header,
 * each fallible call a step) and one line in `scenarios`; a new C library
 * function it calls is one INTERPOSE line in fault_injection.c (the import
 * check below fails until it has one). See docs/testing.md.
 */
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <spawn.h>
#include <unistd.h>

#include "fault_injection.h"
#include "testutil.h"

/* More calls than any scenario makes: a run that gets here loops. */
#define RUNS_MAX 2000

/* ---- Steps ----------------------------------------------------------------------- */

struct step {
    const char *call;
    const char *file;
    int line;
    unsigned long fired;
    int fds;
    size_t bytes;
};

static unsigned long faults_checked;
/* Set around a step whose documented failure may leave its object holding memory (FAULT_OK_HOLDING). */
static bool step_may_hold_bytes;

static void step_begin(struct step *step, const char *call, const char *file, int line)
{
    *step = (struct step){call, file, line, fault_injection_fired(), testutil_open_fds(),
                          fault_injection_library_bytes()};
}

/*
 * A wait empties the eventfds it owns (on both backends, the deadline
 * table's wake-up; on the poll backend also the queue's and a waker's) and,
 * on the poll backend, re-polls a hung-up fd and checks that a reported fd
 * still names the file registered (fstat), and goes on whatever those
 * return: an eventfd read fails only when it is empty already, the re-poll
 * only adds readiness, and an fstat failure other than EBADF lets the event
 * stand. A fault there is tolerated, as a retried one is.
 */
static bool absorbed_by_the_wait(const struct step *step, const struct fault *fault)
{
    if (strncmp(step->call, "evsrc_poll_wait(", strlen("evsrc_poll_wait(")) != 0)
        return false;
    return strcmp(fault->function, "read") == 0 ||
           (TESTUTIL_SELECTOR_IS_POLL && (strcmp(fault->function, "poll") == 0 ||
                                          strncmp(fault->function, "fstat", strlen("fstat")) == 0));
}

/* Checks a failed step; true if the fault fired in it, and the call is to be made again. */
static bool step_end(const struct step *step, long result)
{
    if (fault_injection_fired() == step->fired)
        return false;
    faults_checked++;
    struct fault fault = fault_injection_last();
    if (fault.absorbed || absorbed_by_the_wait(step, &fault))
        return false; /* the library retried or tolerates it: the step's usual checks apply */
    ck_assert_msg(result == -fault.error, "%s:%d: %s returned %ld after %s (call %lu) failed with -%d",
                  step->file, step->line, step->call, result, fault.function, fault.call, fault.error);
    ck_assert_msg(testutil_open_fds() == step->fds, "%s:%d: %s left %d fds more when %s (call %lu) failed",
                  step->file, step->line, step->call, testutil_open_fds() - step->fds, fault.function, fault.call);
    ck_assert_msg(step_may_hold_bytes || fault_injection_library_bytes() == step->bytes,
                  "%s:%d: %s leaked %zu bytes when %s (call %lu) failed", step->file, step->line, step->call,
                  fault_injection_library_bytes() - step->bytes, fault.function, fault.call);
    return true;
}

/* Makes `call` a step, storing its (second, if the first failed) result in `result`. */
#define FAULT_CALL(result, call)                                     \
    do {                                                             \
        struct step fault_step_;                                     \
        step_begin(&fault_step_, #call, __FILE__, __LINE__);         \
        (result) = (call);                                           \
        if (step_end(&fault_step_, (long)(result)))                  \
            (result) = (call);                                       \
    } while (0)

/* A step not made again after its fault: for calls whose failure changes state (see deregister_once). */
#define FAULT_ONCE(result, call)                                     \
    do {                                                             \
        struct step fault_step_;                                     \
        step_begin(&fault_step_, #call, __FILE__, __LINE__);         \
        (result) = (call);                                           \
        step_end(&fault_step_, (long)(result));                      \
    } while (0)

/* A step that must succeed (return 0 or more) once no fault is in its way. */
#define FAULT_OK(call)                                                                               \
    do {                                                                                             \
        long fault_ok_;                                                                              \
        FAULT_CALL(fault_ok_, call);                                                                 \
        ck_assert_msg(fault_ok_ >= 0, "%s:%d: %s returned %ld", __FILE__, __LINE__, #call, fault_ok_); \
    } while (0)

/*
 * FAULT_OK for a call whose header says a failure may still have changed
 * the object: evsrc_timers_start() queues the timer (and grows the queue's
 * table) even when arming the fd earlier fails. The bytes are then the
 * object's, freed when it is closed (each run's end checks that), so this
 * step does not count them; its fds, error and retry are checked as usual.
 */
#define FAULT_OK_HOLDING(call)         \
    do {                               \
        step_may_hold_bytes = true;    \
        FAULT_OK(call);                \
        step_may_hold_bytes = false;   \
    } while (0)

/* ---- Helpers for scenarios --------------------------------------------------------- */

struct loop {
    struct evsrc_poll *poll;
    struct evsrc_registry *registry;
    struct evsrc_events *events;
};

static void loop_open(struct loop *loop)
{
    FAULT_OK(evsrc_poll_new(&loop->poll));
    FAULT_OK(evsrc_events_new(8, &loop->events));
    loop->registry = evsrc_poll_registry(loop->poll);
}

static void loop_close(struct loop *loop)
{
    evsrc_events_free(loop->events);
    evsrc_poll_free(loop->poll);
}

/*
 * Waits for an event of `token` that is ready already (the scenario made
 * sure with testutil_await_fd), so that the number of calls is the same in
 * every run. Alternates a timeout of whole milliseconds (epoll_wait) and one
 * that is not (epoll_pwait2 where there is one). Returns its flags.
 */
static uint32_t loop_expect(struct loop *loop, evsrc_token token)
{
    static const struct timespec timeouts[] = {{0, 0}, {0, 1}};
    for (int i = 0; i < 20; i++) {
        int n;
        FAULT_CALL(n, evsrc_poll_wait(loop->poll, loop->events, &timeouts[i % 2]));
        ck_assert_int_ge(n, 0);
        for (size_t j = 0; j < (size_t)n; j++) {
            const struct evsrc_event *event = evsrc_events_get(loop->events, j);
            if (evsrc_event_token(event) == token)
                return evsrc_event_raw_flags(event);
        }
    }
    ck_abort_msg("no event for token %llu", (unsigned long long)token);
    return 0;
}

/*
 * Deregisters a source as one step that is not made again: whatever its op
 * returns, the source is unregistered afterwards (registry.h), which a
 * second call shows.
 */
static void deregister_once(struct evsrc_registry *registry, struct evsrc_source *source)
{
    unsigned long fired = fault_injection_fired();
    int r;
    FAULT_ONCE(r, evsrc_registry_deregister(registry, source));
    ck_assert(r == 0 || fault_injection_fired() != fired);
    ck_assert_int_eq(evsrc_registry_deregister(registry, source), -ENOENT);
}

/*
 * The waker's eventfd: the one open in this process, or on the poll backend,
 * whose queue has one too, the later (higher) of the two.
 */
static int find_eventfd(void)
{
    DIR *dir = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(dir);
    int found = -1;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        char path[300], target[64];
        snprintf(path, sizeof path, "/proc/self/fd/%s", entry->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, "anon_inode:[eventfd]") == 0 && atoi(entry->d_name) > found)
            found = atoi(entry->d_name);
    }
    closedir(dir);
    ck_assert_int_ge(found, 0);
    return found;
}

/* ---- Scenarios --------------------------------------------------------------------- */

static void scenario_events(void)
{
    struct evsrc_events *events;
    FAULT_OK(evsrc_events_new(4, &events));
    ck_assert_uint_eq(evsrc_events_capacity(events), 4);
    ck_assert_uint_eq(evsrc_events_len(events), 0);
    ck_assert_ptr_null(evsrc_events_get(events, 0));
    evsrc_events_clear(events);
    evsrc_events_free(events);
}

/* A failed write hands the head back with the error; the retry flushes the rest. */
static void scenario_write_queue(void)
{
    struct loop loop;
    loop_open(&loop);
    struct evsrc_write_queue queue;
    struct evsrc_write_request req[2];
    FAULT_OK(evsrc_write_queue_init(&queue));
    FAULT_OK(evsrc_write_request_init_buffer(&req[0], "ab", 2));
    FAULT_OK(evsrc_write_request_init_buffer(&req[1], "cd", 2));

    struct evsrc_unix_stream a, b;
    FAULT_OK(evsrc_unix_stream_pair(&a, &b));
    FAULT_OK(evsrc_registry_register(loop.registry, &a.source, 18, EVSRC_READABLE));
    FAULT_OK(evsrc_write_queue_push(&queue, &req[0]));
    FAULT_OK(evsrc_write_queue_push(&queue, &req[1]));
    FAULT_OK(evsrc_write_queue_update_interest(&queue, loop.registry, &a.source, 18, EVSRC_READABLE));
    FAULT_OK(evsrc_write_queue_flush_unix(&queue, &a));
    FAULT_OK(evsrc_write_queue_update_interest(&queue, loop.registry, &a.source, 18, EVSRC_READABLE));
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &req[0]);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &req[1]);
    deregister_once(loop.registry, &a.source);
    ck_assert_int_eq(evsrc_unix_stream_close(&a), 0);
    ck_assert_int_eq(evsrc_unix_stream_close(&b), 0);

    struct evsrc_udp_socket tx, rx;
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    FAULT_OK(evsrc_udp_socket_bind(&tx, (const struct sockaddr *)&any, sizeof any));
    FAULT_OK(evsrc_udp_socket_bind(&rx, (const struct sockaddr *)&any, sizeof any));
    struct sockaddr_storage to;
    socklen_t tolen = sizeof to;
    FAULT_OK(evsrc_udp_socket_local_addr(&rx, &to, &tolen));
    FAULT_OK(evsrc_write_request_set_destination(&req[0], (const struct sockaddr *)&to, tolen));
    FAULT_OK(evsrc_write_queue_push(&queue, &req[0]));
    FAULT_OK(evsrc_write_queue_flush_udp(&queue, &tx));
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &req[0]);
    ck_assert_int_eq(evsrc_udp_socket_close(&tx), 0);
    ck_assert_int_eq(evsrc_udp_socket_close(&rx), 0);

    struct evsrc_unix_datagram dtx, drx;
    FAULT_OK(evsrc_unix_datagram_pair(&dtx, &drx));
    FAULT_OK(evsrc_write_request_set_destination(&req[1], NULL, 0));
    FAULT_OK(evsrc_write_queue_push(&queue, &req[1]));
    FAULT_OK(evsrc_write_queue_flush_unix_datagram(&queue, &dtx));
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &req[1]);
    ck_assert_uint_eq(evsrc_write_queue_cancel(&queue), 0);
    ck_assert_int_eq(evsrc_unix_datagram_close(&dtx), 0);
    ck_assert_int_eq(evsrc_unix_datagram_close(&drx), 0);
    loop_close(&loop);
}

static void scenario_address(void)
{
    struct sockaddr_storage addr;
    socklen_t len;
    char text[EVSRC_ADDRESS_STRLEN];
    FAULT_OK(evsrc_address_parse("[fe80::1%lo]:80", &addr, &len));
    FAULT_OK(evsrc_address_format((const struct sockaddr *)&addr, len, text, sizeof text));
    FAULT_OK(evsrc_address_ipv6("fe80::1%lo", 80, &addr, &len));
    FAULT_OK(evsrc_address_ipv4("127.0.0.1", 80, &addr, &len));
    FAULT_OK(evsrc_address_format((const struct sockaddr *)&addr, len, text, sizeof text));
}

/* No fallible call at all: here so that every public function is in some scenario. */
static void scenario_version(void)
{
    ck_assert_ptr_nonnull(evsrc_version());
    ck_assert_int_gt(evsrc_version_number(), 0);
}

/* Nine queues at once: the live-queue table starts with room for eight and grows. */
#define POLLS 9

static void scenario_poll(void)
{
    struct loop loop;
    loop_open(&loop);
    int fds[2];
    testutil_pipe(fds);
    FAULT_OK(evsrc_registry_register_fd(loop.registry, fds[0], 1, EVSRC_READABLE | EVSRC_LEVEL));
    int n;
    FAULT_CALL(n, evsrc_poll_wait(loop.poll, loop.events, &(struct timespec){0, 0}));
    ck_assert_int_eq(n, 0);
    FAULT_CALL(n, evsrc_poll_wait(loop.poll, loop.events, &(struct timespec){0, 1}));
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    /* Unbounded: on x86-64 the raw system call, which no interposer sees; elsewhere epoll_wait. */
    FAULT_CALL(n, evsrc_poll_wait(loop.poll, loop.events, NULL));
    ck_assert_int_eq(n, 1);
    ck_assert(evsrc_event_is_readable(evsrc_events_get(loop.events, 0)));
    testutil_close_pair(fds);

    struct evsrc_poll *polls[POLLS];
    for (int i = 0; i < POLLS; i++)
        FAULT_OK(evsrc_poll_new(&polls[i]));
    for (int i = 0; i < POLLS; i++)
        evsrc_poll_free(polls[i]);
    loop_close(&loop);
}

static void scenario_registry(void)
{
    struct loop loop;
    loop_open(&loop);
    /* Seven more queues fill the live-handle table (room for eight), so the clone's entry must grow it. */
    struct evsrc_poll *others[7];
    for (int i = 0; i < 7; i++)
        FAULT_OK(evsrc_poll_new(&others[i]));
    struct evsrc_registry *clone;
    FAULT_OK(evsrc_registry_try_clone(loop.registry, &clone));
    for (int i = 0; i < 7; i++)
        evsrc_poll_free(others[i]);
    int fds[2];
    testutil_socketpair(fds);

    FAULT_OK(evsrc_registry_register_fd(clone, fds[0], 1, EVSRC_READABLE));
    FAULT_OK(evsrc_registry_reregister_fd(clone, fds[0], 2, EVSRC_WRITABLE));
    ck_assert_uint_eq(loop_expect(&loop, 2) & EVSRC_EVENT_FLAG_OUT, EVSRC_EVENT_FLAG_OUT);
    FAULT_OK(evsrc_registry_deregister_fd(clone, fds[0]));

    struct evsrc_source_fd source;
    ck_assert_int_eq(evsrc_source_fd_init(&source, fds[1]), 0);
    FAULT_OK(evsrc_registry_register(clone, &source.source, 3, EVSRC_READABLE));
    FAULT_OK(evsrc_registry_reregister(loop.registry, &source.source, 4, EVSRC_WRITABLE | EVSRC_LEVEL));
    ck_assert_uint_eq(loop_expect(&loop, 4) & EVSRC_EVENT_FLAG_OUT, EVSRC_EVENT_FLAG_OUT);
    deregister_once(loop.registry, &source.source);

    evsrc_registry_free(clone);
    testutil_close_pair(fds);
    loop_close(&loop);
}

/* A custom source of two fds whose register undoes the first when the second fails (source.h's rule). */
struct two_fds {
    struct evsrc_source source;
    int fds[2];
};

static int two_fds_register(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                            evsrc_interest interests)
{
    struct two_fds *self = evsrc_container_of(source, struct two_fds, source);
    int r = evsrc_registry_register_fd(registry, self->fds[0], token, interests);
    if (r < 0)
        return r;
    r = evsrc_registry_register_fd(registry, self->fds[1], token, interests);
    if (r < 0)
        evsrc_registry_deregister_fd(registry, self->fds[0]);
    return r;
}

static int two_fds_reregister(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                              evsrc_interest interests)
{
    struct two_fds *self = evsrc_container_of(source, struct two_fds, source);
    int r = evsrc_registry_reregister_fd(registry, self->fds[0], token, interests);
    return r < 0 ? r : evsrc_registry_reregister_fd(registry, self->fds[1], token, interests);
}

static int two_fds_deregister(struct evsrc_source *source, struct evsrc_registry *registry)
{
    struct two_fds *self = evsrc_container_of(source, struct two_fds, source);
    int first = evsrc_registry_deregister_fd(registry, self->fds[0]);
    int second = evsrc_registry_deregister_fd(registry, self->fds[1]);
    return first < 0 ? first : second;
}

static const struct event_source_ops two_fds_ops = {two_fds_register, two_fds_reregister, two_fds_deregister};

static void scenario_custom_source(void)
{
    struct loop loop;
    loop_open(&loop);
    struct two_fds source;
    ck_assert_int_eq(evsrc_source_init(&source.source, &two_fds_ops), 0);
    testutil_socketpair(source.fds);
    FAULT_OK(evsrc_registry_register(loop.registry, &source.source, 5, EVSRC_WRITABLE));
    ck_assert_uint_eq(loop_expect(&loop, 5) & EVSRC_EVENT_FLAG_OUT, EVSRC_EVENT_FLAG_OUT);
    deregister_once(loop.registry, &source.source);
    testutil_close_pair(source.fds);
    loop_close(&loop);
}

static void scenario_waker(void)
{
    struct loop loop;
    loop_open(&loop);
    struct evsrc_waker *waker;
    FAULT_OK(evsrc_waker_new(&waker, loop.registry, 6));
    FAULT_OK(evsrc_waker_wake(waker));
    loop_expect(&loop, 6);

    /* A full counter: the wake empties it (read) and writes again. */
    int fd = find_eventfd();
    uint64_t count;
    /* Emptied first, unless the wait did (the poll backend drains a waker's counter itself). */
    ck_assert(read(fd, &count, sizeof count) == (ssize_t)sizeof count || (TESTUTIL_SELECTOR_IS_POLL && errno == EAGAIN));
    uint64_t full = UINT64_MAX - 1;
    ck_assert_int_eq(write(fd, &full, sizeof full), (ssize_t)sizeof full);
    FAULT_OK(evsrc_waker_wake(waker));
    loop_expect(&loop, 6);
    evsrc_waker_free(waker);
    loop_close(&loop);
}

static void sigpipe_set_blocked(bool blocked)
{
    sigset_t sigpipe;
    sigemptyset(&sigpipe);
    sigaddset(&sigpipe, SIGPIPE);
    ck_assert_int_eq(pthread_sigmask(blocked ? SIG_BLOCK : SIG_UNBLOCK, &sigpipe, NULL), 0);
}

static void scenario_pipe(void)
{
    struct loop loop;
    loop_open(&loop);
    struct evsrc_pipe_sender tx;
    struct evsrc_pipe_receiver rx;
    FAULT_OK(evsrc_pipe_new(&tx, &rx));
    FAULT_OK(evsrc_registry_register(loop.registry, &rx.source, 7, EVSRC_READABLE));
    ssize_t n;
    FAULT_CALL(n, evsrc_pipe_sender_write(&tx, "ab", 2));
    ck_assert_int_eq(n, 2);
    loop_expect(&loop, 7);
    char buf[4];
    FAULT_CALL(n, evsrc_pipe_receiver_read(&rx, buf, sizeof buf));
    ck_assert_int_eq(n, 2);
    ck_assert_int_ge(evsrc_pipe_sender_fd(&tx), 0);
    ck_assert_int_ge(evsrc_pipe_receiver_fd(&rx), 0);
    ck_assert_int_eq(evsrc_pipe_receiver_close(&rx), 0);

    /* The reader is gone: -EPIPE, SIGPIPE unblocked in this thread and then blocked (its other path). */
    FAULT_CALL(n, evsrc_pipe_sender_write(&tx, "c", 1));
    ck_assert_int_eq(n, -EPIPE);
    sigpipe_set_blocked(true);
    FAULT_CALL(n, evsrc_pipe_sender_write(&tx, "c", 1));
    ck_assert_int_eq(n, -EPIPE);
    sigpipe_set_blocked(false);
    ck_assert_int_eq(evsrc_pipe_sender_close(&tx), 0);

    /* Adopted ends. */
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    FAULT_OK(evsrc_pipe_receiver_from_fd(&rx, fds[0]));
    FAULT_OK(evsrc_pipe_sender_from_fd(&tx, fds[1]));
    ck_assert_int_eq(evsrc_pipe_sender_close(&tx), 0);
    ck_assert_int_eq(evsrc_pipe_receiver_close(&rx), 0);
    loop_close(&loop);
}

static void scenario_tcp(void)
{
    struct loop loop;
    loop_open(&loop);
    struct evsrc_tcp_listener listener;
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    FAULT_OK(evsrc_tcp_listener_bind(&listener, (const struct sockaddr *)&any, sizeof any));
    struct sockaddr_storage addr;
    socklen_t addrlen = sizeof addr;
    FAULT_OK(evsrc_tcp_listener_local_addr(&listener, &addr, &addrlen));
    ck_assert_int_ge(evsrc_tcp_listener_fd(&listener), 0);

    struct evsrc_tcp_stream client, server;
    FAULT_OK(evsrc_tcp_stream_connect(&client, (const struct sockaddr *)&addr, addrlen));
    testutil_await_fd(evsrc_tcp_listener_fd(&listener), POLLIN);
    struct sockaddr_storage peer;
    socklen_t peerlen = sizeof peer;
    FAULT_OK(evsrc_tcp_listener_accept(&listener, &server, &peer, &peerlen));
    testutil_await_fd(evsrc_tcp_stream_fd(&client), POLLOUT);
    FAULT_OK(evsrc_tcp_stream_take_error(&client));
    FAULT_OK(evsrc_registry_register(loop.registry, &server.source, 8, EVSRC_READABLE));

    FAULT_OK(evsrc_tcp_stream_set_nodelay(&client, true));
    int nodelay;
    FAULT_CALL(nodelay, evsrc_tcp_stream_nodelay(&client));
    ck_assert_int_eq(nodelay, 1);
    addrlen = sizeof addr;
    FAULT_OK(evsrc_tcp_stream_local_addr(&client, &addr, &addrlen));
    addrlen = sizeof addr;
    FAULT_OK(evsrc_tcp_stream_peer_addr(&client, &addr, &addrlen));

    ssize_t n;
    FAULT_CALL(n, evsrc_tcp_stream_write(&client, "abcd", 4));
    ck_assert_int_eq(n, 4);
    testutil_await_fd(evsrc_tcp_stream_fd(&server), POLLIN);
    loop_expect(&loop, 8);
    char buf[8];
    FAULT_CALL(n, evsrc_tcp_stream_peek(&server, buf, 1));
    ck_assert_int_eq(n, 1);
    FAULT_CALL(n, evsrc_tcp_stream_read(&server, buf, 2));
    ck_assert_int_eq(n, 2);
    struct iovec iov[2] = {{buf, 1}, {buf + 1, 1}};
    FAULT_CALL(n, evsrc_tcp_stream_readv(&server, iov, 2));
    ck_assert_int_eq(n, 2);
    FAULT_CALL(n, evsrc_tcp_stream_writev(&server, iov, 2));
    ck_assert_int_eq(n, 2);
    FAULT_OK(evsrc_tcp_stream_shutdown(&client, SHUT_WR));

    ck_assert_int_eq(evsrc_tcp_stream_close(&server), 0);
    ck_assert_int_eq(evsrc_tcp_stream_close(&client), 0);
    ck_assert_int_eq(evsrc_tcp_listener_close(&listener), 0);

    /* An adopted socket. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    FAULT_OK(evsrc_tcp_stream_from_fd(&client, fd));
    ck_assert_int_eq(evsrc_tcp_stream_close(&client), 0);
    loop_close(&loop);
}

static void scenario_timerfd(void)
{
    struct loop loop;
    loop_open(&loop);
    struct evsrc_timerfd timer;
    FAULT_OK(evsrc_timerfd_new(&timer, CLOCK_MONOTONIC));
    FAULT_OK(evsrc_registry_register(loop.registry, &timer.source, 9, EVSRC_READABLE));
    FAULT_OK(evsrc_timerfd_set(&timer, &(struct timespec){0, 1}, &(struct timespec){3600, 0}, 0));
    testutil_await_fd(evsrc_timerfd_fd(&timer), POLLIN);
    loop_expect(&loop, 9);
    uint64_t expirations;
    FAULT_OK(evsrc_timerfd_read(&timer, &expirations));
    ck_assert_uint_eq(expirations, 1);
    struct timespec remaining, interval;
    FAULT_OK(evsrc_timerfd_get(&timer, &remaining, &interval));
    ck_assert_int_eq(interval.tv_sec, 3600);
    ck_assert_int_eq(evsrc_timerfd_close(&timer), 0);

    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    FAULT_OK(evsrc_timerfd_from_fd(&timer, fd));
    ck_assert_int_eq(evsrc_timerfd_close(&timer), 0);
    loop_close(&loop);
}

/* The TCP listener a scenario adopts, and a closed source_fd. */
static void scenario_tcp_listener_from_fd(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (const struct sockaddr *)&any, sizeof any), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    struct evsrc_tcp_listener listener;
    FAULT_OK(evsrc_tcp_listener_from_fd(&listener, fd));
    ck_assert_int_eq(evsrc_tcp_listener_close(&listener), 0);
}

static void scenario_source_fd(void)
{
    struct loop loop;
    loop_open(&loop);
    int fds[2];
    testutil_pipe(fds);
    struct evsrc_source_fd source;
    ck_assert_int_eq(evsrc_source_fd_init(&source, fds[0]), 0);
    FAULT_OK(evsrc_registry_register(loop.registry, &source.source, 11, EVSRC_READABLE));
    /* Closed while registered: the fd leaves the queue with it, and the source is unregistered. */
    ck_assert_int_eq(evsrc_source_fd_close(&source), 0);
    ck_assert_int_eq(evsrc_source_fd_close(&source), -EBADF);
    close(fds[1]);
    loop_close(&loop);
}

static void scenario_udp(void)
{
    struct loop loop;
    loop_open(&loop);
    struct evsrc_udp_socket a, b;
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    FAULT_OK(evsrc_udp_socket_bind(&a, (const struct sockaddr *)&any, sizeof any));
    FAULT_OK(evsrc_udp_socket_bind(&b, (const struct sockaddr *)&any, sizeof any));
    FAULT_OK(evsrc_registry_register(loop.registry, &b.source, 10, EVSRC_READABLE));
    struct sockaddr_storage to, from;
    socklen_t tolen = sizeof to, fromlen;
    FAULT_OK(evsrc_udp_socket_local_addr(&b, &to, &tolen));

    ssize_t n;
    char buf[8];
    FAULT_CALL(n, evsrc_udp_socket_send_to(&a, "ab", 2, (const struct sockaddr *)&to, tolen));
    ck_assert_int_eq(n, 2);
    testutil_await_fd(evsrc_udp_socket_fd(&b), POLLIN);
    loop_expect(&loop, 10);
    fromlen = sizeof from;
    FAULT_CALL(n, evsrc_udp_socket_peek_from(&b, buf, sizeof buf, &from, &fromlen));
    ck_assert_int_eq(n, 2);
    fromlen = sizeof from;
    FAULT_CALL(n, evsrc_udp_socket_recv_from(&b, buf, sizeof buf, &from, &fromlen));
    ck_assert_int_eq(n, 2);

    FAULT_OK(evsrc_udp_socket_connect(&a, (const struct sockaddr *)&to, tolen));
    FAULT_OK(evsrc_udp_socket_connect(&b, (const struct sockaddr *)&from, fromlen));
    struct sockaddr_storage peer;
    socklen_t peerlen = sizeof peer;
    FAULT_OK(evsrc_udp_socket_peer_addr(&a, &peer, &peerlen));
    FAULT_CALL(n, evsrc_udp_socket_send(&a, "cd", 2));
    ck_assert_int_eq(n, 2);
    testutil_await_fd(evsrc_udp_socket_fd(&b), POLLIN);
    FAULT_CALL(n, evsrc_udp_socket_peek(&b, buf, sizeof buf));
    ck_assert_int_eq(n, 2);
    FAULT_CALL(n, evsrc_udp_socket_recv(&b, buf, sizeof buf));
    ck_assert_int_eq(n, 2);

    struct iovec iov = {buf, 2};
    struct mmsghdr msgs[1] = {{.msg_hdr = {.msg_iov = &iov, .msg_iovlen = 1}}};
    int count;
    FAULT_CALL(count, evsrc_udp_socket_send_many(&a, msgs, 1));
    ck_assert_int_eq(count, 1);
    testutil_await_fd(evsrc_udp_socket_fd(&b), POLLIN);
    FAULT_CALL(count, evsrc_udp_socket_recv_many(&b, msgs, 1));
    ck_assert_int_eq(count, 1);
    FAULT_OK(evsrc_udp_socket_take_error(&a));
    struct sockaddr_storage unspec = {.ss_family = AF_UNSPEC};
    FAULT_OK(evsrc_udp_socket_connect(&a, (const struct sockaddr *)&unspec, sizeof unspec));

    /* Options, each a set and a get. */
    int r;
    FAULT_OK(evsrc_udp_socket_set_broadcast(&a, true));
    FAULT_CALL(r, evsrc_udp_socket_broadcast(&a));
    ck_assert_int_eq(r, 1);
    FAULT_OK(evsrc_udp_socket_set_ttl(&a, 9));
    FAULT_CALL(r, evsrc_udp_socket_ttl(&a));
    ck_assert_int_eq(r, 9);
    FAULT_OK(evsrc_udp_socket_set_multicast_loop_v4(&a, false));
    FAULT_CALL(r, evsrc_udp_socket_multicast_loop_v4(&a));
    ck_assert_int_eq(r, 0);
    FAULT_OK(evsrc_udp_socket_set_multicast_ttl_v4(&a, 3));
    FAULT_CALL(r, evsrc_udp_socket_multicast_ttl_v4(&a));
    ck_assert_int_eq(r, 3);
    /* Whether the host has multicast on loopback or IPv6 at all varies; the answer is the same in every run. */
    struct in_addr group = {htonl(0xefff4d0bu)}, lo = {htonl(INADDR_LOOPBACK)};
    FAULT_CALL(r, evsrc_udp_socket_join_multicast_v4(&b, &group, &lo));
    if (r == 0)
        FAULT_OK(evsrc_udp_socket_leave_multicast_v4(&b, &group, &lo));
    struct in6_addr group6 = {.s6_addr = {0xff, 0x15, [14] = 0x77, [15] = 0x11}};
    FAULT_CALL(r, evsrc_udp_socket_join_multicast_v6(&b, &group6, 0));
    if (r == 0)
        FAULT_OK(evsrc_udp_socket_leave_multicast_v6(&b, &group6, 0));
    FAULT_CALL(r, evsrc_udp_socket_set_multicast_loop_v6(&b, true));
    FAULT_CALL(r, evsrc_udp_socket_multicast_loop_v6(&b));
    FAULT_CALL(r, evsrc_udp_socket_set_multicast_hops_v6(&b, 2));
    FAULT_CALL(r, evsrc_udp_socket_multicast_hops_v6(&b));
    deregister_once(loop.registry, &b.source);
    ck_assert_int_eq(evsrc_udp_socket_close(&a), 0);
    ck_assert_int_eq(evsrc_udp_socket_close(&b), 0);

    /* An adopted socket, IPv6 where the host has it (then its own TTL option). */
    int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    FAULT_OK(evsrc_udp_socket_from_fd(&a, fd));
    FAULT_OK(evsrc_udp_socket_set_ttl(&a, 7));
    FAULT_CALL(r, evsrc_udp_socket_ttl(&a));
    ck_assert_int_eq(r, 7);
    ck_assert_int_eq(evsrc_udp_socket_close(&a), 0);
    loop_close(&loop);
}

static void scenario_signal(void)
{
    struct loop loop;
    loop_open(&loop);
    sigset_t set, both, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    both = set;
    sigaddset(&both, SIGUSR2);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, NULL, &old), 0);
    FAULT_OK(evsrc_signal_block(&both));
    struct evsrc_signal signal;
    FAULT_OK(evsrc_signal_new(&signal, &set));
    FAULT_OK(evsrc_registry_register(loop.registry, &signal.source, 12, EVSRC_READABLE));
    FAULT_OK(evsrc_signal_set_mask(&signal, &both));
    ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
    testutil_await_fd(evsrc_signal_fd(&signal), POLLIN);
    loop_expect(&loop, 12);
    struct signalfd_siginfo info;
    FAULT_OK(evsrc_signal_read(&signal, &info));
    ck_assert_uint_eq(info.ssi_signo, SIGUSR2);
    deregister_once(loop.registry, &signal.source);
    ck_assert_int_eq(evsrc_signal_close(&signal), 0);
    ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
    loop_close(&loop);
}

static void scenario_eventfd(void)
{
    struct loop loop;
    loop_open(&loop);
    struct evsrc_eventfd counter;
    FAULT_OK(evsrc_eventfd_new(&counter, 0, EVSRC_EVENTFD_SEMAPHORE));
    FAULT_OK(evsrc_registry_register(loop.registry, &counter.source, 13, EVSRC_READABLE));
    FAULT_OK(evsrc_eventfd_add(&counter, 2));
    loop_expect(&loop, 13);
    uint64_t value;
    FAULT_OK(evsrc_eventfd_take(&counter, &value));
    ck_assert_uint_eq(value, 1);
    deregister_once(loop.registry, &counter.source);
    ck_assert_int_eq(evsrc_eventfd_close(&counter), 0);

    /* A start beyond eventfd(2)'s unsigned int is written after. */
    FAULT_OK(evsrc_eventfd_new(&counter, (uint64_t)UINT32_MAX + 1, 0));
    ck_assert_int_eq(evsrc_eventfd_close(&counter), 0);

    /* Adopted, blocking: made non-blocking. */
    int fd = eventfd(0, EFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    FAULT_OK(evsrc_eventfd_from_fd(&counter, fd));
    ck_assert_int_ge(evsrc_eventfd_fd(&counter), 0);
    ck_assert_int_eq(evsrc_eventfd_close(&counter), 0);
    loop_close(&loop);
}

static void scenario_inotify(void)
{
    struct loop loop;
    loop_open(&loop);
    char dir[] = "/tmp/evsrc-fault-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char file[64];
    snprintf(file, sizeof file, "%s/f", dir);
    struct evsrc_inotify inotify;
    FAULT_OK(evsrc_inotify_new(&inotify));
    int wd;
    FAULT_CALL(wd, evsrc_inotify_add_watch(&inotify, dir, IN_CREATE));
    ck_assert_int_gt(wd, 0);
    FAULT_OK(evsrc_registry_register(loop.registry, &inotify.source, 14, EVSRC_READABLE));
    int fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    testutil_await_fd(evsrc_inotify_fd(&inotify), POLLIN);
    loop_expect(&loop, 14);
    _Alignas(struct inotify_event) char buf[4096];
    ssize_t n;
    FAULT_CALL(n, evsrc_inotify_read(&inotify, buf, sizeof buf));
    ck_assert_int_gt(n, 0);
    size_t offset = 0;
    const struct inotify_event *event = evsrc_inotify_next(buf, (size_t)n, &offset);
    ck_assert_ptr_nonnull(event);
    ck_assert_str_eq(event->name, "f");
    FAULT_OK(evsrc_inotify_rm_watch(&inotify, wd));
    deregister_once(loop.registry, &inotify.source);
    ck_assert_int_eq(evsrc_inotify_close(&inotify), 0);
    ck_assert_int_eq(unlink(file), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    loop_close(&loop);
}

/* Reaps the children a failed spawn left unreaped (the library cannot, having lost them: waitid said ECHILD). */
static void reap_strays(void)
{
    while (waitpid(-1, NULL, 0) > 0) {
    }
}

static void scenario_process(void)
{
    struct loop loop;
    loop_open(&loop);
    char *argv[] = {"true", NULL};
    struct evsrc_process process;
    FAULT_OK(evsrc_process_spawn(&process, "/bin/true", argv, NULL, NULL, NULL));
    ck_assert_int_gt(evsrc_process_pid(&process), 0);
    FAULT_OK(evsrc_registry_register(loop.registry, &process.source, 15, EVSRC_READABLE));
    testutil_await_fd(evsrc_process_fd(&process), POLLIN);
    loop_expect(&loop, 15);
    int r;
    FAULT_CALL(r, evsrc_process_kill(&process, SIGTERM));
    ck_assert_int_eq(r, -ESRCH);
    siginfo_t info;
    FAULT_OK(evsrc_process_wait(&process, &info));
    ck_assert_int_eq(info.si_code, CLD_EXITED);
    deregister_once(loop.registry, &process.source);
    ck_assert_int_eq(evsrc_process_close(&process), 0);

    /* A child of the test's own, adopted by pid and killed; and the caller's own attributes. */
    posix_spawnattr_t attr;
    ck_assert_int_eq(posix_spawnattr_init(&attr), 0);
    pid_t pid;
    char *sleep_argv[] = {"sleep", "1000", NULL};
    ck_assert_int_eq(posix_spawn(&pid, "/bin/sleep", NULL, &attr, sleep_argv, environ), 0);
    FAULT_OK(evsrc_process_from_pid(&process, pid));
    FAULT_OK(evsrc_process_kill(&process, SIGKILL));
    testutil_await_fd(evsrc_process_fd(&process), POLLIN);
    FAULT_OK(evsrc_process_wait(&process, &info));
    ck_assert_int_eq(info.si_code, CLD_KILLED);
    ck_assert_int_eq(evsrc_process_close(&process), 0);
    FAULT_OK(evsrc_process_spawn(&process, "/bin/true", argv, environ, NULL, &attr));
    testutil_await_fd(evsrc_process_fd(&process), POLLIN);
    FAULT_OK(evsrc_process_wait(&process, &info));
    ck_assert_int_eq(evsrc_process_close(&process), 0);
    ck_assert_int_eq(posix_spawnattr_destroy(&attr), 0);
    reap_strays();
    loop_close(&loop);
}

/* A path bind leaves its file behind when its listen fails (unix.h): the retry starts afresh, as a caller would. */
static int unix_listener_bind_fresh(struct evsrc_unix_listener *listener, const char *path)
{
    unlink(path);
    return evsrc_unix_listener_bind(listener, path);
}

/* *nfds is in and out: a retry must offer the room again. */
static ssize_t unix_recv_fd(struct evsrc_unix_stream *stream, char *buf, int *fd, size_t *nfds, bool *truncated)
{
    *nfds = 1;
    return evsrc_unix_stream_recv_fds(stream, buf, 1, fd, nfds, truncated);
}

static void scenario_unix_stream(void)
{
    struct loop loop;
    loop_open(&loop);
    char dir[] = "/tmp/evsrc-fault-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/s", dir);
    struct evsrc_unix_listener listener;
    FAULT_OK(unix_listener_bind_fresh(&listener, path));
    struct sockaddr_un addr;
    socklen_t addrlen = sizeof addr;
    FAULT_OK(evsrc_unix_listener_local_addr(&listener, &addr, &addrlen));
    ck_assert_int_ge(evsrc_unix_listener_fd(&listener), 0);

    struct evsrc_unix_stream client, server;
    FAULT_OK(evsrc_unix_stream_connect(&client, path));
    testutil_await_fd(evsrc_unix_listener_fd(&listener), POLLIN);
    struct sockaddr_un peer;
    socklen_t peerlen = sizeof peer;
    FAULT_OK(evsrc_unix_listener_accept(&listener, &server, &peer, &peerlen));
    FAULT_OK(evsrc_registry_register(loop.registry, &server.source, 16, EVSRC_READABLE));
    FAULT_OK(evsrc_unix_stream_take_error(&client));
    pid_t pid;
    uid_t uid;
    gid_t gid;
    FAULT_OK(evsrc_unix_stream_peer_cred(&server, &pid, &uid, &gid));
    ck_assert_int_eq(pid, getpid());
    addrlen = sizeof addr;
    FAULT_OK(evsrc_unix_stream_local_addr(&client, &addr, &addrlen));
    addrlen = sizeof addr;
    FAULT_OK(evsrc_unix_stream_peer_addr(&client, &addr, &addrlen));

    ssize_t n;
    FAULT_CALL(n, evsrc_unix_stream_write(&client, "abcd", 4));
    ck_assert_int_eq(n, 4);
    testutil_await_fd(evsrc_unix_stream_fd(&server), POLLIN);
    loop_expect(&loop, 16);
    char buf[8];
    FAULT_CALL(n, evsrc_unix_stream_peek(&server, buf, 1));
    ck_assert_int_eq(n, 1);
    FAULT_CALL(n, evsrc_unix_stream_read(&server, buf, 2));
    ck_assert_int_eq(n, 2);
    struct iovec iov[2] = {{buf, 1}, {buf + 1, 1}};
    FAULT_CALL(n, evsrc_unix_stream_readv(&server, iov, 2));
    ck_assert_int_eq(n, 2);
    FAULT_CALL(n, evsrc_unix_stream_writev(&server, iov, 2));
    ck_assert_int_eq(n, 2);

    /* An fd passed across. */
    int fds[2];
    testutil_pipe(fds);
    FAULT_CALL(n, evsrc_unix_stream_send_fds(&client, "x", 1, &fds[0], 1));
    ck_assert_int_eq(n, 1);
    testutil_close_pair(fds);
    testutil_await_fd(evsrc_unix_stream_fd(&server), POLLIN);
    int received[1];
    size_t nfds = 1;
    bool truncated;
    FAULT_CALL(n, unix_recv_fd(&server, buf, received, &nfds, &truncated));
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(nfds, 1);
    ck_assert(!truncated);
    close(received[0]);
    FAULT_OK(evsrc_unix_stream_shutdown(&client, SHUT_WR));
    deregister_once(loop.registry, &server.source);
    ck_assert_int_eq(evsrc_unix_stream_close(&server), 0);
    ck_assert_int_eq(evsrc_unix_stream_close(&client), 0);
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);

    /* An abstract name: no file. */
    char name[32];
    int namelen = snprintf(name, sizeof name, "evsrc-fault-%d", (int)getpid());
    ck_assert_int_eq(evsrc_unix_addr_abstract(&addr, &addrlen, name, (size_t)namelen), 0);
    FAULT_OK(evsrc_unix_listener_bind_addr(&listener, &addr, addrlen));
    FAULT_OK(evsrc_unix_stream_connect_addr(&client, &addr, addrlen));
    testutil_await_fd(evsrc_unix_listener_fd(&listener), POLLIN);
    FAULT_OK(evsrc_unix_listener_accept(&listener, &server, NULL, NULL));
    ck_assert_int_eq(evsrc_unix_stream_close(&server), 0);
    ck_assert_int_eq(evsrc_unix_stream_close(&client), 0);
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);

    /* A pair, and adopted sockets. */
    FAULT_OK(evsrc_unix_stream_pair(&client, &server));
    ck_assert_int_eq(evsrc_unix_stream_close(&server), 0);
    ck_assert_int_eq(evsrc_unix_stream_close(&client), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    FAULT_OK(evsrc_unix_stream_from_fd(&client, fd));
    ck_assert_int_eq(evsrc_unix_stream_close(&client), 0);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un autobind = {.sun_family = AF_UNIX};
    ck_assert_int_eq(bind(fd, (const struct sockaddr *)&autobind, sizeof(sa_family_t)), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    FAULT_OK(evsrc_unix_listener_from_fd(&listener, fd));
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);
    loop_close(&loop);
}

static void scenario_unix_datagram(void)
{
    struct loop loop;
    loop_open(&loop);
    char dir[] = "/tmp/evsrc-fault-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/d", dir);
    struct evsrc_unix_datagram a, b;
    FAULT_OK(evsrc_unix_datagram_bind(&b, path));
    FAULT_OK(evsrc_registry_register(loop.registry, &b.source, 17, EVSRC_READABLE));
    FAULT_OK(evsrc_unix_datagram_unbound(&a));
    ssize_t n;
    FAULT_CALL(n, evsrc_unix_datagram_send_to(&a, "ab", 2, path));
    ck_assert_int_eq(n, 2);
    testutil_await_fd(evsrc_unix_datagram_fd(&b), POLLIN);
    loop_expect(&loop, 17);
    char buf[8];
    struct sockaddr_un from;
    socklen_t fromlen = sizeof from;
    FAULT_CALL(n, evsrc_unix_datagram_recv_from(&b, buf, sizeof buf, &from, &fromlen));
    ck_assert_int_eq(n, 2);
    FAULT_OK(evsrc_unix_datagram_connect(&a, path));
    FAULT_CALL(n, evsrc_unix_datagram_send(&a, "cd", 2));
    ck_assert_int_eq(n, 2);
    testutil_await_fd(evsrc_unix_datagram_fd(&b), POLLIN);
    FAULT_CALL(n, evsrc_unix_datagram_recv(&b, buf, sizeof buf));
    ck_assert_int_eq(n, 2);
    struct sockaddr_un addr;
    socklen_t addrlen = sizeof addr;
    FAULT_OK(evsrc_unix_datagram_local_addr(&b, &addr, &addrlen));
    addrlen = sizeof addr;
    FAULT_OK(evsrc_unix_datagram_peer_addr(&a, &addr, &addrlen));
    FAULT_OK(evsrc_unix_datagram_take_error(&a));
    FAULT_OK(evsrc_unix_datagram_shutdown(&a, SHUT_RDWR));
    deregister_once(loop.registry, &b.source);
    ck_assert_int_eq(evsrc_unix_datagram_close(&a), 0);
    ck_assert_int_eq(evsrc_unix_datagram_close(&b), 0);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);

    /* Abstract names, a pair, and an adopted socket. */
    char name[32];
    int namelen = snprintf(name, sizeof name, "evsrc-fault-d-%d", (int)getpid());
    ck_assert_int_eq(evsrc_unix_addr_abstract(&addr, &addrlen, name, (size_t)namelen), 0);
    FAULT_OK(evsrc_unix_datagram_bind_addr(&b, &addr, addrlen));
    FAULT_OK(evsrc_unix_datagram_unbound(&a));
    FAULT_OK(evsrc_unix_datagram_connect_addr(&a, &addr, addrlen));
    FAULT_CALL(n, evsrc_unix_datagram_send_to_addr(&a, "e", 1, &addr, addrlen));
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(evsrc_unix_datagram_close(&a), 0);
    ck_assert_int_eq(evsrc_unix_datagram_close(&b), 0);
    FAULT_OK(evsrc_unix_datagram_pair(&a, &b));
    ck_assert_int_eq(evsrc_unix_datagram_close(&a), 0);
    ck_assert_int_eq(evsrc_unix_datagram_close(&b), 0);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    FAULT_OK(evsrc_unix_datagram_from_fd(&a, fd));
    ck_assert_int_eq(evsrc_unix_datagram_close(&a), 0);
    loop_close(&loop);
}

static void scenario_timers(void)
{
    struct loop loop;
    loop_open(&loop);
    struct evsrc_timers timers;
    FAULT_OK(evsrc_timers_new(&timers, CLOCK_MONOTONIC));
    FAULT_OK(evsrc_registry_register(loop.registry, &timers.source, 18, EVSRC_READABLE));
    /* Three timers, so that the table grows; the first due at once arms the fd. */
    struct evsrc_timer timer[3];
    for (int i = 0; i < 3; i++)
        evsrc_timer_init(&timer[i], (evsrc_token)i);
    FAULT_OK_HOLDING(evsrc_timers_start(&timers, &timer[0], &(struct timespec){0, 0}, NULL));
    FAULT_OK_HOLDING(evsrc_timers_start(&timers, &timer[1], &(struct timespec){3600, 0}, &(struct timespec){3600, 0}));
    FAULT_OK_HOLDING(evsrc_timers_start(&timers, &timer[2], &(struct timespec){7200, 0}, NULL));
    ck_assert_uint_eq(evsrc_timers_len(&timers), 3);
    /* The poll's deadline wakes the loop; the timerfd, made when asked for, is armed as well. */
    loop_expect(&loop, 18);
    int timerfd;
    FAULT_CALL(timerfd, evsrc_timers_fd(&timers));
    ck_assert_int_ge(timerfd, 0);
    testutil_await_fd(timerfd, POLLIN);
    struct evsrc_timer *out;
    int r;
    FAULT_CALL(r, evsrc_timers_expired(&timers, &out));
    ck_assert_int_eq(r, 0);
    ck_assert_ptr_eq(out, &timer[0]);
    ck_assert_uint_eq(evsrc_timer_expirations(out), 1);
    /* The drain ends: the fd is armed for the next deadline, an hour away. */
    FAULT_CALL(r, evsrc_timers_expired(&timers, &out));
    ck_assert_int_eq(r, -EAGAIN);
    struct timespec remaining;
    ck_assert_int_eq(evsrc_timers_next_deadline(&timers, &remaining), 0);
    ck_assert_int_le(remaining.tv_sec, 3600);
    ck_assert_int_eq(evsrc_timers_stop(&timers, &timer[1]), 1);
    ck_assert(!evsrc_timer_is_active(&timer[1]));
    ck_assert_uint_eq(evsrc_timer_token(&timer[2]), 2);
    deregister_once(loop.registry, &timers.source);
    ck_assert_int_eq(evsrc_timers_close(&timers), 0);
    ck_assert(!evsrc_timer_is_active(&timer[2]));
    loop_close(&loop);
}

/* ---- The loop ---------------------------------------------------------------------- */

struct scenario {
    const char *name;
    void (*run)(void);
};

/* One line per scenario; a new source adds its own. */
static const struct scenario scenarios[] = {
    {"version", scenario_version},
    {"events", scenario_events},
    {"poll", scenario_poll},
    {"registry", scenario_registry},
    {"custom_source", scenario_custom_source},
    {"waker", scenario_waker},
    {"pipe", scenario_pipe},
    {"tcp", scenario_tcp},
    {"timerfd", scenario_timerfd},
    {"tcp_listener_from_fd", scenario_tcp_listener_from_fd},
    {"source_fd", scenario_source_fd},
    {"udp", scenario_udp},
    {"signal", scenario_signal},
    {"eventfd", scenario_eventfd},
    {"inotify", scenario_inotify},
    {"process", scenario_process},
    {"unix_stream", scenario_unix_stream},
    {"unix_datagram", scenario_unix_datagram},
    {"timers", scenario_timers},
    {"address", scenario_address},
    {"write_queue", scenario_write_queue},
};

#define SCENARIOS ((int)(sizeof scenarios / sizeof scenarios[0]))

static void skip_without_interposition(void)
{
    if (!fault_injection_init()) {
        /* A static build links the library into the test: no calls of its own to tell apart. */
        fprintf(stderr, "fault injection: libevsrc is not a shared object here; skipped\n");
        exit(77);
    }
}

START_TEST(each_fallible_call_fails_cleanly)
{
    const struct scenario *scenario = &scenarios[_i];
    int fds = testutil_open_fds();
    unsigned long run;
    for (run = 1; run <= RUNS_MAX; run++) {
        unsigned long fired = fault_injection_fired();
        faults_checked = 0;
        fault_injection_arm(run);
        scenario->run();
        unsigned long calls = fault_injection_disarm();
        ck_assert_msg(!fault_injection_table_overflowed(), "the allocation table overflowed");
        ck_assert_msg(testutil_open_fds() == fds, "%s, call %lu failed: %d fds leaked", scenario->name, run,
                      testutil_open_fds() - fds);
        ck_assert_msg(fault_injection_library_bytes() == 0, "%s, call %lu failed: %zu bytes leaked",
                      scenario->name, run, fault_injection_library_bytes());
        if (fault_injection_fired() == fired) {
            /* Ran clean: every call was failed once. */
            ck_assert_uint_eq(calls, run - 1);
            break;
        }
        struct fault fault = fault_injection_last();
        ck_assert_msg(faults_checked == 1, "%s: %s (call %lu) failed outside a step", scenario->name,
                      fault.function, fault.call);
    }
    ck_assert_uint_le(run, RUNS_MAX);
    fprintf(stderr, "fault injection: %s: %lu fallible calls, each failed once\n", scenario->name, run - 1);
}
END_TEST

/* The interposer must see the library's calls and only those, or every clean run above proves nothing. */
START_TEST(counts_the_library_calls_only)
{
    fault_injection_arm(0);
    void *mine = malloc(16);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_uint_eq(fault_injection_disarm(), 0);
    free(mine);
    close(fd);

    struct evsrc_poll *poll;
    fault_injection_arm(0);
    ck_assert_int_eq(evsrc_poll_new(&poll), 0);
    ck_assert_uint_gt(fault_injection_library_bytes(), 0);
    evsrc_poll_free(poll);
    /* At least calloc, epoll_create1, and the live-queue table's realloc. */
    ck_assert_uint_ge(fault_injection_disarm(), 3);
    ck_assert_uint_eq(fault_injection_library_bytes(), 0);

    /* The queue's fd: an epoll fd, or the poll backend's eventfd. */
    const char *queue_call = TESTUTIL_SELECTOR_IS_POLL ? "eventfd" : "epoll_create1";
    fault_injection_arm_function(queue_call, 1, EMFILE, false);
    ck_assert_int_eq(evsrc_poll_new(&poll), -EMFILE);
    ck_assert_uint_eq(fault_injection_disarm(), 1);
    ck_assert_str_eq(fault_injection_last().function, queue_call);
    ck_assert_uint_eq(fault_injection_library_bytes(), 0);
}
END_TEST

/* ---- Targeted faults: one answer of the kernel each -------------------------------- */

/* A loop with a readable pipe registered under token 1: any wait returns at once. */
static void ready_loop(struct loop *loop, int fds[2])
{
    ck_assert_int_eq(evsrc_poll_new(&loop->poll), 0);
    ck_assert_int_eq(evsrc_events_new(8, &loop->events), 0);
    loop->registry = evsrc_poll_registry(loop->poll);
    testutil_pipe(fds);
    ck_assert_int_eq(evsrc_registry_register_fd(loop->registry, fds[0], 1, EVSRC_READABLE | EVSRC_LEVEL), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
}

/* A kernel before 5.11: epoll_pwait2 is ENOSYS, the wait rounds up to milliseconds and never asks again. */
START_TEST(waits_without_epoll_pwait2)
{
    struct loop loop;
    int fds[2];
    ready_loop(&loop, fds);
    fault_injection_arm_function("epoll_pwait2", 0, ENOSYS, false);
    ck_assert_int_eq(evsrc_poll_wait(loop.poll, loop.events, &(struct timespec){0, 1}), 1);
    fault_injection_disarm();

    /* Answered once: it is not called again (it would fail here). */
    fault_injection_arm_function("epoll_pwait2", 0, EINTR, false);
    ck_assert_int_eq(evsrc_poll_wait(loop.poll, loop.events, &(struct timespec){0, 1}), 1);
    /* A timeout too long for epoll_wait's int milliseconds is capped, not wrapped to a negative (infinite) one. */
    ck_assert_int_eq(evsrc_poll_wait(loop.poll, loop.events, &(struct timespec){INT_MAX, 1}), 1);
    ck_assert_uint_eq(fault_injection_disarm(), 0);
    testutil_close_pair(fds);
    loop_close(&loop);
}
END_TEST

/* A wait the kernel refuses for a reason of its own (EINVAL) in the process that made the queue: not -ECHILD. */
/*
 * A process whose fork handlers cannot be registered (glibc: no memory for
 * the entry) makes no poll at all, rather than polls whose lock a fork child
 * could inherit held: -ENOMEM, for good, with nothing leaked. The library
 * registers them at its first poll, so this test makes none before.
 */
START_TEST(no_poll_without_fork_handlers)
{
    int fds_before = testutil_open_fds();
    unsigned long fired_before = fault_injection_fired();
    fault_injection_arm_function("__register_atfork", 0, ENOMEM, false);
    struct evsrc_poll *poll = NULL;
    ck_assert_int_eq(evsrc_poll_new(&poll), -ENOMEM);
    ck_assert_ptr_null(poll);
    ck_assert_uint_eq(fault_injection_fired() - fired_before, 1);
    fault_injection_disarm();
    /* Registered once or never: the answer stays. */
    ck_assert_int_eq(evsrc_poll_new(&poll), -ENOMEM);
    ck_assert_int_eq(testutil_open_fds(), fds_before);
    ck_assert_uint_eq(fault_injection_library_bytes(), 0);
}
END_TEST

START_TEST(wait_refused_in_the_queues_own_process_is_not_echild)
{
    struct loop loop;
    int fds[2];
    ready_loop(&loop, fds);
    struct evsrc_registry *clone; /* a second handle, of another fd, for the check to pass over */
    ck_assert_int_eq(evsrc_registry_try_clone(loop.registry, &clone), 0);
    fault_injection_arm_function("epoll_wait", 0, EINVAL, false);
    /* 1 ms: a timed wait goes through the C library's epoll_wait everywhere (a zero one is raw on x86-64). */
    ck_assert_int_eq(evsrc_poll_wait(loop.poll, loop.events, &(struct timespec){0, 1000000}), -EINVAL);
    ck_assert_uint_eq(fault_injection_disarm(), 1);
    evsrc_registry_free(clone);
    testutil_close_pair(fds);
    loop_close(&loop);
}
END_TEST

/*
 * A fork child whose atfork handler finds no fd for the eventfd it puts over
 * the inherited queue fds: those stay as they are (queue.c), and registry
 * calls through inherited handles still answer -ECHILD.
 */
START_TEST(fork_child_without_an_fd_to_spare)
{
    struct loop loop;
    int fds[2];
    ready_loop(&loop, fds);
    unsigned long fired = fault_injection_fired();
    fault_injection_arm_function("eventfd", 1, EMFILE, false);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int status = 0;
        if (fault_injection_fired() != fired + 1)
            status = 1; /* the handler's eventfd did not fail */
        fault_injection_disarm();
        /* Already registered: the parent's queue answers EEXIST, and is left as it is. */
        if (evsrc_registry_register_fd(loop.registry, fds[0], 2, EVSRC_READABLE) != -ECHILD)
            status = 2;
        testutil_child_exit(status);
    }
    ck_assert_uint_eq(fault_injection_disarm(), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    /* The parent's registration is intact. */
    ck_assert_int_eq(evsrc_poll_wait(loop.poll, loop.events, &(struct timespec){0, 0}), 1);
    testutil_close_pair(fds);
    loop_close(&loop);
}
END_TEST

/*
 * The spawned child is gone before its pidfd could be opened (ESRCH): a
 * reaper elsewhere took it, which the caller hears as -ECHILD.
 */
START_TEST(spawned_child_reaped_before_its_pidfd)
{
    char *argv[] = {"true", NULL};
    struct evsrc_process process;
    fault_injection_arm_function("pidfd_open", 1, ESRCH, false);
    ck_assert_int_eq(evsrc_process_spawn(&process, "/bin/true", argv, NULL, NULL, NULL), -ECHILD);
    ck_assert_uint_eq(fault_injection_disarm(), 1);
    ck_assert_int_eq(evsrc_process_fd(&process), -EBADF);
    reap_strays();
}
END_TEST

/*
 * Spawns with no fd to spare, so that the pidfd cannot be opened; the child
 * gets no stderr, where its loader would complain of the same limit.
 */
static int spawn_without_fds(struct evsrc_process *process)
{
    char *argv[] = {"sleep", "60", NULL};
    posix_spawn_file_actions_t actions;
    ck_assert_int_eq(posix_spawn_file_actions_init(&actions), 0);
    ck_assert_int_eq(posix_spawn_file_actions_addclose(&actions, STDERR_FILENO), 0);
    struct rlimit old = testutil_exhaust_fds();
    int r = evsrc_process_spawn(process, "/bin/sleep", argv, NULL, &actions, NULL);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    posix_spawn_file_actions_destroy(&actions);
    return r;
}

/* No fd for the pidfd: the child is killed and reaped, the reaping retried when a signal interrupts it. */
START_TEST(child_without_a_pidfd_is_reaped_through_eintr)
{
    struct evsrc_process process;
    fault_injection_arm_function("waitpid", 1, EINTR, false);
    int r = spawn_without_fds(&process);
    unsigned long waits = fault_injection_disarm();
    ck_assert_int_eq(r, -EMFILE);
    ck_assert_uint_eq(waits, 2);
    errno = 0;
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
}
END_TEST

/* The reaping fails otherwise (a reaper elsewhere took the child first): not retried, and the spawn's error stands. */
START_TEST(child_without_a_pidfd_reaped_elsewhere)
{
    struct evsrc_process process;
    fault_injection_arm_function("waitpid", 1, ECHILD, false);
    int r = spawn_without_fds(&process);
    unsigned long waits = fault_injection_disarm();
    ck_assert_int_eq(r, -EMFILE);
    ck_assert_uint_eq(waits, 1);
    reap_strays(); /* the killed child, which the failed reap left */
}
END_TEST

static void assert_no_children(void)
{
    errno = 0;
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
}

/* A child of the test's own, running until killed. */
static pid_t spawn_sleeper(void)
{
    pid_t pid;
    char *argv[] = {"sleep", "1000", NULL};
    ck_assert_int_eq(posix_spawn(&pid, "/bin/sleep", NULL, NULL, argv, environ), 0);
    return pid;
}

static void assert_pidfd_flags(const struct evsrc_process *process)
{
    int fd = evsrc_process_fd(process);
    ck_assert_int_ge(fd, 0);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

/*
 * Linux 5.4 to 5.9 refuse PIDFD_NONBLOCK with EINVAL (issue 20: process.h
 * names 5.4): the pidfd is opened without it and made non-blocking with
 * fcntl, close-on-exec still, for spawn and from_pid alike.
 */
START_TEST(pidfd_nonblock_refused_falls_back_to_fcntl)
{
    char *argv[] = {"true", NULL};
    struct evsrc_process process;
    siginfo_t info;
    fault_injection_arm_function("pidfd_open", 1, EINVAL, false);
    ck_assert_int_eq(evsrc_process_spawn(&process, "/bin/true", argv, NULL, NULL, NULL), 0);
    ck_assert_uint_eq(fault_injection_disarm(), 2);
    assert_pidfd_flags(&process);
    testutil_await_fd(evsrc_process_fd(&process), POLLIN);
    ck_assert_int_eq(evsrc_process_wait(&process, &info), 0);
    ck_assert_int_eq(info.si_code, CLD_EXITED);
    ck_assert_int_eq(evsrc_process_close(&process), 0);

    pid_t pid = spawn_sleeper();
    fault_injection_arm_function("pidfd_open", 1, EINVAL, false);
    ck_assert_int_eq(evsrc_process_from_pid(&process, pid), 0);
    ck_assert_uint_eq(fault_injection_disarm(), 2);
    assert_pidfd_flags(&process);
    ck_assert_int_eq(evsrc_process_kill(&process, SIGKILL), 0);
    testutil_await_fd(evsrc_process_fd(&process), POLLIN);
    ck_assert_int_eq(evsrc_process_wait(&process, &info), 0);
    ck_assert_int_eq(info.si_code, CLD_KILLED);
    ck_assert_int_eq(evsrc_process_close(&process), 0);
    assert_no_children();
}
END_TEST

/*
 * The fallback fails in turn: pidfd_open refuses the pid without the flag
 * too (as for a thread that is not a process's main thread), or the fcntl
 * fails. The error is returned, no fd is left, and a spawned child is
 * killed and reaped.
 */
START_TEST(pidfd_nonblock_fallback_that_fails_leaves_nothing)
{
    char *argv[] = {"sleep", "1000", NULL};
    struct evsrc_process process;
    int before = testutil_open_fds();
    /* Meson builds with _FILE_OFFSET_BITS=64, under which glibc's headers make the library call fcntl64. */
    const char *fcntl_name = "fcntl64";
    fault_injection_arm_function("pidfd_open", 0, EINVAL, false);
    ck_assert_int_eq(evsrc_process_spawn(&process, "/bin/sleep", argv, NULL, NULL, NULL), -EINVAL);
    ck_assert_uint_eq(fault_injection_disarm(), 2);
    ck_assert_int_eq(evsrc_process_fd(&process), -EBADF);
    assert_no_children();
    ck_assert_int_eq(testutil_open_fds(), before);

    fault_injection_arm_function("pidfd_open", 1, EINVAL, false);
    fault_injection_arm_also(fcntl_name, 1, EBADF);
    ck_assert_int_eq(evsrc_process_spawn(&process, "/bin/sleep", argv, NULL, NULL, NULL), -EBADF);
    ck_assert_uint_eq(fault_injection_disarm(), 2);
    ck_assert_int_eq(evsrc_process_fd(&process), -EBADF);
    assert_no_children();
    ck_assert_int_eq(testutil_open_fds(), before);

    pid_t pid = spawn_sleeper();
    fault_injection_arm_function("pidfd_open", 1, EINVAL, false);
    fault_injection_arm_also(fcntl_name, 1, EBADF);
    ck_assert_int_eq(evsrc_process_from_pid(&process, pid), -EBADF);
    fault_injection_disarm();
    ck_assert_int_eq(evsrc_process_fd(&process), -EBADF);
    ck_assert_int_eq(testutil_open_fds(), before);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}
END_TEST

/*
 * The check that the pidfd names our unreaped child fails otherwise than
 * with ECHILD (a seccomp profile refusing waitid's P_PIDFD): the child is
 * ours and alive, so it is killed and reaped before the error returns.
 * Before issue 20 it ran on, unreaped, and the call said -ECHILD.
 */
START_TEST(pidfd_check_refused_kills_and_reaps_the_child)
{
    char *argv[] = {"sleep", "1000", NULL};
    struct evsrc_process process;
    int before = testutil_open_fds();
    fault_injection_arm_function("waitid", 1, EPERM, false);
    ck_assert_int_eq(evsrc_process_spawn(&process, "/bin/sleep", argv, NULL, NULL, NULL), -EPERM);
    ck_assert_uint_eq(fault_injection_disarm(), 1);
    ck_assert_int_eq(evsrc_process_fd(&process), -EBADF);
    ck_assert_int_eq(testutil_open_fds(), before);
    assert_no_children();
}
END_TEST

/* Two wakes race on a full counter and the other one empties it first: this one's read is EAGAIN, and fine. */
START_TEST(wake_whose_reset_finds_the_counter_emptied)
{
    struct loop loop;
    int fds[2];
    ready_loop(&loop, fds);
    struct evsrc_waker *waker;
    ck_assert_int_eq(evsrc_waker_new(&waker, loop.registry, 2), 0);
    int fd = find_eventfd();
    uint64_t full = UINT64_MAX - 1;
    ck_assert_int_eq(write(fd, &full, sizeof full), (ssize_t)sizeof full);
    fault_injection_arm_function("read", 1, EAGAIN, true);
    ck_assert_int_eq(evsrc_waker_wake(waker), 0);
    ck_assert_uint_eq(fault_injection_disarm(), 1);
    uint64_t count;
    ck_assert_int_eq(read(fd, &count, sizeof count), (ssize_t)sizeof count);
    ck_assert_uint_eq(count, 1);
    evsrc_waker_free(waker);
    testutil_close_pair(fds);
    loop_close(&loop);
}
END_TEST

/* A non-blocking connect the kernel completes at once (0, not EINPROGRESS) is a success like the other. */
/* A UDP flush whose sendmmsg a signal interrupts retries it: EINTR is never a flush's error. */
START_TEST(udp_flush_interrupted_retries)
{
    struct evsrc_udp_socket tx, rx;
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(evsrc_udp_socket_bind(&tx, (const struct sockaddr *)&any, sizeof any), 0);
    ck_assert_int_eq(evsrc_udp_socket_bind(&rx, (const struct sockaddr *)&any, sizeof any), 0);
    struct sockaddr_storage to;
    socklen_t tolen = sizeof to;
    ck_assert_int_eq(evsrc_udp_socket_local_addr(&rx, &to, &tolen), 0);
    struct evsrc_write_queue queue;
    struct evsrc_write_request req;
    evsrc_write_queue_init(&queue);
    evsrc_write_request_init_buffer(&req, "ab", 2);
    evsrc_write_request_set_destination(&req, (const struct sockaddr *)&to, tolen);
    evsrc_write_queue_push(&queue, &req);
    fault_injection_arm_function("sendmmsg", 1, EINTR, false);
    unsigned long fired = fault_injection_fired();
    ck_assert_int_eq(evsrc_write_queue_flush_udp(&queue, &tx), 1);
    ck_assert_uint_eq(fault_injection_disarm(), 2); /* interrupted, then retried */
    ck_assert_uint_eq(fault_injection_fired(), fired + 1);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &req);
    ck_assert_int_eq(evsrc_write_request_error(&req), 0);
    char buf[4];
    testutil_await_fd(evsrc_udp_socket_fd(&rx), POLLIN);
    ck_assert_int_eq(evsrc_udp_socket_recv(&rx, buf, sizeof buf), 2);
    ck_assert_int_eq(evsrc_udp_socket_close(&tx), 0);
    ck_assert_int_eq(evsrc_udp_socket_close(&rx), 0);
}
END_TEST

START_TEST(connect_completed_at_once)
{
    struct evsrc_tcp_listener listener;
    struct sockaddr_in addr;
    testutil_listen_loopback(&listener, &addr);
    struct evsrc_tcp_stream stream;
    fault_injection_arm_function("connect", 1, 0, true);
    ck_assert_int_eq(evsrc_tcp_stream_connect(&stream, (const struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_uint_eq(fault_injection_disarm(), 1);
    testutil_await_fd(evsrc_tcp_stream_fd(&stream), POLLOUT);
    ck_assert_int_eq(evsrc_tcp_stream_take_error(&stream), 0);
    ck_assert_int_eq(evsrc_tcp_stream_close(&stream), 0);
    ck_assert_int_eq(evsrc_tcp_listener_close(&listener), 0);
}
END_TEST

/*
 * What the library imports and need not fail, each with the reason. Coverage
 * builds add gcov's runtime, whose imports are listed after it.
 */
static const char *const infallible[] = {
    "close",                /* releases the fd whatever it returns (Linux); the library ignores it */
    "sigemptyset", "sigaddset", "sigismember", /* a valid signal number */
    "pthread_mutex_lock", "pthread_mutex_unlock", /* a default mutex, locked by its owner */
    "getpid", "gettid",     /* always succeed */
    "sched_yield",          /* always succeeds (Linux) */
    "pthread_once",         /* a valid once control and routine */
    "pthread_setcancelstate", "pthread_testcancel", /* a valid state */
    "clock_gettime",        /* a clock the library checked is supported */
    "dlsym", "secure_getenv", /* NULL (absent) is an answer the caller handles, not a failure */
    "environ", "__environ", /* variables, not calls */
    "__libc_current_sigrtmax", /* SIGRTMAX: a constant of the running C library */
    "posix_spawnattr_setflags", "posix_spawnattr_setsigmask", "posix_spawnattr_destroy", /* valid flags, set and attr */
    "dup3",                 /* in a fork child (one thread), onto an open fd: EBUSY needs a racing open */
    "sigisemptyset", "strcmp", "strnlen", "snprintf", "memset", /* pure functions of their arguments */
    "memchr", "inet_pton", "inet_ntop", /* pure too: inet_ntop's one error, ENOSPC, needs a buffer under the family's maximum */
    "pthread_mutex_init", "pthread_mutex_destroy", /* default attributes: glibc's always succeed */
    "__errno_location", "memcpy", "memset", "memmove", "__stack_chk_fail", "__cxa_finalize",
    "_ITM_deregisterTMCloneTable", "_ITM_registerTMCloneTable", "__gmon_start__",
    "__getauxval",          /* aarch64: libgcc's outline atomics read AT_HWCAP once at load */
};

static const char *const gcov_runtime[] = {
    "abort", "access", "exit", "fclose", "fdopen", "fopen", "fprintf", "fread", "fseek", "fwrite", "getenv",
    "getpid", "mkdir", "mmap", "open", "sprintf", "stderr", "strcat", "strchr", "strlen", "strtol", "vfprintf",
    "fileno", "ftell", "setbuf", "munmap", "atoi", "strcpy",
};

static bool listed(const char *const *list, size_t len, const char *name)
{
    for (size_t i = 0; i < len; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static bool import_is_accounted(const char *name)
{
    if (fault_injection_interposes(name) || listed(infallible, sizeof infallible / sizeof infallible[0], name))
        return true;
#if defined(FAULT_INJECTION_COVERAGE)
    return listed(gcov_runtime, sizeof gcov_runtime / sizeof gcov_runtime[0], name);
#else
    (void)gcov_runtime;
    return false;
#endif
}

/* Reads the library's dynamic symbol table from its file. */
START_TEST(every_import_is_interposed_or_infallible)
{
    FILE *file = fopen(fault_injection_library_path(), "rb");
    ck_assert_ptr_nonnull(file);
    ElfW(Ehdr) header;
    ck_assert_uint_eq(fread(&header, sizeof header, 1, file), 1);
    ck_assert_int_eq(memcmp(header.e_ident, ELFMAG, SELFMAG), 0);
    ElfW(Shdr) *sections = calloc(header.e_shnum, sizeof *sections);
    ck_assert_ptr_nonnull(sections);
    ck_assert_int_eq(fseek(file, (long)header.e_shoff, SEEK_SET), 0);
    ck_assert_uint_eq(fread(sections, sizeof *sections, header.e_shnum, file), header.e_shnum);
    int unaccounted = 0, imports = 0;
    for (size_t s = 0; s < header.e_shnum; s++) {
        if (sections[s].sh_type != SHT_DYNSYM)
            continue;
        const ElfW(Shdr) *strings = &sections[sections[s].sh_link];
        char *names = malloc(strings->sh_size);
        ElfW(Sym) *symbols = malloc(sections[s].sh_size);
        ck_assert(names && symbols);
        ck_assert_int_eq(fseek(file, (long)strings->sh_offset, SEEK_SET), 0);
        ck_assert_uint_eq(fread(names, 1, strings->sh_size, file), strings->sh_size);
        ck_assert_int_eq(fseek(file, (long)sections[s].sh_offset, SEEK_SET), 0);
        ck_assert_uint_eq(fread(symbols, 1, sections[s].sh_size, file), sections[s].sh_size);
        for (size_t i = 1; i < sections[s].sh_size / sizeof *symbols; i++) {
            if (symbols[i].st_shndx != SHN_UNDEF)
                continue;
            const char *name = names + symbols[i].st_name;
            imports++;
            if (!import_is_accounted(name)) {
                fprintf(stderr, "libevsrc imports %s: interpose it in tests/fault_injection.c "
                                "or list it as infallible, with the reason\n", name);
                unaccounted++;
            }
        }
        free(names);
        free(symbols);
    }
    free(sections);
    fclose(file);
    ck_assert_int_gt(imports, 10);
    ck_assert_int_eq(unaccounted, 0);
}
END_TEST

int main(void)
{
    skip_without_interposition();
    Suite *suite = suite_create("fault_injection");
    TCase *tc = tcase_create("fault_injection");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, counts_the_library_calls_only);
    tcase_add_test(tc, every_import_is_interposed_or_infallible);
    if (!TESTUTIL_SELECTOR_IS_POLL) {
        /* Answers of epoll and of the epoll backend's fork handling. */
        tcase_add_test(tc, waits_without_epoll_pwait2);
        tcase_add_test(tc, wait_refused_in_the_queues_own_process_is_not_echild);
        tcase_add_test(tc, fork_child_without_an_fd_to_spare);
    }
    tcase_add_test(tc, no_poll_without_fork_handlers);
    tcase_add_test(tc, connect_completed_at_once);
    tcase_add_test(tc, udp_flush_interrupted_retries);
    tcase_add_test(tc, wake_whose_reset_finds_the_counter_emptied);
    tcase_add_test(tc, spawned_child_reaped_before_its_pidfd);
    tcase_add_test(tc, child_without_a_pidfd_is_reaped_through_eintr);
    tcase_add_test(tc, child_without_a_pidfd_reaped_elsewhere);
    tcase_add_test(tc, pidfd_nonblock_refused_falls_back_to_fcntl);
    tcase_add_test(tc, pidfd_nonblock_fallback_that_fails_leaves_nothing);
    tcase_add_test(tc, pidfd_check_refused_kills_and_reaps_the_child);
    tcase_add_loop_test(tc, each_fallible_call_fails_cleanly, 0, SCENARIOS);
    suite_add_tcase(suite, tc);
    return testutil_run(suite);
}
