#!/usr/bin/env bash
# Writes a gzipped man page from a template and a program's absl --help:
#
#   help_to_man.sh PROGRAM TEMPLATE VERSION OUTPUT.gz
#
# In TEMPLATE (roff), a line `@USAGE@` becomes the program's usage message
# (what precedes its flags in --help), `@OPTIONS@` one .TP entry per flag
# with its help text and default, and `@VERSION@` (anywhere) VERSION. So
# the page lists exactly the flags the binary has. The output is gzip -9n:
# no name or time stamp in it, the same bytes for the same input.
set -euo pipefail
program=$1 template=$2 version=$3 output=$4

# absl exits with 1 after --help; a sanitizer's report at exit goes to
# stderr. Only stdout is read, and it must hold flags.
help=$("$program" --help 2>/dev/null || true)
if ! grep -q '^    --' <<<"$help"; then
  echo "help_to_man.sh: $program --help listed no flags" >&2
  exit 1
fi

# roff: a backslash is \e, "--" is two minus signs, and a line may not
# start with a control character.
roff() {
  sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^[.']/\\\\\\&&/"
}

usage=$(awk -v prog="$(basename "$program")" '
  /^  Flags from / { exit }
  NR == 1 { sub("^" prog ": ", "") }
  { print }' <<<"$help" | sed -e '/^$/d' | roff)

# Entries start at "    --name (", continue on lines indented by six
# spaces, and end with "; default: VALUE;".
options=$(awk '
  function flush() {
    if (entry == "") return
    name = entry; sub(/ .*/, "", name)
    rest = substr(entry, length(name) + 3)
    at = 0
    for (i = 1; (j = index(substr(rest, i), "; default: ")) > 0; i += j) {
      at = i + j - 1
    }
    help = substr(rest, 1, at - 2)
    value = substr(rest, at + 11); sub(/;$/, "", value)
    if (value == "") value = "none"
    printf "%s\t%s\t%s\n", name, value, help
    entry = ""
  }
  /^    --/ { flush(); entry = substr($0, 5); next }
  /^      / && entry != "" { line = $0; sub(/^ +/, "", line); entry = entry " " line; next }
  { flush() }
  END { flush() }' <<<"$help" |
  while IFS=$'\t' read -r name value text; do
    printf '.TP\n\\fB%s\\fR (default: %s)\n%s\n' \
      "$(roff <<<"$name")" "$(roff <<<"$value")" "$(roff <<<"$text")"
  done)

# Through the environment: awk -v would read the backslashes as escapes.
page=$(USAGE=$usage OPTIONS=$options VERSION=$version awk '
  $0 == "@USAGE@" { print ENVIRON["USAGE"]; next }
  $0 == "@OPTIONS@" { print ENVIRON["OPTIONS"]; next }
  { gsub(/@VERSION@/, ENVIRON["VERSION"]); print }' "$template")
printf '%s\n' "$page" | gzip -9n >"$output.tmp"
mv "$output.tmp" "$output"
