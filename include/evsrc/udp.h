/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_UDP_H
#define EVSRC_UDP_H

/*
 * UDP sources: a non-blocking datagram socket in a caller-owned struct that
 * registers like any other source (mio's UdpSocket):
 *
 *     evsrc_registry_register(registry, &udp.source, token, EVSRC_READABLE);
 *
 * docs/udp.md is a short guide: the drain loop, batching, connected and
 * unconnected sockets, errors.
 *
 * Ownership
 * ---------
 * The caller owns the struct (stack, heap or embedded; the library keeps no
 * pointer to it). The struct owns its socket from the moment a constructor
 * (bind, from_fd) succeeds until evsrc_udp_socket_close() is called; the
 * caller must not close the fd itself. Constructors set every field, so the
 * struct need not be zeroed first, but it must not hold an open socket: that
 * socket would be forgotten, not closed. When a constructor fails (other than
 * for a NULL struct) it leaves the struct closed, so a later close returns
 * -EBADF and touches nothing.
 *
 * Edge-triggered draining
 * -----------------------
 * Registrations are edge-triggered unless EVSRC_LEVEL is asked for: after a
 * readable event, receive until the call returns -EAGAIN before waiting
 * again, or no further event comes for the datagrams left queued. After a
 * send returns -EAGAIN, a writable event comes once there is room. A UDP
 * socket is writable almost always, so register EVSRC_WRITABLE only while
 * something waits to be sent. See poll.h.
 *
 * Datagrams
 * ---------
 * Each receive returns one datagram (each send sends one). A datagram longer
 * than the buffer is truncated and its rest discarded; a datagram of length 0
 * is received as 0, which here is never "end of stream". A buffer of 65507
 * bytes holds any IPv4 UDP datagram.
 *
 * Errors
 * ------
 * Every function returns -errno on failure: -EINVAL for a NULL struct or
 * other bad argument, checked before -EBADF for a closed struct, and
 * otherwise what the system call reported. No call ever raises SIGPIPE.
 * A connected socket learns of ICMP errors (a datagram to a port with no
 * socket gives -ECONNREFUSED): the socket reports an error event, and the
 * next receive, or evsrc_udp_socket_take_error(), returns the error once.
 * An unconnected socket is not told of them.
 *
 * Closing
 * -------
 * evsrc_udp_socket_close() closes the socket, which removes it from any
 * queue it is in, and clears the source's registration record so the struct
 * can be registered again after a new constructor. It does not call
 * deregister. If the fd was duplicated (dup(), fork()), the queue keeps
 * reporting the open file until every copy is closed: deregister before
 * closing then. Closing a closed socket returns -EBADF and never touches
 * another fd.
 *
 * Thread-safety
 * -------------
 * Constructors and close must not race with any other call on the same
 * struct, as with close(2). Every other call on one struct may run in
 * several threads at once: each is one or two system calls, and as
 * thread-safe as they are (two threads receiving on one socket each get
 * whole datagrams, in no useful order). Registering from another thread
 * while a different thread waits on the poll is fine (registry.h). Calls on
 * distinct structs are independent.
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
/* Winsock's addresses and multicast types. */
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include <evsrc/export.h>
#include <evsrc/platform.h>
#include <evsrc/source.h>

EVSRC_BEGIN_DECLS

/*
 * sendmmsg(2)/recvmmsg(2)'s message vector. <sys/socket.h> defines it only
 * under _GNU_SOURCE; declared here so this header compiles without it.
 * Callers of the batch functions define _GNU_SOURCE to fill it in.
 */
struct mmsghdr;

/*
 * A UDP socket. Register `source` for EVSRC_READABLE and/or EVSRC_WRITABLE.
 * The fields are private: use the functions below.
 */
struct evsrc_udp_socket {
    struct evsrc_source source;
    evsrc_fd fd; /* private: the socket, -1 (INVALID_SOCKET on Windows) when closed */
};

/* ---- Constructors ------------------------------------------------------ */

