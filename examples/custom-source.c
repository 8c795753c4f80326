/* SPDX-License-Identifier: MIT */
/*
 * custom-source: a composite source defined entirely outside the library.
 *
 * A deadline_stream is a connected stream socket with an idle deadline: a
 * timerfd that fires when no data has arrived for a set time. Its ops
 * register both fds under the caller's one token, so a single event means
 * "data or timeout", and deadline_stream_read() tells which.
 *
 * The program plays both ends of a socketpair: the peer sends one message
 * per event until it runs out, then falls silent, the deadline passes, and
 * the program exits 0. docs/custom-sources.md walks through this file.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <evsrc/evsrc.h>

struct deadline_stream {
    int sock;             /* connected, nonblocking stream socket; owned */
    int timer;            /* nonblocking timerfd; owned */
    struct timespec idle; /* how long without data before the deadline passes */
    /*
     * What the queue holds now, so that a failed reregister can restore it.
     * The ops write these: reregister one stream from one thread at a time.
     */
    evsrc_token token;
    evsrc_interest interests;
    struct evsrc_source source;
};

/* The timer is only ever read, but follows the caller's trigger modifiers. */
static evsrc_interest timer_interests(evsrc_interest interests)
{
    return EVSRC_READABLE | (interests & (EVSRC_LEVEL | EVSRC_ONESHOT));
}

static int deadline_stream_register(struct evsrc_source *source, struct evsrc_registry *registry,
                                    evsrc_token token, evsrc_interest interests)
{
    struct deadline_stream *self = evsrc_container_of(source, struct deadline_stream, source);
    int r = evsrc_registry_register_fd(registry, self->sock, token, interests);
    if (r < 0)
        return r;
    r = evsrc_registry_register_fd(registry, self->timer, token, timer_interests(interests));
    if (r < 0) {
        /* A failed register must leave nothing behind: take the socket out again. */
        evsrc_registry_deregister_fd(registry, self->sock);
        return r;
    }
    self->token = token;
    self->interests = interests;
    return 0;
}

static int deadline_stream_reregister(struct evsrc_source *source, struct evsrc_registry *registry,
                                      evsrc_token token, evsrc_interest interests)
{
    struct deadline_stream *self = evsrc_container_of(source, struct deadline_stream, source);
    int r = evsrc_registry_reregister_fd(registry, self->sock, token, interests);
    if (r < 0)
        return r;
    r = evsrc_registry_reregister_fd(registry, self->timer, token, timer_interests(interests));
    if (r < 0) {
        /* Put the socket back as it was, so that both fds still report alike. */
        evsrc_registry_reregister_fd(registry, self->sock, self->token, self->interests);
        return r;
    }
    self->token = token;
    self->interests = interests;
    return 0;
}

static int deadline_stream_deregister(struct evsrc_source *source, struct evsrc_registry *registry)
{
    struct deadline_stream *self = evsrc_container_of(source, struct deadline_stream, source);
    /* Try both, whatever the first says, and report the first failure. */
    int r_sock = evsrc_registry_deregister_fd(registry, self->sock);
    int r_timer = evsrc_registry_deregister_fd(registry, self->timer);
    return r_sock < 0 ? r_sock : r_timer;
}

static const struct event_source_ops deadline_stream_ops = {
    .register_source = deadline_stream_register,
    .reregister_source = deadline_stream_reregister,
    .deregister_source = deadline_stream_deregister,
};

/* Starts the idle countdown again; it fires once, `idle` from now. */
static int deadline_stream_arm(struct deadline_stream *self)
{
    struct itimerspec when = {.it_value = self->idle};
    return timerfd_settime(self->timer, 0, &when, NULL) < 0 ? -errno : 0;
}

/*
 * Sets up a stream around `sock`, a connected nonblocking stream socket, and
 * starts its countdown. The stream owns `sock` once this succeeds; on failure
 * the caller still does. Reinitialises the whole struct, registration record
 * included, so a closed stream's memory can be opened again.
 */
static int deadline_stream_open(struct deadline_stream *self, int sock, long idle_ms)
{
    int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer < 0)
        return -errno;
    *self = (struct deadline_stream){
        .sock = sock,
        .timer = timer,
        .idle = {idle_ms / 1000, (idle_ms % 1000) * 1000000L},
        .source = EVSRC_SOURCE_INIT(&deadline_stream_ops),
    };
    int r = deadline_stream_arm(self);
    if (r < 0) {
        close(timer);
        self->timer = -1;
    }
    return r;
}

/*
 * Closes both fds, which takes them out of any queue. Deregister first while
 * the queue lives, all the same: closing leaves the struct's registration
 * record set, and only deregister (or deadline_stream_open(), which starts
 * the struct afresh) clears it.
 */
