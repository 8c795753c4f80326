/* SPDX-License-Identifier: MIT */
/*
 * fuzz_registry: a libFuzzer target that drives evsrc through random
 * sequences of operations and checks every result against a model of what
 * the headers promise.
 *
 * The input is read as a byte stream: the first byte picks the capacity of
 * the events buffer, then each operation is one byte (op % OP_COUNT)
 * followed by its argument bytes. A short input simply ends early (missing
 * bytes read as 0). At most MAX_OPS operations run per input.
 *
 * What exists during one input:
 *   - two queue slots (Q0, Q1), each a poll plus up to two registry clones;
 *     both polls exist at the start, and ops free and recreate them;
 *   - up to MAX_SLOTS objects, at most MAX_LIVE_FDS of them open at once:
 *     pipe ends (evsrc_pipe_*), unix socketpair ends and eventfds (raw fds
 *     in struct evsrc_source_fd), timerfds (evsrc_timerfd), loopback TCP
 *     stream pairs (evsrc_tcp_*), wakers (evsrc_waker_*, their eventfd
 *     found by number), memfds (a file epoll refuses), connected loopback
 *     UDP socket pairs (evsrc_udp_*) and Unix stream and datagram pairs
 *     (evsrc_unix_*). Each has its own
 *     source plus a second "raw" evsrc_source_fd over the same fd; closed
 *     objects linger so that their stale sources and fd numbers are
 *     exercised too;
 *   - two custom sources whose ops record their calls, return what the
 *     input says, and may call the registry on themselves from inside an op;
 *   - two sources with missing ops.
 *
 * The model (all single-threaded, so every result is determined):
 *   - the kernel's registrations, keyed as epoll keys them, by (open file,
 *     fd number), per queue, with token, interests and oneshot state;
 *   - each source's registration mark (which queue instance), and which
 *     queue instances are alive (any handle left);
 *   - bytes buffered in pipes, socketpairs and eventfds, shutdown state.
 *
 * Checks (abort() on mismatch, so libFuzzer keeps the input):
 *   - every return value of register/reregister/deregister, fd- and
 *     source-level: -EINVAL (NULL registry, bad interests, bad source, the
 *     queue's own fd), -EBADF (negative or closed fd), -EEXIST, -ENOENT,
 *     -EPERM (memfd), -ELOOP (queues watching each other), the cross-queue
 *     ownership rules, stale marks of dead queues, the op's value passed
 *     through unchanged, ops never called when validation fails, a source
 *     busy inside its own op;
 *   - every event of a wait names a registration that exists at that wait,
 *     is not a disarmed oneshot, and has no readiness bit beyond what its
 *     interests ask for (plus ERR/HUP);
 *   - readiness that must be reported (an edge on a pipe, socketpair or
 *     eventfd registered for it, every wake of a waker, readiness present at
 *     register/reregister, level-triggered readiness) is reported within a
 *     bounded number of zero-timeout waits, given the buffer capacity and
 *     the queue's size;
 *   - the results of reads and writes (exact for pipes, socketpairs and
 *     eventfds, data in order for every stream), timer settings, errors of
 *     closed objects, the events buffer's length after every wait;
 *   - no SIGPIPE ever reaches the process (a handler aborts), the signal
 *     mask and pending set around evsrc_pipe_sender_write;
 *   - no fd is left open and no registration left behind after each input.
 *
 * Either backend: the target finds at start-up which one the library was
 * built with (a new poll's fd is an epoll fd or an eventfd). On the poll(2)
 * backend the model follows docs/backends.md: no -ELOOP; a reported edge
 * registration owes nothing more until a library call on its fd returns
 * -EAGAIN or a short count (model_io) or it is reregistered; a waker's
 * eventfd is emptied by the wait that reports it.
 *
 * Scenarios beyond one thread and one process (issue 20), each with its own
 * objects and its own check: a fork child using what it inherited (waits
 * answer -ECHILD; it frees the inherited polls, reuses their memory, reads
 * an empty inherited pipe, registers it in a poll of its own, closes it); a
 * close from another thread while one waits (the peer sees the close within
 * 10 s while the waiter would wait 30 s); short counts (a short write, then
 * the reader drains: the writable event comes; a short recv_many, then a
 * datagram: the readable event comes). fd numbers reused after a close and
 * LEVEL registrations beyond the buffer's capacity are in the model itself.
 *
 * Environment: EVSRC_FUZZ_TRACE=1 prints every operation and result to
 * stderr (to turn a crash input into a readable reproduction);
 * EVSRC_FUZZ_ALLOW=name,name lets the named checks pass (to keep fuzzing
 * past a known, reported finding).
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <evsrc/events.h>
#include <evsrc/interest.h>
#include <evsrc/pipe.h>
#include <evsrc/poll.h>
#include <evsrc/registry.h>
#include <evsrc/source.h>
#include <evsrc/tcp.h>
#include <evsrc/timerfd.h>
#include <evsrc/udp.h>
#include <evsrc/unix.h>
#include <evsrc/timers.h>
#include <evsrc/waker.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SLOTS 40
#define MAX_LIVE_FDS 32
#define MAX_OPS 256
#define NQUEUES 2
#define NCLONES 2
#define NHANDLES (NQUEUES * (1 + NCLONES))
#define MAX_ENTRIES 320
#define IO_MAX 256      /* bytes per read or write */
#define BUFFER_CAP 4096 /* bytes the model lets wait in one pipe or socket direction */
#define CHUNK_CAP 32    /* unread writes the model lets wait in one socket direction */
#define TOKEN_BASE UINT64_C(0x5a5a000000000000)
#define FD_SCAN_MAX 1024
#define TIMER_PERIOD_NS 500000L

/* ---- Reporting ---------------------------------------------------------- */

static bool trace;
static char allow_list[512];
static unsigned op_number;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    if (!trace)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  [%3u] ", op_number);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static bool allowed(const char *name)
{
    if (!name || !allow_list[0])
        return false;
    size_t len = strlen(name);
    for (const char *p = allow_list; (p = strstr(p, name)) != NULL; p += len) {
        bool starts = p == allow_list || p[-1] == ',';
        bool ends = p[len] == '\0' || p[len] == ',';
        if (starts && ends)
            return true;
    }
    return false;
}

