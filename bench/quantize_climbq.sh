#!/usr/bin/env bash
# Benchmarks B1-B3 of quantize-climbq (spec quantize-climbq.md section 7), each table from one
# process of `quantize-climbq`:
#   B1  integer inference: the exported int model (IntEngine) vs the same network in float32 (BN
#       folded into a scale/shift epilogue, OpenBLAS sgemm, float im2col) vs the fake-quant
#       float32 model; ClimbQ W4A4 PTQ mlp and cnn on Fashion-MNIST-LT rho 100; batch 1/64/256;
#       threads 1 and all; bound = int8 GEMM rate / sgemm rate, both on 1024^3 in that process.
#   B2  quantizer kernels on 10^7 floats, 1 thread: ClimbQ erfc vs bucketize vs uniform, against
#       the copy bandwidth (8 B per element).
#   B3  one QAT epoch, mlp, W4A4: climbq+homovar vs uniform+ce vs lsq+ce (`qat --epochs 1` and
#       `--epochs 2`: the difference is one epoch without start-up and evaluation), and the FP32
#       15-epoch `train`.
# Usage: bash bench/quantize_climbq.sh [build_dir]
#   build_dir   default <repo>/build-bench-climbq (configured with EFFINFER_MARCH=native)
# Environment: THREADS (default nproc), REPEATS (B1, default 200), WARMUP (default 20),
#   BATCHES (default 1,64,256), B3_REPS (runs per QAT timing, median; default 3), B3_THREADS
#   (QAT threads, default 1: one-thread timings are the least disturbed on a shared machine),
#   CNN_EPOCHS (FP32 cnn training for B1, default 3: B1 only times it), KEEP=1 keeps the
#   temporary folder, QC_BIN=path runs that binary instead of building, REPORT_ONLY=folder
#   prints the tables of a kept folder again.
#   Needs Debian's dataset-fashion-mnist and python3.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build-bench-climbq}
threads=${THREADS:-$(nproc)}
repeats=${REPEATS:-200}
warmup=${WARMUP:-20}
batches=${BATCHES:-1,64,256}
cnn_epochs=${CNN_EPOCHS:-3}
b3_reps=${B3_REPS:-3}
b3_threads=${B3_THREADS:-1}

source "$here/lib.sh"
qc=${QC_BIN:-$(bench_build_native "$root" "$build" quantize-climbq quantize_climbq)} || exit 1

# Debian's OpenBLAS 0.3.21 falls back to SSE3 "Prescott" kernels on recent Xeons (DESIGN.md).
if [[ -z ${OPENBLAS_CORETYPE:-} ]]; then
  core=$(bench_openblas_core)
  [[ -n $core ]] && export OPENBLAS_CORETYPE=$core
fi
unset OMP_NUM_THREADS OPENBLAS_NUM_THREADS  # the tool sets its own thread counts (-t)

if [[ -n ${REPORT_ONLY:-} ]]; then  # print the tables of a kept folder again
  tmp=$REPORT_ONLY
