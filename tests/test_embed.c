/* SPDX-License-Identifier: MIT */
/*
 * A poll driven from another event loop (poll.h, "Living inside another
 * event loop"): evsrc_poll_fd() and evsrc_poll_next_timeout(), with TCP
 * sources and a timer queue, from a GLib main loop (when GLib was found at
 * build time) and from another evsrc poll.
 */
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <evsrc/evsrc.h>

#if defined(TEST_EMBED_GLIB)
#include <glib.h>
#endif

#include "testutil.h"

enum { SERVER = 1, TIMERS = 2, INNER = 3, OUTER_DEADLINE = 4 };

/* What the inner loop has to do: echo one message, fire three timers. */
struct inner {
    struct evsrc_poll *poll;
    struct evsrc_events *events;
    struct evsrc_tcp_stream client, server;
    struct evsrc_timers timers;
    struct evsrc_timer timer[3];
    int fired;
    size_t echoed;
    int dispatches;
};

static const char message[] = "embedded hello";

static void inner_open(struct inner *in)
{
    memset(in, 0, sizeof *in);
    ck_assert_int_eq(evsrc_poll_new(&in->poll), 0);
    ck_assert_int_eq(evsrc_events_new(8, &in->events), 0);
    testutil_tcp_pair(&in->client, &in->server);
    struct evsrc_registry *registry = evsrc_poll_registry(in->poll);
    ck_assert_int_eq(evsrc_registry_register(registry, &in->server.source, SERVER, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_timers_new(&in->timers, CLOCK_MONOTONIC), 0);
    ck_assert_int_eq(evsrc_registry_register(registry, &in->timers.source, TIMERS, EVSRC_READABLE), 0);
    for (int i = 0; i < 3; i++) {
        evsrc_timer_init(&in->timer[i], (evsrc_token)i);
        struct timespec after = {0, (long)(i + 1) * 15000000L};
        ck_assert_int_eq(evsrc_timers_start(&in->timers, &in->timer[i], &after, NULL), 0);
    }
    ck_assert_int_eq(evsrc_tcp_stream_write(&in->client, message, sizeof message), (ssize_t)sizeof message);
}

static bool inner_done(const struct inner *in)
{
    return in->fired == 3 && in->echoed == sizeof message;
}

/* Step 2 of the pattern: a zero wait, its events handled, again while it fills the buffer. */
static void inner_dispatch(struct inner *in)
{
    in->dispatches++;
    const struct timespec zero = {0, 0};
    int n;
    do {
        n = evsrc_poll_wait(in->poll, in->events, &zero);
        ck_assert_int_ge(n, 0);
        for (int i = 0; i < n; i++) {
            evsrc_token token = evsrc_event_token(evsrc_events_get(in->events, (size_t)i));
            if (token == TIMERS) {
                struct evsrc_timer *t;
                while (evsrc_timers_expired(&in->timers, &t) == 0)
                    in->fired++;
            } else if (token == SERVER) {
                char buf[64];
                ssize_t got;
                while ((got = evsrc_tcp_stream_read(&in->server, buf, sizeof buf)) > 0) {
                    ck_assert_int_eq(evsrc_tcp_stream_write(&in->server, buf, (size_t)got), got);
                    in->echoed += (size_t)got;
                }
                ck_assert_int_eq(got, -EAGAIN);
            }
        }
    } while ((size_t)n == evsrc_events_capacity(in->events));
}

static void inner_close(struct inner *in)
{
    /* The echo came back whole. */
    char back[sizeof message];
    size_t have = 0;
    while (have < sizeof back) {
        testutil_await_fd(evsrc_tcp_stream_fd(&in->client), POLLIN);
        ssize_t got = evsrc_tcp_stream_read(&in->client, back + have, sizeof back - have);
        ck_assert_int_gt(got, 0);
        have += (size_t)got;
    }
    ck_assert_mem_eq(back, message, sizeof message);
    ck_assert_int_eq(evsrc_timers_close(&in->timers), 0);
    ck_assert_int_eq(evsrc_tcp_stream_close(&in->client), 0);
    ck_assert_int_eq(evsrc_tcp_stream_close(&in->server), 0);
    evsrc_events_free(in->events);
    evsrc_poll_free(in->poll);
}

START_TEST(fd_and_next_timeout_report_what_an_outer_loop_needs)
{
    TESTUTIL_EPOLL_ONLY("the poll(2) backend has no fd that reflects its queue (-EOPNOTSUPP, tested below)");
    struct timespec t = {7, 7};
    ck_assert_int_eq(evsrc_poll_fd(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_poll_next_timeout(NULL, &t), -EINVAL);
    ck_assert_int_eq(evsrc_poll_next_timeout(testutil_fx.poll, NULL), -EINVAL);
    int fd = evsrc_poll_fd(testutil_fx.poll);
    ck_assert_int_ge(fd, 0);
    /* No deadline: 0, and nothing stored. */
    ck_assert_int_eq(evsrc_poll_next_timeout(testutil_fx.poll, &t), 0);
    ck_assert_int_eq(t.tv_sec, 7);
    /* Readable exactly while the queue has an event. */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 0), 0);
    int fds[2];
    testutil_pipe(fds);
    ck_assert_int_eq(evsrc_registry_register_fd(testutil_fx.registry, fds[0], 9, EVSRC_READABLE), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    testutil_await_fd(fd, POLLIN);
    /* A deadline: its time left, {0, 0} once due. */
    struct evsrc_deadline d = EVSRC_DEADLINE_INIT;
    ck_assert_int_eq(evsrc_registry_register_deadline(testutil_fx.registry, &d, 10, EVSRC_READABLE), 0);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    now.tv_sec += 60;
    ck_assert_int_eq(evsrc_deadline_set(&d, &now), 0);
    ck_assert_int_eq(evsrc_poll_next_timeout(testutil_fx.poll, &t), 1);
    ck_assert_int_gt(t.tv_sec, 50);
    ck_assert_int_le(t.tv_sec, 60);
    ck_assert_int_eq(evsrc_deadline_ready_again(&d), 0);
    ck_assert_int_eq(evsrc_poll_next_timeout(testutil_fx.poll, &t), 1);
    ck_assert_int_eq(t.tv_sec, 0);
    ck_assert_int_eq(t.tv_nsec, 0);
    ck_assert_int_eq(evsrc_registry_deregister_deadline(testutil_fx.registry, &d), 0);
    ck_assert_int_eq(evsrc_registry_deregister_fd(testutil_fx.registry, fds[0]), 0);
    testutil_close_pair(fds);
}
END_TEST

START_TEST(the_poll_backend_has_no_fd)
{
    if (!TESTUTIL_SELECTOR_IS_POLL)
        return;
    ck_assert_int_eq(evsrc_poll_fd(testutil_fx.poll), -EOPNOTSUPP);
    struct timespec t;
    ck_assert_int_eq(evsrc_poll_next_timeout(testutil_fx.poll, &t), 0);
}
END_TEST

/* The inner poll's fd as a source of the outer poll, level-triggered: readable while the inner has events. */
START_TEST(a_poll_nested_in_another_evsrc_poll)
{
    TESTUTIL_EPOLL_ONLY("nesting needs the inner poll's fd (evsrc_poll_fd)");
    struct inner in;
    inner_open(&in);
    struct evsrc_source_fd inner_fd;
    ck_assert_int_eq(evsrc_source_fd_init(&inner_fd, evsrc_poll_fd(in.poll)), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &inner_fd.source, INNER, EVSRC_READABLE | EVSRC_LEVEL),
                     0);
    /* The inner poll's next deadline becomes a deadline of the outer poll. */
    struct evsrc_deadline inner_deadline = EVSRC_DEADLINE_INIT;
    ck_assert_int_eq(
        evsrc_registry_register_deadline(testutil_fx.registry, &inner_deadline, OUTER_DEADLINE, EVSRC_READABLE), 0);
    long long give_up = testutil_now_ms() + TESTUTIL_EVENT_DEADLINE_MS;
    while (!inner_done(&in) && testutil_now_ms() < give_up) {
        struct timespec left;
        int r = evsrc_poll_next_timeout(in.poll, &left);
        ck_assert_int_ge(r, 0);
        if (r == 1) {
            struct timespec at;
            clock_gettime(CLOCK_MONOTONIC, &at);
            at.tv_sec += left.tv_sec;
            at.tv_nsec += left.tv_nsec;
            if (at.tv_nsec >= 1000000000L) {
                at.tv_sec++;
                at.tv_nsec -= 1000000000L;
            }
            ck_assert_int_eq(evsrc_deadline_set(&inner_deadline, &at), 0);
        } else {
            evsrc_deadline_clear(&inner_deadline);
        }
        int n = testutil_wait_ms(testutil_fx.poll, testutil_fx.events, TESTUTIL_EVENT_DEADLINE_MS);
        ck_assert_int_gt(n, 0);
        inner_dispatch(&in);
    }
    ck_assert(inner_done(&in));
    ck_assert_int_eq(evsrc_registry_deregister_deadline(testutil_fx.registry, &inner_deadline), 0);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &inner_fd.source), 0);
    inner_close(&in);
}
END_TEST

