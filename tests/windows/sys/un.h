/* SPDX-License-Identifier: MIT */
/* Windows test builds only: AF_UNIX's address (Windows 10's afunix.h); the tests that need Unix sockets skip. */
#include "../../../src/platform/windows/posix.h"
#include <afunix.h>
