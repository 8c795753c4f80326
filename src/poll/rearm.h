/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_REARM_H
#define EVSRC_REARM_H

/*
 * What the built-in sources tell the selector about their fds, for a backend
 * that emulates edge triggering in user space (poll, and Windows' AFD:
 * docs/backends.md). On
 * epoll the kernel keeps the edge, and both calls compile to nothing.
 *
 * registry_fd_rearm(fd): the source's own I/O on fd returned -EAGAIN (or
 *   drained a counter such as a timerfd's), so an edge-triggered registration
 *   of fd that reported and was disarmed waits for readiness again.
 * registry_fd_forget(fd): fd is about to be closed by the library; its
 *   registrations end, as the kernel ends an epoll registration on close.
 * Both are thread-safe and allocate nothing.
 */

#if defined(EVSRC_SELECTOR_POLL) || defined(EVSRC_SELECTOR_AFD)
void registry_fd_rearm(int fd);
void registry_fd_forget(int fd);
#else
static inline void registry_fd_rearm(int fd)
{
    (void)fd;
}

static inline void registry_fd_forget(int fd)
{
    (void)fd;
}
#endif

#endif /* EVSRC_REARM_H */
