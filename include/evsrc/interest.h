/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_INTEREST_H
#define EVSRC_INTEREST_H

/*
 * Tokens and interests: what a registration is called and what it waits for.
 */

#include <stdint.h>

#include <evsrc/export.h>

EVSRC_BEGIN_DECLS

/*
 * A token names a registration. evsrc hands it back untouched in every event
 * for that registration. Any 64-bit value is allowed, including 0 and
 * UINT64_MAX; a pointer round-trips through (evsrc_token)(uintptr_t)ptr.
 * Tokens need not be unique: two registrations under one token report under
 * it alike (a composite source uses that).
 */
typedef uint64_t evsrc_token;

/*
 * A set of readiness kinds to wait for, as bits OR'd together, optionally
 * with one or both trigger modifiers.
 *
 * At least one of EVSRC_READABLE, EVSRC_WRITABLE and EVSRC_PRIORITY must be
 * set: an empty set, a set holding only modifiers, or any bit not defined
 * here is rejected with -EINVAL by every call that takes interests.
 */
typedef uint32_t evsrc_interest;

/* Data can be read, or the peer closed its write side (read-closed). */
#define EVSRC_READABLE ((evsrc_interest)0x01u)
/* Data can be written, or the peer went away (write-closed, error). */
#define EVSRC_WRITABLE ((evsrc_interest)0x02u)
/* Urgent data is available: TCP out-of-band data, sysfs/procfs notifications. */
#define EVSRC_PRIORITY ((evsrc_interest)0x04u)

/*
 * Trigger modifiers. Without them a registration is edge-triggered, as in
 * mio: an event reports a change of readiness, and the fd must be drained
 * (read or written until -EAGAIN) before another event is owed.
 *
 * EVSRC_LEVEL: level-triggered. An event is reported by every wait while the
 *   fd is ready, so the loop may read once per event and skip the final read
 *   that returns -EAGAIN.
 * EVSRC_ONESHOT: after one event the registration is disarmed (it stays
 *   registered but reports nothing) until it is reregistered. It suits fds
 *   that cannot be drained, and hands one event to exactly one waiter.
 * Both together mean what epoll means: one level-triggered report, then
 * disarmed.
 */
#define EVSRC_LEVEL ((evsrc_interest)0x100u)
#define EVSRC_ONESHOT ((evsrc_interest)0x200u)

EVSRC_END_DECLS

#endif /* EVSRC_INTEREST_H */
