#!/usr/bin/env bash
# Multi-step end-to-end checks of quantize-climbq (spec section 5):
#   determinism  check 18: same seed and -t 1 -> /results identical (h5diff without /provenance);
#                a sharded compare merges into the unsharded file; a model's logits at 1 vs 2
#                threads (through eval's per-class results) agree
#   agreement    check 13 (CI part) on digits-LT and synth: `compare --int --strict` over PTQ and
#                QAT of uniform, lsq and climbq at 2, 3, 4 and 8 bits (every export verifies:
#                labels >= 99.9 %, codes >= 99.99 %, every sample within tau)
#   synth        check 19: synth defaults give FP32 mlp >= 70 % and many - few >= 10 pts
# Usage: climbq_checks.sh <bin_dir> <check>; exit 77 (skip) without scikit-learn's digits.
set -euo pipefail
bin=$1/quantize-climbq check=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL [$check]: $*"; exit 1; }
run() { "$bin" "$@" -q > "$tmp/last.json" || fail "quantize-climbq $* exited $?"; }
json() { jq -r "$1" "$tmp/last.json"; }
same() { h5diff -q "$@" > /dev/null 2>&1 || { h5diff "$@" | head -20; fail "h5diff $*"; }; }
digits=/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz

case $check in
determinism)
  run make-data --source synth --seed 4 -o "$tmp/d.h5"
  run make-data --source synth --seed 4 -o "$tmp/d2.h5"
  same --exclude-path /provenance "$tmp/d.h5" "$tmp/d2.h5"
  run train -i "$tmp/d.h5" --epochs 3 -t 1 -o "$tmp/m.h5"
  run train -i "$tmp/d.h5" --epochs 3 -t 1 -o "$tmp/m2.h5"
  same --exclude-path /provenance "$tmp/m.h5" "$tmp/m2.h5"
  args=(-i "$tmp/d.h5" --model "$tmp/m.h5" --qat --methods uniform,lsq,climbq --losses ce,homovar
        --bits 2,4 --set qat.epochs=1 -t 1)
  run compare "${args[@]}" -o "$tmp/c1.h5"
  run compare "${args[@]}" -o "$tmp/c2.h5"
  same --exclude-path /provenance "$tmp/c1.h5" "$tmp/c2.h5"
  for i in 0 1 2; do run compare "${args[@]}" --shard $i/3 -o "$tmp/s$i.h5"; done
  run compare --merge "$tmp/s2.h5" "$tmp/s0.h5" "$tmp/s1.h5" -o "$tmp/merged.h5"
  same --exclude-path /provenance "$tmp/c1.h5" "$tmp/merged.h5"
  # 1 vs 2 threads on a fixed quantized model: same per-class results.
  run qat -i "$tmp/d.h5" --model "$tmp/m.h5" --bits 4 --epochs 1 -t 1 -o "$tmp/q.h5"
  run eval -i "$tmp/d.h5" --model "$tmp/q.h5" -t 1 -o "$tmp/e1.h5"
  run eval -i "$tmp/d.h5" --model "$tmp/q.h5" -t 2 -o "$tmp/e2.h5"
  same --exclude-path /provenance "$tmp/e1.h5" "$tmp/e2.h5"
  ;;
agreement)
  [ -f "$digits" ] || { echo "SKIPPED: $digits missing (apt-get install python3-sklearn)"; exit 77; }
  for src in digits synth; do
    run make-data --source $src -o "$tmp/$src.h5"
    run train -i "$tmp/$src.h5" --set optim.batch_size=16 -o "$tmp/${src}_fp32.h5"
    run compare -i "$tmp/$src.h5" --model "$tmp/${src}_fp32.h5" --qat --methods uniform,lsq,climbq \
      --losses ce,homovar --bits 2,3,4,8 --set qat.epochs=2 --int --strict -o "$tmp/${src}_c.h5"
    n=$(json '[.runs[] | select(.label_agreement_int != null)] | length')
    [ "$n" -ge 30 ] || fail "$src: only $n runs verified"
    low=$(json '[.runs[].label_agreement_int] | min')
    echo "$src: $n exported runs verified, lowest label agreement $low"
  done
  ;;
synth)
  run make-data --source synth -o "$tmp/s.h5"
  run train -i "$tmp/s.h5" -o "$tmp/m.h5"
  acc=$(json .acc) gap=$(json '.many - .few')
  echo "synth defaults: FP32 $acc, many - few $gap"
  jq -e '.acc >= 0.70 and (.many - .few) >= 0.10' "$tmp/last.json" > /dev/null ||
    fail "FP32 $acc (>= 0.70) or many - few $gap (>= 0.10)"
  ;;
*) fail "unknown check $check" ;;
esac
echo "ok [$check]"
