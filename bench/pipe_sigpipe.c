/* SPDX-License-Identifier: MIT */
/*
 * What does keeping SIGPIPE away from a pipe write cost? Times 1-byte writes:
 * plain write(2) against evsrc_pipe_sender_write(), on a pipe with a reader
 * (the common case) and on one without (the -EPIPE path).
 *
 * Built with the benchmarks: build-bench/bench/pipe-sigpipe [rounds]
 *
 * Each round times BATCHES batches of BATCH writes per method (the pipe is
 * drained between batches, untimed) and the methods take turns, so that a
 * neighbour's load falls on all of them alike. Reports the median and the
 * minimum over rounds, in ns per write.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <evsrc/pipe.h>

enum { BATCH = 4096, BATCHES = 50, MAX_ROUNDS = 101 };

static struct evsrc_pipe_sender sender;
static struct evsrc_pipe_receiver receiver;
static struct evsrc_pipe_sender broken; /* its receiver is closed */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *what, long value)
{
    fprintf(stderr, "pipe_sigpipe: %s: %ld\n", what, value);
    exit(1);
}

static void drain(void)
{
    char buf[BATCH];
    while (evsrc_pipe_receiver_read(&receiver, buf, sizeof buf) > 0) {
    }
}

static void plain_write(int fd, long expected)
{
    ssize_t n = write(fd, "x", 1);
    if ((n < 0 ? -errno : n) != expected)
        die("plain write", n < 0 ? -errno : n);
}

static void evsrc_write(struct evsrc_pipe_sender *end, long expected)
{
    ssize_t n = evsrc_pipe_sender_write(end, "x", 1);
    if (n != expected)
        die("evsrc write", n);
}

enum method {
    PLAIN_OK,
    EVSRC_OK,
    EVSRC_OK_BLOCKED,
    PLAIN_EPIPE_IGNORED,
    EVSRC_EPIPE,
    EVSRC_EPIPE_BLOCKED,
    METHODS
};

static const char *const method_names[METHODS] = {
    "write(2), reader open",
    "evsrc write, reader open",
    "evsrc write, reader open, SIGPIPE blocked by caller",
    "write(2) -EPIPE, SIGPIPE ignored",
    "evsrc write -EPIPE",
    "evsrc write -EPIPE, SIGPIPE blocked by caller",
};

static void set_sigpipe(enum method method)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    bool blocked = method == EVSRC_OK_BLOCKED || method == EVSRC_EPIPE_BLOCKED;
    pthread_sigmask(blocked ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
    /* Only the plain -EPIPE case needs the signal ignored, or it would kill us. */
    signal(SIGPIPE, method == PLAIN_EPIPE_IGNORED ? SIG_IGN : SIG_DFL);
}

static void one_write(enum method method)
{
    switch (method) {
    case PLAIN_OK:
        plain_write(evsrc_pipe_sender_fd(&sender), 1);
        break;
    case EVSRC_OK:
    case EVSRC_OK_BLOCKED:
        evsrc_write(&sender, 1);
        break;
    case PLAIN_EPIPE_IGNORED:
        plain_write(evsrc_pipe_sender_fd(&broken), -EPIPE);
        break;
    case EVSRC_EPIPE:
    case EVSRC_EPIPE_BLOCKED:
        evsrc_write(&broken, -EPIPE);
        break;
    case METHODS:
        break;
    }
}

/* ns per write over one round of one method. */
static double time_round(enum method method)
{
    set_sigpipe(method);
    double total = 0;
    for (int b = 0; b < BATCHES; b++) {
        double start = now_ns();
        for (int i = 0; i < BATCH; i++)
            one_write(method);
        total += now_ns() - start;
        drain();
    }
    set_sigpipe(PLAIN_OK);
    return total / ((double)BATCHES * BATCH);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 11;
    if (rounds < 1 || rounds > MAX_ROUNDS)
        die("rounds must be 1 to", MAX_ROUNDS);
    struct evsrc_pipe_receiver gone;
    int r = evsrc_pipe_new(&sender, &receiver);
    if (r >= 0)
        r = evsrc_pipe_new(&broken, &gone);
    if (r >= 0)
        r = evsrc_pipe_receiver_close(&gone);
    if (r < 0)
        die("setup", r);

    static double samples[METHODS][MAX_ROUNDS];
    for (int m = 0; m < METHODS; m++)
        time_round((enum method)m); /* warm-up */
    for (int round = 0; round < rounds; round++)
        for (int m = 0; m < METHODS; m++)
            samples[m][round] = time_round((enum method)m);

    printf("%d rounds x %d writes of 1 byte per method\n", rounds, BATCHES * BATCH);
    printf("%-52s %10s %10s\n", "method", "median ns", "min ns");
    for (int m = 0; m < METHODS; m++) {
        qsort(samples[m], (size_t)rounds, sizeof samples[m][0], compare_doubles);
        printf("%-52s %10.1f %10.1f\n", method_names[m], samples[m][rounds / 2], samples[m][0]);
    }
    evsrc_pipe_sender_close(&sender);
    evsrc_pipe_receiver_close(&receiver);
    evsrc_pipe_sender_close(&broken);
    return 0;
}
