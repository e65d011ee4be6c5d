"""Profile a real small network on this machine's CPU, fit a profile, and plan with it.

The network is a 4-layer numpy MLP (1024 -> 2048 -> 2048 -> 2048 -> 1000, ReLU) with
randomly initialised weights: no downloads. Its batch inference is timed at batch sizes
1-4 on 0.2, 0.3, 0.5, 0.75, 1 and 2 vCPU (fractions of a core are emulated as a CPU quota; 1 and 2
use that many BLAS threads), the CPU latency curves are fitted, and the default 8-app
workload is planned on CPU functions with the fitted (CPU-only) profile.

Run: python examples/profile_numpy_mlp.py [--repeats 7] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from harmonybatch_mp import check_plan, parse_apps, preset, solve
from harmonybatch_mp.profiler import (
    ProfileFitWarning,
    fit_profile,
    measurements_from_rows,
    profile_callable,
    write_measurements,
)
from harmonybatch_mp.report import format_plan

LAYERS = (1024, 2048, 2048, 2048, 1000)


def make_mlp(seed: int = 0):
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((a, b)).astype(np.float32) / np.sqrt(a) for a, b in zip(LAYERS, LAYERS[1:])]
    inputs = rng.standard_normal((4, LAYERS[0])).astype(np.float32)

    def infer(batch: int) -> np.ndarray:
        x = inputs[:batch]
        for w in weights[:-1]:
            x = np.maximum(x @ w, 0.0)
        return x @ weights[-1]

    def memory_mb(batch: int) -> float:  # weights plus activations, float32
        return (sum(w.nbytes for w in weights) + batch * sum(LAYERS) * 4) / 2**20 + 300.0

    return infer, memory_mb


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out-dir", default=".")
    args = ap.parse_args(argv)
    out = Path(args.out_dir)
    t0 = time.perf_counter()
    infer, memory_mb = make_mlp()
    rows = profile_callable(infer, batches=range(1, 5), vcpus=(0.2, 0.3, 0.5, 0.75, 1, 2), repeats=args.repeats,
                            memory=memory_mb)
    write_measurements(rows, out / "mlp_measurements.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProfileFitWarning)
        result = fit_profile(measurements_from_rows(rows), name="numpy-MLP",
                             source="examples/profile_numpy_mlp.py on this machine")
    (out / "mlp_profile.json").write_text(json.dumps(result.profile.to_dict(), indent=2) + "\n")
    print(result.report())
    plan = solve(parse_apps("0.3:2,0.4:2,0.5:5,0.6:5,0.7:10,0.8:10,0.9:20,1.0:20"), result.profile, preset(),
                 solver="milp")
    check_plan(plan)
    print()
    print(format_plan(plan))
    print(f"\nprofiled, fitted and planned in {time.perf_counter() - t0:.1f} s")
    return {"fit": result, "plan": plan}


if __name__ == "__main__":
    main()
