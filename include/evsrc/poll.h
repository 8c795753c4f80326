/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_POLL_H
#define EVSRC_POLL_H

/*
 * Poll: the readiness queue a thread blocks on.
 *
 * A poll owns a queue: an epoll instance, or in a build with
 * -Dselector=poll a user-space registration table waited on with ppoll(2)
 * (docs/backends.md; registry.h says what raw fds need there). Sources are added to it
 * through its registry (evsrc_poll_registry()), from any thread, and one
 * thread at a time waits for their events with evsrc_poll_wait().
 *
 * Edge-triggered by default
 * -------------------------
 * Unless a registration asks for EVSRC_LEVEL, an event is reported when a
 * source's readiness *changes*: when data arrives on an empty socket, when a
 * full socket buffer gains room. If a readable event is handled by reading
 * only part of the data, no further event comes for the rest: the loop must
 * read until the read returns -EAGAIN (and write until -EAGAIN, or until it
 * has nothing more to write) before waiting again:
 *
 *     for (;;) {
 *         ssize_t n = evsrc_tcp_stream_read(&conn->stream, buf, sizeof buf);
 *         if (n == -EAGAIN)
 *             break;                 // drained: the next event is owed
 *         if (n <= 0) {              // 0: peer closed; < 0: error
 *             close_connection(conn);
 *             break;
 *         }
 *         consume(conn, buf, (size_t)n);
 *     }
 *
 * Spurious events
 * ---------------
 * evsrc_poll_wait() may report an event that no change caused, and readiness
 * may have gone again by the time the event is handled. Every operation after
 * an event must cope with -EAGAIN.
 *
 * What happens when things are freed
 * ----------------------------------
 * Closing an fd removes it from the queue once no other fd (from dup() or
 * fork()) refers to the same open file; deregister first when such copies
 * may exist, or events keep coming for it. Freeing a poll does not touch the
 * sources registered with it: they stay open, and their registrations end
 * with the queue (see evsrc_registry_register() for what that means for a
 * source struct).
 *
 * A source ended in the middle of a batch
 * ---------------------------------------
 * A wait returns a batch of events chosen before the loop handles the first
 * one. Deregistering or closing a source stops new events, not those already
 * returned: if handling one event ends a source and frees what its token
 * points to (a timeout that frees an idle connection), later events of the
 * same batch may still carry that token. Before freeing it, call
 * evsrc_events_drop(events, i + 1, token) from the loop at index i, and read
 * evsrc_events_len() afresh each round (events.h). A deadline
 * (<evsrc/deadline.h>) is closed with the source, like its fds.
 *
 * fork()
 * ------
 * A child process inherits the parent's polls, registry clones and wakers,
 * but their kernel queue is shared with the parent, so using them in the
 * child would steal the parent's events or change its interest list. In the
 * child, every call on a poll, registry or waker made in the parent (or in
 * any other process) returns -ECHILD, after its argument checks, and touches
 * nothing; a wait returns -ECHILD at once. Freeing them (evsrc_poll_free(),
 * evsrc_registry_free(), evsrc_waker_free()) is what the child may do: that
 * releases the child's memory and fd copies without changing the parent's
 * queue. Sources are the caller's structs and stay usable in the child: their
 * I/O works, a source registered in the parent counts as unregistered there
 * and may be registered with a poll the child makes, and closing one closes
 * the child's copy of its fd (the parent's registration stays, since the
 * parent still holds the fd). Making new polls in the child is safe even if
 * other parent threads were inside the library at the fork.
 */

#include <time.h>

#include <evsrc/events.h>
#include <evsrc/export.h>
#include <evsrc/version.h>

/* The includer's struct timespec must be the library's (see version.h). */
EVSRC_CHECK_TIME_T_SIZE;

EVSRC_BEGIN_DECLS

struct evsrc_poll;
struct evsrc_registry;

/*
 * Creates a poll with a new, empty queue and stores it in *out. The queue's
 * fd is close-on-exec.
 * Errors: -EINVAL if out is NULL; -ENOMEM (also, for good, in a process
 * where the library's fork handlers could not be registered at its first
 * poll: it makes no queue a fork child could deadlock on); -EMFILE/-ENFILE
 * when the process or system is out of fds. *out is untouched on error.
 * Thread-safe.
 */
EVSRC_EXPORT int evsrc_poll_new(struct evsrc_poll **out);

/*
 * Frees a poll and closes its queue. NULL does nothing. The poll's own
 * registry dies with it; clones made with evsrc_registry_try_clone() keep the
 * queue alive until they are freed too. Must not run while another thread
 * waits on the same poll.
 */
EVSRC_EXPORT void evsrc_poll_free(struct evsrc_poll *poll);

