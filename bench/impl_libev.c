/* SPDX-License-Identifier: MIT */
/*
 * libev 4, as its documentation recommends: the default loop (EV_DEFAULT,
 * the epoll backend on Linux), one ev_io watcher per fd for EV_READ, and
 * ev_run() stopped by ev_break(EVBREAK_ALL) from the callback that handles
 * the last event. libev's watchers are level-triggered.
 *
 * libev applies watcher changes in its next loop iteration (fd_reify), so
 * setup ends with one non-blocking iteration, and churn's pair is start,
 * iteration, stop, iteration. libev never deletes an fd from the epoll set
 * when its last watcher stops (it drops the spurious events that follow),
 * so a restart costs one epoll_ctl that fails with EEXIST.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <ev.h>

#include "common.h"

const char impl_name[] = "libev";

static struct ev_loop *loop;
static ev_io *watchers;
static size_t watcher_count;
static struct ring *current;

bool impl_has_mode(enum bench_mode mode)
{
    return mode == BENCH_LEVEL;
}

static void open_loop(size_t count)
{
    loop = EV_DEFAULT;
    if (!loop)
        bench_die("ev_default_loop", ENOMEM);
    if (ev_backend(loop) != EVBACKEND_EPOLL)
        fprintf(stderr, "libev: backend is 0x%x, not epoll\n", ev_backend(loop));
    watchers = calloc(count, sizeof *watchers);
    if (!watchers)
        bench_die("calloc", ENOMEM);
    watcher_count = count;
}

static void close_loop(void)
{
    for (size_t i = 0; i < watcher_count; i++)
        ev_io_stop(loop, &watchers[i]);
    free(watchers);
    watchers = NULL;
    watcher_count = 0;
    ev_loop_destroy(loop);
    loop = NULL;
}

static void on_readable(struct ev_loop *l, ev_io *watcher, int revents)
{
    (void)revents;
    ring_on_readable(current, (uint64_t)(watcher - watchers));
    if (ring_done(current))
        ev_break(l, EVBREAK_ALL);
}

static void on_idle(struct ev_loop *l, ev_io *watcher, int revents)
{
    (void)l;
    (void)watcher;
    (void)revents;
}

void impl_ring_setup(struct ring *ring)
{
    open_loop(ring->n + ring->idle);
    current = ring;
    for (size_t i = 0; i < ring->n; i++) {
        ev_io_init(&watchers[i], on_readable, ring->nodes[i].read_fd, EV_READ);
        ev_io_start(loop, &watchers[i]);
    }
    for (size_t i = 0; i < ring->idle; i++) {
        ev_io_init(&watchers[ring->n + i], on_idle, ring->idle_fds[i], EV_READ);
        ev_io_start(loop, &watchers[ring->n + i]);
    }
    /* Nothing is ready yet: this iteration only hands the watchers to epoll. */
    ev_run(loop, EVRUN_NOWAIT);
}

__attribute__((noinline)) void bench_dispatch(struct ring *ring)
{
    (void)ring;
    ev_run(loop, 0);
}

void impl_ring_teardown(struct ring *ring)
{
    (void)ring;
    close_loop();
}

void impl_churn_setup(int fd, enum bench_mode mode)
{
    (void)mode;
    open_loop(1);
    ev_io_init(&watchers[0], on_idle, fd, EV_READ);
}

__attribute__((noinline)) void bench_churn(uint64_t iterations)
{
    ev_io *watcher = &watchers[0];
    for (uint64_t i = 0; i < iterations; i++) {
        ev_io_start(loop, watcher);
        ev_run(loop, EVRUN_NOWAIT);
        ev_io_stop(loop, watcher);
        ev_run(loop, EVRUN_NOWAIT);
    }
}

void impl_churn_teardown(void)
{
    close_loop();
}
