/* SPDX-License-Identifier: MIT */
/*
 * libevent 2, as its documentation recommends: an event_base with the
 * default configuration (the epoll backend on Linux), one event_new() per fd
 * with EV_READ | EV_PERSIST, added with no timeout, and event_base_dispatch()
 * stopped by event_base_loopbreak() from the callback that handles the last
 * event. libevent's events are level-triggered.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common.h"

const char impl_name[] = "libevent";

static struct event_base *base;
static struct event **events;
static size_t event_count;
static struct ring *current;

bool impl_has_mode(enum bench_mode mode)
{
    return mode == BENCH_LEVEL;
}

static void open_base(void)
{
    base = event_base_new();
    if (!base)
        bench_die("event_base_new", ENOMEM);
    if (strcmp(event_base_get_method(base), "epoll") != 0)
        fprintf(stderr, "libevent: backend is %s, not epoll\n", event_base_get_method(base));
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ring_on_readable(current, (uint64_t)(uintptr_t)arg);
    if (ring_done(current))
        event_base_loopbreak(base);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static struct event *add(int fd, event_callback_fn callback, void *arg)
{
    struct event *event = event_new(base, fd, EV_READ | EV_PERSIST, callback, arg);
    if (!event)
        bench_die("event_new", ENOMEM);
    if (event_add(event, NULL) < 0)
        bench_die("event_add", 0);
    return event;
}

void impl_ring_setup(struct ring *ring)
{
    open_base();
    current = ring;
    event_count = ring->n + ring->idle;
    events = calloc(event_count, sizeof *events);
    if (!events)
        bench_die("calloc", ENOMEM);
    for (size_t i = 0; i < ring->n; i++)
        events[i] = add(ring->nodes[i].read_fd, on_readable, (void *)(uintptr_t)i);
    for (size_t i = 0; i < ring->idle; i++)
        events[ring->n + i] = add(ring->idle_fds[i], on_idle, NULL);
}

__attribute__((noinline)) void bench_dispatch(struct ring *ring)
{
    (void)ring;
    if (event_base_dispatch(base) < 0)
        bench_die("event_base_dispatch", 0);
}

static void free_all(void)
{
    for (size_t i = 0; i < event_count; i++)
        event_free(events[i]);
    free(events);
    events = NULL;
    event_count = 0;
    event_base_free(base);
    base = NULL;
}

void impl_ring_teardown(struct ring *ring)
{
    (void)ring;
    free_all();
}

void impl_churn_setup(int fd, enum bench_mode mode)
{
    (void)mode;
    open_base();
    event_count = 1;
    events = calloc(1, sizeof *events);
    if (!events)
        bench_die("calloc", ENOMEM);
    events[0] = event_new(base, fd, EV_READ | EV_PERSIST, on_idle, NULL);
    if (!events[0])
        bench_die("event_new", ENOMEM);
}

/* event_add() and event_del() reach epoll_ctl at once (no changelist by default). */
__attribute__((noinline)) void bench_churn(uint64_t iterations)
{
    struct event *event = events[0];
    for (uint64_t i = 0; i < iterations; i++) {
        if (event_add(event, NULL) < 0)
            bench_die("event_add", 0);
        if (event_del(event) < 0)
            bench_die("event_del", 0);
    }
}

void impl_churn_teardown(void)
{
    free_all();
}
