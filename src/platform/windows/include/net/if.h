/* SPDX-License-Identifier: MIT */
/*
 * Windows builds only: <net/if.h> for the address parser (src/sources/address.c).
 * if_nametoindex is the IP Helper's. Windows names interfaces with up to 256
 * characters, which a Linux-sized IF_NAMESIZE buffer cannot take, so the
 * formatter gets no name from if_indextoname here and writes the scope as a
 * number (which the parser reads back); names still parse.
 */
#ifndef EVSRC_PLATFORM_WINDOWS_NET_IF_H
#define EVSRC_PLATFORM_WINDOWS_NET_IF_H

#include "../../posix.h"

#include <iphlpapi.h>

/* Linux's size: names up to 15 characters parse (Windows' own IF_NAMESIZE is far larger). */
#undef IF_NAMESIZE
#define IF_NAMESIZE 16

static inline char *platform_if_indextoname(unsigned index, char *name)
{
    (void)index;
    (void)name;
    return NULL;
}
#define if_indextoname platform_if_indextoname

#endif /* EVSRC_PLATFORM_WINDOWS_NET_IF_H */
