#!/usr/bin/env bash
# Multi-step end-to-end checks of psytrack-fit (spec section 5):
#   invariance  check 12: y {1,2} = {0,1}; (N,) = (N,1); weight order; 1 vs 2 threads; shards + merge
#   rat         check 14: the three demo configs on the real rat data, trim facts, exact >= psytrack
#   plot        check 15: valid SVG, K polylines and K bands, finite coordinates, < 1 MB at N = 1e6
# Usage: psytrack_checks.sh <bin_dir> <source_dir> <check>
set -euo pipefail
bin=$1/psytrack-fit src=$2 check=$3
fix=$src/tests/cli/fixtures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL [$check]: $*"; exit 1; }
run() { "$bin" "$@" -q > "$tmp/last.json" || fail "psytrack-fit $* exited $?"; }
json() { jq -r "$1" "$tmp/last.json"; }
# Compare two objects of two files exactly (h5diff exit 0 = equal).
same() { h5diff -q "$@" > /dev/null 2>&1 || { h5diff "$@" | head -20; fail "h5diff $*"; }; }

case $check in
invariance)
  run fit -i "$fix/good.h5" -o "$tmp/good.h5"
  run fit -i "$fix/y12.h5" -o "$tmp/y12.h5"
  same "$tmp/good.h5" "$tmp/y12.h5" /results/good/wMode /results/y12/wMode
  same "$tmp/good.h5" "$tmp/y12.h5" /results/good/W_std /results/y12/W_std
  run fit -i "$fix/s2_column.h5" -o "$tmp/s2col.h5"
  same "$tmp/good.h5" "$tmp/s2col.h5" /results/good/wMode /results/s2_column/wMode
  run fit -i "$fix/good.h5" --set 'weights={s2: 1, s1: 1}' -o "$tmp/order.h5"
  same --exclude-path /provenance "$tmp/good.h5" "$tmp/order.h5"
  for s in 1 2 3; do
    run simulate --seed $s --set simulate.N=800 --set simulate.K=2 --set simulate.iterations=1 \
      --set simulate.session_length=200 -o "$tmp/sub$s.h5"
  done
  inputs=(-i "$tmp/sub1.h5" -i "$tmp/sub2.h5" -i "$tmp/sub3.h5")
  run fit "${inputs[@]}" -t 1 -o "$tmp/t1.h5"
  run fit "${inputs[@]}" -t 2 -o "$tmp/t2.h5"
  same --exclude-path /provenance "$tmp/t1.h5" "$tmp/t2.h5"
  run fit "${inputs[@]}" -t 2 --shard 0/2 -o "$tmp/p0.h5"
  [ "$(json .n_subjects)" = 1 ] || fail "shard 0/2 of 3 units should hold 1 subject"
  run fit "${inputs[@]}" -t 2 --shard 1/2 -o "$tmp/p1.h5"
  [ "$(json .n_subjects)" = 2 ] || fail "shard 1/2 of 3 units should hold 2 subjects"
  run merge -i "$tmp/p0.h5" -i "$tmp/p1.h5" -o "$tmp/merged.h5"
  same --exclude-path /provenance "$tmp/t1.h5" "$tmp/merged.h5"
  # Single subject, threads inside the fit (FD gradient calls): still identical.
  run fit -i "$tmp/sub1.h5" -t 1 -o "$tmp/s1t1.h5"
  run fit -i "$tmp/sub1.h5" -t 2 -o "$tmp/s1t2.h5"
  same --exclude-path /provenance "$tmp/s1t1.h5" "$tmp/s1t2.h5"
  run xval -i "$tmp/sub1.h5" -t 1 --set xval.folds=4 -o "$tmp/x1.h5"
  run xval -i "$tmp/sub1.h5" -t 2 --set xval.folds=4 -o "$tmp/x2.h5"
  same --exclude-path /provenance "$tmp/x1.h5" "$tmp/x2.h5"
  ;;
rat)
  rat=$src/data/psytrack/rat_W053.h5
  for cfg in rat_tutorial rat_sessions; do
    run fit -i "$rat" -c "$src/configs/psytrack-fit/$cfg.yaml" -o "$tmp/$cfg.h5"
    [ "$(json .status)" = ok ] || fail "$cfg: status $(json .status)"
    ev=$(json '.subjects[0].log_evidence')
    run fit -i "$rat" -c "$src/configs/psytrack-fit/$cfg.yaml" --set optimizer.mode=exact -o "$tmp/${cfg}_exact.h5"
    ex=$(json '.subjects[0].log_evidence')
    jq -n -e "$ex >= $ev - 1e-6" > /dev/null || fail "$cfg: exact logEvd $ex < psytrack $ev - 1e-6"
    echo "$cfg: psytrack logEvd $ev, exact $ex"
  done
  # The tutorial trim keeps 36 sessions, the last one cut to 65 trials.
  run fit -i "$rat" -c "$src/configs/psytrack-fit/rat_tutorial.yaml" --set 'opt=[]' -o "$tmp/trim.h5"
  [ "$(json '.subjects[0].S')" = 36 ] || fail "tutorial trim: $(json '.subjects[0].S') sessions, expected 36"
  h5dump -d /results/W053/dayLength "$tmp/trim.h5" | tr -d ' \n' | grep -q ',65}' || fail "last session is not 65 trials"
  run xval -i "$rat" -c "$src/configs/psytrack-fit/rat_tutorial_xval.yaml" -o "$tmp/xval.h5"
  [ "$(json .status)" = ok ] || fail "xval status $(json .status)"
  ;;
plot)
  run simulate --seed 5 --set simulate.N=1000000 --set simulate.K=3 --set simulate.iterations=1 -o "$tmp/big.h5"
  run fit -i "$tmp/big.h5" --set 'opt=[]' --set 'hyper.sigma=[0.01]' -o "$tmp/bigfit.h5"
  run plot -i "$tmp/bigfit.h5" -o "$tmp/big.svg"
  xmllint --noout "$tmp/big.svg" || fail "big.svg is not valid XML"
  size=$(stat -c %s "$tmp/big.svg")
  [ "$size" -lt 1048576 ] || fail "big.svg is $size bytes, expected < 1 MB"
  # Without the source file the truth lines are absent: exactly K weight lines and K bands.
  mv "$tmp/big.h5" "$tmp/big_moved.h5"
  run plot -i "$tmp/bigfit.h5" -o "$tmp/big2.svg"
  [ "$(grep -c 'class="line"' "$tmp/big2.svg")" = 3 ] || fail "expected 3 polylines"
  [ "$(grep -c 'class="band"' "$tmp/big2.svg")" = 3 ] || fail "expected 3 band polygons"
  grep -Eq 'nan|inf' "$tmp/big2.svg" && fail "non-finite coordinate in the SVG"
  # With the source, K truth lines are added.
  run plot -i "$tmp/bigfit.h5" --source "$tmp/big_moved.h5" -o "$tmp/big3.svg"
  [ "$(grep -c 'class="line"' "$tmp/big3.svg")" = 6 ] || fail "expected 3 weight + 3 truth polylines"
  echo "plot: N = 1e6 SVG $size bytes"
  ;;
*) fail "unknown check $check" ;;
esac
echo "ok [$check]"
