#!/usr/bin/python3
"""Times the official PsyTrack (nicholas-roy/psytrack v2.0.2) on psytrack-fit input files.

Spec psytrack-fit section 7b: psytrack's getMAP, getCredibleInterval, hyperOpt (and, with --xval,
crossValidate) through its public API on the same HDF5 inputs and inits the C++ benchmark uses, so
bench_psytrack_fit can print both side by side. Run by bench/run.sh when PSYTRACK_SRC is set:

    PYTHONPATH=$PSYTRACK_SRC /usr/bin/python3 bench/psytrack_side_by_side.py --out t.tsv FILE...

Per input file (psytrack-fit input schema; the reference files qualify as they are):
  - hyperOpt start: /hyperopt/hyper_init (reference files) or /init (bench_psytrack_fit
    --write-sim), datasets sigma / sigInit / sigDay; optList from that group's parent attribute
    (reference files) or the /init attribute.
  - getMAP at /map_fixed/hyper when present, else at the hyperOpt start, from zero.
Writes one TSV row per phase: dataset, phase (map, wstd, fit, xval), CPU s (time.process_time),
wall s, logEvd (xval: xval_logli). Single-threaded when run with OPENBLAS_NUM_THREADS=1
OMP_NUM_THREADS=1 (run.sh sets them).
"""

import argparse
import json
import os
import sys
import time
import types

import h5py
import numpy as np


def load(path):
    """Returns (name, dat, weights, map_hyper, init_hyper, opt_list) for one input file."""
    with h5py.File(path, "r") as f:
        y = np.asarray(f["y"][()]).astype(np.int64).ravel()
        if set(np.unique(y).tolist()) <= {0, 1}:
            y = y + 1  # psytrack's internal coding; passing {1, 2} keeps getMAP from editing y
        weights = {str(k): int(v) for k, v in json.loads(_text(f.attrs["weights"])).items()}
        inputs = {}
        for name in weights:
            if name == "bias" or weights[name] == 0:
                continue
            x = np.asarray(f["inputs/" + name][()], dtype=float)
            inputs[name] = x.reshape(-1, 1) if x.ndim == 1 else x
        dat = {"y": y, "inputs": inputs}
        if "dayLength" in f:
            dat["dayLength"] = np.asarray(f["dayLength"][()]).astype(int)
        if "hyperopt/hyper_init" in f:
            init_group, opt_owner = "hyperopt/hyper_init", "hyperopt"
        elif "init" in f:
            init_group, opt_owner = "init", "init"
        else:
            raise SystemExit(path + ": no /hyperopt/hyper_init or /init group with the start")
        init = _hyper(f[init_group])
        opt_list = [s for s in _text(f[opt_owner].attrs["optList"]).split(",") if s]
        map_hyper = _hyper(f["map_fixed/hyper"]) if "map_fixed/hyper" in f else dict(init)
    name = os.path.splitext(os.path.basename(path))[0]
    return name, dat, weights, map_hyper, init, opt_list


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _hyper(group):
    hyper = {}
    for key in ("sigma", "sigInit", "sigDay"):
        if key in group:
            value = np.asarray(group[key][()], dtype=float)
            hyper[key] = float(value) if value.ndim == 0 else value
        else:
            hyper[key] = None
    return hyper


def fresh(dat):
    """psytrack adds keys to (and may edit) the dict it is given: each call gets its own copy."""
    out = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in dat.items()}
    out["inputs"] = dict(dat["inputs"])
    return out


def import_psytrack(src):
    """Imports the psytrack package from src (or sys.path). Its __init__ also imports the plot
    module, which needs matplotlib; without it, the package is registered without running
    __init__ so that the computational submodules still import."""
    if src and src not in sys.path:
        sys.path.insert(0, src)
    try:
        import psytrack  # noqa: F401
    except ImportError as e:
        roots = [src] if src else sys.path
        for root in roots:
            pkg_dir = os.path.join(root or ".", "psytrack")
            if os.path.isfile(os.path.join(pkg_dir, "getMAP.py")):
                for name in [m for m in sys.modules if m == "psytrack" or m.startswith("psytrack.")]:
                    del sys.modules[name]
                pkg = types.ModuleType("psytrack")
                pkg.__path__ = [pkg_dir]
                sys.modules["psytrack"] = pkg
                print("psytrack: package __init__ not run (%s); using its submodules" % e)
                return
        raise


def timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.process_time() - c0, time.perf_counter() - w0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--out", required=True, help="TSV for bench_psytrack_fit --psytrack-times")
    ap.add_argument("--xval", action="store_true", help="also run crossValidate (F 10, seed 7)")
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    import_psytrack(os.environ.get("PSYTRACK_SRC"))
    from psytrack.getMAP import getMAP
    from psytrack.helper.crossValidation import crossValidate
    from psytrack.helper.invBlkTriDiag import getCredibleInterval
    from psytrack.hyperOpt import hyperOpt

    rows = []
    print("%-24s %-5s %10s %10s %14s" % ("psytrack: dataset", "phase", "CPU s", "wall s",
                                         "logEvd"))
    for path in args.files:
        name, dat, weights, map_hyper, init, opt_list = load(path)

        def report(phase, cpu, wall, value):
            rows.append((name, phase, cpu, wall, value))
            print("%-24s %-5s %10.3f %10.3f %14.4f" % (name, phase, cpu, wall, value), flush=True)

        (_, hess, log_evd, _), cpu, wall = timed(
            lambda: getMAP(fresh(dat), map_hyper, weights))
        report("map", cpu, wall, log_evd)
        _, cpu, wall = timed(lambda: getCredibleInterval(hess))
        report("wstd", cpu, wall, float("nan"))
        # hyperOpt's default hess_calc='weights' includes the credible intervals (W_std).
        (_, log_evd, _, _), cpu, wall = timed(
            lambda: hyperOpt(fresh(dat), init, weights, opt_list))
        report("fit", cpu, wall, log_evd)
        if args.xval:
            (xval_logli, _), cpu, wall = timed(lambda: crossValidate(
                fresh(dat), init, weights, opt_list, F=args.folds, seed=args.seed,
                verbose=False))
            report("xval", cpu, wall, xval_logli)

    with open(args.out, "w") as out:
        out.write("# dataset\tphase\tcpu_s\twall_s\tlogEvd\n")
        for name, phase, cpu, wall, value in rows:
            out.write("%s\t%s\t%.6f\t%.6f\t%s\n" % (
                name, phase, cpu, wall, "" if np.isnan(value) else "%.10f" % value))


if __name__ == "__main__":
    main()
