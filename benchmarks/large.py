"""The default solver on 5,000 apps with a 60 s limit, without and with each kind of side
constraint: time, status, gap and peak memory. Each row runs in a fresh process, so its peak
memory is its own.

Run: python benchmarks/large.py > benchmarks/results/large.md
"""

from __future__ import annotations

import platform
import resource
import subprocess
import sys
import time

import numpy as np

from harmonybatch_mp import HarmonyBatchError, SideConstraints, solve
from harmonybatch_mp.families import _random

N, SEED, LIMIT = 5000, 5, 60.0
#: The side constraints of the rows, by name.
SIDES = {
    "-": None,
    "max_gpu_functions=4": SideConstraints(max_gpu_functions=4),
    "max_functions=10": SideConstraints(max_functions=10),
    "gpu_memory_budget=24": SideConstraints(gpu_memory_budget=24.0),
    "three isolated pairs": SideConstraints(isolate=(("app1", "app2"), ("app3", "app4"), ("app5", "app6"))),
    "app7 pinned to cpu": SideConstraints(pin={"app7": "cpu"}),
}


def row(cost_model: str, side: str) -> str:
    """One row: the call, timed, in this process."""
    w = _random(np.random.default_rng(SEED), "VGG19", N)
    t = time.perf_counter()
    try:
        p = solve(w, "VGG19", solver="milp", cost_model=cost_model, side=SIDES[side], time_limit=LIMIT)
        outcome = f"{p.solver.status} | {p.solver.gap:.2%} | {len(p.groups)} | {p.solver.scope}"
    except HarmonyBatchError as exc:
        outcome = f"{type(exc).__name__} | - | - | {exc}"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return f"| {cost_model} | {side} | {time.perf_counter() - t:.1f} s | {outcome} | {rss:.0f} MB |"


def main() -> None:
    print(f"# {N:,} apps, default solver (`milp`), {LIMIT:.0f} s limit\n")
    print(f"Machine: {platform.machine()}, Python {platform.python_version()}, 2 cores. "
          f"Workload: family `random` draw for VGG19 (seed {SEED}); app names `app0`, `app1`, ...\n")
    print("    python benchmarks/large.py\n")
    print("| cost model | side constraints | wall time | status | gap to the global bound | groups | scope "
          "| peak memory (process) |")
    print("|---|---|---|---|---|---|---|---|")
    for cm in ("expected", "full-batch"):
        for side in SIDES:
            out = subprocess.run([sys.executable, __file__, cm, side], capture_output=True, text=True, check=True)
            print(out.stdout.strip(), flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 3:
        print(row(*sys.argv[1:]))
    else:
        main()
