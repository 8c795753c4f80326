/* SPDX-License-Identifier: MIT */
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

/*
 * The live queues, unordered. A process has few queues (usually one per
 * event-loop thread), so a linear scan under one lock is the simplest thing
 * that is fast enough, and nothing here is on a hot path.
 */
struct live_queue {
    uint64_t id;
    uint64_t handles;
};

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct live_queue *live;
static size_t live_len, live_cap;
static uint64_t next_id = 1;

static struct live_queue *find_locked(uint64_t id)
{
    for (size_t i = 0; i < live_len; i++)
        if (live[i].id == id)
            return &live[i];
    return NULL;
}

uint64_t queue_id_create(void)
{
    uint64_t id = 0;
    pthread_mutex_lock(&live_lock);
    if (live_len == live_cap) {
        size_t cap = live_cap ? live_cap * 2 : 8;
        struct live_queue *grown = realloc(live, cap * sizeof *grown);
        if (!grown)
            goto out;
        live = grown;
        live_cap = cap;
    }
    /* 2^63 ids: the busy bit is never part of an id, and they never run out. */
    id = next_id++;
    live[live_len++] = (struct live_queue){.id = id, .handles = 1};
out:
    pthread_mutex_unlock(&live_lock);
    return id;
}

int queue_id_retain(uint64_t id)
{
    int r = -ENOENT;
    pthread_mutex_lock(&live_lock);
    struct live_queue *q = find_locked(id);
    if (q) {
        q->handles++;
        r = 0;
    }
    pthread_mutex_unlock(&live_lock);
    return r;
}

void queue_id_release(uint64_t id)
{
    pthread_mutex_lock(&live_lock);
    struct live_queue *q = find_locked(id);
    if (q && --q->handles == 0) {
        *q = live[--live_len];
        if (live_len == 0) {
            /* Leave nothing allocated once the last queue is gone (leak checkers). */
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
    bool is_live = find_locked(id) != NULL;
    pthread_mutex_unlock(&live_lock);
    return is_live;
}
