#!/bin/sh
# Starts evsrc-demo with more work than it can finish, sends it SIGTERM once it
# has blocked the signal, and expects a clean stop: exit status 0 and the
# report. Usage: demo-stop.sh PATH-TO-evsrc-demo
set -u
demo=$1
if [ -n "${MESON_EXE_WRAPPER:-}" ]; then
  echo "demo-stop: skipped under $MESON_EXE_WRAPPER: qemu-user takes every host signal itself, so SigBlk and signalfd never see SIGTERM"
  exit 77
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$demo" 2 4000000000 600 >"$out" 2>&1 &
pid=$!
# Wait until SIGTERM (bit 14 of SigBlk) is blocked rather than for some time:
# before that, SIGTERM would kill the demo the default way.
tries=0
while [ $tries -lt 3000 ]; do
  blk=$(sed -n 's/^SigBlk:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)
  if [ -n "$blk" ] && [ $(((0x$blk >> 14) & 1)) = 1 ]; then
    break
  fi
  tries=$((tries + 1))
  sleep 0.01
done
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
cat "$out"
if [ "$status" != 0 ]; then
  echo "demo-stop: FAIL: evsrc-demo exited with status $status after SIGTERM"
  exit 1
fi
grep -q '^signals: stopped cleanly by SIGTERM$' "$out" || {
  echo "demo-stop: FAIL: evsrc-demo did not report a clean stop"
  exit 1
}
echo "demo-stop: ok"
