/* SPDX-License-Identifier: MIT */
/*
 * timers: n active timers in evsrc's timer queue, libev's ev_timer, libuv's
 * uv_timer_t and libevent's evtimer (each library that was found at build
 * time), side by side.
 *
 * One run, for one library and one n, in a fresh child process:
 *   start    start n timers with random delays in [1 s, 2 s) (ns steps;
 *            libuv takes whole ms, libevent µs);
 *   restart  restart each one to a later deadline: its delay plus up to
 *            0.5 s more (the idle-timeout reset);
 *   stop     stop every other timer;
 *   fire     run the library's loop until the other n/2 have fired.
 * ns per operation is the phase's time divided by its operations. Every
 * phase is timed by the thread's CPU time (--clock cpu, the default): the
 * fire phase mostly waits for deadlines, and its CPU time is the cost of
 * the wake-ups and the work; start, restart and stop never block, and the
 * CPU clock leaves out preemption on a shared machine. --clock wall times
 * them by the monotonic clock instead (the fire phase is CPU time always).
 *
 * Each library is used as its documentation recommends for an idle timeout:
 * evsrc_timers_start_at() again, ev_timer_again() with a new repeat value (the
 * callback stops the watcher, so it fires once), uv_timer_start() again,
 * evtimer_add() again. evsrc, libev and libuv compute deadlines from one
 * clock reading per phase (evsrc's: one clock_gettime before the batch;
 * libev's and libuv's: the loop time they cache, updated before the start
 * phase here); libevent reads the clock on every start.
 *
 * System calls per operation: one more run of each, after the timed rounds,
 * under ptrace(2): the parent counts the child's system call entries between
 * phase markers (a write(2) to fd -1, not counted); calls through the vDSO
 * (clock_gettime) are not system calls and are not counted. Tracing slows
 * the child's system calls, so the fire phase of a traced run wakes less
 * often than an untraced one: its count is a lower bound.
 *
 * Rounds alternate the libraries (the order rotates each round, as bench/run
 * does) and the table shows medians.
 *
 *   timers [--n "1000 100000 1000000"] [--rounds 5] [--impl "evsrc libev libuv libevent"]
 *          [--clock cpu|wall] [--quick] [--no-syscalls] [--markdown] [--svg FILE]
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(IMPL_EVSRC)
#include <evsrc/evsrc.h>
#elif defined(IMPL_LIBEV)
#include <ev.h>
#elif defined(IMPL_LIBUV)
#include <uv.h>
#elif defined(IMPL_LIBEVENT)
#include <event2/event.h>
#endif

enum phase { P_START, P_RESTART, P_STOP, P_FIRE, P_COUNT };

/* Every library's program (timers-<name>); the driver runs those that were built. */
static const char *const impl_names[] = {"evsrc", "evsrc-1ms", "libev", "libuv", "libevent"};
/* The program each runs (evsrc-1ms is evsrc with a timer slack of 1 ms), and its extra argument. */
static const char *const impl_programs[] = {"evsrc", "evsrc", "libev", "libuv", "libevent"};
static const char *const impl_extra[] = {NULL, "--slack-1ms", NULL, NULL, NULL};
#define NIMPLS (sizeof impl_names / sizeof impl_names[0])
static const char *const phase_names[P_COUNT] = {"start", "restart", "stop", "fire"};

