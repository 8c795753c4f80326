/* SPDX-License-Identifier: MIT */
/*
 * sizes: the size of every public struct, and the heap the library asks for
 * when it makes a poll, an events buffer, a registry clone and a waker.
 *
 * Allocations are seen by interposing malloc, calloc and realloc in this
 * program (the library's calls resolve to them), which forward to glibc and
 * record the requested sizes and the usable size glibc actually handed out.
 * Builds with a sanitizer, whose runtime owns malloc, define no such
 * functions (BENCH_INTERPOSE_MALLOC is unset) and report only
 * malloc_usable_size() of the blocks the library hands back.
 *
 * Exits 1 if a built-in source struct is larger than 32 bytes (the bar).
 */
#include <malloc.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evsrc/evsrc.h>

#define SOURCE_BAR 32

/* ---- Allocation recording ---- */

#define RECORD_MAX 8

struct record {
    size_t count;
    size_t requested[RECORD_MAX];
    void *blocks[RECORD_MAX];
};

static struct record record;
static atomic_bool recording;

#if defined(BENCH_INTERPOSE_MALLOC)
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *block, size_t size);

static void *note(void *block, size_t size)
{
    if (atomic_load_explicit(&recording, memory_order_relaxed) && block) {
        if (record.count < RECORD_MAX) {
            record.requested[record.count] = size;
            record.blocks[record.count] = block;
        }
        record.count++;
    }
    return block;
}

void *malloc(size_t size)
{
    return note(__libc_malloc(size), size);
}

void *calloc(size_t count, size_t size)
{
    return note(__libc_calloc(count, size), count * size);
}

void *realloc(void *block, size_t size)
{
    return note(__libc_realloc(block, size), size);
}
#endif

static void record_start(void)
{
    memset(&record, 0, sizeof record);
    atomic_store(&recording, true);
}

static void record_stop(void)
{
    atomic_store(&recording, false);
}

/*
 * Prints what was recorded since record_start(). Without interposition,
 * `handed` (the block the library returned, or NULL) is measured instead.
 */
static void print_allocations(const char *what, void *handed)
{
#if defined(BENCH_INTERPOSE_MALLOC)
    (void)handed;
    size_t requested = 0, usable = 0;
    char sizes[160] = "";
    size_t used = 0;
    for (size_t i = 0; i < record.count && i < RECORD_MAX; i++) {
        requested += record.requested[i];
        usable += malloc_usable_size(record.blocks[i]);
        int w = snprintf(sizes + used, sizeof sizes - used, "%s%zu", i ? " + " : "", record.requested[i]);
        if (w > 0 && (size_t)w < sizeof sizes - used)
            used += (size_t)w;
    }
    printf("%-44s %zu allocation%s, %zu bytes requested (%s), %zu usable\n", what, record.count,
           record.count == 1 ? "" : "s", requested, record.count ? sizes : "-", usable);
#else
    if (handed)
        printf("%-44s %zu bytes usable (malloc_usable_size; allocations not counted in this build)\n",
               what, malloc_usable_size(handed));
    else
        printf("%-44s not measured in this build\n", what);
#endif
}

/* ---- Struct sizes ---- */

static bool bar_met = true;

#define SIZE(type) printf("%-44s %4zu\n", "sizeof(" #type ")", sizeof(type))
#define SOURCE_SIZE(type)                                                                         \
    do {                                                                                          \
        printf("%-44s %4zu  built-in source, bar <= %d: %s\n", "sizeof(" #type ")", sizeof(type), \
               SOURCE_BAR, sizeof(type) <= SOURCE_BAR ? "ok" : "MISSED");                        \
        if (sizeof(type) > SOURCE_BAR)                                                            \
            bar_met = false;                                                                      \
    } while (0)

int main(void)
{
    printf("== public structs (bytes)\n");
    SIZE(struct evsrc_event);
    SIZE(struct evsrc_events);
    SIZE(struct evsrc_source);
    SIZE(struct event_source_ops);
    SOURCE_SIZE(struct evsrc_source_fd);
    SOURCE_SIZE(struct evsrc_tcp_stream);
    SOURCE_SIZE(struct evsrc_tcp_listener);
    SOURCE_SIZE(struct evsrc_pipe_sender);
    SOURCE_SIZE(struct evsrc_pipe_receiver);
    SOURCE_SIZE(struct evsrc_timerfd);

    printf("== library allocations\n");
    struct evsrc_poll *first, *second;
    record_start();
    int r = evsrc_poll_new(&first);
    record_stop();
    if (r < 0)
        return 1;
    print_allocations("evsrc_poll_new (the process's first poll)", first);
    record_start();
    r = evsrc_poll_new(&second);
    record_stop();
    if (r < 0)
        return 1;
    print_allocations("evsrc_poll_new (another poll)", second);

    static const size_t capacities[] = {1, 64, 1024};
    for (size_t i = 0; i < sizeof capacities / sizeof capacities[0]; i++) {
        struct evsrc_events *events;
        record_start();
        r = evsrc_events_new(capacities[i], &events);
        record_stop();
        if (r < 0)
            return 1;
        char what[64];
        snprintf(what, sizeof what, "evsrc_events_new(%zu)", capacities[i]);
        print_allocations(what, events);
        evsrc_events_free(events);
    }
    printf("%-44s %4zu bytes per slot (sizeof(struct evsrc_event)) after a %zu-byte header\n",
           "events buffer", sizeof(struct evsrc_event), sizeof(struct evsrc_events));

    struct evsrc_registry *clone;
    record_start();
    r = evsrc_registry_try_clone(evsrc_poll_registry(first), &clone);
    record_stop();
    if (r < 0)
        return 1;
    print_allocations("evsrc_registry_try_clone", clone);
    evsrc_registry_free(clone);

    struct evsrc_waker *waker;
    record_start();
    r = evsrc_waker_new(&waker, evsrc_poll_registry(first), 1);
    record_stop();
    if (r < 0)
        return 1;
    print_allocations("evsrc_waker_new", waker);
    evsrc_waker_free(waker);

    /* A source costs the library nothing: the caller owns the struct, the kernel the registration. */
    int fds[2];
    if (pipe(fds) < 0)
        return 1;
    struct evsrc_source_fd source;
    evsrc_source_fd_init(&source, fds[0]);
    record_start();
    r = evsrc_registry_register(evsrc_poll_registry(first), &source.source, 1, EVSRC_READABLE);
    record_stop();
    if (r < 0)
        return 1;
    print_allocations("evsrc_registry_register (per source)", NULL);
    evsrc_registry_deregister(evsrc_poll_registry(first), &source.source);
    close(fds[0]);
    close(fds[1]);

    evsrc_poll_free(second);
    evsrc_poll_free(first);
    printf("== bar: every built-in source struct <= %d bytes: %s\n", SOURCE_BAR, bar_met ? "ok" : "MISSED");
    return bar_met ? 0 : 1;
}
