/* SPDX-License-Identifier: MIT */
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* testutil's fixture is queue A; p is a pipe for the sources. */
static int p[2];

static void setup(void)
{
    testutil_fixture_setup();
    testutil_channel(p);
}

static void teardown(void)
{
    testutil_close_pair(p);
    testutil_fixture_teardown();
}

START_TEST(source_fd_init_checks_arguments)
{
    struct evsrc_source_fd s;
    ck_assert_int_eq(evsrc_source_fd_init(NULL, p[0]), -EINVAL);
    ck_assert_int_eq(evsrc_source_fd_init(&s, -1), -EBADF);
    memset(&s, 0xff, sizeof s); /* need not be zeroed first */
    ck_assert_int_eq(evsrc_source_fd_init(&s, p[0]), 0);
    ck_assert_int_eq(s.fd, p[0]);
    ck_assert_ptr_nonnull(s.source.ops);
}
END_TEST

START_TEST(source_fd_reports_under_its_token)
{
    struct evsrc_source_fd s;
    ck_assert_int_eq(evsrc_source_fd_init(&s, p[0]), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &s.source, 42, EVSRC_READABLE), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    testutil_expect_event(42);
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &s.source, 43, EVSRC_READABLE), 0);
    testutil_expect_event(43); /* data still there: reported anew */
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &s.source), 0);
    ck_assert_int_eq(write(p[1], "y", 1), 1);
    testutil_expect_no_events();
    /* It does not own the fd: still open after all that. */
    ck_assert_int_eq(write(p[1], "z", 1), 1);
}
END_TEST

/*
 * The reported mix-up: a source_fd deregistered after its fd was closed
 * removed the registration of the next fd with that number. Closing with
 * evsrc_source_fd_close() clears the record, so the stray deregister is
 * -ENOENT and the new pipe keeps its events.
 */
START_TEST(source_fd_close_protects_the_next_fd_with_that_number)
{
    TESTUTIL_SKIP_ON_WINDOWS("socket numbers are not handed out lowest-first, so no new socket can be put under the closed number");
    int first[2], second[2];
    testutil_channel(first);
    struct evsrc_source_fd s;
    ck_assert_int_eq(evsrc_source_fd_close(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_source_fd_init(&s, first[0]), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &s.source, 1, EVSRC_READABLE), 0);
    int number = first[0];
    ck_assert_int_eq(evsrc_source_fd_close(&s), 0);
    ck_assert_int_eq(s.fd, -1);
    ck_assert(!testutil_fd_is_open(number));
    ck_assert_int_eq(evsrc_source_fd_close(&s), -EBADF);
    close(first[1]);
    testutil_channel(second);
    ck_assert_int_eq(second[0], number);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, second[0], 2, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &s.source), -ENOENT);
    ck_assert_int_eq(write(second[1], "x", 1), 1);
    testutil_expect_event(2);
    ck_assert_int_eq(evsrc_registry_deregister_fd(testutil_fx.registry, second[0]), 0);
    testutil_close_pair(second);
}
END_TEST

/* The record is an 8-byte atomic: 8-byte aligned even where uint64_t is not (i386), wherever it is embedded. */
START_TEST(registration_record_is_8_byte_aligned)
{
    struct embedding {
        char c;
        struct evsrc_source source;
    } e;
    ck_assert_uint_ge(_Alignof(struct evsrc_source), 8);
    ck_assert_uint_eq(offsetof(struct evsrc_source, registered_queue) % 8, 0);
    ck_assert_uint_eq((uintptr_t)&e.source.registered_queue % 8, 0);
}
END_TEST

