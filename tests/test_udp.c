/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <evsrc/udp.h>

#include "testutil.h"

/* ---- Helpers ----------------------------------------------------------- */

static struct sockaddr_in loopback4(uint16_t port)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
}

static struct sockaddr_in6 loopback6(void)
{
    struct sockaddr_in6 addr;
    memset(&addr, 0, sizeof addr);
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    return addr;
}

/* Binds `udp` to 127.0.0.1 on a free port. */
static void bind_loopback(struct evsrc_udp_socket *udp)
{
    struct sockaddr_in addr = loopback4(0);
    ck_assert_int_eq(evsrc_udp_socket_bind(udp, (const struct sockaddr *)&addr, sizeof addr), 0);
}

/* The address `udp` is bound to, and its length. */
static struct sockaddr_storage local_addr(const struct evsrc_udp_socket *udp, socklen_t *len)
{
    struct sockaddr_storage addr;
    *len = sizeof addr;
    ck_assert_int_eq(evsrc_udp_socket_local_addr(udp, &addr, len), 0);
    return addr;
}

static uint16_t port_of(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)(const void *)addr)->sin6_port);
    return ntohs(((const struct sockaddr_in *)(const void *)addr)->sin_port);
}

/* Sends `text` as one datagram from `from` to wherever `to` is bound. */
static void send_text(struct evsrc_udp_socket *from, const struct evsrc_udp_socket *to, const char *text)
{
    socklen_t len;
    struct sockaddr_storage addr = local_addr(to, &len);
    size_t n = strlen(text);
    ck_assert_int_eq(evsrc_udp_socket_send_to(from, text, n, (const struct sockaddr *)&addr, len), (ssize_t)n);
}

/* Receives until -EAGAIN and returns how many datagrams there were. */
static unsigned drain(struct evsrc_udp_socket *udp)
{
    char buf[2048];
    unsigned count = 0;
    ssize_t n;
    while ((n = evsrc_udp_socket_recv(udp, buf, sizeof buf)) >= 0)
        count++;
    ck_assert_int_eq(n, -EAGAIN);
    return count;
}

/* Waits for `token` (failing the test if it does not come) and returns its flags as an event, for the accessors. */
static struct evsrc_event wait_event(evsrc_token token)
{
    struct evsrc_event event;
    memset(&event, 0, sizeof event);
    event.flags = testutil_expect_event(token);
    return event;
}

/* Two sockets bound to loopback; `receiver` registered under `token` for `interests`. */
static void registered_pair(struct evsrc_udp_socket *sender, struct evsrc_udp_socket *receiver, evsrc_token token,
                            evsrc_interest interests)
{
    bind_loopback(sender);
    bind_loopback(receiver);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &receiver->source, token, interests), 0);
}

static void close_both(struct evsrc_udp_socket *first, struct evsrc_udp_socket *second)
{
    ck_assert_int_eq(evsrc_udp_socket_close(first), 0);
    ck_assert_int_eq(evsrc_udp_socket_close(second), 0);
}

/* ---- Readiness --------------------------------------------------------- */

START_TEST(bound_socket_is_nonblocking_and_cloexec)
{
    TESTUTIL_SKIP_ON_WINDOWS("Winsock cannot read a socket's blocking mode back (no F_GETFL)");
    struct evsrc_udp_socket udp;
    bind_loopback(&udp);
    int fd = evsrc_udp_socket_fd(&udp);
    ck_assert_int_ge(fd, 0);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    char byte;
    ck_assert_int_eq(evsrc_udp_socket_recv(&udp, &byte, 1), -EAGAIN);
    socklen_t len;
    struct sockaddr_storage addr = local_addr(&udp, &len);
    ck_assert_int_eq(addr.ss_family, AF_INET);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
    ck_assert_uint_ne(port_of(&addr), 0);
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), 0);
}
END_TEST

START_TEST(readable_is_edge_triggered)
{
    struct evsrc_udp_socket sender, receiver;
    registered_pair(&sender, &receiver, 7, EVSRC_READABLE);
    testutil_expect_quiet(7);

    send_text(&sender, &receiver, "one");
    send_text(&sender, &receiver, "two");
    struct evsrc_event event = wait_event(7);
    ck_assert(evsrc_event_is_readable(&event));

    /* Taking one of two datagrams does not earn another event: the edge was already reported. */
    char buf[16];
    ck_assert_int_eq(evsrc_udp_socket_recv(&receiver, buf, sizeof buf), 3);
    ck_assert_int_eq(memcmp(buf, "one", 3), 0);
    testutil_expect_quiet(7);
    ck_assert_uint_eq(drain(&receiver), 1);
    testutil_expect_quiet(7);

    /* A datagram after draining is a new edge. */
    send_text(&sender, &receiver, "three");
    event = wait_event(7);
    ck_assert(evsrc_event_is_readable(&event));
    ck_assert_uint_eq(drain(&receiver), 1);

    close_both(&sender, &receiver);
}
END_TEST

START_TEST(level_triggered_reports_while_datagrams_remain)
{
    struct evsrc_udp_socket sender, receiver;
    registered_pair(&sender, &receiver, 3, EVSRC_READABLE | EVSRC_LEVEL);
    send_text(&sender, &receiver, "a");
    send_text(&sender, &receiver, "b");
    char byte;
    for (int i = 0; i < 2; i++) {
        struct evsrc_event event = wait_event(3);
        ck_assert(evsrc_event_is_readable(&event));
        ck_assert_int_eq(evsrc_udp_socket_recv(&receiver, &byte, 1), 1);
        ck_assert_int_eq(byte, 'a' + i);
    }
    testutil_expect_quiet(3);
    close_both(&sender, &receiver);
}
END_TEST

START_TEST(writable_at_registration)
{
    struct evsrc_udp_socket udp;
    bind_loopback(&udp);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &udp.source, 11, EVSRC_WRITABLE), 0);
    struct evsrc_event event = wait_event(11);
    ck_assert(evsrc_event_is_writable(&event));
    ck_assert(!evsrc_event_is_readable(&event));
    ck_assert(!evsrc_event_is_error(&event));
    /* Edge-triggered: nothing more until the buffer fills and drains. */
    testutil_expect_quiet(11);
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), 0);
}
END_TEST

