"""The paper's greedy: Algorithm 1 of HarmonyBatch, two-stage merging (``formulations/model.md`` section 8)."""

from __future__ import annotations

import math

from .._validate import instance
from ..plan import HEURISTIC, SolverInfo
from ..provision import best_config
from ..workload import App
from .base import Solution
from .problem import Problem, run_mask

#: Rates searched for the knee (requests/s): below, CPU is assumed; above, GPU.
KNEE_RATE_RANGE = (1e-4, 1e5)
#: Bisection steps on log(rate): relative precision about (ln 1e9) / 2**24, 1e-6.
KNEE_STEPS = 24


def knee_rate(problem: Problem, slo: float) -> float:
    """Rate at which the optimal single-app plan for ``slo`` switches from CPU to GPU.

    Found by bisection on log(rate) over :data:`KNEE_RATE_RANGE`. Returns 0 when
    a GPU function is already optimal at the lowest rate, inf when CPU stays optimal
    (or GPU never serves the SLO) up to the highest.

    Examples
    --------
    >>> from harmonybatch_mp import builtin_profile, parse_apps, preset
    >>> p = Problem(parse_apps("0.5:1"), builtin_profile("VGG19"), preset())
    >>> 1 < knee_rate(p, 0.8) < 30
    True
    """

    def on_gpu(rate: float) -> bool:
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


def greedy(problem: Problem) -> Solution:
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

    References
    ----------
    .. [1] Chen et al., HarmonyBatch, IWQoS 2024, arXiv:2405.05633, Algorithm 1.
    """
    instance(problem, Problem, "greedy: problem")
    masks = _two_stage(problem.full_batch_view())
    return Solution.of(problem, masks, SolverInfo("greedy", status=HEURISTIC, objective=problem.plan_cost(masks)))


def _two_stage(problem: Problem) -> list[int]:
    """The groups of Algorithm 1 on the full-batch ``problem``. Every group is a run of apps
    consecutive in SLO order, so a merge of stage 2 extends its run's fold by the next
    group's apps (:meth:`.Problem.runs_from`): one fold step per app, where folding each
    merged group anew took 3.2 million steps and 41 s at 5,000 apps
    (``benchmarks/results/scale.md``)."""
    knees: dict[float, float] = {}
    out: list[tuple[int, int]] = []  # runs apps[i:j]
    first = 0  # the current run is apps[first:i]
    run_rate = 0.0
    for i, app in enumerate(problem.apps):  # Stage 1
        if problem.group(1 << i).kind == "cpu":
            run_rate += app.rate
            slo = problem.apps[first].slo
            if slo not in knees:
                knees[slo] = knee_rate(problem, slo)
            if run_rate > knees[slo]:
                out.append((first, i + 1))
                first, run_rate = i + 1, 0.0
        else:
            out.extend((j, j + 1) for j in range(first, i + 1))
            first, run_rate = i + 1, 0.0
    out.extend((j, j + 1) for j in range(first, problem.n))

    costs = [problem.weighted_cost(run_mask(i, j)) for i, j in out]  # each app's group of stage 1, once
    k = 0
    run: _Run | None = None  # the run of group k, extended by the groups it merges
    while k < len(out) - 1:  # Stage 2
        (i, _), (_, end) = out[k], out[k + 1]
        if "gpu" in (problem.group(run_mask(*out[k])).kind, problem.group(run_mask(*out[k + 1])).kind):
            if run is None or run.start != i:
                run = _Run(problem, i)
            run.extend(end)
            merged = math.inf if run.config is None else run.rate / problem.total_rate * run.config.cost
            if merged < costs[k] + costs[k + 1]:
                out[k:k + 2], costs[k:k + 2] = [(i, end)], [merged]
                continue
        k += 1
    return [run_mask(i, j) for i, j in out]


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
