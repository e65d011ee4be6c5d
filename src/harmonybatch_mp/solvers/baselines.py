"""Baselines for comparison: BATCH and MBS+ (``formulations/model.md`` section 8)."""

from __future__ import annotations

import math

from ..errors import InfeasibleApp, InfeasibleError
from ..plan import HEURISTIC, SolverInfo
from .base import Solution
from .problem import Problem


def batch_baseline(problem: Problem) -> Solution:
    """BATCH: each app alone on its cheapest CPU function.

    Raises InfeasibleError naming the apps no CPU function can serve (a GPU-only
    app has no BATCH plan by definition).
    """
    configs, bad = {}, []
    cpu_latency = problem.grid.best_latency(("cpu",))
    for i, a in enumerate(problem.apps):
        cfg = problem.group(1 << i, kinds=("cpu",)) if "cpu" in problem.app_kinds[i] else None
        if cfg is None:
            bad.append(InfeasibleApp(a.name, a.slo, cpu_latency))
        else:
            configs[1 << i] = cfg
    if bad:
        raise InfeasibleError("no BATCH (CPU-only) plan: " + "; ".join(str(b) for b in bad), apps=bad)
    cost = sum(problem.rate(m) / problem.total_rate * c.cost for m, c in configs.items())
    return Solution.of(problem, list(configs), SolverInfo("batch", status=HEURISTIC, objective=cost), configs)


def even_split(problem: Problem, k: int) -> list[int]:
    """Split the SLO-sorted apps into at most ``k`` consecutive groups of about ``R/k`` rate each."""
    target = problem.total_rate / k
    groups, cur, acc = [], 0, 0.0
    for i, a in enumerate(problem.apps):
        cur |= 1 << i
        acc += a.rate
        if acc >= target * (1 - 1e-12) and len(groups) < k - 1:
            groups.append(cur)
            cur, acc = 0, 0.0
    if cur:
        groups.append(cur)
    return groups


def mbs_baseline(problem: Problem) -> Solution:
    """MBS+: for k = 1..n split the total rate evenly into k SLO-ordered groups; keep the cheapest."""
    best, best_cost = None, math.inf
    for k in range(1, problem.n + 1):
        groups = even_split(problem, k)
        cost = problem.plan_cost(groups)
        if cost < best_cost:
            best, best_cost = groups, cost
    if best is None:
        raise InfeasibleError("no MBS+ split is feasible")
    return Solution.of(problem, best, SolverInfo("mbs", status=HEURISTIC, objective=best_cost))
