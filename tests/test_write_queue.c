/* SPDX-License-Identifier: MIT */
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "testutil.h"

/* Byte k of a test stream: a pattern that a lost, repeated or reordered byte breaks. */
static unsigned char pattern(size_t k)
{
    return (unsigned char)(k * 131u + (k >> 9) * 7u + 1u);
}

/* A small deterministic generator, so that a failure replays (xorshift64). */
static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

/* ---- Bad input -------------------------------------------------------------------- */

START_TEST(requests_refuse_bad_input)
{
    struct evsrc_write_request req;
    char byte = 'x';
    struct iovec iov[2] = {{&byte, 1}, {NULL, 1}};
    ck_assert_int_eq(evsrc_write_request_init(NULL, iov, 1), -EINVAL);
    ck_assert_int_eq(evsrc_write_request_init(&req, iov, -1), -EINVAL);
    ck_assert_int_eq(evsrc_write_request_init(&req, iov, IOV_MAX + 1), -EINVAL);
    ck_assert_int_eq(evsrc_write_request_init(&req, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_write_request_init(&req, iov, 2), -EINVAL); /* NULL base with a length */
    struct iovec huge[2] = {{&byte, (size_t)SSIZE_MAX}, {&byte, 1}};
    ck_assert_int_eq(evsrc_write_request_init(&req, huge, 2), -EINVAL);
    ck_assert_int_eq(evsrc_write_request_init(&req, huge, 1), 0);
    ck_assert_int_eq(evsrc_write_request_init(&req, NULL, 0), 0);
    iov[1] = (struct iovec){NULL, 0};
    ck_assert_int_eq(evsrc_write_request_init(&req, iov, 2), 0);

    ck_assert_int_eq(evsrc_write_request_init_buffer(NULL, &byte, 1), -EINVAL);
    ck_assert_int_eq(evsrc_write_request_init_buffer(&req, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_write_request_init_buffer(&req, &byte, (size_t)SSIZE_MAX + 1), -EINVAL);
    ck_assert_int_eq(evsrc_write_request_init_buffer(&req, NULL, 0), 0);

    struct sockaddr_in to = {.sin_family = AF_INET};
    ck_assert_int_eq(evsrc_write_request_set_destination(NULL, (struct sockaddr *)&to, sizeof to), -EINVAL);
    ck_assert_int_eq(evsrc_write_request_set_destination(&req, NULL, sizeof to), -EINVAL);
    ck_assert_int_eq(evsrc_write_request_set_destination(&req, (struct sockaddr *)&to, 0), -EINVAL);
    ck_assert_int_eq(evsrc_write_request_set_destination(&req, (struct sockaddr *)&to, sizeof to), 0);
    ck_assert_int_eq(evsrc_write_request_set_destination(&req, NULL, 0), 0);

    ck_assert_int_eq(evsrc_write_request_error(NULL), 0);
    ck_assert_uint_eq(evsrc_write_request_written(NULL), 0);
}
END_TEST

START_TEST(queues_refuse_bad_input)
{
    struct evsrc_write_queue queue;
    struct evsrc_write_request req;
    ck_assert_int_eq(evsrc_write_queue_init(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_write_queue_init(&queue), 0);
    ck_assert_int_eq(evsrc_write_request_init_buffer(&req, "abc", 3), 0);
    ck_assert_int_eq(evsrc_write_queue_push(NULL, &req), -EINVAL);
    ck_assert_int_eq(evsrc_write_queue_push(&queue, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_write_queue_push(&queue, &req), 0);
    /* In the queue: pushing again (here or elsewhere) and changing its destination are refused. */
    struct evsrc_write_queue other;
    evsrc_write_queue_init(&other);
    ck_assert_int_eq(evsrc_write_queue_push(&queue, &req), -EBUSY);
    ck_assert_int_eq(evsrc_write_queue_push(&other, &req), -EBUSY);
    ck_assert_int_eq(evsrc_write_request_set_destination(&req, NULL, 0), -EBUSY);
    ck_assert_uint_eq(evsrc_write_queue_pending(&queue), 1);
    ck_assert_uint_eq(evsrc_write_queue_pending_bytes(&queue), 3);
    ck_assert_uint_eq(evsrc_write_queue_pending(NULL), 0);
    ck_assert_uint_eq(evsrc_write_queue_pending_bytes(NULL), 0);
    ck_assert_ptr_null(evsrc_write_queue_pop(NULL));
    ck_assert_ptr_null(evsrc_write_queue_pop(&queue)); /* pending, not done */
    ck_assert_int_eq(evsrc_write_request_error(&req), 0);

    ck_assert_int_eq(evsrc_write_queue_flush(NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_write_queue_flush(&queue, NULL, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_write_queue_flush_datagram(&queue, NULL, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_write_queue_flush_tcp(&queue, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_write_queue_flush_unix(&queue, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_write_queue_flush_pipe(&queue, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_write_queue_flush_udp(&queue, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_write_queue_flush_unix_datagram(&queue, NULL), -EINVAL);
    struct evsrc_udp_socket udp;
    ck_assert_int_eq(evsrc_write_queue_flush_udp(NULL, &udp), -EINVAL);

    struct evsrc_unix_stream a, b;
    ck_assert_int_eq(evsrc_unix_stream_pair(&a, &b), 0);
    struct evsrc_registry *registry = testutil_fx.registry;
    ck_assert_int_eq(evsrc_write_queue_update_interest(NULL, registry, &a.source, 1, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_write_queue_update_interest(&queue, NULL, &a.source, 1, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_write_queue_update_interest(&queue, registry, NULL, 1, EVSRC_READABLE), -EINVAL);
    ck_assert_int_eq(evsrc_write_queue_update_interest(&queue, registry, &a.source, 1, 0), -EINVAL);
    ck_assert_int_eq(evsrc_write_queue_update_interest(&queue, registry, &a.source, 1, EVSRC_WRITABLE), -EINVAL);
    ck_assert_int_eq(
        evsrc_write_queue_update_interest(&queue, registry, &a.source, 1, EVSRC_READABLE | EVSRC_WRITABLE), -EINVAL);
    /* Not registered: the reregister's error, and the state stays off. */
    ck_assert_int_eq(evsrc_write_queue_update_interest(&queue, registry, &a.source, 1, EVSRC_READABLE), -ENOENT);

    /* Cancel hands back what is pending, once; then the request is free again. */
    ck_assert_uint_eq(evsrc_write_queue_cancel(&queue), 1);
    ck_assert_uint_eq(evsrc_write_queue_cancel(&queue), 0);
    ck_assert_uint_eq(evsrc_write_queue_cancel(NULL), 0);
    ck_assert_int_eq(evsrc_write_queue_push(&other, &req), -EBUSY); /* done, not yet popped */
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &req);
    ck_assert_int_eq(evsrc_write_request_error(&req), -ECANCELED);
    ck_assert_uint_eq(evsrc_write_request_written(&req), 0);
    ck_assert_uint_eq(evsrc_write_queue_pending_bytes(&queue), 0);
    ck_assert_int_eq(evsrc_write_queue_push(&other, &req), 0);
    ck_assert_int_eq(evsrc_write_request_error(&req), 0);
    evsrc_write_queue_cancel(&other);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&other), &req);
    evsrc_unix_stream_close(&a);
    evsrc_unix_stream_close(&b);
}
END_TEST

/* ---- The algorithm, against an in-memory sink ------------------------------------------- */

/* A writev-like sink that takes at most `limit` bytes a call and answers a script first. */
struct sink {
    unsigned char data[65536];
    size_t len;
    size_t limit;
    const ssize_t *script; /* answers before writing: -errno, or 0 for "write now" */
    int script_len;
    int calls;
    int max_iovcnt;
};

static ssize_t sink_writev(void *context, const struct iovec *iov, int iovcnt)
{
    struct sink *sink = context;
    int call = sink->calls++;
    if (iovcnt > sink->max_iovcnt)
        sink->max_iovcnt = iovcnt;
    ck_assert_int_ge(iovcnt, 1);
    ck_assert_int_le(iovcnt, 64);
    if (call < sink->script_len && sink->script[call] != 0)
        return sink->script[call];
    size_t took = 0;
    for (int i = 0; i < iovcnt && took < sink->limit; i++) {
        ck_assert_uint_gt(iov[i].iov_len, 0);
        size_t n = iov[i].iov_len < sink->limit - took ? iov[i].iov_len : sink->limit - took;
        ck_assert_uint_le(sink->len + n, sizeof sink->data);
        memcpy(sink->data + sink->len, iov[i].iov_base, n);
        sink->len += n;
        took += n;
    }
    return took ? (ssize_t)took : -EAGAIN;
}

START_TEST(stream_flush_writes_every_byte_in_order_over_short_writes)
{
    /* 200 requests, 0 to 5 buffers each (some empty), through a sink taking 7 bytes a call. */
    enum { N = 200 };
    static struct evsrc_write_request reqs[N];
    static struct iovec iovs[N][5];
    static unsigned char bytes[32768];
    size_t used = 0;
    struct evsrc_write_queue queue;
    evsrc_write_queue_init(&queue);
    uint64_t seed = 42;
    size_t total = 0;
    for (int i = 0; i < N; i++) {
        int count = (int)(next_random(&seed) % 6);
        for (int j = 0; j < count; j++) {
            size_t len = next_random(&seed) % 4 == 0 ? 0 : next_random(&seed) % 60;
            iovs[i][j] = (struct iovec){bytes + used, len};
            for (size_t k = 0; k < len; k++)
                bytes[used + k] = pattern(total + k);
            used += len;
            total += len;
        }
        ck_assert_int_eq(evsrc_write_request_init(&reqs[i], count ? iovs[i] : NULL, count), 0);
        ck_assert_int_eq(evsrc_write_queue_push(&queue, &reqs[i]), 0);
    }
    ck_assert_uint_eq(evsrc_write_queue_pending_bytes(&queue), total);
    static struct sink sink;
    sink = (struct sink){.limit = 7};
    int popped = 0;
    for (int round = 0; round < 100000; round++) {
        int r = evsrc_write_queue_flush(&queue, sink_writev, &sink);
        ck_assert_int_ge(r, 0);
        /* A flush that stops always ends on the sink's -EAGAIN: here the limit is per call, so never. */
        for (struct evsrc_write_request *done; (done = evsrc_write_queue_pop(&queue));) {
            ck_assert_ptr_eq(done, &reqs[popped]);
            ck_assert_int_eq(evsrc_write_request_error(done), 0);
            size_t len = 0;
            for (int j = 0; j < reqs[popped].iovcnt; j++)
                len += iovs[popped][j].iov_len;
            ck_assert_uint_eq(evsrc_write_request_written(done), len);
            popped++;
        }
        if (r == 1)
            break;
    }
    ck_assert_int_eq(popped, N);
    ck_assert_uint_eq(sink.len, total);
    for (size_t k = 0; k < total; k++)
        ck_assert_msg(sink.data[k] == pattern(k), "byte %zu", k);
    ck_assert_uint_eq(evsrc_write_queue_pending(&queue), 0);
    ck_assert_uint_eq(evsrc_write_queue_pending_bytes(&queue), 0);
}
END_TEST

START_TEST(stream_flush_gathers_at_most_64_buffers_and_resumes_midway)
{
    enum { BUFFERS = 200 };
    static struct iovec iov[BUFFERS];
    static unsigned char bytes[BUFFERS * 3];
    for (size_t k = 0; k < sizeof bytes; k++)
        bytes[k] = pattern(k);
    for (int i = 0; i < BUFFERS; i++)
        iov[i] = (struct iovec){bytes + 3 * i, 3};
    struct evsrc_write_request req;
    struct evsrc_write_queue queue;
    evsrc_write_queue_init(&queue);
    ck_assert_int_eq(evsrc_write_request_init(&req, iov, BUFFERS), 0);
    ck_assert_int_eq(evsrc_write_queue_push(&queue, &req), 0);
    static struct sink sink;
    /* EINTR is retried, then a short write of 100 bytes (midway through a buffer), then EAGAIN. */
    static const ssize_t script[] = {-EINTR, 0, -EAGAIN};
    sink = (struct sink){.limit = 100, .script = script, .script_len = 3};
    ck_assert_int_eq(evsrc_write_queue_flush(&queue, sink_writev, &sink), 0);
    ck_assert_int_eq(sink.calls, 3);
    ck_assert_int_eq(sink.max_iovcnt, 64);
    ck_assert_uint_eq(sink.len, 100);
    ck_assert_uint_eq(evsrc_write_request_written(&req), 100);
    ck_assert_uint_eq(evsrc_write_queue_pending_bytes(&queue), sizeof bytes - 100);
    ck_assert_ptr_null(evsrc_write_queue_pop(&queue));
    sink.limit = SIZE_MAX;
    sink.script_len = 0;
    ck_assert_int_eq(evsrc_write_queue_flush(&queue, sink_writev, &sink), 1);
    ck_assert_uint_eq(sink.len, sizeof bytes);
    ck_assert_mem_eq(sink.data, bytes, sizeof bytes);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &req);
    ck_assert_uint_eq(evsrc_write_request_written(&req), sizeof bytes);
    /* Empty queue: drained at once, with no call. */
    int calls = sink.calls;
    ck_assert_int_eq(evsrc_write_queue_flush(&queue, sink_writev, &sink), 1);
    ck_assert_int_eq(sink.calls, calls);
}
END_TEST

static ssize_t liar_writev(void *context, const struct iovec *iov, int iovcnt)
{
    (void)context;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    return (ssize_t)total + 1;
}

static ssize_t zero_writev(void *context, const struct iovec *iov, int iovcnt)
{
    (void)context;
    (void)iov;
    (void)iovcnt;
    return 0;
}

START_TEST(stream_flush_errors_hand_back_the_head)
{
    struct evsrc_write_queue queue;
    struct evsrc_write_request a, b;
    evsrc_write_queue_init(&queue);
    evsrc_write_request_init_buffer(&a, "aaaa", 4);
    evsrc_write_request_init_buffer(&b, "bbbb", 4);
    evsrc_write_queue_push(&queue, &a);
    evsrc_write_queue_push(&queue, &b);
    /* A function returning 0 stops the flush with nothing handed back. */
    ck_assert_int_eq(evsrc_write_queue_flush(&queue, zero_writev, NULL), 0);
    ck_assert_uint_eq(evsrc_write_queue_pending(&queue), 2);
    /* One claiming more than it was given: -EIO, with the head. */
    ck_assert_int_eq(evsrc_write_queue_flush(&queue, liar_writev, NULL), -EIO);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &a);
    ck_assert_int_eq(evsrc_write_request_error(&a), -EIO);
    ck_assert_uint_eq(evsrc_write_queue_pending(&queue), 1);
    ck_assert_uint_eq(evsrc_write_queue_pending_bytes(&queue), 4);
    static struct sink sink;
    static const ssize_t script[] = {-ECONNRESET};
    sink = (struct sink){.limit = 2, .script = script, .script_len = 1};
    ck_assert_int_eq(evsrc_write_queue_flush(&queue, sink_writev, &sink), -ECONNRESET);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &b);
    ck_assert_int_eq(evsrc_write_request_error(&b), -ECONNRESET);
    ck_assert_uint_eq(evsrc_write_queue_pending(&queue), 0);
    ck_assert_uint_eq(evsrc_write_queue_pending_bytes(&queue), 0);
}
END_TEST

/* ---- Real streams: the torture test ----------------------------------------------------------- */

struct reader {
    int fd;
    size_t expected;
    size_t got;
    uint64_t seed;
    bool bad;
    size_t bad_at;
};

/* Drains at random sizes, sometimes pausing, and checks every byte against the pattern. */
static void *reader_main(void *arg)
{
    struct reader *reader = arg;
    static unsigned char buf[8192];
    long long deadline = testutil_now_ms() + 50000;
    while (reader->got < reader->expected && testutil_now_ms() < deadline) {
        struct pollfd pfd = {.fd = reader->fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        size_t want = 1 + next_random(&reader->seed) % sizeof buf;
        ssize_t n = read(reader->fd, buf, want);
        if (n <= 0)
            continue;
        for (ssize_t i = 0; i < n && !reader->bad; i++) {
            if (buf[i] != pattern(reader->got + (size_t)i)) {
                reader->bad = true;
                reader->bad_at = reader->got + (size_t)i;
            }
        }
        reader->got += (size_t)n;
        if (next_random(&reader->seed) % 8 == 0)
            usleep(200); /* let the writer fill the buffer and meet EAGAIN */
    }
    return NULL;
}

enum stream_kind { STREAM_UNIX, STREAM_TCP, STREAM_PIPE };

struct stream_pair {
    enum stream_kind kind;
    struct evsrc_unix_stream unix_writer, unix_reader;
    struct evsrc_tcp_stream tcp_writer, tcp_reader;
    struct evsrc_pipe_sender pipe_writer;
    struct evsrc_pipe_receiver pipe_reader;
};

static void stream_pair_open(struct stream_pair *p, enum stream_kind kind)
{
    p->kind = kind;
    int fd = -1;
    if (kind == STREAM_UNIX) {
        ck_assert_int_eq(evsrc_unix_stream_pair(&p->unix_writer, &p->unix_reader), 0);
        fd = evsrc_unix_stream_fd(&p->unix_writer);
    } else if (kind == STREAM_TCP) {
        testutil_tcp_pair(&p->tcp_writer, &p->tcp_reader);
        fd = evsrc_tcp_stream_fd(&p->tcp_writer);
    } else {
        ck_assert_int_eq(evsrc_pipe_new(&p->pipe_writer, &p->pipe_reader), 0);
        return;
    }
    int size = 4096; /* the kernel's minimum, or near it: short writes and EAGAIN all the time */
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size), 0);
}

static struct evsrc_source *stream_pair_writer_source(struct stream_pair *p)
{
    return p->kind == STREAM_UNIX  ? &p->unix_writer.source
           : p->kind == STREAM_TCP ? &p->tcp_writer.source
                                   : &p->pipe_writer.source;
}

static int stream_pair_reader_fd(struct stream_pair *p)
{
    return p->kind == STREAM_UNIX  ? evsrc_unix_stream_fd(&p->unix_reader)
           : p->kind == STREAM_TCP ? evsrc_tcp_stream_fd(&p->tcp_reader)
                                   : evsrc_pipe_receiver_fd(&p->pipe_reader);
}

static int stream_pair_flush(struct stream_pair *p, struct evsrc_write_queue *queue)
{
    return p->kind == STREAM_UNIX  ? evsrc_write_queue_flush_unix(queue, &p->unix_writer)
           : p->kind == STREAM_TCP ? evsrc_write_queue_flush_tcp(queue, &p->tcp_writer)
                                   : evsrc_write_queue_flush_pipe(queue, &p->pipe_writer);
}

static void stream_pair_close_reader(struct stream_pair *p)
{
    if (p->kind == STREAM_UNIX)
        evsrc_unix_stream_close(&p->unix_reader);
    else if (p->kind == STREAM_TCP)
        evsrc_tcp_stream_close(&p->tcp_reader);
    else
        evsrc_pipe_receiver_close(&p->pipe_reader);
}

static void stream_pair_close(struct stream_pair *p)
{
    if (p->kind == STREAM_UNIX) {
        evsrc_unix_stream_close(&p->unix_writer);
        evsrc_unix_stream_close(&p->unix_reader);
    } else if (p->kind == STREAM_TCP) {
        evsrc_tcp_stream_close(&p->tcp_writer);
        evsrc_tcp_stream_close(&p->tcp_reader);
    } else {
        evsrc_pipe_sender_close(&p->pipe_writer);
        evsrc_pipe_receiver_close(&p->pipe_reader);
    }
}

/*
 * Thousands of requests of 1 to 3 buffers of random sizes through a socket
 * with a tiny send buffer, read by a thread at random sizes: every byte
 * checked, requests handed back in order, the loop driven by the poll's
 * writable events with the interest switched by the queue.
 */
static void torture(enum stream_kind kind)
{
    enum { N = 2000, WINDOW = 300, TOKEN = 9 };
    struct evsrc_write_request *reqs = calloc(N, sizeof *reqs);
    struct iovec(*iovs)[3] = calloc(N, sizeof *iovs);
    unsigned char *bytes = malloc(N * 3 * 1024);
    ck_assert(reqs && iovs && bytes);
    uint64_t seed = 0x9e3779b97f4a7c15u ^ (uint64_t)kind;
    size_t total = 0;
    for (int i = 0; i < N; i++) {
        int count = 1 + (int)(next_random(&seed) % 3);
        for (int j = 0; j < count; j++) {
            size_t len = next_random(&seed) % 1024;
            iovs[i][j] = (struct iovec){bytes + total, len};
            for (size_t k = 0; k < len; k++)
                bytes[total + k] = pattern(total + k);
            total += len;
        }
        ck_assert_int_eq(evsrc_write_request_init(&reqs[i], iovs[i], count), 0);
    }

    struct stream_pair pair;
    stream_pair_open(&pair, kind);
    struct evsrc_source *source = stream_pair_writer_source(&pair);
    /* The pipe's write end is only written to: registered writable once (see the header). */
    evsrc_interest base = kind == STREAM_PIPE ? EVSRC_WRITABLE : EVSRC_READABLE;
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, source, TOKEN, base), 0);

    struct reader reader = {.fd = stream_pair_reader_fd(&pair), .expected = total, .seed = seed};
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, reader_main, &reader), 0);

    struct evsrc_write_queue queue;
    evsrc_write_queue_init(&queue);
    int pushed = 0, popped = 0, stalls = 0;
    long long deadline = testutil_now_ms() + 50000;
    while (popped < N && testutil_now_ms() < deadline) {
        while (pushed < N && pushed - popped < WINDOW)
            ck_assert_int_eq(evsrc_write_queue_push(&queue, &reqs[pushed++]), 0);
        int r = stream_pair_flush(&pair, &queue);
        ck_assert_int_ge(r, 0);
        ck_assert_int_eq(r == 1, evsrc_write_queue_pending(&queue) == 0);
        for (struct evsrc_write_request *done; (done = evsrc_write_queue_pop(&queue));) {
            ck_assert_ptr_eq(done, &reqs[popped]);
            ck_assert_int_eq(evsrc_write_request_error(done), 0);
            popped++;
        }
        if (kind != STREAM_PIPE)
            ck_assert_int_ge(evsrc_write_queue_update_interest(&queue, testutil_fx.registry, source, TOKEN, base), 0);
        if (r == 0) {
            /* The socket is full: the next writable event says when to go on. */
            stalls++;
            ck_assert(testutil_wait_token(testutil_fx.poll, testutil_fx.events, TOKEN, NULL));
        }
    }
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    ck_assert_int_eq(popped, N);
    ck_assert_msg(!reader.bad, "byte %zu is wrong", reader.bad_at);
    ck_assert_uint_eq(reader.got, total);
    ck_assert_int_gt(stalls, 0); /* the test met a full socket, or it tested nothing */
    ck_assert_uint_eq(evsrc_write_queue_pending_bytes(&queue), 0);

    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, source), 0);
    stream_pair_close(&pair);
    free(bytes);
    free(iovs);
    free(reqs);
}

