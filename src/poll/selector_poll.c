/* SPDX-License-Identifier: MIT */
/*
 * The poll(2) selector backend (meson -Dselector=poll). See selector.h for
 * the interface and docs/backends.md for the design; in short:
 *
 * - A queue is a reference-counted object shared by a poll and its
 *   registry clones. Its registrations live in user space, in a table
 *   indexed by fd that grows with the highest fd registered.
 * - A wait builds a pollfd array from the armed registrations plus the
 *   queue's own eventfd, and blocks in ppoll(2) with the lock released. A
 *   change from another thread meanwhile writes that eventfd, so the waiting
 *   thread wakes, and the next round polls the new set (mio's poll selector
 *   does the same).
 * - Edge triggering is emulated by disarming: once an edge-triggered
 *   registration reports a kind of readiness, that kind leaves the poll set
 *   until the registration is re-armed, by reregister, or by a built-in
 *   source's I/O function when it returns -EAGAIN (registry_fd_rearm). A
 *   hang-up or an error disarms the whole registration, so neither can spin
 *   the waiting thread (poll(2) reports them whatever it is asked for).
 */
#include "selector.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"
#include "rearm.h"

/* The readiness groups a registration arms: one per interest kind. */
#define GROUP_READ (POLLIN | POLLRDHUP)
#define GROUP_WRITE POLLOUT
#define GROUP_PRIORITY POLLPRI

/* The fds a new queue's table covers, and the poll set it has room for, before any growth. */
#define TABLE_INITIAL 256

/*
 * Re-arm requests, process-wide and per fd, so that registry_fd_rearm takes
 * no lock (a source's I/O may run in a signal handler: eventfd add). Each fd
 * has a word: bit 0 says a queue holds a disarmed edge registration of it
 * (so a request must wake waiters), the other bits count requests. A queue
 * re-arms an entry when it sees the count differ from the one it saw before
 * the wait that disarmed it. The words sit in chunks that are made at
 * registration and never freed, so a reader never meets freed memory; the
 * first chunk is static, and fds past the last chunk share one word (a
 * request for one then re-arms them all: spurious events, never lost ones).
 */
#define REARM_CHUNK_FDS 4096
#define REARM_CHUNKS 1024
static uint32_t rearm_first_chunk[REARM_CHUNK_FDS];
static uint32_t *rearm_chunks[REARM_CHUNKS];
static uint32_t rearm_overflow;

/*
 * What a re-arm needs to wake a queue's waiter without the queue's lock: a
 * slot per live queue, in blocks that are never freed. `users` counts
 * re-arms writing to `fd` now, so a closing queue waits for them before it
 * closes its eventfd, whose number could otherwise be reused under them.
 */
struct wake_slot {
    int fd;          /* the queue's eventfd; -1 when free (atomic) */
    unsigned users;  /* re-arms about to write fd (atomic) */
    bool taken;      /* owned by a queue (atomic) */
    bool polling;    /* its waiter is in ppoll (atomic) */
    bool wake_sent;  /* fd was written since that ppoll began (atomic) */
};

#define WAKE_BLOCK_SLOTS 64
struct wake_block {
    struct wake_slot slots[WAKE_BLOCK_SLOTS];
    struct wake_block *next; /* set once, atomically */
};
static struct wake_block wake_first_block;

/* One registration, at the index of its fd. */
struct poll_entry {
    uint64_t token;
    dev_t dev; /* the file the fd named when registered: a reused number names another */
    ino_t ino;
    uint32_t *rearm;          /* the fd's re-arm word */
    uint32_t rearm_seen;      /* its request count when the current set was built */
    uint32_t rearm_disarmed;  /* its request count before the wait that disarmed it */
    evsrc_interest interests; /* 0: the fd is not registered */
    short armed;              /* the poll(2) events it is waiting for now */
    bool quiet;               /* out of the poll set even for hang-up and error, which poll(2) always reports */
    bool drain;               /* a waker's eventfd: emptied by the wait that reports it */
};