static void mismatch(const char *name, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void mismatch(const char *name, int line, const char *fmt, ...)
{
    if (allowed(name))
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\nevsrc-fuzz: MODEL MISMATCH%s%s%s at fuzz_registry.c:%d, operation %u: ", name ? " [" : "",
            name ? name : "", name ? "]" : "", line, op_number);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (!(cond))                                      \
            mismatch(NULL, __LINE__, __VA_ARGS__);        \
    } while (0)
/* A check with a name, which EVSRC_FUZZ_ALLOW can waive. */
#define CHECK_AS(name, cond, ...)                         \
    do {                                                  \
        if (!(cond))                                      \
            mismatch(name, __LINE__, __VA_ARGS__);        \
    } while (0)

static const char *err_name(long r)
{
    static char buf[32];
    if (r >= 0) {
        snprintf(buf, sizeof buf, "%ld", r);
        return buf;
    }
    switch (-r) {
    case EINVAL: return "-EINVAL";
    case EBADF: return "-EBADF";
    case EEXIST: return "-EEXIST";
    case ENOENT: return "-ENOENT";
    case EPERM: return "-EPERM";
    case ELOOP: return "-ELOOP";
    case EAGAIN: return "-EAGAIN";
    case EPIPE: return "-EPIPE";
    case ECONNRESET: return "-ECONNRESET";
    case ENOTCONN: return "-ENOTCONN";
    case EIO: return "-EIO";
    case ENOMEM: return "-ENOMEM";
    case EINTR: return "-EINTR";
    case ENOTSOCK: return "-ENOTSOCK";
    case ECONNREFUSED: return "-ECONNREFUSED";
    default: snprintf(buf, sizeof buf, "-%ld", -r); return buf;
    }
}

/* err_name() has one buffer; results are printed one at a time through this. */
#define EXPECT(got, want, ...)                                                              \
    do {                                                                                    \
        long got_ = (long)(got), want_ = (long)(want);                                      \
        if (got_ != want_) {                                                                \
            char g_[32];                                                                    \
            snprintf(g_, sizeof g_, "%s", err_name(got_));                                  \
            fprintf(stderr, "\nevsrc-fuzz: got %s, want %s\n", g_, err_name(want_));        \
            mismatch(NULL, __LINE__, __VA_ARGS__);                                          \
        }                                                                                   \
    } while (0)

/* ---- Input -------------------------------------------------------------- */

struct input {
    const uint8_t *p;
    size_t n;
};

static uint8_t take(struct input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

/* ---- Model -------------------------------------------------------------- */

enum kind {
    K_NONE, K_PIPE_R, K_PIPE_W, K_SOCK, K_EVENTFD, K_TIMER, K_TCP, K_MEMFD, K_WAKER, K_UDP, K_USTREAM, K_UDGRAM
};
static const char *const kind_names[] = {"none", "pipe-r", "pipe-w", "sock", "eventfd", "timer",
                                         "tcp", "memfd", "waker", "udp", "unix-stream", "unix-dgram"};

/* The library's structs for one object: each kind uses one member. */
struct object {
    union {
        struct evsrc_source_fd sfd; /* K_SOCK, K_EVENTFD, K_MEMFD */
        struct evsrc_pipe_sender tx;
        struct evsrc_pipe_receiver rx;
        struct evsrc_timerfd timer;
        struct evsrc_tcp_stream tcp;
        struct evsrc_udp_socket udp;
        struct evsrc_unix_stream ustream;
        struct evsrc_unix_datagram udgram;
    } own;
    struct evsrc_source_fd raw; /* a second source over the same fd */
    struct evsrc_waker *waker;  /* K_WAKER: the waker (its eventfd is the slot's fd) */
};

struct slot {
    enum kind kind;
    bool open;
    int fd;         /* the fd, or the stale number once closed */
    uint32_t file;  /* model id of the open file (0 once closed) */
    int peer;       /* the other end's slot, or -1 */
    uint32_t peer_file;
    int raw_fd;     /* the fd number the raw source holds */
    uint64_t mark[2]; /* queue instance each source is marked with: [0] own, [1] raw */
    /* Data: what waits to be read at this end. */
    size_t buffered;    /* pipe-r, sock: bytes; eventfd: the counter */
    unsigned chunks;    /* sock: unread writes, an upper bound */
    bool in_closed;     /* pipe-r: no writer left; sock/tcp: nothing more will arrive */
    bool out_closed;    /* pipe-w: no reader left; sock: writes fail with EPIPE */
    bool reset_pending; /* sock: the peer closed with data unread */
    bool big_pipe;      /* pipe-w: room for 4+ buffers, so BUFFER_CAP never fills it */
    bool lossy;         /* unix-dgram: a send to the gone peer may have purged this end's queue */
    uint8_t wseq, rseq; /* the byte pattern of the stream towards this end */
    /* Timers. */
    bool timer_may_fire;
    bool timer_periodic;
    bool interval_known;
    struct timespec interval;
    /* udp: the datagrams sent towards this end and not yet received, oldest first (a ring). */
    struct {
        uint16_t len;
        uint8_t start; /* the pattern byte it starts with */
    } dgram[CHUNK_CAP];
    unsigned dgram_head, dgram_count;
};

/*
 * The library under test uses the poll(2) backend (-Dselector=poll): its
 * queue's fd is an eventfd, a registration of another queue's fd is no loop,
 * and edges are emulated (docs/backends.md). Found at start-up.
 */
static bool poll_backend;

enum armed { ARMED, DISARMED, MAYBE_ARMED };

/* One kernel registration: (queue, open file, fd number), as epoll keys it. */
struct entry {
    bool used;
    uint64_t inst;
    uint32_t file;
    int fd;
    evsrc_token token;
    evsrc_interest interests;
    enum armed armed;
    bool read_off;        /* poll backend: an edge registration that reported readable, until re-armed */
    bool waker_own;       /* a waker's own registration, as evsrc_waker_new made it */
    bool owed;            /* an event must come */
    unsigned owed_waits;  /* waits since it became owed */
};

struct queue {
    uint64_t inst; /* 0: dead */
    uint32_t file; /* the epoll file */
    struct evsrc_poll *poll;
    int poll_fd;   /* -1 when unknown or gone */
    struct evsrc_registry *clone[NCLONES];
    int clone_fd[NCLONES];
};

/* A source whose ops record what they were called with. */
struct custom {
    struct evsrc_source source;
    int result;           /* what the next op returns */
    int nested;           /* 0 none; 1, 2, 3: register, reregister, deregister itself from inside the op */
    unsigned calls[3];
    struct evsrc_registry *want_registry;
    evsrc_token want_token;
    evsrc_interest want_interests;
};

static struct world {
    struct slot slots[MAX_SLOTS];
    struct queue q[NQUEUES];
    struct entry entries[MAX_ENTRIES];
    struct custom custom[2];
    uint64_t custom_mark[2];
    struct evsrc_source bad[2];
    struct evsrc_events *events;
    size_t capacity;
    uint64_t next_inst;
    uint32_t next_file;
    uint64_t next_token;
    unsigned scenarios; /* scenario ops run in this input (scenario_allowed) */
} W;

/* The structs live apart from the model so they can start each input as garbage. */
static struct object objects[MAX_SLOTS];

static const struct event_source_ops partial_ops = {NULL, NULL, NULL};

static bool is_library_kind(enum kind k)
{
    return k == K_PIPE_R || k == K_PIPE_W || k == K_TIMER || k == K_TCP || k == K_UDP || k == K_USTREAM ||
           k == K_UDGRAM;
}

static struct evsrc_source *own_source(int i)
{
    struct object *o = &objects[i];
    switch (W.slots[i].kind) {
    case K_PIPE_R: return &o->own.rx.source;
    case K_PIPE_W: return &o->own.tx.source;
    case K_TIMER: return &o->own.timer.source;
    case K_TCP: return &o->own.tcp.source;
    case K_UDP: return &o->own.udp.source;
    case K_USTREAM: return &o->own.ustream.source;
    case K_UDGRAM: return &o->own.udgram.source;
    default: return &o->own.sfd.source;
    }
}

/* The fd number the own source's ops hand to the registry. */
static int own_fd(int i)
{
    const struct slot *s = &W.slots[i];
    if (s->open)
        return s->fd;
    return is_library_kind(s->kind) ? -1 : s->fd;
}

static uint32_t new_file(void)
{
    return ++W.next_file;
}

static int live_fds(void)
{
    int n = 0;
    for (int i = 0; i < MAX_SLOTS; i++)
        n += W.slots[i].open;
    return n;
}

/* The k-th slot in use (open or lingering closed), k from the input byte. */
static int pick_slot(uint8_t b)
{
    int used = 0;
    for (int i = 0; i < MAX_SLOTS; i++)
        used += W.slots[i].kind != K_NONE;
    if (used == 0)
        return -1;
    int k = b % used;
    for (int i = 0; i < MAX_SLOTS; i++)
        if (W.slots[i].kind != K_NONE && k-- == 0)
            return i;
    return -1;
}

/* A slot for a new object: an unused one, else a closed one (its struct is reused). */
static int free_slot(int except)
{
    for (int i = 0; i < MAX_SLOTS; i++)
        if (i != except && W.slots[i].kind == K_NONE)
            return i;
    for (int i = 0; i < MAX_SLOTS; i++)
        if (i != except && !W.slots[i].open)
            return i;
    return -1;
}

/* The peer slot if it is still the object this end was made with, and open. */
static struct slot *live_peer(const struct slot *s)
{
    if (s->peer < 0)
        return NULL;
    struct slot *p = &W.slots[s->peer];
    return p->open && p->file == s->peer_file ? p : NULL;
}

static bool queue_alive(uint64_t inst)
{
    if (inst == 0)
        return false;
    for (int q = 0; q < NQUEUES; q++)
        if (W.q[q].inst == inst)
            return true;
    return false;
}

/* ---- Entries ------------------------------------------------------------- */

static struct entry *entry_find(uint64_t inst, uint32_t file, int fd)
{
    for (int i = 0; i < MAX_ENTRIES; i++) {
        struct entry *e = &W.entries[i];
        if (e->used && e->inst == inst && e->file == file && e->fd == fd)
            return e;
    }
    return NULL;
}

static struct entry *entry_new(void)
{
    for (int i = 0; i < MAX_ENTRIES; i++)
        if (!W.entries[i].used) {
            memset(&W.entries[i], 0, sizeof W.entries[i]);
            W.entries[i].used = true;
            return &W.entries[i];
        }
    CHECK(false, "model: out of entries");
    return NULL;
}

static void entries_drop_file(uint32_t file)
{
    for (int i = 0; i < MAX_ENTRIES; i++)
        if (W.entries[i].used && W.entries[i].file == file)
            W.entries[i].used = false;
}

static void entries_drop_inst(uint64_t inst)
{
    for (int i = 0; i < MAX_ENTRIES; i++)
        if (W.entries[i].used && W.entries[i].inst == inst)
            W.entries[i].used = false;
}

static unsigned entries_in(uint64_t inst)
{
    unsigned n = 0;
    for (int i = 0; i < MAX_ENTRIES; i++)
        n += W.entries[i].used && W.entries[i].inst == inst;
    return n;
}

/* Whether queue `inst` watches the epoll file `file` (under any fd number). */
static bool queue_watches(uint64_t inst, uint32_t file)
{
    for (int i = 0; i < MAX_ENTRIES; i++)
        if (W.entries[i].used && W.entries[i].inst == inst && W.entries[i].file == file)
            return true;
    return false;
}

static struct slot *slot_of_file(uint32_t file)
{
    for (int i = 0; i < MAX_SLOTS; i++)
        if (W.slots[i].open && W.slots[i].file == file)
            return &W.slots[i];
    return NULL;
}

/* Readiness the model is sure of (and whose wakeups are synchronous). */
static bool readable_known(const struct slot *s)
{
    if (!s || !s->open)
        return false;
    switch (s->kind) {
    case K_PIPE_R:
    case K_SOCK:
    case K_USTREAM: return s->buffered > 0 || s->in_closed;
    case K_UDGRAM: return (s->chunks > 0 && !s->lossy) || s->in_closed;
    case K_EVENTFD: return s->buffered > 0;
    /* The poll backend's wait empties a waker's eventfd when it reports it: its count is not the model's. */
    case K_WAKER: return !poll_backend && s->buffered > 0;
    default: return false;
    }
}

static bool writable_known(const struct slot *s)
{
    if (!s || !s->open)
        return false;
    /* The model never lets a pipe hold more than BUFFER_CAP, far below full (unless the
     * user's pipe quota shrank it to 2 buffers). */
    return (s->kind == K_PIPE_W && s->big_pipe) || s->kind == K_EVENTFD || s->kind == K_WAKER;
}

static bool ready_for(const struct entry *e)
{
    const struct slot *s = slot_of_file(e->file);
    return ((e->interests & EVSRC_READABLE) && readable_known(s)) ||
           ((e->interests & EVSRC_WRITABLE) && writable_known(s));
}

static void owe(struct entry *e)
{
    if (!e->owed) {
        e->owed = true;
        e->owed_waits = 0;
    }
}

/* The file at slot s became readable through a wakeup: its armed readable registrations owe an event. */
static void owe_readable(const struct slot *s)
{
    for (int i = 0; i < MAX_ENTRIES; i++) {
        struct entry *e = &W.entries[i];
        if (e->used && e->file == s->file && e->armed == ARMED && !e->read_off && (e->interests & EVSRC_READABLE) &&
            (!poll_backend || s->kind != K_WAKER || e->waker_own))
            owe(e);
    }
}

/*
 * A library I/O call on slot i returned r, of `asked` (0: a short count
 * re-arms nothing). On the poll backend -EAGAIN, or a short count where the
 * headers let a program stop (a write, recv_many), re-arms every
 * registration of the fd (fd_source.h); on epoll the kernel keeps edges.
 */
static void model_io(int i, long r, long asked)
{
    const struct slot *s = &W.slots[i];
    if (!poll_backend || !s->open || !(r == -EAGAIN || (asked > 0 && r >= 0 && r < asked)))
        return;
    for (int k = 0; k < MAX_ENTRIES; k++)
        if (W.entries[k].used && W.entries[k].fd == s->fd)
            W.entries[k].read_off = false;
}

/* Data was taken from the file: any event owed for it may have gone. */
static void forgive(const struct slot *s)
{
    for (int i = 0; i < MAX_ENTRIES; i++)
        if (W.entries[i].used && W.entries[i].file == s->file)
            W.entries[i].owed = false;
}

/* ---- Interests, tokens, handles, fd targets ------------------------------ */

static evsrc_interest pick_interests(uint8_t b)
{
    evsrc_interest i = b & 7u; /* READABLE, WRITABLE, PRIORITY */
    if (b & 0x08)
        i |= EVSRC_LEVEL;
    if (b & 0x10)
        i |= EVSRC_ONESHOT;
    switch (b >> 5) {
    case 6: i |= 0x8u; break;
    case 7: i |= 0x80000000u; break;
    default: break;
    }
    return i;
}

static bool interests_valid(evsrc_interest i)
{
    const evsrc_interest kinds = EVSRC_READABLE | EVSRC_WRITABLE | EVSRC_PRIORITY;
    return (i & kinds) != 0 && (i & ~(kinds | EVSRC_LEVEL | EVSRC_ONESHOT)) == 0;
}

/* The event flags a registration for `i` may report (ERR and HUP always may). */
static uint32_t allowed_flags(evsrc_interest i)
{
    uint32_t f = EVSRC_EVENT_FLAG_ERR | EVSRC_EVENT_FLAG_HUP;
    if (i & EVSRC_READABLE)
        f |= EVSRC_EVENT_FLAG_IN | EVSRC_EVENT_FLAG_RDHUP;
    if (i & EVSRC_WRITABLE)
        f |= EVSRC_EVENT_FLAG_OUT;
    if (i & EVSRC_PRIORITY)
        f |= EVSRC_EVENT_FLAG_PRI;
    return f;
}

/* Mostly fresh tokens, so an event names one registration; sometimes 0, ~0 or a reused one. */
static evsrc_token pick_token(uint8_t b)
{
    if (b < 0xf0)
        return TOKEN_BASE + ++W.next_token;
    if (b == 0xf0)
        return 0;
    if (b == 0xf1)
        return UINT64_MAX;
    int k = b & 0x0f;
    for (int i = 0; i < MAX_ENTRIES; i++)
        if (W.entries[i].used && k-- <= 0)
            return W.entries[i].token;
    return TOKEN_BASE + ++W.next_token;
}

static const char *handle_name(unsigned h)
{
    static const char *const names[NHANDLES] = {"Q0.poll", "Q0.clone0", "Q0.clone1",
                                                "Q1.poll", "Q1.clone0", "Q1.clone1"};
    return names[h % NHANDLES];
}

/* A registry handle from the input byte; NULL (and *qp NULL) when that handle does not exist. */
static struct evsrc_registry *pick_handle(uint8_t b, struct queue **qp, const char **name)
{
    unsigned h = b % NHANDLES;
    struct queue *q = &W.q[h / (1 + NCLONES)];
    unsigned k = h % (1 + NCLONES);
    struct evsrc_registry *reg = k == 0 ? (q->poll ? evsrc_poll_registry(q->poll) : NULL) : q->clone[k - 1];
    *qp = reg ? q : NULL;
    *name = handle_name(h);
    return reg;
}

/* An fd number: mostly a slot's (current or stale), sometimes a queue's own fd or a bad number. */
static int pick_fd(uint8_t b)
{
    if (b < 0xf0) {
        int i = pick_slot(b);
        return i < 0 ? -1 : W.slots[i].fd;
    }
    switch (b & 0x0f) {
    case 0: return -1;
    case 1: return INT_MIN;
    case 2: return 1000;
    case 3: case 4: case 5: case 6: case 7: case 8: {
        int h = (b & 0x0f) - 3;
        const struct queue *q = &W.q[h / 3];
        int fd = h % 3 == 0 ? q->poll_fd : q->clone_fd[h % 3 - 1];
        return fd;
    }
    default: {
        int i = pick_slot((uint8_t)(b * 7));
        return i < 0 ? -1 : W.slots[i].fd;
    }
    }
}

/* ---- fd bookkeeping ------------------------------------------------------ */

struct fdset {
    uint64_t bits[FD_SCAN_MAX / 64];
    int beyond;
};

static void fd_snapshot(struct fdset *set)
{
    memset(set, 0, sizeof *set);
    DIR *dir = opendir("/proc/self/fd");
    CHECK(dir != NULL, "opendir(/proc/self/fd): %s", strerror(errno));
    int own = dirfd(dir);
    struct dirent *d;
    while ((d = readdir(dir)) != NULL) {
        if (d->d_name[0] == '.')
            continue;
        int fd = atoi(d->d_name);
        if (fd == own)
            continue;
        if (fd < FD_SCAN_MAX)
            set->bits[fd / 64] |= UINT64_C(1) << (fd % 64);
        else
            set->beyond++;
    }
    closedir(dir);
}

static bool fd_is_open(int fd)
{
    return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

static int lowest_free_fd(void)
{
    for (int fd = 0; fd < FD_SCAN_MAX; fd++)
        if (!fd_is_open(fd))
            return fd;
    return -1;
}

static bool fd_links_to(int fd, const char *want)
{
    if (fd < 0)
        return false;
    char path[64], target[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0)
        return false;
    target[n] = '\0';
    return strcmp(target, want) == 0;
}

/* Whether fd is a queue's fd: an epoll fd, or on the poll backend the queue's eventfd. */
static bool fd_is_queue(int fd)
{
    return fd_links_to(fd, poll_backend ? "anon_inode:[eventfd]" : "anon_inode:[eventpoll]");
}

/*
 * fds are allocated lowest-first and nothing else opens fds meanwhile: the
 * queue's fd is the predicted one (a poll backend clone makes none).
 */
static int discover_epoll_fd(int predicted)
{
    return fd_is_queue(predicted) ? predicted : -1;
}

static bool fd_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

static bool fd_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    return fl >= 0 && (fl & FD_CLOEXEC);
}

/* What an fd number refers to, in the model. */
enum target_type { T_BAD, T_FOREIGN, T_SLOT, T_EPOLL };
struct target {
    enum target_type type;
    int slot;
    struct queue *q;
    uint32_t file;
};

static struct target resolve(int fd)
{
    struct target t = {T_BAD, -1, NULL, 0};
    if (fd < 0)
        return t;
    for (int i = 0; i < MAX_SLOTS; i++)
        if (W.slots[i].open && W.slots[i].fd == fd) {
            t.type = T_SLOT;
            t.slot = i;
            t.file = W.slots[i].file;
            return t;
        }
    for (int q = 0; q < NQUEUES; q++) {
        struct queue *Q = &W.q[q];
        if (!Q->inst)
            continue;
        bool match = (Q->poll && Q->poll_fd == fd);
        for (int k = 0; k < NCLONES; k++)
            match |= Q->clone[k] && Q->clone_fd[k] == fd;
        if (match) {
            t.type = T_EPOLL;
            t.q = Q;
            t.file = Q->file;
            return t;
        }
    }
    if (fd_is_open(fd))
        t.type = T_FOREIGN; /* not ours: never touched */
    return t;
}

/* ---- Kernel registration model ------------------------------------------- */

enum ctl_op { CTL_ADD, CTL_MOD, CTL_DEL };
#define SKIP 1 /* not an errno: the fd is not ours, so the op is not made */

/* The epoll_ctl outcome for `fd` in queue q (non-NULL), or SKIP for an fd that is not ours. */
static int ctl_expect(enum ctl_op op, const struct queue *q, int fd, struct target *t)
{
    if (fd < 0)
        return -EBADF;
    *t = resolve(fd);
    switch (t->type) {
    case T_FOREIGN: return SKIP;
    case T_BAD: return -EBADF;
    case T_SLOT:
        if (W.slots[t->slot].kind == K_MEMFD)
            return -EPERM;
        break;
    case T_EPOLL:
        if (t->file == q->file)
            return -EINVAL;
        if (!poll_backend && op == CTL_ADD && queue_watches(t->q->inst, q->file))
            return -ELOOP;
        break;
    }
    bool exists = entry_find(q->inst, t->file, fd) != NULL;
    if (op == CTL_ADD)
        return exists ? -EEXIST : 0;
    return exists ? 0 : -ENOENT;
}

static void ctl_apply(enum ctl_op op, const struct queue *q, int fd, const struct target *t, evsrc_token token,
                      evsrc_interest interests)
{
    struct entry *e = entry_find(q->inst, t->file, fd);
    if (op == CTL_DEL) {
        CHECK(e != NULL, "model: deleting a missing entry");
        e->used = false;
        return;
    }
    if (op == CTL_ADD) {
        CHECK(e == NULL, "model: adding an entry twice");
        e = entry_new();
        e->inst = q->inst;
        e->file = t->file;
        e->fd = fd;
    }
    CHECK(e != NULL, "model: modifying a missing entry");
    e->token = token;
    e->interests = interests;
    e->armed = ARMED;
    e->read_off = false;
    e->waker_own = false;
    /* ADD and MOD poll the file at once: readiness already present is queued. */
    if (ready_for(e))
        owe(e);
    else
        e->owed = false;
}

/* ---- Custom source ------------------------------------------------------- */

static void custom_nested(struct custom *c, struct evsrc_registry *registry)
{
    int r;
    switch (c->nested) {
    case 1:
        r = evsrc_registry_register(registry, &c->source, 77, EVSRC_READABLE);
        CHECK(r == -EEXIST, "register from inside the source's own op: got %s, want -EEXIST", err_name(r));
        break;
    case 2:
        r = evsrc_registry_reregister(registry, &c->source, 77, EVSRC_READABLE);
        CHECK(r == -ENOENT, "reregister from inside the source's own op: got %s, want -ENOENT", err_name(r));
        break;
    case 3:
        r = evsrc_registry_deregister(registry, &c->source);
        CHECK(r == -ENOENT, "deregister from inside the source's own op: got %s, want -ENOENT", err_name(r));
        break;
    default: break;
    }
}

static int custom_register(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                           evsrc_interest interests)
{
    struct custom *c = evsrc_container_of(source, struct custom, source);
    c->calls[0]++;
    CHECK(registry == c->want_registry && token == c->want_token && interests == c->want_interests,
          "register op called with other arguments than the caller passed");
    custom_nested(c, registry);
    return c->result;
}

static int custom_reregister(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                             evsrc_interest interests)
{
    struct custom *c = evsrc_container_of(source, struct custom, source);
    c->calls[1]++;
    CHECK(registry == c->want_registry && token == c->want_token && interests == c->want_interests,
          "reregister op called with other arguments than the caller passed");
    /* No nested call here: the record is not busy during a reregister, so the calls would simply work. */
    return c->result;
}

static int custom_deregister(struct evsrc_source *source, struct evsrc_registry *registry)
{
    struct custom *c = evsrc_container_of(source, struct custom, source);
    c->calls[2]++;
    CHECK(registry == c->want_registry, "deregister op called with another registry");
    custom_nested(c, registry);
    return c->result;
}

static const struct event_source_ops custom_ops = {custom_register, custom_reregister, custom_deregister};

/* ---- Objects ------------------------------------------------------------- */

static void slot_setup(int i, enum kind kind, int fd)
{
    struct slot *s = &W.slots[i];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->open = true;
    s->fd = fd;
    s->file = new_file();
    s->peer = -1;
    s->interval_known = true;
    int r = evsrc_source_fd_init(&objects[i].raw, fd);
    EXPECT(r, 0, "evsrc_source_fd_init(raw, %d)", fd);
    s->raw_fd = fd;
}

/* A failed constructor left the struct closed: the slot's old object is gone from the model. */
static void slot_forget(int i)
{
    CHECK(!W.slots[i].open, "model: forgetting an open slot");
    memset(&W.slots[i], 0, sizeof W.slots[i]);
    W.slots[i].kind = K_NONE;
    W.slots[i].peer = -1;
}

static void link_peers(int a, int b)
{
    W.slots[a].peer = b;
    W.slots[a].peer_file = W.slots[b].file;
    W.slots[b].peer = a;
    W.slots[b].peer_file = W.slots[a].file;
}

static void check_new_fd(int fd, const char *what)
{
    CHECK(fd >= 0, "%s: no fd", what);
    CHECK(fd_nonblocking(fd), "%s: fd %d is not non-blocking", what, fd);
    CHECK(fd_cloexec(fd), "%s: fd %d is not close-on-exec", what, fd);
}

static void create_pipe(bool adopt)
{
    int a = free_slot(-1), b = free_slot(a);
    if (a < 0 || b < 0 || live_fds() + 2 > MAX_LIVE_FDS)
        return;
    struct evsrc_pipe_receiver *rx = &objects[a].own.rx;
    struct evsrc_pipe_sender *tx = &objects[b].own.tx;
    int rfd, wfd;
    if (!adopt) {
        int r = evsrc_pipe_new(tx, rx);
        if (r == -EMFILE || r == -ENFILE) {
            slot_forget(a);
            slot_forget(b);
            return;
        }
        EXPECT(r, 0, "evsrc_pipe_new");
        rfd = evsrc_pipe_receiver_fd(rx);
        wfd = evsrc_pipe_sender_fd(tx);
        check_new_fd(rfd, "pipe receiver");
        check_new_fd(wfd, "pipe sender");
    } else {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
            return;
        rfd = fds[0];
        wfd = fds[1];
        /* The wrong ends are refused, and the fd stays the caller's, unchanged. */
        EXPECT(evsrc_pipe_receiver_from_fd(rx, wfd), -EINVAL, "receiver_from_fd(write end)");
        EXPECT(evsrc_pipe_receiver_fd(rx), -EBADF, "receiver left closed after a failed adoption");
        EXPECT(evsrc_pipe_sender_from_fd(tx, rfd), -EINVAL, "sender_from_fd(read end)");
        EXPECT(evsrc_pipe_sender_fd(tx), -EBADF, "sender left closed after a failed adoption");
        EXPECT(evsrc_pipe_sender_from_fd(tx, -1), -EBADF, "sender_from_fd(-1)");
        CHECK(fd_is_open(rfd) && fd_is_open(wfd) && !fd_nonblocking(rfd) && !fd_nonblocking(wfd),
              "a failed adoption changed the fd");
        EXPECT(evsrc_pipe_receiver_from_fd(rx, rfd), 0, "receiver_from_fd");
        EXPECT(evsrc_pipe_sender_from_fd(tx, wfd), 0, "sender_from_fd");
        EXPECT(evsrc_pipe_receiver_fd(rx), rfd, "receiver fd");
        EXPECT(evsrc_pipe_sender_fd(tx), wfd, "sender fd");
        CHECK(fd_nonblocking(rfd) && fd_nonblocking(wfd), "adopted pipe ends are not non-blocking");
    }
    slot_setup(a, K_PIPE_R, rfd);
    slot_setup(b, K_PIPE_W, wfd);
    W.slots[b].big_pipe = fcntl(wfd, F_GETPIPE_SZ) >= 16384;
    link_peers(a, b);
    note("create pipe%s: slot %d = pipe-r fd %d, slot %d = pipe-w fd %d", adopt ? " (adopted)" : "", a, rfd, b,
         wfd);
}

static void create_raw_fd_object(enum kind kind, int fd, int i)
{
    int r = evsrc_source_fd_init(&objects[i].own.sfd, fd);
    EXPECT(r, 0, "evsrc_source_fd_init");
    slot_setup(i, kind, fd);
}

static void create_socketpair(void)
{
    int a = free_slot(-1), b = free_slot(a);
    if (a < 0 || b < 0 || live_fds() + 2 > MAX_LIVE_FDS)
        return;
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0)
        return;
    create_raw_fd_object(K_SOCK, fds[0], a);
    create_raw_fd_object(K_SOCK, fds[1], b);
    link_peers(a, b);
    note("create socketpair: slot %d fd %d, slot %d fd %d", a, fds[0], b, fds[1]);
}

static void create_single(enum kind kind, uint8_t variant)
{
    int i = free_slot(-1);
    if (i < 0 || live_fds() + 1 > MAX_LIVE_FDS)
        return;
    int fd = -1;
    if (kind == K_EVENTFD) {
        fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0)
            return;
        create_raw_fd_object(kind, fd, i);
    } else if (kind == K_MEMFD) {
        fd = memfd_create("evsrc-fuzz", MFD_CLOEXEC);
        if (fd < 0)
            return;
        create_raw_fd_object(kind, fd, i);
    } else {
        struct evsrc_timerfd *t = &objects[i].own.timer;
        if (variant & 1) {
            fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
            if (fd < 0)
                return;
            /* Another kind of fd is refused and left as it was. */
            int other = pick_slot(variant);
            if (other >= 0 && W.slots[other].open && W.slots[other].kind != K_TIMER) {
                int ofd = W.slots[other].fd;
                int before = fcntl(ofd, F_GETFL);
                EXPECT(evsrc_timerfd_from_fd(t, ofd), -EINVAL, "timerfd_from_fd(a %s)",
                       kind_names[W.slots[other].kind]);
                CHECK(fcntl(ofd, F_GETFL) == before, "a failed timerfd adoption changed the fd");
                EXPECT(evsrc_timerfd_fd(t), -EBADF, "timer left closed after a failed adoption");
            }
            EXPECT(evsrc_timerfd_from_fd(t, fd), 0, "timerfd_from_fd");
            CHECK(fd_nonblocking(fd), "adopted timerfd is not non-blocking");
        } else {
            int r = evsrc_timerfd_new(t, (variant & 2) ? CLOCK_BOOTTIME : CLOCK_MONOTONIC);
            if (r == -EMFILE || r == -ENFILE) {
                slot_forget(i);
                return;
            }
            EXPECT(r, 0, "evsrc_timerfd_new");
            fd = evsrc_timerfd_fd(t);
            check_new_fd(fd, "timerfd");
        }
        slot_setup(i, K_TIMER, fd);
    }
    note("create %s: slot %d fd %d", kind_names[kind], i, fd);
}

