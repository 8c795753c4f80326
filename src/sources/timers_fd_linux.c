/* SPDX-License-Identifier: MIT */
/* The timer queue's kernel timer on Linux: a timerfd (timers_fd.h). */
#include "timers_fd.h"

#include <errno.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "../poll/rearm.h"
#include "../timespec.h"

#define MAX_SLACK 1000000 /* ns: however large the thread's slack, timers are at most 1 ms late for it */

bool timers_clock_is_supported(clockid_t clock)
{
    return timespec_clock_is_supported(clock);
}

/* Only a kernel timer sees a suspend (CLOCK_BOOTTIME) or a change of the wall clock during a wait. */
bool timers_clock_needs_fd(clockid_t clock)
{
    return clock != CLOCK_MONOTONIC;
}

int timers_fd_open(clockid_t clock)
{
    int fd = timerfd_create(clock, TFD_NONBLOCK | TFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int timers_fd_arm(int fd, int64_t at)
{
    struct itimerspec setting = {{0, 0}, {0, 0}};
    if (at != INT64_MAX)
        setting.it_value = timespec_from_ns(at > 0 ? at : 1); /* {0, 0} would disarm; a time past fires at once */
    /* Setting also clears an expiry not yet read: the fd is readable again only when this one passes. */
    if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &setting, NULL) < 0)
        return -errno;
    /* The next expiry is a new edge; a backend that keeps edges in user space must hear it (rearm.h). */
    registry_fd_rearm(fd);
    return 0;
}

void timers_fd_close(int fd)
{
    registry_fd_forget(fd);
    close(fd);
}

int64_t timers_fd_slack(void)
{
    /* PR_SET_TIMERSLACK; 50 us unless changed. */
    int slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    return slack < 0 ? 0 : slack > MAX_SLACK ? MAX_SLACK : slack;
}
