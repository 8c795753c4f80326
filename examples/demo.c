/* SPDX-License-Identifier: MIT */
#define _POSIX_C_SOURCE 200809L /* CLOCK_MONOTONIC under -std=c11; before any #include */
/*
 * evsrc-demo: one thread, one poll, many kinds of work.
 *
 *   - an echo server on a loopback TCP port (a listener and one stream per connection),
 *   - several clients that each send a known byte pattern and check every byte that comes back,
 *   - a pipe that carries log lines into the loop, printed as they arrive,
 *   - a periodic timerfd that prints progress,
 *   - a deadline timerfd that ends the run if the transfers have not finished by then,
 *   - a signalfd for SIGINT and SIGTERM, which stop the run cleanly,
 *   - a child process whose output comes back through the log pipe and whose exit is reported,
 *   - a control socket (a Unix stream listener on an abstract name) that answers a status request from a
 *     Unix client, after checking the client's credentials.
 *
 * It exits 0 once every client has had all its bytes back intact, the child has been reaped and the
 * control client has its answer, or when SIGINT or SIGTERM stops it, and 1 if a byte was wrong, a
 * connection failed or the deadline came first.
 *
 * Usage: evsrc-demo [clients [bytes-per-client [deadline-seconds]]]
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <evsrc/evsrc.h>

/* Every registered object starts with its kind; the token is a pointer to it. */
enum kind {
    LISTENER, SERVER_CONN, CLIENT, LOG_PIPE, TICKER, DEADLINE, SIGNALS, CHILD,
    CONTROL_LISTENER, CONTROL_SERVER, CONTROL_CLIENT
};

struct server_conn {
    enum kind kind;
    struct server_conn *prev, *next; /* every open connection, so a failed run can close them all */
    struct evsrc_tcp_stream stream;
    size_t start, end; /* unsent bytes are buf[start, end) */
    bool read_closed;
    unsigned char buf[16384];
};

struct client {
    enum kind kind;
    int id;
    struct evsrc_tcp_stream stream;
    size_t total, sent, verified;
    bool open, connected, write_shut, done;
};

/* The control socket: one listener, and at most one request in flight, from the demo's own client. */
struct control {
    enum kind listener_kind, server_kind, client_kind;
    struct evsrc_unix_listener listener;
    struct evsrc_unix_stream server, client;
    bool have_listener, have_server, have_client, answered;
    char request[64], reply[160];
    size_t request_len, reply_len;
};

struct demo {
    struct evsrc_poll *poll;
    struct evsrc_registry *registry;
    enum kind listener_kind, log_kind, ticker_kind, deadline_kind;
    struct evsrc_tcp_listener listener;
    struct evsrc_pipe_sender log_tx;
    struct evsrc_pipe_receiver log_rx;
    struct evsrc_timerfd ticker, deadline;
    struct client *clients;
    struct server_conn *server_conns;
    int client_count, clients_done, accepted, open_server_conns;
    /* Which constructors ran, so cleanup closes only what was opened (a zeroed struct names fd 0). */
    bool have_log, have_ticker, have_deadline, have_listener;
    uint64_t ticks, log_lines, log_dropped;
    size_t bytes_verified, bytes_total;
    bool failed;
    /* SIGINT/SIGTERM through a signalfd, and one child process. */
    enum kind signals_kind, child_kind;
    struct evsrc_signal signals;
    struct evsrc_process child;
    bool have_signals, have_child, child_reaped;
    int stop_signal;    /* the signal that stopped the run, or 0 */
    siginfo_t child_status;
    struct control control;
};

static evsrc_token token_of(enum kind *kind)
{
    return (evsrc_token)(uintptr_t)kind;
}

/* The byte a client sends at `offset`: it depends on both, so a lost, duplicated or swapped byte shows. */
static unsigned char pattern_byte(int client, size_t offset)
{
    return (unsigned char)(offset * 31u + (offset >> 9) + (size_t)client * 101u);
}

