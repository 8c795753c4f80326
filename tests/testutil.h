/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_TESTUTIL_H
#define EVSRC_TESTUTIL_H

/* Helpers shared by the suites: bounded waits, fd counting, the suite runner. */

#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <evsrc/evsrc.h>

/* How long a test waits for an event that must come: generous, for loaded machines. */
#define TESTUTIL_EVENT_DEADLINE_MS 10000
/* How long a test waits to be confident an event that must not come did not. */
#define TESTUTIL_QUIET_MS 100

/* The number of fds open in this process. */
int testutil_open_fds(void);

/*
 * Waits (up to the deadline) until an event with `token` arrives, with zero
 * or more unrelated events ignored. Returns true and stores the OR of the
 * flags of that token's events in the same wait in *flags (if not NULL).
 */
bool testutil_wait_token(struct evsrc_poll *poll, struct evsrc_events *events, evsrc_token token,
                         uint32_t *flags);

/* Waits `ms` milliseconds for events and returns how many arrived (-errno on error). */
int testutil_wait_ms(struct evsrc_poll *poll, struct evsrc_events *events, long ms);

/* Whether the last wait into `events` holds an event with `token`. */
bool testutil_events_have(const struct evsrc_events *events, evsrc_token token);

/* A nonblocking pipe (fds[0] read end, fds[1] write end); fails the test on error. */
void testutil_pipe(int fds[2]);
/* A nonblocking, close-on-exec stream socketpair; fails the test on error. */
void testutil_socketpair(int fds[2]);

/* Runs a suite in fork mode and returns the process exit status. */
int testutil_run(Suite *suite);

#endif /* EVSRC_TESTUTIL_H */
