"""Side constraints under the expected-batch model: the plan and the gap ``milp`` proves.

Random workloads of all four models (family ``random``, seed 3000 + n), ``solve()`` under
``expected`` (the default solver, ``milp``) with the time limit given, first without side
constraints and then under each cap set against that plan: ``max_gpu``, one GPU function fewer
than it has (where it has one); ``max_functions``, one function fewer (where it has two or
more); ``gpu_budget``, half the GPU memory it uses, in whole GB (where it uses any). Records
the status, the gap the certificate proves (``formulations/column_generation.md``, "Count rows
under expected"; ``formulations/contiguous_shortest_path.md``, "Under expected"), the plan's
cost against the plan without constraints, and whether the plan keeps the constraint.

Run: python benchmarks/expected_sides.py [--sizes 100] [--limit 20] > benchmarks/results/expected_sides.md
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from harmonybatch_mp import SideConstraints, solve
from harmonybatch_mp.families import _random
from harmonybatch_mp.profiles import BUILTIN_MODELS

#: Sizes of the run (random workloads).
SIZES = (100,)
#: Seconds per ``solve()``.
LIMIT = 20.0


def caps(plan) -> dict[str, SideConstraints]:
    """The constraints set against the unconstrained ``plan``: each where it binds it."""
    gpus = [g for g in plan.groups if g.kind == "gpu"]
    memory = sum(g.gpu_mem_gb for g in gpus)
    out = {}
    if gpus:
        out["max_gpu"] = SideConstraints(max_gpu_functions=len(gpus) - 1)
    if len(plan.groups) > 1:
        out["max_functions"] = SideConstraints(max_functions=len(plan.groups) - 1)
    if memory >= 2:
        out["gpu_budget"] = SideConstraints(gpu_memory_budget=memory // 2)
    return out


def _kept(plan, side: SideConstraints) -> bool:
    groups = plan.groups
    return ((side.max_functions is None or len(groups) <= side.max_functions)
            and (side.max_gpu_functions is None or sum(g.kind == "gpu" for g in groups) <= side.max_gpu_functions)
            and (side.gpu_memory_budget is None or sum(g.gpu_mem_gb or 0 for g in groups) <= side.gpu_memory_budget))


def _row(n: int, model: str, name: str, side: SideConstraints | None, plan, free, took: float) -> str:
    s = plan.solver
    gb = sum(g.gpu_mem_gb or 0 for g in plan.groups)
    gpus = sum(g.kind == "gpu" for g in plan.groups)
    return (f"| {n} | {model} | {name} | {took:.1f} s | {s.status} | "
            f"{'-' if s.gap is None else f'{s.gap:.3%}'} | {plan.total_cost:.4e} | "
            f"{plan.total_cost / free.total_cost - 1:+.3%} | {len(plan.groups)} ({gpus}, {gb} GB) | "
            f"{'-' if side is None else 'yes' if _kept(plan, side) else 'NO'} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="numbers of apps (default: 100)")
    ap.add_argument("--limit", type=float, default=LIMIT, help="seconds per solve() (default: 20)")
    args = ap.parse_args()
    if min(args.sizes) < 1:
        ap.error(f"--sizes: expected numbers of apps of at least 1, got {min(args.sizes)}")
    if not 0 < args.limit < float("inf"):
        ap.error(f"--limit: expected a finite number of seconds above 0, got {args.limit:g}")
    print("# Side constraints under the expected-batch model\n")
    print(f"Machine: {platform.machine()}, Python {platform.python_version()}, 2 cores.\n")
    print(f"    python benchmarks/expected_sides.py --sizes {' '.join(map(str, args.sizes))} --limit {args.limit:g}\n")
    print("`vs none`: the plan's cost against the plan without side constraints. `functions`: the plan's "
          "functions (GPU functions, GB of GPU memory). `kept`: the constraint, checked on the plan.\n")
    print("| n | model | constraint | time | status | gap | cost | vs none | functions | kept |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        rng = np.random.default_rng(3000 + n)
        for model in BUILTIN_MODELS:
            w = _random(rng, model, n)
            t = time.perf_counter()
            free = solve(w, model, cost_model="expected", time_limit=args.limit)
            print(_row(n, model, "none", None, free, free, time.perf_counter() - t), flush=True)
            for name, side in caps(free).items():
                t = time.perf_counter()
                try:
                    plan = solve(w, model, cost_model="expected", time_limit=args.limit, side=side)
                except Exception as exc:  # a constraint no plan keeps is reported, not fatal
                    print(f"| {n} | {model} | {name} | {time.perf_counter() - t:.1f} s | {type(exc).__name__} "
                          "| - | - | - | - | - |", flush=True)
                    continue
                print(_row(n, model, name, side, plan, free, time.perf_counter() - t), flush=True)
    print()


if __name__ == "__main__":
    main()
