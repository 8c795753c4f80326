/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <evsrc/process.h>

#include "testutil.h"

#ifdef TEST_PIDFD_SPAWN_SHIM
/*
 * This build of the suite exports its own pidfd_spawn and pidfd_getpid, the
 * glibc 2.39 calls the library looks up at run time, so that the path taken
 * where they exist is tested on a C library that lacks them. The stand-ins
 * behave as glibc's do for what the library relies on: a program that cannot
 * run is an error with its child reaped; otherwise the child runs, unreaped,
 * and the pidfd is close-on-exec and blocking. Whatever goes wrong after
 * that is the library's to clean up: the stand-ins never reap a child that
 * their caller was given.
 */
#include <sys/pidfd.h>

static int shim_spawns;

/*
 * What the next pidfd_spawn does besides: SHIM_REAPED, a reaper elsewhere
 * (waitpid(-1) on another thread, played here) takes the child before
 * pidfd_spawn returns, so pidfd_getpid finds no pid; SHIM_NO_PID,
 * pidfd_getpid fails with ENOENT as it does where /proc is not mounted, the
 * child alive; SHIM_O_PATH, the "pidfd" handed out is an O_PATH fd, on which
 * F_SETFL fails (EBADF), standing for a pidfd that cannot be made
 * non-blocking, while the child runs on. The real pidfd and pid stay here
 * (shim_pidfd, shim_pid), for the test to see what became of the child.
 */
static enum { SHIM_PLAIN, SHIM_REAPED, SHIM_NO_PID, SHIM_O_PATH } shim_mode;
static int shim_pidfd = -1;
static pid_t shim_pid;

int pidfd_spawn(int *pidfd, const char *path, const posix_spawn_file_actions_t *actions,
                const posix_spawnattr_t *attr, char *const argv[], char *const envp[]);
pid_t pidfd_getpid(int pidfd);

int pidfd_spawn(int *pidfd, const char *path, const posix_spawn_file_actions_t *actions,
                const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    pid_t pid;
    int r = posix_spawn(&pid, path, actions, attr, argv, envp);
    if (r != 0)
        return r;
    int fd = pidfd_open(pid, 0);
    if (fd < 0) {
        r = errno;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return r;
    }
    shim_spawns++;
    shim_pid = pid;
    if (shim_mode == SHIM_REAPED)
        waitpid(pid, NULL, 0);
    if (shim_mode == SHIM_O_PATH) {
        shim_pidfd = fd;
        fd = open("/", O_PATH | O_CLOEXEC);
    }
    *pidfd = fd;
    return 0;
}

pid_t pidfd_getpid(int pidfd)
{
    if (shim_mode == SHIM_O_PATH)
        return shim_pid;
    if (shim_mode == SHIM_NO_PID) {
        errno = ENOENT;
        return -1;
    }
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    pid_t pid = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Pid: %d", &pid) == 1)
            break;
    fclose(f);
    if (pid <= 0)
        errno = ESRCH;
    return pid <= 0 ? -1 : pid;
}
#endif

/* Starts `sh -c script`, registered for reading under `token`. */
static void spawn_shell(struct evsrc_process *process, const char *script, evsrc_token token)
{
    char *const argv[] = {"sh", "-c", (char *)script, NULL};
    ck_assert_int_eq(evsrc_process_spawn(process, "/bin/sh", argv, NULL, NULL, NULL), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &process->source, token, EVSRC_READABLE), 0);
}

static siginfo_t wait_exit(struct evsrc_process *process, evsrc_token token)
{
    ck_assert(testutil_expect_event(token) & EVSRC_EVENT_FLAG_IN);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    ck_assert_int_eq(evsrc_process_wait(process, &info), 0);
    ck_assert_int_eq(info.si_pid, evsrc_process_pid(process));
    return info;
}

/* This test process has no child left to reap: no zombie. */
static void assert_no_children(void)
{
    errno = 0;
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
}

static void assert_reaped(struct evsrc_process *process)
{
    siginfo_t info;
    info.si_pid = 4321;
    ck_assert_int_eq(evsrc_process_wait(process, &info), -ECHILD);
    ck_assert_int_eq(info.si_pid, 4321);
}

