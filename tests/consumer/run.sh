#!/usr/bin/env bash
# Checks evsrc the way its users get it. Usage: tests/consumer/run.sh SRCDIR
#
#  1. Configures, builds and installs SRCDIR (-Ddefault_library=both) into a
#     temporary prefix, and checks what was installed: every public header,
#     the generated <evsrc/version.h>, the shared library and its soname link,
#     libevsrc.a, evsrc.pc, the CMake package files and the man pages.
#  2. Builds consumer.c with `cc ... $(pkg-config --cflags --libs evsrc)`
#     against that prefix, strict C11 with -Werror, and runs it; then links it
#     statically (-static and `pkg-config --static`) and runs that.
#  3. Builds the code of docs/custom-sources.md the same way: the blocks
#     fenced as "```c NAME" are put together in order into NAME and each
#     program is compiled and run; the blocks named custom-source.c must
#     appear verbatim in examples/custom-source.c, which is built and run too.
#     Every examples/*.c is built with the README's line under
#     -std=c11 -Wall -Wextra -Werror.
#  4. Builds and runs the Meson project beside this script, which takes evsrc
#     as a subproject through dependency('evsrc'), and checks that the
#     subproject is quiet: it adds no tests, builds only the library and
#     installs nothing.
#  5. Builds and runs the CMake project in cmake/, which finds the installed
#     evsrc with find_package(evsrc 1.0 REQUIRED), linked shared and static.
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
  -Dtests=disabled -Dexamples=false -Dbenchmarks=false -Ddefault_library=both
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
[ -f "$libdir/libevsrc.a" ] || fail "libevsrc.a (-Ddefault_library=both) is not in $libdir"
if command -v cmake >/dev/null; then
  for file in evsrcConfig.cmake evsrcConfigVersion.cmake; do
    [ -f "$libdir/cmake/evsrc/$file" ] || fail "$file is not installed in $libdir/cmake/evsrc"
  done
fi
if command -v scdoc >/dev/null; then
  for page in man7/evsrc.7 man3/evsrc_poll.3 man3/evsrc_poll_wait.3; do
    [ -f "$prefix/share/man/$page" ] || fail "the man page $page is not installed in $prefix/share/man"
  done
fi

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

# A static link takes libevsrc.a and what `pkg-config --static` adds (-pthread).
step "building consumer-static with pkg-config --static"
# shellcheck disable=SC2046 # pkg-config's output is meant to be split
quiet "$cc" "${strict[@]}" -static "-DEXPECTED_VERSION=\"$version\"" "$here/consumer.c" -o "$tmp/consumer-static" \
  $(pkg-config --cflags --libs --static evsrc)
if ldd "$tmp/consumer-static" >/dev/null 2>&1; then
  fail "consumer-static is dynamically linked"
fi
step "running consumer-static"
"$tmp/consumer-static" </dev/null >"$tmp/consumer-static.out" 2>&1 || {
  cat "$tmp/consumer-static.out" >&2
  fail "consumer-static failed"
}
grep -qx "consumer: evsrc $version (headers $version): ok" "$tmp/consumer-static.out" ||
  fail "the static consumer did not report evsrc $version"

# ---- 3. The documentation's code and the example -----------------------------------
# Every C block in these documents names its program (```c NAME.c); the blocks of one
# name are joined in order and built and run like any consumer, except custom-source.c,
# whose blocks must stand verbatim in examples/custom-source.c.
example=$src/examples/custom-source.c
docs=("$src/docs/custom-sources.md" "$src/docs/threads.md" "$src/docs/daemon-loop.md" "$src/docs/unix-sockets.md" "$src/README.md")
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
            words = line[3:].split() if line.startswith("```") else []
            if words and words[0] == "c":
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

