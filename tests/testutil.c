/* SPDX-License-Identifier: MIT */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int testutil_open_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(dir);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        if (entry->d_name[0] != '.')
            count++;
    closedir(dir);
    return count - 1; /* the directory's own fd */
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool testutil_events_have(const struct evsrc_events *events, evsrc_token token)
{
    for (size_t i = 0; i < evsrc_events_len(events); i++)
        if (evsrc_event_token(evsrc_events_get(events, i)) == token)
            return true;
    return false;
}

bool testutil_wait_token(struct evsrc_poll *poll, struct evsrc_events *events, evsrc_token token,
                         uint32_t *flags)
{
    long long deadline = now_ms() + TESTUTIL_EVENT_DEADLINE_MS;
    while (now_ms() < deadline) {
        struct timespec timeout = {0, 100 * 1000000L};
        int n = evsrc_poll_wait(poll, events, &timeout);
        if (n == -EINTR)
            continue;
        ck_assert_int_ge(n, 0);
        uint32_t seen = 0;
        bool found = false;
        for (size_t i = 0; i < (size_t)n; i++) {
            const struct evsrc_event *event = evsrc_events_get(events, i);
            if (evsrc_event_token(event) == token) {
                found = true;
                seen |= evsrc_event_raw_flags(event);
            }
        }
        if (found) {
            if (flags)
                *flags = seen;
            return true;
        }
    }
    return false;
}

int testutil_wait_ms(struct evsrc_poll *poll, struct evsrc_events *events, long ms)
{
    struct timespec timeout = {ms / 1000, (ms % 1000) * 1000000L};
    return evsrc_poll_wait(poll, events, &timeout);
}

void testutil_pipe(int fds[2])
{
    ck_assert_int_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
}

void testutil_socketpair(int fds[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
}

int testutil_run(Suite *suite)
{
    SRunner *runner = srunner_create(suite);
    srunner_set_fork_status(runner, CK_FORK);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
