/* SPDX-License-Identifier: MIT */
#include <evsrc/process.h>

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd_source.h"

FD_SOURCE_CHECK_LAYOUT(struct evsrc_process);

extern char **environ;

typedef int pidfd_spawn_fn(int *pidfd, const char *path, const posix_spawn_file_actions_t *actions,
                           const posix_spawnattr_t *attr, char *const argv[], char *const envp[]);
typedef pid_t pidfd_getpid_fn(int pidfd);

/* glibc 2.39 added pidfd_spawn; look for it where the program runs, not where it was built. */
static void *lookup(const char *name)
{
    return dlsym(RTLD_DEFAULT, name);
}

static void process_init_closed(struct evsrc_process *process)
{
    fd_source_init_closed(&process->source);
    process->pid = 0;
}

static void process_init(struct evsrc_process *process, int fd, pid_t pid)
{
    fd_source_init(&process->source, fd);
    process->pid = pid;
}

/* Whether the pidfd's process has exited: a pidfd becomes readable then, reaped or not. */
static int has_exited(int pidfd)
{
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    int n = poll(&pfd, 1, 0);
    if (n < 0)
        return -errno;
    return n > 0 && (pfd.revents & POLLIN);
}

/*
 * pidfd_open(2) for pid, non-blocking and close-on-exec (pidfd_open's fds
 * always are). PIDFD_NONBLOCK needs Linux 5.10; 5.4 to 5.9 refuse it with
 * EINVAL, and then the pidfd is opened without it and made non-blocking
 * afterwards. EINVAL for a pid that is not a process answers again.
 */
static int open_pidfd(pid_t pid)
{
    int pidfd = pidfd_open(pid, PIDFD_NONBLOCK);
    if (pidfd >= 0)
        return pidfd;
    if (errno != EINVAL)
        return -errno;
    pidfd = pidfd_open(pid, 0);
    if (pidfd < 0)
        return -errno;
    int r = fd_source_set_nonblocking(pidfd);
    return r < 0 ? fd_source_close_and_fail(pidfd, -r) : pidfd;
}

/* Gives up on a child we could not get a usable pidfd for: it must not run on untracked. */
static void kill_and_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

/*
 * The same for a child whose pid is unknown, through its pidfd (which
 * pidfd_spawn makes blocking, so the waitid waits). A pidfd_send_signal that
 * fails (ESRCH) means the child was reaped elsewhere: nothing is left.
 */
static void kill_and_reap_pidfd(int pidfd)
{
    if (pidfd_send_signal(pidfd, SIGKILL, NULL, 0) < 0)
        return;
    siginfo_t info;
    while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED) < 0 && errno == EINTR) {
    }
}

/* The kernel creates child and pidfd together: nothing can reap the pid before we hold it. */
static int spawn_with_pidfd_spawn(struct evsrc_process *process, void *spawn_symbol, void *getpid_symbol,
                                  const char *path, char *const argv[], char *const envp[],
                                  const posix_spawn_file_actions_t *actions, const posix_spawnattr_t *attr)
{
    pidfd_spawn_fn *spawn;
    pidfd_getpid_fn *get_pid;
    memcpy(&spawn, &spawn_symbol, sizeof spawn);
    memcpy(&get_pid, &getpid_symbol, sizeof get_pid);
    int pidfd;
    int r = spawn(&pidfd, path, actions, attr, argv, envp);
    if (r != 0)
        return -r;
    /* From here on every failure kills and reaps the child before it returns (process.h). */
    pid_t pid = get_pid(pidfd);
    if (pid <= 0) {
        /* ESRCH: already exited and reaped by a waitpid(-1) elsewhere, its status gone; else (no /proc) alive. */
        int error = errno;
        kill_and_reap_pidfd(pidfd);
        close(pidfd);
        return error == ESRCH ? -ECHILD : -error;
    }
    r = fd_source_set_nonblocking(pidfd);
    if (r < 0) {
        kill_and_reap(pid);
        close(pidfd);
        return r;
    }
    process_init(process, pidfd, pid);
    return 0;
}

/*
 * posix_spawn, then pidfd_open. Until the pidfd exists only a reaper of all
 * children (waitpid(-1) elsewhere) could free the pid; WNOWAIT asks, without
 * reaping, whether the pidfd names a child of ours that is still unreaped.
 */