/* Log lines go through the pipe, so the loop reads them back as just another source. */
static void demo_log(struct demo *demo, const char *format, ...)
{
    char line[160];
    va_list args;
    va_start(args, format);
    int len = vsnprintf(line, sizeof line - 1, format, args);
    va_end(args);
    if (len < 0)
        return;
    if ((size_t)len > sizeof line - 2)
        len = (int)sizeof line - 2;
    line[len++] = '\n';
    /* A full pipe drops the line rather than blocking the loop; pipe writes of this size are atomic. */
    if (evsrc_pipe_sender_write(&demo->log_tx, line, (size_t)len) != len)
        demo->log_dropped++;
}

static void fail(struct demo *demo, const char *what, int error)
{
    fprintf(stderr, "evsrc-demo: %s: %s\n", what, strerror(-error));
    demo->failed = true;
}

static void print_log_lines(struct demo *demo)
{
    char buf[4096];
    ssize_t n;
    /* Edge-triggered: read until -EAGAIN, or the lines left in the pipe would wait for the next write. */
    while ((n = evsrc_pipe_receiver_read(&demo->log_rx, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            demo->log_lines += buf[i] == '\n';
        printf("%.*s", (int)n, buf);
    }
}

static void server_conn_close(struct demo *demo, struct server_conn *conn)
{
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        demo->server_conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    evsrc_tcp_stream_close(&conn->stream); /* closing also takes it out of the queue */
    free(conn);
    demo->open_server_conns--;
}

/* Echo until both directions would block; registered for both, so either edge brings us back. */
static void server_conn_pump(struct demo *demo, struct server_conn *conn)
{
    for (;;) {
        bool progress = false;
        if (conn->start < conn->end) {
            ssize_t n = evsrc_tcp_stream_write(&conn->stream, conn->buf + conn->start, conn->end - conn->start);
            if (n > 0) {
                conn->start += (size_t)n;
                progress = true;
            } else if (n != -EAGAIN) {
                fail(demo, "server write", (int)n);
                server_conn_close(demo, conn);
                return;
            }
        }
        if (conn->start == conn->end)
            conn->start = conn->end = 0;
        if (!conn->read_closed && conn->end < sizeof conn->buf) {
            ssize_t n = evsrc_tcp_stream_read(&conn->stream, conn->buf + conn->end, sizeof conn->buf - conn->end);
            if (n > 0) {
                conn->end += (size_t)n;
                progress = true;
            } else if (n == 0) {
                conn->read_closed = true;
                progress = true;
            } else if (n != -EAGAIN) {
                fail(demo, "server read", (int)n);
                server_conn_close(demo, conn);
                return;
            }
        }
        if (conn->read_closed && conn->start == conn->end) {
            server_conn_close(demo, conn); /* the client sent everything and got it all back */
            return;
        }
        if (!progress)
            return;
    }
}

static void accept_connections(struct demo *demo)
{
    for (;;) {
        struct server_conn *conn = malloc(sizeof *conn);
        if (!conn) {
            fail(demo, "accept", -ENOMEM);
            return;
        }
        int r = evsrc_tcp_listener_accept(&demo->listener, &conn->stream, NULL, NULL);
        if (r < 0) {
            free(conn);
            if (r != -EAGAIN)
                fail(demo, "accept", r);
            return;
        }
        conn->kind = SERVER_CONN;
        conn->start = conn->end = 0;
        conn->read_closed = false;
        r = evsrc_registry_register(demo->registry, &conn->stream.source, token_of(&conn->kind),
                                    EVSRC_READABLE | EVSRC_WRITABLE);
        if (r < 0) {
            fail(demo, "register connection", r);
            evsrc_tcp_stream_close(&conn->stream);
            free(conn);
            return;
        }
        conn->prev = NULL;
        conn->next = demo->server_conns;
        if (conn->next)
            conn->next->prev = conn;
        demo->server_conns = conn;
        demo->accepted++;
        demo->open_server_conns++;
        demo_log(demo, "[log] server: accepted connection %d", demo->accepted);
    }
}

static void client_finish(struct demo *demo, struct client *client)
{
    client->done = true;
    client->open = false;
    demo->clients_done++;
    evsrc_tcp_stream_close(&client->stream);
    demo_log(demo, "[log] client %d: %zu bytes echoed and verified", client->id, client->verified);
}

static bool client_write(struct demo *demo, struct client *client)
{
    unsigned char chunk[8192];
    while (client->sent < client->total) {
        size_t len = client->total - client->sent;
        if (len > sizeof chunk)
            len = sizeof chunk;
        for (size_t i = 0; i < len; i++)
            chunk[i] = pattern_byte(client->id, client->sent + i);
        ssize_t n = evsrc_tcp_stream_write(&client->stream, chunk, len);
        if (n == -EAGAIN)
            return true;
        if (n < 0) {
            fail(demo, "client write", (int)n);
            return false;
        }
        client->sent += (size_t)n;
    }
    if (!client->write_shut) {
        /* Tells the server we are done sending; it closes once it has echoed everything. */
        int r = evsrc_tcp_stream_shutdown(&client->stream, SHUT_WR);
        if (r < 0) {
            fail(demo, "client shutdown", r);
            return false;
        }
        client->write_shut = true;
    }
    return true;
}

static bool client_read(struct demo *demo, struct client *client)
{
    unsigned char buf[8192];
    for (;;) {
        ssize_t n = evsrc_tcp_stream_read(&client->stream, buf, sizeof buf);
        if (n == -EAGAIN)
            return true;
        if (n < 0) {
            fail(demo, "client read", (int)n);
            return false;
        }
        if (n == 0) {
            if (client->verified != client->total) {
                fprintf(stderr, "evsrc-demo: client %d: connection closed after %zu of %zu bytes\n", client->id,
                        client->verified, client->total);
                demo->failed = true;
                return false;
            }
            client_finish(demo, client);
            return true;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != pattern_byte(client->id, client->verified)) {
                fprintf(stderr, "evsrc-demo: client %d: byte %zu is wrong\n", client->id, client->verified);
                demo->failed = true;
                return false;
            }
            client->verified++;
        }
        demo->bytes_verified += (size_t)n;
    }
}

static void client_ready(struct demo *demo, struct client *client, const struct evsrc_event *event)
{
    if (client->done)
        return;
    if (!client->connected) {
        /* A non-blocking connect reports completion as writability (or an error); SO_ERROR says which. */
        if (!evsrc_event_is_writable(event) && !evsrc_event_is_error(event) &&
            !evsrc_event_is_write_closed(event))
            return;
        int error = evsrc_tcp_stream_take_error(&client->stream);
        if (error < 0) {
            fail(demo, "connect", error);
            return;
        }
        client->connected = true;
        demo_log(demo, "[log] client %d: connected", client->id);
    }
    if (client_write(demo, client))
        client_read(demo, client);
}

static void ticker_ready(struct demo *demo)
{
    uint64_t expirations;
    /* Read on every event: an unread periodic timerfd reports no new edge. */
    while (evsrc_timerfd_read(&demo->ticker, &expirations) == 0) {
        demo->ticks += expirations;
        printf("tick %llu: %zu of %zu bytes verified, %d of %d clients done\n", (unsigned long long)demo->ticks,
               demo->bytes_verified, demo->bytes_total, demo->clients_done, demo->client_count);
    }
}

static int setup_listener(struct demo *demo)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int r = evsrc_tcp_listener_bind(&demo->listener, (const struct sockaddr *)&addr, sizeof addr);
    if (r < 0)
        return r;
    demo->have_listener = true;
    demo->listener_kind = LISTENER;
    return evsrc_registry_register(demo->registry, &demo->listener.source, token_of(&demo->listener_kind),
                                   EVSRC_READABLE);
}

