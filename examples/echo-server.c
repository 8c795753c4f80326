/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* pipe2, O_CLOEXEC and sigaction under -std=c11; before any #include */
/*
 * echo-server: sends every byte each client sends back to it.
 *
 *     echo-server [PORT [ADDRESS [IDLE_SECONDS]]]    default: 7777 on 127.0.0.1, 60 s
 *
 * One thread, one poll, one listener, one timer queue holding every
 * connection's idle timeout (closed after IDLE_SECONDS without data), and
 * one heap-allocated connection struct per client whose address is its
 * token. It shows the three things
 * an edge-triggered loop must get right:
 *   - drain: after an event, read (and accept) until -EAGAIN, since no new
 *     event comes for data that was already there;
 *   - back-pressure: when a client reads slower than it writes, keep the
 *     unsent bytes, stop reading, and resume on the WRITABLE event;
 *   - clean shutdown: SIGINT or SIGTERM ends the loop and frees everything.
 * Try it with: nc 127.0.0.1 7777
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evsrc/evsrc.h>

/* Connection tokens are heap addresses, which are never this small. */
#define LISTENER_TOKEN ((evsrc_token)1)
#define SIGNAL_TOKEN ((evsrc_token)2)
#define TIMERS_TOKEN ((evsrc_token)3)

/*
 * Idle timeouts: a connection with nothing to read for this long is closed.
 * Every connection's timer sits in one timer queue (one fd for all of them),
 * and the reset on every read costs no system call.
 */
#define IDLE_SECONDS_DEFAULT 60

struct connection {
    struct evsrc_tcp_stream stream;
    struct evsrc_timer idle;        /* restarted on every read; expiry closes the connection */
    struct connection *prev, *next; /* every open connection, so shutdown can free them */
    size_t start, end;              /* buf[start, end) is read but not yet echoed */
    char buf[16384];
};

struct server {
    struct evsrc_registry *registry;
    struct evsrc_tcp_listener listener;
    struct connection *connections;
    bool accept_stalled; /* out of fds or memory: connections are left pending */
    struct evsrc_timers timers;    /* every connection's idle timer */
    struct timespec idle_timeout;
};

/* ---- Signals ------------------------------------------------------------ */

static volatile sig_atomic_t stop_requested;
static int signal_pipe[2] = {-1, -1};

/*
 * The flag alone would be racy: a signal landing after the loop tests it but
 * before evsrc_poll_wait() blocks would go unnoticed until the next client
 * event. So the handler also writes to a pipe the poll watches.
 */
static void on_stop_signal(int signo)
{
    (void)signo;
    int saved_errno = errno;
    stop_requested = 1;
    /* A full pipe is fine: a byte is already waiting to wake the loop. */
    ssize_t ignored = write(signal_pipe[1], "", 1);
    (void)ignored;
    errno = saved_errno;
}

static int watch_stop_signals(struct evsrc_registry *registry, struct evsrc_source_fd *source)
{
    if (pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
        return -errno;
    int r = evsrc_source_fd_init(source, signal_pipe[0]);
    if (r == 0)
        r = evsrc_registry_register(registry, &source->source, SIGNAL_TOKEN, EVSRC_READABLE);
    if (r < 0)
        return r;
    /* No SA_RESTART: a wait interrupted by the signal returns -EINTR at once. */
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGINT, &action, NULL) < 0 || sigaction(SIGTERM, &action, NULL) < 0)
        return -errno;
    /* SIGPIPE needs nothing: evsrc's writes never raise it. */
    return 0;
}

/* ---- Connections -------------------------------------------------------- */

static void connection_close(struct server *server, struct connection *conn)
{
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        server->connections = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    evsrc_timers_stop(&server->timers, &conn->idle);
    /*
     * Closing removes the socket from the poll. Later events of the same
     * wait cannot name this connection: a wait reports each fd at most once.
     */
    evsrc_tcp_stream_close(&conn->stream);
    free(conn);
}

/* Sends the buffered bytes: 0 once all are sent, -EAGAIN if the client is not reading. */
static int flush(struct connection *conn)
{
    while (conn->start < conn->end) {
        ssize_t n = evsrc_tcp_stream_write(&conn->stream, conn->buf + conn->start, conn->end - conn->start);
        if (n < 0)
            return (int)n;
        conn->start += (size_t)n;
    }
    conn->start = conn->end = 0;
    return 0;
}

/*
 * Echoes until the socket would block either way. Returns false when the
 * connection is finished: the client closed and all was echoed, or an error.
 *
 * Readiness is only a hint, so whatever the event said, both directions are
 * tried; each ends in -EAGAIN, which re-arms its edge-triggered event. The
 * buffer is refilled only once it is empty, so a client that never reads
 * costs one buffer, not unbounded memory: its unread data waits in the
 * kernel until the WRITABLE event lets us flush and read again.
 *
 * A busy client is served until it blocks. A server that must be fair under
 * load would cap the rounds per event and revisit such a connection itself
 * (no new event would come for it).
 */
