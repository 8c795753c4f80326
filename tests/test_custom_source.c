/* SPDX-License-Identifier: MIT */
/*
 * Custom sources: a source written in user code, from the public headers
 * only, registers like a built-in one; the registry hands its ops the right
 * arguments, passes their results back unchanged, and catches misuse of a
 * source's registration state before any op runs.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#if !defined(_WIN32)
#include <sys/mman.h>
#endif
#include <unistd.h>

#include "testutil.h"

/* ---- A recording source: one fd, and a log of every op call ---------------- */

struct recorder {
    int fd; /* registered by the ops when >= 0; -1 makes the ops touch no queue */
    /* When nonzero, the op returns this instead of touching the queue. */
    int register_result, reregister_result, deregister_result;
    int register_calls, reregister_calls, deregister_calls;
    struct evsrc_source *last_source;
    struct evsrc_registry *last_registry;
    evsrc_token last_token;
    evsrc_interest last_interests;
    struct evsrc_source source;
};

static struct recorder *recorder_of(struct evsrc_source *source)
{
    return evsrc_container_of(source, struct recorder, source);
}

static void recorder_note(struct recorder *self, struct evsrc_source *source, struct evsrc_registry *registry,
                          evsrc_token token, evsrc_interest interests)
{
    self->last_source = source;
    self->last_registry = registry;
    self->last_token = token;
    self->last_interests = interests;
}

static int recorder_register(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                             evsrc_interest interests)
{
    struct recorder *self = recorder_of(source);
    self->register_calls++;
    recorder_note(self, source, registry, token, interests);
    if (self->register_result != 0)
        return self->register_result;
    return self->fd >= 0 ? evsrc_registry_register_fd(registry, self->fd, token, interests) : 0;
}

static int recorder_reregister(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                               evsrc_interest interests)
{
    struct recorder *self = recorder_of(source);
    self->reregister_calls++;
    recorder_note(self, source, registry, token, interests);
    if (self->reregister_result != 0)
        return self->reregister_result;
    return self->fd >= 0 ? evsrc_registry_reregister_fd(registry, self->fd, token, interests) : 0;
}

static int recorder_deregister(struct evsrc_source *source, struct evsrc_registry *registry)
{
    struct recorder *self = recorder_of(source);
    self->deregister_calls++;
    recorder_note(self, source, registry, 0, 0);
    if (self->deregister_result != 0)
        return self->deregister_result;
    return self->fd >= 0 ? evsrc_registry_deregister_fd(registry, self->fd) : 0;
}

static const struct event_source_ops recorder_ops = {
    .register_source = recorder_register,
    .reregister_source = recorder_reregister,
    .deregister_source = recorder_deregister,
};

static void recorder_init(struct recorder *r, int fd)
{
    memset(r, 0, sizeof *r);
    r->fd = fd;
    ck_assert_int_eq(evsrc_source_init(&r->source, &recorder_ops), 0);
}

static int recorder_calls(const struct recorder *r)
{
    return r->register_calls + r->reregister_calls + r->deregister_calls;
}

/* ---- Per-test fixture: testutil's, and a socketpair for a recorder -------- */

static int pair[2]; /* pair[0] goes in the source; writing to pair[1] makes it readable */

static void setup(void)
{
    testutil_fixture_setup();
    testutil_socketpair(pair);
}

/* Closes everything; testutil's teardown checks that no fd was leaked. */
static void teardown(void)
{
    testutil_close_pair(pair);
    testutil_fixture_teardown();
}

static void send_byte(int fd)
{
    ck_assert_int_eq(write(fd, "x", 1), 1);
}

/* Reads until -EAGAIN, so that the next write owes a new edge-triggered event. */
static void drain(int fd)
{
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Makes pair[0] readable and checks that `token` reports it, then drains. */
static void expect_event(evsrc_token token)
{
    send_byte(pair[1]);
    testutil_expect_event(token);
    drain(pair[0]);
}

/* Makes pair[0] readable and checks, for a short while, that `token` stays silent. */
static void expect_silence(evsrc_token token)
{
    send_byte(pair[1]);
    testutil_expect_quiet(token);
    drain(pair[0]);
}

/* Registers `source` with the poll under `token`, sees it report, and deregisters it: each step must work. */
static void expect_registration_works(struct evsrc_source *source, evsrc_token token)
{
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, source, token, EVSRC_READABLE), 0);
    expect_event(token);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, source), 0);
}

/* ---- Ops get their arguments; their results come back unchanged ---------- */