START_TEST(registry_rejects_bad_sources)
{
    struct evsrc_source_fd s;
    ck_assert_int_eq(evsrc_source_fd_init(&s, p[0]), 0);
    ck_assert_int_eq(evsrc_registry_register(NULL, &s.source, 1, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, NULL, 1, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_registry_reregister(NULL, &s.source, 1, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, NULL, 1, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_registry_deregister(NULL, &s.source), -EINVAL);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &s.source, 1, 0), -EINVAL);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &s.source, 1, EVSRC_LEVEL), -EINVAL);

    struct evsrc_source no_ops = EVSRC_SOURCE_INIT(NULL);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &no_ops, 1, EVSRC_READABLE), -EINVAL);
    const struct event_source_ops *full = s.source.ops;
    struct event_source_ops partial[3] = {*full, *full, *full};
    partial[0].register_source = NULL;
    partial[1].reregister_source = NULL;
    partial[2].deregister_source = NULL;
    for (int i = 0; i < 3; i++) {
        struct evsrc_source_fd bad = s;
        bad.source.ops = &partial[i];
        ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &bad.source, 1, EVSRC_READABLE), -EINVAL);
        ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &bad.source, 1, EVSRC_READABLE), -EINVAL);
        ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &bad.source), -EINVAL);
    }
    ck_assert_int_eq(evsrc_source_init(NULL, full), -EINVAL);
    ck_assert_int_eq(evsrc_source_init(&no_ops, NULL), -EINVAL);
    /* None of that registered anything. */
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &s.source, 1, EVSRC_READABLE), 0);
}
END_TEST

START_TEST(double_register_and_unregistered_calls)
{
    struct evsrc_source_fd s;
    ck_assert_int_eq(evsrc_source_fd_init(&s, p[0]), 0);
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &s.source, 1, EVSRC_READABLE), -ENOENT);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &s.source), -ENOENT);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &s.source, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &s.source, 1, EVSRC_READABLE), -EEXIST);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &s.source), 0);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &s.source), -ENOENT);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &s.source, 1, EVSRC_READABLE), 0);
}
END_TEST

START_TEST(another_queue_is_caught)
{
    struct evsrc_poll *poll_b;
    ck_assert_int_eq(evsrc_poll_new(&poll_b), 0);
    struct evsrc_registry *registry_b = evsrc_poll_registry(poll_b);
    struct evsrc_source_fd s;
    ck_assert_int_eq(evsrc_source_fd_init(&s, p[0]), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &s.source, 1, EVSRC_READABLE), 0);
    /* The kernel would accept these (another epoll instance); the record catches them. */
    ck_assert_int_eq(evsrc_registry_register(registry_b, &s.source, 1, EVSRC_READABLE), -EEXIST);
    ck_assert_int_eq(evsrc_registry_reregister(registry_b, &s.source, 1, EVSRC_READABLE), -ENOENT);
    ck_assert_int_eq(evsrc_registry_deregister(registry_b, &s.source), -ENOENT);
    /* And the registration with A is intact. */
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    testutil_expect_event(1);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &s.source), 0);
    ck_assert_int_eq(evsrc_registry_register(registry_b, &s.source, 1, EVSRC_READABLE), 0);
    evsrc_poll_free(poll_b);
}
END_TEST

START_TEST(clones_are_the_same_owner)
{
    struct evsrc_registry *clone;
    ck_assert_int_eq(evsrc_registry_try_clone(testutil_fx.registry, &clone), 0);
    struct evsrc_source_fd s;
    ck_assert_int_eq(evsrc_source_fd_init(&s, p[0]), 0);
    ck_assert_int_eq(evsrc_registry_register(clone, &s.source, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &s.source, 1, EVSRC_READABLE), -EEXIST);
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &s.source, 2, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &s.source), 0);
    ck_assert_int_eq(evsrc_registry_deregister(clone, &s.source), -ENOENT);
    evsrc_registry_free(clone);
}
END_TEST

/* A source left registered when its queue died can join a new queue; the stale record is replaced. */
START_TEST(stale_record_of_a_dead_queue_is_replaced)
{
    struct evsrc_poll *poll_b;
    struct evsrc_registry *clone;
    ck_assert_int_eq(evsrc_poll_new(&poll_b), 0);
    ck_assert_int_eq(evsrc_registry_try_clone(evsrc_poll_registry(poll_b), &clone), 0);
    struct evsrc_source_fd s;
    ck_assert_int_eq(evsrc_source_fd_init(&s, p[0]), 0);
    ck_assert_int_eq(evsrc_registry_register(evsrc_poll_registry(poll_b), &s.source, 1, EVSRC_READABLE), 0);
    evsrc_poll_free(poll_b);
    /* The clone keeps queue B alive: still registered there. */
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &s.source, 2, EVSRC_READABLE), -EEXIST);
    evsrc_registry_free(clone);
    /* Queue B is gone now. */
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &s.source), -ENOENT);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &s.source, 2, EVSRC_READABLE), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    testutil_expect_event(2);
}
END_TEST

