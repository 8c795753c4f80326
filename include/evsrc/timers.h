/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_TIMERS_H
#define EVSRC_TIMERS_H

/*
 * Timer queues: any number of timers behind one source.
 *
 * A queue (struct evsrc_timers) is a source like any other: registering
 * &timers->source with EVSRC_READABLE makes the poll report its token when a
 * timer is due. A queue on CLOCK_MONOTONIC needs no fd for that: it gives the
 * poll a deadline (<evsrc/deadline.h>), so the wait itself wakes the loop and
 * a wake-up for timers costs one system call, the wait's own. (A queue on
 * CLOCK_BOOTTIME or CLOCK_REALTIME owns a timerfd and is registered through
 * it, since only a kernel timer sees a suspend or a change of the wall clock
 * during a wait; Linux only.) A timer (struct evsrc_timer) is a small
 * caller-owned struct, embeddable anywhere (in a connection struct, say;
 * evsrc_container_of() recovers it), that a queue holds while it is active.
 * The loop drains the queue as it drains any edge-triggered source:
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
 *   - What a drain hands out: a drain is the calls of evsrc_timers_expired()
 *     up to -EAGAIN. It hands out, in deadline order, the due timers that
 *     were queued when it began, including those that fall due while it
 *     runs, and it ends at the first timer in deadline order that was
 *     started during the drain (a handler's start or restart, or a periodic
 *     timer's next period): so a handler that restarts its timer with a zero
 *     delay cannot make a drain endless. Timers due behind that one come out
 *     in the next drain, and the queue's next event, at once when a timer is
 *     due, announces it. (So a timer queued before the drain can come out
 *     one event later than it fell due, when a handler started an earlier one.)
 *   - Never early: a timer is handed out only once its deadline has passed
 *     by the queue's clock, read (through the vDSO, no system call) during
 *     the drain that hands it out.
 *   - Late by no more than the timer slack: the poll's wait is timed for the
 *     earliest deadline, and the kernel lets that timeout run late by the
 *     timer slack of the thread that waits (prctl(PR_SET_TIMERSLACK); 50 us
 *     by default), so that timers due close together share one wake-up; or
 *     by up to a millisecond where the wait rounds its timeouts to
 *     milliseconds (poll.h). A timerfd (evsrc_timers_fd(), and the queues on
 *     the other clocks) is armed for the earliest deadline plus the timer
 *     slack of the thread that called evsrc_timers_new() (at most 1 ms is
 *     used). Set a thread's slack to 1 ns for the tightest wake-ups.
 *   - No busy loop: once evsrc_timers_expired() has returned -EAGAIN the
 *     queue is armed for the earliest deadline left, and does not report
 *     unless a timer is due. A timer due at once makes the poll report the
 *     queue once. After a stop, or a restart to a later deadline, the queue
 *     may still report at the old time: that is one spurious event, after
 *     which evsrc_timers_expired() returns -EAGAIN at once and re-arms it.
 *   - Cost: start, stop and restart are O(log n), and a restart to a later
 *     deadline (the idle-timeout reset) is O(1): the timer is only marked,
 *     and its place in the queue is corrected when it reaches the front.
 *     None of them makes a system call, and stop and a restart to a later
 *     deadline not even a lock: only a start or restart that makes the
 *     earliest deadline earlier moves the poll's deadline (a lock; a system
 *     call only when another thread is blocked in the poll's wait, to wake
 *     it). evsrc_timers_expired() reads the clock once per drain (a start
 *     reads it once; evsrc_timers_start_at() not at all) and, when it returns
 *     -EAGAIN, moves the poll's deadline to the earliest timer left. With a
 *     timerfd, each of those moves is a timerfd_settime(2) as well.
 *   - Memory: the queue keeps a table of its active timers, 16 bytes per
 *     timer, that grows by doubling when the number of active timers passes
 *     its peak so far and is freed by evsrc_timers_close(). Only a start
 *     that passes the peak allocates; stop, restart and expired never do.
 *
 * Interests: EVSRC_READABLE (the event is readable). EVSRC_LEVEL reports
 * the queue again at every wait while a drain has not reached -EAGAIN;
 * EVSRC_ONESHOT reports it once, then not until it is reregistered.
 *
 * Lifetime: the queue writes into the timers it holds (evsrc_timers_close()
 * marks every one inactive), so close the queue before freeing the memory of
 * its timers, and close it (or deregister it) before freeing the queue's own
 * memory: a registered queue is in its poll's table.
 *
 * Thread-safety: a queue and its timers are single-threaded: every call on a
 * queue, and on the timers it holds, must come from one thread at a time
 * (normally the thread that waits on the poll; from another thread, a start
 * that makes the earliest deadline earlier wakes the waiting one).
 * Registering the queue goes through the registry and is thread-safe as for
 * any source. Distinct queues are independent.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <evsrc/deadline.h>
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
    int fd;                     /* private: the timerfd, -1 while there is none */
    clockid_t clock;
    uint32_t id;             /* 0 when closed */
    uint32_t sequence;
    bool draining;           /* a drain is under way: */
    bool spent;              /* a one-shot registration has reported */
    uint32_t drain_sequence; /* the last start before it, */
    int64_t now;             /* and its latest clock reading */
    int64_t armed; /* the deadline the queue is armed for, INT64_MAX for none */
    int64_t slack; /* ns the timerfd is armed after that deadline */
    size_t len;
    size_t capacity;
    void *table;
    void *allocation;
    uint32_t mode;                  /* the interests it is registered with */
    struct evsrc_deadline deadline; /* carries the earliest deadline to the poll */
};

