#!/bin/bash
# Builds libcheck for x86_64-w64-mingw32 from Debian's own source package,
# installs it into PREFIX (inside the build tree), and writes PREFIX/check.txt,
# a machine file to give meson after .ci/cross/mingw-w64.txt that points
# pkg-config there. Debian ships no mingw build of check, and the repository
# holds none of its source. Needs root (apt), dpkg-dev, cmake and
# gcc-mingw-w64-x86-64. The machine's apt configuration is left as it was: the
# deb-src file added here is removed on every exit, and the lists are updated
# again without it.
#   .ci/windows-deps.sh PREFIX
set -euo pipefail
prefix=${1:?usage: $0 PREFIX}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
write_machine_file() {
  printf '%s\n' '# Written by .ci/windows-deps.sh: check for mingw, built from Debian'"'"'s source package.' \
    '[properties]' "pkg_config_libdir = ['$prefix/lib/pkgconfig']" >"$prefix/check.txt"
}
if [ -f "$prefix/lib/pkgconfig/check.pc" ]; then
  write_machine_file
  echo "check for mingw already in $prefix"
  exit 0
fi

work=$(mktemp -d)
srcfile=/etc/apt/sources.list.d/evsrc-ci-deb-src.sources
cleanup() {
  if [ -f "$srcfile" ]; then
    rm -f "$srcfile"
    apt-get update -qq >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# deb-src entries derived from the machine's own: each deb822 file's stanzas
# with Types: deb-src, or each sources.list line's "deb " made "deb-src ".
# No host is named here, so the mirror (or snapshot) the machine uses is the one asked.
{
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && [ "$f" != "$srcfile" ] && sed -e 's/^Types:.*/Types: deb-src/' "$f" && echo
  done
} >"$work/deb-src.sources"
if [ -s "$work/deb-src.sources" ]; then
  cp "$work/deb-src.sources" "$srcfile"
elif [ -f /etc/apt/sources.list ]; then
  srcfile=/etc/apt/sources.list.d/evsrc-ci-deb-src.list
  sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >"$srcfile"
fi
apt-get update -qq >/dev/null

cd "$work"
# As root apt cannot drop to _apt for a directory it does not own; -q keeps the log short.
chmod 0777 "$work"
apt-get source -qq --download-only check >/dev/null
dpkg-source -x --no-check check_*.dsc src >/dev/null

cat >"$work/toolchain.cmake" <<'TOOLCHAIN'
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
TOOLCHAIN

# A static library: the test programs then need no check DLL beside them under Wine.
cmake -S src -B build -G Ninja -DCMAKE_TOOLCHAIN_FILE="$work/toolchain.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DBUILD_TESTING=OFF -DENABLE_MEMORY_LEAKING_TESTS=OFF \
  -DBUILD_SHARED_LIBS=OFF >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; exit 1; }
ninja -C build -j2 >/dev/null
ninja -C build install >/dev/null
# check installs its DLL too, and names a library it does not install (check_pic) in
# check.pc: keep the static library only, and name it, so the tests link it statically.
rm -f "$prefix"/lib/libcheck.dll.a "$prefix"/bin/libcheck*.dll
sed -i 's/-lcheck_pic/-lcheck/' "$prefix/lib/pkgconfig/check.pc"
write_machine_file
echo "check for mingw installed in $prefix; meson setup ... --cross-file $prefix/check.txt"
