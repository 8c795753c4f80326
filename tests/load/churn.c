/* SPDX-License-Identifier: MIT */
/*
 * evsrc-churn: a bounded soak of connection churn, timers and wakes.
 *
 * For a given number of seconds, one loop (the main thread, one poll) runs an
 * echo server on 127.0.0.1 and clients of it that come and go at random:
 *
 *   clean      send a stream, read the whole echo back (every byte checked),
 *              shut down, read the end of stream and close;
 *   self-reset send part of a stream, then reset (SO_LINGER {1, 0}, close);
 *   reset-me   ask the server (in a 5-byte header) to reset the connection
 *              after a given number of bytes, and expect -ECONNRESET/-EPIPE;
 *   vanish     close at once after connect, before the handshake is done,
 *              with or without a reset, registered or not.
 *
 * Meanwhile a periodic timerfd spawns clients, one-shot timerfds are created,
 * armed, fired and cancelled (closed before they fire), and another thread
 * pokes the loop's waker: before each wake it queues a command (spawn
 * clients, reset a random client, adopt a timer it created and registered
 * from its own thread through a registry clone). A one-shot timerfd ends the
 * run; then the loop drains: it stops spawning, cancels the timers, lets the
 * clients in flight finish, and handles every queued command (the last wake
 * must reach it).
 *
 * It passes when every client ended the way its kind says (a clean client
 * got every byte back and a clean end of stream, unless a command reset it),
 * every connection the server accepted was closed, every timer fired or was
 * cancelled, every command was handled, nothing failed, and the process has
 * as many fds open at the end as at the start. Memory is freed to the last
 * byte, so LeakSanitizer (ASan builds) and valgrind find nothing. It prints
 * one line of figures and exits 0, or 1 on any failure. Every loop is bounded
 * in count and time: the run takes the duration plus a bounded drain.
 *
 * Usage: evsrc-churn [-d seconds (1..3600, default 20)] [-s seed] [-c max-clients]
 * Under valgrind it runs fewer, shorter clients and a slower ticker.
 */
#include <errno.h>
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <evsrc/evsrc.h>

#include "loadutil.h"

#define WAKER_TOKEN ((evsrc_token)1)
#define HEADER_LEN 5
#define MAILBOX_SIZE 256
#define SERVER_BUF 4096
#define CHUNK 8192
#define MAX_FAILURES_SHOWN 10

/* ---- Small helpers ------------------------------------------------------ */

/* A doubly linked list threaded through the objects that need cleaning up. */
struct link {
    struct link *prev, *next;
};

static void link_add(struct link *head, struct link *item)
{
    item->next = head->next;
    item->prev = head;
    head->next->prev = item;
    head->next = item;
}

static void link_remove(struct link *item)
{
    item->prev->next = item->next;
    item->next->prev = item->prev;
    item->prev = item->next = item;
}

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* ---- Objects in the loop ------------------------------------------------ */

/* Every registered object starts with its kind; its token is a pointer to it. */
enum kind { K_LISTENER, K_SERVER_CONN, K_CLIENT, K_TICKER, K_END, K_TIMER, K_DEAD };

/*
 * The head of every object: its kind, and its place in the list of its kind.
 * An object that ends is closed at once (so no later wait reports it) but
 * only marked dead and moved to the graveyard, freed after the batch of
 * events in hand: a later event of the same batch may still name it.
 */
struct object {
    enum kind kind;
    struct link link;
};

enum client_mode { MODE_CLEAN = 'C', MODE_SELF_RESET = 'K', MODE_RESET_ME = 'R', MODE_VANISH = 'V' };

struct server_conn {
    struct object obj;
    struct evsrc_tcp_stream stream;
    unsigned char header[HEADER_LEN];
    uint64_t received;
    uint32_t reset_at; /* MODE_RESET_ME: reset once this many bytes came in */
    size_t start, end;
    bool read_closed;
    unsigned char buf[SERVER_BUF];
};

struct client {
    struct object obj;
    struct evsrc_tcp_stream stream;
    enum client_mode mode;
    uint64_t key;
    uint64_t total, sent, received; /* total counts the header */
    uint64_t reset_at;              /* MODE_SELF_RESET: reset once this many bytes went out */
    bool connected, shut;
    unsigned char header[HEADER_LEN];
};

struct timer {
    struct object obj;
    struct evsrc_timerfd timer;
};

/* A command from the poking thread, queued before it wakes the loop. */
enum command_kind { CMD_SPAWN, CMD_RESET, CMD_TIMER };

struct command {
    enum command_kind kind;
    struct timer *timer; /* CMD_TIMER: made and registered by the poker, handed over here */
};

struct mailbox {
    pthread_mutex_t lock;
    struct command ring[MAILBOX_SIZE];
    unsigned head, len;
};

