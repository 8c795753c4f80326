/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_TIMERS_H
#define EVSRC_TIMERS_H

/*
 * Linux only for now: it runs on a timerfd, which Windows builds lack; it
 * comes to Windows once the timer queue needs none (README).
 *
 * Timer queues: any number of timers behind one source and one fd.
 *
 * A queue (struct evsrc_timers) is a source like any other: it owns one
 * timerfd, and registering &timers->source with EVSRC_READABLE makes the
 * poll report its token when a timer is due. A timer (struct evsrc_timer) is
 * a small caller-owned struct, embeddable anywhere (in a connection struct,
 * say; evsrc_container_of() recovers it), that a queue holds while it is
 * active. The loop drains the queue as it drains any edge-triggered source:
 *
 *     case TIMERS_TOKEN: {
 *         struct evsrc_timer *timer;
 *         while (evsrc_timers_expired(&timers, &timer) == 0)
 *             handle(timer);
 *         break;
 *     }
 *
 * Guarantees:
 *   - Order: timers come out in deadline order, and timers with equal
 *     deadlines in the order they were (last) started. (The tie-break is a
 *     32-bit start counter, renumbered every 2^29 starts: two timers with
 *     deadlines equal to the nanosecond whose starts are more than 2^29
 *     starts of that queue apart may come out in either order.)
 *   - Never early: a timer is handed out only once its deadline has passed
 *     by the queue's clock, read (through the vDSO, no system call) during
 *     the drain that hands it out. A drain (the calls up to -EAGAIN) hands
 *     out the timers queued before it began as they fall due, including
 *     those that fall due while it runs.
 *   - Late by no more than the timer slack: the fd is armed for the earliest
 *     deadline plus the timer slack of the thread that called
 *     evsrc_timers_new() (prctl(PR_SET_TIMERSLACK); 50 us by default, the
 *     slack the kernel gives that thread's poll, epoll_wait and nanosleep
 *     timeouts too; at most 1 ms is used), so that timers due close together
 *     share one wake-up. Set a thread's slack to 1 ns before creating a
 *     queue for the tightest wake-ups.
 *   - No busy loop: once evsrc_timers_expired() has returned -EAGAIN the fd
 *     is armed for the earliest deadline left, and it is not readable unless
 *     a timer is due. A timer due at once makes the poll report the queue
 *     once. After a stop, or a restart to a later deadline, the fd may still
 *     fire at the old time: that is one spurious event, after which
 *     evsrc_timers_expired() returns -EAGAIN at once and re-arms the fd.
 *     A timer started during a drain (or a periodic timer's next period)
 *     comes out in a later drain (the next event of the queue), so a handler
 *     that restarts its timer with a zero delay cannot make a drain endless.
 *   - Cost: start, stop and restart are O(log n), and a restart to a later
 *     deadline (the idle-timeout reset) is O(1): the timer is only marked,
 *     and its place in the queue is corrected when it reaches the front.
 *     None of them makes a system call, except a start or restart that
 *     makes a deadline earlier than the one the fd is armed for (one
 *     timerfd_settime(2)). evsrc_timers_expired() makes one when it returns
 *     -EAGAIN and the earliest deadline is not the one the fd is armed for.
 *   - Memory: the queue keeps a table of its active timers, 16 bytes per
 *     timer, that grows by doubling when the number of active timers passes
 *     its peak so far and is freed by evsrc_timers_close(). Only a start
 *     that passes the peak allocates; stop, restart and expired never do.
 *
 * Thread-safety: a queue and its timers are single-threaded: every call on a
 * queue, and on the timers it holds, must come from one thread at a time
 * (normally the thread that waits on the poll). Registering the queue goes
 * through the registry and is thread-safe as for any source. Distinct queues
 * are independent.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <evsrc/export.h>
#include <evsrc/interest.h>
#include <evsrc/source.h>
#include <evsrc/version.h>

/* The includer's struct timespec must be the library's (see version.h). */
EVSRC_CHECK_TIME_T_SIZE;

EVSRC_BEGIN_DECLS