/*
 * Creates a non-blocking, close-on-exec UDP socket for addr's family and
 * binds it to addr. Port 0 picks a free port: read it back with
 * evsrc_udp_socket_local_addr(). No SO_REUSEADDR is set, so a port in use is
 * -EADDRINUSE; set options before binding by making the socket yourself and
 * adopting it with evsrc_udp_socket_from_fd(). An AF_INET6 socket keeps the
 * system's IPV6_V6ONLY default. To talk to one peer, bind (to port 0 of the
 * wildcard address, say) and then evsrc_udp_socket_connect().
 * Errors: -EINVAL if socket or addr is NULL, or the address is invalid (see
 * "Addresses" above); -EADDRINUSE; -EADDRNOTAVAIL (no such local address);
 * -EAFNOSUPPORT (no IPv6 on this machine); -EACCES (a privileged port);
 * -EMFILE/-ENFILE; -ENOMEM/-ENOBUFS. On error no fd is left open.
 * Thread-safety: not alongside any other call on the same struct (as with
 * close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_udp_socket_bind(struct evsrc_udp_socket *socket, const struct sockaddr *addr,
                                       socklen_t addrlen);

/*
 * Adopts `fd`, an AF_INET or AF_INET6 UDP socket (bound, connected or
 * neither; socket activation, options set before bind), and makes it
 * non-blocking; its close-on-exec flag stays as it was. On success the
 * struct owns the fd (close it with evsrc_udp_socket_close()). On failure the
 * fd stays the caller's, open and unchanged.
 * Errors: -EINVAL if socket is NULL, or fd is a socket of another kind (TCP,
 * Unix domain, a raw or ICMP datagram socket); -EBADF if fd is negative or
 * not open; -ENOTSOCK if fd is not a socket.
 * Thread-safety: not alongside any other call on the same struct (as with
 * close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_udp_socket_from_fd(struct evsrc_udp_socket *socket, evsrc_fd fd);

/* ---- Connecting -------------------------------------------------------- */

/*
 * Sets the socket's peer (connect(2) on an open socket; nothing is sent):
 * from then on evsrc_udp_socket_send() sends there, only the peer's
 * datagrams are received, and ICMP errors are reported (see "Errors"). A
 * socket that was not bound gets a free local port. Connecting again
 * changes the peer; an address whose family is AF_UNSPEC (addrlen at least
 * sizeof(sa_family_t)) dissolves the association.
 * Errors: -EINVAL if socket or addr is NULL, or the address is invalid (see
 * "Addresses"); -EBADF if closed; -EAFNOSUPPORT (an IPv6 address on an IPv4
 * socket); -ENETUNREACH; -EADDRNOTAVAIL.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct, though a send racing with it goes to either peer.
 */
EVSRC_EXPORT int evsrc_udp_socket_connect(struct evsrc_udp_socket *socket, const struct sockaddr *addr,
                                          socklen_t addrlen);

/* ---- One datagram ------------------------------------------------------ */

/*
 * Sends one datagram of len bytes (0 is a valid, empty datagram) to the
 * connected peer. Returns len, or -errno: -EAGAIN when the socket's buffer
 * is full; -EDESTADDRREQ if not connected; -EMSGSIZE if too long for UDP;
 * -ECONNREFUSED for an earlier datagram the peer refused (reported once);
 * -EINVAL if socket is NULL or buf is NULL with len > 0; -EBADF if closed;
 * -EFAULT for a bad buf.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT ssize_t evsrc_udp_socket_send(struct evsrc_udp_socket *socket, const void *buf, size_t len);

/*
 * Receives one datagram into buf (see "Datagrams": longer ones are
 * truncated). Returns the number of bytes stored, or -errno: -EAGAIN when
 * none is queued (drained); -ECONNREFUSED on a connected socket whose peer
 * refused an earlier datagram (reported once); -EINVAL if socket is NULL or
 * buf is NULL with len > 0; -EBADF if closed; -EFAULT for a bad buf.
 * len 0 receives and discards a datagram.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT ssize_t evsrc_udp_socket_recv(struct evsrc_udp_socket *socket, void *buf, size_t len);

/*
 * Like evsrc_udp_socket_recv(), but leaves the datagram queued, so the next
 * receive returns it again.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT ssize_t evsrc_udp_socket_peek(struct evsrc_udp_socket *socket, void *buf, size_t len);

/*
 * Sends one datagram to `to`, connected or not (a connected socket may
 * still name another destination). Returns and errors as
 * evsrc_udp_socket_send(), and -EINVAL if to is NULL or invalid (see
 * "Addresses"); -EACCES for a broadcast address without
 * evsrc_udp_socket_set_broadcast(); -ENETUNREACH.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT ssize_t evsrc_udp_socket_send_to(struct evsrc_udp_socket *socket, const void *buf, size_t len,
                                              const struct sockaddr *to, socklen_t tolen);

/*
 * Receives one datagram, as evsrc_udp_socket_recv(), and stores its
 * sender's address in *from (see "Addresses" for *fromlen and truncation).
 * from may be NULL, and then fromlen is ignored; if from is given, fromlen
 * must be too.
 * Errors: as evsrc_udp_socket_recv(), and -EINVAL for from without fromlen.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT ssize_t evsrc_udp_socket_recv_from(struct evsrc_udp_socket *socket, void *buf, size_t len,
                                                struct sockaddr_storage *from, socklen_t *fromlen);

/*
 * Like evsrc_udp_socket_recv_from(), but leaves the datagram queued.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT ssize_t evsrc_udp_socket_peek_from(struct evsrc_udp_socket *socket, void *buf, size_t len,
                                                struct sockaddr_storage *from, socklen_t *fromlen);

/* ---- Batches ----------------------------------------------------------- */

