/* SPDX-License-Identifier: MIT */
#include <evsrc/unix.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "socket.h"

FD_SOURCE_CHECK_LAYOUT(struct evsrc_unix_listener);
FD_SOURCE_CHECK_LAYOUT(struct evsrc_unix_stream);
FD_SOURCE_CHECK_LAYOUT(struct evsrc_unix_datagram);

#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)
#define SUN_PATH_OFFSET offsetof(struct sockaddr_un, sun_path)

/* ---- Addresses --------------------------------------------------------- */

EVSRC_EXPORT int evsrc_unix_addr_path(struct sockaddr_un *addr, socklen_t *addrlen, const char *path)
{
    if (!addr || !addrlen || !path || path[0] == '\0')
        return -EINVAL;
    /* The NUL must fit too: a path filling sun_path exactly is not portable and not a C string there. */
    size_t len = strnlen(path, SUN_PATH_SIZE);
    if (len >= SUN_PATH_SIZE)
        return -ENAMETOOLONG;
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, path, len + 1);
    *addrlen = (socklen_t)(SUN_PATH_OFFSET + len + 1);
    return 0;
}

EVSRC_EXPORT int evsrc_unix_addr_abstract(struct sockaddr_un *addr, socklen_t *addrlen, const void *name,
                                          size_t namelen)
{
    if (!addr || !addrlen || (!name && namelen > 0))
        return -EINVAL;
    if (namelen >= SUN_PATH_SIZE)
        return -ENAMETOOLONG;
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    if (namelen > 0)
        memcpy(addr->sun_path + 1, name, namelen);
    *addrlen = (socklen_t)(SUN_PATH_OFFSET + 1 + namelen);
    return 0;
}

/* Checked before any socket exists, so a bad address costs no fd. */
static int check_address(const struct sockaddr_un *addr, socklen_t addrlen)
{
    if (!addr || addrlen < sizeof(sa_family_t) || addrlen > sizeof(struct sockaddr_un))
        return -EINVAL;
    return addr->sun_family == AF_UNIX ? 0 : -EINVAL;
}

/*
 * recvfrom(2) reports an unnamed sender (an unbound socket) as length 0 and
 * writes nothing: make it {AF_UNIX} of length sizeof(sa_family_t), the form
 * unix(7) documents and getsockname(2) and accept(2) give, so that callers
 * see one form of "unnamed".
 */
static void name_unnamed(struct sockaddr_un *from, socklen_t room, socklen_t *fromlen)
{
    if (*fromlen != 0)
        return;
    if (room >= sizeof(sa_family_t))
        from->sun_family = AF_UNIX;
    *fromlen = sizeof(sa_family_t);
}

/* ---- Constructors ------------------------------------------------------ */

static int new_socket(int type)
{
    int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

/* A new socket of `type` bound to addr, listening if asked: the source owns it on success. */
static int open_bound(struct evsrc_source *source, int type, const struct sockaddr_un *addr, socklen_t addrlen,
                      bool listening)
{
    int fd = new_socket(type);
    if (fd < 0)
        return fd;
    if (bind(fd, (const struct sockaddr *)addr, addrlen) < 0)
        return fd_source_close_and_fail(fd, errno);
    /* Bound but failed to listen: the file now exists and is the caller's, as after any bind. */
    if (listening && listen(fd, SOCKET_LISTEN_BACKLOG) < 0)
        return fd_source_close_and_fail(fd, errno);
    fd_source_init(source, fd);
    return 0;
}

/* As open_bound from a path; the struct is already closed, so errors leave it so. */
static int open_bound_path(struct evsrc_source *source, int type, const char *path, bool listening)
{
    struct sockaddr_un addr;
    socklen_t addrlen;
    int r = evsrc_unix_addr_path(&addr, &addrlen, path);
    return r < 0 ? r : open_bound(source, type, &addr, addrlen, listening);
}

static int open_bound_addr(struct evsrc_source *source, int type, const struct sockaddr_un *addr,
                           socklen_t addrlen, bool listening)
{
    int r = check_address(addr, addrlen);
    return r < 0 ? r : open_bound(source, type, addr, addrlen, listening);
}

static int open_pair(struct evsrc_source *a, struct evsrc_source *b, int type)
{
    /* Whichever struct was given is left closed on any failure, as after every constructor. */
    if (a)
        fd_source_init_closed(a);
    if (b)
        fd_source_init_closed(b);
    if (!a || !b || a == b)
        return -EINVAL;
    int fds[2];
    if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0)
        return -errno;
    fd_source_init(a, fds[0]);
    fd_source_init(b, fds[1]);
    return 0;
}

