/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <netinet/in.h>

#include "socket.h"

int socket_get_int_option(int fd, int level, int name, int *value)
{
    socklen_t len = sizeof *value;
    return getsockopt(fd, level, name, value, &len) < 0 ? -errno : 0;
}

int socket_check_ip_address(const struct sockaddr *addr, socklen_t addrlen)
{
    /* socklen_t is signed on Windows: there a negative length becomes too long here. */
    size_t len = (size_t)addrlen;
    if (!addr || len < sizeof(sa_family_t) || len > sizeof(struct sockaddr_storage))
        return -EINVAL;
    if (addr->sa_family == AF_INET)
        return len >= sizeof(struct sockaddr_in) ? 0 : -EINVAL;
    if (addr->sa_family == AF_INET6)
        return len >= sizeof(struct sockaddr_in6) ? 0 : -EINVAL;
    return -EINVAL;
}

int socket_get_address(const struct evsrc_source *source, struct sockaddr *addr, socklen_t *addrlen,
                       int (*getter)(int, struct sockaddr *, socklen_t *))
{
    if (!addr || !addrlen)
        return -EINVAL;
    int fd = fd_source_get_fd(source);
    if (fd < 0)
        return fd;
    return getter(fd, addr, addrlen) < 0 ? -errno : 0;
}

int socket_take_error(const struct evsrc_source *source)
{
    int fd = fd_source_get_fd(source);
    if (fd < 0)
        return fd;
    int error;
    int r = socket_get_int_option(fd, SOL_SOCKET, SO_ERROR, &error);
    return r < 0 ? r : -error;
}

int socket_shutdown(const struct evsrc_source *source, int how)
{
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return -EINVAL;
    int fd = fd_source_get_fd(source);
    if (fd < 0)
        return fd;
    return shutdown(fd, how) < 0 ? -errno : 0;
}

int socket_accept(struct evsrc_source *listener, struct evsrc_source *stream, struct sockaddr *peer,
                  socklen_t *peerlen)
{
    if (!stream)
        return -EINVAL;
    fd_source_init_closed(stream);
    if (!listener || (peer && !peerlen))
        return -EINVAL;
    int fd = fd_source_get_fd(listener);
    if (fd < 0)
        return fd;
    int conn = accept4(fd, peer, peer ? peerlen : NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn < 0)
        return (int)fd_source_io_result(fd, conn);
    fd_source_init(stream, conn);
    return 0;
}
