/* SPDX-License-Identifier: MIT */
/*
 * No allocation on the hot paths: wait, register, reregister, deregister and
 * the event accessors call malloc, calloc and realloc zero times over 10 000
 * iterations each.
 *
 * This program defines malloc, calloc and realloc itself; the library's calls
 * resolve to these definitions, which count while counting is on and forward
 * to the C library's functions (found with dlsym(RTLD_NEXT); glibc's
 * __libc_* entry points serve the few calls made while dlsym itself runs).
 * A sanitizer runtime defines malloc too, so tests/meson.build builds this
 * suite only without sanitizers.
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define ITERATIONS 10000

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *block, size_t size);

static atomic_bool counting;
static atomic_ulong allocations;

typedef void *(*malloc_fn)(size_t);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);

static malloc_fn real_malloc;
static calloc_fn real_calloc;
static realloc_fn real_realloc;
static atomic_bool resolving;

/* Finds the next definitions (the C library's) once; dlsym may allocate meanwhile. */
static void resolve(void)
{
    if (real_malloc || atomic_exchange(&resolving, true))
        return;
    void *m = dlsym(RTLD_NEXT, "malloc");
    void *c = dlsym(RTLD_NEXT, "calloc");
    void *r = dlsym(RTLD_NEXT, "realloc");
    /* Object pointer to function pointer, as POSIX allows for dlsym results. */
    memcpy(&real_calloc, &c, sizeof c);
    memcpy(&real_realloc, &r, sizeof r);
    memcpy(&real_malloc, &m, sizeof m);
}

static void count(void)
{
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
}

void *malloc(size_t size)
{
    count();
    resolve();
    return real_malloc ? real_malloc(size) : __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    count();
    resolve();
    return real_calloc ? real_calloc(n, size) : __libc_calloc(n, size);
}

void *realloc(void *block, size_t size)
{
    count();
    resolve();
    return real_realloc ? real_realloc(block, size) : __libc_realloc(block, size);
}

static void counting_start(void)
{
    atomic_store(&allocations, 0);
    atomic_store(&counting, true);
}

/* Stops counting (before any check assertion, which may allocate) and returns the count. */
static unsigned long counting_stop(void)
{
    atomic_store(&counting, false);
    return atomic_load(&allocations);
}

static struct evsrc_poll *poll_;
static struct evsrc_events *events;
static struct evsrc_registry *registry;

static void setup(void)
{
    ck_assert_int_eq(evsrc_poll_new(&poll_), 0);
    ck_assert_int_eq(evsrc_events_new(64, &events), 0);
    registry = evsrc_poll_registry(poll_);
}

static void teardown(void)
{
    evsrc_events_free(events);
    evsrc_poll_free(poll_);
}

static void *volatile kept;

/* The counter must see the library's allocations, or every zero below proves nothing. */
START_TEST(counter_sees_library_allocations)
{
    struct evsrc_events *more;
    struct evsrc_registry *clone;
    counting_start();
    int r = evsrc_events_new(8, &more);
    unsigned long after_events = counting_stop();
    ck_assert_int_eq(r, 0);
    ck_assert_uint_ge(after_events, 1);
    evsrc_events_free(more);

    counting_start();
    r = evsrc_registry_try_clone(registry, &clone);
    unsigned long after_clone = counting_stop();
    ck_assert_int_eq(r, 0);
    ck_assert_uint_ge(after_clone, 1);
    evsrc_registry_free(clone);

    /* Through a volatile pointer, so that the compiler cannot drop the pair. */
    counting_start();
    kept = calloc(1, 16);
    kept = realloc(kept, 32);
    unsigned long direct = counting_stop();
    free(kept);
    ck_assert_uint_eq(direct, 2);
}
END_TEST