static bool fd_is_eventfd(int fd)
{
    char path[64], target[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0)
        return false;
    target[n] = '\0';
    return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/* A waker registers its eventfd, edge-triggered for READABLE, under the token. */
static void create_waker(uint8_t hb, uint8_t tb)
{
    int i = free_slot(-1);
    if (i < 0 || live_fds() + 1 > MAX_LIVE_FDS)
        return;
    struct queue *q;
    const char *hname;
    struct evsrc_registry *reg = pick_handle(hb, &q, &hname);
    evsrc_token token = pick_token(tb);
    struct evsrc_waker *w = (struct evsrc_waker *)(void *)&W;
    int predicted = lowest_free_fd();
    int r = evsrc_waker_new(&w, reg, token);
    note("waker new (%s, token %#llx) -> %s", hname, (unsigned long long)token, err_name(r));
    if (!reg) {
        EXPECT(r, -EINVAL, "waker_new with a NULL registry");
        CHECK(w == (struct evsrc_waker *)(void *)&W, "waker_new touched *out on error");
        return;
    }
    if (r == -EMFILE || r == -ENFILE)
        return;
    EXPECT(r, 0, "waker_new(%s)", hname);
    /* Its fd is the lowest free one; if that cannot be confirmed, the model cannot name it. */
    int fd = fd_is_eventfd(predicted) ? predicted : -1;
    CHECK(fd < 0 || (fd_nonblocking(fd) && fd_cloexec(fd)), "the waker's eventfd is not non-blocking, close-on-exec");
    if (fd < 0) {
        evsrc_waker_free(w);
        return;
    }
    slot_setup(i, K_WAKER, fd);
    objects[i].waker = w;
    struct target t = resolve(fd);
    CHECK(t.type == T_SLOT && t.slot == i, "model: the waker's fd");
    ctl_apply(CTL_ADD, q, fd, &t, token, EVSRC_READABLE);
    /* Every wake owes its event, on either backend (on poll it is level-triggered and emptied by the wait). */
    entry_find(q->inst, t.file, fd)->waker_own = true;
    note("  waker is slot %d fd %d", i, fd);
}

static void waker_wake(int i)
{
    struct slot *s = &W.slots[i];
    if (!s->open)
        return;
    int saved = errno = 1234;
    int r = evsrc_waker_wake(objects[i].waker);
    note("waker wake slot %d -> %s", i, err_name(r));
    EXPECT(r, 0, "waker_wake");
    CHECK(errno == saved, "waker_wake changed errno");
    /* Every wake is a new edge: the next waits owe its event. */
    s->buffered++;
    owe_readable(s);
}

static void create_tcp_pair(void)
{
    int a = free_slot(-1), b = free_slot(a);
    if (a < 0 || b < 0 || live_fds() + 2 > MAX_LIVE_FDS)
        return;
    struct evsrc_tcp_listener listener;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    int r = evsrc_tcp_listener_bind(&listener, (const struct sockaddr *)&addr, sizeof addr);
    if (r < 0) {
        CHECK(r != -EINVAL && r != -EBADF, "listener_bind(127.0.0.1:0): %s", err_name(r));
        return;
    }
    struct sockaddr_storage bound;
    socklen_t len = sizeof bound;
    EXPECT(evsrc_tcp_listener_local_addr(&listener, &bound, &len), 0, "listener_local_addr");
    CHECK(len == sizeof(struct sockaddr_in), "listener_local_addr length %u", (unsigned)len);
    struct evsrc_tcp_stream *client = &objects[a].own.tcp, *server = &objects[b].own.tcp;
    r = evsrc_tcp_stream_connect(client, (const struct sockaddr *)&bound, len);
    if (r < 0) {
        CHECK(r != -EINVAL && r != -EBADF, "stream_connect(loopback): %s", err_name(r));
        EXPECT(evsrc_tcp_stream_fd(client), -EBADF, "a failed connect leaves the stream closed");
        EXPECT(evsrc_tcp_listener_close(&listener), 0, "listener_close");
        slot_forget(a);
        return;
    }
    for (int tries = 0;; tries++) {
        r = evsrc_tcp_listener_accept(&listener, server, NULL, NULL);
        if (r != -EAGAIN || tries == 50)
            break;
        struct pollfd pfd = {evsrc_tcp_listener_fd(&listener), POLLIN, 0};
        poll(&pfd, 1, 20);
    }
    EXPECT(evsrc_tcp_listener_close(&listener), 0, "listener_close");
    EXPECT(evsrc_tcp_listener_close(&listener), -EBADF, "listener_close twice");
    if (r < 0) {
        CHECK(r != -EINVAL && r != -EBADF, "listener_accept: %s", err_name(r));
        EXPECT(evsrc_tcp_stream_fd(server), -EBADF, "a failed accept leaves the stream closed");
        EXPECT(evsrc_tcp_stream_close(client), 0, "stream_close");
        slot_forget(a);
        slot_forget(b);
        return;
    }
    int cfd = evsrc_tcp_stream_fd(client), sfd = evsrc_tcp_stream_fd(server);
    check_new_fd(cfd, "tcp client");
    check_new_fd(sfd, "tcp server");
    /* Reset on close instead of lingering in TIME_WAIT: a fuzzer makes thousands of these. */
    struct linger lg = {1, 0};
    setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    setsockopt(sfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    slot_setup(a, K_TCP, cfd);
    slot_setup(b, K_TCP, sfd);
    link_peers(a, b);
    note("create tcp pair: slot %d fd %d, slot %d fd %d", a, cfd, b, sfd);
}

/* Binds a UDP socket to 127.0.0.1:0, made by the library or made here and adopted. */
static int udp_bind_loopback(struct evsrc_udp_socket *udp, bool adopt)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!adopt)
        return evsrc_udp_socket_bind(udp, (const struct sockaddr *)&addr, sizeof addr);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int r = bind(fd, (const struct sockaddr *)&addr, sizeof addr) < 0 ? -errno : 0;
    if (r == 0)
        r = evsrc_udp_socket_from_fd(udp, fd);
    if (r < 0)
        close(fd); /* a failed adoption leaves the fd with us */
    return r;
}

/* Another kind of fd of the model is refused by udp_socket_from_fd and left as it was. */
static void udp_refuse_other(uint8_t b)
{
    int i = pick_slot(b);
    if (i < 0 || !W.slots[i].open || W.slots[i].kind == K_UDP)
        return;
    int fd = W.slots[i].fd, before = fcntl(fd, F_GETFL);
    struct evsrc_udp_socket probe;
    memset(&probe, 0x5a, sizeof probe);
    enum kind k = W.slots[i].kind;
    bool socket_kind = k == K_SOCK || k == K_TCP || k == K_USTREAM || k == K_UDGRAM;
    EXPECT(evsrc_udp_socket_from_fd(&probe, fd), socket_kind ? -EINVAL : -ENOTSOCK, "udp_socket_from_fd(a %s)",
           kind_names[W.slots[i].kind]);
    CHECK(fcntl(fd, F_GETFL) == before, "a failed udp adoption changed the fd");
    EXPECT(evsrc_udp_socket_fd(&probe), -EBADF, "udp socket after a failed adoption");
}

static void create_udp_pair(uint8_t variant)
{
    int a = free_slot(-1), b = free_slot(a);
    if (a < 0 || b < 0 || live_fds() + 2 > MAX_LIVE_FDS)
        return;
    udp_refuse_other(variant >> 2);
    struct evsrc_udp_socket *ua = &objects[a].own.udp, *ub = &objects[b].own.udp;
    int r = udp_bind_loopback(ua, variant & 1);
    if (r < 0) {
        CHECK(r != -EINVAL && r != -EBADF, "udp bind(127.0.0.1:0): %s", err_name(r));
        EXPECT(evsrc_udp_socket_fd(ua), -EBADF, "a failed bind leaves the socket closed");
        slot_forget(a);
        return;
    }
    r = udp_bind_loopback(ub, variant & 2);
    if (r < 0) {
        CHECK(r != -EINVAL && r != -EBADF, "udp bind(127.0.0.1:0): %s", err_name(r));
        EXPECT(evsrc_udp_socket_close(ua), 0, "udp close");
        slot_forget(a);
        slot_forget(b);
        return;
    }
    /* Each connected to the other: datagrams from anyone else are dropped, ICMP errors are reported. */
    struct sockaddr_storage addr_a, addr_b;
    socklen_t len_a = sizeof addr_a, len_b = sizeof addr_b;
    EXPECT(evsrc_udp_socket_local_addr(ua, &addr_a, &len_a), 0, "udp local_addr");
    EXPECT(evsrc_udp_socket_local_addr(ub, &addr_b, &len_b), 0, "udp local_addr");
    CHECK(len_a == sizeof(struct sockaddr_in) && len_b == len_a, "udp local_addr length %u", (unsigned)len_a);
    EXPECT(evsrc_udp_socket_connect(ua, (const struct sockaddr *)&addr_b, len_b), 0, "udp connect");
    EXPECT(evsrc_udp_socket_connect(ub, (const struct sockaddr *)&addr_a, len_a), 0, "udp connect");
    int fa = evsrc_udp_socket_fd(ua), fb = evsrc_udp_socket_fd(ub);
    check_new_fd(fa, "udp socket");
    check_new_fd(fb, "udp socket");
    slot_setup(a, K_UDP, fa);
    slot_setup(b, K_UDP, fb);
    link_peers(a, b);
    note("create udp pair%s: slot %d fd %d, slot %d fd %d", (variant & 3) ? " (adopted)" : "", a, fa, b, fb);
}

/* A Unix stream pair (modelled exactly as a socketpair) or datagram pair, made by the library. */
static void create_unix_pair(bool datagram)
{
    int a = free_slot(-1), b = free_slot(a);
    if (a < 0 || b < 0 || live_fds() + 2 > MAX_LIVE_FDS)
        return;
    int r, fa, fb;
    if (datagram) {
        r = evsrc_unix_datagram_pair(&objects[a].own.udgram, &objects[b].own.udgram);
        fa = evsrc_unix_datagram_fd(&objects[a].own.udgram);
        fb = evsrc_unix_datagram_fd(&objects[b].own.udgram);
    } else {
        r = evsrc_unix_stream_pair(&objects[a].own.ustream, &objects[b].own.ustream);
        fa = evsrc_unix_stream_fd(&objects[a].own.ustream);
        fb = evsrc_unix_stream_fd(&objects[b].own.ustream);
    }
    if (r == -EMFILE || r == -ENFILE) {
        CHECK(fa == -EBADF && fb == -EBADF, "a failed unix pair left an end open");
        slot_forget(a);
        slot_forget(b);
        return;
    }
    EXPECT(r, 0, "evsrc_unix_%s_pair", datagram ? "datagram" : "stream");
    check_new_fd(fa, "unix pair end");
    check_new_fd(fb, "unix pair end");
    slot_setup(a, datagram ? K_UDGRAM : K_USTREAM, fa);
    slot_setup(b, datagram ? K_UDGRAM : K_USTREAM, fb);
    link_peers(a, b);
    note("create unix %s pair: slot %d fd %d, slot %d fd %d", datagram ? "datagram" : "stream", a, fa, b, fb);
}

static void op_create(struct input *in)
{
    uint8_t b = take(in);
    switch (b % 8) {
    case 0: create_pipe(false); break;
    case 1: create_pipe((b & 0x10) != 0); break;
    case 2: create_socketpair(); break;
    case 3: create_single(K_EVENTFD, b >> 3); break;
    case 4: create_single(K_TIMER, b >> 3); break;
    case 5: create_tcp_pair(); break;
    case 6: create_single(K_MEMFD, b >> 3); break;
    default: {
        uint8_t hb = take(in), tb = take(in);
        if (b & 0x08)
            create_waker(hb, tb);
        else if (b & 0x10)
            create_udp_pair(hb);
        else if (b & 0x20)
            create_unix_pair((b & 0x40) != 0);
        else
            create_socketpair();
        break;
    }
    }
}

/* The object at slot i is closed now: update the kernel model and its peer. */
static void model_closed(int i)
{
    struct slot *s = &W.slots[i];
    entries_drop_file(s->file);
    if (is_library_kind(s->kind))
        s->mark[0] = 0; /* the close functions clear the mark */
    struct slot *p = live_peer(s);
    if (p) {
        bool before = readable_known(p);
        switch (s->kind) {
        case K_PIPE_W: p->in_closed = true; break;
        case K_PIPE_R: p->out_closed = true; break;
        case K_SOCK:
            p->in_closed = p->out_closed = true;
            if (s->buffered > 0)
                p->reset_pending = true;
            break;
        case K_TCP: p->in_closed = true; break;
        case K_USTREAM:
            p->in_closed = p->out_closed = true;
            if (s->buffered > 0)
                p->reset_pending = true;
            break;
        case K_UDGRAM: p->out_closed = p->lossy = true; break;
        default: break; /* K_UDP: the peer just loses its peer; its sends may draw -ECONNREFUSED */
        }
        if (!before && readable_known(p))
            owe_readable(p);
    }
    s->open = false;
    s->file = 0;
    s->buffered = 0;
    s->chunks = 0;
    s->dgram_count = 0;
}

/*
 * The poll backend cannot tell two eventfds under one number apart
 * (docs/backends.md, Limits): as that page asks, a raw eventfd is
 * deregistered from every queue before close(2) there.
 */
static void deregister_before_close(int i)
{
    const struct slot *s = &W.slots[i];
    if (!poll_backend || s->kind != K_EVENTFD || !s->open)
        return;
    for (int k = 0; k < MAX_ENTRIES; k++) {
        struct entry *e = &W.entries[k];
        if (!e->used || e->file != s->file || e->fd != s->fd)
            continue;
        struct evsrc_registry *registry = NULL;
        for (int q = 0; q < NQUEUES; q++)
            if (W.q[q].inst == e->inst)
                registry = W.q[q].poll ? evsrc_poll_registry(W.q[q].poll)
                                       : W.q[q].clone[0] ? W.q[q].clone[0] : W.q[q].clone[1];
        if (!registry)
            continue;
        int r = evsrc_registry_deregister_fd(registry, s->fd);
        note("  deregister_fd(fd %d) before closing a raw eventfd -> %s", s->fd, err_name(r));
        EXPECT(r, 0, "deregister_fd of a registered raw eventfd");
        e->used = false;
    }
}

static int close_object(int i)
{
    struct object *o = &objects[i];
    switch (W.slots[i].kind) {
    case K_PIPE_R: return evsrc_pipe_receiver_close(&o->own.rx);
    case K_PIPE_W: return evsrc_pipe_sender_close(&o->own.tx);
    case K_TIMER: return evsrc_timerfd_close(&o->own.timer);
    case K_TCP: return evsrc_tcp_stream_close(&o->own.tcp);
    case K_UDP: return evsrc_udp_socket_close(&o->own.udp);
    case K_USTREAM: return evsrc_unix_stream_close(&o->own.ustream);
    case K_UDGRAM: return evsrc_unix_datagram_close(&o->own.udgram);
    case K_WAKER:
        evsrc_waker_free(o->waker);
        o->waker = NULL;
        return 0;
    default:
        deregister_before_close(i);
        return close(W.slots[i].fd) < 0 ? -errno : 0;
    }
}

static void op_close(struct input *in)
{
    int i = pick_slot(take(in));
    if (i < 0)
        return;
    struct slot *s = &W.slots[i];
    if (!s->open && !is_library_kind(s->kind))
        return; /* a stale number of a raw fd: it may be someone else's now */
    int want = s->open ? 0 : -EBADF;
    int r = close_object(i);
    note("close slot %d (%s fd %d) -> %s", i, kind_names[s->kind], s->fd, err_name(r));
    EXPECT(r, want, "close of slot %d (%s)", i, kind_names[s->kind]);
    if (s->open)
        model_closed(i);
}

/* ---- Reads and writes ---------------------------------------------------- */

static void fill(uint8_t *buf, size_t len, uint8_t start)
{
    for (size_t k = 0; k < len; k++)
        buf[k] = (uint8_t)(start + k);
}

static void verify_stream(struct slot *s, const uint8_t *buf, size_t len, const char *what)
{
    for (size_t k = 0; k < len; k++)
        CHECK(buf[k] == (uint8_t)(s->rseq + k), "%s: byte %zu is %u, want %u (data out of order)", what, k, buf[k],
              (uint8_t)(s->rseq + k));
    s->rseq = (uint8_t)(s->rseq + len);
}

