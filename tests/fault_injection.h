/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_FAULT_INJECTION_H
#define EVSRC_FAULT_INJECTION_H

/*
 * Fault injection for tests: fails the Nth fallible call the library makes.
 *
 * fault_injection.c defines, in the test executable, every fallible C library
 * function libevsrc imports (malloc, epoll_ctl, socket, ...). The dynamic
 * linker binds libevsrc's calls to these definitions, which forward to the C
 * library's own (dlsym(RTLD_NEXT) or glibc's __libc_* allocator entry points).
 * A call counts only while armed and only when it comes from libevsrc's code
 * (its return address lies in libevsrc's mapping), so the test's own calls and
 * libcheck's are never failed. The one failed call returns what the function
 * returns on failure with a realistic errno, without calling the real one.
 * Allocations libevsrc makes while armed are tracked, so a test can tell how
 * many bytes the library holds.
 *
 * docs/testing.md describes the design and how to add a function.
 */

#include <stdbool.h>
#include <stddef.h>

/*
 * The fault that fired: the function failed, the errno it reported, the
 * call's number, and whether the library retries it itself (then its caller
 * sees no failure).
 */
struct fault {
    const char *function;
    int error;
    unsigned long call;
    bool absorbed;
};

/* Finds libevsrc in this process; false (the test should skip) if it is not a shared object of its own. */
bool fault_injection_init(void);

/* Starts counting the library's fallible calls from 0 and fails the nth one (0: none). */
void fault_injection_arm(unsigned long nth);

/*
 * Targeted faults, for tests of one answer of the kernel: counts only the
 * library's calls of `function` and fails the nth (every one if nth is 0)
 * with `error`. If `after`, the real function runs first and its result is
 * replaced by the failure (as when another thread did the same thing first),
 * and `error` 0 then reports plain success (0).
 */
void fault_injection_arm_function(const char *function, unsigned long nth, int error, bool after);

/*
 * With a targeted rule armed, a second one: the nth of the library's calls of
 * `function` (another function than the first rule's) fails with `error`,
 * counted on their own and not in the count disarm returns. For a path only a
 * first failure opens, such as the fallback after pidfd_open refuses
 * PIDFD_NONBLOCK, failing in turn. Arming anew clears it.
 */
void fault_injection_arm_also(const char *function, unsigned long nth, int error);

/* Stops counting; returns how many fallible calls the library made while armed. */
unsigned long fault_injection_disarm(void);

/* How many faults have fired since the process started (0 or 1 per arming, 2 with fault_injection_arm_also). */
unsigned long fault_injection_fired(void);

/* The last fault that fired. */
struct fault fault_injection_last(void);

/* Bytes the library allocated while armed and has not freed yet. */
size_t fault_injection_library_bytes(void);

/* Whether the allocation table overflowed (its figures are then unreliable). */
bool fault_injection_table_overflowed(void);

/* Whether the library imports `name` and this file interposes it; for the import check. */
bool fault_injection_interposes(const char *name);

/* The path of the loaded libevsrc, for the import check. */
const char *fault_injection_library_path(void);

#endif /* EVSRC_FAULT_INJECTION_H */
