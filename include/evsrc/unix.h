/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_UNIX_H
#define EVSRC_UNIX_H

/*
 * Linux only: Windows builds have no such source (README, docs/backends.md).
 *
 * Unix-domain socket sources: a listener and a stream (SOCK_STREAM, mio's
 * UnixListener and UnixStream) and a datagram socket (SOCK_DGRAM, mio's
 * UnixDatagram). Each is a non-blocking socket in a caller-owned struct that
 * registers like any other source:
 *
 *     evsrc_registry_register(registry, &stream.source, token, EVSRC_READABLE);
 *
 * Ownership
 * ---------
 * The caller owns the structs (stack, heap or embedded; the library keeps no
 * pointer to them). A struct owns its socket from the moment a constructor
 * (bind, bind_addr, connect, connect_addr, pair, unbound, accept, from_fd)
 * succeeds until its close function is called; the caller must not close the
 * fd itself. Constructors set every field, so the struct need not be zeroed
 * first, but it must not hold an open socket: that socket would be
 * forgotten, not closed. When a constructor fails (other than for a NULL
 * struct) it leaves the struct closed, so a later close returns -EBADF and
 * touches nothing. Every socket the library creates is non-blocking and
 * close-on-exec, and so is every fd evsrc_unix_stream_recv_fds() receives.
 *
 * Socket files
 * ------------
 * Binding to a path creates a socket file there; the kernel refuses
 * (-EADDRINUSE) when anything, even a stale socket file of a dead process,
 * already exists at that path. Closing a source never unlinks its path:
 * the file belongs to the caller, who unlink(2)s it after close (or before a
 * new bind when it is known to be stale). Abstract names (below) leave no
 * file and vanish with the last socket bound to them.
 *
 * Addresses
 * ---------
 * Functions without _addr take a path as a NUL-terminated C string. It must
 * not be empty (-EINVAL) and must fit in sun_path with its NUL, that is
 * strlen(path) < sizeof(((struct sockaddr_un *)0)->sun_path) (108 on Linux);
 * a longer one is -ENAMETOOLONG, and no socket is created. Relative paths
 * are relative to the working directory at the time of the call.
 *
 * The _addr variants take a struct sockaddr_un and its length, for Linux
 * abstract names: sun_path[0] is '\0' and the name is the addrlen -
 * offsetof(struct sockaddr_un, sun_path) - 1 bytes after it (NULs included;
 * nothing is NUL-terminated). evsrc_unix_addr_abstract() builds one. The
 * family must be AF_UNIX and addrlen at least sizeof(sa_family_t) and at
 * most sizeof(struct sockaddr_un); anything else is -EINVAL. A bind_addr
 * with addrlen exactly sizeof(sa_family_t) asks the kernel to pick a unique
 * abstract name (autobind); read it back with the local_addr function.
 *
 * Address out-parameters work like getsockname(2): the caller sets *addrlen
 * to the size of the buffer (normally sizeof(struct sockaddr_un)) and gets
 * back the length of the address. If the buffer is smaller, the address is
 * truncated to it and *addrlen is the full length, which the caller compares
 * with the size it passed to tell. An unnamed socket (a connected client
 * that never bound, either end of a pair, an unbound datagram sender) has
 * the address {AF_UNIX} of length sizeof(sa_family_t).
 *
 * Edge-triggered draining
 * -----------------------
 * Registrations are edge-triggered unless EVSRC_LEVEL is asked for: after a
 * readable event, read (or accept, or receive) until the call returns
 * -EAGAIN before waiting again, or no further event comes for what is left.
 * After a write or send returns -EAGAIN, a writable event comes once there
 * is room. See poll.h.
 *
 * Closing
 * -------
 * A close function closes the socket, which removes it from any queue it is
 * in, and clears the source's registration record so the struct can be
 * registered again after a new constructor. It does not call deregister and
 * does not unlink any path. If the fd was duplicated (dup(), fork(), or sent
 * to another process with send_fds), the queue keeps reporting the open file
 * until every copy is closed: deregister before closing then. Closing a
 * closed source returns -EBADF and never touches another fd.
 *
 * Thread-safety
 * -------------
 * Constructors and close must not race with any other call on the same
 * struct, as with close(2). The I/O and accessor calls on one struct may run
 * in several threads at once: each is one system call (recv_fds also closes
 * the fds that did not fit, which are its own), and as thread-safe as it is.
 * Registering a struct from another thread while a different thread waits on
 * the poll is fine (registry.h). Calls on distinct structs are independent.
 *
 * Errors
 * ------
 * Every function returns -errno on failure: -EINVAL for a NULL struct or
 * other bad argument, -EBADF for a closed struct (argument errors are
 * reported first), and otherwise what the system call reported. No call ever
 * raises SIGPIPE.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <evsrc/export.h>
#include <evsrc/source.h>

EVSRC_BEGIN_DECLS

/*
 * A listening Unix stream socket. Register `source` for EVSRC_READABLE: a
 * readable event means connections are pending. The fields are private.
 */
