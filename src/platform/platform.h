/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_PLATFORM_INTERNAL_H
#define EVSRC_PLATFORM_INTERNAL_H

/*
 * The one internal place where an evsrc_fd (include/evsrc/platform.h) meets
 * the `int` the built-in sources pass around. On POSIX they are the same
 * type. On Windows a SOCKET is a handle, and Windows handles have 32
 * significant bits (so that 32- and 64-bit processes can share them) with
 * values far below INT_MAX, so the sources carry a socket as a non-negative
 * int and give -errno the negative range, as on POSIX. The Winsock calls
 * behind the POSIX names the sources use are src/platform/windows/.
 */

#include <limits.h>
#include <stdbool.h>

#include <evsrc/platform.h>

/*
 * Whether the platform has fork(): queue.c's fork handling (atfork handlers
 * that poison inherited queues) exists only where it does.
 */
#if defined(_WIN32)
#define PLATFORM_HAS_FORK 0
#else
#define PLATFORM_HAS_FORK 1
#endif

/* Batches of datagrams per system call (sendmmsg): Linux's, not Winsock's. */
#if defined(_WIN32)
#define PLATFORM_HAS_SENDMMSG 0
#else
#define PLATFORM_HAS_SENDMMSG 1
#endif

#if defined(_WIN32)
#define PLATFORM_FD_CLOSED INVALID_SOCKET
static inline bool platform_fd_is_open(evsrc_fd fd)
{
    return fd != INVALID_SOCKET && fd <= (evsrc_fd)INT_MAX;
}
#else
#define PLATFORM_FD_CLOSED (-1)
static inline bool platform_fd_is_open(evsrc_fd fd)
{
    return fd >= 0;
}
#endif

#endif /* EVSRC_PLATFORM_INTERNAL_H */
