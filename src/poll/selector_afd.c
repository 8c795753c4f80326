/* SPDX-License-Identifier: MIT */
/*
 * The Windows selector backend: an I/O completion port and AFD polls, the
 * design of mio (0.7 and later) and wepoll. See selector.h for the interface
 * and docs/backends.md for the design; in short:
 *
 * - A queue is a reference-counted object shared by a poll and its registry
 *   clones, with one completion port. Sockets are polled through a few
 *   handles opened on \Device\Afd (the driver behind Winsock), each shared by
 *   up to GROUP_SIZE registrations and associated with the port.
 * - A registration is an IOCTL_AFD_POLL on the socket's base handle (the
 *   provider's own socket under any layered service provider). An AFD poll
 *   is one-shot: its completion is collected by GetQueuedCompletionStatusEx
 *   in the wait, which reports it and submits the poll again with what the
 *   registration is still armed for.
 * - Edge triggering is emulated as on the poll(2) backend: an AFD event
 *   that reported is disarmed until the registration is re-armed, by
 *   reregister or by a built-in source's I/O function that would block
 *   (registry_fd_rearm). A hang-up or an error disarms everything.
 * - A change to a pending poll that needs more than it asked for cancels it
 *   (NtCancelIoFileEx); the cancelled completion submits the new one. A
 *   deregistration cancels too, and the registration's memory is reused only
 *   once its cancelled poll has completed: the kernel writes into it until then.
 * - Registrations live in chunks that never move (the kernel holds pointers
 *   into them) and grow with the peak count; a table indexed by the socket's
 *   handle value (handles are multiples of 4) finds them. Only growth allocates.
 * - A waker posts a completion (PostQueuedCompletionStatus): one per batch of
 *   wakes, as an eventfd's edge is.
 */
#include "selector.h"

#include <winsock2.h>
#include <mswsock.h>
#include <windows.h>
#include <winternl.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../platform/windows/posix.h"
#include "queue.h"
#include "rearm.h"

/* The AFD driver's poll: its ioctl, its events and its argument (wepoll and mio document the layout). */
#define IOCTL_AFD_POLL 0x00012024
#define AFD_POLL_RECEIVE 0x0001
#define AFD_POLL_RECEIVE_EXPEDITED 0x0002
#define AFD_POLL_SEND 0x0004
#define AFD_POLL_DISCONNECT 0x0008
#define AFD_POLL_ABORT 0x0010
#define AFD_POLL_LOCAL_CLOSE 0x0020
#define AFD_POLL_ACCEPT 0x0080
#define AFD_POLL_CONNECT_FAIL 0x0100

#define NT_STATUS_PENDING ((NTSTATUS)0x00000103L)
#define NT_STATUS_CANCELLED ((NTSTATUS)0xC0000120L)

struct afd_poll_handle_info {
    HANDLE handle;
    ULONG events;
    NTSTATUS status;
};

struct afd_poll_info {
    LARGE_INTEGER timeout;
    ULONG handle_count;
    ULONG exclusive;
    struct afd_poll_handle_info handles[1];
};

/* ntdll has it; mingw's headers do not declare it. */
NTSTATUS NTAPI NtCancelIoFileEx(HANDLE file, PIO_STATUS_BLOCK request, PIO_STATUS_BLOCK status);

/* How a registration's interests become AFD events, and which of them each kind disarms. */
#define AFD_READ (AFD_POLL_RECEIVE | AFD_POLL_ACCEPT | AFD_POLL_DISCONNECT)
#define AFD_WRITE AFD_POLL_SEND
#define AFD_PRIORITY AFD_POLL_RECEIVE_EXPEDITED
#define AFD_FAILURE (AFD_POLL_ABORT | AFD_POLL_CONNECT_FAIL)

/* Registrations per AFD handle (mio's choice): fewer handles, and no one handle's queue grows long. */
#define GROUP_SIZE 32
/* Registrations per chunk. */
#define CHUNK_SIZE 64
/* Completions taken per GetQueuedCompletionStatusEx: each is at most one event. */
#define WAIT_BATCH 256

