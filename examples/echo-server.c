/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* sigset_t and the signalfd types under -std=c11; before any #include */
/*
 * echo-server: sends every byte each client sends back to it.
 *
 *     echo-server [PORT [ADDRESS [IDLE_SECONDS]]]    default: 7777 on 127.0.0.1, 60 s
 *
 * One thread, one poll, one listener, one timer queue holding every
 * connection's idle timeout (closed after IDLE_SECONDS without data), and
 * one heap-allocated connection struct per client whose address is its
 * token. It shows what an edge-triggered loop must get right, with the
 * library's own parts for each:
 *   - drain: after an event, read (and accept) until -EAGAIN, since no new
 *     event comes for data that was already there;
 *   - fairness: a busy client gets a few reads per event, then is put back
 *     as ready (evsrc_deadline_ready_again) to be served again after the
 *     others, with no system call;
 *   - back-pressure: what a client does not read yet waits in its write
 *     queue (<evsrc/write_queue.h>, flushed with writev), writable interest
 *     is on only while it waits, and reading stops once the queue is full;
 *   - lifetime: a connection freed while a batch of events is handled has
 *     its later events dropped (evsrc_events_drop), so no handler sees
 *     freed memory;
 *   - clean shutdown: SIGINT or SIGTERM, through a signalfd
 *     (evsrc_signal), ends the loop and frees everything (on Windows, a
 *     console Ctrl-C or Ctrl-Break, through a waker).
 * Try it with: nc 127.0.0.1 7777
 */

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evsrc/evsrc.h>

/* Connection tokens are heap addresses, which are never this small. */
#define LISTENER_TOKEN ((evsrc_token)1)
#define SIGNAL_TOKEN ((evsrc_token)2)
#define TIMERS_TOKEN ((evsrc_token)3)

/* Idle timeouts: a connection with nothing to read for this long is closed. */
#define IDLE_SECONDS_DEFAULT 60
/* Reads per event before a busy connection yields to the others. */
#define READS_PER_TURN 4
/* Chunks a connection holds: read into free ones, queued for writing, freed when written. */
#define CHUNKS 4
#define CHUNK_SIZE 16384

struct chunk {
    struct evsrc_write_request request;
    char data[CHUNK_SIZE];
};

struct connection {
    struct evsrc_tcp_stream stream;
    struct evsrc_timer idle;        /* restarted on every read; expiry closes the connection */
    struct evsrc_deadline again;    /* put back as ready when it yields with data left */
    struct evsrc_write_queue queue; /* what was read and not yet echoed */
    struct connection *prev, *next; /* every open connection, so shutdown can free them */
    struct chunk *free_chunks[CHUNKS];
    int free_count;
    bool peer_done; /* the client closed its side: finish once the queue drains */
    struct chunk chunks[CHUNKS];
};

struct server {
    struct evsrc_registry *registry;
    struct evsrc_tcp_listener listener;
    struct connection *connections;
    bool accept_stalled; /* out of fds or memory: connections are left pending */
    struct evsrc_timers timers; /* every connection's idle timer */
    struct timespec idle_timeout;
    struct evsrc_events *events; /* the batch being handled, for evsrc_events_drop */
    size_t index;                /* the event being handled */
};

static evsrc_token token_of(const struct connection *conn)
{
    return (evsrc_token)(uintptr_t)conn;
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
    /* Closing removes the socket and the deadline from the poll; pending writes are abandoned. */
    evsrc_write_queue_cancel(&conn->queue);
    evsrc_deadline_close(&conn->again);
    evsrc_tcp_stream_close(&conn->stream);
    /* Later events of this batch may still name it (an idle timeout found it among them): drop them. */
    if (server->events)
        evsrc_events_drop(server->events, server->index + 1, token_of(conn));
    free(conn);
}

/* Returns the chunks the queue is done with to the free list. */
static void reclaim(struct connection *conn)
{
    struct evsrc_write_request *done;
    while ((done = evsrc_write_queue_pop(&conn->queue)))
        conn->free_chunks[conn->free_count++] = evsrc_container_of(done, struct chunk, request);
}

/* Writes what the queue holds and sets writable interest to match: false when the connection failed. */
static bool flush(struct server *server, struct connection *conn)
{
    int r = evsrc_write_queue_flush_tcp(&conn->queue, &conn->stream);
    reclaim(conn);
    if (r < 0) {
        fprintf(stderr, "echo-server: write: %s\n", strerror(-r));
        return false;
    }
    r = evsrc_write_queue_update_interest(&conn->queue, server->registry, &conn->stream.source, token_of(conn),
                                          EVSRC_READABLE);
    return r >= 0;
}

