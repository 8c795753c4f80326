#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Drives examples/echo-server: clients that send more than the server holds at once (so its write
queues fill and its reads yield), every byte checked; then an idle client that the server times out;
then SIGTERM, which must stop it cleanly.

    echo-server-check.py ECHO_SERVER_BINARY
"""
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading

CLIENTS = 8
BYTES = 1 << 20  # per client: far more than one connection's four 16 KiB chunks
DEADLINE = 60.0


def fail(message):
    print(f"echo-server-check: {message}", file=sys.stderr)
    sys.exit(1)


def client(port, seed, errors):
    rng = random.Random(seed)
    payload = bytes(rng.getrandbits(8) for _ in range(4096)) * (BYTES // 4096)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
            received = bytearray()

            def reader():
                while len(received) < len(payload):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    received.extend(chunk)

            t = threading.Thread(target=reader)
            t.start()
            view = memoryview(payload)
            while view:
                # Uneven writes, so the server sees every size.
                n = s.send(view[: rng.randint(1, 65536)])
                view = view[n:]
            t.join(DEADLINE)
            if bytes(received) != payload:
                errors.append(f"client {seed}: {len(received)} of {len(payload)} bytes echoed, or they differ")
    except OSError as e:
        errors.append(f"client {seed}: {e}")


def main():
    binary = sys.argv[1]
    # Port 0: the kernel picks; the idle timeout is 1 s so that the idle check is quick.
    # Under meson's exe wrapper (qemu-user in the cross runs) when it has one.
    wrapper = os.environ.get("MESON_EXE_WRAPPER", "").split()
    server = subprocess.Popen(wrapper + [binary, "0", "127.0.0.1", "1"], stdout=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        match = re.search(r"listening on .*:(\d+)$", line.strip())
        if not match:
            fail(f"no 'listening on' line: {line!r}")
        port = int(match.group(1))
        errors = []
        threads = [threading.Thread(target=client, args=(port, seed, errors)) for seed in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(DEADLINE)
        if errors:
            fail("; ".join(errors))
        # An idle client is closed by the server's timer queue (1 s here).
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
            if s.recv(1) != b"":
                fail("the idle connection was not closed with end of stream")
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=DEADLINE)
        if server.returncode != 0 or "echo-server: stopping" not in out:
            fail(f"SIGTERM: exit status {server.returncode}, output {out!r}")
        print(f"echo-server-check: {CLIENTS} clients, {BYTES} bytes each echoed intact; idle timeout and SIGTERM ok")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
