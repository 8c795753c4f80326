/* SPDX-License-Identifier: MIT */
/*
 * The interposed functions of fault_injection.h.
 *
 * Meson builds with _FILE_OFFSET_BITS=64, under which <fcntl.h> and
 * <sys/stat.h> rename fcntl and fstat to fcntl64 and fstat64 by asm labels;
 * this file defines both names of each itself, so it must see the plain
 * declarations.
 */
#undef _FILE_OFFSET_BITS
#include "fault_injection.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- Where libevsrc is, and whether a call comes from it --------------------- */

static uintptr_t library_start, library_end;
static char library_path[4096];

static int find_library(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    const char *slash = strrchr(info->dlpi_name, '/');
    const char *base = slash ? slash + 1 : info->dlpi_name;
    if (strncmp(base, "libevsrc.so", strlen("libevsrc.so")) != 0)
        return 0;
    uintptr_t start = UINTPTR_MAX, end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        if (segment->p_type != PT_LOAD)
            continue;
        uintptr_t from = info->dlpi_addr + segment->p_vaddr;
        if (from < start)
            start = from;
        if (from + segment->p_memsz > end)
            end = from + segment->p_memsz;
    }
    library_start = start;
    library_end = end;
    strncpy(library_path, info->dlpi_name, sizeof library_path - 1);
    return 1;
}

bool fault_injection_init(void)
{
    if (library_end == 0)
        dl_iterate_phdr(find_library, NULL);
    return library_end != 0;
}

const char *fault_injection_library_path(void)
{
    return library_path;
}

static bool from_library(const void *caller)
{
    uintptr_t address = (uintptr_t)caller;
    return address >= library_start && address < library_end;
}

/* ---- Which call fails ---------------------------------------------------------- */

static atomic_bool armed;
static atomic_ulong calls, fired;
/* What is armed: the nth call of any function, or of `function` (then every call if nth is 0). */
static struct {
    const char *function;
    unsigned long nth;
    int error;
    bool after;
} rule;
static struct fault last_fault;
/* A second targeted rule beside the first, for a path that only a first failure opens (see the header). */
static struct {
    const char *function;
    unsigned long nth;
    int error;
} also;
static atomic_ulong also_calls;

static void arm(const char *function, unsigned long nth, int error, bool after)
{
    atomic_store(&armed, false);
    also.function = NULL;
    rule.function = function;
    rule.nth = nth;
    rule.error = error;
    rule.after = after;
    atomic_store(&calls, 0);
    atomic_store(&armed, true);
}

void fault_injection_arm(unsigned long nth)
{
    arm(NULL, nth, 0, false);
}

void fault_injection_arm_function(const char *function, unsigned long nth, int error, bool after)
{
    arm(function, nth, error, after);
}

void fault_injection_arm_also(const char *function, unsigned long nth, int error)
{
    atomic_store(&armed, false);
    also.function = function;
    also.nth = nth;
    also.error = error;
    atomic_store(&also_calls, 0);
    atomic_store(&armed, true);
}

unsigned long fault_injection_disarm(void)
{
    atomic_store(&armed, false);
    return atomic_load(&calls);
}

unsigned long fault_injection_fired(void)
{
    return atomic_load(&fired);
}

struct fault fault_injection_last(void)
{
    return last_fault;
}

enum verdict {
    CALL,           /* not this one: call the real function */
    FAIL,           /* fail without calling it */
    CALL_THEN_FAIL, /* call it, then report *error anyway */
};

/*
 * Counts a call of `function` from `caller` and says what to do with it.
 * *error comes in as the function's usual failure and goes out as the one to
 * report. A fault is `absorbed` when the library is expected to recover from
 * it by itself (it retries the call), so that the caller sees no failure.
 */
