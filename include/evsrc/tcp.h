/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_TCP_H
#define EVSRC_TCP_H

/*
 * TCP sources: a listener and a stream, each a non-blocking socket in a
 * caller-owned struct that registers like any other source:
 *
 *     evsrc_registry_register(registry, &stream.source, token, EVSRC_READABLE);
 *
 * Ownership
 * ---------
 * The caller owns the structs (stack, heap or embedded; the library keeps no
 * pointer to them). A struct owns its socket from the moment a constructor
 * (bind, connect, accept, from_fd) succeeds until its close function is
 * called; the caller must not close the fd itself. Constructors set every
 * field, so the struct need not be zeroed first, but it must not hold an open
 * socket: that socket would be forgotten, not closed. When a constructor
 * fails (other than for a NULL struct) it leaves the struct closed, so a
 * later close returns -EBADF and touches nothing.
 *
 * Edge-triggered draining
 * -----------------------
 * Registrations are edge-triggered unless EVSRC_LEVEL is asked for: after a
 * readable event, read (or accept) until the call returns -EAGAIN before
 * waiting again, or no further event comes for what is left. After a write
 * returns -EAGAIN, a writable event comes once there is room. See poll.h.
 *
 * Closing
 * -------
 * A close function closes the socket, which removes it from any queue it is
 * in, and clears the source's registration record so the struct can be
 * registered again after a new constructor. It does not call deregister.
 * If the fd was duplicated (dup(), fork()), the queue keeps reporting the
 * open file until every copy is closed: deregister before closing then.
 * Closing a closed source returns -EBADF and never touches another fd.
 *
 * Thread-safety
 * -------------
 * Constructors and close must not race with any other call on the same
 * struct, as with close(2). The I/O and accessor calls on one struct may run
 * in several threads at once: each is one system call, and as thread-safe
 * as it is (two concurrent readers of one stream split its bytes between
 * them, in no useful order). Registering a struct from another thread while
 * a different thread waits on the poll is fine (registry.h). Calls on
 * distinct structs are independent.
 *
 * Errors
 * ------
 * Every function returns -errno on failure: -EINVAL for a NULL struct or
 * other bad argument, -EBADF for a closed struct, and otherwise what the
 * system call reported. No call ever raises SIGPIPE.
 *
 * Addresses
 * ---------
 * Addresses passed in must be AF_INET or AF_INET6 with addrlen at least the
 * family's struct size (sizeof(struct sockaddr_in) or sockaddr_in6) and at
 * most sizeof(struct sockaddr_storage); anything else is -EINVAL. Address
 * out-parameters work like getsockname(2): the caller sets *addrlen to the
 * size of the buffer and gets back the length of the address. If the buffer
 * is smaller than the address, the address is truncated to the buffer's size
 * and *addrlen is set to the full length, which the caller compares with the
 * size it passed to tell.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#if defined(_WIN32)
/* Winsock's addresses; struct iovec is platform.h's (its Windows form). */
#include <winsock2.h>
#include <ws2tcpip.h>
/* evsrc_tcp_stream_shutdown()'s `how` by its POSIX names: Winsock's SD_* have the same values. */
#ifndef SHUT_RD
#define SHUT_RD SD_RECEIVE
#define SHUT_WR SD_SEND
#define SHUT_RDWR SD_BOTH
#endif
#else
#include <sys/socket.h>
#include <sys/uio.h>
#endif

#include <evsrc/export.h>
#include <evsrc/platform.h>
#include <evsrc/source.h>

EVSRC_BEGIN_DECLS

/*
 * A listening TCP socket (mio's TcpListener). Register `source` for
 * EVSRC_READABLE: a readable event means connections are pending. The fields
 * are private: use the functions below.
 */
struct evsrc_tcp_listener {
    struct evsrc_source source;
    evsrc_fd fd; /* private: the socket, -1 (INVALID_SOCKET on Windows) when closed */
};

/*
 * A connected (or connecting) TCP socket (mio's TcpStream). Register `source`
 * for EVSRC_READABLE and/or EVSRC_WRITABLE. The fields are private.
 */
struct evsrc_tcp_stream {
    struct evsrc_source source;
    evsrc_fd fd; /* private: the socket, -1 (INVALID_SOCKET on Windows) when closed */
};

