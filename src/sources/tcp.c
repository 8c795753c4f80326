/* SPDX-License-Identifier: MIT */
#include <evsrc/tcp.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "socket.h"

FD_SOURCE_CHECK_LAYOUT(struct evsrc_tcp_listener);
FD_SOURCE_CHECK_LAYOUT(struct evsrc_tcp_stream);
_Static_assert(sizeof(struct evsrc_tcp_listener) <= 32, "a listener stays small");
_Static_assert(sizeof(struct evsrc_tcp_stream) <= 32, "a stream stays small");

static int new_socket(sa_family_t family)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    return fd < 0 ? -errno : fd;
}

static int stream_fd(const struct evsrc_tcp_stream *stream)
{
    return fd_source_get_fd(FD_SOURCE_OF(stream));
}

/* ---- Listener ---------------------------------------------------------- */

static int listen_on(const struct sockaddr *addr, socklen_t addrlen)
{
    int fd = new_socket(addr->sa_family);
    if (fd < 0)
        return fd;
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 || bind(fd, addr, addrlen) < 0 ||
        listen(fd, SOCKET_LISTEN_BACKLOG) < 0)
        return fd_source_close_and_fail(fd, errno);
    return fd;
}

EVSRC_EXPORT int evsrc_tcp_listener_bind(struct evsrc_tcp_listener *listener, const struct sockaddr *addr,
                                         socklen_t addrlen)
{
    if (!listener)
        return -EINVAL;
    fd_source_init_closed(&listener->source);
    int r = socket_check_ip_address(addr, addrlen);
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
    int r = socket_get_int_option(fd, SOL_SOCKET, SO_TYPE, &type);
    if (r < 0)
        return r;
    if ((r = socket_get_int_option(fd, SOL_SOCKET, SO_PROTOCOL, &protocol)) < 0 ||
        (r = socket_get_int_option(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening)) < 0)
        return r;
    return type == SOCK_STREAM && protocol == IPPROTO_TCP && listening ? 0 : -EINVAL;
}

EVSRC_EXPORT int evsrc_tcp_listener_from_fd(struct evsrc_tcp_listener *listener, evsrc_fd fd)
{
    return fd_source_adopt(FD_SOURCE_OF(listener), fd, check_tcp_listener, 0);
}

EVSRC_EXPORT int evsrc_tcp_listener_local_addr(const struct evsrc_tcp_listener *listener,
                                               struct sockaddr_storage *addr, socklen_t *addrlen)
{
    return socket_get_address(FD_SOURCE_OF(listener), (struct sockaddr *)addr, addrlen, getsockname);
}

EVSRC_EXPORT int evsrc_tcp_listener_accept(struct evsrc_tcp_listener *listener, struct evsrc_tcp_stream *stream,
                                           struct sockaddr_storage *peer, socklen_t *peerlen)
{
    return socket_accept(FD_SOURCE_OF(listener), FD_SOURCE_OF(stream), (struct sockaddr *)peer, peerlen);
}

EVSRC_EXPORT int evsrc_tcp_listener_fd(const struct evsrc_tcp_listener *listener)
{
    return fd_source_get_fd(FD_SOURCE_OF(listener));
}

EVSRC_EXPORT int evsrc_tcp_listener_close(struct evsrc_tcp_listener *listener)
{
    return fd_source_close(FD_SOURCE_OF(listener));
}

/* ---- Stream ------------------------------------------------------------ */

EVSRC_EXPORT int evsrc_tcp_stream_connect(struct evsrc_tcp_stream *stream, const struct sockaddr *addr,
                                          socklen_t addrlen)
{
    if (!stream)
        return -EINVAL;
    fd_source_init_closed(&stream->source);
    int r = socket_check_ip_address(addr, addrlen);
    if (r < 0)
        return r;
    int fd = new_socket(addr->sa_family);
    if (fd < 0)
        return fd;
    /* Non-blocking, so the handshake goes on in the kernel; its end is a writable event. */
    if (connect(fd, addr, addrlen) < 0 && errno != EINPROGRESS)
        return fd_source_close_and_fail(fd, errno);
    fd_source_init(&stream->source, fd);
    return 0;
}