else
tmp=$(mktemp -d)
cleanup() { if [[ ${KEEP:-0} == 1 ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi; }
trap cleanup EXIT

echo "quantize_climbq: CPU $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs"
echo "quantize_climbq: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, threads 1 and $threads," \
  "load at start:$(uptime | sed 's/.*load average//')"

run() {  # run <name> <args...>: JSON line into $tmp/<name>.json, "user sys real" s into .time
  local name=$1 status=0
  shift
  local TIMEFORMAT='%U %S %R'
  { time "$qc" "$@" -q >"$tmp/$name.json" 2>"$tmp/$name.err" || status=$?; } 2>"$tmp/$name.time"
  if [[ $status -ne 0 ]]; then
    echo "quantize_climbq: '$name' failed (exit $status): $(cat "$tmp/$name.json")" >&2
    exit 1
  fi
}

echo "quantize_climbq: data and models (Fashion-MNIST-LT rho 100) ..." >&2
run data make-data --source fashion-mnist --rho 100 -o "$tmp/fm.h5"
run train_mlp train -i "$tmp/fm.h5" --arch mlp -t "$threads" -o "$tmp/fp32_mlp.h5"
run train_mlp_t1 train -i "$tmp/fm.h5" --arch mlp -t 1 -o "$tmp/fp32_mlp_t1.h5"
run train_cnn train -i "$tmp/fm.h5" --arch cnn --epochs "$cnn_epochs" -t "$threads" \
  -o "$tmp/fp32_cnn.h5"
for arch in mlp cnn; do
  run "ptq_$arch" ptq -i "$tmp/fm.h5" --model "$tmp/fp32_$arch.h5" --method climbq --bits 4 \
    -t "$threads" -o "$tmp/q_$arch.h5"
done

echo "quantize_climbq: B1 ..." >&2
for arch in mlp cnn; do
  run "b1_$arch" bench --model "$tmp/q_$arch.h5" -i "$tmp/fm.h5" --batch "$batches" \
    --repeats "$repeats" --warmup "$warmup" -t "$threads" -o "$tmp/bench_$arch.h5"
done
echo "quantize_climbq: B2 ..." >&2
run b2 bench --quantizers -t 1
echo "quantize_climbq: B3 ..." >&2
for rep in $(seq 1 "$b3_reps"); do
  for ml in climbq:homovar uniform:ce lsq:ce; do
    for e in 1 2; do
      run "b3_${ml%%:*}_${e}_$rep" qat -i "$tmp/fm.h5" --model "$tmp/fp32_mlp.h5" \
        --method "${ml%%:*}" --loss "${ml##*:}" --bits 4 --epochs "$e" -t "$b3_threads" \
        -o "$tmp/qat_${ml%%:*}_${e}_$rep.h5"
    done
  done
done
echo "quantize_climbq: load at end:$(uptime | sed 's/.*load average//')"
fi

/usr/bin/python3 - "$tmp" "$threads" "$b3_reps" "$b3_threads" <<'PY'
import json, statistics, sys
tmp, threads, reps, b3_threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def T(n):  # (cpu s = user + sys, wall s) of a run as the shell measured it
    u, s, r = map(float, open(f"{tmp}/{n}.time").read().split())
    return u + s, r
J = lambda n: json.load(open(f"{tmp}/{n}.json"))

print("\n## B1 integer inference (ClimbQ W4A4 PTQ, Fashion-MNIST-LT test images)")
for arch in ("mlp", "cnn"):
    b = J(f"b1_{arch}")
    s = b["size_bytes"]
    print(f"\n### {arch}: kernel {b['kernel']}, CPU flags [{b['cpu_flags']}], "
          f"openblas_get_corename() {b['blas_core']}, OPENBLAS_CORETYPE {b['openblas_coretype']}")
    rates = ", ".join(f"{r['sgemm_gflops']:.1f} GFLOP/s at {r['threads']} thr"
                      for r in b["sgemm_by_threads"])
    print(f"sgemm 1024^3: {rates}; int8 GEMM 1024^3 ({b['kernel']}, 1 thr): "
          f"{b['int8_gops']:.1f} GOP/s; bound int8/sgemm = {b['ratios']['bound']:.2f}x")
    print(f"sizes: fp32 {s['fp32']:,} B -> int {s['int']:,} B ({s['fp32']/s['int']:.2f}x), "
          f"packed {s['packed']:,} B ({s['fp32']/s['packed']:.2f}x)")
    print("\n| batch | threads | fp32 ms | fakequant ms | int ms | int img/s | fp32/int | "
          "fakequant/int | of bound |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = {(r["engine"], r["batch"], r["threads"]): r for r in b["rows"]}
    for q in b["ratio_rows"]:
        k = (q["batch"], q["threads"])
        f, fq, i = (rows[(e,) + k] for e in ("fp32", "fakequant", "int"))
        ms = lambda r: f"{r['ms']:.4g} [{r['ms_p10']:.3g}, {r['ms_p90']:.3g}]"
        print(f"| {k[0]} | {k[1]} | {ms(f)} | {ms(fq)} | {ms(i)} | {i['img_s']:,.0f} | "
              f"{q['fp32_over_int']:.2f} | {q['fakequant_over_int']:.1f} | "
              f"{100*q['fraction_of_bound']:.0f}% |")
    head = b["ratios"]["fp32_over_int"]
    vnni = b["kernel"] == "vnni512"
    verdict = ("met" if head >= 2.0 else "NOT met") if vnni else "reported only (not VNNI)"
    print(f"target fp32/int >= 2.0 at batch 64, 1 thread: {head:.2f} ({verdict})")

b2 = J("b2")
print(f"\n## B2 quantizer kernels ({b2['elements']:,} floats N(0,4), {b2['bits']}-bit, 1 thread)")
print("\n| kernel | ms [p10, p90] | ns/element | x copy bound |")
print("|---|---|---|---|")
for q in b2["quantizers"]:
    print(f"| {q['name']} | {q['ms']:.2f} [{q['ms_p10']:.2f}, {q['ms_p90']:.2f}] | "
          f"{q['ns_per_element']:.2f} | {q['over_bound']:.1f} |")
r = b2["ratios"]
print(f"copy bandwidth {b2['copy_gb_s']:.1f} GB/s (8 B/element) -> bound {b2['bound_ms']:.2f} ms")
print(f"erfc/bucketize = {r['erfc_over_bucketize']:.2f} (target >= 4: "
      f"{'met' if r['erfc_over_bucketize'] >= 4 else 'NOT met'}); bucketize/uniform = "
      f"{r['bucketize_over_uniform']:.2f} (target <= 2: "
      f"{'met' if r['bucketize_over_uniform'] <= 2 else 'NOT met'})")

print(f"\n## B3 QAT epoch, mlp W4A4, Fashion-MNIST-LT rho 100 ({J('data')['n_train']:,} images), "
      f"{b3_threads} thread(s)")
print(f"(whole command incl. data loading and test evaluation, median of {reps} runs; one epoch "
      "= --epochs 2 minus --epochs 1; CPU = user + sys)")
print("\n| run | --epochs 1 wall s | --epochs 2 wall s | one epoch wall s | one epoch CPU s | "
      "epoch CPU / uniform |")
print("|---|---|---|---|---|---|")
ep = {}
for m, l in (("climbq", "homovar"), ("uniform", "ce"), ("lsq", "ce")):
    med = lambda e, k: statistics.median(T(f"b3_{m}_{e}_{r}")[k] for r in range(1, reps + 1))
    ep[m] = dict(l=l, w1=med(1, 1), w2=med(2, 1), c1=med(1, 0), c2=med(2, 0))
for m, v in ep.items():
    print(f"| {m}+{v['l']} | {v['w1']:.2f} | {v['w2']:.2f} | {v['w2'] - v['w1']:.2f} | "
          f"{v['c2'] - v['c1']:.2f} | {(v['c2'] - v['c1']) / (ep['uniform']['c2'] - ep['uniform']['c1']):.2f} |")
ratio = (ep["climbq"]["c2"] - ep["climbq"]["c1"]) / (ep["uniform"]["c2"] - ep["uniform"]["c1"])
print(f"target climbq/uniform <= 1.3 (one epoch, CPU): {ratio:.2f} "
      f"({'met' if ratio <= 1.3 else 'NOT met'})")
t = J("train_mlp")
b = J("b1_mlp")
rate = {r["threads"]: r["sgemm_gflops"] for r in b["sgemm_by_threads"]}
cpu1, wall1 = T("train_mlp_t1")
print(f"FP32 train, 15 epochs, 1 thread: {J('train_mlp_t1')['wall_s']:.2f} s wall in the tool "
      f"({cpu1:.2f} CPU s); floor at {rate[1]:.1f} GFLOP/s: "
      f"{15 * 3 * 2 * 234752 * J('data')['n_train'] / rate[1] / 1e9:.1f} s")
g = rate.get(threads, b["sgemm_gflops"])
flop = 3 * 2 * 234752 * J("data")["n_train"]
cpu, wall = T("train_mlp")
print(f"FP32 train, 15 epochs, {threads} threads: {t['wall_s']:.2f} s wall in the tool "
      f"({wall:.2f} s command, {cpu:.2f} CPU s) (target <= 15 s: "
      f"{'met' if t['wall_s'] <= 15 else 'NOT met'}); floor {flop/1e9:.1f} GFLOP/epoch at "
      f"{g:.1f} GFLOP/s = {flop/g/1e9:.2f} s/epoch, {15*flop/g/1e9:.1f} s for 15 epochs")
PY