START_TEST(torture_unix_stream)
{
    torture(STREAM_UNIX);
}
END_TEST

START_TEST(torture_tcp)
{
    torture(STREAM_TCP);
}
END_TEST

START_TEST(torture_pipe)
{
    torture(STREAM_PIPE);
}
END_TEST

/* The interest follows the queue: on while pending, off once drained, a reregister only on a change. */
START_TEST(update_interest_switches_only_on_a_change)
{
    struct evsrc_unix_stream a, b;
    ck_assert_int_eq(evsrc_unix_stream_pair(&a, &b), 0);
    struct evsrc_registry *registry = testutil_fx.registry;
    ck_assert_int_eq(evsrc_registry_register(registry, &a.source, 3, EVSRC_READABLE), 0);
    struct evsrc_write_queue queue;
    evsrc_write_queue_init(&queue);
    ck_assert_int_eq(evsrc_write_queue_update_interest(&queue, registry, &a.source, 3, EVSRC_READABLE), 0);
    testutil_expect_quiet(3);
    struct evsrc_write_request req;
    evsrc_write_request_init_buffer(&req, "hello", 5);
    evsrc_write_queue_push(&queue, &req);
    ck_assert_int_eq(evsrc_write_queue_update_interest(&queue, registry, &a.source, 3, EVSRC_READABLE), 1);
    ck_assert(testutil_expect_event(3) & EVSRC_EVENT_FLAG_OUT);
    ck_assert_int_eq(evsrc_write_queue_update_interest(&queue, registry, &a.source, 3, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_write_queue_flush_unix(&queue, &a), 1);
    ck_assert_int_eq(evsrc_write_queue_update_interest(&queue, registry, &a.source, 3, EVSRC_READABLE), 1);
    ck_assert_int_eq(evsrc_write_queue_update_interest(&queue, registry, &a.source, 3, EVSRC_READABLE), 0);
    /* Writable is off again: only the peer's data wakes it. */
    testutil_expect_quiet(3);
    ck_assert_int_eq(evsrc_unix_stream_write(&b, "x", 1), 1);
    ck_assert(testutil_expect_event(3) & EVSRC_EVENT_FLAG_IN);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &req);
    char buf[8];
    ck_assert_int_eq(evsrc_unix_stream_read(&b, buf, sizeof buf), 5);
    ck_assert_mem_eq(buf, "hello", 5);
    ck_assert_int_eq(evsrc_registry_deregister(registry, &a.source), 0);
    evsrc_unix_stream_close(&a);
    evsrc_unix_stream_close(&b);
}
END_TEST

