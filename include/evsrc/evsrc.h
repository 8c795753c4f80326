/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_EVSRC_H
#define EVSRC_EVSRC_H

/*
 * evsrc: a readiness event queue over Linux epoll, designed after Rust's mio.
 * This header includes every public header; include the ones you use or this
 * one, as you prefer.
 *
 * Conventions every header follows: a fallible call returns a non-negative
 * value on success and -errno on failure, never aborts, prints or raises a
 * signal. When a call has several things wrong with it, the argument errors
 * (-EINVAL for a NULL pointer or a value out of range) are reported before
 * the state errors (-EBADF for a closed source, -ENOENT, -EEXIST). Every fd
 * the library creates is close-on-exec and non-blocking.
 */

#include <evsrc/export.h>
#include <evsrc/version.h>
#include <evsrc/interest.h>
#include <evsrc/events.h>
#include <evsrc/poll.h>
#include <evsrc/registry.h>
#include <evsrc/source.h>
#include <evsrc/waker.h>
#include <evsrc/tcp.h>
#include <evsrc/pipe.h>
#include <evsrc/timerfd.h>
#include <evsrc/timers.h>

#endif /* EVSRC_EVSRC_H */