struct settings {
    double duration;
    uint64_t seed;
    long max_clients;
    size_t max_bytes;
    long tick_us;
    double drain_s;
};

struct stats {
    unsigned long spawned, clean, self_reset, reset_by_server, vanished, reset_on_command, client_failures, no_port;
    unsigned long accepted, server_clean, server_saw_reset, server_resets;
    unsigned long timers_created, timers_fired, timers_cancelled, ticks;
    unsigned long commands_handled, wake_events;
    uint64_t bytes_verified;
};

struct churn {
    struct settings settings;
    struct stats stats;
    struct evsrc_poll *poll;
    struct evsrc_registry *registry;
    struct evsrc_events *events;
    struct evsrc_waker *waker;
    struct object listener_obj;
    struct evsrc_tcp_listener listener;
    bool have_listener;
    struct sockaddr_in addr;
    struct timer ticker, end;
    bool have_ticker, have_end;
    struct link clients, conns, timers, graveyard;
    long open_clients, open_conns, open_timers;
    uint64_t rng;
    bool running;
    int failures;
    unsigned char out[CHUNK], in[CHUNK], expect[CHUNK];

    /* Shared with the poking thread. */
    struct mailbox mailbox;
    struct evsrc_registry *poker_registry;
    atomic_bool poker_stop;
    atomic_bool poker_done;
    atomic_ulong commands_pushed;
    atomic_ulong wakes_sent;
    atomic_int poker_error;
};

static void fail(struct churn *c, const char *format, ...)
{
    if (c->failures++ >= MAX_FAILURES_SHOWN)
        return;
    va_list args;
    va_start(args, format);
    fprintf(stderr, "evsrc-churn: ");
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
}

static evsrc_token token_of(struct object *obj)
{
    return (evsrc_token)(uintptr_t)obj;
}

static void object_init(struct object *obj, enum kind kind)
{
    obj->kind = kind;
    obj->link.prev = obj->link.next = &obj->link;
}

static void bury(struct churn *c, struct object *obj)
{
    obj->kind = K_DEAD;
    link_remove(&obj->link);
    link_add(&c->graveyard, &obj->link);
}

static void free_the_dead(struct churn *c)
{
    while (c->graveyard.next != &c->graveyard) {
        struct link *l = c->graveyard.next;
        link_remove(l);
        free(container_of(l, struct object, link));
    }
}

/* Makes closing `stream` send a reset; a failure is the run's. */
static void reset_on_close(struct churn *c, struct evsrc_tcp_stream *stream)
{
    int r = set_linger_zero(stream);
    if (r < 0)
        fail(c, "SO_LINGER: %s", strerror(-r));
}

static bool is_reset(ssize_t r)
{
    return r == -ECONNRESET || r == -EPIPE;
}

/* ---- Byte streams ----------------------------------------------------------- */

/* The bytes [offset, offset + len) a client sends: its header, then its key's pattern. */
static void client_bytes(const struct client *cl, uint64_t offset, unsigned char *buf, size_t len)
{
    size_t i = 0;
    for (; i < len && offset + i < HEADER_LEN; i++)
        buf[i] = cl->header[offset + i];
    if (i < len)
        pattern_fill(cl->key, offset + i - HEADER_LEN, buf + i, len - i);
}

/* ---- Timers ------------------------------------------------------------- */

static void timer_close(struct churn *c, struct timer *t, bool fired)
{
    evsrc_timerfd_close(&t->timer);
    bury(c, &t->obj);
    c->open_timers--;
    if (fired)
        c->stats.timers_fired++;
    else
        c->stats.timers_cancelled++;
}

/* Takes over a timer (made here or by the poker, registered, disarmed) and arms it for 0..10 ms. */
static void timer_adopt(struct churn *c, struct timer *t)
{
    link_add(&c->timers, &t->obj.link);
    c->open_timers++;
    c->stats.timers_created++;
    if (!c->running) {
        timer_close(c, t, false);
        return;
    }
    /* {0, 0} would disarm it: at least 1 ns. */
    struct timespec delay = {0, 1 + (long)rng_below(&c->rng, 10000000)};
    int r = evsrc_timerfd_set(&t->timer, &delay, NULL, 0);
    if (r < 0) {
        fail(c, "timer set: %s", strerror(-r));
        timer_close(c, t, false);
    }
}

static void timer_new(struct churn *c)
{
    struct timer *t = calloc(1, sizeof *t);
    if (!t) {
        fail(c, "out of memory");
        return;
    }
    object_init(&t->obj, K_TIMER);
    int r = evsrc_timerfd_new(&t->timer, CLOCK_MONOTONIC);
    if (r == 0) {
        r = evsrc_registry_register(c->registry, &t->timer.source, token_of(&t->obj), EVSRC_READABLE);
        if (r < 0)
            evsrc_timerfd_close(&t->timer);
    }
    if (r < 0) {
        fail(c, "timer: %s", strerror(-r));
        free(t);
        return;
    }
    timer_adopt(c, t);
}

