/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_WRITE_QUEUE_H
#define EVSRC_WRITE_QUEUE_H

/*
 * Write queues: the pending output of one connection or socket, as a queue
 * of caller-owned requests, each one or more buffers. A flush writes as much
 * of the queue as the socket takes, in order, with one writev (streams) or
 * one sendmsg/sendmmsg (datagrams) per round; what a short write leaves stays
 * queued, and every request written in full is handed back to the caller,
 * who pops it. The queue allocates nothing, ever: it links the caller's
 * request structs together.
 *
 *     struct evsrc_write_queue queue;          // one per connection
 *     struct evsrc_write_request req;          // often inside the caller's message
 *     evsrc_write_queue_init(&queue);
 *
 *     evsrc_write_request_init(&req, iov, 2);  // the iovecs and their bytes stay the caller's
 *     evsrc_write_queue_push(&queue, &req);
 *     int drained = evsrc_write_queue_flush_tcp(&queue, &stream);    // 1 drained, 0 not, or -errno
 *     evsrc_write_queue_update_interest(&queue, registry, &stream.source, token, EVSRC_READABLE);
 *     for (struct evsrc_write_request *done; (done = evsrc_write_queue_pop(&queue));)
 *         message_free(evsrc_container_of(done, struct message, req));
 *
 * and on each writable event the loop flushes again, pops, and updates the
 * interest the same way.
 *
 * Forms
 * -----
 * Streams (TCP, Unix streams, pipes): the bytes of every request are written
 * in order as one byte stream; a request may be written over several
 * flushes. evsrc_write_queue_flush() takes any writev-like function, and
 * _flush_tcp, _flush_unix and _flush_pipe call the sources' own write calls
 * (never SIGPIPE). Datagrams (UDP, Unix datagrams): one request is one
 * datagram, sent whole or not at all, to the request's destination
 * (evsrc_write_request_set_destination) or to the connected peer;
 * evsrc_write_queue_flush_datagram() takes any sendmsg-like function,
 * _flush_udp sends up to 32 datagrams per system call (sendmmsg), and
 * _flush_unix_datagram one per call. Use one form per queue.
 *
 * Flushing and writable interest
 * ------------------------------
 * A flush writes until the queue is empty (returns 1) or the socket takes no
 * more (-EAGAIN from the write, returns 0): it always goes on to the
 * -EAGAIN, so both selector backends re-arm the socket and a writable event
 * comes when there is room. -EAGAIN and -EINTR are never errors of a flush.
 * While a flush returns 0, the source needs EVSRC_WRITABLE; once it returns 1
 * it does not. evsrc_write_queue_update_interest() reregisters the source
 * only when that changes, so calling it after every flush costs nothing in
 * the common case. A source that is only ever written to (a pipe's write
 * end) can instead be registered EVSRC_WRITABLE once, edge-triggered, and
 * flushed on each of its events.
 *
 * Errors
 * ------
 * When a write fails, the request at the head of the queue is handed back
 * with the error (evsrc_write_request_error), the flush returns it, and the
 * rest stay queued. On a stream the error is the connection's (-EPIPE,
 * -ECONNRESET): close it, and evsrc_write_queue_cancel() hands the rest back.
 * On a datagram socket it may concern one datagram (-EMSGSIZE, or
 * -ECONNREFUSED for an earlier one): flushing again goes on with the next.
 *
 * Ownership and threads
 * ---------------------
 * Requests, their iovec arrays, their bytes and their destination stay the
 * caller's, and must stay alive and unchanged from the push until the
 * request is handed back by evsrc_write_queue_pop(). A request is in at most
 * one queue, once; after the pop it may be initialised or pushed again.
 * Never copy a queue or a queued request. The queue itself is the caller's
 * too; it holds no resource, so there is nothing to free: cancel and pop
 * what it holds before freeing the requests. Not thread-safe: one thread
 * uses a queue and its requests at a time.
 */

#include <stdbool.h>
#include <stddef.h>
#if defined(_WIN32)
/* Winsock's addresses; struct iovec and ssize_t come from <evsrc/platform.h>. */
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#endif

#include <evsrc/export.h>
#include <evsrc/platform.h>
#include <evsrc/interest.h>

EVSRC_BEGIN_DECLS

struct evsrc_registry;
struct evsrc_source;
struct evsrc_tcp_stream;
struct evsrc_unix_stream;
struct evsrc_unix_datagram;
struct evsrc_pipe_sender;
struct evsrc_udp_socket;

/*
 * One request: one or more buffers, written in order. Embed it in your own
 * struct (recover that with evsrc_container_of) or keep it anywhere that
 * lives long enough. The fields are private: set them with the init
 * functions, read them with the accessors.
 */
struct evsrc_write_request {
    struct evsrc_write_request *next; /* private */
    const struct iovec *iov;          /* private: NULL for the one `buffer` */
    struct iovec buffer;              /* private */
    const struct sockaddr *to;        /* private */
    size_t written;                   /* private */
    size_t offset;                    /* private: bytes of iov[index] written */
    int iovcnt;                       /* private */
    int index;                        /* private: the first iovec not written in full */
    int error;                        /* private */
    socklen_t tolen;                  /* private */
    unsigned char state;              /* private */
};

