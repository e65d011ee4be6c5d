"""Simulation throughput, and predicted versus realized cost on the default workload.

Throughput: the default plan (VGG19, preset reference, 8 apps, 74 requests/s in all)
simulated for long enough to generate about 1 million requests; median of --repeat runs.
Fidelity: the milp plan of the default workload for each built-in model, simulated for
--hours hours of Poisson arrivals with the default sampler.

Run: python benchmarks/simulate.py [--repeat 5] [--hours 4] > benchmarks/results/simulate.md
"""

from __future__ import annotations

import argparse
import statistics
import time

from harmonybatch_mp import BUILTIN_MODELS, builtin_profile, parse_apps, preset, solve
from harmonybatch_mp.simulate import simulate
from harmonybatch_mp.workload import DEFAULT_APPS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--hours", type=float, default=4.0)
    args = ap.parse_args()
    w = parse_apps(DEFAULT_APPS)
    plan = solve(w, builtin_profile("VGG19"), preset(), solver="milp")
    duration = 1e6 / w.total_rate
    times, n = [], 0
    for seed in range(args.repeat):
        t = time.perf_counter()
        res = simulate(plan, duration=duration, seed=seed)
        times.append(time.perf_counter() - t)
        n = res.overall.requests
    t = statistics.median(times)
    print("## Throughput\n")
    print(f"{n:,} requests ({duration:,.0f} s of the default workload) in {t:.2f} s (median of {args.repeat}): "
          f"{n / t:,.0f} simulated requests per second.\n")
    print(f"## Predicted versus realized cost per request ({args.hours:g} h, default workload, preset reference, "
          "milp plans)\n")
    print("| model | groups (kind:batch) | requests | SLO violations | mean batch | predicted | realized | error |")
    print("|---|---|---|---|---|---|---|---|")
    for model in BUILTIN_MODELS:
        plan = solve(w, builtin_profile(model), preset(), solver="milp")
        o = simulate(plan, duration=3600 * args.hours, seed=1).overall
        groups = " ".join(f"{g.kind}:{g.batch}" for g in plan.groups)
        print(f"| {model} | {groups} | {o.requests:,} | {o.slo_violations} | {o.mean_batch:.2f} "
              f"| {o.predicted_cost:.4e} | {o.realized_cost:.4e} | {o.cost_error:+.1%} |")


if __name__ == "__main__":
    main()
