/* SPDX-License-Identifier: MIT */
#include <evsrc/address.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The longest IPv6 text is 45 characters ("ffff:...:255.255.255.255"; INET6_ADDRSTRLEN is larger on Windows). */
#define IPV6_TEXT_MAX 45
_Static_assert(EVSRC_ADDRESS_STRLEN >= 1 + IPV6_TEXT_MAX + 1 + IF_NAMESIZE - 1 + 2 + 5 + 1, "the longest text fits");

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Decimal digits only, at most `max_digits` (10 at most) of them and a value
 * of at most `max`. 64 bits: ten digits overflow a 32-bit long.
 */
static int parse_number(const char *text, size_t length, size_t max_digits, uint64_t max, uint64_t *out)
{
    if (length == 0 || length > max_digits)
        return -EINVAL;
    uint64_t value = 0;
    for (size_t i = 0; i < length; i++) {
        if (!is_digit(text[i]))
            return -EINVAL;
        value = value * 10 + (uint64_t)(text[i] - '0');
    }
    if (value > max)
        return -EINVAL;
    *out = value;
    return 0;
}

/* The scope after '%': a number as given, or an interface's index by its name. */
static int parse_scope(const char *text, size_t length, uint32_t *out)
{
    uint64_t number;
    if (length > 0 && is_digit(text[0])) {
        if (parse_number(text, length, 10, UINT32_MAX, &number) < 0)
            return -EINVAL;
        *out = (uint32_t)number;
        return 0;
    }
    if (length == 0 || length >= IF_NAMESIZE)
        return -EINVAL;
    char name[IF_NAMESIZE];
    memcpy(name, text, length);
    name[length] = '\0';
    errno = 0;
    unsigned index = if_nametoindex(name);
    if (index == 0)
        return errno ? -errno : -ENODEV; /* glibc: ENODEV for a name no interface has */
    *out = index;
    return 0;
}

/* An IPv6 address with an optional scope, `length` characters of text, not NUL-terminated. */
static int fill_ipv6(const char *text, size_t length, uint16_t port, struct sockaddr_storage *out, socklen_t *len)
{
    const char *percent = memchr(text, '%', length);
    size_t address_length = percent ? (size_t)(percent - text) : length;
    char address[INET6_ADDRSTRLEN];
    if (address_length == 0 || address_length >= sizeof address)
        return -EINVAL;
    memcpy(address, text, address_length);
    address[address_length] = '\0';
    struct sockaddr_in6 sin6;
    memset(&sin6, 0, sizeof sin6);
    if (inet_pton(AF_INET6, address, &sin6.sin6_addr) != 1)
        return -EINVAL;
    if (percent) {
        uint32_t scope = 0; /* sin6_scope_id is a ULONG on Windows */
        int r = parse_scope(percent + 1, length - address_length - 1, &scope);
        if (r < 0)
            return r;
        sin6.sin6_scope_id = scope;
    }
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    memset(out, 0, sizeof *out);
    memcpy(out, &sin6, sizeof sin6);
    *len = (socklen_t)sizeof sin6;
    return 0;
}

static int fill_ipv4(const char *text, size_t length, uint16_t port, struct sockaddr_storage *out, socklen_t *len)
{
    char address[INET_ADDRSTRLEN];
    if (length == 0 || length >= sizeof address)
        return -EINVAL;
    memcpy(address, text, length);
    address[length] = '\0';
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    if (inet_pton(AF_INET, address, &sin.sin_addr) != 1)
        return -EINVAL;
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    memset(out, 0, sizeof *out);
    memcpy(out, &sin, sizeof sin);
    *len = (socklen_t)sizeof sin;
    return 0;
}

/* The length of text, or -EINVAL when it is longer than any form allows (never reading past that). */
static int checked_length(const char *text, size_t *length)
{
    *length = strnlen(text, EVSRC_ADDRESS_STRLEN);
    return *length < EVSRC_ADDRESS_STRLEN ? 0 : -EINVAL;
}

