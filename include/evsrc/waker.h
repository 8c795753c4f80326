/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_WAKER_H
#define EVSRC_WAKER_H

/*
 * Waker: lets any thread wake a thread blocked in evsrc_poll_wait().
 *
 * A waker is registered with a poll's queue under a token when it is made.
 * Each evsrc_waker_wake() makes the poll report a readable event with that
 * token. Wakes coalesce: several wakes before the poll thread next waits
 * produce at least one event (usually exactly one), never one per wake. Once
 * the poll thread has received that event, the next wake produces a new one.
 * The poll thread reads nothing from the waker and resets nothing: receiving
 * the event is enough. What the wake means (a message queued, a request to
 * stop) is for the program to keep next to the waker, for example in a
 * queue the waking thread fills before it wakes.
 *
 * A poll needs at most one waker: wake is thread-safe, so every thread that
 * must reach the poll thread shares the same one. (Several wakers on one
 * poll do work, each with its own token, but there is no reason to have them.)
 *
 * On Linux a waker is an eventfd (close-on-exec, non-blocking), registered
 * edge-triggered for EVSRC_READABLE; each write to it is a new edge. (On the
 * poll(2) backend, docs/backends.md, the wait that reports it empties it
 * instead, which gives the same one event per batch of wakes.) The kernel counts the writes; the counter would
 * only overflow after 2^64 - 2 wakes that nobody reads, and if it ever does,
 * wake empties it and writes again, so a wake never blocks and never fails
 * for that reason, and the poll thread still gets its event.
 *
 * fork(): in a child process, evsrc_waker_wake() on a waker made in the
 * parent returns -ECHILD (a wake from the child would reach the parent's
 * poll); evsrc_waker_free() closes the child's copy of the eventfd and
 * leaves the parent's waker working.
 *
 * Lifetime: the waker keeps no pointer to the registry it was made with, so
 * that registry (a poll's borrowed one, or a clone) may be freed before the
 * waker, and so may the poll. Freeing the waker closes its eventfd, which is
 * what removes it from the queue; it never calls deregister. If the queue is
 * gone already there is nothing left to remove, and freeing touches nothing
 * but the waker.
 */

#include <evsrc/export.h>
#include <evsrc/interest.h>

EVSRC_BEGIN_DECLS

struct evsrc_registry;
struct evsrc_waker;

/*
 * Makes a waker, registers it with `registry`'s queue under `token` and
 * stores it in *out. The caller owns the waker and frees it with
 * evsrc_waker_free(). Pick a token that no other registration uses, so the
 * loop can tell a wake from the readiness of a source.
 * Errors: -EINVAL if out or registry is NULL; -EMFILE/-ENFILE when the
 * process or system is out of fds; -ENOMEM; or the error of
 * evsrc_registry_register_fd() (for example -ENOSPC past the user's watch
 * limit). On error nothing is left open or registered and *out is untouched.
 * Thread-safe: any thread may make a waker, with any handle of the queue.
 */
EVSRC_EXPORT int evsrc_waker_new(struct evsrc_waker **out, struct evsrc_registry *registry,
                                 evsrc_token token);

/*
 * Wakes the poll: its current or next evsrc_poll_wait() returns a readable
 * event with the waker's token. Does not block and does not allocate.
 * Returns 0, or -EINVAL if waker is NULL. Any other -errno means the eventfd
 * is unusable, which a correct program never sees.
 * Still returns 0 after the poll was freed (the wake then reaches nobody).
 * Thread-safe: any number of threads may wake one waker at the same time.
 * Async-signal-safe: it only reads and writes the eventfd and leaves errno
 * as it found it, so a signal handler may call it.
 */
EVSRC_EXPORT int evsrc_waker_wake(struct evsrc_waker *waker);

/*
 * Closes the waker's eventfd, which removes it from its queue (including a
 * wake not yet received), and frees the waker. NULL does nothing. Events a
 * wait already returned may still carry the token. Works whether or not the
 * poll and the registry it was made with are still alive.
 * If the process forked and the child still holds the eventfd (it is
 * close-on-exec, so only until the child execs or exits), the kernel keeps
 * the registration until the child's copy is closed too.
 * Thread-safety: must not run while another thread uses the same waker;
 * stop the waking threads first.
 */
EVSRC_EXPORT void evsrc_waker_free(struct evsrc_waker *waker);

EVSRC_END_DECLS

#endif /* EVSRC_WAKER_H */