START_TEST(datagram_seen_once_reregistered_readable)
{
    struct evsrc_udp_socket sender, receiver;
    registered_pair(&sender, &receiver, 1, EVSRC_WRITABLE);
    struct evsrc_event event = wait_event(1);
    ck_assert(evsrc_event_is_writable(&event));

    /* It arrives while only writing is asked for: not reported. */
    send_text(&sender, &receiver, "waiting");
    testutil_expect_quiet(1);

    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &receiver.source, 2, EVSRC_READABLE), 0);
    event = wait_event(2);
    ck_assert(evsrc_event_is_readable(&event));
    char buf[16];
    ck_assert_int_eq(evsrc_udp_socket_recv(&receiver, buf, sizeof buf), 7);
    ck_assert_int_eq(memcmp(buf, "waiting", 7), 0);
    close_both(&sender, &receiver);
}
END_TEST

/* ---- Registration ------------------------------------------------------ */

START_TEST(deregistered_socket_reports_nothing)
{
    struct evsrc_udp_socket sender, receiver;
    registered_pair(&sender, &receiver, 8, EVSRC_READABLE | EVSRC_WRITABLE);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &receiver.source), 0);
    send_text(&sender, &receiver, "ignored");
    ck_assert_int_eq(testutil_wait_ms(testutil_fx.poll, testutil_fx.events, TESTUTIL_QUIET_MS), 0);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &receiver.source), -ENOENT);

    /* It can come back, and then the waiting datagram is reported. */
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &receiver.source, 9, EVSRC_READABLE), 0);
    struct evsrc_event event = wait_event(9);
    ck_assert(evsrc_event_is_readable(&event));
    ck_assert_uint_eq(drain(&receiver), 1);
    close_both(&sender, &receiver);
}
END_TEST

START_TEST(reregister_changes_token_and_interest)
{
    struct evsrc_udp_socket sender, receiver;
    registered_pair(&sender, &receiver, 1, EVSRC_READABLE);
    send_text(&sender, &receiver, "one");
    struct evsrc_event event = wait_event(1);
    ck_assert(evsrc_event_is_readable(&event));
    ck_assert(!evsrc_event_is_writable(&event));

    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &receiver.source, 2, EVSRC_WRITABLE), 0);
    event = wait_event(2);
    ck_assert(evsrc_event_is_writable(&event));
    ck_assert(!evsrc_event_is_readable(&event));
    /* More datagrams are not reported, under either token: reading is no longer asked for. */
    send_text(&sender, &receiver, "two");
    testutil_expect_no_events();

    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &receiver.source, 3, EVSRC_READABLE), 0);
    event = wait_event(3);
    ck_assert(evsrc_event_is_readable(&event));
    ck_assert_uint_eq(drain(&receiver), 2);
    close_both(&sender, &receiver);
}
END_TEST

START_TEST(close_clears_the_registration)
{
    TESTUTIL_SKIP_ON_WINDOWS("needs dup2 onto a chosen fd number, which sockets on Windows have no form of");
    struct evsrc_udp_socket udp;
    bind_loopback(&udp);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &udp.source, 1, EVSRC_READABLE), 0);
    int old = evsrc_udp_socket_fd(&udp);
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), 0);
    /* The lowest free number is the one just closed: a stale fd in the struct would hit this. */
    int spare = dup(STDERR_FILENO);
    ck_assert_int_eq(spare, old);
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_fd(&udp), -EBADF);
    ck_assert(testutil_fd_is_open(spare));
    ck_assert_int_eq(close(spare), 0);

    /* The record went with the fd: the struct can be bound and registered again. */
    bind_loopback(&udp);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &udp.source, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), 0);
}
END_TEST

/* ---- Addresses and families -------------------------------------------- */

START_TEST(ipv4_round_trip_names_the_sender)
{
    struct evsrc_udp_socket sender, receiver;
    registered_pair(&sender, &receiver, 4, EVSRC_READABLE);
    send_text(&sender, &receiver, "hello");
    wait_event(4);

    char buf[16];
    struct sockaddr_storage from, peeked;
    socklen_t fromlen = sizeof from, peekedlen = sizeof peeked;
    ck_assert_int_eq(evsrc_udp_socket_peek_from(&receiver, buf, sizeof buf, &peeked, &peekedlen), 5);
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(evsrc_udp_socket_recv_from(&receiver, buf, sizeof buf, &from, &fromlen), 5);
    ck_assert_int_eq(memcmp(buf, "hello", 5), 0);

    socklen_t senderlen;
    struct sockaddr_storage sender_addr = local_addr(&sender, &senderlen);
    ck_assert_uint_eq(fromlen, senderlen);
    ck_assert_int_eq(memcmp(&from, &sender_addr, fromlen), 0);
    ck_assert_uint_eq(peekedlen, fromlen);
    ck_assert_int_eq(memcmp(&peeked, &from, fromlen), 0);

    /* from may be NULL, and then fromlen is not looked at. */
    send_text(&sender, &receiver, "again");
    testutil_await_fd(evsrc_udp_socket_fd(&receiver), POLLIN);
    ck_assert_int_eq(evsrc_udp_socket_recv_from(&receiver, buf, sizeof buf, NULL, NULL), 5);
    ck_assert_int_eq(evsrc_udp_socket_recv_from(&receiver, buf, sizeof buf, NULL, NULL), -EAGAIN);
    close_both(&sender, &receiver);
}
END_TEST

START_TEST(ipv6_loopback_where_available)
{
    struct sockaddr_in6 addr = loopback6();
    struct evsrc_udp_socket sender, receiver;
    int r = evsrc_udp_socket_bind(&receiver, (const struct sockaddr *)&addr, sizeof addr);
    if (r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT)
        return; /* no IPv6 loopback here: nothing to test */
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(evsrc_udp_socket_bind(&sender, (const struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t len;
    struct sockaddr_storage bound = local_addr(&receiver, &len);
    ck_assert_int_eq(bound.ss_family, AF_INET6);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
    ck_assert_uint_ne(port_of(&bound), 0);

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &receiver.source, 61, EVSRC_READABLE), 0);
    send_text(&sender, &receiver, "six");
    struct evsrc_event event = wait_event(61);
    ck_assert(evsrc_event_is_readable(&event));
    char buf[8];
    struct sockaddr_storage from;
    socklen_t fromlen = sizeof from;
    ck_assert_int_eq(evsrc_udp_socket_recv_from(&receiver, buf, sizeof buf, &from, &fromlen), 3);
    ck_assert_int_eq(from.ss_family, AF_INET6);
    ck_assert_uint_eq(fromlen, sizeof(struct sockaddr_in6));

    /* The TTL of an IPv6 socket is its unicast hop limit. */
    ck_assert_int_eq(evsrc_udp_socket_set_ttl(&sender, 9), 0);
    ck_assert_int_eq(evsrc_udp_socket_ttl(&sender), 9);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_loop_v6(&sender, false), 0);
    ck_assert_int_eq(evsrc_udp_socket_multicast_loop_v6(&sender), 0);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_hops_v6(&sender, 4), 0);
    ck_assert_int_eq(evsrc_udp_socket_multicast_hops_v6(&sender), 4);
    close_both(&sender, &receiver);
}
END_TEST