#if defined(TEST_EMBED_GLIB)
/* A GSource around an evsrc poll: the pattern of poll.h, in GLib's prepare/check/dispatch. */
struct evsrc_gsource {
    GSource base;
    struct inner *inner;
    gpointer tag;
};

static gboolean gsource_prepare(GSource *base, gint *timeout)
{
    struct evsrc_gsource *s = (struct evsrc_gsource *)base;
    struct timespec left;
    int r = evsrc_poll_next_timeout(s->inner->poll, &left);
    ck_assert_int_ge(r, 0);
    if (r == 0) {
        *timeout = -1;
        return FALSE;
    }
    long long ms = (long long)left.tv_sec * 1000 + (left.tv_nsec + 999999) / 1000000; /* never early */
    *timeout = ms > G_MAXINT ? G_MAXINT : (gint)ms;
    return ms == 0;
}

static gboolean gsource_check(GSource *base)
{
    struct evsrc_gsource *s = (struct evsrc_gsource *)base;
    if (g_source_query_unix_fd(base, s->tag) & G_IO_IN)
        return TRUE;
    struct timespec left;
    return evsrc_poll_next_timeout(s->inner->poll, &left) == 1 && left.tv_sec == 0 && left.tv_nsec == 0;
}

static gboolean gsource_dispatch(GSource *base, GSourceFunc callback, gpointer data)
{
    (void)callback;
    (void)data;
    struct evsrc_gsource *s = (struct evsrc_gsource *)base;
    inner_dispatch(s->inner);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs gsource_funcs = {gsource_prepare, gsource_check, gsource_dispatch, NULL, NULL, NULL};

static gboolean quit_when_done(gpointer data)
{
    void **pair = data;
    if (inner_done(pair[0]))
        g_main_loop_quit(pair[1]);
    return G_SOURCE_CONTINUE;
}

static gboolean give_up(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

START_TEST(a_poll_driven_from_a_glib_main_loop)
{
    TESTUTIL_EPOLL_ONLY("GLib needs the poll's fd (evsrc_poll_fd)");
    struct inner in;
    inner_open(&in);
    GMainContext *context = g_main_context_new();
    GMainLoop *loop = g_main_loop_new(context, FALSE);
    struct evsrc_gsource *s = (struct evsrc_gsource *)g_source_new(&gsource_funcs, sizeof *s);
    s->inner = &in;
    s->tag = g_source_add_unix_fd(&s->base, evsrc_poll_fd(in.poll), G_IO_IN);
    g_source_attach(&s->base, context);
    void *pair[2] = {&in, loop};
    GSource *idle = g_timeout_source_new(1);
    g_source_set_callback(idle, quit_when_done, pair, NULL);
    g_source_attach(idle, context);
    GSource *guard = g_timeout_source_new(TESTUTIL_EVENT_DEADLINE_MS);
    g_source_set_callback(guard, give_up, loop, NULL);
    g_source_attach(guard, context);
    g_main_loop_run(loop);
    ck_assert(inner_done(&in));
    ck_assert_int_gt(in.dispatches, 0);
    g_source_destroy(guard);
    g_source_unref(guard);
    g_source_destroy(idle);
    g_source_unref(idle);
    g_source_destroy(&s->base);
    g_source_unref(&s->base);
    g_main_loop_unref(loop);
    g_main_context_unref(context);
    inner_close(&in);
}
END_TEST
#endif

int main(void)
{
    Suite *suite = suite_create("embed");
    TCase *tc = testutil_add_tcase(suite, "embed");
    tcase_add_test(tc, fd_and_next_timeout_report_what_an_outer_loop_needs);
    tcase_add_test(tc, the_poll_backend_has_no_fd);
    tcase_add_test(tc, a_poll_nested_in_another_evsrc_poll);
#if defined(TEST_EMBED_GLIB)
    tcase_add_test(tc, a_poll_driven_from_a_glib_main_loop);
#endif
    return testutil_run(suite);
}
