"""The contiguous optimum under caps on functions: the cheapest partition of the apps, in SLO
order, into runs of which at most ``F`` in all (``SideConstraints.max_functions``) and at most
``G`` on GPU functions (``max_gpu_functions``), isolated pairs and pins kept
(formulations/contiguous_shortest_path.md, "Under a cap on functions").

``dp``'s shortest path cannot count its edges, and the MILP's contiguous candidates stop at
runs far shorter than a cap of ``F`` functions needs (``n / F`` apps a group on average): its
plans under a cap were repairs of ``dp``'s, greedy merges. The path that keeps the caps is a
shortest path over layers, one per count of functions ``f`` and of GPU functions ``g``,

    best(f, g, j) = min_{i < j} min(best(f-1, g, i) + w_cpu(i, j), best(f-1, g-1, i) + w_gpu(i, j)),

over every run ``apps[i:j]`` (``w_kind``: its weighted cost, Eq. 7, as ``dp`` weighs it, on
that kind's cheapest configuration; without a GPU cap one edge, on the run's optimum; without a
function cap ``f`` is not counted), exact over contiguous partitions. Starts are taken in order,
each pushing its runs into every layer at once, so a start's layers are final before it pushes
(every run into it starts earlier).
"""

from __future__ import annotations

import time

import numpy as np

from .._validate import instance, integer
from ..errors import InputError
from ..grid import GPU, KINDS
from ..provision import GroupConfig
from .dp import TIE
from .options import checked_deadline
from .problem import Problem, run_mask

#: Most pushes (layers times runs, of each kind) a path is searched for: about 15 s on a 2-core
#: machine (5,000 apps with ``F = 10`` and ``G = 4``, 55 layers: 1.4e9 pushes, 9.4 s). A cap of
#: hundreds of functions on thousands of apps would take hours (and there the repair does well).
MOST_PUSHES = 2e9