START_TEST(connected_socket_talks_to_its_peer_only)
{
    TESTUTIL_SKIP_ON_WINDOWS("Winsock answers EINVAL where Linux answers EDESTADDRREQ (mapping left to check)");
    struct evsrc_udp_socket a, b, stranger;
    registered_pair(&b, &a, 5, EVSRC_READABLE);
    bind_loopback(&stranger);
    socklen_t blen;
    struct sockaddr_storage baddr = local_addr(&b, &blen);
    ck_assert_int_eq(evsrc_udp_socket_connect(&a, (const struct sockaddr *)&baddr, blen), 0);
    struct sockaddr_storage peer;
    socklen_t peerlen = sizeof peer;
    ck_assert_int_eq(evsrc_udp_socket_peer_addr(&a, &peer, &peerlen), 0);
    ck_assert_uint_eq(peerlen, blen);
    ck_assert_int_eq(memcmp(&peer, &baddr, blen), 0);

    /* Connected: send goes to the peer, and a stranger's datagrams are filtered out. */
    ck_assert_int_eq(evsrc_udp_socket_send(&a, "ping", 4), 4);
    testutil_await_fd(evsrc_udp_socket_fd(&b), POLLIN);
    char buf[8];
    ck_assert_int_eq(evsrc_udp_socket_recv(&b, buf, sizeof buf), 4);
    send_text(&stranger, &a, "nope");
    send_text(&b, &a, "pong");
    wait_event(5);
    ck_assert_int_eq(evsrc_udp_socket_recv(&a, buf, sizeof buf), 4);
    ck_assert_int_eq(memcmp(buf, "pong", 4), 0);
    ck_assert_int_eq(evsrc_udp_socket_recv(&a, buf, sizeof buf), -EAGAIN);

    /* AF_UNSPEC dissolves the association. */
    struct sockaddr unspec;
    memset(&unspec, 0, sizeof unspec);
    unspec.sa_family = AF_UNSPEC;
    ck_assert_int_eq(evsrc_udp_socket_connect(&a, &unspec, sizeof unspec), 0);
    peerlen = sizeof peer;
    ck_assert_int_eq(evsrc_udp_socket_peer_addr(&a, &peer, &peerlen), -ENOTCONN);
    ck_assert_int_eq(evsrc_udp_socket_send(&a, "x", 1), -EDESTADDRREQ);

    close_both(&a, &b);
    ck_assert_int_eq(evsrc_udp_socket_close(&stranger), 0);
}
END_TEST

START_TEST(refused_datagram_is_an_error_event)
{
    TESTUTIL_SKIP_ON_WINDOWS("Winsock reports an ICMP port unreachable as WSAECONNRESET on the next receive, not through SO_ERROR");
    /* A port that was bound a moment ago and has no socket now. */
    struct evsrc_udp_socket gone, udp;
    bind_loopback(&gone);
    socklen_t len;
    struct sockaddr_storage addr = local_addr(&gone, &len);
    ck_assert_int_eq(evsrc_udp_socket_close(&gone), 0);

    bind_loopback(&udp);
    ck_assert_int_eq(evsrc_udp_socket_connect(&udp, (const struct sockaddr *)&addr, len), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &udp.source, 12, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_udp_socket_send(&udp, "anyone?", 7), 7);
    struct evsrc_event event = wait_event(12);
    ck_assert(evsrc_event_is_error(&event));
    ck_assert_int_eq(evsrc_udp_socket_take_error(&udp), -ECONNREFUSED);
    /* take_error clears what it returns. */
    ck_assert_int_eq(evsrc_udp_socket_take_error(&udp), 0);
    char byte;
    ck_assert_int_eq(evsrc_udp_socket_recv(&udp, &byte, 1), -EAGAIN);

    /* Without take_error, the next receive reports it, once. */
    ck_assert_int_eq(evsrc_udp_socket_send(&udp, "again", 5), 5);
    testutil_await_fd(evsrc_udp_socket_fd(&udp), POLLERR);
    ck_assert_int_eq(evsrc_udp_socket_recv(&udp, &byte, 1), -ECONNREFUSED);
    ck_assert_int_eq(evsrc_udp_socket_recv(&udp, &byte, 1), -EAGAIN);
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), 0);
}
END_TEST

START_TEST(addresses_truncate_like_getsockname)
{
    struct evsrc_udp_socket udp;
    bind_loopback(&udp);
    socklen_t wholelen;
    struct sockaddr_storage whole = local_addr(&udp, &wholelen);
    struct sockaddr_storage part;
    memset(&part, 0xaa, sizeof part);
    socklen_t partlen = 4;
    ck_assert_int_eq(evsrc_udp_socket_local_addr(&udp, &part, &partlen), 0);
    ck_assert_uint_eq(partlen, wholelen);
    ck_assert_int_eq(memcmp(&part, &whole, 4), 0);
    ck_assert_uint_eq(((const unsigned char *)&part)[4], 0xaa);

    struct sockaddr_storage peer;
    socklen_t peerlen = sizeof peer;
    ck_assert_int_eq(evsrc_udp_socket_peer_addr(&udp, &peer, &peerlen), -ENOTCONN);
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), 0);
}
END_TEST

/* ---- Datagrams --------------------------------------------------------- */

START_TEST(datagrams_keep_their_boundaries)
{
    struct evsrc_udp_socket sender, receiver;
    registered_pair(&sender, &receiver, 1, EVSRC_READABLE);
    socklen_t len;
    struct sockaddr_storage to = local_addr(&receiver, &len);
    const struct sockaddr *addr = (const struct sockaddr *)&to;
    ck_assert_int_eq(evsrc_udp_socket_send_to(&sender, "", 0, addr, len), 0);
    ck_assert_int_eq(evsrc_udp_socket_send_to(&sender, NULL, 0, addr, len), 0);
    ck_assert_int_eq(evsrc_udp_socket_send_to(&sender, "truncated", 9, addr, len), 9);
    ck_assert_int_eq(evsrc_udp_socket_send_to(&sender, "peeked", 6, addr, len), 6);
    wait_event(1);

    char buf[16];
    /* Empty datagrams are 0, and are not end of anything. */
    ck_assert_int_eq(evsrc_udp_socket_recv(&receiver, buf, sizeof buf), 0);
    ck_assert_int_eq(evsrc_udp_socket_recv(&receiver, NULL, 0), 0);
    /* A short buffer takes the start; the rest of that datagram is gone. */
    ck_assert_int_eq(evsrc_udp_socket_recv(&receiver, buf, 5), 5);
    ck_assert_int_eq(memcmp(buf, "trunc", 5), 0);
    ck_assert_int_eq(evsrc_udp_socket_peek(&receiver, buf, sizeof buf), 6);
    ck_assert_int_eq(evsrc_udp_socket_peek(&receiver, buf, sizeof buf), 6);
    ck_assert_int_eq(evsrc_udp_socket_recv(&receiver, buf, sizeof buf), 6);
    ck_assert_int_eq(memcmp(buf, "peeked", 6), 0);
    ck_assert_int_eq(evsrc_udp_socket_peek(&receiver, buf, sizeof buf), -EAGAIN);
    ck_assert_int_eq(evsrc_udp_socket_peek_from(&receiver, buf, sizeof buf, NULL, NULL), -EAGAIN);
    close_both(&sender, &receiver);
}
END_TEST