/* One registration. iosb comes first: a completion's OVERLAPPED pointer is its address. */
struct afd_entry {
    IO_STATUS_BLOCK iosb;
    struct afd_poll_info info;
    IO_STATUS_BLOCK cancel_iosb;
    SOCKET socket;     /* as registered: the table's key */
    SOCKET base;       /* what AFD polls */
    uint64_t token;
    evsrc_interest interests; /* 0: the entry is free */
    uint32_t armed;           /* the AFD events it waits for now */
    uint32_t submitted;       /* those of the pending poll */
    unsigned group;
    unsigned next_free;       /* entry number + 1 of the next free one, 0 for none */
    unsigned next_level;      /* entry number + 1 of the next on the level list, 0 for none */
    bool pending;             /* a poll is in the kernel */
    bool level_queued;        /* on the level list: its next poll goes at the next wait */
    bool deleted;             /* deregistered: freed when its poll completes */
};

struct afd_group {
    HANDLE afd;
    unsigned users;
};

struct selector_afd {
    HANDLE port;
    unsigned refs;        /* handles: the poll and its clones, and wakers (atomic) */
    pthread_mutex_t lock; /* guards everything below */
    struct afd_group *groups;
    size_t groups_len;
    struct afd_entry **chunks;
    size_t chunks_len;
    unsigned free_head;   /* entry number + 1 of the first free entry, 0 for none */
    uint32_t *index;      /* index[socket / 4]: entry number + 1, 0 for none */
    size_t index_len;
    size_t pending;       /* polls in the kernel, waited for by the last close */
    unsigned level_head;  /* entry number + 1 of the first level-triggered entry to poll again, 0 for none */
    struct selector_afd *next_live, *prev_live;
};

/* A waker: one reference for its handle, one per completion posted and not yet taken. */
struct selector_afd_waker {
    struct selector_afd *queue;
    uint64_t token;      /* atomic: a deadline wake-up sets it with each post */
    unsigned refs;       /* atomic */
    unsigned posted;     /* atomic: a completion is in the port */
    unsigned closed;     /* atomic: freed by its owner; a completion still in the port reports nothing */
    unsigned taken_back; /* atomic: the completion in the port reports nothing (selector_wake_take_back) */
};

/* Every live queue, for registry_fd_rearm and registry_fd_forget, which know only a socket. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct selector_afd *live_queues;

/* An NTSTATUS as errno, through Win32's code and the one table (posix.c). */
static int errno_from_nt(NTSTATUS status)
{
    return platform_errno_from_wsa((int)RtlNtStatusToDosError(status));
}

static uint32_t interests_to_afd(evsrc_interest interests)
{
    uint32_t events = 0;
    if (interests & EVSRC_READABLE)
        events |= AFD_READ | AFD_FAILURE;
    if (interests & EVSRC_WRITABLE)
        events |= AFD_WRITE | AFD_FAILURE;
    if (interests & EVSRC_PRIORITY)
        events |= AFD_PRIORITY;
    return events;
}

/* mio's mapping of AFD events onto readiness, in epoll's flags; kinds not asked for are left out. */
static uint32_t afd_to_flags(uint32_t afd, evsrc_interest interests)
{
    uint32_t flags = 0;
    if (afd & (AFD_POLL_RECEIVE | AFD_POLL_ACCEPT))
        flags |= EVSRC_EVENT_FLAG_IN;
    if (afd & AFD_POLL_RECEIVE_EXPEDITED)
        flags |= EVSRC_EVENT_FLAG_PRI;
    if (afd & AFD_POLL_SEND)
        flags |= EVSRC_EVENT_FLAG_OUT;
    if (afd & AFD_POLL_DISCONNECT)
        flags |= EVSRC_EVENT_FLAG_IN | EVSRC_EVENT_FLAG_RDHUP;
    if (afd & AFD_POLL_ABORT)
        flags |= EVSRC_EVENT_FLAG_IN | EVSRC_EVENT_FLAG_OUT | EVSRC_EVENT_FLAG_RDHUP | EVSRC_EVENT_FLAG_HUP;
    if (afd & AFD_POLL_CONNECT_FAIL)
        flags |= EVSRC_EVENT_FLAG_IN | EVSRC_EVENT_FLAG_OUT | EVSRC_EVENT_FLAG_ERR | EVSRC_EVENT_FLAG_HUP;
    /* As epoll: error and hang-up whatever was asked, the kinds only when asked. */
    uint32_t allowed = EVSRC_EVENT_FLAG_ERR | EVSRC_EVENT_FLAG_HUP;
    if (interests & EVSRC_READABLE)
        allowed |= EVSRC_EVENT_FLAG_IN | EVSRC_EVENT_FLAG_RDHUP;
    if (interests & EVSRC_WRITABLE)
        allowed |= EVSRC_EVENT_FLAG_OUT;
    if (interests & EVSRC_PRIORITY)
        allowed |= EVSRC_EVENT_FLAG_PRI;
    return flags & allowed;
}

