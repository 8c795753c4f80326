#!/usr/bin/env bash
# Brings debian/libevsrc1.symbols up to date with a build's exported symbols.
# Usage: debian/update-symbols.sh BUILDDIR
#
# Every symbol the built libevsrc.so exports (evsrc_* in the version node of
# src/libevsrc.map, and the node itself) must be listed with the version it
# first appeared in. Symbols already listed keep their version; a new one is
# added with the version of the build (meson.build's project version), which
# is the release it will appear in. A listed symbol the build no longer
# exports is reported and the script fails: removing one is an ABI break,
# which needs a new soname and a new package name (docs/stability.md).
# The package build checks the same with DPKG_GENSYMBOLS_CHECK_LEVEL=4.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BUILDDIR" >&2; exit 2; }
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "$1" && pwd)
symbols_file=$src/debian/libevsrc1.symbols
lib=$(find "$build" -maxdepth 1 -name 'libevsrc.so.*.*.*' -type f | head -n 1)
[ -n "$lib" ] || { echo "update-symbols: no libevsrc.so.X.Y.Z in $build" >&2; exit 1; }
version=$(sed -n "s/^  version: '\\([^']*\\)',$/\\1/p" "$src/meson.build" | head -n 1)
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
package=libevsrc${soname##*.so.}

# name@NODE for every defined dynamic symbol, the version node included.
exported=$(objdump -T "$lib" | awk '$2 == "g" && $4 != "*UND*" { print $NF "@" $(NF-1) }' |
           sed -E 's/^(.*)@\((.*)\)$/\1@\2/' | sort -u)
[ -n "$exported" ] || { echo "update-symbols: $lib exports nothing" >&2; exit 1; }

declare -A listed
if [ -f "$symbols_file" ]; then
  while read -r name ver; do
    listed[$name]=$ver
  done < <(grep '^ ' "$symbols_file")
fi
status=0
for name in "${!listed[@]}"; do
  grep -qxF "$name" <<<"$exported" || { echo "update-symbols: $name is listed but no longer exported: an ABI break" >&2; status=1; }
done
added=0
{
  echo "$soname $package #MINVER#"
  echo "* Build-Depends-Package: libevsrc-dev"
  while read -r name; do
    if [ -n "${listed[$name]:-}" ]; then
      echo " $name ${listed[$name]}"
    else
      echo " $name $version"
      added=$((added + 1))
    fi
  done <<<"$exported"
} >"$symbols_file.new"
mv "$symbols_file.new" "$symbols_file"
echo "update-symbols: debian/libevsrc1.symbols lists $(wc -l <<<"$exported") symbols of $soname; $added added at $version"
exit "$status"