def capped_path(problem: Problem, max_functions: int | None = None, max_gpu_functions: int | None = None,
                deadline: float | None = None) -> list[tuple[int, tuple[str, ...] | None]] | None:
    """The cheapest contiguous plan under the full-batch model with at most ``max_functions``
    groups and at most ``max_gpu_functions`` of them on GPU functions (None: no cap), none
    holding an isolated pair of ``problem.side`` and each on a kind its members' pins allow:
    ``(mask, kinds)`` per group, ``kinds`` the function kinds it is priced on (None: any; under a
    GPU cap, one). Of plans tied but for rounding (``dp.TIE``), one with the fewest groups.
    None where no such plan exists, or ``deadline`` (a ``time.perf_counter()`` reading) passes
    first: every run is searched, ``n (n + 1) / 2`` of them (5,000 apps, ``F = 10``: about 2 s),
    and none is above :data:`MOST_PUSHES` pushes (runs times layers).

    Examples
    --------
    >>> from harmonybatch_mp.solvers import as_instance
    >>> p = Problem(*as_instance("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19"), cost_model="full-batch")
    >>> [[m for m, _ in capped_path(p, f)] for f in (1, 2, 4)]  # (4: dp's plan, of 3 groups)
    [[15], [3, 12], [1, 2, 12]]
    >>> capped_path(p, max_gpu_functions=0)
    [(1, ('cpu',)), (2, ('cpu',)), (12, ('cpu',))]
    """
    instance(problem, Problem, "capped_path: problem")
    if problem.expected:
        raise InputError("capped_path: runs fold under the full-batch model; pass problem.full_batch_view()")
    most = None if max_functions is None else integer(max_functions, "capped_path: max_functions", minimum=1)
    gpus = None if max_gpu_functions is None else integer(max_gpu_functions, "capped_path: max_gpu_functions",
                                                          minimum=0)
    deadline, n = checked_deadline(deadline), problem.n
    # the layers (f, g) as best[f, g, j]; f not counted without a function cap, g without a GPU cap
    fs, gs = 1 if most is None else min(most, n) + 1, 1 if gpus is None else min(gpus, n) + 1
    edges = [(None, 0)] if gpus is None else [((k,), int(i == GPU)) for i, k in enumerate(KINDS)]  # (kinds, GPUs)
    if fs * gs * len(edges) * n * (n + 1) / 2 > MOST_PUSHES:
        return None
    best = np.full((fs, gs, n + 1), np.inf)
    best[0, 0, 0] = 0.0
    groups = np.zeros((fs, gs, n + 1), np.intp)  # the groups of each layer's best path (for ties)
    start = np.zeros((fs, gs, n + 1), np.intp)  # its last run's start
    kind = np.zeros((fs, gs, n + 1), np.intp)  # and kind (an index of ``edges``)
    step = 0 if most is None else 1
    ends = _run_ends(problem)
    rates, cost = np.array([a.rate for a in problem.apps]), problem.grid.cost
    for i in range(n):
        live_f, live_g = np.nonzero(np.isfinite(best[:, :, i]))
        if not live_f.size:
            continue
        if deadline is not None and time.perf_counter() > deadline:
            return None
        stop = ends[i]
        span = slice(i + 1, stop + 1)
        share = np.cumsum(rates[i:stop]) / problem.total_rate  # the run's rate summed in app order, as dp does
        for e, (kinds, up) in enumerate(edges):
            keep = (live_f + step < fs) & (live_g + up < gs)
            if not keep.any():
                continue
            f, g = live_f[keep], live_g[keep]
            idx = problem.run_indices(i, stop, kinds)
            weight = np.where(idx >= 0, share * cost[np.maximum(idx, 0)], np.inf)  # (r_X / R) C_X
            pushed = best[f, g, i][:, None] + weight[None, :]
            count = groups[f, g, i][:, None] + 1
            to_f, to_g = f + step, g + up
            held, held_groups = best[to_f, to_g, span], groups[to_f, to_g, span]
            # as dp's ties: cheaper beyond rounding, or as cheap but for rounding in fewer groups
            served = np.isfinite(pushed)
            tie = TIE * np.where(served, pushed, 0.0)
            better = served & ((pushed < held - tie) | ((pushed <= held + tie) & (count < held_groups)))
            for array, value in ((best, pushed), (groups, count), (start, i), (kind, e)):
                part = array[to_f, to_g, span]
                part[better] = np.broadcast_to(value, better.shape)[better]
                array[to_f, to_g, span] = part
    ends_at = best[:, :, n]
    least = ends_at.min()
    if not np.isfinite(least):
        return None
    tied = ends_at <= least + TIE * least
    f, g = np.unravel_index(np.flatnonzero(tied.ravel())[np.argmin(groups[:, :, n][tied])], tied.shape)
    plan, j = [], n
    while j:
        i, e = int(start[f, g, j]), int(kind[f, g, j])
        plan.append((run_mask(i, j), edges[e][0]))
        j, f, g = i, f - step, g - edges[e][1]
    return plan[::-1]


def capped_plans(problem: Problem, deadline: float | None) -> list[tuple[list[int], list[GroupConfig]]]:
    """Under a cap on functions or GPU functions (for a caller whose plan breaks a side
    constraint): the contiguous optimum under the caps (:func:`capped_path`, on the full-batch
    model), each group on ``problem``'s optimum of the kinds it was found on, if it is found
    by ``deadline`` and keeps every side constraint; else none
    (formulations/contiguous_shortest_path.md, "Under a cap on functions")."""
    side = problem.side
    if side.max_functions is None and side.max_gpu_functions is None:
        return []
    found = capped_path(problem.full_batch_view(), side.max_functions, side.max_gpu_functions, deadline)
    if found is None:
        return []
    masks = [m for m, _ in found]
    for kinds in {k for _, k in found}:
        problem.prefetch([m for m, k in found if k == kinds], kinds)
    configs = [problem.group(m, kinds) for m, kinds in found]
    return [(masks, configs)] if None not in configs and side.allows(problem, masks, configs) else []


def _run_ends(problem: Problem) -> np.ndarray:
    """Per start ``i``, the last ``j`` such that ``apps[i:j]`` holds no isolated pair."""
    ends = np.full(problem.n, problem.n, np.intp)
    for pair in problem.isolated_pairs():
        low, high = (pair & -pair).bit_length() - 1, pair.bit_length() - 1
        np.minimum(ends[:low + 1], high, out=ends[:low + 1])
    return ends
