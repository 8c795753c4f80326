/* SPDX-License-Identifier: MIT */
#include <evsrc/registry.h>
#include <evsrc/source.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fd_source.h"

/* One ops table for every single-fd source: each op hands the fd to the registry. */

static int fd_source_register(struct evsrc_source *source, struct evsrc_registry *registry,
                              evsrc_token token, evsrc_interest interests)
{
    return evsrc_registry_register_fd(registry, *fd_source_fd(source), token, interests);
}

static int fd_source_reregister(struct evsrc_source *source, struct evsrc_registry *registry,
                                evsrc_token token, evsrc_interest interests)
{
    return evsrc_registry_reregister_fd(registry, *fd_source_fd(source), token, interests);
}

static int fd_source_deregister(struct evsrc_source *source, struct evsrc_registry *registry)
{
    return evsrc_registry_deregister_fd(registry, *fd_source_fd(source));
}

const struct event_source_ops fd_source_ops = {
    fd_source_register,
    fd_source_reregister,
    fd_source_deregister,
};

void fd_source_init(struct evsrc_source *source, evsrc_fd fd)
{
    evsrc_source_init(source, &fd_source_ops);
    *fd_source_fd(source) = fd;
}

void fd_source_init_closed(struct evsrc_source *source)
{
    fd_source_init(source, PLATFORM_FD_CLOSED);
}

int fd_source_close(struct evsrc_source *source)
{
    if (!source)
        return -EINVAL;
    evsrc_fd *fd = fd_source_fd(source);
    if (!platform_fd_is_open(*fd))
        return -EBADF;
    registry_fd_forget((int)*fd);
    close((int)*fd);
    *fd = PLATFORM_FD_CLOSED;
    __atomic_store_n(&source->registered_queue, 0, __ATOMIC_RELEASE);
    return 0;
}

int fd_source_set_nonblocking(int fd)
{
    int status = fcntl(fd, F_GETFL);
    if (status < 0)
        return -errno;
    if (!(status & O_NONBLOCK) && fcntl(fd, F_SETFL, status | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

int fd_source_adopt(struct evsrc_source *source, evsrc_fd fd, int (*check)(int fd, int kind), int kind)
{
    if (!source)
        return -EINVAL;
    fd_source_init_closed(source);
    if (!platform_fd_is_open(fd))
        return -EBADF;
    int r = check((int)fd, kind);
    if (r < 0)
        return r;
    /* The last step that can fail, and it changes nothing when it does. */
    r = fd_source_set_nonblocking((int)fd);
    if (r < 0)
        return r;
    fd_source_init(source, fd);
    return 0;
}

FD_SOURCE_CHECK_LAYOUT(struct evsrc_source_fd);

EVSRC_EXPORT int evsrc_source_fd_init(struct evsrc_source_fd *s, evsrc_fd fd)
{
    if (!s)
        return -EINVAL;
    if (!platform_fd_is_open(fd))
        return -EBADF;
    fd_source_init(&s->source, fd);
    return 0;
}

EVSRC_EXPORT int evsrc_source_fd_close(struct evsrc_source_fd *s)
{
    return s ? fd_source_close(&s->source) : -EINVAL;
}
