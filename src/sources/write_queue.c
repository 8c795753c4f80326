/* SPDX-License-Identifier: MIT */
#include <evsrc/write_queue.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h> /* IOV_MAX */

#include <evsrc/registry.h>
#include <evsrc/tcp.h>
#include <evsrc/udp.h>

#include "../platform/platform.h"

/* A request's life: initialised (or popped), in the pending list, in the done list. */
enum { REQUEST_IDLE, REQUEST_PENDING, REQUEST_DONE };

/* Buffers gathered per writev, and datagrams per sendmmsg: enough to fill a socket buffer, small on the stack. */
#define STREAM_BATCH 64
#define DATAGRAM_BATCH 32

static const struct iovec *request_iov(const struct evsrc_write_request *request)
{
    return request->iov ? request->iov : &request->buffer;
}

static size_t request_length(const struct evsrc_write_request *request)
{
    const struct iovec *iov = request_iov(request);
    size_t total = 0;
    for (int i = 0; i < request->iovcnt; i++)
        total += iov[i].iov_len;
    return total;
}

static void request_reset(struct evsrc_write_request *request)
{
    request->next = NULL;
    request->to = NULL;
    request->tolen = 0;
    request->written = 0;
    request->offset = 0;
    request->index = 0;
    request->error = 0;
    request->state = REQUEST_IDLE;
}

EVSRC_EXPORT int evsrc_write_request_init(struct evsrc_write_request *request, const struct iovec *iov, int iovcnt)
{
    if (!request || iovcnt < 0 || iovcnt > IOV_MAX || (!iov && iovcnt > 0))
        return -EINVAL;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (!iov[i].iov_base && iov[i].iov_len > 0)
            return -EINVAL;
        if (iov[i].iov_len > (size_t)SSIZE_MAX - total)
            return -EINVAL;
        total += iov[i].iov_len;
    }
    /* No -EBUSY check: an uninitialised struct may hold any state (the header says so). */
    request_reset(request);
    request->iov = iovcnt > 0 ? iov : NULL;
    request->buffer = (struct iovec){0};
    request->iovcnt = iovcnt;
    return 0;
}