/*
 * A queue of requests. Fields private. Initialise with
 * evsrc_write_queue_init(); there is nothing to free.
 */
struct evsrc_write_queue {
    struct evsrc_write_request *head, *tail;           /* private: pending */
    struct evsrc_write_request *done_head, *done_tail; /* private: to pop */
    size_t pending;                                    /* private */
    size_t pending_bytes;                              /* private */
    bool writable;                                     /* private: the interest last set */
};

/*
 * Sets up `request` to write iov[0..iovcnt) (0 buffers is an empty request,
 * handed back at its turn without a write). The array and the bytes are
 * borrowed, not copied: keep them alive until the request is handed back.
 * Clears any destination and any earlier result.
 * Errors: -EINVAL if request is NULL, iovcnt is negative or above IOV_MAX,
 * iov is NULL with iovcnt > 0, an entry has a NULL iov_base with iov_len > 0,
 * or the lengths add up to more than SSIZE_MAX. Never call it on a request
 * in a queue (pushed and not yet popped): it cannot tell one from an
 * uninitialised struct, and would cut the queue. Not thread-safe.
 */
EVSRC_EXPORT int evsrc_write_request_init(struct evsrc_write_request *request, const struct iovec *iov,
                                          int iovcnt);

/*
 * Sets up `request` to write one buffer of len bytes (borrowed, as above);
 * the request keeps the iovec itself.
 * Errors: -EINVAL if request is NULL, buf is NULL with len > 0, or len is
 * above SSIZE_MAX. As for evsrc_write_request_init(), never on a request in
 * a queue. Not thread-safe.
 */
EVSRC_EXPORT int evsrc_write_request_init_buffer(struct evsrc_write_request *request, const void *buf,
                                                 size_t len);

/*
 * For the datagram forms: sends the request to `to` (borrowed: keep it alive
 * until the request is handed back) instead of the connected peer. NULL (with
 * tolen 0) goes back to the connected peer. The stream forms ignore it.
 * Errors: -EINVAL if request is NULL, to is NULL with tolen > 0, or not NULL
 * with tolen 0; -EBUSY if the request is in a queue. Not thread-safe.
 */
EVSRC_EXPORT int evsrc_write_request_set_destination(struct evsrc_write_request *request,
                                                     const struct sockaddr *to, socklen_t tolen);

/*
 * The result of a handed-back request: 0 when it was written in full, or
 * -errno: the write error that ended it, or -ECANCELED from
 * evsrc_write_queue_cancel(). 0 for NULL and for a request not handed back.
 */
EVSRC_EXPORT int evsrc_write_request_error(const struct evsrc_write_request *request);

/*
 * The bytes of the request written so far (all of them once it completed
 * without error; on a stream, part of it when it failed or was cancelled
 * midway). 0 for NULL.
 */
EVSRC_EXPORT size_t evsrc_write_request_written(const struct evsrc_write_request *request);

/* Makes `queue` empty. Errors: -EINVAL if queue is NULL. Not thread-safe. */
EVSRC_EXPORT int evsrc_write_queue_init(struct evsrc_write_queue *queue);

/*
 * Appends `request` (initialised) to the queue's pending requests. Nothing
 * is written until the next flush.
 * Errors: -EINVAL if queue or request is NULL; -EBUSY if the request is
 * already in this or another queue (pushed and not yet popped).
 * Not thread-safe.
 */
EVSRC_EXPORT int evsrc_write_queue_push(struct evsrc_write_queue *queue, struct evsrc_write_request *request);

/*
 * Hands back the oldest request that is done (written in full, failed or
 * cancelled), removing it from the queue, or NULL if none is. Requests come
 * back in the order they were pushed. Read its result with
 * evsrc_write_request_error(). Not thread-safe.
 */
EVSRC_EXPORT struct evsrc_write_request *evsrc_write_queue_pop(struct evsrc_write_queue *queue);

/* The number of requests not yet done (0 for NULL): 0 means no writable interest is needed. */
EVSRC_EXPORT size_t evsrc_write_queue_pending(const struct evsrc_write_queue *queue);

/* The bytes of those requests not yet written (0 for NULL): for a high-water mark on output. */
EVSRC_EXPORT size_t evsrc_write_queue_pending_bytes(const struct evsrc_write_queue *queue);

/*
 * Hands back every pending request, in order, with -ECANCELED (a stream's
 * partly written one keeps its count of written bytes), and returns how
 * many. For a connection that closes. 0 for NULL. Not thread-safe.
 */
EVSRC_EXPORT size_t evsrc_write_queue_cancel(struct evsrc_write_queue *queue);

/*
 * A writev-like function for evsrc_write_queue_flush(): writes iov[0..iovcnt)
 * (1 <= iovcnt <= 64, every entry non-empty) and returns the bytes written,
 * which may be fewer than asked, or -errno (-EAGAIN when nothing fits).
 */
typedef ssize_t evsrc_write_queue_writev_fn(void *context, const struct iovec *iov, int iovcnt);