/* The peer goes away mid-queue: the head comes back with the error (part written), cancel returns the rest. */
static void peer_gone(enum stream_kind kind)
{
    enum { N = 4, BIG = 1 << 20 };
    unsigned char *big = calloc(1, BIG);
    ck_assert_ptr_nonnull(big);
    struct stream_pair pair;
    stream_pair_open(&pair, kind);
    struct evsrc_write_queue queue;
    evsrc_write_queue_init(&queue);
    struct evsrc_write_request reqs[N];
    for (int i = 0; i < N; i++) {
        evsrc_write_request_init_buffer(&reqs[i], big, BIG);
        evsrc_write_queue_push(&queue, &reqs[i]);
    }
    ck_assert_int_eq(stream_pair_flush(&pair, &queue), 0);
    size_t written = evsrc_write_request_written(&reqs[0]);
    ck_assert_uint_gt(written, 0);
    ck_assert_uint_lt(written, BIG);
    /* The reader leaves with unread data: a reset for TCP, EPIPE for the others. */
    stream_pair_close_reader(&pair);
    int r = stream_pair_flush(&pair, &queue);
    ck_assert_msg(r == -EPIPE || r == -ECONNRESET, "flush returned %d", r);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &reqs[0]);
    ck_assert_int_eq(evsrc_write_request_error(&reqs[0]), r);
    ck_assert_uint_eq(evsrc_write_request_written(&reqs[0]), written);
    ck_assert_ptr_null(evsrc_write_queue_pop(&queue));
    ck_assert_uint_eq(evsrc_write_queue_pending(&queue), N - 1);
    ck_assert_uint_eq(evsrc_write_queue_pending_bytes(&queue), (size_t)(N - 1) * BIG);
    ck_assert_uint_eq(evsrc_write_queue_cancel(&queue), N - 1);
    for (int i = 1; i < N; i++) {
        ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &reqs[i]);
        ck_assert_int_eq(evsrc_write_request_error(&reqs[i]), -ECANCELED);
    }
    ck_assert_uint_eq(evsrc_write_queue_pending_bytes(&queue), 0);
    /* Closed writer: -EBADF, with the request handed back too. */
    stream_pair_close(&pair);
    evsrc_write_queue_push(&queue, &reqs[0]);
    ck_assert_int_eq(stream_pair_flush(&pair, &queue), -EBADF);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &reqs[0]);
    free(big);
}

