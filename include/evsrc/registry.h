/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_REGISTRY_H
#define EVSRC_REGISTRY_H

/*
 * Registry: the handle through which sources are added to a poll's queue,
 * changed and removed, from any thread.
 *
 * Every poll has one registry of its own (evsrc_poll_registry()), borrowed
 * from the poll. evsrc_registry_try_clone() makes an owned handle to the same
 * queue for another thread to keep; it stays valid after the poll is freed.
 *
 * All functions here are thread-safe: any number of threads may register,
 * reregister and deregister through any handles of one queue while another
 * thread waits on it, and a registration made while a wait is blocked takes
 * effect in that wait. None of them allocates, except try_clone (and, on the
 * poll(2) backend, a register that takes an fd beyond the registration
 * table, which grows by doubling).
 *
 * Registration state of a source
 * ------------------------------
 * evsrc_registry_register() records in the source which queue it is
 * registered with, once its op succeeds, so that misuse is caught in every
 * build, before the op runs:
 *   - registering a source that is registered (with this queue or another
 *     live one) is -EEXIST;
 *   - reregistering or deregistering it through a queue it is not registered
 *     with is -ENOENT.
 * The owner is the queue, not the handle: the poll's registry and all its
 * clones are one owner. Two threads racing to register one source cannot both
 * succeed: the first claims the source before its op runs, the other gets
 * -EEXIST. When the last handle to a queue is freed, its registrations end
 * with it (the kernel queue is gone), and a source still marked as registered
 * with it may be registered anew with another queue: the stale mark is
 * recognised and replaced. The built-in sources' close functions clear the
 * mark (closing an fd removes it from the queue; they do not call deregister).
 *
 * fork(): in a child process every function here, called with a registry
 * made in the parent, returns -ECHILD after its argument checks (poll.h,
 * "fork()"); evsrc_registry_free() releases the child's copy only. A source
 * registered in the parent counts as unregistered in the child.
 */

#include <evsrc/export.h>
#include <evsrc/interest.h>
#include <evsrc/platform.h>
#include <evsrc/source.h>

EVSRC_BEGIN_DECLS

struct evsrc_registry;

/*
 * Registers `source` under `token` for `interests` by calling its
 * register_source op.
 * Errors: -EINVAL if registry or source is NULL, source->ops or any of its
 * three functions is NULL, or interests are invalid (see interest.h);
 * -EEXIST if the source is registered already; otherwise whatever the op
 * returns (for fd sources: -EBADF for a closed fd, -EPERM for an fd epoll
 * cannot watch such as a regular file, -ENOMEM, -ENOSPC past
 * /proc/sys/fs/epoll/max_user_watches). On error the source is left
 * unregistered.
 * Thread-safe: any thread, through any handle of the queue.
 */
EVSRC_EXPORT int evsrc_registry_register(struct evsrc_registry *registry, struct evsrc_source *source,
                                         evsrc_token token, evsrc_interest interests);

/*
 * Replaces the token and interests of a registered source by calling its
 * reregister_source op. It also rearms an EVSRC_ONESHOT registration, and,
 * for an edge-triggered one, reports readiness that is already present.
 * Errors: -EINVAL as for register; -ENOENT if the source is not registered
 * with this registry's queue; otherwise the op's error.
 * Thread-safe: any thread, through any handle of the queue.
 */
EVSRC_EXPORT int evsrc_registry_reregister(struct evsrc_registry *registry, struct evsrc_source *source,
                                           evsrc_token token, evsrc_interest interests);

/*
 * Removes a registered source by calling its deregister_source op. Events
 * already returned by a wait may still name it; no later wait does.
 * Errors: -EINVAL if registry, source or an op is NULL; -ENOENT if the source
 * is not registered with this registry's queue; otherwise the op's error.
 * Whatever the op returns, the source is no longer marked as registered
 * afterwards, so it can be registered again (as mio does).
 * Thread-safe: any thread, through any handle of the queue.
 */
EVSRC_EXPORT int evsrc_registry_deregister(struct evsrc_registry *registry, struct evsrc_source *source);

