/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_SELECTOR_EPOLL_H
#define EVSRC_SELECTOR_EPOLL_H

/* The epoll selector backend. See selector.h for the interface. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
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

/* A queue is the epoll fd; a clone is a duplicate of it. */
typedef int selector_t;

static inline int selector_open(selector_t *out)
{
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* epoll_create1 takes no O_NONBLOCK, and every fd the library makes is non-blocking (evsrc.h). */
    if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    *out = fd;
    return 0;
}

static inline int selector_clone(selector_t selector, selector_t *out)
{
    int fd = fcntl(selector, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    *out = fd;
    return 0;
}

static inline void selector_close(selector_t selector)
{
    close(selector);
}

static inline int selector_handle_fd(selector_t selector)
{
    return selector;
}

/*
 * mio's mapping: read interest also asks for RDHUP so a peer's FIN is seen;
 * edge-triggered unless EVSRC_LEVEL. Valid interests have 3 kind bits and 2
 * modifier bits, so a 32-entry table indexed by them replaces a chain of
 * tests on the register path.
 */
#define SELECTOR_KIND_FLAGS(k) \
    (((k) & 1 ? EPOLLIN | EPOLLRDHUP : 0u) | ((k) & 2 ? EPOLLOUT : 0u) | ((k) & 4 ? EPOLLPRI : 0u))
#define SELECTOR_FLAGS(i) \
    (SELECTOR_KIND_FLAGS(i) | ((i) & 8 ? 0u : (uint32_t)EPOLLET) | ((i) & 16 ? (uint32_t)EPOLLONESHOT : 0u))
_Static_assert(EVSRC_READABLE == 1 && EVSRC_WRITABLE == 2 && EVSRC_PRIORITY == 4 && EVSRC_LEVEL >> 5 == 8 &&
                   EVSRC_ONESHOT >> 5 == 16,
               "the table's index layout");

static inline uint32_t selector_epoll_flags(evsrc_interest interests)
{
    static const uint32_t table[32] = {
        SELECTOR_FLAGS(0),  SELECTOR_FLAGS(1),  SELECTOR_FLAGS(2),  SELECTOR_FLAGS(3),  SELECTOR_FLAGS(4),
        SELECTOR_FLAGS(5),  SELECTOR_FLAGS(6),  SELECTOR_FLAGS(7),  SELECTOR_FLAGS(8),  SELECTOR_FLAGS(9),
        SELECTOR_FLAGS(10), SELECTOR_FLAGS(11), SELECTOR_FLAGS(12), SELECTOR_FLAGS(13), SELECTOR_FLAGS(14),
        SELECTOR_FLAGS(15), SELECTOR_FLAGS(16), SELECTOR_FLAGS(17), SELECTOR_FLAGS(18), SELECTOR_FLAGS(19),
        SELECTOR_FLAGS(20), SELECTOR_FLAGS(21), SELECTOR_FLAGS(22), SELECTOR_FLAGS(23), SELECTOR_FLAGS(24),
        SELECTOR_FLAGS(25), SELECTOR_FLAGS(26), SELECTOR_FLAGS(27), SELECTOR_FLAGS(28), SELECTOR_FLAGS(29),
        SELECTOR_FLAGS(30), SELECTOR_FLAGS(31),
    };
    return table[(interests & 7) | ((interests >> 5) & 0x18)];
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

/* Edge-triggered: every write to the eventfd is a new edge, so nobody needs to read it. */
static inline int selector_add_waker(int selector, int fd, evsrc_token token)
{
    return selector_add(selector, fd, token, EVSRC_READABLE);
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
 * or MemorySanitizer, whose epoll_wait interceptors must see the call.
 *
 * No wait is a pthread cancellation point (poll.h): the raw call is not one,
 * and every wait through libc (timed waits, other architectures, sanitizers)
 * runs with cancellation disabled, so one rule holds everywhere.
 */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define SELECTOR_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SELECTOR_SANITIZED 1
#endif

/* Disables cancellation around a libc wait; returns the state to restore. */
static inline int selector_cancel_off(void)
{
    int old = PTHREAD_CANCEL_ENABLE;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    return old;
}

static inline void selector_cancel_restore(int old)
{
    int ignored;
    pthread_setcancelstate(old, &ignored);
}

/* epoll_wait through libc, never a cancellation point: count or -errno. */
static inline int selector_epoll_wait(int selector, struct epoll_event *events, int capacity, int timeout_ms)
{
    int old = selector_cancel_off();
    int n = epoll_wait(selector, events, capacity, timeout_ms);
    n = n < 0 ? -errno : n;
    selector_cancel_restore(old);
    return n;
}

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
    return selector_epoll_wait(selector, (struct epoll_event *)(void *)buffer, capacity, -1);
#endif
}

#if defined(EVSRC_HAVE_EPOLL_PWAIT2)
/*
 * Whether epoll_pwait2 is there: unknown until the first call, then present,
 * or absent once it answered ENOSYS (kernels before 5.11) or EPERM (seccomp
 * profiles that refuse system calls they do not know). Absent is final.
 */
enum { SELECTOR_PWAIT2_UNKNOWN, SELECTOR_PWAIT2_PRESENT, SELECTOR_PWAIT2_ABSENT };

/*
 * Test hook, not API: with EVSRC_TEST_EPOLL_PWAIT2=ENOSYS or =EPERM in the
 * environment when the first sub-millisecond wait runs, that first call
 * answers that error without reaching the kernel, so a test suite runs as on
 * a kernel without epoll_pwait2 (tests/meson.build's nopwait2* setups). Read
 * once, on the probe; secure_getenv, so set-user-ID programs ignore it.
 */
static inline int selector_pwait2_probe_error(void)
{
    const char *simulate = secure_getenv("EVSRC_TEST_EPOLL_PWAIT2");
    if (!simulate)
        return 0;
    if (strcmp(simulate, "ENOSYS") == 0)
        return -ENOSYS;
    if (strcmp(simulate, "EPERM") == 0)
        return -EPERM;
    return 0;
}

/* epoll_pwait2 while it may be there: count or -errno; -ENOSYS once it is known to be absent. */
static inline int selector_pwait2(int selector, struct epoll_event *events, int capacity,
                                  const struct timespec *timeout)
{
    static atomic_int state = SELECTOR_PWAIT2_UNKNOWN;
    int known = atomic_load_explicit(&state, memory_order_relaxed);
    if (known == SELECTOR_PWAIT2_ABSENT)
        return -ENOSYS;
    int n = known == SELECTOR_PWAIT2_UNKNOWN ? selector_pwait2_probe_error() : 0;
    if (n == 0) {
        int old = selector_cancel_off();
        n = epoll_pwait2(selector, events, capacity, timeout, NULL);
        n = n < 0 ? -errno : n;
        selector_cancel_restore(old);
    }
    if (n == -ENOSYS || n == -EPERM) {
        atomic_store_explicit(&state, SELECTOR_PWAIT2_ABSENT, memory_order_relaxed);
        return -ENOSYS;
    }
    if (n >= 0 && known == SELECTOR_PWAIT2_UNKNOWN)
        atomic_store_explicit(&state, SELECTOR_PWAIT2_PRESENT, memory_order_relaxed);
    return n;
}
#endif

static inline int selector_wait(int selector, struct evsrc_event *buffer, int capacity,
                                const struct timespec *timeout)
{
    struct epoll_event *events = (struct epoll_event *)(void *)buffer;
    /* Exact in milliseconds: plain epoll_wait, the cheapest call. */
    if (timeout->tv_nsec % 1000000 == 0 && timeout->tv_sec < INT_MAX / 1000)
        return selector_epoll_wait(selector, events, capacity, selector_timeout_ms(timeout));
#if defined(EVSRC_HAVE_EPOLL_PWAIT2)
    int n = selector_pwait2(selector, events, capacity, timeout);
    if (n != -ENOSYS)
        return n;
#endif
    /* No epoll_pwait2 (old kernel, refused, or a libc without it): rounded up to milliseconds. */
    return selector_epoll_wait(selector, events, capacity, selector_timeout_ms(timeout));
}

#endif /* EVSRC_SELECTOR_EPOLL_H */
