/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_ADDRESS_H
#define EVSRC_ADDRESS_H

/*
 * Addresses: numeric IPv4 and IPv6 socket addresses from text and back, so
 * that programs need not fill a sockaddr_in or sockaddr_in6 by hand:
 *
 *     struct sockaddr_storage addr;
 *     socklen_t len;
 *     if (evsrc_address_parse("[::1]:8080", &addr, &len) == 0)
 *         evsrc_tcp_listener_bind(&listener, (const struct sockaddr *)&addr, len);
 *
 *     char text[EVSRC_ADDRESS_STRLEN];
 *     evsrc_address_format((const struct sockaddr *)&addr, len, text, sizeof text);
 *
 * Only numeric addresses: nothing here resolves a name through DNS or
 * /etc/hosts, so no call blocks. The one name looked up is an IPv6 scope's
 * interface name ("fe80::1%eth0"), which asks the kernel, not the network.
 *
 * The text forms, the same for parsing and formatting:
 *   - IPv4: "192.0.2.1:80", four decimal numbers without leading zeros;
 *   - IPv6: "[2001:db8::1]:80", in brackets, any form inet_pton(3) accepts
 *     (an embedded IPv4 "[::ffff:192.0.2.1]:80" too);
 *   - an IPv6 scope (zone) after '%' inside the brackets, by interface name
 *     or number: "[fe80::1%lo]:80", "[fe80::1%1]:80".
 * A port is 1 to 5 decimal digits, at most 65535 (0 included: "any port"
 * when binding). No spaces, signs or anything else before, between or after.
 *
 * Every function is thread-safe and allocates nothing. Errors are -errno; on
 * error nothing is written to the caller's outputs.
 */

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <sys/socket.h>
#endif

#include <evsrc/export.h>

EVSRC_BEGIN_DECLS

/*
 * The size of a buffer that holds any text evsrc_address_format() writes and
 * any text evsrc_address_parse() accepts, with its terminating NUL: "[", 45
 * characters of IPv6 address, "%" and a 15-character scope, "]:65535".
 */
#define EVSRC_ADDRESS_STRLEN 72

/*
 * Parses "host:port" with a numeric host ("192.0.2.1:80", "[::1]:80",
 * "[fe80::1%eth0]:80"; see the forms above) into *out, a sockaddr_in or
 * sockaddr_in6 with every other field zero, and stores its length in *len
 * (what bind(2) and connect(2) take).
 * Errors: -EINVAL if text, out or len is NULL, or text is not one of the
 * forms: empty, no port or an empty one, a port above 65535 or not all
 * digits, an IPv6 address without brackets, an unclosed bracket, an
 * invalid address, an empty scope, anything after the port, or text longer
 * than EVSRC_ADDRESS_STRLEN - 1 characters; -ENODEV if a scope names no
 * network interface; another -errno if the interface name cannot be looked
 * up (-EMFILE when the process has no fd left for the lookup).
 * Thread-safe.
 */
EVSRC_EXPORT int evsrc_address_parse(const char *text, struct sockaddr_storage *out, socklen_t *len);

/*
 * Stores the IPv4 address `ip` ("192.0.2.1", no port) with `port` in *out
 * (a sockaddr_in) and its length in *len, as libuv's uv_ip4_addr.
 * Errors: -EINVAL if ip, out or len is NULL or ip is not a dotted-quad IPv4
 * address. Thread-safe.
 */
EVSRC_EXPORT int evsrc_address_ipv4(const char *ip, uint16_t port, struct sockaddr_storage *out, socklen_t *len);

/*
 * Stores the IPv6 address `ip` ("::1", "fe80::1%eth0": no brackets, no port,
 * an optional scope by name or number) with `port` in *out (a sockaddr_in6)
 * and its length in *len, as libuv's uv_ip6_addr.
 * Errors: as evsrc_address_parse(), for the address part. Thread-safe.
 */
EVSRC_EXPORT int evsrc_address_ipv6(const char *ip, uint16_t port, struct sockaddr_storage *out, socklen_t *len);

/*
 * Writes the text form of an IPv4 or IPv6 socket address ("192.0.2.1:80",
 * "[::1]:80", "[fe80::1%lo]:80") into buf, NUL-terminated, and returns its
 * length without the NUL. A scope is written by interface name, or by number
 * when no interface has that index any more. A buffer of EVSRC_ADDRESS_STRLEN
 * bytes always suffices. What it writes, evsrc_address_parse() reads back to
 * the same address, port and scope.
 * Errors: -EINVAL if addr or buf is NULL, size is 0, or len is shorter than
 * the family's sockaddr; -EAFNOSUPPORT if the family is neither AF_INET nor
 * AF_INET6; -ENOSPC if the text and its NUL do not fit in size bytes (buf is
 * then left untouched). Thread-safe.
 */
EVSRC_EXPORT int evsrc_address_format(const struct sockaddr *addr, socklen_t len, char *buf, size_t size);

EVSRC_END_DECLS

#endif /* EVSRC_ADDRESS_H */
