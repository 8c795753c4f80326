/* SPDX-License-Identifier: MIT */
/*
 * libuv, with the handle its documentation gives for watching fds it does
 * not own: one uv_poll_t per fd, started for UV_READABLE, and uv_run() in
 * UV_RUN_DEFAULT mode stopped by uv_stop() from the callback that handles
 * the last event. Handles are closed with uv_close() and the loop run until
 * the closes complete, as the documentation asks. libuv's polling is
 * level-triggered.
 *
 * uv_poll_start() takes effect in the loop's next iteration (uv__io_poll
 * applies it), so setup ends with one non-blocking iteration and churn's
 * pair is start, iteration, stop, iteration. uv_poll_stop() removes the fd
 * from epoll at once.
 */
#include <stdlib.h>

#include <uv.h>

#include "common.h"

const char impl_name[] = "libuv";

static uv_loop_t loop;
static uv_poll_t *handles;
static size_t handle_count;
static struct ring *current;

bool impl_has_mode(enum bench_mode mode)
{
    return mode == BENCH_LEVEL;
}

static void check(int r, const char *what)
{
    if (r < 0)
        bench_die(what, -r);
}

static void open_loop(size_t count)
{
    check(uv_loop_init(&loop), "uv_loop_init");
    handles = calloc(count, sizeof *handles);
    if (!handles)
        bench_die("calloc", 0);
    handle_count = count;
}

static void close_loop(void)
{
    for (size_t i = 0; i < handle_count; i++)
        uv_close((uv_handle_t *)&handles[i], NULL);
    check(uv_run(&loop, UV_RUN_DEFAULT), "uv_run (closing)");
    check(uv_loop_close(&loop), "uv_loop_close");
    free(handles);
    handles = NULL;
    handle_count = 0;
}

static void on_readable(uv_poll_t *handle, int status, int events)
{
    if (status < 0)
        bench_die("uv_poll callback", -status);
    if (events & UV_READABLE) {
        ring_on_readable(current, (uint64_t)(handle - handles));
        if (ring_done(current))
            uv_stop(handle->loop);
    }
}

static void on_idle(uv_poll_t *handle, int status, int events)
{
    (void)handle;
    (void)status;
    (void)events;
}

static void start(size_t index, int fd, uv_poll_cb callback)
{
    check(uv_poll_init(&loop, &handles[index], fd), "uv_poll_init");
    check(uv_poll_start(&handles[index], UV_READABLE, callback), "uv_poll_start");
}

void impl_ring_setup(struct ring *ring)
{
    open_loop(ring->n + ring->idle);
    current = ring;
    for (size_t i = 0; i < ring->n; i++)
        start(i, ring->nodes[i].read_fd, on_readable);
    for (size_t i = 0; i < ring->idle; i++)
        start(ring->n + i, ring->idle_fds[i], on_idle);
    /* Nothing is ready yet: this iteration only hands the fds to epoll. */
    uv_run(&loop, UV_RUN_NOWAIT);
}

__attribute__((noinline)) void bench_dispatch(struct ring *ring)
{
    (void)ring;
    uv_run(&loop, UV_RUN_DEFAULT);
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
    check(uv_poll_init(&loop, &handles[0], fd), "uv_poll_init");
}

__attribute__((noinline)) void bench_churn(uint64_t iterations)
{
    uv_poll_t *handle = &handles[0];
    for (uint64_t i = 0; i < iterations; i++) {
        check(uv_poll_start(handle, UV_READABLE, on_idle), "uv_poll_start");
        uv_run(&loop, UV_RUN_NOWAIT);
        check(uv_poll_stop(handle), "uv_poll_stop");
        uv_run(&loop, UV_RUN_NOWAIT);
    }
}

void impl_churn_teardown(void)
{
    close_loop();
}
