#!/usr/bin/env bash
# Compiles every public header alone, as strict C11 and (when a C++ compiler
# is given) as C++11, with every warning an error: users include any one
# header without _GNU_SOURCE or other help. A header that needs POSIX types
# says so at its top ("Needs _POSIX_C_SOURCE >= 200809L") and is compiled
# with -D_POSIX_C_SOURCE=200809L, the least its users must define; evsrc.h is
# compiled both ways (it includes those headers only when POSIX is visible).
set -eu
src_include=$1 build_include=$2 cc=$3 cxx=${4:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for header in "$src_include"/evsrc/*.h "$build_include"/evsrc/*.h; do
  [ -f "$header" ] || continue
  name=evsrc/$(basename "$header")
  printf '#include <%s>\n#include <%s>\nint main(void) { return 0; }\n' "$name" "$name" > "$tmp/one.c"
  posix=
  if grep -q 'Needs _POSIX_C_SOURCE >= 200809L' "$header"; then posix=-D_POSIX_C_SOURCE=200809L; fi
  if ! $cc -std=c11 -pedantic -Wall -Wextra -Werror $posix -I"$src_include" -I"$build_include" -c "$tmp/one.c" -o "$tmp/one.o"; then
    echo "FAIL: $name as C11 ${posix}"; status=1
  fi
  if [ "$name" = evsrc/evsrc.h ] &&
    ! $cc -std=c11 -pedantic -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -I"$src_include" -I"$build_include" -c "$tmp/one.c" -o "$tmp/one.o"; then
    echo "FAIL: $name as C11 -D_POSIX_C_SOURCE=200809L"; status=1
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
