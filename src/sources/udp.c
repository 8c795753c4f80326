/* SPDX-License-Identifier: MIT */
#include <evsrc/udp.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "socket.h"

FD_SOURCE_CHECK_LAYOUT(struct evsrc_udp_socket);
_Static_assert(sizeof(struct evsrc_udp_socket) <= 32, "a UDP socket stays small");

/* The largest value the TTL and hop options take. */
#define TTL_MAX 255

static int udp_fd(const struct evsrc_udp_socket *udp)
{
    return fd_source_get_fd(FD_SOURCE_OF(udp));
}

/* ---- Constructors ------------------------------------------------------ */

EVSRC_EXPORT int evsrc_udp_socket_bind(struct evsrc_udp_socket *udp, const struct sockaddr *addr, socklen_t addrlen)
{
    if (!udp)
        return -EINVAL;
    fd_source_init_closed(&udp->source);
    int r = socket_check_ip_address(addr, addrlen);
    if (r < 0)
        return r;
    int fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0)
        return -errno;
    if (bind(fd, addr, addrlen) < 0)
        return fd_source_close_and_fail(fd, errno);
    fd_source_init(&udp->source, fd);
    return 0;
}

/* Only an IPv4 or IPv6 UDP socket can be adopted: not TCP, Unix, raw or ICMP ("ping") sockets. */
static int check_udp_socket(int fd, int kind)
{
    (void)kind;
    int domain, type, protocol;
    int r = socket_get_int_option(fd, SOL_SOCKET, SO_TYPE, &type);
    if (r < 0)
        return r;
    if ((r = socket_get_int_option(fd, SOL_SOCKET, SO_DOMAIN, &domain)) < 0 ||
        (r = socket_get_int_option(fd, SOL_SOCKET, SO_PROTOCOL, &protocol)) < 0)
        return r;
    if ((domain != AF_INET && domain != AF_INET6) || type != SOCK_DGRAM || protocol != IPPROTO_UDP)
        return -EINVAL;
    return 0;
}

EVSRC_EXPORT int evsrc_udp_socket_from_fd(struct evsrc_udp_socket *udp, evsrc_fd fd)
{
    return fd_source_adopt(FD_SOURCE_OF(udp), fd, check_udp_socket, 0);
}

/* ---- Connecting -------------------------------------------------------- */

EVSRC_EXPORT int evsrc_udp_socket_connect(struct evsrc_udp_socket *udp, const struct sockaddr *addr,
                                          socklen_t addrlen)
{
    /* AF_UNSPEC is connect(2)'s way to dissolve the association. */
    bool unspec = addr && (size_t)addrlen >= sizeof(sa_family_t) && (size_t)addrlen <= sizeof(struct sockaddr_storage) &&
                  addr->sa_family == AF_UNSPEC;
    int r = unspec ? 0 : socket_check_ip_address(addr, addrlen);
    if (r < 0)
        return r;
    int fd = udp_fd(udp);
    if (fd < 0)
        return fd;
    return connect(fd, addr, addrlen) < 0 ? -errno : 0;
}

/* ---- One datagram ------------------------------------------------------ */

/* Unlike a stream, len 0 goes to the kernel here: an empty datagram is a message of its own. */

EVSRC_EXPORT ssize_t evsrc_udp_socket_send(struct evsrc_udp_socket *udp, const void *buf, size_t len)
{
    int fd = fd_source_io_fd(FD_SOURCE_OF(udp), buf, len);
    if (fd < 0)
        return fd;
    /* MSG_NOSIGNAL as for every socket write here, though UDP never raises SIGPIPE. */
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    return fd_source_io_result(fd, n);
}

EVSRC_EXPORT ssize_t evsrc_udp_socket_send_to(struct evsrc_udp_socket *udp, const void *buf, size_t len,
                                              const struct sockaddr *to, socklen_t tolen)
{
    if (!buf && len > 0)
        return -EINVAL;
    int r = socket_check_ip_address(to, tolen);
    if (r < 0)
        return r;
    int fd = udp_fd(udp);
    if (fd < 0)
        return fd;
    ssize_t n = sendto(fd, buf, len, MSG_NOSIGNAL, to, tolen);
    return fd_source_io_result(fd, n);
}

static ssize_t receive(struct evsrc_udp_socket *udp, void *buf, size_t len, struct sockaddr_storage *from,
                       socklen_t *fromlen, int flags)
{
    if (from && !fromlen)
        return -EINVAL;
    int fd = fd_source_io_fd(FD_SOURCE_OF(udp), buf, len);
    if (fd < 0)
        return fd;
    ssize_t n = recvfrom(fd, buf, len, flags, (struct sockaddr *)from, from ? fromlen : NULL);
    return fd_source_io_result(fd, n);
}

EVSRC_EXPORT ssize_t evsrc_udp_socket_recv(struct evsrc_udp_socket *udp, void *buf, size_t len)
{
    return receive(udp, buf, len, NULL, NULL, 0);
}

