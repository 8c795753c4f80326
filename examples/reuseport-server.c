/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* SO_REUSEPORT, accept4 and friends under -std=c11; before any #include */
/*
 * reuseport-server: an echo server that uses every core.
 *
 *     reuseport-server [THREADS [PORT]]      serve on 127.0.0.1:PORT (default 7778) until SIGINT or SIGTERM
 *     reuseport-server --self-test [THREADS] serve on a free port, echo CLIENTS connections, stop
 *
 * THREADS defaults to one per online CPU. Each thread owns everything it
 * touches: its own poll, its own listener and its own connections, so no
 * lock is taken and no connection moves between threads. The listeners all
 * bind one port with SO_REUSEPORT, and the kernel spreads incoming
 * connections over them (by a hash of the addresses). evsrc does not set
 * SO_REUSEPORT itself: the socket is made here, bound and listening, and
 * adopted with evsrc_tcp_listener_from_fd().
 *
 * Stopping: a signal handler (or, in the self-test, the main thread) sets a
 * flag and wakes every thread's waker; each thread then closes its sources
 * and returns.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <evsrc/evsrc.h>

/* Connection tokens are heap addresses, which are never this small. */
#define LISTENER_TOKEN ((evsrc_token)1)
#define WAKE_TOKEN ((evsrc_token)2)
#define MAX_THREADS 64
#define SELF_TEST_CLIENTS 64
#define BACKLOG 1024

struct connection {
    struct evsrc_tcp_stream stream;
    struct connection *prev, *next; /* the thread's open connections, so stopping can free them */
    size_t start, end;              /* buf[start, end) is read but not yet echoed */
    char buf[4096];
};

/* One thread's loop. Only that thread touches it between start and join. */
struct worker {
    pthread_t thread;
    struct evsrc_poll *poll;
    struct evsrc_events *events;
    struct evsrc_waker *waker;
    struct evsrc_tcp_listener listener;
    struct connection *connections;
    unsigned long accepted; /* read by main after the join */
};

static struct worker workers[MAX_THREADS];
static int nworkers;
static atomic_int stopping; /* lock-free, so the signal handler may set it */

/* ---- Stopping ----------------------------------------------------------- */

static void stop_all(void)
{
    atomic_store(&stopping, 1);
    for (int i = 0; i < nworkers; i++)
        evsrc_waker_wake(workers[i].waker); /* async-signal-safe */
}

static void on_stop_signal(int signo)
{
    (void)signo;
    stop_all();
}

/* ---- One thread's echo loop --------------------------------------------- */

static void connection_close(struct worker *w, struct connection *conn)
{
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        w->connections = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    evsrc_tcp_stream_close(&conn->stream); /* leaves the poll with the fd */
    free(conn);
}

/* Echoes until the socket would block either way; false when the connection is done. */
static bool echo(struct connection *conn)
{
    for (;;) {
        while (conn->start < conn->end) {
            ssize_t n = evsrc_tcp_stream_write(&conn->stream, conn->buf + conn->start, conn->end - conn->start);
            if (n == -EAGAIN)
                return true; /* the WRITABLE event brings us back */
            if (n < 0)
                return false;
            conn->start += (size_t)n;
        }
        ssize_t n = evsrc_tcp_stream_read(&conn->stream, conn->buf, sizeof conn->buf);
        if (n == -EAGAIN)
            return true; /* drained: the next READABLE event is owed */
        if (n <= 0)
            return false; /* the client closed, or an error */
        conn->start = 0;
        conn->end = (size_t)n;
    }
}

/* Takes every pending connection of this thread's listener (edge-triggered). */
static void accept_all(struct worker *w)
{
    for (;;) {
        struct connection *conn = malloc(sizeof *conn);
        if (!conn)
            return;
        int r = evsrc_tcp_listener_accept(&w->listener, &conn->stream, NULL, NULL);
        if (r == -ECONNABORTED) {
            free(conn);
            continue;
        }
        if (r < 0) {
            free(conn);
            return; /* -EAGAIN: drained (a server under fd pressure would retry later; see echo-server.c) */
        }
        conn->start = conn->end = 0;
        r = evsrc_registry_register(evsrc_poll_registry(w->poll), &conn->stream.source,
                                    (evsrc_token)(uintptr_t)conn, EVSRC_READABLE | EVSRC_WRITABLE);
        if (r < 0) {
            evsrc_tcp_stream_close(&conn->stream);
            free(conn);
            continue;
        }
        w->accepted++;
        conn->prev = NULL;
        conn->next = w->connections;
        if (conn->next)
            conn->next->prev = conn;
        w->connections = conn;
    }
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    while (!atomic_load(&stopping)) {
        int n = evsrc_poll_wait(w->poll, w->events, NULL);
        if (n == -EINTR)
            continue;
        if (n < 0)
            break;
        for (size_t i = 0; i < (size_t)n; i++) {
            evsrc_token token = evsrc_event_token(evsrc_events_get(w->events, i));
            if (token == WAKE_TOKEN)
                continue; /* the loop condition decides */
            if (token == LISTENER_TOKEN) {
                accept_all(w);
                continue;
            }
            struct connection *conn = (struct connection *)(uintptr_t)token;
            if (!echo(conn))
                connection_close(w, conn);
        }
    }
    while (w->connections)
        connection_close(w, w->connections);
    return NULL;
}

/* ---- Setup -------------------------------------------------------------- */

/*
 * A listening socket with SO_REUSEPORT, which must be set before bind, so
 * it is made here and handed to evsrc. On failure the fd is still ours.
 */
