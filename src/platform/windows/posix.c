/* SPDX-License-Identifier: MIT */
/* The Winsock replacements of posix.h, and the one Winsock-to-errno table. Windows builds only. */
#define PLATFORM_POSIX_IMPLEMENTATION 1
#include "posix.h"

#include <errno.h>
#include <io.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>

/*
 * Winsock (and the few Win32) error codes the socket calls report, as the
 * errno values of mingw's <errno.h>. A would-block is EAGAIN, as evsrc
 * promises everywhere; a send after shutdown is EPIPE, Linux's answer.
 * Anything not listed is EIO.
 */
static const struct {
    int wsa;
    int posix;
} wsa_errors[] = {
    {WSAEINTR, EINTR},
    {WSAEBADF, EBADF},
    {WSAEACCES, EACCES},
    {WSAEFAULT, EFAULT},
    {WSAEINVAL, EINVAL},
    {WSAEMFILE, EMFILE},
    {WSAEWOULDBLOCK, EAGAIN},
    {WSAEINPROGRESS, EINPROGRESS},
    {WSAEALREADY, EALREADY},
    {WSAENOTSOCK, ENOTSOCK},
    {WSAEDESTADDRREQ, EDESTADDRREQ},
    {WSAEMSGSIZE, EMSGSIZE},
    {WSAEPROTOTYPE, EPROTOTYPE},
    {WSAENOPROTOOPT, ENOPROTOOPT},
    {WSAEPROTONOSUPPORT, EPROTONOSUPPORT},
    {WSAESOCKTNOSUPPORT, EPROTONOSUPPORT},
    {WSAEOPNOTSUPP, EOPNOTSUPP},
    {WSAEPFNOSUPPORT, EAFNOSUPPORT},
    {WSAEAFNOSUPPORT, EAFNOSUPPORT},
    {WSAEADDRINUSE, EADDRINUSE},
    {WSAEADDRNOTAVAIL, EADDRNOTAVAIL},
    {WSAENETDOWN, ENETDOWN},
    {WSAENETUNREACH, ENETUNREACH},
    {WSAENETRESET, ENETRESET},
    {WSAECONNABORTED, ECONNABORTED},
    {WSAECONNRESET, ECONNRESET},
    {WSAENOBUFS, ENOBUFS},
    {WSAEISCONN, EISCONN},
    {WSAENOTCONN, ENOTCONN},
    {WSAESHUTDOWN, EPIPE},
    {WSAETIMEDOUT, ETIMEDOUT},
    {WSAECONNREFUSED, ECONNREFUSED},
    {WSAELOOP, ELOOP},
    {WSAENAMETOOLONG, ENAMETOOLONG},
    {WSAEHOSTDOWN, EHOSTUNREACH},
    {WSAEHOSTUNREACH, EHOSTUNREACH},
    {WSAEDISCON, EPIPE},
    {WSANOTINITIALISED, EINVAL},
    {WSA_NOT_ENOUGH_MEMORY, ENOMEM},
    {WSA_INVALID_HANDLE, EBADF},
    {WSA_INVALID_PARAMETER, EINVAL},
    {ERROR_INVALID_HANDLE, EBADF},
    {ERROR_NOT_ENOUGH_MEMORY, ENOMEM},
    {ERROR_OUTOFMEMORY, ENOMEM},
    {ERROR_ACCESS_DENIED, EACCES},
    {ERROR_INVALID_PARAMETER, EINVAL},
    {ERROR_NOT_SUPPORTED, EOPNOTSUPP},
    {ERROR_OPERATION_ABORTED, ECANCELED},
    {ERROR_NETNAME_DELETED, ECONNRESET},
    {ERROR_CONNECTION_REFUSED, ECONNREFUSED},
    {ERROR_CONNECTION_ABORTED, ECONNABORTED},
};

int platform_errno_from_wsa(int error)
{
    for (size_t i = 0; i < sizeof wsa_errors / sizeof wsa_errors[0]; i++)
        if (wsa_errors[i].wsa == error)
            return wsa_errors[i].posix;
    return EIO;
}