EVSRC_EXPORT ssize_t evsrc_udp_socket_peek(struct evsrc_udp_socket *udp, void *buf, size_t len)
{
    return receive(udp, buf, len, NULL, NULL, MSG_PEEK);
}

EVSRC_EXPORT ssize_t evsrc_udp_socket_recv_from(struct evsrc_udp_socket *udp, void *buf, size_t len,
                                                struct sockaddr_storage *from, socklen_t *fromlen)
{
    return receive(udp, buf, len, from, fromlen, 0);
}

EVSRC_EXPORT ssize_t evsrc_udp_socket_peek_from(struct evsrc_udp_socket *udp, void *buf, size_t len,
                                                struct sockaddr_storage *from, socklen_t *fromlen)
{
    return receive(udp, buf, len, from, fromlen, MSG_PEEK);
}

/* ---- Batches ----------------------------------------------------------- */

static int batch_fd(const struct evsrc_udp_socket *udp, const struct mmsghdr *msgs, unsigned count)
{
    if (!msgs && count > 0)
        return -EINVAL;
    return udp_fd(udp);
}

EVSRC_EXPORT int evsrc_udp_socket_send_many(struct evsrc_udp_socket *udp, struct mmsghdr *msgs, unsigned count)
{
    int fd = batch_fd(udp, msgs, count);
    if (fd < 0)
        return fd;
    if (count == 0)
        return 0;
    int n = sendmmsg(fd, msgs, count, MSG_NOSIGNAL);
    return (int)fd_source_io_result_of(fd, n, count);
}

EVSRC_EXPORT int evsrc_udp_socket_recv_many(struct evsrc_udp_socket *udp, struct mmsghdr *msgs, unsigned count)
{
    int fd = batch_fd(udp, msgs, count);
    if (fd < 0)
        return fd;
    if (count == 0)
        return 0;
    /* The socket is non-blocking, so this takes what is queued and never waits; no timeout is needed. */
    int n = recvmmsg(fd, msgs, count, 0, NULL);
    return (int)fd_source_io_result_of(fd, n, count);
}

/* ---- Addresses and errors ---------------------------------------------- */

EVSRC_EXPORT int evsrc_udp_socket_local_addr(const struct evsrc_udp_socket *udp, struct sockaddr_storage *addr,
                                             socklen_t *addrlen)
{
    return socket_get_address(FD_SOURCE_OF(udp), (struct sockaddr *)addr, addrlen, getsockname);
}

EVSRC_EXPORT int evsrc_udp_socket_peer_addr(const struct evsrc_udp_socket *udp, struct sockaddr_storage *addr,
                                            socklen_t *addrlen)
{
    return socket_get_address(FD_SOURCE_OF(udp), (struct sockaddr *)addr, addrlen, getpeername);
}

EVSRC_EXPORT int evsrc_udp_socket_take_error(struct evsrc_udp_socket *udp)
{
    return socket_take_error(FD_SOURCE_OF(udp));
}

/* ---- Options ----------------------------------------------------------- */

/* The shared body of the int-valued setters; the range is checked before the fd, as everywhere. */
static int set_option(const struct evsrc_udp_socket *udp, int level, int name, int value, int min, int max)
{
    if (value < min || value > max)
        return -EINVAL;
    int fd = udp_fd(udp);
    if (fd < 0)
        return fd;
    return setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno : 0;
}

/* The shared body of the getters; `flag` folds the value to 1 or 0. */
static int get_option(const struct evsrc_udp_socket *udp, int level, int name, bool flag)
{
    int fd = udp_fd(udp);
    if (fd < 0)
        return fd;
    int value;
    int r = socket_get_int_option(fd, level, name, &value);
    if (r < 0)
        return r;
    return flag ? value != 0 : value;
}

EVSRC_EXPORT int evsrc_udp_socket_set_broadcast(struct evsrc_udp_socket *udp, bool on)
{
    return set_option(udp, SOL_SOCKET, SO_BROADCAST, on, 0, 1);
}

EVSRC_EXPORT int evsrc_udp_socket_broadcast(const struct evsrc_udp_socket *udp)
{
    return get_option(udp, SOL_SOCKET, SO_BROADCAST, true);
}

/* The TTL option of the socket's family: the IPv4 one does not govern IPv6 datagrams. */
static int ttl_option(int fd, int *level, int *name)
{
    int domain;
    int r = socket_get_int_option(fd, SOL_SOCKET, SO_DOMAIN, &domain);
    if (r < 0)
        return r;
    *level = domain == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
    *name = domain == AF_INET6 ? IPV6_UNICAST_HOPS : IP_TTL;
    return 0;
}

EVSRC_EXPORT int evsrc_udp_socket_set_ttl(struct evsrc_udp_socket *udp, int ttl)
{
    if (ttl < 1 || ttl > TTL_MAX)
        return -EINVAL;
    int fd = udp_fd(udp);
    if (fd < 0)
        return fd;
    int level, name;
    int r = ttl_option(fd, &level, &name);
    if (r < 0)
        return r;
    return setsockopt(fd, level, name, &ttl, sizeof ttl) < 0 ? -errno : 0;
}

