/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_BENCH_COMMON_H
#define EVSRC_BENCH_COMMON_H

/*
 * What every benchmark program shares.
 *
 * A program is one driver (chain.c, pingpong.c, idle.c, churn.c), which
 * builds the fds and parses the parameters, linked with one implementation
 * (impl_<name>.c), which registers the fds with its event library and runs
 * the dispatch loop. chain, pingpong and idle are all a token ring: nodes
 * that each read a one-byte token from one fd and pass it on through
 * another. Every implementation handles a readable event by calling
 * ring_on_readable(), so the work per event outside the event library is the
 * same code in every program.
 *
 * Output: one line per run,
 *   impl=<name> bench=<name> mode=<edge|level> <params> clock=<wall|cpu> events=<n> seconds=<s> ns_per_event=<x>
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

/* Trigger mode of the registrations. */
enum bench_mode {
    BENCH_EDGE,
    BENCH_LEVEL,
};

/* Events one wait may return, for the implementations that choose it (evsrc, epoll). */
#define BENCH_EVENTS_CAPACITY 1024

/*
 * Fds kept free for stdio, the queue itself and whatever the libraries open
 * for their own use (libuv opens a few pipes): sizes are scaled down to what
 * RLIMIT_NOFILE leaves after these, the same for every implementation.
 */
#define BENCH_FD_RESERVE 64

/* One link of the ring: the token arrives on read_fd and leaves through write_fd. */
struct ring_node {
    int read_fd;
    int write_fd;
};

struct ring {
    struct ring_node *nodes; /* registered for readable events under tokens 0..n-1 */
    size_t n;
    const int *idle_fds; /* registered for readable events under tokens n.., never ready */
    size_t idle;
    enum bench_mode mode;
    uint64_t writes_left; /* tokens still to be passed on */
    uint64_t count;       /* tokens received: the events handled */
    uint64_t total;       /* the count at which dispatch ends */
};

/* Prints "<what>: <strerror(err)>" and exits with status 1. */
_Noreturn void bench_die(const char *what, int err);

/*
 * The work of one readable event on node `index`: read the token and, while
 * writes are left, pass it on. Tokens that are not a ring node's (idle fds)
 * are ignored. In edge mode one read is enough: a node never holds more
 * than one token that no pending event announces (see chain.c).
 */
static inline void ring_on_readable(struct ring *ring, uint64_t index)
{
    if (index >= ring->n)
        return;
    const struct ring_node *node = &ring->nodes[index];
    char token;
    if (read(node->read_fd, &token, 1) != 1)
        return;
    ring->count++;
    if (ring->writes_left) {
        ring->writes_left--;
        if (write(node->write_fd, &token, 1) != 1)
            bench_die("write", 0);
    }
}

/* Whether dispatch is over. */
static inline bool ring_done(const struct ring *ring)
{
    return ring->count >= ring->total;
}

/*
 * Puts `active` tokens into the ring, spread evenly (node 0, n/active, ...),
 * and arms it for `writes` passes: dispatch then handles active + writes
 * events.
 */
void ring_prime(struct ring *ring, uint64_t active, uint64_t writes);

/* ---- What each implementation (impl_<name>.c) provides ---- */

/* The implementation's name in output lines. */
extern const char impl_name[];

/* Whether the implementation offers this trigger mode. */
bool impl_has_mode(enum bench_mode mode);

/*
 * Registers every node's read fd (token = its index) and every idle fd, and
 * lets the library apply the registrations, so that dispatch does nothing
 * but handle events. Exits on error.
 */
void impl_ring_setup(struct ring *ring);

/*
 * Runs the library's event loop until ring_done(): the timed phase. Not
 * inlined, so that callgrind can collect this function (and what it calls)
 * alone: valgrind --toggle-collect=bench_dispatch.
 */
void bench_dispatch(struct ring *ring);

/* Deregisters everything and frees the library's state (the fds stay open). */
void impl_ring_teardown(struct ring *ring);

/* Creates the library's state for churn over `fd`. */
void impl_churn_setup(int fd, enum bench_mode mode);

/* Registers and deregisters the fd `iterations` times: the timed phase. */
void bench_churn(uint64_t iterations);

/*
 * Optional (weak: only evsrc and raw epoll define them). bench_churn_fd is
 * bench_churn through evsrc's fd-level calls; bench_churn_wait adds a
 * zero-timeout wait between register and deregister. Both timed phases.
 */
void bench_churn_fd(uint64_t iterations) __attribute__((weak));
void bench_churn_wait(uint64_t iterations) __attribute__((weak));

void impl_churn_teardown(void);

/* ---- Driver helpers ---- */

/* The clock chosen with --clock (monotonic by default), in nanoseconds. */
uint64_t bench_now_ns(void);

/* Raises the soft RLIMIT_NOFILE to the hard limit and returns the new soft limit. */
uint64_t bench_raise_nofile(void);

/*
 * A command-line option: "--name value" or "--name=value". A numeric option
 * (num set) stores into *num, a string option (str set) into *str.
 */
struct bench_opt {
    const char *name;
    uint64_t *num;
    const char **str;
    const char *help;
};

/*
 * Parses argv against opts (terminated by a zero entry) and the common
 * "--mode edge|level" and "--clock wall|cpu"; prints usage and exits on
 * --help or an error.
 * Returns the mode, after exiting with status 3 (and a note on stderr) if
 * the implementation does not offer it.
 */
enum bench_mode bench_parse(int argc, char **argv, const char *bench, const struct bench_opt *opts);

/* "edge" or "level". */
const char *bench_mode_name(enum bench_mode mode);

/* Prints the output line. */
void bench_report(const char *bench, enum bench_mode mode, const char *params, uint64_t events,
                  uint64_t ns);

/* Makes fd non-blocking; exits on error. */
void bench_nonblocking(int fd);

#endif /* EVSRC_BENCH_COMMON_H */