/* -1 with errno from the thread's last Winsock error: every replacement's failure. */
static int fail_wsa(void)
{
    errno = platform_errno_from_wsa(WSAGetLastError());
    return -1;
}

static int fail(int error)
{
    errno = error;
    return -1;
}

static INIT_ONCE winsock_once = INIT_ONCE_STATIC_INIT;
static int winsock_error;

static BOOL CALLBACK winsock_start_once(PINIT_ONCE once, PVOID parameter, PVOID *context)
{
    (void)once;
    (void)parameter;
    (void)context;
    WSADATA data;
    int r = WSAStartup(MAKEWORD(2, 2), &data);
    winsock_error = r ? platform_errno_from_wsa(r) : 0;
    return TRUE;
}

int platform_winsock_start(void)
{
    InitOnceExecuteOnce(&winsock_once, winsock_start_once, NULL, NULL);
    return -winsock_error;
}

/* FIONBIO: the socket's blocking mode (Winsock cannot read it back). */
static int set_nonblocking(SOCKET s, bool on)
{
    u_long mode = on ? 1 : 0;
    return ioctlsocket(s, FIONBIO, &mode) == SOCKET_ERROR ? fail_wsa() : 0;
}

int platform_socket(int domain, int type, int protocol)
{
    int r = platform_winsock_start();
    if (r < 0)
        return fail(-r);
    SOCKET s = WSASocketW(domain, type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), protocol, NULL, 0,
                          WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == INVALID_SOCKET)
        return fail_wsa();
    if ((type & SOCK_NONBLOCK) && set_nonblocking(s, true) < 0) {
        int error = errno;
        closesocket(s);
        return fail(error);
    }
    return (int)s;
}

int platform_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    return bind((SOCKET)fd, addr, len) == SOCKET_ERROR ? fail_wsa() : 0;
}

int platform_listen(int fd, int backlog)
{
    return listen((SOCKET)fd, backlog) == SOCKET_ERROR ? fail_wsa() : 0;
}

int platform_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (connect((SOCKET)fd, addr, len) != SOCKET_ERROR)
        return 0;
    /* A non-blocking connect under way is WSAEWOULDBLOCK on Windows, EINPROGRESS on POSIX. */
    if (WSAGetLastError() == WSAEWOULDBLOCK)
        return fail(EINPROGRESS);
    return fail_wsa();
}

int platform_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    SOCKET s = accept((SOCKET)fd, addr, len);
    if (s == INVALID_SOCKET)
        return fail_wsa();
    /* accept has no flags: the new handle is made non-inheritable and non-blocking here. */
    if (!SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0) ||
        set_nonblocking(s, (flags & SOCK_NONBLOCK) != 0) < 0) {
        int error = errno ? errno : EIO;
        closesocket(s);
        return fail(error);
    }
    return (int)s;
}

/* Winsock lengths are ints: a longer buffer is used up to INT_MAX, a short transfer POSIX allows. */
static int clamp_len(size_t len)
{
    return len > INT_MAX ? INT_MAX : (int)len;
}

ssize_t platform_send(int fd, const void *buf, size_t len, int flags)
{
    int n = send((SOCKET)fd, buf, clamp_len(len), flags);
    return n == SOCKET_ERROR ? fail_wsa() : n;
}

ssize_t platform_recv(int fd, void *buf, size_t len, int flags)
{
    int n = recv((SOCKET)fd, buf, clamp_len(len), flags);
    if (n != SOCKET_ERROR)
        return n;
    /* A datagram longer than the buffer: POSIX returns the truncated part, Winsock an error after filling it. */
    if (WSAGetLastError() == WSAEMSGSIZE)
        return clamp_len(len);
    return fail_wsa();
}

ssize_t platform_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen)
{
    int n = sendto((SOCKET)fd, buf, clamp_len(len), flags, to, tolen);
    return n == SOCKET_ERROR ? fail_wsa() : n;
}

ssize_t platform_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fromlen)
{
    int n = recvfrom((SOCKET)fd, buf, clamp_len(len), flags, from, fromlen);
    if (n != SOCKET_ERROR)
        return n;
    if (WSAGetLastError() == WSAEMSGSIZE)
        return clamp_len(len);
    return fail_wsa();
}

