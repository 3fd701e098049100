#!/usr/bin/env bash
# Runs one end-to-end CLI case: tests/cli/<tool>/<case>/ holds
#   cmd       the arguments after the tool name (shell words; placeholders below)
#   exit      the expected exit code
#   stdout    optional: fixed strings the JSON line (last stdout line) must contain, one per line
#   stderr    optional: an extended regex stderr must match
#   absent    optional: paths that must not exist afterwards (no output left behind)
#   exists    optional: paths that must exist afterwards
#   setup     optional: shell lines run first (same placeholders; $BIN is the tool)
#   requires  optional: "shared" = skip (exit 77) when ../shared is absent
# Placeholders: @TMP@ (a fresh folder), @FIX@ (tests/cli/fixtures), @SRC@ (the source tree),
# @SHARED@ (the reference folder beside the project).
set -u
bin_dir=$1 case_dir=$2 src=$3
shared=${EFFINFER_SHARED_DIR:-$src/../shared}
tool=$(basename "$(dirname "$case_dir")")
BIN="$bin_dir/$tool"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
subst() { sed -e "s#@TMP@#$tmp#g" -e "s#@FIX@#$src/tests/cli/fixtures#g" -e "s#@SRC@#$src#g" -e "s#@SHARED@#$shared#g"; }
fail() { echo "FAIL [$tool/$(basename "$case_dir")]: $*"; echo "--- stdout"; cat "$tmp/out"; echo "--- stderr"; cat "$tmp/err"; exit 1; }

if [ -f "$case_dir/requires" ] && grep -q shared "$case_dir/requires" && [ ! -d "$shared/reference" ]; then
  echo "SKIPPED: $shared/reference absent"; exit 77
fi
touch "$tmp/out" "$tmp/err"
if [ -f "$case_dir/setup" ]; then
  (cd "$tmp" && BIN="$BIN" bash -e -c "$(subst < "$case_dir/setup")") || fail "setup failed"
fi
args=$(subst < "$case_dir/cmd")
(cd "$tmp" && eval "\"$BIN\" $args" > "$tmp/out" 2> "$tmp/err")
code=$?
want=$(cat "$case_dir/exit")
[ "$code" = "$want" ] || fail "exit code $code, expected $want"
if [ "$want" != 0 ] || [ -s "$tmp/out" ]; then
  last=$(tail -n 1 "$tmp/out")
  case "$(cat "$case_dir/cmd")" in
    *--help*|*--version*|*--print-config*) ;;
    *) echo "$last" | jq -e . > /dev/null 2>&1 || fail "last stdout line is not JSON: $last"
       echo "$last" | jq -e ".exit_code == $want" > /dev/null || fail "JSON exit_code differs from $want" ;;
  esac
fi
if [ -f "$case_dir/stdout" ]; then
  while IFS= read -r pattern; do
    [ -z "$pattern" ] && continue
    grep -qF -- "$pattern" "$tmp/out" || fail "stdout lacks: $pattern"
  done < <(subst < "$case_dir/stdout")
fi
if [ -f "$case_dir/stderr" ]; then
  grep -qE -- "$(subst < "$case_dir/stderr")" "$tmp/err" || fail "stderr does not match: $(cat "$case_dir/stderr")"
fi
if [ -f "$case_dir/absent" ]; then
  while IFS= read -r p; do [ -z "$p" ] || [ ! -e "$p" ] || fail "left behind: $p"; done < <(subst < "$case_dir/absent")
  # No temporary output either.
  ls -a "$tmp" | grep -q '\.tmp\.' && fail "temporary file left behind"
fi
if [ -f "$case_dir/exists" ]; then
  while IFS= read -r p; do [ -z "$p" ] || [ -e "$p" ] || fail "missing output: $p"; done < <(subst < "$case_dir/exists")
fi
echo "ok [$tool/$(basename "$case_dir")]"