START_TEST(ops_receive_their_arguments)
{
    struct recorder r;
    recorder_init(&r, pair[0]);

    ck_assert_int_eq(
        evsrc_registry_register(testutil_fx.registry, &r.source, 0x1234, EVSRC_READABLE | EVSRC_LEVEL), 0);
    ck_assert_int_eq(r.register_calls, 1);
    ck_assert_ptr_eq(r.last_source, &r.source);
    ck_assert_ptr_eq(r.last_registry, testutil_fx.registry);
    ck_assert_uint_eq(r.last_token, 0x1234);
    ck_assert_uint_eq(r.last_interests, EVSRC_READABLE | EVSRC_LEVEL);
    expect_event(0x1234);

    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &r.source, UINT64_MAX,
                                               EVSRC_READABLE | EVSRC_WRITABLE | EVSRC_ONESHOT),
                     0);
    ck_assert_int_eq(r.reregister_calls, 1);
    ck_assert_ptr_eq(r.last_source, &r.source);
    ck_assert_ptr_eq(r.last_registry, testutil_fx.registry);
    ck_assert_uint_eq(r.last_token, UINT64_MAX);
    ck_assert_uint_eq(r.last_interests, EVSRC_READABLE | EVSRC_WRITABLE | EVSRC_ONESHOT);
    testutil_expect_event(UINT64_MAX);

    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), 0);
    ck_assert_int_eq(r.deregister_calls, 1);
    ck_assert_ptr_eq(r.last_source, &r.source);
    ck_assert_ptr_eq(r.last_registry, testutil_fx.registry);
    ck_assert_int_eq(r.register_calls + r.reregister_calls, 2);
}
END_TEST

START_TEST(ops_receive_the_handle_they_were_called_through)
{
    struct evsrc_registry *clone;
    ck_assert_int_eq(evsrc_registry_try_clone(testutil_fx.registry, &clone), 0);
    struct recorder r;
    recorder_init(&r, pair[0]);

    ck_assert_int_eq(evsrc_registry_register(clone, &r.source, 5, EVSRC_READABLE), 0);
    ck_assert_ptr_eq(r.last_registry, clone);
    expect_event(5);
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &r.source, 6, EVSRC_READABLE), 0);
    ck_assert_ptr_eq(r.last_registry, testutil_fx.registry);
    expect_event(6);
    ck_assert_int_eq(evsrc_registry_deregister(clone, &r.source), 0);
    ck_assert_ptr_eq(r.last_registry, clone);
    expect_silence(6);

    evsrc_registry_free(clone);
}
END_TEST

START_TEST(op_success_value_reaches_caller)
{
    struct recorder r;
    recorder_init(&r, -1);

    r.register_result = 7;
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), 7);
    r.reregister_result = 8;
    /* A positive result is success: the source is registered. */
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), 8);
    r.deregister_result = 9;
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), 9);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), -ENOENT);
    ck_assert_int_eq(recorder_calls(&r), 3);
}
END_TEST

START_TEST(register_error_reaches_caller_and_leaves_source_unregistered)
{
    struct recorder r;
    recorder_init(&r, pair[0]);

    r.register_result = -ENOTSUP;
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), -ENOTSUP);
    ck_assert_int_eq(r.register_calls, 1);
    /* Not marked: reregister and deregister find nothing, without calling their ops. */
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), -ENOENT);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), -ENOENT);
    ck_assert_int_eq(r.reregister_calls + r.deregister_calls, 0);

    /* A second register calls the op again, and this time it works. */
    r.register_result = 0;
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 2, EVSRC_READABLE), 0);
    ck_assert_int_eq(r.register_calls, 2);
    expect_event(2);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), 0);
}
END_TEST

START_TEST(register_error_from_the_kernel_reaches_caller)
{
    TESTUTIL_SKIP_ON_WINDOWS("no memfd: a regular file is a C runtime fd there, not a socket the backend could refuse");
#if !defined(_WIN32)
    int file = memfd_create("evsrc-test", MFD_CLOEXEC);
    ck_assert_int_ge(file, 0);
    struct recorder r;
    recorder_init(&r, file);

    /* epoll cannot watch a regular file; the op passes the kernel's answer on. */
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), -EPERM);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), -ENOENT);

    close(file);
#endif
}
END_TEST

START_TEST(reregister_error_reaches_caller_and_keeps_registration)
{
    struct recorder r;
    recorder_init(&r, pair[0]);

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), 0);
    r.reregister_result = -ENOTSUP;
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &r.source, 2, EVSRC_READABLE), -ENOTSUP);
    ck_assert_int_eq(r.reregister_calls, 1);
    /* Still registered, with its old token. */
    expect_event(1);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), -EEXIST);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), 0);
}
END_TEST

START_TEST(deregister_clears_record_whatever_the_op_returns)
{
    struct recorder r;
    recorder_init(&r, -1);

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), 0);
    r.deregister_result = -EIO;
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), -EIO);
    ck_assert_int_eq(r.deregister_calls, 1);
    /* No longer marked: a second deregister finds nothing, a register works. */
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), -ENOENT);
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), -ENOENT);
    ck_assert_int_eq(r.deregister_calls + r.reregister_calls, 1);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(r.register_calls, 2);
}
END_TEST

/* ---- Composite sources: several fds, one token ---------------------------- */

/* A socket and a pipe's read end, registered together. */
struct composite {
    int sock;
    int pipe_read;
    int register_calls;
    struct evsrc_source source;
};

