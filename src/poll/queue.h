/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_QUEUE_H
#define EVSRC_QUEUE_H

/*
 * Queue identity. Every queue (a poll and all the clones of its registry)
 * has a process-unique, never reused, non-zero 64-bit id, and the handles of
 * live queues are counted here. A source records the id of the queue it is
 * registered with; the count lets a stale record, left by a queue that has
 * since died, be told from a live registration. Only handle creation and
 * destruction and that rare stale check take the lock; the hot paths only
 * compare ids. A fork() child inherits the table; an atfork handler makes
 * every inherited handle unusable there (see queue.c).
 */

#include <stdbool.h>
#include <stdint.h>

/* The bit of a source's record that marks a register or deregister in progress. */
#define QUEUE_ID_BUSY ((uint64_t)1 << 63)

/*
 * The process generation: 0 in the process that loaded the library, one more
 * in each fork() child (an atfork handler bumps it). Every handle records the
 * generation it was made in; a handle of another generation belongs to an
 * ancestor process, and every call on it answers -ECHILD. Written only in a
 * fork child before it has other threads, so a plain variable.
 */
extern unsigned queue_generation;

/* A new id with one handle (whose queue fd is `fd`), or 0 when memory runs out. */
uint64_t queue_id_create(int fd);
/* One more handle, with fd `fd`, to a live queue: 0, -ENOENT if the queue is dead, or -ENOMEM. */
int queue_id_retain(uint64_t id, int fd);
/* One handle fewer; the id is dead once none is left. */
void queue_id_release(uint64_t id, int fd);
/* Whether `fd` is the fd of a handle inherited through fork() (and poisoned there, see queue.c). */
bool queue_fd_is_inherited(int fd);
/* Whether a handle to the queue made in this process is left (inherited ones are dead). */
bool queue_id_is_live(uint64_t id);

#endif /* EVSRC_QUEUE_H */