static void pipe_write(int i, size_t len, uint8_t variant)
{
    struct slot *s = &W.slots[i];
    struct evsrc_pipe_sender *tx = &objects[i].own.tx;
    struct slot *p = live_peer(s);
    uint8_t buf[IO_MAX];
    bool null_buf = (variant & 7) == 7 && len > 0;
    long want;
    if (null_buf)
        want = -EINVAL;
    else if (!s->open)
        want = -EBADF;
    else if (len == 0)
        want = 0;
    else if (s->out_closed || !p)
        want = -EPIPE;
    else {
        if (p->buffered + len > BUFFER_CAP)
            len = BUFFER_CAP - p->buffered;
        if (len == 0)
            return;
        want = (long)len;
    }
    fill(buf, len, p ? p->wseq : 0);
    /* SIGPIPE handling: unblocked (the usual case), blocked, or blocked with one already pending. */
    int mode = (variant >> 3) % 3;
    sigset_t pipe_only, old, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    if (mode > 0) {
        pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
        if (mode == 2)
            raise(SIGPIPE);
    }
    ssize_t r = evsrc_pipe_sender_write(tx, null_buf ? NULL : buf, len);
    model_io(i, r, (long)len);
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    sigpending(&pending);
    bool still_blocked = sigismember(&mask, SIGPIPE) == 1;
    bool is_pending = sigismember(&pending, SIGPIPE) == 1;
    if (mode > 0) {
        if (is_pending) {
            const struct timespec zero = {0, 0};
            while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR) {
            }
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    note("pipe write slot %d len %zu%s sigpipe-mode %d -> %s", i, len, null_buf ? " (NULL buf)" : "", mode,
         err_name(r));
    if (r == -EAGAIN && want > 0 && !s->big_pipe)
        want = -EAGAIN; /* a pipe shrunk by the user's quota may fill up */
    if (null_buf && !s->open)
        CHECK(r == -EINVAL || r == -EBADF, "pipe write NULL buf on a closed sender: %s", err_name(r));
    else
        EXPECT(r, want, "evsrc_pipe_sender_write(slot %d, %zu)", i, len);
    CHECK(still_blocked == (mode > 0), "pipe write changed the thread's SIGPIPE mask (blocked %d, mode %d)",
          still_blocked, mode);
    CHECK(is_pending == (mode == 2), "pipe write: SIGPIPE %s pending afterwards (mode %d)",
          is_pending ? "is" : "is not", mode);
    if (r > 0 && p) {
        bool before = readable_known(p);
        p->buffered += (size_t)r;
        p->wseq = (uint8_t)(p->wseq + r);
        if (!before)
            owe_readable(p);
    }
}

static void pipe_read(int i, size_t len, uint8_t variant)
{
    struct slot *s = &W.slots[i];
    uint8_t buf[IO_MAX];
    bool null_buf = (variant & 7) == 7 && len > 0;
    long want;
    if (null_buf)
        want = -EINVAL;
    else if (!s->open)
        want = -EBADF;
    else if (len == 0)
        want = 0;
    else if (s->buffered > 0)
        want = (long)(len < s->buffered ? len : s->buffered);
    else
        want = s->in_closed ? 0 : -EAGAIN;
    ssize_t r = evsrc_pipe_receiver_read(&objects[i].own.rx, null_buf ? NULL : buf, len);
    model_io(i, r, 0);
    note("pipe read slot %d len %zu -> %s", i, len, err_name(r));
    if (null_buf && !s->open)
        CHECK(r == -EINVAL || r == -EBADF, "pipe read NULL buf on a closed receiver: %s", err_name(r));
    else
        EXPECT(r, want, "evsrc_pipe_receiver_read(slot %d, %zu), %zu buffered", i, len, s->buffered);
    if (r > 0) {
        verify_stream(s, buf, (size_t)r, "pipe read");
        s->buffered -= (size_t)r;
    }
    if (s->open)
        forgive(s);
}

/* A Unix stream end's write through the library: plain, gather, or send_fds with no fds. */
static ssize_t ustream_write(int i, const uint8_t *buf, size_t len)
{
    struct evsrc_unix_stream *u = &objects[i].own.ustream;
    switch (len % 3) {
    case 0: return evsrc_unix_stream_write(u, buf, len);
    case 1: {
        struct iovec iov[2] = {{(void *)buf, len / 2}, {(void *)(buf + len / 2), len - len / 2}};
        return evsrc_unix_stream_writev(u, iov, 2);
    }
    default: return evsrc_unix_stream_send_fds(u, buf, len, NULL, 0);
    }
}

/* A Unix stream end's read through the library: plain, scatter, or recv_fds with no room (none were sent). */
static ssize_t ustream_read(int i, uint8_t *buf, size_t len)
{
    struct evsrc_unix_stream *u = &objects[i].own.ustream;
    switch (len % 3) {
    case 0: return evsrc_unix_stream_read(u, buf, len);
    case 1: {
        struct iovec iov[2] = {{buf, len / 2}, {buf + len / 2, len - len / 2}};
        return evsrc_unix_stream_readv(u, iov, 2);
    }
    default: {
        size_t nfds = 0;
        bool truncated = true;
        ssize_t r = evsrc_unix_stream_recv_fds(u, buf, len, NULL, &nfds, &truncated);
        CHECK(nfds == 0 && !truncated, "recv_fds with no fds sent: %zu fds, truncated %d", nfds, truncated);
        return r;
    }
    }
}

static void sock_write(int i, size_t len)
{
    struct slot *s = &W.slots[i];
    struct slot *p = live_peer(s);
    if (s->kind == K_USTREAM && (!s->open || len == 0)) {
        uint8_t byte = 0;
        EXPECT(evsrc_unix_stream_write(&objects[i].own.ustream, &byte, len), s->open ? 0 : -EBADF,
               "unix stream write of %zu bytes on slot %d", len, i);
        return;
    }
    if (!s->open || len == 0)
        return;
    long want;
    if (s->out_closed || !p) {
        want = -EPIPE;
    } else {
        if (p->buffered + len > BUFFER_CAP)
            len = BUFFER_CAP - p->buffered;
        if (len == 0 || p->chunks >= CHUNK_CAP)
            return;
        want = (long)len;
    }
    uint8_t buf[IO_MAX];
    fill(buf, len, p ? p->wseq : 0);
    ssize_t r;
    if (s->kind == K_USTREAM) {
        r = ustream_write(i, buf, len);
        model_io(i, r, (long)len);
    } else {
        r = send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r < 0)
            r = -errno;
    }
    note("%s write slot %d len %zu -> %s", kind_names[s->kind], i, len, err_name(r));
    if (r == -EAGAIN && want > 0)
        return; /* the socket buffer is smaller than the model assumes: nothing was sent */
    EXPECT(r, want, "send on socketpair slot %d", i);
    if (r > 0) {
        bool before = readable_known(p);
        p->buffered += (size_t)r;
        p->chunks++;
        p->wseq = (uint8_t)(p->wseq + r);
        if (!before)
            owe_readable(p);
    }
}

static void sock_read(int i, size_t len)
{
    struct slot *s = &W.slots[i];
    uint8_t buf[IO_MAX];
    if (s->kind == K_USTREAM && (!s->open || len == 0)) {
        EXPECT(evsrc_unix_stream_read(&objects[i].own.ustream, buf, len), s->open ? 0 : -EBADF,
               "unix stream read of %zu bytes on slot %d", len, i);
        return;
    }
    if (!s->open || len == 0)
        return;
    ssize_t r;
    if (s->kind == K_USTREAM) {
        r = ustream_read(i, buf, len);
        model_io(i, r, 0);
    } else {
        r = recv(s->fd, buf, len, MSG_DONTWAIT);
        if (r < 0)
            r = -errno;
    }
    note("%s read slot %d len %zu -> %s", kind_names[s->kind], i, len, err_name(r));
    if (s->buffered > 0) {
        EXPECT(r, (long)(len < s->buffered ? len : s->buffered), "recv on socketpair slot %d, %zu buffered", i,
               s->buffered);
        verify_stream(s, buf, (size_t)r, "socketpair read");
        s->buffered -= (size_t)r;
        if (s->buffered == 0)
            s->chunks = 0;
    } else if (s->reset_pending) {
        CHECK(r == 0 || r == -ECONNRESET, "recv after the peer closed with data unread: %s", err_name(r));
        s->reset_pending = false;
    } else {
        EXPECT(r, s->in_closed ? 0 : -EAGAIN, "recv on socketpair slot %d", i);
    }
    forgive(s);
}

/*
 * Unix datagram pairs: each send is one datagram whose bytes continue the
 * stream pattern, so the receiver checks order and content; chunks counts
 * the datagrams waiting (an empty one included).
 */
static void udgram_send(int i, size_t len)
{
    struct slot *s = &W.slots[i];
    struct slot *p = live_peer(s);
    if (p && s->open && !s->out_closed && p->chunks >= CHUNK_CAP)
        return;
    uint8_t buf[IO_MAX];
    fill(buf, len, p ? p->wseq : 0);
    ssize_t r = evsrc_unix_datagram_send(&objects[i].own.udgram, buf, len);
    model_io(i, r, (long)len);
    note("unix datagram send slot %d len %zu -> %s", i, len, err_name(r));
    if (!s->open) {
        EXPECT(r, -EBADF, "datagram send on a closed socket");
        return;
    }
    if (s->out_closed || !p) {
        /* Shut down, or the peer is gone (and a send to a gone peer drops this end's queue). */
        CHECK(r == -EPIPE || r == -ENOTCONN || r == -ECONNREFUSED || r == -ECONNRESET,
              "datagram send with no way out: %s", err_name(r));
        if (!p) {
            /* Its queue may be gone now, and with it the readiness an owed event was for. */
            s->lossy = true;
            forgive(s);
        }
        return;
    }
    if (r == -EAGAIN || r == -ENOBUFS)
        return; /* the peer's queue or our send buffer is full: nothing was sent */
    EXPECT(r, (long)len, "datagram send of %zu bytes", len);
    bool before = readable_known(p);
    p->chunks++;
    p->buffered += len;
    p->wseq = (uint8_t)(p->wseq + len);
    if (!before)
        owe_readable(p);
}

static void udgram_recv(int i, uint8_t variant)
{
    struct slot *s = &W.slots[i];
    uint8_t buf[IO_MAX];
    struct sockaddr_un from;
    socklen_t fromlen = sizeof from;
    ssize_t r;
    if (variant & 1)
        r = evsrc_unix_datagram_recv_from(&objects[i].own.udgram, buf, sizeof buf, &from, &fromlen);
    else
        r = evsrc_unix_datagram_recv(&objects[i].own.udgram, buf, sizeof buf);
    model_io(i, r, 0);
    note("unix datagram recv slot %d -> %s", i, err_name(r));
    if (!s->open) {
        EXPECT(r, -EBADF, "datagram recv on a closed socket");
        return;
    }
    if (r == -EAGAIN && s->lossy) {
        s->chunks = 0;
        s->buffered = 0;
    } else if (s->chunks == 0) {
        EXPECT(r, -EAGAIN, "datagram recv with none waiting");
    } else {
        CHECK(r >= 0 && (size_t)r <= s->buffered, "datagram recv: %s with %zu bytes in %u datagrams waiting",
              err_name(r), s->buffered, s->chunks);
        verify_stream(s, buf, (size_t)r, "unix datagram");
        s->buffered -= (size_t)r;
        s->chunks--;
        if (variant & 1)
            CHECK(fromlen == sizeof(sa_family_t) && from.sun_family == AF_UNIX,
                  "a pair's peer is not unnamed (length %u)", (unsigned)fromlen);
    }
    forgive(s);
}

static void efd_write(int i, uint8_t value)
{
    struct slot *s = &W.slots[i];
    if (!s->open)
        return;
    uint64_t v = (uint64_t)value + 1;
    ssize_t r = write(s->fd, &v, sizeof v);
    if (r < 0)
        r = -errno;
    note("eventfd write slot %d value %llu -> %s", i, (unsigned long long)v, err_name(r));
    EXPECT(r, (long)sizeof v, "eventfd write");
    s->buffered += v;
    /* Every write to an eventfd wakes its waiters: a new edge (the waker relies on it). */
    owe_readable(s);
}

static void efd_read(int i)
{
    struct slot *s = &W.slots[i];
    if (!s->open)
        return;
    uint64_t v = 0;
    ssize_t r = read(s->fd, &v, sizeof v);
    if (r < 0)
        r = -errno;
    note("eventfd read slot %d -> %s (value %llu)", i, err_name(r), (unsigned long long)v);
    if (s->buffered > 0) {
        EXPECT(r, (long)sizeof v, "eventfd read");
        CHECK(v == s->buffered, "eventfd read %llu, want %zu", (unsigned long long)v, s->buffered);
        s->buffered = 0;
    } else {
        EXPECT(r, -EAGAIN, "eventfd read of a zero counter");
    }
    forgive(s);
}

static void tcp_write(int i, size_t len, uint8_t variant)
{
    struct slot *s = &W.slots[i];
    struct slot *p = live_peer(s);
    uint8_t buf[IO_MAX];
    fill(buf, len, p ? p->wseq : 0);
    ssize_t r;
    if (variant & 1) {
        struct iovec iov[2] = {{buf, len / 2}, {buf + len / 2, len - len / 2}};
        r = evsrc_tcp_stream_writev(&objects[i].own.tcp, iov, len == 0 ? 0 : 2);
    } else {
        r = evsrc_tcp_stream_write(&objects[i].own.tcp, buf, len);
    }
    model_io(i, r, (long)len);
    note("tcp write%s slot %d len %zu -> %s", (variant & 1) ? "v" : "", i, len, err_name(r));
    if (!s->open) {
        EXPECT(r, -EBADF, "tcp write on a closed stream");
        return;
    }
    if (len == 0) {
        EXPECT(r, 0, "tcp write of 0 bytes");
        return;
    }
    CHECK(r <= (ssize_t)len && r != 0 && r != -EBADF && r != -EINVAL && r != -EFAULT,
          "tcp write of %zu bytes: %s", len, err_name(r));
    if (r > 0 && p)
        p->wseq = (uint8_t)(p->wseq + r);
}

static void tcp_read(int i, size_t len, uint8_t variant)
{
    struct slot *s = &W.slots[i];
    uint8_t buf[IO_MAX];
    bool peek = (variant & 3) == 1;
    ssize_t r;
    if ((variant & 3) == 2) {
        struct iovec iov[2] = {{buf, len / 2}, {buf + len / 2, len - len / 2}};
        r = evsrc_tcp_stream_readv(&objects[i].own.tcp, iov, len == 0 ? 0 : 2);
    } else if (peek) {
        r = evsrc_tcp_stream_peek(&objects[i].own.tcp, buf, len);
    } else {
        r = evsrc_tcp_stream_read(&objects[i].own.tcp, buf, len);
    }
    model_io(i, r, 0);
    note("tcp %s slot %d len %zu -> %s", peek ? "peek" : "read", i, len, err_name(r));
    if (!s->open) {
        EXPECT(r, -EBADF, "tcp read on a closed stream");
        return;
    }
    if (len == 0) {
        EXPECT(r, 0, "tcp read of 0 bytes");
        return;
    }
    CHECK(r <= (ssize_t)len && r != -EBADF && r != -EINVAL && r != -EFAULT, "tcp read of %zu bytes: %s", len,
          err_name(r));
    if (r > 0) {
        uint8_t saved = s->rseq;
        verify_stream(s, buf, (size_t)r, "tcp read");
        if (peek)
            s->rseq = saved;
    }
}

/*
 * UDP. Loopback delivers a datagram by the time send returns on an idle
 * machine but not always under load, so readiness is not "known" and a
 * receive may say -EAGAIN; what it does return must be the oldest datagram
 * sent, whole or cut to the buffer, with its bytes in order. Once the peer
 * is gone, sends and receives may report its ICMP refusal, once each time.
 */
static void udp_push(struct slot *p, size_t len)
{
    unsigned k = (p->dgram_head + p->dgram_count++) % CHUNK_CAP;
    p->dgram[k].len = (uint16_t)len;
    p->dgram[k].start = p->wseq;
    p->wseq = (uint8_t)(p->wseq + len);
}

static void udp_write(int i, size_t len, uint8_t variant)
{
    struct slot *s = &W.slots[i];
    struct slot *p = live_peer(s);
    struct evsrc_udp_socket *u = &objects[i].own.udp;
    int mode = variant & 3; /* send, send_to the peer, send with a NULL buf, send_many of two */
    unsigned count = mode == 3 ? 2 : 1;
    if (p && p->dgram_count + count > CHUNK_CAP)
        return;
    uint8_t buf[IO_MAX];
    fill(buf, len, p ? p->wseq : 0);
    ssize_t r;
    if (mode == 1) {
        struct sockaddr_storage to;
        socklen_t tolen = sizeof to;
        int a = evsrc_udp_socket_peer_addr(u, &to, &tolen);
        EXPECT(a, s->open ? 0 : -EBADF, "udp peer_addr of slot %d", i);
        if (a < 0)
            memset(&to, 0, sizeof to), to.ss_family = AF_INET, tolen = sizeof(struct sockaddr_in);
        r = evsrc_udp_socket_send_to(u, buf, len, (const struct sockaddr *)&to, tolen);
    } else if (mode == 3) {
        struct iovec iov[2] = {{buf, len / 2}, {buf + len / 2, len - len / 2}};
        struct mmsghdr msgs[2];
        memset(msgs, 0, sizeof msgs);
        for (int k = 0; k < 2; k++) {
            msgs[k].msg_hdr.msg_iov = &iov[k];
            msgs[k].msg_hdr.msg_iovlen = 1;
        }
        r = evsrc_udp_socket_send_many(u, msgs, 2);
    } else {
        r = evsrc_udp_socket_send(u, mode == 2 ? NULL : buf, len);
    }
    model_io(i, r, mode == 3 ? 2 : 0);
    note("udp %s slot %d len %zu -> %s", mode == 3 ? "send_many" : mode == 1 ? "send_to" : "send", i, len,
         err_name(r));
    if (mode == 2 && len > 0) {
        EXPECT(r, -EINVAL, "udp send of a NULL buffer");
        return;
    }
    if (!s->open) {
        EXPECT(r, -EBADF, "udp send on a closed socket");
        return;
    }
    long whole = mode == 3 ? 2 : (long)len;
    if (r == -EAGAIN || r == -ENOBUFS)
        return; /* nothing went out */
    if (!p) {
        CHECK(r == -ECONNREFUSED || (mode == 3 ? r >= 1 && r <= 2 : r == whole), "udp send to a gone peer: %s",
              err_name(r));
        return;
    }
    EXPECT(r, whole, "udp send of %zu bytes to a live peer", len);
    if (mode == 3) {
        udp_push(p, len / 2);
        udp_push(p, len - len / 2);
    } else {
        udp_push(p, len);
    }
}