/* Only a TCP stream socket that is not listening can be adopted. */
static int check_tcp_stream(int fd, int kind)
{
    (void)kind;
    int type, protocol, listening;
    int r = socket_get_int_option(fd, SOL_SOCKET, SO_TYPE, &type);
    if (r < 0)
        return r;
    r = socket_get_int_option(fd, SOL_SOCKET, SO_PROTOCOL, &protocol);
    if (r < 0)
        return r;
    if (type != SOCK_STREAM || protocol != IPPROTO_TCP)
        return -EINVAL;
    r = socket_get_int_option(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening);
    if (r < 0)
        return r;
    return listening ? -EINVAL : 0;
}

EVSRC_EXPORT int evsrc_tcp_stream_from_fd(struct evsrc_tcp_stream *stream, evsrc_fd fd)
{
    return fd_source_adopt(FD_SOURCE_OF(stream), fd, check_tcp_stream, 0);
}

EVSRC_EXPORT int evsrc_tcp_stream_take_error(struct evsrc_tcp_stream *stream)
{
    return socket_take_error(FD_SOURCE_OF(stream));
}

/* len 0 is answered here because recv(2) returns 0 for it, which the caller would take for end of stream anyway. */
static ssize_t receive(struct evsrc_tcp_stream *stream, void *buf, size_t len, int flags)
{
    int fd = fd_source_io_fd(FD_SOURCE_OF(stream), buf, len);
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
    int fd = fd_source_io_fd(FD_SOURCE_OF(stream), buf, len);
    if (fd < 0)
        return fd;
    if (len == 0)
        return 0;
    /* MSG_NOSIGNAL: a gone peer is -EPIPE, not a signal that kills the process. */
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    return fd_source_io_result_of(fd, n, len);
}

EVSRC_EXPORT ssize_t evsrc_tcp_stream_readv(struct evsrc_tcp_stream *stream, const struct iovec *iov,
                                            int iovcnt)
{
    return socket_readv(FD_SOURCE_OF(stream), iov, iovcnt);
}

EVSRC_EXPORT ssize_t evsrc_tcp_stream_writev(struct evsrc_tcp_stream *stream, const struct iovec *iov,
                                             int iovcnt)
{
    return socket_writev(FD_SOURCE_OF(stream), iov, iovcnt);
}

EVSRC_EXPORT int evsrc_tcp_stream_shutdown(struct evsrc_tcp_stream *stream, int how)
{
    return socket_shutdown(FD_SOURCE_OF(stream), how);
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
    int r = socket_get_int_option(fd, IPPROTO_TCP, TCP_NODELAY, &value);
    return r < 0 ? r : value != 0;
}

EVSRC_EXPORT int evsrc_tcp_stream_local_addr(const struct evsrc_tcp_stream *stream, struct sockaddr_storage *addr,
                                             socklen_t *addrlen)
{
    return socket_get_address(FD_SOURCE_OF(stream), (struct sockaddr *)addr, addrlen, getsockname);
}

EVSRC_EXPORT int evsrc_tcp_stream_peer_addr(const struct evsrc_tcp_stream *stream, struct sockaddr_storage *addr,
                                            socklen_t *addrlen)
{
    return socket_get_address(FD_SOURCE_OF(stream), (struct sockaddr *)addr, addrlen, getpeername);
}

EVSRC_EXPORT int evsrc_tcp_stream_fd(const struct evsrc_tcp_stream *stream)
{
    return stream_fd(stream);
}

EVSRC_EXPORT int evsrc_tcp_stream_close(struct evsrc_tcp_stream *stream)
{
    return fd_source_close(FD_SOURCE_OF(stream));
}