/* The WSABUFs of a vector, at most this many per call: a short transfer, which POSIX allows. */
#define WSABUF_BATCH 64

static DWORD to_wsabufs(WSABUF *bufs, const struct iovec *iov, int iovcnt)
{
    DWORD count = iovcnt > WSABUF_BATCH ? WSABUF_BATCH : (DWORD)iovcnt;
    for (DWORD i = 0; i < count; i++) {
        bufs[i].buf = iov[i].iov_base;
        bufs[i].len = iov[i].iov_len > ULONG_MAX ? ULONG_MAX : (ULONG)iov[i].iov_len;
    }
    return count;
}

ssize_t platform_readv(int fd, const struct iovec *iov, int iovcnt)
{
    WSABUF bufs[WSABUF_BATCH];
    DWORD count = to_wsabufs(bufs, iov, iovcnt), received = 0, flags = 0;
    if (WSARecv((SOCKET)fd, bufs, count, &received, &flags, NULL, NULL) == SOCKET_ERROR)
        return fail_wsa();
    return (ssize_t)received;
}

ssize_t platform_writev(int fd, const struct iovec *iov, int iovcnt)
{
    WSABUF bufs[WSABUF_BATCH];
    DWORD count = to_wsabufs(bufs, iov, iovcnt), sent = 0;
    if (WSASend((SOCKET)fd, bufs, count, &sent, 0, NULL, NULL) == SOCKET_ERROR)
        return fail_wsa();
    return (ssize_t)sent;
}

/* Only what socket.h's writev asks of sendmsg: a vector to the connected peer. */
ssize_t platform_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (msg->msg_name || msg->msg_control || flags != 0)
        return fail(EOPNOTSUPP);
    return platform_writev(fd, msg->msg_iov, msg->msg_iovlen > INT_MAX ? INT_MAX : (int)msg->msg_iovlen);
}

int platform_getsockopt(int fd, int level, int name, void *value, socklen_t *len)
{
    if (level == SOL_SOCKET && (name == SO_DOMAIN || name == SO_PROTOCOL)) {
        WSAPROTOCOL_INFOW info;
        int size = sizeof info;
        if (!value || !len || *len < (socklen_t)sizeof(int))
            return fail(EINVAL);
        if (getsockopt((SOCKET)fd, SOL_SOCKET, SO_PROTOCOL_INFOW, (char *)&info, &size) == SOCKET_ERROR)
            return fail_wsa();
        int answer = name == SO_DOMAIN ? info.iAddressFamily : info.iProtocol;
        memcpy(value, &answer, sizeof answer);
        *len = sizeof answer;
        return 0;
    }
    if (getsockopt((SOCKET)fd, level, name, value, len) == SOCKET_ERROR)
        return fail_wsa();
    /* SO_ERROR holds a Winsock code: hand it over as errno, as POSIX does. */
    if (level == SOL_SOCKET && name == SO_ERROR && *len >= (socklen_t)sizeof(int)) {
        int error;
        memcpy(&error, value, sizeof error);
        error = error ? platform_errno_from_wsa(error) : 0;
        memcpy(value, &error, sizeof error);
    }
    return 0;
}

int platform_setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
    if (level == SOL_SOCKET && name == SO_REUSEADDR)
        return 0; /* see posix.h */
    return setsockopt((SOCKET)fd, level, name, value, len) == SOCKET_ERROR ? fail_wsa() : 0;
}

/*
 * POSIX truncates an address to a short buffer and reports its full length;
 * Winsock refuses the buffer (WSAEFAULT). So the address goes through a
 * whole sockaddr_storage and is copied as POSIX would.
 */
static int get_address(int fd, struct sockaddr *addr, socklen_t *len,
                       int (WSAAPI *getter)(SOCKET, struct sockaddr *, int *))
{
    if (!addr || !len || *len < 0)
        return fail(EFAULT);
    struct sockaddr_storage whole;
    int whole_len = sizeof whole;
    if (getter((SOCKET)fd, (struct sockaddr *)&whole, &whole_len) == SOCKET_ERROR)
        return fail_wsa();
    memcpy(addr, &whole, (size_t)(*len < whole_len ? *len : whole_len));
    *len = whole_len;
    return 0;
}