/* Only a Unix socket of `type`, listening or not as wanted (-1: either), can be adopted. */
static int check_kind(int fd, int type, int listening)
{
    int domain, actual, accepting;
    int r = socket_get_int_option(fd, SOL_SOCKET, SO_DOMAIN, &domain);
    if (r < 0)
        return r;
    r = socket_get_int_option(fd, SOL_SOCKET, SO_TYPE, &actual);
    if (r < 0)
        return r;
    if (domain != AF_UNIX || actual != type)
        return -EINVAL;
    if (listening < 0)
        return 0;
    r = socket_get_int_option(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting);
    if (r < 0)
        return r;
    return (accepting != 0) == (listening != 0) ? 0 : -EINVAL;
}

/* The kind checks fd_source_adopt takes: a stream socket listening (1) or not (0), or a datagram socket. */
static int check_stream(int fd, int listening)
{
    return check_kind(fd, SOCK_STREAM, listening);
}

static int check_datagram(int fd, int kind)
{
    (void)kind;
    return check_kind(fd, SOCK_DGRAM, -1);
}

/* ---- Calls every type shares ------------------------------------------- */

static ssize_t receive_from(int fd, void *buf, size_t len, int flags, struct sockaddr_un *from,
                            socklen_t *fromlen)
{
    socklen_t room = from ? *fromlen : 0;
    ssize_t n = recvfrom(fd, buf, len, flags, (struct sockaddr *)from, from ? fromlen : NULL);
    if (n < 0)
        return fd_source_io_result(fd, n);
    if (from)
        name_unnamed(from, room, fromlen);
    return n;
}

/* MSG_NOSIGNAL everywhere: a gone peer is -EPIPE, not a signal that kills the process. */
static ssize_t transmit_to(int fd, const void *buf, size_t len, const struct sockaddr_un *to, socklen_t tolen)
{
    ssize_t n = sendto(fd, buf, len, MSG_NOSIGNAL, (const struct sockaddr *)to, to ? tolen : 0);
    return fd_source_io_result_of(fd, n, len);
}

/* ---- Listener ---------------------------------------------------------- */

EVSRC_EXPORT int evsrc_unix_listener_bind(struct evsrc_unix_listener *listener, const char *path)
{
    if (!listener)
        return -EINVAL;
    fd_source_init_closed(&listener->source);
    return open_bound_path(&listener->source, SOCK_STREAM, path, true);
}

EVSRC_EXPORT int evsrc_unix_listener_bind_addr(struct evsrc_unix_listener *listener, const struct sockaddr_un *addr,
                                               socklen_t addrlen)
{
    if (!listener)
        return -EINVAL;
    fd_source_init_closed(&listener->source);
    return open_bound_addr(&listener->source, SOCK_STREAM, addr, addrlen, true);
}

EVSRC_EXPORT int evsrc_unix_listener_from_fd(struct evsrc_unix_listener *listener, int fd)
{
    return fd_source_adopt(FD_SOURCE_OF(listener), fd, check_stream, 1);
}

EVSRC_EXPORT int evsrc_unix_listener_accept(struct evsrc_unix_listener *listener, struct evsrc_unix_stream *stream,
                                            struct sockaddr_un *peer, socklen_t *peerlen)
{
    return socket_accept(FD_SOURCE_OF(listener), FD_SOURCE_OF(stream), (struct sockaddr *)peer, peerlen);
}

EVSRC_EXPORT int evsrc_unix_listener_local_addr(const struct evsrc_unix_listener *listener,
                                                struct sockaddr_un *addr, socklen_t *addrlen)
{
    return socket_get_address(FD_SOURCE_OF(listener), (struct sockaddr *)addr, addrlen, getsockname);
}

EVSRC_EXPORT int evsrc_unix_listener_fd(const struct evsrc_unix_listener *listener)
{
    return fd_source_get_fd(FD_SOURCE_OF(listener));
}

/* Never unlinks: the path may already name another process's socket (see unix.h). */
EVSRC_EXPORT int evsrc_unix_listener_close(struct evsrc_unix_listener *listener)
{
    return fd_source_close(FD_SOURCE_OF(listener));
}

