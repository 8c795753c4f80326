/* SPDX-License-Identifier: MIT */
#include <evsrc/tcp.h>

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "fd_source.h"

FD_SOURCE_CHECK_LAYOUT(struct evsrc_tcp_listener);
FD_SOURCE_CHECK_LAYOUT(struct evsrc_tcp_stream);
_Static_assert(sizeof(struct evsrc_tcp_listener) <= 32, "a listener stays small");
_Static_assert(sizeof(struct evsrc_tcp_stream) <= 32, "a stream stays small");

/* mio's choice; the kernel silently caps it at net.core.somaxconn. */
#define LISTEN_BACKLOG 1024

/* Closes fd without letting close(2) clobber the errno being reported. */
static int close_and_fail(int fd, int error)
{
    close(fd);
    return -error;
}

/*
 * Checked before any socket exists, so a bad address costs no fd. The bounds
 * are the kernel's: at least the family's struct, at most a sockaddr_storage.
 */
static int check_address(const struct sockaddr *addr, socklen_t addrlen)
{
    if (!addr || addrlen < sizeof(sa_family_t) || addrlen > sizeof(struct sockaddr_storage))
        return -EINVAL;
    if (addr->sa_family == AF_INET)
        return addrlen >= sizeof(struct sockaddr_in) ? 0 : -EINVAL;
    if (addr->sa_family == AF_INET6)
        return addrlen >= sizeof(struct sockaddr_in6) ? 0 : -EINVAL;
    return -EINVAL;
}

static int new_socket(sa_family_t family)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    return fd < 0 ? -errno : fd;
}

static int listener_fd(const struct evsrc_tcp_listener *listener)
{
    return fd_source_get_fd(listener ? &listener->source : NULL);
}

static int stream_fd(const struct evsrc_tcp_stream *stream)
{
    return fd_source_get_fd(stream ? &stream->source : NULL);
}

/* The shared tail of the address getters; fd is a struct's checked fd or its error. */
static int get_address(int fd, struct sockaddr_storage *addr, socklen_t *addrlen,
                       int (*getter)(int, struct sockaddr *, socklen_t *))
{
    if (!addr || !addrlen)
        return -EINVAL;
    if (fd < 0)
        return fd;
    return getter(fd, (struct sockaddr *)addr, addrlen) < 0 ? -errno : 0;
}

static int get_int_option(int fd, int level, int name, int *value)
{
    socklen_t len = sizeof *value;
    return getsockopt(fd, level, name, value, &len) < 0 ? -errno : 0;
}

/* ---- Listener ---------------------------------------------------------- */

static int listen_on(const struct sockaddr *addr, socklen_t addrlen)
{
    int fd = new_socket(addr->sa_family);
    if (fd < 0)
        return fd;
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 || bind(fd, addr, addrlen) < 0 ||
        listen(fd, LISTEN_BACKLOG) < 0)
        return close_and_fail(fd, errno);
    return fd;
}

EVSRC_EXPORT int evsrc_tcp_listener_bind(struct evsrc_tcp_listener *listener, const struct sockaddr *addr,
                                         socklen_t addrlen)
{
    if (!listener)
        return -EINVAL;
    fd_source_init_closed(&listener->source);
    int r = check_address(addr, addrlen);
    if (r < 0)
        return r;
    int fd = listen_on(addr, addrlen);
    if (fd < 0)
        return fd;
    fd_source_init(&listener->source, fd);
    return 0;
}

/* Only a listening TCP socket can be adopted as a listener. */
static int check_tcp_listener(int fd, int kind)
{
    (void)kind;
    int type, protocol, listening;
    int r = get_int_option(fd, SOL_SOCKET, SO_TYPE, &type);
    if (r < 0)
        return r;
    if ((r = get_int_option(fd, SOL_SOCKET, SO_PROTOCOL, &protocol)) < 0 ||
        (r = get_int_option(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening)) < 0)
        return r;
    return type == SOCK_STREAM && protocol == IPPROTO_TCP && listening ? 0 : -EINVAL;
}

EVSRC_EXPORT int evsrc_tcp_listener_from_fd(struct evsrc_tcp_listener *listener, int fd)
{
    return fd_source_adopt(listener ? &listener->source : NULL, fd, check_tcp_listener, 0);
}

