/* SPDX-License-Identifier: MIT */
/*
 * churn: registers one fd (a socketpair end, for readable events) and
 * deregisters it again, over and over; ns_per_event is the cost of one
 * register + deregister pair. For raw epoll that is two epoll_ctl calls.
 * libev and libuv apply registrations in their next loop iteration, so
 * their pair includes the loop iterations that make the kernel see it (see
 * impl_libev.c and impl_libuv.c).
 *
 * --calls fd: evsrc registers through the fd-level calls
 * (evsrc_registry_register_fd/deregister_fd) instead of a source; the others
 * have one level only. --wait zero: a zero-timeout wait between the register
 * and the deregister (evsrc and raw epoll only). bench/instructions counts
 * both against raw epoll.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
    uint64_t iterations = 20000;
    const char *calls = "source";
    const char *wait = "none";
    const struct bench_opt opts[] = {
        {"iterations", &iterations, NULL, "register + deregister pairs, each one event (default 20000)"},
        {"calls", NULL, &calls, "source or fd: evsrc's level of registration call (default source)"},
        {"wait", NULL, &wait, "none or zero: a zero-timeout wait inside each pair (default none)"},
        {NULL, NULL, NULL, NULL},
    };
    enum bench_mode mode = bench_parse(argc, argv, "churn", opts);
    bool fd_calls = strcmp(calls, "fd") == 0;
    bool zero_wait = strcmp(wait, "zero") == 0;
    if ((!fd_calls && strcmp(calls, "source") != 0) || (!zero_wait && strcmp(wait, "none") != 0)) {
        fprintf(stderr, "churn-%s: --calls is source or fd, --wait is none or zero\n", impl_name);
        return 2;
    }
    void (*run)(uint64_t) = bench_churn;
    if (fd_calls && bench_churn_fd)
        run = bench_churn_fd;
    if (zero_wait)
        run = bench_churn_wait;
    if (!run) {
        fprintf(stderr, "churn-%s: %s mode is not offered with --wait zero\n", impl_name, bench_mode_name(mode));
        return 3;
    }

    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0)
        bench_die("socketpair", 0);
    bench_nonblocking(pair[0]);
    bench_nonblocking(pair[1]);

    impl_churn_setup(pair[0], mode);
    uint64_t start = bench_now_ns();
    run(iterations);
    uint64_t elapsed = bench_now_ns() - start;

    char params[64];
    snprintf(params, sizeof params, "iterations=%" PRIu64 " calls=%s wait=%s", iterations,
             fd_calls ? "fd" : "source", wait);
    bench_report("churn", mode, params, iterations, elapsed);

    impl_churn_teardown();
    close(pair[0]);
    close(pair[1]);
    return 0;
}
