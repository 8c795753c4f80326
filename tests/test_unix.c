/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <evsrc/unix.h>

#include "load/loadutil.h"
#include "testutil.h"

/* ---- The private directory ---------------------------------------------- */

/* Made once in main (the forked tests inherit its name), emptied before each test, removed at the end. */
static char scratch[64];

static void empty_scratch(void)
{
    DIR *dir = opendir(scratch);
    if (!dir)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        if (entry->d_name[0] != '.')
            unlinkat(dirfd(dir), entry->d_name, 0);
    closedir(dir);
}

/* A path in the private directory; four rotating buffers, so a test can hold a few at once. */
static const char *path_of(const char *name)
{
    static char paths[4][128];
    static unsigned next;
    char *path = paths[next++ % 4];
    snprintf(path, sizeof paths[0], "%s/%s", scratch, name);
    return path;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* An abstract address unique to this process and `tag`. */
static socklen_t abstract_addr(struct sockaddr_un *addr, const char *tag)
{
    char name[64];
    int len = snprintf(name, sizeof name, "evsrc-test-%d-%s", (int)getpid(), tag);
    socklen_t addrlen;
    ck_assert_int_eq(evsrc_unix_addr_abstract(addr, &addrlen, name, (size_t)len), 0);
    return addrlen;
}

/* ---- Helpers ------------------------------------------------------------ */

static struct evsrc_event wait_event(evsrc_token token)
{
    struct evsrc_event event;
    memset(&event, 0, sizeof event);
    event.flags = testutil_expect_event(token);
    return event;
}

static void write_all(struct evsrc_unix_stream *stream, const char *text)
{
    size_t len = strlen(text);
    ck_assert_int_eq(evsrc_unix_stream_write(stream, text, len), (ssize_t)len);
}

static size_t drain(struct evsrc_unix_stream *stream)
{
    char buf[4096];
    size_t total = 0;
    ssize_t n;
    while ((n = evsrc_unix_stream_read(stream, buf, sizeof buf)) > 0)
        total += (size_t)n;
    ck_assert_int_eq(n, -EAGAIN);
    return total;
}

/* Receives datagrams until -EAGAIN and returns how many there were. */
static unsigned drain_datagrams(struct evsrc_unix_datagram *datagram)
{
    char buf[256];
    unsigned count = 0;
    ssize_t n;
    while ((n = evsrc_unix_datagram_recv(datagram, buf, sizeof buf)) >= 0)
        count++;
    ck_assert_int_eq(n, -EAGAIN);
    return count;
}

static void pair(struct evsrc_unix_stream *a, struct evsrc_unix_stream *b)
{
    ck_assert_int_eq(evsrc_unix_stream_pair(a, b), 0);
}

static void close_pair(struct evsrc_unix_stream *a, struct evsrc_unix_stream *b)
{
    ck_assert_int_eq(evsrc_unix_stream_close(a), 0);
    ck_assert_int_eq(evsrc_unix_stream_close(b), 0);
}

static void close_datagrams(struct evsrc_unix_datagram *a, struct evsrc_unix_datagram *b)
{
    ck_assert_int_eq(evsrc_unix_datagram_close(a), 0);
    ck_assert_int_eq(evsrc_unix_datagram_close(b), 0);
}

/* A listener on `path`, a client connected to it and the accepted server end. */
static void connected(const char *path, struct evsrc_unix_listener *listener, struct evsrc_unix_stream *client,
                      struct evsrc_unix_stream *server)
{
    ck_assert_int_eq(evsrc_unix_listener_bind(listener, path), 0);
    ck_assert_int_eq(evsrc_unix_stream_connect(client, path), 0);
    testutil_await_fd(evsrc_unix_listener_fd(listener), POLLIN);
    ck_assert_int_eq(evsrc_unix_listener_accept(listener, server, NULL, NULL), 0);
}

static void assert_flags(int fd)
{
    ck_assert_int_ge(fd, 0);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

static bool is_unnamed(const struct sockaddr_un *addr, socklen_t len)
{
    return len == sizeof(sa_family_t) && addr->sun_family == AF_UNIX;
}

/* ---- Flags and readiness ------------------------------------------------- */

START_TEST(every_fd_is_nonblocking_and_cloexec)
{
    struct evsrc_unix_listener listener;
    struct evsrc_unix_stream client, server, a, b;
    connected(path_of("flags.sock"), &listener, &client, &server);
    pair(&a, &b);
    assert_flags(evsrc_unix_listener_fd(&listener));
    assert_flags(evsrc_unix_stream_fd(&client));
    assert_flags(evsrc_unix_stream_fd(&server));
    assert_flags(evsrc_unix_stream_fd(&a));
    assert_flags(evsrc_unix_stream_fd(&b));

    struct evsrc_unix_datagram bound, unbound, c, d;
    ck_assert_int_eq(evsrc_unix_datagram_bind(&bound, path_of("flags.dgram")), 0);
    ck_assert_int_eq(evsrc_unix_datagram_unbound(&unbound), 0);
    ck_assert_int_eq(evsrc_unix_datagram_pair(&c, &d), 0);
    assert_flags(evsrc_unix_datagram_fd(&bound));
    assert_flags(evsrc_unix_datagram_fd(&unbound));
    assert_flags(evsrc_unix_datagram_fd(&c));
    assert_flags(evsrc_unix_datagram_fd(&d));

    close_pair(&client, &server);
    close_pair(&a, &b);
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);
    close_datagrams(&bound, &unbound);
    close_datagrams(&c, &d);
}
END_TEST

START_TEST(stream_readable_is_edge_triggered)
{
    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &b.source, 7, EVSRC_READABLE), 0);
    testutil_expect_quiet(7);

    write_all(&a, "hello");
    struct evsrc_event event = wait_event(7);
    ck_assert(evsrc_event_is_readable(&event));
    char buf[2];
    ck_assert_int_eq(evsrc_unix_stream_read(&b, buf, sizeof buf), 2);
    testutil_expect_quiet(7);
    ck_assert_uint_eq(drain(&b), 3);
    testutil_expect_quiet(7);

    write_all(&a, "again");
    event = wait_event(7);
    ck_assert(evsrc_event_is_readable(&event));
    ck_assert_uint_eq(drain(&b), 5);
    close_pair(&a, &b);
}
END_TEST

START_TEST(datagram_readable_is_edge_triggered)
{
    struct evsrc_unix_datagram receiver, sender;
    const char *path = path_of("edge.dgram");
    ck_assert_int_eq(evsrc_unix_datagram_bind(&receiver, path), 0);
    ck_assert_int_eq(evsrc_unix_datagram_unbound(&sender), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &receiver.source, 8, EVSRC_READABLE), 0);
    testutil_expect_quiet(8);

    ck_assert_int_eq(evsrc_unix_datagram_send_to(&sender, "one", 3, path), 3);
    ck_assert_int_eq(evsrc_unix_datagram_send_to(&sender, "two", 3, path), 3);
    struct evsrc_event event = wait_event(8);
    ck_assert(evsrc_event_is_readable(&event));
    /* Taking one of the two earns no new event. */
    char buf[8];
    ck_assert_int_eq(evsrc_unix_datagram_recv(&receiver, buf, sizeof buf), 3);
    ck_assert_int_eq(memcmp(buf, "one", 3), 0);
    testutil_expect_quiet(8);
    ck_assert_uint_eq(drain_datagrams(&receiver), 1);

    ck_assert_int_eq(evsrc_unix_datagram_send_to(&sender, "", 0, path), 0);
    event = wait_event(8);
    ck_assert(evsrc_event_is_readable(&event));
    /* An empty datagram is a message of its own. */
    ck_assert_int_eq(evsrc_unix_datagram_recv(&receiver, buf, sizeof buf), 0);
    ck_assert_int_eq(evsrc_unix_datagram_recv(&receiver, buf, sizeof buf), -EAGAIN);
    close_datagrams(&receiver, &sender);
}
END_TEST

START_TEST(writable_at_registration)
{
    struct evsrc_unix_listener listener;
    struct evsrc_unix_stream client, server;
    connected(path_of("writable.sock"), &listener, &client, &server);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &client.source, 1, EVSRC_WRITABLE), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &server.source, 2, EVSRC_WRITABLE), 0);
    struct evsrc_unix_datagram a, b;
    ck_assert_int_eq(evsrc_unix_datagram_pair(&a, &b), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &a.source, 3, EVSRC_WRITABLE), 0);

    for (evsrc_token token = 1; token <= 3; token++) {
        if (testutil_events_have(testutil_fx.events, token))
            continue;
        struct evsrc_event event = wait_event(token);
        ck_assert(evsrc_event_is_writable(&event));
    }
    ck_assert_int_eq(evsrc_unix_stream_take_error(&client), 0);
    close_pair(&client, &server);
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);
    close_datagrams(&a, &b);
}
END_TEST

/*
 * A short write means the buffer filled: "write the rest after the next
 * writable event" (unix.h). That event must come on every backend once the
 * peer reads (issue 20: the poll backend sent none after a short write).
 */
START_TEST(short_write_is_enough_to_wait_for_writable)
{
    struct evsrc_unix_stream a, b;
    ck_assert_int_eq(evsrc_unix_stream_pair(&a, &b), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &a.source, 1, EVSRC_WRITABLE), 0);
    testutil_expect_event(1);
    enum { BIG = 1 << 20 };
    char *buf = calloc(1, BIG);
    ck_assert_ptr_nonnull(buf);
    ssize_t n = evsrc_unix_stream_write(&a, buf, BIG);
    ck_assert_int_gt(n, 0);
    ck_assert_int_lt(n, BIG);
    /* The peer drains everything; the writer never saw -EAGAIN. */
    ssize_t got = 0;
    while (got < n) {
        ssize_t r = evsrc_unix_stream_read(&b, buf, BIG);
        if (r == -EAGAIN) {
            testutil_await_fd(evsrc_unix_stream_fd(&b), POLLIN);
            continue;
        }
        ck_assert_int_gt(r, 0);
        got += r;
    }
    ck_assert(testutil_expect_event(1) & EVSRC_EVENT_FLAG_OUT);
    free(buf);
    ck_assert_int_eq(evsrc_unix_stream_close(&a), 0);
    ck_assert_int_eq(evsrc_unix_stream_close(&b), 0);
}
END_TEST

