/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <limits.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evsrc/inotify.h>

#include "testutil.h"

struct temp_dir {
    char path[64];
};

static struct temp_dir temp_dir_new(void)
{
    struct temp_dir dir;
    snprintf(dir.path, sizeof dir.path, "/tmp/evsrc-test-inotify-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir.path));
    return dir;
}

static void entry_path(char *out, size_t size, const struct temp_dir *dir, const char *name)
{
    ck_assert_int_lt(snprintf(out, size, "%s/%s", dir->path, name), (int)size);
}

static void create_file(const struct temp_dir *dir, const char *name)
{
    char path[PATH_MAX];
    entry_path(path, sizeof path, dir, name);
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static void delete_file(const struct temp_dir *dir, const char *name)
{
    char path[PATH_MAX];
    entry_path(path, sizeof path, dir, name);
    ck_assert_int_eq(unlink(path), 0);
}

static void new_watching(struct evsrc_inotify *inotify, const struct temp_dir *dir, uint32_t mask, int *wd,
                         evsrc_token token)
{
    ck_assert_int_eq(evsrc_inotify_new(inotify), 0);
    *wd = evsrc_inotify_add_watch(inotify, dir->path, mask);
    ck_assert_int_ge(*wd, 1);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &inotify->source, token, EVSRC_READABLE), 0);
}

/* What one event said, copied out of the read buffer. */
struct seen {
    int wd;
    uint32_t mask;
    char name[NAME_MAX + 1];
};

/* Reads until -EAGAIN and walks every event with evsrc_inotify_next; returns how many were stored. */
static size_t read_all(struct evsrc_inotify *inotify, struct seen *out, size_t capacity)
{
    alignas(struct inotify_event) char buf[4096];
    size_t count = 0;
    ssize_t n;
    while ((n = evsrc_inotify_read(inotify, buf, sizeof buf)) > 0) {
        size_t offset = 0;
        const struct inotify_event *event;
        while ((event = evsrc_inotify_next(buf, (size_t)n, &offset))) {
            ck_assert_uint_lt(count, capacity);
            out[count].wd = event->wd;
            out[count].mask = event->mask;
            snprintf(out[count].name, sizeof out[count].name, "%s", event->len ? event->name : "");
            count++;
        }
        ck_assert_uint_eq(offset, (size_t)n); /* the walk covered the whole read */
    }
    ck_assert_int_eq(n, -EAGAIN);
    return count;
}

START_TEST(create_and_delete_are_seen_with_names)
{
    struct temp_dir dir = temp_dir_new();
    struct evsrc_inotify inotify;
    memset(&inotify, 0xff, sizeof inotify);
    int wd;
    new_watching(&inotify, &dir, IN_CREATE | IN_DELETE, &wd, 1);
    int fd = evsrc_inotify_fd(&inotify);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    testutil_expect_quiet(1);

    create_file(&dir, "alpha");
    create_file(&dir, "a-rather-longer-name-than-the-first");
    delete_file(&dir, "alpha");
    ck_assert(testutil_expect_event(1) & EVSRC_EVENT_FLAG_IN);
    struct seen seen[8];
    size_t count = read_all(&inotify, seen, 8);
    ck_assert_uint_eq(count, 3);
    ck_assert_int_eq(seen[0].wd, wd);
    ck_assert_uint_eq(seen[0].mask, IN_CREATE);
    ck_assert_str_eq(seen[0].name, "alpha");
    ck_assert_uint_eq(seen[1].mask, IN_CREATE);
    ck_assert_str_eq(seen[1].name, "a-rather-longer-name-than-the-first");
    ck_assert_int_eq(seen[2].wd, wd);
    ck_assert_uint_eq(seen[2].mask, IN_DELETE);
    ck_assert_str_eq(seen[2].name, "alpha");
    testutil_expect_quiet(1);

    delete_file(&dir, "a-rather-longer-name-than-the-first");
    ck_assert(testutil_expect_event(1) & EVSRC_EVENT_FLAG_IN);
    ck_assert_uint_eq(read_all(&inotify, seen, 8), 1);
    ck_assert_uint_eq(seen[0].mask, IN_DELETE);
    ck_assert_int_eq(evsrc_inotify_close(&inotify), 0);
    ck_assert(!testutil_fd_is_open(fd));
    ck_assert_int_eq(evsrc_inotify_close(&inotify), -EBADF);
    ck_assert_int_eq(rmdir(dir.path), 0);
}
END_TEST

