/* SPDX-License-Identifier: MIT */
/*
 * evsrc-load: N concurrent loopback TCP connections through an evsrc echo
 * server, every byte checked.
 *
 * The echo server runs in a thread of its own with its own poll; the clients
 * are driven by another poll in the main thread. Two threads, two queues:
 * that is how a server and its clients meet in real life (they do not share
 * a loop), it lets each side have a core of a two-core machine, and it
 * exercises a waker and registrations made while another thread waits.
 * Both sides then need 2N + 64 fds in one process. Where the hard
 * RLIMIT_NOFILE does not allow that but allows N + 64 (10 000 connections
 * under a hard limit of 20 000, say), the server runs the same loop in a
 * forked child process instead, each process holding one side's fds
 * (-P thread|process|auto chooses; auto is the default). In process mode the
 * counters the clients read live in shared memory, and closing a pipe tells
 * the server to stop.
 *
 * Each client connects to 127.0.0.1, sends a stream whose length is drawn
 * from a seeded PRNG (log-uniform between 1 byte and the maximum, so that
 * short and long streams are equally common at every scale), and checks
 * every byte that comes back against the pattern its key gives for that
 * offset (a lost, repeated, reordered or misrouted byte shows). A client
 * holds its connection open until all N are connected and accepted, so the
 * N connections are open at once; then it shuts its write side down, reads
 * the rest of the echo and the server's end of stream, and closes. The
 * server closes a connection once it has echoed everything and read the
 * client's end of stream.
 *
 * Connects are paced (at most a few hundred handshakes in flight, and not
 * much more than the listen backlog ahead of the server's accepts), so the
 * listen queue does not overflow into SYN retransmissions.
 *
 * It passes when every connection was accepted, every byte came back intact,
 * every connection closed cleanly on both sides (end of stream, no reset, no
 * error), and the process has as many fds open afterwards as before. It
 * prints one line (connections, bytes, elapsed time) and exits 0; 1 on any
 * loss, mismatch, error or timeout; 77 (skipped) if RLIMIT_NOFILE cannot be
 * raised to the fds it needs.
 *
 * Usage: evsrc-load [-n connections] [-m max-bytes] [-s seed] [-t deadline-seconds]
 *                   [-P thread|process|auto]
 * Under valgrind it keeps the connections but caps streams at 64 KiB and
 * triples the deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <evsrc/evsrc.h>

#include "loadutil.h"

#define EXIT_SKIP 77
#define MAX_CONNECTIONS 100000
#define CONNECT_WINDOW 256     /* handshakes in flight */
#define ACCEPT_WINDOW 768      /* connects ahead of the server's accepts (the backlog is 1024) */
#define SERVER_BUF 8192        /* per connection, on the server */
#define CLIENT_CHUNK 16384     /* one write or read of a client */
#define EVENTS_CAPACITY 1024
#define SERVER_LISTENER_TOKEN ((evsrc_token)1)
#define SERVER_WAKER_TOKEN ((evsrc_token)2)
#define SERVER_STOP_TOKEN ((evsrc_token)3)

/* ---- Small helpers ------------------------------------------------------ */

/* Raises the soft RLIMIT_NOFILE to `need` if the hard limit allows: whether `need` fds are allowed now. */
static bool fd_limit_allows(rlim_t need)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) < 0)
        return false;
    if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= need)
        return true;
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < need)
        return false;
    limit.rlim_cur = need;
    return setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

/* ---- The echo server (its own thread, its own poll) --------------------- */

struct conn {
    struct evsrc_tcp_stream stream;
    struct conn *prev, *next;
    size_t start, end; /* unsent echo is buf[start, end) */
    bool read_closed;
    unsigned char buf[SERVER_BUF];
};

struct server {
    struct evsrc_poll *poll;
    struct evsrc_events *events;
    struct evsrc_tcp_listener listener;
    struct evsrc_waker *waker;
    struct sockaddr_in addr;
    bool have_listener;
    /* Process mode: the read end of the pipe whose closing means "stop". */
    struct evsrc_pipe_receiver stop_rx;
    bool have_stop_rx;
    struct conn *conns, *spare;
    long open, peak_open, leftover;
    int fds_before, fds_after; /* the server process's own, in process mode */
    double hard_deadline;
    atomic_int ready; /* process mode: 1 listening, -1 failed to start */
    atomic_long accepted;
    atomic_long closed_clean;
    atomic_bool stop;
    atomic_bool failed;
    char error[200];
};

