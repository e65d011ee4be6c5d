"""Fidelity of the cost models: predicted versus simulated (realized) cost per request.

1. Random groups (all four models, preset reference, batch >= 2, mixed timeouts: each
   member's timeout a random 30-100% of its maximal one): the group's predicted cost under
   ``expected`` and ``full-batch`` against the cost its simulated invocations paid.
2. The default workload of every built-in model, planned under each cost model and
   simulated: predicted versus realized.
3. Random 4-8 app workloads: the realized cost of the ``expected`` optimum against the
   realized cost of the ``full-batch`` optimum (same arrivals: same seed), and violations.

Run: python benchmarks/fidelity.py [--groups 200] [--workloads 24] [--hours 2] > benchmarks/results/fidelity.md
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from harmonybatch_mp import BUILTIN_MODELS, App, InfeasibleError, Plan, Workload, builtin_profile, preset, solve
from harmonybatch_mp.check import _invocation_costs, check_plan, reprice
from harmonybatch_mp.duration import DEFAULT_DURATION
from harmonybatch_mp.simulate import simulate
from harmonybatch_mp.workload import DEFAULT_APPS, parse_apps

SLO_RANGE = {"VGG19": (0.3, 1.2), "BERT": (0.3, 1.2), "GPT-2": (1.0, 2.5), "VideoMAE": (1.0, 2.5)}


def random_apps(rng: np.random.Generator, model: str, n: int) -> Workload:
    lo, hi = SLO_RANGE[model]
    return Workload([App(f"a{i}", round(float(rng.uniform(lo, hi)), 3), round(float(10 ** rng.uniform(0, 1.6)), 3))
                     for i in range(n)])


def group_case(rng: np.random.Generator, model: str) -> Plan | None:
    """A single-group plan with batch >= 2 and mixed timeouts (each member a random 30-100% of
    the largest its SLO allows), priced under expected."""
    w = random_apps(rng, model, int(rng.integers(1, 5)))
    try:
        plan = solve(w, model, cost_model="expected", solver="exact")
    except InfeasibleError:
        return None
    multi = [g for g in plan.groups if g.batch >= 2]
    if not multi:
        return None
    g = multi[0]
    apps = plan.workload.by_name()
    _, lstar = _invocation_costs(g, plan.profile, plan.platform, DEFAULT_DURATION)  # max_{k<=b} L_max(k)
    timeouts = tuple(float(rng.uniform(0.3, 1.0) * (apps[a].slo - lstar)) for a in g.apps)
    one = dataclasses.replace(plan, groups=(dataclasses.replace(g, timeouts=timeouts),),
                              workload=Workload([apps[a] for a in g.apps]))
    return reprice(one, "expected")


def realized(plan: Plan, requests: int, seed: int):
    return simulate(plan, duration=requests / plan.workload.total_rate, seed=seed).overall


def section_groups(n_groups: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = {m: [] for m in BUILTIN_MODELS}
    k = 0
    while sum(len(v) for v in rows.values()) < n_groups:
        model = BUILTIN_MODELS[k % len(BUILTIN_MODELS)]
        k += 1
        plan = group_case(rng, model)
        if plan is None:
            continue
        check_plan(plan)
        o = realized(plan, 40_000, seed=k)
        fb = reprice(plan, "full-batch").total_cost
        rows[model].append((plan.total_cost / o.realized_cost - 1, fb / o.realized_cost - 1, o.slo_violations))
    print(f"## 1. Random groups ({n_groups}, batch >= 2, mixed timeouts, 40,000 simulated requests each)\n")
    print("Error = predicted / realized - 1 (realized: the simulated invocations' cost per request).\n")
    print("| model | groups | expected: median abs error | expected: worst abs error | full-batch: median error "
          "| full-batch: worst error | SLO violations |")
    print("|---|---|---|---|---|---|---|")
    every = []
    for model, r in rows.items():
        if not r:
            continue
        e = np.array([x[0] for x in r])
        f = np.array([x[1] for x in r])
        every += list(e)
        print(f"| {model} | {len(r)} | {np.median(np.abs(e)):.2%} | {np.max(np.abs(e)):.2%} | {np.median(f):+.1%} "
              f"| {f[np.argmax(np.abs(f))]:+.1%} | {sum(x[2] for x in r)} |")
    every = np.abs(np.array(every))
    print(f"\nAll groups: expected-model error median {np.median(every):.2%}, worst {every.max():.2%}. The "
          "simulation's own noise at 40,000 requests is of the order of 0.5%.\n")


def section_default(hours: float) -> None:
    w = parse_apps(DEFAULT_APPS)
    print(f"## 2. Default workload ({DEFAULT_APPS}), {hours:g} h simulated per plan\n")
    print("| model | cost model | groups (kind:batch) | predicted | realized | error | SLO violations |")
    print("|---|---|---|---|---|---|---|")
    for model in BUILTIN_MODELS:
        for cm in ("expected", "full-batch"):
            plan = solve(w, builtin_profile(model), preset(), cost_model=cm)
            o = simulate(plan, duration=3600 * hours, seed=1).overall
            groups = " ".join(f"{g.kind}:{g.batch}" for g in plan.groups)
            print(f"| {model} | {cm} | {groups} | {o.predicted_cost:.4e} | {o.realized_cost:.4e} | {o.cost_error:+.2%} "
                  f"| {o.slo_violations} |")
    print()


def section_savings(n_workloads: int, seed: int, hours: float) -> None:
    rng = np.random.default_rng(seed)
    savings, viol, done, k = [], 0, 0, 0
    rows = []
    while done < n_workloads:
        model = BUILTIN_MODELS[k % len(BUILTIN_MODELS)]
        k += 1
        w = random_apps(rng, model, int(rng.integers(4, 9)))
        try:
            exp = solve(w, model, cost_model="expected")
            fb = solve(w, model, cost_model="full-batch")
        except InfeasibleError:
            continue
        done += 1
        a = simulate(exp, duration=3600 * hours, seed=k).overall
        b = simulate(fb, duration=3600 * hours, seed=k).overall
        savings.append(1 - a.realized_cost / b.realized_cost)
        viol += a.slo_violations + b.slo_violations
        rows.append((model, len(w), b.realized_cost, a.realized_cost, savings[-1]))
    print(f"## 3. Realized cost of the expected optimum against the full-batch optimum ({n_workloads} random "
          f"4-8 app workloads, {hours:g} h each, same arrivals)\n")
    print("| model | apps | full-batch optimum, realized | expected optimum, realized | saving |")
    print("|---|---|---|---|---|")
    for model, n, fb_c, ex_c, s in rows:
        print(f"| {model} | {n} | {fb_c:.4e} | {ex_c:.4e} | {s:+.2%} |")
    s = np.array(savings)
    print(f"\nSaving: median {np.median(s):+.2%}, mean {s.mean():+.2%}, max {s.max():+.2%}, min {s.min():+.2%}; "
          f"SLO violations in all simulations: {viol}.\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--groups", type=int, default=200)
    ap.add_argument("--workloads", type=int, default=24)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print("# Cost-model fidelity\n")
    print(f"`python benchmarks/fidelity.py --groups {args.groups} --workloads {args.workloads} --hours {args.hours:g}`"
          f" (preset reference, default duration model).\n")
    section_groups(args.groups, args.seed)
    section_default(args.hours)
    section_savings(args.workloads, args.seed, args.hours)


if __name__ == "__main__":
    main()