/* ---- Stream ------------------------------------------------------------ */

static int connect_stream(struct evsrc_unix_stream *stream, const struct sockaddr_un *addr, socklen_t addrlen)
{
    int fd = new_socket(SOCK_STREAM);
    if (fd < 0)
        return fd;
    /* A Unix connect finishes at once or fails (-EAGAIN: the backlog is full); there is no EINPROGRESS. */
    if (connect(fd, (const struct sockaddr *)addr, addrlen) < 0)
        return fd_source_close_and_fail(fd, errno);
    fd_source_init(&stream->source, fd);
    return 0;
}

EVSRC_EXPORT int evsrc_unix_stream_connect(struct evsrc_unix_stream *stream, const char *path)
{
    if (!stream)
        return -EINVAL;
    fd_source_init_closed(&stream->source);
    struct sockaddr_un addr;
    socklen_t addrlen;
    int r = evsrc_unix_addr_path(&addr, &addrlen, path);
    return r < 0 ? r : connect_stream(stream, &addr, addrlen);
}

EVSRC_EXPORT int evsrc_unix_stream_connect_addr(struct evsrc_unix_stream *stream, const struct sockaddr_un *addr,
                                                socklen_t addrlen)
{
    if (!stream)
        return -EINVAL;
    fd_source_init_closed(&stream->source);
    int r = check_address(addr, addrlen);
    return r < 0 ? r : connect_stream(stream, addr, addrlen);
}

EVSRC_EXPORT int evsrc_unix_stream_pair(struct evsrc_unix_stream *a, struct evsrc_unix_stream *b)
{
    return open_pair(FD_SOURCE_OF(a), FD_SOURCE_OF(b), SOCK_STREAM);
}

EVSRC_EXPORT int evsrc_unix_stream_from_fd(struct evsrc_unix_stream *stream, int fd)
{
    return fd_source_adopt(FD_SOURCE_OF(stream), fd, check_stream, 0);
}

/* len 0 is answered here because recv(2) returns 0 for it, which reads as end of stream anyway. */
static ssize_t stream_receive(struct evsrc_unix_stream *stream, void *buf, size_t len, int flags)
{
    int fd = fd_source_io_fd(FD_SOURCE_OF(stream), buf, len);
    if (fd < 0)
        return fd;
    return len == 0 ? 0 : receive_from(fd, buf, len, flags, NULL, NULL);
}

EVSRC_EXPORT ssize_t evsrc_unix_stream_read(struct evsrc_unix_stream *stream, void *buf, size_t len)
{
    return stream_receive(stream, buf, len, 0);
}

EVSRC_EXPORT ssize_t evsrc_unix_stream_peek(struct evsrc_unix_stream *stream, void *buf, size_t len)
{
    return stream_receive(stream, buf, len, MSG_PEEK);
}

EVSRC_EXPORT ssize_t evsrc_unix_stream_write(struct evsrc_unix_stream *stream, const void *buf, size_t len)
{
    int fd = fd_source_io_fd(FD_SOURCE_OF(stream), buf, len);
    if (fd < 0)
        return fd;
    return len == 0 ? 0 : transmit_to(fd, buf, len, NULL, 0);
}

EVSRC_EXPORT ssize_t evsrc_unix_stream_readv(struct evsrc_unix_stream *stream, const struct iovec *iov,
                                             int iovcnt)
{
    return socket_readv(FD_SOURCE_OF(stream), iov, iovcnt);
}

EVSRC_EXPORT ssize_t evsrc_unix_stream_writev(struct evsrc_unix_stream *stream, const struct iovec *iov,
                                              int iovcnt)
{
    return socket_writev(FD_SOURCE_OF(stream), iov, iovcnt);
}

EVSRC_EXPORT int evsrc_unix_stream_shutdown(struct evsrc_unix_stream *stream, int how)
{
    return socket_shutdown(FD_SOURCE_OF(stream), how);
}

EVSRC_EXPORT int evsrc_unix_stream_take_error(struct evsrc_unix_stream *stream)
{
    return socket_take_error(FD_SOURCE_OF(stream));
}

