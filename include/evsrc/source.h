/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_SOURCE_H
#define EVSRC_SOURCE_H

/*
 * Sources: anything that can be registered with a queue.
 *
 * A source is any object that embeds a struct evsrc_source. The embedded
 * struct points at a `static const struct event_source_ops` table, shared by
 * every instance of that kind of source, whose three functions register,
 * reregister and deregister the object's fds through the fd-level registry
 * functions (evsrc_registry_register_fd() and its siblings). This is mio's
 * `Source` trait in C:
 *
 *     struct my_source {
 *         int fd;
 *         struct evsrc_source source;
 *     };
 *
 *     static int my_register(struct evsrc_source *source, struct evsrc_registry *registry,
 *                            evsrc_token token, evsrc_interest interests)
 *     {
 *         struct my_source *self = evsrc_container_of(source, struct my_source, source);
 *         return evsrc_registry_register_fd(registry, self->fd, token, interests);
 *     }
 *     // my_reregister and my_deregister likewise
 *
 *     static const struct event_source_ops my_source_ops = {
 *         my_register, my_reregister, my_deregister,
 *     };
 *
 *     struct my_source s = { fd, EVSRC_SOURCE_INIT(&my_source_ops) };
 *     evsrc_registry_register(registry, &s.source, token, EVSRC_READABLE);
 *
 * A source that must act at a time (a timer queue, a retry schedule, a
 * rate limiter) registers a struct evsrc_deadline in its ops beside its fds,
 * or instead of them: the poll's wait then returns by the deadline and
 * reports the source's token (<evsrc/deadline.h>, and section 7b of
 * docs/custom-sources.md).
 *
 * Ownership: the caller owns the source struct and whatever it holds
 * (stack, heap or embedded, as the caller likes); the library keeps no
 * pointer to it after a call returns, and allocates nothing per source.
 * docs/custom-sources.md is the full tutorial.
 *
 * fork(): a source is the caller's struct, so a child process has its own
 * copy. A source registered with a parent's queue counts as unregistered in
 * the child (even if a parent thread was registering it at the fork) and may
 * be registered with a poll the child makes; closing it closes only the
 * child's copy of its fd. Calls on the parent's registries return -ECHILD
 * (poll.h, "fork()").
 */

#include <stddef.h>
#include <stdint.h>

#include <evsrc/export.h>
#include <evsrc/interest.h>
#include <evsrc/platform.h>

EVSRC_BEGIN_DECLS

struct evsrc_registry;
struct evsrc_source;

/*
 * The operations of a kind of source. All three must be set. The registry
 * calls them after validating its arguments and checking the source's
 * registration state, so an op sees a non-NULL source and registry, valid
 * interests, and for reregister/deregister a source registered with this
 * registry's queue. An op returns 0 (or any non-negative value) on success
 * and -errno on failure; the value reaches the caller unchanged.
 *
 * An op that registers several fds must undo what it did when a later step
 * fails, so that failure leaves nothing registered.
 */
struct event_source_ops {
    int (*register_source)(struct evsrc_source *source, struct evsrc_registry *registry,
                           evsrc_token token, evsrc_interest interests);
    int (*reregister_source)(struct evsrc_source *source, struct evsrc_registry *registry,
                             evsrc_token token, evsrc_interest interests);
    int (*deregister_source)(struct evsrc_source *source, struct evsrc_registry *registry);
};

/*
 * The ops table under an evsrc_ name. struct event_source_ops is the one
 * public name without the prefix; it stays, as existing sources spell it, and
 * both names are the same type.
 */
typedef struct event_source_ops evsrc_source_ops;

/*
 * The registration record is a 64-bit atomic, so it must be 8-byte aligned
 * on every ABI: i386 aligns uint64_t to 4 inside structs, where an atomic
 * access could straddle a cache line (or not be lock-free at all).
 */
#if defined(__cplusplus)
#define EVSRC_ALIGNED_8 alignas(8)
#else
#define EVSRC_ALIGNED_8 _Alignas(8)
#endif

/*
 * The part of a source that the library knows. Embed it anywhere in your
 * struct; set `ops` and zero the rest (EVSRC_SOURCE_INIT or
 * evsrc_source_init() do both).
 */
struct evsrc_source {
    const struct event_source_ops *ops;
    /*
     * Private: the queue this source is registered with (0 when none), kept
     * by the registry so that double registration and deregistration through
     * the wrong queue are caught. Read and written atomically.
     */
    EVSRC_ALIGNED_8 uint64_t registered_queue;
};

/* A static initialiser: struct my_source s = { .source = EVSRC_SOURCE_INIT(&ops) }; */
#define EVSRC_SOURCE_INIT(ops_table) { (ops_table), 0 }

/*
 * Sets source->ops and clears its registration state. Use it on a source
 * struct before its first registration, or to reset a source once its fds
 * are closed (closing an fd takes it out of every queue; this is how a
 * custom source's close function clears the record, as the built-in ones
 * do). Must not be called while the source's fds are still in a live queue:
 * that registration would be forgotten, not undone.
 * Errors: -EINVAL if source or ops is NULL. Not thread-safe for one source.
 */
EVSRC_EXPORT int evsrc_source_init(struct evsrc_source *source, const struct event_source_ops *ops);

/*
 * Recovers the struct that embeds `ptr` as its `member`:
 * struct my_source *s = evsrc_container_of(source, struct my_source, source);
 */
#define evsrc_container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/*
 * A ready-made source for a plain fd that the caller already has (mio's
 * SourceFd). It does not own the fd: closing it stays the caller's job.
 *
 * Close it with evsrc_source_fd_close(), or deregister it BEFORE closing its
 * fd. Never deregister after close(2): the kernel knows registrations by fd
 * number, and once the fd is closed that number may already name a new fd
 * (the next pipe, socket or accept), whose registration the deregister would
 * remove, silently. The same holds for every custom source.
 */
struct evsrc_source_fd {
    struct evsrc_source source;
    evsrc_fd fd; /* an int fd; a SOCKET on Windows (platform.h) */
};

/*
 * Initialises a raw-fd source for `fd`. Register it as &s->source.
 * Errors: -EINVAL if s is NULL; -EBADF if fd is negative (INVALID_SOCKET on
 * Windows). Thread-safe for distinct structs.
 */
EVSRC_EXPORT int evsrc_source_fd_init(struct evsrc_source_fd *s, evsrc_fd fd);

/*
 * Closes s->fd and clears the registration record in one call, leaving
 * s->fd at -1: closing the fd takes it out of the queue, and the cleared
 * record makes a later evsrc_registry_deregister() on s a harmless -ENOENT
 * instead of a deregister of whatever fd now has that number. If the fd has
 * copies (dup(), fork(), SCM_RIGHTS), the open file stays in the queue until
 * they are closed too: deregister first in that case, then call this.
 * Returns 0 even when close(2) reports an error (the fd is released either
 * way on Linux).
 * Errors: -EINVAL if s is NULL; -EBADF if s->fd is already negative (closed).
 * Not thread-safe for one struct (as close(2)); distinct structs are independent.
 */
EVSRC_EXPORT int evsrc_source_fd_close(struct evsrc_source_fd *s);

EVSRC_END_DECLS

#endif /* EVSRC_SOURCE_H */
