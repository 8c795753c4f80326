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
/* No POSIX signal actions on Windows: sigaction fails (ENOSYS), and the tests using it skip. */
#ifndef SIGUSR1
#include <errno.h>
#define SIGUSR1 10
typedef int sigset_t;
struct sigaction {
    void (*sa_handler)(int);
    sigset_t sa_mask;
    int sa_flags;
};
static inline int sigemptyset(sigset_t *set)
{
    *set = 0;
    return 0;
}
static inline int sigaction(int number, const struct sigaction *action, struct sigaction *old)
{
    (void)number;
    (void)action;
    (void)old;
    errno = ENOSYS;
    return -1;
}
#endif