static struct afd_entry *entry_at(struct selector_afd *q, unsigned number)
{
    return &q->chunks[number / CHUNK_SIZE][number % CHUNK_SIZE];
}

static unsigned entry_number(struct selector_afd *q, const struct afd_entry *e)
{
    for (size_t c = 0; c < q->chunks_len; c++)
        if (e >= q->chunks[c] && e < q->chunks[c] + CHUNK_SIZE)
            return (unsigned)(c * CHUNK_SIZE + (size_t)(e - q->chunks[c]));
    return UINT_MAX;
}

static struct afd_entry *entry_find_locked(struct selector_afd *q, SOCKET socket)
{
    size_t slot = (size_t)(socket >> 2);
    if (slot >= q->index_len || q->index[slot] == 0)
        return NULL;
    struct afd_entry *e = entry_at(q, q->index[slot] - 1);
    return e->socket == socket ? e : NULL;
}

/* A free entry, growing by one chunk when none is left: NULL when memory runs out. */
static struct afd_entry *entry_alloc_locked(struct selector_afd *q)
{
    if (q->free_head == 0) {
        struct afd_entry **chunks = realloc(q->chunks, (q->chunks_len + 1) * sizeof *chunks);
        if (!chunks)
            return NULL;
        q->chunks = chunks;
        struct afd_entry *chunk = calloc(CHUNK_SIZE, sizeof *chunk);
        if (!chunk)
            return NULL;
        q->chunks[q->chunks_len++] = chunk;
        unsigned base = (unsigned)((q->chunks_len - 1) * CHUNK_SIZE);
        for (unsigned i = CHUNK_SIZE; i-- > 0;) {
            chunk[i].next_free = q->free_head;
            q->free_head = base + i + 1;
        }
    }
    struct afd_entry *e = entry_at(q, q->free_head - 1);
    q->free_head = e->next_free;
    return e;
}

static void entry_free_locked(struct selector_afd *q, struct afd_entry *e)
{
    q->groups[e->group].users--;
    unsigned number = entry_number(q, e);
    if (e->level_queued) {
        /* Off the level list first: it holds few entries, those that reported at the last wait. */
        unsigned *link = &q->level_head;
        while (*link && *link != number + 1)
            link = &entry_at(q, *link - 1)->next_level;
        if (*link)
            *link = e->next_level;
    }
    memset(e, 0, sizeof *e);
    e->next_free = q->free_head;
    q->free_head = number + 1;
}

/* An AFD handle with room for one more registration, opening one when all are full. */
static int group_take_locked(struct selector_afd *q, unsigned *out)
{
    for (size_t i = 0; i < q->groups_len; i++)
        if (q->groups[i].users < GROUP_SIZE) {
            q->groups[i].users++;
            *out = (unsigned)i;
            return 0;
        }
    struct afd_group *groups = realloc(q->groups, (q->groups_len + 1) * sizeof *groups);
    if (!groups)
        return -ENOMEM;
    q->groups = groups;
    /* Any name under \Device\Afd opens the driver; the handle is not inheritable (no OBJ_INHERIT). */
    static const WCHAR name[] = L"\\Device\\Afd\\evsrc";
    UNICODE_STRING path = {.Length = sizeof name - sizeof name[0], .MaximumLength = sizeof name, .Buffer = (PWSTR)name};
    OBJECT_ATTRIBUTES attributes = {.Length = sizeof attributes, .ObjectName = &path};
    IO_STATUS_BLOCK iosb;
    HANDLE afd;
    NTSTATUS status = NtCreateFile(&afd, SYNCHRONIZE, &attributes, &iosb, NULL, 0, FILE_SHARE_READ | FILE_SHARE_WRITE,
                                   FILE_OPEN, 0, NULL, 0);
    if (!NT_SUCCESS(status))
        return -errno_from_nt(status);
    if (!CreateIoCompletionPort(afd, q->port, 0, 0)) {
        int r = -platform_errno_from_wsa((int)GetLastError());
        CloseHandle(afd);
        return r;
    }
    /* Completions only: nobody waits on the handle itself. */
    SetFileCompletionNotificationModes(afd, FILE_SKIP_SET_EVENT_ON_HANDLE);
    q->groups[q->groups_len] = (struct afd_group){.afd = afd, .users = 1};
    *out = (unsigned)q->groups_len++;
    return 0;
}

