"""How well a time limit bounds the whole call: the wall time of ``solve()`` against its
``time_limit``, from 60 to 5,000 apps, for ``colgen`` (full-batch) and the default ``milp``
(expected), on random workloads of all four models; then eight calls at once, in threads.

Run: python benchmarks/time_limits.py > benchmarks/results/time_limits.md
"""

from __future__ import annotations

import platform
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from harmonybatch_mp import solve
from harmonybatch_mp.families import _random
from harmonybatch_mp.profiles import BUILTIN_MODELS
from harmonybatch_mp.solvers.kernels import COLGEN, EXPECTED, ready

#: (apps, seconds) per table row group.
CASES = ((60, 3.0), (150, 3.0), (1000, 1.0), (5000, 5.0))
SOLVERS = (("colgen", "full-batch"), ("milp", "expected"))
#: Calls at once (threads), their time limit, and the rounds of them.
CROWD, CROWD_LIMIT, CROWD_ROUNDS = 8, 6.0, 3


def main() -> None:
    print("# Time limits\n")
    print(f"Machine: {platform.machine()}, Python {platform.python_version()}, 2 cores. Random workloads "
          "(family `random`, seed n), one call each; `over` is the wall time of the whole `solve()` call "
          "less its `time_limit`.\n")
    print("    python benchmarks/time_limits.py\n")
    print("| n | limit | model | solver | cost model | wall time | over | status |")
    print("|---|---|---|---|---|---|---|---|")
    ready(COLGEN, None)
    ready(EXPECTED, None)
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
    crowd()


def crowd() -> None:
    """Eight calls at once, each in its own thread, on random workloads (seeds 0-7, the four
    models in turn): ``milp`` under ``expected`` on 20 apps with its bound given the whole
    limit (``bound_time=60``), and ``colgen`` under ``full-batch`` on 60 apps."""
    print(f"\n## {CROWD} calls at once\n")
    print(f"{CROWD} threads, each one `solve()` call on random apps (seeds 0-{CROWD - 1}, the four models in "
          f"turn), `time_limit={CROWD_LIMIT:g}`; {CROWD_ROUNDS} rounds. `over`: the latest call's wall time less "
          "the limit.\n")
    print("| solver | cost model | n | round | wall times | over |")
    print("|---|---|---|---|---|---|")
    for solver, cost_model, n, extra in (("milp", "expected", 20, {"bound_time": 60.0}),
                                         ("colgen", "full-batch", 60, {})):
        jobs = [(_random(np.random.default_rng(s), BUILTIN_MODELS[s % 4], n), BUILTIN_MODELS[s % 4])
                for s in range(CROWD)]

        def call(job, solver=solver, cost_model=cost_model, extra=extra) -> float:
            t = time.perf_counter()
            solve(job[0], job[1], solver=solver, cost_model=cost_model, time_limit=CROWD_LIMIT, **extra)
            return time.perf_counter() - t

        for r in range(CROWD_ROUNDS):
            with ThreadPoolExecutor(CROWD) as pool:
                walls = list(pool.map(call, jobs))
            print(f"| {solver} | {cost_model} | {n} | {r + 1} | {min(walls):.3f}-{max(walls):.3f} s "
                  f"| {max(walls) - CROWD_LIMIT:+.3f} s |", flush=True)


if __name__ == "__main__":
    main()
