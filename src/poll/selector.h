/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_SELECTOR_H
#define EVSRC_SELECTOR_H

/*
 * The internal selector interface: what poll.c and registry.c need from a
 * kernel readiness mechanism. A backend is a header of static inline
 * functions (as Redis's ae includes ae_epoll.c), picked at build time, so the
 * interface costs no indirect call on the hot path. Each backend defines:
 *
 *   int  selector_open(void);                       new queue fd, or -errno
 *   int  selector_clone(int selector);              another fd for the same queue, or -errno
 *   void selector_close(int selector);
 *   int  selector_add(int selector, int fd, evsrc_token, evsrc_interest);     0 or -errno
 *   int  selector_modify(int selector, int fd, evsrc_token, evsrc_interest);  0 or -errno
 *   int  selector_delete(int selector, int fd);                               0 or -errno
 *   long selector_wait_forever(int selector, struct evsrc_event *buffer, int capacity);
 *                                                   count or -errno, no timeout
 *   int  selector_wait(int selector, struct evsrc_event *buffer, int capacity,
 *                      const struct timespec *timeout);  count or -errno; timeout valid, not NULL
 *
 * and stores events in the public struct evsrc_event layout, translating its
 * flags to EVSRC_EVENT_FLAG_* if they differ. Interests reach a backend
 * already validated. Only backends include kernel headers such as
 * <sys/epoll.h>.
 */

#include <evsrc/events.h>
#include <evsrc/interest.h>

#if defined(EVSRC_SELECTOR_EPOLL)
#include "selector_epoll.h"
#else
#error "no selector backend selected"
#endif

#endif /* EVSRC_SELECTOR_H */