START_TEST(exit_status_arrives_through_the_event_and_wait)
{
    struct evsrc_process process;
    memset(&process, 0xff, sizeof process);
    spawn_shell(&process, "exit 7", 1);
    int fd = evsrc_process_fd(&process);
    ck_assert_int_ge(fd, 0);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    ck_assert_int_gt(evsrc_process_pid(&process), 0);
#ifdef TEST_PIDFD_SPAWN_SHIM
    ck_assert_int_eq(shim_spawns, 1); /* the library found and used pidfd_spawn */
#endif
    siginfo_t info = wait_exit(&process, 1);
    ck_assert_int_eq(info.si_code, CLD_EXITED);
    ck_assert_int_eq(info.si_status, 7);
    assert_reaped(&process);
    assert_no_children();
    ck_assert_int_eq(evsrc_process_close(&process), 0);
    ck_assert(!testutil_fd_is_open(fd));
    ck_assert_int_eq(evsrc_process_close(&process), -EBADF);
}
END_TEST

START_TEST(kill_with_sigterm_is_cld_killed_even_with_sigterm_blocked_here)
{
    /* A daemon blocks SIGTERM for its evsrc_signal; with attr NULL its children must not inherit that. */
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &term, &old), 0);
    struct evsrc_process process;
    char *const argv[] = {"sleep", "60", NULL};
    ck_assert_int_eq(evsrc_process_spawn(&process, "/bin/sleep", argv, NULL, NULL, NULL), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &process.source, 2, EVSRC_READABLE), 0);
    siginfo_t info;
    ck_assert_int_eq(evsrc_process_wait(&process, &info), -EAGAIN);
    testutil_expect_quiet(2);
    ck_assert_int_eq(evsrc_process_kill(&process, 0), 0);
    ck_assert_int_eq(evsrc_process_kill(&process, SIGTERM), 0);
    ck_assert(testutil_expect_event(2) & EVSRC_EVENT_FLAG_IN);
    /* Exited but not yet reaped: nothing more to signal. */
    ck_assert_int_eq(evsrc_process_kill(&process, SIGTERM), -ESRCH);
    memset(&info, 0, sizeof info);
    ck_assert_int_eq(evsrc_process_wait(&process, &info), 0);
    ck_assert_int_eq(info.si_code, CLD_KILLED);
    ck_assert_int_eq(info.si_status, SIGTERM);
    ck_assert_int_eq(evsrc_process_kill(&process, SIGTERM), -ESRCH);
    assert_reaped(&process);
    assert_no_children();
    ck_assert_int_eq(evsrc_process_close(&process), 0);
    ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}
END_TEST

START_TEST(environment_and_file_actions_reach_the_child)
{
    posix_spawn_file_actions_t actions;
    ck_assert_int_eq(posix_spawn_file_actions_init(&actions), 0);
    ck_assert_int_eq(posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0), 0);
    char *const argv[] = {"sh", "-c", "echo noise; exit $CODE", NULL};
    char *const envp[] = {"CODE=9", NULL};
    struct evsrc_process process;
    ck_assert_int_eq(evsrc_process_spawn(&process, "/bin/sh", argv, envp, &actions, NULL), 0);
    ck_assert_int_eq(posix_spawn_file_actions_destroy(&actions), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &process.source, 3, EVSRC_READABLE), 0);
    siginfo_t info = wait_exit(&process, 3);
    ck_assert_int_eq(info.si_code, CLD_EXITED);
    ck_assert_int_eq(info.si_status, 9);
    ck_assert_int_eq(evsrc_process_close(&process), 0);

    /* An attr of the caller's is used as it is. */
    if (testutil_skip_under_emulator("attr step", "qemu-user runs posix_spawn's clone(CLONE_VM|CLONE_VFORK) as a fork, so the parent can look before the child's setpgid")) {
        assert_no_children();
        return;
    }
    posix_spawnattr_t attr;
    ck_assert_int_eq(posix_spawnattr_init(&attr), 0);
    ck_assert_int_eq(posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP), 0);
    char *const argv2[] = {"sh", "-c", "exit 4", NULL};
    ck_assert_int_eq(evsrc_process_spawn(&process, "/bin/sh", argv2, NULL, NULL, &attr), 0);
    ck_assert_int_eq(posix_spawnattr_destroy(&attr), 0);
    /* Unreaped, so its pid and process group are still there to look at. */
    ck_assert_int_eq(getpgid(evsrc_process_pid(&process)), evsrc_process_pid(&process));
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &process.source, 4, EVSRC_READABLE), 0);
    ck_assert_int_eq(wait_exit(&process, 4).si_status, 4);
    ck_assert_int_eq(evsrc_process_close(&process), 0);
    assert_no_children();
}
END_TEST

