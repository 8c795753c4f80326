/* SPDX-License-Identifier: MIT */
/* Windows test builds only: poll(2) for the tests' setup waits is Winsock's WSAPoll, on sockets. */
#include "../../src/platform/windows/posix.h"
#define poll(fds, count, timeout) WSAPoll((fds), (count), (timeout))