static bool echo(struct server *server, struct connection *conn)
{
    for (;;) {
        int r = flush(conn);
        if (r == -EAGAIN)
            return true; /* the WRITABLE event brings us back */
        if (r < 0) {
            fprintf(stderr, "echo-server: write: %s\n", strerror(-r));
            return false;
        }
        ssize_t n = evsrc_tcp_stream_read(&conn->stream, conn->buf, sizeof conn->buf);
        if (n == -EAGAIN)
            return true; /* drained: the next READABLE event is owed */
        if (n == 0)
            return false; /* the client closed, and everything it sent was echoed */
        if (n < 0) {
            fprintf(stderr, "echo-server: read: %s\n", strerror((int)-n));
            return false;
        }
        conn->end = (size_t)n;
        /* Activity: push the idle deadline back. A restart to a later deadline is a few stores. */
        evsrc_timers_start(&server->timers, &conn->idle, &server->idle_timeout, NULL);
    }
}

/* Takes every pending connection: the listener's event is edge-triggered too. */
static void accept_all(struct server *server)
{
    server->accept_stalled = false;
    for (;;) {
        struct connection *conn = malloc(sizeof *conn);
        if (!conn) {
            server->accept_stalled = true;
            return;
        }
        int r = evsrc_tcp_listener_accept(&server->listener, &conn->stream, NULL, NULL);
        if (r < 0) {
            free(conn);
            if (r == -EAGAIN)
                return;
            if (r == -ECONNABORTED)
                continue; /* that client gave up; others may be waiting */
            /*
             * Out of fds or memory. The client stays queued, but no new event
             * comes for it, so retry once a connection closes (see main).
             */
            fprintf(stderr, "echo-server: accept: %s\n", strerror(-r));
            server->accept_stalled = true;
            return;
        }
        conn->start = conn->end = 0;
        evsrc_timer_init(&conn->idle, (evsrc_token)(uintptr_t)conn);
        /*
         * Both directions, once: edge-triggered WRITABLE fires only when room
         * appears after a write hit -EAGAIN, so it costs nothing while idle
         * and spares a reregister call each time a client falls behind.
         * Data that arrived before this call is reported at once.
         */
        r = evsrc_registry_register(server->registry, &conn->stream.source, (evsrc_token)(uintptr_t)conn,
                                    EVSRC_READABLE | EVSRC_WRITABLE);
        if (r == 0)
            r = evsrc_timers_start(&server->timers, &conn->idle, &server->idle_timeout, NULL);
        if (r < 0) {
            fprintf(stderr, "echo-server: register: %s\n", strerror(-r));
            evsrc_tcp_stream_close(&conn->stream);
            free(conn);
            continue;
        }
        conn->prev = NULL;
        conn->next = server->connections;
        if (conn->next)
            conn->next->prev = conn;
        server->connections = conn;
    }
}

/* ---- Setup -------------------------------------------------------------- */

static bool parse_address(int argc, char **argv, struct sockaddr_storage *addr, socklen_t *addrlen,
                          struct timespec *idle_timeout)
{
    const char *port_text = argc > 1 ? argv[1] : "7777";
    const char *host = argc > 2 ? argv[2] : "127.0.0.1";
    const char *idle_text = argc > 3 ? argv[3] : NULL;
    char *end;
    errno = 0;
    unsigned long port = strtoul(port_text, &end, 10);
    if (argc > 4 || errno || end == port_text || *end || port > 65535)
        return false;
    unsigned long idle = IDLE_SECONDS_DEFAULT;
    if (idle_text) {
        idle = strtoul(idle_text, &end, 10);
        if (errno || end == idle_text || *end || idle == 0 || idle > 86400)
            return false;
    }
    *idle_timeout = (struct timespec){(time_t)idle, 0};

    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *in4 = (struct sockaddr_in *)(void *)addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)addr;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *addrlen = sizeof *in4;
        return true;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *addrlen = sizeof *in6;
        return true;
    }
    return false;
}

/* Prints the address actually bound, which tells the port when 0 was asked for. */
static void print_listening(const struct evsrc_tcp_listener *listener)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    if (evsrc_tcp_listener_local_addr(listener, &addr, &len) < 0)
        return;
    char host[INET6_ADDRSTRLEN];
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)&addr;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)&addr;
    if (addr.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        printf("echo-server: listening on [%s]:%u\n", host, (unsigned)ntohs(in6->sin6_port));
    } else {
        inet_ntop(AF_INET, &in4->sin_addr, host, sizeof host);
        printf("echo-server: listening on %s:%u\n", host, (unsigned)ntohs(in4->sin_port));
    }
    /* Scripts that wait for this line may read stdout through a pipe. */
    fflush(stdout);
}

