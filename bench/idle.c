/* SPDX-License-Identifier: MIT */
/*
 * idle: m registered fds that never become ready (eventfds at zero) and one
 * active pipe. Each wakeup writes a byte into the pipe, waits, and reads it
 * back; ns_per_event is the cost of one wakeup, which should not depend on
 * m. "--m max" takes as many fds as RLIMIT_NOFILE's hard limit leaves, up to
 * 100 000.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common.h"

#define IDLE_MAX 100000u

int main(int argc, char **argv)
{
    uint64_t wakeups = 20000;
    const char *m_text = "1000";
    const struct bench_opt opts[] = {
        {"m", NULL, &m_text, "idle registered fds, a number or max (default 1000)"},
        {"wakeups", &wakeups, NULL, "wakeups of the active pipe, each one event (default 20000)"},
        {NULL, NULL, NULL, NULL},
    };
    enum bench_mode mode = bench_parse(argc, argv, "idle", opts);
    if (wakeups == 0) {
        fprintf(stderr, "idle-%s: needs --wakeups >= 1\n", impl_name);
        return 2;
    }

    uint64_t limit = bench_raise_nofile();
    uint64_t fit = limit > BENCH_FD_RESERVE + 2 ? limit - BENCH_FD_RESERVE - 2 : 0;
    uint64_t m;
    if (strcmp(m_text, "max") == 0) {
        m = fit < IDLE_MAX ? fit : IDLE_MAX;
    } else {
        char *end;
        m = strtoull(m_text, &end, 10);
        if (*end || !*m_text) {
            fprintf(stderr, "idle-%s: --m is a number or max\n", impl_name);
            return 2;
        }
        if (m > fit) {
            fprintf(stderr, "idle-%s: m=%" PRIu64 " does not fit RLIMIT_NOFILE %" PRIu64 ": m=%" PRIu64 "\n",
                    impl_name, m, limit, fit);
            m = fit;
        }
    }

    int *idle = calloc(m ? (size_t)m : 1, sizeof *idle);
    if (!idle)
        bench_die("calloc", 0);
    for (size_t i = 0; i < m; i++) {
        idle[i] = eventfd(0, EFD_NONBLOCK);
        if (idle[i] < 0)
            bench_die("eventfd", 0);
    }
    int active[2];
    if (pipe(active) < 0)
        bench_die("pipe", 0);
    bench_nonblocking(active[0]);
    bench_nonblocking(active[1]);
    struct ring_node node = {.read_fd = active[0], .write_fd = active[1]};

    struct ring ring = {.nodes = &node, .n = 1, .idle_fds = idle, .idle = (size_t)m, .mode = mode};
    impl_ring_setup(&ring);
    ring_prime(&ring, 1, wakeups - 1);
    uint64_t start = bench_now_ns();
    bench_dispatch(&ring);
    uint64_t elapsed = bench_now_ns() - start;
    if (ring.count != ring.total) {
        fprintf(stderr, "idle-%s: %" PRIu64 " events of %" PRIu64 "\n", impl_name, ring.count, ring.total);
        return 1;
    }

    char params[64];
    snprintf(params, sizeof params, "m=%" PRIu64 " wakeups=%" PRIu64, m, wakeups);
    bench_report("idle", mode, params, ring.count, elapsed);

    impl_ring_teardown(&ring);
    for (size_t i = 0; i < m; i++)
        close(idle[i]);
    close(active[0]);
    close(active[1]);
    free(idle);
    return 0;
}