START_TEST(datagram_while_writable_only_comes_after_reregister)
{
    struct evsrc_unix_datagram a, b;
    ck_assert_int_eq(evsrc_unix_datagram_pair(&a, &b), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &b.source, 1, EVSRC_WRITABLE), 0);
    struct evsrc_event event = wait_event(1);
    ck_assert(evsrc_event_is_writable(&event));
    ck_assert(!evsrc_event_is_readable(&event));

    ck_assert_int_eq(evsrc_unix_datagram_send(&a, "late", 4), 4);
    testutil_expect_quiet(1);

    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &b.source, 2, EVSRC_READABLE), 0);
    event = wait_event(2);
    ck_assert(evsrc_event_is_readable(&event));
    char buf[8];
    ck_assert_int_eq(evsrc_unix_datagram_recv(&b, buf, sizeof buf), 4);
    ck_assert_int_eq(memcmp(buf, "late", 4), 0);
    close_datagrams(&a, &b);
}
END_TEST

START_TEST(stream_data_while_writable_only_comes_after_reregister)
{
    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &b.source, 1, EVSRC_WRITABLE), 0);
    wait_event(1);
    write_all(&a, "late");
    testutil_expect_quiet(1);
    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &b.source, 2, EVSRC_READABLE), 0);
    struct evsrc_event event = wait_event(2);
    ck_assert(evsrc_event_is_readable(&event));
    ck_assert_uint_eq(drain(&b), 4);
    close_pair(&a, &b);
}
END_TEST

START_TEST(deregistered_sources_report_nothing)
{
    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    struct evsrc_unix_datagram c, d;
    ck_assert_int_eq(evsrc_unix_datagram_pair(&c, &d), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &b.source, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &d.source, 2, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &b.source), 0);
    ck_assert_int_eq(evsrc_registry_deregister(testutil_fx.registry, &d.source), 0);
    write_all(&a, "ignored");
    ck_assert_int_eq(evsrc_unix_datagram_send(&c, "ignored", 7), 7);
    testutil_expect_no_events();

    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &d.source, 3, EVSRC_READABLE), 0);
    struct evsrc_event event = wait_event(3);
    ck_assert(evsrc_event_is_readable(&event));
    ck_assert_uint_eq(drain_datagrams(&d), 1);
    ck_assert_uint_eq(drain(&b), 7);
    close_pair(&a, &b);
    close_datagrams(&c, &d);
}
END_TEST

START_TEST(reregister_changes_token_and_interest)
{
    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &b.source, 1, EVSRC_READABLE), 0);
    write_all(&a, "one");
    struct evsrc_event event = wait_event(1);
    ck_assert(evsrc_event_is_readable(&event));
    ck_assert(!evsrc_event_is_writable(&event));

    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &b.source, 2, EVSRC_WRITABLE), 0);
    event = wait_event(2);
    ck_assert(evsrc_event_is_writable(&event));
    ck_assert(!evsrc_event_is_readable(&event));
    write_all(&a, "two");
    testutil_expect_quiet(1);
    ck_assert(!testutil_events_have(testutil_fx.events, 2));

    ck_assert_int_eq(evsrc_registry_reregister(testutil_fx.registry, &b.source, 3, EVSRC_READABLE), 0);
    event = wait_event(3);
    ck_assert(evsrc_event_is_readable(&event));
    ck_assert_uint_eq(drain(&b), 6);
    close_pair(&a, &b);
}
END_TEST

START_TEST(peer_close_is_read_closed_and_eof)
{
    struct evsrc_unix_listener listener;
    struct evsrc_unix_stream client, server;
    connected(path_of("close.sock"), &listener, &client, &server);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &server.source, 5, EVSRC_READABLE), 0);
    write_all(&client, "bye");
    ck_assert_int_eq(evsrc_unix_stream_close(&client), 0);
    struct evsrc_event event = wait_event(5);
    if (!evsrc_event_is_read_closed(&event))
        event = wait_event(5);
    ck_assert(evsrc_event_is_read_closed(&event));
    char buf[8];
    ck_assert_int_eq(evsrc_unix_stream_read(&server, buf, sizeof buf), 3);
    ck_assert_int_eq(evsrc_unix_stream_read(&server, buf, sizeof buf), 0);
    ck_assert_int_eq(evsrc_unix_stream_close(&server), 0);
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);
}
END_TEST

START_TEST(peer_shutdown_write_is_read_closed)
{
    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &b.source, 4, EVSRC_READABLE), 0);
    write_all(&a, "last");
    ck_assert_int_eq(evsrc_unix_stream_shutdown(&a, SHUT_WR), 0);
    struct evsrc_event event = wait_event(4);
    if (!evsrc_event_is_read_closed(&event))
        event = wait_event(4);
    ck_assert(evsrc_event_is_read_closed(&event));
    char buf[16];
    ck_assert_int_eq(evsrc_unix_stream_read(&b, buf, sizeof buf), 4);
    ck_assert_int_eq(evsrc_unix_stream_read(&b, buf, sizeof buf), 0);
    /* Only a's write side is shut: b can still answer. */
    write_all(&b, "ok");
    testutil_await_fd(evsrc_unix_stream_fd(&a), POLLIN);
    ck_assert_int_eq(evsrc_unix_stream_read(&a, buf, sizeof buf), 2);
    ck_assert_int_eq(evsrc_unix_stream_write(&a, "x", 1), -EPIPE);
    close_pair(&a, &b);
}
END_TEST

START_TEST(write_to_gone_peer_is_epipe_without_signal)
{
    /* SIGPIPE at its default action: a raised SIGPIPE would kill this test. */
    ck_assert(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &a.source, 6, EVSRC_WRITABLE), 0);
    wait_event(6);
    ck_assert_int_eq(evsrc_unix_stream_close(&b), 0);
    struct evsrc_event event = wait_event(6);
    ck_assert(evsrc_event_is_write_closed(&event) || evsrc_event_is_error(&event));

    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(evsrc_unix_stream_write(&a, "x", 1), -EPIPE);
    struct iovec iov = {.iov_base = (void *)"y", .iov_len = 1};
    ck_assert_int_eq(evsrc_unix_stream_writev(&a, &iov, 1), -EPIPE);
    int fds[2];
    testutil_pipe(fds);
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, "z", 1, fds, 2), -EPIPE);
    testutil_close_pair(fds);
    ck_assert_int_eq(evsrc_unix_stream_close(&a), 0);

    /* A datagram to a gone peer fails too, without a signal. */
    struct evsrc_unix_datagram c, d;
    ck_assert_int_eq(evsrc_unix_datagram_pair(&c, &d), 0);
    ck_assert_int_eq(evsrc_unix_datagram_close(&d), 0);
    for (int i = 0; i < 2; i++) {
        ssize_t n = evsrc_unix_datagram_send(&c, "x", 1);
        ck_assert_msg(n == -ECONNREFUSED || n == -ENOTCONN || n == -EPIPE, "send returned %zd", n);
    }
    ck_assert_int_eq(evsrc_unix_datagram_close(&c), 0);
}
END_TEST

/* ---- fd passing and credentials ------------------------------------------ */

/* SO_PASSPIDFD's value on the architectures CI runs (asm-generic), for C library headers older than Linux 6.5. */
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif

/*
 * Turns SO_PASSPIDFD on, so that the kernel adds an SCM_PIDFD message to
 * every read with a control buffer; false, said on stderr, where the kernel
 * (before 6.5) or an emulator does not know the option.
 */
static bool pass_pidfd(int fd, const char *test)
{
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_PASSPIDFD, &on, sizeof on) == 0)
        return true;
    ck_assert_msg(errno == ENOPROTOOPT || errno == EINVAL, "SO_PASSPIDFD: %s", strerror(errno));
    fprintf(stderr, "%s: the SO_PASSPIDFD step skipped: this kernel refuses the option (%s; Linux 6.5 has it)\n",
            test, strerror(errno));
    return false;
}

static bool same_file(int a, int b)
{
    struct stat sa, sb;
    ck_assert_int_eq(fstat(a, &sa), 0);
    ck_assert_int_eq(fstat(b, &sb), 0);
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

START_TEST(passed_pipe_end_works)
{
    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &b.source, 1, EVSRC_READABLE), 0);
    int fds[2];
    testutil_pipe(fds);
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, "W", 1, &fds[1], 1), 1);
    wait_event(1);

    char byte = 0;
    int received[4] = {-1, -1, -1, -1};
    size_t nfds = 4;
    bool truncated = true;
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, &byte, 1, received, &nfds, &truncated), 1);
    ck_assert_int_eq(byte, 'W');
    ck_assert_uint_eq(nfds, 1);
    ck_assert(!truncated);
    ck_assert_int_ne(received[0], fds[1]);
    ck_assert(fcntl(received[0], F_GETFD) & FD_CLOEXEC);

    /* The copy is the same pipe: what it writes, the original read end reads. */
    ck_assert_int_eq(write(received[0], "via copy", 8), 8);
    char buf[16];
    ck_assert_int_eq(read(fds[0], buf, sizeof buf), 8);
    ck_assert_int_eq(memcmp(buf, "via copy", 8), 0);
    close(received[0]);
    testutil_close_pair(fds);

    /* No fds sent: none received, nothing truncated. */
    write_all(&a, "plain");
    testutil_await_fd(evsrc_unix_stream_fd(&b), POLLIN);
    nfds = 4;
    truncated = true;
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, buf, sizeof buf, received, &nfds, &truncated), 5);
    ck_assert_uint_eq(nfds, 0);
    ck_assert(!truncated);
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, buf, sizeof buf, received, &nfds, NULL), -EAGAIN);
    ck_assert_uint_eq(nfds, 0);
    close_pair(&a, &b);
}
END_TEST

