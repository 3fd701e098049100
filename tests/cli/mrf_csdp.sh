#!/usr/bin/env bash
# Spec mrf-cccp check 6 (SHOULD, ctest label csdp): the project's SDP optimum agrees with CSDP's
# (Debian coinor-csdp) on >= 50 dumped decomposition SDPs: |ours + csdp primal| <= 1e-7 (1 + |ours|)
# (CSDP maximises, so the dump negates C). Skips (77) when csdp is not installed.
# Usage: mrf_csdp.sh <bin_dir>
set -euo pipefail
bin=$1/mrf-cccp
command -v csdp > /dev/null || { echo "SKIPPED: csdp not installed (apt-get install coinor-csdp)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL [csdp]: $*"; exit 1; }
# 64 distinct SFS shading rows (peaks, 9 x 9), each one SDP (m = 2, d = 4).
"$bin" gen sfs --set sfs.source=peaks --set sfs.size=9 -o "$tmp/m.h5" -q > /dev/null
"$bin" decompose -i "$tmp/m.h5" --dump-sdpa "$tmp/sdpa" -o "$tmp/d.h5" -q > /dev/null
mapfile -t ours < <(h5dump -d /families/shading/sdp_objective -m %.17g -y -w 1 "$tmp/d.h5" |
  sed -n '/DATA {/,/}/p' | grep -Eo -- '-?[0-9][0-9.e+-]*')
[ "${#ours[@]}" -ge 50 ] || fail "expected >= 50 SDP objectives, found ${#ours[@]}"
mkdir "$tmp/run"
worst=0 n=0
for r in "${!ours[@]}"; do
  f=$tmp/sdpa/shading_$r.dat-s
  [ -f "$f" ] || fail "missing dump $f"
  # csdp reads param.csdp from the working directory and prints to stdout.
  theirs=$(cd "$tmp/run" && csdp "$f" | sed -n 's/^Primal objective value: *//p')
  [ -n "$theirs" ] || fail "csdp found no solution for $f"
  read -r ok err < <(awk -v a="${ours[$r]}" -v b="$theirs" 'BEGIN {
    d = a + b; if (d < 0) d = -d; s = 1 + (a < 0 ? -a : a); e = d / s;
    print (e <= 1e-7 ? 1 : 0), e }')
  [ "$ok" = 1 ] || fail "row $r: ours ${ours[$r]}, csdp primal $theirs (relative $err)"
  worst=$(awk -v a="$worst" -v b="$err" 'BEGIN { print (b > a ? b : a) }')
  n=$((n + 1))
done
echo "ok [csdp]: $n SDPs agree with csdp, worst |ours + csdp| / (1 + |ours|) = $worst"