struct evsrc_unix_listener {
    struct evsrc_source source;
    int fd; /* private: the socket, -1 when closed */
};

/*
 * A connected Unix stream socket. Register `source` for EVSRC_READABLE
 * and/or EVSRC_WRITABLE. The fields are private.
 */
struct evsrc_unix_stream {
    struct evsrc_source source;
    int fd; /* private: the socket, -1 when closed */
};

/*
 * A Unix datagram socket, bound or not, connected or not. Register `source`
 * for EVSRC_READABLE (datagrams waiting) and/or EVSRC_WRITABLE (room to
 * send). The fields are private.
 */
struct evsrc_unix_datagram {
    struct evsrc_source source;
    int fd; /* private: the socket, -1 when closed */
};

/* ---- Addresses --------------------------------------------------------- */

/*
 * Fills *addr with the AF_UNIX address of `path` (see "Addresses") and sets
 * *addrlen to its length: offsetof(struct sockaddr_un, sun_path) +
 * strlen(path) + 1. For calls that take addresses, such as a raw sendto(2).
 * Errors: -EINVAL if addr, addrlen or path is NULL or path is empty;
 * -ENAMETOOLONG if path does not fit. On error *addr and *addrlen are left
 * unchanged.
 * Thread-safety: touches only its arguments.
 */
EVSRC_EXPORT int evsrc_unix_addr_path(struct sockaddr_un *addr, socklen_t *addrlen, const char *path);

/*
 * Fills *addr with the Linux abstract address named by the namelen bytes at
 * `name` (sun_path[0] is '\0', then the name; the bytes may include NULs)
 * and sets *addrlen to offsetof(struct sockaddr_un, sun_path) + 1 + namelen.
 * Errors: -EINVAL if addr or addrlen is NULL, or name is NULL with namelen
 * > 0; -ENAMETOOLONG if namelen >= sizeof(addr->sun_path). On error *addr
 * and *addrlen are left unchanged.
 * Thread-safety: touches only its arguments.
 */
EVSRC_EXPORT int evsrc_unix_addr_abstract(struct sockaddr_un *addr, socklen_t *addrlen, const void *name,
                                          size_t namelen);

/* ---- Listener ---------------------------------------------------------- */

