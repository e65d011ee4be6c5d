"""The paper's greedy: Algorithm 1 of HarmonyBatch, two-stage merging (``formulations/model.md`` section 8)."""

from __future__ import annotations

import math

from ..plan import HEURISTIC, SolverInfo
from ..provision import best_config
from ..workload import App
from .base import Solution
from .problem import Problem

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
    masks = _two_stage(problem.full_batch_view())
    return Solution.of(problem, masks, SolverInfo("greedy", status=HEURISTIC, objective=problem.plan_cost(masks)))


def _two_stage(problem: Problem) -> list[int]:
    knees: dict[float, float] = {}
    out: list[int] = []
    run, run_rate = 0, 0.0
    for i, app in enumerate(problem.apps):  # Stage 1
        mask = 1 << i
        if problem.group(mask).kind == "cpu":
            if not run:
                first_slo = app.slo
            run |= mask
            run_rate += app.rate
            if first_slo not in knees:
                knees[first_slo] = knee_rate(problem, first_slo)
            if run_rate > knees[first_slo]:
                out.append(run)
                run, run_rate = 0, 0.0
        else:
            out.extend(1 << j for j in range(problem.n) if run >> j & 1)
            run, run_rate = 0, 0.0
            out.append(mask)
    out.extend(1 << j for j in range(problem.n) if run >> j & 1)
    out.sort(key=lambda m: (m & -m))

    k = 0
    while k < len(out) - 1:  # Stage 2
        a, b = out[k], out[k + 1]
        if "gpu" in (problem.group(a).kind, problem.group(b).kind):
            if problem.weighted_cost(a | b) < problem.weighted_cost(a) + problem.weighted_cost(b):
                out[k:k + 2] = [a | b]
                continue
        k += 1
    return out