static void timer_event(struct churn *c, struct timer *t)
{
    uint64_t expirations = 0;
    int r = evsrc_timerfd_read(&t->timer, &expirations);
    if (r == -EAGAIN)
        return; /* spurious */
    if (r < 0 || expirations != 1)
        fail(c, "one-shot timer: read %d, %" PRIu64 " expirations", r, expirations);
    timer_close(c, t, true);
}

/* One of the `count` (> 0) objects in the list at `head`, at random. */
static struct object *random_object(struct churn *c, struct link *head, long count)
{
    long pick = (long)rng_below(&c->rng, (uint64_t)count);
    struct link *l = head->next;
    while (pick-- > 0)
        l = l->next;
    return container_of(l, struct object, link);
}

/* Closes a random armed timer before it fires. */
static void timer_cancel_random(struct churn *c)
{
    if (c->open_timers > 0)
        timer_close(c, (struct timer *)(void *)random_object(c, &c->timers, c->open_timers), false);
}

/* ---- The server side ---------------------------------------------------- */

static void conn_close(struct churn *c, struct server_conn *s)
{
    evsrc_tcp_stream_close(&s->stream);
    bury(c, &s->obj);
    c->open_conns--;
}

/* Looks at the bytes just read: records the header, and says whether the client asked for a reset now. */
static bool conn_account(struct churn *c, struct server_conn *s, const unsigned char *data, size_t len)
{
    for (size_t i = 0; i < len && s->received + i < HEADER_LEN; i++)
        s->header[s->received + i] = data[i];
    s->received += len;
    if (s->received < HEADER_LEN)
        return false;
    unsigned char mode = s->header[0];
    if (mode != MODE_CLEAN && mode != MODE_SELF_RESET && mode != MODE_RESET_ME) {
        fail(c, "server: a stream starts with %#x, no mode", mode);
        return false;
    }
    if (mode != MODE_RESET_ME)
        return false;
    s->reset_at = (uint32_t)s->header[1] | (uint32_t)s->header[2] << 8 | (uint32_t)s->header[3] << 16 |
                  (uint32_t)s->header[4] << 24;
    return s->received >= s->reset_at;
}

static void conn_pump(struct churn *c, struct server_conn *s)
{
    for (;;) {
        bool progress = false;
        if (s->start < s->end) {
            ssize_t n = evsrc_tcp_stream_write(&s->stream, s->buf + s->start, s->end - s->start);
            if (n > 0) {
                s->start += (size_t)n;
                progress = true;
            } else if (is_reset(n)) {
                c->stats.server_saw_reset++;
                conn_close(c, s);
                return;
            } else if (n != -EAGAIN) {
                fail(c, "server write: %s", strerror((int)-n));
                conn_close(c, s);
                return;
            }
        }
        if (s->start == s->end)
            s->start = s->end = 0;
        if (!s->read_closed && s->end < sizeof s->buf) {
            ssize_t n = evsrc_tcp_stream_read(&s->stream, s->buf + s->end, sizeof s->buf - s->end);
            if (n > 0) {
                bool reset_now = conn_account(c, s, s->buf + s->end, (size_t)n);
                s->end += (size_t)n;
                progress = true;
                if (reset_now) {
                    reset_on_close(c, &s->stream);
                    c->stats.server_resets++;
                    conn_close(c, s);
                    return;
                }
            } else if (n == 0) {
                s->read_closed = true;
                progress = true;
            } else if (n == -ECONNRESET) {
                c->stats.server_saw_reset++;
                conn_close(c, s);
                return;
            } else if (n != -EAGAIN) {
                fail(c, "server read: %s", strerror((int)-n));
                conn_close(c, s);
                return;
            }
        }
        if (s->read_closed && s->start == s->end) {
            c->stats.server_clean++;
            conn_close(c, s);
            return;
        }
        if (!progress)
            return;
    }
}

static void server_accept(struct churn *c)
{
    for (;;) {
        struct server_conn *s = calloc(1, sizeof *s);
        if (!s) {
            fail(c, "out of memory");
            return;
        }
        int r = evsrc_tcp_listener_accept(&c->listener, &s->stream, NULL, NULL);
        if (r < 0) {
            free(s);
            if (r == -EAGAIN)
                return;
            if (r == -ECONNABORTED || r == -EINTR)
                continue;
            fail(c, "accept: %s", strerror(-r));
            return;
        }
        object_init(&s->obj, K_SERVER_CONN);
        link_add(&c->conns, &s->obj.link);
        c->open_conns++;
        c->stats.accepted++;
        r = evsrc_registry_register(c->registry, &s->stream.source, token_of(&s->obj),
                                    EVSRC_READABLE | EVSRC_WRITABLE);
        if (r < 0) {
            fail(c, "server register: %s", strerror(-r));
            conn_close(c, s);
            return;
        }
        conn_pump(c, s);
    }
}

