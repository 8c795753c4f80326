/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_TIMESPEC_H
#define EVSRC_TIMESPEC_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define TIMESPEC_NS_PER_SECOND 1000000000LL
/* The latest instant in ns that a deadline is clamped to (INT64_MAX itself means "none"). */
#define TIMESPEC_NS_LATEST (INT64_MAX - 1)

/* The one rule for every timespec evsrc takes: NULL (none) or non-negative with tv_nsec below a second. */
static inline bool timespec_is_valid(const struct timespec *ts)
{
    return !ts || (ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000L);
}

/* The clocks a timer may run on (timerfd.h, timers.h). */
static inline bool timespec_clock_is_supported(clockid_t clock)
{
    return clock == CLOCK_MONOTONIC || clock == CLOCK_REALTIME || clock == CLOCK_BOOTTIME;
}

/* A valid timespec in ns, clamped to TIMESPEC_NS_LATEST. */
static inline int64_t timespec_to_ns(const struct timespec *ts)
{
    if (ts->tv_sec > (TIMESPEC_NS_LATEST - ts->tv_nsec) / TIMESPEC_NS_PER_SECOND)
        return TIMESPEC_NS_LATEST;
    return (int64_t)ts->tv_sec * TIMESPEC_NS_PER_SECOND + ts->tv_nsec;
}

/* ns (>= 0) as a timespec, clamped to the largest time_t where that has 32 bits (i386). */
static inline struct timespec timespec_from_ns(int64_t ns)
{
    const int64_t time_max = (int64_t)(((uint64_t)1 << (sizeof(time_t) * 8 - 1)) - 1);
    if (ns / TIMESPEC_NS_PER_SECOND > time_max)
        return (struct timespec){.tv_sec = (time_t)time_max, .tv_nsec = TIMESPEC_NS_PER_SECOND - 1};
    return (struct timespec){.tv_sec = (time_t)(ns / TIMESPEC_NS_PER_SECOND),
                             .tv_nsec = (long)(ns % TIMESPEC_NS_PER_SECOND)};
}

/* a + b for b >= 0, clamped to TIMESPEC_NS_LATEST. */
static inline int64_t timespec_ns_add(int64_t a, int64_t b)
{
    return a > TIMESPEC_NS_LATEST - b ? TIMESPEC_NS_LATEST : a + b;
}

/* The clock's time in ns (the vDSO: no system call for the clocks evsrc uses). */
static inline int64_t timespec_now_ns(clockid_t clock)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (int64_t)now.tv_sec * TIMESPEC_NS_PER_SECOND + now.tv_nsec;
}

#endif /* EVSRC_TIMESPEC_H */