EVSRC_EXPORT int evsrc_address_parse(const char *text, struct sockaddr_storage *out, socklen_t *len)
{
    size_t length;
    if (!text || !out || !len || checked_length(text, &length) < 0)
        return -EINVAL;
    const char *end = text + length;
    const char *host = text, *host_end, *colon;
    bool bracketed = text[0] == '[';
    if (bracketed) {
        host = text + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        if (!host_end)
            return -EINVAL;
        colon = host_end + 1;
        if (colon >= end || *colon != ':')
            return -EINVAL;
    } else {
        /* Without brackets one colon only: "::1:80" could split two ways. */
        colon = memchr(text, ':', length);
        if (!colon || memchr(colon + 1, ':', (size_t)(end - colon - 1)))
            return -EINVAL;
        host_end = colon;
    }
    uint64_t port;
    if (parse_number(colon + 1, (size_t)(end - colon - 1), 5, UINT16_MAX, &port) < 0)
        return -EINVAL;
    /* Parse into a local copy so that a failure leaves the caller's outputs alone. */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    int r = bracketed ? fill_ipv6(host, (size_t)(host_end - host), (uint16_t)port, &addr, &addr_len)
                      : fill_ipv4(host, (size_t)(host_end - host), (uint16_t)port, &addr, &addr_len);
    if (r < 0)
        return r;
    *out = addr;
    *len = addr_len;
    return 0;
}

/* evsrc_address_ipv4/_ipv6 through `fill`: into a local copy, so that a failure leaves the outputs alone. */
static int address_of(const char *ip, uint16_t port, struct sockaddr_storage *out, socklen_t *len,
                      int (*fill)(const char *, size_t, uint16_t, struct sockaddr_storage *, socklen_t *))
{
    size_t length;
    if (!ip || !out || !len || checked_length(ip, &length) < 0)
        return -EINVAL;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    int r = fill(ip, length, port, &addr, &addr_len);
    if (r < 0)
        return r;
    *out = addr;
    *len = addr_len;
    return 0;
}

EVSRC_EXPORT int evsrc_address_ipv4(const char *ip, uint16_t port, struct sockaddr_storage *out, socklen_t *len)
{
    return address_of(ip, port, out, len, fill_ipv4);
}

EVSRC_EXPORT int evsrc_address_ipv6(const char *ip, uint16_t port, struct sockaddr_storage *out, socklen_t *len)
{
    return address_of(ip, port, out, len, fill_ipv6);
}

/* Writes the text into a local buffer first, so that a buffer too small is left untouched. */
static int format_ipv6(const struct sockaddr_in6 *sin6, char *text)
{
    char address[INET6_ADDRSTRLEN];
    /* Cannot fail: a valid family and a buffer of the family's maximum. */
    inet_ntop(AF_INET6, &sin6->sin6_addr, address, sizeof address);
    if (sin6->sin6_scope_id == 0)
        return snprintf(text, EVSRC_ADDRESS_STRLEN, "[%s]:%u", address, (unsigned)ntohs(sin6->sin6_port));
    char name[IF_NAMESIZE];
    /* An interface gone since (or a lookup that failed) still has its number, which parses back. */
    if (if_indextoname(sin6->sin6_scope_id, name))
        return snprintf(text, EVSRC_ADDRESS_STRLEN, "[%s%%%s]:%u", address, name, (unsigned)ntohs(sin6->sin6_port));
    return snprintf(text, EVSRC_ADDRESS_STRLEN, "[%s%%%lu]:%u", address, (unsigned long)sin6->sin6_scope_id,
                    (unsigned)ntohs(sin6->sin6_port));
}

EVSRC_EXPORT int evsrc_address_format(const struct sockaddr *addr, socklen_t len, char *buf, size_t size)
{
    if (!addr || !buf || size == 0 || len < (socklen_t)sizeof(sa_family_t))
        return -EINVAL;
    char text[EVSRC_ADDRESS_STRLEN];
    int length;
    if (addr->sa_family == AF_INET) {
        struct sockaddr_in sin;
        if (len < (socklen_t)sizeof sin)
            return -EINVAL;
        memcpy(&sin, addr, sizeof sin);
        char address[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sin.sin_addr, address, sizeof address);
        length = snprintf(text, sizeof text, "%s:%u", address, (unsigned)ntohs(sin.sin_port));
    } else if (addr->sa_family == AF_INET6) {
        struct sockaddr_in6 sin6;
        if (len < (socklen_t)sizeof sin6)
            return -EINVAL;
        memcpy(&sin6, addr, sizeof sin6);
        length = format_ipv6(&sin6, text);
    } else {
        return -EAFNOSUPPORT;
    }
    if ((size_t)length >= size)
        return -ENOSPC;
    memcpy(buf, text, (size_t)length + 1);
    return length;
}