static int setup_clients(struct demo *demo, size_t bytes_each)
{
    struct sockaddr_storage addr;
    socklen_t addrlen = sizeof addr;
    int r = evsrc_tcp_listener_local_addr(&demo->listener, &addr, &addrlen);
    if (r < 0)
        return r;
    printf("evsrc-demo: echo server on 127.0.0.1:%u, %d clients x %zu bytes\n",
           ntohs(((struct sockaddr_in *)&addr)->sin_port), demo->client_count, bytes_each);
    for (int i = 0; i < demo->client_count; i++) {
        struct client *client = &demo->clients[i];
        *client = (struct client){.kind = CLIENT, .id = i, .total = bytes_each};
        r = evsrc_tcp_stream_connect(&client->stream, (const struct sockaddr *)&addr, addrlen);
        if (r < 0)
            return r;
        client->open = true;
        r = evsrc_registry_register(demo->registry, &client->stream.source, token_of(&client->kind),
                                    EVSRC_READABLE | EVSRC_WRITABLE);
        if (r < 0)
            return r;
        demo->bytes_total += bytes_each;
    }
    return 0;
}

static int setup_timers_and_log(struct demo *demo, long deadline_seconds)
{
    int r = evsrc_pipe_new(&demo->log_tx, &demo->log_rx);
    if (r < 0)
        return r;
    demo->have_log = true;
    demo->log_kind = LOG_PIPE;
    r = evsrc_registry_register(demo->registry, &demo->log_rx.source, token_of(&demo->log_kind), EVSRC_READABLE);
    if (r < 0)
        return r;

    const struct timespec period = {0, 50 * 1000000L};
    if ((r = evsrc_timerfd_new(&demo->ticker, CLOCK_MONOTONIC)) < 0)
        return r;
    demo->have_ticker = true;
    if ((r = evsrc_timerfd_set(&demo->ticker, &period, &period, 0)) < 0)
        return r;
    demo->ticker_kind = TICKER;
    r = evsrc_registry_register(demo->registry, &demo->ticker.source, token_of(&demo->ticker_kind),
                                EVSRC_READABLE);
    if (r < 0)
        return r;

    const struct timespec deadline = {deadline_seconds, 0};
    if ((r = evsrc_timerfd_new(&demo->deadline, CLOCK_MONOTONIC)) < 0)
        return r;
    demo->have_deadline = true;
    if ((r = evsrc_timerfd_set(&demo->deadline, &deadline, NULL, 0)) < 0)
        return r;
    demo->deadline_kind = DEADLINE;
    return evsrc_registry_register(demo->registry, &demo->deadline.source, token_of(&demo->deadline_kind),
                                   EVSRC_READABLE);
}