/*
 * Creates a non-blocking, close-on-exec Unix stream socket, binds it to
 * `path` (creating the socket file) and listens with a backlog of 1024 (the
 * kernel caps it at net.core.somaxconn). The file is not unlinked by
 * evsrc_unix_listener_close(): see "Socket files".
 * Errors: -EINVAL if listener or path is NULL or path is empty;
 * -ENAMETOOLONG; -EADDRINUSE if anything exists at path; -ENOENT or
 * -ENOTDIR for a missing directory; -EACCES; -EROFS; -EMFILE/-ENFILE;
 * -ENOMEM/-ENOBUFS. On error no fd is left open, and no file is created
 * unless the bind itself succeeded and listen(2) then failed (the file then
 * stays, as after close).
 * Thread-safety: not alongside any other call on the same struct (as with
 * close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_unix_listener_bind(struct evsrc_unix_listener *listener, const char *path);

/*
 * As evsrc_unix_listener_bind(), for an address (an abstract name, see
 * "Addresses"). Errors: as bind, and -EINVAL for a bad address.
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_unix_listener_bind_addr(struct evsrc_unix_listener *listener, const struct sockaddr_un *addr,
                                               socklen_t addrlen);

/*
 * Adopts `fd`, a listening Unix stream socket (socket activation, a socket
 * inherited over exec), and makes it non-blocking; its close-on-exec flag
 * stays as it was. On success the listener owns the fd. On failure the fd
 * stays the caller's, open and unchanged.
 * Errors: -EINVAL if listener is NULL, or fd is a socket but not a Unix
 * stream socket or not listening; -EBADF if fd is negative or not open;
 * -ENOTSOCK if fd is not a socket.
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_unix_listener_from_fd(struct evsrc_unix_listener *listener, int fd);

/*
 * Accepts one pending connection into *stream, which is then a connected,
 * non-blocking, close-on-exec stream owned by the caller. If peer is not
 * NULL, the address the connecting client bound, as accept(2) and, later,
 * evsrc_unix_stream_peer_addr() report it, is stored there, and peerlen
 * must then not be NULL: set *peerlen to sizeof *peer before the call, and
 * it holds the address's length after it (see "Addresses"): for a client
 * bound to a path, offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
 * for an abstract name, that offset + 1 + the name's length; for a client
 * that never bound (the usual case), an unnamed address: sizeof(sa_family_t),
 * with only sun_family (AF_UNIX) written and the rest of *peer untouched, so
 * test the length, not sun_path. It is never the listener's own path. If peer
 * is NULL, peerlen is ignored. On error *peer and *peerlen are left unchanged.
 * After a readable event, accept until -EAGAIN (edge-triggered).
 * Errors: -EINVAL if listener or stream is NULL, or peer is given without
 * peerlen; -EBADF if the listener is closed; -EAGAIN when no connection is
 * pending; -EMFILE/-ENFILE when out of fds (the connection stays pending);
 * -ENOMEM/-ENOBUFS. On error *stream is left closed.
 * Thread-safety: several threads may accept on one listener at once; *stream
 * must not be in use elsewhere.
 */
EVSRC_EXPORT int evsrc_unix_listener_accept(struct evsrc_unix_listener *listener, struct evsrc_unix_stream *stream,
                                            struct sockaddr_un *peer, socklen_t *peerlen);

/*
 * Stores the address the listener is bound to in *addr (see "Addresses").
 * Errors: -EINVAL if listener, addr or addrlen is NULL; -EBADF if closed.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT int evsrc_unix_listener_local_addr(const struct evsrc_unix_listener *listener,
                                                struct sockaddr_un *addr, socklen_t *addrlen);

/*
 * The listener's socket, borrowed: for socket options the library does not
 * wrap. Do not close it, and do not register it on its own while the
 * listener is registered.
 * Errors: -EINVAL if listener is NULL; -EBADF if closed.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT int evsrc_unix_listener_fd(const struct evsrc_unix_listener *listener);

/*
 * Closes the listener's socket (see "Closing"). Pending connections not yet
 * accepted are dropped: their clients' next read is -ECONNRESET, then 0
 * (end of stream), and their writes -EPIPE. The socket file stays: unlink
 * it yourself.
 * Errors: -EINVAL if listener is NULL; -EBADF if already closed.
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_unix_listener_close(struct evsrc_unix_listener *listener);

/* ---- Stream ------------------------------------------------------------ */

/*
 * Creates a non-blocking, close-on-exec Unix stream socket and connects it
 * to the listener at `path`. A Unix connect completes at once: on success
 * the stream is connected (it is writable as soon as it is registered).
 * Errors: -EINVAL if stream or path is NULL or path is empty;
 * -ENAMETOOLONG; -ENOENT if nothing exists at path; -ECONNREFUSED if the
 * file is there but no socket listens on it (a closed listener's file);
 * -EPROTOTYPE if it is a datagram socket; -EACCES; -EAGAIN if the
 * listener's backlog is full (try again later); -EMFILE/-ENFILE;
 * -ENOMEM/-ENOBUFS. On error no fd is left open and *stream is left closed.
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_unix_stream_connect(struct evsrc_unix_stream *stream, const char *path);

/*
 * As evsrc_unix_stream_connect(), for an address (an abstract name, see
 * "Addresses"). Errors: as connect, and -EINVAL for a bad address.
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_unix_stream_connect_addr(struct evsrc_unix_stream *stream, const struct sockaddr_un *addr,
                                                socklen_t addrlen);

/*
 * Creates a connected pair of unnamed Unix stream sockets
 * (socketpair(2)), one in *a and one in *b, both non-blocking and
 * close-on-exec. Each end is closed on its own.
 * Errors: -EINVAL if a or b is NULL or they are the same struct;
 * -EMFILE/-ENFILE. On error no fd is left open and both are left closed.
 * Thread-safety: not alongside any other call on either struct.
 */
