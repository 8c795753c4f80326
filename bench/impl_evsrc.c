/* SPDX-License-Identifier: MIT */
/*
 * evsrc, used as its headers document for plain fds: each fd wrapped in an
 * evsrc_source_fd and registered through the poll's registry, and the loop
 * reading events through the accessors.
 */
#include <errno.h>
#include <stdlib.h>

#include <evsrc/evsrc.h>

#include "common.h"

const char impl_name[] = "evsrc";

static struct evsrc_poll *poll_;
static struct evsrc_events *events_;
static struct evsrc_source_fd *sources;
static evsrc_interest interests;

bool impl_has_mode(enum bench_mode mode)
{
#if defined(BENCH_EVSRC_LEVEL_ONLY)
    return mode == BENCH_LEVEL;
#else
    (void)mode;
    return true;
#endif
}

static void check(int r, const char *what)
{
    if (r < 0)
        bench_die(what, -r);
}

static void open_poll(enum bench_mode mode, size_t count)
{
    check(evsrc_poll_new(&poll_), "evsrc_poll_new");
    check(evsrc_events_new(BENCH_EVENTS_CAPACITY, &events_), "evsrc_events_new");
    interests = EVSRC_READABLE | (mode == BENCH_LEVEL ? EVSRC_LEVEL : 0);
    sources = calloc(count, sizeof *sources);
    if (!sources)
        bench_die("calloc", ENOMEM);
}

/* Freeing the poll ends its registrations; the fds stay open for the driver to close. */
static void close_poll(void)
{
    free(sources);
    sources = NULL;
    evsrc_events_free(events_);
    evsrc_poll_free(poll_);
}

static void add(size_t index, int fd)
{
    check(evsrc_source_fd_init(&sources[index], fd), "evsrc_source_fd_init");
    check(evsrc_registry_register(evsrc_poll_registry(poll_), &sources[index].source, index, interests),
          "evsrc_registry_register");
}

void impl_ring_setup(struct ring *ring)
{
    open_poll(ring->mode, ring->n + ring->idle);
    for (size_t i = 0; i < ring->n; i++)
        add(i, ring->nodes[i].read_fd);
    for (size_t i = 0; i < ring->idle; i++)
        add(ring->n + i, ring->idle_fds[i]);
}

__attribute__((noinline)) void bench_dispatch(struct ring *ring)
{
    struct evsrc_poll *poll = poll_;
    struct evsrc_events *events = events_;
    while (!ring_done(ring)) {
        int n = evsrc_poll_wait(poll, events, NULL);
        if (n < 0) {
            if (n == -EINTR)
                continue;
            bench_die("evsrc_poll_wait", -n);
        }
        for (size_t i = 0; i < evsrc_events_len(events); i++) {
            const struct evsrc_event *event = evsrc_events_get(events, i);
            if (evsrc_event_is_readable(event))
                ring_on_readable(ring, evsrc_event_token(event));
        }
    }
}

void impl_ring_teardown(struct ring *ring)
{
    (void)ring;
    close_poll();
}

void impl_churn_setup(int fd, enum bench_mode mode)
{
    open_poll(mode, 1);
    check(evsrc_source_fd_init(&sources[0], fd), "evsrc_source_fd_init");
}

__attribute__((noinline)) void bench_churn(uint64_t iterations)
{
    struct evsrc_registry *registry = evsrc_poll_registry(poll_);
    struct evsrc_source *source = &sources[0].source;
    for (uint64_t i = 0; i < iterations; i++) {
        check(evsrc_registry_register(registry, source, 1, interests), "evsrc_registry_register");
        check(evsrc_registry_deregister(registry, source), "evsrc_registry_deregister");
    }
}

/* The same pair through the fd-level calls that sources are written with. */
__attribute__((noinline)) void bench_churn_fd(uint64_t iterations)
{
    struct evsrc_registry *registry = evsrc_poll_registry(poll_);
    int fd = sources[0].fd;
    for (uint64_t i = 0; i < iterations; i++) {
        check(evsrc_registry_register_fd(registry, fd, 1, interests), "evsrc_registry_register_fd");
        check(evsrc_registry_deregister_fd(registry, fd), "evsrc_registry_deregister_fd");
    }
}

/* The fd-level pair with a zero-timeout wait between, as raw epoll's bench_churn_wait. */
__attribute__((noinline)) void bench_churn_wait(uint64_t iterations)
{
    struct evsrc_poll *poll = poll_;
    struct evsrc_registry *registry = evsrc_poll_registry(poll);
    struct evsrc_events *events = events_;
    static const struct timespec zero = {0, 0};
    int fd = sources[0].fd;
    for (uint64_t i = 0; i < iterations; i++) {
        check(evsrc_registry_register_fd(registry, fd, 1, interests), "evsrc_registry_register_fd");
        int n = evsrc_poll_wait(poll, events, &zero);
        if (n < 0 && n != -EINTR)
            bench_die("evsrc_poll_wait", -n);
        check(evsrc_registry_deregister_fd(registry, fd), "evsrc_registry_deregister_fd");
    }
}

void impl_churn_teardown(void)
{
    close_poll();
}