/* ---- The clients -------------------------------------------------------- */

enum client_end { END_CLEAN, END_SELF_RESET, END_RESET_BY_SERVER, END_RESET_ON_COMMAND, END_FAILED };

static void client_finish(struct churn *c, struct client *cl, enum client_end how)
{
    if (how == END_SELF_RESET || how == END_RESET_ON_COMMAND)
        reset_on_close(c, &cl->stream);
    evsrc_tcp_stream_close(&cl->stream);
    bury(c, &cl->obj);
    c->open_clients--;
    if (how == END_CLEAN)
        c->stats.clean++;
    else if (how == END_SELF_RESET)
        c->stats.self_reset++;
    else if (how == END_RESET_BY_SERVER)
        c->stats.reset_by_server++;
    else if (how == END_RESET_ON_COMMAND)
        c->stats.reset_on_command++;
    else
        c->stats.client_failures++;
}

static void client_failed(struct churn *c, struct client *cl, const char *what, ssize_t r)
{
    fail(c, "%c client: %s: %s (sent %" PRIu64 ", received %" PRIu64 " of %" PRIu64 ")", cl->mode, what,
         r < 0 ? strerror((int)-r) : "unexpected", cl->sent, cl->received, cl->total);
    client_finish(c, cl, END_FAILED);
}

/* A reset (or -EPIPE) where the kind of client expects one, a failure elsewhere. */
static void client_reset_seen(struct churn *c, struct client *cl, const char *what, ssize_t r)
{
    if (cl->mode == MODE_RESET_ME)
        client_finish(c, cl, END_RESET_BY_SERVER);
    else
        client_failed(c, cl, what, r);
}

static void client_pump(struct churn *c, struct client *cl)
{
    for (;;) {
        bool progress = false;
        if (cl->mode == MODE_SELF_RESET && cl->sent >= cl->reset_at) {
            client_finish(c, cl, END_SELF_RESET);
            return;
        }
        if (cl->sent < cl->total) {
            uint64_t left = cl->total - cl->sent;
            size_t len = left < CHUNK ? (size_t)left : CHUNK;
            client_bytes(cl, cl->sent, c->out, len);
            ssize_t n = evsrc_tcp_stream_write(&cl->stream, c->out, len);
            if (n > 0) {
                cl->sent += (uint64_t)n;
                progress = true;
                continue; /* the reset point may have come */
            }
            if (is_reset(n)) {
                client_reset_seen(c, cl, "write", n);
                return;
            }
            if (n != -EAGAIN) {
                client_failed(c, cl, "write", n);
                return;
            }
        } else if (!cl->shut) {
            int r = evsrc_tcp_stream_shutdown(&cl->stream, SHUT_WR);
            if (r == -ENOTCONN || is_reset(r)) {
                client_reset_seen(c, cl, "shutdown", r);
                return;
            }
            if (r < 0) {
                client_failed(c, cl, "shutdown", r);
                return;
            }
            cl->shut = true;
            /* Nothing more to write: only reads matter now. */
            r = evsrc_registry_reregister(c->registry, &cl->stream.source, token_of(&cl->obj), EVSRC_READABLE);
            if (r < 0) {
                client_failed(c, cl, "reregister", r);
                return;
            }
        }
        ssize_t n = evsrc_tcp_stream_read(&cl->stream, c->in, sizeof c->in);
        if (n > 0) {
            if (cl->received + (uint64_t)n > cl->total) {
                client_failed(c, cl, "more bytes came back than were sent", 0);
                return;
            }
            client_bytes(cl, cl->received, c->expect, (size_t)n);
            if (memcmp(c->in, c->expect, (size_t)n) != 0) {
                client_failed(c, cl, "a wrong byte came back", 0);
                return;
            }
            cl->received += (uint64_t)n;
            c->stats.bytes_verified += (uint64_t)n;
            progress = true;
        } else if (n == 0) {
            if (cl->mode == MODE_CLEAN && cl->shut && cl->received == cl->total)
                client_finish(c, cl, END_CLEAN);
            else
                client_failed(c, cl, "end of stream", 0);
            return;
        } else if (is_reset(n)) {
            client_reset_seen(c, cl, "read", n);
            return;
        } else if (n != -EAGAIN) {
            client_failed(c, cl, "read", n);
            return;
        }
        if (!progress)
            return;
    }
}

