/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_TIMERFD_H
#define EVSRC_TIMERFD_H

/*
 * Linux only: Windows builds have no such source (README, docs/backends.md).
 *
 * Timers: a Linux timerfd as a source that becomes readable when it expires.
 *
 * The timer is a caller-owned struct (stack, heap or embedded) that owns its
 * fd from a successful evsrc_timerfd_new() or evsrc_timerfd_from_fd() until
 * evsrc_timerfd_close(), which the caller must call. Register it as
 * &timer->source with EVSRC_READABLE.
 *
 * Read it on every event. An expiry makes the timer readable;
 * evsrc_timerfd_read() returns how many expiries happened since the last
 * read and makes it unreadable again. Registered edge-triggered (the
 * default), a periodic timer that is not read produces no further event,
 * however many periods pass, because the kernel re-arms it only when it is
 * read: the count it then returns includes the periods missed.
 *
 * Clock ids: CLOCK_MONOTONIC, CLOCK_BOOTTIME and CLOCK_REALTIME come from
 * <time.h>, which declares them only for POSIX: a program compiled with
 * -std=c11 must define _POSIX_C_SOURCE as 199309L or later (or _GNU_SOURCE)
 * before its first #include. This header needs nothing defined itself.
 *
 * The fields of the struct are private: use the functions below.
 * Thread-safety: set, read, get and fd may run on one timer in several
 * threads at once (each is one system call on the fd). new, from_fd and
 * close must not race with any other use of the same timer, as with
 * close(2). Distinct timers are independent.
 */

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <evsrc/export.h>
#include <evsrc/source.h>
#include <evsrc/version.h>

/* The includer's struct timespec must be the library's (see version.h). */
EVSRC_CHECK_TIME_T_SIZE;

EVSRC_BEGIN_DECLS

/* A timerfd. */
struct evsrc_timerfd {
    struct evsrc_source source; /* register this */
    int fd;                     /* private: -1 when closed */
};

/* evsrc_timerfd_set() flag: `initial` is an absolute time on the timer's clock. */
#define EVSRC_TIMERFD_ABSTIME 0x1

/*
 * Creates a disarmed timer on `clock`, which must be CLOCK_MONOTONIC (time
 * since boot, stopped while the system is suspended), CLOCK_BOOTTIME (the
 * same, counting suspend) or CLOCK_REALTIME (wall-clock time, which can
 * jump). The fd is non-blocking and close-on-exec. The struct needs no
 * initialisation beforehand (it must not hold an open timer, whose fd would
 * leak).
 * Errors: -EINVAL if timer is NULL or clock is another clock;
 * -EMFILE/-ENFILE when out of fds; -ENOMEM. On error no fd is left open and
 * the timer (if not NULL) is left closed (closing it is -EBADF).
 * Thread-safety: not alongside any other call on the same struct (as with
 * close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_timerfd_new(struct evsrc_timerfd *timer, clockid_t clock);

/*
 * Adopts `fd`, a timerfd made elsewhere (on any clock, e.g. an alarm clock
 * that needs privileges, or with flags this API does not offer), as a timer.
 * On success the timer owns fd and has made it non-blocking; its
 * close-on-exec flag and its settings are left as they are. The struct needs
 * no initialisation beforehand.
 * Errors: -EINVAL if timer is NULL or fd is not a timerfd; -EBADF if fd is
 * negative or not open. On error fd is still the caller's, open and
 * unchanged, and the timer (if not NULL) is left closed.
 * Thread-safety: not alongside any other call on the same struct (as with
 * close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_timerfd_from_fd(struct evsrc_timerfd *timer, int fd);

/*
 * Arms or disarms the timer, replacing any earlier setting and discarding
 * expiries not yet read.
 *
 * initial: when the timer first expires: a delay from now, or with
 *   EVSRC_TIMERFD_ABSTIME a time on the timer's clock (a time already past
 *   expires at once). NULL or {0, 0} disarms the timer; interval is then
 *   only checked for validity, and not kept.
 * interval: the period after the first expiry. NULL or {0, 0} makes a
 *   one-shot timer.
 * flags: 0 or EVSRC_TIMERFD_ABSTIME.
 *
 * Errors: -EINVAL if timer is NULL, flags has another bit, or a timespec has
 * a negative field or tv_nsec >= 1000000000; -EBADF if the timer is closed.
 * On error the timer's setting is unchanged.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT int evsrc_timerfd_set(struct evsrc_timerfd *timer, const struct timespec *initial,
                                   const struct timespec *interval, int flags);

/*
 * Stores in *expirations the number of expiries since the timer was set or
 * last read (at least 1) and resets that count.
 * Errors: -EINVAL if timer or expirations is NULL; -EBADF if the timer is
 * closed; -EAGAIN if it has not expired since (the normal outcome of a
 * spurious event); -ECANCELED for an adopted timer set to be cancelled on a
 * clock change, when the clock changed. *expirations is unchanged on error.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT int evsrc_timerfd_read(struct evsrc_timerfd *timer, uint64_t *expirations);

/*
 * Stores the time left until the next expiry in *remaining ({0, 0} when the
 * timer is disarmed, or has expired once as a one-shot) and the period in
 * *interval ({0, 0} for a one-shot or disarmed timer). Either pointer may be
 * NULL when that value is not wanted. The remaining time is relative even
 * if the timer was set with EVSRC_TIMERFD_ABSTIME.
 *
 * On a periodic timer that has expired and not been read yet, this call
 * (the kernel's timerfd_gettime(), which nothing in user space can avoid)
 * moves the timer on to its next period and re-arms it: the expiry count is
 * kept, but the next expiry is reported as a new readable edge although no
 * read happened. With edge-triggered registrations, expect that extra
 * event; a read (evsrc_timerfd_read()) before get avoids it.
 *
 * Errors: -EINVAL if timer is NULL; -EBADF if it is closed. Nothing is
 * stored on error.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT int evsrc_timerfd_get(const struct evsrc_timerfd *timer, struct timespec *remaining,
                                   struct timespec *interval);

/*
 * The timer's fd, borrowed: it stays owned by the timer, so do not close it,
 * and do not use it after the timer is closed.
 * Errors: -EINVAL if timer is NULL; -EBADF if it is closed.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT int evsrc_timerfd_fd(const struct evsrc_timerfd *timer);

/*
 * Closes the timer's fd, which also removes it from any queue it is
 * registered with (deregister first if the fd was duplicated), and marks the
 * timer closed so that it can be set up again.
 * Errors: -EINVAL if timer is NULL; -EBADF if it is already closed (no fd is
 * touched then).
 * Thread-safety: not alongside any other call on the same struct (as with
 * close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_timerfd_close(struct evsrc_timerfd *timer);

EVSRC_END_DECLS

#endif /* EVSRC_TIMERFD_H */