EVSRC_EXPORT int evsrc_unix_stream_pair(struct evsrc_unix_stream *a, struct evsrc_unix_stream *b);

/*
 * Adopts `fd`, a Unix stream socket that is not listening (connected, or
 * not yet), and makes it non-blocking; its close-on-exec flag stays as it
 * was. On success the stream owns the fd. On failure the fd stays the
 * caller's, open and unchanged.
 * Errors: -EINVAL if stream is NULL, or fd is a socket but not a Unix
 * stream socket, or is listening; -EBADF if fd is negative or not open;
 * -ENOTSOCK if fd is not a socket.
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_unix_stream_from_fd(struct evsrc_unix_stream *stream, int fd);

/*
 * Reads up to len bytes into buf. Returns the number read, 0 at end of
 * stream (the peer closed or shut down its write side and everything was
 * read) or when len is 0, or -errno: -EAGAIN when nothing is buffered
 * (drained); -ECONNRESET; -ENOTCONN if not connected; -EINVAL if stream is
 * NULL or buf is NULL with len > 0; -EBADF if closed; -EFAULT.
 * fds sent with the bytes read (see send_fds) are closed by the kernel:
 * read them with evsrc_unix_stream_recv_fds() instead. A read that returns
 * the first byte of a send that carried fds ends at that send's last byte
 * at the latest (see recv_fds).
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT ssize_t evsrc_unix_stream_read(struct evsrc_unix_stream *stream, void *buf, size_t len);

/*
 * Like evsrc_unix_stream_read(), but leaves the bytes in the socket, so the
 * next read returns them again.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT ssize_t evsrc_unix_stream_peek(struct evsrc_unix_stream *stream, void *buf, size_t len);

/*
 * Writes up to len bytes from buf. Returns the number written, which may be
 * less than len when the socket's buffer fills (write the rest after the
 * next writable event), 0 when len is 0, or -errno: -EAGAIN when the buffer
 * is full; -EPIPE when the peer is gone or shut down its read side (never
 * SIGPIPE); -ENOTCONN if not connected; -EINVAL if stream is NULL or buf is
 * NULL with len > 0; -EBADF if closed; -EFAULT.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT ssize_t evsrc_unix_stream_write(struct evsrc_unix_stream *stream, const void *buf, size_t len);

/*
 * Scatter read: fills iov[0..iovcnt) in order, as evsrc_unix_stream_read()
 * does one buffer (same returns and errors). Also -EINVAL if iovcnt is
 * negative or above IOV_MAX, iov is NULL with iovcnt > 0, or an entry has a
 * NULL iov_base with iov_len > 0. iovcnt 0 returns 0.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT ssize_t evsrc_unix_stream_readv(struct evsrc_unix_stream *stream, const struct iovec *iov,
                                             int iovcnt);

/*
 * Gather write: sends iov[0..iovcnt) in order, as evsrc_unix_stream_write()
 * sends one buffer (same returns and errors, partial writes included, never
 * SIGPIPE). Also -EINVAL for a bad vector, as for readv. iovcnt 0 returns 0.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT ssize_t evsrc_unix_stream_writev(struct evsrc_unix_stream *stream, const struct iovec *iov,
                                              int iovcnt);

/*
 * Shuts down the read side (SHUT_RD), the write side (SHUT_WR: the peer
 * reads end of stream once it has read what was sent) or both (SHUT_RDWR).
 * The socket stays open until closed.
 * Errors: -EINVAL if stream is NULL or how is none of the three; -EBADF if
 * closed; -ENOTCONN if not connected.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT int evsrc_unix_stream_shutdown(struct evsrc_unix_stream *stream, int how);

/*
 * Reads and clears the socket's pending error (SO_ERROR): 0 if there is
 * none, else that error as -errno. A second call returns 0.
 * Errors (of the call itself): -EINVAL if stream is NULL; -EBADF if closed.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT int evsrc_unix_stream_take_error(struct evsrc_unix_stream *stream);

/*
 * The credentials of the peer process as the kernel recorded them when the
 * connection was made (SO_PEERCRED): for a connected stream, the process
 * that called connect (or, seen from the client, the one that called
 * listen); for a pair, the process that created it. Each of pid, uid and
 * gid may be NULL when not wanted. These are facts the kernel vouches for,
 * fit for access checks on a control socket; the pid may since have exited
 * and been reused.
 * Errors: -EINVAL if stream is NULL; -EBADF if closed; -ENOTCONN if not
 * connected.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT int evsrc_unix_stream_peer_cred(const struct evsrc_unix_stream *stream, pid_t *pid, uid_t *uid,
                                             gid_t *gid);

/* The most fds one send_fds call passes: the kernel's SCM_MAX_FD. */
enum { EVSRC_UNIX_MAX_FDS = 253 };