#define BATCH 4

/*
 * recv_many returning fewer than asked means drained (udp.h), so a program
 * may wait for the next event without the -EAGAIN call: that event must
 * come on every backend (issue 20: the poll backend never sent it).
 */
START_TEST(short_recv_many_is_enough_to_wait_again)
{
    TESTUTIL_SKIP_ON_WINDOWS("no batched receive (recv_many is -ENOSYS there)");
    struct evsrc_udp_socket sender, receiver;
    registered_pair(&sender, &receiver, 1, EVSRC_READABLE);
    char bufs[BATCH][16];
    struct iovec iov[BATCH];
    struct mmsghdr in[BATCH];
    for (int round = 0; round < 3; round++) {
        send_text(&sender, &receiver, "one");
        wait_event(1);
        memset(in, 0, sizeof in);
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = sizeof bufs[i]};
            in[i].msg_hdr.msg_iov = &iov[i];
            in[i].msg_hdr.msg_iovlen = 1;
        }
        ck_assert_int_eq(evsrc_udp_socket_recv_many(&receiver, in, BATCH), 1);
    }
    close_both(&sender, &receiver);
}
END_TEST

START_TEST(send_many_and_recv_many_round_trip_a_batch)
{
    TESTUTIL_SKIP_ON_WINDOWS("Windows has no sendmmsg/recvmmsg: the batch calls are -ENOSYS there (udp.h)");
    struct evsrc_udp_socket sender, receiver;
    registered_pair(&sender, &receiver, 1, EVSRC_READABLE);
    socklen_t tolen;
    struct sockaddr_storage to = local_addr(&receiver, &tolen);

    static const char *const texts[BATCH] = {"a", "bb", "ccc", "a longer datagram"};
    struct iovec out_iov[BATCH];
    struct mmsghdr out[BATCH];
    memset(out, 0, sizeof out);
    for (int i = 0; i < BATCH; i++) {
        out_iov[i].iov_base = (void *)texts[i];
        out_iov[i].iov_len = strlen(texts[i]);
        out[i].msg_hdr.msg_name = &to;
        out[i].msg_hdr.msg_namelen = tolen;
        out[i].msg_hdr.msg_iov = &out_iov[i];
        out[i].msg_hdr.msg_iovlen = 1;
    }
    ck_assert_int_eq(evsrc_udp_socket_send_many(&sender, out, BATCH), BATCH);
    for (int i = 0; i < BATCH; i++)
        ck_assert_uint_eq(out[i].msg_len, strlen(texts[i]));
    wait_event(1);

    /* Room for more than were sent, and a last buffer too short for its datagram. */
    char bufs[BATCH + 2][8];
    struct iovec in_iov[BATCH + 2];
    struct sockaddr_storage from[BATCH + 2];
    struct mmsghdr in[BATCH + 2];
    memset(in, 0, sizeof in);
    for (int i = 0; i < BATCH + 2; i++) {
        in_iov[i].iov_base = bufs[i];
        in_iov[i].iov_len = sizeof bufs[i];
        in[i].msg_hdr.msg_name = &from[i];
        in[i].msg_hdr.msg_namelen = sizeof from[i];
        in[i].msg_hdr.msg_iov = &in_iov[i];
        in[i].msg_hdr.msg_iovlen = 1;
    }
    /* Loopback queues them as they are sent, but gather over several calls in case. */
    int got = 0;
    while (got < BATCH) {
        int n = evsrc_udp_socket_recv_many(&receiver, in + got, BATCH + 2 - (unsigned)got);
        if (n == -EAGAIN) {
            wait_event(1);
            continue;
        }
        ck_assert_int_gt(n, 0);
        got += n;
    }
    ck_assert_int_eq(got, BATCH);
    socklen_t senderlen;
    struct sockaddr_storage sender_addr = local_addr(&sender, &senderlen);
    for (int i = 0; i < BATCH; i++) {
        size_t want = strlen(texts[i]);
        size_t stored = want < sizeof bufs[i] ? want : sizeof bufs[i];
        ck_assert_uint_eq(in[i].msg_len, stored);
        ck_assert_int_eq(memcmp(bufs[i], texts[i], stored), 0);
        ck_assert_int_eq((in[i].msg_hdr.msg_flags & MSG_TRUNC) != 0, want > sizeof bufs[i]);
        ck_assert_uint_eq(in[i].msg_hdr.msg_namelen, senderlen);
        ck_assert_int_eq(memcmp(&from[i], &sender_addr, senderlen), 0);
    }
    ck_assert_int_eq(evsrc_udp_socket_recv_many(&receiver, in, BATCH), -EAGAIN);
    ck_assert_int_eq(evsrc_udp_socket_recv_many(&receiver, in, 0), 0);
    ck_assert_int_eq(evsrc_udp_socket_send_many(&sender, out, 0), 0);
    ck_assert_int_eq(evsrc_udp_socket_recv_many(&receiver, NULL, 0), 0);

    /* A connected socket may leave msg_name NULL. */
    ck_assert_int_eq(evsrc_udp_socket_connect(&sender, (const struct sockaddr *)&to, tolen), 0);
    for (int i = 0; i < BATCH; i++)
        out[i].msg_hdr.msg_name = NULL, out[i].msg_hdr.msg_namelen = 0;
    ck_assert_int_eq(evsrc_udp_socket_send_many(&sender, out, 2), 2);
    wait_event(1);
    got = 0;
    while (got < 2) {
        int n = evsrc_udp_socket_recv_many(&receiver, in + got, 2 - (unsigned)got);
        if (n == -EAGAIN) {
            wait_event(1);
            continue;
        }
        ck_assert_int_gt(n, 0);
        got += n;
    }
    ck_assert_int_eq(memcmp(bufs[1], "bb", 2), 0);
    close_both(&sender, &receiver);
}
END_TEST

