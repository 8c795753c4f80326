/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_EVSRC_H
#define EVSRC_EVSRC_H

/*
 * evsrc: a readiness event queue over Linux epoll, designed after Rust's mio.
 * This header includes every public header; include the ones you use or this
 * one, as you prefer.
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

#endif /* EVSRC_EVSRC_H */