struct selector_poll {
    pthread_mutex_t lock;   /* guards everything below but refs and the slot */
    pthread_mutex_t waiter; /* one wait at a time owns `polled` */
    unsigned refs;          /* handles: the poll and its clones (atomic) */
    unsigned generation;    /* queue_generation when made: a fork child's copy is dead */
    int wake_fd;            /* in every poll set: changes from other threads write it */
    struct wake_slot *slot; /* wake_fd and the polling state, for lock-free re-arms */
    struct poll_entry *entries;
    size_t entries_len; /* the table covers fds 0 .. entries_len - 1 */
    size_t registered;
    struct pollfd *polled; /* the set of the current wait; owned by `waiter` */
    size_t polled_cap;
    struct pollfd *spare; /* a larger set made by a registration, swapped in by the next build */
    size_t spare_cap;
    size_t rotate_from; /* the index in `polled` where collection starts */
    int resume_fd;      /* the fd after the last one reported when a wait's capacity ran out */
    struct selector_poll *next_live, *prev_live;
};

/* Every live queue, for registry_fd_forget, which knows only an fd. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct selector_poll *live_queues;
static pthread_once_t live_once = PTHREAD_ONCE_INIT;

static void live_fork_prepare(void)
{
    pthread_mutex_lock(&live_lock);
}

static void live_fork_parent(void)
{
    pthread_mutex_unlock(&live_lock);
}

/*
 * In the child every inherited queue is dead (queue_is_ours): it starts with
 * no live queue and no taken slot, so that freeing an inherited queue there
 * touches neither, and new queues start clean.
 */
static void live_fork_child(void)
{
    live_queues = NULL;
    for (struct wake_block *b = &wake_first_block; b; b = b->next)
        for (size_t i = 0; i < WAKE_BLOCK_SLOTS; i++)
            b->slots[i] = (struct wake_slot){.fd = -1};
    pthread_mutex_unlock(&live_lock);
}

static void live_install_atfork(void)
{
    for (size_t i = 0; i < WAKE_BLOCK_SLOTS; i++)
        wake_first_block.slots[i].fd = -1;
    pthread_atfork(live_fork_prepare, live_fork_parent, live_fork_child);
}

static bool queue_is_ours(const struct selector_poll *q)
{
    return q->generation == queue_generation;
}

/* The re-arm word of fd, or NULL if no registration ever covered it. */
static uint32_t *rearm_word(int fd)
{
    size_t chunk = (size_t)fd / REARM_CHUNK_FDS;
    if (chunk >= REARM_CHUNKS)
        return &rearm_overflow;
    uint32_t *words = chunk == 0 ? rearm_first_chunk : __atomic_load_n(&rearm_chunks[chunk], __ATOMIC_ACQUIRE);
    return words ? &words[(size_t)fd % REARM_CHUNK_FDS] : NULL;
}

