/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_POLL_DEADLINE_H
#define EVSRC_POLL_DEADLINE_H

/*
 * A queue's deadline table (the mechanism of <evsrc/deadline.h>). One per
 * poll, made with it and shared by the registry clones of its queue; it is
 * reference-counted by those handles and by the deadlines registered in it,
 * so a deadline never points at freed memory. poll.c calls deadline_wait()
 * in place of a plain wait once a deadline is registered (the poll's
 * deadline_mode word), so that a wait with none pays nothing.
 */

#include <time.h>

#include <evsrc/events.h>

struct deadline_table;
struct evsrc_poll;

/* The table of a new poll: 0, or -ENOMEM. */
int deadline_table_new(struct deadline_table **out, struct evsrc_poll *poll);
/* One more handle (a registry clone) uses the table. */
void deadline_table_retain(struct deadline_table *table);
/* One user fewer; the last frees it. */
void deadline_table_release(struct deadline_table *table);
/* The poll is going: no wait will come any more, and its queue fd is about to close. */
void deadline_table_detach_poll(struct deadline_table *table);

/*
 * A wait on a poll with registered deadlines: the caller's timeout (NULL for
 * none, valid or not) shortened to the earliest deadline, and the due
 * deadlines reported after the kernel's events. poll and events are not NULL.
 */
int deadline_wait(struct evsrc_poll *poll, struct evsrc_events *events, const struct timespec *timeout);

/* evsrc_poll_next_timeout(): 1 and the time until the earliest deadline, 0 when none is set, or -ECHILD. */
int deadline_next_timeout(struct evsrc_poll *poll, struct timespec *timeout);

#endif /* EVSRC_POLL_DEADLINE_H */