/*
 * The fd-level primitives that source ops are written with. They act on the
 * queue directly and keep no state: the kernel is the bookkeeper.
 *
 * evsrc_registry_register_fd: adds fd under token for interests.
 *   Errors: -EINVAL (NULL registry, invalid interests, fd is the queue
 *   itself); -EBADF (negative or closed fd); -EEXIST (fd already in this
 *   queue); -EPERM (fd cannot be watched, e.g. a regular file); -ENOMEM;
 *   -ENOSPC (the user's watch limit); -ELOOP (queues watching each other).
 * evsrc_registry_reregister_fd: replaces token and interests of fd.
 *   Errors: as above, and -ENOENT if fd is not in this queue.
 * evsrc_registry_deregister_fd: removes fd.
 *   Errors: -EINVAL (NULL registry); -EBADF; -ENOENT if fd is not in this
 *   queue.
 * Thread-safe: any thread, through any handle of the queue.
 *
 * Re-arming a raw fd: the portable rule
 * -------------------------------------
 * With the epoll backend (the default) the kernel keeps each edge. A build
 * with the poll(2) backend (meson -Dselector=poll, docs/backends.md) emulates
 * edge triggering: once an edge-triggered registration has reported a kind
 * of readiness, that kind is disarmed until the registration is re-armed.
 * The built-in sources re-arm their own fds when their I/O functions return
 * -EAGAIN (and when a counter such as a timerfd's is read), so users of them
 * need do nothing. For an fd whose I/O the library does not do (registered
 * with these fd-level calls, as an evsrc_source_fd, or by a custom source),
 * the rule is: once a read or write on it has returned EAGAIN, or has
 * moved less than asked where the program then stops and waits (a short
 * write, say), call evsrc_registry_reregister_fd() (or
 * evsrc_registry_reregister() for the source) with the same token and
 * interests before waiting for its next edge. (The built-in sources re-arm
 * on such short counts themselves.) On epoll the call is not needed and
 * costs one epoll_ctl; portable code makes it. On the poll backend, also
 * deregister a raw fd before closing it (the built-in close functions do it
 * themselves): a closed fd stays open in the set of a wait already blocked
 * until that wait returns, and if its number is reused by another eventfd,
 * timerfd or other anonymous-inode fd, the stale registration can be taken
 * for the new fd's (another kind of file under the number is told apart).
 *
 * On Windows fd is a SOCKET (platform.h) and only sockets can be registered:
 * -EBADF for INVALID_SOCKET, -ENOTSOCK for another handle. The Windows
 * backend emulates edges as the poll(2) backend does, so the rule above
 * holds there too (docs/backends.md).
 */
EVSRC_EXPORT int evsrc_registry_register_fd(struct evsrc_registry *registry, evsrc_fd fd, evsrc_token token,
                                            evsrc_interest interests);
EVSRC_EXPORT int evsrc_registry_reregister_fd(struct evsrc_registry *registry, evsrc_fd fd, evsrc_token token,
                                              evsrc_interest interests);
EVSRC_EXPORT int evsrc_registry_deregister_fd(struct evsrc_registry *registry, evsrc_fd fd);

/*
 * Makes an owned handle to the same queue and stores it in *out. It holds
 * its own close-on-exec duplicate of the queue fd (on the poll(2) backend, a
 * reference to the shared queue), so it stays valid after
 * the poll (and any other handle) is freed; events registered through it
 * arrive at the poll while the poll lives. Free it with evsrc_registry_free().
 * Errors: -EINVAL if registry or out is NULL; -ENOMEM; -EMFILE/-ENFILE.
 * *out is untouched on error. Thread-safe.
 */
EVSRC_EXPORT int evsrc_registry_try_clone(const struct evsrc_registry *registry,
                                          struct evsrc_registry **out);

/*
 * Frees a clone made by evsrc_registry_try_clone(). NULL does nothing, and so
 * does the borrowed registry of a poll (it belongs to the poll, which frees
 * it). The queue itself lives on while any other handle to it does.
 * Thread-safety: only once no other thread uses this clone.
 */
EVSRC_EXPORT void evsrc_registry_free(struct evsrc_registry *registry);

EVSRC_END_DECLS

#endif /* EVSRC_REGISTRY_H */
