/* SPDX-License-Identifier: MIT */
/*
 * Windows test builds only: Windows has no fd limit to lower, so the tests
 * that exhaust fds skip there; this declares what testutil.h names.
 */
#ifndef EVSRC_TESTS_WINDOWS_SYS_RESOURCE_H
#define EVSRC_TESTS_WINDOWS_SYS_RESOURCE_H
#include <errno.h>
typedef unsigned long rlim_t;
struct rlimit {
    rlim_t rlim_cur, rlim_max;
};
#define RLIMIT_NOFILE 7
static inline int getrlimit(int resource, struct rlimit *limit)
{
    (void)resource;
    (void)limit;
    errno = ENOSYS;
    return -1;
}
static inline int setrlimit(int resource, const struct rlimit *limit)
{
    (void)resource;
    (void)limit;
    errno = ENOSYS;
    return -1;
}
#endif