START_TEST(fds_that_do_not_fit_are_closed)
{
    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    int fds[2];
    testutil_pipe(fds);
    int before = testutil_open_fds();
    int three[3] = {fds[0], fds[1], fds[0]};

    /* Room for one of three. */
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, "abc", 3, three, 3), 3);
    testutil_await_fd(evsrc_unix_stream_fd(&b), POLLIN);
    int got[1] = {-1};
    size_t nfds = 1;
    bool truncated = false;
    char buf[8];
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, buf, sizeof buf, got, &nfds, &truncated), 3);
    ck_assert_uint_eq(nfds, 1);
    ck_assert(truncated);
    ck_assert(fcntl(got[0], F_GETFD) & FD_CLOEXEC);
    ck_assert_int_eq(testutil_open_fds(), before + 1);
    close(got[0]);

    /* No room at all: every fd is closed, the bytes still arrive. */
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, "d", 1, three, 3), 1);
    testutil_await_fd(evsrc_unix_stream_fd(&b), POLLIN);
    nfds = 0;
    truncated = false;
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, buf, sizeof buf, NULL, &nfds, &truncated), 1);
    ck_assert_int_eq(buf[0], 'd');
    ck_assert_uint_eq(nfds, 0);
    ck_assert(truncated);
    ck_assert_int_eq(testutil_open_fds(), before);

    /* A plain read of bytes that carried fds leaves none behind either. */
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, "e", 1, three, 3), 1);
    testutil_await_fd(evsrc_unix_stream_fd(&b), POLLIN);
    ck_assert_int_eq(evsrc_unix_stream_read(&b, buf, sizeof buf), 1);
    ck_assert_int_eq(testutil_open_fds(), before);

    testutil_close_pair(fds);
    close_pair(&a, &b);
}
END_TEST

START_TEST(the_most_fds_arrive_with_credentials_beside_them)
{
    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    /* Credentials and the sender's pidfd take room in the same control buffer; every fd must still arrive. */
    int on = 1;
    ck_assert_int_eq(setsockopt(evsrc_unix_stream_fd(&b), SOL_SOCKET, SO_PASSCRED, &on, sizeof on), 0);
    pass_pidfd(evsrc_unix_stream_fd(&b), "the_most_fds_arrive_with_credentials_beside_them");
    int fds[2];
    testutil_pipe(fds);
    int before = testutil_open_fds();
    static int many[EVSRC_UNIX_MAX_FDS], got[EVSRC_UNIX_MAX_FDS];
    for (size_t i = 0; i < EVSRC_UNIX_MAX_FDS; i++)
        many[i] = fds[i % 2];
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, "m", 1, many, EVSRC_UNIX_MAX_FDS), 1);
    testutil_await_fd(evsrc_unix_stream_fd(&b), POLLIN);
    char byte;
    size_t nfds = EVSRC_UNIX_MAX_FDS;
    bool truncated = true;
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, &byte, 1, got, &nfds, &truncated), 1);
    ck_assert_uint_eq(nfds, EVSRC_UNIX_MAX_FDS);
    ck_assert(!truncated);
    ck_assert_int_eq(testutil_open_fds(), before + EVSRC_UNIX_MAX_FDS);
    for (size_t i = 0; i < nfds; i++) {
        ck_assert(fcntl(got[i], F_GETFD) & FD_CLOEXEC);
        close(got[i]);
    }
    ck_assert_int_eq(testutil_open_fds(), before);
    testutil_close_pair(fds);
    close_pair(&a, &b);
}
END_TEST

START_TEST(fds_of_two_sends_do_not_mix)
{
    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    int fds[2];
    testutil_pipe(fds);
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, "1", 1, &fds[0], 1), 1);
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, "2", 1, &fds[1], 1), 1);
    testutil_await_fd(evsrc_unix_stream_fd(&b), POLLIN);
    char buf[8];
    int got[4];
    for (int i = 0; i < 2; i++) {
        size_t nfds = 4;
        bool truncated = true;
        ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, buf, sizeof buf, got, &nfds, &truncated), 1);
        ck_assert_int_eq(buf[0], '1' + i);
        ck_assert_uint_eq(nfds, 1);
        ck_assert(!truncated);
        close(got[0]);
    }
    testutil_close_pair(fds);
    close_pair(&a, &b);
}
END_TEST

/*
 * Issue 20: with SO_PASSPIDFD on, the kernel adds the sender's pidfd
 * (SCM_PIDFD) to every read given a control buffer, with fds sent or not.
 * recv_fds closes it: ten reads leave as many fds open as before, and the
 * fd returned is the one sent, not the pidfd.
 */
START_TEST(the_pidfd_of_so_passpidfd_is_closed_not_leaked)
{
    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    if (!pass_pidfd(evsrc_unix_stream_fd(&b), "the_pidfd_of_so_passpidfd_is_closed_not_leaked")) {
        close_pair(&a, &b);
        return;
    }
    int fds[2];
    testutil_pipe(fds);
    int before = testutil_open_fds();
    for (int i = 0; i < 10; i++) {
        bool with_fd = i % 2 == 1;
        if (with_fd)
            ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, "f", 1, &fds[0], 1), 1);
        else
            write_all(&a, "p");
        testutil_await_fd(evsrc_unix_stream_fd(&b), POLLIN);
        char buf[8];
        int got[4] = {-1, -1, -1, -1};
        size_t nfds = 4;
        bool truncated = true;
        ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, buf, sizeof buf, got, &nfds, &truncated), 1);
        ck_assert_uint_eq(nfds, with_fd ? 1 : 0);
        ck_assert(!truncated);
        if (with_fd) {
            ck_assert(same_file(got[0], fds[0]));
            close(got[0]);
        }
        ck_assert_int_eq(testutil_open_fds(), before);
    }
    testutil_close_pair(fds);
    close_pair(&a, &b);
}
END_TEST

/*
 * The boundary the kernel keeps, as unix.h states it (issue 20; measured on
 * Linux 6.18, the rule of unix_stream_read_generic since fd passing began):
 * a read does not stop before a send that carried fds, so the bytes written
 * before it join it; the fds come with the read that returns that send's
 * first byte, and that read ends at the send's last byte at the latest.
 */
START_TEST(a_read_joins_earlier_bytes_to_a_send_with_fds_and_ends_with_it)
{
    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    int fds[2];
    testutil_pipe(fds);
    int before = testutil_open_fds();
    char buf[16];
    int got[4];
    size_t nfds;
    bool truncated;

    /* "hdr", then "X" with an fd: one read returns "hdrX" and the fd. */
    write_all(&a, "hdr");
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, "X", 1, &fds[0], 1), 1);
    testutil_await_fd(evsrc_unix_stream_fd(&b), POLLIN);
    nfds = 4;
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, buf, sizeof buf, got, &nfds, &truncated), 4);
    ck_assert_int_eq(memcmp(buf, "hdrX", 4), 0);
    ck_assert_uint_eq(nfds, 1);
    ck_assert(same_file(got[0], fds[0]));
    close(got[0]);

    /* A read that stops short of the send's first byte has no fds; the next one does. */
    write_all(&a, "header");
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, "XY", 2, &fds[0], 1), 2);
    testutil_await_fd(evsrc_unix_stream_fd(&b), POLLIN);
    nfds = 4;
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, buf, 3, got, &nfds, &truncated), 3);
    ck_assert_int_eq(memcmp(buf, "hea", 3), 0);
    ck_assert_uint_eq(nfds, 0);
    nfds = 4;
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, buf, 4, got, &nfds, &truncated), 4);
    ck_assert_int_eq(memcmp(buf, "derX", 4), 0);
    ck_assert_uint_eq(nfds, 1);
    close(got[0]);
    nfds = 4;
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, buf, sizeof buf, got, &nfds, &truncated), 1);
    ck_assert_int_eq(buf[0], 'Y');
    ck_assert_uint_eq(nfds, 0);

    /* Bytes written after a send with fds come in the next read, never with those fds. */
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, "AB", 2, &fds[0], 1), 2);
    write_all(&a, "cd");
    testutil_await_fd(evsrc_unix_stream_fd(&b), POLLIN);
    nfds = 4;
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, buf, sizeof buf, got, &nfds, &truncated), 2);
    ck_assert_int_eq(memcmp(buf, "AB", 2), 0);
    ck_assert_uint_eq(nfds, 1);
    close(got[0]);
    nfds = 4;
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, buf, sizeof buf, got, &nfds, &truncated), 2);
    ck_assert_int_eq(memcmp(buf, "cd", 2), 0);
    ck_assert_uint_eq(nfds, 0);

    /*
     * A plain read joins them too: three bytes of "header" are three, and the
     * read that reaches the send's first byte takes its fd, which the kernel
     * closes: the receiver's copy of the read end is gone, so with ours
     * closed a write to the pipe fails.
     */
    write_all(&a, "header");
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, "X", 1, &fds[0], 1), 1);
    testutil_await_fd(evsrc_unix_stream_fd(&b), POLLIN);
    ck_assert_int_eq(evsrc_unix_stream_read(&b, buf, 3), 3);
    ck_assert_int_eq(memcmp(buf, "hea", 3), 0);
    ck_assert_int_eq(evsrc_unix_stream_read(&b, buf, sizeof buf), 4);
    ck_assert_int_eq(memcmp(buf, "derX", 4), 0);
    ck_assert_int_eq(testutil_open_fds(), before);
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(write(fds[1], "?", 1), -1);
    ck_assert_int_eq(errno, EPIPE);
    close(fds[1]);
    close_pair(&a, &b);
}
END_TEST

START_TEST(peer_cred_is_our_own)
{
    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    pid_t pid = 0;
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    ck_assert_int_eq(evsrc_unix_stream_peer_cred(&a, &pid, &uid, &gid), 0);
    ck_assert_int_eq(pid, getpid());
    ck_assert_uint_eq(uid, getuid());
    ck_assert_uint_eq(gid, getgid());
    ck_assert_int_eq(evsrc_unix_stream_peer_cred(&b, NULL, NULL, NULL), 0);
    close_pair(&a, &b);

    struct evsrc_unix_listener listener;
    struct evsrc_unix_stream client, server;
    connected(path_of("cred.sock"), &listener, &client, &server);
    pid = 0;
    ck_assert_int_eq(evsrc_unix_stream_peer_cred(&server, &pid, NULL, NULL), 0);
    ck_assert_int_eq(pid, getpid());
    pid = 0;
    ck_assert_int_eq(evsrc_unix_stream_peer_cred(&client, &pid, NULL, NULL), 0);
    ck_assert_int_eq(pid, getpid());
    close_pair(&client, &server);
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);

    /* Not connected: no peer. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct evsrc_unix_stream lone;
    ck_assert_int_eq(evsrc_unix_stream_from_fd(&lone, fd), 0);
    ck_assert_int_eq(evsrc_unix_stream_peer_cred(&lone, &pid, &uid, &gid), -ENOTCONN);
    ck_assert_int_eq(evsrc_unix_stream_close(&lone), 0);
}
END_TEST

/* ---- Addresses ------------------------------------------------------------ */

