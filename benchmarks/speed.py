"""Speed and quality benchmarks of provisioning and the plan solvers.

Each timing is the median of --repeat runs on this machine (wall clock, warm caches
except where noted). Workloads are random with a fixed seed: SLOs 0.3-1.5 s, rates
1-40 rps (log-uniform), VGG19 unless stated, preset reference.

Run: python benchmarks/speed.py [--repeat 7] > benchmarks/results/speed.md
"""

from __future__ import annotations

import argparse
import platform as pyplatform
import random
import statistics
import time

import numpy as np

from harmonybatch_mp import (
    BUILTIN_MODELS,
    App,
    Workload,
    builtin_profile,
    config_grid,
    preset,
    provision_group,
    provision_group_fast,
    solve,
)
from harmonybatch_mp.families import _random
from harmonybatch_mp.grid import _config_grid as _grid
from harmonybatch_mp.solvers import Problem, as_instance
from harmonybatch_mp.solvers.expected_bound import expected_bound
from harmonybatch_mp.solvers.kernels import EXPECTED, ready


def workload(n: int, seed: int) -> Workload:
    rng = random.Random(seed)
    return Workload([App(f"a{i}", round(rng.uniform(0.3, 1.5), 3), round(10 ** rng.uniform(0, 1.6), 2))
                     for i in range(n)])


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    r = args.repeat
    ref = preset()
    vgg = builtin_profile("VGG19")
    print(f"Machine: {pyplatform.processor() or pyplatform.machine()}, Python {pyplatform.python_version()}; "
          f"median of {r} runs.\n")

    print("## Group provisioning (one group, whole grid of 2,048 configurations)\n")
    print("| what | time |")
    print("|---|---|")
    _grid.cache_clear()
    t = time.perf_counter()
    config_grid(vgg, ref)
    print(f"| build the configuration grid (once per profile and platform, cold) | {1e3 * (time.perf_counter() - t):.2f} ms |")
    for n in (1, 4, 8):
        apps = list(workload(n, 1).apps)
        print(f"| exhaustive optimum, group of {n} apps | "
              f"{1e3 * median_time(lambda apps=apps: [provision_group(apps, vgg, ref) for _ in range(100)], r) / 100:.3f} ms |")

    from harmonybatch_mp.fast_path import _point_feasible

    apps = sorted(workload(8, 1).apps, key=lambda a: a.sort_key)
    grid = config_grid(vgg, ref)

    def scalar():  # the same search, one configuration at a time in Python
        best = min((i for i in range(len(grid)) if _point_feasible(grid, i, apps)), key=lambda i: grid.cost[i])
        return best

    assert scalar() == provision_group(apps, vgg, ref).index
    print(f"| same search one configuration at a time in Python (8 apps; what numpy saves) | "
          f"{1e3 * median_time(scalar, r):.2f} ms |")
    print(f"| the paper's fast path (Theorems 1-2, a few dozen configurations; `provision_group_fast`), 8 apps | "
          f"{1e3 * median_time(lambda: [provision_group_fast(apps, vgg, ref) for _ in range(10)], r) / 10:.3f} ms |")

    print("\n## Greedy (the paper's Algorithm 1)\n")
    print("| apps | time |")
    print("|---|---|")
    for n in (8, 32, 300):
        w = workload(n, 2)
        print(f"| {n} | {1e3 * median_time(lambda w=w: solve(w, vgg, ref, solver='greedy'), r):.1f} ms |")

    print("\n## MILP, all subsets, including candidate generation (8 apps per model; 12 apps VGG19)\n")
    print("Both cost models; `expected` searches every group's configurations and timeout levels "
          "(formulations/model.md section 12).\n")
    print("| model | apps | candidate groups | columns (expected) | full-batch time | expected time | ratio "
          "| greedy gap (expected) | dp gap (expected) |")
    print("|---|---|---|---|---|---|---|---|---|")
    cases = [(m, 8) for m in BUILTIN_MODELS] + [("VGG19", 12)]
    for model, n in cases:
        profile = builtin_profile(model)
        w = workload(n, 3)
        solve(w, profile, ref, solver="milp")  # imports and grid tables once
        times = {cm: median_time(lambda w=w, p=profile, cm=cm: solve(w, p, ref, solver="milp", cost_model=cm), r)
                 for cm in ("full-batch", "expected")}
        plan = solve(w, profile, ref, solver="milp")
        greedy = solve(w, profile, ref, solver="greedy").total_cost
        dp = solve(w, profile, ref, solver="dp").total_cost
        print(f"| {model} | {n} | {plan.solver.candidate_groups} | {plan.solver.columns} "
              f"| {1e3 * times['full-batch']:.0f} ms | {1e3 * times['expected']:.0f} ms "
              f"| {times['expected'] / times['full-batch']:.1f}x "
              f"| {greedy / plan.total_cost - 1:+.2%} | {dp / plan.total_cost - 1:+.2%} |")

    print("\n## Gap of the heuristics to the optimum (milp), 20 random 8-app workloads per model and preset\n")
    print("| model | preset | greedy min / median / max | dp max | mbs median | batch median |")
    print("|---|---|---|---|---|---|")
    for model in BUILTIN_MODELS:
        for name in ("reference", "paper"):
            profile, platform = builtin_profile(model), preset(name)
            gaps = {"greedy": [], "dp": [], "mbs": [], "batch": []}
            for seed in range(20):
                w = workload(8, 100 + seed)
                best = solve(w, profile, platform, solver="milp").total_cost
                for s in gaps:
                    try:
                        gaps[s].append(solve(w, profile, platform, solver=s).total_cost / best - 1)
                    except Exception:  # batch has no plan when an app needs a GPU
                        pass
            g = sorted(gaps["greedy"])

            def pct(x):  # float noise of ~1e-16 printed as 0
                return f"{x if abs(x) > 1e-12 else 0.0:+.1%}"

            med = statistics.median
            batch = f"{pct(med(gaps['batch']))} ({len(gaps['batch'])} feasible)" if gaps["batch"] else "no CPU-only plan"
            print(f"| {model} | {name} | {pct(g[0])} / {pct(med(g))} / {pct(g[-1])} | {pct(max(gaps['dp']))} "
                  f"| {pct(med(gaps['mbs']))} | {batch} |")

    print("\n## DP over SLO-contiguous groups\n")
    print("| apps | max run | time | greedy gap to dp |")
    print("|---|---|---|---|")
    for n, run in ((100, 32), (1000, 32)):
        w = workload(n, 4)
        t = median_time(lambda w=w, run=run: solve(w, vgg, ref, solver="dp", max_run=run), max(1, r // 2))
        gap = solve(w, vgg, ref, solver="greedy").total_cost / solve(w, vgg, ref, solver="dp", max_run=run).total_cost - 1
        print(f"| {n} | {run} | {t:.2f} s | {gap:+.2%} |")

    print("\n## Bound under `expected`: 20 rounds of the relaxed column generation (`expected_bound`)\n")
    print("The n = 100 random draws of `colgen.py` part 3 (`families._random`, seed 1100); a fixed number of "
          "rounds, so the bound is the same on any machine and only the time moves.\n")
    print("| model | apps | time | bound / per-app bound |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(1100)
    draws = {model: _random(rng, model, 100) for model in BUILTIN_MODELS}
    ready(EXPECTED, None)  # (compiled before the clock starts)
    for model in ("VGG19", "GPT-2"):
        problem = Problem(*as_instance(draws[model], model), cost_model="expected")
        t = median_time(lambda p=problem: expected_bound(p, rounds=20), max(1, r // 2))
        print(f"| {model} | 100 | {t:.1f} s | {expected_bound(problem, rounds=20) / problem.lower_bound():.6f} |")


if __name__ == "__main__":
    main()