START_TEST(peer_gone_unix_stream)
{
    peer_gone(STREAM_UNIX);
}
END_TEST

START_TEST(peer_gone_tcp)
{
    peer_gone(STREAM_TCP);
}
END_TEST

START_TEST(peer_gone_pipe_without_sigpipe)
{
    peer_gone(STREAM_PIPE); /* a SIGPIPE would end the test process */
}
END_TEST

/* ---- Datagrams ----------------------------------------------------------------------- */

static void bind_loopback_udp(struct evsrc_udp_socket *udp, struct sockaddr_storage *addr, socklen_t *len)
{
    struct sockaddr_storage any;
    socklen_t any_len;
    ck_assert_int_eq(evsrc_address_parse("127.0.0.1:0", &any, &any_len), 0);
    ck_assert_int_eq(evsrc_udp_socket_bind(udp, (const struct sockaddr *)&any, any_len), 0);
    *len = sizeof *addr;
    ck_assert_int_eq(evsrc_udp_socket_local_addr(udp, addr, len), 0);
}

START_TEST(udp_datagrams_keep_their_order_and_boundaries)
{
    enum { ROUNDS = 20, WINDOW = 50 };
    struct evsrc_udp_socket tx, rx;
    struct sockaddr_storage rx_addr, tx_addr;
    socklen_t rx_len, tx_len;
    bind_loopback_udp(&tx, &tx_addr, &tx_len);
    bind_loopback_udp(&rx, &rx_addr, &rx_len);
    int size = 1 << 20;
    setsockopt(evsrc_udp_socket_fd(&rx), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    static struct evsrc_write_request reqs[WINDOW];
    static uint32_t headers[WINDOW];
    static unsigned char bodies[WINDOW][600];
    static struct iovec iovs[WINDOW][2];
    struct evsrc_write_queue queue;
    evsrc_write_queue_init(&queue);
    uint32_t sequence = 0, expected = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < WINDOW; i++) {
            size_t len = (sequence * 37u) % 600;
            headers[i] = sequence;
            memset(bodies[i], (int)(sequence & 0xff), len);
            iovs[i][0] = (struct iovec){&headers[i], sizeof headers[i]};
            iovs[i][1] = (struct iovec){bodies[i], len};
            ck_assert_int_eq(evsrc_write_request_init(&reqs[i], iovs[i], 2), 0);
            const struct sockaddr *to = (const struct sockaddr *)&rx_addr;
            ck_assert_int_eq(evsrc_write_request_set_destination(&reqs[i], to, rx_len), 0);
            ck_assert_int_eq(evsrc_write_queue_push(&queue, &reqs[i]), 0);
            sequence++;
        }
        ck_assert_int_eq(evsrc_write_queue_flush_udp(&queue, &tx), 1);
        for (int i = 0; i < WINDOW; i++) {
            ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &reqs[i]);
            ck_assert_int_eq(evsrc_write_request_error(&reqs[i]), 0);
            ck_assert_uint_eq(evsrc_write_request_written(&reqs[i]), 4 + iovs[i][1].iov_len);
        }
        for (int i = 0; i < WINDOW; i++) {
            unsigned char buf[700];
            testutil_await_fd(evsrc_udp_socket_fd(&rx), POLLIN);
            ssize_t n = evsrc_udp_socket_recv(&rx, buf, sizeof buf);
            size_t len = (expected * 37u) % 600;
            ck_assert_int_eq(n, (ssize_t)(4 + len));
            uint32_t got;
            memcpy(&got, buf, 4);
            ck_assert_uint_eq(got, expected);
            for (size_t k = 0; k < len; k++)
                ck_assert_uint_eq(buf[4 + k], expected & 0xff);
            expected++;
        }
    }
    evsrc_udp_socket_close(&tx);
    evsrc_udp_socket_close(&rx);
}
END_TEST

