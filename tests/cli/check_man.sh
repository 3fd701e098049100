#!/bin/bash
# Man-page lint: check_man.sh <bin_dir> <source_dir>
#
# 1. For every executable in <bin_dir> that has a page <source_dir>/man/man1/<tool>.1: every long
#    option (--xxx) printed by `<tool> --help` and by `<tool> <cmd> --help` for each subcommand
#    listed in the top-level help must appear in the tool's page or in man/man7/effinfer.7
#    (searched in the roff source with the \- escapes and font changes normalised).
# 2. `groff -man -ww -z` on every page under <source_dir>/man must print nothing.
# Exit 0 with a one-line summary when all is well, 1 with the problems listed otherwise.
set -u

if [[ $# -ne 2 ]]; then
  echo "usage: check_man.sh <bin_dir> <source_dir>" >&2
  exit 2
fi
bin_dir=$1
src_dir=$2
man_dir=$src_dir/man
common_page=$man_dir/man7/effinfer.7

problems=()
fail() { problems+=("$1"); }

[[ -d $bin_dir ]] || fail "$bin_dir: binary folder not found"
[[ -d $man_dir ]] || fail "$man_dir: man folder not found"
[[ -f $common_page ]] || fail "$common_page: common page not found"
if ! command -v groff > /dev/null; then
  fail "groff not found (Debian package groff-base)"
fi

# Roff source as plain text: \- and \(hy/\(mi are hyphens, \& \% \: are empty, font changes
# (\fB, \f(CW, \f[CR]) vanish, so `\fB\-\-keep\-going\fR` reads --keep-going.
normalise() {
  sed -e 's/\\-/-/g' -e 's/\\(hy/-/g' -e 's/\\(mi/-/g' -e 's/\\\[hy\]/-/g' \
      -e 's/\\&//g' -e 's/\\%//g' -e 's/\\://g' \
      -e 's/\\f(..//g' -e 's/\\f\[[^]]*\]//g' -e 's/\\f.//g' "$@"
}

# Long options in help text: --name, letters first, then letters, digits, - and _.
long_options() { grep -oE -- '--[A-Za-z][A-Za-z0-9_-]*' | sed -e 's/-*$//' | sort -u; }

# Subcommands from CLI11's help: the indented first words of the "Subcommands:" section.
subcommands() {
  awk 'tolower($0) ~ /^subcommands:/ { on = 1; next }
       on && /^[^ \t]/ { on = 0 }
       on && NF && /^  [^ \t-]/ { print $1 }'
}

tools_checked=0
tools_without_page=()
options_checked=0
common_text=""
[[ -f $common_page ]] && common_text=$(normalise "$common_page")

if [[ -d $bin_dir && -d $man_dir ]]; then
  for exe in "$bin_dir"/*; do
    [[ -f $exe && -x $exe ]] || continue
    tool=$(basename "$exe")
    page=$man_dir/man1/$tool.1
    if [[ ! -f $page ]]; then
      tools_without_page+=("$tool")
      continue
    fi
    tools_checked=$((tools_checked + 1))
    text=$(normalise "$page")$'\n'$common_text

    top_help=$("$exe" --help 2> /dev/null)
    status=$?
    if [[ $status -ne 0 ]]; then
      fail "$tool --help: exit status $status"
      continue
    fi
    helps=("$top_help")
    labels=("$tool --help")
    while read -r cmd; do
      [[ -n $cmd ]] || continue
      cmd_help=$("$exe" "$cmd" --help 2> /dev/null)
      status=$?
      if [[ $status -ne 0 ]]; then
        fail "$tool $cmd --help: exit status $status"
        continue
      fi
      helps+=("$cmd_help")
      labels+=("$tool $cmd --help")
    done < <(subcommands <<< "$top_help")

    declare -A seen=()
    for i in "${!helps[@]}"; do
      while read -r opt; do
        [[ -n $opt ]] || continue
        [[ -n ${seen[$opt]:-} ]] && continue
        seen[$opt]=1
        options_checked=$((options_checked + 1))
        # The option as a whole word: --set must not be satisfied by --settings.
        if ! grep -qE -- "(^|[^A-Za-z0-9_-])${opt}([^A-Za-z0-9_-]|$)" <<< "$text"; then
          fail "$tool: option $opt (from '${labels[$i]}') is not in man1/$tool.1 or man7/effinfer.7"
        fi
      done < <(long_options <<< "${helps[$i]}")
    done
    unset seen
  done
  if [[ $tools_checked -eq 0 ]]; then
    fail "$bin_dir: no executable has a page in $man_dir/man1 (nothing checked)"
  fi
fi

pages_checked=0
if [[ -d $man_dir ]] && command -v groff > /dev/null; then
  while IFS= read -r -d '' page; do
    pages_checked=$((pages_checked + 1))
    warnings=$(groff -man -ww -z "$page" 2>&1)
    if [[ -n $warnings ]]; then
      fail "groff -man -ww -z ${page#"$src_dir"/}:"$'\n'"$(sed 's/^/    /' <<< "$warnings")"
    fi
  done < <(find "$man_dir" -type f -name '*.[1-9]' -print0 | sort -z)
fi

if [[ ${#problems[@]} -gt 0 ]]; then
  echo "check_man: ${#problems[@]} problem(s):"
  for p in "${problems[@]}"; do echo "  $p"; done
  exit 1
fi
skipped=""
if [[ ${#tools_without_page[@]} -gt 0 ]]; then
  skipped=" (no page, not checked: ${tools_without_page[*]})"
fi
echo "check_man: ok: $tools_checked tool(s), $options_checked long option(s) documented," \
  "$pages_checked page(s) clean under groff -man -ww$skipped"
exit 0
