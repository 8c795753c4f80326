/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_SIGNAL_H
#define EVSRC_SIGNAL_H

/*
 * Linux only: Windows builds have no such source (README, docs/backends.md).
 *
 * Signals: a Linux signalfd as a source that becomes readable when one of its
 * signals is pending, so SIGTERM, SIGINT or SIGHUP arrive as events in the
 * loop instead of interrupting it in a handler.
 *
 * Needs _POSIX_C_SOURCE >= 200809L (or _GNU_SOURCE, or the compiler's default
 * GNU mode) before the first #include, for sigset_t: under strict ISO C
 * (-std=c11) compile with -D_POSIX_C_SOURCE=200809L.
 *
 * BLOCK THE SIGNALS FIRST, IN THE MAIN THREAD, BEFORE ANY OTHER THREAD EXISTS.
 * A signalfd only reports a signal that is pending, and a signal is left
 * pending only while every thread blocks it. Threads inherit the mask of the
 * thread that creates them, so call evsrc_signal_block() at the top of main(),
 * before creating any thread (also those a library starts for you). A thread
 * that does not block the signal receives it instead, and its default action
 * runs: for SIGTERM, SIGINT and SIGHUP that terminates the whole process.
 * evsrc_signal_new() refuses (-EBUSY) a set that is not blocked in the calling
 * thread, but it cannot see the masks of other threads.
 *
 * Children inherit the mask across fork and exec: a program started with
 * SIGTERM blocked cannot be stopped with SIGTERM. evsrc_process_spawn() with
 * a NULL attr starts its child with an empty mask; anything else that forks
 * should reset the mask in the child (posix_spawnattr_setsigmask()).
 *
 * Standard signals do not queue: the same signal sent twice before it is read
 * is read once. The struct is caller-owned (stack, heap or embedded) and owns
 * its fd from a successful evsrc_signal_new() until evsrc_signal_close(),
 * which the caller must call. Register it as &signal->source with
 * EVSRC_READABLE, and on each event read until -EAGAIN. The fields are
 * private: use the functions below.
 *
 * Thread-safety: read and fd may run on one struct in several threads at once
 * (each is one system call). new, set_mask and close must not race with any
 * other use of the same struct, as with close(2). Distinct structs are
 * independent. Note that a signalfd reports the signals pending for the
 * process and for the thread that reads it.
 */

#include <signal.h>
#include <sys/signalfd.h>

#include <evsrc/export.h>
#include <evsrc/source.h>

EVSRC_BEGIN_DECLS

/* A signalfd. */
struct evsrc_signal {
    struct evsrc_source source; /* register this */
    int fd;                     /* private: -1 when closed */
};

/*
 * Blocks every signal of `set` in the calling thread (pthread_sigmask()
 * SIG_BLOCK), adding to what it already blocks. Call it in the main thread
 * before any thread is created, so that every thread inherits the mask;
 * see the top of this header for what happens otherwise. SIGKILL and SIGSTOP
 * cannot be blocked and are ignored, as pthread_sigmask() does.
 * Errors: -EINVAL if set is NULL.
 * Thread-safety: changes only the calling thread's mask.
 */
EVSRC_EXPORT int evsrc_signal_block(const sigset_t *set);

/*
 * Creates a signalfd for the signals of `set`. The fd is non-blocking and
 * close-on-exec. The struct needs no initialisation beforehand (it must not
 * hold an open signalfd, whose fd would leak).
 * Errors: -EINVAL if signal or set is NULL, set is empty, or set holds
 * SIGKILL or SIGSTOP; -EBUSY if a signal of set is not blocked in the calling
 * thread (block it first with evsrc_signal_block()); -EMFILE/-ENFILE when out
 * of fds; -ENOMEM. On error no fd is left open and the struct (if not NULL)
 * is left closed (closing it is -EBADF).
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_signal_new(struct evsrc_signal *signal, const sigset_t *set);

/*
 * Replaces the set of signals the signalfd reports with `set`, under the same
 * rules as evsrc_signal_new(). The fd and its registration stay as they are.
 * Errors: -EINVAL as for evsrc_signal_new(); -EBADF if the struct is closed;
 * -EBUSY if a signal of set is not blocked in the calling thread. On error
 * the set is unchanged.
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_signal_set_mask(struct evsrc_signal *signal, const sigset_t *set);

/*
 * Takes one pending signal of the set and stores what the kernel knows of it
 * in *info: ssi_signo is the signal, ssi_pid and ssi_uid the sender (for a
 * kill(2), raise(3) or sigqueue(3)), ssi_code how it was sent.
 * Errors: -EINVAL if signal or info is NULL; -EBADF if the struct is closed;
 * -EAGAIN when no signal of the set is pending (read until this on every
 * event). *info is unchanged on error.
 * Thread-safety: safe alongside read and fd on the same struct.
 */
EVSRC_EXPORT int evsrc_signal_read(struct evsrc_signal *signal, struct signalfd_siginfo *info);

/*
 * The signalfd, borrowed: it stays owned by the struct, so do not close it.
 * Errors: -EINVAL if signal is NULL; -EBADF if it is closed.
 * Thread-safety: safe alongside read and fd on the same struct.
 */
EVSRC_EXPORT int evsrc_signal_fd(const struct evsrc_signal *signal);

/*
 * Closes the signalfd, which also removes it from any queue it is registered
 * with, and marks the struct closed. The signals stay blocked: unblock them
 * yourself (pthread_sigmask()) if the program should die of them again.
 * Errors: -EINVAL if signal is NULL; -EBADF if it is already closed.
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_signal_close(struct evsrc_signal *signal);

EVSRC_END_DECLS

#endif /* EVSRC_SIGNAL_H */
