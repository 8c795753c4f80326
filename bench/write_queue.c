/* SPDX-License-Identifier: MIT */
/*
 * What does the write queue cost against the writev loop people write by
 * hand? A writer sends REQUESTS requests of two buffers (a 16-byte header
 * and a body) over a Unix stream socketpair to a reader thread, BATCH
 * requests at a time: queue them, flush, and when the socket is full wait
 * for POLLOUT and flush again, until the batch is out.
 *
 *   hand     a hand-written loop: its own array of pending requests, an
 *            iovec array gathered from it, writev(2), and the bookkeeping
 *            for short writes;
 *   queue    evsrc_write_queue_flush() with a writev(2) callback: the same
 *            system calls, so the difference is the queue's own work;
 *   queue-unix  evsrc_write_queue_flush() through evsrc_unix_stream_writev()
 *            (what evsrc_write_queue_flush_unix() does: sendmsg with
 *            MSG_NOSIGNAL and the source's checks).
 *
 * Usage: bench/write-queue [rounds] [body bytes] [batch]
 * The methods take turns each round; the median and minimum over rounds are
 * reported in ns per request of the writer thread's CPU time (user and
 * system: what the method costs, not how fast the reader keeps up, which on
 * a shared machine is mostly the scheduler), with wall time beside it, and
 * writes and waits per request.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <evsrc/unix.h>
#include <evsrc/write_queue.h>

enum { REQUESTS = 20000, MAX_BATCH = 1024, MAX_ROUNDS = 101, HEADER = 16, MAX_BODY = 65536, GATHER = 64 };

static struct evsrc_unix_stream writer, reader;
static unsigned char header[HEADER];
static unsigned char body[MAX_BODY];
static size_t body_len = 100;
static int batch = 32;
static unsigned long writes, waits;

static double now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *what, long value)
{
    fprintf(stderr, "write_queue: %s: %ld\n", what, value);
    exit(1);
}

/* The reader: drains everything, blocking, until told how much the round sends. */
static size_t reader_expected;
static pthread_mutex_t reader_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reader_cond = PTHREAD_COND_INITIALIZER;
static bool reader_done;

static void *reader_main(void *arg)
{
    (void)arg;
    static unsigned char buf[1 << 16];
    int fd = evsrc_unix_stream_fd(&reader);
    for (;;) {
        pthread_mutex_lock(&reader_lock);
        while (reader_expected == 0)
            pthread_cond_wait(&reader_cond, &reader_lock);
        size_t left = reader_expected;
        pthread_mutex_unlock(&reader_lock);
        if (left == SIZE_MAX)
            return NULL;
        while (left > 0) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            poll(&pfd, 1, -1);
            ssize_t n = read(fd, buf, left < sizeof buf ? left : sizeof buf);
            if (n > 0)
                left -= (size_t)n;
            else if (n == 0 || errno != EAGAIN)
                die("read", n < 0 ? -errno : 0);
        }
        pthread_mutex_lock(&reader_lock);
        reader_expected = 0;
        reader_done = true;
        pthread_cond_signal(&reader_cond);
        pthread_mutex_unlock(&reader_lock);
    }
}

static void reader_start(size_t bytes)
{
    pthread_mutex_lock(&reader_lock);
    reader_done = false;
    reader_expected = bytes;
    pthread_cond_signal(&reader_cond);
    pthread_mutex_unlock(&reader_lock);
}

static void reader_wait(void)
{
    pthread_mutex_lock(&reader_lock);
    while (!reader_done)
        pthread_cond_wait(&reader_cond, &reader_lock);
    pthread_mutex_unlock(&reader_lock);
}

static void wait_writable(void)
{
    waits++;
    struct pollfd pfd = {.fd = evsrc_unix_stream_fd(&writer), .events = POLLOUT};
    poll(&pfd, 1, -1);
}

static ssize_t counted_writev(void *context, const struct iovec *iov, int iovcnt)
{
    (void)context;
    writes++;
    ssize_t n = writev(evsrc_unix_stream_fd(&writer), iov, iovcnt);
    return n < 0 ? -errno : n;
}

static ssize_t counted_unix_writev(void *context, const struct iovec *iov, int iovcnt)
{
    writes++;
    return evsrc_unix_stream_writev(context, iov, iovcnt);
}

/* ---- The hand-written loop ----------------------------------------------------- */

struct hand_request {
    struct iovec iov[2];
    int index;
    size_t offset;
};