/*
 * A timer: 48 bytes, owned by the caller, who keeps it alive (and does not
 * move it) while it is active. Its fields are private: use the functions
 * below. Initialise it with evsrc_timer_init() before its first start.
 */
struct evsrc_timer {
    evsrc_token token;
    int64_t deadline;         /* ns on the queue's clock */
    int64_t interval;         /* ns; 0 for a one-shot timer */
    uint64_t expirations;     /* periods elapsed at the last hand-out */
    uint32_t queue;           /* id of the queue holding it, 0 when inactive */
    uint32_t index;           /* its slot in the queue's table */
    uint32_t sequence;        /* start order, for equal deadlines */
    uint32_t queued_sequence; /* the start order its slot is sorted by */
};

/*
 * A timer queue: owned by the caller; evsrc_timers_new() sets it up and
 * evsrc_timers_close() releases its fd and table. Register &timers->source.
 * Its fields other than `source` are private.
 */
struct evsrc_timers {
    struct evsrc_source source; /* register this, with EVSRC_READABLE */
    int fd;                     /* private: the timerfd, -1 when closed */
    clockid_t clock;
    uint32_t id;
    uint32_t sequence;
    bool draining;           /* a drain is under way: */
    uint32_t drain_sequence; /* the last start before it, */
    int64_t now;             /* and its latest clock reading */
    int64_t armed; /* the deadline the fd is armed for, INT64_MAX for none */
    int64_t slack; /* ns the fd is armed after that deadline */
    size_t len;
    size_t capacity;
    void *table;
    void *allocation;
};

/*
 * Sets up an empty queue on `clock`: CLOCK_MONOTONIC (stops while the system
 * is suspended), CLOCK_BOOTTIME (counts suspend) or CLOCK_REALTIME (the wall
 * clock: deadlines are fixed instants of it, so a clock change moves them
 * nearer or further). It creates one timerfd (non-blocking, close-on-exec)
 * and allocates nothing yet. The struct needs no initialisation beforehand
 * (it must not hold an open queue, whose fd and table would leak).
 * Errors: -EINVAL if timers is NULL or clock is another clock;
 * -EMFILE/-ENFILE when out of fds; -ENOMEM. On error nothing is left open
 * and the queue (if not NULL) is left closed (closing it is -EBADF).
 * Thread-safety: distinct queues may be set up from any threads at once.
 */
EVSRC_EXPORT int evsrc_timers_new(struct evsrc_timers *timers, clockid_t clock);

/*
 * Initialises a timer: inactive, with `token`, the caller's value to tell
 * timers apart (evsrc_container_of() works too). Must not be called on an
 * active timer, whose queue would keep pointing at it. NULL does nothing.
 * Thread-safety: a timer is used from one thread at a time.
 */
EVSRC_EXPORT void evsrc_timer_init(struct evsrc_timer *timer, evsrc_token token);

/* The token given to evsrc_timer_init(); 0 for NULL. Thread-safety: as for init. */
EVSRC_EXPORT evsrc_token evsrc_timer_token(const struct evsrc_timer *timer);

/*
 * Arms `timer` in the queue to expire `after` from now ({0, 0}: due at once),
 * and if `interval` is non-NULL and not {0, 0}, every `interval` after that.
 * Starting a timer that is active in this queue restarts it: its old
 * deadline and period are replaced. A deadline beyond the clock's range
 * (about 292 years of nanoseconds) is clamped to it.
 * The queue keeps a pointer to the timer until it is stopped, handed out as
 * a one-shot timer, or the queue is closed.
 * Errors: -EINVAL if timers, timer or after is NULL, or after or interval
 * has a negative field or tv_nsec >= 1000000000; -EBADF if the queue is
 * closed; -EEXIST if the timer is active in another queue; -ENOMEM if the
 * queue's table had to grow and could not; an error of timerfd_settime(2)
 * when the fd had to be armed earlier (the timer is then queued all the
 * same, and the fd is armed at the next evsrc_timers_expired()). On any
 * other error the timer is left as it was.
 * Thread-safety: the queue's thread only (see above).
 */