/*
 * Serves one event of a connection. Returns false when it is finished: the
 * client closed and all was echoed, or an error.
 *
 * Readiness is only a hint, so whatever the event said, both directions are
 * tried. Reading stops at READS_PER_TURN (the connection then yields, put
 * back as ready), when the socket is drained (-EAGAIN: the next READABLE
 * event is owed), or when every chunk waits in the queue (back-pressure: the
 * client's data waits in the kernel until the WRITABLE event frees a chunk).
 */
static bool serve_connection(struct server *server, struct connection *conn)
{
    if (!flush(server, conn))
        return false;
    for (int turn = 0; !conn->peer_done; turn++) {
        if (conn->free_count == 0)
            return true; /* the WRITABLE event brings us back */
        if (turn == READS_PER_TURN) {
            evsrc_deadline_ready_again(&conn->again); /* the next wait reports it again */
            return true;
        }
        struct chunk *chunk = conn->free_chunks[conn->free_count - 1];
        ssize_t n = evsrc_tcp_stream_read(&conn->stream, chunk->data, sizeof chunk->data);
        if (n == -EAGAIN)
            return true;
        if (n < 0) {
            fprintf(stderr, "echo-server: read: %s\n", strerror((int)-n));
            return false;
        }
        if (n == 0) {
            conn->peer_done = true;
            break;
        }
        conn->free_count--;
        evsrc_write_request_init_buffer(&chunk->request, chunk->data, (size_t)n);
        evsrc_write_queue_push(&conn->queue, &chunk->request);
        if (!flush(server, conn))
            return false;
        /* Activity: push the idle deadline back. A restart to a later deadline is a few stores. */
        evsrc_timers_start(&server->timers, &conn->idle, &server->idle_timeout, NULL);
    }
    /* The client closed: done once everything it sent is echoed. */
    return evsrc_write_queue_pending(&conn->queue) != 0;
}

static int connection_register(struct server *server, struct connection *conn)
{
    int r = evsrc_registry_register(server->registry, &conn->stream.source, token_of(conn), EVSRC_READABLE);
    if (r == 0)
        r = evsrc_registry_register_deadline(server->registry, &conn->again, token_of(conn), EVSRC_READABLE);
    if (r == 0)
        r = evsrc_timers_start(&server->timers, &conn->idle, &server->idle_timeout, NULL);
    return r;
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
             * comes for it, so retry once a connection closes (see run).
             */
            fprintf(stderr, "echo-server: accept: %s\n", strerror(-r));
            server->accept_stalled = true;
            return;
        }
        evsrc_timer_init(&conn->idle, token_of(conn));
        evsrc_deadline_init(&conn->again);
        evsrc_write_queue_init(&conn->queue);
        for (int i = 0; i < CHUNKS; i++)
            conn->free_chunks[i] = &conn->chunks[i];
        conn->free_count = CHUNKS;
        conn->peer_done = false;
        /* Data that arrived before the registration is reported at once. */
        r = connection_register(server, conn);
        if (r < 0) {
            fprintf(stderr, "echo-server: register: %s\n", strerror(-r));
            evsrc_timers_stop(&server->timers, &conn->idle);
            evsrc_deadline_close(&conn->again);
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

static bool parse_arguments(int argc, char **argv, struct sockaddr_storage *addr, socklen_t *addrlen,
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
    /* A numeric address of either family, no DNS. */
    return evsrc_address_ipv4(host, (uint16_t)port, addr, addrlen) == 0 ||
           evsrc_address_ipv6(host, (uint16_t)port, addr, addrlen) == 0;
}

/* Prints the address actually bound, which tells the port when 0 was asked for. */
static void print_listening(const struct evsrc_tcp_listener *listener)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    char text[EVSRC_ADDRESS_STRLEN];
    if (evsrc_tcp_listener_local_addr(listener, &addr, &len) < 0 ||
        evsrc_address_format((const struct sockaddr *)&addr, len, text, sizeof text) < 0)
        return;
    printf("echo-server: listening on %s\n", text);
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

/* ---- Stopping: the platform's stop requests as one source ----------------- */

#if defined(_WIN32)
#include <windows.h>

/* Windows has no signals to read: a console control handler wakes the loop. */
struct stop_source {
    struct evsrc_waker *waker;
};

static struct evsrc_waker *stop_waker;

static BOOL WINAPI on_console_control(DWORD type)
{
    (void)type;
    evsrc_waker_wake(stop_waker); /* any thread may wake */
    return TRUE;
}

static int stop_source_open(struct evsrc_registry *registry, struct stop_source *stop)
{
    int r = evsrc_waker_new(&stop->waker, registry, SIGNAL_TOKEN);
    if (r < 0)
        return r;
    stop_waker = stop->waker;
    if (SetConsoleCtrlHandler(on_console_control, TRUE))
        return 0;
    evsrc_waker_free(stop->waker);
    return -EINVAL;
}

/* The waker's event is the request itself. */
static bool stop_source_requested(struct stop_source *stop)
{
    (void)stop;
    return true;
}

static void stop_source_close(struct stop_source *stop)
{
    SetConsoleCtrlHandler(on_console_control, FALSE);
    evsrc_waker_free(stop->waker);
}
#else
struct stop_source {
    struct evsrc_signal signals;
};

/* Blocks SIGINT and SIGTERM and makes them a source: the loop reads them like any event. */
static int stop_source_open(struct evsrc_registry *registry, struct stop_source *stop)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int r = evsrc_signal_block(&set);
    if (r == 0)
        r = evsrc_signal_new(&stop->signals, &set);
    if (r == 0)
        r = evsrc_registry_register(registry, &stop->signals.source, SIGNAL_TOKEN, EVSRC_READABLE);
    /* SIGPIPE needs nothing: evsrc's writes never raise it. */
    return r;
}