START_TEST(listener_accepts_and_addresses_match)
{
    const char *path = path_of("accept.sock");
    struct evsrc_unix_listener listener;
    ck_assert_int_eq(evsrc_unix_listener_bind(&listener, path), 0);
    ck_assert(exists(path));
    struct evsrc_unix_stream server;
    struct sockaddr_un peer;
    socklen_t peerlen = sizeof peer;
    ck_assert_int_eq(evsrc_unix_listener_accept(&listener, &server, &peer, &peerlen), -EAGAIN);
    ck_assert_int_eq(evsrc_unix_stream_close(&server), -EBADF);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &listener.source, 20, EVSRC_READABLE), 0);
    testutil_expect_quiet(20);

    struct evsrc_unix_stream client;
    ck_assert_int_eq(evsrc_unix_stream_connect(&client, path), 0);
    struct evsrc_event event = wait_event(20);
    ck_assert(evsrc_event_is_readable(&event));
    peerlen = sizeof peer;
    ck_assert_int_eq(evsrc_unix_listener_accept(&listener, &server, &peer, &peerlen), 0);
    ck_assert(is_unnamed(&peer, peerlen));
    struct evsrc_unix_stream none;
    ck_assert_int_eq(evsrc_unix_listener_accept(&listener, &none, NULL, NULL), -EAGAIN);

    struct sockaddr_un addr;
    socklen_t len = sizeof addr;
    ck_assert_int_eq(evsrc_unix_listener_local_addr(&listener, &addr, &len), 0);
    ck_assert_uint_eq(len, offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
    ck_assert_str_eq(addr.sun_path, path);
    len = sizeof addr;
    ck_assert_int_eq(evsrc_unix_stream_peer_addr(&client, &addr, &len), 0);
    ck_assert_str_eq(addr.sun_path, path);
    len = sizeof addr;
    ck_assert_int_eq(evsrc_unix_stream_local_addr(&server, &addr, &len), 0);
    ck_assert_str_eq(addr.sun_path, path);
    len = sizeof addr;
    ck_assert_int_eq(evsrc_unix_stream_local_addr(&client, &addr, &len), 0);
    ck_assert(is_unnamed(&addr, len));

    /* A short buffer: truncated like getsockname, and the full length is reported. */
    struct sockaddr_un part;
    memset(&part, 0xaa, sizeof part);
    socklen_t partlen = 4;
    ck_assert_int_eq(evsrc_unix_listener_local_addr(&listener, &part, &partlen), 0);
    ck_assert_uint_eq(partlen, offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
    ck_assert_uint_eq(((const unsigned char *)&part)[4], 0xaa);

    close_pair(&client, &server);
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);
}
END_TEST

/* What accept stores as the peer (unix.h): the address the client bound, as getpeername reports it. */
START_TEST(accepted_peer_is_the_clients_bound_address)
{
    const char *path = path_of("peer.sock");
    const char *client_path = path_of("client.sock");
    struct evsrc_unix_listener listener;
    ck_assert_int_eq(evsrc_unix_listener_bind(&listener, path), 0);
    struct evsrc_unix_stream server;
    struct sockaddr_un peer;
    memset(&peer, 0x55, sizeof peer);
    socklen_t peerlen = 3;
    ck_assert_int_eq(evsrc_unix_listener_accept(&listener, &server, &peer, &peerlen), -EAGAIN);
    ck_assert_uint_eq(peerlen, 3); /* an error touches neither */
    ck_assert_uint_eq(((unsigned char *)&peer)[0], 0x55);

    /* A client bound to a path: that path, with its length, as getpeername(2) on the server's end. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un addr;
    socklen_t len;
    ck_assert_int_eq(evsrc_unix_addr_path(&addr, &len, client_path), 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, len), 0);
    ck_assert_int_eq(evsrc_unix_addr_path(&addr, &len, path), 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, len), 0);
    peerlen = sizeof peer;
    ck_assert_int_eq(evsrc_unix_listener_accept(&listener, &server, &peer, &peerlen), 0);
    ck_assert_uint_eq(peerlen, offsetof(struct sockaddr_un, sun_path) + strlen(client_path) + 1);
    ck_assert_str_eq(peer.sun_path, client_path);
    len = sizeof addr;
    ck_assert_int_eq(evsrc_unix_stream_peer_addr(&server, &addr, &len), 0);
    ck_assert_uint_eq(len, peerlen);
    ck_assert_int_eq(memcmp(&addr, &peer, len), 0);
    ck_assert_int_eq(evsrc_unix_stream_close(&server), 0);
    ck_assert_int_eq(close(fd), 0);

    /* A client that never bound: unnamed, only sun_family written. */
    struct evsrc_unix_stream client;
    ck_assert_int_eq(evsrc_unix_stream_connect(&client, path), 0);
    memset(&peer, 0x55, sizeof peer);
    peerlen = sizeof peer;
    ck_assert_int_eq(evsrc_unix_listener_accept(&listener, &server, &peer, &peerlen), 0);
    ck_assert(is_unnamed(&peer, peerlen));
    ck_assert_uint_eq((unsigned char)peer.sun_path[0], 0x55);

    ck_assert_int_eq(evsrc_unix_stream_close(&server), 0);
    ck_assert_int_eq(evsrc_unix_stream_close(&client), 0);
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);
    unlink(path);
    unlink(client_path);
}
END_TEST

START_TEST(close_leaves_the_socket_file)
{
    const char *path = path_of("stays.sock");
    struct evsrc_unix_listener listener;
    ck_assert_int_eq(evsrc_unix_listener_bind(&listener, path), 0);
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);
    ck_assert(exists(path));
    /* The stale file keeps the path taken, and nobody answers on it. */
    ck_assert_int_eq(evsrc_unix_listener_bind(&listener, path), -EADDRINUSE);
    struct evsrc_unix_stream client;
    ck_assert_int_eq(evsrc_unix_stream_connect(&client, path), -ECONNREFUSED);
    ck_assert_int_eq(evsrc_unix_stream_close(&client), -EBADF);
    struct evsrc_unix_datagram datagram;
    ck_assert_int_eq(evsrc_unix_datagram_bind(&datagram, path), -EADDRINUSE);
    /* Unlinking is the caller's; then the path is free again. */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(evsrc_unix_datagram_bind(&datagram, path), 0);
    ck_assert_int_eq(evsrc_unix_datagram_close(&datagram), 0);
    ck_assert(exists(path));
}
END_TEST

START_TEST(closing_listener_drops_pending_connections)
{
    const char *path = path_of("pending.sock");
    struct evsrc_unix_listener listener;
    ck_assert_int_eq(evsrc_unix_listener_bind(&listener, path), 0);
    struct evsrc_unix_stream client;
    ck_assert_int_eq(evsrc_unix_stream_connect(&client, path), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &client.source, 1, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);
    struct evsrc_event event = wait_event(1);
    ck_assert(evsrc_event_is_read_closed(&event) || evsrc_event_is_error(&event));
    char buf[4];
    ck_assert_int_eq(evsrc_unix_stream_read(&client, buf, sizeof buf), -ECONNRESET);
    ck_assert_int_eq(evsrc_unix_stream_read(&client, buf, sizeof buf), 0);
    ck_assert_int_eq(evsrc_unix_stream_write(&client, "x", 1), -EPIPE);
    ck_assert_int_eq(evsrc_unix_stream_close(&client), 0);
}
END_TEST

START_TEST(abstract_names)
{
    struct sockaddr_un addr;
    socklen_t addrlen = abstract_addr(&addr, "listener");
    struct evsrc_unix_listener listener;
    ck_assert_int_eq(evsrc_unix_listener_bind_addr(&listener, &addr, addrlen), 0);
    struct evsrc_unix_listener again;
    ck_assert_int_eq(evsrc_unix_listener_bind_addr(&again, &addr, addrlen), -EADDRINUSE);
    struct sockaddr_un bound;
    socklen_t boundlen = sizeof bound;
    ck_assert_int_eq(evsrc_unix_listener_local_addr(&listener, &bound, &boundlen), 0);
    ck_assert_uint_eq(boundlen, addrlen);
    ck_assert_int_eq(memcmp(&bound, &addr, addrlen), 0);

    struct evsrc_unix_stream client, server;
    ck_assert_int_eq(evsrc_unix_stream_connect_addr(&client, &addr, addrlen), 0);
    testutil_await_fd(evsrc_unix_listener_fd(&listener), POLLIN);
    ck_assert_int_eq(evsrc_unix_listener_accept(&listener, &server, NULL, NULL), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &server.source, 1, EVSRC_READABLE), 0);
    write_all(&client, "abstract");
    wait_event(1);
    ck_assert_uint_eq(drain(&server), 8);
    close_pair(&client, &server);
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);
    /* The name went with the socket, and no file was made. */
    ck_assert_int_eq(evsrc_unix_stream_connect_addr(&client, &addr, addrlen), -ECONNREFUSED);

    /* Datagrams between two abstract names: the sender's name comes with each one. */
    struct sockaddr_un a_addr, b_addr;
    socklen_t a_len = abstract_addr(&a_addr, "a"), b_len = abstract_addr(&b_addr, "b");
    struct evsrc_unix_datagram a, b;
    ck_assert_int_eq(evsrc_unix_datagram_bind_addr(&a, &a_addr, a_len), 0);
    ck_assert_int_eq(evsrc_unix_datagram_bind_addr(&b, &b_addr, b_len), 0);
    ck_assert_int_eq(evsrc_unix_datagram_send_to_addr(&a, "ping", 4, &b_addr, b_len), 4);
    testutil_await_fd(evsrc_unix_datagram_fd(&b), POLLIN);
    struct sockaddr_un from;
    socklen_t fromlen = sizeof from;
    char buf[8];
    ck_assert_int_eq(evsrc_unix_datagram_recv_from(&b, buf, sizeof buf, &from, &fromlen), 4);
    ck_assert_uint_eq(fromlen, a_len);
    ck_assert_int_eq(memcmp(&from, &a_addr, a_len), 0);
    /* Reply to whoever sent it. */
    ck_assert_int_eq(evsrc_unix_datagram_send_to_addr(&b, "pong", 4, &from, fromlen), 4);
    testutil_await_fd(evsrc_unix_datagram_fd(&a), POLLIN);
    ck_assert_int_eq(evsrc_unix_datagram_recv(&a, buf, sizeof buf), 4);
    ck_assert_int_eq(memcmp(buf, "pong", 4), 0);
    close_datagrams(&a, &b);

    /* Autobind: the kernel picks an abstract name. */
    struct sockaddr_un family_only = {.sun_family = AF_UNIX};
    ck_assert_int_eq(evsrc_unix_datagram_bind_addr(&a, &family_only, sizeof(sa_family_t)), 0);
    boundlen = sizeof bound;
    ck_assert_int_eq(evsrc_unix_datagram_local_addr(&a, &bound, &boundlen), 0);
    ck_assert_uint_gt(boundlen, offsetof(struct sockaddr_un, sun_path) + 1);
    ck_assert_int_eq(bound.sun_path[0], '\0');
    ck_assert_int_eq(evsrc_unix_datagram_close(&a), 0);

    /* No file anywhere in the private directory. */
    DIR *dir = opendir(scratch);
    ck_assert_ptr_nonnull(dir);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        ck_assert_msg(entry->d_name[0] == '.', "unexpected file %s", entry->d_name);
    closedir(dir);
}
END_TEST

