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
 * compare ids.
 */

#include <stdbool.h>
#include <stdint.h>

/* The bit of a source's record that marks a register or deregister in progress. */
#define QUEUE_ID_BUSY ((uint64_t)1 << 63)

/* A new id with one handle, or 0 when memory runs out. */
uint64_t queue_id_create(void);
/* One more handle to a live queue: 0, or -ENOENT if the queue is dead. */
int queue_id_retain(uint64_t id);
/* One handle fewer; the id is dead once none is left. */
void queue_id_release(uint64_t id);
/* Whether any handle to the queue is left. */
bool queue_id_is_live(uint64_t id);

#endif /* EVSRC_QUEUE_H */