static enum verdict decide(const char *function, int *error, bool absorbed, const void *caller)
{
    if (!atomic_load_explicit(&armed, memory_order_relaxed) || !from_library(caller))
        return CALL;
    if (also.function && strcmp(also.function, function) == 0) {
        unsigned long call = atomic_fetch_add(&also_calls, 1) + 1;
        if (call != also.nth)
            return CALL;
        *error = also.error;
        last_fault = (struct fault){.function = function, .error = *error, .call = call, .absorbed = false};
        atomic_fetch_add(&fired, 1);
        return FAIL;
    }
    if (rule.function && strcmp(rule.function, function) != 0)
        return CALL;
    unsigned long call = atomic_fetch_add(&calls, 1) + 1;
    bool every = rule.function && rule.nth == 0;
    if (!every && call != rule.nth)
        return CALL;
    if (rule.function) {
        *error = rule.error;
        absorbed = false;
    }
    last_fault = (struct fault){.function = function, .error = *error, .call = call, .absorbed = absorbed};
    atomic_fetch_add(&fired, 1);
    return rule.after ? CALL_THEN_FAIL : FAIL;
}

/* The next definition of `name` (the C library's), looked up once per function. */
static void *next_definition(_Atomic(void *) *cache, const char *name)
{
    void *found = atomic_load_explicit(cache, memory_order_acquire);
    if (!found) {
        found = dlsym(RTLD_NEXT, name);
        atomic_store_explicit(cache, found, memory_order_release);
    }
    return found;
}

/* -1 with errno set; 0 (success) for the error 0 a targeted rule may ask for. */
static int fail_with(int error)
{
    if (error == 0)
        return 0;
    errno = error;
    return -1;
}

/*
 * Defines `name`, a function that reports failure as -1 and errno, as one
 * that fails with `error` when its turn comes and otherwise calls the C
 * library's. A macro because C has no other way to define a function of each
 * signature; `params` and `args` are the parenthesised parameter and argument
 * lists. `absorbed`: the library retries this failure itself.
 */