/*
 * Writes up to len bytes from buf, as evsrc_unix_stream_write() does, and
 * passes copies of the nfds fds in fds[] with them (SCM_RIGHTS): the peer
 * receives them with evsrc_unix_stream_recv_fds(), together with the first
 * of these bytes, in a read that may also return bytes written before them
 * (see "Where a read ends" there). The caller's fds stay open and the
 * caller's to close.
 * Returns the number of bytes written (the fds went with them as soon as
 * one byte did), or -errno. nfds 0 is a plain write.
 * Errors: -EINVAL if stream is NULL, buf is NULL with len > 0, fds is NULL
 * with nfds > 0, nfds is above EVSRC_UNIX_MAX_FDS, or len is 0 with
 * nfds > 0 (fds travel with at least one byte); -EBADF if stream is
 * closed or an entry of fds is not an open fd; -EAGAIN; -EPIPE (never
 * SIGPIPE); -ETOOMANYREFS when too many fds are in flight; and the errors
 * of write.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT ssize_t evsrc_unix_stream_send_fds(struct evsrc_unix_stream *stream, const void *buf, size_t len,
                                                const int *fds, size_t nfds);

/*
 * Reads up to len bytes into buf, as evsrc_unix_stream_read() does, and
 * receives the fds sent with them. On entry *nfds is the room in fds[]; on
 * return it is the number of fds stored there, each new, open,
 * close-on-exec and owned by the caller. fds that did not fit (more than
 * the room) are closed by the library, never leaked; fds that did not fit
 * in the control buffer the kernel was given (the kernel sets MSG_CTRUNC:
 * only when the caller turned on a control message of its own that takes
 * the room, such as SO_PASSSEC) were closed by the kernel. In either case
 * the call still returns the bytes and the fds that fit, and sets
 * *truncated to true; otherwise it sets it to false (truncated may be NULL
 * if the caller does not care). fds the kernel adds that the peer did not
 * send (the sender's pidfd, SCM_PIDFD, when the caller turned SO_PASSPIDFD
 * on) are closed, never returned; other control messages (SO_PASSCRED's
 * credentials) carry no fd and are skipped.
 *
 * Where a read ends (the kernel's rule for stream sockets): a read does not
 * stop before a send that carried fds, so bytes written before it (by
 * write or by send_fds) can come in the same read; the fds come with the
 * read that returns the first byte of the send that carried them, never
 * earlier; and that read ends at the last byte of that send at the latest,
 * so the fds of two sends never come in one read and no byte written after
 * them comes with them. A protocol that passes fds must therefore tie them
 * to that first byte, not to a read: send each message that carries fds
 * with one send_fds call whose buffer starts with the message's first byte
 * and holds no byte of the next message; the fds a read returns then belong
 * to the last message that begins within the bytes it returned (with
 * messages whose length the receiver knows, e.g. a length prefix). Read
 * such a stream only with recv_fds: a plain read that returns a send's
 * first byte lets the kernel close its fds.
 *
 * Returns the number of bytes read, 0 at end of stream, or -errno; on an
 * error *nfds is 0 and nothing was received.
 * Errors: -EINVAL if stream or nfds is NULL, buf is NULL or len is 0 (fds
 * come with bytes), or fds is NULL with *nfds > 0; -EBADF if closed;
 * -EAGAIN; and the errors of read.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT ssize_t evsrc_unix_stream_recv_fds(struct evsrc_unix_stream *stream, void *buf, size_t len, int *fds,
                                                size_t *nfds, bool *truncated);

/*
 * Stores the stream's local address in *addr (see "Addresses"): unnamed for
 * a client that did not bind, the listener's for an accepted stream.
 * Errors: -EINVAL if stream, addr or addrlen is NULL; -EBADF if closed.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT int evsrc_unix_stream_local_addr(const struct evsrc_unix_stream *stream, struct sockaddr_un *addr,
                                              socklen_t *addrlen);

/*
 * Stores the peer's address in *addr (see "Addresses"): the listener's for
 * a client, unnamed for most accepted streams.
 * Errors: -EINVAL if stream, addr or addrlen is NULL; -EBADF if closed;
 * -ENOTCONN if not connected.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT int evsrc_unix_stream_peer_addr(const struct evsrc_unix_stream *stream, struct sockaddr_un *addr,
                                             socklen_t *addrlen);

/*
 * The stream's socket, borrowed (see evsrc_unix_listener_fd()).
 * Errors: -EINVAL if stream is NULL; -EBADF if closed.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT int evsrc_unix_stream_fd(const struct evsrc_unix_stream *stream);

/*
 * Closes the stream's socket (see "Closing"). The peer reads end of stream
 * once it has read what was sent; fds in flight towards this end are closed
 * by the kernel.
 * Errors: -EINVAL if stream is NULL; -EBADF if already closed.
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_unix_stream_close(struct evsrc_unix_stream *stream);

/* ---- Datagram ---------------------------------------------------------- */

