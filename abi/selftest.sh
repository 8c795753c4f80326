#!/usr/bin/env bash
# Proves that abi/check.sh catches what it must. Usage: abi/selftest.sh SCRATCHDIR
# (a directory it may fill; under the tree, name it build-*/ so git ignores it).
#
# Copies the tree into SCRATCHDIR, breaks it one way at a time, builds the
# library alone (the default compiler, debugoptimized) and runs abi/check.sh
# on the result against the committed baseline:
#   unchanged                                   must pass
#   a field added to a caller-owned struct (in its padding: same size) must fail
#   an exported function removed                must fail
#   an exported function's parameter retyped    must fail
#   a function added                            must pass, listing it
#   the same struct change with the soname moved must pass, asking for a new baseline
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 SCRATCHDIR" >&2; exit 2; }
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$1"
scratch=$(cd "$1" && pwd)
status=0

# One scratch copy of the tree, built once; each case restores the files the
# previous one edited, makes its edit, rebuilds what changed and runs the check.
tree=$scratch/tree
rm -rf "$tree"
mkdir -p "$tree"
(cd "$src" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$tree"
mkdir -p "$tree/abi" && cp "$src/abi/libevsrc.abi" "$tree/abi/"
edited=(include/evsrc/tcp.h include/evsrc/version.h.in src/sources/tcp.c src/version.c meson.build)
meson setup "$tree/build" "$tree" -Dtests=disabled -Dexamples=false -Dbenchmarks=false -Dman-pages=disabled \
  >"$scratch/setup.log" 2>&1 || { cat "$scratch/setup.log"; exit 1; }

# Each case: a name, the expected outcome (pass/fail), a text the output must hold, and an edit.
run_case() {
  local name=$1 expect=$2 needle=$3 edit=$4 file
  for file in "${edited[@]}"; do
    cmp -s "$src/$file" "$tree/$file" || cp "$src/$file" "$tree/$file"
  done
  (cd "$tree" && eval "$edit")
  ninja -C "$tree/build" -j2 >"$scratch/$name.build.log" 2>&1 || { cat "$scratch/$name.build.log"; exit 1; }
  local rc=0
  bash "$tree/abi/check.sh" "$tree/build" >"$scratch/$name.check.log" 2>&1 || rc=$?
  local got=pass
  [ "$rc" -eq 0 ] || got=fail
  if [ "$got" = "$expect" ] && grep -qF -- "$needle" "$scratch/$name.check.log"; then
    echo "abi/selftest: ok: $name: $got ($(grep -F -m1 -- "$needle" "$scratch/$name.check.log" | sed 's/^ *//'))"
  else
    echo "abi/selftest: FAIL: $name: expected $expect with \"$needle\", got $got:" >&2
    sed 's/^/  | /' "$scratch/$name.check.log" >&2
    status=1
  fi
}

add_field="sed -i '/^struct evsrc_tcp_stream {/,/^};/s/^};/    int added_field;\\n};/' include/evsrc/tcp.h"
run_case unchanged pass "functions added: 0" ":"
run_case field-added fail "not compatible" "$add_field"
run_case symbol-removed fail "not compatible" \
  "sed -i 's/^EVSRC_EXPORT int evsrc_tcp_stream_nodelay(/int evsrc_tcp_stream_nodelay(/' src/sources/tcp.c include/evsrc/tcp.h"
run_case parameter-retyped fail "not compatible" \
  "sed -i 's/evsrc_tcp_stream_set_nodelay(struct evsrc_tcp_stream \\*stream, bool nodelay)/evsrc_tcp_stream_set_nodelay(struct evsrc_tcp_stream *stream, long nodelay)/' src/sources/tcp.c include/evsrc/tcp.h"
run_case function-added pass "functions added: 1" \
  "sed -i 's/^EVSRC_END_DECLS\$/EVSRC_EXPORT int evsrc_selftest_added(void);\\nEVSRC_END_DECLS/' include/evsrc/version.h.in; printf '#include <evsrc/export.h>\\nEVSRC_EXPORT int evsrc_selftest_added(void) { return 0; }\\n' >>src/version.c"
run_case soname-moved pass "a new baseline must be recorded" \
  "$add_field; sed -i \"0,/^  version: '[0-9]*\\./s//  version: '99./\" meson.build"
exit "$status"