/* ---- Options ----------------------------------------------------------- */

START_TEST(options_round_trip)
{
    struct evsrc_udp_socket udp;
    bind_loopback(&udp);
    ck_assert_int_eq(evsrc_udp_socket_broadcast(&udp), 0);
    ck_assert_int_eq(evsrc_udp_socket_set_broadcast(&udp, true), 0);
    ck_assert_int_eq(evsrc_udp_socket_broadcast(&udp), 1);
    ck_assert_int_eq(evsrc_udp_socket_set_broadcast(&udp, false), 0);
    ck_assert_int_eq(evsrc_udp_socket_broadcast(&udp), 0);

    ck_assert_int_eq(evsrc_udp_socket_set_ttl(&udp, 1), 0);
    ck_assert_int_eq(evsrc_udp_socket_ttl(&udp), 1);
    ck_assert_int_eq(evsrc_udp_socket_set_ttl(&udp, 255), 0);
    ck_assert_int_eq(evsrc_udp_socket_ttl(&udp), 255);
    ck_assert_int_eq(evsrc_udp_socket_set_ttl(&udp, 0), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_set_ttl(&udp, 256), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_set_ttl(&udp, -1), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_ttl(&udp), 255);

    ck_assert_int_eq(evsrc_udp_socket_multicast_loop_v4(&udp), 1);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_loop_v4(&udp, false), 0);
    ck_assert_int_eq(evsrc_udp_socket_multicast_loop_v4(&udp), 0);
    ck_assert_int_eq(evsrc_udp_socket_multicast_ttl_v4(&udp), 1);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_ttl_v4(&udp, 0), 0);
    ck_assert_int_eq(evsrc_udp_socket_multicast_ttl_v4(&udp), 0);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_ttl_v4(&udp, 255), 0);
    ck_assert_int_eq(evsrc_udp_socket_multicast_ttl_v4(&udp), 255);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_ttl_v4(&udp, 256), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_ttl_v4(&udp, -1), -EINVAL);

    /* IPv6 options on an IPv4 socket: the kernel's answer, as -errno. */
    ck_assert_int_lt(evsrc_udp_socket_set_multicast_loop_v6(&udp, true), 0);
    ck_assert_int_lt(evsrc_udp_socket_multicast_hops_v6(&udp), 0);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_hops_v6(&udp, 256), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), 0);
}
END_TEST

START_TEST(broadcast_needs_the_option)
{
    struct evsrc_udp_socket udp;
    struct sockaddr_in any = {.sin_family = AF_INET};
    ck_assert_int_eq(evsrc_udp_socket_bind(&udp, (const struct sockaddr *)&any, sizeof any), 0);
    struct sockaddr_in everyone = loopback4(9);
    everyone.sin_addr.s_addr = htonl(INADDR_BROADCAST);
    ssize_t n = evsrc_udp_socket_send_to(&udp, "x", 1, (const struct sockaddr *)&everyone, sizeof everyone);
    ck_assert_int_eq(n, -EACCES);
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), 0);
}
END_TEST

/* The multicast group the test uses: administratively scoped, never routed off the host here. */
#define GROUP_V4 "239.255.77.11"

START_TEST(multicast_join_and_leave_on_loopback)
{
    TESTUTIL_SKIP_ON_WINDOWS("IP_MULTICAST_ALL is Linux-only");
    struct evsrc_udp_socket member, sender;
    /* A member binds the wildcard address: a socket bound to 127.0.0.1 would not take the group's datagrams. */
    struct sockaddr_in any = {.sin_family = AF_INET};
    ck_assert_int_eq(evsrc_udp_socket_bind(&member, (const struct sockaddr *)&any, sizeof any), 0);
    bind_loopback(&sender);
    struct in_addr group, lo = {.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(inet_pton(AF_INET, GROUP_V4, &group), 1);

    int r = evsrc_udp_socket_join_multicast_v4(&member, &group, &lo);
    if (r == -ENODEV || r == -EADDRNOTAVAIL) {
        close_both(&member, &sender);
        return; /* no multicast on loopback here: nothing to test */
    }
    ck_assert_int_eq(r, 0);
    /*
     * Only the groups this socket joined: with IP_MULTICAST_ALL on (Linux's default) it would also take
     * the group's datagrams while another process on this host is a member, such as a parallel run.
     */
    int off = 0;
    int all = setsockopt(evsrc_udp_socket_fd(&member), IPPROTO_IP, IP_MULTICAST_ALL, &off, sizeof off);
    if (all != 0 && errno == ENOPROTOOPT &&
        testutil_skip_under_emulator("multicast membership", "qemu-user 7.2 does not emulate IP_MULTICAST_ALL")) {
        close_both(&member, &sender);
        return;
    }
    ck_assert_int_eq(all, 0);
    ck_assert_int_eq(evsrc_udp_socket_join_multicast_v4(&member, &group, &lo), -EADDRINUSE);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &member.source, 40, EVSRC_READABLE), 0);

    /* The sender sends through loopback (an option the library leaves to the fd) with loop on. */
    int set = setsockopt(evsrc_udp_socket_fd(&sender), IPPROTO_IP, IP_MULTICAST_IF, &lo, sizeof lo);
    if (set != 0 && errno == ENOPROTOOPT &&
        testutil_skip_under_emulator("multicast send", "qemu-user 7.2 does not emulate IP_MULTICAST_IF")) {
        close_both(&member, &sender);
        return;
    }
    ck_assert_int_eq(set, 0);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_loop_v4(&sender, true), 0);
    socklen_t len;
    struct sockaddr_storage bound = local_addr(&member, &len);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port_of(&bound)), .sin_addr = group};
    ssize_t n = evsrc_udp_socket_send_to(&sender, "all", 3, (const struct sockaddr *)&to, sizeof to);
    if (n == -ENETUNREACH || n == -ENODEV || n == -EADDRNOTAVAIL) {
        close_both(&member, &sender);
        return; /* no multicast route here */
    }
    ck_assert_int_eq(n, 3);
    struct evsrc_event event = wait_event(40);
    ck_assert(evsrc_event_is_readable(&event));
    ck_assert_uint_eq(drain(&member), 1);

    /* Once it has left, the group's datagrams no longer come. */
    ck_assert_int_eq(evsrc_udp_socket_leave_multicast_v4(&member, &group, &lo), 0);
    ck_assert_int_eq(evsrc_udp_socket_leave_multicast_v4(&member, &group, &lo), -EADDRNOTAVAIL);
    ck_assert_int_eq(evsrc_udp_socket_send_to(&sender, "all", 3, (const struct sockaddr *)&to, sizeof to), 3);
    testutil_expect_quiet(40);
    ck_assert_uint_eq(drain(&member), 0);

    /* A NULL interface lets the kernel choose. */
    r = evsrc_udp_socket_join_multicast_v4(&member, &group, NULL);
    if (r == 0)
        ck_assert_int_eq(evsrc_udp_socket_leave_multicast_v4(&member, &group, NULL), 0);
    else
        ck_assert(r == -ENODEV || r == -EADDRNOTAVAIL);
    close_both(&member, &sender);
}
END_TEST