START_TEST(unbound_datagram_senders)
{
    const char *path = path_of("server.dgram");
    struct evsrc_unix_datagram server, sender;
    ck_assert_int_eq(evsrc_unix_datagram_bind(&server, path), 0);
    ck_assert_int_eq(evsrc_unix_datagram_unbound(&sender), 0);
    struct sockaddr_un addr;
    socklen_t len = sizeof addr;
    ck_assert_int_eq(evsrc_unix_datagram_local_addr(&sender, &addr, &len), 0);
    ck_assert(is_unnamed(&addr, len));
    len = sizeof addr;
    ck_assert_int_eq(evsrc_unix_datagram_peer_addr(&sender, &addr, &len), -ENOTCONN);
    ck_assert_int_eq(evsrc_unix_datagram_send(&sender, "x", 1), -ENOTCONN);

    ck_assert_int_eq(evsrc_unix_datagram_send_to(&sender, "anon", 4, path), 4);
    testutil_await_fd(evsrc_unix_datagram_fd(&server), POLLIN);
    struct sockaddr_un from;
    memset(&from, 0x55, sizeof from);
    socklen_t fromlen = sizeof from;
    char buf[8];
    ck_assert_int_eq(evsrc_unix_datagram_recv_from(&server, buf, sizeof buf, &from, &fromlen), 4);
    ck_assert(is_unnamed(&from, fromlen));

    /* Connected, the unbound socket sends with plain send, and its peer is the path. */
    ck_assert_int_eq(evsrc_unix_datagram_connect(&sender, path), 0);
    len = sizeof addr;
    ck_assert_int_eq(evsrc_unix_datagram_peer_addr(&sender, &addr, &len), 0);
    ck_assert_str_eq(addr.sun_path, path);
    ck_assert_int_eq(evsrc_unix_datagram_send(&sender, "conn", 4), 4);
    testutil_await_fd(evsrc_unix_datagram_fd(&server), POLLIN);
    ck_assert_int_eq(evsrc_unix_datagram_recv_from(&server, buf, sizeof buf, NULL, NULL), 4);
    ck_assert_int_eq(memcmp(buf, "conn", 4), 0);
    ck_assert_int_eq(evsrc_unix_datagram_take_error(&sender), 0);
    /* A long datagram is cut to the buffer. */
    ck_assert_int_eq(evsrc_unix_datagram_send(&sender, "0123456789", 10), 10);
    testutil_await_fd(evsrc_unix_datagram_fd(&server), POLLIN);
    ck_assert_int_eq(evsrc_unix_datagram_recv(&server, buf, 4), 4);
    ck_assert_int_eq(evsrc_unix_datagram_recv(&server, buf, 4), -EAGAIN);
    close_datagrams(&server, &sender);
}
END_TEST

/* The quiet edges of valid input: empty names, vectors and datagrams, no room for a name, no truncation flag. */
START_TEST(valid_edge_arguments)
{
    struct sockaddr_un addr;
    socklen_t addrlen;
    ck_assert_int_eq(evsrc_unix_addr_abstract(&addr, &addrlen, NULL, 0), 0);
    ck_assert_uint_eq(addrlen, offsetof(struct sockaddr_un, sun_path) + 1);
    ck_assert_int_eq(addr.sun_path[0], '\0');

    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    char buf[4] = "xyz";
    struct iovec iov[2] = {{NULL, 0}, {buf, 1}};
    ck_assert_int_eq(evsrc_unix_stream_writev(&a, iov, 2), 1);
    ck_assert_int_eq(evsrc_unix_stream_readv(&b, iov, 0), 0);
    testutil_await_fd(evsrc_unix_stream_fd(&b), POLLIN);
    ck_assert_int_eq(evsrc_unix_stream_readv(&b, iov, 2), 1);
    ck_assert_int_eq(evsrc_unix_stream_write(&a, "q", 1), 1);
    testutil_await_fd(evsrc_unix_stream_fd(&b), POLLIN);
    size_t nfds = 0;
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, buf, sizeof buf, NULL, &nfds, NULL), 1);
    ck_assert_uint_eq(nfds, 0);
    close_pair(&a, &b);

    /* A datagram pair needs both structs; the one given is left closed. */
    struct evsrc_unix_datagram server, sender;
    ck_assert_int_eq(evsrc_unix_datagram_pair(&server, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_fd(&server), -EBADF);
    ck_assert_int_eq(evsrc_unix_datagram_connect(NULL, path_of("none")), -EINVAL);

    /* An empty datagram from an unnamed sender, received with no room for its (empty) name. */
    addrlen = abstract_addr(&addr, "edge");
    ck_assert_int_eq(evsrc_unix_datagram_bind_addr(&server, &addr, addrlen), 0);
    ck_assert_int_eq(evsrc_unix_datagram_unbound(&sender), 0);
    ck_assert_int_eq(evsrc_unix_datagram_send_to_addr(&sender, NULL, 1, &addr, addrlen), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_send_to_addr(&sender, NULL, 0, &addr, addrlen), 0);
    testutil_await_fd(evsrc_unix_datagram_fd(&server), POLLIN);
    struct sockaddr_un from;
    memset(&from, 0x55, sizeof from);
    socklen_t fromlen = 1;
    ck_assert_int_eq(evsrc_unix_datagram_recv_from(&server, buf, sizeof buf, &from, &fromlen), 0);
    ck_assert_uint_eq(fromlen, sizeof(sa_family_t));
    ck_assert_uint_eq(((unsigned char *)&from)[0], 0x55); /* nothing written where there was no room */
    close_datagrams(&server, &sender);
}
END_TEST

/* ---- Streams -------------------------------------------------------------- */

START_TEST(peek_readv_writev)
{
    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    struct iovec out[3] = {
        {.iov_base = (void *)"scat", .iov_len = 4},
        {.iov_base = (void *)"ter-", .iov_len = 4},
        {.iov_base = (void *)"gather", .iov_len = 6},
    };
    ck_assert_int_eq(evsrc_unix_stream_writev(&a, out, 3), 14);
    ck_assert_int_eq(evsrc_unix_stream_writev(&a, out, 0), 0);
    char peeked[4];
    ck_assert_int_eq(evsrc_unix_stream_peek(&b, peeked, sizeof peeked), 4);
    ck_assert_int_eq(memcmp(peeked, "scat", 4), 0);
    char first[5], second[16];
    struct iovec in[2] = {{.iov_base = first, .iov_len = sizeof first},
                          {.iov_base = second, .iov_len = sizeof second}};
    ck_assert_int_eq(evsrc_unix_stream_readv(&b, in, 2), 14);
    ck_assert_int_eq(memcmp(first, "scatt", 5), 0);
    ck_assert_int_eq(memcmp(second, "er-gather", 9), 0);
    ck_assert_int_eq(evsrc_unix_stream_readv(&b, in, 2), -EAGAIN);
    ck_assert_int_eq(evsrc_unix_stream_peek(&b, peeked, sizeof peeked), -EAGAIN);
    ck_assert_int_eq(evsrc_unix_stream_read(&b, peeked, 0), 0);
    close_pair(&a, &b);
}
END_TEST

START_TEST(full_buffer_is_eagain_then_writable)
{
    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &a.source, 1, EVSRC_WRITABLE), 0);
    wait_event(1);
    static char block[65536];
    ssize_t n;
    while ((n = evsrc_unix_stream_write(&a, block, sizeof block)) > 0)
        ;
    ck_assert_int_eq(n, -EAGAIN);
    testutil_expect_quiet(1);
    drain(&b);
    struct evsrc_event event = wait_event(1);
    ck_assert(evsrc_event_is_writable(&event));
    close_pair(&a, &b);
}
END_TEST

/* ---- Ownership ------------------------------------------------------------ */

START_TEST(close_twice_is_ebadf_and_spares_other_fds)
{
    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &a.source, 1, EVSRC_READABLE), 0);
    int old = evsrc_unix_stream_fd(&a);
    ck_assert_int_eq(evsrc_unix_stream_close(&a), 0);
    int spare = dup(STDERR_FILENO);
    ck_assert_int_eq(spare, old);
    ck_assert_int_eq(evsrc_unix_stream_close(&a), -EBADF);
    ck_assert(testutil_fd_is_open(spare));
    close(spare);
    /* The closed struct's record is clear: it registers again after a new constructor. */
    ck_assert_int_eq(evsrc_unix_stream_close(&b), 0);
    pair(&a, &b);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &a.source, 2, EVSRC_READABLE), 0);
    close_pair(&a, &b);

    struct evsrc_unix_datagram d;
    ck_assert_int_eq(evsrc_unix_datagram_unbound(&d), 0);
    ck_assert_int_eq(evsrc_unix_datagram_close(&d), 0);
    ck_assert_int_eq(evsrc_unix_datagram_close(&d), -EBADF);
    struct evsrc_unix_listener l;
    ck_assert_int_eq(evsrc_unix_listener_bind(&l, path_of("twice.sock")), 0);
    ck_assert_int_eq(evsrc_unix_listener_close(&l), 0);
    ck_assert_int_eq(evsrc_unix_listener_close(&l), -EBADF);
}
END_TEST

