/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

/* Builds an event as the kernel would store it, to test the accessors' mapping. */
static struct evsrc_event make_event(uint32_t flags, evsrc_token token)
{
    struct evsrc_event event;
    memset(&event, 0, sizeof event);
    event.flags = flags;
#if defined(__x86_64__)
    memcpy(event.token_bytes, &token, sizeof token);
#else
    event.token = token;
#endif
    return event;
}

START_TEST(new_rejects_bad_arguments)
{
    struct evsrc_events *events = (struct evsrc_events *)0x1;
    ck_assert_int_eq(evsrc_events_new(0, &events), -EINVAL);
    ck_assert_ptr_eq(events, (struct evsrc_events *)0x1);
    ck_assert_int_eq(evsrc_events_new(16, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_events_new(EVSRC_EVENTS_CAPACITY_MAX + 1, &events), -EINVAL);
    ck_assert_int_eq(evsrc_events_new(SIZE_MAX, &events), -EINVAL);
    ck_assert_ptr_eq(events, (struct evsrc_events *)0x1);
}
END_TEST

START_TEST(new_buffer_is_empty_with_its_capacity)
{
    struct evsrc_events *events = NULL;
    ck_assert_int_eq(evsrc_events_new(64, &events), 0);
    ck_assert_ptr_nonnull(events);
    ck_assert_uint_eq(evsrc_events_len(events), 0);
    ck_assert_uint_eq(evsrc_events_capacity(events), 64);
    ck_assert_ptr_null(evsrc_events_get(events, 0));
    /* The slots the kernel writes into are aligned for the event layout on every target. */
    ck_assert_uint_eq(sizeof(struct evsrc_events) % _Alignof(struct evsrc_event), 0);
    evsrc_events_free(events);
}
END_TEST

START_TEST(null_buffer_and_null_event_are_harmless)
{
    evsrc_events_free(NULL);
    evsrc_events_clear(NULL);
    ck_assert_uint_eq(evsrc_events_len(NULL), 0);
    ck_assert_uint_eq(evsrc_events_capacity(NULL), 0);
    ck_assert_ptr_null(evsrc_events_get(NULL, 0));
    ck_assert_uint_eq(evsrc_event_token(NULL), 0);
    ck_assert_uint_eq(evsrc_event_raw_flags(NULL), 0);
    ck_assert(!evsrc_event_is_readable(NULL));
    ck_assert(!evsrc_event_is_writable(NULL));
    ck_assert(!evsrc_event_is_error(NULL));
    ck_assert(!evsrc_event_is_read_closed(NULL));
    ck_assert(!evsrc_event_is_write_closed(NULL));
    ck_assert(!evsrc_event_is_priority(NULL));
}
END_TEST

START_TEST(get_past_len_is_null_and_clear_empties)
{
    TESTUTIL_SKIP_ON_WINDOWS("it fills the buffer through pipes, which Windows builds have no source for");
    struct testutil_fixture f = testutil_fixture_new(8);
    int fds[2];
    testutil_pipe(fds);
    ck_assert_int_eq(evsrc_registry_register_fd(f.registry, fds[0], 5, EVSRC_READABLE), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert(testutil_wait_token(f.poll, f.events, 5, NULL));
    ck_assert_uint_eq(evsrc_events_len(f.events), 1);
    ck_assert_ptr_nonnull(evsrc_events_get(f.events, 0));
    ck_assert_ptr_null(evsrc_events_get(f.events, 1));
    ck_assert_ptr_null(evsrc_events_get(f.events, SIZE_MAX));
    evsrc_events_clear(f.events);
    ck_assert_uint_eq(evsrc_events_len(f.events), 0);
    ck_assert_ptr_null(evsrc_events_get(f.events, 0));
    testutil_close_pair(fds);
    testutil_fixture_free(&f);
}
END_TEST

START_TEST(token_round_trips_every_value)
{
    int local;
    const evsrc_token tokens[] = {0, 1, UINT32_MAX, (evsrc_token)UINT32_MAX + 1, UINT64_MAX,
                                  (evsrc_token)(uintptr_t)&local};
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        struct evsrc_event event = make_event(0x1, tokens[i]);
        ck_assert_uint_eq(evsrc_event_token(&event), tokens[i]);
    }
    struct evsrc_event event = make_event(0x1, (evsrc_token)(uintptr_t)&local);
    ck_assert_ptr_eq((int *)(uintptr_t)evsrc_event_token(&event), &local);
}
END_TEST

/* mio's Linux mapping, flag by flag and in the combinations the kernel reports. */
START_TEST(accessors_follow_mios_mapping)
{
    const uint32_t IN = EVSRC_EVENT_FLAG_IN, PRI = EVSRC_EVENT_FLAG_PRI, OUT = EVSRC_EVENT_FLAG_OUT,
                   ERR = EVSRC_EVENT_FLAG_ERR, HUP = EVSRC_EVENT_FLAG_HUP, RDHUP = EVSRC_EVENT_FLAG_RDHUP;
    struct {
        uint32_t flags;
        bool readable, writable, error, read_closed, write_closed, priority;
    } cases[] = {
        {IN, true, false, false, false, false, false},
        {PRI, true, false, false, false, false, true},
        {OUT, false, true, false, false, false, false},
        {ERR, false, false, true, false, true, false},   /* a pipe's reader went away */
        {HUP, false, false, false, true, true, false},
        {RDHUP, false, false, false, false, false, false}, /* alone it says nothing */
        {IN | RDHUP, true, false, false, true, false, false},
        {OUT | ERR, false, true, true, false, true, false},
        {IN | OUT | ERR | HUP | RDHUP, true, true, true, true, true, false},
        {IN | PRI, true, false, false, false, false, true},
        {ERR | HUP, false, false, true, true, true, false},
        {IN | ERR, true, false, true, false, false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct evsrc_event event = make_event(cases[i].flags, 9);
        ck_assert_msg(evsrc_event_is_readable(&event) == cases[i].readable, "readable, case %zu", i);
        ck_assert_msg(evsrc_event_is_writable(&event) == cases[i].writable, "writable, case %zu", i);
        ck_assert_msg(evsrc_event_is_error(&event) == cases[i].error, "error, case %zu", i);
        ck_assert_msg(evsrc_event_is_read_closed(&event) == cases[i].read_closed, "read_closed, case %zu", i);
        ck_assert_msg(evsrc_event_is_write_closed(&event) == cases[i].write_closed, "write_closed, case %zu", i);
        ck_assert_msg(evsrc_event_is_priority(&event) == cases[i].priority, "priority, case %zu", i);
        ck_assert_uint_eq(evsrc_event_raw_flags(&event), cases[i].flags);
    }
}
END_TEST

/* The same mapping, from events the kernel really reports. */
START_TEST(real_events_map_as_documented)
{
    struct testutil_fixture f = testutil_fixture_new(8);
    int sp[2];
    testutil_socketpair(sp);
    ck_assert_int_eq(evsrc_registry_register_fd(f.registry, sp[0], 1, EVSRC_READABLE | EVSRC_WRITABLE), 0);
    ck_assert(testutil_wait_token(f.poll, f.events, 1, NULL));
    const struct evsrc_event *event = evsrc_events_get(f.events, 0);
    ck_assert(evsrc_event_is_writable(event));
    ck_assert(!evsrc_event_is_readable(event));
    ck_assert(!evsrc_event_is_read_closed(event));
    ck_assert_int_eq(shutdown(sp[1], SHUT_WR), 0);
    ck_assert(testutil_wait_token(f.poll, f.events, 1, NULL));
    event = evsrc_events_get(f.events, 0);
    ck_assert(evsrc_event_is_readable(event));
    ck_assert(evsrc_event_is_read_closed(event));
    ck_assert(!evsrc_event_is_write_closed(event));
    if (TESTUTIL_WINDOWS) {
        /* Its pair is TCP there, whose peer's close after a FIN is no hang-up until a reset. */
        fprintf(stderr, "%s: the close and pipe halves skipped on Windows: no AF_UNIX pairs, no pipes\n",
                TESTUTIL_TEST_NAME);
        close(sp[1]);
        close(sp[0]);
        testutil_fixture_free(&f);
        return;
    }
    close(sp[1]);
    ck_assert(testutil_wait_token(f.poll, f.events, 1, NULL));
    event = evsrc_events_get(f.events, 0);
    ck_assert(evsrc_event_is_read_closed(event));
    ck_assert(evsrc_event_is_write_closed(event));
    close(sp[0]);

    int p[2];
    testutil_pipe(p);
    ck_assert_int_eq(evsrc_registry_register_fd(f.registry, p[0], 2, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_register_fd(f.registry, p[1], 3, EVSRC_WRITABLE), 0);
    ck_assert(testutil_wait_token(f.poll, f.events, 3, NULL));
    close(p[1]);
    uint32_t flags = 0;
    ck_assert(testutil_wait_token(f.poll, f.events, 2, &flags));
    ck_assert(flags & EVSRC_EVENT_FLAG_HUP);
    close(p[0]);

    testutil_pipe(p);
    ck_assert_int_eq(evsrc_registry_register_fd(f.registry, p[1], 4, EVSRC_WRITABLE), 0);
    ck_assert(testutil_wait_token(f.poll, f.events, 4, NULL));
    close(p[0]);
    ck_assert(testutil_wait_token(f.poll, f.events, 4, NULL));
    event = evsrc_events_get(f.events, 0);
    ck_assert(evsrc_event_is_write_closed(event));
    ck_assert(evsrc_event_is_error(event));
    close(p[1]);

    testutil_fixture_free(&f);
}
END_TEST

/* Registers one pipe per token, makes every one readable, and waits until one wait reports them all. */
static void ready_batch(struct testutil_fixture *f, const evsrc_token *tokens, size_t count, int (*pipes)[2])
{
    for (size_t i = 0; i < count; i++) {
        testutil_socketpair(pipes[i]);
        ck_assert_int_eq(evsrc_registry_register_fd(f->registry, pipes[i][0], tokens[i], EVSRC_READABLE), 0);
        ck_assert_int_eq(write(pipes[i][1], "x", 1), 1);
    }
    /* Level-triggered would be simpler, but edge events stay queued until taken: one wait takes them all. */
    long long deadline = testutil_now_ms() + 10000;
    size_t have = 0;
    while (have < count && testutil_now_ms() < deadline) {
        /* Re-arm every pipe so that the wait that collects them reports all at once. */
        for (size_t i = 0; i < count; i++)
            ck_assert_int_eq(evsrc_registry_reregister_fd(f->registry, pipes[i][0], tokens[i], EVSRC_READABLE), 0);
        int n = testutil_wait_ms(f->poll, f->events, 1000);
        ck_assert_int_ge(n, 0);
        have = (size_t)n;
    }
    ck_assert_uint_eq(have, count);
}

static void close_batch(int (*pipes)[2], size_t count)
{
    for (size_t i = 0; i < count; i++)
        testutil_close_pair(pipes[i]);
}

START_TEST(drop_removes_a_tokens_later_events_and_keeps_the_order)
{
    TESTUTIL_SKIP_ON_WINDOWS("one wait with every socket of the batch ready needs synchronous re-arming, which AFD polls are not (docs/backends.md)");
    struct testutil_fixture f = testutil_fixture_new(16);
    /* One token may name several registrations (a composite source): 7 three times. */
    const evsrc_token tokens[] = {1, 7, 2, 7, 3, 7, 4};
    enum { N = sizeof tokens / sizeof tokens[0] };
    int pipes[N][2];
    ready_batch(&f, tokens, N, pipes);

    evsrc_token before[N];
    for (size_t i = 0; i < N; i++)
        before[i] = evsrc_event_token(evsrc_events_get(f.events, i));
    /* Drop from position 2: a 7 before it (if any) stays, the later ones go. */
    size_t sevens_before = 0, sevens_after = 0;
    for (size_t i = 0; i < N; i++) {
        if (before[i] == 7)
            *(i < 2 ? &sevens_before : &sevens_after) += 1;
    }
    ck_assert_uint_eq(evsrc_events_drop(f.events, 2, 7), sevens_after);
    ck_assert_uint_eq(evsrc_events_len(f.events), N - sevens_after);
    size_t j = 0;
    for (size_t i = 0; i < N; i++) {
        if (i >= 2 && before[i] == 7)
            continue;
        ck_assert_uint_eq(evsrc_event_token(evsrc_events_get(f.events, j)), before[i]);
        ck_assert(evsrc_event_is_readable(evsrc_events_get(f.events, j)));
        j++;
    }
    ck_assert_uint_eq(j, evsrc_events_len(f.events));
    /* Again from 0: every 7 goes, and a token that is not there removes nothing. */
    ck_assert_uint_eq(evsrc_events_drop(f.events, 0, 7), sevens_before);
    ck_assert_uint_eq(evsrc_events_len(f.events), N - 3);
    ck_assert_uint_eq(evsrc_events_drop(f.events, 0, 99), 0);
    ck_assert_uint_eq(evsrc_events_len(f.events), N - 3);
    for (size_t i = 0; i < evsrc_events_len(f.events); i++)
        ck_assert_uint_ne(evsrc_event_token(evsrc_events_get(f.events, i)), 7);
    /* Dropping the last token's event empties the end; get past len is NULL. */
    evsrc_token last = evsrc_event_token(evsrc_events_get(f.events, N - 4));
    ck_assert_uint_eq(evsrc_events_drop(f.events, 0, last), 1);
    ck_assert_ptr_null(evsrc_events_get(f.events, N - 4));
    close_batch(pipes, N);
    testutil_fixture_free(&f);
}
END_TEST

START_TEST(drop_past_len_and_null_remove_nothing)
{
    TESTUTIL_SKIP_ON_WINDOWS("one wait with every socket of the batch ready needs synchronous re-arming, which AFD polls are not (docs/backends.md)");
    struct testutil_fixture f = testutil_fixture_new(8);
    const evsrc_token tokens[] = {5, 5};
    int pipes[2][2];
    ready_batch(&f, tokens, 2, pipes);
    ck_assert_uint_eq(evsrc_events_drop(NULL, 0, 5), 0);
    ck_assert_uint_eq(evsrc_events_drop(f.events, 2, 5), 0);
    ck_assert_uint_eq(evsrc_events_drop(f.events, SIZE_MAX, 5), 0);
    ck_assert_uint_eq(evsrc_events_len(f.events), 2);
    ck_assert_uint_eq(evsrc_events_drop(f.events, 1, 5), 1);
    ck_assert_uint_eq(evsrc_events_len(f.events), 1);
    ck_assert_uint_eq(evsrc_events_drop(f.events, 0, 5), 1);
    ck_assert_uint_eq(evsrc_events_len(f.events), 0);
    ck_assert_uint_eq(evsrc_events_drop(f.events, 0, 5), 0);
    evsrc_events_clear(f.events);
    ck_assert_uint_eq(evsrc_events_drop(f.events, 0, 5), 0);
    close_batch(pipes, 2);
    testutil_fixture_free(&f);
}
END_TEST

/*
 * The lifetime rule's scenario: connections whose tokens are pointers, and
 * handling any event frees another connection whose event is in the same
 * batch (as a timer that expires an idle peer would). With the drop, no
 * event is ever handled for a freed connection; without it, the loop would
 * read freed memory (here a slot marked dead, so the test fails either way).
 */
struct lifetime_conn {
    bool alive;
    int handled;
    int pipe[2];
};

START_TEST(drop_makes_freeing_a_source_mid_batch_safe)
{
    TESTUTIL_SKIP_ON_WINDOWS("one wait with every socket of the batch ready needs synchronous re-arming, which AFD polls are not (docs/backends.md)");
    struct testutil_fixture f = testutil_fixture_new(16);
    enum { N = 8 };
    struct lifetime_conn conns[N];
    for (size_t i = 0; i < N; i++) {
        conns[i] = (struct lifetime_conn){.alive = true};
        testutil_socketpair(conns[i].pipe);
        evsrc_token token = (evsrc_token)(uintptr_t)&conns[i];
        ck_assert_int_eq(evsrc_registry_register_fd(f.registry, conns[i].pipe[0], token, EVSRC_READABLE), 0);
        ck_assert_int_eq(write(conns[i].pipe[1], "x", 1), 1);
    }
    /* Every connection ready in one batch. */
    long long deadline = testutil_now_ms() + 10000;
    while (evsrc_events_len(f.events) < N && testutil_now_ms() < deadline) {
        for (size_t i = 0; i < N; i++)
            ck_assert_int_eq(evsrc_registry_reregister_fd(f.registry, conns[i].pipe[0],
                                                          (evsrc_token)(uintptr_t)&conns[i], EVSRC_READABLE), 0);
        ck_assert_int_ge(testutil_wait_ms(f.poll, f.events, 1000), 0);
    }
    ck_assert_uint_eq(evsrc_events_len(f.events), N);

    int handled = 0;
    for (size_t i = 0; i < evsrc_events_len(f.events); i++) {
        struct lifetime_conn *conn =
            (struct lifetime_conn *)(uintptr_t)evsrc_event_token(evsrc_events_get(f.events, i));
        ck_assert_msg(conn->alive, "an event of the batch names a connection freed earlier in it");
        conn->handled++;
        handled++;
        /* This event's handler ends its partner (0-1, 2-3, ...): close, then drop its later events. */
        struct lifetime_conn *partner = &conns[(size_t)(conn - conns) ^ 1u];
        if (partner->alive) {
            testutil_close_pair(partner->pipe);
            partner->alive = false;
            evsrc_events_drop(f.events, i + 1, (evsrc_token)(uintptr_t)partner);
        }
    }
    /* One of each pair was handled, once; its partner never. */
    ck_assert_int_eq(handled, N / 2);
    for (size_t i = 0; i < N; i += 2)
        ck_assert_int_eq(conns[i].handled + conns[i + 1].handled, 1);
    for (size_t i = 0; i < N; i++) {
        if (conns[i].alive)
            testutil_close_pair(conns[i].pipe);
    }
    testutil_fixture_free(&f);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("events");
    TCase *tc = tcase_create("events");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, new_rejects_bad_arguments);
    tcase_add_test(tc, new_buffer_is_empty_with_its_capacity);
    tcase_add_test(tc, null_buffer_and_null_event_are_harmless);
    tcase_add_test(tc, get_past_len_is_null_and_clear_empties);
    tcase_add_test(tc, token_round_trips_every_value);
    tcase_add_test(tc, accessors_follow_mios_mapping);
    tcase_add_test(tc, real_events_map_as_documented);
    tcase_add_test(tc, drop_removes_a_tokens_later_events_and_keeps_the_order);
    tcase_add_test(tc, drop_past_len_and_null_remove_nothing);
    tcase_add_test(tc, drop_makes_freeing_a_source_mid_batch_safe);
    suite_add_tcase(suite, tc);
    return testutil_run(suite);
}
