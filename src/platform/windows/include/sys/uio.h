/* SPDX-License-Identifier: MIT */
/* Windows builds only: <sys/uio.h> is Winsock and evsrc's replacements (src/platform/windows/posix.h). */
#include "../../posix.h"