/* Checks a received datagram against the oldest one sent, and takes it off the model unless peeked. */
static void udp_check_datagram(struct slot *s, const uint8_t *buf, size_t got, size_t room, bool consume,
                               const char *what)
{
    CHECK(s->dgram_count > 0, "%s: a datagram that was never sent", what);
    unsigned head = s->dgram_head;
    size_t full = s->dgram[head].len, want = full < room ? full : room;
    CHECK(got == want, "%s: %zu bytes, want %zu (a datagram of %zu, room %zu)", what, got, want, full, room);
    for (size_t k = 0; k < got; k++)
        CHECK(buf[k] == (uint8_t)(s->dgram[head].start + k), "%s: byte %zu out of order", what, k);
    if (consume) {
        s->dgram_head = (head + 1) % CHUNK_CAP;
        s->dgram_count--;
    }
}

static void udp_read(int i, size_t len, uint8_t variant)
{
    struct slot *s = &W.slots[i];
    struct evsrc_udp_socket *u = &objects[i].own.udp;
    int mode = variant & 3; /* recv, peek, recv_from, recv_many of two */
    uint8_t buf[2][IO_MAX];
    struct sockaddr_storage from;
    socklen_t fromlen = sizeof from;
    struct mmsghdr msgs[2];
    struct iovec iov[2] = {{buf[0], len}, {buf[1], len}};
    ssize_t r;
    if (mode == 3) {
        memset(msgs, 0, sizeof msgs);
        for (int k = 0; k < 2; k++) {
            msgs[k].msg_hdr.msg_iov = &iov[k];
            msgs[k].msg_hdr.msg_iovlen = 1;
        }
        r = evsrc_udp_socket_recv_many(u, msgs, 2);
    } else if (mode == 2) {
        r = evsrc_udp_socket_recv_from(u, buf[0], len, &from, &fromlen);
    } else if (mode == 1) {
        r = evsrc_udp_socket_peek(u, buf[0], len);
    } else {
        r = evsrc_udp_socket_recv(u, buf[0], len);
    }
    model_io(i, r, mode == 3 ? 2 : 0);
    static const char *const names[] = {"recv", "peek", "recv_from", "recv_many"};
    note("udp %s slot %d len %zu -> %s (%u sent towards it)", names[mode], i, len, err_name(r), s->dgram_count);
    if (!s->open) {
        EXPECT(r, -EBADF, "udp receive on a closed socket");
        return;
    }
    if (r == -ECONNREFUSED) {
        CHECK(!live_peer(s), "udp receive refused while the peer is alive");
        return;
    }
    if (r == -EAGAIN)
        return; /* drained, or a datagram still on its way */
    CHECK(r >= 0, "udp %s: %s", names[mode], err_name(r));
    if (mode != 3) {
        udp_check_datagram(s, buf[0], (size_t)r, len, mode != 1, names[mode]);
        if (mode == 2)
            CHECK(fromlen == sizeof(struct sockaddr_in) && from.ss_family == AF_INET, "udp recv_from address");
        return;
    }
    CHECK(r >= 1 && r <= 2, "udp recv_many of 2 returned %zd", r);
    for (int k = 0; k < r; k++) {
        bool cut = s->dgram_count > 0 && s->dgram[s->dgram_head].len > len;
        CHECK(((msgs[k].msg_hdr.msg_flags & MSG_TRUNC) != 0) == cut, "udp recv_many: MSG_TRUNC is %s",
              cut ? "missing" : "set on a whole datagram");
        udp_check_datagram(s, buf[k], msgs[k].msg_len, len, true, "recv_many");
    }
}

/* The address, error and option calls agree with the model. */
static void udp_misc(int i, uint8_t b)
{
    struct slot *s = &W.slots[i];
    struct evsrc_udp_socket *u = &objects[i].own.udp;
    long closed = -EBADF;
    int r = evsrc_udp_socket_take_error(u);
    note("udp take_error slot %d -> %s", i, err_name(r));
    if (!s->open)
        EXPECT(r, closed, "udp take_error on a closed socket");
    else if (live_peer(s))
        EXPECT(r, 0, "udp take_error with a live peer");
    else
        CHECK(r == 0 || r == -ECONNREFUSED, "udp take_error: %s", err_name(r));
    struct sockaddr_storage a, pa;
    socklen_t len = sizeof a, plen = sizeof pa;
    EXPECT(evsrc_udp_socket_local_addr(u, &a, &len), s->open ? 0 : closed, "udp local_addr");
    EXPECT(evsrc_udp_socket_peer_addr(u, &pa, &plen), s->open ? 0 : closed, "udp peer_addr");
    struct slot *p = s->open ? live_peer(s) : NULL;
    if (p) {
        struct sockaddr_storage want;
        socklen_t wlen = sizeof want;
        EXPECT(evsrc_udp_socket_local_addr(&objects[s->peer].own.udp, &want, &wlen), 0, "udp peer's local_addr");
        CHECK(plen == wlen && memcmp(&pa, &want, wlen) == 0, "udp peer_addr is not the peer's local address");
    }
    int ttl = 1 + b % 255;
    EXPECT(evsrc_udp_socket_set_ttl(u, ttl), s->open ? 0 : closed, "udp set_ttl(%d)", ttl);
    EXPECT(evsrc_udp_socket_ttl(u), s->open ? ttl : closed, "udp ttl");
    EXPECT(evsrc_udp_socket_set_ttl(u, 0), -EINVAL, "udp set_ttl(0)");
    EXPECT(evsrc_udp_socket_set_broadcast(u, (b >> 4) & 1), s->open ? 0 : closed, "udp set_broadcast");
    EXPECT(evsrc_udp_socket_broadcast(u), s->open ? (b >> 4) & 1 : closed, "udp broadcast");
    EXPECT(evsrc_udp_socket_recv_from(u, NULL, 0, &a, NULL), -EINVAL, "udp recv_from without fromlen");
    EXPECT(evsrc_udp_socket_send_many(u, NULL, 1), -EINVAL, "udp send_many(NULL, 1)");
    EXPECT(evsrc_udp_socket_connect(u, NULL, 0), -EINVAL, "udp connect(NULL)");
}

static void timer_read(int i)
{
    struct slot *s = &W.slots[i];
    uint64_t count = 0;
    int r = evsrc_timerfd_read(&objects[i].own.timer, &count);
    note("timer read slot %d -> %s (count %llu)", i, err_name(r), (unsigned long long)count);
    if (!s->open) {
        EXPECT(r, -EBADF, "timer read on a closed timer");
        return;
    }
    if (!s->timer_may_fire) {
        EXPECT(r, -EAGAIN, "read of a timer that cannot have expired");
        return;
    }
    CHECK(r == 0 || r == -EAGAIN, "timer read: %s", err_name(r));
    if (r == 0) {
        CHECK(count >= 1, "timer read stored %llu expirations", (unsigned long long)count);
        if (!s->timer_periodic) {
            CHECK(count == 1, "one-shot timer expired %llu times", (unsigned long long)count);
            s->timer_may_fire = false;
        }
    }
}

static void op_write(struct input *in)
{
    int i = pick_slot(take(in));
    uint8_t lb = take(in), variant = take(in);
    if (i < 0)
        return;
    size_t len = lb == 0 ? 0 : 1 + (size_t)(lb * 7) % IO_MAX;
    switch (W.slots[i].kind) {
    case K_PIPE_W: pipe_write(i, len, variant); break;
    case K_PIPE_R: pipe_read(i, len, variant); break;
    case K_SOCK: sock_write(i, len); break;
    case K_EVENTFD: efd_write(i, lb); break;
    case K_WAKER: waker_wake(i); break;
    case K_TCP: tcp_write(i, len, variant); break;
    case K_UDP: udp_write(i, len, variant); break;
    case K_TIMER: timer_read(i); break;
    case K_USTREAM: sock_write(i, len); break;
    case K_UDGRAM: udgram_send(i, len); break;
    default: break;
    }
}

static void op_read(struct input *in)
{
    int i = pick_slot(take(in));
    uint8_t lb = take(in), variant = take(in);
    if (i < 0)
        return;
    size_t len = lb == 0 ? 0 : 1 + (size_t)(lb * 13) % IO_MAX;
    switch (W.slots[i].kind) {
    case K_PIPE_R: pipe_read(i, len, variant); break;
    case K_PIPE_W: {
        /* Drain the pipe from the other end, so writes keep flowing. */
        struct slot *p = live_peer(&W.slots[i]);
        if (p)
            pipe_read((int)(p - W.slots), len, 0);
        break;
    }
    case K_SOCK: sock_read(i, len); break;
    case K_EVENTFD: efd_read(i); break;
    case K_TCP: tcp_read(i, len, variant); break;
    case K_UDP: udp_read(i, len, variant); break;
    case K_TIMER: timer_read(i); break;
    case K_USTREAM: sock_read(i, len); break;
    case K_UDGRAM: udgram_recv(i, variant); break;
    default: break;
    }
}

/* A datagram shutdown stays with its own socket, except that SHUT_RD makes the peer's sends fail. */
static void udgram_shutdown(int i, int how)
{
    struct slot *s = &W.slots[i];
    int r = evsrc_unix_datagram_shutdown(&objects[i].own.udgram, how);
    note("unix datagram shutdown slot %d how %d -> %s", i, how, err_name(r));
    if (how == 42) {
        EXPECT(r, -EINVAL, "datagram shutdown with an invalid how");
        return;
    }
    if (!s->open) {
        EXPECT(r, -EBADF, "shutdown of a closed datagram socket");
        return;
    }
    EXPECT(r, 0, "datagram shutdown");
    struct slot *p = live_peer(s);
    bool before = readable_known(s);
    if (how == SHUT_RD || how == SHUT_RDWR) {
        s->in_closed = true;
        if (p)
            p->out_closed = true;
    }
    if (how == SHUT_WR || how == SHUT_RDWR)
        s->out_closed = true;
    if (!before && readable_known(s))
        owe_readable(s);
}

static void op_shutdown(struct input *in)
{
    int i = pick_slot(take(in));
    uint8_t b = take(in);
    if (i < 0)
        return;
    struct slot *s = &W.slots[i];
    int how = (b % 4 == 3) ? 42 : (int)(b % 3); /* SHUT_RD, SHUT_WR, SHUT_RDWR, or invalid */
    if (s->kind == K_TCP) {
        int r = evsrc_tcp_stream_shutdown(&objects[i].own.tcp, how);
        note("tcp shutdown slot %d how %d -> %s", i, how, err_name(r));
        if (!s->open)
            CHECK(r == -EBADF || (how == 42 && r == -EINVAL), "shutdown of a closed stream: %s", err_name(r));
        else if (how == 42)
            EXPECT(r, -EINVAL, "tcp shutdown with an invalid how");
        else
            CHECK(r == 0 || r == -ENOTCONN, "tcp shutdown: %s", err_name(r));
        return;
    }
    if (s->kind == K_UDGRAM) {
        udgram_shutdown(i, how);
        return;
    }
    if (s->kind == K_USTREAM && (!s->open || how == 42)) {
        int r = evsrc_unix_stream_shutdown(&objects[i].own.ustream, how);
        EXPECT(r, how == 42 ? -EINVAL : -EBADF, "unix stream shutdown(%d) of slot %d", how, i);
        return;
    }
    if ((s->kind != K_SOCK && s->kind != K_USTREAM) || !s->open || how == 42)
        return;
    int r;
    if (s->kind == K_USTREAM)
        r = evsrc_unix_stream_shutdown(&objects[i].own.ustream, how);
    else
        r = shutdown(s->fd, how) < 0 ? -errno : 0;
    note("sock shutdown slot %d how %d -> %s", i, how, err_name(r));
    EXPECT(r, 0, "shutdown of a socketpair end");
    struct slot *p = live_peer(s);
    bool self_before = readable_known(s), peer_before = readable_known(p);
    if (how == SHUT_RD || how == SHUT_RDWR) {
        s->in_closed = true;
        if (p)
            p->out_closed = true;
    }
    if (how == SHUT_WR || how == SHUT_RDWR) {
        s->out_closed = true;
        if (p)
            p->in_closed = true;
    }
    if (!self_before && readable_known(s))
        owe_readable(s);
    if (p && !peer_before && readable_known(p))
        owe_readable(p);
}

static void op_timer(struct input *in)
{
    int i = pick_slot(take(in));
    uint8_t b = take(in);
    if (i < 0 || W.slots[i].kind != K_TIMER)
        return;
    struct slot *s = &W.slots[i];
    struct evsrc_timerfd *t = &objects[i].own.timer;
    const struct timespec soon = {0, 1}, zero = {0, 0}, period = {0, TIMER_PERIOD_NS};
    const struct timespec bad_nsec = {0, 1000000000L}, negative = {-1, 0}, tiny = {0, 5};
    int r, want_valid = 0;
    bool valid = true;
    switch (b % 9) {
    case 0: r = evsrc_timerfd_set(t, NULL, NULL, 0); break;
    case 1: r = evsrc_timerfd_set(t, &soon, NULL, 0); break;
    case 2: r = evsrc_timerfd_set(t, &soon, &period, 0); break;
    case 3: r = evsrc_timerfd_set(t, &soon, &zero, EVSRC_TIMERFD_ABSTIME); break;
    case 4: r = evsrc_timerfd_set(t, &soon, NULL, 0x2); valid = false; break;
    case 5: r = evsrc_timerfd_set(t, &bad_nsec, NULL, 0); valid = false; break;
    case 6: r = evsrc_timerfd_set(t, &soon, &negative, 0); valid = false; break;
    case 7: r = evsrc_timerfd_set(t, &zero, &tiny, 0); break;
    default: {
        struct timespec remaining = {-1, -1}, interval = {-1, -1};
        r = evsrc_timerfd_get(t, &remaining, &interval);
        note("timer get slot %d -> %s remaining %lld.%09ld interval %lld.%09ld", i, err_name(r),
             (long long)remaining.tv_sec, remaining.tv_nsec, (long long)interval.tv_sec, interval.tv_nsec);
        if (!s->open) {
            EXPECT(r, -EBADF, "timer get on a closed timer");
            CHECK(remaining.tv_sec == -1 && interval.tv_sec == -1, "timer get stored values on error");
            return;
        }
        EXPECT(r, 0, "timer get");
        if (!s->timer_may_fire)
            CHECK(remaining.tv_sec == 0 && remaining.tv_nsec == 0, "an idle timer has %lld.%09ld remaining",
                  (long long)remaining.tv_sec, remaining.tv_nsec);
        if (s->interval_known)
            CHECK(interval.tv_sec == s->interval.tv_sec && interval.tv_nsec == s->interval.tv_nsec,
                  "timer interval %lld.%09ld, want %lld.%09ld", (long long)interval.tv_sec, interval.tv_nsec,
                  (long long)s->interval.tv_sec, s->interval.tv_nsec);
        return;
    }
    }
    note("timer set slot %d variant %d -> %s", i, b % 9, err_name(r));
    if (!valid) {
        if (s->open)
            EXPECT(r, -EINVAL, "timer set with invalid arguments");
        else
            CHECK(r == -EINVAL || r == -EBADF, "timer set, invalid and closed: %s", err_name(r));
        return;
    }
    if (!s->open) {
        EXPECT(r, -EBADF, "timer set on a closed timer");
        return;
    }
    EXPECT(r, want_valid, "timer set");
    /* A new setting discards expiries not yet read. */
    s->timer_may_fire = (b % 9) >= 1 && (b % 9) <= 3;
    s->timer_periodic = (b % 9) == 2;
    s->interval_known = (b % 9) != 7;
    s->interval = (b % 9) == 2 ? period : zero;
}

/* ---- Registration ops ---------------------------------------------------- */

static void op_fd_ctl(enum ctl_op op, struct input *in)
{
    struct queue *q;
    const char *hname;
    struct evsrc_registry *reg = pick_handle(take(in), &q, &hname);
    int fd = pick_fd(take(in));
    evsrc_token token = pick_token(take(in));
    evsrc_interest interests = pick_interests(take(in));
    struct target t = {T_BAD, -1, NULL, 0};
    int want;
    if (!reg || (op != CTL_DEL && !interests_valid(interests)))
        want = -EINVAL;
    else
        want = ctl_expect(op, q, fd, &t);
    if (want == SKIP)
        return;
    int r;
    static const char *const names[] = {"register_fd", "reregister_fd", "deregister_fd"};
    switch (op) {
    case CTL_ADD: r = evsrc_registry_register_fd(reg, fd, token, interests); break;
    case CTL_MOD: r = evsrc_registry_reregister_fd(reg, fd, token, interests); break;
    default: r = evsrc_registry_deregister_fd(reg, fd); break;
    }
    note("%s(%s, fd %d, token %#llx, interests %#x) -> %s", names[op], hname, fd, (unsigned long long)token,
         interests, err_name(r));
    EXPECT(r, want, "%s(%s, fd %d, interests %#x)", names[op], hname, fd, interests);
    if (r == 0)
        ctl_apply(op, q, fd, &t, token, interests);
}

/* The source an op acts on: a slot's own or raw source, a bad one, or a custom one. */
struct src_choice {
    struct evsrc_source *source;
    uint64_t *mark;
    int fd;             /* for fd sources: the fd its ops use */
    int custom;         /* custom index, or -1 */
    bool bad;
    char name[48];
};

static bool pick_source(uint8_t sb, uint8_t wb, struct src_choice *c)
{
    memset(c, 0, sizeof *c);
    c->custom = -1;
    switch (wb % 8) {
    case 0: case 1: case 2: case 3: {
        int i = pick_slot(sb);
        if (i < 0)
            return false;
        bool raw = (wb % 8) >= 2 || W.slots[i].kind == K_WAKER; /* a waker is no source */
        c->source = raw ? &objects[i].raw.source : own_source(i);
        c->mark = &W.slots[i].mark[raw];
        c->fd = raw ? W.slots[i].raw_fd : own_fd(i);
        snprintf(c->name, sizeof c->name, "slot %d %s (%s)", i, raw ? "raw" : "own", kind_names[W.slots[i].kind]);
        return true;
    }
    case 4: case 5:
        c->custom = wb % 2;
        c->source = &W.custom[c->custom].source;
        c->mark = &W.custom_mark[c->custom];
        snprintf(c->name, sizeof c->name, "custom %d", c->custom);
        return true;
    default:
        c->bad = true;
        c->source = &W.bad[wb % 2];
        snprintf(c->name, sizeof c->name, "bad source %d", wb % 2);
        return true;
    }
}