START_TEST(from_pid_watches_a_forked_child)
{
    int go[2];
    testutil_pipe(go);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        char byte;
        struct timespec nap = {0, 1000000};
        while (read(go[0], &byte, 1) != 1)
            nanosleep(&nap, NULL);
        _exit(5);
    }
    struct evsrc_process process;
    ck_assert_int_eq(evsrc_process_from_pid(&process, child), 0);
    ck_assert_int_eq(evsrc_process_pid(&process), child);
    int fd = evsrc_process_fd(&process);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &process.source, 5, EVSRC_READABLE), 0);
    siginfo_t info;
    ck_assert_int_eq(evsrc_process_wait(&process, &info), -EAGAIN);
    testutil_expect_quiet(5);
    ck_assert_int_eq(write(go[1], "x", 1), 1);
    info = wait_exit(&process, 5);
    ck_assert_int_eq(info.si_code, CLD_EXITED);
    ck_assert_int_eq(info.si_status, 5);
    assert_reaped(&process);
    assert_no_children();
    ck_assert_int_eq(evsrc_process_close(&process), 0);
    testutil_close_pair(go);
}
END_TEST

START_TEST(from_pid_of_a_process_not_ours_cannot_reap_it)
{
    struct evsrc_process process;
    ck_assert_int_eq(evsrc_process_from_pid(&process, getppid()), 0);
    siginfo_t info;
    ck_assert_int_eq(evsrc_process_wait(&process, &info), -ECHILD);
    ck_assert_int_eq(evsrc_process_kill(&process, 0), 0);
    ck_assert_int_eq(evsrc_process_close(&process), 0);
}
END_TEST

/*
 * Valgrind runs posix_spawn's vfork-style clone as a plain fork, so the exec
 * error of the child never reaches posix_spawn (it returns 0 and the child
 * exits with 127): a limit of the tool, not of the library.
 */
static bool under_valgrind(void)
{
    const char *preload = getenv("LD_PRELOAD");
    return preload && strstr(preload, "vgpreload");
}

START_TEST(a_program_that_cannot_run_is_an_error_with_nothing_left)
{
    if (under_valgrind())
        return;
    if (testutil_skip_under_emulator("cannot_run", "qemu-user runs posix_spawn's clone(CLONE_VM|CLONE_VFORK) as a fork, so a failed exec cannot reach the parent"))
        return;
    struct evsrc_process process;
    memset(&process, 0xff, sizeof process);
    char *const argv[] = {"missing", NULL};
    ck_assert_int_eq(evsrc_process_spawn(&process, "/nonexistent/evsrc-test-program", argv, NULL, NULL, NULL),
                     -ENOENT);
    assert_no_children();
    ck_assert_int_eq(evsrc_process_fd(&process), -EBADF);
    ck_assert_int_eq(evsrc_process_pid(&process), -EBADF);
    ck_assert_int_eq(evsrc_process_close(&process), -EBADF);

    /* A file without execute permission (even root needs one x bit to exec). */
    char path[] = "/tmp/evsrc-test-noexec-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "#!/bin/sh\nexit 0\n", 17), 17);
    close(fd);
    ck_assert_int_eq(chmod(path, 0600), 0);
    ck_assert_int_eq(evsrc_process_spawn(&process, path, argv, NULL, NULL, NULL), -EACCES);
    unlink(path);
    assert_no_children();
    ck_assert_int_eq(evsrc_process_close(&process), -EBADF);
    /* The fixture checks that no fd was left open. */
}
END_TEST