EVSRC_EXPORT int evsrc_tcp_listener_local_addr(const struct evsrc_tcp_listener *listener,
                                               struct sockaddr_storage *addr, socklen_t *addrlen)
{
    return get_address(listener_fd(listener), addr, addrlen, getsockname);
}

EVSRC_EXPORT int evsrc_tcp_listener_accept(struct evsrc_tcp_listener *listener, struct evsrc_tcp_stream *stream,
                                           struct sockaddr_storage *peer, socklen_t *peerlen)
{
    if (!stream)
        return -EINVAL;
    fd_source_init_closed(&stream->source);
    if (!listener || (peer && !peerlen))
        return -EINVAL;
    int fd = listener_fd(listener);
    if (fd < 0)
        return fd;
    int conn = accept4(fd, (struct sockaddr *)peer, peer ? peerlen : NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn < 0)
        return (int)fd_source_io_result(fd, conn);
    fd_source_init(&stream->source, conn);
    return 0;
}

EVSRC_EXPORT int evsrc_tcp_listener_fd(const struct evsrc_tcp_listener *listener)
{
    return listener_fd(listener);
}

EVSRC_EXPORT int evsrc_tcp_listener_close(struct evsrc_tcp_listener *listener)
{
    return fd_source_close(listener ? &listener->source : NULL);
}

/* ---- Stream ------------------------------------------------------------ */

EVSRC_EXPORT int evsrc_tcp_stream_connect(struct evsrc_tcp_stream *stream, const struct sockaddr *addr,
                                          socklen_t addrlen)
{
    if (!stream)
        return -EINVAL;
    fd_source_init_closed(&stream->source);
    int r = check_address(addr, addrlen);
    if (r < 0)
        return r;
    int fd = new_socket(addr->sa_family);
    if (fd < 0)
        return fd;
    /* Non-blocking, so the handshake goes on in the kernel; its end is a writable event. */
    if (connect(fd, addr, addrlen) < 0 && errno != EINPROGRESS)
        return close_and_fail(fd, errno);
    fd_source_init(&stream->source, fd);
    return 0;
}

/* Only a TCP stream socket that is not listening can be adopted. */
static int check_tcp_stream(int fd, int kind)
{
    (void)kind;
    int type, protocol, listening;
    int r = get_int_option(fd, SOL_SOCKET, SO_TYPE, &type);
    if (r < 0)
        return r;
    r = get_int_option(fd, SOL_SOCKET, SO_PROTOCOL, &protocol);
    if (r < 0)
        return r;
    if (type != SOCK_STREAM || protocol != IPPROTO_TCP)
        return -EINVAL;
    r = get_int_option(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening);
    if (r < 0)
        return r;
    return listening ? -EINVAL : 0;
}

EVSRC_EXPORT int evsrc_tcp_stream_from_fd(struct evsrc_tcp_stream *stream, int fd)
{
    return fd_source_adopt(stream ? &stream->source : NULL, fd, check_tcp_stream, 0);
}

EVSRC_EXPORT int evsrc_tcp_stream_take_error(struct evsrc_tcp_stream *stream)
{
    int fd = stream_fd(stream);
    if (fd < 0)
        return fd;
    int error;
    int r = get_int_option(fd, SOL_SOCKET, SO_ERROR, &error);
    return r < 0 ? r : -error;
}

/*
 * The checks every I/O call makes. len 0 is answered here because recv(2)
 * returns 0 for it, which the caller would take for end of stream anyway.
 */
static int io_fd(const struct evsrc_tcp_stream *stream, const void *buf, size_t len)
{
    if (!buf && len > 0)
        return -EINVAL;
    return stream_fd(stream);
}

static ssize_t receive(struct evsrc_tcp_stream *stream, void *buf, size_t len, int flags)
{
    int fd = io_fd(stream, buf, len);
    if (fd < 0)
        return fd;
    if (len == 0)
        return 0;
    ssize_t n = recv(fd, buf, len, flags);
    return fd_source_io_result(fd, n);
}