int platform_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    return get_address(fd, addr, len, getsockname);
}

int platform_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    return get_address(fd, addr, len, getpeername);
}

int platform_shutdown(int fd, int how)
{
    return shutdown((SOCKET)fd, how) == SOCKET_ERROR ? fail_wsa() : 0;
}

int platform_close(int fd)
{
    if (closesocket((SOCKET)fd) != SOCKET_ERROR)
        return 0;
    /* Not a socket: a C runtime descriptor (a test's file, say). */
    if (WSAGetLastError() == WSAENOTSOCK)
        return _close(fd);
    return fail_wsa();
}

ssize_t platform_read(int fd, void *buf, size_t len)
{
    int n = recv((SOCKET)fd, buf, clamp_len(len), 0);
    if (n != SOCKET_ERROR)
        return n;
    if (WSAGetLastError() == WSAENOTSOCK)
        return _read(fd, buf, len > UINT_MAX ? UINT_MAX : (unsigned)len);
    return fail_wsa();
}

ssize_t platform_write(int fd, const void *buf, size_t len)
{
    int n = send((SOCKET)fd, buf, clamp_len(len), 0);
    if (n != SOCKET_ERROR)
        return n;
    if (WSAGetLastError() == WSAENOTSOCK)
        return _write(fd, buf, len > UINT_MAX ? UINT_MAX : (unsigned)len);
    return fail_wsa();
}

int platform_fcntl(int fd, int cmd, ...)
{
    if (cmd == F_GETFL)
        return 0; /* Winsock cannot tell the mode; F_SETFL sets it either way */
    if (cmd == F_GETFD) {
        DWORD flags;
        if (!GetHandleInformation((HANDLE)(intptr_t)fd, &flags))
            return fail(EBADF);
        return (flags & HANDLE_FLAG_INHERIT) ? 0 : FD_CLOEXEC;
    }
    if (cmd != F_SETFL)
        return fail(EINVAL);
    va_list args;
    va_start(args, cmd);
    int flags = va_arg(args, int);
    va_end(args);
    return set_nonblocking((SOCKET)fd, (flags & O_NONBLOCK) != 0);
}

/*
 * A connected pair of TCP sockets over loopback: Windows has AF_UNIX stream
 * sockets only from Windows 10 (not under Wine), so the pair is the
 * portable one. Both ends get the type's flags.
 */
int platform_socketpair(int domain, int type, int protocol, int fds[2])
{
    (void)domain;
    (void)protocol;
    int listener = platform_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (listener < 0)
        return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    int a = -1, b = -1;
    if (platform_bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || platform_listen(listener, 1) < 0 ||
        platform_getsockname(listener, (struct sockaddr *)&addr, &len) < 0)
        goto failed;
    a = platform_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (a < 0 || platform_connect(a, (struct sockaddr *)&addr, sizeof addr) < 0)
        goto failed;
    b = platform_accept4(listener, NULL, NULL, type & SOCK_NONBLOCK);
    if (b < 0 || ((type & SOCK_NONBLOCK) && set_nonblocking((SOCKET)a, true) < 0))
        goto failed;
    closesocket((SOCKET)listener);
    fds[0] = a;
    fds[1] = b;
    return 0;
failed:;
    int error = errno;
    closesocket((SOCKET)listener);
    if (a >= 0)
        closesocket((SOCKET)a);
    if (b >= 0)
        closesocket((SOCKET)b);
    return fail(error);
}

int platform_pipe2(int fds[2], int flags)
{
    return _pipe(fds, 65536, _O_BINARY | ((flags & O_CLOEXEC) ? _O_NOINHERIT : 0));
}

int platform_sendmmsg(int fd, struct mmsghdr *msgs, unsigned count, int flags)
{
    (void)fd;
    (void)msgs;
    (void)count;
    (void)flags;
    return fail(ENOSYS);
}

int platform_recvmmsg(int fd, struct mmsghdr *msgs, unsigned count, int flags, struct timespec *timeout)
{
    (void)fd;
    (void)msgs;
    (void)count;
    (void)flags;
    (void)timeout;
    return fail(ENOSYS);
}