START_TEST(structs_need_no_zeroing)
{
    struct evsrc_unix_listener listener;
    struct evsrc_unix_stream client, server, a, b;
    struct evsrc_unix_datagram c, d, e;
    memset(&listener, 0xff, sizeof listener);
    memset(&client, 0xff, sizeof client);
    memset(&server, 0xff, sizeof server);
    memset(&a, 0xff, sizeof a);
    memset(&b, 0xff, sizeof b);
    memset(&c, 0xff, sizeof c);
    memset(&d, 0xff, sizeof d);
    memset(&e, 0xff, sizeof e);
    connected(path_of("garbage.sock"), &listener, &client, &server);
    pair(&a, &b);
    ck_assert_int_eq(evsrc_unix_datagram_pair(&c, &d), 0);
    ck_assert_int_eq(evsrc_unix_datagram_unbound(&e), 0);
    struct evsrc_source *sources[] = {&listener.source, &client.source, &server.source, &a.source,
                                      &b.source, &c.source, &d.source, &e.source};
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++)
        ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, sources[i], i, EVSRC_READABLE), 0);

    struct evsrc_unix_stream failed;
    memset(&failed, 0xff, sizeof failed);
    ck_assert_int_eq(evsrc_unix_listener_accept(&listener, &failed, NULL, NULL), -EAGAIN);
    ck_assert_int_eq(evsrc_unix_stream_close(&failed), -EBADF);

    close_pair(&client, &server);
    close_pair(&a, &b);
    close_datagrams(&c, &d);
    ck_assert_int_eq(evsrc_unix_datagram_close(&e), 0);
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);
}
END_TEST

/* Every from_fd refuses fd with `want`, and leaves it open and unchanged. */
static void assert_refused(int fd, int listener_want, int stream_want, int datagram_want)
{
    /* fd -1 has no state to keep. */
    struct testutil_fd_state before = fd >= 0 ? testutil_fd_state(fd) : (struct testutil_fd_state){-1, -1};
    struct evsrc_unix_listener l;
    struct evsrc_unix_stream s;
    struct evsrc_unix_datagram d;
    if (listener_want)
        ck_assert_int_eq(evsrc_unix_listener_from_fd(&l, fd), listener_want);
    if (stream_want)
        ck_assert_int_eq(evsrc_unix_stream_from_fd(&s, fd), stream_want);
    if (datagram_want)
        ck_assert_int_eq(evsrc_unix_datagram_from_fd(&d, fd), datagram_want);
    if (fd >= 0)
        testutil_expect_fd_unchanged(fd, before);
    if (listener_want)
        ck_assert_int_eq(evsrc_unix_listener_close(&l), -EBADF);
    if (stream_want)
        ck_assert_int_eq(evsrc_unix_stream_close(&s), -EBADF);
    if (datagram_want)
        ck_assert_int_eq(evsrc_unix_datagram_close(&d), -EBADF);
}