# Every example builds with the README's line, `cc example.c $(pkg-config
# --cflags --libs evsrc)`, under strict C11: each defines its feature macros.
for file in "$src"/examples/*.c; do
  name=example-$(basename "$file" .c)
  step "building $name with the README's command line"
  # shellcheck disable=SC2046 # pkg-config's output is meant to be split
  quiet "$cc" -std=c11 -Wall -Wextra -Werror "$file" -o "$tmp/$name" $(pkg-config --cflags --libs evsrc)
done

# ---- 4. A Meson project with evsrc as a subproject -----------------------------------
step "building the Meson consumer with evsrc as a subproject"
project=$tmp/meson-consumer
mkdir -p "$project/subprojects"
cp "$here/meson.build" "$here/consumer.c" "$project/"
cp "$here/evsrc.wrap" "$project/subprojects/"
ln -s "$src" "$project/subprojects/evsrc"
# No PKG_CONFIG_PATH, and forced fallback: the subproject alone must answer dependency('evsrc').
saved_pkg_config_path=$PKG_CONFIG_PATH
unset PKG_CONFIG_PATH
quiet meson setup "$tmp/meson-build" "$project" --force-fallback-for=evsrc
quiet ninja -C "$tmp/meson-build"
# Quiet: the parent's one test, evsrc's library as the subproject's only
# target, and nothing to install.
meson introspect --tests --targets --installed "$tmp/meson-build" >"$tmp/introspect.json"
python3 - "$tmp/introspect.json" <<'PY' || fail "evsrc as a subproject is not quiet"
import json
import sys

info = json.load(open(sys.argv[1]))
tests = [t["name"] for t in info["tests"]]
if tests != ["consumer"]:
    sys.exit(f"the parent's tests are {tests}, not just its own 'consumer'")
ours = [(t["name"], t["type"]) for t in info["targets"] if t["subproject"] == "evsrc"]
if ours != [("evsrc", "shared library")]:
    sys.exit(f"the subproject builds {ours}, not the library alone")
if info["installed"]:
    sys.exit(f"the subproject installs {sorted(info['installed'])}")
print("quiet subproject: 1 test (the parent's), 1 evsrc target (the library), nothing installed")
PY
step "running the Meson consumer"
"$tmp/meson-build/consumer" </dev/null >"$tmp/meson-consumer.out" 2>&1 || {
  cat "$tmp/meson-consumer.out" >&2
  fail "the Meson consumer failed"
}
sed 's/^/  | /' "$tmp/meson-consumer.out"
grep -qx "consumer: evsrc $version (headers $version): ok" "$tmp/meson-consumer.out" ||
  fail "the Meson consumer did not report evsrc $version"

# ---- 5. A CMake project with find_package(evsrc 1.0 REQUIRED) ------------------------
if command -v cmake >/dev/null; then
  export PKG_CONFIG_PATH=$saved_pkg_config_path
  for linkage in shared static; do
    static=OFF
    [ "$linkage" = static ] && static=ON
    step "building the CMake consumer ($linkage) with find_package(evsrc 1.0 REQUIRED)"
    quiet env CC="$cc" cmake -S "$here/cmake" -B "$tmp/cmake-$linkage" -DCMAKE_PREFIX_PATH="$prefix" \
      -Devsrc_USE_STATIC_LIBS=$static
    quiet cmake --build "$tmp/cmake-$linkage"
    step "running the CMake consumer ($linkage)"
    LD_LIBRARY_PATH=$libdir "$tmp/cmake-$linkage/consumer" </dev/null >"$tmp/cmake-$linkage.out" 2>&1 || {
      cat "$tmp/cmake-$linkage.out" >&2
      fail "the CMake consumer ($linkage) failed"
    }
    grep -qx "consumer: evsrc $version (headers $version): ok" "$tmp/cmake-$linkage.out" ||
      fail "the CMake consumer ($linkage) did not report evsrc $version"
    LD_LIBRARY_PATH=$libdir ldd "$tmp/cmake-$linkage/consumer" >"$tmp/cmake-$linkage.ldd" || fail "ldd the CMake consumer"
    loads=static
    grep -qF "=> $libdir/libevsrc.so.$major " "$tmp/cmake-$linkage.ldd" && loads=shared
    [ "$loads" = "$linkage" ] || fail "the CMake consumer ($linkage) links evsrc $loads"
  done
  sed 's/^/  | /' "$tmp/cmake-shared.out"
else
  step "cmake is not installed: the CMake consumer is skipped"
fi

step "all checks passed"
