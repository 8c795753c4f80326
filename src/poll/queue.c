/* SPDX-License-Identifier: MIT */
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "../platform/platform.h"

#if PLATFORM_HAS_FORK
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>
#endif

/*
 * The live handles, unordered: one entry per handle (a poll's own registry or
 * a clone), with the queue it belongs to, its fd and the process generation
 * it was made in. A process has few handles, so a linear scan under one lock
 * is the simplest thing that is fast enough, and nothing here is on a hot path.
 */
struct live_handle {
    uint64_t id;
    int fd;
    unsigned generation;
};

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct live_handle *live;
static size_t live_len, live_cap;
static uint64_t next_id = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

unsigned queue_generation;

/* Set once, under pthread_once, when the fork handlers could not be registered. */
static bool atfork_failed;

#if PLATFORM_HAS_FORK
static void fork_prepare(void)
{
    pthread_mutex_lock(&live_lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&live_lock);
}

/*
 * In the child, every handle inherited from the parent becomes a plain
 * eventfd under the same fd number: the number stays taken until the child
 * frees the handle, and a wait or epoll_ctl on it fails at once (EINVAL), so
 * no call in the child can wait on or change the parent's queue. That costs
 * the wait nothing; its error path turns the failure into -ECHILD. The
 * entries stay, of an old generation: not live, but released by a free.
 * Should the child have no fd left for the eventfd, the inherited fds stay
 * as they are: registry calls still answer -ECHILD when they fail, but a
 * wait on an inherited poll would then wait on the parent's queue.
 */
static void fork_child(void)
{
    int poison = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    for (size_t i = 0; i < live_len; i++)
        if (poison >= 0 && live[i].generation == queue_generation)
            dup3(poison, live[i].fd, O_CLOEXEC);
    if (poison >= 0)
        close(poison);
    queue_generation++;
    pthread_mutex_unlock(&live_lock);
}

static void install_atfork(void)
{
    /*
     * Without the handlers a child could inherit the lock held by a thread
     * that no longer exists, and inherited queues would not answer -ECHILD.
     * So a process that cannot have them (glibc: out of memory for the
     * handler entry) makes no queue at all rather than unsafe ones.
     */
    atfork_failed = pthread_atfork(fork_prepare, fork_parent, fork_child) != 0;
}
#else
/* No fork(): the generation never changes, and there is nothing to install. */
static void install_atfork(void)
{
}
#endif

static struct live_handle *find_locked(uint64_t id, int fd)
{
    for (size_t i = 0; i < live_len; i++)
        if (live[i].id == id && live[i].fd == fd)
            return &live[i];
    return NULL;
}

static bool is_live_locked(uint64_t id)
{
    for (size_t i = 0; i < live_len; i++)
        if (live[i].id == id && live[i].generation == queue_generation)
            return true;
    return false;
}

/* Adds a handle entry; false when memory runs out. */
static bool add_locked(uint64_t id, int fd)
{
    if (live_len == live_cap) {
        size_t cap = live_cap ? live_cap * 2 : 8;
        struct live_handle *grown = realloc(live, cap * sizeof *grown);
        if (!grown)
            return false;
        live = grown;
        live_cap = cap;
    }
    live[live_len++] = (struct live_handle){.id = id, .fd = fd, .generation = queue_generation};
    return true;
}

uint64_t queue_id_create(int fd)
{
    pthread_once(&atfork_once, install_atfork);
    if (atfork_failed)
        return 0;
    uint64_t id = 0;
    pthread_mutex_lock(&live_lock);
    /* 2^63 ids: the busy bit is never part of an id, and they never run out. */
    if (add_locked(next_id, fd))
        id = next_id++; /* add_locked stored it */
    pthread_mutex_unlock(&live_lock);
    return id;
}

int queue_id_retain(uint64_t id, int fd)
{
    int r = -ENOENT;
    pthread_mutex_lock(&live_lock);
    if (is_live_locked(id))
        r = add_locked(id, fd) ? 0 : -ENOMEM;
    pthread_mutex_unlock(&live_lock);
    return r;
}

void queue_id_release(uint64_t id, int fd)
{
    pthread_mutex_lock(&live_lock);
    struct live_handle *h = find_locked(id, fd);
    if (h) {
        *h = live[--live_len];
        if (live_len == 0) {
            /* Leave nothing allocated once the last handle is gone (leak checkers). */
            free(live);
            live = NULL;
            live_cap = 0;
        }
    }
    pthread_mutex_unlock(&live_lock);
}

bool queue_id_is_live(uint64_t id)
{
    pthread_mutex_lock(&live_lock);
    bool is_live = is_live_locked(id);
    pthread_mutex_unlock(&live_lock);
    return is_live;
}

bool queue_fd_is_inherited(int fd)
{
    bool inherited = false;
    pthread_mutex_lock(&live_lock);
    for (size_t i = 0; i < live_len && !inherited; i++)
        inherited = live[i].fd == fd && live[i].generation != queue_generation;
    pthread_mutex_unlock(&live_lock);
    return inherited;
}