static int entry_submit_locked(struct selector_afd *q, struct afd_entry *e)
{
    e->info.timeout.QuadPart = INT64_MAX;
    e->info.handle_count = 1;
    e->info.exclusive = FALSE;
    e->info.handles[0].handle = (HANDLE)e->base;
    /* LOCAL_CLOSE always: a socket closed while registered ends its registration, as epoll's does. */
    e->info.handles[0].events = e->armed | AFD_POLL_LOCAL_CLOSE;
    e->info.handles[0].status = 0;
    e->iosb.Status = NT_STATUS_PENDING;
    NTSTATUS status = NtDeviceIoControlFile(q->groups[e->group].afd, NULL, NULL, &e->iosb, &e->iosb, IOCTL_AFD_POLL,
                                            &e->info, sizeof e->info, &e->info, sizeof e->info);
    if (status != NT_STATUS_PENDING && !NT_SUCCESS(status))
        return -errno_from_nt(status);
    /* Even a poll that completed at once posts its completion: the port is the one place results arrive. */
    e->pending = true;
    e->submitted = e->armed;
    q->pending++;
    return 0;
}

static void entry_cancel_locked(struct selector_afd *q, struct afd_entry *e)
{
    NtCancelIoFileEx(q->groups[e->group].afd, &e->iosb, &e->cancel_iosb);
}

/*
 * After the armed set changed: a pending poll that covers it stays (what it
 * reports beyond the interests is masked), one that does not is cancelled
 * and its completion submits the new set; with none pending, one is submitted.
 */
static int entry_update_locked(struct selector_afd *q, struct afd_entry *e)
{
    if (e->pending) {
        if (e->armed & ~e->submitted)
            entry_cancel_locked(q, e);
        return 0;
    }
    return e->armed ? entry_submit_locked(q, e) : 0;
}

/* Takes a registration out of the table; its memory follows once no poll of it is pending. */
static void entry_remove_locked(struct selector_afd *q, struct afd_entry *e)
{
    q->index[(size_t)(e->socket >> 2)] = 0;
    if (e->pending) {
        e->deleted = true;
        entry_cancel_locked(q, e);
    } else {
        entry_free_locked(q, e);
    }
}

/* The handle AFD polls: the base provider's socket under any layered service providers. */
static int base_socket(SOCKET socket, SOCKET *out)
{
    DWORD bytes;
    if (WSAIoctl(socket, SIO_BASE_HANDLE, NULL, 0, out, sizeof *out, &bytes, NULL, NULL) != SOCKET_ERROR)
        return 0;
    int error = WSAGetLastError();
    if (error == WSAENOTSOCK)
        return -ENOTSOCK;
    /* An LSP that hides SIO_BASE_HANDLE may still answer the poll form (wepoll's fallback). */
    if (WSAIoctl(socket, SIO_BSP_HANDLE_POLL, NULL, 0, out, sizeof *out, &bytes, NULL, NULL) != SOCKET_ERROR)
        return 0;
    return -platform_errno_from_wsa(WSAGetLastError());
}

/* Room in the index for socket: 0 or -ENOMEM. */
static int index_cover_locked(struct selector_afd *q, SOCKET socket)
{
    size_t slot = (size_t)(socket >> 2);
    if (slot < q->index_len)
        return 0;
    size_t len = q->index_len ? q->index_len : 256;
    while (len <= slot)
        len *= 2;
    uint32_t *index = realloc(q->index, len * sizeof *index);
    if (!index)
        return -ENOMEM;
    memset(index + q->index_len, 0, (len - q->index_len) * sizeof *index);
    q->index = index;
    q->index_len = len;
    return 0;
}