static void server_fail(struct server *s, const char *format, ...)
{
    if (atomic_load(&s->failed))
        return;
    va_list args;
    va_start(args, format);
    vsnprintf(s->error, sizeof s->error, format, args);
    va_end(args);
    atomic_store(&s->failed, true);
}

static void conn_close(struct server *s, struct conn *c)
{
    evsrc_tcp_stream_close(&c->stream);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
    s->open--;
}

/* Echoes until both directions would block (registered for both, so either edge brings us back). */
static void conn_pump(struct server *s, struct conn *c)
{
    for (;;) {
        bool progress = false;
        if (c->start < c->end) {
            ssize_t n = evsrc_tcp_stream_write(&c->stream, c->buf + c->start, c->end - c->start);
            if (n > 0) {
                c->start += (size_t)n;
                progress = true;
            } else if (n != -EAGAIN) {
                server_fail(s, "server write: %s", strerror((int)-n));
                conn_close(s, c);
                return;
            }
        }
        if (c->start == c->end)
            c->start = c->end = 0;
        if (!c->read_closed && c->end < sizeof c->buf) {
            ssize_t n = evsrc_tcp_stream_read(&c->stream, c->buf + c->end, sizeof c->buf - c->end);
            if (n > 0) {
                c->end += (size_t)n;
                progress = true;
            } else if (n == 0) {
                c->read_closed = true;
                progress = true;
            } else if (n != -EAGAIN) {
                server_fail(s, "server read: %s", strerror((int)-n));
                conn_close(s, c);
                return;
            }
        }
        if (c->read_closed && c->start == c->end) {
            /* Counted before the close, so a client that sees the end of stream sees the count too. */
            atomic_fetch_add(&s->closed_clean, 1);
            conn_close(s, c);
            return;
        }
        if (!progress)
            return;
    }
}

static void server_accept(struct server *s)
{
    for (;;) {
        if (!s->spare && !(s->spare = malloc(sizeof *s->spare))) {
            server_fail(s, "server: out of memory");
            return;
        }
        struct conn *c = s->spare;
        int r = evsrc_tcp_listener_accept(&s->listener, &c->stream, NULL, NULL);
        if (r == -EAGAIN)
            return;
        if (r == -ECONNABORTED || r == -EINTR)
            continue;
        if (r < 0) {
            server_fail(s, "accept: %s", strerror(-r));
            return;
        }
        s->spare = NULL;
        c->start = c->end = 0;
        c->read_closed = false;
        c->prev = NULL;
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        if (++s->open > s->peak_open)
            s->peak_open = s->open;
        atomic_fetch_add(&s->accepted, 1);
        r = evsrc_registry_register(evsrc_poll_registry(s->poll), &c->stream.source, (evsrc_token)(uintptr_t)c,
                                    EVSRC_READABLE | EVSRC_WRITABLE);
        if (r < 0) {
            server_fail(s, "server register: %s", strerror(-r));
            conn_close(s, c);
            return;
        }
        /* Data may be there already; its edge came before the registration. */
        conn_pump(s, c);
    }
}

static void *server_run(void *arg)
{
    struct server *s = arg;
    while (!atomic_load(&s->stop)) {
        if (now_s() > s->hard_deadline) {
            server_fail(s, "server: never told to stop");
            break;
        }
        struct timespec timeout = {1, 0};
        int n = evsrc_poll_wait(s->poll, s->events, &timeout);
        if (n == -EINTR)
            continue;
        if (n < 0) {
            server_fail(s, "server wait: %s", strerror(-n));
            break;
        }
        for (size_t i = 0; i < (size_t)n; i++) {
            evsrc_token token = evsrc_event_token(evsrc_events_get(s->events, i));
            if (token == SERVER_LISTENER_TOKEN)
                server_accept(s);
            else if (token == SERVER_STOP_TOKEN)
                atomic_store(&s->stop, true); /* the client side closed the pipe */
            else if (token != SERVER_WAKER_TOKEN)
                conn_pump(s, (struct conn *)(uintptr_t)token);
        }
    }
    while (s->conns) {
        s->leftover++;
        conn_close(s, s->conns);
    }
    free(s->spare);
    s->spare = NULL;
    return NULL;
}