/* ---- Listener ---------------------------------------------------------- */

/*
 * Creates a non-blocking, close-on-exec TCP socket for addr's family, sets
 * SO_REUSEADDR (so a restarted server can bind a port whose old connections
 * linger in TIME_WAIT), binds it to addr and listens with a backlog of 1024
 * (the kernel caps it at net.core.somaxconn). Port 0 picks a free port: read
 * it back with evsrc_tcp_listener_local_addr(). An AF_INET6 socket keeps the
 * system's IPV6_V6ONLY default.
 * Errors: -EINVAL if listener or addr is NULL, or the address is invalid (see
 * "Addresses" above); -EADDRINUSE; -EADDRNOTAVAIL (no such local address);
 * -EAFNOSUPPORT (no IPv6 on this machine); -EACCES (a privileged port);
 * -EMFILE/-ENFILE; -ENOMEM/-ENOBUFS. On error no fd is left open.
 * Thread-safety: not alongside any other call on the same struct (as with
 * close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_tcp_listener_bind(struct evsrc_tcp_listener *listener, const struct sockaddr *addr,
                                         socklen_t addrlen);

/*
 * Adopts `fd`, a listening TCP socket (IPv4 or IPv6), as a listener, and
 * makes it non-blocking; its close-on-exec flag stays as it was. This is
 * for sockets made elsewhere: inherited through socket activation, or set
 * up with options evsrc_tcp_listener_bind() does not set, such as
 * SO_REUSEPORT to spread connections over one listener per thread
 * (examples/reuseport-server.c). On success the listener owns the fd (close
 * it with evsrc_tcp_listener_close()). On failure the fd stays the caller's,
 * open and unchanged.
 * Errors: -EINVAL if listener is NULL, or fd is a socket but not a TCP
 * socket (UDP, Unix domain) or not listening (listen(2) it first); -EBADF if
 * fd is negative or not open; -ENOTSOCK if fd is not a socket.
 * Thread-safety: not alongside any other call on the same struct (as with
 * close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_tcp_listener_from_fd(struct evsrc_tcp_listener *listener, evsrc_fd fd);

/*
 * Stores the address the listener is bound to in *addr (see "Addresses" for
 * *addrlen and truncation).
 * Errors: -EINVAL if listener, addr or addrlen is NULL; -EBADF if closed.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT int evsrc_tcp_listener_local_addr(const struct evsrc_tcp_listener *listener,
                                               struct sockaddr_storage *addr, socklen_t *addrlen);

/*
 * Accepts one pending connection into *stream, which is then a connected,
 * non-blocking, close-on-exec stream owned by the caller (close it with
 * evsrc_tcp_stream_close()). If peer is not NULL, the connection's remote
 * address (the client's address and port, as accept(2) and, later,
 * evsrc_tcp_stream_peer_addr() report it) is stored there, and peerlen must
 * then not be NULL: set *peerlen to sizeof *peer before the call, and it
 * holds the address's length after it (sizeof(struct sockaddr_in) or
 * sizeof(struct sockaddr_in6)). The family is the listener's: an IPv6
 * listener that also takes IPv4 (IPV6_V6ONLY off, Linux's default) reports
 * an IPv4 client as AF_INET6 ::ffff:a.b.c.d. If *peerlen was smaller, the
 * address is truncated and *peerlen is still its full length. If peer is
 * NULL, peerlen is ignored. On error *peer and *peerlen are left unchanged.
 * After a readable event, accept until -EAGAIN (edge-triggered).
 * Errors: -EINVAL if listener or stream is NULL, or peer is given without
 * peerlen; -EBADF if the listener is closed; -EAGAIN when no connection is
 * pending; -ECONNABORTED when a pending connection was reset before it was
 * accepted (accept again); -EMFILE/-ENFILE when out of fds (the connection
 * stays pending); -ENOMEM/-ENOBUFS. On error *stream is left closed.
 * Thread-safety: several threads may accept on one listener at once (each
 * connection goes to one of them); *stream must not be in use elsewhere.
 */
EVSRC_EXPORT int evsrc_tcp_listener_accept(struct evsrc_tcp_listener *listener, struct evsrc_tcp_stream *stream,
                                           struct sockaddr_storage *peer, socklen_t *peerlen);