int selector_open(selector_t *out)
{
    int r = platform_winsock_start();
    if (r < 0)
        return r;
    struct selector_afd *q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    q->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    if (!q->port) {
        r = -platform_errno_from_wsa((int)GetLastError());
        free(q);
        return r;
    }
    pthread_mutex_init(&q->lock, NULL);
    q->refs = 1;
    pthread_mutex_lock(&live_lock);
    q->next_live = live_queues;
    if (live_queues)
        live_queues->prev_live = q;
    live_queues = q;
    pthread_mutex_unlock(&live_lock);
    *out = q;
    return 0;
}

int selector_clone(selector_t selector, selector_t *out)
{
    __atomic_add_fetch(&selector->refs, 1, __ATOMIC_RELAXED);
    *out = selector;
    return 0;
}

int selector_handle_fd(selector_t selector)
{
    /* Handles have 32 significant bits (platform.h): an int that names the queue for queue.c. */
    return (int)(intptr_t)selector->port;
}

static void waker_release(struct selector_afd_waker *waker)
{
    if (__atomic_sub_fetch(&waker->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(waker);
}

/*
 * The last handle is gone: every pending poll is cancelled, and its
 * completion awaited before the memory it points into is freed. Closing the
 * AFD handles cancels what they have pending; completions of wakers' posts
 * still queued drop the references they hold.
 */
static void queue_destroy(struct selector_afd *q)
{
    pthread_mutex_lock(&live_lock);
    if (q->prev_live)
        q->prev_live->next_live = q->next_live;
    else
        live_queues = q->next_live;
    if (q->next_live)
        q->next_live->prev_live = q->prev_live;
    pthread_mutex_unlock(&live_lock);
    for (size_t i = 0; i < q->groups_len; i++)
        CloseHandle(q->groups[i].afd);
    OVERLAPPED_ENTRY entries[64];
    ULONG count;
    /* A cancelled poll completes promptly; should one never do, its memory is leaked, not freed under the kernel. */
    bool drained = true;
    for (;;) {
        if (!GetQueuedCompletionStatusEx(q->port, entries, 64, &count, q->pending ? 5000 : 0, FALSE)) {
            drained = q->pending == 0;
            break;
        }
        for (ULONG i = 0; i < count; i++) {
            if (entries[i].lpOverlapped)
                q->pending--;
            else
                waker_release((struct selector_afd_waker *)entries[i].lpCompletionKey);
        }
    }
    CloseHandle(q->port);
    if (!drained)
        return;
    for (size_t c = 0; c < q->chunks_len; c++)
        free(q->chunks[c]);
    free(q->chunks);
    free(q->groups);
    free(q->index);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

void selector_close(selector_t q)
{
    if (__atomic_sub_fetch(&q->refs, 1, __ATOMIC_ACQ_REL) == 0)
        queue_destroy(q);
}

int selector_add(selector_t q, evsrc_fd fd, evsrc_token token, evsrc_interest interests)
{
    if (!selector_interests_are_valid(interests))
        return -EINVAL;
    if (fd == INVALID_SOCKET || fd > (evsrc_fd)INT_MAX)
        return -EBADF;
    SOCKET base;
    int r = base_socket(fd, &base);
    if (r < 0)
        return r;
    pthread_mutex_lock(&q->lock);
    if (entry_find_locked(q, fd)) {
        r = -EEXIST;
        goto out;
    }
    unsigned group = 0;
    if ((r = index_cover_locked(q, fd)) < 0 || (r = group_take_locked(q, &group)) < 0)
        goto out;
    struct afd_entry *e = entry_alloc_locked(q);
    if (!e) {
        q->groups[group].users--;
        r = -ENOMEM;
        goto out;
    }
    *e = (struct afd_entry){
        .socket = fd, .base = base, .token = token, .interests = interests,
        .armed = interests_to_afd(interests), .group = group};
    r = entry_submit_locked(q, e);
    if (r < 0) {
        entry_free_locked(q, e);
        goto out;
    }
    q->index[(size_t)(fd >> 2)] = entry_number(q, e) + 1;
out:
    pthread_mutex_unlock(&q->lock);
    return r;
}

int selector_modify(selector_t q, evsrc_fd fd, evsrc_token token, evsrc_interest interests)
{
    if (!selector_interests_are_valid(interests))
        return -EINVAL;
    if (fd == INVALID_SOCKET)
        return -EBADF;
    pthread_mutex_lock(&q->lock);
    struct afd_entry *e = entry_find_locked(q, fd);
    int r = -ENOENT;
    if (e) {
        e->token = token;
        e->interests = interests;
        e->armed = interests_to_afd(interests);
        r = entry_update_locked(q, e);
    }
    pthread_mutex_unlock(&q->lock);
    return r;
}

int selector_delete(selector_t q, evsrc_fd fd)
{
    if (fd == INVALID_SOCKET)
        return -EBADF;
    pthread_mutex_lock(&q->lock);
    struct afd_entry *e = entry_find_locked(q, fd);
    if (e)
        entry_remove_locked(q, e);
    pthread_mutex_unlock(&q->lock);
    return e ? 0 : -ENOENT;
}

/* One poll's completion: its event (0 flags for none), and the next poll submitted. */
static uint32_t entry_complete_locked(struct selector_afd *q, struct afd_entry *e)
{
    e->pending = false;
    q->pending--;
    if (e->deleted) {
        entry_free_locked(q, e);
        return 0;
    }
    uint32_t afd = 0;
    NTSTATUS status = e->iosb.Status;
    if (status == NT_STATUS_CANCELLED)
        afd = 0; /* a change asked for more: the new poll goes below */
    else if (NT_SUCCESS(status) && e->info.handle_count > 0)
        afd = e->info.handles[0].events;
    else
        afd = AFD_POLL_CONNECT_FAIL; /* the poll itself failed: report an error rather than spin */
    if (afd & AFD_POLL_LOCAL_CLOSE) {
        /* Closed while registered: the registration ends, as a closed fd's does on epoll. */
        q->index[(size_t)(e->socket >> 2)] = 0;
        entry_free_locked(q, e);
        return 0;
    }
    uint32_t flags = afd_to_flags(afd, e->interests);
    if (flags) {
        if (e->interests & EVSRC_ONESHOT)
            e->armed = 0;
        else if (flags & (EVSRC_EVENT_FLAG_ERR | EVSRC_EVENT_FLAG_HUP))
            e->armed = (e->interests & EVSRC_LEVEL) ? e->armed : 0;
        else if (!(e->interests & EVSRC_LEVEL)) {
            /*
             * Only what reported is disarmed, so that a later condition is an
             * edge of its own, as on epoll: data, then the peer's FIN, are two
             * events. After a FIN, receiving stays ready for good (end of
             * file), so both go.
             */
            uint32_t reported = afd & e->armed;
            if (reported & AFD_POLL_DISCONNECT)
                reported |= AFD_POLL_RECEIVE;
            e->armed &= ~reported;
            /* Only the failure events left: nothing a source waits for. */
            if ((e->armed & ~(uint32_t)AFD_FAILURE) == 0)
                e->armed = 0;
        }
    }
    /*
     * A level-triggered registration that hung up would complete at once
     * forever, so it waits for a reregister, as the poll backend's does.
     */
    if ((flags & (EVSRC_EVENT_FLAG_ERR | EVSRC_EVENT_FLAG_HUP)) && (e->interests & EVSRC_LEVEL))
        e->armed = 0;
    if (e->armed && (e->interests & EVSRC_LEVEL) && flags) {
        /*
         * Polled again at the next wait, not now: a poll submitted before the
         * caller has read would complete at once with what the caller is
         * about to read, and report it again (mio defers the same way).
         */
        if (!e->level_queued) {
            e->level_queued = true;
            e->next_level = q->level_head;
            q->level_head = entry_number(q, e) + 1;
        }
        return flags;
    }
    if (e->armed && entry_submit_locked(q, e) < 0)
        e->armed = 0;
    return flags;
}

/* The completions of one GetQueuedCompletionStatusEx as events: their count. */
static int completions_to_events(struct selector_afd *q, const OVERLAPPED_ENTRY *entries, ULONG count,
                                 struct evsrc_event *buffer)
{
    int n = 0;
    pthread_mutex_lock(&q->lock);
    for (ULONG i = 0; i < count; i++) {
        if (!entries[i].lpOverlapped) {
            struct selector_afd_waker *waker = (struct selector_afd_waker *)entries[i].lpCompletionKey;
            /* Cleared before the event is seen, so a wake after it posts again. */
            __atomic_store_n(&waker->posted, 0, __ATOMIC_RELEASE);
            /* A freed waker's wake is gone, as a closed eventfd's is on Linux; so is one taken back. */
            bool taken_back = __atomic_exchange_n(&waker->taken_back, 0, __ATOMIC_ACQ_REL);
            if (!__atomic_load_n(&waker->closed, __ATOMIC_ACQUIRE) && !taken_back)
                selector_event_store(&buffer[n++], __atomic_load_n(&waker->token, __ATOMIC_RELAXED),
                                     EVSRC_EVENT_FLAG_IN);
            waker_release(waker);
            continue;
        }
        struct afd_entry *e = (struct afd_entry *)(void *)entries[i].lpOverlapped;
        uint64_t token = e->token;
        uint32_t flags = entry_complete_locked(q, e);
        if (flags)
            selector_event_store(&buffer[n++], token, flags);
    }
    pthread_mutex_unlock(&q->lock);
    return n;
}

/*
 * Waits up to timeout_ms (INFINITE for no limit). A completion may carry no
 * event (a cancellation, a closed socket), so a wait that collected only
 * such goes on waiting for what is left of its time.
 */
/* Submits the polls of the level-triggered registrations that reported at the last wait. */
static void level_resubmit(struct selector_afd *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->level_head) {
        struct afd_entry *e = entry_at(q, q->level_head - 1);
        q->level_head = e->next_level;
        e->next_level = 0;
        /* A changed one may be pending already. */
        e->level_queued = false;
        if (e->interests && !e->deleted && !e->pending && e->armed && entry_submit_locked(q, e) < 0)
            e->armed = 0;
    }
    pthread_mutex_unlock(&q->lock);
}

static long queue_wait(struct selector_afd *q, struct evsrc_event *buffer, int capacity, DWORD timeout_ms)
{
    OVERLAPPED_ENTRY entries[WAIT_BATCH];
    level_resubmit(q);
    ULONG max = capacity < WAIT_BATCH ? (ULONG)capacity : WAIT_BATCH;
    ULONGLONG deadline = GetTickCount64() + timeout_ms;
    for (;;) {
        ULONG count = 0;
        if (!GetQueuedCompletionStatusEx(q->port, entries, max, &count, timeout_ms, FALSE)) {
            DWORD error = GetLastError();
            return error == WAIT_TIMEOUT ? 0 : -platform_errno_from_wsa((int)error);
        }
        int n = completions_to_events(q, entries, count, buffer);
        if (n > 0 || timeout_ms == 0)
            return n;
        if (timeout_ms != INFINITE) {
            ULONGLONG now = GetTickCount64();
            if (now >= deadline)
                return 0;
            timeout_ms = (DWORD)(deadline - now);
        }
    }
}

long selector_wait_forever(selector_t q, struct evsrc_event *buffer, int capacity)
{
    return queue_wait(q, buffer, capacity, INFINITE);
}

long selector_wait_now(selector_t q, struct evsrc_event *buffer, int capacity)
{
    return queue_wait(q, buffer, capacity, 0);
}

int selector_wait(selector_t q, struct evsrc_event *buffer, int capacity, const struct timespec *timeout)
{
    /* Whole milliseconds rounded up, so a timeout is never cut short; INFINITE itself is not a duration. */
    DWORD ms = INFINITE - 1;
    if (timeout->tv_sec < (time_t)(INFINITE / 1000 - 1)) {
        unsigned long long total = (unsigned long long)timeout->tv_sec * 1000 +
                                   ((unsigned long long)timeout->tv_nsec + 999999) / 1000000;
        ms = total < INFINITE ? (DWORD)total : INFINITE - 1;
    }
    return (int)queue_wait(q, buffer, capacity, ms);
}

/* ---- Wakers -------------------------------------------------------------- */

int selector_waker_open(selector_t q, evsrc_token token, selector_waker_t *out)
{
    struct selector_afd_waker *waker = malloc(sizeof *waker);
    if (!waker)
        return -ENOMEM;
    /* The waker keeps the queue (its port) alive, so the poll and registries may be freed first. */
    selector_t queue;
    selector_clone(q, &queue);
    *waker = (struct selector_afd_waker){
        .queue = queue, .token = token, .refs = 1, .posted = 0, .closed = 0, .taken_back = 0};
    *out = waker;
    return 0;
}

int selector_waker_wake(selector_waker_t *handle)
{
    struct selector_afd_waker *waker = *handle;
    /* One completion in the port at a time: the wakes before the wait takes it are one event. */
    if (__atomic_exchange_n(&waker->posted, 1, __ATOMIC_ACQ_REL))
        return 0;
    __atomic_add_fetch(&waker->refs, 1, __ATOMIC_RELAXED);
    if (!PostQueuedCompletionStatus(waker->queue->port, 0, (ULONG_PTR)waker, NULL)) {
        int r = -platform_errno_from_wsa((int)GetLastError());
        __atomic_store_n(&waker->posted, 0, __ATOMIC_RELEASE);
        waker_release(waker);
        return r;
    }
    return 0;
}

void selector_waker_close(selector_waker_t *handle)
{
    struct selector_afd_waker *waker = *handle;
    selector_t queue = waker->queue;
    __atomic_store_n(&waker->closed, 1, __ATOMIC_RELEASE);
    waker_release(waker);
    /* The last handle of the queue drains its port, and with it a post still there. */
    selector_close(queue);
}

/* ---- rearm.h ------------------------------------------------------------- */

static void queue_rearm(struct selector_afd *q, SOCKET socket)
{
    pthread_mutex_lock(&q->lock);
    struct afd_entry *e = entry_find_locked(q, socket);
    if (e && !(e->interests & (EVSRC_LEVEL | EVSRC_ONESHOT))) {
        uint32_t all = interests_to_afd(e->interests);
        if (e->armed != all) {
            e->armed = all;
            if (entry_update_locked(q, e) < 0)
                e->armed = 0;
        }
    }
    pthread_mutex_unlock(&q->lock);
}

void registry_fd_rearm(int fd)
{
    if (fd < 0)
        return;
    /* Sources call it between their I/O and reading errno. */
    int saved_errno = errno;
    pthread_mutex_lock(&live_lock);
    for (struct selector_afd *q = live_queues; q; q = q->next_live)
        queue_rearm(q, (SOCKET)fd);
    pthread_mutex_unlock(&live_lock);
    errno = saved_errno;
}

void registry_fd_forget(int fd)
{
    if (fd < 0)
        return;
    int saved_errno = errno;
    pthread_mutex_lock(&live_lock);
    for (struct selector_afd *q = live_queues; q; q = q->next_live) {
        pthread_mutex_lock(&q->lock);
        struct afd_entry *e = entry_find_locked(q, (SOCKET)fd);
        if (e)
            entry_remove_locked(q, e);
        pthread_mutex_unlock(&q->lock);
    }
    pthread_mutex_unlock(&live_lock);
    errno = saved_errno;
}

/* No fd of the kernel's reflects the queue: an outer loop cannot poll it (poll.h). */
int selector_backend_fd(selector_t selector)
{
    (void)selector;
    return -EOPNOTSUPP;
}

/*
 * The deadline table's wake-up (selector.h): a waker whose token each post
 * sets. A post already in the port is not posted again, only given the new
 * token and made to report again; taking it back makes the completion in
 * the port report nothing.
 */
bool selector_wake_is_open(const selector_wake_t *wake)
{
    return wake->waker != NULL;
}

int selector_wake_open(selector_t selector, evsrc_token token, selector_wake_t *out)
{
    return selector_waker_open(selector, token, &out->waker);
}

int selector_wake_post(selector_wake_t *wake, selector_t selector, evsrc_token token)
{
    (void)selector;
    struct selector_afd_waker *waker = wake->waker;
    __atomic_store_n(&waker->token, token, __ATOMIC_RELAXED);
    __atomic_store_n(&waker->taken_back, 0, __ATOMIC_RELEASE);
    return selector_waker_wake(&wake->waker);
}

int selector_wake_take_back(selector_wake_t *wake)
{
    if (__atomic_load_n(&wake->waker->posted, __ATOMIC_ACQUIRE))
        __atomic_store_n(&wake->waker->taken_back, 1, __ATOMIC_RELEASE);
    return 0;
}

void selector_wake_close(selector_wake_t *wake)
{
    selector_waker_close(&wake->waker);
    wake->waker = NULL;
}

void selector_wake_remove(selector_wake_t *wake, selector_t selector)
{
    (void)selector;
    selector_wake_close(wake);
}
