"""Baselines for comparison: BATCH and MBS+ (``formulations/model.md`` section 8)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np

from .._sums import ordered_sum
from .._validate import instance
from ..errors import MORE_APPS, InfeasibleApp, InfeasibleError, SolverError, _listing
from ..plan import HEURISTIC, TIME_LIMIT, SolverInfo
from .base import Solution
from .bounds import per_app_costs
from .groups import run_mask
from .options import deadline_of, late
from .problem import Problem

#: A split whose lower bound passes the best cost by this share is abandoned: far above the
#: rounding of the sums, so no split that could be kept is.
ABANDON = 1e-9


def batch_baseline(problem: Problem, *, time_limit: float | None = None) -> Solution:
    """BATCH: each app alone on its cheapest CPU function.

    Raises InfeasibleError naming the apps no CPU function can serve (a GPU-only
    app has no BATCH plan by definition), and a SolverError (its ``time_limit`` True)
    where ``time_limit`` (seconds for the call) passes before every app is priced.
    """
    instance(problem, Problem, "batch_baseline: problem")
    deadline = deadline_of(time.perf_counter(), time_limit)
    masks, configs, bad = [], [], []  # (lists: a dict keyed by 1 << i hashes all its i bits)
    cpu_latency = problem.grid.best_latency(("cpu",))
    on_cpu = [1 << i for i in range(problem.n) if "cpu" in problem.app_kinds[i]] if problem.expected else []
    priced = 0  # under expected, searched together in batches (one at a time, 100,000 apps took 40 s)
    for batch in problem.prefetched(on_cpu, deadline, kinds=("cpu",)):
        priced += len(batch)
        if priced < len(on_cpu) and late(deadline):
            raise SolverError(f"batch: time limit reached pricing the apps alone on CPU functions ({priced} of "
                              f"{len(on_cpu)} priced)", time_limit=True)
    for i, a in enumerate(problem.apps):
        if not problem.expected and late(deadline):  # (under expected each is priced by now)
            raise SolverError(f"batch: time limit reached pricing the apps alone ({i} of {problem.n} priced)",
                              time_limit=True)
        cfg = problem.group(1 << i, kinds=("cpu",)) if "cpu" in problem.app_kinds[i] else None
        if cfg is None:
            bad.append(InfeasibleApp(a.name, a.slo, cpu_latency))
        else:
            masks.append(1 << i)
            configs.append(cfg)
    if bad:
        raise InfeasibleError("no BATCH (CPU-only) plan: " + _listing(bad, MORE_APPS), apps=bad)
    cost = ordered_sum(a.rate / problem.total_rate * c.cost for a, c in zip(problem.apps, configs))
    return Solution(tuple(masks), tuple(configs), SolverInfo("batch", status=HEURISTIC, objective=cost))


def even_split(problem: Problem, k: int) -> list[int]:
    """Split the SLO-sorted apps into at most ``k`` consecutive groups of about ``R/k`` rate each."""
    return [run_mask(i, j) for i, j in _even_runs(problem, k)]


def _even_runs(problem: Problem, k: int) -> Iterator[tuple[int, int]]:
    """The groups of :func:`even_split` as runs ``apps[i:j]``, made as they are asked for."""
    target = problem.total_rate / k
    start, acc, made = 0, 0.0, 0
    for i, a in enumerate(problem.apps):
        acc += a.rate
        if acc >= target * (1 - 1e-12) and made < k - 1:
            yield start, i + 1
            start, acc, made = i + 1, 0.0, made + 1
    if start < problem.n:
        yield start, problem.n


def mbs_baseline(problem: Problem, *, time_limit: float | None = None) -> Solution:
    """MBS+: for k = 1..n split the total rate evenly into k SLO-ordered groups; keep the cheapest.

    A split is abandoned once its groups so far, with the per-app bound of the apps after
    them (:func:`.bounds.per_app_costs`), cost more than the best split found: it cannot be
    kept. The same plan as pricing every split in full, without provisioning most of their
    groups: at 5,000 apps 2.2 s instead of 34 s (``benchmarks/results/scale.md``).

    ``time_limit`` bounds the call (seconds): the plan is then the best split priced by then,
    status ``time_limit`` (a SolverError, its ``time_limit`` True, where none was)."""
    instance(problem, Problem, "mbs_baseline: problem")
    deadline = deadline_of(time.perf_counter(), time_limit)
    floor = per_app_costs(problem) * np.array([a.rate for a in problem.apps]) / problem.total_rate
    after = np.append(np.cumsum(floor[::-1])[::-1], 0.0)  # the bound on the apps from each one on
    best, best_cost = None, math.inf
    for k in range(1, problem.n + 1):
        groups, cost = [], 0.0
        for i, j in _even_runs(problem, k):  # summed in plan_cost's order: the split's plan_cost
            if late(deadline):
                if best is None:
                    raise SolverError(f"mbs: time limit reached before a split was priced in full ({k - 1} of "
                                      f"{problem.n} splits tried)", time_limit=True)
                return Solution.of(problem, best, SolverInfo("mbs", status=TIME_LIMIT, objective=best_cost))
            groups.append(run_mask(i, j))
            cost += problem.weighted_cost(groups[-1])
            if cost + after[j] > best_cost * (1 + ABANDON):
                break
        else:
            if cost < best_cost:
                best, best_cost = groups, cost
    if best is None:
        raise InfeasibleError("no MBS+ split is feasible")
    return Solution.of(problem, best, SolverInfo("mbs", status=HEURISTIC, objective=best_cost))
