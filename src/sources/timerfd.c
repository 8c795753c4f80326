/* SPDX-License-Identifier: MIT */
#include <evsrc/timerfd.h>

#include <errno.h>
#include <stdbool.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "../timespec.h"
#include "fd_source.h"

FD_SOURCE_CHECK_LAYOUT(struct evsrc_timerfd);
_Static_assert(sizeof(struct evsrc_timerfd) <= 32, "a timer stays small");

EVSRC_EXPORT int evsrc_timerfd_new(struct evsrc_timerfd *timer, clockid_t clock)
{
    if (!timer)
        return -EINVAL;
    fd_source_init_closed(&timer->source);
    if (!timespec_clock_is_supported(clock))
        return -EINVAL;
    int fd = timerfd_create(clock, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    fd_source_init(&timer->source, fd);
    return 0;
}

/* Only a timerfd answers timerfd_gettime; any other fd is EINVAL. */
static int check_is_timerfd(int fd, int kind)
{
    (void)kind;
    struct itimerspec current;
    return timerfd_gettime(fd, &current) < 0 ? -errno : 0;
}

EVSRC_EXPORT int evsrc_timerfd_from_fd(struct evsrc_timerfd *timer, int fd)
{
    return fd_source_adopt(FD_SOURCE_OF(timer), fd, check_is_timerfd, 0);
}

static bool timespec_is_zero(const struct timespec *ts)
{
    return ts->tv_sec == 0 && ts->tv_nsec == 0;
}

static struct timespec timespec_or_zero(const struct timespec *ts)
{
    return ts ? *ts : (struct timespec){0, 0};
}

EVSRC_EXPORT int evsrc_timerfd_set(struct evsrc_timerfd *timer, const struct timespec *initial,
                                   const struct timespec *interval, int flags)
{
    if (!timer || (flags & ~EVSRC_TIMERFD_ABSTIME) != 0)
        return -EINVAL;
    if (!timespec_is_valid(initial) || !timespec_is_valid(interval))
        return -EINVAL;
    if (timer->fd < 0)
        return -EBADF;
    struct itimerspec setting = {
        .it_interval = timespec_or_zero(interval),
        .it_value = timespec_or_zero(initial),
    };
    /* Disarming drops the period too: the kernel would keep it and report it from get. */
    if (timespec_is_zero(&setting.it_value))
        setting.it_interval = (struct timespec){0, 0};
    int kernel_flags = (flags & EVSRC_TIMERFD_ABSTIME) ? TFD_TIMER_ABSTIME : 0;
    if (timerfd_settime(timer->fd, kernel_flags, &setting, NULL) < 0)
        return -errno;
    /* Setting clears an expiry not yet read: the next one is a new edge (rearm.h). */
    registry_fd_rearm(timer->fd);
    return 0;
}

EVSRC_EXPORT int evsrc_timerfd_read(struct evsrc_timerfd *timer, uint64_t *expirations)
{
    /* A read empties the counter: the next expiry is a new edge. */
    return fd_source_read_record(FD_SOURCE_OF(timer), expirations, sizeof *expirations);
}

EVSRC_EXPORT int evsrc_timerfd_get(const struct evsrc_timerfd *timer, struct timespec *remaining,
                                   struct timespec *interval)
{
    if (!timer)
        return -EINVAL;
    if (timer->fd < 0)
        return -EBADF;
    struct itimerspec current;
    if (timerfd_gettime(timer->fd, &current) < 0)
        return -errno;
    /* The kernel clears an expired periodic timer's readiness here: the next expiry is a new edge. */
    registry_fd_rearm(timer->fd);
    if (remaining)
        *remaining = current.it_value;
    if (interval)
        *interval = current.it_interval;
    return 0;
}

EVSRC_EXPORT int evsrc_timerfd_fd(const struct evsrc_timerfd *timer)
{
    return fd_source_get_fd(FD_SOURCE_OF(timer));
}

EVSRC_EXPORT int evsrc_timerfd_close(struct evsrc_timerfd *timer)
{
    return timer ? fd_source_close(&timer->source) : -EINVAL;
}
