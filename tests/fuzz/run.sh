#!/usr/bin/env bash
# Fuzzes evsrc for a while with an already built target, starting from a
# scratch copy of the committed seed corpus (the committed corpus is never
# written). Exits non-zero on any crash, model mismatch, leak or timeout,
# leaving the input that triggered it in $FUZZ_ARTIFACTS (default: tests/fuzz/,
# where .gitignore covers them) as crash-*/leak-*/timeout-*.
#
#   tests/fuzz/run.sh build-fuzz/tests/fuzz/fuzz_registry 60
#
# Extra arguments after the duration go to libFuzzer (e.g. -jobs=2).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 <fuzz target> <seconds> [libFuzzer options...]" >&2
  exit 2
fi
target=$1
seconds=$2
shift 2
if [ ! -x "$target" ]; then
  echo "$0: $target is not an executable (build it first: a clang build with tests enabled)" >&2
  exit 2
fi
case $seconds in
  ''|*[!0-9]*) echo "$0: the duration must be a whole number of seconds" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
artifacts=${FUZZ_ARTIFACTS:-$here}
mkdir -p "$artifacts"
work=$(mktemp -d "${TMPDIR:-/tmp}/evsrc-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$here"/corpus/* "$work"/

# Leaks are checked per input when the target is built with ASan; abort on
# UBSan findings too, so they fail the run instead of scrolling past.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

status=0
"$target" "$work" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" "$@" || status=$?

if [ "$status" -ne 0 ]; then
  echo "$0: the fuzzer failed (exit $status); the input is under $artifacts/ (crash-*, leak-*, timeout-*)." >&2
  echo "$0: replay it with: EVSRC_FUZZ_TRACE=1 $target <that file>" >&2
fi
exit "$status"
