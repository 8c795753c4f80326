/* SPDX-License-Identifier: MIT */
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

int main(void)
{
    Suite *suite = suite_create("version");
    TCase *tc = tcase_create("version");
    tcase_add_test(tc, header_and_library_versions_agree);
    suite_add_tcase(suite, tc);
    return testutil_run(suite);
}