static int composite_register(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                              evsrc_interest interests)
{
    struct composite *self = evsrc_container_of(source, struct composite, source);
    self->register_calls++;
    int r = evsrc_registry_register_fd(registry, self->sock, token, interests);
    if (r < 0)
        return r;
    r = evsrc_registry_register_fd(registry, self->pipe_read, token, interests);
    if (r < 0)
        evsrc_registry_deregister_fd(registry, self->sock);
    return r;
}

static int composite_reregister(struct evsrc_source *source, struct evsrc_registry *registry,
                                evsrc_token token, evsrc_interest interests)
{
    struct composite *self = evsrc_container_of(source, struct composite, source);
    int r = evsrc_registry_reregister_fd(registry, self->sock, token, interests);
    return r < 0 ? r : evsrc_registry_reregister_fd(registry, self->pipe_read, token, interests);
}

static int composite_deregister(struct evsrc_source *source, struct evsrc_registry *registry)
{
    struct composite *self = evsrc_container_of(source, struct composite, source);
    int r_sock = evsrc_registry_deregister_fd(registry, self->sock);
    int r_pipe = evsrc_registry_deregister_fd(registry, self->pipe_read);
    return r_sock < 0 ? r_sock : r_pipe;
}

static const struct event_source_ops composite_ops = {
    composite_register,
    composite_reregister,
    composite_deregister,
};

START_TEST(composite_fds_report_under_one_token)
{
    int pipe_fds[2];
    testutil_channel(pipe_fds);
    struct composite c = {pair[0], pipe_fds[0], 0, EVSRC_SOURCE_INIT(&composite_ops)};

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &c.source, 42, EVSRC_READABLE), 0);
    expect_event(42); /* the socket */
    send_byte(pipe_fds[1]);
    testutil_expect_event(42);
    drain(pipe_fds[0]);
    /* Both fds drained: the raw-fd rule (registry.h) re-arms them where the kernel keeps no edge. */
    if (TESTUTIL_SELECTOR_IS_POLL)
        ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &c.source, 42, EVSRC_READABLE), 0);

    /* Both at once: every event of the wait carries the one token. */
    send_byte(pair[1]);
    send_byte(pipe_fds[1]);
    testutil_expect_event(42);
    for (size_t i = 0; i < evsrc_events_len(testutil_fx.events); i++)
        ck_assert_uint_eq(evsrc_event_token(evsrc_events_get(testutil_fx.events, i)), 42);
    drain(pair[0]);
    drain(pipe_fds[0]);

    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &c.source, 43, EVSRC_READABLE), 0);
    send_byte(pipe_fds[1]);
    testutil_expect_event(43);
    drain(pipe_fds[0]);
    expect_event(43);

    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &c.source), 0);
    send_byte(pipe_fds[1]);
    expect_silence(43);

    testutil_close_pair(pipe_fds);
}
END_TEST

START_TEST(composite_register_failing_half_way_undoes_its_first_fd)
{
    TESTUTIL_SKIP_ON_WINDOWS("no memfd: a regular file is a C runtime fd there, not a socket the backend could refuse");
#if !defined(_WIN32)
    int file = memfd_create("evsrc-test", MFD_CLOEXEC);
    ck_assert_int_ge(file, 0);
    /* The socket registers; the regular file, second, cannot. */
    struct composite c = {pair[0], file, 0, EVSRC_SOURCE_INIT(&composite_ops)};

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &c.source, 42, EVSRC_READABLE), -EPERM);
    /* The socket is out of the queue again, and the source is not marked. */
    ck_assert_int_eq(evsrc_registry_deregister_fd(testutil_fx.registry, pair[0]), -ENOENT);
    expect_silence(42);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &c.source), -ENOENT);

    /* With a pollable second fd the same struct registers (the socket is not left in the queue). */
    int pipe_fds[2];
    testutil_channel(pipe_fds);
    c.pipe_read = pipe_fds[0];
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &c.source, 42, EVSRC_READABLE), 0);
    ck_assert_int_eq(c.register_calls, 2);
    expect_event(42);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &c.source), 0);

    testutil_close_pair(pipe_fds);
    close(file);
#endif
}
END_TEST

/* A composite whose parts are built-in sources, registered through the registry. */
struct nested {
    struct evsrc_source_fd a, b;
    struct evsrc_source source;
};

static int nested_register(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                           evsrc_interest interests)
{
    struct nested *self = evsrc_container_of(source, struct nested, source);
    int r = evsrc_registry_register(registry, &self->a.source, token, interests);
    if (r < 0)
        return r;
    r = evsrc_registry_register(registry, &self->b.source, token, interests);
    if (r < 0)
        evsrc_registry_deregister(registry, &self->a.source);
    return r;
}

static int nested_reregister(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                             evsrc_interest interests)
{
    struct nested *self = evsrc_container_of(source, struct nested, source);
    int r = evsrc_registry_reregister(registry, &self->a.source, token, interests);
    return r < 0 ? r : evsrc_registry_reregister(registry, &self->b.source, token, interests);
}