static const char *signal_name(int sig)
{
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}

/* SIGINT and SIGTERM arrive here as events: the loop ends after this round, and main() closes everything. */
static void signals_ready(struct demo *demo)
{
    struct signalfd_siginfo info;
    while (evsrc_signal_read(&demo->signals, &info) == 0) {
        demo->stop_signal = (int)info.ssi_signo;
        demo_log(demo, "[log] %s received from pid %u: stopping", signal_name(demo->stop_signal), info.ssi_pid);
    }
}

static void child_ready(struct demo *demo)
{
    /* The pidfd is readable once the child exits; reaping it takes its status. */
    if (evsrc_process_wait(&demo->child, &demo->child_status) == 0) {
        demo->child_reaped = true;
        demo_log(demo, "[log] child %d exited", (int)demo->child_status.si_pid);
    }
}

static int setup_signals(struct demo *demo)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    int r = evsrc_signal_new(&demo->signals, &stop);
    if (r < 0)
        return r;
    demo->have_signals = true;
    demo->signals_kind = SIGNALS;
    return evsrc_registry_register(demo->registry, &demo->signals.source, token_of(&demo->signals_kind),
                                   EVSRC_READABLE);
}

/* A child whose stdout is the log pipe, so its line arrives like any other log line. */
static int setup_child(struct demo *demo)
{
    posix_spawn_file_actions_t actions;
    int r = -posix_spawn_file_actions_init(&actions);
    if (r < 0)
        return r;
    r = -posix_spawn_file_actions_adddup2(&actions, evsrc_pipe_sender_fd(&demo->log_tx), STDOUT_FILENO);
    char *const argv[] = {"sh", "-c", "echo \"[child] pid $$: hello from a child process\"", NULL};
    if (r == 0)
        r = evsrc_process_spawn(&demo->child, "/bin/sh", argv, NULL, &actions, NULL);
    posix_spawn_file_actions_destroy(&actions);
    if (r < 0) {
        /* Not fatal: say why (under valgrind 3.19, say, pidfds are missing) and run without it. */
        printf("evsrc-demo: no child process: %s\n", strerror(-r));
        return 0;
    }
    demo->have_child = true;
    demo->child_kind = CHILD;
    return evsrc_registry_register(demo->registry, &demo->child.source, token_of(&demo->child_kind),
                                   EVSRC_READABLE);
}

