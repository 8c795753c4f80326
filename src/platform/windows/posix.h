/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_PLATFORM_WINDOWS_POSIX_H
#define EVSRC_PLATFORM_WINDOWS_POSIX_H

/*
 * The POSIX socket calls the portable sources (src/sources/socket.c, tcp.c,
 * udp.c, fd.c) and the tests make, on Winsock, so those files are written
 * once with no #ifdef. This is gnulib's technique: the replacement headers
 * in include/ (<sys/socket.h>, <netinet/in.h>, <unistd.h>, ...) are first on
 * the include path of a Windows build only; they include Winsock and this
 * header, which names each call's replacement below. Each replacement takes
 * the socket as the int the sources carry (src/platform/platform.h), makes
 * every socket non-inheritable (WSA_FLAG_NO_HANDLE_INHERIT, the Windows form
 * of close-on-exec) and non-blocking when asked, and reports failure as
 * POSIX does: -1 with errno set from WSAGetLastError() through the one table
 * in posix.c (platform_errno_from_wsa). A would-block is EAGAIN, a
 * non-blocking connect in progress EINPROGRESS.
 *
 * What Windows has no form of: struct mmsghdr batches (ENOSYS), eventfd and
 * dup3 (ENOSYS: only queue.c's fork handling names them, and it is compiled
 * out, PLATFORM_HAS_FORK), fcntl beyond O_NONBLOCK and F_GETFD (whose
 * FD_CLOEXEC is a socket handle's lack of HANDLE_FLAG_INHERIT). SO_REUSEADDR is accepted
 * and ignored: on Windows it would let another socket steal the port, and a
 * listener there needs no help to rebind past TIME_WAIT.
 */

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <evsrc/platform.h>

typedef ADDRESS_FAMILY sa_family_t;

/* Flags of socket()'s type and accept4(), stripped and applied by the replacements. */
#define SOCK_NONBLOCK 0x0800
#define SOCK_CLOEXEC 0x80000
/* Never a signal on Windows: a gone peer is always an error. */
#define MSG_NOSIGNAL 0
#ifndef SHUT_RD
#define SHUT_RD SD_RECEIVE
#define SHUT_WR SD_SEND
#define SHUT_RDWR SD_BOTH
#endif
/* Linux's names for what Windows answers through SO_PROTOCOL_INFOW (platform_getsockopt). */
#define SO_DOMAIN 0x7e01
#define SO_PROTOCOL 0x7e02
#define IOV_MAX 1024
#ifndef O_NONBLOCK
#define O_NONBLOCK 0x4000
#endif
#ifndef O_CLOEXEC
#define O_CLOEXEC _O_NOINHERIT /* the C runtime's form of close-on-exec */
#endif
#define F_GETFD 1
#define FD_CLOEXEC 1
#define F_GETFL 3
#define F_SETFL 4

struct msghdr {
    void *msg_name;
    socklen_t msg_namelen;
    struct iovec *msg_iov;
    size_t msg_iovlen;
    void *msg_control;
    size_t msg_controllen;
    int msg_flags;
};

/* Linux's batch vector, declared whole so that code naming it builds; the batch calls are ENOSYS. */
struct mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};
#ifndef MSG_TRUNC
#define MSG_TRUNC 0x0100
#endif
/* Linux-only: setting it fails (ENOPROTOOPT) rather than not building. */
#define IP_MULTICAST_ALL 0x7e03

/* The errno value of a Winsock (or Win32) error code: the one table, in posix.c. */
int platform_errno_from_wsa(int error);
/* Winsock's startup, once per process: 0 or -errno. Every call below that makes a socket runs it. */
int platform_winsock_start(void);

int platform_socket(int domain, int type, int protocol);
int platform_bind(int fd, const struct sockaddr *addr, socklen_t len);
int platform_listen(int fd, int backlog);
int platform_connect(int fd, const struct sockaddr *addr, socklen_t len);
int platform_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
ssize_t platform_send(int fd, const void *buf, size_t len, int flags);
ssize_t platform_recv(int fd, void *buf, size_t len, int flags);
ssize_t platform_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen);
ssize_t platform_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fromlen);
ssize_t platform_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t platform_writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t platform_sendmsg(int fd, const struct msghdr *msg, int flags);
int platform_getsockopt(int fd, int level, int name, void *value, socklen_t *len);
int platform_setsockopt(int fd, int level, int name, const void *value, socklen_t len);
int platform_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int platform_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
int platform_shutdown(int fd, int how);
int platform_close(int fd);
/* read(2) and write(2) on a socket are recv and send; on anything else, the C runtime's. */
ssize_t platform_read(int fd, void *buf, size_t len);
ssize_t platform_write(int fd, const void *buf, size_t len);
int platform_fcntl(int fd, int cmd, ...);
int platform_socketpair(int domain, int type, int protocol, int fds[2]);
/* A C runtime pipe, non-inheritable when O_CLOEXEC is asked: for the tests that adopt a non-socket. */
int platform_pipe2(int fds[2], int flags);
int platform_sendmmsg(int fd, struct mmsghdr *msgs, unsigned count, int flags);
int platform_recvmmsg(int fd, struct mmsghdr *msgs, unsigned count, int flags, struct timespec *timeout);

/* Not in posix.c, which calls Winsock by these names. */
#if !defined(PLATFORM_POSIX_IMPLEMENTATION)
#define socket platform_socket
#define bind platform_bind
#define listen platform_listen
#define connect platform_connect
#define accept4 platform_accept4
#define send platform_send
#define recv platform_recv
#define sendto platform_sendto
#define recvfrom platform_recvfrom
#define readv platform_readv
#define writev platform_writev
#define sendmsg platform_sendmsg
#define getsockopt platform_getsockopt
#define setsockopt platform_setsockopt
#define getsockname platform_getsockname
#define getpeername platform_getpeername
#define shutdown platform_shutdown
#define fcntl platform_fcntl
#define socketpair platform_socketpair
#define pipe2 platform_pipe2
#define sendmmsg platform_sendmmsg
#define recvmmsg platform_recvmmsg
/* Function-like, so that only calls are replaced. */
#define close(fd) platform_close(fd)
#define read(fd, buf, len) platform_read(fd, buf, len)
#define write(fd, buf, len) platform_write(fd, buf, len)
#endif

#endif /* EVSRC_PLATFORM_WINDOWS_POSIX_H */