/* Whether the event was SIGINT or SIGTERM (reading it takes it). */
static bool stop_source_requested(struct stop_source *stop)
{
    struct signalfd_siginfo info;
    return evsrc_signal_read(&stop->signals, &info) == 0;
}

static void stop_source_close(struct stop_source *stop)
{
    evsrc_signal_close(&stop->signals);
}
#endif

/* Waits for events and dispatches them until a stop signal or a fatal error. */
static int run(struct evsrc_poll *poll, struct evsrc_events *events, struct server *server,
               struct stop_source *stop)
{
    server->events = events;
    for (;;) {
        int n = evsrc_poll_wait(poll, events, NULL);
        if (n == -EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "echo-server: wait: %s\n", strerror(-n));
            return 1;
        }
        bool closed_any = false;
        /* evsrc_events_len() afresh each round: closing a connection may drop later events. */
        for (server->index = 0; server->index < evsrc_events_len(events); server->index++) {
            evsrc_token token = evsrc_event_token(evsrc_events_get(events, server->index));
            if (token == SIGNAL_TOKEN) {
                if (stop_source_requested(stop))
                    return 0; /* SIGINT or SIGTERM (Ctrl-C on Windows) */
                continue;
            }
            if (token == TIMERS_TOKEN) {
                close_idle(server);
                closed_any = true;
            } else if (token == LISTENER_TOKEN) {
                accept_all(server);
            } else {
                struct connection *conn = (struct connection *)(uintptr_t)token;
                if (!serve_connection(server, conn)) {
                    connection_close(server, conn);
                    closed_any = true;
                }
            }
        }
        if (closed_any && server->accept_stalled)
            accept_all(server);
    }
}

/* Listens on addr and serves until stopped; returns the exit status. */
static int serve(struct evsrc_poll *poll, struct evsrc_events *events, const struct sockaddr_storage *addr,
                 socklen_t addrlen, struct timespec idle_timeout)
{
    struct server server = {.registry = evsrc_poll_registry(poll), .idle_timeout = idle_timeout};
    struct stop_source stop;
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
    r = evsrc_registry_register(server.registry, &server.timers.source, TIMERS_TOKEN, EVSRC_READABLE);
    if (r == 0)
        r = evsrc_registry_register(server.registry, &server.listener.source, LISTENER_TOKEN, EVSRC_READABLE);
    bool have_stop = false;
    if (r == 0) {
        r = stop_source_open(server.registry, &stop);
        have_stop = r == 0;
    }
    int status = 1;
    if (r < 0)
        fprintf(stderr, "echo-server: setup: %s\n", strerror(-r));
    else {
        print_listening(&server.listener);
        status = run(poll, events, &server, &stop);
        puts("echo-server: stopping");
    }
    server.events = NULL;
    /* Closing a source removes it from the poll: no deregister needed. */
    while (server.connections)
        connection_close(&server, server.connections);
    evsrc_tcp_listener_close(&server.listener);
    evsrc_timers_close(&server.timers);
    if (have_stop)
        stop_source_close(&stop);
    return status;
}

int main(int argc, char **argv)
{
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct timespec idle_timeout;
    if (!parse_arguments(argc, argv, &addr, &addrlen, &idle_timeout)) {
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
    evsrc_events_free(events);
    evsrc_poll_free(poll);
    return status;
}
