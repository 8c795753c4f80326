/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>

#include "testutil.h"

/* Parses text, formats the result and expects `formatted` back (the canonical form). */
static void expect_round_trip(const char *text, const char *formatted)
{
    struct sockaddr_storage addr;
    socklen_t len = 0;
    ck_assert_msg(evsrc_address_parse(text, &addr, &len) == 0, "parse %s", text);
    char buf[EVSRC_ADDRESS_STRLEN];
    int n = evsrc_address_format((const struct sockaddr *)&addr, len, buf, sizeof buf);
    ck_assert_int_eq(n, (int)strlen(formatted));
    ck_assert_str_eq(buf, formatted);
    /* And the formatted text parses back to the same bytes. */
    struct sockaddr_storage again;
    socklen_t again_len = 0;
    ck_assert_int_eq(evsrc_address_parse(buf, &again, &again_len), 0);
    ck_assert_uint_eq(again_len, len);
    ck_assert_mem_eq(&again, &addr, len);
}

START_TEST(parses_ipv4)
{
    struct sockaddr_storage addr;
    socklen_t len = 0;
    ck_assert_int_eq(evsrc_address_parse("192.0.2.1:80", &addr, &len), 0);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&addr;
    ck_assert_int_eq(sin->sin_family, AF_INET);
    ck_assert_uint_eq(ntohs(sin->sin_port), 80);
    ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), 0xc0000201u);
    struct sockaddr_in zero;
    memset(&zero, 0, sizeof zero);
    ck_assert_mem_eq(sin->sin_zero, zero.sin_zero, sizeof zero.sin_zero);
    ck_assert_int_eq(evsrc_address_parse("0.0.0.0:0", &addr, &len), 0);
    ck_assert_int_eq(evsrc_address_parse("255.255.255.255:65535", &addr, &len), 0);
    ck_assert_uint_eq(ntohs(((const struct sockaddr_in *)&addr)->sin_port), 65535);
}
END_TEST

START_TEST(parses_ipv6_and_its_scope)
{
    TESTUTIL_SKIP_ON_WINDOWS("no interface named lo, and interface names print as numbers there");
    struct sockaddr_storage addr;
    socklen_t len = 0;
    ck_assert_int_eq(evsrc_address_parse("[::1]:8080", &addr, &len), 0);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&addr;
    ck_assert_int_eq(sin6->sin6_family, AF_INET6);
    ck_assert_uint_eq(ntohs(sin6->sin6_port), 8080);
    ck_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
    ck_assert_uint_eq(sin6->sin6_scope_id, 0);
    ck_assert_uint_eq(sin6->sin6_flowinfo, 0);

    ck_assert_int_eq(evsrc_address_parse("[fe80::1%7]:80", &addr, &len), 0);
    ck_assert_uint_eq(sin6->sin6_scope_id, 7);
    ck_assert_int_eq(evsrc_address_parse("[fe80::1%4294967295]:80", &addr, &len), 0);
    ck_assert_uint_eq(sin6->sin6_scope_id, UINT32_MAX);
    /* By name: the loopback interface, whatever its index. */
    unsigned lo = if_nametoindex("lo");
    ck_assert_uint_ne(lo, 0);
    ck_assert_int_eq(evsrc_address_parse("[fe80::1%lo]:80", &addr, &len), 0);
    ck_assert_uint_eq(sin6->sin6_scope_id, lo);
    ck_assert_int_eq(evsrc_address_parse("[::ffff:192.0.2.1]:1", &addr, &len), 0);
    ck_assert(IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr));
}
END_TEST

START_TEST(round_trips)
{
    TESTUTIL_SKIP_ON_WINDOWS("no interface named lo, and interface names print as numbers there");
    expect_round_trip("192.0.2.1:80", "192.0.2.1:80");
    expect_round_trip("0.0.0.0:0", "0.0.0.0:0");
    expect_round_trip("255.255.255.255:65535", "255.255.255.255:65535");
    expect_round_trip("1.2.3.4:00080", "1.2.3.4:80");
    expect_round_trip("[::1]:80", "[::1]:80");
    expect_round_trip("[::]:0", "[::]:0");
    expect_round_trip("[2001:DB8:0:0:0:0:0:1]:443", "[2001:db8::1]:443");
    expect_round_trip("[::ffff:192.0.2.1]:53", "[::ffff:192.0.2.1]:53");
    expect_round_trip("[fe80::1%lo]:80", "[fe80::1%lo]:80");
    char name[IF_NAMESIZE];
    unsigned lo = if_nametoindex("lo");
    ck_assert_ptr_nonnull(if_indextoname(lo, name));
    char numeric[64], named[64];
    snprintf(numeric, sizeof numeric, "[fe80::1%%%u]:80", lo);
    snprintf(named, sizeof named, "[fe80::1%%%s]:80", name);
    expect_round_trip(numeric, named);
    /* An index no interface has is written as its number, which parses back. */
    expect_round_trip("[fe80::1%4000000000]:80", "[fe80::1%4000000000]:80");
    /* The longest form fits the documented size. */
    expect_round_trip("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%4294967295]:65535",
                      "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535");
}
END_TEST

