/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_DEADLINE_H
#define EVSRC_DEADLINE_H

/*
 * Deadlines: a time at which the poll reports a token, carried by the wait
 * itself.
 *
 * A source that must act at a time (a timer queue, a retry schedule, a rate
 * limiter, an idle timeout) embeds a struct evsrc_deadline and registers it
 * with a queue, as it registers its fds, from its register_source op. From
 * then on it sets and clears the deadline's time as often as it likes. A
 * wait on the poll then returns by the earliest deadline set in its queue
 * (or by its own timeout, whichever comes first), and once a deadline has
 * passed the wait reports its token with the interests it was registered
 * for (EVSRC_READABLE: a readable event), exactly as it reports an fd's
 * readiness. That costs no fd and no system call of its own: a wake-up for
 * a deadline is the wait's own system call, on every backend.
 *
 *     struct retry {
 *         struct evsrc_source source;
 *         struct evsrc_deadline deadline;
 *     };
 *
 *     static int retry_register(struct evsrc_source *source, struct evsrc_registry *registry,
 *                               evsrc_token token, evsrc_interest interests)
 *     {
 *         struct retry *r = evsrc_container_of(source, struct retry, source);
 *         return evsrc_registry_register_deadline(registry, &r->deadline, token, interests);
 *     }
 *     // reregister: evsrc_registry_reregister_deadline; deregister: evsrc_registry_deregister_deadline
 *
 *     evsrc_deadline_set(&r->deadline, &at);   // at: absolute, on CLOCK_MONOTONIC
 *
 * A deadline is one-shot: the wait that reports it also clears it (set it
 * again for the next time). A deadline set to a time already past (such as
 * {0, 0}) is reported by the next wait without blocking: that is how a loop
 * puts a token back as ready (evsrc_deadline_ready_again()).
 *
 * Time: deadlines are instants of CLOCK_MONOTONIC, in the struct timespec
 * that clock_gettime(CLOCK_MONOTONIC, ...) fills. A deadline is never
 * reported early; it may be late by the timer slack the kernel gives the
 * waiting thread's timeouts (prctl(PR_SET_TIMERSLACK), 50 us by default), or
 * by up to a millisecond where the wait rounds its timeout to milliseconds
 * (poll.h: no epoll_pwait2).
 *
 * Fairness: when due deadlines and kernel events compete for a wait's
 * events buffer, at least half of it (with a capacity of one, every other
 * wait) goes to the kernel's events, so a token put back as ready over and
 * over never starves the fds; due deadlines that do not fit stay due and come
 * out in the next wait.
 *
 * Threads: every call here is thread-safe. Setting a deadline earlier than
 * the time a wait in another thread is blocked until wakes that wait (it
 * returns, perhaps with a spurious event for the deadline's token, and the
 * next wait blocks until the new time); setting it later, or setting it from
 * the waiting thread itself, makes no system call. The first deadline
 * registered with a poll wakes a wait in progress once, for the same reason.
 *
 * Cost: a deadline takes no memory of the library's: the queue keeps a table
 * of pointers to registered deadlines that grows (at registration) with the
 * peak count and never shrinks. Setting, moving and clearing are O(log n) in
 * the deadlines set in the queue and never allocate. A wait on a poll with
 * no registered deadline pays nothing for the mechanism.
 */

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <evsrc/export.h>
#include <evsrc/interest.h>
#include <evsrc/version.h>

/* The includer's struct timespec must be the library's (see version.h). */
EVSRC_CHECK_TIME_T_SIZE;

EVSRC_BEGIN_DECLS

struct evsrc_registry;

/*
 * A deadline: owned by the caller, who keeps it alive and in place while it
 * is registered (evsrc_deadline_close() ends that). Its fields are private. Initialise it with
 * EVSRC_DEADLINE_INIT or evsrc_deadline_init() before its first
 * registration. 32 bytes on 64-bit systems.
 */
struct evsrc_deadline {
    evsrc_token token;   /* private: reported when the deadline passes */
    int64_t at;          /* private: ns on CLOCK_MONOTONIC; INT64_MAX when not set (atomic) */
    void *queue;         /* private: the queue's deadline table while registered */
    uint32_t index;      /* private: its place among the queue's set deadlines */
    uint32_t interests;  /* private: what the wait reports */
};

/* A static initialiser: not registered, not set. */
#define EVSRC_DEADLINE_INIT { 0, INT64_MAX, NULL, 0, 0 }

/*
 * Initialises a deadline: not registered, not set. Must not be called on a
 * registered deadline, whose queue would keep pointing at it.
 * Errors: -EINVAL if deadline is NULL. Thread-safe for distinct deadlines.
 */
EVSRC_EXPORT int evsrc_deadline_init(struct evsrc_deadline *deadline);