START_TEST(udp_error_mid_queue_hands_back_that_datagram_and_goes_on)
{
    struct evsrc_udp_socket tx, rx;
    struct sockaddr_storage rx_addr, tx_addr;
    socklen_t rx_len, tx_len;
    bind_loopback_udp(&tx, &tx_addr, &tx_len);
    bind_loopback_udp(&rx, &rx_addr, &rx_len);
    ck_assert_int_eq(evsrc_udp_socket_connect(&tx, (const struct sockaddr *)&rx_addr, rx_len), 0);
    static unsigned char too_big[70000];
    struct evsrc_write_request a, b, c;
    evsrc_write_request_init_buffer(&a, "first", 5);
    evsrc_write_request_init_buffer(&b, too_big, sizeof too_big);
    evsrc_write_request_init_buffer(&c, "third", 5);
    struct evsrc_write_queue queue;
    evsrc_write_queue_init(&queue);
    evsrc_write_queue_push(&queue, &a);
    evsrc_write_queue_push(&queue, &b);
    evsrc_write_queue_push(&queue, &c);
    ck_assert_int_eq(evsrc_write_queue_flush_udp(&queue, &tx), -EMSGSIZE);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &a);
    ck_assert_int_eq(evsrc_write_request_error(&a), 0);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &b);
    ck_assert_int_eq(evsrc_write_request_error(&b), -EMSGSIZE);
    ck_assert_uint_eq(evsrc_write_request_written(&b), 0);
    ck_assert_uint_eq(evsrc_write_queue_pending_bytes(&queue), 5);
    ck_assert_int_eq(evsrc_write_queue_flush_udp(&queue, &tx), 1);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &c);
    char buf[16];
    testutil_await_fd(evsrc_udp_socket_fd(&rx), POLLIN);
    ck_assert_int_eq(evsrc_udp_socket_recv(&rx, buf, sizeof buf), 5);
    ck_assert_mem_eq(buf, "first", 5);
    testutil_await_fd(evsrc_udp_socket_fd(&rx), POLLIN);
    ck_assert_int_eq(evsrc_udp_socket_recv(&rx, buf, sizeof buf), 5);
    ck_assert_mem_eq(buf, "third", 5);
    /* Unconnected, no destination: the socket's error for that datagram. */
    struct evsrc_udp_socket lone;
    bind_loopback_udp(&lone, &tx_addr, &tx_len);
    evsrc_write_queue_push(&queue, &a);
    ck_assert_int_eq(evsrc_write_queue_flush_udp(&queue, &lone), -EDESTADDRREQ);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &a);
    evsrc_udp_socket_close(&lone);
    evsrc_udp_socket_close(&tx);
    evsrc_udp_socket_close(&rx);
}
END_TEST

