#!/usr/bin/env bash
# The ABI check (docs/stability.md). Usage:
#   abi/check.sh BUILDDIR            compare BUILDDIR's libevsrc.so with the
#                                    baseline abi/libevsrc.abi
#   abi/check.sh --update BUILDDIR   record BUILDDIR's libevsrc.so as the new
#                                    baseline (at a release, or when the
#                                    soname moved)
#
# BUILDDIR is a shared build with debug information (-g: the default
# buildtype debugoptimized, or debug) made with gcc on x86-64, as the
# baseline was. The ABI is read with libabigail's abidw from the library's
# DWARF, filtered to the types the public headers (include/evsrc/*.h and the
# generated version.h) define: the layouts of the caller-owned structs, the
# fields the inline accessors read, and every exported function's signature.
#
# The check fails when abidiff finds
#  - an incompatible change (a removed symbol, a changed function type), or
#  - any change to a type or function that is already there (a struct that
#    grew, a field that moved or changed type, an enumerator that changed
#    value), even one abidiff calls compatible: a caller-owned struct's size
#    is ABI;
# unless the library's soname moved since the baseline, which is how an
# incompatible release is made: then it says that a new baseline must be
# recorded and passes. Added functions (a minor release) pass, and are listed.
# A change reviewed as harmless is accepted by a rule in abi/suppressions.abignore
# (libabigail's suppression format), with a comment saying why.
set -euo pipefail

usage() {
  echo "usage: $0 [--update] BUILDDIR" >&2
  exit 2
}
update=false
if [ "${1:-}" = --update ]; then
  update=true
  shift
fi
[ $# -eq 1 ] || usage

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "$1" && pwd)
baseline=$src/abi/libevsrc.abi
suppressions=$src/abi/suppressions.abignore

for tool in abidw abidiff readelf; do
  command -v "$tool" >/dev/null || { echo "abi/check: $tool not found (apt-get install abigail-tools binutils)" >&2; exit 1; }
done
lib=$(find "$build" -maxdepth 1 -name 'libevsrc.so.*.*.*' -type f | head -n 1)
[ -n "$lib" ] || { echo "abi/check: no libevsrc.so.X.Y.Z in $build: a shared build is needed" >&2; exit 1; }
sections=$(readelf -S "$lib")
grep -q '\.debug_info' <<<"$sections" ||
  { echo "abi/check: $lib has no debug information: build with -g (buildtype debug or debugoptimized)" >&2; exit 1; }
[ -f "$build/include/evsrc/version.h" ] || { echo "abi/check: no generated version.h in $build/include/evsrc" >&2; exit 1; }

# The ABI of the build, written without paths so that it does not depend on
# where the tree or the build directory is.
dump() {
  abidw --headers-dir "$src/include/evsrc" --headers-dir "$build/include/evsrc" --drop-private-types \
    --no-corpus-path --no-comp-dir-path --short-locs --out-file "$1" "$lib"
}
soname_of() {
  sed -n "1s/.* soname='\\([^']*\\)'.*/\\1/p" "$1"
}

if $update; then
  dump "$baseline"
  echo "abi/check: recorded $(soname_of "$baseline") ($(basename "$lib")) as the baseline in abi/libevsrc.abi; commit it"
  exit 0
fi

[ -f "$baseline" ] || { echo "abi/check: no baseline abi/libevsrc.abi: record one with $0 --update BUILDDIR" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/evsrc-abi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dump "$tmp/current.abi"

old_soname=$(soname_of "$baseline")
new_soname=$(soname_of "$tmp/current.abi")
if [ "$old_soname" != "$new_soname" ]; then
  echo "abi/check: the soname moved from $old_soname to $new_soname: incompatible changes are allowed."
  echo "abi/check: a new baseline must be recorded for $new_soname: $0 --update BUILDDIR, and commit abi/libevsrc.abi"
  exit 0
fi

args=(--no-default-suppression)
[ -f "$suppressions" ] && args+=(--suppressions "$suppressions")
rc=0
abidiff "${args[@]}" "$baseline" "$tmp/current.abi" >"$tmp/report" 2>&1 || rc=$?
# abidiff's status is a bit mask: 1 error, 2 usage error, 4 ABI change, 8 incompatible ABI change.
if (( rc & 3 )); then
  cat "$tmp/report" >&2
  echo "abi/check: FAIL: abidiff could not compare (status $rc)" >&2
  exit 1
fi
# What changed among the interfaces already there (abidiff's summary lines).
changed=$(awk '/^(Functions|Variables) changes summary: [0-9]+ Removed, [0-9]+ Changed/ {
                   sub(/.*summary: /, ""); n += $1 + $3 } END { print n + 0 }' "$tmp/report")
if (( rc & 8 )) || [ "$changed" -ne 0 ]; then
  cat "$tmp/report" >&2
  echo "abi/check: FAIL: $new_soname's ABI is not compatible with the baseline (above)." >&2
  echo "abi/check: keep the ABI (docs/stability.md), or make a new major version, which moves the soname." >&2
  exit 1
fi
added=$(grep -cE "^  \\[A\\] " "$tmp/report" || true)
if (( rc & 4 )); then
  sed 's/^/  | /' "$tmp/report"
fi
echo "abi/check: $new_soname keeps the ABI of the baseline; functions added: $added"