static int reuseport_listener(struct evsrc_tcp_listener *listener, const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int on = 1;
    int r = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0 ||
        bind(fd, (const struct sockaddr *)addr, sizeof *addr) < 0 || listen(fd, BACKLOG) < 0)
        r = -errno;
    if (r == 0)
        r = evsrc_tcp_listener_from_fd(listener, fd);
    if (r < 0)
        close(fd);
    return r;
}

/* Sets up worker i listening on *addr; when the port is 0, stores the port picked in *addr. */
static int worker_setup(struct worker *w, struct sockaddr_in *addr)
{
    w->connections = NULL;
    w->accepted = 0;
    int r = evsrc_poll_new(&w->poll);
    if (r == 0)
        r = evsrc_events_new(256, &w->events);
    if (r == 0)
        r = evsrc_waker_new(&w->waker, evsrc_poll_registry(w->poll), WAKE_TOKEN);
    if (r == 0)
        r = reuseport_listener(&w->listener, addr);
    if (r < 0)
        return r;
    if (addr->sin_port == 0) {
        /* The first listener picked a free port; the others join it. */
        struct sockaddr_storage bound;
        socklen_t len = sizeof bound;
        r = evsrc_tcp_listener_local_addr(&w->listener, &bound, &len);
        if (r < 0)
            return r;
        addr->sin_port = ((const struct sockaddr_in *)(const void *)&bound)->sin_port;
    }
    return evsrc_registry_register(evsrc_poll_registry(w->poll), &w->listener.source, LISTENER_TOKEN,
                                   EVSRC_READABLE);
}

/* Frees what worker_setup made; each part may be missing. */
static void worker_free(struct worker *w)
{
    evsrc_tcp_listener_close(&w->listener);
    evsrc_waker_free(w->waker);
    evsrc_events_free(w->events);
    evsrc_poll_free(w->poll);
}

/* ---- The self-test client ----------------------------------------------- */

/* A blocking client with a receive timeout, so a lost echo fails instead of hanging. */
static int client_connect(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval timeout = {.tv_sec = 30};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) < 0 ||
        connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Connects every client at once (so they spread over the threads), then checks each one's echo. */
static bool self_test(const struct sockaddr_in *addr)
{
    int fds[SELF_TEST_CLIENTS];
    bool ok = true;
    int open = 0;
    for (; open < SELF_TEST_CLIENTS; open++)
        if ((fds[open] = client_connect(addr)) < 0) {
            perror("reuseport-server: connect");
            ok = false;
            break;
        }
    for (int i = 0; i < open && ok; i++) {
        char out[32], in[32];
        int len = snprintf(out, sizeof out, "client %d\n", i);
        size_t got = 0;
        if (send(fds[i], out, (size_t)len, MSG_NOSIGNAL) != len)
            ok = false;
        while (ok && got < (size_t)len) {
            ssize_t n = recv(fds[i], in + got, sizeof in - got, 0);
            if (n <= 0)
                ok = false;
            else
                got += (size_t)n;
        }
        if (!ok || memcmp(in, out, (size_t)len) != 0) {
            fprintf(stderr, "reuseport-server: client %d got no echo\n", i);
            ok = false;
        }
    }
    for (int i = 0; i < open; i++)
        close(fds[i]);
    return ok;
}

/* ---- main --------------------------------------------------------------- */

static bool parse_count(const char *text, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    *out = strtoul(text, &end, 10);
    return !errno && end != text && !*end && *out <= max;
}

int main(int argc, char **argv)
{
    bool test = argc > 1 && strcmp(argv[1], "--self-test") == 0;
    int first = test ? 2 : 1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned long threads = cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : (unsigned long)cpus;
    unsigned long port = test ? 0 : 7778;
    if (argc > first + (test ? 1 : 2) || (argc > first && !parse_count(argv[first], MAX_THREADS, &threads)) ||
        threads == 0 || (!test && argc > first + 1 && !parse_count(argv[first + 1], 65535, &port))) {
        fprintf(stderr, "usage: %s [THREADS [PORT]]\n       %s --self-test [THREADS]\n", argv[0], argv[0]);
        return 2;
    }

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int status = 1;
    int r = 0;
    for (nworkers = 0; nworkers < (int)threads && r == 0; nworkers++) {
        struct worker *w = &workers[nworkers];
        evsrc_tcp_listener_from_fd(&w->listener, -1); /* leaves it closed, so worker_free can always close it */
        r = worker_setup(w, &addr);
    }
    if (r < 0) {
        fprintf(stderr, "reuseport-server: setup: %s\n", strerror(-r));
        goto out;
    }

    if (!test) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = on_stop_signal;
        sigemptyset(&action.sa_mask);
        sigaction(SIGINT, &action, NULL);
        sigaction(SIGTERM, &action, NULL);
    }
    int started = 0;
    for (; started < nworkers; started++)
        if (pthread_create(&workers[started].thread, NULL, worker_run, &workers[started]) != 0)
            break;
    printf("reuseport-server: %d threads on 127.0.0.1:%u\n", started, (unsigned)ntohs(addr.sin_port));
    fflush(stdout);

    if (started == nworkers && test)
        status = self_test(&addr) ? 0 : 1;
    else if (started == nworkers)
        status = 0;
    if (test || started < nworkers)
        stop_all();
    for (int i = 0; i < started; i++)
        pthread_join(workers[i].thread, NULL);
    for (int i = 0; i < started; i++)
        printf("reuseport-server: thread %d accepted %lu\n", i, workers[i].accepted);

out:
    for (int i = 0; i < nworkers; i++)
        worker_free(&workers[i]);
    return status;
}