static int nested_deregister(struct evsrc_source *source, struct evsrc_registry *registry)
{
    struct nested *self = evsrc_container_of(source, struct nested, source);
    int r_a = evsrc_registry_deregister(registry, &self->a.source);
    int r_b = evsrc_registry_deregister(registry, &self->b.source);
    return r_a < 0 ? r_a : r_b;
}

static const struct event_source_ops nested_ops = {nested_register, nested_reregister, nested_deregister};

START_TEST(composite_of_builtin_sources_registers_its_parts_through_the_registry)
{
    int pipe_fds[2];
    testutil_channel(pipe_fds);
    struct nested n;
    ck_assert_int_eq(evsrc_source_fd_init(&n.a, pair[0]), 0);
    ck_assert_int_eq(evsrc_source_fd_init(&n.b, pipe_fds[0]), 0);
    ck_assert_int_eq(evsrc_source_init(&n.source, &nested_ops), 0);

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &n.source, 9, EVSRC_READABLE), 0);
    /* Each part carries its own record: registering one alone is caught. */
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &n.a.source, 1, EVSRC_READABLE), -EEXIST);
    expect_event(9);
    send_byte(pipe_fds[1]);
    testutil_expect_event(9);
    drain(pipe_fds[0]);

    /* Deregistering the composite deregisters (and unmarks) its parts. */
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &n.source), 0);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &n.a.source), -ENOENT);
    expect_silence(9);

    /* With part b taken, the composite fails half-way and undoes part a, record included. */
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &n.b.source, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &n.source, 9, EVSRC_READABLE), -EEXIST);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &n.a.source), -ENOENT);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &n.source), -ENOENT);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &n.b.source), 0);
    expect_registration_works(&n.source, 10);

    testutil_close_pair(pipe_fds);
}
END_TEST

/* ---- Misuse: each caught with its errno, no op called, the poll still usable ---- */

START_TEST(register_twice_with_one_queue_is_eexist)
{
    struct recorder r;
    recorder_init(&r, pair[0]);
    struct evsrc_registry *clone;
    ck_assert_int_eq(evsrc_registry_try_clone(testutil_fx.registry, &clone), 0);

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 2, EVSRC_WRITABLE), -EEXIST);
    ck_assert_int_eq(evsrc_registry_register(clone, &r.source, 2, EVSRC_WRITABLE), -EEXIST);
    ck_assert_int_eq(recorder_calls(&r), 1);
    /* The first registration is untouched. */
    expect_event(1);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), 0);

    evsrc_registry_free(clone);
}
END_TEST

START_TEST(register_with_another_live_queue_is_eexist)
{
    struct evsrc_poll *other;
    ck_assert_int_eq(evsrc_poll_new(&other), 0);
    struct recorder r;
    recorder_init(&r, pair[0]);

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_register(evsrc_poll_registry(other), &r.source, 2, EVSRC_READABLE),
                     -EEXIST);
    ck_assert_int_eq(recorder_calls(&r), 1);
    expect_event(1);
    ck_assert_int_eq(testutil_wait_ms(other, testutil_fx.events, 0), 0);

    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), 0);
    evsrc_poll_free(other);
}
END_TEST

START_TEST(reregister_and_deregister_through_another_queue_are_enoent)
{
    struct evsrc_poll *other;
    ck_assert_int_eq(evsrc_poll_new(&other), 0);
    struct evsrc_registry *other_clone;
    ck_assert_int_eq(evsrc_registry_try_clone(evsrc_poll_registry(other), &other_clone), 0);
    struct recorder r;
    recorder_init(&r, pair[0]);

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), 0);
    struct evsrc_registry *wrong[] = {evsrc_poll_registry(other), other_clone};
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(evsrc_registry_reregister(wrong[i], &r.source, 2, EVSRC_READABLE), -ENOENT);
        ck_assert_int_eq(evsrc_registry_deregister(wrong[i], &r.source), -ENOENT);
    }
    ck_assert_int_eq(recorder_calls(&r), 1);
    /* Still registered with its queue, under its old token. */
    expect_event(1);
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &r.source, 3, EVSRC_READABLE), 0);
    expect_event(3);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), 0);

    evsrc_registry_free(other_clone);
    evsrc_poll_free(other);
}
END_TEST

START_TEST(reregister_and_deregister_of_unregistered_source_are_enoent)
{
    struct recorder r;
    recorder_init(&r, pair[0]);

    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), -ENOENT);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), -ENOENT);
    ck_assert_int_eq(recorder_calls(&r), 0);

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), 0);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), -ENOENT);
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), -ENOENT);
    ck_assert_int_eq(recorder_calls(&r), 2);
    expect_silence(1);
}
END_TEST