static int server_open(struct server *s)
{
    int r = evsrc_poll_new(&s->poll);
    if (r < 0)
        return r;
    if ((r = evsrc_events_new(EVENTS_CAPACITY, &s->events)) < 0)
        return r;
    if ((r = listen_loopback(&s->listener, &s->addr)) < 0)
        return r;
    s->have_listener = true;
    struct evsrc_registry *registry = evsrc_poll_registry(s->poll);
    if ((r = evsrc_registry_register(registry, &s->listener.source, SERVER_LISTENER_TOKEN, EVSRC_READABLE)) < 0)
        return r;
    return evsrc_waker_new(&s->waker, registry, SERVER_WAKER_TOKEN);
}

/* Frees what server_open made (whatever part of it succeeded). */
static void server_close(struct server *s)
{
    if (s->have_stop_rx)
        evsrc_pipe_receiver_close(&s->stop_rx);
    evsrc_waker_free(s->waker);
    if (s->have_listener)
        evsrc_tcp_listener_close(&s->listener);
    evsrc_events_free(s->events);
    evsrc_poll_free(s->poll);
}

/*
 * Process mode: the child runs the server and exits; everything the client
 * side learns from it is in the shared `struct server`.
 */
static void server_child(struct server *s, int stop_fd)
{
    s->fds_before = open_fd_count();
    int r = evsrc_pipe_receiver_from_fd(&s->stop_rx, stop_fd);
    if (r == 0) {
        s->have_stop_rx = true;
        r = server_open(s);
    }
    if (r == 0)
        r = evsrc_registry_register(evsrc_poll_registry(s->poll), &s->stop_rx.source, SERVER_STOP_TOKEN,
                                    EVSRC_READABLE);
    if (r < 0) {
        snprintf(s->error, sizeof s->error, "server setup: %s", strerror(-r));
        atomic_store(&s->failed, true);
        atomic_store(&s->ready, -1);
    } else {
        atomic_store(&s->ready, 1);
        server_run(s);
    }
    /* The stop pipe's fd counts in fds_before, so it is closed after the count. */
    s->have_stop_rx = false;
    server_close(s);
    s->fds_after = open_fd_count();
    evsrc_pipe_receiver_close(&s->stop_rx);
}

/* ---- The clients (the main thread's poll) ------------------------------- */

enum client_state { CLIENT_IDLE, CLIENT_CONNECTING, CLIENT_OPEN, CLIENT_DONE };

struct client {
    struct evsrc_tcp_stream stream;
    uint64_t key;
    uint64_t total, sent, received;
    enum client_state state;
    bool shut;
};

struct load {
    struct server *server;
    struct evsrc_poll *poll;
    struct evsrc_events *events;
    struct client *clients;
    long count, started, connecting, connected, open, peak_open, done;
    bool released; /* all connected and accepted: clients may finish */
    bool failed;
    uint64_t bytes_sent, bytes_verified;
    unsigned char send_buf[CLIENT_CHUNK], recv_buf[CLIENT_CHUNK];
};

static void load_fail(struct load *l, long index, const char *format, ...)
{
    if (l->failed)
        return;
    l->failed = true;
    va_list args;
    va_start(args, format);
    fprintf(stderr, "evsrc-load: client %ld: ", index);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
}

static void client_close(struct load *l, struct client *c)
{
    evsrc_tcp_stream_close(&c->stream);
    l->open--;
}

static void client_start(struct load *l, long index, const struct sockaddr_in *addr)
{
    struct client *c = &l->clients[index];
    int r = evsrc_tcp_stream_connect(&c->stream, (const struct sockaddr *)addr, sizeof *addr);
    if (r < 0) {
        load_fail(l, index, "connect: %s", strerror(-r));
        return;
    }
    c->state = CLIENT_CONNECTING;
    l->started++;
    l->connecting++;
    if (++l->open > l->peak_open)
        l->peak_open = l->open;
    r = evsrc_registry_register(evsrc_poll_registry(l->poll), &c->stream.source, (evsrc_token)index,
                                EVSRC_READABLE | EVSRC_WRITABLE);
    if (r < 0)
        load_fail(l, index, "register: %s", strerror(-r));
}