/* Unix datagrams block (EAGAIN) rather than drop: a full receiver, then every datagram in order. */
START_TEST(unix_datagrams_meet_eagain_and_keep_their_order)
{
    enum { N = 2000 };
    struct evsrc_unix_datagram tx, rx;
    ck_assert_int_eq(evsrc_unix_datagram_pair(&tx, &rx), 0);
    static struct evsrc_write_request reqs[N];
    static uint32_t values[N];
    struct evsrc_write_queue queue;
    evsrc_write_queue_init(&queue);
    for (uint32_t i = 0; i < N; i++) {
        values[i] = i;
        evsrc_write_request_init_buffer(&reqs[i], &values[i], sizeof values[i]);
        evsrc_write_queue_push(&queue, &reqs[i]);
    }
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &tx.source, 4, EVSRC_READABLE), 0);
    uint32_t expected = 0;
    int popped = 0, stalls = 0;
    long long deadline = testutil_now_ms() + 50000;
    while (expected < N && testutil_now_ms() < deadline) {
        int r = evsrc_write_queue_flush_unix_datagram(&queue, &tx);
        ck_assert_int_ge(r, 0);
        stalls += r == 0;
        ck_assert_int_ge(evsrc_write_queue_update_interest(&queue, testutil_fx.registry, &tx.source, 4,
                                                           EVSRC_READABLE), 0);
        for (struct evsrc_write_request *done; (done = evsrc_write_queue_pop(&queue));)
            ck_assert_ptr_eq(done, &reqs[popped++]);
        uint32_t got;
        ssize_t n;
        while ((n = evsrc_unix_datagram_recv(&rx, &got, sizeof got)) == 4) {
            ck_assert_uint_eq(got, expected);
            expected++;
        }
        ck_assert_int_eq(n, -EAGAIN);
        if (r == 0)
            ck_assert(testutil_wait_token(testutil_fx.poll, testutil_fx.events, 4, NULL));
    }
    ck_assert_uint_eq(expected, N);
    ck_assert_int_eq(popped, N);
    ck_assert_int_gt(stalls, 0);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &tx.source), 0);

    /* Two buffers do not fit its one-buffer send: handed back with -EINVAL, and the next goes on. */
    struct iovec two[2] = {{values, 4}, {values + 1, 4}};
    struct evsrc_write_request multi;
    evsrc_write_request_init(&multi, two, 2);
    evsrc_write_queue_push(&queue, &multi);
    evsrc_write_request_init_buffer(&reqs[0], &values[7], 4);
    evsrc_write_queue_push(&queue, &reqs[0]);
    ck_assert_int_eq(evsrc_write_queue_flush_unix_datagram(&queue, &tx), -EINVAL);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &multi);
    ck_assert_int_eq(evsrc_write_request_error(&multi), -EINVAL);
    /* A destination that is not AF_UNIX: -EINVAL too. */
    struct sockaddr_in inet = {.sin_family = AF_INET};
    struct evsrc_write_request wrong;
    evsrc_write_request_init_buffer(&wrong, "x", 1);
    evsrc_write_request_set_destination(&wrong, (const struct sockaddr *)&inet, sizeof inet);
    evsrc_write_queue_push(&queue, &wrong);
    ck_assert_int_eq(evsrc_write_queue_flush_unix_datagram(&queue, &tx), -EINVAL);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &reqs[0]);
    ck_assert_int_eq(evsrc_write_request_error(&reqs[0]), 0);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &wrong);
    uint32_t got;
    ck_assert_int_eq(evsrc_unix_datagram_recv(&rx, &got, sizeof got), 4);
    ck_assert_uint_eq(got, 7);
    /* To a bound path by destination, from an unbound socket. */
    char dir[] = "/tmp/evsrc-wq-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/d", dir);
    struct evsrc_unix_datagram bound, unbound;
    ck_assert_int_eq(evsrc_unix_datagram_bind(&bound, path), 0);
    ck_assert_int_eq(evsrc_unix_datagram_unbound(&unbound), 0);
    struct sockaddr_un un;
    socklen_t un_len;
    ck_assert_int_eq(evsrc_unix_addr_path(&un, &un_len, path), 0);
    struct evsrc_write_request addressed;
    evsrc_write_request_init_buffer(&addressed, "to", 2);
    evsrc_write_request_set_destination(&addressed, (const struct sockaddr *)&un, un_len);
    evsrc_write_queue_push(&queue, &addressed);
    ck_assert_int_eq(evsrc_write_queue_flush_unix_datagram(&queue, &unbound), 1);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &addressed);
    ck_assert_int_eq(evsrc_write_request_error(&addressed), 0);
    char text[4];
    ck_assert_int_eq(evsrc_unix_datagram_recv(&bound, text, sizeof text), 2);
    ck_assert_mem_eq(text, "to", 2);
    evsrc_unix_datagram_close(&bound);
    evsrc_unix_datagram_close(&unbound);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    /* An empty request is an empty datagram. */
    struct evsrc_write_request empty;
    evsrc_write_request_init(&empty, NULL, 0);
    evsrc_write_queue_push(&queue, &empty);
    ck_assert_int_eq(evsrc_write_queue_flush_unix_datagram(&queue, &tx), 1);
    ck_assert_int_eq(evsrc_unix_datagram_recv(&rx, &got, sizeof got), 0);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &empty);
    evsrc_unix_datagram_close(&tx);
    evsrc_unix_datagram_close(&rx);
}
END_TEST