START_TEST(null_arguments_are_einval)
{
    struct recorder r;
    recorder_init(&r, pair[0]);

    ck_assert_int_eq(evsrc_registry_register(NULL, &r.source, 1, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, NULL, 1, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, NULL, 1, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_reregister(NULL, &r.source, 1, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_registry_deregister(NULL, &r.source), -EINVAL);
    ck_assert_int_eq(recorder_calls(&r), 1);
    expect_event(1);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), 0);

    ck_assert_int_eq(evsrc_source_init(NULL, &recorder_ops), -EINVAL);
    ck_assert_int_eq(evsrc_source_init(&r.source, NULL), -EINVAL);
}
END_TEST

START_TEST(null_ops_are_einval)
{
    struct evsrc_source bare = EVSRC_SOURCE_INIT(NULL);

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &bare, 1, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &bare, 1, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &bare), -EINVAL);

    /* The poll is still usable. */
    struct recorder r;
    recorder_init(&r, pair[0]);
    expect_registration_works(&r.source, 1);
}
END_TEST

START_TEST(ops_with_a_null_member_are_einval)
{
    const struct event_source_ops partial[] = {
        {NULL, recorder_reregister, recorder_deregister},
        {recorder_register, NULL, recorder_deregister},
        {recorder_register, recorder_reregister, NULL},
    };
    for (size_t i = 0; i < sizeof partial / sizeof partial[0]; i++) {
        struct recorder r;
        recorder_init(&r, pair[0]);
        ck_assert_int_eq(evsrc_source_init(&r.source, &partial[i]), 0);
        ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), -EINVAL);
        ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), -EINVAL);
        ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), -EINVAL);
        ck_assert_int_eq(recorder_calls(&r), 0);
        expect_silence(1);
    }
}
END_TEST

static const evsrc_interest invalid_interests[] = {
    0,
    EVSRC_LEVEL,
    EVSRC_ONESHOT,
    EVSRC_LEVEL | EVSRC_ONESHOT,
    EVSRC_READABLE | 0x08u,
    EVSRC_WRITABLE | 0x80u,
    EVSRC_READABLE | 0x400u,
    EVSRC_PRIORITY | 0x80000000u,
    UINT32_MAX,
};
#define INVALID_INTEREST_COUNT (sizeof invalid_interests / sizeof invalid_interests[0])

START_TEST(invalid_interests_are_einval_without_calling_the_op)
{
    struct recorder r;
    recorder_init(&r, pair[0]);
    evsrc_interest bad = invalid_interests[_i];

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 1, bad), -EINVAL);
    ck_assert_int_eq(recorder_calls(&r), 0);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), -ENOENT);

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &r.source, 2, bad), -EINVAL);
    ck_assert_int_eq(r.reregister_calls, 0);
    /* The registration is as it was. */
    expect_event(1);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), 0);
}
END_TEST

/* An op that registers its own source again while it runs. */
static int reentrant_result;

static int reentrant_register(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                              evsrc_interest interests)
{
    reentrant_result = evsrc_registry_register(registry, source, token, interests);
    return 0;
}

static int noop_reregister(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                           evsrc_interest interests)
{
    (void)source;
    (void)registry;
    (void)token;
    (void)interests;
    return 0;
}

static int noop_deregister(struct evsrc_source *source, struct evsrc_registry *registry)
{
    (void)source;
    (void)registry;
    return 0;
}

START_TEST(source_is_claimed_before_its_register_op_runs)
{
    static const struct event_source_ops ops = {reentrant_register, noop_reregister, noop_deregister};
    struct evsrc_source s = EVSRC_SOURCE_INIT(&ops);

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &s, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(reentrant_result, -EEXIST);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &s), 0);
}
END_TEST

/* ---- Owners and lifetimes: clones, freed polls, evsrc_source_init ----------- */

START_TEST(clone_and_poll_registry_are_one_owner)
{
    struct evsrc_registry *clone, *clone_of_clone;
    ck_assert_int_eq(evsrc_registry_try_clone(testutil_fx.registry, &clone), 0);
    ck_assert_int_eq(evsrc_registry_try_clone(clone, &clone_of_clone), 0);
    struct evsrc_registry *handles[] = {testutil_fx.registry, clone, clone_of_clone};
    struct recorder r;
    recorder_init(&r, pair[0]);

    /* Register through any handle, reregister and deregister through any other. */
    for (size_t a = 0; a < 3; a++) {
        for (size_t b = 0; b < 3; b++) {
            evsrc_token token = 10 * a + b;
            ck_assert_int_eq(evsrc_registry_register(handles[a], &r.source, token, EVSRC_READABLE), 0);
            ck_assert_int_eq(evsrc_registry_register(handles[b], &r.source, token, EVSRC_READABLE), -EEXIST);
            ck_assert_int_eq(evsrc_registry_reregister(handles[b], &r.source, token + 100, EVSRC_READABLE), 0);
            expect_event(token + 100);
            ck_assert_int_eq(evsrc_registry_deregister(handles[b], &r.source), 0);
            ck_assert_int_eq(evsrc_registry_deregister(handles[a], &r.source), -ENOENT);
        }
    }
    ck_assert_int_eq(r.register_calls, 9);
    ck_assert_int_eq(r.reregister_calls, 9);
    ck_assert_int_eq(r.deregister_calls, 9);

    evsrc_registry_free(clone_of_clone);
    evsrc_registry_free(clone);
}
END_TEST

