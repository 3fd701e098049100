#!/usr/bin/env bash
# Benchmarks of condconv-bench (spec condconv-bench.md section 7), each table from one process:
#   grid  `condconv-bench bench -c configs/condconv-bench/bench.yaml`: the CondConv layers of
#         CondConv-B0 and MobileNetV1 Conv2d_7..13 + FC (identical shapes once) x n x B x threads x
#         strategies, next to the bare-sgemm peer and bound_ms = max(2 MACs/P, bytes/BW) (P: 2048^3
#         sgemm, BW: 256 MiB memcpy, both measured in that process); targets (a)-(c).
#   core  one default-core pass (EFFINFER_BLAS_FIX=0, OPENBLAS_CORETYPE unset): what users get by
#         default with Debian's OpenBLAS 0.3.21 (Prescott on recent Xeons).
#   net   `condconv-bench net`: EfficientNet-B0 vs CondConv-B0-4e / -8e at B = 1 and 8, latency
#         ratio with the mixing MAC share vs time share; target (d).
# Usage: bash bench/condconv-bench.sh [build_dir]
#   build_dir   default <repo>/build-bench-condconv (configured with EFFINFER_MARCH=native)
# Environment (each maps to a flag; unset = bench.yaml's full grid, which takes hours):
#   EXPERTS (e.g. 1,8), BATCHES (1,16), THREADS_LIST ([1,2]), STRATEGIES, REPS, WARMUP,
#   MIN_TIME_MS, NET_REPS (default 10), CC_BIN=path runs that binary instead of building,
#   NET_THREADS (default 2), KEEP=1 keeps the temporary folder, SKIP_GRID=1 / SKIP_CORE=1 /
#   SKIP_NET=1 skip those passes.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build-bench-condconv}

source "$here/lib.sh"
cc=${CC_BIN:-$(bench_build_native "$root" "$build" condconv-bench condconv-bench.sh)} || exit 1

# Debian's OpenBLAS 0.3.21 falls back to SSE3 "Prescott" kernels on recent Xeons (spec 7).
core=$(bench_openblas_core)
unset OMP_NUM_THREADS OPENBLAS_NUM_THREADS

tmp=$(mktemp -d)
if [[ -z ${KEEP:-} ]]; then trap 'rm -rf "$tmp"' EXIT; else echo "keeping $tmp" >&2; fi

grid=(-c "$root/configs/condconv-bench/bench.yaml")
[[ -n ${EXPERTS:-} ]] && grid+=(--experts "$EXPERTS")
[[ -n ${BATCHES:-} ]] && grid+=(--batch "$BATCHES")
[[ -n ${STRATEGIES:-} ]] && grid+=(--strategies "$STRATEGIES")
[[ -n ${REPS:-} ]] && grid+=(--reps "$REPS")
[[ -n ${WARMUP:-} ]] && grid+=(--warmup "$WARMUP")
[[ -n ${MIN_TIME_MS:-} ]] && grid+=(--min-time-ms "$MIN_TIME_MS")
[[ -n ${THREADS_LIST:-} ]] && grid+=(--set "bench.threads=$THREADS_LIST")

echo "== load: $(uptime)"
echo "== CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), OPENBLAS_CORETYPE=${core:-unset}"

# One column of /results/cases as lines (strings unquoted).
col() { h5dump -y -w 0 -o "$tmp/col" -d "/results/cases/$2" "$1" >/dev/null
  tr -d ' \n"' <"$tmp/col" | tr ',' '\n'; }