#define INTERPOSE_AS(type, name, error, absorbed, params, args)                  \
    type name params                                                             \
    {                                                                            \
        int error_ = error;                                                      \
        enum verdict verdict_ = decide(#name, &error_, absorbed, __builtin_return_address(0)); \
        if (verdict_ == FAIL)                                                    \
            return fail_with(error_);                                            \
        static _Atomic(void *) cache_;                                           \
        void *found_ = next_definition(&cache_, #name);                          \
        type(*real_) params;                                                     \
        memcpy(&real_, &found_, sizeof real_); /* as POSIX allows for dlsym */   \
        type result_ = real_ args;                                               \
        return verdict_ == CALL_THEN_FAIL ? fail_with(error_) : result_;         \
    }
#define INTERPOSE(type, name, error, params, args) INTERPOSE_AS(type, name, error, false, params, args)

/*
 * The same for a function that returns its error number instead of setting
 * errno (posix_spawn and its attribute functions). Never `after`: a spawn
 * that ran would leave a child nobody tracks.
 */
#define INTERPOSE_RETURNING_ERROR(name, error, params, args)                     \
    int name params                                                              \
    {                                                                            \
        int error_ = error;                                                      \
        if (decide(#name, &error_, false, __builtin_return_address(0)) != CALL)  \
            return error_;                                                       \
        static _Atomic(void *) cache_;                                           \
        void *found_ = next_definition(&cache_, #name);                          \
        int(*real_) params;                                                      \
        memcpy(&real_, &found_, sizeof real_);                                   \
        return real_ args;                                                       \
    }

/* ---- The interposed functions ---------------------------------------------------- */

/* Queues and notification fds. */
INTERPOSE(int, epoll_create1, EMFILE, (int flags), (flags))
INTERPOSE(int, epoll_ctl, ENOMEM, (int epfd, int op, int fd, struct epoll_event *event), (epfd, op, fd, event))
INTERPOSE(int, epoll_wait, EINTR, (int epfd, struct epoll_event *events, int max, int timeout),
          (epfd, events, max, timeout))
INTERPOSE(int, epoll_pwait, EINTR,
          (int epfd, struct epoll_event *events, int max, int timeout, const sigset_t *mask),
          (epfd, events, max, timeout, mask))
INTERPOSE(int, epoll_pwait2, EINTR,
          (int epfd, struct epoll_event *events, int max, const struct timespec *timeout, const sigset_t *mask),
          (epfd, events, max, timeout, mask))
INTERPOSE(int, ppoll, EINTR, (struct pollfd *fds, nfds_t len, const struct timespec *timeout, const sigset_t *mask),
          (fds, len, timeout, mask))
INTERPOSE(int, eventfd, EMFILE, (unsigned int initval, int flags), (initval, flags))
INTERPOSE(int, pipe2, EMFILE, (int fds[2], int flags), (fds, flags))
INTERPOSE(int, timerfd_create, EMFILE, (clockid_t clock, int flags), (clock, flags))
INTERPOSE(int, timerfd_settime, EINVAL,
          (int fd, int flags, const struct itimerspec *value, struct itimerspec *old), (fd, flags, value, old))
INTERPOSE(int, timerfd_gettime, EBADF, (int fd, struct itimerspec *value), (fd, value))

/* fds. */
INTERPOSE(int, fstat, EOVERFLOW, (int fd, struct stat *st), (fd, st))
INTERPOSE(int, fstat64, EOVERFLOW, (int fd, struct stat64 *st), (fd, st))
INTERPOSE(ssize_t, read, EIO, (int fd, void *buf, size_t len), (fd, buf, len))
INTERPOSE(ssize_t, write, EIO, (int fd, const void *buf, size_t len), (fd, buf, len))
INTERPOSE(ssize_t, readv, EIO, (int fd, const struct iovec *iov, int iovcnt), (fd, iov, iovcnt))
INTERPOSE(ssize_t, writev, EIO, (int fd, const struct iovec *iov, int iovcnt), (fd, iov, iovcnt))

/* Sockets. Address parameters have glibc's types (a transparent union under _GNU_SOURCE), as declared. */
INTERPOSE(int, socket, EMFILE, (int domain, int type, int protocol), (domain, type, protocol))
INTERPOSE(int, socketpair, EMFILE, (int domain, int type, int protocol, int fds[2]), (domain, type, protocol, fds))
INTERPOSE(int, setsockopt, ENOBUFS, (int fd, int level, int name, const void *value, socklen_t len),
          (fd, level, name, value, len))
INTERPOSE(int, getsockopt, ENOBUFS, (int fd, int level, int name, void *value, socklen_t *len),
          (fd, level, name, value, len))
INTERPOSE(int, bind, EADDRINUSE, (int fd, __CONST_SOCKADDR_ARG addr, socklen_t len), (fd, addr, len))
INTERPOSE(int, listen, EADDRINUSE, (int fd, int backlog), (fd, backlog))
INTERPOSE(int, accept4, EMFILE, (int fd, __SOCKADDR_ARG addr, socklen_t *len, int flags), (fd, addr, len, flags))
INTERPOSE(int, connect, ENETUNREACH, (int fd, __CONST_SOCKADDR_ARG addr, socklen_t len), (fd, addr, len))
INTERPOSE(int, getsockname, ENOBUFS, (int fd, __SOCKADDR_ARG addr, socklen_t *len), (fd, addr, len))
INTERPOSE(int, getpeername, ENOTCONN, (int fd, __SOCKADDR_ARG addr, socklen_t *len), (fd, addr, len))
INTERPOSE(int, shutdown, ENOTCONN, (int fd, int how), (fd, how))
INTERPOSE(ssize_t, recv, ECONNRESET, (int fd, void *buf, size_t len, int flags), (fd, buf, len, flags))
INTERPOSE(ssize_t, send, ECONNRESET, (int fd, const void *buf, size_t len, int flags), (fd, buf, len, flags))
INTERPOSE(ssize_t, recvfrom, ECONNREFUSED,
          (int fd, void *buf, size_t len, int flags, __SOCKADDR_ARG addr, socklen_t *addrlen),
          (fd, buf, len, flags, addr, addrlen))
INTERPOSE(ssize_t, sendto, ENOBUFS,
          (int fd, const void *buf, size_t len, int flags, __CONST_SOCKADDR_ARG addr, socklen_t addrlen),
          (fd, buf, len, flags, addr, addrlen))
INTERPOSE(ssize_t, recvmsg, ECONNRESET, (int fd, struct msghdr *msg, int flags), (fd, msg, flags))
INTERPOSE(ssize_t, sendmsg, ECONNRESET, (int fd, const struct msghdr *msg, int flags), (fd, msg, flags))
INTERPOSE(int, accept, EMFILE, (int fd, __SOCKADDR_ARG addr, socklen_t *len), (fd, addr, len))
INTERPOSE(int, recvmmsg, ENOMEM,
          (int fd, struct mmsghdr *messages, unsigned int len, int flags, struct timespec *timeout),
          (fd, messages, len, flags, timeout))
INTERPOSE(int, sendmmsg, ENOBUFS, (int fd, struct mmsghdr *messages, unsigned int len, int flags),
          (fd, messages, len, flags))

/* Signals, processes and file watches (declared here for C libraries whose headers lack the pidfd ones). */
INTERPOSE(int, signalfd, EMFILE, (int fd, const sigset_t *mask, int flags), (fd, mask, flags))
INTERPOSE(int, inotify_init1, EMFILE, (int flags), (flags))
INTERPOSE(int, inotify_add_watch, ENOSPC, (int fd, const char *path, uint32_t mask), (fd, path, mask))
INTERPOSE(int, inotify_rm_watch, EINVAL, (int fd, int wd), (fd, wd))
INTERPOSE(int, pidfd_open, EMFILE, (pid_t pid, unsigned int flags), (pid, flags))
INTERPOSE(int, pidfd_send_signal, EPERM, (int pidfd, int sig, siginfo_t *info, unsigned int flags),
          (pidfd, sig, info, flags))
INTERPOSE(int, kill, EPERM, (pid_t pid, int sig), (pid, sig))
INTERPOSE(int, poll, ENOMEM, (struct pollfd *fds, nfds_t len, int timeout), (fds, len, timeout))
INTERPOSE(int, waitid, ECHILD, (idtype_t type, id_t id, siginfo_t *info, int options), (type, id, info, options))
/* The library reaps a child it gives up on, retrying on EINTR. */
INTERPOSE_AS(pid_t, waitpid, EINTR, true, (pid_t pid, int *status, int options), (pid, status, options))
INTERPOSE_RETURNING_ERROR(posix_spawn, EAGAIN,
                          (pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                           const posix_spawnattr_t *attr, char *const argv[], char *const envp[]),
                          (pid, path, actions, attr, argv, envp))
INTERPOSE_RETURNING_ERROR(posix_spawnattr_init, ENOMEM, (posix_spawnattr_t *attr), (attr))
/*
 * pthread_atfork's registration (glibc's pthread_atfork, linked into the
 * library, calls it). The library makes it once per process, under
 * pthread_once, so the loop cannot number it alike in every run: only a
 * targeted rule (fault_injection_arm_function) fails it.
 */
int __register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void), void *dso_handle)
{
    int error = ENOMEM;
    if (rule.function && decide("__register_atfork", &error, false, __builtin_return_address(0)) != CALL)
        return error;
    static _Atomic(void *) cache;
    void *found = next_definition(&cache, "__register_atfork");
    int (*real)(void (*)(void), void (*)(void), void (*)(void), void *);
    memcpy(&real, &found, sizeof real);
    return real(prepare, parent, child, dso_handle);
}
/* Without /proc an eventfd cannot be told from another fd: the library then takes the caller's word. */
INTERPOSE_AS(ssize_t, readlink, ENOENT, true, (const char *path, char *buf, size_t len), (path, buf, len))

/* Signals. */
INTERPOSE(int, sigpending, EFAULT, (sigset_t *set), (set))
/* The library takes back its own SIGPIPE with a zero timeout and retries on EINTR. */
INTERPOSE_AS(int, sigtimedwait, EINTR, true, (const sigset_t *set, siginfo_t *info, const struct timespec *timeout),
             (set, info, timeout))

/*
 * pthread_sigmask returns its error instead of setting errno. Only blocking
 * fails: the library restores a mask with SIG_UNBLOCK and cannot do anything
 * useful if that failed (it cannot, for a valid `how` and set).
 */
int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    int error = EINVAL;
    if (how == SIG_BLOCK && decide("pthread_sigmask", &error, false, __builtin_return_address(0)) != CALL)
        return error;
    static _Atomic(void *) cache;
    void *found = next_definition(&cache, "pthread_sigmask");
    int (*real)(int, const sigset_t *, sigset_t *);
    memcpy(&real, &found, sizeof real);
    return real(how, set, old);
}

/*
 * fcntl takes one optional argument, an int or a pointer; va_arg of a
 * pointer reads either as the C library itself does. Duplicating an fd fails
 * for want of fds, the rest as on a bad fd.
 */
static int fcntl_forward(_Atomic(void *) *cache, const char *name, int fd, int cmd, void *arg)
{
    void *found = next_definition(cache, name);
    int (*real)(int, int, ...);
    memcpy(&real, &found, sizeof real);
    return real(fd, cmd, arg);
}

static int fcntl_error(int cmd)
{
    return cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC ? EMFILE : EBADF;
}

/*
 * F_GETFD is never failed: its one error, EBADF, says the fd is not open,
 * and the library asks it for that answer (the poll backend then forgets
 * the registration of a closed fd). Failing it for an open fd would be no
 * fault of the kernel's but another world; the tests close fds for real.
 */
static bool fcntl_fallible(int cmd)
{
    return cmd != F_GETFD;
}

int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    int error = fcntl_error(cmd);
    if (fcntl_fallible(cmd) && decide("fcntl", &error, false, __builtin_return_address(0)) != CALL)
        return fail_with(error);
    static _Atomic(void *) cache;
    return fcntl_forward(&cache, "fcntl", fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    int error = fcntl_error(cmd);
    if (fcntl_fallible(cmd) && decide("fcntl64", &error, false, __builtin_return_address(0)) != CALL)
        return fail_with(error);
    static _Atomic(void *) cache;
    return fcntl_forward(&cache, "fcntl64", fd, cmd, arg);
}

/*
 * prctl takes up to four more arguments, each an unsigned long or a pointer;
 * forwarding all four is what the C library's own wrapper passes the kernel.
 * The library only reads its thread's timer slack, and takes a failure as
 * none: absorbed.
 */
int prctl(int option, ...)
{
    va_list ap;
    va_start(ap, option);
    unsigned long args[4];
    for (int i = 0; i < 4; i++)
        args[i] = va_arg(ap, unsigned long);
    va_end(ap);
    int error = EINVAL;
    if (decide("prctl", &error, true, __builtin_return_address(0)) != CALL)
        return fail_with(error);
    static _Atomic(void *) cache;
    void *found = next_definition(&cache, "prctl");
    int (*real)(int, ...);
    memcpy(&real, &found, sizeof real);
    return real(option, args[0], args[1], args[2], args[3]);
}

/*
 * Interface names, for IPv6 scopes (address.c). if_nametoindex reports
 * failure as 0 and if_indextoname as NULL, each with errno; the formatter
 * writes a scope by number when if_indextoname fails: absorbed.
 */
unsigned int if_nametoindex(const char *name)
{
    int error = EMFILE;
    if (decide("if_nametoindex", &error, false, __builtin_return_address(0)) != CALL) {
        errno = error;
        return 0;
    }
    static _Atomic(void *) cache;
    void *found = next_definition(&cache, "if_nametoindex");
    unsigned int (*real)(const char *);
    memcpy(&real, &found, sizeof real);
    return real(name);
}

char *if_indextoname(unsigned int index, char *name)
{
    int error = EMFILE;
    if (decide("if_indextoname", &error, true, __builtin_return_address(0)) != CALL) {
        errno = error;
        return NULL;
    }
    static _Atomic(void *) cache;
    void *found = next_definition(&cache, "if_indextoname");
    char *(*real)(unsigned int, char *);
    memcpy(&real, &found, sizeof real);
    return real(index, name);
}

/* ---- The allocator ----------------------------------------------------------------- */

/*
 * glibc's own entry points, so that nothing here depends on dlsym, which
 * itself allocates. tests/meson.build builds this only where they exist.
 */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *block, size_t size);
extern void __libc_free(void *block);

/* The blocks the library allocated while armed: few at a time, so a short array. */
#define BLOCKS_MAX 1024

struct block {
    void *ptr;
    size_t size;
};

static struct block blocks[BLOCKS_MAX];
static size_t blocks_len;
static size_t blocks_bytes;
static bool blocks_overflowed;
static atomic_flag blocks_lock = ATOMIC_FLAG_INIT;

static void blocks_acquire(void)
{
    while (atomic_flag_test_and_set_explicit(&blocks_lock, memory_order_acquire)) {
    }
}

static void blocks_release(void)
{
    atomic_flag_clear_explicit(&blocks_lock, memory_order_release);
}

static void track(void *ptr, size_t size, const void *caller)
{
    if (!ptr || !atomic_load_explicit(&armed, memory_order_relaxed) || !from_library(caller))
        return;
    blocks_acquire();
    if (blocks_len < BLOCKS_MAX) {
        blocks[blocks_len++] = (struct block){ptr, size};
        blocks_bytes += size;
    } else {
        blocks_overflowed = true;
    }
    blocks_release();
}

static void untrack(void *ptr)
{
    if (!ptr)
        return;
    blocks_acquire();
    for (size_t i = 0; i < blocks_len; i++) {
        if (blocks[i].ptr == ptr) {
            blocks_bytes -= blocks[i].size;
            blocks[i] = blocks[--blocks_len];
            break;
        }
    }
    blocks_release();
}

size_t fault_injection_library_bytes(void)
{
    blocks_acquire();
    size_t bytes = blocks_bytes;
    blocks_release();
    return bytes;
}

bool fault_injection_table_overflowed(void)
{
    return blocks_overflowed;
}

void *malloc(size_t size)
{
    const void *caller = __builtin_return_address(0);
    int error = ENOMEM;
    if (decide("malloc", &error, false, caller) != CALL) {
        errno = error;
        return NULL;
    }
    void *ptr = __libc_malloc(size);
    track(ptr, size, caller);
    return ptr;
}

void *calloc(size_t count, size_t size)
{
    const void *caller = __builtin_return_address(0);
    int error = ENOMEM;
    if (decide("calloc", &error, false, caller) != CALL) {
        errno = error;
        return NULL;
    }
    void *ptr = __libc_calloc(count, size);
    track(ptr, count * size, caller);
    return ptr;
}

void *realloc(void *block, size_t size)
{
    const void *caller = __builtin_return_address(0);
    int error = ENOMEM;
    if (decide("realloc", &error, false, caller) != CALL) {
        errno = error;
        return NULL;
    }
    void *ptr = __libc_realloc(block, size);
    if (ptr || size == 0)
        untrack(block);
    track(ptr, size, caller);
    return ptr;
}

void free(void *block)
{
    untrack(block);
    __libc_free(block);
}

/* ---- The import check ---------------------------------------------------------------- */

static const char *const interposed[] = {
    "__register_atfork",
    "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "pipe2",
    "timerfd_create", "timerfd_settime", "timerfd_gettime", "fstat", "fstat64", "read", "write", "readv",
    "writev", "socket", "socketpair", "setsockopt", "getsockopt", "bind", "listen", "accept4", "connect",
    "getsockname", "getpeername", "shutdown", "recv", "send", "recvfrom", "sendto", "recvmsg", "sendmsg",
    "accept", "recvmmsg", "sendmmsg", "signalfd", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
    "pidfd_open", "pidfd_send_signal", "kill", "poll", "ppoll", "waitid", "waitpid", "posix_spawn", "posix_spawnattr_init",
    "readlink", "prctl", "if_nametoindex", "if_indextoname",
    "sigpending", "sigtimedwait", "pthread_sigmask", "fcntl", "fcntl64", "malloc", "calloc", "realloc", "free",
};

bool fault_injection_interposes(const char *name)
{
    for (size_t i = 0; i < sizeof interposed / sizeof interposed[0]; i++)
        if (strcmp(interposed[i], name) == 0)
            return true;
    return false;
}
