/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_EVSRC_H
#define EVSRC_EVSRC_H

/*
 * evsrc: a readiness event queue over Linux epoll (or poll(2)) and Windows
 * I/O completion ports, designed after Rust's mio.
 * This header includes every public header; include the ones you use or this
 * one, as you prefer.
 *
 * Conventions every header follows: a fallible call returns a non-negative
 * value on success and -errno on failure, never aborts, prints or raises a
 * signal. When a call has several things wrong with it, the argument errors
 * (-EINVAL for a NULL pointer or a value out of range) are reported before
 * the state errors (-EBADF for a closed source, -ENOENT, -EEXIST). Every fd
 * the library creates is close-on-exec and non-blocking.
 *
 * <evsrc/signal.h> and <evsrc/process.h> need POSIX types (sigset_t,
 * siginfo_t), so this header includes them only when POSIX.1-2008 is visible:
 * with _POSIX_C_SOURCE >= 200809L, _XOPEN_SOURCE >= 700, _GNU_SOURCE or
 * _DEFAULT_SOURCE, or in the compiler's default GNU mode. Under strict ISO C
 * (-std=c11) define _POSIX_C_SOURCE=200809L to get them.
 */

#include <evsrc/export.h>
#include <evsrc/version.h>
#include <evsrc/interest.h>
#include <evsrc/events.h>
#include <evsrc/poll.h>
#include <evsrc/registry.h>
#include <evsrc/source.h>
#include <evsrc/deadline.h>
#include <evsrc/waker.h>
#include <evsrc/tcp.h>
#include <evsrc/udp.h>
#include <evsrc/timers.h>
#include <evsrc/address.h>
#include <evsrc/write_queue.h>
/* The Linux-only sources (README: which platforms run which sources). */
#if !defined(_WIN32)
#include <evsrc/pipe.h>
#include <evsrc/timerfd.h>
#include <evsrc/eventfd.h>
#include <evsrc/inotify.h>
/* glibc's <features.h>, pulled in above, defines _POSIX_C_SOURCE in the GNU and default modes. */
#if (defined(_POSIX_C_SOURCE) && _POSIX_C_SOURCE >= 200809L) || (defined(_XOPEN_SOURCE) && _XOPEN_SOURCE >= 700) || \
    defined(_GNU_SOURCE) || defined(_DEFAULT_SOURCE)
#include <evsrc/signal.h>
#include <evsrc/process.h>
#endif
#include <evsrc/unix.h>
#endif

#endif /* EVSRC_EVSRC_H */
