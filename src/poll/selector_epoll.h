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

/*
 * On x86-64 the unbounded and zero-timeout waits and epoll_ctl are raw system
 * calls, which return -errno themselves: libc's wrappers and their errno round
 * trip would cost more user-space instructions per event (and per register +
 * deregister pair) than the rest of evsrc does (bench/instructions). Not under
 * ThreadSanitizer or MemorySanitizer, whose interceptors must see the calls.
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

#if defined(__x86_64__) && defined(SYS_epoll_wait) && defined(SYS_epoll_ctl) && !defined(SELECTOR_SANITIZED)
#define SELECTOR_RAW_SYSCALLS 1
/* A four-argument system call: the result, or -errno. */
static inline long selector_syscall4(long number, long a, long b, long c, long d)
{
    register long r10 __asm__("r10") = d;
    long result = number;
    __asm__ volatile("syscall" : "+a"(result) : "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
    return result;
}
#endif

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

/* The epoll fd itself: it polls readable while the queue has events to report. */
static inline int selector_backend_fd(selector_t selector)
{
    return selector;
}

/*
 * mio's mapping: read interest also asks for RDHUP so a peer's FIN is seen;
 * edge-triggered unless EVSRC_LEVEL. The table is indexed by the interests
 * themselves (all valid ones are below 0x308) and holds 0 for every invalid
 * set, so one bound check and one load both validate and translate them on
 * the register path (bench/instructions' churn bar).
 */
#define SELECTOR_KIND_FLAGS(k) \
    (((k) & 1 ? EPOLLIN | EPOLLRDHUP : 0u) | ((k) & 2 ? EPOLLOUT : 0u) | ((k) & 4 ? EPOLLPRI : 0u))
#define SELECTOR_MODIFIERS(m) (((m) & 1 ? 0u : (uint32_t)EPOLLET) | ((m) & 2 ? (uint32_t)EPOLLONESHOT : 0u))
/* Interests of kinds k (1..7) and modifiers m (0..3), and their epoll flags. */
#define SELECTOR_ENTRY(k, m) [(k) | ((m) << 8)] = SELECTOR_KIND_FLAGS(k) | SELECTOR_MODIFIERS(m)
#define SELECTOR_KINDS(m)                                                                                  \
    SELECTOR_ENTRY(1, m), SELECTOR_ENTRY(2, m), SELECTOR_ENTRY(3, m), SELECTOR_ENTRY(4, m), SELECTOR_ENTRY(5, m), \
        SELECTOR_ENTRY(6, m), SELECTOR_ENTRY(7, m)
#define SELECTOR_INTERESTS_END 0x308u
_Static_assert(EVSRC_READABLE == 1 && EVSRC_WRITABLE == 2 && EVSRC_PRIORITY == 4 && EVSRC_LEVEL == 0x100 &&
                   EVSRC_ONESHOT == 0x200,
               "the table's index layout");

/* The epoll flags of valid interests, 0 for invalid ones. */
static inline uint32_t selector_epoll_flags(evsrc_interest interests)
{
    static const uint32_t table[SELECTOR_INTERESTS_END] = {
        SELECTOR_KINDS(0), SELECTOR_KINDS(1), SELECTOR_KINDS(2), SELECTOR_KINDS(3),
    };
    return interests < SELECTOR_INTERESTS_END ? table[interests] : 0;
}

/*
 * epoll_ctl. On x86-64 the raw system call (selector_syscall4, below), for
 * the reason the unbounded wait makes it: the churn bar in bench/instructions
 * (register + deregister within 10 instructions of raw epoll) has no room for
 * libc's wrapper and its errno round trip.
 */
static inline int selector_epoll_ctl(int selector, int op, int fd, struct epoll_event *event)
{
#if defined(SELECTOR_RAW_SYSCALLS)
    return (int)selector_syscall4(SYS_epoll_ctl, selector, op, fd, (long)event);
#else
    return epoll_ctl(selector, op, fd, event) < 0 ? -errno : 0;
#endif
}

/* -EINVAL for invalid interests (selector.h), before the kernel sees anything. */
static inline int selector_control(int selector, int op, int fd, evsrc_token token,
                                   evsrc_interest interests)
{
    uint32_t flags = selector_epoll_flags(interests);
    if (__builtin_expect(flags == 0, 0))
        return -EINVAL;
    struct epoll_event event = {.events = flags, .data = {.u64 = token}};
    return selector_epoll_ctl(selector, op, fd, &event);
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
    return selector_epoll_ctl(selector, EPOLL_CTL_DEL, fd, NULL);
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
#if defined(SELECTOR_RAW_SYSCALLS)
    return selector_syscall4(SYS_epoll_wait, selector, (long)buffer, capacity, -1);
#else
    return selector_epoll_wait(selector, (struct epoll_event *)(void *)buffer, capacity, -1);
#endif
}

/* The zero timeout: a check that never blocks, so the raw call costs no cancellation point either. */
static inline long selector_wait_now(int selector, struct evsrc_event *buffer, int capacity)
{
#if defined(SELECTOR_RAW_SYSCALLS)
    return selector_syscall4(SYS_epoll_wait, selector, (long)buffer, capacity, 0);
#else
    return selector_epoll_wait(selector, (struct epoll_event *)(void *)buffer, capacity, 0);
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