START_TEST(close_neither_kills_nor_reaps)
{
    struct evsrc_process process;
    char *const argv[] = {"sleep", "60", NULL};
    ck_assert_int_eq(evsrc_process_spawn(&process, "/bin/sleep", argv, NULL, NULL, NULL), 0);
    pid_t pid = evsrc_process_pid(&process);
    ck_assert_int_eq(evsrc_process_close(&process), 0);
    /* Still running, still ours. */
    ck_assert_int_eq(kill(pid, 0), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* An exited child is left for its owner to reap. */
    spawn_shell(&process, "exit 3", 6);
    pid = evsrc_process_pid(&process);
    ck_assert(testutil_expect_event(6) & EVSRC_EVENT_FLAG_IN);
    ck_assert_int_eq(evsrc_process_close(&process), 0);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    assert_no_children();
}
END_TEST

START_TEST(a_reaper_elsewhere_steals_the_status)
{
    struct evsrc_process process;
    spawn_shell(&process, "exit 2", 7);
    ck_assert(testutil_expect_event(7) & EVSRC_EVENT_FLAG_IN);
    /* What a SIGCHLD handler calling waitpid(-1) would do. */
    int status;
    ck_assert_int_eq(waitpid(-1, &status, 0), evsrc_process_pid(&process));
    assert_reaped(&process);
    ck_assert_int_eq(evsrc_process_kill(&process, SIGTERM), -ESRCH);
    ck_assert_int_eq(evsrc_process_close(&process), 0);
}
END_TEST

static pid_t no_such_pid(void)
{
    /* Every pid is below pid_max. */
    FILE *f = fopen("/proc/sys/kernel/pid_max", "re");
    ck_assert_ptr_nonnull(f);
    long max = 0;
    ck_assert_int_eq(fscanf(f, "%ld", &max), 1);
    fclose(f);
    return (pid_t)max;
}

START_TEST(bad_input_is_einval_and_closed_is_ebadf)
{
    struct evsrc_process process;
    char *const argv[] = {"true", NULL};
    siginfo_t info;
    ck_assert_int_eq(evsrc_process_spawn(NULL, "/bin/true", argv, NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_process_spawn(&process, NULL, argv, NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_process_spawn(&process, "/bin/true", NULL, NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_process_close(&process), -EBADF);
    ck_assert_int_eq(evsrc_process_from_pid(NULL, getpid()), -EINVAL);
    ck_assert_int_eq(evsrc_process_from_pid(&process, 0), -EINVAL);
    ck_assert_int_eq(evsrc_process_from_pid(&process, -1), -EINVAL);
    ck_assert_int_eq(evsrc_process_from_pid(&process, no_such_pid()), -ESRCH);
    ck_assert_int_eq(evsrc_process_close(&process), -EBADF);

    ck_assert_int_eq(evsrc_process_pid(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_process_fd(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_process_close(NULL), -EINVAL);
    ck_assert_int_eq(evsrc_process_wait(NULL, &info), -EINVAL);
    ck_assert_int_eq(evsrc_process_wait(&process, NULL), -EINVAL);
    ck_assert_int_eq(evsrc_process_wait(&process, &info), -EBADF);
    ck_assert_int_eq(evsrc_process_kill(NULL, SIGTERM), -EINVAL);
    ck_assert_int_eq(evsrc_process_kill(&process, -1), -EINVAL);
    ck_assert_int_eq(evsrc_process_kill(&process, SIGRTMAX + 1), -EINVAL);
    ck_assert_int_eq(evsrc_process_kill(&process, SIGTERM), -EBADF);
    ck_assert_int_eq(evsrc_process_pid(&process), -EBADF);
    ck_assert_int_eq(evsrc_process_fd(&process), -EBADF);

    /* close clears the registration record: the struct registers again once set up again. */
    ck_assert_int_eq(evsrc_process_from_pid(&process, getpid()), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &process.source, 8, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_process_close(&process), 0);
    ck_assert_int_eq(evsrc_process_from_pid(&process, getpid()), 0);
    ck_assert_int_eq(evsrc_registry_register(testutil_fx.registry, &process.source, 9, EVSRC_READABLE), 0);
    ck_assert_int_eq(evsrc_process_close(&process), 0);
}
END_TEST

START_TEST(out_of_fds_leaves_no_child)
{
    struct rlimit old = testutil_exhaust_fds();
    struct evsrc_process process;
    char *const argv[] = {"sleep", "60", NULL};
    int r = evsrc_process_spawn(&process, "/bin/sleep", argv, NULL, NULL, NULL);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_eq(r, -EMFILE);
    assert_no_children();
    ck_assert_int_eq(evsrc_process_close(&process), -EBADF);
}
END_TEST

#ifdef TEST_PIDFD_SPAWN_SHIM
/* pidfd_spawn's child was reaped before the library could ask its pid: -ECHILD, the pidfd closed. */
START_TEST(pidfd_spawn_child_reaped_before_its_pid_is_known)
{
    shim_mode = SHIM_REAPED;
    struct evsrc_process process;
    char *const argv[] = {"true", NULL};
    ck_assert_int_eq(evsrc_process_spawn(&process, "/bin/true", argv, NULL, NULL, NULL), -ECHILD);
    ck_assert_int_eq(shim_spawns, 1);
    ck_assert_int_eq(evsrc_process_close(&process), -EBADF);
    assert_no_children();
}
END_TEST

/*
 * Issue 20: a pidfd that cannot be made non-blocking is closed and its error
 * returned, and the child (which pidfd_spawn left running, unreaped) is
 * killed and reaped first: before the fix it ran on, a zombie-to-be.
 */
START_TEST(pidfd_spawn_pidfd_that_stays_blocking_is_closed_and_its_child_reaped)
{
    shim_mode = SHIM_O_PATH;
    struct evsrc_process process;
    char *const argv[] = {"sleep", "60", NULL};
    ck_assert_int_eq(evsrc_process_spawn(&process, "/bin/sleep", argv, NULL, NULL, NULL), -EBADF);
    ck_assert_int_eq(shim_spawns, 1);
    ck_assert_int_eq(evsrc_process_close(&process), -EBADF);
    /* Through the pidfd the stand-in kept: the child has exited and is not ours to reap any more. */
    struct pollfd exited = {.fd = shim_pidfd, .events = POLLIN};
    ck_assert_int_eq(poll(&exited, 1, 0), 1);
    siginfo_t info;
    errno = 0;
    ck_assert_int_eq(waitid((idtype_t)P_PIDFD, (id_t)shim_pidfd, &info, WEXITED | WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    close(shim_pidfd);
    assert_no_children();
}
END_TEST

/* pidfd_getpid fails (no /proc) while the child runs: its error, and the child killed and reaped through the pidfd. */
START_TEST(pidfd_spawn_child_whose_pid_cannot_be_read_is_reaped)
{
    shim_mode = SHIM_NO_PID;
    struct evsrc_process process;
    char *const argv[] = {"sleep", "60", NULL};
    ck_assert_int_eq(evsrc_process_spawn(&process, "/bin/sleep", argv, NULL, NULL, NULL), -ENOENT);
    ck_assert_int_eq(shim_spawns, 1);
    ck_assert_int_eq(evsrc_process_close(&process), -EBADF);
    assert_no_children(); /* a child left running would be unreaped too */
}
END_TEST
#endif

int main(void)
{
    /* Kernels before 5.3, and tools that do not know the call (valgrind 3.19), have no pidfd_open. */
    long probe = syscall(SYS_pidfd_open, getpid(), 0);
    if (probe < 0 && errno == ENOSYS) {
        printf("process: skipped: pidfd_open(2) is not available here\n");
        return 77;
    }
    if (probe >= 0)
        close((int)probe);
    Suite *suite = suite_create("process");
    TCase *tc = testutil_add_tcase(suite, "process");
    tcase_add_test(tc, exit_status_arrives_through_the_event_and_wait);
    tcase_add_test(tc, kill_with_sigterm_is_cld_killed_even_with_sigterm_blocked_here);
    tcase_add_test(tc, environment_and_file_actions_reach_the_child);
    tcase_add_test(tc, from_pid_watches_a_forked_child);
    tcase_add_test(tc, from_pid_of_a_process_not_ours_cannot_reap_it);
    tcase_add_test(tc, a_program_that_cannot_run_is_an_error_with_nothing_left);
    tcase_add_test(tc, close_neither_kills_nor_reaps);
    tcase_add_test(tc, a_reaper_elsewhere_steals_the_status);
    tcase_add_test(tc, bad_input_is_einval_and_closed_is_ebadf);
    tcase_add_test(tc, out_of_fds_leaves_no_child);
#ifdef TEST_PIDFD_SPAWN_SHIM
    tcase_add_test(tc, pidfd_spawn_child_reaped_before_its_pid_is_known);
    tcase_add_test(tc, pidfd_spawn_pidfd_that_stays_blocking_is_closed_and_its_child_reaped);
    tcase_add_test(tc, pidfd_spawn_child_whose_pid_cannot_be_read_is_reaped);
#endif
    return testutil_run(suite);
}
