/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_PIPE_H
#define EVSRC_PIPE_H

/*
 * Linux only: Windows builds have no such source (README, docs/backends.md).
 *
 * Pipes: a one-way byte channel as two sources, a sender (the write end) and
 * a receiver (the read end), each registered on its own.
 *
 * Both ends are caller-owned structs (stack, heap or embedded). Each owns its
 * fd from a successful evsrc_pipe_new() or _from_fd() until its _close(),
 * which the caller must call: the library allocates nothing and keeps no
 * pointer to either end. Register an end as &end->source.
 *
 * Readiness, as epoll reports it for pipes:
 *   - receiver, EVSRC_READABLE: data arrived, or every sender is closed
 *     (evsrc_event_is_read_closed(); a read returns 0 once drained);
 *   - sender, EVSRC_WRITABLE: the pipe has room again, or every receiver is
 *     closed (evsrc_event_is_write_closed() or evsrc_event_is_error(); a
 *     write returns -EPIPE).
 * Edge-triggered registrations must read (or write) until -EAGAIN before
 * another event is owed; see poll.h.
 *
 * SIGPIPE: evsrc_pipe_sender_write() never raises it, without changing the
 * process's SIGPIPE disposition. The fields of both structs are private:
 * use the functions below.
 *
 * Thread-safety: reads, writes and _fd() on one end may run in several
 * threads at once (each is one system call on the fd; SIGPIPE handling is
 * per thread). _new(), _from_fd() and _close() must not race with any other
 * use of the same end, as with close(2). Distinct ends are independent.
 */

#include <stddef.h>
#include <sys/types.h>

#include <evsrc/export.h>
#include <evsrc/source.h>

EVSRC_BEGIN_DECLS

/* The write end of a pipe. */
struct evsrc_pipe_sender {
    struct evsrc_source source; /* register this */
    int fd;                     /* private: -1 when closed */
};

/* The read end of a pipe. */
struct evsrc_pipe_receiver {
    struct evsrc_source source; /* register this */
    int fd;                     /* private: -1 when closed */
};

/*
 * Creates a pipe and sets up both ends; the fds are non-blocking and
 * close-on-exec. Neither struct needs to be initialised beforehand (it must
 * not hold an open end, whose fd would leak).
 * Errors: -EINVAL if sender or receiver is NULL; -EMFILE/-ENFILE when out of
 * fds. On error no fd is left open and each non-NULL end is left closed
 * (closing it is -EBADF).
 * Thread-safety: not alongside any other call on the same struct (as with
 * close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_pipe_new(struct evsrc_pipe_sender *sender, struct evsrc_pipe_receiver *receiver);

/*
 * Adopts `fd`, the write end of a pipe or FIFO, as a sender. On success the
 * sender owns fd and has made it non-blocking (a flag shared with every fd
 * that refers to the same open pipe, e.g. dup()s); its close-on-exec flag is
 * left as it is. The struct needs no initialisation beforehand.
 * Errors: -EINVAL if sender is NULL, fd is not a pipe or FIFO (a socket, a
 * regular file...), or fd is not open write-only (O_RDWR is refused: a
 * sender that can also read would never see the reader go away); -EBADF if
 * fd is negative or not open. On error fd is still the caller's, open and
 * unchanged, and the sender (if not NULL) is left closed.
 * Thread-safety: not alongside any other call on the same struct (as with
 * close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_pipe_sender_from_fd(struct evsrc_pipe_sender *sender, int fd);

/*
 * Adopts `fd`, the read end of a pipe or FIFO, as a receiver, as
 * evsrc_pipe_sender_from_fd() does for a sender.
 * Errors: -EINVAL if receiver is NULL, fd is not a pipe or FIFO, or fd is not
 * open read-only; -EBADF if fd is negative or not open. On error fd is still
 * the caller's, open and unchanged, and the receiver (if not NULL) is left
 * closed.
 * Thread-safety: not alongside any other call on the same struct (as with
 * close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_pipe_receiver_from_fd(struct evsrc_pipe_receiver *receiver, int fd);

/*
 * Writes up to `len` bytes from `buf` and returns how many were written
 * (possibly fewer than len when the pipe is nearly full; writes of at most
 * PIPE_BUF bytes are all-or-nothing). len 0 returns 0.
 *
 * Never raises SIGPIPE: when no receiver is left it returns -EPIPE with the
 * process's SIGPIPE disposition untouched. It blocks SIGPIPE in the calling
 * thread for the duration of the write and, if the write raised it, takes
 * that one signal back; a SIGPIPE already pending for the thread beforehand
 * is left pending, and the thread's signal mask is as it was on return.
 * Signals of one kind do not queue, so two corner cases remain: a SIGPIPE
 * that someone sends at the very moment of a failed write may merge with the
 * write's own and be taken with it; and if a SIGPIPE sent to the whole
 * process was already pending, the write's own stays pending beside it.
 * Costs two more system calls than write(2) (three on -EPIPE).
 *
 * Errors: -EINVAL if sender is NULL, or buf is NULL and len is not 0;
 * -EBADF if the sender is closed; -EAGAIN if the pipe is full; -EPIPE if
 * every receiver is closed; other write(2) errors as -errno.
 */
EVSRC_EXPORT ssize_t evsrc_pipe_sender_write(struct evsrc_pipe_sender *sender, const void *buf, size_t len);

/*
 * Reads up to `len` bytes into `buf` and returns how many were read, or 0 at
 * end of file (every sender closed and the pipe drained). len 0 returns 0.
 * Errors: -EINVAL if receiver is NULL, or buf is NULL and len is not 0;
 * -EBADF if the receiver is closed; -EAGAIN if the pipe is empty but a
 * sender is still open; other read(2) errors as -errno.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT ssize_t evsrc_pipe_receiver_read(struct evsrc_pipe_receiver *receiver, void *buf, size_t len);

/*
 * The end's fd, borrowed: it stays owned by the end, so do not close it, and
 * do not use it after the end is closed.
 * Errors: -EINVAL if the end is NULL; -EBADF if it is closed.
 * Thread-safety: safe alongside the other I/O and accessor calls on the
 * same struct (each is one system call).
 */
EVSRC_EXPORT int evsrc_pipe_sender_fd(const struct evsrc_pipe_sender *sender);
EVSRC_EXPORT int evsrc_pipe_receiver_fd(const struct evsrc_pipe_receiver *receiver);

/*
 * Closes the end's fd, which also removes it from any queue it is registered
 * with (deregister first if the fd was duplicated), and marks the end closed
 * so that it can be set up again with _new() or _from_fd(). Closing the
 * last sender gives a registered receiver a read-closed event; closing the
 * last receiver gives a registered sender a write-closed or error event.
 * Errors: -EINVAL if the end is NULL; -EBADF if it is already closed (no fd
 * is touched then).
 * Thread-safety: not alongside any other call on the same struct (as with
 * close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_pipe_sender_close(struct evsrc_pipe_sender *sender);
EVSRC_EXPORT int evsrc_pipe_receiver_close(struct evsrc_pipe_receiver *receiver);

EVSRC_END_DECLS

#endif /* EVSRC_PIPE_H */