static int spawn_then_open_pidfd(struct evsrc_process *process, const char *path, char *const argv[],
                                 char *const envp[], const posix_spawn_file_actions_t *actions,
                                 const posix_spawnattr_t *attr)
{
    pid_t pid;
    /* glibc reports a failed exec here and has already reaped that child. */
    int r = posix_spawn(&pid, path, actions, attr, argv, envp);
    if (r != 0)
        return -r;
    int pidfd = open_pidfd(pid);
    if (pidfd < 0) {
        if (pidfd == -ESRCH)
            return -ECHILD;
        kill_and_reap(pid);
        return pidfd;
    }
    siginfo_t info;
    info.si_pid = 0;
    if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG | WNOWAIT) < 0) {
        /* ECHILD: the pidfd names a process that is not our child, so ours was reaped elsewhere; leave it. */
        r = errno;
        if (r != ECHILD)
            kill_and_reap(pid);
        close(pidfd);
        return -r;
    }
    process_init(process, pidfd, pid);
    return 0;
}

EVSRC_EXPORT int evsrc_process_spawn(struct evsrc_process *process, const char *path, char *const argv[],
                                     char *const envp[], const posix_spawn_file_actions_t *actions,
                                     const posix_spawnattr_t *attr)
{
    if (!process)
        return -EINVAL;
    process_init_closed(process);
    if (!path || !argv)
        return -EINVAL;
    if (!envp)
        envp = environ;

    /* NULL attr: an empty signal mask, so the child does not inherit the signals an evsrc_signal blocks. */
    posix_spawnattr_t fresh;
    if (!attr) {
        sigset_t none;
        sigemptyset(&none);
        int r = posix_spawnattr_init(&fresh);
        if (r != 0)
            return -r;
        posix_spawnattr_setflags(&fresh, POSIX_SPAWN_SETSIGMASK);
        posix_spawnattr_setsigmask(&fresh, &none);
    }
    const posix_spawnattr_t *use = attr ? attr : &fresh;

    void *spawn_symbol = lookup("pidfd_spawn");
    void *getpid_symbol = spawn_symbol ? lookup("pidfd_getpid") : NULL;
    int r = spawn_symbol && getpid_symbol
                ? spawn_with_pidfd_spawn(process, spawn_symbol, getpid_symbol, path, argv, envp, actions, use)
                : spawn_then_open_pidfd(process, path, argv, envp, actions, use);
    if (!attr)
        posix_spawnattr_destroy(&fresh);
    return r;
}

EVSRC_EXPORT int evsrc_process_from_pid(struct evsrc_process *process, pid_t pid)
{
    if (!process)
        return -EINVAL;
    process_init_closed(process);
    if (pid <= 0)
        return -EINVAL;
    int pidfd = open_pidfd(pid);
    if (pidfd < 0)
        return pidfd;
    process_init(process, pidfd, pid);
    return 0;
}

EVSRC_EXPORT pid_t evsrc_process_pid(const struct evsrc_process *process)
{
    if (!process)
        return -EINVAL;
    return process->fd < 0 ? -EBADF : process->pid;
}

EVSRC_EXPORT int evsrc_process_wait(struct evsrc_process *process, siginfo_t *info)
{
    if (!process || !info)
        return -EINVAL;
    if (process->fd < 0)
        return -EBADF;
    siginfo_t status;
    memset(&status, 0, sizeof status);
    if (waitid((idtype_t)P_PIDFD, (id_t)process->fd, &status, WEXITED | WNOHANG) < 0)
        return -errno;
    /* WNOHANG with nothing to reap succeeds and leaves si_pid 0. */
    if (status.si_pid == 0) {
        registry_fd_rearm(process->fd);
        return -EAGAIN;
    }
    *info = status;
    return 0;
}

EVSRC_EXPORT int evsrc_process_kill(struct evsrc_process *process, int sig)
{
    if (!process || sig < 0 || sig > SIGRTMAX)
        return -EINVAL;
    if (process->fd < 0)
        return -EBADF;
    /* The kernel accepts a signal to a zombie and drops it; we say it is gone. */
    int exited = has_exited(process->fd);
    if (exited < 0)
        return exited;
    if (exited)
        return -ESRCH;
    return pidfd_send_signal(process->fd, sig, NULL, 0) < 0 ? -errno : 0;
}

EVSRC_EXPORT int evsrc_process_fd(const struct evsrc_process *process)
{
    return fd_source_get_fd(process ? &process->source : NULL);
}

EVSRC_EXPORT int evsrc_process_close(struct evsrc_process *process)
{
    if (!process)
        return -EINVAL;
    int r = fd_source_close(&process->source);
    if (r == 0)
        process->pid = 0;
    return r;
}
