#!/usr/bin/env bash
# Checks evsrc the way its users get it. Usage: tests/consumer/run.sh SRCDIR
#
#  1. Configures, builds and installs SRCDIR into a temporary prefix, and
#     checks what was installed: every public header, the generated
#     <evsrc/version.h>, the shared library and its soname link, evsrc.pc.
#  2. Builds consumer.c with `cc ... $(pkg-config --cflags --libs evsrc)`
#     against that prefix, strict C11 with -Werror, and runs it.
#  3. Builds the code of docs/custom-sources.md the same way: the blocks
#     fenced as "```c NAME" are put together in order into NAME and each
#     program is compiled and run; the blocks named custom-source.c must
#     appear verbatim in examples/custom-source.c, which is built and run too.
#  4. Builds and runs the Meson project beside this script, which takes evsrc
#     as a subproject through dependency('evsrc').
#
# Honours CC (default cc). Exits non-zero on the first failure, after
# printing the log of the step that failed.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 SRCDIR" >&2
  exit 2
fi
src=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cc=${CC:-cc}
strict=(-std=c11 -Wall -Wextra -pedantic -Werror)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/evsrc-consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

step() { echo "consumer: $*"; }
fail() {
  echo "consumer: FAIL: $*" >&2
  exit 1
}
# Runs a command with its output in a log, shown only if it fails.
quiet() {
  local log=$tmp/step.log
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    fail "$*"
  fi
}

# ---- 1. Install into a temporary prefix -------------------------------------
step "installing $src into a temporary prefix"
quiet meson setup "$tmp/build" "$src" --prefix="$prefix" --buildtype=release \
  -Dtests=disabled -Dexamples=false -Dbenchmarks=false
quiet ninja -C "$tmp/build"
quiet meson install -C "$tmp/build"

