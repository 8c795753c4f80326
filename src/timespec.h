/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_TIMESPEC_H
#define EVSRC_TIMESPEC_H

#include <stdbool.h>
#include <time.h>

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

#endif /* EVSRC_TIMESPEC_H */