/* Sends, shuts down once released, reads and checks, until both directions would block. */
static void client_pump(struct load *l, long index)
{
    struct client *c = &l->clients[index];
    for (;;) {
        bool progress = false;
        if (c->sent < c->total) {
            uint64_t left = c->total - c->sent;
            size_t chunk = left < CLIENT_CHUNK ? (size_t)left : CLIENT_CHUNK;
            pattern_fill(c->key, c->sent, l->send_buf, chunk);
            ssize_t n = evsrc_tcp_stream_write(&c->stream, l->send_buf, chunk);
            if (n > 0) {
                c->sent += (uint64_t)n;
                l->bytes_sent += (uint64_t)n;
                progress = true;
            } else if (n != -EAGAIN) {
                load_fail(l, index, "write at %" PRIu64 " of %" PRIu64 ": %s", c->sent, c->total, strerror((int)-n));
                return;
            }
        } else if (!c->shut && l->released) {
            int r = evsrc_tcp_stream_shutdown(&c->stream, SHUT_WR);
            if (r < 0) {
                load_fail(l, index, "shutdown: %s", strerror(-r));
                return;
            }
            c->shut = true;
        }
        ssize_t n = evsrc_tcp_stream_read(&c->stream, l->recv_buf, sizeof l->recv_buf);
        if (n > 0) {
            if (c->received + (uint64_t)n > c->total) {
                load_fail(l, index, "%" PRIu64 " bytes came back, %" PRIu64 " were sent", c->received + (uint64_t)n,
                          c->total);
                return;
            }
            size_t at = pattern_mismatch(c->key, c->received, l->recv_buf, (size_t)n);
            if (at < (size_t)n) {
                load_fail(l, index, "wrong byte at offset %" PRIu64, c->received + at);
                return;
            }
            c->received += (uint64_t)n;
            l->bytes_verified += (uint64_t)n;
            progress = true;
        } else if (n == 0) {
            if (!c->shut || c->received != c->total) {
                load_fail(l, index, "end of stream after %" PRIu64 " of %" PRIu64 " bytes", c->received, c->total);
                return;
            }
            c->state = CLIENT_DONE;
            l->done++;
            client_close(l, c);
            return;
        } else if (n != -EAGAIN) {
            load_fail(l, index, "read at %" PRIu64 " of %" PRIu64 ": %s", c->received, c->total, strerror((int)-n));
            return;
        }
        if (!progress)
            return;
    }
}

static void client_event(struct load *l, long index)
{
    struct client *c = &l->clients[index];
    if (c->state == CLIENT_CONNECTING) {
        int r = connect_result(&c->stream);
        if (r < 0)
            load_fail(l, index, "connect: %s", strerror(-r));
        if (r <= 0)
            return; /* failed, or a spurious event: still connecting */
        c->state = CLIENT_OPEN;
        l->connecting--;
        l->connected++;
    }
    if (c->state == CLIENT_OPEN)
        client_pump(l, index);
}

/* Once every client is connected and accepted, those that sent everything may finish. */
static void maybe_release(struct load *l)
{
    if (l->released || l->connected < l->count || atomic_load(&l->server->accepted) < l->count)
        return;
    l->released = true;
    for (long i = 0; i < l->count && !l->failed; i++)
        if (l->clients[i].state == CLIENT_OPEN)
            client_pump(l, i);
}

static void start_connects(struct load *l, const struct sockaddr_in *addr)
{
    while (l->started < l->count && l->connecting < CONNECT_WINDOW &&
           l->started - atomic_load(&l->server->accepted) < ACCEPT_WINDOW && !l->failed)
        client_start(l, l->started, addr);
}

/* ---- The server's thread or process ---------------------------------- */

struct server_runner {
    struct server *server; /* shared memory, so that a server process writes what we read */
    bool in_process;
    bool running;
    pthread_t thread;
    pid_t child;
    int stop_fd; /* process mode: closing it tells the server to stop */
};

static bool runner_start(struct server_runner *runner, double hard_deadline)
{
    struct server *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) {
        perror("evsrc-load: mmap");
        runner->server = NULL;
        return false;
    }
    memset(s, 0, sizeof *s);
    s->hard_deadline = hard_deadline;
    runner->server = s;
    runner->stop_fd = -1;
    if (!runner->in_process) {
        int r = server_open(s);
        if (r < 0) {
            fprintf(stderr, "evsrc-load: server setup: %s\n", strerror(-r));
            return false;
        }
        if (pthread_create(&runner->thread, NULL, server_run, s) != 0) {
            fprintf(stderr, "evsrc-load: cannot start the server thread\n");
            return false;
        }
        runner->running = true;
        return true;
    }
    int stop_pipe[2];
    if (pipe2(stop_pipe, O_CLOEXEC) < 0) {
        perror("evsrc-load: pipe");
        return false;
    }
    fflush(NULL); /* or the child would print our buffered output again */
    runner->child = fork();
    if (runner->child == 0) {
        close(stop_pipe[1]);
        server_child(s, stop_pipe[0]);
        exit(EXIT_SUCCESS);
    }
    close(stop_pipe[0]);
    runner->stop_fd = stop_pipe[1];
    if (runner->child < 0) {
        perror("evsrc-load: fork");
        return false;
    }
    runner->running = true;
    for (int i = 0; i < 10000 && atomic_load(&s->ready) == 0; i++)
        usleep(1000);
    if (atomic_load(&s->ready) != 1) {
        fprintf(stderr, "evsrc-load: the server process did not start\n");
        return false;
    }
    return true;
}

