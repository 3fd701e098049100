#!/usr/bin/env bash
# Spec quantize-climbq check 17 (SHOULD, nightly; minutes, not part of `make test`) and the issue-4
# table: Fashion-MNIST-LT rho 100, mlp, seeds 0-2. Per seed: FP32 train, PTQ (uniform, climbq) at
# 2/4/8 bits, QAT (uniform, lsq, climbq, climbq-noscale x ce, homovar) at 2 and 4 bits. Prints the
# mean/std table and checks the spec's indicative floors (exit 1 if one fails).
# Usage: quantize_climbq_check17.sh <bin_dir> [work_dir] [seeds]
set -euo pipefail
bin=$1/quantize-climbq
work=${2:-$(mktemp -d)}
seeds=${3:-0,1,2}
mkdir -p "$work"
q() { "$bin" "$@" -q --force > /dev/null; }
[ -f "$work/data.h5" ] || q make-data -o "$work/data.h5"
for s in ${seeds//,/ }; do
  [ -f "$work/fp32_s$s.h5" ] || q train -i "$work/data.h5" --seed "$s" -o "$work/fp32_s$s.h5"
  [ -f "$work/ptq_s$s.h5" ] || q compare -i "$work/data.h5" --model "$work/fp32_s$s.h5" \
    --seed "$s" --seeds "$s" --methods uniform,climbq --bits 2,4,8 -o "$work/ptq_s$s.h5"
  [ -f "$work/qat_s$s.h5" ] || q compare -i "$work/data.h5" --model "$work/fp32_s$s.h5" \
    --seed "$s" --seeds "$s" --qat --methods uniform,lsq,climbq,climbq-noscale \
    --losses ce,homovar --bits 2,4 -o "$work/qat_s$s.h5"
done
/usr/bin/python3 - "$work" "$seeds" <<'PY'
import sys, h5py, numpy as np, collections
work, seeds = sys.argv[1], [int(s) for s in sys.argv[2].split(",")]
rows = collections.defaultdict(list)
for s in seeds:
    for kind in ("ptq", "qat"):
        t = h5py.File(f"{work}/{kind}_s{s}.h5", "r")["/results/table"]
        for i in range(len(t["run"])):
            mode = t["mode"][i].decode()
            if mode != "qat" and kind == "qat":  # FP32 and PTQ rows are taken from the ptq file
                continue
            key = (mode, t["method"][i].decode(), t["loss"][i].decode() if mode != "ptq" else "-",
                   int(t["bits_w"][i]))
            rows[key].append((100 * t["acc"][i], 100 * t["few"][i]))
print(f"{'mode':5} {'method':15} {'loss':8} {'bits':>4} {'acc mean':>9} {'std':>5} {'few mean':>9} {'std':>5}  n")
for key in sorted(rows, key=lambda k: (k[0] != "fp32", k[3], k[0], k[1], k[2])):
    a = np.array(rows[key])
    print(f"{key[0]:5} {key[1]:15} {key[2]:8} {key[3]:>4} {a[:,0].mean():9.2f} {a[:,0].std(ddof=1) if len(a) > 1 else 0:5.2f} "
          f"{a[:,1].mean():9.2f} {a[:,1].std(ddof=1) if len(a) > 1 else 0:5.2f}  {len(a)}")
m = lambda *k: np.array(rows[k]).mean(axis=0)
checks = []
fp = np.array(rows[[k for k in rows if k[0] == "fp32"][0]]).mean(axis=0)
checks.append(("FP32 >= 79 %", fp[0] >= 79))
checks.append(("8-bit uniform PTQ within 1 pt", abs(m("ptq", "uniform", "-", 8)[0] - fp[0]) <= 1))
checks.append(("2-bit uniform PTQ <= 30 %", m("ptq", "uniform", "-", 2)[0] <= 30))
checks.append(("2-bit climbq PTQ >= 40 %", m("ptq", "climbq", "-", 2)[0] >= 40))
checks.append(("2-bit QAT climbq+homovar >= uniform+ce + 1 pt",
               m("qat", "climbq", "homovar", 2)[0] >= m("qat", "uniform", "ce", 2)[0] + 1))
checks.append(("4-bit QAT few climbq+homovar >= climbq-noscale+ce + 2 pts",
               m("qat", "climbq", "homovar", 4)[1] >= m("qat", "climbq-noscale", "ce", 4)[1] + 2))
bad = 0
for name, ok in checks:
    print(("PASS " if ok else "FAIL ") + name)
    bad += not ok
sys.exit(1 if bad else 0)
PY
