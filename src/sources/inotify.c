/* SPDX-License-Identifier: MIT */
#include <evsrc/inotify.h>

#include <errno.h>
#include <stdalign.h>
#include <unistd.h>

#include "fd_source.h"

FD_SOURCE_CHECK_LAYOUT(struct evsrc_inotify);

EVSRC_EXPORT int evsrc_inotify_new(struct evsrc_inotify *inotify)
{
    if (!inotify)
        return -EINVAL;
    fd_source_init_closed(&inotify->source);
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0)
        return -errno;
    fd_source_init(&inotify->source, fd);
    return 0;
}

EVSRC_EXPORT int evsrc_inotify_add_watch(struct evsrc_inotify *inotify, const char *path, uint32_t mask)
{
    if (!inotify || !path || (mask & IN_ALL_EVENTS) == 0)
        return -EINVAL;
    if (inotify->fd < 0)
        return -EBADF;
    int wd = inotify_add_watch(inotify->fd, path, mask);
    return wd < 0 ? -errno : wd;
}

EVSRC_EXPORT int evsrc_inotify_rm_watch(struct evsrc_inotify *inotify, int wd)
{
    if (!inotify || wd <= 0)
        return -EINVAL;
    if (inotify->fd < 0)
        return -EBADF;
    return inotify_rm_watch(inotify->fd, wd) < 0 ? -errno : 0;
}

EVSRC_EXPORT ssize_t evsrc_inotify_read(struct evsrc_inotify *inotify, void *buf, size_t len)
{
    if (!inotify || !buf || len == 0)
        return -EINVAL;
    if (inotify->fd < 0)
        return -EBADF;
    /* The kernel hands out whole events only, and refuses (EINVAL) a buffer too small for the next. */
    ssize_t n = read(inotify->fd, buf, len);
    /* A read may leave events for the next: re-arm either way, at worst a spurious event (rearm.h). */
    registry_fd_rearm(inotify->fd);
    return n < 0 ? -errno : n;
}

EVSRC_EXPORT const struct inotify_event *evsrc_inotify_next(const void *buf, size_t len, size_t *offset)
{
    if (!buf || !offset || *offset >= len)
        return NULL;
    const char *at = (const char *)buf + *offset;
    size_t left = len - *offset;
    if (left < sizeof(struct inotify_event) || (uintptr_t)at % alignof(struct inotify_event) != 0)
        return NULL;
    const struct inotify_event *event = (const struct inotify_event *)(const void *)at;
    if (event->len > left - sizeof *event)
        return NULL;
    /* The kernel pads the name with NULs; a name without one is not an event it wrote. */
    if (event->len > 0 && event->name[event->len - 1] != '\0')
        return NULL;
    *offset += sizeof *event + event->len;
    return event;
}

EVSRC_EXPORT int evsrc_inotify_fd(const struct evsrc_inotify *inotify)
{
    return fd_source_get_fd(inotify ? &inotify->source : NULL);
}

EVSRC_EXPORT int evsrc_inotify_close(struct evsrc_inotify *inotify)
{
    return inotify ? fd_source_close(&inotify->source) : -EINVAL;
}