/*
 * The listener's socket, borrowed: for socket options the library does not
 * wrap. Do not close it, and do not register it on its own while the
 * listener is registered.
 * Errors: -EINVAL if listener is NULL; -EBADF if closed.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT int evsrc_tcp_listener_fd(const struct evsrc_tcp_listener *listener);

/*
 * Closes the listener's socket (see "Closing" above). Pending connections
 * not yet accepted are reset.
 * Errors: -EINVAL if listener is NULL; -EBADF if already closed.
 * Thread-safety: not alongside any other call on the same struct (as with
 * close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_tcp_listener_close(struct evsrc_tcp_listener *listener);

/* ---- Stream ------------------------------------------------------------ */

/*
 * Creates a non-blocking, close-on-exec TCP socket and starts connecting it
 * to addr. Returns 0 as soon as the connection is under way (the kernel's
 * EINPROGRESS is success). To learn how it ends, register the stream for
 * EVSRC_WRITABLE; on the writable (or error, or write-closed) event call
 * evsrc_tcp_stream_take_error(): 0 means connected, a -errno such as
 * -ECONNREFUSED or -ETIMEDOUT means the connect failed and the stream should
 * be closed. Reads and writes before then return -EAGAIN or -ENOTCONN.
 * Once a connect has failed, the error is pending on the socket, and the
 * first read or write returns it (-ECONNREFUSED, say) and clears it, so
 * take_error then returns 0: call take_error first, or treat such a read's
 * error as the connect's outcome.
 * Errors: -EINVAL if stream or addr is NULL, or the address is invalid (see
 * "Addresses"); -EAFNOSUPPORT; -ENETUNREACH; -ECONNREFUSED (refused at once);
 * -EADDRNOTAVAIL/-EAGAIN (no free local port); -EMFILE/-ENFILE;
 * -ENOMEM/-ENOBUFS. On error no fd is left open and *stream is left closed.
 * Thread-safety: not alongside any other call on the same struct (as with
 * close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_tcp_stream_connect(struct evsrc_tcp_stream *stream, const struct sockaddr *addr,
                                          socklen_t addrlen);

/*
 * Adopts `fd`, a TCP socket that is connected or connecting, as a stream,
 * and makes it non-blocking; its close-on-exec flag stays as it was. On
 * success the stream owns the fd (close it with evsrc_tcp_stream_close()).
 * On failure the fd stays the caller's, open and unchanged.
 * Errors: -EINVAL if stream is NULL, or fd is a socket but not a TCP stream
 * socket (UDP, Unix domain) or is listening; -EBADF if fd is negative or not
 * open; -ENOTSOCK if fd is not a socket.
 * Thread-safety: not alongside any other call on the same struct (as with
 * close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_tcp_stream_from_fd(struct evsrc_tcp_stream *stream, evsrc_fd fd);

/*
 * Reads and clears the socket's pending error (SO_ERROR): 0 if there is none,
 * else that error as -errno (-ECONNREFUSED for a refused connect). A second
 * call returns 0, as the first cleared it, and so does a call after a read
 * or write that already returned the pending error (the kernel hands a
 * socket error to the first call that asks for it).
 * Errors (of the call itself): -EINVAL if stream is NULL; -EBADF if closed.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT int evsrc_tcp_stream_take_error(struct evsrc_tcp_stream *stream);

/*
 * Reads up to len bytes into buf. Returns the number read, 0 at end of stream
 * (the peer shut down its write side and everything was read) or when len is
 * 0, or -errno: -EAGAIN when nothing is buffered (drained); -ECONNRESET;
 * -ENOTCONN before a connect completes; -EINVAL if stream is NULL or buf is
 * NULL with len > 0; -EBADF if closed; -EFAULT for a bad buf.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT ssize_t evsrc_tcp_stream_read(struct evsrc_tcp_stream *stream, void *buf, size_t len);

/*
 * Like evsrc_tcp_stream_read(), but leaves the bytes in the socket, so the
 * next read returns them again.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT ssize_t evsrc_tcp_stream_peek(struct evsrc_tcp_stream *stream, void *buf, size_t len);

/*
 * Writes up to len bytes from buf. Returns the number written, which may be
 * less than len when the socket's buffer fills (write the rest after the next
 * writable event), 0 when len is 0, or -errno: -EAGAIN when the buffer is
 * full; -EPIPE or -ECONNRESET when the peer is gone (never SIGPIPE);
 * -ENOTCONN before a connect completes; -EINVAL if stream is NULL or buf is
 * NULL with len > 0; -EBADF if closed; -EFAULT for a bad buf.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT ssize_t evsrc_tcp_stream_write(struct evsrc_tcp_stream *stream, const void *buf, size_t len);

/*
 * Scatter read: fills iov[0..iovcnt) in order, as evsrc_tcp_stream_read()
 * does one buffer (same returns and errors). Also -EINVAL if iovcnt is
 * negative or above IOV_MAX, iov is NULL with iovcnt > 0, or an entry has a
 * NULL iov_base with iov_len > 0; -EFAULT for another bad buffer. iovcnt 0
 * returns 0.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT ssize_t evsrc_tcp_stream_readv(struct evsrc_tcp_stream *stream, const struct iovec *iov,
                                            int iovcnt);

/*
 * Gather write: sends iov[0..iovcnt) in order, as evsrc_tcp_stream_write()
 * sends one buffer (same returns and errors, partial writes included, never
 * SIGPIPE). Also -EINVAL if iovcnt is negative or above IOV_MAX, iov is
 * NULL with iovcnt > 0, or an entry has a NULL iov_base with iov_len > 0;
 * -EFAULT for another bad buffer. iovcnt 0 returns 0.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT ssize_t evsrc_tcp_stream_writev(struct evsrc_tcp_stream *stream, const struct iovec *iov,
                                             int iovcnt);

/*
 * Shuts down the read side (SHUT_RD), the write side (SHUT_WR: the peer reads
 * end of stream once it has read what was sent) or both (SHUT_RDWR). The
 * socket stays open until closed.
 * Errors: -EINVAL if stream is NULL or how is none of the three; -EBADF if
 * closed; -ENOTCONN if not connected.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT int evsrc_tcp_stream_shutdown(struct evsrc_tcp_stream *stream, int how);

/*
 * Turns TCP_NODELAY on or off. On, small writes are sent at once instead of
 * being held back to coalesce with later ones (Nagle's algorithm), which
 * suits request/response protocols.
 * Errors: -EINVAL if stream is NULL; -EBADF if closed.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT int evsrc_tcp_stream_set_nodelay(struct evsrc_tcp_stream *stream, bool nodelay);

/*
 * Whether TCP_NODELAY is on: 1 if on, 0 if off.
 * Errors: -EINVAL if stream is NULL; -EBADF if closed.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT int evsrc_tcp_stream_nodelay(const struct evsrc_tcp_stream *stream);

/*
 * Stores the stream's local address in *addr (see "Addresses" for *addrlen
 * and truncation). Available as soon as a connect has started.
 * Errors: -EINVAL if stream, addr or addrlen is NULL; -EBADF if closed.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT int evsrc_tcp_stream_local_addr(const struct evsrc_tcp_stream *stream, struct sockaddr_storage *addr,
                                             socklen_t *addrlen);

/*
 * Stores the peer's address in *addr (see "Addresses" for *addrlen and
 * truncation).
 * Errors: -EINVAL if stream, addr or addrlen is NULL; -EBADF if closed;
 * -ENOTCONN before the connection completes, after a failed connect, or for
 * an adopted socket that is not connected.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT int evsrc_tcp_stream_peer_addr(const struct evsrc_tcp_stream *stream, struct sockaddr_storage *addr,
                                            socklen_t *addrlen);

/*
 * The stream's socket, borrowed: for socket options the library does not
 * wrap. Do not close it, and do not register it on its own while the stream
 * is registered.
 * Errors: -EINVAL if stream is NULL; -EBADF if closed.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT int evsrc_tcp_stream_fd(const struct evsrc_tcp_stream *stream);

/*
 * Closes the stream's socket (see "Closing" above). Data not yet sent is
 * still delivered by the kernel in the background; unread received data
 * makes the kernel reset the connection.
 * Errors: -EINVAL if stream is NULL; -EBADF if already closed.
 * Thread-safety: not alongside any other call on the same struct (as with
 * close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_tcp_stream_close(struct evsrc_tcp_stream *stream);

EVSRC_END_DECLS

#endif /* EVSRC_TCP_H */