START_TEST(from_fd_checks_the_kind)
{
    /* A blocking listening socket made by hand: only a listener takes it. */
    const char *path = path_of("adopt.sock");
    struct sockaddr_un addr;
    socklen_t addrlen;
    ck_assert_int_eq(evsrc_unix_addr_path(&addr, &addrlen, path), 0);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(lfd, 0);
    ck_assert_int_eq(bind(lfd, (const struct sockaddr *)&addr, addrlen), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    assert_refused(lfd, 0, -EINVAL, -EINVAL);

    int sfd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(sfd, 0);
    ck_assert_int_eq(connect(sfd, (const struct sockaddr *)&addr, addrlen), 0);
    assert_refused(sfd, -EINVAL, 0, -EINVAL);
    int dfd = socket(AF_UNIX, SOCK_DGRAM, 0);
    ck_assert_int_ge(dfd, 0);
    assert_refused(dfd, -EINVAL, -EINVAL, 0);

    int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(tcp, 0);
    ck_assert_int_ge(udp, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(tcp, (const struct sockaddr *)&in, sizeof in), 0);
    ck_assert_int_eq(listen(tcp, 1), 0);
    assert_refused(tcp, -EINVAL, -EINVAL, -EINVAL);
    assert_refused(udp, -EINVAL, -EINVAL, -EINVAL);
    close(tcp);
    close(udp);
    int fds[2];
    testutil_pipe(fds);
    assert_refused(fds[0], -ENOTSOCK, -ENOTSOCK, -ENOTSOCK);
    testutil_close_pair(fds);
    int seq[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, seq), 0);
    assert_refused(seq[0], -EINVAL, -EINVAL, -EINVAL);
    testutil_close_pair(seq);

    /* Now each goes to its own kind: made non-blocking, close-on-exec left alone. */
    struct evsrc_unix_listener listener;
    struct evsrc_unix_stream client, server;
    struct evsrc_unix_datagram datagram;
    memset(&listener, 0xff, sizeof listener);
    ck_assert_int_eq(evsrc_unix_listener_from_fd(&listener, lfd), 0);
    ck_assert_int_eq(evsrc_unix_stream_from_fd(&client, sfd), 0);
    ck_assert_int_eq(evsrc_unix_datagram_from_fd(&datagram, dfd), 0);
    ck_assert(fcntl(lfd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(sfd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(dfd, F_GETFL) & O_NONBLOCK);
    ck_assert(!(fcntl(lfd, F_GETFD) & FD_CLOEXEC));
    ck_assert_int_eq(evsrc_unix_listener_accept(&listener, &server, NULL, NULL), 0);
    struct evsrc_unix_stream none;
    ck_assert_int_eq(evsrc_unix_listener_accept(&listener, &none, NULL, NULL), -EAGAIN);
    ck_assert_int_eq(evsrc_unix_stream_close(&server), 0);
    ck_assert_int_eq(evsrc_unix_stream_close(&client), 0);
    ck_assert_int_eq(evsrc_unix_datagram_close(&datagram), 0);
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);
    ck_assert(!testutil_fd_is_open(lfd));
    ck_assert(!testutil_fd_is_open(sfd));
    ck_assert(!testutil_fd_is_open(dfd));

    assert_refused(-1, -EBADF, -EBADF, -EBADF);
    ck_assert_int_eq(evsrc_unix_listener_from_fd(NULL, STDERR_FILENO), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_from_fd(NULL, STDERR_FILENO), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_from_fd(NULL, STDERR_FILENO), -EINVAL);
    ck_assert(testutil_fd_is_open(STDERR_FILENO));
}
END_TEST

/* ---- Bad input ------------------------------------------------------------- */

START_TEST(paths_and_addresses_are_checked)
{
    char longest[sizeof(((struct sockaddr_un *)0)->sun_path)];
    memset(longest, 'a', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    char too_long[sizeof longest + 1];
    memset(too_long, 'a', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    char far_too_long[300];
    memset(far_too_long, 'b', sizeof far_too_long - 1);
    far_too_long[sizeof far_too_long - 1] = '\0';

    struct evsrc_unix_listener listener;
    struct evsrc_unix_stream stream;
    struct evsrc_unix_datagram datagram, open_datagram;
    ck_assert_int_eq(evsrc_unix_datagram_unbound(&open_datagram), 0);
    const char *bad_paths[] = {too_long, far_too_long};
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(evsrc_unix_listener_bind(&listener, bad_paths[i]), -ENAMETOOLONG);
        ck_assert_int_eq(evsrc_unix_stream_connect(&stream, bad_paths[i]), -ENAMETOOLONG);
        ck_assert_int_eq(evsrc_unix_datagram_bind(&datagram, bad_paths[i]), -ENAMETOOLONG);
        ck_assert_int_eq(evsrc_unix_datagram_connect(&open_datagram, bad_paths[i]), -ENAMETOOLONG);
        ck_assert_int_eq(evsrc_unix_datagram_send_to(&open_datagram, "x", 1, bad_paths[i]), -ENAMETOOLONG);
    }
    /* The longest that fits is a path like any other (relative, and missing here). */
    ck_assert_int_eq(evsrc_unix_stream_connect(&stream, longest), -ENOENT);
    struct sockaddr_un addr;
    socklen_t addrlen = 0;
    ck_assert_int_eq(evsrc_unix_addr_path(&addr, &addrlen, too_long), -ENAMETOOLONG);
    ck_assert_uint_eq(addrlen, 0);
    ck_assert_int_eq(evsrc_unix_addr_path(&addr, &addrlen, longest), 0);
    ck_assert_uint_eq(addrlen, sizeof addr);
    ck_assert_int_eq(evsrc_unix_addr_abstract(&addr, &addrlen, longest, sizeof longest), -ENAMETOOLONG);
    ck_assert_int_eq(evsrc_unix_addr_abstract(&addr, &addrlen, longest, sizeof longest - 1), 0);
    ck_assert_uint_eq(addrlen, sizeof addr);

    /* Empty and NULL paths. */
    ck_assert_int_eq(evsrc_unix_listener_bind(&listener, ""), -EINVAL);
    ck_assert_int_eq(evsrc_unix_listener_bind(&listener, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_connect(&stream, ""), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_connect(&stream, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_bind(&datagram, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_connect(&open_datagram, ""), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_send_to(&open_datagram, "x", 1, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_addr_path(&addr, &addrlen, ""), -EINVAL);
    ck_assert_int_eq(evsrc_unix_addr_path(NULL, &addrlen, "x"), -EINVAL);
    ck_assert_int_eq(evsrc_unix_addr_path(&addr, NULL, "x"), -EINVAL);
    ck_assert_int_eq(evsrc_unix_addr_abstract(&addr, &addrlen, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_addr_abstract(NULL, &addrlen, "x", 1), -EINVAL);

    /* Bad addresses for the _addr variants. */
    struct sockaddr_un good;
    socklen_t goodlen = abstract_addr(&good, "bad");
    struct sockaddr_un wrong = good;
    wrong.sun_family = AF_INET;
    const socklen_t bad_lengths[] = {0, 1, sizeof(struct sockaddr_un) + 1};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(evsrc_unix_listener_bind_addr(&listener, &good, bad_lengths[i]), -EINVAL);
        ck_assert_int_eq(evsrc_unix_stream_connect_addr(&stream, &good, bad_lengths[i]), -EINVAL);
        ck_assert_int_eq(evsrc_unix_datagram_bind_addr(&datagram, &good, bad_lengths[i]), -EINVAL);
        ck_assert_int_eq(evsrc_unix_datagram_connect_addr(&open_datagram, &good, bad_lengths[i]), -EINVAL);
        ck_assert_int_eq(evsrc_unix_datagram_send_to_addr(&open_datagram, "x", 1, &good, bad_lengths[i]),
                         -EINVAL);
    }
    ck_assert_int_eq(evsrc_unix_listener_bind_addr(&listener, &wrong, goodlen), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_connect_addr(&stream, &wrong, goodlen), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_bind_addr(&datagram, &wrong, goodlen), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_connect_addr(&open_datagram, &wrong, goodlen), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_send_to_addr(&open_datagram, "x", 1, &wrong, goodlen), -EINVAL);
    ck_assert_int_eq(evsrc_unix_listener_bind_addr(&listener, NULL, goodlen), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_connect_addr(&stream, NULL, goodlen), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_bind_addr(&datagram, NULL, goodlen), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_connect_addr(&open_datagram, NULL, goodlen), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_send_to_addr(&open_datagram, "x", 1, NULL, goodlen), -EINVAL);

    /* Every failed constructor left its struct closed. */
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), -EBADF);
    ck_assert_int_eq(evsrc_unix_stream_close(&stream), -EBADF);
    ck_assert_int_eq(evsrc_unix_datagram_close(&datagram), -EBADF);
    ck_assert_int_eq(evsrc_unix_datagram_close(&open_datagram), 0);
}
END_TEST

START_TEST(missing_and_taken_addresses)
{
    const char *missing = path_of("missing.sock");
    struct evsrc_unix_stream stream;
    ck_assert_int_eq(evsrc_unix_stream_connect(&stream, missing), -ENOENT);
    ck_assert_int_eq(evsrc_unix_stream_close(&stream), -EBADF);
    struct evsrc_unix_datagram datagram;
    ck_assert_int_eq(evsrc_unix_datagram_unbound(&datagram), 0);
    ck_assert_int_eq(evsrc_unix_datagram_connect(&datagram, missing), -ENOENT);
    ck_assert_int_eq(evsrc_unix_datagram_send_to(&datagram, "x", 1, missing), -ENOENT);
    const char *in_missing_dir = path_of("no-such-dir/x.sock");
    struct evsrc_unix_listener listener;
    ck_assert_int_eq(evsrc_unix_listener_bind(&listener, in_missing_dir), -ENOENT);

    /* A datagram socket is no listener, and a listener takes no datagrams. */
    const char *dgram_path = path_of("kind.dgram");
    struct evsrc_unix_datagram bound;
    ck_assert_int_eq(evsrc_unix_datagram_bind(&bound, dgram_path), 0);
    int r = evsrc_unix_stream_connect(&stream, dgram_path);
    ck_assert_msg(r == -EPROTOTYPE || r == -ECONNREFUSED, "connect to a datagram socket: %d", r);
    const char *stream_path = path_of("kind.sock");
    ck_assert_int_eq(evsrc_unix_listener_bind(&listener, stream_path), 0);
    r = (int)evsrc_unix_datagram_send_to(&datagram, "x", 1, stream_path);
    ck_assert_msg(r == -EPROTOTYPE || r == -ECONNREFUSED, "send_to a listener: %d", r);

    /* Taken paths. */
    struct evsrc_unix_listener second;
    ck_assert_int_eq(evsrc_unix_listener_bind(&second, stream_path), -EADDRINUSE);
    ck_assert_int_eq(evsrc_unix_listener_bind(&second, dgram_path), -EADDRINUSE);
    struct evsrc_unix_datagram other;
    ck_assert_int_eq(evsrc_unix_datagram_bind(&other, dgram_path), -EADDRINUSE);
    ck_assert_int_eq(evsrc_unix_listener_close(&second), -EBADF);
    ck_assert_int_eq(evsrc_unix_datagram_close(&other), -EBADF);

    /* A closed listener's file refuses connections. */
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);
    ck_assert_int_eq(evsrc_unix_stream_connect(&stream, stream_path), -ECONNREFUSED);
    ck_assert_int_eq(evsrc_unix_datagram_close(&bound), 0);
    ck_assert_int_eq(evsrc_unix_datagram_send_to(&datagram, "x", 1, dgram_path), -ECONNREFUSED);
    ck_assert_int_eq(evsrc_unix_datagram_close(&datagram), 0);
}
END_TEST

START_TEST(null_structs_are_einval)
{
    char buf[4] = {0};
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct sockaddr_un addr;
    socklen_t len = sizeof addr;
    socklen_t alen = abstract_addr(&addr, "null");
    int fds[1] = {0};
    size_t nfds = 1;
    bool truncated;
    pid_t pid;
    struct evsrc_unix_stream out;
    struct evsrc_unix_datagram dout;

    ck_assert_int_eq(evsrc_unix_listener_bind(NULL, "x"), -EINVAL);
    ck_assert_int_eq(evsrc_unix_listener_bind_addr(NULL, &addr, alen), -EINVAL);
    ck_assert_int_eq(evsrc_unix_listener_accept(NULL, &out, NULL, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_close(&out), -EBADF);
    ck_assert_int_eq(evsrc_unix_listener_local_addr(NULL, &addr, &len), -EINVAL);
    ck_assert_int_eq(evsrc_unix_listener_fd(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_listener_close(NULL), -EINVAL);

    ck_assert_int_eq(evsrc_unix_stream_connect(NULL, "x"), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_connect_addr(NULL, &addr, alen), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_pair(NULL, &out), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_close(&out), -EBADF);
    ck_assert_int_eq(evsrc_unix_stream_pair(&out, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_pair(&out, &out), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_read(NULL, buf, sizeof buf), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_peek(NULL, buf, sizeof buf), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_write(NULL, buf, sizeof buf), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_readv(NULL, &iov, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_writev(NULL, &iov, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_shutdown(NULL, SHUT_RDWR), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_take_error(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_peer_cred(NULL, &pid, NULL, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_send_fds(NULL, buf, 1, fds, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(NULL, buf, 1, fds, &nfds, &truncated), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_local_addr(NULL, &addr, &len), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_peer_addr(NULL, &addr, &len), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_fd(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_close(NULL), -EINVAL);

    ck_assert_int_eq(evsrc_unix_datagram_bind(NULL, "x"), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_bind_addr(NULL, &addr, alen), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_unbound(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_pair(NULL, &dout), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_pair(&dout, &dout), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_connect(NULL, "x"), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_connect_addr(NULL, &addr, alen), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_send(NULL, buf, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_recv(NULL, buf, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_send_to(NULL, buf, 1, "x"), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_send_to_addr(NULL, buf, 1, &addr, alen), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_recv_from(NULL, buf, 1, &addr, &len), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_shutdown(NULL, SHUT_RD), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_take_error(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_local_addr(NULL, &addr, &len), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_peer_addr(NULL, &addr, &len), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_fd(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_close(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_close(&dout), -EBADF);
}
END_TEST

START_TEST(closed_structs_are_ebadf_after_argument_errors)
{
    char buf[4] = {0};
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct sockaddr_un addr;
    socklen_t len = sizeof addr;
    socklen_t alen = abstract_addr(&addr, "closed");
    int fds[1] = {STDERR_FILENO};
    size_t nfds = 1;
    bool truncated = true;
    pid_t pid;
    struct evsrc_unix_stream out;

    struct evsrc_unix_listener listener;
    ck_assert_int_eq(evsrc_unix_listener_bind(&listener, path_of("closed.sock")), 0);
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);
    ck_assert_int_eq(evsrc_unix_listener_accept(&listener, &out, NULL, NULL), -EBADF);
    ck_assert_int_eq(evsrc_unix_listener_accept(&listener, &out, &addr, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_listener_local_addr(&listener, &addr, &len), -EBADF);
    ck_assert_int_eq(evsrc_unix_listener_local_addr(&listener, NULL, &len), -EINVAL);
    ck_assert_int_eq(evsrc_unix_listener_fd(&listener), -EBADF);

    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    close_pair(&a, &b);
    ck_assert_int_eq(evsrc_unix_stream_read(&a, buf, sizeof buf), -EBADF);
    ck_assert_int_eq(evsrc_unix_stream_read(&a, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_peek(&a, buf, sizeof buf), -EBADF);
    ck_assert_int_eq(evsrc_unix_stream_write(&a, buf, sizeof buf), -EBADF);
    ck_assert_int_eq(evsrc_unix_stream_write(&a, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_readv(&a, &iov, 1), -EBADF);
    ck_assert_int_eq(evsrc_unix_stream_readv(&a, &iov, -1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_writev(&a, &iov, 1), -EBADF);
    ck_assert_int_eq(evsrc_unix_stream_writev(&a, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_shutdown(&a, SHUT_RDWR), -EBADF);
    ck_assert_int_eq(evsrc_unix_stream_shutdown(&a, 12345), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_take_error(&a), -EBADF);
    ck_assert_int_eq(evsrc_unix_stream_peer_cred(&a, &pid, NULL, NULL), -EBADF);
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, buf, 1, fds, 1), -EBADF);
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, buf, 0, fds, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&a, buf, 1, fds, &nfds, &truncated), -EBADF);
    ck_assert_uint_eq(nfds, 0);
    ck_assert(!truncated);
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&a, buf, 1, fds, NULL, &truncated), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_local_addr(&a, &addr, &len), -EBADF);
    ck_assert_int_eq(evsrc_unix_stream_peer_addr(&a, &addr, &len), -EBADF);
    ck_assert_int_eq(evsrc_unix_stream_peer_addr(&a, &addr, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_fd(&a), -EBADF);
    ck_assert_int_eq(evsrc_unix_stream_close(&a), -EBADF);

    struct evsrc_unix_datagram d;
    ck_assert_int_eq(evsrc_unix_datagram_unbound(&d), 0);
    ck_assert_int_eq(evsrc_unix_datagram_close(&d), 0);
    ck_assert_int_eq(evsrc_unix_datagram_connect(&d, path_of("nowhere")), -EBADF);
    ck_assert_int_eq(evsrc_unix_datagram_connect(&d, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_connect_addr(&d, &addr, alen), -EBADF);
    ck_assert_int_eq(evsrc_unix_datagram_connect_addr(&d, &addr, 0), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_send(&d, buf, 1), -EBADF);
    ck_assert_int_eq(evsrc_unix_datagram_send(&d, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_recv(&d, buf, 1), -EBADF);
    ck_assert_int_eq(evsrc_unix_datagram_send_to(&d, buf, 1, path_of("nowhere")), -EBADF);
    ck_assert_int_eq(evsrc_unix_datagram_send_to(&d, NULL, 1, path_of("nowhere")), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_send_to_addr(&d, buf, 1, &addr, alen), -EBADF);
    ck_assert_int_eq(evsrc_unix_datagram_recv_from(&d, buf, 1, &addr, &len), -EBADF);
    ck_assert_int_eq(evsrc_unix_datagram_recv_from(&d, buf, 1, &addr, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_shutdown(&d, SHUT_RD), -EBADF);
    ck_assert_int_eq(evsrc_unix_datagram_shutdown(&d, 99), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_take_error(&d), -EBADF);
    ck_assert_int_eq(evsrc_unix_datagram_local_addr(&d, &addr, &len), -EBADF);
    ck_assert_int_eq(evsrc_unix_datagram_peer_addr(&d, &addr, &len), -EBADF);
    ck_assert_int_eq(evsrc_unix_datagram_fd(&d), -EBADF);
}
END_TEST

START_TEST(bad_arguments_on_open_structs)
{
    struct evsrc_unix_stream a, b;
    pair(&a, &b);
    char buf[4] = {0};
    int fds[EVSRC_UNIX_MAX_FDS + 1];
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        fds[i] = STDERR_FILENO;
    size_t nfds = 1;
    bool truncated;
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, NULL, 1, fds, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, buf, 1, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, buf, 0, fds, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, buf, 1, fds, EVSRC_UNIX_MAX_FDS + 1), -EINVAL);
    int bad_fd = -1;
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, buf, 1, &bad_fd, 1), -EBADF);
    ck_assert_int_eq(evsrc_unix_stream_send_fds(&a, buf, 0, NULL, 0), 0);
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, NULL, 1, fds, &nfds, &truncated), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, buf, 0, fds, &nfds, &truncated), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, buf, 1, NULL, &nfds, &truncated), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_recv_fds(&b, buf, 1, fds, NULL, &truncated), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_read(&b, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_write(&a, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_write(&a, NULL, 0), 0);
    struct iovec iov = {.iov_base = NULL, .iov_len = 4};
    ck_assert_int_eq(evsrc_unix_stream_writev(&a, &iov, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_readv(&b, &iov, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_writev(&a, &iov, 1 << 20), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_shutdown(&a, -1), -EINVAL);
    struct sockaddr_un addr;
    socklen_t len = sizeof addr;
    ck_assert_int_eq(evsrc_unix_stream_local_addr(&a, NULL, &len), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_peer_addr(&a, &addr, NULL), -EINVAL);
    /* Nothing was sent by any of those. */
    ck_assert_int_eq(evsrc_unix_stream_read(&b, buf, sizeof buf), -EAGAIN);
    close_pair(&a, &b);

    struct evsrc_unix_listener listener;
    ck_assert_int_eq(evsrc_unix_listener_bind(&listener, path_of("args.sock")), 0);
    struct evsrc_unix_stream out;
    ck_assert_int_eq(evsrc_unix_listener_accept(&listener, NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_listener_accept(&listener, &out, &addr, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_stream_close(&out), -EBADF);
    ck_assert_int_eq(evsrc_unix_listener_local_addr(&listener, &addr, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);

    struct evsrc_unix_datagram c, d;
    ck_assert_int_eq(evsrc_unix_datagram_pair(&c, &d), 0);
    ck_assert_int_eq(evsrc_unix_datagram_recv_from(&d, buf, sizeof buf, &addr, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_send(&c, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_recv(&d, NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_shutdown(&c, 7), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_local_addr(&c, &addr, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_unix_datagram_peer_addr(&c, NULL, &len), -EINVAL);
    len = sizeof addr;
    ck_assert_int_eq(evsrc_unix_datagram_peer_addr(&c, &addr, &len), 0);
    ck_assert(is_unnamed(&addr, len));
    ck_assert_int_eq(evsrc_unix_datagram_shutdown(&c, SHUT_WR), 0);
    ssize_t n = evsrc_unix_datagram_send(&c, "x", 1);
    ck_assert_int_eq(n, -EPIPE);
    close_datagrams(&c, &d);
}
END_TEST

START_TEST(failed_constructors_leak_nothing_when_out_of_fds)
{
    const char *path = path_of("limit.sock");
    struct evsrc_unix_listener listener;
    ck_assert_int_eq(evsrc_unix_listener_bind(&listener, path), 0);
    struct evsrc_unix_stream s, t;
    struct evsrc_unix_datagram d, e;
    struct rlimit old = testutil_exhaust_fds();
    int connected = evsrc_unix_stream_connect(&s, path);
    int unbound = evsrc_unix_datagram_unbound(&d);
    int stream_pair = evsrc_unix_stream_pair(&s, &t);
    int datagram_pair = evsrc_unix_datagram_pair(&d, &e);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_eq(connected, -EMFILE);
    ck_assert_int_eq(unbound, -EMFILE);
    /* Valgrind does not hold socketpair(2) to the limit it shows us; the kernel does. */
    if (UNDER_VALGRIND() && stream_pair == 0)
        close_pair(&s, &t);
    else
        ck_assert_int_eq(stream_pair, -EMFILE);
    if (UNDER_VALGRIND() && datagram_pair == 0)
        close_datagrams(&d, &e);
    else
        ck_assert_int_eq(datagram_pair, -EMFILE);
    ck_assert_int_eq(evsrc_unix_stream_close(&s), -EBADF);
    ck_assert_int_eq(evsrc_unix_stream_close(&t), -EBADF);
    ck_assert_int_eq(evsrc_unix_datagram_close(&d), -EBADF);
    ck_assert_int_eq(evsrc_unix_datagram_close(&e), -EBADF);
    ck_assert_int_eq(evsrc_unix_listener_close(&listener), 0);
}
END_TEST

/* ---- Running --------------------------------------------------------------- */

static TCase *add_tcase(Suite *suite, const char *name)
{
    TCase *tc = testutil_add_tcase(suite, name);
    tcase_add_checked_fixture(tc, empty_scratch, NULL);
    return tc;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/evsrc-unix.XXXXXX", tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    if (!mkdtemp(scratch)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }

    Suite *suite = suite_create("unix");
    TCase *readiness = add_tcase(suite, "readiness");
    tcase_add_test(readiness, every_fd_is_nonblocking_and_cloexec);
    tcase_add_test(readiness, stream_readable_is_edge_triggered);
    tcase_add_test(readiness, datagram_readable_is_edge_triggered);
    tcase_add_test(readiness, writable_at_registration);
    tcase_add_test(readiness, short_write_is_enough_to_wait_for_writable);
    tcase_add_test(readiness, datagram_while_writable_only_comes_after_reregister);
    tcase_add_test(readiness, stream_data_while_writable_only_comes_after_reregister);
    tcase_add_test(readiness, deregistered_sources_report_nothing);
    tcase_add_test(readiness, reregister_changes_token_and_interest);
    tcase_add_test(readiness, peer_close_is_read_closed_and_eof);
    tcase_add_test(readiness, peer_shutdown_write_is_read_closed);
    tcase_add_test(readiness, write_to_gone_peer_is_epipe_without_signal);
    tcase_add_test(readiness, full_buffer_is_eagain_then_writable);

    TCase *passing = add_tcase(suite, "fd passing and credentials");
    tcase_add_test(passing, passed_pipe_end_works);
    tcase_add_test(passing, fds_that_do_not_fit_are_closed);
    tcase_add_test(passing, the_most_fds_arrive_with_credentials_beside_them);
    tcase_add_test(passing, fds_of_two_sends_do_not_mix);
    tcase_add_test(passing, the_pidfd_of_so_passpidfd_is_closed_not_leaked);
    tcase_add_test(passing, a_read_joins_earlier_bytes_to_a_send_with_fds_and_ends_with_it);
    tcase_add_test(passing, peer_cred_is_our_own);

    TCase *addresses = add_tcase(suite, "addresses");
    tcase_add_test(addresses, listener_accepts_and_addresses_match);
    tcase_add_test(addresses, accepted_peer_is_the_clients_bound_address);
    tcase_add_test(addresses, close_leaves_the_socket_file);
    tcase_add_test(addresses, closing_listener_drops_pending_connections);
    tcase_add_test(addresses, abstract_names);
    tcase_add_test(addresses, unbound_datagram_senders);
    tcase_add_test(addresses, valid_edge_arguments);
    tcase_add_test(addresses, peek_readv_writev);

    TCase *ownership = add_tcase(suite, "ownership");
    tcase_add_test(ownership, close_twice_is_ebadf_and_spares_other_fds);
    tcase_add_test(ownership, structs_need_no_zeroing);
    tcase_add_test(ownership, from_fd_checks_the_kind);

    TCase *bad_input = add_tcase(suite, "bad input");
    tcase_add_test(bad_input, paths_and_addresses_are_checked);
    tcase_add_test(bad_input, missing_and_taken_addresses);
    tcase_add_test(bad_input, null_structs_are_einval);
    tcase_add_test(bad_input, closed_structs_are_ebadf_after_argument_errors);
    tcase_add_test(bad_input, bad_arguments_on_open_structs);
    tcase_add_test(bad_input, failed_constructors_leak_nothing_when_out_of_fds);

    int status = testutil_run(suite);
    empty_scratch();
    rmdir(scratch);
    return status;
}