static _Noreturn void die(const char *what)
{
    fprintf(stderr, "timers: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ---- The workload, the same for every library ----------------------------- */

static size_t n;
static uint64_t *first_delay;  /* ns */
static uint64_t *second_delay; /* ns, >= first_delay */
static size_t fired;
static size_t to_fire;
static bool tracing;
static bool slack_1ms; /* evsrc only: the queue's thread has a timer slack of 1 ms */

static uint64_t random_next(uint64_t *state)
{
    /* xorshift64*: enough for spreading deadlines, and the same sequence every time. */
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * UINT64_C(2685821657736338717);
}

static void make_delays(uint64_t base_ns, uint64_t span_ns)
{
    first_delay = malloc(n * sizeof *first_delay);
    second_delay = malloc(n * sizeof *second_delay);
    if (!first_delay || !second_delay)
        die("malloc");
    uint64_t state = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < n; i++) {
        first_delay[i] = base_ns + random_next(&state) % span_ns;
        second_delay[i] = first_delay[i] + random_next(&state) % (span_ns / 2);
    }
}

static clockid_t op_clock = CLOCK_THREAD_CPUTIME_ID;

static uint64_t now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A phase marker for the tracing parent: write(-1, NULL, phase + 1); 0 ends a phase. */
/* Unused by the driver, which runs no library itself. */
__attribute__((unused)) static void mark(int phase)
{
    if (tracing)
        syscall(SYS_write, -1, NULL, (size_t)phase + 1);
}

__attribute__((unused)) static void on_fired(void)
{
    fired++;
}

/*
 * One library, as a program of its own (libev exports libevent's function
 * names for compatibility, so the two cannot share one).
 */
struct impl {
    const char *name;
    void (*setup)(void);
    void (*start)(const uint64_t *delays);
    void (*restart)(const uint64_t *delays);
    void (*stop_half)(void);
    void (*fire)(void);
    void (*teardown)(void);
};

/* ---- evsrc ------------------------------------------------------------------ */

#ifdef IMPL_EVSRC

static struct evsrc_poll *ev_poll;
static struct evsrc_events *ev_events;
static struct evsrc_timers ev_queue;
static struct evsrc_timer *ev_timers;

static struct timespec timespec_of(uint64_t ns)
{
    return (struct timespec){(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
}

static void evsrc_setup(void)
{
    /* The poll's wait runs late by the waiting thread's timer slack (50 us unless set), as the others' do. */
    if (slack_1ms && prctl(PR_SET_TIMERSLACK, 1000000UL, 0, 0, 0) < 0)
        die("prctl(PR_SET_TIMERSLACK)");
    if (evsrc_poll_new(&ev_poll) < 0 || evsrc_events_new(64, &ev_events) < 0 ||
        evsrc_timers_new(&ev_queue, CLOCK_MONOTONIC) < 0 ||
        evsrc_registry_register(evsrc_poll_registry(ev_poll), &ev_queue.source, 1, EVSRC_READABLE) < 0)
        die("evsrc setup");
    ev_timers = calloc(n, sizeof *ev_timers);
    if (!ev_timers)
        die("calloc");
    for (size_t i = 0; i < n; i++)
        evsrc_timer_init(&ev_timers[i], i);
}

/* A batch of starts from one clock reading, as libev's and libuv's from their cached loop time. */
static void evsrc_start(const uint64_t *delays)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t base = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    for (size_t i = 0; i < n; i++) {
        struct timespec at = timespec_of(base + delays[i]);
        evsrc_timers_start_at(&ev_queue, &ev_timers[i], &at, NULL);
    }
}

static void evsrc_stop_half(void)
{
    for (size_t i = 0; i < n; i += 2)
        evsrc_timers_stop(&ev_queue, &ev_timers[i]);
}

static void evsrc_fire(void)
{
    while (fired < to_fire) {
        int got = evsrc_poll_wait(ev_poll, ev_events, NULL);
        for (int e = 0; e < got; e++) {
            if (evsrc_event_token(evsrc_events_get(ev_events, (size_t)e)) != 1)
                continue;
            struct evsrc_timer *timer;
            while (evsrc_timers_expired(&ev_queue, &timer) == 0)
                on_fired();
        }
    }
}

static void evsrc_teardown(void)
{
    evsrc_timers_close(&ev_queue);
    evsrc_events_free(ev_events);
    evsrc_poll_free(ev_poll);
    free(ev_timers);
}

static const struct impl impl = {"evsrc", evsrc_setup, evsrc_start, evsrc_start, evsrc_stop_half, evsrc_fire,
                                 evsrc_teardown};
#endif

/* ---- libev ------------------------------------------------------------------ */

#ifdef IMPL_LIBEV
static struct ev_loop *lev_loop;
static ev_timer *lev_timers;

static void lev_callback(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    ev_timer_stop(loop, w); /* ev_timer_again made it repeat: once is enough */
    on_fired();
}

static void libev_setup(void)
{
    lev_loop = ev_loop_new(EVBACKEND_EPOLL);
    lev_timers = calloc(n, sizeof *lev_timers);
    if (!lev_loop || !lev_timers)
        die("libev setup");
    for (size_t i = 0; i < n; i++)
        ev_timer_init(&lev_timers[i], lev_callback, 0., 0.);
    ev_now_update(lev_loop);
}

static void libev_start(const uint64_t *delays)
{
    for (size_t i = 0; i < n; i++) {
        ev_timer_set(&lev_timers[i], (ev_tstamp)delays[i] * 1e-9, 0.);
        ev_timer_start(lev_loop, &lev_timers[i]);
    }
}

static void libev_restart(const uint64_t *delays)
{
    for (size_t i = 0; i < n; i++) {
        lev_timers[i].repeat = (ev_tstamp)delays[i] * 1e-9;
        ev_timer_again(lev_loop, &lev_timers[i]);
    }
}

static void libev_stop_half(void)
{
    for (size_t i = 0; i < n; i += 2)
        ev_timer_stop(lev_loop, &lev_timers[i]);
}

static void libev_fire(void)
{
    ev_run(lev_loop, 0); /* returns when no watcher is active */
}

static void libev_teardown(void)
{
    ev_loop_destroy(lev_loop);
    free(lev_timers);
}

static const struct impl impl = {"libev", libev_setup, libev_start, libev_restart, libev_stop_half, libev_fire,
                                 libev_teardown};
#endif

/* ---- libuv ------------------------------------------------------------------ */

#ifdef IMPL_LIBUV
static uv_loop_t luv_loop;
static uv_timer_t *luv_timers;

static void luv_callback(uv_timer_t *timer)
{
    (void)timer;
    on_fired();
}

static void libuv_setup(void)
{
    luv_timers = calloc(n, sizeof *luv_timers);
    if (!luv_timers || uv_loop_init(&luv_loop) != 0)
        die("libuv setup");
    for (size_t i = 0; i < n; i++)
        uv_timer_init(&luv_loop, &luv_timers[i]);
    uv_update_time(&luv_loop);
}

static void libuv_start(const uint64_t *delays)
{
    for (size_t i = 0; i < n; i++)
        uv_timer_start(&luv_timers[i], luv_callback, delays[i] / 1000000u, 0);
}

static void libuv_stop_half(void)
{
    for (size_t i = 0; i < n; i += 2)
        uv_timer_stop(&luv_timers[i]);
}

static void libuv_fire(void)
{
    uv_run(&luv_loop, UV_RUN_DEFAULT); /* returns when no handle is active */
}

static void libuv_teardown(void)
{
    for (size_t i = 0; i < n; i++)
        uv_close((uv_handle_t *)&luv_timers[i], NULL);
    uv_run(&luv_loop, UV_RUN_DEFAULT);
    uv_loop_close(&luv_loop);
    free(luv_timers);
}

static const struct impl impl = {"libuv", libuv_setup, libuv_start, libuv_start, libuv_stop_half, libuv_fire,
                                 libuv_teardown};
#endif

/* ---- libevent --------------------------------------------------------------- */

#ifdef IMPL_LIBEVENT
static struct event_base *lev2_base;
static unsigned char *lev2_events; /* n events of event_get_struct_event_size() bytes */
static size_t lev2_size;

static struct event *lev2_event(size_t i)
{
    return (struct event *)(void *)(lev2_events + i * lev2_size);
}

static void lev2_callback(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    on_fired();
}

static void libevent_setup(void)
{
    lev2_base = event_base_new();
    lev2_size = (event_get_struct_event_size() + 15) & ~(size_t)15;
    lev2_events = calloc(n, lev2_size);
    if (!lev2_base || !lev2_events)
        die("libevent setup");
    for (size_t i = 0; i < n; i++)
        evtimer_assign(lev2_event(i), lev2_base, lev2_callback, NULL);
}

static void libevent_start(const uint64_t *delays)
{
    for (size_t i = 0; i < n; i++) {
        struct timeval tv = {(time_t)(delays[i] / 1000000000u), (suseconds_t)(delays[i] % 1000000000u / 1000u)};
        evtimer_add(lev2_event(i), &tv);
    }
}

static void libevent_stop_half(void)
{
    for (size_t i = 0; i < n; i += 2)
        evtimer_del(lev2_event(i));
}

static void libevent_fire(void)
{
    event_base_dispatch(lev2_base); /* returns when no event is pending */
}

static void libevent_teardown(void)
{
    for (size_t i = 0; i < n; i++)
        evtimer_del(lev2_event(i));
    event_base_free(lev2_base);
    free(lev2_events);
}

static const struct impl impl = {"libevent", libevent_setup, libevent_start, libevent_start, libevent_stop_half,
                                 libevent_fire, libevent_teardown};
#endif

/* ---- Runs ----------------------------------------------------------------------- */

#if defined(IMPL_EVSRC) || defined(IMPL_LIBEV) || defined(IMPL_LIBUV) || defined(IMPL_LIBEVENT)
/* One run, in this program's own process: prints the ns per operation of each phase. */
static void run(void)
{
    impl.setup();
    fired = 0;
    to_fire = n / 2;
    double ns[P_COUNT];
    size_t ops[P_COUNT] = {n, n, (n + 1) / 2, n / 2};
    for (int p = 0; p < P_COUNT; p++) {
        clockid_t clock = p == P_FIRE ? CLOCK_THREAD_CPUTIME_ID : op_clock;
        uint64_t begin = now_ns(clock);
        mark(p);
        switch (p) {
        case P_START: impl.start(first_delay); break;
        case P_RESTART: impl.restart(second_delay); break;
        case P_STOP: impl.stop_half(); break;
        default: impl.fire(); break;
        }
        mark(-1);
        ns[p] = (double)(now_ns(clock) - begin) / (double)ops[p];
    }
    if (fired != to_fire) {
        fprintf(stderr, "timers: %s fired %zu of %zu\n", impl.name, fired, to_fire);
        exit(1);
    }
    impl.teardown();
    printf("%.3f %.3f %.3f %.3f\n", ns[0], ns[1], ns[2], ns[3]);
}
#else
static void run(void)
{
    (void)to_fire;
    fprintf(stderr, "timers: this is the driver; --run is for timers-<library>\n");
    exit(2);
}
#endif

static char program_dir[4096];

static bool impl_built(size_t k)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/timers-%s", program_dir, impl_programs[k]);
    return access(path, X_OK) == 0;
}

/* Starts timers-<name> for one run with its output on a pipe; traced: under this process's ptrace. */
static pid_t spawn(size_t k, uint64_t base_ns, uint64_t span_ns, const char *clock_name, bool traced, int *out)
{
    char path[4200], size[32], base[32], span[32];
    snprintf(path, sizeof path, "%s/timers-%s", program_dir, impl_programs[k]);
    snprintf(size, sizeof size, "%zu", n);
    snprintf(base, sizeof base, "%" PRIu64, base_ns);
    snprintf(span, sizeof span, "%" PRIu64, span_ns);
    int fds[2];
    if (pipe(fds) < 0)
        die("pipe");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        if (traced && ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
            _exit(3);
        char *args[10] = {path, "--run", size, base, span, "--clock", (char *)clock_name};
        int count = 7;
        if (impl_extra[k])
            args[count++] = (char *)impl_extra[k];
        if (traced)
            args[count++] = "--traced";
        args[count] = NULL;
        execv(path, args);
        _exit(127);
    }
    close(fds[1]);
    *out = fds[0];
    return pid;
}

/* Reads the run's line and reaps it. */
static void finish(size_t k, pid_t pid, int out, int status, double ns[P_COUNT])
{
    char line[256] = "";
    ssize_t got = read(out, line, sizeof line - 1);
    close(out);
    if (status < 0 && waitpid(pid, &status, 0) < 0)
        die("waitpid");
    if (got <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        sscanf(line, "%lf %lf %lf %lf", &ns[0], &ns[1], &ns[2], &ns[3]) != 4) {
        fprintf(stderr, "timers: the %s run failed\n", impl_names[k]);
        exit(1);
    }
}

static void run_child(size_t k, uint64_t base_ns, uint64_t span_ns, const char *clock_name, double ns[P_COUNT])
{
    int out;
    pid_t pid = spawn(k, base_ns, span_ns, clock_name, false, &out);
    finish(k, pid, out, -1, ns);
}

/* Runs timers-<name> traced by this process, counting its system call entries per phase. */
static void count_syscalls(size_t k, uint64_t base_ns, uint64_t span_ns, double per_op[P_COUNT])
{
    int out, status;
    pid_t pid = spawn(k, base_ns, span_ns, "cpu", true, &out);
    /* The tracee stops at its exec; where ptrace is not allowed (some containers), it exits at once. */
    if (waitpid(pid, &status, 0) < 0)
        die("waitpid (traced run)");
    if (!WIFSTOPPED(status)) {
        close(out);
        fprintf(stderr, "timers: cannot trace the %s run (ptrace not allowed?): no system call counts\n",
                impl_names[k]);
        for (int p = 0; p < P_COUNT; p++)
            per_op[p] = -1;
        return;
    }
    ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(uintptr_t)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL));
    uint64_t counts[P_COUNT] = {0};
    int phase = -1;
    ptrace(PTRACE_SYSCALL, pid, NULL, NULL);
    for (;;) {
        if (waitpid(pid, &status, 0) < 0)
            die("waitpid (traced run)");
        if (WIFEXITED(status) || WIFSIGNALED(status))
            break;
        int signal = 0;
        if (WSTOPSIG(status) == (SIGTRAP | 0x80)) {
            struct __ptrace_syscall_info info;
            if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof info, &info) > 0 &&
                info.op == PTRACE_SYSCALL_INFO_ENTRY) {
                if (info.entry.nr == SYS_write && (int)info.entry.args[0] == -1)
                    phase = (int)info.entry.args[2] - 1;
                else if (phase >= 0 && phase < P_COUNT)
                    counts[phase]++;
            }
        } else if (WSTOPSIG(status) != SIGTRAP) {
            signal = WSTOPSIG(status);
        }
        ptrace(PTRACE_SYSCALL, pid, NULL, (void *)(uintptr_t)signal);
    }
    double ignored[P_COUNT];
    finish(k, pid, out, status, ignored);
    size_t ops[P_COUNT] = {n, n, (n + 1) / 2, n / 2};
    for (int p = 0; p < P_COUNT; p++)
        per_op[p] = (double)counts[p] / (double)ops[p];
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int count)
{
    qsort(values, (size_t)count, sizeof *values, compare_doubles);
    return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

/* ---- The chart -------------------------------------------------------------------- */

static const char *const impl_colours[] = {"#d62728", "#ff9896", "#1f77b4", "#2ca02c", "#9467bd"};

/* Bars of ns per operation, one panel per operation, a group per n, log scale. */
static void write_svg(const char *path, size_t sizes, const size_t *ns_list, const bool *used,
                      double result[][NIMPLS][P_COUNT], const char *clock_name)
{
    FILE *f = fopen(path, "w");
    if (!f)
        die(path);
    const int panel_w = 300, panel_h = 300, top = 60, left = 60, gap = 20;
    const int width = left + P_COUNT * (panel_w + gap), height = top + panel_h + 70;
    double lo = 1e300, hi = 0;
    for (size_t s = 0; s < sizes; s++)
        for (size_t k = 0; k < NIMPLS; k++)
            for (int p = 0; p < P_COUNT; p++)
                if (used[k] && result[s][k][p] > 0) {
                    lo = result[s][k][p] < lo ? result[s][k][p] : lo;
                    hi = result[s][k][p] > hi ? result[s][k][p] : hi;
                }
    double decade_lo = 1, decade_hi = 10;
    while (decade_lo * 10 <= lo)
        decade_lo *= 10;
    while (decade_hi < hi)
        decade_hi *= 10;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n", width, height);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width, height);
    fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"15\">Timers: median ns per operation (log scale, clock=%s; "
               "fire is CPU time)</text>\n", left, clock_name);
    int legend_x = left;
    for (size_t k = 0; k < NIMPLS; k++) {
        if (!used[k])
            continue;
        fprintf(f, "<rect x=\"%d\" y=\"30\" width=\"12\" height=\"12\" fill=\"%s\"/>", legend_x, impl_colours[k]);
        fprintf(f, "<text x=\"%d\" y=\"41\">%s</text>\n", legend_x + 16, impl_names[k]);
        legend_x += 100;
    }
    size_t shown = 0;
    for (size_t k = 0; k < NIMPLS; k++)
        shown += used[k];
    for (int p = 0; p < P_COUNT; p++) {
        int x0 = left + p * (panel_w + gap), y0 = top + 10;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\">%s</text>\n",
                x0 + panel_w / 2, y0 + panel_h + 50, phase_names[p]);
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", x0, y0,
                panel_w, panel_h);
        for (double d = decade_lo; d <= decade_hi * 1.0001; d *= 10) {
            double y = y0 + panel_h - panel_h * (log10(d) - log10(decade_lo)) / (log10(decade_hi) - log10(decade_lo));
            fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", x0, x0 + panel_w, y, y);
            if (p == 0)
                fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>", x0 - 4, y + 4, d);
            fputc('\n', f);
        }
        double group_w = (double)panel_w / (double)sizes;
        for (size_t s = 0; s < sizes; s++) {
            double gx = x0 + group_w * (double)s;
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">n=%zu</text>\n", gx + group_w / 2,
                    y0 + panel_h + 16, ns_list[s]);
            double bar_w = (group_w - 16) / (double)shown;
            size_t slot = 0;
            for (size_t k = 0; k < NIMPLS; k++) {
                if (!used[k])
                    continue;
                double v = result[s][k][p];
                double h = v <= decade_lo ? 1
                                          : panel_h * (log10(v) - log10(decade_lo)) / (log10(decade_hi) - log10(decade_lo));
                double bx = gx + 8 + bar_w * (double)slot;
                fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s %s n=%zu: "
                           "%.1f ns</title></rect>\n", bx, y0 + panel_h - h, bar_w - 1, h, impl_colours[k], impl_names[k],
                        phase_names[p], ns_list[s], v);
                slot++;
            }
        }
    }
    fprintf(f, "</svg>\n");
    fclose(f);
}