START_TEST(rm_watch_ends_the_events)
{
    struct temp_dir dir = temp_dir_new();
    struct evsrc_inotify inotify;
    int wd;
    new_watching(&inotify, &dir, IN_CREATE, &wd, 2);
    ck_assert_int_eq(evsrc_inotify_rm_watch(&inotify, wd), 0);
    /* The kernel says the watch is gone... */
    ck_assert(testutil_expect_event(2) & EVSRC_EVENT_FLAG_IN);
    struct seen seen[4];
    ck_assert_uint_eq(read_all(&inotify, seen, 4), 1);
    ck_assert_int_eq(seen[0].wd, wd);
    ck_assert(seen[0].mask & IN_IGNORED);
    /* ...and nothing more comes from it. */
    create_file(&dir, "beta");
    testutil_expect_quiet(2);
    ck_assert_uint_eq(read_all(&inotify, seen, 4), 0);
    ck_assert_int_eq(evsrc_inotify_rm_watch(&inotify, wd), -EINVAL);
    delete_file(&dir, "beta");
    ck_assert_int_eq(evsrc_inotify_close(&inotify), 0);
    ck_assert_int_eq(rmdir(dir.path), 0);
}
END_TEST

START_TEST(a_buffer_too_small_for_one_event_is_einval)
{
    struct temp_dir dir = temp_dir_new();
    struct evsrc_inotify inotify;
    int wd;
    new_watching(&inotify, &dir, IN_CREATE, &wd, 3);
    create_file(&dir, "gamma");
    ck_assert(testutil_expect_event(3) & EVSRC_EVENT_FLAG_IN);
    alignas(struct inotify_event) char small[sizeof(struct inotify_event)];
    /* The event carries a name, so its header alone does not fit it; nothing is taken. */
    ck_assert_int_eq(evsrc_inotify_read(&inotify, small, sizeof small), -EINVAL);
    ck_assert_int_eq(evsrc_inotify_read(&inotify, small, 1), -EINVAL);
    struct seen seen[2];
    ck_assert_uint_eq(read_all(&inotify, seen, 2), 1);
    ck_assert_str_eq(seen[0].name, "gamma");
    delete_file(&dir, "gamma");
    ck_assert_int_eq(evsrc_inotify_close(&inotify), 0);
    ck_assert_int_eq(rmdir(dir.path), 0);
}
END_TEST

START_TEST(a_missing_path_is_enoent)
{
    struct evsrc_inotify inotify;
    ck_assert_int_eq(evsrc_inotify_new(&inotify), 0);
    ck_assert_int_eq(evsrc_inotify_add_watch(&inotify, "/nonexistent/evsrc-test", IN_CREATE), -ENOENT);
    ck_assert_int_eq(evsrc_inotify_add_watch(&inotify, "/etc/passwd", IN_MODIFY | IN_ONLYDIR), -ENOTDIR);
    ck_assert_int_eq(evsrc_inotify_close(&inotify), 0);
}
END_TEST

