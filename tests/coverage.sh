#!/usr/bin/env bash
# Line and branch coverage of src/ by the test suite, measured with gcovr over
# a -Db_coverage=true build; exits non-zero below the given percentages.
#
#   tests/coverage.sh [BUILDDIR [LINE_MIN [BRANCH_MIN]]]
#
# Defaults: build-coverage, 100 and 97 (issue 10's gate); the environment
# variables COVERAGE_LINE_MIN and COVERAGE_BRANCH_MIN set the thresholds too.
# The build directory is set up if it does not exist. The soak (its long and
# short forms) and the fuzzer do not count: what they reach is random. Lines
# excluded with GCOVR_EXCL_* markers are listed, with reasons, in
# docs/testing.md. The HTML report with every line and branch is written to
# BUILDDIR/coverage/index.html.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
builddir=${1:-build-coverage}
line_min=${2:-${COVERAGE_LINE_MIN:-100}}
branch_min=${3:-${COVERAGE_BRANCH_MIN:-97}}

if [ ! -d "$builddir/meson-private" ]; then
  meson setup "$builddir" "$src" -Db_coverage=true -Dbenchmarks=false -Dexamples=false
fi
if ! meson introspect "$builddir" --buildoptions | grep -q '"name": "b_coverage", "value": true'; then
  echo "coverage.sh: $builddir is not a -Db_coverage=true build" >&2
  exit 1
fi
builddir=$(cd "$builddir" && pwd)

# Counts from earlier runs would add up with this one's.
find "$builddir" -name '*.gcda' -delete
meson test -C "$builddir" --print-errorlogs --no-suite soak --no-suite soak-short --no-suite fuzz

cd "$src"
mkdir -p "$builddir/coverage"
gcovr --root "$src" --filter 'src/' "$builddir" \
  --json "$builddir/coverage/coverage.json" --html-details "$builddir/coverage/index.html"
report() { gcovr --root "$src" --add-tracefile "$builddir/coverage/coverage.json" "$@"; }
report --txt -
report --txt - --branches
# gcovr writes a report by replacing its output path: never name a device (as
# root, --txt /dev/null turned /dev/null into a regular file: issue 20).
if ! report --txt "$builddir/coverage/summary.txt" --print-summary \
    --fail-under-line "$line_min" --fail-under-branch "$branch_min"; then
  echo "coverage.sh: src/ is below the gate of $line_min% of lines and $branch_min% of branches" >&2
  exit 1
fi
echo "coverage.sh: src/ is at or above $line_min% of lines and $branch_min% of branches"