EVSRC_EXPORT int evsrc_udp_socket_ttl(const struct evsrc_udp_socket *udp)
{
    int fd = udp_fd(udp);
    if (fd < 0)
        return fd;
    int level, name, ttl;
    int r = ttl_option(fd, &level, &name);
    if (r < 0)
        return r;
    r = socket_get_int_option(fd, level, name, &ttl);
    return r < 0 ? r : ttl;
}

static bool is_multicast_v4(const struct in_addr *group)
{
    return (ntohl(group->s_addr) & 0xf0000000u) == 0xe0000000u; /* 224.0.0.0/4 */
}

static int membership_v4(struct evsrc_udp_socket *udp, const struct in_addr *group, const struct in_addr *iface,
                         int name)
{
    if (!group || !is_multicast_v4(group))
        return -EINVAL;
    int fd = udp_fd(udp);
    if (fd < 0)
        return fd;
    struct ip_mreq request = {.imr_multiaddr = *group};
    request.imr_interface.s_addr = iface ? iface->s_addr : htonl(INADDR_ANY);
    return setsockopt(fd, IPPROTO_IP, name, &request, sizeof request) < 0 ? -errno : 0;
}

EVSRC_EXPORT int evsrc_udp_socket_join_multicast_v4(struct evsrc_udp_socket *udp, const struct in_addr *group,
                                                    const struct in_addr *iface)
{
    return membership_v4(udp, group, iface, IP_ADD_MEMBERSHIP);
}

EVSRC_EXPORT int evsrc_udp_socket_leave_multicast_v4(struct evsrc_udp_socket *udp, const struct in_addr *group,
                                                     const struct in_addr *iface)
{
    return membership_v4(udp, group, iface, IP_DROP_MEMBERSHIP);
}

static int membership_v6(struct evsrc_udp_socket *udp, const struct in6_addr *group, unsigned iface, int name)
{
    if (!group || group->s6_addr[0] != 0xff) /* ff00::/8 */
        return -EINVAL;
    int fd = udp_fd(udp);
    if (fd < 0)
        return fd;
    struct ipv6_mreq request = {.ipv6mr_multiaddr = *group, .ipv6mr_interface = iface};
    return setsockopt(fd, IPPROTO_IPV6, name, &request, sizeof request) < 0 ? -errno : 0;
}

EVSRC_EXPORT int evsrc_udp_socket_join_multicast_v6(struct evsrc_udp_socket *udp, const struct in6_addr *group,
                                                    unsigned iface)
{
    return membership_v6(udp, group, iface, IPV6_ADD_MEMBERSHIP);
}

EVSRC_EXPORT int evsrc_udp_socket_leave_multicast_v6(struct evsrc_udp_socket *udp, const struct in6_addr *group,
                                                     unsigned iface)
{
    return membership_v6(udp, group, iface, IPV6_DROP_MEMBERSHIP);
}

EVSRC_EXPORT int evsrc_udp_socket_set_multicast_loop_v4(struct evsrc_udp_socket *udp, bool on)
{
    return set_option(udp, IPPROTO_IP, IP_MULTICAST_LOOP, on, 0, 1);
}

EVSRC_EXPORT int evsrc_udp_socket_multicast_loop_v4(const struct evsrc_udp_socket *udp)
{
    return get_option(udp, IPPROTO_IP, IP_MULTICAST_LOOP, true);
}

EVSRC_EXPORT int evsrc_udp_socket_set_multicast_ttl_v4(struct evsrc_udp_socket *udp, int ttl)
{
    return set_option(udp, IPPROTO_IP, IP_MULTICAST_TTL, ttl, 0, TTL_MAX);
}

EVSRC_EXPORT int evsrc_udp_socket_multicast_ttl_v4(const struct evsrc_udp_socket *udp)
{
    return get_option(udp, IPPROTO_IP, IP_MULTICAST_TTL, false);
}

EVSRC_EXPORT int evsrc_udp_socket_set_multicast_loop_v6(struct evsrc_udp_socket *udp, bool on)
{
    return set_option(udp, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, on, 0, 1);
}

EVSRC_EXPORT int evsrc_udp_socket_multicast_loop_v6(const struct evsrc_udp_socket *udp)
{
    return get_option(udp, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, true);
}

EVSRC_EXPORT int evsrc_udp_socket_set_multicast_hops_v6(struct evsrc_udp_socket *udp, int hops)
{
    return set_option(udp, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, hops, 0, TTL_MAX);
}

EVSRC_EXPORT int evsrc_udp_socket_multicast_hops_v6(const struct evsrc_udp_socket *udp)
{
    return get_option(udp, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, false);
}

/* ---- The fd, and closing ----------------------------------------------- */

EVSRC_EXPORT int evsrc_udp_socket_fd(const struct evsrc_udp_socket *udp)
{
    return udp_fd(udp);
}

EVSRC_EXPORT int evsrc_udp_socket_close(struct evsrc_udp_socket *udp)
{
    return fd_source_close(FD_SOURCE_OF(udp));
}
