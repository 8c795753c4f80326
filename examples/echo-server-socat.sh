#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Drives an echo server with socat clients over loopback, checking every byte echoed back:
#   examples/echo-server-socat.sh COMMAND...      e.g. wine build-win/examples/echo-server.exe
# The server is started as `COMMAND 0 127.0.0.1 60` (port 0: the kernel picks) and killed at the end.
# Under Wine, set WINEPATH to the build directory so that the program finds libevsrc-1.dll.
# Four clients at once, 1 MiB of random bytes each, written whole then half-closed: the
# server echoes the rest and closes. Exits 0 when every client got back exactly what it sent.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 COMMAND..." >&2; exit 2; }
command -v socat >/dev/null || { echo "echo-server-socat: socat is missing" >&2; exit 1; }
tmp=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
"$@" 0 127.0.0.1 60 </dev/null >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
port=
for _ in $(seq 1 300); do
  port=$(sed -n 's/^echo-server: listening on .*:\([0-9][0-9]*\)\r*$/\1/p' "$tmp/server.out")
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.err" >&2; echo "echo-server-socat: the server died" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "echo-server-socat: no 'listening on' line in 30 s" >&2; exit 1; }
clients=4
for i in $(seq 1 "$clients"); do
  head -c 1048576 /dev/urandom >"$tmp/in.$i"
  # -t 30: after sending everything (and half-closing), wait up to 30 s for the rest of the echo.
  socat -t 30 -T 60 - "TCP:127.0.0.1:$port" <"$tmp/in.$i" >"$tmp/out.$i" &
done
wait_failed=0
for job in $(jobs -p); do
  [ "$job" = "$server_pid" ] && continue
  wait "$job" || wait_failed=1
done
for i in $(seq 1 "$clients"); do
  cmp -s "$tmp/in.$i" "$tmp/out.$i" || {
    echo "echo-server-socat: client $i got $(stat -c %s "$tmp/out.$i") of 1048576 bytes back, or they differ" >&2
    exit 1
  }
done
[ "$wait_failed" -eq 0 ] || { echo "echo-server-socat: a socat client failed" >&2; exit 1; }
echo "echo-server-socat: $clients socat clients, 1 MiB each, every byte echoed back (port $port)"