START_TEST(multicast_v6_join_and_leave_where_available)
{
    TESTUTIL_SKIP_ON_WINDOWS("Winsock answers EINVAL where Linux answers EADDRNOTAVAIL (mapping left to check)");
    struct sockaddr_in6 any = {.sin6_family = AF_INET6};
    struct evsrc_udp_socket member;
    int r = evsrc_udp_socket_bind(&member, (const struct sockaddr *)&any, sizeof any);
    if (r == -EAFNOSUPPORT || r == -EADDRNOTAVAIL)
        return; /* no IPv6 here */
    ck_assert_int_eq(r, 0);
    struct in6_addr group;
    ck_assert_int_eq(inet_pton(AF_INET6, "ff15::7711", &group), 1);
    r = evsrc_udp_socket_join_multicast_v6(&member, &group, 0);
    if (r == 0) {
        ck_assert_int_eq(evsrc_udp_socket_join_multicast_v6(&member, &group, 0), -EADDRINUSE);
        ck_assert_int_eq(evsrc_udp_socket_leave_multicast_v6(&member, &group, 0), 0);
        ck_assert_int_eq(evsrc_udp_socket_leave_multicast_v6(&member, &group, 0), -EADDRNOTAVAIL);
    } else {
        ck_assert(r == -ENODEV || r == -EADDRNOTAVAIL || r == -ENETUNREACH); /* no multicast route here */
    }
    struct in6_addr unicast = in6addr_loopback;
    ck_assert_int_eq(evsrc_udp_socket_join_multicast_v6(&member, &unicast, 0), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_close(&member), 0);
}
END_TEST

/* ---- Ownership --------------------------------------------------------- */

/* from_fd must refuse fd and leave it open, blocking and otherwise as it was. */
static void assert_from_fd_refuses(int fd, int expected)
{
    struct testutil_fd_state before = testutil_fd_state(fd);
    ck_assert(!(before.status_flags & O_NONBLOCK));
    struct evsrc_udp_socket udp;
    memset(&udp, 0xff, sizeof udp);
    ck_assert_int_eq(evsrc_udp_socket_from_fd(&udp, fd), expected);
    testutil_expect_fd_unchanged(fd, before);
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), -EBADF);
    ck_assert(testutil_fd_is_open(fd));
}

START_TEST(from_fd_refuses_other_kinds_of_fd)
{
    TESTUTIL_SKIP_ON_WINDOWS("a closed number is no handle on Windows: ENOTSOCK, not EBADF");
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    assert_from_fd_refuses(fds[0], -ENOTSOCK);
    assert_from_fd_refuses(fds[1], -ENOTSOCK);
    testutil_close_pair(fds);

    int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(tcp, 0);
    assert_from_fd_refuses(tcp, -EINVAL);
    ck_assert_int_eq(close(tcp), 0);

    /* Datagrams, but the wrong family. */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds), 0);
    assert_from_fd_refuses(fds[0], -EINVAL);
    testutil_close_pair(fds);

    /* The right family and type, the wrong protocol: an ICMP "ping" socket, where the system allows one. */
    int ping = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (ping >= 0) {
        assert_from_fd_refuses(ping, -EINVAL);
        ck_assert_int_eq(close(ping), 0);
    }
    /* And UDP-Lite, where the kernel has it (IPPROTO_UDPLITE, 136: not in every C library's headers). */
    int lite = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 136);
    if (lite >= 0) {
        assert_from_fd_refuses(lite, -EINVAL);
        ck_assert_int_eq(close(lite), 0);
    }

    struct evsrc_udp_socket udp;
    ck_assert_int_eq(evsrc_udp_socket_from_fd(&udp, -1), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), -EBADF);
    int spare = dup(STDERR_FILENO);
    ck_assert_int_ge(spare, 0);
    ck_assert_int_eq(close(spare), 0);
    ck_assert_int_eq(evsrc_udp_socket_from_fd(&udp, spare), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_from_fd(NULL, -1), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_from_fd(NULL, STDERR_FILENO), -EINVAL);
    ck_assert(testutil_fd_is_open(STDERR_FILENO));
}
END_TEST

START_TEST(from_fd_adopts_a_udp_socket)
{
    TESTUTIL_SKIP_ON_WINDOWS("Winsock cannot read a socket's blocking mode back (no F_GETFL)");
    /* A blocking socket bound the ordinary way, with an option bind would not set. */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(fd, 0);
    int on = 1;
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
    struct sockaddr_in addr = loopback4(0);
    ck_assert_int_eq(bind(fd, (const struct sockaddr *)&addr, sizeof addr), 0);

    struct evsrc_udp_socket adopted, sender;
    memset(&adopted, 0xff, sizeof adopted);
    ck_assert_int_eq(evsrc_udp_socket_from_fd(&adopted, fd), 0);
    ck_assert_int_eq(evsrc_udp_socket_fd(&adopted), fd);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(!(fcntl(fd, F_GETFD) & FD_CLOEXEC)); /* left as the caller had it */
    char byte;
    ck_assert_int_eq(evsrc_udp_socket_recv(&adopted, &byte, 1), -EAGAIN);

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &adopted.source, 1, EVSRC_READABLE), 0);
    bind_loopback(&sender);
    send_text(&sender, &adopted, "z");
    wait_event(1);
    ck_assert_int_eq(evsrc_udp_socket_recv(&adopted, &byte, 1), 1);
    ck_assert_int_eq(byte, 'z');

    /* The struct owns fd now: its close closes it. */
    ck_assert_int_eq(evsrc_udp_socket_close(&adopted), 0);
    ck_assert(!testutil_fd_is_open(fd));
    ck_assert_int_eq(evsrc_udp_socket_close(&sender), 0);

    /* An unbound IPv6 UDP socket is adopted too, where there is IPv6. */
    fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        ck_assert_int_eq(evsrc_udp_socket_from_fd(&adopted, fd), 0);
        ck_assert_int_eq(evsrc_udp_socket_close(&adopted), 0);
    }
}
END_TEST

