#!/usr/bin/env bash
# Multi-step end-to-end checks of mrf-cccp (spec section 5):
#   invariance  check 16: 1 vs 2 threads, YAML vs HDF5 model, same-seed gen runs; shards + merge
#   outputs     check 17: traces start at E(x0) and end at energy_final with time non-decreasing,
#               every dataset has `units`, the SVG is XML with one polyline per method, PNGs decode
#               to the image size; --strict / not_converged flags
# Usage: mrf_checks.sh <bin_dir> <source_dir> <check>
set -euo pipefail
bin=$1/mrf-cccp src=$2 check=$3
ex=$src/examples/mrf-cccp
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL [$check]: $*"; exit 1; }
run() { "$bin" "$@" -q > "$tmp/last.json" || fail "mrf-cccp $* exited $?"; }
json() { jq -r "$1" "$tmp/last.json"; }
same() { h5diff -q "$@" > /dev/null 2>&1 || { h5diff "$@" | head -20; fail "h5diff $*"; }; }
# Result files differ only in wall-clock times and provenance.
volatile=(--exclude-path /provenance)
for m in cccp lbfgs gd admm; do
  volatile+=(--exclude-path /results/$m/time_s --exclude-path /results/$m/trace/time_s)
done
volatile+=(--exclude-path /results/decomposition/time_s)
py=/usr/bin/python3

case $check in
invariance)
  # 1 vs 2 threads on a model large enough to use several chunks (SFS peaks, 48 x 48).
  run gen sfs --set sfs.source=peaks --set sfs.size=48 --seed 3 -o "$tmp/peaks.h5"
  run gen sfs --set sfs.source=peaks --set sfs.size=48 --seed 3 -o "$tmp/peaks2.h5"
  same --exclude-path /provenance "$tmp/peaks.h5" "$tmp/peaks2.h5"
  for t in 1 2; do
    run infer -i "$tmp/peaks.h5" --methods cccp,lbfgs --set cccp.max_outer=30 --threads $t -o "$tmp/t$t.h5"
  done
  same "${volatile[@]}" "$tmp/t1.h5" "$tmp/t2.h5"
  # The same model as YAML and as HDF5.
  run infer -i "$ex/chain.yaml" --methods cccp,lbfgs,gd,admm -o "$tmp/yaml.h5"
  run infer -i "$src/tests/cli/fixtures/mrf/good.h5" --methods cccp,lbfgs,gd,admm -o "$tmp/hdf5.h5"
  same "${volatile[@]}" "$tmp/yaml.h5" "$tmp/hdf5.h5"
  # Same-seed generated sets and their results; shards merged equal the whole run.
  run gen recon3d --seed 5 --set recon3d.instances=6 -o "$tmp/set.h5"
  run gen recon3d --seed 5 --set recon3d.instances=6 -o "$tmp/set2.h5"
  same --exclude-path /provenance "$tmp/set.h5" "$tmp/set2.h5"
  run infer -i "$tmp/set.h5" --methods cccp,lbfgs -o "$tmp/all.h5"
  [ "$(json .instances)" = 6 ] || fail "expected 6 instances"
  run infer -i "$tmp/set.h5" --methods cccp,lbfgs -o "$tmp/all2.h5" --threads 1
  same "${volatile[@]}" "$tmp/all.h5" "$tmp/all2.h5"
  run infer -i "$tmp/set.h5" --methods cccp,lbfgs --shard 1/2 -o "$tmp/p1.h5"
  run infer -i "$tmp/set.h5" --methods cccp,lbfgs --shard 0/2 -o "$tmp/p0.h5"
  [ "$(json .instances)" = 3 ] || fail "shard 0/2: expected 3 instances"
  run merge -i "$tmp/p1.h5" -i "$tmp/p0.h5" -o "$tmp/merged.h5"
  same "${volatile[@]}" "$tmp/all.h5" "$tmp/merged.h5"
  ;;
outputs)
  run infer -i "$ex/chain.yaml" --methods cccp,lbfgs,gd,admm --plot "$tmp/e.svg" -o "$tmp/r.h5"
  xmllint --noout "$tmp/e.svg" || fail "SVG is not well-formed XML"
  [ "$(grep -c '<polyline' "$tmp/e.svg")" = 4 ] || fail "expected 4 polylines (one per method)"
  run gen recon3d --seed 2 --set recon3d.instances=4 -o "$tmp/set.h5"
  run infer -i "$tmp/set.h5" --methods cccp,lbfgs --plot "$tmp/s.svg" -o "$tmp/rs.h5"
  xmllint --noout "$tmp/s.svg" || fail "set SVG is not well-formed XML"
  [ "$(grep -c '<polyline' "$tmp/s.svg")" = 2 ] || fail "set SVG: expected 2 polylines"
  [ "$(grep -c '<circle' "$tmp/s.svg")" = 4 ] || fail "set SVG: expected 4 scatter points"
  run gen denoise --set 'denoise.crop=[200,200,24,32]' --seed 1 -o "$tmp/d.h5"
  run infer -i "$tmp/d.h5" --methods cccp,lbfgs --png-prefix "$tmp/den" -o "$tmp/rd.h5"
  run gen sfs --set sfs.source=peaks --set sfs.size=20 --seed 1 -o "$tmp/p.h5"
  run infer -i "$tmp/p.h5" --methods cccp,lbfgs --set cccp.max_outer=20 --png-prefix "$tmp/sfs" -o "$tmp/rp.h5"
  [ "$(json .status)" = not_converged ] || fail "max_outer 20 on SFS: expected status not_converged"
  "$bin" infer -i "$tmp/p.h5" --methods cccp --set cccp.max_outer=20 --strict -o "$tmp/strict.h5" -q \
    > "$tmp/last.json" && fail "--strict with a max-iteration stop must exit 1"
  [ "$(json .exit_code)" = 1 ] || fail "--strict: expected exit_code 1"
  $py - "$tmp" <<'PY' || fail "result file checks"
import sys, h5py, numpy as np
from skimage.io import imread
tmp = sys.argv[1]
def check_result(path, methods):
    with h5py.File(path) as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not name.startswith("provenance"):
                assert "units" in obj.attrs, f"{path}:{name} lacks units"
        f.visititems(visit)
        for m in methods:
            g = f["results"][m]
            off = g["trace/offsets"][()]
            e, t = g["trace/energy"][()], g["trace/time_s"][()]
            for b in range(len(off) - 1):
                seg, ts = e[off[b]:off[b + 1]], t[off[b]:off[b + 1]]
                assert seg[0] == g["energy_init"][b], (path, m, "trace start")
                assert seg[-1] == g["energy_final"][b], (path, m, "trace end")
                assert np.all(np.diff(ts) >= 0), (path, m, "time decreasing")
                if m == "cccp":
                    s = np.abs(seg).max()
                    assert np.all(np.diff(seg) <= 1e-12 * s), (path, "cccp not monotone")
check_result(f"{tmp}/r.h5", ["cccp", "lbfgs", "gd", "admm"])
check_result(f"{tmp}/rs.h5", ["cccp", "lbfgs"])
check_result(f"{tmp}/rd.h5", ["cccp", "lbfgs"])
for name in ["input", "truth", "cccp", "lbfgs"]:
    assert imread(f"{tmp}/den-{name}.png").shape == (24, 32), name
for name in ["truth", "cccp", "lbfgs"]:
    assert imread(f"{tmp}/sfs-{name}.png").shape == (19, 19), name
    assert imread(f"{tmp}/sfs-{name}-depth.png").shape == (20, 20), name
PY
  ;;
*) fail "unknown check $check" ;;
esac
echo "ok [$check]"
