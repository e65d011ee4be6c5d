"""The default solver on 5,000 apps with a 60 s limit: time, status, gap and peak memory.

Run: python benchmarks/large.py > benchmarks/results/large.md
"""

from __future__ import annotations

import platform
import resource
import time

import numpy as np

from harmonybatch_mp import solve
from harmonybatch_mp.families import _random


def main() -> None:
    w = _random(np.random.default_rng(5), "VGG19", 5000)
    print("# 5,000 apps, default solver (`milp`), 60 s limit\n")
    print(f"Machine: {platform.machine()}, Python {platform.python_version()}, 2 cores. "
          "Workload: family `random` draw for VGG19 (seed 5).\n")
    print("    python benchmarks/large.py\n")
    print("| cost model | wall time | status | gap to the global bound | scope | peak memory (process) |")
    print("|---|---|---|---|---|---|")
    for cm in ("expected", "full-batch"):
        t = time.perf_counter()
        p = solve(w, "VGG19", solver="milp", cost_model=cm, time_limit=60)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"| {cm} | {time.perf_counter() - t:.1f} s | {p.solver.status} | {p.solver.gap:.1%} "
              f"| {p.solver.scope} | {rss:.0f} MB |", flush=True)


if __name__ == "__main__":
    main()
