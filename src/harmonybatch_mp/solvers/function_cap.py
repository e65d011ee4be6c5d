"""The contiguous optimum under a function cap: the cheapest partition of the apps, in SLO
order, into at most ``F`` runs (``SideConstraints.max_functions``), isolated pairs and pins
kept (formulations/contiguous_shortest_path.md, "Under a function cap").

``dp``'s shortest path cannot count its edges, and the MILP's contiguous candidates stop at
runs far shorter than a cap of ``F`` functions needs (``n / F`` apps a group on average): its
plans under a cap were repairs of ``dp``'s, greedy merges. The path of at most ``F`` edges is a
shortest path over layers, one per number of edges,

    best_k(j) = min_{i < j} best_{k-1}(i) + w(i, j),    best_0(0) = 0,

over every run ``apps[i:j]`` (``w``: its weighted cost, Eq. 7, as ``dp`` weighs it), exact over
contiguous partitions. Starts are taken in order, each pushing its runs into every layer, so a
start's layers are final before it pushes (every run into it starts earlier).
"""

from __future__ import annotations

import time

import numpy as np

from .._validate import instance, integer
from ..errors import InputError
from ..provision import GroupConfig
from .dp import TIE
from .options import checked_deadline
from .problem import Problem, run_mask


def capped_path(problem: Problem, most: int, deadline: float | None = None) -> list[int] | None:
    """The groups (bitmasks) of the cheapest contiguous plan of at most ``most`` groups under the
    full-batch model, none holding an isolated pair of ``problem.side`` and each on a kind its
    members' pins allow; of plans tied but for rounding (``dp.TIE``), one with the fewest groups.
    None where no such plan exists, or ``deadline`` (a ``time.perf_counter()`` reading) passes
    first: every run is searched, ``n (n + 1) / 2`` of them (1,000 apps: about 0.5 s compiled).

    Examples
    --------
    >>> from harmonybatch_mp.solvers import as_instance
    >>> p = Problem(*as_instance("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19"), cost_model="full-batch")
    >>> capped_path(p, 1), capped_path(p, 2), capped_path(p, 4)  # (4: dp's plan, of 3 groups)
    ([15], [3, 12], [1, 2, 12])
    """
    instance(problem, Problem, "capped_path: problem")
    if problem.expected:
        raise InputError("capped_path: runs fold under the full-batch model; pass problem.full_batch_view()")
    most, deadline = integer(most, "capped_path: most", minimum=1), checked_deadline(deadline)
    n = problem.n
    most = min(most, n)
    best = np.full((most + 1, n + 1), np.inf)
    best[0, 0] = 0.0
    start = np.zeros((most + 1, n + 1), np.intp)  # the last run's start on each layer's best path
    ends = _run_ends(problem)
    rates, cost = np.array([a.rate for a in problem.apps]), problem.grid.cost
    for i in range(n):
        live = np.flatnonzero(np.isfinite(best[:most, i]))
        if not live.size:
            continue
        if deadline is not None and time.perf_counter() > deadline:
            return None
        stop = ends[i]
        idx = problem.run_indices(i, stop)
        # the run's rate summed in app order, then (r_X / R) C_X, as dp weighs it
        weight = np.where(idx >= 0, np.cumsum(rates[i:stop]) / problem.total_rate * cost[np.maximum(idx, 0)], np.inf)
        pushed = best[live, i][:, None] + weight[None, :]
        layer, span = live + 1, slice(i + 1, stop + 1)
        held = best[layer, span]
        better = pushed < held  # (ties keep the earlier start, as dp's do)
        held[better] = pushed[better]
        best[layer, span] = held
        came = start[layer, span]
        came[better] = i
        start[layer, span] = came
    least = best[1:, n].min()
    if not np.isfinite(least):
        return None
    k = 1 + int(np.flatnonzero(best[1:, n] <= least + TIE * least)[0])
    masks, j = [], n
    while j:
        i = int(start[k, j])
        masks.append(run_mask(i, j))
        j, k = i, k - 1
    return masks[::-1]


def capped_plans(problem: Problem, groups: int, deadline: float | None) -> list[tuple[list[int], list[GroupConfig]]]:
    """The contiguous optimum under the function cap of ``problem.side`` (:func:`capped_path`,
    on the full-batch model), each group on ``problem``'s optimum, where the cap is below
    ``groups`` (those of a plan that breaks it), the path is found by ``deadline`` and the plan
    keeps the side constraints; else none (formulations/contiguous_shortest_path.md, "Under a
    function cap")."""
    most = problem.side.max_functions
    masks = None if most is None or most >= groups else capped_path(problem.full_batch_view(), most, deadline)
    if masks is None:
        return []
    problem.prefetch(masks)
    configs = [problem.group(m) for m in masks]
    return [(masks, configs)] if None not in configs and problem.side.allows(problem, masks, configs) else []


def _run_ends(problem: Problem) -> np.ndarray:
    """Per start ``i``, the last ``j`` such that ``apps[i:j]`` holds no isolated pair."""
    ends = np.full(problem.n, problem.n, np.intp)
    for pair in problem.isolated_pairs():
        low, high = (pair & -pair).bit_length() - 1, pair.bit_length() - 1
        np.minimum(ends[:low + 1], high, out=ends[:low + 1])
    return ends