static void client_event(struct churn *c, struct client *cl)
{
    if (!cl->connected) {
        int r = connect_result(&cl->stream);
        if (r < 0)
            client_failed(c, cl, "connect", r);
        if (r <= 0)
            return; /* failed, or still connecting */
        cl->connected = true;
    }
    client_pump(c, cl);
}

static void client_spawn(struct churn *c)
{
    struct client *cl = calloc(1, sizeof *cl);
    if (!cl) {
        fail(c, "out of memory");
        return;
    }
    object_init(&cl->obj, K_CLIENT);
    uint64_t dice = rng_below(&c->rng, 100);
    cl->mode = dice < 45 ? MODE_CLEAN : dice < 65 ? MODE_SELF_RESET : dice < 88 ? MODE_RESET_ME : MODE_VANISH;
    cl->key = rng_next(&c->rng);
    cl->total = HEADER_LEN + pick_length(&c->rng, c->settings.max_bytes);
    cl->header[0] = (unsigned char)(cl->mode == MODE_VANISH ? MODE_CLEAN : cl->mode);
    if (cl->mode == MODE_RESET_ME) {
        uint32_t at = (uint32_t)(HEADER_LEN + rng_below(&c->rng, cl->total - HEADER_LEN + 1));
        for (int i = 0; i < 4; i++)
            cl->header[1 + i] = (unsigned char)(at >> (8 * i));
    }
    cl->reset_at = rng_below(&c->rng, cl->total + 1);
    c->stats.spawned++;
    int r = evsrc_tcp_stream_connect(&cl->stream, (const struct sockaddr *)&c->addr, sizeof c->addr);
    if (r == -EADDRNOTAVAIL || r == -EAGAIN) {
        /* No local port is free (TIME_WAIT holds them, where tcp_tw_reuse is off): the machine's limit, not ours. */
        c->stats.no_port++;
        free(cl);
        return;
    }
    if (r < 0) {
        fail(c, "connect: %s", strerror(-r));
        c->stats.client_failures++;
        free(cl);
        return;
    }
    if (cl->mode == MODE_VANISH) {
        uint64_t how = rng_below(&c->rng, 3);
        if (how == 1)
            reset_on_close(c, &cl->stream);
        if (how == 2 &&
            (r = evsrc_registry_register(c->registry, &cl->stream.source, token_of(&cl->obj), EVSRC_READABLE)) < 0)
            fail(c, "register: %s", strerror(-r));
        evsrc_tcp_stream_close(&cl->stream);
        free(cl);
        c->stats.vanished++;
        return;
    }
    link_add(&c->clients, &cl->obj.link);
    c->open_clients++;
    r = evsrc_registry_register(c->registry, &cl->stream.source, token_of(&cl->obj), EVSRC_READABLE | EVSRC_WRITABLE);
    if (r < 0)
        client_failed(c, cl, "register", r);
}

static void client_reset_random(struct churn *c)
{
    if (c->open_clients > 0)
        client_finish(c, (struct client *)(void *)random_object(c, &c->clients, c->open_clients),
                      END_RESET_ON_COMMAND);
}

static void spawn_some(struct churn *c, long how_many)
{
    for (long i = 0; i < how_many && c->running && c->open_clients < c->settings.max_clients; i++)
        client_spawn(c);
}

/* ---- The poking thread ------------------------------------------------------ */

static bool mailbox_push(struct mailbox *box, struct command command)
{
    pthread_mutex_lock(&box->lock);
    bool pushed = box->len < MAILBOX_SIZE;
    if (pushed)
        box->ring[(box->head + box->len++) % MAILBOX_SIZE] = command;
    pthread_mutex_unlock(&box->lock);
    return pushed;
}

/* Makes a disarmed one-shot timer and registers it from this thread, through the clone. */
static struct timer *poker_timer(struct churn *c)
{
    struct timer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    object_init(&t->obj, K_TIMER);
    if (evsrc_timerfd_new(&t->timer, CLOCK_MONOTONIC) < 0) {
        free(t);
        return NULL;
    }
    if (evsrc_registry_register(c->poker_registry, &t->timer.source, token_of(&t->obj), EVSRC_READABLE) < 0) {
        evsrc_timerfd_close(&t->timer);
        free(t);
        return NULL;
    }
    return t;
}

