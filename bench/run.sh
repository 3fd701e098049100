#!/usr/bin/env bash
# Runs every benchmark binary bin_dir/bench_* and prints their tables (make bench).
#   bash bench/run.sh <bin_dir> [extra args passed to every benchmark, e.g. --json]
# One thread per side (OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1). OPENBLAS_CORETYPE, if unset, is
# chosen from the CPU flags (Debian's OpenBLAS 0.3.21 falls back to SSE3 "Prescott" kernels on
# recent Xeons): SkylakeX with AVX-512 F/BW/DQ/VL, else Haswell with AVX2 + FMA.
# psytrack side by side (spec psytrack-fit 7b): when PSYTRACK_SRC names a nicholas-roy/psytrack
# checkout and /usr/bin/python3 has numpy, scipy and h5py, psytrack_side_by_side.py runs psytrack
# on the same inputs first and bench_psytrack_fit adds its figures (PSYTRACK_XVAL=1 adds
# psytrack's crossValidate, which takes many minutes).
set -euo pipefail

if [[ $# -lt 1 || ! -d $1 ]]; then
  echo "usage: bash bench/run.sh <bin_dir> [benchmark args]" >&2
  exit 64
fi
bin_dir=$(cd "$1" && pwd)
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
source "$here/lib.sh"
if [[ -z ${OPENBLAS_CORETYPE:-} ]]; then
  core=$(bench_openblas_core)
  [[ -n $core ]] && export OPENBLAS_CORETYPE=$core
fi
echo "bench: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1"
echo "bench: CPU $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || echo unknown)"

shopt -s nullglob
benches=("$bin_dir"/bench_*)
if [[ ${#benches[@]} -eq 0 ]]; then
  echo "bench: no bench_* executables in $bin_dir" >&2
  exit 1
fi

# --- psytrack side by side -------------------------------------------------------------------
psytrack_args=()
tmp=""
cleanup() { if [[ -n $tmp ]]; then rm -rf "$tmp"; fi; }
trap cleanup EXIT
if [[ -x $bin_dir/bench_psytrack_fit ]]; then
  if [[ -z ${PSYTRACK_SRC:-} ]]; then
    echo "psytrack side by side: skipped: PSYTRACK_SRC not set"
  elif [[ ! -f $PSYTRACK_SRC/psytrack/__init__.py ]]; then
    echo "psytrack side by side: skipped: $PSYTRACK_SRC/psytrack/__init__.py not found"
  elif ! /usr/bin/python3 -c 'import numpy, scipy, h5py' 2>/dev/null; then
    echo "psytrack side by side: skipped: /usr/bin/python3 lacks numpy/scipy/h5py" \
      "(apt-get install python3-numpy python3-scipy python3-h5py)"
  else
    tmp=$(mktemp -d)
    ref_dir=${EFFINFER_SHARED_DIR:-/work/shared}/reference/psytrack
    inputs=("$ref_dir"/*.h5)
    "$bin_dir/bench_psytrack_fit" --write-sim "$tmp/sim_K3_N20000.h5"
    inputs+=("$tmp/sim_K3_N20000.h5")
    xval=()
    [[ ${PSYTRACK_XVAL:-0} == 1 ]] && xval=(--xval)
    commit=$(git -C "$PSYTRACK_SRC" rev-parse --short HEAD 2>/dev/null || echo "not a git checkout")
    echo "psytrack side by side: $PSYTRACK_SRC ($commit) on ${#inputs[@]} inputs"
    if PYTHONPATH="$PSYTRACK_SRC${PYTHONPATH:+:$PYTHONPATH}" /usr/bin/python3 \
      "$here/psytrack_side_by_side.py" "${xval[@]}" --out "$tmp/psytrack.tsv" "${inputs[@]}"; then
      psytrack_args=(--psytrack-times "$tmp/psytrack.tsv")
    else
      echo "psytrack side by side: the psytrack driver failed; continuing without it"
    fi
  fi
fi

# --- our benchmarks ----------------------------------------------------------------------------
status=0
for b in "${benches[@]}"; do
  [[ -x $b ]] || continue
  echo
  echo "=== $(basename "$b")"
  args=("$@")
  [[ $(basename "$b") == bench_psytrack_fit ]] && args+=("${psytrack_args[@]}")
  "$b" "${args[@]}" || { echo "bench: $(basename "$b") failed (exit $?)"; status=1; }
done
exit $status
