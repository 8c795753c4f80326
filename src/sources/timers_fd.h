/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_TIMERS_FD_H
#define EVSRC_TIMERS_FD_H

/*
 * What the timer queue (timers.c) needs of the platform's kernel timers: a
 * timerfd on Linux (timers_fd_linux.c), for the clocks a wait cannot follow
 * and for evsrc_timers_fd(). A platform without one has only the
 * CLOCK_MONOTONIC queues that the poll's deadlines drive.
 */

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Whether a queue may run on `clock`. */
bool timers_clock_is_supported(clockid_t clock);
/* Whether a queue on `clock` needs a kernel timer: the wait follows only CLOCK_MONOTONIC. */
bool timers_clock_needs_fd(clockid_t clock);
/* A new non-blocking, close-on-exec timer fd on `clock`, or -errno (-EOPNOTSUPP where there is none). */
int timers_fd_open(clockid_t clock);
/*
 * Arms fd to expire at `at` ns on its clock (INT64_MAX: disarms it), and
 * tells a backend that keeps edges in user space that a new edge may come.
 */
int timers_fd_arm(int fd, int64_t at);
/* Closes it, out of every queue it is in. */
void timers_fd_close(int fd);
/* The calling thread's timer slack in ns, at most 1 ms: what a timer fd is armed late by. */
int64_t timers_fd_slack(void);

#endif /* EVSRC_TIMERS_FD_H */
