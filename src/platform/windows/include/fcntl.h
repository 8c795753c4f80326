/* SPDX-License-Identifier: MIT */
/* Windows builds only: mingw's own <fcntl.h>, then evsrc's socket replacements (posix.h). */
/* include_next is GCC's (and clang's): a system header may use it under -Wpedantic. */
#pragma GCC system_header
#include_next <fcntl.h>
#include "../posix.h"
