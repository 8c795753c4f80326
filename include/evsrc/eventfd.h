/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_EVENTFD_H
#define EVSRC_EVENTFD_H

/*
 * Linux only: Windows builds have no such source (README, docs/backends.md).
 *
 * Counters: a Linux eventfd as a source that is readable while its count is
 * above zero. Any thread, or a signal handler, adds to the count with
 * evsrc_eventfd_add(); the loop takes it with evsrc_eventfd_take(). It is the
 * way to hand work to the loop: queue the work under your own lock, then add
 * 1; the loop takes the count and drains the queue. (To only wake the loop,
 * evsrc_waker in <evsrc/waker.h> is the simpler tool.)
 *
 * Two modes. By default a take returns the whole count and resets it to zero,
 * so several adds between two takes are seen as one event and one sum. With
 * EVSRC_EVENTFD_SEMAPHORE a take returns 1 and decrements the count, so one
 * take per add: read until -EAGAIN on every event either way (the count
 * stays readable, and an edge-triggered registration gets no new event for
 * what is already there).
 *
 * The struct is caller-owned (stack, heap or embedded) and owns its fd from a
 * successful evsrc_eventfd_new() or _from_fd() until evsrc_eventfd_close(),
 * which the caller must call. Register it as &counter->source with
 * EVSRC_READABLE. The fields are private: use the functions below.
 *
 * Thread-safety: add, take and fd may run on one counter in several threads
 * at once (each is one system call on the fd); add is also async-signal-safe.
 * new, from_fd and close must not race with any other use of the same
 * counter, as with close(2): stop the threads that add before closing it.
 * Distinct counters are independent.
 */

#include <stdint.h>

#include <evsrc/export.h>
#include <evsrc/source.h>

EVSRC_BEGIN_DECLS

/* An eventfd. */
struct evsrc_eventfd {
    struct evsrc_source source; /* register this */
    int fd;                     /* private: -1 when closed */
};

/* evsrc_eventfd_new() flag: each take returns 1 and decrements the count. */
#define EVSRC_EVENTFD_SEMAPHORE 0x1

/*
 * Creates a counter holding `initial`. The fd is non-blocking and
 * close-on-exec. flags is 0 or EVSRC_EVENTFD_SEMAPHORE. The struct needs no
 * initialisation beforehand (it must not hold an open counter, whose fd would
 * leak).
 * Errors: -EINVAL if counter is NULL, flags has another bit or initial is
 * UINT64_MAX (the count is at most UINT64_MAX - 1); -EMFILE/-ENFILE when out
 * of fds; -ENOMEM. On error no fd is left open and the counter (if not NULL)
 * is left closed (closing it is -EBADF).
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_eventfd_new(struct evsrc_eventfd *counter, uint64_t initial, int flags);

/*
 * Adopts `fd`, an eventfd made elsewhere (say, shared with another library
 * or received over a Unix socket), as a counter. On success the counter owns
 * fd and has made it non-blocking; its close-on-exec flag and its mode are
 * left as they are.
 * Errors: -EINVAL if counter is NULL or fd is not an eventfd; -EBADF if fd is
 * negative or not open. On error fd is still the caller's, open and
 * unchanged, and the counter (if not NULL) is left closed.
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_eventfd_from_fd(struct evsrc_eventfd *counter, int fd);

/*
 * Adds `value` to the count, making the counter readable if value is not 0.
 * Never blocks.
 * Errors: -EINVAL if counter is NULL or value is UINT64_MAX; -EBADF if it is
 * closed; -EAGAIN if the count would exceed UINT64_MAX - 1 (nothing is
 * added: take first, or add less).
 * Thread-safety: safe from any thread, alongside add, take and fd on the same
 * counter; async-signal-safe (one write(2), and errno is left as it was), so
 * a signal handler may call it.
 */
EVSRC_EXPORT int evsrc_eventfd_add(struct evsrc_eventfd *counter, uint64_t value);

/*
 * Takes from the count: stores the whole count in *value and resets it to 0,
 * or in semaphore mode stores 1 and decrements it.
 * Errors: -EINVAL if counter or value is NULL; -EBADF if it is closed;
 * -EAGAIN if the count is 0 (the normal outcome of the last take of a round).
 * *value is unchanged on error.
 * Thread-safety: safe alongside add, take and fd on the same counter.
 */
EVSRC_EXPORT int evsrc_eventfd_take(struct evsrc_eventfd *counter, uint64_t *value);

/*
 * The counter's fd, borrowed: it stays owned by the counter, so do not close
 * it.
 * Errors: -EINVAL if counter is NULL; -EBADF if it is closed.
 * Thread-safety: safe alongside add, take and fd on the same counter.
 */
EVSRC_EXPORT int evsrc_eventfd_fd(const struct evsrc_eventfd *counter);

/*
 * Closes the counter's fd, which also removes it from any queue it is
 * registered with, and marks the counter closed.
 * Errors: -EINVAL if counter is NULL; -EBADF if it is already closed.
 * Thread-safety: not alongside any other call on the same struct; no thread
 * may still be adding.
 */
EVSRC_EXPORT int evsrc_eventfd_close(struct evsrc_eventfd *counter);

EVSRC_END_DECLS

#endif /* EVSRC_EVENTFD_H */