/*
 * The poll's own registry, through which sources are registered. Borrowed:
 * valid while the poll lives, never freed by the caller (evsrc_registry_free()
 * ignores it). To hand a registry to another thread that may outlive the
 * poll, clone it. NULL for a NULL poll. Thread-safe.
 */
EVSRC_EXPORT struct evsrc_registry *evsrc_poll_registry(struct evsrc_poll *poll);

/*
 * Waits until at least one registered source is ready, or until `timeout`
 * passes, and stores the events in `events` (replacing what it held).
 *
 * timeout: NULL waits without limit; {0, 0} checks and returns at once. A
 * timeout is never shortened by rounding: a sub-millisecond timeout waits
 * with nanosecond precision (epoll_pwait2, or ppoll on the poll backend) or, where epoll_pwait2 is not to
 * be had, is rounded up to the next millisecond, so short timeouts never turn
 * into busy loops. epoll_pwait2 is not to be had on kernels before 5.11,
 * under a seccomp profile that refuses it (EPERM; probed once, then not tried
 * again), or in a build against a libc without it. There, too, a timeout
 * above INT_MAX milliseconds (24.8 days) is capped at that, so such a wait
 * may return 0 early: loop on a deadline if that matters.
 *
 * Returns the number of events stored (0 when the timeout passed), or:
 * -EINVAL if poll or events is NULL, or a timeout field is negative or
 * tv_nsec >= 1000000000; -EINTR if a signal arrived first (nothing is lost:
 * wait again). On error the buffer is left empty.
 *
 * Thread-safety: one thread waits on a poll at a time. Two threads waiting on
 * one poll, each with its own buffer, do not corrupt anything, but each
 * edge-triggered event goes to only one of them; that is not a supported way
 * to share work. Registration from other threads while one waits is safe.
 * Does not allocate.
 *
 * Cancellation: no wait is a pthread cancellation point, timed or not, on
 * every architecture and build (the unbounded x86-64 wait is a raw system
 * call; every other wait runs with cancellation disabled around libc's
 * call). A thread cancelled while it waits finishes the wait as if nothing
 * happened and acts on the cancel at its next cancellation point. Stop a
 * waiting thread with a waker, not pthread_cancel().
 */
EVSRC_EXPORT int evsrc_poll_wait(struct evsrc_poll *poll, struct evsrc_events *events,
                                 const struct timespec *timeout);

/*
 * Living inside another event loop
 * --------------------------------
 * A program whose thread already runs another loop (GLib, Qt, libuv, or
 * another evsrc poll) drives a poll from it instead of blocking in
 * evsrc_poll_wait():
 *
 *   1. prepare: timeout = evsrc_poll_next_timeout() (no limit when it
 *      returns 0), and the outer loop waits for evsrc_poll_fd() to poll
 *      readable (POLLIN, level-triggered) or for that timeout;
 *   2. then, whichever ended the outer wait: evsrc_poll_wait() with a zero
 *      timeout, and handle its events as usual (call it again while it
 *      fills the buffer, to take everything that is ready);
 *   3. back to 1 before the outer loop waits again (deadlines may have moved).
 *
 * The fd polls readable while the queue has kernel events to report;
 * deadlines have no fd, which is why the outer wait takes the timeout. A
 * deadline that another thread sets earlier than that timeout wakes the
 * outer wait through the fd (a spurious event for its token at step 2), as
 * it wakes evsrc_poll_wait(). docs/embedding.md shows it with GLib and
 * with one evsrc poll nested in another.
 */

/*
 * The fd that polls readable (POLLIN) while the poll has events to report:
 * the epoll fd, borrowed (do not close it, or wait on it for anything but
 * readability). For an outer loop, as above.
 * Errors: -EINVAL if poll is NULL; -EOPNOTSUPP on a backend without such an
 * fd (-Dselector=poll, whose registrations live in user space); -ECHILD in a
 * fork child, for a poll of the parent. Thread-safe.
 */
EVSRC_EXPORT int evsrc_poll_fd(const struct evsrc_poll *poll);

/*
 * The time until the earliest deadline set in the poll's queue
 * (<evsrc/deadline.h>, the timer queues among them): stores it in *timeout
 * ({0, 0} when one is due) and returns 1, or returns 0 when no deadline is
 * set (*timeout is then untouched: the outer loop may wait without limit).
 * The value is what an outer loop should wait on evsrc_poll_fd() for at
 * most; from this call until the next evsrc_poll_wait(), a deadline set
 * earlier than it from another thread makes the fd readable.
 * Errors: -EINVAL if poll or timeout is NULL; -ECHILD in a fork child, for a
 * poll of the parent. Thread-safe; allocates nothing.
 */
EVSRC_EXPORT int evsrc_poll_next_timeout(struct evsrc_poll *poll, struct timespec *timeout);

EVSRC_END_DECLS

#endif /* EVSRC_POLL_H */