/* ---- Main ------------------------------------------------------------------------- */

static size_t parse_list(const char *text, size_t *out, size_t max)
{
    size_t count = 0;
    char *end;
    for (const char *p = text; *p && count < max; p = end) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || v < 2) {
            fprintf(stderr, "timers: bad size list '%s'\n", text);
            exit(2);
        }
        out[count++] = (size_t)v;
    }
    return count;
}

static _Noreturn void usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: timers [--n \"N...\"] [--rounds R] [--impl \"NAME...\"] [--clock cpu|wall]\n"
            "              [--quick] [--no-syscalls] [--markdown] [--svg FILE]\n"
            "  --n        numbers of timers (default \"1000 100000 1000000\")\n"
            "  --rounds   timed rounds; medians are taken over them (default 5)\n"
            "  --impl     libraries (default: every one built)\n"
            "  --clock    time start, restart and stop by CPU time (default) or the wall clock\n"
            "  --quick    n = 1000 only, deadlines over tens of ms, one round: checks that it runs\n"
            "  --no-syscalls  skip the traced run that counts system calls\n"
            "  --markdown print the table in Markdown\n"
            "  --svg FILE also draw the chart\n");
    exit(status);
}

/* timers-<name> --run N BASE SPAN [--clock cpu|wall] [--traced]: one run, for the driver. */
static int run_main(int argc, char **argv)
{
    if (argc < 5)
        usage(2);
    n = (size_t)strtoull(argv[2], NULL, 10);
    uint64_t base_ns = strtoull(argv[3], NULL, 10), span_ns = strtoull(argv[4], NULL, 10);
    for (int i = 5; i < argc; i++) {
        if (strcmp(argv[i], "--traced") == 0)
            tracing = true;
        else if (strcmp(argv[i], "--slack-1ms") == 0)
            slack_1ms = true;
        else if (strcmp(argv[i], "--clock") == 0 && i + 1 < argc)
            op_clock = strcmp(argv[++i], "wall") == 0 ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID;
    }
    if (n < 2 || span_ns < 2)
        usage(2);
    make_delays(base_ns, span_ns);
    run();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--run") == 0)
        return run_main(argc, argv);
    ssize_t len = readlink("/proc/self/exe", program_dir, sizeof program_dir - 1);
    if (len <= 0)
        die("readlink /proc/self/exe");
    program_dir[len] = '\0';
    char *slash = strrchr(program_dir, '/');
    if (slash)
        *slash = '\0';
    size_t sizes[8] = {1000, 100000, 1000000};
    size_t nsizes = 3;
    int rounds = 5;
    bool syscalls = true, markdown = false, quick = false;
    const char *svg = NULL, *impl_list = NULL, *clock_name = "cpu";
    uint64_t base_ns = 1000000000u, span_ns = 1000000000u;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--n") == 0 && value) {
            nsizes = parse_list(value, sizes, 8);
            i++;
        } else if (strcmp(arg, "--rounds") == 0 && value) {
            rounds = atoi(value);
            i++;
        } else if (strcmp(arg, "--impl") == 0 && value) {
            impl_list = value;
            i++;
        } else if (strcmp(arg, "--clock") == 0 && value) {
            clock_name = value;
            i++;
        } else if (strcmp(arg, "--svg") == 0 && value) {
            svg = value;
            i++;
        } else if (strcmp(arg, "--quick") == 0) {
            quick = true;
        } else if (strcmp(arg, "--no-syscalls") == 0) {
            syscalls = false;
        } else if (strcmp(arg, "--markdown") == 0) {
            markdown = true;
        } else {
            usage(strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 ? 0 : 2);
        }
    }
    if (strcmp(clock_name, "wall") == 0)
        op_clock = CLOCK_MONOTONIC;
    else if (strcmp(clock_name, "cpu") != 0)
        usage(2);
    if (quick) {
        sizes[0] = 1000;
        nsizes = 1;
        rounds = 1;
        base_ns = 10000000u;
        span_ns = 20000000u;
    }
    if (rounds < 1 || nsizes == 0)
        usage(2);

    bool used[NIMPLS];
    for (size_t k = 0; k < NIMPLS; k++) {
        used[k] = impl_built(k) && (!impl_list || strstr(impl_list, impl_names[k]) != NULL);
        /* "libev" is a prefix of "libevent": match whole words. */
        if (impl_list && used[k]) {
            const char *at = impl_list;
            used[k] = false;
            size_t len = strlen(impl_names[k]);
            while ((at = strstr(at, impl_names[k])) != NULL) {
                bool starts = at == impl_list || at[-1] == ' ' || at[-1] == ',';
                bool ends = at[len] == '\0' || at[len] == ' ' || at[len] == ',';
                if (starts && ends)
                    used[k] = true;
                at += len;
            }
        }
    }

    static double samples[8][NIMPLS][P_COUNT][64];
    static double result[8][NIMPLS][P_COUNT];
    static double calls[8][NIMPLS][P_COUNT];
    if (rounds > 64)
        rounds = 64;
    uint64_t started = now_ns(CLOCK_MONOTONIC);
    for (size_t s = 0; s < nsizes; s++) {
        n = sizes[s];
        make_delays(base_ns, span_ns);
        for (int r = 0; r < rounds; r++) {
            for (size_t j = 0; j < NIMPLS; j++) {
                size_t k = (j + (size_t)r) % NIMPLS;
                if (!used[k])
                    continue;
                double ns[P_COUNT];
                run_child(k, base_ns, span_ns, clock_name, ns);
                for (int p = 0; p < P_COUNT; p++)
                    samples[s][k][p][r] = ns[p];
            }
        }
        for (size_t k = 0; k < NIMPLS; k++)
            for (int p = 0; p < P_COUNT && used[k]; p++)
                result[s][k][p] = median(samples[s][k][p], rounds);
        if (syscalls)
            for (size_t k = 0; k < NIMPLS; k++)
                if (used[k])
                    count_syscalls(k, base_ns, span_ns, calls[s][k]);
        free(first_delay);
        free(second_delay);
    }
    double elapsed = (double)(now_ns(CLOCK_MONOTONIC) - started) * 1e-9;

    /* The table: a row per n and operation, a column per library: ns (system calls) per operation. */
    if (markdown) {
        printf("| n | operation |");
        for (size_t k = 0; k < NIMPLS; k++)
            if (used[k])
                printf(" %s |", impl_names[k]);
        printf("\n|---:|---|");
        for (size_t k = 0; k < NIMPLS; k++)
            if (used[k])
                printf("---:|");
        printf("\n");
    } else {
        printf("timers: median ns per operation over %d round(s) (clock=%s; fire: CPU time)%s; %.0f s\n", rounds,
               clock_name, syscalls ? ", (system calls per operation, one traced run)" : "", elapsed);
        printf("%9s  %-8s", "n", "op");
        for (size_t k = 0; k < NIMPLS; k++)
            if (used[k])
                printf("  %20s", impl_names[k]);
        printf("\n");
    }
    for (size_t s = 0; s < nsizes; s++)
        for (int p = 0; p < P_COUNT; p++) {
            if (markdown)
                printf("| %zu | %s |", sizes[s], phase_names[p]);
            else
                printf("%9zu  %-8s", sizes[s], phase_names[p]);
            for (size_t k = 0; k < NIMPLS; k++) {
                if (!used[k])
                    continue;
                char cell[64];
                if (syscalls)
                    snprintf(cell, sizeof cell, calls[s][k][p] < 0 ? "%.1f (-)" : "%.1f (%.4f)", result[s][k][p],
                             calls[s][k][p]);
                else
                    snprintf(cell, sizeof cell, "%.1f", result[s][k][p]);
                if (markdown)
                    printf(" %s |", cell);
                else
                    printf("  %20s", cell);
            }
            printf("\n");
        }
    if (svg)
        write_svg(svg, nsizes, sizes, used, result, clock_name);
    return 0;
}
