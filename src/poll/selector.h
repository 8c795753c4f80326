/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_SELECTOR_H
#define EVSRC_SELECTOR_H

/*
 * The internal selector interface: what poll.c, registry.c and waker.c need
 * from a kernel readiness mechanism. One backend is compiled, chosen with
 * meson -Dselector=<name>; nothing outside the backend knows which. A backend
 * is either a header of static inline functions (epoll: the hot path then
 * costs no call, as Redis's ae includes ae_epoll.c) or a .c file behind the
 * prototypes below (poll). docs/backends.md tells how to add one.
 *
 * A queue is a `selector_t`, whatever the backend makes it: epoll's is the
 * epoll fd; poll's is a pointer to a reference-counted object.
 *
 *   int  selector_open(selector_t *out);            a new queue: 0 or -errno
 *   int  selector_clone(selector_t, selector_t *out); another handle to the same queue
 *   void selector_close(selector_t);                 drops one handle; the last ends the queue
 *   int  selector_handle_fd(selector_t);             an fd of the handle's own, that a fork
 *                                                    child's copy may be poisoned through (queue.c)
 *   int  selector_backend_fd(selector_t);            an fd that polls readable while the queue has
 *                                                    events, for embedding (poll.h); -EOPNOTSUPP if none
 *   int  selector_add(selector_t, int fd, evsrc_token, evsrc_interest);     0 or -errno
 *   int  selector_modify(selector_t, int fd, evsrc_token, evsrc_interest);  0 or -errno
 *   int  selector_delete(selector_t, int fd);                               0 or -errno
 *   int  selector_add_waker(selector_t, int fd, evsrc_token);  a waker's eventfd: one readable
 *                                                    event per batch of writes, never read by the user
 *                                                    (the Linux backends' waker form only)
 *
 * The waker form, which waker.c is written against: each backend has its own
 * (Linux: an eventfd, waker_eventfd.h; Windows: a posted completion).
 *   selector_waker_t                                 a waker's state, inside struct evsrc_waker
 *   int  selector_waker_open(selector_t, evsrc_token, selector_waker_t *out);  0 or -errno;
 *                                                    the waker outlives every handle of the queue
 *   int  selector_waker_wake(selector_waker_t *);    0 or -errno; errno may change (waker.c keeps it)
 *   void selector_waker_close(selector_waker_t *);
 *
 * The deadline table's wake-up (deadline.c), one per poll: a way for another
 * thread to make a blocked wait return. Linux: an eventfd (wake_eventfd.h);
 * Windows: a waker whose token each post sets (selector_afd.c).
 *   selector_wake_t, SELECTOR_WAKE_CLOSED            its state, and the closed one
 *   bool selector_wake_is_open(const selector_wake_t *);
 *   int  selector_wake_open(selector_t, evsrc_token, selector_wake_t *out);  0 or -errno
 *   int  selector_wake_post(selector_wake_t *, selector_t, evsrc_token);  0 or -errno: the
 *                                                    blocked (or next) wait returns, perhaps with
 *                                                    a spurious event for the token
 *   int  selector_wake_take_back(selector_wake_t *); 0 or -errno: a post not reported yet is
 *                                                    not reported at all
 *   void selector_wake_close(selector_wake_t *);     with its queue, which is closing or gone
 *   void selector_wake_remove(selector_wake_t *, selector_t);  out of a queue that stays open
 *
 *   long selector_wait_forever(selector_t, struct evsrc_event *buffer, int capacity);
 *                                                    count or -errno, no timeout
 *   long selector_wait_now(selector_t, struct evsrc_event *buffer, int capacity);
 *                                                    count or -errno, the zero timeout
 *   int  selector_wait(selector_t, struct evsrc_event *buffer, int capacity,
 *                      const struct timespec *timeout);  count or -errno; timeout valid, not NULL
 *
 * Events are stored in the public struct evsrc_event layout with
 * EVSRC_EVENT_FLAG_* flags. selector_add and selector_modify validate the
 * interests themselves (-EINVAL, before anything else: epoll folds that into
 * the lookup that translates them) and answer -EBADF for a negative fd. A backend answers as epoll does: -EEXIST, -ENOENT, -EBADF,
 * -EPERM for a regular file, and -ECHILD for a queue inherited through
 * fork(). Waits are never pthread cancellation points. Only backends include
 * kernel headers such as <sys/epoll.h>.
 *
 * rearm.h holds the two calls the built-in sources make about their fds
 * (would-block seen, fd closing), which a backend that emulates edge
 * triggering needs and epoll does not.
 */

