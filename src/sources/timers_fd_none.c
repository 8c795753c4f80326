/* SPDX-License-Identifier: MIT */
/*
 * The timer queue on a platform without kernel timer fds (Windows): queues
 * run on CLOCK_MONOTONIC only, driven by the poll's deadlines (timers_fd.h).
 */
#include "timers_fd.h"

#include <errno.h>

bool timers_clock_is_supported(clockid_t clock)
{
    return clock == CLOCK_MONOTONIC;
}

bool timers_clock_needs_fd(clockid_t clock)
{
    (void)clock;
    return false;
}

int timers_fd_open(clockid_t clock)
{
    (void)clock;
    return -EOPNOTSUPP;
}

int timers_fd_arm(int fd, int64_t at)
{
    (void)fd;
    (void)at;
    return -EOPNOTSUPP;
}

void timers_fd_close(int fd)
{
    (void)fd;
}

int64_t timers_fd_slack(void)
{
    return 0;
}