/*
 * Sends up to `count` datagrams in one system call (sendmmsg(2)), each
 * described by msgs[i].msg_hdr (a msg_name of NULL sends to the connected
 * peer); the kernel stores the bytes sent in msgs[i].msg_len. Returns the
 * number of datagrams sent, from the first: fewer than count when the
 * socket's buffer fills (send the rest after the next writable event). The
 * kernel sends at most 1024 (UIO_MAXIOV) per call. count 0 returns 0.
 * Errors: -EAGAIN when not even the first fits; for the first datagram the
 * errors of evsrc_udp_socket_send_to() (an error on a later one ends the
 * batch early and is reported by the next call); -EINVAL if socket is NULL
 * or msgs is NULL with count > 0; -EBADF if closed; -EFAULT for a bad buffer.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 * On Windows, which has no sendmmsg, -ENOSYS after the argument checks.
 */
EVSRC_EXPORT int evsrc_udp_socket_send_many(struct evsrc_udp_socket *socket, struct mmsghdr *msgs, unsigned count);

/*
 * Receives up to `count` queued datagrams in one system call (recvmmsg(2)),
 * without waiting for more: each into the buffers of msgs[i].msg_hdr, its
 * sender's address into msg_name (if not NULL; msg_namelen is in/out as for
 * recv_from), its length into msgs[i].msg_len and MSG_TRUNC into
 * msg_hdr.msg_flags if it was truncated. Returns the number received:
 * fewer than count means the socket is drained. count 0 returns 0.
 * Errors: -EAGAIN when none is queued; the errors of evsrc_udp_socket_recv()
 * for the first; -EINVAL if socket is NULL or msgs is NULL with count > 0;
 * -EBADF if closed; -EFAULT for a bad buffer.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 * On Windows, which has no recvmmsg, -ENOSYS after the argument checks.
 */
EVSRC_EXPORT int evsrc_udp_socket_recv_many(struct evsrc_udp_socket *socket, struct mmsghdr *msgs, unsigned count);

/* ---- Addresses and errors ---------------------------------------------- */

/*
 * Stores the address the socket is bound to in *addr (see "Addresses" for
 * *addrlen and truncation).
 * Errors: -EINVAL if socket, addr or addrlen is NULL; -EBADF if closed.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT int evsrc_udp_socket_local_addr(const struct evsrc_udp_socket *socket, struct sockaddr_storage *addr,
                                             socklen_t *addrlen);

/*
 * Stores the connected peer's address in *addr (see "Addresses").
 * Errors: -EINVAL if socket, addr or addrlen is NULL; -EBADF if closed;
 * -ENOTCONN if not connected.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT int evsrc_udp_socket_peer_addr(const struct evsrc_udp_socket *socket, struct sockaddr_storage *addr,
                                            socklen_t *addrlen);

/*
 * Reads and clears the socket's pending error (SO_ERROR): 0 if there is none,
 * else that error as -errno (-ECONNREFUSED when the connected peer refused a
 * datagram). A second call returns 0, as the first cleared it.
 * Errors (of the call itself): -EINVAL if socket is NULL; -EBADF if closed.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT int evsrc_udp_socket_take_error(struct evsrc_udp_socket *socket);

/* ---- Options ----------------------------------------------------------- */

/*
 * The setters return 0 and the getters the value (1 or 0 for the on/off
 * ones). Every one of them: -EINVAL if socket is NULL or a value is out of
 * range; -EBADF if closed; and what setsockopt(2)/getsockopt(2) reported
 * (-ENOPROTOOPT for an IPv6 option on an IPv4 socket, say).
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct.
 */

/* SO_BROADCAST: whether datagrams may be sent to a broadcast address. Off by default. */
EVSRC_EXPORT int evsrc_udp_socket_set_broadcast(struct evsrc_udp_socket *socket, bool on);
EVSRC_EXPORT int evsrc_udp_socket_broadcast(const struct evsrc_udp_socket *socket);

