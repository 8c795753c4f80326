/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_INOTIFY_H
#define EVSRC_INOTIFY_H

/*
 * Linux only: Windows builds have no such source (README, docs/backends.md).
 *
 * File watches: a Linux inotify instance as a source that becomes readable
 * when a watched file or directory changes.
 *
 * One instance holds any number of watches, each added with
 * evsrc_inotify_add_watch() and named by the watch descriptor it returns.
 * On each event, read until -EAGAIN and walk what each read returned with
 * evsrc_inotify_next():
 *
 *     _Alignas(struct inotify_event) char buf[4096];
 *     ssize_t n;
 *     while ((n = evsrc_inotify_read(&watch, buf, sizeof buf)) > 0) {
 *         size_t offset = 0;
 *         const struct inotify_event *event;
 *         while ((event = evsrc_inotify_next(buf, (size_t)n, &offset)))
 *             handle(event->wd, event->mask, event->len ? event->name : "");
 *     }
 *
 * What the kernel reports, briefly (inotify(7) has it all): event->wd is the
 * watch, event->mask what happened (IN_CREATE, IN_DELETE, ...), and for a
 * watched directory event->name is the entry inside it. IN_Q_OVERFLOW (wd -1)
 * says events were lost: rescan what you watch. IN_IGNORED says a watch is
 * gone (removed, or its file deleted); its wd may then be reused. Watches are
 * not recursive.
 *
 * The struct is caller-owned (stack, heap or embedded) and owns its fd from a
 * successful evsrc_inotify_new() until evsrc_inotify_close(), which the caller
 * must call. Register it as &inotify->source with EVSRC_READABLE. The fields
 * are private: use the functions below.
 *
 * Thread-safety: add_watch, rm_watch, read and fd may run on one instance in
 * several threads at once (each is one system call; two threads reading share
 * the events between them). new and close must not race with any other use
 * of the same struct, as with close(2). evsrc_inotify_next() touches only its
 * arguments. Distinct instances are independent.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/inotify.h>
#include <sys/types.h>

#include <evsrc/export.h>
#include <evsrc/source.h>

EVSRC_BEGIN_DECLS

/* An inotify instance. */
struct evsrc_inotify {
    struct evsrc_source source; /* register this */
    int fd;                     /* private: -1 when closed */
};

/*
 * Creates an inotify instance with no watches. The fd is non-blocking and
 * close-on-exec. The struct needs no initialisation beforehand (it must not
 * hold an open instance, whose fd would leak).
 * Errors: -EINVAL if inotify is NULL; -EMFILE when out of fds or over the
 * per-user limit of instances (/proc/sys/fs/inotify/max_user_instances);
 * -ENFILE; -ENOMEM. On error no fd is left open and the struct (if not NULL)
 * is left closed (closing it is -EBADF).
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_inotify_new(struct evsrc_inotify *inotify);

/*
 * Watches `path` for the events in `mask` (IN_CREATE, IN_DELETE, IN_MODIFY,
 * IN_CLOSE_WRITE, IN_MOVED_TO, ... or IN_ALL_EVENTS, with optional IN_ONLYDIR,
 * IN_DONT_FOLLOW, IN_MASK_ADD, IN_EXCL_UNLINK, IN_ONESHOT). Watching a path
 * already watched by this instance returns its watch descriptor again and
 * replaces its mask (or adds to it with IN_MASK_ADD).
 * Returns the watch descriptor (>= 1), which names the watch in the events.
 * Errors: -EINVAL if inotify or path is NULL or mask has no event bit;
 * -EBADF if it is closed; -ENOENT if path does not exist; -EACCES if it may
 * not be read; -ENOTDIR with IN_ONLYDIR on a non-directory; -ENOSPC over the
 * per-user limit of watches (/proc/sys/fs/inotify/max_user_watches); -ENOMEM.
 * Thread-safety: safe alongside the other calls on an open instance.
 */
EVSRC_EXPORT int evsrc_inotify_add_watch(struct evsrc_inotify *inotify, const char *path, uint32_t mask);

/*
 * Removes watch `wd`. The kernel then queues an IN_IGNORED event for it.
 * Errors: -EINVAL if inotify is NULL, wd is not positive or is not a watch of
 * this instance (already removed, say, or its file deleted); -EBADF if it is
 * closed.
 * Thread-safety: safe alongside the other calls on an open instance.
 */
EVSRC_EXPORT int evsrc_inotify_rm_watch(struct evsrc_inotify *inotify, int wd);

/*
 * Reads as many whole events as fit in `buf` (never a part of one) and
 * returns the number of bytes read, to walk with evsrc_inotify_next(). A
 * buffer of sizeof(struct inotify_event) + NAME_MAX + 1 bytes always holds
 * the next event; 4096 holds many. Align it for struct inotify_event
 * (_Alignas(struct inotify_event)) so that the events can be read in place.
 * Errors: -EINVAL if inotify or buf is NULL, len is 0, or len cannot hold the
 * next event (nothing is taken: read again with a larger buffer); -EBADF if
 * it is closed; -EAGAIN when no event is queued (read until this on every
 * event).
 * Thread-safety: safe alongside the other calls on an open instance.
 */
EVSRC_EXPORT ssize_t evsrc_inotify_read(struct evsrc_inotify *inotify, void *buf, size_t len);

/*
 * Walks the events of one read: `buf` and `len` are what evsrc_inotify_read()
 * filled and returned. Start with *offset = 0; each call returns the event at
 * *offset and moves *offset past it. Returns NULL at the end of the buffer,
 * and also when buf or offset is NULL or the bytes at *offset are not a whole,
 * aligned event (a malformed buffer): NULL always ends the walk, and
 * *offset is then left as it was.
 * Thread-safety: touches only its arguments.
 */
EVSRC_EXPORT const struct inotify_event *evsrc_inotify_next(const void *buf, size_t len, size_t *offset);

/*
 * The instance's fd, borrowed: it stays owned by the struct, so do not close
 * it.
 * Errors: -EINVAL if inotify is NULL; -EBADF if it is closed.
 * Thread-safety: safe alongside the other calls on an open instance.
 */
EVSRC_EXPORT int evsrc_inotify_fd(const struct evsrc_inotify *inotify);

/*
 * Closes the instance, which removes every watch and removes it from any
 * queue it is registered with, and marks the struct closed.
 * Errors: -EINVAL if inotify is NULL; -EBADF if it is already closed.
 * Thread-safety: not alongside any other call on the same struct.
 */
EVSRC_EXPORT int evsrc_inotify_close(struct evsrc_inotify *inotify);

EVSRC_END_DECLS

#endif /* EVSRC_INOTIFY_H */