/*
 * Registers a deadline with the registry's queue, under `token`, reporting
 * `interests` (EVSRC_READABLE, EVSRC_WRITABLE and/or EVSRC_PRIORITY, as the
 * matching event flags; EVSRC_LEVEL and EVSRC_ONESHOT mean nothing here and
 * are refused). It is not set: nothing is reported until evsrc_deadline_set().
 * This is the call a source's register_source op makes for its deadline.
 * The queue keeps a pointer to the deadline until it is deregistered; the
 * queue's memory lives while any deadline is registered with it, even after
 * the poll and its registries are freed.
 * Errors: -EINVAL if registry or deadline is NULL or interests are invalid;
 * -EEXIST if the deadline is registered (with this queue or another);
 * -ENOMEM; -EMFILE/-ENFILE (the first deadline of a queue gives it an
 * eventfd, through which other threads wake its waits); -ECHILD if the
 * registry was inherited through fork().
 * Thread-safe: any thread, through any handle of the queue.
 */
EVSRC_EXPORT int evsrc_registry_register_deadline(struct evsrc_registry *registry, struct evsrc_deadline *deadline,
                                                  evsrc_token token, evsrc_interest interests);

/*
 * Replaces the token and interests of a registered deadline (its time stays).
 * Errors: -EINVAL as for register; -ENOENT if the deadline is not registered
 * with this registry's queue; -ECHILD as for register.
 * Thread-safe: any thread, through any handle of the queue.
 */
EVSRC_EXPORT int evsrc_registry_reregister_deadline(struct evsrc_registry *registry,
                                                    struct evsrc_deadline *deadline, evsrc_token token,
                                                    evsrc_interest interests);

/*
 * Deregisters a deadline (clearing it if set). No later wait reports it;
 * events already returned by a wait may still name its token (events.h).
 * Errors: -EINVAL if registry or deadline is NULL; -ENOENT if the deadline
 * is not registered with this registry's queue; -ECHILD as for register; the
 * error of read(2) on the queue's eventfd, when a wake-up written under the
 * deadline's token had to be taken back (the deadline is deregistered all
 * the same, as after any deregistration's error).
 * Thread-safe: any thread, through any handle of the queue.
 */
EVSRC_EXPORT int evsrc_registry_deregister_deadline(struct evsrc_registry *registry,
                                                    struct evsrc_deadline *deadline);

/*
 * Takes the deadline out of whatever queue holds it, without a handle to
 * that queue, and leaves it initialised: what a source's close function
 * calls for its deadline, as closing an fd takes it out of its queue. Use it
 * before the memory of a registered deadline is freed or reused. Returns 1
 * if it was registered, 0 if not (a deadline registered with a queue of the
 * fork parent counts as not registered in the child, and is just reset).
 * Errors: -EINVAL if deadline is NULL; the read(2) error of
 * evsrc_registry_deregister_deadline() (the deadline is closed all the same).
 * Thread-safe, but not concurrently with other calls on the same deadline.
 */
EVSRC_EXPORT int evsrc_deadline_close(struct evsrc_deadline *deadline);

/*
 * Sets (or moves) a registered deadline to `at`, an instant of
 * CLOCK_MONOTONIC. A time already past is reported by the next wait. Moving
 * it earlier than the time a wait in another thread blocks until wakes that
 * wait; otherwise no system call is made.
 * Errors: -EINVAL if deadline or at is NULL, or at has a negative field or
 * tv_nsec >= 1000000000; -ENOENT if the deadline is not registered; -ECHILD
 * if it is registered with a queue inherited through fork().
 * Thread-safe.
 */
EVSRC_EXPORT int evsrc_deadline_set(struct evsrc_deadline *deadline, const struct timespec *at);

/*
 * Puts the deadline's token back as ready: the next wait reports it (with
 * the kernel's events, without blocking), as if data were still waiting. A
 * loop that caps the work it does per event calls it for a source it left
 * ready, so that it is served again after the others. The same as
 * evsrc_deadline_set() with a time in the past; no system call unless
 * another thread is waiting on the poll.
 * Errors: -EINVAL if deadline is NULL; -ENOENT if it is not registered;
 * -ECHILD as for evsrc_deadline_set(). Thread-safe.
 */
EVSRC_EXPORT int evsrc_deadline_ready_again(struct evsrc_deadline *deadline);

/*
 * Clears a registered deadline: nothing is reported until it is set again.
 * Returns 1 if it was set, 0 if it was not.
 * Errors: -EINVAL if deadline is NULL; -ENOENT if it is not registered;
 * -ECHILD as for evsrc_deadline_set(). Thread-safe.
 */
EVSRC_EXPORT int evsrc_deadline_clear(struct evsrc_deadline *deadline);

/*
 * Whether the deadline is set (registered, set, and not yet reported). A
 * snapshot: another thread, or the wait that reports it, may change it.
 * false for NULL. Thread-safe.
 */
EVSRC_EXPORT bool evsrc_deadline_is_set(const struct evsrc_deadline *deadline);

EVSRC_END_DECLS

#endif /* EVSRC_DEADLINE_H */