table() { # file
  local f=$1 c
  for c in layer kind h c_in c_out kernel stride experts batch threads strategy median_ms \
    ratio_vs_static ratio_vs_moe ratio_vs_bound gflops; do col "$f" $c >"$tmp/c_$c"; done
  paste "$tmp"/c_{layer,kind,h,c_in,c_out,kernel,stride,experts,batch,threads,strategy,median_ms,ratio_vs_static,ratio_vs_moe,ratio_vs_bound,gflops} |
    awk -F'\t' '
      { key = $1 FS $2 FS $3 FS $4 FS $5 FS $6 FS $7 FS $9 FS $10
        if (!(key in seen)) { seen[key] = 1; order[++n] = key }
        ms[key, $8, $11] = $12; rs[key, $8, $11] = $13; rm[key, $8, $11] = $14; rb[key, $8, $11] = $15
        gf[key, $8, $11] = $16; if ($8 > 0) ex[$8] = 1 }
      END {
        for (e in ex) {
          printf "\n-- n = %d: median ms (0 = skipped); auto/static, moe-loop/auto, auto/bound, static GFLOP/s vs bare sgemm\n", e
          printf "%-22s %-9s %3s %5s %5s %2s %1s %3s %1s | %8s %8s %8s %8s %8s %8s %8s %8s | %6s %6s %6s %7s %7s\n",
            "layer","kind","hw","cin","cout","k","s","B","t","static","eq-mac","per-ex","grouped","moe-cat","moe-loop","auto","sgemm",
            "a/st","ml/a","a/bnd","st GF","blas GF"
          for (i = 1; i <= n; ++i) { k = order[i]; split(k, p, FS)
            printf "%-22s %-9s %3s %5s %5s %2s %1s %3s %1s | %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f | %6.2f %6.2f %6.2f %7.1f %7.1f\n",
              p[1],p[2],p[3],p[4],p[5],p[6],p[7],p[8],p[9], ms[k,0,"static"], ms[k,e,"static-equal-mac"],
              ms[k,e,"per-example"], ms[k,e,"grouped"], ms[k,e,"moe-concat"], ms[k,e,"moe-loop"], ms[k,e,"auto"],
              ms[k,0,"openblas"], rs[k,e,"auto"], (rm[k,e,"auto"] > 0 ? 1 / rm[k,e,"auto"] : 0), rb[k,e,"auto"],
              gf[k,0,"static"], gf[k,0,"openblas"] } } }'
}

if [[ -z ${SKIP_GRID:-} ]]; then
  echo "== grid (OPENBLAS_CORETYPE=${core:-unset}): ${grid[*]}"
  OPENBLAS_CORETYPE=$core "$cc" bench "${grid[@]}" -o "$tmp/grid.h5" -q >"$tmp/grid.json"
  table "$tmp/grid.h5"
  echo
  echo "grid summary: $(jq -c '{cases, skipped, median_overhead_vs_static, best_speedup_vs_moe, targets_met, openblas_core, gemm_gflops, copy_gbs}' "$tmp/grid.json")"
fi

if [[ -z ${SKIP_CORE:-} ]]; then
  echo
  echo "== default core (EFFINFER_BLAS_FIX=0, OPENBLAS_CORETYPE unset): mobilenet-v1-tail, n 8, B 1, 1 thread"
  env -u OPENBLAS_CORETYPE EFFINFER_BLAS_FIX=0 "$cc" bench --suite mobilenet-v1-tail --experts 8 \
    --batch 1 --strategies static,auto --peers openblas --reps 10 --min-time-ms 20 \
    --set 'bench.threads=[1]' -o "$tmp/core.h5" -q >"$tmp/core.json"
  OPENBLAS_CORETYPE=$core "$cc" bench --suite mobilenet-v1-tail --experts 8 --batch 1 \
    --strategies static,auto --peers openblas --reps 10 --min-time-ms 20 \
    --set 'bench.threads=[1]' -o "$tmp/core2.h5" -q >"$tmp/core2.json"
  for j in core core2; do
    echo "$(jq -r '"core \(.openblas_core): sgemm \(.gemm_gflops|floor) GFLOP/s"' "$tmp/$j.json")"
    table "$tmp/$j.h5" | grep -E "^(Conv2d_13_pointwise|Logits)" || true
  done
fi

if [[ -z ${SKIP_NET:-} ]]; then
  echo
  echo "== net (OPENBLAS_CORETYPE=${core:-unset}, threads ${NET_THREADS:-2}, reps ${NET_REPS:-10})"
  printf "%-30s %2s %10s %8s %10s %10s %8s\n" arch B latency_ms ratio mix_mac% mix_time% check9
  for b in 1 8; do
    base=""
    for a in efficientnet-b0 efficientnet-condconv-b0-4e efficientnet-condconv-b0-8e; do
      OPENBLAS_CORETYPE=$core "$cc" net --arch $a --batch $b --reps "${NET_REPS:-10}" -t "${NET_THREADS:-2}" \
        -o "$tmp/net_${a}_$b.h5" -q >"$tmp/net.json"
      ms=$(jq .latency_ms "$tmp/net.json")
      [[ -z $base ]] && base=$ms
      jq -r --arg a $a --argjson base "$base" \
        '"\($a) \(.batch) \(.latency_ms) \(.latency_ms / $base) \(.mixing_mac_share * 100) \(.mixing_time_share * 100) \(.counters_match_count)"' \
        "$tmp/net.json" | awk '{ printf "%-30s %2s %10.1f %8.2f %10.2f %10.2f %8s\n", $1,$2,$3,$4,$5,$6,$7 }'
    done
  done
  echo "target (d): CondConv-B0-8e / B0 latency at B = 1 <= 1.6x (ratio column, B = 1 row)"
fi