EVSRC_EXPORT int evsrc_timers_start(struct evsrc_timers *timers, struct evsrc_timer *timer,
                                    const struct timespec *after, const struct timespec *interval);

/*
 * Stops `timer`: it will not be handed out, and the queue no longer points
 * at it. Stopping the timer just handed out, or from inside a drain, is fine.
 * Returns 1 if the timer was active in this queue, 0 if it was not active.
 * Errors: -EINVAL if timers or timer is NULL; -EBADF if the queue is closed;
 * -ENOENT if the timer is active in another queue.
 * Thread-safety: the queue's thread only.
 */
EVSRC_EXPORT int evsrc_timers_stop(struct evsrc_timers *timers, struct evsrc_timer *timer);

/* Whether the timer is in a queue (started, not yet stopped or handed out as a one-shot). false for NULL. */
EVSRC_EXPORT bool evsrc_timer_is_active(const struct evsrc_timer *timer);

/*
 * Hands out one expired timer: stores it in *out and returns 0. A one-shot
 * timer is inactive when handed out (start it again to reuse it); a periodic
 * one is already rescheduled to its next deadline after now, keeping its
 * phase (the previous deadline plus a whole number of periods), and
 * evsrc_timer_expirations() tells how many periods elapsed. Any timer may be
 * started or stopped between two calls, the one just handed out included.
 * Returns -EAGAIN when no timer is due; the fd is then armed for the
 * earliest deadline left (or disarmed when the queue is empty). Call it
 * until -EAGAIN on every event of the queue, as for any edge-triggered
 * source. *out is untouched unless 0 is returned.
 * Errors: -EINVAL if timers or out is NULL; -EBADF if the queue is closed;
 * -EAGAIN as said; an error of timerfd_settime(2) in place of -EAGAIN if the
 * fd could not be armed.
 * Thread-safety: the queue's thread only.
 */
EVSRC_EXPORT int evsrc_timers_expired(struct evsrc_timers *timers, struct evsrc_timer **out);

/*
 * How many periods elapsed when the timer was last handed out: 1 for a
 * one-shot timer, at least 1 for a periodic one (more when the queue was
 * drained late). 0 for a timer not handed out since it was last started,
 * and for NULL.
 * Thread-safety: the queue's thread only.
 */
EVSRC_EXPORT uint64_t evsrc_timer_expirations(const struct evsrc_timer *timer);

/* The number of active timers in the queue; 0 for NULL or a closed queue. Thread-safety: the queue's thread. */
EVSRC_EXPORT size_t evsrc_timers_len(const struct evsrc_timers *timers);

/*
 * Stores in *remaining the time until the earliest deadline of the queue
 * ({0, 0} if it has passed).
 * Errors: -EINVAL if timers or remaining is NULL; -EBADF if the queue is
 * closed; -ENOENT if no timer is active. Nothing is stored on error.
 * Thread-safety: the queue's thread only.
 */
EVSRC_EXPORT int evsrc_timers_next_deadline(const struct evsrc_timers *timers, struct timespec *remaining);

/*
 * The queue's timerfd, borrowed: do not close, read or set it (the queue
 * keeps track of how it is armed), and do not use it after the queue is
 * closed. For registering it in another event loop, say.
 * Errors: -EINVAL if timers is NULL; -EBADF if it is closed.
 * Thread-safety: the queue's thread only.
 */
EVSRC_EXPORT int evsrc_timers_fd(const struct evsrc_timers *timers);

/*
 * Stops every timer of the queue (each is left inactive, ready to be started
 * in any queue), frees the queue's table and closes its fd, which also
 * removes it from the poll it is registered with. The struct may then be set
 * up again with evsrc_timers_new().
 * Errors: -EINVAL if timers is NULL; -EBADF if it is already closed.
 * Thread-safety: the queue's thread only.
 */
EVSRC_EXPORT int evsrc_timers_close(struct evsrc_timers *timers);

EVSRC_END_DECLS

#endif /* EVSRC_TIMERS_H */
