/* SPDX-License-Identifier: MIT */
/*
 * chain: the design of libevent's test/bench.c. n socketpairs (or pipes)
 * form a ring; `a` tokens (one byte each) circulate in it. Each readable
 * event reads the token from its pair and writes it to the next pair, until
 * w writes have been made; then the a tokens left are read. Only the
 * dispatch phase (a + w events) is timed: creating the fds and registering
 * them is not.
 *
 * Edge mode reads one byte per event, as level mode does. That is correct
 * here, not just fast: every token written into a pair is a new edge, and a
 * pair can only hold a second token if its predecessor was handled twice
 * while the pair's event stayed in the kernel's ready list, which cannot
 * happen while every wait collects the whole ready list (at most `a` fds are
 * ready, so a <= BENCH_EVENTS_CAPACITY is required in edge mode).
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
    uint64_t n = 1000, active = 1, writes = 20000;
    const char *fds = "socketpair";
    const struct bench_opt opts[] = {
        {"n", &n, NULL, "socketpairs (or pipes) in the ring (default 1000; scaled down to RLIMIT_NOFILE)"},
        {"active", &active, NULL, "tokens circulating at once (default 1)"},
        {"writes", &writes, NULL, "token passes, each one event (default 20000)"},
        {"fds", NULL, &fds, "socketpair (default, as libevent's bench) or pipe"},
        {NULL, NULL, NULL, NULL},
    };
    enum bench_mode mode = bench_parse(argc, argv, "chain", opts);
    bool pipes = strcmp(fds, "pipe") == 0;
    if (!pipes && strcmp(fds, "socketpair") != 0) {
        fprintf(stderr, "chain-%s: --fds is socketpair or pipe\n", impl_name);
        return 2;
    }

    uint64_t limit = bench_raise_nofile();
    uint64_t fit = limit > BENCH_FD_RESERVE ? (limit - BENCH_FD_RESERVE) / 2 : 0;
    if (n > fit) {
        fprintf(stderr, "chain-%s: n=%" PRIu64 " needs %" PRIu64 " fds, RLIMIT_NOFILE is %" PRIu64
                        ": n=%" PRIu64 "\n",
                impl_name, n, 2 * n, limit, fit);
        n = fit;
    }
    if (n == 0 || active == 0 || active > n) {
        fprintf(stderr, "chain-%s: needs 1 <= active <= n\n", impl_name);
        return 2;
    }
    if (mode == BENCH_EDGE && active > BENCH_EVENTS_CAPACITY) {
        fprintf(stderr, "chain-%s: edge mode needs active <= %d\n", impl_name, BENCH_EVENTS_CAPACITY);
        return 2;
    }

    int (*pairs)[2] = calloc((size_t)n, sizeof *pairs);
    struct ring_node *nodes = calloc((size_t)n, sizeof *nodes);
    if (!pairs || !nodes)
        bench_die("calloc", 0);
    for (size_t i = 0; i < n; i++) {
        int r = pipes ? pipe(pairs[i]) : socketpair(AF_UNIX, SOCK_STREAM, 0, pairs[i]);
        if (r < 0)
            bench_die(pipes ? "pipe" : "socketpair", 0);
        bench_nonblocking(pairs[i][0]);
        bench_nonblocking(pairs[i][1]);
    }
    for (size_t i = 0; i < n; i++)
        nodes[i] = (struct ring_node){.read_fd = pairs[i][0], .write_fd = pairs[(i + 1) % n][1]};

    struct ring ring = {.nodes = nodes, .n = (size_t)n, .mode = mode};
    impl_ring_setup(&ring);
    ring_prime(&ring, active, writes);
    uint64_t start = bench_now_ns();
    bench_dispatch(&ring);
    uint64_t elapsed = bench_now_ns() - start;
    if (ring.count != ring.total) {
        fprintf(stderr, "chain-%s: %" PRIu64 " events of %" PRIu64 "\n", impl_name, ring.count, ring.total);
        return 1;
    }

    char params[128];
    snprintf(params, sizeof params, "n=%" PRIu64 " a=%" PRIu64 " w=%" PRIu64 " fds=%s", n, active, writes,
             fds);
    bench_report("chain", mode, params, ring.count, elapsed);

    impl_ring_teardown(&ring);
    for (size_t i = 0; i < n; i++) {
        close(pairs[i][0]);
        close(pairs[i][1]);
    }
    free(nodes);
    free(pairs);
    return 0;
}