/* Stops the server and waits for it (bounded); true if it ended as it should. */
static bool runner_stop(struct server_runner *runner)
{
    struct server *s = runner->server;
    bool ok = true;
    if (!runner->in_process) {
        if (runner->running) {
            atomic_store(&s->stop, true);
            evsrc_waker_wake(s->waker);
            pthread_join(runner->thread, NULL);
        }
        if (s)
            server_close(s);
    } else {
        if (runner->stop_fd >= 0)
            close(runner->stop_fd);
        if (runner->running) {
            int status = 0;
            pid_t done = 0;
            for (int i = 0; i < 60000 && done == 0; i++) {
                done = waitpid(runner->child, &status, WNOHANG);
                if (done == 0)
                    usleep(1000);
            }
            if (done == 0) {
                fprintf(stderr, "evsrc-load: the server process did not stop; killing it\n");
                kill(runner->child, SIGKILL);
                waitpid(runner->child, &status, 0);
                ok = false;
            } else if (done < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "evsrc-load: the server process failed (status %#x)\n", (unsigned)status);
                ok = false;
            } else if (s->fds_after != s->fds_before) {
                fprintf(stderr, "evsrc-load: the server process had %d fds open before, %d after\n", s->fds_before,
                        s->fds_after);
                ok = false;
            }
        }
    }
    return ok;
}

static void runner_free(struct server_runner *runner)
{
    if (runner->server)
        munmap(runner->server, sizeof *runner->server);
}

/* ---- main ---------------------------------------------------------------- */

struct options {
    unsigned long long count, max_bytes, seed, deadline_s;
    const char *mode;
};

static void usage(void)
{
    fprintf(stderr, "usage: evsrc-load [-n connections] [-m max-bytes] [-s seed] [-t deadline-seconds]"
                    " [-P thread|process|auto]\n");
}

static bool parse_number(const char *text, unsigned long long low, unsigned long long high, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 0);
    if (errno || end == text || *end || value < low || value > high)
        return false;
    *out = value;
    return true;
}

static bool parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){.count = 1000, .max_bytes = 256 * 1024, .seed = 1, .deadline_s = 60, .mode = "auto"};
    int opt;
    while ((opt = getopt(argc, argv, "n:m:s:t:P:")) != -1) {
        bool ok = false;
        if (opt == 'n')
            ok = parse_number(optarg, 1, MAX_CONNECTIONS, &o->count);
        else if (opt == 'm')
            ok = parse_number(optarg, 1, (unsigned long long)1 << 32, &o->max_bytes);
        else if (opt == 's')
            ok = parse_number(optarg, 0, UINT64_MAX, &o->seed);
        else if (opt == 't')
            ok = parse_number(optarg, 1, 3600, &o->deadline_s);
        else if (opt == 'P')
            ok = strcmp(o->mode = optarg, "thread") == 0 || strcmp(optarg, "process") == 0 ||
                 strcmp(optarg, "auto") == 0;
        if (!ok)
            return false;
    }
    return optind == argc;
}

/* Runs every client to its end; false on a failure or at the deadline. */
static bool run_clients(struct load *l, double deadline)
{
    struct server *s = l->server;
    while (l->done < l->count && !l->failed && !atomic_load(&s->failed)) {
        if (now_s() > deadline) {
            long open_state = 0, shut = 0;
            for (long i = 0; i < l->count; i++) {
                open_state += l->clients[i].state == CLIENT_OPEN;
                shut += l->clients[i].shut;
            }
            fprintf(stderr,
                    "evsrc-load: timed out: %ld started, %ld connected, %ld accepted, %ld open, %ld shut down, "
                    "%ld done\n",
                    l->started, l->connected, atomic_load(&s->accepted), open_state, shut, l->done);
            return false;
        }
        start_connects(l, &s->addr);
        maybe_release(l);
        /* While connecting, the server's accepts (not events of ours) open the window: look often. */
        struct timespec timeout = {0, (l->started < l->count || !l->released) ? 5000000L : 100000000L};
        int n = evsrc_poll_wait(l->poll, l->events, &timeout);
        if (n == -EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "evsrc-load: wait: %s\n", strerror(-n));
            return false;
        }
        for (size_t i = 0; i < (size_t)n && !l->failed; i++)
            client_event(l, (long)evsrc_event_token(evsrc_events_get(l->events, i)));
    }
    return !l->failed && l->done == l->count;
}

