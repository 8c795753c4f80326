/* SPDX-License-Identifier: MIT */
/* Windows test builds only: if_nametoindex and friends are the IP helper API's. */
#include "../../../src/platform/windows/posix.h"
#include <iphlpapi.h>
#include <netioapi.h>
