/* SPDX-License-Identifier: MIT */
/*
 * Windows test builds only: after the library's replacement <unistd.h>
 * (whose include_next finds this one), what only tests use: a thread id, and
 * readlink, which has nothing to read without /proc (ENOSYS).
 */
#pragma GCC system_header
#include_next <unistd.h>
#ifndef EVSRC_TESTS_WINDOWS_UNISTD_H
#define EVSRC_TESTS_WINDOWS_UNISTD_H
#include <errno.h>
#include <winsock2.h> /* before <windows.h>, as Winsock asks */
#include <windows.h>
static inline int gettid(void)
{
    return (int)GetCurrentThreadId();
}
static inline ssize_t readlink(const char *path, char *buf, size_t size)
{
    (void)path;
    (void)buf;
    (void)size;
    errno = ENOSYS;
    return -1;
}
#endif