static void op_src_ctl(enum ctl_op op, struct input *in)
{
    struct queue *q;
    const char *hname;
    struct evsrc_registry *reg = pick_handle(take(in), &q, &hname);
    uint8_t sb = take(in), wb = take(in);
    evsrc_token token = pick_token(take(in));
    evsrc_interest interests = pick_interests(take(in));
    uint8_t cb = take(in);
    struct src_choice c;
    if (!pick_source(sb, wb, &c))
        return;

    /* What the registry decides before any op runs. */
    int want;
    bool op_runs = false;
    if (!reg || c.bad || (op != CTL_DEL && !interests_valid(interests)))
        want = -EINVAL;
    else if (op == CTL_ADD && queue_alive(*c.mark))
        want = -EEXIST;
    else if (op != CTL_ADD && *c.mark != q->inst)
        want = -ENOENT;
    else
        op_runs = true;

    /* What the op returns. */
    struct target t = {T_BAD, -1, NULL, 0};
    struct custom *cu = c.custom >= 0 ? &W.custom[c.custom] : NULL;
    unsigned calls_before[3] = {0, 0, 0};
    if (cu) {
        static const int results[] = {0, 0, 0, 1, 7, -EIO, -ENOMEM, -EBADF};
        cu->result = results[cb % 8];
        cu->nested = (cb >> 3) % 4;
        cu->want_registry = reg;
        cu->want_token = token;
        cu->want_interests = interests;
        memcpy(calls_before, cu->calls, sizeof calls_before);
    }
    if (op_runs) {
        if (cu) {
            want = cu->result;
        } else {
            want = ctl_expect(op, q, c.fd, &t);
            if (want == SKIP)
                return;
        }
    }

    int r;
    static const char *const names[] = {"register", "reregister", "deregister"};
    switch (op) {
    case CTL_ADD: r = evsrc_registry_register(reg, c.source, token, interests); break;
    case CTL_MOD: r = evsrc_registry_reregister(reg, c.source, token, interests); break;
    default: r = evsrc_registry_deregister(reg, c.source); break;
    }
    note("%s(%s, %s fd %d, token %#llx, interests %#x) -> %s%s", names[op], hname, c.name, c.fd,
         (unsigned long long)token, interests, err_name(r), op_runs ? "" : " (op not called)");
    EXPECT(r, want, "%s(%s, %s, interests %#x)", names[op], hname, c.name, interests);
    if (cu) {
        for (int k = 0; k < 3; k++) {
            unsigned want_calls = calls_before[k] + (op_runs && k == (int)op ? 1u : 0u);
            CHECK(cu->calls[k] == want_calls, "%s: custom op %d called %u times, want %u", names[op], k,
                  cu->calls[k] - calls_before[k], want_calls - calls_before[k]);
        }
    }
    if (!op_runs)
        return;
    if (!cu && r == 0)
        ctl_apply(op, q, c.fd, &t, token, interests);
    switch (op) {
    case CTL_ADD: *c.mark = r >= 0 ? q->inst : 0; break;
    case CTL_DEL: *c.mark = 0; break;
    default: break;
    }
}

/* Re-initialise a slot's raw (or own raw-fd) source: its mark is cleared. */
static void op_reinit(struct input *in)
{
    int i = pick_slot(take(in));
    uint8_t b = take(in);
    if (i < 0)
        return;
    struct slot *s = &W.slots[i];
    int fd = (b & 2) ? -1 : s->fd;
    if ((b & 1) && !is_library_kind(s->kind) && s->kind != K_WAKER) {
        int r = evsrc_source_fd_init(&objects[i].own.sfd, fd);
        note("source_fd_init(slot %d own, %d) -> %s", i, fd, err_name(r));
        EXPECT(r, fd < 0 ? -EBADF : 0, "evsrc_source_fd_init(own, %d)", fd);
        if (r == 0)
            s->mark[0] = 0;
    } else {
        int r = evsrc_source_fd_init(&objects[i].raw, fd);
        note("source_fd_init(slot %d raw, %d) -> %s", i, fd, err_name(r));
        EXPECT(r, fd < 0 ? -EBADF : 0, "evsrc_source_fd_init(raw, %d)", fd);
        if (r == 0) {
            s->mark[1] = 0;
            s->raw_fd = fd;
        }
    }
}

/* ---- Waiting ------------------------------------------------------------- */

static unsigned owed_bound(const struct queue *q)
{
    /* An owed item waits behind at most every other registration, and each wait takes `capacity` of them. */
    return (unsigned)((entries_in(q->inst) + W.capacity - 1) / W.capacity) + 2;
}

static void check_events(struct queue *q, int n)
{
    for (int k = 0; k < n; k++) {
        const struct evsrc_event *ev = evsrc_events_get(W.events, (size_t)k);
        CHECK(ev != NULL, "evsrc_events_get(%d) is NULL with %d events", k, n);
        evsrc_token token = evsrc_event_token(ev);
        uint32_t flags = evsrc_event_raw_flags(ev);
        note("  event token %#llx flags %#x", (unsigned long long)token, flags);
        CHECK(flags != 0, "event with no flags, token %#llx", (unsigned long long)token);
        unsigned candidates = 0, possible = 0;
        uint32_t allowed_mask = 0;
        for (int i = 0; i < MAX_ENTRIES; i++) {
            const struct entry *e = &W.entries[i];
            if (!e->used || e->inst != q->inst || e->token != token)
                continue;
            candidates++;
            if (e->armed != DISARMED) {
                possible++;
                allowed_mask |= allowed_flags(e->interests);
            }
        }
        CHECK(candidates > 0, "wait returned token %#llx, which no registration in this queue has",
              (unsigned long long)token);
        CHECK(possible > 0, "wait returned token %#llx of a disarmed oneshot registration",
              (unsigned long long)token);
        CHECK((flags & ~allowed_mask) == 0, "event flags %#x for token %#llx beyond its interests (allowed %#x)",
              flags, (unsigned long long)token, allowed_mask);
        CHECK(evsrc_event_is_readable(ev) == ((flags & (EVSRC_EVENT_FLAG_IN | EVSRC_EVENT_FLAG_PRI)) != 0) &&
                  evsrc_event_is_writable(ev) == ((flags & EVSRC_EVENT_FLAG_OUT) != 0) &&
                  evsrc_event_is_error(ev) == ((flags & EVSRC_EVENT_FLAG_ERR) != 0),
              "event accessors disagree with the flags %#x", flags);
        for (int i = 0; i < MAX_ENTRIES; i++) {
            struct entry *e = &W.entries[i];
            if (!e->used || e->inst != q->inst || e->token != token || e->armed == DISARMED)
                continue;
            e->owed = false;
            if (e->interests & EVSRC_ONESHOT)
                e->armed = possible == 1 ? DISARMED : MAYBE_ARMED;
            /* The poll backend disarms a reported edge until a re-arm (model_io) or a reregister. */
            if (poll_backend && !(e->interests & EVSRC_LEVEL) && !e->waker_own &&
                (flags & (EVSRC_EVENT_FLAG_IN | EVSRC_EVENT_FLAG_RDHUP | EVSRC_EVENT_FLAG_HUP | EVSRC_EVENT_FLAG_ERR)))
                e->read_off = true;
        }
    }
    CHECK(evsrc_events_get(W.events, (size_t)n) == NULL, "evsrc_events_get past the end is not NULL");
    /* What was owed and not reported is one wait later; level-triggered readiness is owed again. */
    unsigned bound = owed_bound(q);
    for (int i = 0; i < MAX_ENTRIES; i++) {
        struct entry *e = &W.entries[i];
        if (!e->used || e->inst != q->inst)
            continue;
        if (e->owed) {
            e->owed_waits++;
            CHECK(e->owed_waits <= bound,
                  "no event for token %#llx (fd %d, interests %#x) after %u waits; it is owed (readiness at "
                  "registration, an edge, or level-triggered readiness)",
                  (unsigned long long)e->token, e->fd, e->interests, e->owed_waits);
        } else if ((e->interests & EVSRC_LEVEL) && !(e->interests & EVSRC_ONESHOT) && e->armed == ARMED &&
                   ready_for(e)) {
            owe(e);
        }
    }
}

static int wait_on(struct queue *q)
{
    const struct timespec zero = {0, 0};
    int n = evsrc_poll_wait(q->poll, W.events, &zero);
    note("wait Q%d -> %s", (int)(q - W.q), err_name(n));
    if (n == -EINTR) {
        EXPECT(evsrc_events_len(W.events), 0, "events left after an interrupted wait");
        return 0;
    }
    CHECK(n >= 0 && (size_t)n <= W.capacity, "wait returned %d with capacity %zu", n, W.capacity);
    EXPECT(evsrc_events_len(W.events), n, "evsrc_events_len after a wait");
    check_events(q, n);
    return n;
}

static void op_wait(struct input *in)
{
    uint8_t b = take(in);
    struct queue *q = &W.q[b & 1];
    int mode = (b >> 1) % 10;
    if (mode < 7) {
        if (q->poll) {
            wait_on(q);
            return;
        }
        int r = evsrc_poll_wait(NULL, W.events, &(struct timespec){0, 0});
        note("wait NULL poll -> %s", err_name(r));
        EXPECT(r, -EINVAL, "wait on a NULL poll");
        CHECK_AS("wait-null-len", evsrc_events_len(W.events) == 0,
                 "evsrc_poll_wait(NULL, events, ...) returned -EINVAL but left %zu events in the buffer "
                 "(poll.h: on error the buffer is left empty)",
                 evsrc_events_len(W.events));
        return;
    }
    if (!q->poll)
        return;
    int r;
    if (mode == 7) {
        r = evsrc_poll_wait(q->poll, NULL, &(struct timespec){0, 0});
        note("wait Q%d NULL events -> %s", b & 1, err_name(r));
        EXPECT(r, -EINVAL, "wait with NULL events");
        return;
    }
    struct timespec bad = mode == 8 ? (struct timespec){0, 1000000000L} : (struct timespec){-1, 0};
    r = evsrc_poll_wait(q->poll, W.events, &bad);
    note("wait Q%d invalid timeout -> %s", b & 1, err_name(r));
    EXPECT(r, -EINVAL, "wait with an invalid timeout");
    EXPECT(evsrc_events_len(W.events), 0, "events left after a wait with an invalid timeout");
}

/* Waits until nothing is owed (bounded): an owed event that never comes is a mismatch. */
static void drain(struct queue *q)
{
    if (!q->poll)
        return;
    for (unsigned round = 0; round < owed_bound(q) + 1; round++) {
        bool owed = false;
        for (int i = 0; i < MAX_ENTRIES; i++) {
            const struct entry *e = &W.entries[i];
            if (!e->used || e->inst != q->inst || !e->owed)
                continue;
            /* Level-triggered readiness is owed again after every report: one report is enough here. */
            bool level = (e->interests & EVSRC_LEVEL) && !(e->interests & EVSRC_ONESHOT);
            owed |= round == 0 || !level || e->owed_waits > 0;
        }
        if (!owed)
            return;
        wait_on(q);
    }
}

/* ---- Queues -------------------------------------------------------------- */

/* A handle of q went away (its fd closed): the queue dies with its last handle. */
static void queue_handle_gone(struct queue *q)
{
    if (q->poll || q->clone[0] || q->clone[1])
        return; /* the epoll file lives on: registrations under the closed fd stay, as epoll keys them */
    entries_drop_inst(q->inst);
    entries_drop_file(q->file);
    q->inst = 0;
    q->file = 0;
}

static void queue_new(struct queue *q)
{
    int predicted = lowest_free_fd();
    struct evsrc_poll *p = NULL;
    int r = evsrc_poll_new(&p);
    if (r == -EMFILE || r == -ENFILE)
        return;
    EXPECT(r, 0, "evsrc_poll_new");
    CHECK(p != NULL && evsrc_poll_registry(p) != NULL && evsrc_poll_registry(p) == evsrc_poll_registry(p),
          "a new poll and its registry");
    q->poll = p;
    q->inst = ++W.next_inst;
    q->file = new_file();
    q->poll_fd = discover_epoll_fd(predicted);
    CHECK(q->poll_fd < 0 || fd_cloexec(q->poll_fd), "the poll's fd is not close-on-exec");
    note("poll new Q%d (fd %d)", (int)(q - W.q), q->poll_fd);
}

static void op_queue(struct input *in)
{
    uint8_t b = take(in), b2 = take(in);
    struct queue *q = &W.q[b & 1];
    int k = (b2 >> 4) % NCLONES;
    switch ((b >> 1) % 6) {
    case 0:
        if (!q->inst)
            queue_new(q);
        break;
    case 1:
        note("poll free Q%d%s", b & 1, q->poll ? "" : " (NULL)");
        evsrc_poll_free(q->poll);
        if (q->poll) {
            q->poll = NULL;
            q->poll_fd = -1;
            queue_handle_gone(q);
        }
        break;
    case 2: {
        if (q->clone[k])
            break;
        struct queue *sq;
        const char *hname;
        struct evsrc_registry *src = pick_handle((uint8_t)((b & 1) * 3 + b2 % 3), &sq, &hname);
        struct evsrc_registry *out = (struct evsrc_registry *)(void *)&W;
        if (!src) {
            EXPECT(evsrc_registry_try_clone(NULL, &out), -EINVAL, "try_clone(NULL)");
            CHECK(out == (struct evsrc_registry *)(void *)&W, "try_clone(NULL) touched *out");
            break;
        }
        int predicted = lowest_free_fd();
        int r = evsrc_registry_try_clone(src, &out);
        if (r == -EMFILE || r == -ENFILE)
            break;
        EXPECT(r, 0, "try_clone(%s)", hname);
        q->clone[k] = out;
        q->clone_fd[k] = discover_epoll_fd(predicted);
        CHECK(q->clone_fd[k] < 0 || fd_cloexec(q->clone_fd[k]), "the clone's fd is not close-on-exec");
        note("clone %s -> Q%d.clone%d (fd %d)", hname, b & 1, k, q->clone_fd[k]);
        break;
    }
    case 3:
        note("registry free Q%d.clone%d%s", b & 1, k, q->clone[k] ? "" : " (NULL)");
        evsrc_registry_free(q->clone[k]);
        if (q->clone[k]) {
            q->clone[k] = NULL;
            q->clone_fd[k] = -1;
            queue_handle_gone(q);
        }
        break;
    case 4:
        /* Freeing the poll's own registry does nothing: it stays usable (ASan sees any free). */
        if (q->poll) {
            note("registry free of Q%d's borrowed registry (no-op)", b & 1);
            evsrc_registry_free(evsrc_poll_registry(q->poll));
        }
        break;
    default: {
        struct queue *sq;
        const char *hname;
        struct evsrc_registry *src = pick_handle(b2, &sq, &hname);
        EXPECT(evsrc_registry_try_clone(src, NULL), -EINVAL, "try_clone(%s, NULL)", hname);
        break;
    }
    }
}

/* ---- Odds and ends of the API -------------------------------------------- */