/* Closes every connection whose idle timer expired. */
static void close_idle(struct server *server)
{
    struct evsrc_timer *timer;
    while (evsrc_timers_expired(&server->timers, &timer) == 0)
        connection_close(server, evsrc_container_of(timer, struct connection, idle));
}

/* Waits for events and dispatches them until a stop signal or a fatal error. */
static int run(struct evsrc_poll *poll, struct evsrc_events *events, struct server *server)
{
    while (!stop_requested) {
        int n = evsrc_poll_wait(poll, events, NULL);
        if (n == -EINTR)
            continue; /* a signal: the loop condition decides whether to stop */
        if (n < 0) {
            fprintf(stderr, "echo-server: wait: %s\n", strerror(-n));
            return 1;
        }
        bool closed_any = false, timers_due = false;
        for (size_t i = 0; i < (size_t)n; i++) {
            evsrc_token token = evsrc_event_token(evsrc_events_get(events, i));
            if (token == SIGNAL_TOKEN)
                continue; /* the handler has set stop_requested */
            if (token == TIMERS_TOKEN) {
                /* After this wait's other events, which may name a connection the drain closes. */
                timers_due = true;
                continue;
            }
            if (token == LISTENER_TOKEN) {
                accept_all(server);
                continue;
            }
            struct connection *conn = (struct connection *)(uintptr_t)token;
            if (!echo(server, conn)) {
                connection_close(server, conn);
                closed_any = true;
            }
        }
        if (timers_due) {
            close_idle(server);
            closed_any = true;
        }
        if (closed_any && server->accept_stalled)
            accept_all(server);
    }
    return 0;
}

/* Listens on addr and serves until stopped; returns the exit status. */
static int serve(struct evsrc_poll *poll, struct evsrc_events *events, const struct sockaddr_storage *addr,
                 socklen_t addrlen, struct timespec idle_timeout)
{
    struct server server = {.registry = evsrc_poll_registry(poll), .connections = NULL, .idle_timeout = idle_timeout};
    int r = evsrc_timers_new(&server.timers, CLOCK_MONOTONIC);
    if (r < 0) {
        fprintf(stderr, "echo-server: timers: %s\n", strerror(-r));
        return 1;
    }
    r = evsrc_tcp_listener_bind(&server.listener, (const struct sockaddr *)addr, addrlen);
    if (r < 0) {
        fprintf(stderr, "echo-server: bind: %s\n", strerror(-r));
        evsrc_timers_close(&server.timers);
        return 1;
    }
    struct evsrc_source_fd signal_source;
    r = evsrc_registry_register(server.registry, &server.timers.source, TIMERS_TOKEN, EVSRC_READABLE);
    if (r == 0)
        r = evsrc_registry_register(server.registry, &server.listener.source, LISTENER_TOKEN, EVSRC_READABLE);
    if (r == 0)
        r = watch_stop_signals(server.registry, &signal_source);
    int status = 1;
    if (r < 0)
        fprintf(stderr, "echo-server: setup: %s\n", strerror(-r));
    else {
        print_listening(&server.listener);
        status = run(poll, events, &server);
        puts("echo-server: stopping");
    }
    /* Closing a source removes it from the poll: no deregister needed. */
    while (server.connections)
        connection_close(&server, server.connections);
    evsrc_tcp_listener_close(&server.listener);
    evsrc_timers_close(&server.timers);
    return status;
}

int main(int argc, char **argv)
{
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct timespec idle_timeout;
    if (!parse_address(argc, argv, &addr, &addrlen, &idle_timeout)) {
        fprintf(stderr, "usage: %s [PORT [ADDRESS [IDLE_SECONDS]]]   (default: 7777 127.0.0.1 %d)\n", argv[0],
                IDLE_SECONDS_DEFAULT);
        return 2;
    }
    struct evsrc_poll *poll = NULL;
    struct evsrc_events *events = NULL;
    int status = 1;
    int r = evsrc_poll_new(&poll);
    if (r == 0)
        r = evsrc_events_new(256, &events);
    if (r < 0)
        fprintf(stderr, "echo-server: setup: %s\n", strerror(-r));
    else
        status = serve(poll, events, &addr, addrlen, idle_timeout);
    for (int i = 0; i < 2; i++)
        if (signal_pipe[i] >= 0)
            close(signal_pipe[i]);
    evsrc_events_free(events);
    evsrc_poll_free(poll);
    return status;
}
