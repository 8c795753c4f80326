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
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
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

/* One registration, at the index of its fd. */
struct poll_entry {
    uint64_t token;
    dev_t dev; /* the file the fd named when registered, to tell a reused fd number (queue_add) */
    ino_t ino;
    evsrc_interest interests; /* 0: the fd is not registered */
    short armed;              /* the poll(2) events it is waiting for now */
    bool quiet;               /* out of the poll set even for hang-up and error, which poll(2) always reports */
    bool drain;               /* a waker's eventfd: emptied by the wait that reports it */
};

struct selector_poll {
    pthread_mutex_t lock;   /* guards everything below but refs and wake_fd */
    pthread_mutex_t waiter; /* one wait at a time owns `polled` */
    unsigned refs;          /* handles: the poll and its clones (atomic) */
    unsigned generation;    /* queue_generation when made: a fork child's copy is dead */
    int wake_fd;            /* in every poll set: changes from other threads write it */
    bool polling;           /* a thread is inside ppoll with the set it built */
    bool wake_sent;         /* wake_fd was written since that ppoll began */
    struct poll_entry *entries;
    size_t entries_len; /* the table covers fds 0 .. entries_len - 1 */
    size_t registered;
    struct pollfd *polled; /* the set of the current wait; owned by `waiter` */
    size_t polled_cap;
    struct selector_poll *next_live, *prev_live;
};

/* Every live queue, for registry_fd_rearm and registry_fd_forget, which know only an fd. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct selector_poll *live_queues;
static pthread_once_t live_once = PTHREAD_ONCE_INIT;

static void live_fork_prepare(void)
{
    pthread_mutex_lock(&live_lock);
}

static void live_fork_release(void)
{
    pthread_mutex_unlock(&live_lock);
}

static void live_install_atfork(void)
{
    pthread_atfork(live_fork_prepare, live_fork_release, live_fork_release);
}

static bool queue_is_ours(const struct selector_poll *q)
{
    return q->generation == queue_generation;
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

/* Tells a thread blocked in ppoll that the set changed. Called with the lock held. */
static void queue_notify_locked(struct selector_poll *q)
{
    if (!q->polling || q->wake_sent)
        return;
    uint64_t one = 1;
    if (write(q->wake_fd, &one, sizeof one) == (ssize_t)sizeof one)
        q->wake_sent = true;
}

/* Grows the table to cover fd: amortised doubling, the only allocation of a registration. */
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

/* Room in the poll set for `need` fds: amortised doubling, only ever by the waiting thread. */
static int wait_reserve_locked(struct selector_poll *q, size_t need)
{
    if (need <= q->polled_cap)
        return 0;
    size_t cap = q->polled_cap ? q->polled_cap : TABLE_INITIAL;
    while (cap < need)
        cap *= 2;
    struct pollfd *grown = realloc(q->polled, cap * sizeof *grown);
    if (!grown)
        return -ENOMEM;
    q->polled = grown;
    q->polled_cap = cap;
    return 0;
}

int selector_open(selector_t *out)
{
    pthread_once(&live_once, live_install_atfork);
    struct selector_poll *q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    q->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->wake_fd < 0) {
        int r = -errno;
        free(q);
        return r;
    }
    /* Room for the low fds from the start, so that most programs never grow the table. */
    if (table_cover_locked(q, TABLE_INITIAL - 1) < 0 || wait_reserve_locked(q, TABLE_INITIAL) < 0) {
        close(q->wake_fd);
        free(q->entries);
        free(q->polled);
        free(q);
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
     * A fork child's copy was never in the child's live list, and its locks
     * may be held by threads of the parent that do not exist here: free the
     * memory and the child's eventfd copy only.
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
        pthread_mutex_destroy(&q->lock);
        pthread_mutex_destroy(&q->waiter);
    }
    close(q->wake_fd);
    free(q->entries);
    free(q->polled);
    free(q);
}