struct register_job {
    struct evsrc_registry *registry;
    struct evsrc_source *source;
    evsrc_token token;
    int result;
};

static void *register_in_thread(void *arg)
{
    struct register_job *job = arg;
    job->result = evsrc_registry_register(job->registry, job->source, job->token, EVSRC_READABLE);
    evsrc_registry_free(job->registry);
    return NULL;
}

START_TEST(source_registered_in_one_thread_is_deregistered_through_a_clone_in_another)
{
    struct recorder r;
    recorder_init(&r, pair[0]);
    struct register_job job = {NULL, &r.source, 77, 1};
    /* The thread gets its own clone, and frees it once it has registered. */
    ck_assert_int_eq(evsrc_registry_try_clone(testutil_fx.registry, &job.registry), 0);
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, register_in_thread, &job), 0);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    ck_assert_int_eq(job.result, 0);

    expect_event(77);
    struct evsrc_registry *clone;
    ck_assert_int_eq(evsrc_registry_try_clone(testutil_fx.registry, &clone), 0);
    ck_assert_int_eq(evsrc_registry_deregister(clone, &r.source), 0);
    expect_silence(77);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), -ENOENT);

    evsrc_registry_free(clone);
}
END_TEST

START_TEST(stale_record_of_a_freed_poll_is_replaced_on_register)
{
    struct recorder r;
    recorder_init(&r, pair[0]);
    struct evsrc_poll *first;
    ck_assert_int_eq(evsrc_poll_new(&first), 0);

    ck_assert_int_eq(evsrc_registry_register(evsrc_poll_registry(first), &r.source, 1, EVSRC_READABLE), 0);
    evsrc_poll_free(first); /* the source is still marked as registered with it */

    /* Not registered with this queue: nothing to reregister or deregister. */
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &r.source, 2, EVSRC_READABLE), -ENOENT);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), -ENOENT);
    ck_assert_int_eq(recorder_calls(&r), 1);

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 2, EVSRC_READABLE), 0);
    ck_assert_int_eq(r.register_calls, 2);
    expect_event(2);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 2, EVSRC_READABLE), -EEXIST);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), 0);
}
END_TEST

START_TEST(record_of_a_live_queue_is_kept)
{
    struct recorder r;
    recorder_init(&r, pair[0]);
    struct evsrc_poll *first;
    ck_assert_int_eq(evsrc_poll_new(&first), 0);
    struct evsrc_registry *first_clone;
    ck_assert_int_eq(evsrc_registry_try_clone(evsrc_poll_registry(first), &first_clone), 0);

    ck_assert_int_eq(evsrc_registry_register(evsrc_poll_registry(first), &r.source, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 2, EVSRC_READABLE), -EEXIST);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), -ENOENT);

    /* The poll is gone but its clone keeps the queue, and the registration, alive. */
    evsrc_poll_free(first);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &r.source, 2, EVSRC_READABLE), -EEXIST);
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &r.source, 2, EVSRC_READABLE), -ENOENT);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), -ENOENT);
    ck_assert_int_eq(recorder_calls(&r), 1);

    ck_assert_int_eq(evsrc_registry_deregister(first_clone, &r.source), 0);
    expect_registration_works(&r.source, 2);

    evsrc_registry_free(first_clone);
}
END_TEST

START_TEST(last_clone_freed_makes_the_record_stale)
{
    struct recorder r;
    recorder_init(&r, pair[0]);
    struct evsrc_poll *first;
    ck_assert_int_eq(evsrc_poll_new(&first), 0);
    struct evsrc_registry *first_clone;
    ck_assert_int_eq(evsrc_registry_try_clone(evsrc_poll_registry(first), &first_clone), 0);

    ck_assert_int_eq(evsrc_registry_register(first_clone, &r.source, 1, EVSRC_READABLE), 0);
    evsrc_poll_free(first);
    evsrc_registry_free(first_clone);
    expect_registration_works(&r.source, 2);
}
END_TEST

START_TEST(source_init_resets_a_struct)
{
    struct recorder r;
    /* Garbage where the record lives: evsrc_source_init makes the struct usable. */
    memset(&r, 0xA5, sizeof r);
    recorder_init(&r, pair[0]);
    expect_registration_works(&r.source, 1);

    /* Reusing the memory of a source whose queue is gone. */
    struct evsrc_poll *first;
    ck_assert_int_eq(evsrc_poll_new(&first), 0);
    ck_assert_int_eq(evsrc_registry_register(evsrc_poll_registry(first), &r.source, 3, EVSRC_READABLE), 0);
    evsrc_poll_free(first);
    ck_assert_int_eq(evsrc_source_init(&r.source, &recorder_ops), 0);
    ck_assert_ptr_eq(r.source.ops, &recorder_ops);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &r.source), -ENOENT);
    expect_registration_works(&r.source, 4);
}
END_TEST