/*
 * Sets up an empty queue on `clock`: CLOCK_MONOTONIC (stops while the system
 * is suspended; needs no fd), CLOCK_BOOTTIME (counts suspend) or
 * CLOCK_REALTIME (the wall clock: deadlines are fixed instants of it, so a
 * clock change moves them nearer or further). The last two create one
 * timerfd (non-blocking, close-on-exec). It allocates nothing yet. The
 * struct needs no initialisation beforehand (it must not hold an open queue,
 * whose table would leak).
 * Errors: -EINVAL if timers is NULL or clock is another clock; for the
 * timerfd clocks, -EMFILE/-ENFILE when out of fds and -ENOMEM. On error
 * nothing is left open and the queue (if not NULL) is left closed (closing
 * it is -EBADF).
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
 * "Now" is a clock reading taken by this call, so the timer is never early
 * by its own measure (evsrc_timers_start_at() saves that reading for a batch).
 * Starting a timer that is active in this queue restarts it: its old
 * deadline and period are replaced. A deadline beyond the clock's range
 * (about 292 years of nanoseconds) is clamped to it.
 * The queue keeps a pointer to the timer until it is stopped, handed out as
 * a one-shot timer, or the queue is closed.
 * Errors: -EINVAL if timers, timer or after is NULL, or after or interval
 * has a negative field or tv_nsec >= 1000000000; -EBADF if the queue is
 * closed; -EEXIST if the timer is active in another queue; -ENOMEM if the
 * queue's table had to grow and could not; the error of moving the poll's
 * deadline (<evsrc/deadline.h>: waking another thread's wait) or of
 * timerfd_settime(2) when the queue had to be armed earlier (the timer is
 * then queued all the same, and the queue is armed at the next
 * evsrc_timers_expired()). On any other error the timer is left as it was.
 * Thread-safety: the queue's thread only (see above).
 */
EVSRC_EXPORT int evsrc_timers_start(struct evsrc_timers *timers, struct evsrc_timer *timer,
                                    const struct timespec *after, const struct timespec *interval);

/*
 * Arms `timer` to expire at `deadline`, an instant of the queue's clock (as
 * clock_gettime() on it reads, or evsrc_timers_now() last read), and if
 * `interval` is non-NULL and not {0, 0}, every `interval` after that: the
 * start of a batch that shares one clock reading, as a libev user starts
 * timers from ev_now(). A deadline already past is due at once. Otherwise
 * as evsrc_timers_start(): restarts, the pointer kept, clamping, errors
 * (with deadline in place of after), and no clock read at all.
 * Thread-safety: the queue's thread only.
 */
EVSRC_EXPORT int evsrc_timers_start_at(struct evsrc_timers *timers, struct evsrc_timer *timer,
                                       const struct timespec *deadline, const struct timespec *interval);

/*
 * Stores in *now the queue's clock as it last read it: at the start of the
 * last drain (the loop's last wake-up for it), or at the last
 * evsrc_timers_start() or evsrc_timers_new() if that came later; no clock
 * read and no system call. Add a delay to it for evsrc_timers_start_at().
 * A timer started that way may expire up to the time since that reading
 * earlier than the same delay given to evsrc_timers_start() would.
 * Errors: -EINVAL if timers or now is NULL; -EBADF if the queue is closed.
 * Thread-safety: the queue's thread only.
 */
EVSRC_EXPORT int evsrc_timers_now(const struct evsrc_timers *timers, struct timespec *now);

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
 * Returns -EAGAIN when the drain is over ("What a drain hands out" above);
 * the queue is then armed for the earliest deadline left (or disarmed when
 * the queue is empty). Call it until -EAGAIN on every event of the queue, as
 * for any edge-triggered source. *out is untouched unless 0 is returned.
 * Errors: -EINVAL if timers or out is NULL; -EBADF if the queue is closed;
 * -EAGAIN as said; in place of -EAGAIN, the error of arming the queue (as for
 * evsrc_timers_start()) if it could not be armed.
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
 * closed. For registering the queue in another event loop (GLib, libuv),
 * say: the fd is readable when a timer is due, and the loop drains the queue
 * as above. A CLOCK_MONOTONIC queue makes its timerfd at the first call
 * (later calls return the same fd) and from then on arms it as it arms the
 * poll's deadline, at the cost of one timerfd_settime(2) per move.
 * Errors: -EINVAL if timers is NULL; -EBADF if it is closed; when the fd is
 * made, -EMFILE/-ENFILE/-ENOMEM (nothing is then left open).
 * Thread-safety: the queue's thread only.
 */
EVSRC_EXPORT int evsrc_timers_fd(const struct evsrc_timers *timers);

/*
 * Stops every timer of the queue (each is left inactive, ready to be started
 * in any queue: the queue writes into them, so they must still be alive),
 * frees the queue's table, takes it out of the poll it is registered with
 * and closes its timerfd if it has one. The struct may then be set up again
 * with evsrc_timers_new() or freed.
 * Errors: -EINVAL if timers is NULL; -EBADF if it is already closed; the
 * error of taking it out of its poll (evsrc_deadline_close(): the queue is
 * closed all the same).
 * Thread-safety: the queue's thread only.
 */
EVSRC_EXPORT int evsrc_timers_close(struct evsrc_timers *timers);

EVSRC_END_DECLS

#endif /* EVSRC_TIMERS_H */
