"""The paper's greedy: Algorithm 1 of HarmonyBatch, two-stage merging (``formulations/model.md`` section 8)."""

from __future__ import annotations

import math
import time
from dataclasses import replace

from .._sums import ordered_sum
from .._validate import instance
from ..errors import SolverError
from ..plan import HEURISTIC, TIME_LIMIT, SolverInfo
from ..provision import GroupConfig, best_config
from ..workload import App
from .base import Solution
from .groups import run_mask
from .options import deadline_of, late
from .problem import Problem

#: Rates searched for the knee (requests/s): below, CPU is assumed; above, GPU.
KNEE_RATE_RANGE = (1e-4, 1e5)
#: Bisection steps on log(rate): relative precision about (ln 1e9) / 2**24, 1e-6.
KNEE_STEPS = 24
#: Under ``expected``, the share of a time limit the two stages (on the full-batch model) may
#: take; the rest prices the groups they chose under ``expected``.
DECIDING_SHARE = 0.5


def knee_rate(problem: Problem, slo: float, deadline: float | None = None) -> float:
    """Rate at which the optimal single-app plan for ``slo`` switches from CPU to GPU.

    Found by bisection on log(rate) over :data:`KNEE_RATE_RANGE`. Returns 0 when
    a GPU function is already optimal at the lowest rate, inf when CPU stays optimal
    (or GPU never serves the SLO) up to the highest. A SolverError (its ``time_limit``
    True) once the ``deadline`` (a ``time.perf_counter()`` reading) passes.

    Examples
    --------
    >>> from harmonybatch_mp import builtin_profile, parse_apps, preset
    >>> p = Problem(parse_apps("0.5:1"), builtin_profile("VGG19"), preset())
    >>> 1 < knee_rate(p, 0.8) < 30
    True
    """

    def on_gpu(rate: float) -> bool:
        if late(deadline):
            raise SolverError(f"greedy: time limit reached finding the knee rate of SLO {slo:g} s", time_limit=True)
        i = best_config(problem.grid, [App("knee", slo, rate)])
        return i is not None and int(problem.grid.kind[i]) == 1

    lo, hi = KNEE_RATE_RANGE
    if on_gpu(lo):
        return 0.0
    if not on_gpu(hi):
        return math.inf
    llo, lhi = math.log(lo), math.log(hi)
    for _ in range(KNEE_STEPS):
        mid = 0.5 * (llo + lhi)
        if on_gpu(math.exp(mid)):
            lhi = mid
        else:
            llo = mid
    return math.exp(lhi)


def greedy(problem: Problem, *, time_limit: float | None = None) -> Solution:
    """Algorithm 1 of the paper (two-stage merging).

    Its decisions follow the paper: knee rates and merge tests use the full-batch model
    (Eqs. 6 and 9). The resulting groups are then provisioned and priced under the
    problem's cost model.

    Stage 1 walks the SLO-sorted single-app groups. While groups sit on CPU
    functions it accumulates their rate; once the run's rate exceeds the knee rate
    of the run's tightest SLO (:func:`knee_rate`), the run is merged into one group.
    A group on a GPU function ends the run (its apps stay separate).
    Stage 2 walks adjacent pairs in SLO order; where either is on a GPU function and
    merging lowers the cost (Eq. 7), it merges them and tries the merged group with
    the next one.

    ``time_limit`` bounds the call (seconds). Stopped in stage 2, the plan is stage 1's groups
    with the merges made by then, status ``time_limit``; stopped before, a SolverError (its
    ``time_limit`` True). At 20,000 apps the knee rates take most of the call (4,393 SLOs,
    4.7 s of 7.6 s). Under ``expected`` the two stages take :data:`DECIDING_SHARE` of the
    limit, and the groups are priced under ``expected`` in the rest.

    References
    ----------
    .. [1] Chen et al., HarmonyBatch, IWQoS 2024, arXiv:2405.05633, Algorithm 1.
    """
    instance(problem, Problem, "greedy: problem")
    start = time.perf_counter()
    deadline = deadline_of(start, time_limit)
    view = problem.full_batch_view()
    decided = deadline if deadline is None or view is problem else start + DECIDING_SHARE * (deadline - start)
    masks, costs, configs, stopped = _two_stage(view, decided)
    info = SolverInfo("greedy", status=TIME_LIMIT if stopped else HEURISTIC)
    if view is problem:  # priced as decided: at 100,000 apps pricing its 55,213 groups again took 9.8 s
        return Solution.of(problem, masks, replace(info, objective=ordered_sum(costs)), configs)
    for done, _ in enumerate(() if deadline is None else problem.prefetched(masks, deadline)):
        if late(deadline):  # (without a deadline each group is priced alone, as plan_cost prices it)
            raise SolverError(f"greedy: time limit reached pricing its groups under {problem.cost_model} ({done} "
                              f"batches of its {len(masks)} groups priced)", time_limit=True)
    return Solution.of(problem, masks, replace(info, objective=problem.plan_cost(masks)))