/* A failed op leaves the source unregistered. */
START_TEST(failed_register_leaves_source_unregistered)
{
    struct evsrc_source_fd s;
    ck_assert_int_eq(evsrc_source_fd_init(&s, p[0]), 0);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, p[0], 1, EVSRC_READABLE), 0);
    /* The fd is already in the queue (behind the source's back): the op fails with the kernel's -EEXIST. */
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &s.source, 1, EVSRC_READABLE), -EEXIST);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &s.source), -ENOENT);
    ck_assert_int_eq(evsrc_registry_deregister_fd(testutil_fx.registry, p[0]), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &s.source, 1, EVSRC_READABLE), 0);
}
END_TEST

/* Deregister clears the record even when the op fails (here: the fd was closed under it). */
START_TEST(deregister_clears_record_whatever_the_op_says)
{
    TESTUTIL_SKIP_ON_WINDOWS("the AFD backend still holds a closed socket's number, so its deregister does not fail there");
    int q[2];
    testutil_channel(q);
    struct evsrc_source_fd s;
    ck_assert_int_eq(evsrc_source_fd_init(&s, q[0]), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &s.source, 1, EVSRC_READABLE), 0);
    testutil_close_pair(q);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &s.source), -EBADF);
    ck_assert_int_eq(evsrc_source_fd_init(&s, p[0]), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &s.source, 1, EVSRC_READABLE), 0);
}
END_TEST

/*
 * Closing a registered built-in source closes its fd (which takes it out of
 * the queue) and clears its record without calling deregister: afterwards
 * the queue no longer counts it as registered (-ENOENT, not a call into the
 * op), and a new register reaches the op, which reports the closed fd.
 */
static void expect_closed_and_unregistered(struct evsrc_source *source)
{
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, source), -ENOENT);
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, source, 1, EVSRC_READABLE), -ENOENT);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, source, 1, EVSRC_READABLE), -EBADF);
}

START_TEST(closing_a_builtin_source_clears_its_record)
{
    /* Windows has neither pipes nor timerfds: there only the TCP stream is closed under its record. */
#if !defined(_WIN32)
    struct evsrc_pipe_sender tx;
    struct evsrc_pipe_receiver rx;
    ck_assert_int_eq(evsrc_pipe_new(&tx, &rx), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &rx.source, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &tx.source, 2, EVSRC_WRITABLE), 0);
    ck_assert_int_eq(evsrc_pipe_receiver_close(&rx), 0);
    ck_assert_int_eq(evsrc_pipe_sender_close(&tx), 0);
    expect_closed_and_unregistered(&rx.source);
    expect_closed_and_unregistered(&tx.source);

    struct evsrc_timerfd timer;
    ck_assert_int_eq(evsrc_timerfd_new(&timer, CLOCK_MONOTONIC), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &timer.source, 3, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_timerfd_close(&timer), 0);
    expect_closed_and_unregistered(&timer.source);
#endif

    struct evsrc_tcp_stream client, server;
    testutil_tcp_pair(&client, &server);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &client.source, 4, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_tcp_stream_close(&client), 0);
    ck_assert_int_eq(evsrc_tcp_stream_close(&server), 0);
    expect_closed_and_unregistered(&client.source);

    /* And nothing of them is left in the queue. */
    testutil_expect_no_events();
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("source");
    TCase *tc = tcase_create("source");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, source_fd_init_checks_arguments);
    tcase_add_test(tc, source_fd_reports_under_its_token);
    tcase_add_test(tc, registry_rejects_bad_sources);
    tcase_add_test(tc, double_register_and_unregistered_calls);
    tcase_add_test(tc, another_queue_is_caught);
    tcase_add_test(tc, clones_are_the_same_owner);
    tcase_add_test(tc, stale_record_of_a_dead_queue_is_replaced);
    tcase_add_test(tc, failed_register_leaves_source_unregistered);
    tcase_add_test(tc, deregister_clears_record_whatever_the_op_says);
    tcase_add_test(tc, closing_a_builtin_source_clears_its_record);
    tcase_add_test(tc, source_fd_close_protects_the_next_fd_with_that_number);
    tcase_add_test(tc, registration_record_is_8_byte_aligned);
    suite_add_tcase(suite, tc);
    return testutil_run(suite);
}
