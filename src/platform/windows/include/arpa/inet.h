/* SPDX-License-Identifier: MIT */
/* Windows builds only: <arpa/inet.h> is Winsock and evsrc's replacements (src/platform/windows/posix.h). */
#include "../../posix.h"
