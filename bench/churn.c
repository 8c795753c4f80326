/* SPDX-License-Identifier: MIT */
/*
 * churn: registers one fd (a socketpair end, for readable events) and
 * deregisters it again, over and over; ns_per_event is the cost of one
 * register + deregister pair. For raw epoll that is two epoll_ctl calls.
 * libev and libuv apply registrations in their next loop iteration, so
 * their pair includes the loop iterations that make the kernel see it (see
 * impl_libev.c and impl_libuv.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
    uint64_t iterations = 20000;
    const struct bench_opt opts[] = {
        {"iterations", &iterations, NULL, "register + deregister pairs, each one event (default 20000)"},
        {NULL, NULL, NULL, NULL},
    };
    enum bench_mode mode = bench_parse(argc, argv, "churn", opts);

    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0)
        bench_die("socketpair", 0);
    bench_nonblocking(pair[0]);
    bench_nonblocking(pair[1]);

    impl_churn_setup(pair[0], mode);
    uint64_t start = bench_now_ns();
    bench_churn(iterations);
    uint64_t elapsed = bench_now_ns() - start;

    char params[64];
    snprintf(params, sizeof params, "iterations=%" PRIu64, iterations);
    bench_report("churn", mode, params, iterations, elapsed);

    impl_churn_teardown();
    close(pair[0]);
    close(pair[1]);
    return 0;
}
