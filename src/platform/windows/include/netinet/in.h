/* SPDX-License-Identifier: MIT */
/* Windows builds only: <netinet/in.h> is Winsock and evsrc's replacements (src/platform/windows/posix.h). */
#include "../../posix.h"