static struct poll_entry *entry_find_locked(struct selector_poll *q, int fd)
{
    if ((size_t)fd >= q->entries_len || !q->entries[fd].interests)
        return NULL;
    return &q->entries[fd];
}

/* What epoll_ctl would refuse before looking at the queue: a closed fd, a regular file or directory. */
static int fd_check_watchable(struct selector_poll *q, int fd, struct stat *st_out)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    *st_out = st;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
        return -EPERM;
    if (fd == q->wake_fd)
        return -EINVAL;
    return 0;
}

static int queue_add(selector_t q, int fd, evsrc_token token, evsrc_interest interests, bool drain)
{
    if (!queue_is_ours(q))
        return -ECHILD;
    struct stat st = {0};
    int r = fd_check_watchable(q, fd, &st);
    if (r < 0)
        return r;
    pthread_mutex_lock(&q->lock);
    r = table_cover_locked(q, fd);
    struct poll_entry *e = r == 0 ? &q->entries[fd] : NULL;
    /*
     * A registration of another file under this number is stale: its fd was
     * closed without deregistering, which ends an epoll registration. (Two
     * anonymous-inode fds, such as two eventfds, cannot be told apart this
     * way: docs/backends.md.)
     */
    if (e && e->interests && (e->dev != st.st_dev || e->ino != st.st_ino)) {
        e->interests = 0;
        q->registered--;
    }
    if (e && e->interests)
        r = -EEXIST;
    if (r == 0) {
        *e = (struct poll_entry){.token = token,
                                 .dev = st.st_dev,
                                 .ino = st.st_ino,
                                 .interests = interests,
                                 .armed = interests_to_events(interests),
                                 .drain = drain};
        q->registered++;
        queue_notify_locked(q);
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

/* epoll answers EBADF for a closed fd before ENOENT; a stale entry of a closed fd goes with it. */
static int fd_check_open_locked(struct selector_poll *q, int fd)
{
    if (fcntl(fd, F_GETFD) >= 0)
        return 0;
    int r = -errno;
    struct poll_entry *e = entry_find_locked(q, fd);
    if (e) {
        *e = (struct poll_entry){0};
        q->registered--;
    }
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
    struct poll_entry *e = r == 0 ? entry_find_locked(q, fd) : NULL;
    if (r == 0 && !e)
        r = -ENOENT;
    if (e) {
        /* Re-arms every kind asked for, as EPOLL_CTL_MOD does. */
        e->token = token;
        e->interests = interests;
        e->armed = interests_to_events(interests);
        e->quiet = false;
        queue_notify_locked(q);
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
    struct poll_entry *e = r == 0 ? entry_find_locked(q, fd) : NULL;
    if (r == 0 && !e)
        r = -ENOENT;
    if (e) {
        *e = (struct poll_entry){0};
        q->registered--;
        /* No wake: the waiting thread drops events of unregistered fds when it returns. */
    }
    pthread_mutex_unlock(&q->lock);
    return r;
}

/* Re-arms an edge-triggered registration of fd in one queue; wakes its waiter if the set grew. */
static void queue_rearm(struct selector_poll *q, int fd)
{
    pthread_mutex_lock(&q->lock);
    struct poll_entry *e = entry_find_locked(q, fd);
    if (e && !(e->interests & (EVSRC_LEVEL | EVSRC_ONESHOT))) {
        short all = interests_to_events(e->interests);
        if (e->armed != all) {
            e->armed = all;
            queue_notify_locked(q);
        }
    }
    pthread_mutex_unlock(&q->lock);
}

void registry_fd_rearm(int fd)
{
    if (fd < 0)
        return;
    /* Sources call it between their I/O and reading errno. */
    int saved_errno = errno;
    pthread_mutex_lock(&live_lock);
    for (struct selector_poll *q = live_queues; q; q = q->next_live)
        if (queue_is_ours(q))
            queue_rearm(q, fd);
    pthread_mutex_unlock(&live_lock);
    errno = saved_errno;
}

void registry_fd_forget(int fd)
{
    if (fd < 0)
        return;
    int saved_errno = errno;
    pthread_mutex_lock(&live_lock);
    for (struct selector_poll *q = live_queues; q; q = q->next_live) {
        if (!queue_is_ours(q))
            continue;
        pthread_mutex_lock(&q->lock);
        struct poll_entry *e = entry_find_locked(q, fd);
        if (e) {
            *e = (struct poll_entry){0};
            q->registered--;
        }
        pthread_mutex_unlock(&q->lock);
    }
    pthread_mutex_unlock(&live_lock);
    errno = saved_errno;
}

/* Builds the poll set: the wake eventfd first, then every armed registration. */
static int wait_build_locked(struct selector_poll *q, nfds_t *count)
{
    int r = wait_reserve_locked(q, q->registered + 1);
    if (r < 0)
        return r;
    nfds_t n = 0;
    q->polled[n++] = (struct pollfd){.fd = q->wake_fd, .events = POLLIN};
    for (size_t fd = 0; fd < q->entries_len && n < q->registered + 1; fd++) {
        const struct poll_entry *e = &q->entries[fd];
        if (e->interests && (e->armed || !e->quiet))
            q->polled[n++] = (struct pollfd){.fd = (int)fd, .events = e->armed};
    }
    *count = n;
    return 0;
}

/* Empties the queue's eventfd once the waiting thread has seen the change it announced. */
static void wake_drain_locked(struct selector_poll *q)
{
    uint64_t count;
    if (read(q->wake_fd, &count, sizeof count) < 0) {
        /* Already empty: nothing was left to take. */
    }
    q->wake_sent = false;
}

static void event_store(struct evsrc_event *event, uint64_t token, uint32_t flags)
{
    event->flags = flags;
#if defined(__x86_64__)
    memcpy(event->token_bytes, &token, sizeof token);
#else
    event->token = token;
#endif
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

/* Turns the poll set's answers into events, at most `capacity`; the rest stay armed for the next wait. */
static int wait_collect_locked(struct selector_poll *q, nfds_t count, struct evsrc_event *buffer, int capacity)
{
    int n = 0;
    for (nfds_t i = 1; i < count && n < capacity; i++) {
        const struct pollfd *p = &q->polled[i];
        if (!p->revents)
            continue;
        struct poll_entry *e = entry_find_locked(q, p->fd);
        if (p->revents & POLLNVAL) {
            /* Closed without deregistering: the kernel would have dropped it from an epoll set. */
            if (e) {
                *e = (struct poll_entry){0};
                q->registered--;
            }
            continue;
        }
        /* Deregistered, or disarmed by another thread meanwhile: report nothing. */
        if (!e || (!e->armed && e->quiet))
            continue;
        short revents = (short)(p->revents & (e->armed | POLLHUP | POLLERR));
        if (!revents)
            continue;
        if ((revents & (POLLHUP | POLLERR)) && e->armed != interests_to_events(e->interests))
            revents |= readiness_now(p->fd, e->interests);
        if (e->drain) {
            uint64_t wakes;
            if (read(p->fd, &wakes, sizeof wakes) < 0) {
                /* Emptied by a concurrent wait: the event stands. */
            }
        }
        event_store(&buffer[n++], e->token, revents_to_flags(revents));
        entry_reported(e, revents);
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
        pthread_mutex_lock(&q->lock);
        n = wait_build_locked(q, &count);
        q->polling = n == 0;
        pthread_mutex_unlock(&q->lock);
        if (n < 0)
            break;
        int ready = ppoll(q->polled, count, timeout ? &left : NULL, NULL);
        int error = ready < 0 ? errno : 0;
        pthread_mutex_lock(&q->lock);
        q->polling = false;
        if (q->wake_sent || (ready > 0 && (q->polled[0].revents & POLLIN)))
            wake_drain_locked(q);
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
