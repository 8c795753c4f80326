/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_SOCKET_H
#define EVSRC_SOCKET_H

/*
 * The socket plumbing the TCP, UDP and Unix sources share, on top of
 * fd_source.h. Each helper takes the embedded source (NULL for a NULL struct)
 * and checks its arguments before the source's state, as every public call
 * does. The I/O checks and calls are inline so that the sources' read and
 * write paths cost what they did when each source wrote them out.
 */

#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "fd_source.h"

/* mio's choice; the kernel silently caps it at net.core.somaxconn. */
#define SOCKET_LISTEN_BACKLOG 1024

/* getsockopt(2) of an int-valued option: 0 or -errno. */
int socket_get_int_option(int fd, int level, int name, int *value);

/*
 * Checks an IPv4 or IPv6 address before any system call, so a bad one costs
 * nothing. The bounds are the kernel's: at least the family's struct, at most
 * a sockaddr_storage. 0 or -EINVAL.
 */
int socket_check_ip_address(const struct sockaddr *addr, socklen_t addrlen);

/*
 * getsockname(2) or getpeername(2) (the getter) of the source's socket:
 * -EINVAL for a NULL addr or addrlen, then -EINVAL or -EBADF for the source.
 */
int socket_get_address(const struct evsrc_source *source, struct sockaddr *addr, socklen_t *addrlen,
                       int (*getter)(int, struct sockaddr *, socklen_t *));

/* Takes and clears SO_ERROR: 0, the pending error as -errno, or the source's error. */
int socket_take_error(const struct evsrc_source *source);

/* shutdown(2): -EINVAL for an unknown how, then the source's error, then shutdown's. */
int socket_shutdown(const struct evsrc_source *source, int how);

/*
 * Accepts a connection on listener into stream (left closed on any failure),
 * close-on-exec and non-blocking. -EINVAL for a NULL stream (which is then
 * untouched), a NULL listener or a peer without peerlen; then the listener's
 * state; then accept4(2)'s error, re-arming the listener when it would block.
 */
int socket_accept(struct evsrc_source *listener, struct evsrc_source *stream, struct sockaddr *peer,
                  socklen_t *peerlen);

/* As fd_source_io_fd for a vector: a NULL base with a length is -EINVAL too, as for read and write. */
static inline int socket_iov_fd(const struct evsrc_source *source, const struct iovec *iov, int iovcnt)
{
    if (iovcnt < 0 || iovcnt > IOV_MAX || (!iov && iovcnt > 0))
        return -EINVAL;
    for (int i = 0; i < iovcnt; i++)
        if (!iov[i].iov_base && iov[i].iov_len > 0)
            return -EINVAL;
    return fd_source_get_fd(source);
}

/* readv(2) on a stream socket; an empty vector reads nothing and is 0. */
static inline ssize_t socket_readv(const struct evsrc_source *source, const struct iovec *iov, int iovcnt)
{
    int fd = socket_iov_fd(source, iov, iovcnt);
    if (fd < 0)
        return fd;
    if (iovcnt == 0)
        return 0;
    ssize_t n = readv(fd, iov, iovcnt);
    return fd_source_io_result(fd, n);
}

/* writev(2)'s work on a stream socket, by sendmsg(2): writev has no MSG_NOSIGNAL. */
static inline ssize_t socket_writev(const struct evsrc_source *source, const struct iovec *iov, int iovcnt)
{
    int fd = socket_iov_fd(source, iov, iovcnt);
    if (fd < 0)
        return fd;
    if (iovcnt == 0)
        return 0;
    /* The kernel only reads the iovecs. MSG_NOSIGNAL: a gone peer is -EPIPE, not a signal. */
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    size_t want = 0;
    for (int i = 0; i < iovcnt; i++)
        want += iov[i].iov_len;
    return fd_source_io_result_of(fd, n, want);
}

#endif /* EVSRC_SOCKET_H */