static void op_misc(struct input *in)
{
    uint8_t b = take(in);
    switch (b % 12) {
    case 0: {
        struct evsrc_events *e = (struct evsrc_events *)(void *)&W;
        EXPECT(evsrc_events_new(0, &e), -EINVAL, "events_new(0)");
        EXPECT(evsrc_events_new(EVSRC_EVENTS_CAPACITY_MAX + 1, &e), -EINVAL, "events_new(max + 1)");
        EXPECT(evsrc_events_new(4, NULL), -EINVAL, "events_new(NULL)");
        CHECK(e == (struct evsrc_events *)(void *)&W, "events_new touched *out on error");
        CHECK(evsrc_events_len(NULL) == 0 && evsrc_events_capacity(NULL) == 0 && evsrc_events_get(NULL, 0) == NULL,
              "NULL events accessors");
        evsrc_events_free(NULL);
        evsrc_events_clear(NULL);
        break;
    }
    case 1:
        evsrc_events_clear(W.events);
        EXPECT(evsrc_events_len(W.events), 0, "len after clear");
        CHECK(evsrc_events_get(W.events, 0) == NULL, "get(0) after clear");
        EXPECT(evsrc_events_capacity(W.events), W.capacity, "capacity");
        break;
    case 2:
        EXPECT(evsrc_poll_new(NULL), -EINVAL, "poll_new(NULL)");
        CHECK(evsrc_poll_registry(NULL) == NULL, "poll_registry(NULL)");
        evsrc_poll_free(NULL);
        evsrc_registry_free(NULL);
        EXPECT(evsrc_waker_wake(NULL), -EINVAL, "waker_wake(NULL)");
        EXPECT(evsrc_waker_new(NULL, W.q[0].poll ? evsrc_poll_registry(W.q[0].poll) : NULL, 1), -EINVAL,
               "waker_new(NULL out)");
        evsrc_waker_free(NULL);
        break;
    case 3: {
        struct evsrc_source s;
        EXPECT(evsrc_source_init(NULL, &custom_ops), -EINVAL, "source_init(NULL)");
        EXPECT(evsrc_source_init(&s, NULL), -EINVAL, "source_init(ops NULL)");
        EXPECT(evsrc_source_fd_init(NULL, 0), -EINVAL, "source_fd_init(NULL)");
        break;
    }
    case 4: {
        /* A failed pipe_new leaves each non-NULL end closed and opens nothing. */
        struct evsrc_pipe_sender tx;
        struct evsrc_pipe_receiver rx;
        memset(&tx, 0x5a, sizeof tx);
        memset(&rx, 0x5a, sizeof rx);
        EXPECT(evsrc_pipe_new(NULL, &rx), -EINVAL, "pipe_new(NULL, rx)");
        EXPECT(evsrc_pipe_new(&tx, NULL), -EINVAL, "pipe_new(tx, NULL)");
        EXPECT(evsrc_pipe_receiver_fd(&rx), -EBADF, "receiver after a failed pipe_new");
        EXPECT(evsrc_pipe_sender_fd(&tx), -EBADF, "sender after a failed pipe_new");
        EXPECT(evsrc_pipe_sender_close(&tx), -EBADF, "closing a closed sender");
        EXPECT(evsrc_pipe_receiver_close(&rx), -EBADF, "closing a closed receiver");
        EXPECT(evsrc_pipe_sender_write(&tx, "x", 1), -EBADF, "write on a closed sender");
        EXPECT(evsrc_pipe_sender_write(NULL, "x", 1), -EINVAL, "write on NULL");
        EXPECT(evsrc_pipe_receiver_read(NULL, NULL, 0), -EINVAL, "read on NULL");
        EXPECT(evsrc_pipe_sender_close(NULL), -EINVAL, "close NULL sender");
        break;
    }
    case 5: {
        struct evsrc_timerfd t;
        memset(&t, 0x5a, sizeof t);
        EXPECT(evsrc_timerfd_new(&t, CLOCK_PROCESS_CPUTIME_ID), -EINVAL, "timerfd_new(cpu clock)");
        EXPECT(evsrc_timerfd_fd(&t), -EBADF, "timer after a failed timerfd_new");
        EXPECT(evsrc_timerfd_close(&t), -EBADF, "closing a closed timer");
        EXPECT(evsrc_timerfd_new(NULL, CLOCK_MONOTONIC), -EINVAL, "timerfd_new(NULL)");
        EXPECT(evsrc_timerfd_from_fd(&t, -1), -EBADF, "timerfd_from_fd(-1)");
        uint64_t count;
        EXPECT(evsrc_timerfd_read(&t, &count), -EBADF, "read of a closed timer");
        break;
    }
    case 6: {
        struct evsrc_tcp_stream s;
        memset(&s, 0x5a, sizeof s);
        struct sockaddr_in addr;
        memset(&addr, 0, sizeof addr);
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT(evsrc_tcp_stream_connect(&s, (const struct sockaddr *)&addr, sizeof addr - 1), -EINVAL,
               "connect with a short address");
        EXPECT(evsrc_tcp_stream_fd(&s), -EBADF, "stream after a failed connect");
        addr.sin_family = AF_UNIX;
        EXPECT(evsrc_tcp_stream_connect(&s, (const struct sockaddr *)&addr, sizeof addr), -EINVAL,
               "connect with a non-IP address");
        EXPECT(evsrc_tcp_stream_close(&s), -EBADF, "closing a closed stream");
        EXPECT(evsrc_tcp_stream_write(&s, "x", 1), -EBADF, "write on a closed stream");
        struct evsrc_tcp_listener l;
        memset(&l, 0x5a, sizeof l);
        EXPECT(evsrc_tcp_listener_bind(&l, NULL, 0), -EINVAL, "bind(NULL)");
        EXPECT(evsrc_tcp_listener_fd(&l), -EBADF, "listener after a failed bind");
        EXPECT(evsrc_tcp_listener_accept(&l, &s, NULL, NULL), -EBADF, "accept on a closed listener");
        EXPECT(evsrc_tcp_stream_fd(&s), -EBADF, "stream after a failed accept");
        break;
    }
    case 7: {
        /* A TCP fd of the model adopted by a second struct is refused for a non-TCP fd. */
        int i = pick_slot(b);
        if (i < 0 || !W.slots[i].open || W.slots[i].kind == K_TCP)
            break;
        struct evsrc_tcp_stream s;
        int before = fcntl(W.slots[i].fd, F_GETFL);
        int r = evsrc_tcp_stream_from_fd(&s, W.slots[i].fd);
        bool socket_kind = W.slots[i].kind == K_SOCK || W.slots[i].kind == K_UDP || W.slots[i].kind == K_USTREAM ||
                           W.slots[i].kind == K_UDGRAM;
        EXPECT(r, socket_kind ? -EINVAL : -ENOTSOCK, "tcp_stream_from_fd(a %s)",
               kind_names[W.slots[i].kind]);
        CHECK(fcntl(W.slots[i].fd, F_GETFL) == before, "a failed tcp adoption changed the fd");
        EXPECT(evsrc_tcp_stream_fd(&s), -EBADF, "stream after a failed adoption");
        break;
    }
    case 8: {
        /* The fd getters agree with the model. */
        for (int i = 0; i < MAX_SLOTS; i++) {
            const struct slot *s = &W.slots[i];
            const struct object *o = &objects[i];
            int want = s->open ? s->fd : -EBADF;
            switch (s->kind) {
            case K_PIPE_R: EXPECT(evsrc_pipe_receiver_fd(&o->own.rx), want, "receiver fd of slot %d", i); break;
            case K_PIPE_W: EXPECT(evsrc_pipe_sender_fd(&o->own.tx), want, "sender fd of slot %d", i); break;
            case K_TIMER: EXPECT(evsrc_timerfd_fd(&o->own.timer), want, "timer fd of slot %d", i); break;
            case K_TCP: EXPECT(evsrc_tcp_stream_fd(&o->own.tcp), want, "stream fd of slot %d", i); break;
            case K_UDP: EXPECT(evsrc_udp_socket_fd(&o->own.udp), want, "udp fd of slot %d", i); break;
            case K_USTREAM: EXPECT(evsrc_unix_stream_fd(&o->own.ustream), want, "unix stream fd of slot %d", i); break;
            case K_UDGRAM: EXPECT(evsrc_unix_datagram_fd(&o->own.udgram), want, "datagram fd of slot %d", i); break;
            default: break;
            }
        }
        break;
    }
    case 9: {
        int i = pick_slot(b);
        if (i >= 0 && W.slots[i].kind == K_UDP) {
            udp_misc(i, b);
            break;
        }
        if (i < 0 || W.slots[i].kind != K_TCP)
            break;
        int r = evsrc_tcp_stream_take_error(&objects[i].own.tcp);
        if (!W.slots[i].open)
            EXPECT(r, -EBADF, "take_error on a closed stream");
        else
            CHECK(r <= 0 && r != -EBADF && r != -EINVAL, "take_error: %s", err_name(r));
        struct sockaddr_storage a;
        socklen_t len = sizeof a;
        r = evsrc_tcp_stream_local_addr(&objects[i].own.tcp, &a, &len);
        EXPECT(r, W.slots[i].open ? 0 : -EBADF, "local_addr");
        r = evsrc_tcp_stream_nodelay(&objects[i].own.tcp);
        if (W.slots[i].open)
            CHECK(r == 0 || r == 1, "nodelay: %s", err_name(r));
        else
            EXPECT(r, -EBADF, "nodelay of a closed stream");
        break;
    }
    default: {
        /* Interest validation on its own, through a handle that exists. */
        struct queue *q;
        const char *hname;
        struct evsrc_registry *reg = pick_handle(b >> 4, &q, &hname);
        if (!reg)
            break;
        static const evsrc_interest bad[] = {0, EVSRC_LEVEL, EVSRC_ONESHOT, EVSRC_LEVEL | EVSRC_ONESHOT, 0x8,
                                             EVSRC_READABLE | 0x40u, EVSRC_WRITABLE | 0x80000000u, 0xffffffffu};
        evsrc_interest i = bad[(b >> 1) % 8];
        int fd = pick_fd(b);
        EXPECT(evsrc_registry_register_fd(reg, fd, 1, i), -EINVAL, "register_fd with interests %#x", i);
        EXPECT(evsrc_registry_reregister_fd(reg, fd, 1, i), -EINVAL, "reregister_fd with interests %#x", i);
        EXPECT(evsrc_registry_register(reg, &W.custom[0].source, 1, i), -EINVAL, "register with interests %#x",
               i);
        break;
    }
    }
}

/* ---- Timer queues (evsrc/timers.h) against a sorted-list model ---------- */

/*
 * Two timer queues and TM_TIMERS timers. So that every result is determined,
 * a delay is either zero (due at the next drain) or a whole number of
 * kiloseconds (never due within an input), and periods are 1500, 2500 or
 * 3500 s. A timer's deadline is then (seconds, base): `seconds` after the
 * moment of the start that set its phase, and the starts are numbered in the
 * order they happen (`base`), which is the order of their clock readings. The
 * model keeps each queue as that list and expects drains in its order.
 */
#define TM_QUEUES 2
#define TM_TIMERS 8

static struct timers_model {
    struct evsrc_timers queue[TM_QUEUES];
    struct evsrc_timer timer[TM_TIMERS];
    int in[TM_TIMERS];          /* the queue holding it, -1 for none */
    long seconds[TM_TIMERS];    /* its deadline: seconds after its base start */
    uint64_t base[TM_TIMERS];   /* the start that set its phase */
    long period[TM_TIMERS];     /* seconds, 0 for a one-shot */
    bool fresh[TM_TIMERS];      /* started during the drain under way: due at the next one */
    uint64_t expirations[TM_TIMERS];
    uint64_t starts;
} TM;

static void tm_begin(void)
{
    memset(&TM, 0xa5, sizeof TM); /* the queues must not need initialising */
    for (int q = 0; q < TM_QUEUES; q++)
        EXPECT(evsrc_timers_new(&TM.queue[q], q ? CLOCK_BOOTTIME : CLOCK_MONOTONIC), 0, "timers_new(%d)", q);
    for (int t = 0; t < TM_TIMERS; t++) {
        evsrc_timer_init(&TM.timer[t], (evsrc_token)t);
        TM.in[t] = -1;
        TM.fresh[t] = false;
        TM.expirations[t] = 0;
    }
    TM.starts = 0;
}

static size_t tm_len(int q)
{
    size_t n = 0;
    for (int t = 0; t < TM_TIMERS; t++)
        n += TM.in[t] == q;
    return n;
}

/* The model's earliest timer of queue q, due ones only if `due`; -1 if none. */
static int tm_first(int q, bool due)
{
    int best = -1;
    for (int t = 0; t < TM_TIMERS; t++) {
        if (TM.in[t] != q || (due && (TM.seconds[t] != 0 || TM.fresh[t])))
            continue;
        if (best < 0 || TM.seconds[t] < TM.seconds[best] ||
            (TM.seconds[t] == TM.seconds[best] && TM.base[t] < TM.base[best]))
            best = t;
    }
    return best;
}

static void tm_start(int q, int t, long seconds, long period, bool in_drain)
{
    struct timespec after = {seconds, 0}, interval = {period, 0};
    int want = TM.in[t] >= 0 && TM.in[t] != q ? -EEXIST : 0;
    int r = evsrc_timers_start(&TM.queue[q], &TM.timer[t], &after, period ? &interval : NULL);
    note("timers_start(q%d, t%d, %lds, every %lds) = %s", q, t, seconds, period, err_name(r));
    EXPECT(r, want, "timers_start(q%d, t%d)", q, t);
    if (r < 0)
        return;
    TM.in[t] = q;
    TM.seconds[t] = seconds;
    TM.base[t] = ++TM.starts;
    TM.period[t] = period;
    TM.fresh[t] = in_drain && seconds == 0;
    TM.expirations[t] = 0;
}

static void tm_stop(int q, int t)
{
    int want = TM.in[t] < 0 ? 0 : TM.in[t] == q ? 1 : -ENOENT;
    int r = evsrc_timers_stop(&TM.queue[q], &TM.timer[t]);
    note("timers_stop(q%d, t%d) = %s", q, t, err_name(r));
    EXPECT(r, want, "timers_stop(q%d, t%d)", q, t);
    if (r == 1)
        TM.in[t] = -1;
}

static bool tm_fd_readable(int q, int timeout_ms)
{
    struct pollfd p = {evsrc_timers_fd(&TM.queue[q]), POLLIN, 0};
    return poll(&p, 1, timeout_ms) == 1;
}

/* Everything the queue reports about itself, against the model. */
static void tm_check(int q)
{
    EXPECT(evsrc_timers_len(&TM.queue[q]), tm_len(q), "timers_len(q%d)", q);
    for (int t = 0; t < TM_TIMERS; t++) {
        CHECK(evsrc_timer_is_active(&TM.timer[t]) == (TM.in[t] >= 0), "timer_is_active(t%d)", t);
        EXPECT(evsrc_timer_expirations(&TM.timer[t]), TM.expirations[t], "timer_expirations(t%d)", t);
    }
    struct timespec remaining = {-1, -1};
    int first = tm_first(q, false);
    int r = evsrc_timers_next_deadline(&TM.queue[q], &remaining);
    EXPECT(r, first < 0 ? -ENOENT : 0, "timers_next_deadline(q%d)", q);
    if (first >= 0) {
        long long ns = (long long)remaining.tv_sec * 1000000000LL + remaining.tv_nsec;
        long long want = TM.seconds[first] * 1000000000LL;
        /* An input lasts well under a minute. */
        CHECK(ns <= want && ns > want - 60000000000LL, "next_deadline(q%d): %lld ns left, want about %lld", q, ns,
              want);
    }
}

/* A whole drain, with starts and stops from inside it as the input says. */
static void tm_drain(int q, struct input *in)
{
    /* A timer due since before the drain has made the fd readable. */
    if (tm_first(q, true) >= 0)
        CHECK(tm_fd_readable(q, 5000), "q%d: a timer is due but its fd is not readable", q);
    for (int round = 0; round < 4 * TM_TIMERS; round++) {
        struct evsrc_timer *got = NULL;
        int want = tm_first(q, true);
        int r = evsrc_timers_expired(&TM.queue[q], &got);
        note("timers_expired(q%d) = %s, t%lld", q, err_name(r), got ? (long long)evsrc_timer_token(got) : -1LL);
        if (want < 0) {
            EXPECT(r, -EAGAIN, "timers_expired(q%d): nothing due", q);
            break;
        }
        EXPECT(r, 0, "timers_expired(q%d): t%d is due", q, want);
        CHECK(got == &TM.timer[want], "timers_expired(q%d) handed out t%lld, want t%d", q,
              (long long)evsrc_timer_token(got), want);
        TM.expirations[want] = 1;
        if (TM.period[want]) {
            TM.seconds[want] = TM.period[want]; /* base unchanged: the phase is kept */
        } else {
            TM.in[want] = -1;
        }
        uint8_t b = take(in);
        if (b & 1)
            tm_start(q, want, 0, 0, true);
        if (b & 2)
            tm_stop(q, (b >> 2) % TM_TIMERS);
        if (b & 0x40)
            tm_start(q, (b >> 2) % TM_TIMERS, 1000, 0, true);
    }
    bool pending = false;
    for (int t = 0; t < TM_TIMERS; t++) {
        pending |= TM.in[t] == q && TM.fresh[t];
        TM.fresh[t] = false;
    }
    /* Nothing due: the fd must not be readable (no busy loop); started mid-drain: it must be (never late). */
    if (pending)
        CHECK(tm_fd_readable(q, 5000), "q%d: a timer started in the drain is due but the fd is not readable", q);
    else
        CHECK(!tm_fd_readable(q, 0), "q%d: nothing is due but the fd is readable", q);
    tm_check(q);
}

static void tm_close(int q)
{
    EXPECT(evsrc_timers_close(&TM.queue[q]), 0, "timers_close(q%d)", q);
    for (int t = 0; t < TM_TIMERS; t++)
        if (TM.in[t] == q) {
            TM.in[t] = -1;
            CHECK(!evsrc_timer_is_active(&TM.timer[t]), "t%d active after its queue closed", t);
        }
    EXPECT(evsrc_timers_close(&TM.queue[q]), -EBADF, "timers_close(q%d) again", q);
}

static void tm_end(void)
{
    for (int q = 0; q < TM_QUEUES; q++)
        tm_close(q);
}

static void op_timers(struct input *in)
{
    uint8_t b = take(in);
    int q = (b >> 3) % TM_QUEUES;
    int t = (b >> 4) % TM_TIMERS;
    switch (b % 6) {
    case 0: { /* start or restart */
        uint8_t d = take(in);
        long seconds = (d % 4) * 1000L;
        long period = d & 4 ? ((d >> 3) % 3) * 1000L + 1500 : 0;
        tm_start(q, t, seconds, period, false);
        break;
    }
    case 1: tm_stop(q, t); break;
    case 2: tm_drain(q, in); break;
    case 3: tm_check(q); break;
    case 4: /* close: every timer stops; then a fresh queue */
        tm_close(q);
        EXPECT(evsrc_timers_new(&TM.queue[q], CLOCK_MONOTONIC), 0, "timers_new(q%d)", q);
        break;
    default: { /* bad input changes nothing */
        static const struct timespec bad[] = {{-1, 0}, {0, -1}, {0, 1000000000L}};
        const struct timespec ok = {0, 0};
        uint8_t d = take(in);
        const struct timespec *after = d & 1 ? &bad[d / 2 % 3] : &ok;
        const struct timespec *interval = d & 1 ? NULL : &bad[d / 2 % 3];
        EXPECT(evsrc_timers_start(&TM.queue[q], &TM.timer[t], after, interval), -EINVAL, "timers_start(bad)");
        EXPECT(evsrc_timers_start(&TM.queue[q], NULL, &ok, NULL), -EINVAL, "timers_start(NULL timer)");
        EXPECT(evsrc_timers_stop(NULL, &TM.timer[t]), -EINVAL, "timers_stop(NULL)");
        EXPECT(evsrc_timers_expired(&TM.queue[q], NULL), -EINVAL, "timers_expired(NULL out)");
        tm_check(q);
        break;
    }
    }
}

/* ---- The driver ---------------------------------------------------------- */

/* ---- Beyond one thread and one process ---------------------------------- */

/*
 * What the issue 20 review needed and the single-threaded model could not
 * say: a fork child using what it inherited, a close from another thread
 * while one waits, and short counts. Each op is a scenario with its own
 * objects (or, in the child, ones that leave the shared files as they
 * were), so the model's state is not touched; each checks its outcome.
 */

#define SCENARIO_DEADLINE_S 10
/* Scenario ops per input: a fork of an ASan process costs milliseconds, and fuzzing wants many inputs. */
#define SCENARIOS_PER_INPUT 2

static bool scenario_allowed(void)
{
    if (W.scenarios >= SCENARIOS_PER_INPUT)
        return false;
    W.scenarios++;
    return true;
}

/* Waits up to the deadline on a private poll for `token`; true if it came. */
static bool scenario_wait_for(struct evsrc_poll *poll, struct evsrc_events *events, evsrc_token token)
{
    struct timespec deadline = {SCENARIO_DEADLINE_S, 0};
    for (int round = 0; round < 4; round++) {
        int n = evsrc_poll_wait(poll, events, &deadline);
        for (int k = 0; k < n; k++)
            if (evsrc_event_token(evsrc_events_get(events, (size_t)k)) == token)
                return true;
        if (n == 0)
            return false;
    }
    return false;
}

/*
 * The child: inherited handles answer -ECHILD; it frees them (or not),
 * reuses the freed memory, reads every inherited pipe the model knows to be
 * empty through the library (the re-arm path), makes a poll of its own that
 * takes an inherited source and a new pipe, and closes an inherited object
 * through the library. Returns the number of the first step that failed.
 */
