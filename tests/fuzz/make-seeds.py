#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz_registry (tests/fuzz/corpus/).

Each seed is a short, hand-written scenario in the target's input encoding
(see the top of fuzz_registry.c and its op functions): it starts the fuzzer
next to the paths that random bytes reach slowly (cross-queue ownership,
stale marks of dead queues, nested queues, oneshot and level-triggered
registrations, custom sources, SIGPIPE). Run it from anywhere:

    python3 tests/fuzz/make-seeds.py

It rewrites every seed it knows and leaves other files alone.
"""

import os
import random

# Operation codes (enum op in fuzz_registry.c).
CREATE, CLOSE, REG_FD, REREG_FD, DEREG_FD, REG, REREG, DEREG = range(8)
WRITE, READ, WAIT, QUEUE, TIMER, SHUTDOWN, REINIT, MISC = range(8, 16)
TIMERS = 16
FORK, THREAD_CLOSE, SHORT = 17, 18, 19  # scenarios: a fork child, a close during another thread's wait, short counts

# Create kinds (op_create: byte % 8).
PIPE, PIPE_ADOPT, SOCKPAIR, EVENTFD, TIMERFD, TCP, MEMFD = 0, 0x11, 2, 3, 4, 5, 6
WAKER = 0x0F  # followed by a handle byte and a token byte
TIMER_ADOPT = 4 | (1 << 3)
UDP = 0x17  # a connected loopback UDP pair; followed by a variant byte (1, 2: adopt an end) and a spare byte
UNIX_STREAM, UNIX_DGRAM = 0x27, 0x67  # evsrc_unix_stream_pair / evsrc_unix_datagram_pair (then two unused bytes)

# Registry handles (pick_handle: byte % 6).
Q0, Q0C0, Q0C1, Q1, Q1C0, Q1C1 = range(6)

# Interests (pick_interests).
R, W, P, LEVEL, ONESHOT = 1, 2, 4, 8, 0x10
BAD_BIT = 0xC0 | R  # READABLE plus an undefined bit

# fd targets (pick_fd): a slot's fd is its index among used slots; these are special.
FD_MINUS1, FD_INT_MIN, FD_1000 = 0xF0, 0xF1, 0xF2
FD_Q0, FD_Q0C0, FD_Q0C1, FD_Q1, FD_Q1C0, FD_Q1C1 = range(0xF3, 0xF9)

# Tokens (pick_token): any byte below 0xf0 is a fresh token.
FRESH, TOKEN0, TOKEN_MAX = 0, 0xF0, 0xF1

# Sources (pick_source: byte % 8).
OWN, RAW, CUSTOM0, CUSTOM1, BAD_NULL_OPS, BAD_PARTIAL_OPS = 0, 2, 4, 5, 6, 7

# Custom op results (index into {0, 0, 0, 1, 7, -EIO, -ENOMEM, -EBADF}) and nested calls.
RES_0, RES_1, RES_7, RES_EIO = 0, 3, 4, 5
NEST_NONE, NEST_REGISTER, NEST_REREGISTER, NEST_DEREGISTER = 0, 8, 16, 24


def op_create(kind):
    return [CREATE, kind]


def op_close(slot):
    return [CLOSE, slot]


def op_fd(op, handle, fd, interests=R, token=FRESH):
    return [op, handle, fd, token, interests]


def op_src(op, handle, slot, which, interests=R, token=FRESH, custom=RES_0):
    return [op, handle, slot, which, token, interests, custom]


def op_write(slot, length_byte, variant=0):
    return [WRITE, slot, length_byte, variant]


def op_read(slot, length_byte=0x40, variant=0):
    return [READ, slot, length_byte, variant]


def op_shutdown(slot, how):
    """how: 0 SHUT_RD, 1 SHUT_WR, 2 SHUT_RDWR, 3 invalid."""
    return [SHUTDOWN, slot, how]


def op_wait(queue=0, mode=0):
    return [WAIT, (mode << 1) | queue]


def op_queue(queue, sub, arg=0):
    return [QUEUE, (sub << 1) | queue, arg]


POLL_NEW, POLL_FREE, CLONE, CLONE_FREE, FREE_BORROWED, CLONE_NULL_OUT = range(6)

# Timer queue ops (op_timers: byte % 6, queue (byte >> 3) % 2, timer (byte >> 4) % 8).
T_START, T_STOP, T_DRAIN, T_CHECK, T_CLOSE, T_BAD = range(6)
ZERO, KS1, KS2, KS3 = 0, 1, 2, 3  # start delays: zero or kiloseconds
PERIODIC = 4                       # plus a period of 1500 + 1000 * (delay >> 3) % 3 s


def op_timers(sub, queue=0, timer=0, *args):
    b = next(b for b in range(256) if b % 6 == sub and (b >> 3) % 2 == queue and (b >> 4) % 8 == timer)
    return [TIMERS, b] + list(args)


def clone_arg(into, from_handle_in_queue):
    return (into << 4) | from_handle_in_queue


def seeds():
    s = {}

    # An edge on a pipe is reported, consumed, and reported again after a drain.
    s["pipe-edge"] = [3] + sum([
        op_create(PIPE),
        op_fd(REG_FD, Q0, 0, R),
        op_fd(REG_FD, Q0, 1, W),
        op_wait(0),
        op_write(1, 10),
        op_wait(0),
        op_wait(0),
        op_read(0, 0xff),
        op_read(0, 0xff),
        op_write(1, 3),
        op_wait(0),
        op_fd(DEREG_FD, Q0, 0),
        op_write(1, 3),
        op_wait(0),
        op_fd(DEREG_FD, Q0, 0),
        op_fd(REREG_FD, Q0, 0, R),
        op_close(1),
        op_wait(0),
    ], [])

    # One source, two queues: the owner is the queue, clones included.
    s["cross-queue"] = [1] + sum([
        op_create(SOCKPAIR),
        op_src(REG, Q0, 0, OWN, R),
        op_src(REG, Q1, 0, OWN, R),
        op_src(REREG, Q1, 0, OWN, R | W),
        op_src(DEREG, Q1, 0, OWN),
        op_queue(0, CLONE, clone_arg(0, 0)),
        op_src(REREG, Q0C0, 0, OWN, R | LEVEL),
        op_write(1, 20),
        op_wait(0),
        op_wait(0),
        op_src(DEREG, Q0C0, 0, OWN),
        op_src(REG, Q1, 0, OWN, R),
        op_wait(1),
        op_src(REG, Q1, 0, RAW, R),
        op_fd(REG_FD, Q1, 0, R),
        op_read(0, 0xff),
        op_shutdown(1, 1),
        op_wait(1),
        op_close(0),
        op_src(DEREG, Q1, 0, OWN),
        op_src(REG, Q0, 0, OWN, R),
    ], [])

    # A mark left by a queue that died is replaced; one whose queue lives on (a clone) is not.
    s["stale-mark"] = [2] + sum([
        op_create(EVENTFD),
        op_queue(0, CLONE, clone_arg(0, 0)),
        op_src(REG, Q0C0, 0, RAW, R),
        op_queue(0, POLL_FREE),
        op_src(REG, Q1, 0, RAW, R),
        op_src(REREG, Q0C0, 0, RAW, R | W),
        op_queue(0, CLONE_FREE, clone_arg(0, 0)),
        op_src(REG, Q1, 0, RAW, R),
        op_src(REREG, Q1, 0, RAW, W),
        op_queue(0, POLL_NEW),
        op_src(DEREG, Q0, 0, RAW),
        op_src(REG, Q0, 0, RAW, R),
        op_write(0, 5),
        op_wait(1),
        op_wait(0),
        op_queue(1, POLL_FREE),
        op_wait(1),
        op_src(REG, Q0, 0, OWN, R),
    ], [])

    # Queues watching queues: a queue's own fd, loops, and an epoll fd whose file outlives its fd.
    s["nested"] = [4] + sum([
        op_fd(REG_FD, Q0, FD_Q0, R),
        op_fd(REG_FD, Q0, FD_Q1, R),
        op_fd(REG_FD, Q1, FD_Q0, R),
        op_fd(REG_FD, Q0, FD_Q1, R),
        op_queue(1, CLONE, clone_arg(0, 0)),
        op_fd(REG_FD, Q1, FD_Q1C0, R),
        op_fd(REG_FD, Q1C0, FD_Q0, R),
        op_fd(REG_FD, Q0, FD_Q1C0, R | LEVEL),
        op_create(EVENTFD),
        op_fd(REG_FD, Q1, 0, R),
        op_write(0, 1),
        op_wait(0),
        op_wait(0),
        op_queue(1, POLL_FREE),
        op_wait(0),
        op_fd(DEREG_FD, Q0, FD_Q1),
        op_fd(REG_FD, Q0, FD_MINUS1, R),
        op_fd(REG_FD, Q0, FD_1000, R),
        op_queue(1, CLONE_FREE, clone_arg(0, 0)),
        op_wait(0),
    ], [])

    # Level-triggered and oneshot registrations on an eventfd.
    s["level-oneshot"] = [1] + sum([
        op_create(EVENTFD),
        op_fd(REG_FD, Q0, 0, R | LEVEL),
        op_write(0, 9),
        op_wait(0), op_wait(0), op_wait(0),
        op_fd(REREG_FD, Q0, 0, R | ONESHOT),
        op_wait(0), op_wait(0),
        op_write(0, 1),
        op_wait(0),
        op_fd(REREG_FD, Q0, 0, R | W | ONESHOT | LEVEL),
        op_wait(0), op_wait(0),
        op_read(0),
        op_fd(REREG_FD, Q0, 0, W),
        op_wait(0),
        op_fd(REG_FD, Q0, 0, R),
        op_fd(REREG_FD, Q0, 0, BAD_BIT),
        op_fd(REREG_FD, Q0, 0, LEVEL),
        op_fd(REREG_FD, Q0, 0, R, TOKEN0),
        op_fd(REREG_FD, Q0, 0, R, TOKEN_MAX),
        op_write(0, 2),
        op_wait(0),
    ], [])

    # Timers, made and adopted, set every way.
    s["timer"] = [2] + sum([
        op_create(TIMERFD),
        op_create(TIMER_ADOPT),
        op_src(REG, Q0, 0, OWN, R),
        op_src(REG, Q1, 1, OWN, R | LEVEL),
        [TIMER, 0, 1],
        [TIMER, 1, 2],
        op_wait(0), op_wait(1),
        op_read(0), op_read(1),
        [TIMER, 0, 8], [TIMER, 1, 8],
        [TIMER, 0, 3], [TIMER, 0, 4], [TIMER, 0, 5], [TIMER, 0, 6], [TIMER, 0, 7], [TIMER, 0, 8],
        [TIMER, 1, 0], [TIMER, 1, 8],
        op_close(0),
        op_src(REG, Q0, 0, OWN, R),
        [TIMER, 0, 1], [TIMER, 0, 8],
        op_read(0),
    ], [])

    # A loopback TCP pair: data in order, shutdown, reset.
    s["tcp"] = [3] + sum([
        op_create(TCP),
        op_src(REG, Q0, 0, OWN, R | W),
        op_src(REG, Q0, 1, OWN, R),
        op_write(0, 30),
        op_write(0, 31, 1),
        op_wait(0), op_wait(0),
        op_read(1, 0x10),
        op_read(1, 0x10, 1),
        op_read(1, 0x10, 2),
        op_read(1, 0xff),
        op_shutdown(0, 1),
        op_wait(0),
        op_read(1),
        op_close(1),
        op_wait(0),
        op_write(0, 5),
        op_read(0),
        [MISC, 9],
        op_src(REREG, Q0, 0, OWN, W),
        op_close(0),
        op_src(DEREG, Q0, 0, OWN),
    ], [])

    # Custom sources: results pass through, ops run only after validation, busy inside their own op.
    s["custom"] = [1] + sum([
        op_src(REG, Q0, 0, CUSTOM0, R, FRESH, RES_7 | NEST_REGISTER),
        op_src(REG, Q0, 0, CUSTOM0, R),
        op_src(REG, Q1, 0, CUSTOM0, R),
        op_src(REREG, Q0, 0, CUSTOM0, W, FRESH, RES_1),
        op_src(REREG, Q1, 0, CUSTOM0, W),
        op_src(DEREG, Q0, 0, CUSTOM0, R, FRESH, RES_EIO | NEST_DEREGISTER),
        op_src(DEREG, Q0, 0, CUSTOM0),
        op_src(REG, Q1, 0, CUSTOM1, R, FRESH, RES_EIO | NEST_REREGISTER),
        op_src(REREG, Q1, 0, CUSTOM1, R),
        op_src(REG, Q1, 0, CUSTOM1, R, FRESH, RES_0),
        op_src(DEREG, Q1, 0, CUSTOM1, R, FRESH, RES_0 | NEST_REGISTER),
        op_src(REG, Q0, 0, BAD_NULL_OPS, R),
        op_src(REG, Q0, 0, BAD_PARTIAL_OPS, R),
        op_src(DEREG, Q0, 0, BAD_PARTIAL_OPS, R),
        op_src(REG, Q0C1, 0, CUSTOM0, R),
        op_src(REG, Q0, 0, CUSTOM0, 0),
    ], [])

    # A sender whose receiver is gone: -EPIPE and never a SIGPIPE, however SIGPIPE is masked.
    s["sigpipe"] = [2] + sum([
        op_create(PIPE_ADOPT),
        op_fd(REG_FD, Q0, 1, W),
        op_close(0),
        op_wait(0),
        op_write(0, 8, 0 << 3),
        op_write(0, 8, 1 << 3),
        op_write(0, 8, 2 << 3),
        op_write(0, 8, 7),
        op_write(0, 0),
        op_create(SOCKPAIR),
        op_close(1),
        op_write(1, 4),
        op_read(1),
        op_read(1),
    ], [])

    # Files epoll refuses, bad fds, and the rest of the API's edges.
    s["misc"] = [5] + sum([
        op_create(MEMFD),
        op_fd(REG_FD, Q0, 0, R),
        op_fd(REREG_FD, Q0, 0, R),
        op_fd(DEREG_FD, Q0, 0),
        op_src(REG, Q0, 0, OWN, R),
        op_fd(REG_FD, Q0, FD_INT_MIN, R),
        op_create(PIPE),
        op_close(1),
        op_fd(REG_FD, Q0, 1, R),
        [REINIT, 1, 0], [REINIT, 1, 2], [REINIT, 0, 1],
        op_queue(0, CLONE_NULL_OUT, 0),
        op_queue(0, FREE_BORROWED),
        op_fd(REG_FD, Q0, 2, R),
        op_wait(0, 7), op_wait(0, 8), op_wait(0, 9),
    ] + [[MISC, b] for b in range(12)], [])

    # Wakers: every wake is reported; freeing one removes it; wakes outlive the poll.
    s["waker"] = [2] + sum([
        [CREATE, WAKER, Q0, FRESH],
        [CREATE, WAKER, Q1C0, FRESH],
        op_queue(1, CLONE, clone_arg(0, 0)),
        [CREATE, WAKER, Q1C0, TOKEN0],
        op_write(0, 1),
        op_wait(0),
        op_write(0, 1), op_write(0, 1),
        op_wait(0), op_wait(0),
        op_write(1, 1),
        op_wait(1),
        op_src(REG, Q0, 1, RAW, R | LEVEL),
        op_wait(0),
        op_close(0),
        op_wait(0),
        op_queue(1, POLL_FREE),
        op_write(1, 1),
        [MISC, 2],
    ], [])

    # A wait through a freed poll fails and leaves the buffer empty.
    s["wait-after-free"] = [1] + sum([
        op_create(PIPE),
        op_fd(REG_FD, Q1, 1, W),
        op_wait(1),
        op_queue(1, POLL_FREE),
        op_wait(1),
        op_queue(1, POLL_NEW),
        op_fd(REG_FD, Q1, 1, W | LEVEL),
        op_wait(1), op_wait(1),
    ], [])

    # A connected UDP pair, made and adopted: every send and receive call, truncation, a gone peer's refusal.
    s["udp"] = [3] + sum([
        [CREATE, UDP, 0, 0],
        [CREATE, UDP, 3, 0],
        op_src(REG, Q0, 0, OWN, R | W),
        op_src(REG, Q0, 1, OWN, R),
        op_write(0, 30),
        op_write(0, 31, 1),
        op_write(0, 0),
        op_write(0, 40, 3),
        op_write(0, 5, 2),
        op_wait(0), op_wait(0),
        op_read(1, 0x01, 1),
        op_read(1, 0x01),
        op_read(1, 0xff, 2),
        op_read(1, 0xff, 3),
        op_read(1, 0xff, 3),
        op_read(1, 0xff),
        [MISC, 9],
        op_src(REREG, Q0, 1, OWN, W),
        op_write(2, 9),
        op_read(3, 0xff),
        op_close(1),
        op_write(0, 5),
        op_wait(0),
        op_read(0),
        op_write(0, 5),
        op_read(0),
        [MISC, 9], [MISC, 21],
        op_close(0),
        op_src(REG, Q0, 0, OWN, R),
    ], [])

    # Unix stream and datagram pairs: data in order, shutdown, a gone peer, closed ends.
    s["unix"] = [3] + sum([
        [CREATE, UNIX_STREAM, 0, 0],
        [CREATE, UNIX_DGRAM, 0, 0],
        op_src(REG, Q0, 0, OWN, R | W),
        op_src(REG, Q0, 1, OWN, R),
        op_src(REG, Q1, 3, OWN, R),
        op_write(0, 30), op_write(0, 31), op_write(0, 32),
        op_write(2, 10), op_write(2, 0), op_write(2, 11),
        op_wait(0), op_wait(1),
        op_read(1, 0x10), op_read(1, 0x11), op_read(1, 0x12), op_read(1, 0xff),
        op_read(3, 1, 0), op_read(3, 1, 1), op_read(3, 1, 0), op_read(3, 1, 0),
        op_shutdown(0, 1),
        op_wait(0),
        op_read(1),
        op_shutdown(3, 0),
        op_write(2, 4),
        op_wait(1),
        op_write(3, 5),
        op_close(2),
        op_write(3, 6), op_read(3), op_write(3, 6),
        op_close(1),
        op_wait(0),
        op_write(0, 5), op_read(0),
        op_shutdown(0, 3),
        [MISC, 7], [MISC, 8],
        op_close(0),
        op_write(0, 5), op_read(0), op_shutdown(0, 2),
        op_close(3), op_write(3, 1), op_read(3),
    ], [])

    # Found by the fuzzer: a datagram send to a gone peer may purge the sender's own queue, and with it
    # the readiness an owed event was for. Byte 9 creates the Unix datagram pair.
    purge = bytes.fromhex(
        "02ff0f03001700000037000005000000000300050001000001000503030000010008000e0008001f000800200008020a"
        "000802000000000bffffffffffff01000000ffffffffffff60ffffffffffff6032ffffffffffff0140000d0300080204"
        "000a010803050001022803060009034000080b0b0b0b0b0b0b0b0b0b0b0b00"
    )
    s["unix-gone-peer-purge"] = list(purge[:9]) + [UNIX_DGRAM] + list(purge[10:])

    # Timer queues: zero and far deadlines, restarts both ways, a periodic timer, starts and stops
    # from inside a drain, a timer claimed by both queues, and a queue closed with timers in it.
    s["timers"] = [1] + sum([
        op_timers(T_START, 0, 0, KS2),
        op_timers(T_START, 0, 1, ZERO),
        op_timers(T_START, 0, 2, KS1),
        op_timers(T_START, 0, 3, ZERO | PERIODIC),
        op_timers(T_START, 0, 4, ZERO),
        op_timers(T_CHECK, 0),
        op_timers(T_START, 0, 0, KS3),
        op_timers(T_START, 0, 2, ZERO),
        op_timers(T_START, 1, 2, KS1),
        op_timers(T_STOP, 1, 2),
        op_timers(T_STOP, 0, 4),
        op_timers(T_CHECK, 0),
        op_timers(T_DRAIN, 0, 0, 0x01, 0x42, 0x00),
        op_timers(T_DRAIN, 0, 0, 0x00),
        op_timers(T_START, 1, 5, KS1 | PERIODIC | 8),
        op_timers(T_START, 1, 6, ZERO),
        op_timers(T_BAD, 1, 6, 1),
        op_timers(T_DRAIN, 1, 0, 0x00),
        op_timers(T_CLOSE, 0),
        op_timers(T_START, 0, 0, ZERO),
        op_timers(T_DRAIN, 0, 0, 0x00),
        op_timers(T_CHECK, 1),
    ], [])

    # Issue 20: what the poll backend got wrong, and the model now says.
    # A fork child that frees the inherited polls, reads an empty inherited pipe, registers it in its own poll
    # and closes it; then one that keeps the inherited polls.
    s["fork-child"] = [3] + sum([
        op_create(PIPE),
        op_src(REG, Q0, 0, OWN, R),
        [FORK, 7],
        [FORK, 0],
        op_write(1, 3),
        op_wait(0),
    ], [])
    # A close from another thread during a wait: deregister + close(2), the Unix stream's close, the pipe's.
    # (At most two scenario ops run per input.)
    s["thread-close"] = [1] + [THREAD_CLOSE, 0x40, THREAD_CLOSE, 0x41]
    s["thread-close-pipe"] = [1] + [THREAD_CLOSE, 0x42, THREAD_CLOSE, 0x00]
    # Short counts: a pipe write, a Unix stream write, a recv_many.
    s["short-counts"] = [1] + [SHORT, 0, SHORT, 1]
    s["short-recv-many"] = [1] + [SHORT, 2]
    # Two ready level-triggered registrations and a buffer of one: both must be reported.
    s["level-beyond-capacity"] = [0] + sum([
        op_create(PIPE),
        op_create(PIPE),
        op_write(1, 3),
        op_write(3, 3),
        op_fd(REG_FD, Q0, 0, R | LEVEL),
        op_fd(REG_FD, Q0, 2, R | LEVEL),
        op_wait(0), op_wait(0), op_wait(0), op_wait(0), op_wait(0), op_wait(0),
    ], [])
    # A registered raw fd closed without deregistering, its number reused by a new readable socket.
    s["reused-number"] = [2] + sum([
        op_create(SOCKPAIR),
        op_fd(REG_FD, Q0, 0, R | LEVEL),
        op_write(1, 3),
        op_wait(0),
        op_close(0),
        op_create(SOCKPAIR),
        op_write(3, 3),
        op_wait(0), op_wait(0),
        op_fd(DEREG_FD, Q0, 2),
        op_wait(0),
    ], [])

    # Random operations, to start from something busy.
    rng = random.Random(20240601)
    for n in range(3):
        s["random-%d" % n] = [rng.randrange(256) for _ in range(600)]
    return s


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(seeds().items()):
        assert all(0 <= b < 256 for b in data), name
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes(data))
        print("%-14s %4d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