EVSRC_EXPORT int evsrc_unix_stream_peer_cred(const struct evsrc_unix_stream *stream, pid_t *pid, uid_t *uid,
                                             gid_t *gid)
{
    int fd = fd_source_get_fd(FD_SOURCE_OF(stream));
    if (fd < 0)
        return fd;
    /*
     * SO_PEERCRED does not fail on an unconnected socket (it reports pid 0),
     * and pid 0 is also what a peer in another pid namespace looks like: ask
     * whether there is a peer at all instead.
     */
    struct sockaddr_un peer;
    socklen_t peerlen = sizeof peer;
    if (getpeername(fd, (struct sockaddr *)&peer, &peerlen) < 0)
        return -errno;
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -errno;
    if (pid)
        *pid = cred.pid;
    if (uid)
        *uid = cred.uid;
    if (gid)
        *gid = cred.gid;
    return 0;
}

/*
 * SCM_PIDFD (Linux 6.5): on a socket with SO_PASSPIDFD, the kernel adds a
 * pidfd of the sender to every read given a control buffer. Older C library
 * headers lack the constant; its value is the kernel's ABI.
 */
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

/*
 * Room for the most fds one message carries, plus credentials and a pidfd in
 * case the user turned SO_PASSCRED or SO_PASSPIDFD on: so the kernel hands
 * every fd over and none is dropped for want of room unless the sender went
 * past the limit.
 */
union fd_control {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int) * EVSRC_UNIX_MAX_FDS) + CMSG_SPACE(sizeof(struct ucred)) +
               CMSG_SPACE(sizeof(int))];
};

EVSRC_EXPORT ssize_t evsrc_unix_stream_send_fds(struct evsrc_unix_stream *stream, const void *buf, size_t len,
                                                const int *fds, size_t nfds)
{
    if ((!fds && nfds > 0) || nfds > EVSRC_UNIX_MAX_FDS || (len == 0 && nfds > 0))
        return -EINVAL;
    if (nfds == 0)
        return evsrc_unix_stream_write(stream, buf, len);
    int fd = fd_source_io_fd(FD_SOURCE_OF(stream), buf, len);
    if (fd < 0)
        return fd;
    union fd_control control;
    size_t payload = sizeof(int) * nfds;
    memset(control.bytes, 0, CMSG_SPACE(payload));
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr msg = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.bytes,
        .msg_controllen = CMSG_SPACE(payload),
    };
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(payload);
    memcpy(CMSG_DATA(cmsg), fds, payload);
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    return fd_source_io_result_of(fd, n, len);
}

/*
 * The fds an SCM_RIGHTS or SCM_PIDFD message carries: an array of ints.
 * cmsg_len is at least CMSG_LEN(0) in every message CMSG_FIRSTHDR and
 * CMSG_NXTHDR hand out of a buffer the kernel wrote.
 */
static size_t carried_count(const struct cmsghdr *cmsg)
{
    return (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
}

static int carried_fd(const struct cmsghdr *cmsg, size_t i)
{
    int fd;
    memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
    return fd;
}

/* Stores the fds of one SCM_RIGHTS message while there is room and closes the rest; false if any was closed. */
static bool keep_fds(const struct cmsghdr *cmsg, int *fds, size_t room, size_t *stored)
{
    size_t count = carried_count(cmsg);
    bool all = true;
    for (size_t i = 0; i < count; i++) {
        int received = carried_fd(cmsg, i);
        if (*stored < room) {
            fds[(*stored)++] = received;
        } else {
            close(received);
            all = false;
        }
    }
    return all;
}

/* Closes the fds of a message that the call does not return (the SO_PASSPIDFD pidfd). */
static void close_fds(const struct cmsghdr *cmsg)
{
    size_t count = carried_count(cmsg);
    for (size_t i = 0; i < count; i++)
        close(carried_fd(cmsg, i));
}

EVSRC_EXPORT ssize_t evsrc_unix_stream_recv_fds(struct evsrc_unix_stream *stream, void *buf, size_t len, int *fds,
                                                size_t *nfds, bool *truncated)
{
    if (!nfds || !buf || len == 0 || (!fds && *nfds > 0))
        return -EINVAL;
    size_t room = *nfds;
    *nfds = 0;
    if (truncated)
        *truncated = false;
    int fd = fd_source_get_fd(FD_SOURCE_OF(stream));
    if (fd < 0)
        return fd;
    union fd_control control;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr msg = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.bytes,
        .msg_controllen = sizeof control.bytes,
    };
    /* MSG_CMSG_CLOEXEC: the fds are close-on-exec from the moment they exist, with no window for a fork. */
    ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0)
        return fd_source_io_result(fd, n);
    /* MSG_CTRUNC: the kernel had more than fit in control and dropped (closed) the rest itself. */
    bool complete = !(msg.msg_flags & MSG_CTRUNC);
    size_t stored = 0;
    /*
     * Only SOL_SOCKET's SCM_RIGHTS and SCM_PIDFD carry fds (as of Linux 6.18); the
     * others (SCM_CREDENTIALS, SCM_SECURITY, any level's) are plain data,
     * skipped with nothing to release.
     */
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        bool socket_level = cmsg->cmsg_level == SOL_SOCKET;
        if (socket_level && cmsg->cmsg_type == SCM_RIGHTS)
            complete &= keep_fds(cmsg, fds, room, &stored);
        else if (socket_level && cmsg->cmsg_type == SCM_PIDFD)
            close_fds(cmsg);
    }
    *nfds = stored;
    if (truncated)
        *truncated = !complete;
    return n;
}