EVSRC_EXPORT int evsrc_write_request_init_buffer(struct evsrc_write_request *request, const void *buf, size_t len)
{
    if (!request || (!buf && len > 0) || len > (size_t)SSIZE_MAX)
        return -EINVAL;
    request_reset(request);
    request->iov = NULL;
    /* iov_base is not const in POSIX; the queue only ever reads through it. */
    request->buffer = (struct iovec){.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
    request->iovcnt = 1;
    return 0;
}

EVSRC_EXPORT int evsrc_write_request_set_destination(struct evsrc_write_request *request, const struct sockaddr *to,
                                                     socklen_t tolen)
{
    if (!request || (!to && tolen > 0) || (to && tolen == 0))
        return -EINVAL;
    if (request->state == REQUEST_PENDING || request->state == REQUEST_DONE)
        return -EBUSY;
    request->to = to;
    request->tolen = tolen;
    return 0;
}

EVSRC_EXPORT int evsrc_write_request_error(const struct evsrc_write_request *request)
{
    return request && request->state != REQUEST_PENDING ? request->error : 0;
}

EVSRC_EXPORT size_t evsrc_write_request_written(const struct evsrc_write_request *request)
{
    return request ? request->written : 0;
}

EVSRC_EXPORT int evsrc_write_queue_init(struct evsrc_write_queue *queue)
{
    if (!queue)
        return -EINVAL;
    *queue = (struct evsrc_write_queue){0};
    return 0;
}

EVSRC_EXPORT int evsrc_write_queue_push(struct evsrc_write_queue *queue, struct evsrc_write_request *request)
{
    if (!queue || !request)
        return -EINVAL;
    if (request->state == REQUEST_PENDING || request->state == REQUEST_DONE)
        return -EBUSY;
    /* A popped request pushed again starts from its first byte. */
    request->next = NULL;
    request->written = 0;
    request->offset = 0;
    request->index = 0;
    request->error = 0;
    request->state = REQUEST_PENDING;
    if (queue->tail)
        queue->tail->next = request;
    else
        queue->head = request;
    queue->tail = request;
    queue->pending++;
    queue->pending_bytes += request_length(request);
    return 0;
}

/* Moves the head request to the done list with `error` (0: written in full). */
static void complete_head(struct evsrc_write_queue *queue, int error)
{
    struct evsrc_write_request *request = queue->head;
    queue->head = request->next;
    if (!queue->head)
        queue->tail = NULL;
    queue->pending--;
    queue->pending_bytes -= request_length(request) - request->written;
    request->next = NULL;
    request->error = error;
    request->state = REQUEST_DONE;
    if (queue->done_tail)
        queue->done_tail->next = request;
    else
        queue->done_head = request;
    queue->done_tail = request;
}

EVSRC_EXPORT struct evsrc_write_request *evsrc_write_queue_pop(struct evsrc_write_queue *queue)
{
    if (!queue || !queue->done_head)
        return NULL;
    struct evsrc_write_request *request = queue->done_head;
    queue->done_head = request->next;
    if (!queue->done_head)
        queue->done_tail = NULL;
    request->next = NULL;
    request->state = REQUEST_IDLE;
    return request;
}

EVSRC_EXPORT size_t evsrc_write_queue_pending(const struct evsrc_write_queue *queue)
{
    return queue ? queue->pending : 0;
}

EVSRC_EXPORT size_t evsrc_write_queue_pending_bytes(const struct evsrc_write_queue *queue)
{
    return queue ? queue->pending_bytes : 0;
}

EVSRC_EXPORT size_t evsrc_write_queue_cancel(struct evsrc_write_queue *queue)
{
    size_t cancelled = 0;
    while (queue && queue->head) {
        complete_head(queue, -ECANCELED);
        cancelled++;
    }
    return cancelled;
}

/*
 * Accounts `n` bytes written from the head on, handing back every request
 * they finish. With n 0 it hands back the empty requests (and skips the
 * empty buffers) at the head, so that a gather always starts on a byte.
 */
static void consume(struct evsrc_write_queue *queue, size_t n)
{
    queue->pending_bytes -= n;
    while (queue->head) {
        struct evsrc_write_request *request = queue->head;
        const struct iovec *iov = request_iov(request);
        while (request->index < request->iovcnt) {
            size_t left = iov[request->index].iov_len - request->offset;
            if (n < left) {
                request->offset += n;
                request->written += n;
                return;
            }
            n -= left;
            request->written += left;
            request->index++;
            request->offset = 0;
        }
        /* complete_head subtracts what was unwritten, which is nothing now. */
        complete_head(queue, 0);
    }
}

/* Gathers the pending bytes, from the head's first unwritten one, into at most STREAM_BATCH buffers. */
static int gather(const struct evsrc_write_queue *queue, struct iovec *out, size_t *bytes)
{
    int count = 0;
    *bytes = 0;
    for (const struct evsrc_write_request *request = queue->head; request && count < STREAM_BATCH;
         request = request->next) {
        const struct iovec *iov = request_iov(request);
        for (int i = request->index; i < request->iovcnt && count < STREAM_BATCH; i++) {
            size_t skip = i == request->index ? request->offset : 0;
            if (iov[i].iov_len == skip)
                continue;
            out[count].iov_base = (char *)iov[i].iov_base + skip;
            out[count].iov_len = iov[i].iov_len - skip;
            *bytes += out[count].iov_len;
            count++;
        }
    }
    return count;
}

EVSRC_EXPORT int evsrc_write_queue_flush(struct evsrc_write_queue *queue,
                                         evsrc_write_queue_writev_fn *write_function, void *context)
{
    if (!queue || !write_function)
        return -EINVAL;
    for (;;) {
        consume(queue, 0);
        if (!queue->head)
            return 1;
        struct iovec iov[STREAM_BATCH];
        size_t bytes;
        int count = gather(queue, iov, &bytes);
        ssize_t n = write_function(context, iov, count);
        if (n == -EINTR)
            continue;
        if (n == -EAGAIN || n == 0)
            return 0;
        if (n > 0 && (size_t)n > bytes)
            n = -EIO;
        if (n < 0) {
            complete_head(queue, (int)n);
            return (int)n;
        }
        consume(queue, (size_t)n);
    }
}

static ssize_t tcp_writev(void *context, const struct iovec *iov, int iovcnt)
{
    return evsrc_tcp_stream_writev(context, iov, iovcnt);
}

EVSRC_EXPORT int evsrc_write_queue_flush_tcp(struct evsrc_write_queue *queue, struct evsrc_tcp_stream *stream)
{
    if (!stream)
        return -EINVAL;
    return evsrc_write_queue_flush(queue, tcp_writev, stream);
}

/* Hands back the head datagram as sent (n bytes) or failed (n < 0). */
static void complete_datagram(struct evsrc_write_queue *queue, ssize_t n)
{
    if (n >= 0) {
        /* complete_head subtracts the unwritten rest; the written part goes here. */
        queue->head->written = (size_t)n;
        queue->pending_bytes -= (size_t)n;
    }
    complete_head(queue, n < 0 ? (int)n : 0);
}

EVSRC_EXPORT int evsrc_write_queue_flush_datagram(struct evsrc_write_queue *queue,
                                                  evsrc_write_queue_send_fn *send_function, void *context)
{
    if (!queue || !send_function)
        return -EINVAL;
    while (queue->head) {
        struct evsrc_write_request *request = queue->head;
        ssize_t n = send_function(context, request_iov(request), request->iovcnt, request->to, request->tolen);
        if (n == -EINTR)
            continue;
        if (n == -EAGAIN)
            return 0;
        if (n > 0 && (size_t)n > request_length(request))
            n = -EIO;
        complete_datagram(queue, n);
        if (n < 0)
            return (int)n;
    }
    return 1;
}

#if PLATFORM_HAS_SENDMMSG
EVSRC_EXPORT int evsrc_write_queue_flush_udp(struct evsrc_write_queue *queue, struct evsrc_udp_socket *socket)
{
    if (!queue || !socket)
        return -EINVAL;
    while (queue->head) {
        struct mmsghdr messages[DATAGRAM_BATCH];
        unsigned count = 0;
        for (struct evsrc_write_request *request = queue->head; request && count < DATAGRAM_BATCH;
             request = request->next) {
            messages[count] = (struct mmsghdr){0};
            struct msghdr *header = &messages[count].msg_hdr;
            header->msg_name = (void *)(uintptr_t)request->to;
            header->msg_namelen = request->tolen;
            header->msg_iov = (struct iovec *)(uintptr_t)request_iov(request);
            header->msg_iovlen = (size_t)request->iovcnt;
            count++;
        }
        int sent = evsrc_udp_socket_send_many(socket, messages, count);
        if (sent == -EINTR)
            continue;
        if (sent == -EAGAIN)
            return 0;
        if (sent < 0) {
            complete_datagram(queue, sent);
            return sent;
        }
        for (int i = 0; i < sent; i++)
            complete_datagram(queue, (ssize_t)messages[i].msg_len);
    }
    return 1;
}
#else
/* One datagram per call where there are no batches; its send takes one buffer, as the Unix datagram form's. */
static ssize_t udp_send(void *context, const struct iovec *iov, int iovcnt, const struct sockaddr *to,
                        socklen_t tolen)
{
    if (iovcnt > 1)
        return -EINVAL;
    const void *buf = iovcnt == 1 ? iov[0].iov_base : NULL;
    size_t len = iovcnt == 1 ? iov[0].iov_len : 0;
    return to ? evsrc_udp_socket_send_to(context, buf, len, to, tolen) : evsrc_udp_socket_send(context, buf, len);
}

EVSRC_EXPORT int evsrc_write_queue_flush_udp(struct evsrc_write_queue *queue, struct evsrc_udp_socket *socket)
{
    if (!queue || !socket)
        return -EINVAL;
    return evsrc_write_queue_flush_datagram(queue, udp_send, socket);
}
#endif

EVSRC_EXPORT int evsrc_write_queue_update_interest(struct evsrc_write_queue *queue, struct evsrc_registry *registry,
                                                   struct evsrc_source *source, evsrc_token token,
                                                   evsrc_interest interest)
{
    if (!queue || !registry || !source || (interest & EVSRC_WRITABLE) ||
        !(interest & (EVSRC_READABLE | EVSRC_PRIORITY)))
        return -EINVAL;
    bool want = queue->head != NULL;
    if (want == queue->writable)
        return 0;
    int r = evsrc_registry_reregister(registry, source, token, want ? interest | EVSRC_WRITABLE : interest);
    if (r < 0)
        return r;
    queue->writable = want;
    return 1;
}
