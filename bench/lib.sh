# Shell helpers shared by the benchmark drivers (sourced, not run).

# The OpenBLAS core for this CPU: Debian's OpenBLAS 0.3.21 does not recognise recent Xeons and
# silently uses its SSE3 "Prescott" kernels (about 5x slower), so the drivers name the core.
# Prints SkylakeX (AVX-512 F/BW/DQ/VL), Haswell (AVX2 + FMA) or nothing.
bench_openblas_core() {
  local flags
  flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
  has() { [[ " $flags " == *" $1 "* ]]; }
  if has avx512f && has avx512bw && has avx512dq && has avx512vl; then
    echo SkylakeX
  elif has avx2 && has fma; then
    echo Haswell
  fi
}

# bench_build_native <source_dir> <build_dir> <target> <label>: Release build with
# -march=native of one target; its log is shown only on failure. Prints the binary's path.
bench_build_native() {
  local root=$1 build=$2 target=$3 label=$4 log
  echo "$label: building $target in $build (EFFINFER_MARCH=native)" >&2
  mkdir -p "$build"
  log=$build/${target}_build.log
  if ! { cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DEFFINFER_MARCH=native &&
    cmake --build "$build" --target "$target" -j2; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "$label: build failed (log: $log)" >&2
    return 1
  fi
  echo "$build/bin/$target"
}
