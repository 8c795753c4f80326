/* SPDX-License-Identifier: MIT */
/*
 * Windows test builds only: Windows has no timerfd, so the timer tests that
 * look at one skip there; this declares what they name.
 */
#ifndef EVSRC_TESTS_WINDOWS_SYS_TIMERFD_H
#define EVSRC_TESTS_WINDOWS_SYS_TIMERFD_H
#include <errno.h>
#include <time.h>
static inline int timerfd_gettime(int fd, struct itimerspec *current)
{
    (void)fd;
    (void)current;
    errno = ENOSYS;
    return -1;
}
#endif
