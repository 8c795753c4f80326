/* SPDX-License-Identifier: MIT */
/*
 * Hand-written epoll: the physical limit. The same syscalls any epoll loop
 * makes and nothing else: one epoll_ctl per registration, one epoll_wait
 * into a stack array per loop iteration, the token in data.u64. Edge mode
 * adds EPOLLET; level mode is plain epoll.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common.h"

const char impl_name[] = "epoll";

static int epfd = -1;
static uint32_t read_flags;
static int churn_fd = -1;

bool impl_has_mode(enum bench_mode mode)
{
    (void)mode;
    return true;
}

static void open_queue(enum bench_mode mode)
{
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        bench_die("epoll_create1", 0);
    read_flags = EPOLLIN | (mode == BENCH_EDGE ? EPOLLET : 0u);
}

static void add(int fd, uint64_t token)
{
    struct epoll_event event = {.events = read_flags, .data = {.u64 = token}};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event) < 0)
        bench_die("epoll_ctl ADD", 0);
}

void impl_ring_setup(struct ring *ring)
{
    open_queue(ring->mode);
    for (size_t i = 0; i < ring->n; i++)
        add(ring->nodes[i].read_fd, i);
    for (size_t i = 0; i < ring->idle; i++)
        add(ring->idle_fds[i], ring->n + i);
}

__attribute__((noinline)) void bench_dispatch(struct ring *ring)
{
    int queue = epfd;
    struct epoll_event events[BENCH_EVENTS_CAPACITY];
    while (!ring_done(ring)) {
        int n = epoll_wait(queue, events, BENCH_EVENTS_CAPACITY, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            bench_die("epoll_wait", 0);
        }
        for (int i = 0; i < n; i++)
            if (events[i].events & EPOLLIN)
                ring_on_readable(ring, events[i].data.u64);
    }
}

void impl_ring_teardown(struct ring *ring)
{
    (void)ring;
    close(epfd);
    epfd = -1;
}

void impl_churn_setup(int fd, enum bench_mode mode)
{
    open_queue(mode);
    churn_fd = fd;
}

__attribute__((noinline)) void bench_churn(uint64_t iterations)
{
    for (uint64_t i = 0; i < iterations; i++) {
        add(churn_fd, 1);
        if (epoll_ctl(epfd, EPOLL_CTL_DEL, churn_fd, NULL) < 0)
            bench_die("epoll_ctl DEL", 0);
    }
}

/* A zero-timeout epoll_wait between the two calls: what a loop that polls without blocking pays. */
__attribute__((noinline)) void bench_churn_wait(uint64_t iterations)
{
    struct epoll_event events[BENCH_EVENTS_CAPACITY];
    for (uint64_t i = 0; i < iterations; i++) {
        add(churn_fd, 1);
        if (epoll_wait(epfd, events, BENCH_EVENTS_CAPACITY, 0) < 0 && errno != EINTR)
            bench_die("epoll_wait", 0);
        if (epoll_ctl(epfd, EPOLL_CTL_DEL, churn_fd, NULL) < 0)
            bench_die("epoll_ctl DEL", 0);
    }
}

void impl_churn_teardown(void)
{
    close(epfd);
    epfd = -1;
}