static int fork_child_body(uint8_t b)
{
    const struct timespec zero = {0, 0};
    for (int q = 0; q < NQUEUES; q++)
        if (W.q[q].poll && evsrc_poll_wait(W.q[q].poll, W.events, &zero) != -ECHILD)
            return 1;
    if (b & 1) {
        for (int q = 0; q < NQUEUES; q++) {
            for (int k = 0; k < NCLONES; k++)
                evsrc_registry_free(W.q[q].clone[k]);
            evsrc_poll_free(W.q[q].poll);
        }
        static void *volatile reused[16];
        for (size_t k = 0; k < 16; k++) {
            reused[k] = malloc(64 + 32 * k);
            if (reused[k])
                memset(reused[k], 0xff, 64 + 32 * k);
        }
    }
    int inherited_rx = -1;
    for (int i = 0; i < MAX_SLOTS; i++) {
        const struct slot *s = &W.slots[i];
        if (!s->open || s->kind != K_PIPE_R || s->buffered > 0 || s->in_closed || !live_peer(s))
            continue;
        uint8_t byte;
        if (evsrc_pipe_receiver_read(&objects[i].own.rx, &byte, 1) != -EAGAIN)
            return 2;
        inherited_rx = i;
    }
    struct evsrc_poll *own = NULL;
    struct evsrc_events *events = NULL;
    if (evsrc_poll_new(&own) != 0 || evsrc_events_new(4, &events) != 0)
        return 3;
    struct evsrc_registry *registry = evsrc_poll_registry(own);
    if ((b & 2) && inherited_rx >= 0) {
        struct evsrc_source *source = &objects[inherited_rx].own.rx.source;
        if (evsrc_registry_register(registry, source, 7, EVSRC_READABLE) != 0 ||
            evsrc_registry_deregister(registry, source) != 0)
            return 4;
    }
    struct evsrc_pipe_sender tx;
    struct evsrc_pipe_receiver rx;
    if (evsrc_pipe_new(&tx, &rx) != 0 || evsrc_registry_register(registry, &rx.source, 8, EVSRC_READABLE) != 0)
        return 5;
    if (evsrc_pipe_sender_write(&tx, "c", 1) != 1 || !scenario_wait_for(own, events, 8))
        return 6;
    if (evsrc_pipe_receiver_close(&rx) != 0 || evsrc_pipe_sender_close(&tx) != 0)
        return 7;
    if ((b & 4) && inherited_rx >= 0 && evsrc_pipe_receiver_close(&objects[inherited_rx].own.rx) != 0)
        return 8;
    evsrc_events_free(events);
    evsrc_poll_free(own);
    return 0;
}

static void op_fork(struct input *in)
{
    uint8_t b = take(in);
    if (!scenario_allowed())
        return;
    note("fork (child frees inherited: %d, registers one: %d, closes one: %d)", b & 1, (b >> 1) & 1, (b >> 2) & 1);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return; /* out of processes: nothing to check */
    if (pid == 0)
        _exit(fork_child_body(b));
    int status = 0;
    pid_t r = 0;
    for (long waited_ms = 0; (r = waitpid(pid, &status, WNOHANG)) == 0 && waited_ms < 3 * SCENARIO_DEADLINE_S * 1000;
         waited_ms++)
        nanosleep(&(struct timespec){0, 1000000L}, NULL);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    CHECK(r == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "a fork child using what it inherited failed (%s %d): see fork_child_body", r == pid ? "status" : "hung",
          r == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

struct scenario_waiter {
    struct evsrc_poll *poll;
    struct evsrc_events *events;
    int result;
};

static void *scenario_wait_long(void *arg)
{
    struct scenario_waiter *w = arg;
    struct timespec timeout = {3 * SCENARIO_DEADLINE_S, 0};
    w->result = evsrc_poll_wait(w->poll, w->events, &timeout);
    return NULL;
}

/*
 * One thread waits on a private poll while this one deregisters and closes
 * a registered Unix stream end, or closes it through the library, or closes
 * a registered pipe receiver through the library: the file is released at
 * once (its peer sees end of stream, or -EPIPE) though the waiter would wait
 * 30 s (issue 20: on the poll backend ppoll kept it open).
 */
static void op_thread_close(struct input *in)
{
    uint8_t b = take(in);
    if (!scenario_allowed())
        return;
    int how = b % 3;
    long pause_us = (long)(b >> 2) * 20; /* 0 to 1.3 ms: the waiter is often, not always, blocked by then */
    struct scenario_waiter w = {NULL, NULL, 0};
    struct evsrc_waker *waker = NULL;
    if (evsrc_poll_new(&w.poll) != 0)
        return;
    EXPECT(evsrc_events_new(4, &w.events), 0, "events_new for the waiting thread");
    EXPECT(evsrc_waker_new(&waker, evsrc_poll_registry(w.poll), 1), 0, "waker for the waiting thread");
    struct evsrc_registry *registry = evsrc_poll_registry(w.poll);
    struct evsrc_unix_stream mine, peer;
    struct evsrc_pipe_sender tx;
    struct evsrc_pipe_receiver rx;
    int peer_fd;
    if (how < 2) {
        EXPECT(evsrc_unix_stream_pair(&mine, &peer), 0, "unix stream pair");
        EXPECT(evsrc_registry_register(registry, &mine.source, 2, EVSRC_READABLE), 0, "register the closing end");
        peer_fd = evsrc_unix_stream_fd(&peer);
    } else {
        EXPECT(evsrc_pipe_new(&tx, &rx), 0, "pipe");
        EXPECT(evsrc_registry_register(registry, &rx.source, 2, EVSRC_READABLE), 0, "register the closing end");
        peer_fd = evsrc_pipe_sender_fd(&tx);
    }
    pthread_t thread;
    bool started = pthread_create(&thread, NULL, scenario_wait_long, &w) == 0;
    if (started && pause_us > 0)
        nanosleep(&(struct timespec){0, pause_us * 1000L}, NULL);
    static const char *const hows[] = {"deregister + close(2)", "unix stream close", "pipe receiver close"};
    note("thread close: %s during a wait (pause %ld us)", hows[how], pause_us);
    if (how == 0) {
        int fd = evsrc_unix_stream_fd(&mine);
        EXPECT(evsrc_registry_deregister(registry, &mine.source), 0, "deregister during a wait");
        close(fd);
    } else if (how == 1) {
        EXPECT(evsrc_unix_stream_close(&mine), 0, "unix stream close during a wait");
    } else {
        EXPECT(evsrc_pipe_receiver_close(&rx), 0, "pipe receiver close during a wait");
    }
    /* The peer learns of the close within the deadline, while the waiter would wait three times that. */
    /* A pipe's writer is writable all along: it is POLLERR, reported whatever is asked, that says the reader went. */
    struct pollfd p = {.fd = peer_fd, .events = how < 2 ? POLLIN : 0};
    int ready = poll(&p, 1, SCENARIO_DEADLINE_S * 1000);
    long seen;
    if (how < 2) {
        uint8_t byte;
        seen = ready == 1 ? (long)evsrc_unix_stream_read(&peer, &byte, 1) : -ETIMEDOUT;
    } else {
        seen = ready == 1 ? (long)evsrc_pipe_sender_write(&tx, "x", 1) : -ETIMEDOUT;
    }
    EXPECT(evsrc_waker_wake(waker), 0, "wake the waiting thread");
    if (started)
        pthread_join(thread, NULL);
    CHECK(!started || w.result >= 0, "the waiting thread's wait: %s", err_name(w.result));
    EXPECT(seen, how < 2 ? 0 : -EPIPE, "the peer of an end closed during a wait (%s)", hows[how]);
    evsrc_waker_free(waker);
    if (how < 2)
        EXPECT(evsrc_unix_stream_close(&peer), 0, "close the peer");
    else
        EXPECT(evsrc_pipe_sender_close(&tx), 0, "close the peer");
    evsrc_events_free(w.events);
    evsrc_poll_free(w.poll);
}

/*
 * A short count is where the headers let a program stop and wait: a write
 * short of a megabyte (pipe, Unix stream), then the reader drains, and the
 * writable event must come; a recv_many short of its count, then one more
 * datagram, and the readable event must come (issue 20: on the poll backend
 * neither came).
 */
static void op_short(struct input *in)
{
    uint8_t b = take(in);
    if (!scenario_allowed())
        return;
    int kind = b % 3;
    static uint8_t big[1 << 20];
    struct evsrc_poll *queue = NULL;
    struct evsrc_events *events = NULL;
    if (evsrc_poll_new(&queue) != 0)
        return;
    EXPECT(evsrc_events_new(4, &events), 0, "events_new for the short-count scenario");
    struct evsrc_registry *registry = evsrc_poll_registry(queue);
    static const char *const kinds[] = {"pipe write", "unix stream write", "udp recv_many"};
    note("short count: %s", kinds[kind]);
    if (kind == 2) {
        struct evsrc_udp_socket a, c;
        struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        EXPECT(evsrc_udp_socket_bind(&a, (const struct sockaddr *)&lo, sizeof lo), 0, "udp bind");
        EXPECT(evsrc_udp_socket_bind(&c, (const struct sockaddr *)&lo, sizeof lo), 0, "udp bind");
        struct sockaddr_storage to;
        socklen_t tolen = sizeof to;
        EXPECT(evsrc_udp_socket_local_addr(&c, &to, &tolen), 0, "udp local addr");
        EXPECT(evsrc_registry_register(registry, &c.source, 3, EVSRC_READABLE), 0, "register the receiver");
        for (int round = 0; round < 2; round++) {
            EXPECT(evsrc_udp_socket_send_to(&a, "d", 1, (const struct sockaddr *)&to, tolen), 1, "udp send");
            CHECK(scenario_wait_for(queue, events, 3), "no readable event for a datagram (round %d, after a short "
                  "recv_many)", round);
            uint8_t bufs[4][8];
            struct iovec iov[4];
            struct mmsghdr msgs[4];
            memset(msgs, 0, sizeof msgs);
            for (int k = 0; k < 4; k++) {
                iov[k] = (struct iovec){bufs[k], sizeof bufs[k]};
                msgs[k].msg_hdr.msg_iov = &iov[k];
                msgs[k].msg_hdr.msg_iovlen = 1;
            }
            EXPECT(evsrc_udp_socket_recv_many(&c, msgs, 4), 1, "recv_many of 4 with one queued");
        }
        EXPECT(evsrc_udp_socket_close(&a), 0, "udp close");
        EXPECT(evsrc_udp_socket_close(&c), 0, "udp close");
    } else {
        struct evsrc_pipe_sender tx;
        struct evsrc_pipe_receiver rx;
        struct evsrc_unix_stream ua, ub;
        struct evsrc_source *writer;
        if (kind == 0) {
            EXPECT(evsrc_pipe_new(&tx, &rx), 0, "pipe");
            writer = &tx.source;
        } else {
            EXPECT(evsrc_unix_stream_pair(&ua, &ub), 0, "unix stream pair");
            writer = &ua.source;
        }
        EXPECT(evsrc_registry_register(registry, writer, 4, EVSRC_WRITABLE), 0, "register the writer");
        CHECK(scenario_wait_for(queue, events, 4), "no writable event at registration");
        ssize_t n = kind == 0 ? evsrc_pipe_sender_write(&tx, big, sizeof big)
                              : evsrc_unix_stream_write(&ua, big, sizeof big);
        CHECK(n > 0 && (size_t)n < sizeof big, "a write of %zu bytes: %zd", sizeof big, n);
        for (ssize_t got = 0; got < n;) {
            ssize_t r = kind == 0 ? evsrc_pipe_receiver_read(&rx, big, sizeof big)
                                  : evsrc_unix_stream_read(&ub, big, sizeof big);
            if (r == -EAGAIN) {
                struct pollfd p = {kind == 0 ? evsrc_pipe_receiver_fd(&rx) : evsrc_unix_stream_fd(&ub), POLLIN, 0};
                CHECK(poll(&p, 1, SCENARIO_DEADLINE_S * 1000) == 1, "the rest of a short write never arrived");
                continue;
            }
            CHECK(r > 0, "draining a short write: %s", err_name(r));
            got += r;
        }
        CHECK(scenario_wait_for(queue, events, 4), "no writable event after a short %s and the reader's drain",
              kinds[kind]);
        if (kind == 0) {
            EXPECT(evsrc_pipe_sender_close(&tx), 0, "close");
            EXPECT(evsrc_pipe_receiver_close(&rx), 0, "close");
        } else {
            EXPECT(evsrc_unix_stream_close(&ua), 0, "close");
            EXPECT(evsrc_unix_stream_close(&ub), 0, "close");
        }
    }
    evsrc_events_free(events);
    evsrc_poll_free(queue);
}

enum op {
    OP_CREATE, OP_CLOSE, OP_REG_FD, OP_REREG_FD, OP_DEREG_FD, OP_REG, OP_REREG, OP_DEREG,
    OP_WRITE, OP_READ, OP_WAIT, OP_QUEUE, OP_TIMER, OP_SHUTDOWN, OP_REINIT, OP_MISC,
    OP_TIMERS, OP_FORK, OP_THREAD_CLOSE, OP_SHORT,
    OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
    "create", "close", "register_fd", "reregister_fd", "deregister_fd", "register", "reregister", "deregister",
    "write", "read", "wait", "queue", "timer", "shutdown", "reinit", "misc",
    "timers", "fork", "thread_close", "short",
};

static void run_op(struct input *in)
{
    enum op op = (enum op)(take(in) % OP_COUNT);
    note("-- %s", op_names[op]); /* before the op, so a crash inside it is placed */
    switch (op) {
    case OP_CREATE: op_create(in); break;
    case OP_CLOSE: op_close(in); break;
    case OP_REG_FD: op_fd_ctl(CTL_ADD, in); break;
    case OP_REREG_FD: op_fd_ctl(CTL_MOD, in); break;
    case OP_DEREG_FD: op_fd_ctl(CTL_DEL, in); break;
    case OP_REG: op_src_ctl(CTL_ADD, in); break;
    case OP_REREG: op_src_ctl(CTL_MOD, in); break;
    case OP_DEREG: op_src_ctl(CTL_DEL, in); break;
    case OP_WRITE: op_write(in); break;
    case OP_READ: op_read(in); break;
    case OP_WAIT: op_wait(in); break;
    case OP_QUEUE: op_queue(in); break;
    case OP_TIMER: op_timer(in); break;
    case OP_SHUTDOWN: op_shutdown(in); break;
    case OP_REINIT: op_reinit(in); break;
    case OP_TIMERS: op_timers(in); break;
    case OP_FORK: op_fork(in); break;
    case OP_THREAD_CLOSE: op_thread_close(in); break;
    case OP_SHORT: op_short(in); break;
    default: op_misc(in); break;
    }
}

static void on_sigpipe(int sig)
{
    (void)sig;
    static const char msg[] = "\nevsrc-fuzz: SIGPIPE reached the process (a call that must never raise it did)\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *t = getenv("EVSRC_FUZZ_TRACE");
    trace = t && *t && strcmp(t, "0") != 0;
    const char *a = getenv("EVSRC_FUZZ_ALLOW");
    if (a)
        snprintf(allow_list, sizeof allow_list, "%s", a);
    /* The backend: what a new poll's fd is. */
    int predicted = lowest_free_fd();
    struct evsrc_poll *probe = NULL;
    if (evsrc_poll_new(&probe) == 0) {
        poll_backend = fd_links_to(predicted, "anon_inode:[eventfd]");
        evsrc_poll_free(probe);
    }
    if (trace)
        fprintf(stderr, "evsrc-fuzz: the %s backend\n", poll_backend ? "poll(2)" : "epoll");
    /* No call under test may raise SIGPIPE: one that does kills the run with a report. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    struct fdset before, after;
    fd_snapshot(&before);

    memset(&W, 0, sizeof W);
    /* Structs start as garbage: constructors must not need them initialised. */
    memset(objects, 0xa5, sizeof objects);
    for (int i = 0; i < NQUEUES; i++) {
        W.q[i].poll_fd = -1;
        for (int k = 0; k < NCLONES; k++)
            W.q[i].clone_fd[k] = -1;
    }
    for (int c = 0; c < 2; c++)
        EXPECT(evsrc_source_init(&W.custom[c].source, &custom_ops), 0, "source_init(custom)");
    W.bad[0].ops = NULL;
    W.bad[1].ops = &partial_ops;
    W.capacity = 1 + take(&in) % 8;
    EXPECT(evsrc_events_new(W.capacity, &W.events), 0, "events_new(%zu)", W.capacity);
    EXPECT(evsrc_events_len(W.events), 0, "a new buffer is empty");
    op_number = 0;
    for (int q = 0; q < NQUEUES; q++)
        queue_new(&W.q[q]);
    tm_begin();
    if (trace)
        fprintf(stderr, "evsrc-fuzz: input of %zu bytes, capacity %zu\n", size, W.capacity);

    for (op_number = 1; op_number <= MAX_OPS && in.n > 0; op_number++)
        run_op(&in);

    /* Whatever is still owed must come now. */
    for (int q = 0; q < NQUEUES; q++)
        drain(&W.q[q]);

    /* Tear down: every object, then every handle; nothing may stay open or registered. */
    for (int i = 0; i < MAX_SLOTS; i++)
        if (W.slots[i].open) {
            EXPECT(close_object(i), 0, "final close of slot %d", i);
            model_closed(i);
        }
    for (int q = 0; q < NQUEUES; q++) {
        for (int k = 0; k < NCLONES; k++) {
            evsrc_registry_free(W.q[q].clone[k]);
            W.q[q].clone[k] = NULL;
        }
        evsrc_poll_free(W.q[q].poll);
        W.q[q].poll = NULL;
        if (W.q[q].inst)
            queue_handle_gone(&W.q[q]);
    }
    for (int i = 0; i < MAX_ENTRIES; i++)
        CHECK(!W.entries[i].used, "model: entry %d left after teardown", i);
    tm_end();
    evsrc_events_free(W.events);
    W.events = NULL;

    fd_snapshot(&after);
    for (int fd = 0; fd < FD_SCAN_MAX; fd++) {
        bool was = (before.bits[fd / 64] >> (fd % 64)) & 1, is = (after.bits[fd / 64] >> (fd % 64)) & 1;
        if (was != is) {
            char path[64], target[128] = "?";
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            ssize_t n = readlink(path, target, sizeof target - 1);
            if (n >= 0)
                target[n] = '\0';
            CHECK(false, "fd %d %s across the input (%s)", fd, is ? "leaked" : "closed behind our back", target);
        }
    }
    CHECK(before.beyond == after.beyond, "fds above %d changed across the input", FD_SCAN_MAX);
    return 0;
}