START_TEST(wait_does_not_allocate)
{
    int fds[2];
    testutil_socketpair(fds);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    /* Level-triggered and never drained: every wait returns one event. */
    ck_assert_int_eq(evsrc_registry_register_fd(registry, fds[0], 1, EVSRC_READABLE | EVSRC_LEVEL), 0);
    const struct timespec zero = {0, 0};
    const struct timespec sub_ms = {0, 1000}; /* the epoll_pwait2 path */
    const struct timespec whole_ms = {0, 1000000};

    counting_start();
    int got = 0;
    for (int i = 0; i < ITERATIONS; i++) {
        got += evsrc_poll_wait(poll_, events, NULL) == 1;
        got += evsrc_poll_wait(poll_, events, &zero) == 1;
        got += evsrc_poll_wait(poll_, events, &sub_ms) == 1;
        got += evsrc_poll_wait(poll_, events, &whole_ms) == 1;
    }
    unsigned long n = counting_stop();
    ck_assert_int_eq(got, 4 * ITERATIONS);
    ck_assert_uint_eq(n, 0);

    /* A wait that times out empty, and one that fails, do not allocate either. */
    ck_assert_int_eq(evsrc_registry_deregister_fd(registry, fds[0]), 0);
    const struct timespec bad = {0, -1};
    counting_start();
    for (int i = 0; i < ITERATIONS; i++) {
        got += evsrc_poll_wait(poll_, events, &zero);
        got += evsrc_poll_wait(poll_, events, &bad) == -EINVAL;
    }
    n = counting_stop();
    ck_assert_int_eq(got, 5 * ITERATIONS);
    ck_assert_uint_eq(n, 0);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/*
 * With more fds registered than a new poll has room for, the wait still does
 * not allocate: the registrations grew what it needs (issue 20: the poll
 * backend grew its poll set inside the wait, past 255 fds).
 */
START_TEST(wait_with_many_fds_does_not_allocate)
{
    enum { PAIRS = 200 };
    static int fds[PAIRS][2];
    for (int i = 0; i < PAIRS; i++) {
        testutil_socketpair(fds[i]);
        ck_assert_int_eq(evsrc_registry_register_fd(registry, fds[i][0], (evsrc_token)i, EVSRC_WRITABLE | EVSRC_LEVEL),
                         0);
        ck_assert_int_eq(
            evsrc_registry_register_fd(registry, fds[i][1], (evsrc_token)(PAIRS + i), EVSRC_READABLE), 0);
    }
    const struct timespec zero = {0, 0};
    counting_start();
    int got = 0;
    for (int i = 0; i < 100; i++)
        got += evsrc_poll_wait(poll_, events, &zero) > 0;
    unsigned long n = counting_stop();
    ck_assert_int_eq(got, 100);
    ck_assert_uint_eq(n, 0);
    for (int i = 0; i < PAIRS; i++)
        testutil_close_pair(fds[i]);
}
END_TEST

START_TEST(register_and_deregister_do_not_allocate)
{
    int fds[2];
    testutil_socketpair(fds);
    struct evsrc_source_fd source;
    ck_assert_int_eq(evsrc_source_fd_init(&source, fds[0]), 0);

    counting_start();
    int failures = 0;
    for (int i = 0; i < ITERATIONS; i++) {
        failures += evsrc_registry_register(registry, &source.source, (evsrc_token)i, EVSRC_READABLE) != 0;
        failures += evsrc_registry_deregister(registry, &source.source) != 0;
        failures += evsrc_registry_register_fd(registry, fds[1], (evsrc_token)i, EVSRC_WRITABLE) != 0;
        failures += evsrc_registry_deregister_fd(registry, fds[1]) != 0;
    }
    unsigned long n = counting_stop();
    ck_assert_int_eq(failures, 0);
    ck_assert_uint_eq(n, 0);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(reregister_does_not_allocate)
{
    int fds[2];
    testutil_socketpair(fds);
    struct evsrc_source_fd source;
    ck_assert_int_eq(evsrc_source_fd_init(&source, fds[0]), 0);
    ck_assert_int_eq(evsrc_registry_register(registry, &source.source, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_register_fd(registry, fds[1], 2, EVSRC_READABLE), 0);
    static const evsrc_interest interests[] = {
        EVSRC_READABLE,
        EVSRC_WRITABLE | EVSRC_LEVEL,
        EVSRC_READABLE | EVSRC_WRITABLE | EVSRC_ONESHOT,
        EVSRC_PRIORITY | EVSRC_LEVEL | EVSRC_ONESHOT,
    };

    counting_start();
    int failures = 0;
    for (int i = 0; i < ITERATIONS; i++) {
        evsrc_interest interest = interests[i % 4];
        failures += evsrc_registry_reregister(registry, &source.source, (evsrc_token)i, interest) != 0;
        failures += evsrc_registry_reregister_fd(registry, fds[1], (evsrc_token)i, interest) != 0;
    }
    unsigned long n = counting_stop();
    ck_assert_int_eq(failures, 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(evsrc_registry_deregister(registry, &source.source), 0);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(event_accessors_do_not_allocate)
{
    int fds[2];
    testutil_socketpair(fds);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert_int_eq(evsrc_registry_register_fd(registry, fds[0], 7, EVSRC_READABLE | EVSRC_WRITABLE), 0);
    ck_assert_int_eq(evsrc_registry_register_fd(registry, fds[1], 8, EVSRC_WRITABLE), 0);
    ck_assert_int_eq(testutil_wait_ms(poll_, events, TESTUTIL_EVENT_DEADLINE_MS), 2);

    /* volatile: the results must be computed, not optimised away. */
    volatile uint64_t sink = 0;
    counting_start();
    for (int i = 0; i < ITERATIONS; i++) {
        size_t len = evsrc_events_len(events);
        sink += evsrc_events_capacity(events);
        for (size_t j = 0; j <= len; j++) {
            const struct evsrc_event *event = evsrc_events_get(events, j); /* NULL at j == len */
            sink += evsrc_event_token(event);
            sink += evsrc_event_raw_flags(event);
            sink += evsrc_event_is_readable(event);
            sink += evsrc_event_is_writable(event);
            sink += evsrc_event_is_error(event);
            sink += evsrc_event_is_read_closed(event);
            sink += evsrc_event_is_write_closed(event);
            sink += evsrc_event_is_priority(event);
        }
    }
    unsigned long n = counting_stop();
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_gt(sink, 0);

    /* The lifetime helper: a pass over the batch (a token not in it, so every round does the same). */
    counting_start();
    for (int i = 0; i < ITERATIONS; i++)
        sink += evsrc_events_drop(events, 0, 99);
    n = counting_stop();
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(evsrc_events_len(events), 2);
    counting_start();
    size_t dropped = evsrc_events_drop(events, 1, evsrc_event_token(evsrc_events_get(events, 1)));
    n = counting_stop();
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(dropped, 1);

    counting_start();
    for (int i = 0; i < ITERATIONS; i++)
        evsrc_events_clear(events);
    n = counting_stop();
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(evsrc_events_len(events), 0);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(timers_do_not_allocate)
{
    enum { N = 1000 };
    static struct evsrc_timer timers[N];
    struct evsrc_timers q;
    ck_assert_int_eq(evsrc_timers_new(&q, CLOCK_MONOTONIC), 0);
    const struct timespec zero = {0, 0}, later = {3600, 0}, latest = {7200, 0}, period = {0, 1000};
    /*
     * Timer start, restart, stop and expiry: the queue's table grows to the
     * peak number of active timers (the counter sees it), and after that
     * nothing allocates.
     */
    counting_start();
    int grown = 0;
    for (size_t i = 0; i < N; i++) {
        evsrc_timer_init(&timers[i], i);
        grown += evsrc_timers_start(&q, &timers[i], &later, NULL) != 0;
    }
    unsigned long growth = counting_stop();
    ck_assert_int_eq(grown, 0);
    ck_assert_uint_ge(growth, 1);
    for (size_t i = 0; i < N; i++)
        ck_assert_int_eq(evsrc_timers_stop(&q, &timers[i]), 1);

    counting_start();
    int failures = 0;
    size_t expired = 0;
    for (int round = 0; round < ITERATIONS / N; round++) {
        for (size_t i = 0; i < N; i++)
            failures += evsrc_timers_start(&q, &timers[i], i % 2 ? &later : &zero, i % 3 ? NULL : &period) != 0;
        for (size_t i = 0; i < N; i++) /* restart: later, then earlier */
            failures += evsrc_timers_start(&q, &timers[i], &latest, NULL) != 0;
        for (size_t i = 0; i < N; i += 2)
            failures += evsrc_timers_start(&q, &timers[i], &zero, i % 4 ? NULL : &period) != 0;
        struct evsrc_timer *t;
        for (int drain = 0; drain < 2; drain++)
            while (evsrc_timers_expired(&q, &t) == 0)
                expired++;
        for (size_t i = 0; i < N; i++)
            failures += evsrc_timers_stop(&q, &timers[i]) < 0;
    }
    unsigned long n = counting_stop();
    ck_assert_int_eq(failures, 0);
    ck_assert_uint_ge(expired, (size_t)(ITERATIONS / N) * N / 2);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
}
END_TEST
/* Write queues link the caller's requests: push, flush, the interest switch and pop never allocate. */
START_TEST(write_queue_does_not_allocate)
{
    enum { REQUESTS = 256 };
    struct evsrc_unix_stream a, b;
    ck_assert_int_eq(evsrc_unix_stream_pair(&a, &b), 0);
    ck_assert_int_eq(evsrc_registry_register(registry, &a.source, 5, EVSRC_READABLE), 0);
    static struct evsrc_write_request requests[REQUESTS];
    static struct iovec iov[2] = {{(void *)"header", 6}, {(void *)"body", 4}};
    static char drain[1 << 16];
    struct evsrc_write_queue queue;
    unsigned long n = 0;
    int popped = 0;
    for (int round = 0; round < ITERATIONS / REQUESTS + 1; round++) {
        counting_start();
        evsrc_write_queue_init(&queue);
        for (int i = 0; i < REQUESTS; i++) {
            evsrc_write_request_init(&requests[i], iov, 2);
            evsrc_write_queue_push(&queue, &requests[i]);
        }
        evsrc_write_queue_update_interest(&queue, registry, &a.source, 5, EVSRC_READABLE);
        int r = evsrc_write_queue_flush_unix(&queue, &a);
        evsrc_write_queue_update_interest(&queue, registry, &a.source, 5, EVSRC_READABLE);
        while (evsrc_write_queue_pop(&queue))
            popped++;
        n += counting_stop();
        ck_assert_int_eq(r, 1);
        while (read(evsrc_unix_stream_fd(&b), drain, sizeof drain) > 0) {
        }
    }
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(popped, (ITERATIONS / REQUESTS + 1) * REQUESTS);

    struct evsrc_udp_socket udp;
    struct sockaddr_storage to;
    socklen_t tolen;
    char text[EVSRC_ADDRESS_STRLEN];
    ck_assert_int_eq(evsrc_address_parse("127.0.0.1:0", &to, &tolen), 0);
    ck_assert_int_eq(evsrc_udp_socket_bind(&udp, (const struct sockaddr *)&to, tolen), 0);
    tolen = sizeof to;
    ck_assert_int_eq(evsrc_udp_socket_local_addr(&udp, &to, &tolen), 0);
    counting_start();
    evsrc_write_queue_init(&queue);
    for (int i = 0; i < 64; i++) {
        evsrc_write_request_init_buffer(&requests[i], "datagram", 8);
        evsrc_write_request_set_destination(&requests[i], (const struct sockaddr *)&to, tolen);
        evsrc_write_queue_push(&queue, &requests[i]);
    }
    int r = evsrc_write_queue_flush_udp(&queue, &udp);
    while (evsrc_write_queue_pop(&queue)) {
    }
    /* And the address helpers, numeric forms. */
    struct sockaddr_storage parsed;
    socklen_t parsed_len;
    int p = evsrc_address_parse("[2001:db8::1]:443", &parsed, &parsed_len);
    int f = evsrc_address_format((const struct sockaddr *)&parsed, parsed_len, text, sizeof text);
    n = counting_stop();
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(r, 1);
    ck_assert_int_eq(p, 0);
    ck_assert_int_gt(f, 0);

    ck_assert_int_eq(evsrc_registry_deregister(registry, &a.source), 0);
    evsrc_udp_socket_close(&udp);
    evsrc_unix_stream_close(&a);
    evsrc_unix_stream_close(&b);
}
END_TEST

START_TEST(deadlines_and_a_registered_queue_do_not_allocate)
{
    /* Registration may allocate (the table grows with the peak count); set, clear, the wait and the drain do not. */
    struct evsrc_deadline d[4];
    for (int i = 0; i < 4; i++) {
        evsrc_deadline_init(&d[i]);
        ck_assert_int_eq(evsrc_registry_register_deadline(registry, &d[i], (evsrc_token)(10 + i), EVSRC_READABLE), 0);
    }
    struct evsrc_timers q;
    ck_assert_int_eq(evsrc_timers_new(&q, CLOCK_MONOTONIC), 0);
    ck_assert_int_eq(evsrc_registry_register(registry, &q.source, 1, EVSRC_READABLE), 0);
    static struct evsrc_timer timers[64];
    const struct timespec zero = {0, 0}, later = {3600, 0};
    for (size_t i = 0; i < 64; i++) {
        evsrc_timer_init(&timers[i], i);
        ck_assert_int_eq(evsrc_timers_start(&q, &timers[i], &later, NULL), 0);
    }
    counting_start();
    int failures = 0;
    size_t reported = 0;
    for (int i = 0; i < ITERATIONS; i++) {
        struct timespec far = {3600 + i % 7, 0};
        failures += evsrc_deadline_set(&d[i % 4], &far) != 0;
        failures += evsrc_deadline_ready_again(&d[(i + 1) % 4]) != 0;
        failures += evsrc_deadline_clear(&d[(i + 2) % 4]) < 0;
        failures += evsrc_timers_start(&q, &timers[i % 64], &zero, NULL) != 0;
        int n = evsrc_poll_wait(poll_, events, i % 2 ? NULL : &zero);
        failures += n < 1;
        reported += (size_t)(n > 0 ? n : 0);
        struct evsrc_timer *t;
        while (evsrc_timers_expired(&q, &t) == 0)
            failures += evsrc_timers_start(&q, t, &later, NULL) != 0;
    }
    unsigned long n = counting_stop();
    ck_assert_int_eq(failures, 0);
    ck_assert_uint_ge(reported, ITERATIONS);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(evsrc_timers_close(&q), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(evsrc_registry_deregister_deadline(registry, &d[i]), 0);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("no_alloc");
    TCase *tc = tcase_create("no_alloc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, counter_sees_library_allocations);
    tcase_add_test(tc, wait_does_not_allocate);
    tcase_add_test(tc, wait_with_many_fds_does_not_allocate);
    tcase_add_test(tc, register_and_deregister_do_not_allocate);
    tcase_add_test(tc, reregister_does_not_allocate);
    tcase_add_test(tc, event_accessors_do_not_allocate);
    tcase_add_test(tc, timers_do_not_allocate);
    tcase_add_test(tc, deadlines_and_a_registered_queue_do_not_allocate);
    tcase_add_test(tc, write_queue_does_not_allocate);
    suite_add_tcase(suite, tc);
    return testutil_run(suite);
}
