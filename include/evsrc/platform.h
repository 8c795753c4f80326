/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_PLATFORM_H
#define EVSRC_PLATFORM_H

/*
 * What a registrable handle is on each platform. On POSIX systems an
 * evsrc_fd is an `int` file descriptor, so every fd-level call keeps the
 * signature and ABI it has always had. On Windows it is a Winsock `SOCKET`:
 * the Windows backend polls sockets only (docs/backends.md), and the closed
 * value of a built-in source's private handle is INVALID_SOCKET there, -1
 * elsewhere.
 *
 * On Windows this header also declares `struct iovec`, which Windows lacks,
 * with POSIX's two members, for evsrc_tcp_stream_readv() and _writev(): a
 * program writes the same vector code on both platforms, and the library
 * hands the buffers to Winsock as WSABUFs. Define EVSRC_HAVE_STRUCT_IOVEC
 * before including an evsrc header if another library already declared it
 * with those members.
 *
 * Nothing here allocates or is stateful; it is types only.
 */

#if defined(_WIN32)
#include <stddef.h>
#include <winsock2.h>
typedef SOCKET evsrc_fd;
#if !defined(EVSRC_HAVE_STRUCT_IOVEC)
#define EVSRC_HAVE_STRUCT_IOVEC 1
struct iovec {
    void *iov_base; /* the buffer */
    size_t iov_len; /* its length in bytes */
};
#endif
#else
typedef int evsrc_fd;
#endif

#endif /* EVSRC_PLATFORM_H */
