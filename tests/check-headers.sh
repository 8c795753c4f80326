#!/usr/bin/env bash
# Compiles every public header alone, as strict C11 and (when a C++ compiler
# is given) as C++11, with every warning an error: users include any one
# header without _GNU_SOURCE or other help.
set -eu
src_include=$1 build_include=$2 cc=$3 cxx=${4:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for header in "$src_include"/evsrc/*.h "$build_include"/evsrc/*.h; do
  [ -f "$header" ] || continue
  name=evsrc/$(basename "$header")
  printf '#include <%s>\n#include <%s>\nint main(void) { return 0; }\n' "$name" "$name" > "$tmp/one.c"
  if ! $cc -std=c11 -pedantic -Wall -Wextra -Werror -I"$src_include" -I"$build_include" -c "$tmp/one.c" -o "$tmp/one.o"; then
    echo "FAIL: $name as C11"; status=1
  fi
  if [ -n "$cxx" ]; then
    cp "$tmp/one.c" "$tmp/one.cpp"
    if ! $cxx -std=c++11 -pedantic -Wall -Wextra -Werror -I"$src_include" -I"$build_include" -c "$tmp/one.cpp" -o "$tmp/one.o"; then
      echo "FAIL: $name as C++11"; status=1
    fi
  fi
  echo "ok: $name"
done
exit $status