/* ---- Threads racing on one source: exactly one wins ------------------------ */

/*
 * Two racer threads live through many rounds. In each, the coordinator (the
 * test's thread) sets the source up, then raises the round number; both
 * racers, spinning on it, call the registry within a few instructions of
 * each other whenever both are on a CPU. (Threads woken by a barrier start
 * too far apart for a check-then-set bug in the registry to show.) A racer
 * that has spun for a while yields, so that on a loaded machine collisions
 * get rarer rather than the test much slower.
 */
#define RACE_ROUNDS 1000
#define RACE_SPINS 20000u

static atomic_int race_register_calls, race_deregister_calls;

static int race_register(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                         evsrc_interest interests)
{
    (void)source;
    (void)registry;
    (void)token;
    (void)interests;
    atomic_fetch_add(&race_register_calls, 1);
    return 0;
}

static int race_deregister(struct evsrc_source *source, struct evsrc_registry *registry)
{
    (void)source;
    (void)registry;
    atomic_fetch_add(&race_deregister_calls, 1);
    return 0;
}

static const struct event_source_ops race_ops = {race_register, noop_reregister, race_deregister};

struct race {
    struct evsrc_registry *registries[2]; /* racer i calls through registries[i] */
    bool deregister;                      /* both deregister, rather than register */
    int loser_error;
    struct evsrc_source source;
    atomic_int round;    /* raised by the coordinator to start a round */
    atomic_int finished; /* racers done with the current round */
    int results[2];
};

struct racer {
    struct race *race;
    int index;
};

static void wait_for(atomic_int *value, int target, unsigned spins_before_yield)
{
    for (unsigned spins = 0; atomic_load(value) < target; spins++)
        if (spins >= spins_before_yield)
            sched_yield();
}

static void *racer_run(void *arg)
{
    struct racer *self = arg;
    struct race *race = self->race;
    struct evsrc_registry *registry = race->registries[self->index];
    for (int round = 1; round <= RACE_ROUNDS; round++) {
        wait_for(&race->round, round, RACE_SPINS);
        race->results[self->index] = race->deregister
                                         ? evsrc_registry_deregister(registry, &race->source)
                                         : evsrc_registry_register(registry, &race->source, 1, EVSRC_READABLE);
        atomic_fetch_add(&race->finished, 1);
    }
    return NULL;
}

/*
 * Runs the rounds: `prepare` sets the source up before each, then the
 * racers go; exactly one must get 0 and the other race->loser_error, and
 * `settle` (given the winner's index) checks and resets after each.
 */
static void run_race(struct race *race, void (*prepare)(struct race *), void (*settle)(struct race *, int))
{
    atomic_init(&race->round, 0);
    atomic_init(&race->finished, 0);
    struct racer racers[2] = {{race, 0}, {race, 1}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, racer_run, &racers[i]), 0);
    for (int round = 1; round <= RACE_ROUNDS; round++) {
        prepare(race);
        atomic_store(&race->finished, 0);
        atomic_store(&race->round, round);
        wait_for(&race->finished, 2, 0);
        int winner = race->results[0] == 0 ? 0 : 1;
        ck_assert_int_eq(race->results[winner], 0);
        ck_assert_int_eq(race->results[1 - winner], race->loser_error);
        settle(race, winner);
    }
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
}

static void prepare_fresh_source(struct race *race)
{
    ck_assert_int_eq(evsrc_source_init(&race->source, &race_ops), 0);
    atomic_store(&race_register_calls, 0);
}

/* A source still marked as registered with a queue that has since been freed. */
static void prepare_stale_source(struct race *race)
{
    prepare_fresh_source(race);
    struct evsrc_poll *dead;
    ck_assert_int_eq(evsrc_poll_new(&dead), 0);
    ck_assert_int_eq(evsrc_registry_register(evsrc_poll_registry(dead), &race->source, 1, EVSRC_READABLE), 0);
    evsrc_poll_free(dead);
    atomic_store(&race_register_calls, 0);
}

static void settle_register(struct race *race, int winner)
{
    ck_assert_int_eq(atomic_load(&race_register_calls), 1);
    ck_assert_int_eq(evsrc_registry_deregister(race->registries[winner], &race->source), 0);
}

START_TEST(racing_registers_through_one_queue_have_one_winner)
{
    static struct race race;
    race.registries[0] = testutil_fx.registry;
    ck_assert_int_eq(evsrc_registry_try_clone(testutil_fx.registry, &race.registries[1]), 0);
    race.loser_error = -EEXIST;

    run_race(&race, prepare_fresh_source, settle_register);

    evsrc_registry_free(race.registries[1]);
}
END_TEST

/* Races registers through this test's queue and another one, the source set up by `prepare` each round. */
static void race_registers_through_two_queues(void (*prepare)(struct race *))
{
    struct evsrc_poll *other;
    ck_assert_int_eq(evsrc_poll_new(&other), 0);
    static struct race race;
    race.registries[0] = testutil_fx.registry;
    race.registries[1] = evsrc_poll_registry(other);
    race.loser_error = -EEXIST;

    run_race(&race, prepare, settle_register);

    evsrc_poll_free(other);
}

