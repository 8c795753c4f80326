/* SPDX-License-Identifier: MIT */
/*
 * The write queue's forms for the Linux-only sources (<evsrc/write_queue.h>):
 * Unix streams, pipes and Unix datagram sockets, through their public I/O
 * calls, as the portable forms in write_queue.c go through TCP's and UDP's.
 */
#include <evsrc/write_queue.h>

#include <errno.h>

#include <evsrc/pipe.h>
#include <evsrc/unix.h>

static ssize_t unix_writev(void *context, const struct iovec *iov, int iovcnt)
{
    return evsrc_unix_stream_writev(context, iov, iovcnt);
}

/* One buffer per call: the pipe's write is the one that keeps SIGPIPE away. */
static ssize_t pipe_writev(void *context, const struct iovec *iov, int iovcnt)
{
    (void)iovcnt;
    return evsrc_pipe_sender_write(context, iov[0].iov_base, iov[0].iov_len);
}

EVSRC_EXPORT int evsrc_write_queue_flush_unix(struct evsrc_write_queue *queue, struct evsrc_unix_stream *stream)
{
    if (!stream)
        return -EINVAL;
    return evsrc_write_queue_flush(queue, unix_writev, stream);
}

EVSRC_EXPORT int evsrc_write_queue_flush_pipe(struct evsrc_write_queue *queue, struct evsrc_pipe_sender *sender)
{
    if (!sender)
        return -EINVAL;
    return evsrc_write_queue_flush(queue, pipe_writev, sender);
}

static ssize_t unix_datagram_send(void *context, const struct iovec *iov, int iovcnt, const struct sockaddr *to,
                                  socklen_t tolen)
{
    if (iovcnt > 1)
        return -EINVAL;
    const void *buf = iovcnt == 1 ? iov[0].iov_base : NULL;
    size_t len = iovcnt == 1 ? iov[0].iov_len : 0;
    if (!to)
        return evsrc_unix_datagram_send(context, buf, len);
    if (tolen < (socklen_t)sizeof(sa_family_t) || to->sa_family != AF_UNIX)
        return -EINVAL;
    return evsrc_unix_datagram_send_to_addr(context, buf, len, (const struct sockaddr_un *)(const void *)to, tolen);
}

EVSRC_EXPORT int evsrc_write_queue_flush_unix_datagram(struct evsrc_write_queue *queue,
                                                       struct evsrc_unix_datagram *datagram)
{
    if (!datagram)
        return -EINVAL;
    return evsrc_write_queue_flush_datagram(queue, unix_datagram_send, datagram);
}
