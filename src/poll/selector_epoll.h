/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_SELECTOR_EPOLL_H
#define EVSRC_SELECTOR_EPOLL_H

/* The epoll selector backend. See selector.h for the interface. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <evsrc/events.h>
#include <evsrc/interest.h>

/* The public event layout is the kernel's, so epoll writes events in place. */
_Static_assert(sizeof(struct evsrc_event) == sizeof(struct epoll_event), "event size");
_Static_assert(offsetof(struct evsrc_event, flags) == offsetof(struct epoll_event, events),
               "event flags offset");
#if defined(__x86_64__)
_Static_assert(offsetof(struct evsrc_event, token_bytes) == offsetof(struct epoll_event, data),
               "event token offset");
#else
_Static_assert(offsetof(struct evsrc_event, token) == offsetof(struct epoll_event, data),
               "event token offset");
#endif
_Static_assert(EVSRC_EVENT_FLAG_IN == EPOLLIN && EVSRC_EVENT_FLAG_PRI == EPOLLPRI &&
                   EVSRC_EVENT_FLAG_OUT == EPOLLOUT && EVSRC_EVENT_FLAG_ERR == EPOLLERR &&
                   EVSRC_EVENT_FLAG_HUP == EPOLLHUP && EVSRC_EVENT_FLAG_RDHUP == EPOLLRDHUP,
               "event flags are epoll's");
_Static_assert(EVSRC_EVENTS_CAPACITY_MAX <= INT_MAX / sizeof(struct epoll_event),
               "capacity fits one epoll_wait");

static inline int selector_open(void)
{
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static inline int selector_clone(int selector)
{
    int fd = fcntl(selector, F_DUPFD_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

static inline void selector_close(int selector)
{
    close(selector);
}

/* mio's mapping: read interest also asks for RDHUP so a peer's FIN is seen. */
static inline uint32_t selector_epoll_flags(evsrc_interest interests)
{
    uint32_t flags = (interests & EVSRC_LEVEL) ? 0 : EPOLLET;
    if (interests & EVSRC_READABLE)
        flags |= EPOLLIN | EPOLLRDHUP;
    if (interests & EVSRC_WRITABLE)
        flags |= EPOLLOUT;
    if (interests & EVSRC_PRIORITY)
        flags |= EPOLLPRI;
    if (interests & EVSRC_ONESHOT)
        flags |= EPOLLONESHOT;
    return flags;
}

static inline int selector_control(int selector, int op, int fd, evsrc_token token,
                                   evsrc_interest interests)
{
    struct epoll_event event = {.events = selector_epoll_flags(interests), .data = {.u64 = token}};
    return epoll_ctl(selector, op, fd, &event) < 0 ? -errno : 0;
}

static inline int selector_add(int selector, int fd, evsrc_token token, evsrc_interest interests)
{
    return selector_control(selector, EPOLL_CTL_ADD, fd, token, interests);
}

static inline int selector_modify(int selector, int fd, evsrc_token token, evsrc_interest interests)
{
    return selector_control(selector, EPOLL_CTL_MOD, fd, token, interests);
}

static inline int selector_delete(int selector, int fd)
{
    return epoll_ctl(selector, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

/* Whole milliseconds, rounded up so a timeout is never cut short, capped at INT_MAX. */
static inline int selector_timeout_ms(const struct timespec *timeout)
{
    if (timeout->tv_sec >= INT_MAX / 1000)
        return INT_MAX;
    long long ms = (long long)timeout->tv_sec * 1000 + (timeout->tv_nsec + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/*
 * On x86-64 the unbounded wait is the raw system call, which returns -errno
 * itself: libc's wrapper and its errno round trip would cost more user-space
 * instructions per event than the rest of evsrc does. Not under ThreadSanitizer
 * or MemorySanitizer, whose epoll_wait interceptors must see the call. The raw
 * call is not a pthread cancellation point; poll.h says so.
 */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define SELECTOR_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SELECTOR_SANITIZED 1
#endif

static inline long selector_wait_forever(int selector, struct evsrc_event *buffer, int capacity)
{
#if defined(__x86_64__) && defined(SYS_epoll_wait) && !defined(SELECTOR_SANITIZED)
    register long timeout __asm__("r10") = -1;
    long result = SYS_epoll_wait;
    __asm__ volatile("syscall"
                     : "+a"(result)
                     : "D"((long)selector), "S"(buffer), "d"((long)capacity), "r"(timeout)
                     : "rcx", "r11", "memory");
    return result;
#else
    int n = epoll_wait(selector, (struct epoll_event *)(void *)buffer, capacity, -1);
    return n < 0 ? -errno : n;
#endif
}

static inline int selector_wait(int selector, struct evsrc_event *buffer, int capacity,
                                const struct timespec *timeout)
{
    /* Cleared once epoll_pwait2 answers ENOSYS (kernels before 5.11). */
    static atomic_bool has_pwait2 = true;
    struct epoll_event *events = (struct epoll_event *)(void *)buffer;
    int n;
    if (!timeout) {
        n = epoll_wait(selector, events, capacity, -1);
    } else if (timeout->tv_nsec % 1000000 == 0 && timeout->tv_sec < INT_MAX / 1000) {
        /* Exact in milliseconds: plain epoll_wait, the cheapest call. */
        n = epoll_wait(selector, events, capacity, selector_timeout_ms(timeout));
    } else {
#if defined(EVSRC_HAVE_EPOLL_PWAIT2)
        if (atomic_load_explicit(&has_pwait2, memory_order_relaxed)) {
            n = epoll_pwait2(selector, events, capacity, timeout, NULL);
            if (n >= 0 || errno != ENOSYS)
                return n < 0 ? -errno : n;
            atomic_store_explicit(&has_pwait2, false, memory_order_relaxed);
        }
#endif
        n = epoll_wait(selector, events, capacity, selector_timeout_ms(timeout));
    }
    return n < 0 ? -errno : n;
}

#endif /* EVSRC_SELECTOR_EPOLL_H */