static void *poker_run(void *arg)
{
    struct churn *c = arg;
    uint64_t rng = c->settings.seed ^ 0x706f6b6572u;
    double hard_end = now_s() + c->settings.duration + c->settings.drain_s;
    for (unsigned long i = 0; i < 10000000UL && !atomic_load(&c->poker_stop) && now_s() < hard_end; i++) {
        sleep_us((long)rng_below(&rng, 3000));
        uint64_t dice = rng_below(&rng, 10);
        struct command command = {dice < 4 ? CMD_SPAWN : dice < 7 ? CMD_RESET : CMD_TIMER, NULL};
        if (command.kind == CMD_TIMER && !(command.timer = poker_timer(c))) {
            atomic_store(&c->poker_error, 1);
            break;
        }
        if (!mailbox_push(&c->mailbox, command)) {
            /* The loop is behind: drop this one. */
            if (command.timer) {
                evsrc_timerfd_close(&command.timer->timer);
                free(command.timer);
            }
        } else {
            atomic_fetch_add(&c->commands_pushed, 1);
        }
        if (evsrc_waker_wake(c->waker) != 0) {
            atomic_store(&c->poker_error, 2);
            break;
        }
        atomic_fetch_add(&c->wakes_sent, 1);
    }
    atomic_store(&c->poker_done, true);
    return NULL;
}

static void handle_commands(struct churn *c)
{
    struct command batch[MAILBOX_SIZE];
    unsigned n = 0;
    pthread_mutex_lock(&c->mailbox.lock);
    while (c->mailbox.len > 0) {
        batch[n++] = c->mailbox.ring[c->mailbox.head];
        c->mailbox.head = (c->mailbox.head + 1) % MAILBOX_SIZE;
        c->mailbox.len--;
    }
    pthread_mutex_unlock(&c->mailbox.lock);
    for (unsigned i = 0; i < n; i++) {
        if (batch[i].kind == CMD_SPAWN)
            spawn_some(c, 1 + (long)rng_below(&c->rng, 3));
        else if (batch[i].kind == CMD_RESET)
            client_reset_random(c);
        else
            timer_adopt(c, batch[i].timer);
        c->stats.commands_handled++;
    }
}

/* ---- The loop -------------------------------------------------------------- */

static void ticker_event(struct churn *c)
{
    uint64_t expirations = 0;
    int r = evsrc_timerfd_read(&c->ticker.timer, &expirations);
    if (r == -EAGAIN)
        return;
    if (r < 0) {
        fail(c, "ticker: %s", strerror(-r));
        return;
    }
    c->stats.ticks += expirations;
    spawn_some(c, 4);
    uint64_t dice = rng_below(&c->rng, 10);
    if (c->running && dice < 3)
        timer_new(c);
    else if (dice == 3)
        timer_cancel_random(c);
}

static void dispatch(struct churn *c, evsrc_token token)
{
    if (token == WAKER_TOKEN) {
        c->stats.wake_events++;
        handle_commands(c);
        return;
    }
    struct object *obj = (struct object *)(uintptr_t)token;
    switch (obj->kind) {
    case K_LISTENER:
        server_accept(c);
        break;
    case K_SERVER_CONN:
        conn_pump(c, (struct server_conn *)(void *)obj);
        break;
    case K_CLIENT:
        client_event(c, (struct client *)(void *)obj);
        break;
    case K_TICKER:
        ticker_event(c);
        break;
    case K_END: {
        uint64_t expirations;
        if (evsrc_timerfd_read(&c->end.timer, &expirations) == 0)
            c->running = false;
        break;
    }
    case K_TIMER:
        timer_event(c, (struct timer *)(void *)obj);
        break;
    case K_DEAD:
        break; /* ended earlier in this batch */
    }
}

static int setup(struct churn *c)
{
    c->clients.prev = c->clients.next = &c->clients;
    c->conns.prev = c->conns.next = &c->conns;
    c->timers.prev = c->timers.next = &c->timers;
    c->graveyard.prev = c->graveyard.next = &c->graveyard;
    int r = pthread_mutex_init(&c->mailbox.lock, NULL);
    if (r != 0)
        return -r;
    if ((r = evsrc_poll_new(&c->poll)) < 0 || (r = evsrc_events_new(256, &c->events)) < 0)
        return r;
    c->registry = evsrc_poll_registry(c->poll);
    if ((r = evsrc_waker_new(&c->waker, c->registry, WAKER_TOKEN)) < 0)
        return r;
    if ((r = evsrc_registry_try_clone(c->registry, &c->poker_registry)) < 0)
        return r;

    if ((r = listen_loopback(&c->listener, &c->addr)) < 0)
        return r;
    c->have_listener = true;
    object_init(&c->listener_obj, K_LISTENER);
    if ((r = evsrc_registry_register(c->registry, &c->listener.source, token_of(&c->listener_obj),
                                     EVSRC_READABLE)) < 0)
        return r;

    object_init(&c->ticker.obj, K_TICKER);
    if ((r = evsrc_timerfd_new(&c->ticker.timer, CLOCK_MONOTONIC)) < 0)
        return r;
    c->have_ticker = true;
    struct timespec tick = {0, c->settings.tick_us * 1000L};
    if ((r = evsrc_registry_register(c->registry, &c->ticker.timer.source, token_of(&c->ticker.obj),
                                     EVSRC_READABLE)) < 0 ||
        (r = evsrc_timerfd_set(&c->ticker.timer, &tick, &tick, 0)) < 0)
        return r;

    object_init(&c->end.obj, K_END);
    if ((r = evsrc_timerfd_new(&c->end.timer, CLOCK_MONOTONIC)) < 0)
        return r;
    c->have_end = true;
    time_t whole = (time_t)c->settings.duration;
    struct timespec end = {whole, (long)((c->settings.duration - (double)whole) * 1e9)};
    if (end.tv_sec == 0 && end.tv_nsec == 0)
        end.tv_nsec = 1;
    if ((r = evsrc_registry_register(c->registry, &c->end.timer.source, token_of(&c->end.obj), EVSRC_READABLE)) < 0 ||
        (r = evsrc_timerfd_set(&c->end.timer, &end, NULL, 0)) < 0)
        return r;
    c->running = true;
    return 0;
}