START_TEST(address_in_use_leaves_nothing_open)
{
    struct evsrc_udp_socket first, second;
    bind_loopback(&first);
    socklen_t len;
    struct sockaddr_storage addr = local_addr(&first, &len);
    int before = testutil_open_fds();
    memset(&second, 0xff, sizeof second);
    ck_assert_int_eq(evsrc_udp_socket_bind(&second, (const struct sockaddr *)&addr, len), -EADDRINUSE);
    ck_assert_int_eq(testutil_open_fds(), before);
    ck_assert_int_eq(evsrc_udp_socket_close(&second), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_fd(&second), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_close(&first), 0);
}
END_TEST

START_TEST(out_of_fds_is_emfile)
{
    TESTUTIL_SKIP_ON_WINDOWS("Windows has no fd limit to lower");
    struct rlimit old = testutil_exhaust_fds();
    struct evsrc_udp_socket udp;
    struct sockaddr_in addr = loopback4(0);
    int r = evsrc_udp_socket_bind(&udp, (const struct sockaddr *)&addr, sizeof addr);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_eq(r, -EMFILE);
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), -EBADF);
}
END_TEST

START_TEST(struct_stays_small)
{
    ck_assert_uint_le(sizeof(struct evsrc_udp_socket), 32);
}
END_TEST

/* ---- Bad input --------------------------------------------------------- */

START_TEST(bad_addresses_are_einval)
{
    struct evsrc_udp_socket udp, open;
    bind_loopback(&open);
    struct sockaddr_storage storage;
    memset(&storage, 0, sizeof storage);
    struct sockaddr_in in4 = loopback4(9);
    memcpy(&storage, &in4, sizeof in4);
    const struct sockaddr *addr = (const struct sockaddr *)&storage;

    const socklen_t bad_lengths[] = {0, 1, sizeof(struct sockaddr_in) - 1, sizeof storage + 1};
    for (size_t i = 0; i < sizeof bad_lengths / sizeof bad_lengths[0]; i++) {
        ck_assert_int_eq(evsrc_udp_socket_bind(&udp, addr, bad_lengths[i]), -EINVAL);
        ck_assert_int_eq(evsrc_udp_socket_connect(&open, addr, bad_lengths[i]), -EINVAL);
        ck_assert_int_eq(evsrc_udp_socket_send_to(&open, "x", 1, addr, bad_lengths[i]), -EINVAL);
    }
    ck_assert_int_eq(evsrc_udp_socket_bind(&udp, NULL, sizeof in4), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_connect(&open, NULL, sizeof in4), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_send_to(&open, "x", 1, NULL, sizeof in4), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_bind(NULL, addr, sizeof in4), -EINVAL);

    /* An IPv6 family needs the IPv6 length. */
    storage.ss_family = AF_INET6;
    ck_assert_int_eq(evsrc_udp_socket_bind(&udp, addr, sizeof in4), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_send_to(&open, "x", 1, addr, sizeof in4), -EINVAL);

    /* Families other than IPv4 and IPv6 (AF_UNSPEC only disconnects). */
    storage.ss_family = AF_UNIX;
    ck_assert_int_eq(evsrc_udp_socket_bind(&udp, addr, sizeof storage), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_connect(&open, addr, sizeof storage), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_send_to(&open, "x", 1, addr, sizeof storage), -EINVAL);
    storage.ss_family = AF_UNSPEC;
    ck_assert_int_eq(evsrc_udp_socket_bind(&udp, addr, sizeof storage), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_send_to(&open, "x", 1, addr, sizeof storage), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_connect(&open, addr, 1), -EINVAL);

    /* The longest accepted length is a sockaddr_storage. */
    memcpy(&storage, &in4, sizeof in4);
    in4.sin_port = 0;
    memcpy(&storage, &in4, sizeof in4);
    ck_assert_int_eq(evsrc_udp_socket_bind(&udp, addr, sizeof storage), 0);
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), 0);
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_close(&open), 0);
}
END_TEST