EVSRC_EXPORT int evsrc_unix_stream_local_addr(const struct evsrc_unix_stream *stream, struct sockaddr_un *addr,
                                              socklen_t *addrlen)
{
    return socket_get_address(FD_SOURCE_OF(stream), (struct sockaddr *)addr, addrlen, getsockname);
}

EVSRC_EXPORT int evsrc_unix_stream_peer_addr(const struct evsrc_unix_stream *stream, struct sockaddr_un *addr,
                                             socklen_t *addrlen)
{
    return socket_get_address(FD_SOURCE_OF(stream), (struct sockaddr *)addr, addrlen, getpeername);
}

EVSRC_EXPORT int evsrc_unix_stream_fd(const struct evsrc_unix_stream *stream)
{
    return fd_source_get_fd(FD_SOURCE_OF(stream));
}

EVSRC_EXPORT int evsrc_unix_stream_close(struct evsrc_unix_stream *stream)
{
    return fd_source_close(FD_SOURCE_OF(stream));
}

/* ---- Datagram ---------------------------------------------------------- */

EVSRC_EXPORT int evsrc_unix_datagram_bind(struct evsrc_unix_datagram *datagram, const char *path)
{
    if (!datagram)
        return -EINVAL;
    fd_source_init_closed(&datagram->source);
    return open_bound_path(&datagram->source, SOCK_DGRAM, path, false);
}

EVSRC_EXPORT int evsrc_unix_datagram_bind_addr(struct evsrc_unix_datagram *datagram,
                                               const struct sockaddr_un *addr, socklen_t addrlen)
{
    if (!datagram)
        return -EINVAL;
    fd_source_init_closed(&datagram->source);
    return open_bound_addr(&datagram->source, SOCK_DGRAM, addr, addrlen, false);
}

EVSRC_EXPORT int evsrc_unix_datagram_unbound(struct evsrc_unix_datagram *datagram)
{
    if (!datagram)
        return -EINVAL;
    fd_source_init_closed(&datagram->source);
    int fd = new_socket(SOCK_DGRAM);
    if (fd < 0)
        return fd;
    fd_source_init(&datagram->source, fd);
    return 0;
}

EVSRC_EXPORT int evsrc_unix_datagram_pair(struct evsrc_unix_datagram *a, struct evsrc_unix_datagram *b)
{
    return open_pair(FD_SOURCE_OF(a), FD_SOURCE_OF(b), SOCK_DGRAM);
}

EVSRC_EXPORT int evsrc_unix_datagram_from_fd(struct evsrc_unix_datagram *datagram, int fd)
{
    return fd_source_adopt(FD_SOURCE_OF(datagram), fd, check_datagram, 0);
}

static int connect_datagram(struct evsrc_unix_datagram *datagram, const struct sockaddr_un *addr,
                            socklen_t addrlen)
{
    int fd = fd_source_get_fd(FD_SOURCE_OF(datagram));
    if (fd < 0)
        return fd;
    return connect(fd, (const struct sockaddr *)addr, addrlen) < 0 ? -errno : 0;
}

EVSRC_EXPORT int evsrc_unix_datagram_connect(struct evsrc_unix_datagram *datagram, const char *path)
{
    if (!datagram)
        return -EINVAL;
    struct sockaddr_un addr;
    socklen_t addrlen;
    int r = evsrc_unix_addr_path(&addr, &addrlen, path);
    return r < 0 ? r : connect_datagram(datagram, &addr, addrlen);
}