static void deadline_stream_close(struct deadline_stream *self)
{
    close(self->sock);
    close(self->timer);
    self->sock = -1;
    self->timer = -1;
}

/*
 * Reads what has arrived. Returns the number of bytes read (data restarts
 * the countdown), 0 at end of stream, -ETIMEDOUT once nothing has arrived
 * for the idle time (the countdown then stays stopped until data comes),
 * -EAGAIN when neither has happened yet, or another -errno. After an event,
 * call it until it returns anything but a byte count: the registration is
 * edge-triggered, so both fds must be drained.
 */
static ssize_t deadline_stream_read(struct deadline_stream *self, void *buf, size_t len)
{
    ssize_t n = recv(self->sock, buf, len, 0);
    if (n > 0) {
        int r = deadline_stream_arm(self);
        return r < 0 ? r : n;
    }
    if (n == 0)
        return 0;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
        return -errno;
    /* Nothing to read: has the deadline passed? Arming resets the count, so
     * a deadline that passed before the last data is not reported. */
    uint64_t expirations;
    if (read(self->timer, &expirations, sizeof expirations) == (ssize_t)sizeof expirations)
        return -ETIMEDOUT;
    return errno == EAGAIN ? -EAGAIN : -errno;
}

#define STREAM_TOKEN ((evsrc_token)7)
#define IDLE_MS 300L

/*
 * Drains the stream after an event. Returns 1 when the conversation is over,
 * 0 to wait for the next event, or -errno.
 */
static int handle_stream_event(struct deadline_stream *stream)
{
    char buf[256];
    for (;;) {
        ssize_t n = deadline_stream_read(stream, buf, sizeof buf);
        if (n > 0) {
            printf("received %zd bytes: %.*s\n", n, (int)n, buf);
        } else if (n == -EAGAIN) {
            return 0;
        } else if (n == -ETIMEDOUT) {
            printf("no data for %ld ms: deadline passed\n", IDLE_MS);
            return 1;
        } else if (n == 0) {
            printf("peer closed the stream\n");
            return 1;
        } else {
            return (int)n;
        }
    }
}

/* Waits for events and handles them; the peer sends its next message before each wait. */
static int run(struct evsrc_poll *poll, struct deadline_stream *stream, int peer)
{
    static const char *const messages[] = {"hello", "still here"};
    const size_t count = sizeof messages / sizeof messages[0];
    struct evsrc_events *events;
    int r = evsrc_events_new(16, &events);
    if (r < 0)
        return r;
    for (size_t next = 0;; next++) {
        if (next < count && send(peer, messages[next], strlen(messages[next]), 0) < 0) {
            r = -errno;
            break;
        }
        /* No timeout: the stream's own deadline bounds every wait. */
        do
            r = evsrc_poll_wait(poll, events, NULL);
        while (r == -EINTR);
        if (r < 0)
            break;
        int done = 0;
        for (size_t i = 0; i < evsrc_events_len(events) && done == 0; i++)
            if (evsrc_event_token(evsrc_events_get(events, i)) == STREAM_TOKEN)
                done = handle_stream_event(stream);
        /*
         * Drained to -EAGAIN: re-arm the edge. epoll keeps edges in the kernel
         * and needs no call; a build with the poll(2) backend does (registry.h),
         * so portable code makes it.
         */
        if (done == 0)
            done = evsrc_registry_reregister(evsrc_poll_registry(poll), &stream->source, STREAM_TOKEN,
                                             EVSRC_READABLE);
        if (done != 0) {
            r = done < 0 ? done : 0;
            break;
        }
    }
    evsrc_events_free(events);
    return r;
}

int main(void)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) {
        perror("socketpair");
        return 1;
    }
    struct deadline_stream stream;
    int r = deadline_stream_open(&stream, fds[0], IDLE_MS);
    if (r < 0) {
        fprintf(stderr, "deadline_stream_open: %s\n", strerror(-r));
        close(fds[0]);
        close(fds[1]);
        return 1;
    }
    struct evsrc_poll *poll;
    r = evsrc_poll_new(&poll);
    if (r == 0) {
        struct evsrc_registry *registry = evsrc_poll_registry(poll);
        r = evsrc_registry_register(registry, &stream.source, STREAM_TOKEN, EVSRC_READABLE);
        if (r == 0) {
            r = run(poll, &stream, fds[1]);
            int d = evsrc_registry_deregister(registry, &stream.source);
            r = r < 0 ? r : d;
        }
        evsrc_poll_free(poll);
    }
    deadline_stream_close(&stream);
    close(fds[1]);
    if (r < 0) {
        fprintf(stderr, "custom-source: %s\n", strerror(-r));
        return 1;
    }
    return 0;
}
