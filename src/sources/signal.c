/* SPDX-License-Identifier: MIT */
#include <evsrc/signal.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include "fd_source.h"

FD_SOURCE_CHECK_LAYOUT(struct evsrc_signal);

/* The kernel would silently drop SIGKILL and SIGSTOP from the set; we say so instead. */
static bool set_is_valid(const sigset_t *set)
{
    return set && !sigisemptyset(set) && !sigismember(set, SIGKILL) && !sigismember(set, SIGSTOP);
}

/* sd-event's rule: an unblocked signal would be delivered, never reported, so refuse it. */
static int check_blocked(const sigset_t *set)
{
    sigset_t blocked;
    int r = pthread_sigmask(SIG_BLOCK, NULL, &blocked);
    if (r != 0)
        return -r;
    for (int sig = 1; sig <= SIGRTMAX; sig++)
        if (sigismember(set, sig) == 1 && sigismember(&blocked, sig) != 1)
            return -EBUSY;
    return 0;
}

EVSRC_EXPORT int evsrc_signal_block(const sigset_t *set)
{
    if (!set)
        return -EINVAL;
    return -pthread_sigmask(SIG_BLOCK, set, NULL);
}

EVSRC_EXPORT int evsrc_signal_new(struct evsrc_signal *signal, const sigset_t *set)
{
    if (!signal)
        return -EINVAL;
    fd_source_init_closed(&signal->source);
    if (!set_is_valid(set))
        return -EINVAL;
    int r = check_blocked(set);
    if (r < 0)
        return r;
    int fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    fd_source_init(&signal->source, fd);
    return 0;
}

EVSRC_EXPORT int evsrc_signal_set_mask(struct evsrc_signal *signal, const sigset_t *set)
{
    if (!signal || !set_is_valid(set))
        return -EINVAL;
    if (signal->fd < 0)
        return -EBADF;
    int r = check_blocked(set);
    if (r < 0)
        return r;
    return signalfd(signal->fd, set, 0) < 0 ? -errno : 0;
}

EVSRC_EXPORT int evsrc_signal_read(struct evsrc_signal *signal, struct signalfd_siginfo *info)
{
    /* A buffer of one record takes exactly one signal, and may leave others. */
    return fd_source_read_record(FD_SOURCE_OF(signal), info, sizeof *info);
}

EVSRC_EXPORT int evsrc_signal_fd(const struct evsrc_signal *signal)
{
    return fd_source_get_fd(FD_SOURCE_OF(signal));
}

EVSRC_EXPORT int evsrc_signal_close(struct evsrc_signal *signal)
{
    return signal ? fd_source_close(&signal->source) : -EINVAL;
}