START_TEST(racing_registers_through_two_queues_have_one_winner)
{
    race_registers_through_two_queues(prepare_fresh_source);
}
END_TEST

START_TEST(racing_registers_over_a_stale_record_have_one_winner)
{
    race_registers_through_two_queues(prepare_stale_source);
}
END_TEST

static void prepare_registered_source(struct race *race)
{
    ck_assert_int_eq(evsrc_source_init(&race->source, &race_ops), 0);
    ck_assert_int_eq(evsrc_registry_register(race->registries[0], &race->source, 1, EVSRC_READABLE), 0);
    atomic_store(&race_deregister_calls, 0);
}

static void settle_deregister(struct race *race, int winner)
{
    (void)winner;
    ck_assert_int_eq(atomic_load(&race_deregister_calls), 1);
    ck_assert_int_eq(evsrc_registry_deregister(race->registries[0], &race->source), -ENOENT);
}

START_TEST(racing_deregisters_have_one_winner)
{
    static struct race race;
    race.registries[0] = testutil_fx.registry;
    ck_assert_int_eq(evsrc_registry_try_clone(testutil_fx.registry, &race.registries[1]), 0);
    race.deregister = true;
    race.loser_error = -ENOENT;

    run_race(&race, prepare_registered_source, settle_deregister);

    evsrc_registry_free(race.registries[1]);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("custom_source");

    TCase *ops = tcase_create("ops");
    tcase_set_timeout(ops, 60);
    tcase_add_checked_fixture(ops, setup, teardown);
    tcase_add_test(ops, ops_receive_their_arguments);
    tcase_add_test(ops, ops_receive_the_handle_they_were_called_through);
    tcase_add_test(ops, op_success_value_reaches_caller);
    tcase_add_test(ops, register_error_reaches_caller_and_leaves_source_unregistered);
    tcase_add_test(ops, register_error_from_the_kernel_reaches_caller);
    tcase_add_test(ops, reregister_error_reaches_caller_and_keeps_registration);
    tcase_add_test(ops, deregister_clears_record_whatever_the_op_returns);
    suite_add_tcase(suite, ops);

    TCase *composite = tcase_create("composite");
    tcase_set_timeout(composite, 60);
    tcase_add_checked_fixture(composite, setup, teardown);
    tcase_add_test(composite, composite_fds_report_under_one_token);
    tcase_add_test(composite, composite_register_failing_half_way_undoes_its_first_fd);
    tcase_add_test(composite, composite_of_builtin_sources_registers_its_parts_through_the_registry);
    suite_add_tcase(suite, composite);

    TCase *misuse = tcase_create("misuse");
    tcase_set_timeout(misuse, 60);
    tcase_add_checked_fixture(misuse, setup, teardown);
    tcase_add_test(misuse, register_twice_with_one_queue_is_eexist);
    tcase_add_test(misuse, register_with_another_live_queue_is_eexist);
    tcase_add_test(misuse, reregister_and_deregister_through_another_queue_are_enoent);
    tcase_add_test(misuse, reregister_and_deregister_of_unregistered_source_are_enoent);
    tcase_add_test(misuse, null_arguments_are_einval);
    tcase_add_test(misuse, null_ops_are_einval);
    tcase_add_test(misuse, ops_with_a_null_member_are_einval);
    tcase_add_loop_test(misuse, invalid_interests_are_einval_without_calling_the_op, 0,
                        (int)INVALID_INTEREST_COUNT);
    tcase_add_test(misuse, source_is_claimed_before_its_register_op_runs);
    suite_add_tcase(suite, misuse);

    TCase *owners = tcase_create("owners");
    tcase_set_timeout(owners, 60);
    tcase_add_checked_fixture(owners, setup, teardown);
    tcase_add_test(owners, clone_and_poll_registry_are_one_owner);
    tcase_add_test(owners, source_registered_in_one_thread_is_deregistered_through_a_clone_in_another);
    tcase_add_test(owners, stale_record_of_a_freed_poll_is_replaced_on_register);
    tcase_add_test(owners, record_of_a_live_queue_is_kept);
    tcase_add_test(owners, last_clone_freed_makes_the_record_stale);
    tcase_add_test(owners, source_init_resets_a_struct);
    suite_add_tcase(suite, owners);

    TCase *races = tcase_create("races");
    tcase_set_timeout(races, 60);
    tcase_add_checked_fixture(races, setup, teardown);
    tcase_add_test(races, racing_registers_through_one_queue_have_one_winner);
    tcase_add_test(races, racing_registers_through_two_queues_have_one_winner);
    tcase_add_test(races, racing_registers_over_a_stale_record_have_one_winner);
    tcase_add_test(races, racing_deregisters_have_one_winner);
    suite_add_tcase(suite, races);

    return testutil_run(suite);
}