def _stage_one_late(deadline: float | None, done: int, problem: Problem) -> None:
    if late(deadline):
        raise SolverError(f"greedy: time limit reached in stage 1 ({done} of {problem.n} apps grouped and priced)",
                          time_limit=True)


def _two_stage(problem: Problem, deadline: float | None = None
               ) -> tuple[list[int], list[float], list[GroupConfig], bool]:
    """The groups of Algorithm 1 on the full-batch ``problem``. Every group is a run of apps
    consecutive in SLO order, so a merge of stage 2 extends its run's fold by the next
    group's apps (:meth:`.Problem.runs_from`): one fold step per app, where folding each
    merged group anew took 3.2 million steps and 41 s at 5,000 apps
    (``benchmarks/results/scale.md``). Returns the groups, each one's weighted cost and
    configuration, and whether the ``deadline`` stopped stage 2 (past it in stage 1, a
    SolverError)."""
    knees: dict[float, float] = {}
    out: list[tuple[int, int]] = []  # runs apps[i:j]
    first = 0  # the current run is apps[first:i]
    run_rate = 0.0
    for i, app in enumerate(problem.apps):  # Stage 1
        _stage_one_late(deadline, i, problem)
        if problem.group(1 << i).kind == "cpu":
            run_rate += app.rate
            slo = problem.apps[first].slo
            if slo not in knees:
                knees[slo] = knee_rate(problem, slo, deadline)
            if run_rate > knees[slo]:
                out.append((first, i + 1))
                first, run_rate = i + 1, 0.0
        else:
            out.extend((j, j + 1) for j in range(first, i + 1))
            first, run_rate = i + 1, 0.0
    out.extend((j, j + 1) for j in range(first, problem.n))

    costs, configs = [], []  # each group's of stage 1, once
    for i, j in out:
        _stage_one_late(deadline, i, problem)
        costs.append(problem.weighted_cost(run_mask(i, j)))
        configs.append(problem.group(run_mask(i, j)))
    k = 0
    run: _Run | None = None  # the run of group k, extended by the groups it merges
    while k < len(out) - 1:  # Stage 2
        if late(deadline):
            return [run_mask(i, j) for i, j in out], costs, configs, True
        (i, _), (_, end) = out[k], out[k + 1]
        if "gpu" in (configs[k].kind, configs[k + 1].kind):
            if run is None or run.start != i:
                run = _Run(problem, i)
            run.extend(end)
            merged = math.inf if run.config is None else run.rate / problem.total_rate * run.config.cost
            if merged < costs[k] + costs[k + 1]:
                out[k:k + 2], costs[k:k + 2], configs[k:k + 2] = [(i, end)], [merged], [run.config]
                continue
        k += 1
    return [run_mask(i, j) for i, j in out], costs, configs, False


class _Run:
    """The run ``apps[start:end]`` of a full-batch problem and its optimum, extended one
    app at a time (:meth:`.Problem.runs_from`); ``rate`` sums its apps' rates in
    :meth:`.Problem.rate`'s order, so its costs are those of :meth:`.Problem.weighted_cost`."""

    def __init__(self, problem: Problem, start: int):
        self.start = self.end = start
        self.config, self.rate = None, 0.0
        self._apps = problem.apps
        self._optima = problem.runs_from(start)

    def extend(self, end: int) -> None:
        while self.end < end:
            self.end, _, self.config = next(self._optima)
            self.rate += self._apps[self.end - 1].rate
