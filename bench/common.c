/* SPDX-License-Identifier: MIT */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

_Noreturn void bench_die(const char *what, int err)
{
    if (err == 0)
        err = errno;
    fprintf(stderr, "%s: %s: %s\n", impl_name, what, strerror(err));
    exit(1);
}

void ring_prime(struct ring *ring, uint64_t active, uint64_t writes)
{
    ring->count = 0;
    ring->writes_left = writes;
    ring->total = active + writes;
    size_t space = ring->n / (size_t)active;
    for (uint64_t k = 0; k < active; k++) {
        size_t index = (size_t)k * space;
        /* A node's token comes from the write fd of the node before it. */
        const struct ring_node *feeder = &ring->nodes[(index + ring->n - 1) % ring->n];
        char token = 'e';
        if (write(feeder->write_fd, &token, 1) != 1)
            bench_die("write (prime)", 0);
    }
}

/* CLOCK_MONOTONIC (--clock wall) or CLOCK_THREAD_CPUTIME_ID (--clock cpu). */
static clockid_t bench_clock = CLOCK_MONOTONIC;

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_raise_nofile(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) < 0)
        bench_die("getrlimit", 0);
    if (limit.rlim_cur != limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) < 0)
            bench_die("setrlimit", 0);
    }
    /* An unlimited hard limit still stops at the kernel's nr_open; 1 << 20 is its default. */
    if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur > (rlim_t)1 << 20)
        return (uint64_t)1 << 20;
    return (uint64_t)limit.rlim_cur;
}

const char *bench_mode_name(enum bench_mode mode)
{
    return mode == BENCH_EDGE ? "edge" : "level";
}

static _Noreturn void usage(const char *bench, const struct bench_opt *opts, int status)
{
    FILE *out = status ? stderr : stdout;
    fprintf(out, "usage: %s-%s [--mode edge|level]", bench, impl_name);
    for (const struct bench_opt *o = opts; o->name; o++)
        fprintf(out, " [--%s %s]", o->name, o->num ? "N" : "VALUE");
    fprintf(out, " [--clock wall|cpu]\n");
    fprintf(out, "  --mode: trigger mode of the registrations (default edge, or level if only that)\n");
    fprintf(out, "  --clock: time the dispatch phase by the wall clock (default) or by this thread's\n"
                 "           CPU time (user + system), which leaves out time the thread was preempted\n");
    for (const struct bench_opt *o = opts; o->name; o++)
        fprintf(out, "  --%s: %s\n", o->name, o->help);
    exit(status);
}

static bool parse_u64(const char *text, uint64_t *out)
{
    if (!text || !*text || *text == '-')
        return false;
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || *end)
        return false;
    *out = value;
    return true;
}

enum bench_mode bench_parse(int argc, char **argv, const char *bench, const struct bench_opt *opts)
{
    const char *mode = impl_has_mode(BENCH_EDGE) ? "edge" : "level";
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            usage(bench, opts, 0);
        if (strncmp(arg, "--", 2) != 0)
            usage(bench, opts, 2);
        arg += 2;
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value)
            usage(bench, opts, 2);
        if (name_len == 4 && strncmp(arg, "mode", 4) == 0) {
            mode = value;
            continue;
        }
        if (name_len == 5 && strncmp(arg, "clock", 5) == 0) {
            if (strcmp(value, "wall") == 0) {
                bench_clock = CLOCK_MONOTONIC;
            } else if (strcmp(value, "cpu") == 0) {
                bench_clock = CLOCK_THREAD_CPUTIME_ID;
            } else {
                fprintf(stderr, "%s-%s: --clock is wall or cpu, not '%s'\n", bench, impl_name, value);
                exit(2);
            }
            continue;
        }
        const struct bench_opt *o = opts;
        while (o->name && !(strlen(o->name) == name_len && strncmp(o->name, arg, name_len) == 0))
            o++;
        if (!o->name) {
            fprintf(stderr, "%s-%s: unknown option --%.*s\n", bench, impl_name, (int)name_len, arg);
            usage(bench, opts, 2);
        }
        if (o->num && !parse_u64(value, o->num)) {
            fprintf(stderr, "%s-%s: --%s needs a number, not '%s'\n", bench, impl_name, o->name, value);
            exit(2);
        }
        if (o->str)
            *o->str = value;
    }
    enum bench_mode parsed;
    if (strcmp(mode, "edge") == 0) {
        parsed = BENCH_EDGE;
    } else if (strcmp(mode, "level") == 0) {
        parsed = BENCH_LEVEL;
    } else {
        fprintf(stderr, "%s-%s: --mode is edge or level, not '%s'\n", bench, impl_name, mode);
        exit(2);
    }
    if (!impl_has_mode(parsed)) {
        fprintf(stderr, "%s-%s: %s mode is not offered\n", bench, impl_name, mode);
        exit(3);
    }
    return parsed;
}

void bench_report(const char *bench, enum bench_mode mode, const char *params, uint64_t events,
                  uint64_t ns)
{
    double per_event = events ? (double)ns / (double)events : 0.0;
    printf("impl=%s bench=%s mode=%s %s clock=%s events=%" PRIu64 " seconds=%.6f ns_per_event=%.2f\n",
           impl_name, bench, bench_mode_name(mode), params, bench_clock == CLOCK_MONOTONIC ? "wall" : "cpu",
           events, (double)ns / 1e9, per_event);
    fflush(stdout);
}

void bench_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        bench_die("fcntl O_NONBLOCK", 0);
}
