#!/usr/bin/env bash
# Checks the man pages of a build: usage man/check.sh BUILDDIR
#  - every man/*.scd was built (it is in man_pages in man/meson.build);
#  - every symbol the built libevsrc.so exports has a page or a .so link to
#    one, which names it;
#  - every page and link renders with `man -l` without a warning;
#  - every public header (include/evsrc/*.h, and version.h from version.h.in)
#    has its page, evsrc_NAME(3) for NAME.h, listed in evsrc(7)'s SEE ALSO
#    (evsrc.h is evsrc(7) itself);
#  - every header that defines a built-in source (a struct that embeds
#    `struct evsrc_source source;`) has its page named in evsrc(7)'s
#    "Sources" section.
# The build must have been configured with the man pages on (scdoc found).
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 BUILDDIR" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
status=0
fail() {
  echo "man/check: FAIL: $*" >&2
  status=1
}

[ -d "$build/man" ] || { echo "man/check: no $build/man: configure with -Dman-pages=enabled" >&2; exit 1; }
lib=$(find "$build" -maxdepth 1 -name 'libevsrc.so.*.*.*' | head -n 1)
[ -n "$lib" ] || { echo "man/check: no libevsrc.so in $build" >&2; exit 1; }

# The pages as they are installed: man3/ and man7/, so that ".so man3/x.3" resolves.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/evsrc-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/man3" "$tmp/man7"
for scd in "$src"/man/*.scd; do
  page=$(basename "$scd" .scd)
  [ -f "$build/man/$page" ] || fail "$page is not built: add it to man_pages in man/meson.build"
done
cp "$build"/man/*.3 "$tmp/man3/"
cp "$build"/man/*.7 "$tmp/man7/"
cd "$tmp"

symbols=$(nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' | sed 's/@.*//' | sort -u)
[ -n "$symbols" ] || fail "no exported functions found in $lib"
count=0
for symbol in $symbols; do
  count=$((count + 1))
  if [ ! -f "man3/$symbol.3" ]; then
    fail "exported $symbol has no page: list it in the NAME line of its header's page"
    continue
  fi
  MANWIDTH=1000 man -l "man3/$symbol.3" 2>/dev/null | grep -qw -- "$symbol" ||
    fail "man3/$symbol.3 does not mention $symbol"
done

pages=0
for page in man3/*.3 man7/*.7; do
  pages=$((pages + 1))
  warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) || fail "man -l $page failed"
  [ -z "$warnings" ] || fail "man -l $page warns: $warnings"
done

# The headers against evsrc(7): its SEE ALSO, and its list of built-in sources.
section() { # prints the lines of $1 from the heading matching $2 to the next heading of that level
  awk -v start="$2" -v level="$3" '
    $0 == start { inside = 1; next }
    inside && index($0, level " ") == 1 { exit }
    inside { print }' "$1"
}
overview=$src/man/evsrc.7.scd
see_also=$(section "$overview" "# SEE ALSO" "#")
sources=$(section "$overview" "## Sources" "##")
[ -n "$see_also" ] || fail "evsrc.7.scd has no SEE ALSO section"
[ -n "$sources" ] || fail "evsrc.7.scd has no \"## Sources\" section"
headers=0
for header in "$src"/include/evsrc/*.h "$src"/include/evsrc/*.h.in; do
  [ -f "$header" ] || continue
  name=$(basename "$header")
  name=${name%.in}
  name=${name%.h}
  [ "$name" = evsrc ] && continue
  headers=$((headers + 1))
  page="evsrc_$name"
  [ -f "$src/man/$page.3.scd" ] || fail "<evsrc/$name.h> has no page: write man/$page.3.scd"
  grep -qF "*$page*(3)" <<<"$see_also" || fail "<evsrc/$name.h>: evsrc(7)'s SEE ALSO does not list *$page*(3)"
  if grep -qE '^[[:space:]]*struct evsrc_source source;' "$header"; then
    grep -qF "*$page*(3)" <<<"$sources" ||
      fail "<evsrc/$name.h> defines a built-in source, but evsrc(7)'s \"## Sources\" does not name *$page*(3)"
  fi
done

[ "$status" = 0 ] && echo "man/check: $count exported functions, each with a page; $pages pages and links render cleanly; $headers headers, each with a page in evsrc(7)"
exit "$status"
