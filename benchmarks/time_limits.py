"""How well a time limit bounds the whole call: the wall time of ``solve()`` against its
``time_limit``, from 60 to 5,000 apps, for ``colgen`` (full-batch) and the default ``milp``
(expected), on random workloads of all four models.

Run: python benchmarks/time_limits.py > benchmarks/results/time_limits.md
"""

from __future__ import annotations

import platform
import time

import numpy as np

from harmonybatch_mp import solve
from harmonybatch_mp.families import _random
from harmonybatch_mp.profiles import BUILTIN_MODELS
from harmonybatch_mp.solvers.kernels import COLGEN, ready

#: (apps, seconds) per table row group.
CASES = ((60, 3.0), (150, 3.0), (1000, 1.0), (5000, 5.0))
SOLVERS = (("colgen", "full-batch"), ("milp", "expected"))


def main() -> None:
    print("# Time limits\n")
    print(f"Machine: {platform.machine()}, Python {platform.python_version()}, 2 cores. Random workloads "
          "(family `random`, seed n), one call each; `over` is the wall time of the whole `solve()` call "
          "less its `time_limit`.\n")
    print("    python benchmarks/time_limits.py\n")
    print("| n | limit | model | solver | cost model | wall time | over | status |")
    print("|---|---|---|---|---|---|---|---|")
    ready(COLGEN, None)
    worst: dict[int, float] = {}
    for n, limit in CASES:
        rng = np.random.default_rng(n)
        for model in BUILTIN_MODELS:
            w = _random(rng, model, n)
            for solver, cost_model in SOLVERS:
                t = time.perf_counter()
                try:
                    status = solve(w, model, solver=solver, cost_model=cost_model, time_limit=limit).solver.status
                except Exception as exc:  # a call with no plan by the limit is a row too
                    status = type(exc).__name__
                wall = time.perf_counter() - t
                worst[n] = max(worst.get(n, -np.inf), wall - limit)
                print(f"| {n} | {limit:g} s | {model} | {solver} | {cost_model} | {wall:.3f} s "
                      f"| {wall - limit:+.3f} s | {status} |", flush=True)
    print("\nMost over the limit: " + ", ".join(f"n = {n}: {s:+.3f} s" for n, s in worst.items()) + ".")


if __name__ == "__main__":
    main()