/*
 * Creates a non-blocking, close-on-exec Unix datagram socket bound to
 * `path` (creating the socket file, which close does not unlink).
 * Errors: as evsrc_unix_listener_bind(). On error no fd is left open.
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_unix_datagram_bind(struct evsrc_unix_datagram *datagram, const char *path);

/*
 * As evsrc_unix_datagram_bind(), for an address (an abstract name, or
 * autobind with addrlen sizeof(sa_family_t); see "Addresses").
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_unix_datagram_bind_addr(struct evsrc_unix_datagram *datagram,
                                               const struct sockaddr_un *addr, socklen_t addrlen);

/*
 * Creates a non-blocking, close-on-exec Unix datagram socket bound to no
 * address: it can send (send_to, or send after connect) but replies cannot
 * be addressed to it, and receivers see it as unnamed.
 * Errors: -EINVAL if datagram is NULL; -EMFILE/-ENFILE; -ENOMEM/-ENOBUFS.
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_unix_datagram_unbound(struct evsrc_unix_datagram *datagram);

/*
 * Creates a pair of unnamed Unix datagram sockets connected to each other
 * (socketpair(2)), one in *a and one in *b.
 * Errors: as evsrc_unix_stream_pair().
 * Thread-safety: not alongside any other call on either struct.
 */
EVSRC_EXPORT int evsrc_unix_datagram_pair(struct evsrc_unix_datagram *a, struct evsrc_unix_datagram *b);

/*
 * Adopts `fd`, a Unix datagram socket, and makes it non-blocking; its
 * close-on-exec flag stays as it was. On failure the fd stays the caller's,
 * open and unchanged.
 * Errors: -EINVAL if datagram is NULL, or fd is a socket but not a Unix
 * datagram socket; -EBADF if fd is negative or not open; -ENOTSOCK if fd is
 * not a socket.
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_unix_datagram_from_fd(struct evsrc_unix_datagram *datagram, int fd);

/*
 * Connects the (open) datagram socket to the socket bound at `path`: send
 * and recv then talk to it alone, and datagrams from other senders are
 * dropped. Connecting again changes the peer.
 * Errors: -EINVAL if datagram or path is NULL or path is empty;
 * -ENAMETOOLONG; -EBADF if closed; -ENOENT if nothing exists at path;
 * -ECONNREFUSED if no socket is bound there; -EPROTOTYPE if it is a stream
 * socket; -EACCES; -EPERM if the peer is connected to another socket.
 * Thread-safety: not alongside the I/O calls on the same struct.
 */
EVSRC_EXPORT int evsrc_unix_datagram_connect(struct evsrc_unix_datagram *datagram, const char *path);

/*
 * As evsrc_unix_datagram_connect(), for an address (see "Addresses").
 * Thread-safety: not alongside the I/O calls on the same struct.
 */
EVSRC_EXPORT int evsrc_unix_datagram_connect_addr(struct evsrc_unix_datagram *datagram,
                                                  const struct sockaddr_un *addr, socklen_t addrlen);