/* The re-arm word of fd, making its chunk if need be: registration only. */
static int rearm_cover(int fd, uint32_t **out)
{
    *out = rearm_word(fd);
    if (*out)
        return 0;
    size_t chunk = (size_t)fd / REARM_CHUNK_FDS;
    uint32_t *words = calloc(REARM_CHUNK_FDS, sizeof *words);
    if (!words)
        return -ENOMEM;
    uint32_t *expected = NULL;
    /* Another thread's chunk may have won the race: then ours goes. */
    if (!__atomic_compare_exchange_n(&rearm_chunks[chunk], &expected, words, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        free(words);
    *out = rearm_word(fd);
    return 0;
}

/* A free wake slot for a new queue, in a new block if every one is taken. */
static struct wake_slot *wake_slot_take(int fd)
{
    struct wake_block *b = &wake_first_block;
    for (;;) {
        for (size_t i = 0; i < WAKE_BLOCK_SLOTS; i++) {
            struct wake_slot *s = &b->slots[i];
            bool expected = false;
            if (__atomic_compare_exchange_n(&s->taken, &expected, true, false, __ATOMIC_ACQ_REL,
                                            __ATOMIC_RELAXED)) {
                __atomic_store_n(&s->wake_sent, false, __ATOMIC_SEQ_CST);
                __atomic_store_n(&s->polling, false, __ATOMIC_SEQ_CST);
                __atomic_store_n(&s->fd, fd, __ATOMIC_SEQ_CST);
                return s;
            }
        }
        struct wake_block *next = __atomic_load_n(&b->next, __ATOMIC_ACQUIRE);
        if (!next) {
            struct wake_block *grown = calloc(1, sizeof *grown);
            if (!grown)
                return NULL;
            for (size_t i = 0; i < WAKE_BLOCK_SLOTS; i++)
                grown->slots[i].fd = -1;
            if (__atomic_compare_exchange_n(&b->next, &next, grown, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                next = grown;
            else
                free(grown);
        }
        b = next;
    }
}

/* Gives the slot back once no re-arm can still write its fd, which the caller then closes. */
static void wake_slot_release(struct wake_slot *s)
{
    __atomic_store_n(&s->fd, -1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&s->users, __ATOMIC_SEQ_CST) != 0)
        sched_yield();
    __atomic_store_n(&s->polling, false, __ATOMIC_SEQ_CST);
    __atomic_store_n(&s->taken, false, __ATOMIC_RELEASE);
}

/* Writes a slot's eventfd once per ppoll. Async-signal-safe. */
static void wake_slot_notify(struct wake_slot *s)
{
    __atomic_add_fetch(&s->users, 1, __ATOMIC_SEQ_CST);
    int fd = __atomic_load_n(&s->fd, __ATOMIC_SEQ_CST);
    if (fd >= 0 && !__atomic_exchange_n(&s->wake_sent, true, __ATOMIC_SEQ_CST)) {
        uint64_t one = 1;
        if (write(fd, &one, sizeof one) < 0) {
            /* Full: the waiter has a wake-up pending anyway. */
        }
    }
    __atomic_sub_fetch(&s->users, 1, __ATOMIC_SEQ_CST);
}

static short interests_to_events(evsrc_interest interests)
{
    short events = 0;
    if (interests & EVSRC_READABLE)
        events |= GROUP_READ;
    if (interests & EVSRC_WRITABLE)
        events |= GROUP_WRITE;
    if (interests & EVSRC_PRIORITY)
        events |= GROUP_PRIORITY;
    return events;
}

static uint32_t revents_to_flags(short revents)
{
    uint32_t flags = 0;
    if (revents & POLLIN)
        flags |= EVSRC_EVENT_FLAG_IN;
    if (revents & POLLPRI)
        flags |= EVSRC_EVENT_FLAG_PRI;
    if (revents & POLLOUT)
        flags |= EVSRC_EVENT_FLAG_OUT;
    if (revents & POLLERR)
        flags |= EVSRC_EVENT_FLAG_ERR;
    if (revents & POLLHUP)
        flags |= EVSRC_EVENT_FLAG_HUP;
    if (revents & POLLRDHUP)
        flags |= EVSRC_EVENT_FLAG_RDHUP;
    return flags;
}

/*
 * Tells a thread blocked in ppoll that its set changed: a registration to
 * wait for, or one to drop (ppoll holds a reference to every file in its
 * set, so a deregistered fd that is then closed stays open until it returns).
 */
static void queue_notify(struct selector_poll *q)
{
    if (__atomic_load_n(&q->slot->polling, __ATOMIC_SEQ_CST))
        wake_slot_notify(q->slot);
}

/* Grows the table to cover fd: amortised doubling. */
static int table_cover_locked(struct selector_poll *q, int fd)
{
    size_t need = (size_t)fd + 1;
    if (need <= q->entries_len)
        return 0;
    size_t len = q->entries_len ? q->entries_len : TABLE_INITIAL;
    while (len < need)
        len *= 2;
    struct poll_entry *grown = realloc(q->entries, len * sizeof *grown);
    if (!grown)
        return -ENOMEM;
    memset(grown + q->entries_len, 0, (len - q->entries_len) * sizeof *grown);
    q->entries = grown;
    q->entries_len = len;
    return 0;
}

/*
 * Room in the poll set for `need` fds, made by a registration so that the
 * wait never allocates. A waiter may be in ppoll with `polled`, so the
 * larger set is a spare that the next build swaps in (wait_build_locked).
 */
static int set_reserve_locked(struct selector_poll *q, size_t need)
{
    if (need <= q->polled_cap || need <= q->spare_cap)
        return 0;
    size_t cap = q->polled_cap > q->spare_cap ? q->polled_cap : q->spare_cap;
    cap = cap ? cap : TABLE_INITIAL;
    while (cap < need)
        cap *= 2;
    struct pollfd *grown = realloc(q->spare, cap * sizeof *grown);
    if (!grown)
        return -ENOMEM;
    q->spare = grown;
    q->spare_cap = cap;
    return 0;
}

static void queue_free_memory(struct selector_poll *q)
{
    free(q->entries);
    free(q->polled);
    free(q->spare);
    free(q);
}

int selector_open(selector_t *out)
{
    pthread_once(&live_once, live_install_atfork);
    struct selector_poll *q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    /* Room for the low fds from the start, so that most programs never grow the table. */
    if (table_cover_locked(q, TABLE_INITIAL - 1) < 0 || set_reserve_locked(q, TABLE_INITIAL) < 0) {
        queue_free_memory(q);
        return -ENOMEM;
    }
    q->polled = q->spare;
    q->polled_cap = q->spare_cap;
    q->spare = NULL;
    q->spare_cap = 0;
    q->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->wake_fd < 0) {
        int r = -errno;
        queue_free_memory(q);
        return r;
    }
    q->slot = wake_slot_take(q->wake_fd);
    if (!q->slot) {
        close(q->wake_fd);
        queue_free_memory(q);
        return -ENOMEM;
    }
    pthread_mutex_init(&q->lock, NULL);
    pthread_mutex_init(&q->waiter, NULL);
    q->refs = 1;
    q->generation = queue_generation;
    pthread_mutex_lock(&live_lock);
    q->next_live = live_queues;
    if (live_queues)
        live_queues->prev_live = q;
    live_queues = q;
    pthread_mutex_unlock(&live_lock);
    *out = q;
    return 0;
}

int selector_clone(selector_t selector, selector_t *out)
{
    if (!queue_is_ours(selector))
        return -ECHILD;
    __atomic_add_fetch(&selector->refs, 1, __ATOMIC_RELAXED);
    *out = selector;
    return 0;
}

int selector_handle_fd(selector_t selector)
{
    return selector->wake_fd;
}

/* The registrations live in user space: no fd of the kernel's reflects their readiness. */
int selector_backend_fd(selector_t selector)
{
    (void)selector;
    return -EOPNOTSUPP;
}

void selector_close(selector_t q)
{
    if (__atomic_sub_fetch(&q->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    /*
     * A fork child's copy is in neither the child's live list nor its slots
     * (live_fork_child emptied both), and its locks may be held by threads
     * of the parent that do not exist here: free the memory and the child's
     * eventfd copy only.
     */
    if (queue_is_ours(q)) {
        pthread_mutex_lock(&live_lock);
        if (q->prev_live)
            q->prev_live->next_live = q->next_live;
        else
            live_queues = q->next_live;
        if (q->next_live)
            q->next_live->prev_live = q->prev_live;
        pthread_mutex_unlock(&live_lock);
        wake_slot_release(q->slot);
        pthread_mutex_destroy(&q->lock);
        pthread_mutex_destroy(&q->waiter);
    }
    close(q->wake_fd);
    queue_free_memory(q);
}

static struct poll_entry *entry_find_locked(struct selector_poll *q, int fd)
{
    if ((size_t)fd >= q->entries_len || !q->entries[fd].interests)
        return NULL;
    return &q->entries[fd];
}

static void entry_drop_locked(struct selector_poll *q, struct poll_entry *e)
{
    *e = (struct poll_entry){0};
    q->registered--;
}

/*
 * Whether epoll would take fd: it refuses a file without a poll method
 * (EPERM: regular files, directories, /dev/null), which poll(2) would report
 * ready forever. Sockets and pipes always have one; for anything else a
 * private epoll answers, as it is the rule being matched.
 */
static int fd_check_pollable(int fd, const struct stat *st)
{
    if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode))
        return -EPERM;
    if (S_ISSOCK(st->st_mode) || S_ISFIFO(st->st_mode))
        return 0;
    int probe = epoll_create1(EPOLL_CLOEXEC);
    if (probe < 0)
        return errno == ENOSYS ? 0 : -errno;
    struct epoll_event ev = {.events = EPOLLIN};
    int r = epoll_ctl(probe, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
    close(probe);
    return r;
}

/* What epoll_ctl would refuse before looking at the queue: a closed fd, an fd without a poll method. */
static int fd_check_watchable(struct selector_poll *q, int fd, bool probe, struct stat *st)
{
    if (fstat(fd, st) < 0)
        return -errno;
    if (fd == q->wake_fd)
        return -EINVAL;
    return probe ? fd_check_pollable(fd, st) : 0;
}

/*
 * Whether fd still names the file that was registered under its number. Only
 * a closed fd or another file says no: fstat failing otherwise (out of
 * memory) lets the event stand, as it did before the check.
 */
static bool entry_names(const struct poll_entry *e, int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return errno != EBADF;
    return st.st_dev == e->dev && st.st_ino == e->ino;
}

static int queue_add(selector_t q, int fd, evsrc_token token, evsrc_interest interests, bool drain)
{
    if (!queue_is_ours(q))
        return -ECHILD;
    struct stat st = {0};
    int r = fd_check_watchable(q, fd, !drain, &st);
    uint32_t *rearm = NULL;
    if (r == 0)
        r = rearm_cover(fd, &rearm);
    if (r < 0)
        return r;
    pthread_mutex_lock(&q->lock);
    r = table_cover_locked(q, fd);
    if (r == 0)
        r = set_reserve_locked(q, q->registered + 2);
    struct poll_entry *e = r == 0 ? &q->entries[fd] : NULL;
    /*
     * A registration of another file under this number is stale: its fd was
     * closed without deregistering, which ends an epoll registration. (Two
     * anonymous-inode fds, such as two eventfds, cannot be told apart this
     * way: docs/backends.md.)
     */
    if (e && e->interests && (e->dev != st.st_dev || e->ino != st.st_ino))
        entry_drop_locked(q, e);
    if (e && e->interests)
        r = -EEXIST;
    if (r == 0) {
        *e = (struct poll_entry){.token = token,
                                 .dev = st.st_dev,
                                 .ino = st.st_ino,
                                 .rearm = rearm,
                                 .interests = interests,
                                 .armed = interests_to_events(interests),
                                 .drain = drain};
        q->registered++;
        queue_notify(q);
    }
    pthread_mutex_unlock(&q->lock);
    return r;
}

int selector_add(selector_t q, int fd, evsrc_token token, evsrc_interest interests)
{
    if (!selector_interests_are_valid(interests))
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    return queue_add(q, fd, token, interests, false);
}

int selector_add_waker(selector_t q, int fd, evsrc_token token)
{
    /* Level-triggered and emptied by the wait that reports it: one event per batch of wakes. */
    return queue_add(q, fd, token, EVSRC_READABLE | EVSRC_LEVEL, true);
}

/*
 * epoll's answer for an fd this queue does not hold: EPERM for a file it
 * would never take, EINVAL for the queue's own fd, else ENOENT. Only on the
 * error path, so a reregister or deregister of a registered fd pays nothing.
 */
static int fd_answer_absent(struct selector_poll *q, int fd)
{
    struct stat st;
    int r = fd_check_watchable(q, fd, true, &st);
    return r < 0 ? r : -ENOENT;
}

/*
 * The registration of fd in *out, if it is of the file now under that
 * number (NULL if none): one of a file since closed is dropped, as closing
 * ended it on epoll. 0, or fstat's -errno.
 */
static int entry_find_current_locked(struct selector_poll *q, int fd, struct poll_entry **out)
{
    struct poll_entry *e = entry_find_locked(q, fd);
    *out = NULL;
    if (!e)
        return 0;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_dev != e->dev || st.st_ino != e->ino) {
        entry_drop_locked(q, e);
        return 0;
    }
    *out = e;
    return 0;
}

/* epoll answers EBADF for a closed fd before ENOENT; a stale entry of a closed fd goes with it. */
static int fd_check_open_locked(struct selector_poll *q, int fd)
{
    if (fcntl(fd, F_GETFD) >= 0)
        return 0;
    int r = -errno;
    struct poll_entry *e = entry_find_locked(q, fd);
    if (e)
        entry_drop_locked(q, e);
    return r;
}

int selector_modify(selector_t q, int fd, evsrc_token token, evsrc_interest interests)
{
    if (!selector_interests_are_valid(interests))
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    if (!queue_is_ours(q))
        return -ECHILD;
    pthread_mutex_lock(&q->lock);
    int r = fd_check_open_locked(q, fd);
    struct poll_entry *e = NULL;
    if (r == 0)
        r = entry_find_current_locked(q, fd, &e);
    if (r == 0 && !e)
        r = fd_answer_absent(q, fd);
    if (e) {
        /* Re-arms every kind asked for, as EPOLL_CTL_MOD does. */
        e->token = token;
        e->interests = interests;
        e->armed = interests_to_events(interests);
        e->quiet = false;
        queue_notify(q);
    }
    pthread_mutex_unlock(&q->lock);
    return r;
}

int selector_delete(selector_t q, int fd)
{
    if (fd < 0)
        return -EBADF;
    if (!queue_is_ours(q))
        return -ECHILD;
    pthread_mutex_lock(&q->lock);
    int r = fd_check_open_locked(q, fd);
    struct poll_entry *e = NULL;
    if (r == 0)
        r = entry_find_current_locked(q, fd, &e);
    if (r == 0 && !e)
        r = fd_answer_absent(q, fd);
    if (e) {
        entry_drop_locked(q, e);
        queue_notify(q);
    }
    pthread_mutex_unlock(&q->lock);
    return r;
}

/*
 * Lock-free and async-signal-safe: one compare-and-swap on the fd's word,
 * and, when a queue holds the fd disarmed, a write to the eventfd of every
 * queue whose waiter is in ppoll. The waiter applies it when it builds its
 * next set (wait_build_locked).
 */
void registry_fd_rearm(int fd)
{
    if (fd < 0)
        return;
    uint32_t *word = rearm_word(fd);
    if (!word)
        return; /* never registered anywhere */
    uint32_t old = __atomic_load_n(word, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(word, &old, (old + 2) & ~UINT32_C(1), true, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED)) {
    }
    if (!(old & 1))
        return;
    /* Sources call it between their I/O and reading errno. */
    int saved_errno = errno;
    for (struct wake_block *b = &wake_first_block; b; b = __atomic_load_n(&b->next, __ATOMIC_ACQUIRE))
        for (size_t i = 0; i < WAKE_BLOCK_SLOTS; i++)
            if (__atomic_load_n(&b->slots[i].polling, __ATOMIC_SEQ_CST))
                wake_slot_notify(&b->slots[i]);
    errno = saved_errno;
}

void registry_fd_forget(int fd)
{
    if (fd < 0)
        return;
    int saved_errno = errno;
    pthread_mutex_lock(&live_lock);
    for (struct selector_poll *q = live_queues; q; q = q->next_live) {
        pthread_mutex_lock(&q->lock);
        struct poll_entry *e = entry_find_locked(q, fd);
        if (e) {
            entry_drop_locked(q, e);
            queue_notify(q);
        }
        pthread_mutex_unlock(&q->lock);
    }
    pthread_mutex_unlock(&live_lock);
    errno = saved_errno;
}

/*
 * An edge-triggered entry that reported goes back into the set once its fd
 * had a re-arm request since. Level-triggered and one-shot entries have no
 * use for requests, and skip the load.
 */
static void entry_apply_rearm(struct poll_entry *e)
{
    if (e->interests & (EVSRC_LEVEL | EVSRC_ONESHOT))
        return;
    uint32_t seen = __atomic_load_n(e->rearm, __ATOMIC_SEQ_CST) >> 1;
    if (seen != e->rearm_disarmed)
        e->armed = interests_to_events(e->interests);
    e->rearm_seen = seen;
}

/*
 * Builds the poll set: the wake eventfd first, then every armed
 * registration, in fd order; collection starts at the first fd after the
 * last one a full wait reported, so that no ready fd starves (epoll rotates
 * its ready list the same way). Called with the slot marked polling, so a
 * re-arm request either is seen here or wakes the ppoll that follows.
 */
static void wait_build_locked(struct selector_poll *q, nfds_t *count)
{
    if (q->registered + 1 > q->polled_cap) {
        /* The registration that needed it made the spare (set_reserve_locked). */
        struct pollfd *smaller = q->polled;
        size_t smaller_cap = q->polled_cap;
        q->polled = q->spare;
        q->polled_cap = q->spare_cap;
        q->spare = smaller;
        q->spare_cap = smaller_cap;
    }
    nfds_t n = 0;
    q->polled[n++] = (struct pollfd){.fd = q->wake_fd, .events = POLLIN};
    q->rotate_from = 0;
    for (size_t fd = 0; fd < q->entries_len && n < q->registered + 1; fd++) {
        struct poll_entry *e = &q->entries[fd];
        if (!e->interests)
            continue;
        entry_apply_rearm(e);
        if (!e->armed && e->quiet)
            continue;
        if (!q->rotate_from && (int)fd >= q->resume_fd)
            q->rotate_from = n;
        q->polled[n++] = (struct pollfd){.fd = (int)fd, .events = e->armed};
    }
    if (!q->rotate_from)
        q->rotate_from = 1;
    *count = n;
}

/* Empties the queue's eventfd once the waiting thread has seen the change it announced. */
static void wake_drain(struct selector_poll *q)
{
    uint64_t count;
    if (read(q->wake_fd, &count, sizeof count) < 0) {
        /* Already empty: nothing was left to take. */
    }
    /* After the read: a notifier that set it since will have its write seen by the next ppoll. */
    __atomic_store_n(&q->slot->wake_sent, false, __ATOMIC_SEQ_CST);
}

/*
 * The whole readiness of fd for its interests, for a hang-up or an error seen
 * while some kinds were disarmed: epoll reports them with it (a pipe's last
 * data comes with its hang-up). Rare, so one more poll(2) is fine.
 */
static short readiness_now(int fd, evsrc_interest interests)
{
    struct pollfd one = {.fd = fd, .events = interests_to_events(interests)};
    return poll(&one, 1, 0) > 0 ? (short)(one.revents & one.events) : 0;
}

/* After a registration reported `revents`: disarm what edge or one-shot mode says. */
static void entry_reported(struct poll_entry *e, short revents)
{
    if (e->interests & EVSRC_ONESHOT) {
        e->armed = 0;
        e->quiet = true;
        return;
    }
    if (e->interests & EVSRC_LEVEL)
        return;
    /* A re-arm request from now on re-arms it, one from before the set was built does not. */
    e->rearm_disarmed = e->rearm_seen;
    __atomic_or_fetch(e->rearm, 1, __ATOMIC_SEQ_CST);
    /* A hang-up or an error is an edge once: reported again, it would spin the waiting thread. */
    if (revents & (POLLHUP | POLLERR)) {
        e->armed = 0;
        e->quiet = true;
        return;
    }
    if (revents & GROUP_READ)
        e->armed &= (short)~GROUP_READ;
    if (revents & GROUP_WRITE)
        e->armed &= (short)~GROUP_WRITE;
    if (revents & GROUP_PRIORITY)
        e->armed &= (short)~GROUP_PRIORITY;
}

/* One answer of the poll set as an event, or false when it reports nothing. */
static bool wait_collect_one_locked(struct selector_poll *q, const struct pollfd *p, struct evsrc_event *event)
{
    struct poll_entry *e = entry_find_locked(q, p->fd);
    /* Deregistered, or disarmed by another thread meanwhile: report nothing. */
    if (!e || (!e->armed && e->quiet))
        return false;
    /*
     * Closed without deregistering (the kernel would have dropped it from an
     * epoll set), and maybe its number taken by another file since: whatever
     * is under the number now is not what was registered.
     */
    if ((p->revents & POLLNVAL) || !entry_names(e, p->fd)) {
        entry_drop_locked(q, e);
        return false;
    }
    short revents = (short)(p->revents & (e->armed | POLLHUP | POLLERR));
    if (!revents)
        return false;
    if ((revents & (POLLHUP | POLLERR)) && e->armed != interests_to_events(e->interests))
        revents |= readiness_now(p->fd, e->interests);
    if (e->drain) {
        uint64_t wakes;
        if (read(p->fd, &wakes, sizeof wakes) < 0) {
            /* Emptied by a concurrent wait: the event stands. */
        }
    }
    selector_event_store(event, e->token, revents_to_flags(revents));
    entry_reported(e, revents);
    return true;
}

/* Turns the poll set's answers into events, at most `capacity`; the rest stay armed for the next wait. */
static int wait_collect_locked(struct selector_poll *q, nfds_t count, struct evsrc_event *buffer, int capacity)
{
    int n = 0;
    q->resume_fd = 0;
    nfds_t i = q->rotate_from;
    for (nfds_t k = 1; k < count && n < capacity; k++, i = i + 1 < count ? i + 1 : 1) {
        const struct pollfd *p = &q->polled[i];
        if (p->revents && wait_collect_one_locked(q, p, &buffer[n])) {
            n++;
            if (n == capacity)
                q->resume_fd = p->fd + 1;
        }
    }
    return n;
}

static int cancel_off(void)
{
    int old = PTHREAD_CANCEL_ENABLE;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    return old;
}

static void cancel_restore(int old)
{
    int ignored;
    pthread_setcancelstate(old, &ignored);
}

static bool deadline_left(const struct timespec *deadline, struct timespec *left)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ns = (long long)(deadline->tv_sec - now.tv_sec) * 1000000000LL + (deadline->tv_nsec - now.tv_nsec);
    if (ns <= 0) {
        *left = (struct timespec){0, 0};
        return false;
    }
    *left = (struct timespec){.tv_sec = (time_t)(ns / 1000000000LL), .tv_nsec = (long)(ns % 1000000000LL)};
    return true;
}

static struct timespec deadline_after(const struct timespec *timeout)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout->tv_sec > INT_MAX - deadline.tv_sec) {
        deadline.tv_sec = INT_MAX;
        return deadline;
    }
    deadline.tv_sec += timeout->tv_sec;
    deadline.tv_nsec += timeout->tv_nsec;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    return deadline;
}