static void report_child(struct demo *demo)
{
    if (!demo->have_child) {
        printf("child: not started\n");
        return;
    }
    pid_t pid = evsrc_process_pid(&demo->child);
    if (!demo->child_reaped) {
        /* Stopped before it exited: closing the pidfd would neither kill nor reap it, so do both. */
        evsrc_process_kill(&demo->child, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        printf("child: pid %d killed at stop\n", (int)pid);
    } else if (demo->child_status.si_code == CLD_EXITED) {
        printf("child: pid %d exited with status %d\n", (int)pid, demo->child_status.si_status);
    } else {
        printf("child: pid %d killed by %s\n", (int)pid, strsignal(demo->child_status.si_status));
    }
    evsrc_process_close(&demo->child);
}

/* ---- The control socket ---------------------------------------------------------------------------- */

/*
 * An abstract name (Linux): no socket file to create or unlink, and gone with the listener. The pid keeps
 * concurrent demos apart.
 */
static int control_address(struct sockaddr_un *addr, socklen_t *addrlen)
{
    char name[48];
    int len = snprintf(name, sizeof name, "evsrc-demo-%ld", (long)getpid());
    return evsrc_unix_addr_abstract(addr, addrlen, name, (size_t)len);
}

/* The client asks at once: a Unix connect completes immediately, and the request fits the socket buffer. */
static int setup_control(struct demo *demo)
{
    struct control *control = &demo->control;
    struct sockaddr_un addr;
    socklen_t addrlen;
    int r = control_address(&addr, &addrlen);
    if (r < 0 || (r = evsrc_unix_listener_bind_addr(&control->listener, &addr, addrlen)) < 0)
        return r;
    control->have_listener = true;
    control->listener_kind = CONTROL_LISTENER;
    r = evsrc_registry_register(demo->registry, &control->listener.source, token_of(&control->listener_kind),
                                EVSRC_READABLE);
    if (r < 0 || (r = evsrc_unix_stream_connect_addr(&control->client, &addr, addrlen)) < 0)
        return r;
    control->have_client = true;
    control->client_kind = CONTROL_CLIENT;
    r = evsrc_registry_register(demo->registry, &control->client.source, token_of(&control->client_kind),
                                EVSRC_READABLE);
    if (r < 0)
        return r;
    static const char request[] = "status\n";
    ssize_t n = evsrc_unix_stream_write(&control->client, request, sizeof request - 1);
    return n == (ssize_t)sizeof request - 1 ? 0 : (n < 0 ? (int)n : -EIO);
}

static void control_accept(struct demo *demo)
{
    struct control *control = &demo->control;
    struct evsrc_unix_stream conn;
    int r;
    while ((r = evsrc_unix_listener_accept(&control->listener, &conn, NULL, NULL)) == 0) {
        /* A control socket decides by who is asking: the kernel vouches for the peer's uid. */
        uid_t uid;
        if (control->have_server || evsrc_unix_stream_peer_cred(&conn, NULL, &uid, NULL) < 0 || uid != getuid()) {
            demo_log(demo, "[log] control: refused a connection");
            evsrc_unix_stream_close(&conn);
            continue;
        }
        control->server = conn;
        control->have_server = true;
        control->server_kind = CONTROL_SERVER;
        r = evsrc_registry_register(demo->registry, &control->server.source, token_of(&control->server_kind),
                                    EVSRC_READABLE);
        if (r < 0) {
            fail(demo, "register control connection", r);
            return;
        }
    }
    if (r != -EAGAIN)
        fail(demo, "control accept", r);
}

/* Reads the request line, answers it and closes: the client reads the answer up to end of stream. */
static void control_serve(struct demo *demo)
{
    struct control *control = &demo->control;
    ssize_t n;
    while ((n = evsrc_unix_stream_read(&control->server, control->request + control->request_len,
                                       sizeof control->request - 1 - control->request_len)) > 0)
        control->request_len += (size_t)n;
    if (n < 0 && n != -EAGAIN) {
        fail(demo, "control read", (int)n);
        return;
    }
    control->request[control->request_len] = '\0';
    if (!strchr(control->request, '\n') && n != 0 && control->request_len < sizeof control->request - 1)
        return; /* the rest of the line is still on its way */
    pid_t pid = 0;
    evsrc_unix_stream_peer_cred(&control->server, &pid, NULL, NULL);
    char reply[160];
    int len = strcmp(control->request, "status\n") == 0
                  ? snprintf(reply, sizeof reply, "ok: pid %ld asked; %d of %d clients connected\n", (long)pid,
                             demo->accepted, demo->client_count)
                  : snprintf(reply, sizeof reply, "error: unknown request\n");
    /* The reply is far smaller than the socket buffer: one write sends it whole. */
    if (evsrc_unix_stream_write(&control->server, reply, (size_t)len) != len)
        fail(demo, "control reply", -EIO);
    evsrc_unix_stream_close(&control->server);
    control->have_server = false;
}

static void control_read_reply(struct demo *demo)
{
    struct control *control = &demo->control;
    ssize_t n;
    while ((n = evsrc_unix_stream_read(&control->client, control->reply + control->reply_len,
                                       sizeof control->reply - 1 - control->reply_len)) > 0)
        control->reply_len += (size_t)n;
    if (n == -EAGAIN)
        return;
    if (n < 0) {
        fail(demo, "control client read", (int)n);
        return;
    }
    control->reply[control->reply_len] = '\0';
    if (strncmp(control->reply, "ok: ", 4) != 0) {
        fprintf(stderr, "evsrc-demo: control: unexpected reply \"%s\"\n", control->reply);
        demo->failed = true;
        return;
    }
    printf("control: %s", control->reply);
    control->answered = true;
    evsrc_unix_stream_close(&control->client);
    control->have_client = false;
}

static void close_control(struct control *control)
{
    if (control->have_server)
        evsrc_unix_stream_close(&control->server);
    if (control->have_client)
        evsrc_unix_stream_close(&control->client);
    if (control->have_listener)
        evsrc_unix_listener_close(&control->listener); /* an abstract name: nothing to unlink */
}

static void dispatch(struct demo *demo, const struct evsrc_event *event)
{
    enum kind *kind = (enum kind *)(uintptr_t)evsrc_event_token(event);
    switch (*kind) {
    case LISTENER:
        accept_connections(demo);
        break;
    case SERVER_CONN:
        server_conn_pump(demo, evsrc_container_of(kind, struct server_conn, kind));
        break;
    case CLIENT:
        client_ready(demo, evsrc_container_of(kind, struct client, kind), event);
        break;
    case LOG_PIPE:
        print_log_lines(demo);
        break;
    case TICKER:
        ticker_ready(demo);
        break;
    case DEADLINE:
        fprintf(stderr, "evsrc-demo: deadline reached with %zu of %zu bytes verified\n", demo->bytes_verified,
                demo->bytes_total);
        demo->failed = true;
        break;
    case SIGNALS:
        signals_ready(demo);
        break;
    case CHILD:
        child_ready(demo);
        break;
    case CONTROL_LISTENER:
        control_accept(demo);
        break;
    case CONTROL_SERVER:
        control_serve(demo);
        break;
    case CONTROL_CLIENT:
        control_read_reply(demo);
        break;
    }
}

static int run(struct demo *demo)
{
    struct evsrc_events *events;
    int r = evsrc_events_new(256, &events);
    if (r < 0)
        return r;
    /* Done when every client is verified, the server has closed its side of each connection, the
     * child is reaped and the control client has its answer; or when a signal stops the run. */
    while (!demo->failed && !demo->stop_signal &&
           (demo->clients_done < demo->client_count || demo->open_server_conns > 0 ||
            (demo->have_child && !demo->child_reaped) || !demo->control.answered)) {
        r = evsrc_poll_wait(demo->poll, events, NULL); /* the deadline timer bounds the wait */
        if (r == -EINTR)
            continue;
        if (r < 0)
            break;
        for (size_t i = 0; i < evsrc_events_len(events) && !demo->failed; i++)
            dispatch(demo, evsrc_events_get(events, i));
        r = 0;
    }
    evsrc_events_free(events);
    print_log_lines(demo); /* whatever the last round logged */
    return r;
}

int main(int argc, char **argv)
{
    int clients = argc > 1 ? atoi(argv[1]) : 8;
    long bytes_each = argc > 2 ? atol(argv[2]) : 16L << 20;
    long deadline_seconds = argc > 3 ? atol(argv[3]) : 30;
    if (clients < 1 || clients > 1000 || bytes_each < 1 || deadline_seconds < 1) {
        fprintf(stderr, "usage: %s [clients (1-1000) [bytes-per-client [deadline-seconds]]]\n", argv[0]);
        return 2;
    }

    /* Before anything else, and before any thread could exist: SIGINT and SIGTERM become events. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    evsrc_signal_block(&stop);

    struct demo demo = {.client_count = clients};
    demo.clients = calloc((size_t)clients, sizeof *demo.clients);
    int r = demo.clients ? evsrc_poll_new(&demo.poll) : -ENOMEM;
    if (r < 0) {
        fprintf(stderr, "evsrc-demo: setup: %s\n", strerror(-r));
        return 1;
    }
    demo.registry = evsrc_poll_registry(demo.poll);
    if ((r = setup_signals(&demo)) < 0 || (r = setup_timers_and_log(&demo, deadline_seconds)) < 0 ||
        (r = setup_child(&demo)) < 0 || (r = setup_listener(&demo)) < 0 ||
        (r = setup_clients(&demo, (size_t)bytes_each)) < 0 || (r = setup_control(&demo)) < 0 ||
        (r = run(&demo)) < 0)
        fail(&demo, "evsrc", r);

    printf("listener: accepted %d connections\n", demo.accepted);
    printf("clients: %d of %d verified, %zu of %zu bytes echoed intact\n", demo.clients_done, demo.client_count,
           demo.bytes_verified, demo.bytes_total);
    printf("ticker: %llu ticks\n", (unsigned long long)demo.ticks);
    printf("log pipe: %llu lines carried, %llu dropped\n", (unsigned long long)demo.log_lines,
           (unsigned long long)demo.log_dropped);
    printf("deadline: %s\n", demo.failed ? "missed or failed" : "not reached");
    printf("control socket: %s\n", demo.control.answered ? "status answered" : "no answer");
    report_child(&demo);
    if (demo.stop_signal)
        printf("signals: stopped cleanly by %s\n", signal_name(demo.stop_signal));

    while (demo.server_conns)
        server_conn_close(&demo, demo.server_conns);
    for (int i = 0; i < clients; i++)
        if (demo.clients[i].open)
            evsrc_tcp_stream_close(&demo.clients[i].stream);
    if (demo.have_listener)
        evsrc_tcp_listener_close(&demo.listener);
    if (demo.have_log) {
        evsrc_pipe_sender_close(&demo.log_tx);
        evsrc_pipe_receiver_close(&demo.log_rx);
    }
    if (demo.have_ticker)
        evsrc_timerfd_close(&demo.ticker);
    if (demo.have_deadline)
        evsrc_timerfd_close(&demo.deadline);
    if (demo.have_signals)
        evsrc_signal_close(&demo.signals);
    close_control(&demo.control);
    evsrc_poll_free(demo.poll);
    free(demo.clients);
    bool ok = !demo.failed && (demo.stop_signal || (demo.clients_done == clients && demo.control.answered));
    printf("evsrc-demo: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
