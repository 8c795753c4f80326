/* SPDX-License-Identifier: MIT */
#include <evsrc/version.h>

EVSRC_EXPORT const char *evsrc_version(void)
{
    return EVSRC_VERSION_STRING;
}

EVSRC_EXPORT int evsrc_version_number(void)
{
    return EVSRC_VERSION_NUMBER;
}