static void hand_round(void)
{
    static struct hand_request pending[MAX_BATCH];
    int fd = evsrc_unix_stream_fd(&writer);
    for (int sent = 0; sent < REQUESTS; sent += batch) {
        int head = 0;
        for (int i = 0; i < batch; i++)
            pending[i] = (struct hand_request){{{header, HEADER}, {body, body_len}}, 0, 0};
        while (head < batch) {
            struct iovec iov[GATHER];
            int count = 0;
            for (int r = head; r < batch && count < GATHER; r++) {
                for (int i = pending[r].index; i < 2 && count < GATHER; i++) {
                    size_t skip = i == pending[r].index ? pending[r].offset : 0;
                    iov[count].iov_base = (char *)pending[r].iov[i].iov_base + skip;
                    iov[count].iov_len = pending[r].iov[i].iov_len - skip;
                    count++;
                }
            }
            writes++;
            ssize_t n = writev(fd, iov, count);
            if (n < 0) {
                if (errno == EAGAIN) {
                    wait_writable();
                    continue;
                }
                die("writev", -errno);
            }
            size_t left = (size_t)n;
            while (head < batch) {
                struct hand_request *req = &pending[head];
                size_t rest = req->iov[req->index].iov_len - req->offset;
                if (left < rest) {
                    req->offset += left;
                    break;
                }
                left -= rest;
                req->offset = 0;
                if (++req->index == 2)
                    head++; /* done: a real program would free or reuse it here */
            }
        }
    }
}

/* ---- The write queue ----------------------------------------------------------- */

static void queue_round(evsrc_write_queue_writev_fn *function, void *context)
{
    static struct evsrc_write_request requests[MAX_BATCH];
    static struct iovec iovs[MAX_BATCH][2];
    struct evsrc_write_queue queue;
    evsrc_write_queue_init(&queue);
    for (int sent = 0; sent < REQUESTS; sent += batch) {
        for (int i = 0; i < batch; i++) {
            iovs[i][0] = (struct iovec){header, HEADER};
            iovs[i][1] = (struct iovec){body, body_len};
            evsrc_write_request_init(&requests[i], iovs[i], 2);
            evsrc_write_queue_push(&queue, &requests[i]);
        }
        int r;
        while ((r = evsrc_write_queue_flush(&queue, function, context)) == 0)
            wait_writable();
        if (r < 0)
            die("flush", r);
        int popped = 0;
        while (evsrc_write_queue_pop(&queue))
            popped++;
        if (popped != batch)
            die("popped", popped);
    }
}

/* ---- Driver --------------------------------------------------------------------- */

enum { HAND, QUEUE, QUEUE_UNIX, METHODS };
static const char *const names[METHODS] = {"hand (writev)", "queue (writev)", "queue (unix_stream_writev)"};

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 15;
    if (argc > 2)
        body_len = (size_t)atol(argv[2]);
    if (argc > 3)
        batch = atoi(argv[3]);
    if (rounds < 1 || rounds > MAX_ROUNDS || body_len < 1 || body_len > MAX_BODY || batch < 1 || batch > MAX_BATCH ||
        REQUESTS % batch != 0) {
        fprintf(stderr, "usage: %s [rounds 1-%d] [body 1-%d] [batch dividing %d, <= %d]\n", argv[0], MAX_ROUNDS,
                MAX_BODY, REQUESTS, MAX_BATCH);
        return 2;
    }
    int r = evsrc_unix_stream_pair(&writer, &reader);
    if (r < 0)
        die("socketpair", r);
    pthread_t thread;
    if (pthread_create(&thread, NULL, reader_main, NULL) != 0)
        die("pthread_create", 0);
    memset(body, 'b', sizeof body);
    memset(header, 'h', sizeof header);

    static double ns[METHODS][MAX_ROUNDS], wall[METHODS][MAX_ROUNDS];
    double writes_per[METHODS] = {0}, waits_per[METHODS] = {0};
    size_t bytes = (size_t)REQUESTS * (HEADER + body_len);
    for (int round = 0; round < rounds; round++) {
        for (int m = 0; m < METHODS; m++) {
            writes = waits = 0;
            reader_start(bytes);
            double start = now_ns(CLOCK_THREAD_CPUTIME_ID), wall_start = now_ns(CLOCK_MONOTONIC);
            if (m == HAND)
                hand_round();
            else if (m == QUEUE)
                queue_round(counted_writev, NULL);
            else
                queue_round(counted_unix_writev, &writer);
            ns[m][round] = (now_ns(CLOCK_THREAD_CPUTIME_ID) - start) / REQUESTS;
            reader_wait();
            wall[m][round] = (now_ns(CLOCK_MONOTONIC) - wall_start) / REQUESTS;
            writes_per[m] += (double)writes / REQUESTS / rounds;
            waits_per[m] += (double)waits / REQUESTS / rounds;
        }
    }
    reader_start(SIZE_MAX);
    pthread_join(thread, NULL);

    printf("write queue: %d requests of %d + %zu bytes, %d per flush, %d rounds (Unix stream socketpair)\n",
           REQUESTS, HEADER, body_len, batch, rounds);
    printf("%-28s %9s %9s %10s %11s %10s\n", "method", "cpu ns/req", "(min)", "wall ns/req", "writes/req",
           "waits/req");
    for (int m = 0; m < METHODS; m++) {
        qsort(ns[m], (size_t)rounds, sizeof ns[m][0], compare);
        qsort(wall[m], (size_t)rounds, sizeof wall[m][0], compare);
        printf("%-28s %9.1f %9.1f %10.1f %11.4f %10.4f\n", names[m], ns[m][rounds / 2], ns[m][0],
               wall[m][rounds / 2], writes_per[m], waits_per[m]);
    }
    evsrc_unix_stream_close(&writer);
    evsrc_unix_stream_close(&reader);
    return 0;
}