START_TEST(rejects_every_bad_input)
{
    static const char *const bad[] = {
        "", ":", ":80", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:99999", "1.2.3.4:123456",
        "1.2.3.4:-1", "1.2.3.4:+80", "1.2.3.4: 80", "1.2.3.4:80 ", " 1.2.3.4:80", "1.2.3.4:8a",
        "1.2.3.4:80:80", "1.2.3:80", "1.2.3.4.5:80", "256.0.0.1:80", "01.2.3.4:80", "1.2.3.4x:80",
        "localhost:80", "example.com:80", "::1:80", "::1", "[::1]", "[::1]:", "[::1:80", "[::1]80",
        "[::1]:80x", "[::1]]:80", "[[::1]:80", "[]:80", "[1.2.3.4]:80", "[::g]:80", "[::1%]:80",
        "[%lo]:80", "[fe80::1%lo]", "[fe80::1%99999999999]:80", "[fe80::1%4294967296]:80",
        "[fe80::1%1x]:80", "[fe80::1%averyveryverylongname]:80", "abc", "[", "]", "1.2.3.4:0x50",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sockaddr_storage addr;
        memset(&addr, 0xa5, sizeof addr);
        socklen_t len = 77;
        ck_assert_msg(evsrc_address_parse(bad[i], &addr, &len) == -EINVAL, "\"%s\" not refused", bad[i]);
        /* Nothing written on error. */
        ck_assert_uint_eq(len, 77);
        ck_assert_uint_eq(((unsigned char *)&addr)[0], 0xa5);
    }
    /* Over-long: valid-looking text past the limit, and a long run with no NUL in reach. */
    char longer[EVSRC_ADDRESS_STRLEN + 8];
    memset(longer, '1', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    struct sockaddr_storage addr;
    socklen_t len;
    ck_assert_int_eq(evsrc_address_parse(longer, &addr, &len), -EINVAL);
    char padded[EVSRC_ADDRESS_STRLEN + 16];
    snprintf(padded, sizeof padded, "[0000:0000:0000:0000:0000:0000:0000:0001%%%s]:00080", "0000000000000000001");
    ck_assert_int_eq(evsrc_address_parse(padded, &addr, &len), -EINVAL);
    /* A scope name no interface has. */
    ck_assert_int_eq(evsrc_address_parse("[fe80::1%nosuchif0]:80", &addr, &len), -ENODEV);
    /* NULL anywhere. */
    ck_assert_int_eq(evsrc_address_parse(NULL, &addr, &len), -EINVAL);
    ck_assert_int_eq(evsrc_address_parse("1.2.3.4:80", NULL, &len), -EINVAL);
    ck_assert_int_eq(evsrc_address_parse("1.2.3.4:80", &addr, NULL), -EINVAL);
}
END_TEST

START_TEST(ipv4_and_ipv6_forms)
{
    TESTUTIL_SKIP_ON_WINDOWS("no interface named lo, and interface names print as numbers there");
    struct sockaddr_storage addr;
    socklen_t len = 0;
    char buf[EVSRC_ADDRESS_STRLEN];
    ck_assert_int_eq(evsrc_address_ipv4("127.0.0.1", 9000, &addr, &len), 0);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
    ck_assert_int_eq(evsrc_address_format((const struct sockaddr *)&addr, len, buf, sizeof buf), 14);
    ck_assert_str_eq(buf, "127.0.0.1:9000");
    ck_assert_int_eq(evsrc_address_ipv6("fe80::2%lo", 65535, &addr, &len), 0);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
    ck_assert_int_gt(evsrc_address_format((const struct sockaddr *)&addr, len, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "[fe80::2%lo]:65535");
    ck_assert_int_eq(evsrc_address_ipv6("::", 0, &addr, &len), 0);

    static const char *const bad4[] = {"", "::1", "1.2.3.4:80", "1.2.3", " 1.2.3.4", "1.2.3.4 ", "999.1.1.1"};
    for (size_t i = 0; i < sizeof bad4 / sizeof bad4[0]; i++)
        ck_assert_msg(evsrc_address_ipv4(bad4[i], 1, &addr, &len) == -EINVAL, "ipv4 \"%s\"", bad4[i]);
    static const char *const bad6[] = {"", "[::1]", "1.2.3.4", "::1:80:", "::1%", "%1", ":::"};
    for (size_t i = 0; i < sizeof bad6 / sizeof bad6[0]; i++)
        ck_assert_msg(evsrc_address_ipv6(bad6[i], 1, &addr, &len) == -EINVAL, "ipv6 \"%s\"", bad6[i]);
    ck_assert_int_eq(evsrc_address_ipv6("fe80::1%nosuchif0", 1, &addr, &len), -ENODEV);
    ck_assert_int_eq(evsrc_address_ipv4(NULL, 1, &addr, &len), -EINVAL);
    ck_assert_int_eq(evsrc_address_ipv4("1.2.3.4", 1, NULL, &len), -EINVAL);
    ck_assert_int_eq(evsrc_address_ipv4("1.2.3.4", 1, &addr, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_address_ipv6(NULL, 1, &addr, &len), -EINVAL);
    ck_assert_int_eq(evsrc_address_ipv6("::1", 1, NULL, &len), -EINVAL);
    ck_assert_int_eq(evsrc_address_ipv6("::1", 1, &addr, NULL), -EINVAL);
}
END_TEST

START_TEST(format_refuses_bad_input)
{
    struct sockaddr_storage addr;
    socklen_t len;
    char buf[EVSRC_ADDRESS_STRLEN];
    ck_assert_int_eq(evsrc_address_parse("192.0.2.1:80", &addr, &len), 0);
    const struct sockaddr *sa = (const struct sockaddr *)&addr;
    ck_assert_int_eq(evsrc_address_format(NULL, len, buf, sizeof buf), -EINVAL);
    ck_assert_int_eq(evsrc_address_format(sa, len, NULL, sizeof buf), -EINVAL);
    ck_assert_int_eq(evsrc_address_format(sa, len, buf, 0), -EINVAL);
    ck_assert_int_eq(evsrc_address_format(sa, 0, buf, sizeof buf), -EINVAL);
    ck_assert_int_eq(evsrc_address_format(sa, len - 1, buf, sizeof buf), -EINVAL);
    /* Too small by one (the NUL) leaves buf untouched; exactly enough works. */
    memset(buf, 'z', sizeof buf);
    ck_assert_int_eq(evsrc_address_format(sa, len, buf, 12), -ENOSPC);
    ck_assert_int_eq(buf[0], 'z');
    ck_assert_int_eq(evsrc_address_format(sa, len, buf, 13), 12);
    ck_assert_str_eq(buf, "192.0.2.1:80");
    ck_assert_int_eq(evsrc_address_parse("[::1]:80", &addr, &len), 0);
    ck_assert_int_eq(evsrc_address_format(sa, len - 1, buf, sizeof buf), -EINVAL);
    ck_assert_int_eq(evsrc_address_format(sa, len, buf, 8), -ENOSPC);
    struct sockaddr_storage unix_addr;
    memset(&unix_addr, 0, sizeof unix_addr);
    unix_addr.ss_family = AF_UNIX;
    ck_assert_int_eq(evsrc_address_format((const struct sockaddr *)&unix_addr, sizeof unix_addr, buf, sizeof buf),
                     -EAFNOSUPPORT);
}
END_TEST

/* What the examples do with it: bind a listener to a parsed address and print where it listens. */
START_TEST(parsed_address_binds_and_formats_the_bound_port)
{
    struct sockaddr_storage addr;
    socklen_t len;
    ck_assert_int_eq(evsrc_address_parse("127.0.0.1:0", &addr, &len), 0);
    struct evsrc_tcp_listener listener;
    ck_assert_int_eq(evsrc_tcp_listener_bind(&listener, (const struct sockaddr *)&addr, len), 0);
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof bound;
    ck_assert_int_eq(evsrc_tcp_listener_local_addr(&listener, &bound, &bound_len), 0);
    char text[EVSRC_ADDRESS_STRLEN];
    ck_assert_int_gt(evsrc_address_format((const struct sockaddr *)&bound, bound_len, text, sizeof text), 0);
    ck_assert_int_eq(strncmp(text, "127.0.0.1:", 10), 0);
    ck_assert_str_ne(text, "127.0.0.1:0");
    ck_assert_int_eq(evsrc_tcp_listener_close(&listener), 0);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("address");
    TCase *tc = testutil_add_tcase(suite, "address");
    tcase_add_test(tc, parses_ipv4);
    tcase_add_test(tc, parses_ipv6_and_its_scope);
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, rejects_every_bad_input);
    tcase_add_test(tc, ipv4_and_ipv6_forms);
    tcase_add_test(tc, format_refuses_bad_input);
    tcase_add_test(tc, parsed_address_binds_and_formats_the_bound_port);
    return testutil_run(suite);
}