START_TEST(next_walks_only_whole_aligned_events)
{
    alignas(struct inotify_event) char buf[3 * sizeof(struct inotify_event) + 32];
    memset(buf, 0, sizeof buf);
    struct inotify_event first = {.wd = 1, .mask = IN_CREATE, .len = 16};
    struct inotify_event second = {.wd = 2, .mask = IN_DELETE, .len = 0};
    memcpy(buf, &first, sizeof first);
    memcpy(buf + sizeof first, "name", 5);
    memcpy(buf + sizeof first + 16, &second, sizeof second);
    size_t len = 2 * sizeof first + 16;

    size_t offset = 0;
    const struct inotify_event *event = evsrc_inotify_next(buf, len, &offset);
    ck_assert_ptr_nonnull(event);
    ck_assert_int_eq(event->wd, 1);
    ck_assert_str_eq(event->name, "name");
    ck_assert_uint_eq(offset, sizeof first + 16);
    event = evsrc_inotify_next(buf, len, &offset);
    ck_assert_ptr_nonnull(event);
    ck_assert_int_eq(event->wd, 2);
    ck_assert_uint_eq(offset, len);
    ck_assert_ptr_null(evsrc_inotify_next(buf, len, &offset));
    ck_assert_uint_eq(offset, len);

    /* Malformed: a cut header, a name running past the end, a name without its NUL, misalignment. */
    offset = 0;
    ck_assert_ptr_null(evsrc_inotify_next(buf, sizeof first - 1, &offset));
    ck_assert_ptr_null(evsrc_inotify_next(buf, sizeof first + 15, &offset));
    ck_assert_uint_eq(offset, 0);
    memset(buf + sizeof first, 'x', 16);
    ck_assert_ptr_null(evsrc_inotify_next(buf, len, &offset));
    offset = 1;
    ck_assert_ptr_null(evsrc_inotify_next(buf, len, &offset));
    ck_assert_uint_eq(offset, 1);
    offset = len + 10;
    ck_assert_ptr_null(evsrc_inotify_next(buf, len, &offset));
    ck_assert_ptr_null(evsrc_inotify_next(NULL, len, &offset));
    ck_assert_ptr_null(evsrc_inotify_next(buf, len, NULL));
}
END_TEST

START_TEST(bad_input_is_einval_and_closed_is_ebadf)
{
    struct evsrc_inotify inotify;
    char buf[256];
    ck_assert_int_eq(evsrc_inotify_new(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_inotify_new(&inotify), 0);
    ck_assert_int_eq(evsrc_inotify_add_watch(NULL, "/tmp", IN_CREATE), -EINVAL);
    ck_assert_int_eq(evsrc_inotify_add_watch(&inotify, NULL, IN_CREATE), -EINVAL);
    ck_assert_int_eq(evsrc_inotify_add_watch(&inotify, "/tmp", 0), -EINVAL);
    ck_assert_int_eq(evsrc_inotify_add_watch(&inotify, "/tmp", IN_ONLYDIR), -EINVAL);
    ck_assert_int_eq(evsrc_inotify_rm_watch(NULL, 1), -EINVAL);
    ck_assert_int_eq(evsrc_inotify_rm_watch(&inotify, 0), -EINVAL);
    ck_assert_int_eq(evsrc_inotify_rm_watch(&inotify, 12345), -EINVAL);
    ck_assert_int_eq(evsrc_inotify_read(NULL, buf, sizeof buf), -EINVAL);
    ck_assert_int_eq(evsrc_inotify_read(&inotify, NULL, sizeof buf), -EINVAL);
    ck_assert_int_eq(evsrc_inotify_read(&inotify, buf, 0), -EINVAL);
    ck_assert_int_eq(evsrc_inotify_read(&inotify, buf, sizeof buf), -EAGAIN);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &inotify.source, 4, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_inotify_close(&inotify), 0);

    ck_assert_int_eq(evsrc_inotify_add_watch(&inotify, "/tmp", IN_CREATE), -EBADF);
    ck_assert_int_eq(evsrc_inotify_add_watch(&inotify, "/tmp", 0), -EINVAL);
    ck_assert_int_eq(evsrc_inotify_rm_watch(&inotify, 1), -EBADF);
    ck_assert_int_eq(evsrc_inotify_read(&inotify, buf, sizeof buf), -EBADF);
    ck_assert_int_eq(evsrc_inotify_fd(&inotify), -EBADF);
    ck_assert_int_eq(evsrc_inotify_fd(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_inotify_close(&inotify), -EBADF);
    ck_assert_int_eq(evsrc_inotify_close(NULL), -EINVAL);
    /* Closing cleared the registration record. */
    ck_assert_int_eq(evsrc_inotify_new(&inotify), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &inotify.source, 5, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_inotify_close(&inotify), 0);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("inotify");
    TCase *tc = testutil_add_tcase(suite, "inotify");
    tcase_add_test(tc, create_and_delete_are_seen_with_names);
    tcase_add_test(tc, rm_watch_ends_the_events);
    tcase_add_test(tc, a_buffer_too_small_for_one_event_is_einval);
    tcase_add_test(tc, a_missing_path_is_enoent);
    tcase_add_test(tc, next_walks_only_whole_aligned_events);
    tcase_add_test(tc, bad_input_is_einval_and_closed_is_ebadf);
    return testutil_run(suite);
}