/* Frees whatever setup() and the run left, in any state. */
static void teardown(struct churn *c)
{
    while (c->clients.next && c->clients.next != &c->clients)
        client_finish(c, (struct client *)(void *)container_of(c->clients.next, struct object, link), END_FAILED);
    while (c->conns.next && c->conns.next != &c->conns)
        conn_close(c, (struct server_conn *)(void *)container_of(c->conns.next, struct object, link));
    while (c->timers.next && c->timers.next != &c->timers)
        timer_close(c, (struct timer *)(void *)container_of(c->timers.next, struct object, link), false);
    if (c->graveyard.next)
        free_the_dead(c);
    /* Commands the loop never took (only after a failure): their timers are ours to free. */
    while (c->mailbox.len > 0) {
        struct command *command = &c->mailbox.ring[c->mailbox.head];
        if (command->timer) {
            evsrc_timerfd_close(&command->timer->timer);
            free(command->timer);
        }
        c->mailbox.head = (c->mailbox.head + 1) % MAILBOX_SIZE;
        c->mailbox.len--;
    }
    if (c->have_end)
        evsrc_timerfd_close(&c->end.timer);
    if (c->have_ticker)
        evsrc_timerfd_close(&c->ticker.timer);
    if (c->have_listener)
        evsrc_tcp_listener_close(&c->listener);
    evsrc_registry_free(c->poker_registry);
    evsrc_waker_free(c->waker);
    evsrc_events_free(c->events);
    evsrc_poll_free(c->poll);
    pthread_mutex_destroy(&c->mailbox.lock);
}

/* The run: churn until the end timer fires, then drain. Returns once drained or failed. */
static void run(struct churn *c, pthread_t poker)
{
    double hard_end = now_s() + c->settings.duration + 10;
    double drain_end = 0;
    bool draining = false, poker_joined = false;
    for (;;) {
        double now = now_s();
        if (c->running && now > hard_end) {
            fail(c, "the end timer never fired");
            c->running = false;
        }
        if (!c->running && !draining) {
            /* The end: no more clients or timers; the rest finish on their own. */
            draining = true;
            drain_end = now + c->settings.drain_s;
            atomic_store(&c->poker_stop, true);
            evsrc_timerfd_close(&c->ticker.timer);
            c->have_ticker = false;
            while (c->timers.next != &c->timers)
                timer_close(c, (struct timer *)(void *)container_of(c->timers.next, struct object, link), false);
        }
        if (draining) {
            if (!poker_joined && atomic_load(&c->poker_done)) {
                pthread_join(poker, NULL);
                poker_joined = true;
            }
            if (poker_joined && c->stats.commands_handled == atomic_load(&c->commands_pushed) &&
                c->open_clients == 0 && c->open_conns == 0 && c->open_timers == 0)
                return;
            if (now > drain_end) {
                fail(c, "not drained after %.0f s: poker %s, %lu of %lu commands handled, %ld clients, "
                        "%ld server connections, %ld timers open",
                     c->settings.drain_s, poker_joined ? "done" : "running", c->stats.commands_handled,
                     atomic_load(&c->commands_pushed), c->open_clients, c->open_conns, c->open_timers);
                if (!poker_joined) {
                    atomic_store(&c->poker_stop, true);
                    pthread_join(poker, NULL);
                }
                return;
            }
        }
        struct timespec timeout = {0, 100000000L};
        int n = evsrc_poll_wait(c->poll, c->events, &timeout);
        if (n == -EINTR)
            continue;
        if (n < 0) {
            fail(c, "wait: %s", strerror(-n));
            c->running = false;
            continue;
        }
        for (size_t i = 0; i < (size_t)n; i++)
            dispatch(c, evsrc_event_token(evsrc_events_get(c->events, i)));
        free_the_dead(c);
    }
}