/*
 * The time-to-live (hop limit) of unicast datagrams, 1 to 255: IP_TTL on an
 * IPv4 socket, IPV6_UNICAST_HOPS on an IPv6 one (one call more, to learn the
 * family). Other values are -EINVAL.
 */
EVSRC_EXPORT int evsrc_udp_socket_set_ttl(struct evsrc_udp_socket *socket, int ttl);
EVSRC_EXPORT int evsrc_udp_socket_ttl(const struct evsrc_udp_socket *socket);

/*
 * Joins (leaves) the IPv4 multicast group `group` on the interface whose
 * address is *iface; an iface of NULL (or INADDR_ANY) lets the
 * kernel choose by its routes. The socket must be bound to the group's port
 * to receive its datagrams. Membership is the host's, not the socket's: on
 * Linux a socket bound to the wildcard address takes the datagrams of every
 * group any socket of the host joined on that port (IP_MULTICAST_ALL, on by
 * default); turn that option off on the fd to receive only the groups this
 * socket joined.
 * Errors: -EINVAL if socket or group is NULL, or group is not a multicast
 * address; -EBADF if closed; -ENODEV (no such interface, or no multicast
 * route); -EADDRNOTAVAIL (leaving a group not joined); -EADDRINUSE (joining
 * twice).
 */
EVSRC_EXPORT int evsrc_udp_socket_join_multicast_v4(struct evsrc_udp_socket *socket, const struct in_addr *group,
                                                    const struct in_addr *iface);
EVSRC_EXPORT int evsrc_udp_socket_leave_multicast_v4(struct evsrc_udp_socket *socket, const struct in_addr *group,
                                                     const struct in_addr *iface);

/*
 * Joins (leaves) the IPv6 multicast group `group` on the interface of index
 * `iface` (if_nametoindex(3)); 0 lets the kernel choose.
 * Errors: as the IPv4 calls.
 */
EVSRC_EXPORT int evsrc_udp_socket_join_multicast_v6(struct evsrc_udp_socket *socket, const struct in6_addr *group,
                                                    unsigned iface);
EVSRC_EXPORT int evsrc_udp_socket_leave_multicast_v6(struct evsrc_udp_socket *socket, const struct in6_addr *group,
                                                     unsigned iface);

/* IP_MULTICAST_LOOP: whether this host's own IPv4 multicast datagrams come back to it. On by default. */
EVSRC_EXPORT int evsrc_udp_socket_set_multicast_loop_v4(struct evsrc_udp_socket *socket, bool on);
EVSRC_EXPORT int evsrc_udp_socket_multicast_loop_v4(const struct evsrc_udp_socket *socket);

/* IP_MULTICAST_TTL: the time-to-live of IPv4 multicast datagrams, 0 to 255 (default 1: this subnet only). */
EVSRC_EXPORT int evsrc_udp_socket_set_multicast_ttl_v4(struct evsrc_udp_socket *socket, int ttl);
EVSRC_EXPORT int evsrc_udp_socket_multicast_ttl_v4(const struct evsrc_udp_socket *socket);

/* IPV6_MULTICAST_LOOP: as the IPv4 option, for IPv6 multicast. On by default. */
EVSRC_EXPORT int evsrc_udp_socket_set_multicast_loop_v6(struct evsrc_udp_socket *socket, bool on);
EVSRC_EXPORT int evsrc_udp_socket_multicast_loop_v6(const struct evsrc_udp_socket *socket);

/* IPV6_MULTICAST_HOPS: the hop limit of IPv6 multicast datagrams, 0 to 255 (default 1). */
EVSRC_EXPORT int evsrc_udp_socket_set_multicast_hops_v6(struct evsrc_udp_socket *socket, int hops);
EVSRC_EXPORT int evsrc_udp_socket_multicast_hops_v6(const struct evsrc_udp_socket *socket);

/* ---- The fd, and closing ----------------------------------------------- */

/*
 * The socket, borrowed: for socket options the library does not wrap. Do
 * not close it, and do not register it on its own while the struct is
 * registered.
 * Errors: -EINVAL if socket is NULL; -EBADF if closed.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct.
 */
EVSRC_EXPORT int evsrc_udp_socket_fd(const struct evsrc_udp_socket *socket);

/*
 * Closes the socket (see "Closing" above). Datagrams queued for it are
 * dropped.
 * Errors: -EINVAL if socket is NULL; -EBADF if already closed.
 * Thread-safety: not alongside any other call on the same struct (as with
 * close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_udp_socket_close(struct evsrc_udp_socket *socket);

EVSRC_END_DECLS

#endif /* EVSRC_UDP_H */
