#!/usr/bin/env bash
# Builds evsrc's Debian packages and uses them as a Debian user would.
# Usage: tests/consumer/debian-package.sh SRCDIR   (as root: it installs packages)
#
#  1. Copies SRCDIR's files (those git tracks or would track) into a temporary
#     directory and runs `dpkg-buildpackage -us -uc -b` there, so the checkout
#     stays clean and the .debs land in the temporary directory. The symbols
#     check is strict (DPKG_GENSYMBOLS_CHECK_LEVEL=4): an exported symbol
#     missing from debian/libevsrc1.symbols, or listed but gone, fails the build
#     (debian/update-symbols.sh BUILDDIR brings the file up to date).
#  2. Runs lintian on the result and fails on an error (warnings are shown).
#  3. Installs libevsrc1 and libevsrc-dev (dpkg -i, then apt-get -f install for
#     anything they need), then builds tests/consumer/consumer.c with
#     `cc $(pkg-config --cflags --libs evsrc)` and the CMake project in
#     tests/consumer/cmake with find_package(evsrc), both from the system
#     paths alone, checks they load /usr/lib/<triplet>/libevsrc.so.1, runs
#     them, and checks that `man 3 evsrc_poll_wait` finds its page.
#  4. Purges both packages, whatever happened, so the machine is left as found
#     (it refuses to start if either is already installed).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 SRCDIR" >&2; exit 2; }
src=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cc=${CC:-cc}
packages=(libevsrc1 libevsrc-dev)
# The system paths alone: nothing may point the consumers elsewhere.
unset PKG_CONFIG_PATH CMAKE_PREFIX_PATH LD_LIBRARY_PATH

step() { echo "debian: [$SECONDS s] $*"; }
fail() {
  echo "debian: FAIL: $*" >&2
  exit 1
}
for package in "${packages[@]}"; do
  if dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'ok installed'; then
    fail "$package is already installed; this check installs and purges it, so it will not run here"
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/evsrc-debian.XXXXXX")
installed=false
cleanup() {
  if $installed; then
    dpkg --purge "${packages[@]}" >/dev/null || echo "debian: could not purge ${packages[*]}" >&2
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

step "copying $src and running dpkg-buildpackage -us -uc -b"
mkdir "$tmp/evsrc"
(cd "$src" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$tmp/evsrc"
(cd "$tmp/evsrc" && DPKG_GENSYMBOLS_CHECK_LEVEL=4 DEB_BUILD_OPTIONS="parallel=2 ${DEB_BUILD_OPTIONS:-}" \
  dpkg-buildpackage -us -uc -b >"$tmp/build.log" 2>&1) || {
  tail -n 80 "$tmp/build.log" >&2
  fail "dpkg-buildpackage failed (the end of its log is above)"
}
debs=("$tmp"/libevsrc1_*.deb "$tmp"/libevsrc-dev_*.deb)
for deb in "${debs[@]}"; do
  [ -f "$deb" ] || fail "no $deb was built"
  echo "  | $(basename "$deb"): $(dpkg-deb -c "$deb" | grep -vc '/$') files"
done

if command -v lintian >/dev/null; then
  step "lintian"
  lintian_status=0
  lintian --fail-on error "$tmp"/evsrc_*.changes >"$tmp/lintian.log" 2>&1 || lintian_status=$?
  grep -v 'running with root privileges' "$tmp/lintian.log" | sed 's/^/  | /' || true
  [ "$lintian_status" = 0 ] || fail "lintian reports errors (above)"
else
  step "lintian is not installed: skipped"
fi

step "installing ${packages[*]}"
installed=true
if ! dpkg -i "${debs[@]}" >"$tmp/install.log" 2>&1; then
  apt-get -f install -y -qq >>"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; fail "installing the packages"; }
fi
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
system_lib=/usr/lib/$multiarch/libevsrc.so.1
[ -f "$system_lib" ] || fail "no $system_lib after installing libevsrc1"
version=$(pkg-config --modversion evsrc)
step "pkg-config finds evsrc $version"

# Runs a consumer that must load the system's libevsrc.so.1 and report $version.
check_consumer() {
  local name=$1 exe=$2
  # /lib is /usr/lib on a merged-/usr system, and ldd may name either.
  ldd "$exe" | grep -qE "=> (/usr)?/lib/$multiarch/libevsrc\.so\.1 " || { ldd "$exe" >&2; fail "$name does not load $system_lib"; }
  "$exe" </dev/null >"$tmp/$name.out" 2>&1 || { cat "$tmp/$name.out" >&2; fail "$name failed"; }
  sed 's/^/  | /' "$tmp/$name.out"
  grep -qx "consumer: evsrc $version (headers $version): ok" "$tmp/$name.out" || fail "$name did not report evsrc $version"
}

step "building and running the consumer with pkg-config"
# shellcheck disable=SC2046 # pkg-config's output is meant to be split
"$cc" -std=c11 -Wall -Wextra -pedantic -Werror "-DEXPECTED_VERSION=\"$version\"" "$here/consumer.c" \
  -o "$tmp/consumer" $(pkg-config --cflags --libs evsrc) || fail "the pkg-config consumer does not build"
check_consumer pkg-config-consumer "$tmp/consumer"

if command -v cmake >/dev/null; then
  step "building and running the CMake consumer with find_package(evsrc) from the system paths"
  CC="$cc" cmake -S "$here/cmake" -B "$tmp/cmake" >"$tmp/cmake.log" 2>&1 &&
    cmake --build "$tmp/cmake" >>"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log" >&2; fail "the CMake consumer does not build"; }
  check_consumer cmake-consumer "$tmp/cmake/consumer"
else
  step "cmake is not installed: the CMake consumer is skipped"
fi

if command -v man >/dev/null; then
  man -w 3 evsrc_poll_wait >/dev/null 2>&1 || fail "man 3 evsrc_poll_wait finds no page"
  man -w 7 evsrc >/dev/null 2>&1 || fail "man 7 evsrc finds no page"
fi

step "purging ${packages[*]}"
installed=false
dpkg --purge "${packages[@]}" >/dev/null
step "all checks passed"
