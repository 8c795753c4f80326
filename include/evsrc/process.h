/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_PROCESS_H
#define EVSRC_PROCESS_H

/*
 * Linux only: Windows builds have no such source (README, docs/backends.md).
 *
 * Processes: a Linux pidfd as a source that becomes readable when the
 * process exits. Start a child with evsrc_process_spawn(), or watch a process
 * that exists with evsrc_process_from_pid(); register &process->source with
 * EVSRC_READABLE; on the event, reap the child with evsrc_process_wait().
 *
 * Needs _POSIX_C_SOURCE >= 200809L (or _GNU_SOURCE, or the compiler's default
 * GNU mode) before the first #include, for siginfo_t: under strict ISO C
 * (-std=c11) compile with -D_POSIX_C_SOURCE=200809L.
 *
 * A pidfd names one process, not a pid number: once the process is gone and
 * its pid is reused, the pidfd still names the old, dead process, so
 * evsrc_process_kill() can never signal a stranger and evsrc_process_wait()
 * never reaps one.
 *
 * WHO REAPS. The status of an exited child can be collected once. A SIGCHLD
 * handler (or any thread) that calls waitpid(-1, ...) or wait() elsewhere in
 * the program reaps every child, ours included: it steals the status.
 * The pidfd still becomes readable, but evsrc_process_wait() then returns
 * -ECHILD and the exit status is lost. Programs that use this source should
 * wait only for specific pids, or only through this source. Setting SIGCHLD
 * to SIG_IGN (or SA_NOCLDWAIT) makes the kernel reap children at once: the
 * same loss. A SIGCHLD that is merely blocked or handled without reaping is
 * harmless.
 *
 * The struct is caller-owned (stack, heap or embedded) and owns its pidfd
 * from a successful _spawn() or _from_pid() until evsrc_process_close(),
 * which the caller must call. It does not own the process: closing neither
 * kills nor reaps it, and an unreaped child that exits stays a zombie until
 * someone waits for it. The fields are private: use the functions below.
 *
 * Thread-safety: wait, kill, pid and fd may run on one struct in several
 * threads at once (each is one system call, and only one wait can reap).
 * spawn, from_pid and close must not race with any other use of the same
 * struct, as with close(2). Distinct structs are independent.
 */

#include <signal.h>
#include <spawn.h>
#include <sys/types.h>

#include <evsrc/export.h>
#include <evsrc/source.h>

EVSRC_BEGIN_DECLS

/* A pidfd and the pid it was opened for. */
struct evsrc_process {
    struct evsrc_source source; /* register this */
    int fd;                     /* private: -1 when closed */
    pid_t pid;                  /* private */
};