EVSRC_EXPORT ssize_t evsrc_tcp_stream_read(struct evsrc_tcp_stream *stream, void *buf, size_t len)
{
    return receive(stream, buf, len, 0);
}

EVSRC_EXPORT ssize_t evsrc_tcp_stream_peek(struct evsrc_tcp_stream *stream, void *buf, size_t len)
{
    return receive(stream, buf, len, MSG_PEEK);
}

EVSRC_EXPORT ssize_t evsrc_tcp_stream_write(struct evsrc_tcp_stream *stream, const void *buf, size_t len)
{
    int fd = io_fd(stream, buf, len);
    if (fd < 0)
        return fd;
    if (len == 0)
        return 0;
    /* MSG_NOSIGNAL: a gone peer is -EPIPE, not a signal that kills the process. */
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    return fd_source_io_result(fd, n);
}

/* As io_fd for a vector: a NULL base with a length is -EINVAL here too, as for read and write. */
static int iov_fd(const struct evsrc_tcp_stream *stream, const struct iovec *iov, int iovcnt)
{
    if (iovcnt < 0 || iovcnt > IOV_MAX || (!iov && iovcnt > 0))
        return -EINVAL;
    for (int i = 0; i < iovcnt; i++)
        if (!iov[i].iov_base && iov[i].iov_len > 0)
            return -EINVAL;
    return stream_fd(stream);
}

EVSRC_EXPORT ssize_t evsrc_tcp_stream_readv(struct evsrc_tcp_stream *stream, const struct iovec *iov,
                                            int iovcnt)
{
    int fd = iov_fd(stream, iov, iovcnt);
    if (fd < 0)
        return fd;
    if (iovcnt == 0)
        return 0;
    ssize_t n = readv(fd, iov, iovcnt);
    return fd_source_io_result(fd, n);
}

EVSRC_EXPORT ssize_t evsrc_tcp_stream_writev(struct evsrc_tcp_stream *stream, const struct iovec *iov,
                                             int iovcnt)
{
    int fd = iov_fd(stream, iov, iovcnt);
    if (fd < 0)
        return fd;
    if (iovcnt == 0)
        return 0;
    /* writev(2) has no MSG_NOSIGNAL; sendmsg does. The kernel only reads the iovecs. */
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    return fd_source_io_result(fd, n);
}

EVSRC_EXPORT int evsrc_tcp_stream_shutdown(struct evsrc_tcp_stream *stream, int how)
{
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return -EINVAL;
    int fd = stream_fd(stream);
    if (fd < 0)
        return fd;
    return shutdown(fd, how) < 0 ? -errno : 0;
}

EVSRC_EXPORT int evsrc_tcp_stream_set_nodelay(struct evsrc_tcp_stream *stream, bool nodelay)
{
    int fd = stream_fd(stream);
    if (fd < 0)
        return fd;
    int value = nodelay ? 1 : 0;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, sizeof value) < 0 ? -errno : 0;
}

EVSRC_EXPORT int evsrc_tcp_stream_nodelay(const struct evsrc_tcp_stream *stream)
{
    int fd = stream_fd(stream);
    if (fd < 0)
        return fd;
    int value;
    int r = get_int_option(fd, IPPROTO_TCP, TCP_NODELAY, &value);
    return r < 0 ? r : value != 0;
}

EVSRC_EXPORT int evsrc_tcp_stream_local_addr(const struct evsrc_tcp_stream *stream, struct sockaddr_storage *addr,
                                             socklen_t *addrlen)
{
    return get_address(stream_fd(stream), addr, addrlen, getsockname);
}

EVSRC_EXPORT int evsrc_tcp_stream_peer_addr(const struct evsrc_tcp_stream *stream, struct sockaddr_storage *addr,
                                            socklen_t *addrlen)
{
    return get_address(stream_fd(stream), addr, addrlen, getpeername);
}

EVSRC_EXPORT int evsrc_tcp_stream_fd(const struct evsrc_tcp_stream *stream)
{
    return stream_fd(stream);
}

EVSRC_EXPORT int evsrc_tcp_stream_close(struct evsrc_tcp_stream *stream)
{
    return fd_source_close(stream ? &stream->source : NULL);
}
