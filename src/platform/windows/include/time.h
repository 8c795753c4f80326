/* SPDX-License-Identifier: MIT */
/* Windows builds only: mingw's <time.h> and its POSIX clocks, plus Linux's CLOCK_BOOTTIME name (never supported here). */
/* include_next is GCC's (and clang's): a system header may use it under -Wpedantic. */
#pragma GCC system_header
#include_next <time.h>
#include <pthread_time.h>
#ifndef CLOCK_BOOTTIME
#define CLOCK_BOOTTIME 7
#endif