/*
 * Starts `path` (a path to the program: PATH is not searched) as a child with
 * the arguments `argv` (NULL-terminated, argv[0] by convention the program's
 * name) and the environment `envp` (NULL-terminated; NULL means the caller's
 * environ), as posix_spawn(3) does with `actions` and `attr`, and holds a
 * pidfd for the child. The pidfd is non-blocking and close-on-exec. The struct
 * needs no initialisation beforehand (it must not hold an open pidfd, whose
 * fd would leak).
 *
 * actions may be NULL (the child inherits every fd that is not
 * close-on-exec). attr may be NULL, which is NOT posix_spawn's default: the
 * child then starts with an empty signal mask rather than the caller's,
 * because a program that blocks SIGTERM for an evsrc_signal would otherwise
 * start children that cannot be stopped with SIGTERM. Pass an attr to choose
 * (posix_spawnattr_setsigmask() with POSIX_SPAWN_SETSIGMASK resets the mask;
 * without that flag the child inherits it). Signals the caller ignores stay
 * ignored in the child either way, as with exec.
 *
 * A program that cannot be run is an error from this call, never a child
 * that exits with 127: the failed child is reaped before the call returns,
 * so no zombie and no fd is left behind.
 *
 * No pid reuse window. When the C library has pidfd_spawn() (glibc 2.39 and
 * later; looked up when the call runs, so a program built here uses it where
 * it exists) the kernel creates the child and its pidfd in one step. Older C
 * libraries have only posix_spawn(): the child is then started first and its
 * pidfd opened right after, and the call checks with
 * waitid(P_PIDFD, WNOWAIT) that the pidfd names an unreaped child of the
 * caller; a child reaped in between by a waitpid(-1) elsewhere (see WHO
 * REAPS) is reported as -ECHILD instead of a pidfd for whatever process took
 * its pid. The one case this check cannot see is a pid reused, in those few
 * microseconds, by another child of the same process, which needs both a
 * stealing reaper and a full turn of the pid space.
 *
 * Errors: -EINVAL if process, path or argv is NULL, or attr or actions is
 * invalid; -ENOENT if path does not exist; -EACCES if it may not be executed;
 * -ENOEXEC, -ENOTDIR, -ELOOP, -ENAMETOOLONG, -E2BIG, -ETXTBSY as execve(2)
 * reports them; -EAGAIN over the process limit; -ENOMEM; -EMFILE/-ENFILE when
 * no fd is left for the pidfd (the child was started: it is killed and
 * reaped); -ENOSYS where pidfds are missing (kernels before 5.4, or a tool
 * such as valgrind 3.19 that does not know the calls; the child is killed
 * and reaped); -ECHILD if the child exited and was reaped elsewhere before
 * the call could hold it (its pidfd opened, or its pid read from the pidfd
 * pidfd_spawn() made); with pidfd_spawn(), the error of pidfd_getpid(3)
 * when it cannot read the pid (e.g. -ENOENT where /proc is not mounted);
 * without it, the error of waitid(2) when it refuses the check above for
 * a reason other than -ECHILD (a seccomp profile). In every case after the
 * child exists, the child is killed and reaped before the call returns. On
 * error no fd is left open, no child of this call is left running or
 * unreaped, and the struct (if not NULL) is left closed (closing it is
 * -EBADF).
 *
 * Kernels: pidfds need Linux 5.4 (pidfd_open(2), waitid's P_PIDFD). On 5.4
 * to 5.9, which refuse PIDFD_NONBLOCK, the pidfd is opened without it and
 * made non-blocking with fcntl(2); it is close-on-exec from the start
 * either way. The same holds for evsrc_process_from_pid().
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_process_spawn(struct evsrc_process *process, const char *path, char *const argv[],
                                     char *const envp[], const posix_spawn_file_actions_t *actions,
                                     const posix_spawnattr_t *attr);

/*
 * Opens a pidfd for the existing process `pid` (pidfd_open(2)), non-blocking
 * and close-on-exec. The struct needs no initialisation beforehand.
 * A pid number is only as good as the moment it was read: the pidfd names
 * whichever process has that pid now. It is sure to be the one you mean for
 * your own child that has not been reaped (its pid cannot be reused until it
 * is), as after fork(2) or posix_spawn(3). Any process may be watched for
 * its exit and signalled; only your own child can be reaped with
 * evsrc_process_wait() (for others it is -ECHILD).
 * Errors: -EINVAL if process is NULL, pid is not positive, or pid is a thread
 * that is not a process's main thread; -ESRCH if there is no such process;
 * -ENOSYS where pidfds are missing (see evsrc_process_spawn());
 * -EMFILE/-ENFILE when out of fds; -ENOMEM. On error no fd is left open and
 * the struct (if not NULL) is left closed.
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_process_from_pid(struct evsrc_process *process, pid_t pid);

/*
 * The pid the process had when its pidfd was opened. Once the process is
 * reaped the number may belong to another process: do not pass it to kill(2)
 * (evsrc_process_kill() is safe).
 * Errors: -EINVAL if process is NULL; -EBADF if it is closed.
 * Thread-safety: safe alongside wait, kill and fd on the same struct.
 */
EVSRC_EXPORT pid_t evsrc_process_pid(const struct evsrc_process *process);

/*
 * Reaps the child if it has exited (waitid(P_PIDFD, fd, info, WEXITED |
 * WNOHANG)), and stores its status in *info: si_code is CLD_EXITED (with its
 * exit status in si_status), CLD_KILLED or CLD_DUMPED (with the signal that
 * ended it in si_status); si_pid is its pid. The pidfd stays open, and
 * readable: close it when done. Reaping may itself bring one more readable
 * event, on which this returns -ECHILD: ignore it, or close the source.
 * Errors: -EINVAL if process or info is NULL; -EBADF if it is closed;
 * -EAGAIN while the child still runs (stopped children count as running);
 * -ECHILD once it has been reaped (by an earlier wait, or elsewhere: see
 * WHO REAPS) or when it is not the caller's child. *info is unchanged on
 * error.
 * Thread-safety: safe alongside kill, pid and fd; of two waits at once, one
 * reaps and the other gets -ECHILD or -EAGAIN.
 */
EVSRC_EXPORT int evsrc_process_wait(struct evsrc_process *process, siginfo_t *info);

/*
 * Sends signal `sig` to the process (pidfd_send_signal(2)); 0 checks that it
 * may be signalled without sending anything. It never reaches another process
 * that reused the pid.
 * Errors: -EINVAL if process is NULL or sig is not a signal number (0 to
 * SIGRTMAX); -EBADF if it is closed; -ESRCH once the process has exited
 * (reaped or not); -EPERM if the caller may not signal it.
 * Thread-safety: safe alongside wait, pid and fd on the same struct.
 */
EVSRC_EXPORT int evsrc_process_kill(struct evsrc_process *process, int sig);

/*
 * The pidfd, borrowed: it stays owned by the struct, so do not close it.
 * Errors: -EINVAL if process is NULL; -EBADF if it is closed.
 * Thread-safety: safe alongside wait, kill and pid on the same struct.
 */
EVSRC_EXPORT int evsrc_process_fd(const struct evsrc_process *process);

/*
 * Closes the pidfd, which also removes it from any queue it is registered
 * with, and marks the struct closed. It neither kills nor reaps the process:
 * a child keeps running, and once it exits it stays a zombie until someone
 * reaps it (waitpid() on its pid), so kill and wait first if that is what you
 * want.
 * Errors: -EINVAL if process is NULL; -EBADF if it is already closed.
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_process_close(struct evsrc_process *process);

EVSRC_END_DECLS

#endif /* EVSRC_PROCESS_H */