START_TEST(null_and_closed_sockets_are_refused)
{
    char buf[4] = {0};
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    struct sockaddr_in to = loopback4(9);
    const struct sockaddr *target = (const struct sockaddr *)&to;
    struct mmsghdr msgs[1];
    memset(msgs, 0, sizeof msgs);
    struct in_addr group;
    ck_assert_int_eq(inet_pton(AF_INET, GROUP_V4, &group), 1);
    struct in6_addr group6;
    ck_assert_int_eq(inet_pton(AF_INET6, "ff15::7711", &group6), 1);

    ck_assert_int_eq(evsrc_udp_socket_connect(NULL, target, sizeof to), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_send(NULL, buf, sizeof buf), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_recv(NULL, buf, sizeof buf), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_peek(NULL, buf, sizeof buf), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_send_to(NULL, buf, sizeof buf, target, sizeof to), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_recv_from(NULL, buf, sizeof buf, &addr, &len), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_peek_from(NULL, buf, sizeof buf, &addr, &len), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_send_many(NULL, msgs, 1), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_recv_many(NULL, msgs, 1), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_local_addr(NULL, &addr, &len), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_peer_addr(NULL, &addr, &len), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_take_error(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_set_broadcast(NULL, true), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_broadcast(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_set_ttl(NULL, 64), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_ttl(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_join_multicast_v4(NULL, &group, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_leave_multicast_v4(NULL, &group, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_join_multicast_v6(NULL, &group6, 0), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_leave_multicast_v6(NULL, &group6, 0), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_loop_v4(NULL, true), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_multicast_loop_v4(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_ttl_v4(NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_multicast_ttl_v4(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_loop_v6(NULL, true), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_multicast_loop_v6(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_hops_v6(NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_multicast_hops_v6(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_fd(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_close(NULL), -EINVAL);

    /* Closed: after a close. A registered source that was closed is not the registry's any more. */
    struct evsrc_udp_socket udp;
    bind_loopback(&udp);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &udp.source, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), 0);
    ck_assert_int_eq(evsrc_udp_socket_connect(&udp, target, sizeof to), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_send(&udp, buf, sizeof buf), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_recv(&udp, buf, sizeof buf), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_peek(&udp, buf, sizeof buf), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_send_to(&udp, buf, sizeof buf, target, sizeof to), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_recv_from(&udp, buf, sizeof buf, &addr, &len), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_peek_from(&udp, buf, sizeof buf, NULL, NULL), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_send_many(&udp, msgs, 1), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_recv_many(&udp, msgs, 1), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_local_addr(&udp, &addr, &len), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_peer_addr(&udp, &addr, &len), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_take_error(&udp), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_set_broadcast(&udp, true), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_broadcast(&udp), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_set_ttl(&udp, 64), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_ttl(&udp), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_join_multicast_v4(&udp, &group, NULL), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_leave_multicast_v4(&udp, &group, NULL), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_join_multicast_v6(&udp, &group6, 0), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_leave_multicast_v6(&udp, &group6, 0), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_loop_v4(&udp, true), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_multicast_loop_v4(&udp), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_ttl_v4(&udp, 1), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_multicast_ttl_v4(&udp), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_loop_v6(&udp, true), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_multicast_loop_v6(&udp), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_hops_v6(&udp, 1), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_multicast_hops_v6(&udp), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_fd(&udp), -EBADF);
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), -EBADF);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &udp.source, 1, EVSRC_READABLE), -EBADF);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &udp.source), -ENOENT);

    /* Bad arguments on a closed socket: the argument error comes first, as everywhere (evsrc.h). */
    ck_assert_int_eq(evsrc_udp_socket_send(&udp, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_recv(&udp, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_peek(&udp, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_send_to(&udp, buf, 1, NULL, 0), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_send_to(&udp, NULL, 1, target, sizeof to), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_recv_from(&udp, buf, sizeof buf, &addr, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_peek_from(&udp, NULL, 1, NULL, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_send_many(&udp, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_recv_many(&udp, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_connect(&udp, NULL, 0), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_local_addr(&udp, NULL, &len), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_peer_addr(&udp, &addr, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_set_ttl(&udp, 0), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_ttl_v4(&udp, 300), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_set_multicast_hops_v6(&udp, -2), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_join_multicast_v4(&udp, NULL, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_join_multicast_v6(&udp, NULL, 0), -EINVAL);
}
END_TEST

START_TEST(bad_arguments_on_an_open_socket)
{
    TESTUTIL_SKIP_ON_WINDOWS("Winsock answers EINVAL where Linux answers EDESTADDRREQ (mapping left to check)");
    struct evsrc_udp_socket udp;
    bind_loopback(&udp);
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    struct sockaddr_in to = loopback4(9);

    ck_assert_int_eq(evsrc_udp_socket_local_addr(&udp, NULL, &len), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_local_addr(&udp, &addr, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_peer_addr(&udp, NULL, &len), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_peer_addr(&udp, &addr, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_send(&udp, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_recv(&udp, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_send_to(&udp, NULL, 1, (const struct sockaddr *)&to, sizeof to), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_recv_from(&udp, NULL, 1, NULL, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_recv_from(&udp, &addr, 1, &addr, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_peek_from(&udp, &addr, 1, &addr, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_send_many(&udp, NULL, 3), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_recv_many(&udp, NULL, 3), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_send_many(&udp, NULL, 0), 0);
    /* Not connected: send has nowhere to go. */
    ck_assert_int_eq(evsrc_udp_socket_send(&udp, "x", 1), -EDESTADDRREQ);

    struct in_addr unicast = {.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(evsrc_udp_socket_join_multicast_v4(&udp, &unicast, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_udp_socket_leave_multicast_v4(&udp, &unicast, NULL), -EINVAL);
    struct in_addr group;
    ck_assert_int_eq(inet_pton(AF_INET, GROUP_V4, &group), 1);
    ck_assert_int_eq(evsrc_udp_socket_leave_multicast_v4(&udp, &group, &unicast), -EADDRNOTAVAIL);

    /* An IPv6 destination for an IPv4 socket. */
    struct sockaddr_in6 six = loopback6();
    six.sin6_port = htons(9);
    ck_assert_int_eq(evsrc_udp_socket_send_to(&udp, "x", 1, (const struct sockaddr *)&six, sizeof six),
                     -EAFNOSUPPORT);
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), 0);
}
END_TEST

START_TEST(no_sigpipe_ever)
{
    /* SIGPIPE at its default action: a raised SIGPIPE would kill this test. */
    ck_assert(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    struct evsrc_udp_socket udp;
    bind_loopback(&udp);
    struct sockaddr_in to = loopback4(9);
    ck_assert_int_eq(evsrc_udp_socket_connect(&udp, (const struct sockaddr *)&to, sizeof to), 0);
    for (int i = 0; i < 3; i++) {
        ssize_t n = evsrc_udp_socket_send(&udp, "x", 1);
        ck_assert(n == 1 || n == -ECONNREFUSED);
    }
    ck_assert_int_eq(evsrc_udp_socket_close(&udp), 0);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("udp");
    TCase *readiness = testutil_add_tcase(suite, "readiness");
    tcase_add_test(readiness, bound_socket_is_nonblocking_and_cloexec);
    tcase_add_test(readiness, readable_is_edge_triggered);
    tcase_add_test(readiness, level_triggered_reports_while_datagrams_remain);
    tcase_add_test(readiness, writable_at_registration);
    tcase_add_test(readiness, datagram_seen_once_reregistered_readable);
    tcase_add_test(readiness, short_recv_many_is_enough_to_wait_again);
    tcase_add_test(readiness, refused_datagram_is_an_error_event);

    TCase *registration = testutil_add_tcase(suite, "registration");
    tcase_add_test(registration, deregistered_socket_reports_nothing);
    tcase_add_test(registration, reregister_changes_token_and_interest);
    tcase_add_test(registration, close_clears_the_registration);

    TCase *calls = testutil_add_tcase(suite, "calls");
    tcase_add_test(calls, ipv4_round_trip_names_the_sender);
    tcase_add_test(calls, ipv6_loopback_where_available);
    tcase_add_test(calls, connected_socket_talks_to_its_peer_only);
    tcase_add_test(calls, addresses_truncate_like_getsockname);
    tcase_add_test(calls, datagrams_keep_their_boundaries);
    tcase_add_test(calls, send_many_and_recv_many_round_trip_a_batch);
    tcase_add_test(calls, options_round_trip);
    tcase_add_test(calls, broadcast_needs_the_option);
    tcase_add_test(calls, multicast_join_and_leave_on_loopback);
    tcase_add_test(calls, multicast_v6_join_and_leave_where_available);
    tcase_add_test(calls, no_sigpipe_ever);

    TCase *ownership = testutil_add_tcase(suite, "ownership");
    tcase_add_test(ownership, from_fd_refuses_other_kinds_of_fd);
    tcase_add_test(ownership, from_fd_adopts_a_udp_socket);
    tcase_add_test(ownership, address_in_use_leaves_nothing_open);
    tcase_add_test(ownership, out_of_fds_is_emfile);
    tcase_add_test(ownership, struct_stays_small);

    TCase *bad_input = testutil_add_tcase(suite, "bad input");
    tcase_add_test(bad_input, bad_addresses_are_einval);
    tcase_add_test(bad_input, null_and_closed_sockets_are_refused);
    tcase_add_test(bad_input, bad_arguments_on_an_open_socket);

    return testutil_run(suite);
}