/*
 * A sendmsg-like function for evsrc_write_queue_flush_datagram(): sends one
 * datagram of iov[0..iovcnt) to `to` (NULL: the connected peer) and returns
 * its length, or -errno (-EAGAIN when it does not fit now).
 */
typedef ssize_t evsrc_write_queue_send_fn(void *context, const struct iovec *iov, int iovcnt,
                                          const struct sockaddr *to, socklen_t tolen);

/*
 * Stream form: writes the pending bytes in order through `write_function` (called
 * with `context`, up to 64 buffers a call) until the queue is empty or the
 * function returns -EAGAIN. Requests written in full go to the done list.
 * Returns 1 if the queue is empty (drained), 0 if bytes remain (wait for
 * writable), or the write's -errno, with which the head request was handed
 * back (see "Errors"); -EIO if the function claims more bytes than it was
 * given. A function that returns 0 stops the flush with 0.
 * Errors: -EINVAL if queue or write_function is NULL. Not thread-safe.
 */
EVSRC_EXPORT int evsrc_write_queue_flush(struct evsrc_write_queue *queue,
                                         evsrc_write_queue_writev_fn *write_function, void *context);

/*
 * On Windows: evsrc_write_queue_flush_tcp() and evsrc_write_queue_flush_udp()
 * are there (UDP one datagram per call, and a request of one buffer, as for
 * Unix datagrams below: Winsock has no batches); the forms for Unix streams,
 * pipes and Unix datagram sockets, which Windows builds lack, are not.
 *
 * evsrc_write_queue_flush() through evsrc_tcp_stream_writev(),
 * evsrc_unix_stream_writev() or evsrc_pipe_sender_write() (one buffer per
 * call: pipes have no gather write that keeps SIGPIPE away). Same returns;
 * -EINVAL also if the source is NULL, and its write's errors otherwise
 * (-EBADF when closed, -EPIPE or -ECONNRESET when the peer is gone).
 */
EVSRC_EXPORT int evsrc_write_queue_flush_tcp(struct evsrc_write_queue *queue, struct evsrc_tcp_stream *stream);
EVSRC_EXPORT int evsrc_write_queue_flush_unix(struct evsrc_write_queue *queue, struct evsrc_unix_stream *stream);
EVSRC_EXPORT int evsrc_write_queue_flush_pipe(struct evsrc_write_queue *queue, struct evsrc_pipe_sender *sender);

/*
 * Datagram form: sends each pending request as one datagram through
 * `send_function`
 * until the queue is empty or the function returns -EAGAIN. Returns as
 * evsrc_write_queue_flush(). Errors: -EINVAL if queue or send_function is
 * NULL.
 * Not thread-safe.
 */
EVSRC_EXPORT int evsrc_write_queue_flush_datagram(struct evsrc_write_queue *queue,
                                                  evsrc_write_queue_send_fn *send_function, void *context);

/*
 * The datagram form on a UDP socket, up to 32 datagrams per system call
 * (evsrc_udp_socket_send_many). Same returns; -EINVAL also if socket is
 * NULL, and the socket's send errors otherwise.
 */
EVSRC_EXPORT int evsrc_write_queue_flush_udp(struct evsrc_write_queue *queue, struct evsrc_udp_socket *socket);

/*
 * The datagram form on a Unix datagram socket, one datagram per call
 * (evsrc_unix_datagram_send or _send_to_addr). Its sends take one buffer, so
 * a request of more than one buffer is handed back with -EINVAL (the flush
 * returns -EINVAL), as is a destination that is not AF_UNIX. Same returns
 * otherwise; -EINVAL also if datagram is NULL.
 */
EVSRC_EXPORT int evsrc_write_queue_flush_unix_datagram(struct evsrc_write_queue *queue,
                                                       struct evsrc_unix_datagram *datagram);

/*
 * Switches EVSRC_WRITABLE on the registered `source` to what the queue needs:
 * on while requests are pending, off once none are. It reregisters (with
 * `token` and `interest`, plus EVSRC_WRITABLE when on) only when that
 * changes, and returns 1 if it did, 0 if nothing changed. The queue starts
 * with writable off: register the source without EVSRC_WRITABLE, and call
 * this after each push and flush. `interest` is what the source keeps for
 * itself (EVSRC_READABLE, with EVSRC_LEVEL or the like); it must not hold
 * EVSRC_WRITABLE.
 * Errors: -EINVAL if queue, registry or source is NULL, interest holds
 * EVSRC_WRITABLE or neither EVSRC_READABLE nor EVSRC_PRIORITY; the errors
 * of evsrc_registry_reregister(), with the queue's state unchanged.
 * Thread-safety: the queue's thread (the reregister itself is thread-safe).
 */
EVSRC_EXPORT int evsrc_write_queue_update_interest(struct evsrc_write_queue *queue, struct evsrc_registry *registry,
                                                   struct evsrc_source *source, evsrc_token token,
                                                   evsrc_interest interest);

EVSRC_END_DECLS

#endif /* EVSRC_WRITE_QUEUE_H */