int main(int argc, char **argv)
{
    struct options o;
    if (!parse_options(argc, argv, &o)) {
        usage();
        return EXIT_FAILURE;
    }
    if (UNDER_VALGRIND()) {
        /* As many connections, shorter streams, more time. */
        o.max_bytes = o.max_bytes < 65536 ? o.max_bytes : 65536;
        o.deadline_s *= 3;
    }
    /* Both sides in one process need 2N + 64 fds; one side alone N + 64. */
    struct server_runner runner = {0};
    if (strcmp(o.mode, "process") != 0 && fd_limit_allows((rlim_t)(2 * o.count + 64))) {
        runner.in_process = false;
    } else if (strcmp(o.mode, "thread") != 0 && fd_limit_allows((rlim_t)(o.count + 64))) {
        runner.in_process = true;
    } else {
        struct rlimit limit = {0, 0};
        getrlimit(RLIMIT_NOFILE, &limit);
        printf("evsrc-load: skipped: %llu connections need %llu fds (%s mode); the hard RLIMIT_NOFILE is %llu "
               "(raise it with ulimit -Hn, as root)\n",
               o.count, strcmp(o.mode, "thread") == 0 ? 2 * o.count + 64 : o.count + 64, o.mode,
               (unsigned long long)limit.rlim_max);
        return EXIT_SKIP;
    }

    int fds_before = open_fd_count();
    double started_at = now_s();
    double deadline = started_at + (double)o.deadline_s;
    static struct load l;
    uint64_t total_bytes = 0;
    bool ok = runner_start(&runner, deadline + 30);
    if (ok) {
        l.server = runner.server;
        l.count = (long)o.count;
        l.clients = calloc((size_t)o.count, sizeof *l.clients);
        ok = l.clients && evsrc_poll_new(&l.poll) == 0 && evsrc_events_new(EVENTS_CAPACITY, &l.events) == 0;
        if (!ok)
            fprintf(stderr, "evsrc-load: client setup failed\n");
    }
    if (ok) {
        uint64_t rng = o.seed;
        for (long i = 0; i < l.count; i++) {
            l.clients[i].key = rng_next(&rng);
            l.clients[i].total = pick_length(&rng, (size_t)o.max_bytes);
            total_bytes += l.clients[i].total;
        }
        ok = run_clients(&l, deadline) && l.bytes_verified == total_bytes;
    }
    if (!runner_stop(&runner))
        ok = false;

    struct server *s = runner.server;
    if (s && atomic_load(&s->failed)) {
        fprintf(stderr, "evsrc-load: %s\n", s->error);
        ok = false;
    }
    if (ok && (atomic_load(&s->accepted) != l.count || atomic_load(&s->closed_clean) != l.count ||
               s->leftover != 0 || s->open != 0)) {
        fprintf(stderr, "evsrc-load: the server accepted %ld, closed %ld cleanly, %ld left open\n",
                atomic_load(&s->accepted), atomic_load(&s->closed_clean), s->leftover);
        ok = false;
    }
    long server_peak = s ? s->peak_open : 0;
    runner_free(&runner);
    for (long i = 0; l.clients && i < l.count; i++)
        if (l.clients[i].state == CLIENT_CONNECTING || l.clients[i].state == CLIENT_OPEN)
            client_close(&l, &l.clients[i]);
    free(l.clients);
    evsrc_events_free(l.events);
    evsrc_poll_free(l.poll);
    int fds_after = open_fd_count();
    if (fds_after != fds_before) {
        fprintf(stderr, "evsrc-load: %d fds open before, %d after\n", fds_before, fds_after);
        ok = false;
    }
    printf("evsrc-load: %s: %ld connections (%ld/%ld open at once, client/server side), %" PRIu64
           " bytes echoed and verified, %.2f s (server in a %s, lengths 1..%llu, seed %llu)\n",
           ok ? "ok" : "FAILED", l.count, l.peak_open, server_peak, l.bytes_verified, now_s() - started_at,
           runner.in_process ? "process" : "thread", o.max_bytes, o.seed);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