#include <time.h>

#include <stdbool.h>
#include <string.h>

#include <evsrc/events.h>
#include <evsrc/interest.h>

/*
 * A valid interest set: at least one kind, and nothing but kinds and the two
 * modifiers. The one rule for the registry's source-level calls and for a
 * backend that validates with plain tests (epoll's lookup table encodes the
 * same rule).
 */
static inline bool selector_interests_are_valid(evsrc_interest interests)
{
    const evsrc_interest kinds = EVSRC_READABLE | EVSRC_WRITABLE | EVSRC_PRIORITY;
    return (interests & kinds) != 0 && (interests & ~(kinds | EVSRC_LEVEL | EVSRC_ONESHOT)) == 0;
}

/* Stores one event in the public layout, for a backend or a report that the kernel does not write itself. */
static inline void selector_event_store(struct evsrc_event *event, evsrc_token token, uint32_t flags)
{
    event->flags = flags;
#if defined(__x86_64__)
    memcpy(event->token_bytes, &token, sizeof token);
#else
    event->token = token;
#endif
}

#if defined(EVSRC_SELECTOR_EPOLL)
#include "selector_epoll.h"
#include "wake_eventfd.h"
#include "waker_eventfd.h"
#elif defined(EVSRC_SELECTOR_POLL)
typedef struct selector_poll *selector_t;
int selector_open(selector_t *out);
int selector_clone(selector_t selector, selector_t *out);
void selector_close(selector_t selector);
int selector_handle_fd(selector_t selector);
int selector_backend_fd(selector_t selector);
int selector_add(selector_t selector, int fd, evsrc_token token, evsrc_interest interests);
int selector_modify(selector_t selector, int fd, evsrc_token token, evsrc_interest interests);
int selector_delete(selector_t selector, int fd);
int selector_add_waker(selector_t selector, int fd, evsrc_token token);
long selector_wait_forever(selector_t selector, struct evsrc_event *buffer, int capacity);
long selector_wait_now(selector_t selector, struct evsrc_event *buffer, int capacity);
int selector_wait(selector_t selector, struct evsrc_event *buffer, int capacity, const struct timespec *timeout);
#include "wake_eventfd.h"
#include "waker_eventfd.h"
#elif defined(EVSRC_SELECTOR_AFD)
/* Windows: an I/O completion port and AFD polls (selector_afd.c, docs/backends.md). */
#include <evsrc/platform.h>
typedef struct selector_afd *selector_t;
typedef struct selector_afd_waker *selector_waker_t;
int selector_open(selector_t *out);
int selector_clone(selector_t selector, selector_t *out);
void selector_close(selector_t selector);
int selector_handle_fd(selector_t selector);
int selector_backend_fd(selector_t selector);
int selector_add(selector_t selector, evsrc_fd fd, evsrc_token token, evsrc_interest interests);
int selector_modify(selector_t selector, evsrc_fd fd, evsrc_token token, evsrc_interest interests);
int selector_delete(selector_t selector, evsrc_fd fd);
long selector_wait_forever(selector_t selector, struct evsrc_event *buffer, int capacity);
long selector_wait_now(selector_t selector, struct evsrc_event *buffer, int capacity);
int selector_wait(selector_t selector, struct evsrc_event *buffer, int capacity, const struct timespec *timeout);
int selector_waker_open(selector_t selector, evsrc_token token, selector_waker_t *out);
int selector_waker_wake(selector_waker_t *waker);
void selector_waker_close(selector_waker_t *waker);
/* The deadline table's wake-up: a waker whose token each post sets, and whose post may be taken back. */
typedef struct {
    selector_waker_t waker; /* NULL while closed */
} selector_wake_t;
#define SELECTOR_WAKE_CLOSED ((selector_wake_t){NULL})
bool selector_wake_is_open(const selector_wake_t *wake);
int selector_wake_open(selector_t selector, evsrc_token token, selector_wake_t *out);
int selector_wake_post(selector_wake_t *wake, selector_t selector, evsrc_token token);
int selector_wake_take_back(selector_wake_t *wake);
void selector_wake_close(selector_wake_t *wake);
void selector_wake_remove(selector_wake_t *wake, selector_t selector);
#else
#error "no selector backend selected"
#endif

#endif /* EVSRC_SELECTOR_H */
