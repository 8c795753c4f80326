/* SPDX-License-Identifier: MIT */
#if !defined(_WIN32)
#include <link.h>
#endif
#include <stdio.h>
#include <string.h>

#include "testutil.h"

START_TEST(header_and_library_versions_agree)
{
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", EVSRC_VERSION_MAJOR, EVSRC_VERSION_MINOR,
             EVSRC_VERSION_PATCH);
    ck_assert_str_eq(evsrc_version(), expected);
    ck_assert_str_eq(evsrc_version(), EVSRC_VERSION_STRING);
    ck_assert_int_eq(evsrc_version_number(), EVSRC_VERSION_NUMBER);
}
END_TEST

/* From 1.0 the versions follow semver (docs/stability.md). */
START_TEST(version_is_stable)
{
    ck_assert_int_ge(EVSRC_VERSION_MAJOR, 1);
    ck_assert_int_ge(EVSRC_VERSION_NUMBER, 10000);
}
END_TEST

#if !defined(_WIN32)
/* The loaded shared library's name, as the dynamic linker found it through its soname. */
static int find_evsrc_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    const char *name = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
    name = name ? name + 1 : info->dlpi_name;
    if (name && strncmp(name, "libevsrc.so", strlen("libevsrc.so")) == 0) {
        snprintf(data, 256, "%s", name);
        return 1;
    }
    return 0;
}
#endif

/* The soname is libevsrc.so.MAJOR: it moves with the major version and with nothing else. */
START_TEST(soname_is_the_major_version)
{
#if defined(_WIN32)
    TESTUTIL_SKIP_ON_WINDOWS("a DLL has no soname (libevsrc-MAJOR.dll carries the major in its name)");
#else
    char loaded[256] = "";
    dl_iterate_phdr(find_evsrc_object, loaded);
    if (loaded[0] == '\0')
        return; /* a static build: no soname to check */
    char expected[64];
    snprintf(expected, sizeof expected, "libevsrc.so.%d", EVSRC_VERSION_MAJOR);
    ck_assert_str_eq(loaded, expected);
#endif
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("version");
    TCase *tc = tcase_create("version");
    tcase_add_test(tc, header_and_library_versions_agree);
    tcase_add_test(tc, version_is_stable);
    tcase_add_test(tc, soname_is_the_major_version);
    suite_add_tcase(suite, tc);
    return testutil_run(suite);
}