EVSRC_EXPORT int evsrc_unix_datagram_connect_addr(struct evsrc_unix_datagram *datagram,
                                                  const struct sockaddr_un *addr, socklen_t addrlen)
{
    if (!datagram)
        return -EINVAL;
    int r = check_address(addr, addrlen);
    return r < 0 ? r : connect_datagram(datagram, addr, addrlen);
}

/* Datagrams pass len 0 through: an empty datagram is a message of its own. */
static ssize_t datagram_send(struct evsrc_unix_datagram *datagram, const void *buf, size_t len,
                             const struct sockaddr_un *to, socklen_t tolen)
{
    int fd = fd_source_io_fd(FD_SOURCE_OF(datagram), buf, len);
    if (fd < 0)
        return fd;
    return transmit_to(fd, buf, len, to, tolen);
}

EVSRC_EXPORT ssize_t evsrc_unix_datagram_send(struct evsrc_unix_datagram *datagram, const void *buf, size_t len)
{
    return datagram_send(datagram, buf, len, NULL, 0);
}

EVSRC_EXPORT ssize_t evsrc_unix_datagram_send_to(struct evsrc_unix_datagram *datagram, const void *buf, size_t len,
                                                 const char *path)
{
    if (!buf && len > 0)
        return -EINVAL;
    struct sockaddr_un addr;
    socklen_t addrlen;
    int r = evsrc_unix_addr_path(&addr, &addrlen, path);
    return r < 0 ? r : datagram_send(datagram, buf, len, &addr, addrlen);
}

EVSRC_EXPORT ssize_t evsrc_unix_datagram_send_to_addr(struct evsrc_unix_datagram *datagram, const void *buf,
                                                      size_t len, const struct sockaddr_un *addr,
                                                      socklen_t addrlen)
{
    if (!buf && len > 0)
        return -EINVAL;
    int r = check_address(addr, addrlen);
    return r < 0 ? r : datagram_send(datagram, buf, len, addr, addrlen);
}

EVSRC_EXPORT ssize_t evsrc_unix_datagram_recv(struct evsrc_unix_datagram *datagram, void *buf, size_t len)
{
    return evsrc_unix_datagram_recv_from(datagram, buf, len, NULL, NULL);
}

EVSRC_EXPORT ssize_t evsrc_unix_datagram_recv_from(struct evsrc_unix_datagram *datagram, void *buf, size_t len,
                                                   struct sockaddr_un *from, socklen_t *fromlen)
{
    if (from && !fromlen)
        return -EINVAL;
    int fd = fd_source_io_fd(FD_SOURCE_OF(datagram), buf, len);
    if (fd < 0)
        return fd;
    return receive_from(fd, buf, len, 0, from, fromlen);
}

EVSRC_EXPORT int evsrc_unix_datagram_shutdown(struct evsrc_unix_datagram *datagram, int how)
{
    return socket_shutdown(FD_SOURCE_OF(datagram), how);
}

EVSRC_EXPORT int evsrc_unix_datagram_take_error(struct evsrc_unix_datagram *datagram)
{
    return socket_take_error(FD_SOURCE_OF(datagram));
}

EVSRC_EXPORT int evsrc_unix_datagram_local_addr(const struct evsrc_unix_datagram *datagram,
                                                struct sockaddr_un *addr, socklen_t *addrlen)
{
    return socket_get_address(FD_SOURCE_OF(datagram), (struct sockaddr *)addr, addrlen, getsockname);
}

EVSRC_EXPORT int evsrc_unix_datagram_peer_addr(const struct evsrc_unix_datagram *datagram,
                                               struct sockaddr_un *addr, socklen_t *addrlen)
{
    return socket_get_address(FD_SOURCE_OF(datagram), (struct sockaddr *)addr, addrlen, getpeername);
}

EVSRC_EXPORT int evsrc_unix_datagram_fd(const struct evsrc_unix_datagram *datagram)
{
    return fd_source_get_fd(FD_SOURCE_OF(datagram));
}

EVSRC_EXPORT int evsrc_unix_datagram_close(struct evsrc_unix_datagram *datagram)
{
    return fd_source_close(FD_SOURCE_OF(datagram));
}