version=$(meson introspect --projectinfo "$tmp/build" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
major=${version%%.*}
[ -n "$version" ] || fail "no project version from meson introspect"
step "evsrc $version"

pc_files=$(find "$prefix" -name evsrc.pc)
[ "$(printf '%s\n' "$pc_files" | grep -c .)" = 1 ] || fail "expected one evsrc.pc under the prefix, found: ${pc_files:-none}"
pcdir=$(dirname "$pc_files")
libdir=$(dirname "$pcdir") # lib/pkgconfig, or lib/<multiarch>/pkgconfig on Debian
includedir=$prefix/include

for header in "$src"/include/evsrc/*.h; do
  [ -f "$includedir/evsrc/$(basename "$header")" ] || fail "$(basename "$header") is not installed in $includedir/evsrc"
done
[ -f "$includedir/evsrc/version.h" ] || fail "the generated evsrc/version.h is not installed"
[ -e "$libdir/libevsrc.so" ] || fail "libevsrc.so (the link-time name) is not in $libdir"
[ -e "$libdir/libevsrc.so.$major" ] || fail "libevsrc.so.$major (the soname) is not in $libdir"

# ---- 2. A pkg-config consumer --------------------------------------------------
export PKG_CONFIG_PATH=$pcdir
pkg-config --exists --print-errors evsrc || fail "pkg-config does not find evsrc in $pcdir"
[ "$(pkg-config --variable=pcfiledir evsrc)" = "$pcdir" ] || fail "pkg-config found another evsrc.pc than the installed one"
[ "$(pkg-config --modversion evsrc)" = "$version" ] || fail "evsrc.pc says version $(pkg-config --modversion evsrc), not $version"
cflags=$(pkg-config --cflags evsrc)
libs=$(pkg-config --libs evsrc)
case " $cflags " in *" -I$includedir "*) ;; *) fail "pkg-config --cflags ($cflags) lacks -I$includedir" ;; esac
case " $libs " in *" -L$libdir "*) ;; *) fail "pkg-config --libs ($libs) lacks -L$libdir" ;; esac

# Compiles and links one program against the installed evsrc, then runs it.
# The library must come from the prefix, not from anywhere else.
build_and_run() {
  local name=$1 source=$2
  shift 2
  step "building $name with pkg-config"
  # shellcheck disable=SC2046 # pkg-config's output is meant to be split
  quiet "$cc" "${strict[@]}" "$@" "$source" -o "$tmp/$name" $(pkg-config --cflags --libs evsrc)
  LD_LIBRARY_PATH=$libdir ldd "$tmp/$name" >"$tmp/$name.ldd" || fail "ldd $name"
  grep -qF "=> $libdir/libevsrc.so.$major " "$tmp/$name.ldd" || {
    cat "$tmp/$name.ldd" >&2
    fail "$name does not load libevsrc from $libdir"
  }
  step "running $name"
  local status=0
  LD_LIBRARY_PATH=$libdir "$tmp/$name" </dev/null >"$tmp/$name.out" 2>&1 || status=$?
  if [ "$status" != 0 ]; then
    cat "$tmp/$name.out" >&2
    fail "$name exited with status $status"
  fi
  sed 's/^/  | /' "$tmp/$name.out"
}

build_and_run consumer "$here/consumer.c" "-DEXPECTED_VERSION=\"$version\""
grep -qx "consumer: evsrc $version (headers $version): ok" "$tmp/consumer.out" ||
  fail "the pkg-config consumer did not report evsrc $version"

# ---- 3. The documentation's code and the example -----------------------------------
# Every C block in these documents names its program (```c NAME.c); the blocks of one
# name are joined in order and built and run like any consumer, except custom-source.c,
# whose blocks must stand verbatim in examples/custom-source.c.
example=$src/examples/custom-source.c
docs=("$src/docs/custom-sources.md" "$src/docs/threads.md" "$src/docs/unix-sockets.md" "$src/README.md")
for doc in "${docs[@]}"; do
  [ -f "$doc" ] || fail "$doc is missing"
done
mkdir "$tmp/docs"
python3 - "$example" "$tmp/docs" "${docs[@]}" <<'PY' || fail "the documentation's code blocks do not match their programs"
import os
import sys

example, out, *documents = sys.argv[1:]
programs = {}
for docs in documents:
    block = None
    for number, line in enumerate(open(docs, encoding="utf-8"), 1):
        if block is None:
            if line.startswith("```c") and not line.startswith("```cpp"):
                words = line[3:].split()
                if len(words) != 2:
                    sys.exit(f"{docs}:{number}: a C block must name its program: ```c NAME")
                block = (words[1], number, [])
        elif line.startswith("```"):
            name, start, lines = block
            programs.setdefault(name, []).append((f"{docs}:{start}", "".join(lines)))
            block = None
        else:
            block[2].append(line)
    if block is not None:
        sys.exit(f"{docs}:{block[1]}: unterminated code block")

example_text = open(example, encoding="utf-8").read()
for name, blocks in programs.items():
    if name == "custom-source.c":
        for start, text in blocks:
            if text not in example_text:
                sys.exit(f"{start}: this custom-source.c block is not verbatim in {example}")
        continue
    with open(os.path.join(out, name), "w", encoding="utf-8") as f:
        f.write("\n".join(text for _, text in blocks))
PY
for program in "$tmp"/docs/*.c; do
  [ -e "$program" ] || continue
  build_and_run "docs-$(basename "$program" .c)" "$program" -pthread
done
build_and_run custom-source "$example"

# ---- 4. A Meson project with evsrc as a subproject -----------------------------------
step "building the Meson consumer with evsrc as a subproject"
project=$tmp/meson-consumer
mkdir -p "$project/subprojects"
cp "$here/meson.build" "$here/consumer.c" "$project/"
ln -s "$src" "$project/subprojects/evsrc"
# No PKG_CONFIG_PATH: the subproject alone must answer dependency('evsrc').
unset PKG_CONFIG_PATH
quiet meson setup "$tmp/meson-build" "$project"
quiet ninja -C "$tmp/meson-build"
step "running the Meson consumer"
"$tmp/meson-build/consumer" </dev/null >"$tmp/meson-consumer.out" 2>&1 || {
  cat "$tmp/meson-consumer.out" >&2
  fail "the Meson consumer failed"
}
sed 's/^/  | /' "$tmp/meson-consumer.out"
grep -qx "consumer: evsrc $version (headers $version): ok" "$tmp/meson-consumer.out" ||
  fail "the Meson consumer did not report evsrc $version"

step "all checks passed"
