"""Scale without surprise: `harmonybatch-mp plan` on large workloads, time and peak memory.

Each run is a fresh process (``python -m harmonybatch_mp plan --workload FILE --json``)
so the figures include imports and are what a user sees; peak memory is the child's
maximum resident set size (``os.wait4``). Workloads: n apps, SLO uniform on 0.2-2.0 s,
rates log-uniform on 0.1-31.6 requests/s, seed 1.

    python benchmarks/scale.py                      # n = 300, 1000, 5000; default solver
    python benchmarks/scale.py --n 1000 --solver dp greedy --cost-model full-batch
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def workload_csv(n: int, seed: int, folder: Path) -> Path:
    rng = np.random.default_rng(seed)
    path = folder / f"w{n}.csv"
    rows = [f"a{i},{rng.uniform(0.2, 2.0):.4f},{10 ** rng.uniform(-1, 1.5):.4f}" for i in range(n)]
    path.write_text("name,slo,rate\n" + "\n".join(rows) + "\n")
    return path


#: Runs the CLI in the child and reports its own peak resident set size (KB) on stderr's last line.
_CHILD = ("import resource, runpy, sys\n"
          "sys.argv = ['harmonybatch-mp'] + sys.argv[1:]\n"
          "try:\n    runpy.run_module('harmonybatch_mp', run_name='__main__')\n"
          "finally:\n    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n")


def run(path: Path, solver: str, model: str, cost_model: str) -> dict:
    cmd = [sys.executable, "-c", _CHILD, "plan", "--workload", str(path), "--json", "--solver", solver,
           "--model", model, "--cost-model", cost_model]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    *_, peak_kb = p.stderr.strip().splitlines() or ["0"]
    if p.returncode != 0:
        return {"error": p.stderr[-300:], "wall_s": wall}
    d = json.loads(p.stdout)
    return {"wall_s": wall, "solver_s": d["solver"]["wall_time_s"], "status": d["solver"]["status"],
            "scope": d["solver"]["scope"], "cost": d["total_cost"], "gap": d["solver"]["gap"],
            "groups": len(d["groups"]), "peak_mb": int(peak_kb) / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[300, 1000, 5000])
    ap.add_argument("--solver", nargs="+", default=["milp"])
    ap.add_argument("--model", default="VGG19")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cost-model", default="expected", choices=("expected", "full-batch"))
    args = ap.parse_args()
    print("| n | solver | wall (s) | solver (s) | peak RSS (MB) | status | scope | gap to global bound | groups |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        for n in args.n:
            path = workload_csv(n, args.seed, Path(d))
            for solver in args.solver:
                r = run(path, solver, args.model, args.cost_model)
                if "error" in r:
                    print(f"| {n} | {solver} | {r['wall_s']:.1f} | error: {r['error']!r} |")
                    continue
                gap = "none" if r["gap"] is None else f"{r['gap']:.1%}"
                print(f"| {n} | {solver} | {r['wall_s']:.1f} | {r['solver_s']:.1f} | {r['peak_mb']:.0f} | "
                      f"{r['status']} | {r['scope'] or '-'} | {gap} | {r['groups']} |", flush=True)


if __name__ == "__main__":
    main()
