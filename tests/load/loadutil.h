/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_LOADUTIL_H
#define EVSRC_LOADUTIL_H

/*
 * Helpers shared by the load programs (load.c, churn.c), testutil and the
 * fault suite. None needs libcheck: errors come back as -errno. They are
 * static inline so that every program including this header has them
 * without linking anything more (the suites link only testutil).
 */

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <evsrc/evsrc.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#endif
#endif
#ifndef UNDER_VALGRIND
#define UNDER_VALGRIND() false
#endif

/* ---- Time ----------------------------------------------------------------- */

/* Seconds on the monotonic clock. */
static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps `us` microseconds, signals or not. */
static inline void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---- A seeded PRNG, and the byte streams checked against it -------------- */

/* splitmix64's output function. */
static inline uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

/* splitmix64: small and seeded, good enough to vary sizes, timings and bytes. */
static inline uint64_t rng_next(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15u;
    return mix64(*state);
}

/* A number below `bound` (0 if bound is 0). */
static inline uint64_t rng_below(uint64_t *state, uint64_t bound)
{
    return bound ? rng_next(state) % bound : 0;
}

/* A length between 1 and max, log-uniform: each power of two is as likely as the next. */
static inline size_t pick_length(uint64_t *rng, size_t max)
{
    unsigned bits = 0;
    while (bits < 63 && ((size_t)2 << bits) <= max)
        bits++;
    size_t low = (size_t)1 << rng_below(rng, bits + 1);
    size_t len = low + (size_t)rng_below(rng, low);
    return len > max ? max : len;
}

/*
 * The bytes [offset, offset + len) of the stream with key `key`: a lost,
 * repeated, reordered or misrouted byte shows. Streams whose keys are closer
 * than their length in 8-byte words share words: use random keys, or keys
 * far apart.
 */
static inline void pattern_fill(uint64_t key, uint64_t offset, unsigned char *buf, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint64_t at = offset + i;
        uint64_t word = mix64(key + (at >> 3));
        for (unsigned byte = (unsigned)(at & 7); byte < 8 && i < len; byte++)
            buf[i++] = (unsigned char)(word >> (byte * 8));
    }
}

/* The index of the first byte of buf that is not the stream's at `offset`, or len if all are. */
static inline size_t pattern_mismatch(uint64_t key, uint64_t offset, const unsigned char *buf, size_t len)
{
    unsigned char expect[512];
    for (size_t done = 0; done < len;) {
        size_t n = len - done < sizeof expect ? len - done : sizeof expect;
        pattern_fill(key, offset + done, expect, n);
        for (size_t i = 0; i < n; i++)
            if (buf[done + i] != expect[i])
                return done + i;
        done += n;
    }
    return len;
}

/* ---- fds and sockets ------------------------------------------------------ */

/* The number of fds open in this process, or -1 if /proc cannot tell. */
static inline int open_fd_count(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        if (entry->d_name[0] != '.')
            count++;
    closedir(dir);
    return count - 1; /* the directory's own fd */
}

/*
 * Binds `listener` to 127.0.0.1 on a port the kernel picks and, if `addr` is
 * not NULL, stores that address there. 0, or -errno with the listener closed.
 */
static inline int listen_loopback(struct evsrc_tcp_listener *listener, struct sockaddr_in *addr)
{
    struct sockaddr_in any;
    memset(&any, 0, sizeof any);
    any.sin_family = AF_INET;
    any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = evsrc_tcp_listener_bind(listener, (const struct sockaddr *)&any, sizeof any);
    if (r < 0 || !addr)
        return r;
    struct sockaddr_storage bound;
    socklen_t len = sizeof bound;
    r = evsrc_tcp_listener_local_addr(listener, &bound, &len);
    if (r == 0 && len != sizeof *addr)
        r = -EAFNOSUPPORT;
    if (r < 0) {
        evsrc_tcp_listener_close(listener);
        return r;
    }
    memcpy(addr, &bound, sizeof *addr);
    return 0;
}

/*
 * Where a nonblocking connect stands, once its stream reported an event: 1
 * connected, 0 still connecting (a spurious event), or -errno (the connect
 * failed, or asking for the peer did).
 */
static inline int connect_result(struct evsrc_tcp_stream *stream)
{
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    int r = evsrc_tcp_stream_peer_addr(stream, &peer, &len);
    if (r == -ENOTCONN)
        return evsrc_tcp_stream_take_error(stream);
    return r < 0 ? r : 1;
}

/* Makes closing `stream` send a reset (SO_LINGER {1, 0}) instead of a FIN. 0 or -errno. */
static inline int set_linger_zero(struct evsrc_tcp_stream *stream)
{
    struct linger linger = {.l_onoff = 1, .l_linger = 0};
    int fd = evsrc_tcp_stream_fd(stream);
    if (fd < 0)
        return fd;
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger) == 0 ? 0 : -errno;
}

#endif /* EVSRC_LOADUTIL_H */