/*
 * Sends buf[0..len) as one datagram to the connected peer. A datagram is
 * sent whole or not at all; len 0 sends an empty datagram. Returns len or
 * -errno: -EAGAIN when the receiver's queue is full (a writable event comes
 * when it drains); -ENOTCONN if not connected, or when the connected peer
 * has just gone, then -ECONNREFUSED; -EMSGSIZE if len exceeds the send buffer; -EINVAL if datagram is
 * NULL or buf is NULL with len > 0; -EBADF if closed. Never SIGPIPE.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT ssize_t evsrc_unix_datagram_send(struct evsrc_unix_datagram *datagram, const void *buf, size_t len);

/*
 * Receives one datagram into buf. Returns its length, or len if it was
 * longer (the rest is discarded), or -errno: -EAGAIN when none is waiting;
 * -EINVAL if datagram is NULL or buf is NULL with len > 0; -EBADF if
 * closed. An empty datagram returns 0, as does len 0 (which discards the
 * datagram).
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT ssize_t evsrc_unix_datagram_recv(struct evsrc_unix_datagram *datagram, void *buf, size_t len);

/*
 * Sends one datagram to the socket bound at `path` (the socket must not be
 * connected to another peer). Returns len or -errno: as
 * evsrc_unix_datagram_send(), and -EINVAL for a NULL or empty path,
 * -ENAMETOOLONG, -ENOENT if nothing exists at path, -ECONNREFUSED if no
 * socket is bound there, -EPROTOTYPE for a stream socket, -EISCONN if
 * connected to another peer.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT ssize_t evsrc_unix_datagram_send_to(struct evsrc_unix_datagram *datagram, const void *buf, size_t len,
                                                 const char *path);

/*
 * As evsrc_unix_datagram_send_to(), for an address (see "Addresses").
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT ssize_t evsrc_unix_datagram_send_to_addr(struct evsrc_unix_datagram *datagram, const void *buf,
                                                      size_t len, const struct sockaddr_un *addr,
                                                      socklen_t addrlen);

/*
 * As evsrc_unix_datagram_recv(), and stores the sender's address in *from
 * (see "Addresses"; unnamed for an unbound sender, which cannot be replied
 * to). from may be NULL, and then fromlen is ignored; otherwise fromlen must
 * not be NULL.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT ssize_t evsrc_unix_datagram_recv_from(struct evsrc_unix_datagram *datagram, void *buf, size_t len,
                                                   struct sockaddr_un *from, socklen_t *fromlen);

/*
 * Shuts down receiving (SHUT_RD), sending (SHUT_WR) or both (SHUT_RDWR).
 * Errors: -EINVAL if datagram is NULL or how is none of the three; -EBADF if
 * closed.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT int evsrc_unix_datagram_shutdown(struct evsrc_unix_datagram *datagram, int how);

/*
 * Reads and clears the socket's pending error (SO_ERROR): 0 if none, else
 * that error as -errno. Errors: -EINVAL if NULL; -EBADF if closed.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT int evsrc_unix_datagram_take_error(struct evsrc_unix_datagram *datagram);

/*
 * Stores the socket's own address in *addr (see "Addresses"; unnamed if
 * unbound). Errors: -EINVAL if datagram, addr or addrlen is NULL; -EBADF if
 * closed.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT int evsrc_unix_datagram_local_addr(const struct evsrc_unix_datagram *datagram,
                                                struct sockaddr_un *addr, socklen_t *addrlen);

/*
 * Stores the connected peer's address in *addr (see "Addresses").
 * Errors: -EINVAL if datagram, addr or addrlen is NULL; -EBADF if closed;
 * -ENOTCONN if not connected.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT int evsrc_unix_datagram_peer_addr(const struct evsrc_unix_datagram *datagram,
                                               struct sockaddr_un *addr, socklen_t *addrlen);

/*
 * The datagram socket, borrowed (see evsrc_unix_listener_fd()).
 * Errors: -EINVAL if datagram is NULL; -EBADF if closed.
 * Thread-safety: safe alongside the other I/O and accessor calls.
 */
EVSRC_EXPORT int evsrc_unix_datagram_fd(const struct evsrc_unix_datagram *datagram);

/*
 * Closes the datagram socket (see "Closing"); datagrams waiting in it are
 * dropped. A bound path's file stays: unlink it yourself.
 * Errors: -EINVAL if datagram is NULL; -EBADF if already closed.
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_unix_datagram_close(struct evsrc_unix_datagram *datagram);

EVSRC_END_DECLS

#endif /* EVSRC_UNIX_H */