/* The generic datagram form: EINTR retried, EAGAIN stops, a claim past the datagram is -EIO. */
struct fake_socket {
    int calls;
    const ssize_t *script;
    int script_len;
    const struct sockaddr *last_to;
};

static ssize_t fake_send(void *context, const struct iovec *iov, int iovcnt, const struct sockaddr *to,
                         socklen_t tolen)
{
    struct fake_socket *fake = context;
    int call = fake->calls++;
    fake->last_to = to;
    ck_assert_int_eq(to == NULL, tolen == 0);
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (call < fake->script_len && fake->script[call] != 0)
        return fake->script[call] == 1 ? (ssize_t)total + 1 : fake->script[call];
    return (ssize_t)total;
}

START_TEST(generic_datagram_flush)
{
    struct evsrc_write_queue queue;
    evsrc_write_queue_init(&queue);
    struct evsrc_write_request a, b;
    struct sockaddr_in to = {.sin_family = AF_INET};
    evsrc_write_request_init_buffer(&a, "aa", 2);
    evsrc_write_request_set_destination(&a, (const struct sockaddr *)&to, sizeof to);
    evsrc_write_request_init_buffer(&b, "bbb", 3);
    evsrc_write_queue_push(&queue, &a);
    evsrc_write_queue_push(&queue, &b);
    static const ssize_t script[] = {-EINTR, -EAGAIN, 0, 1};
    struct fake_socket fake = {.script = script, .script_len = 4};
    ck_assert_int_eq(evsrc_write_queue_flush_datagram(&queue, fake_send, &fake), 0);
    ck_assert_int_eq(fake.calls, 2);
    ck_assert_int_eq(evsrc_write_queue_flush_datagram(&queue, fake_send, &fake), -EIO);
    ck_assert_ptr_eq(fake.last_to, NULL);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &a);
    ck_assert_uint_eq(evsrc_write_request_written(&a), 2);
    ck_assert_ptr_eq(evsrc_write_queue_pop(&queue), &b);
    ck_assert_int_eq(evsrc_write_request_error(&b), -EIO);
    ck_assert_int_eq(evsrc_write_queue_flush_datagram(&queue, fake_send, &fake), 1);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("write_queue");
    TCase *tc = testutil_add_tcase(suite, "write_queue");
    tcase_add_test(tc, requests_refuse_bad_input);
    tcase_add_test(tc, queues_refuse_bad_input);
    tcase_add_test(tc, stream_flush_writes_every_byte_in_order_over_short_writes);
    tcase_add_test(tc, stream_flush_gathers_at_most_64_buffers_and_resumes_midway);
    tcase_add_test(tc, stream_flush_errors_hand_back_the_head);
    tcase_add_test(tc, torture_unix_stream);
    tcase_add_test(tc, torture_tcp);
    tcase_add_test(tc, torture_pipe);
    tcase_add_test(tc, update_interest_switches_only_on_a_change);
    tcase_add_test(tc, peer_gone_unix_stream);
    tcase_add_test(tc, peer_gone_tcp);
    tcase_add_test(tc, peer_gone_pipe_without_sigpipe);
    tcase_add_test(tc, udp_datagrams_keep_their_order_and_boundaries);
    tcase_add_test(tc, udp_error_mid_queue_hands_back_that_datagram_and_goes_on);
    tcase_add_test(tc, unix_datagrams_meet_eagain_and_keep_their_order);
    tcase_add_test(tc, generic_datagram_flush);
    return testutil_run(suite);
}
