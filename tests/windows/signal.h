/* SPDX-License-Identifier: MIT */
/*
 * Windows test builds only: the C runtime's <signal.h>, and SIGPIPE, which
 * Windows never raises (a write to a gone peer is always an error there),
 * so a test that sets its action gets SIG_DFL back and goes on.
 */
#pragma GCC system_header
#include_next <signal.h>
#ifndef SIGPIPE
#define SIGPIPE 13
static inline void (*testutil_windows_signal(int number, void (*handler)(int)))(int)
{
    return number == SIGPIPE ? SIG_DFL : signal(number, handler);
}
#define signal testutil_windows_signal
#endif