/* The books must balance: every client, connection, timer and command ended one way or another. */
static void check_accounts(struct churn *c)
{
    struct stats *s = &c->stats;
    unsigned long clients_ended =
        s->clean + s->self_reset + s->reset_by_server + s->vanished + s->reset_on_command + s->client_failures +
        s->no_port;
    if (clients_ended != s->spawned)
        fail(c, "%lu clients spawned, %lu ended", s->spawned, clients_ended);
    unsigned long conns_ended = s->server_clean + s->server_saw_reset + s->server_resets;
    if (conns_ended != s->accepted)
        fail(c, "%lu connections accepted, %lu closed", s->accepted, conns_ended);
    if (s->timers_fired + s->timers_cancelled != s->timers_created)
        fail(c, "%lu timers created, %lu fired, %lu cancelled", s->timers_created, s->timers_fired,
             s->timers_cancelled);
    if (s->commands_handled != atomic_load(&c->commands_pushed))
        fail(c, "%lu commands queued, %lu handled", atomic_load(&c->commands_pushed), s->commands_handled);
    if (atomic_load(&c->commands_pushed) > 0 && s->wake_events == 0)
        fail(c, "commands were queued, but no wake reached the loop");
    if (s->spawned == 0 || s->ticks == 0)
        fail(c, "nothing happened: %lu clients, %lu ticks", s->spawned, s->ticks);
    if (atomic_load(&c->poker_error) != 0)
        fail(c, "the poking thread failed (%d)", atomic_load(&c->poker_error));
}

static void usage(void)
{
    fprintf(stderr, "usage: evsrc-churn [-d seconds] [-s seed] [-c max-clients]\n");
}

static bool parse_options(int argc, char **argv, struct settings *settings)
{
    int opt;
    while ((opt = getopt(argc, argv, "d:s:c:")) != -1) {
        char *end;
        errno = 0;
        if (opt == 'd') {
            settings->duration = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(settings->duration >= 1 && settings->duration <= 3600))
                return false;
        } else if (opt == 's') {
            settings->seed = strtoull(optarg, &end, 0);
            if (errno || end == optarg || *end)
                return false;
        } else if (opt == 'c') {
            settings->max_clients = strtol(optarg, &end, 0);
            if (errno || end == optarg || *end || settings->max_clients < 1 || settings->max_clients > 10000)
                return false;
        } else {
            return false;
        }
    }
    return optind == argc;
}

int main(int argc, char **argv)
{
    bool valgrind = UNDER_VALGRIND();
    static struct churn churn;
    struct churn *c = &churn;
    c->settings = (struct settings){
        .duration = 20,
        .seed = 1,
        .max_clients = valgrind ? 32 : 64,
        .max_bytes = valgrind ? 16384 : 65536,
        .tick_us = valgrind ? 5000 : 2000,
        .drain_s = valgrind ? 120 : 30,
    };
    if (!parse_options(argc, argv, &c->settings)) {
        usage();
        return EXIT_FAILURE;
    }
    c->rng = c->settings.seed;
    int fds_before = open_fd_count();
    double started = now_s();

    int r = setup(c);
    if (r < 0) {
        fail(c, "setup: %s", strerror(-r));
    } else {
        pthread_t poker;
        if (pthread_create(&poker, NULL, poker_run, c) != 0) {
            fail(c, "cannot start the poking thread");
        } else {
            run(c, poker);
            check_accounts(c);
        }
    }
    teardown(c);
    int fds_after = open_fd_count();
    if (fds_after != fds_before)
        fail(c, "%d fds open before, %d after", fds_before, fds_after);

    struct stats *s = &c->stats;
    printf("evsrc-churn: %s: %.1f s, %lu clients (%lu clean, %lu reset themselves, %lu reset by the server, "
           "%lu vanished, %lu reset on command, %lu found no free port), %lu accepted, %" PRIu64 " bytes verified, %lu ticks, %lu timers "
           "(%lu fired, %lu cancelled), %lu commands through %lu wakes (%lu wake events), fds %d -> %d, seed %llu\n",
           c->failures ? "FAILED" : "ok", now_s() - started, s->spawned, s->clean, s->self_reset, s->reset_by_server,
           s->vanished, s->reset_on_command, s->no_port, s->accepted, s->bytes_verified, s->ticks, s->timers_created,
           s->timers_fired, s->timers_cancelled, s->commands_handled, atomic_load(&c->wakes_sent), s->wake_events,
           fds_before, fds_after, (unsigned long long)c->settings.seed);
    return c->failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