/*
 * One wait: build the set, ppoll with the lock released, collect. A round
 * that only saw the queue's own wake-up (a change by another thread) builds
 * the new set and waits again, for what is left of the timeout.
 */
static int queue_wait(struct selector_poll *q, struct evsrc_event *buffer, int capacity,
                      const struct timespec *timeout)
{
    if (!queue_is_ours(q))
        return -ECHILD;
    struct timespec deadline = timeout ? deadline_after(timeout) : (struct timespec){0, 0};
    struct timespec left = timeout ? *timeout : (struct timespec){0, 0};
    int old_cancel = cancel_off();
    pthread_mutex_lock(&q->waiter);
    int n;
    for (;;) {
        nfds_t count;
        /* Before the build: a re-arm the build misses then sees it and wakes the ppoll. */
        __atomic_store_n(&q->slot->polling, true, __ATOMIC_SEQ_CST);
        pthread_mutex_lock(&q->lock);
        wait_build_locked(q, &count);
        pthread_mutex_unlock(&q->lock);
        int ready = ppoll(q->polled, count, timeout ? &left : NULL, NULL);
        int error = ready < 0 ? errno : 0;
        __atomic_store_n(&q->slot->polling, false, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&q->slot->wake_sent, __ATOMIC_SEQ_CST) || (ready > 0 && (q->polled[0].revents & POLLIN)))
            wake_drain(q);
        pthread_mutex_lock(&q->lock);
        n = ready > 0 ? wait_collect_locked(q, count, buffer, capacity) : 0;
        pthread_mutex_unlock(&q->lock);
        if (error) {
            n = -error;
            break;
        }
        if (n > 0 || ready == 0)
            break;
        if (timeout && !deadline_left(&deadline, &left))
            break;
    }
    pthread_mutex_unlock(&q->waiter);
    cancel_restore(old_cancel);
    return n;
}

long selector_wait_forever(selector_t selector, struct evsrc_event *buffer, int capacity)
{
    return queue_wait(selector, buffer, capacity, NULL);
}

long selector_wait_now(selector_t selector, struct evsrc_event *buffer, int capacity)
{
    static const struct timespec zero = {0, 0};
    return queue_wait(selector, buffer, capacity, &zero);
}

int selector_wait(selector_t selector, struct evsrc_event *buffer, int capacity, const struct timespec *timeout)
{
    return queue_wait(selector, buffer, capacity, timeout);
}
