"""The contiguous optimum under caps on functions: the cheapest partition of the apps, in SLO
order, into runs of which at most ``F`` in all (``SideConstraints.max_functions``), at most
``G`` on GPU functions (``max_gpu_functions``) and at most ``B`` GB of GPU memory on them
(``gpu_memory_budget``), isolated pairs and pins kept (formulations/contiguous_shortest_path.md,
"Under a cap on functions").

``dp``'s shortest path cannot count its edges, and the MILP's contiguous candidates stop at
runs far shorter than a cap of ``F`` functions needs (``n / F`` apps a group on average): its
plans under a cap were repairs of ``dp``'s, greedy merges. The path that keeps the caps is a
shortest path over layers, one per count of functions ``f``, of GPU functions ``g`` and of GB
of GPU memory ``m``,

    best(f, g, m, j) = min_{i < j} min(best(f-1, g, m, i) + w_cpu(i, j),
                                       min_s best(f-1, g-1, m-s, i) + w_s(i, j)),

over every run ``apps[i:j]`` (``w_cpu``, ``w_s``: its weighted cost, Eq. 7, as ``dp`` weighs
it, on its cheapest CPU configuration, or GPU one of ``s`` GB; without a budget one GPU edge,
on the cheapest GPU configuration; without a GPU cap or budget one edge, on the run's optimum;
a count without its cap is not kept), exact over contiguous partitions. Starts are taken in
order, each pushing its runs into every layer at once (:mod:`.path_kernel`), so a start's
layers are final before it pushes (every run into it starts earlier). Under ``full-batch`` the
runs' optima are folded (:mod:`.run_kernel`); under ``expected`` each run's optimum on each
class is searched (formulations/contiguous_shortest_path.md, "Under expected").
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np

from .._validate import instance, integer, number
from ..grid import GPU
from ..provision import GroupConfig
from .dp import TIE
from .groups import run_mask
from .kernels import RUNS, ready
from .options import checked_deadline, late
from .problem import Problem

#: Most pushes (the layers each class of run can be pushed from, times the runs) a path is searched
#: for, compiled (:mod:`.path_kernel`), on a 2-core machine: 5,000 apps with ``F = 10`` and ``G = 4``
#: (1.1e9 pushes) take 4.8 s, and under a GPU memory budget of 24 GB (3.8e9, most of them runs on
#: more memory than a cheaper one, skipped) 5.9 s. A cap of hundreds of functions on thousands of
#: apps would take hours (and there the repair does well).
MOST_PUSHES = 5e9
#: Most cells of the layers (layers times ``n + 1``; four arrays of 8 bytes each: 128 MB).
MOST_CELLS = 4e6
#: Under ``expected``, most searches (runs times classes) a path is weighed by: each run's optimum
#: on each class is searched (:meth:`Problem.class_optima`). 100 random VGG19 apps: 5,050 runs on
#: CPU functions took 0.3 s, on GPU functions 3.0 s, on every function 2.1 s; under a budget of
#: 6 GB, on CPU and GPU functions of 2-6 GB (30,300 searches), 5.7 s.
MOST_SEARCHES = 5e4
#: Under ``expected`` and a deadline, the share of the time to it after which the runs' searches
#: stop where, at their best pace so far (seconds a run, over a batch), the rest would not be
#: searched by then.
GIVE_UP_AFTER = 0.25


def capped_path(problem: Problem, max_functions: int | None = None, max_gpu_functions: int | None = None,
                deadline: float | None = None, gpu_memory_budget: float | None = None,
                ) -> list[tuple[int, tuple[str, ...] | None, int | None]] | None:
    """The cheapest contiguous plan under ``problem``'s cost model with at most ``max_functions``
    groups, at most ``max_gpu_functions`` of them on GPU functions and at most
    ``gpu_memory_budget`` GB of GPU memory on them in all (None: no cap), none holding an
    isolated pair of ``problem.side`` and each on a kind its members' pins allow: ``(mask,
    kinds, gpu_mem)`` per group, ``kinds`` the function kinds it is priced on (None: any; under
    a GPU cap or budget, one) and ``gpu_mem`` the GPU memory its GPU function has (under a
    budget; else None). Of plans tied but for rounding (``dp.TIE``), one with the fewest groups.
    None where no such plan exists, or ``deadline`` (a ``time.perf_counter()`` reading) passes
    first: every run is searched, ``n (n + 1) / 2`` of them (5,000 apps, ``F = 10``: about 2 s),
    and none is above :data:`MOST_PUSHES` pushes (runs times layers) or :data:`MOST_CELLS`.
    Under ``expected`` the runs' optima on each class are searched (100 apps: 2-6 s), none above
    :data:`MOST_SEARCHES`, in batches timed to the deadline; where at their pace they would not
    end by then, None once :data:`GIVE_UP_AFTER` of the time is gone.

    Examples
    --------
    >>> from harmonybatch_mp.solvers import as_instance
    >>> p = Problem(*as_instance("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19"), cost_model="full-batch")
    >>> [[m for m, _, _ in capped_path(p, f)] for f in (1, 2, 4)]  # (4: dp's plan, of 3 groups)
    [[15], [3, 12], [1, 2, 12]]
    >>> capped_path(p, max_gpu_functions=0)
    [(1, ('cpu',), None), (2, ('cpu',), None), (12, ('cpu',), None)]
    >>> [capped_path(p, gpu_memory_budget=b)[-1] for b in (1, 3)]  # (dp's last group: a 2 GB GPU)
    [(12, ('cpu',), None), (12, ('gpu',), 2)]
    >>> e = Problem(*as_instance("0.3:2,0.5:5,0.8:10,1.0:20", "VGG19"), cost_model="expected")
    >>> capped_path(e, 2)  # (each run weighed by its expected optimum)
    [(3, None, None), (12, None, None)]
    """
    instance(problem, Problem, "capped_path: problem")
    most = None if max_functions is None else integer(max_functions, "capped_path: max_functions", minimum=1)
    gpus = None if max_gpu_functions is None else integer(max_gpu_functions, "capped_path: max_gpu_functions",
                                                          minimum=0)
    budget = None if gpu_memory_budget is None else number(gpu_memory_budget, "capped_path: gpu_memory_budget",
                                                            minimum=0.0)
    deadline, n = checked_deadline(deadline), problem.n
    # the layers (f, g, m) as best[f, g, m, j]; f not counted without a function cap, g without a
    # GPU cap, m (GB of GPU memory) without a budget; an edge is a run on a class of function
    fs, gs = 1 if most is None else min(most, n) + 1, 1 if gpus is None else min(gpus, n) + 1
    up = 0 if gpus is None else 1
    edges: list[tuple[tuple[str, ...] | None, int, int]]  # (kinds, GPU functions, GB: a budget's GPU run's memory)
    if budget is None:
        ms, sizes = 1, ()
        edges = [(None, 0, 0)] if gpus is None else [(("cpu",), 0, 0), (("gpu",), 1, 0)]
    else:
        grid = problem.grid
        on_gpu = grid.gpu_mem[grid.memory_ok & (grid.kind == GPU)]
        sizes = tuple(sorted({int(s) for s in on_gpu.tolist() if s <= budget}))
        most_gpus = min([n] + [c for c in (most, gpus) if c is not None])
        ms = min(math.floor(budget), most_gpus * max(sizes, default=0)) + 1
        edges = [(("cpu",), 0, 0)] + [(("gpu",), up, s) for s in sizes]
    step = 0 if most is None else 1
    pushes = sum((fs - step) * (gs - g) * max(0, ms - m) for _, g, m in edges) * n * (n + 1) / 2
    ends = _run_ends(problem)
    searches = len(edges) * float((ends - np.arange(n)).sum()) if problem.expected else 0.0
    if pushes > MOST_PUSHES or fs * gs * ms * (n + 1) > MOST_CELLS or searches > MOST_SEARCHES:
        return None
    if not ready(RUNS, deadline):  # (the pushes are compiled: kernels.py)
        return None
    from .path_kernel import push

    best = np.full((fs, gs, ms, n + 1), np.inf)
    best[0, 0, 0, 0] = 0.0
    groups = np.zeros(best.shape, np.int64)  # the groups of each layer's best path (for ties)
    start = np.zeros(best.shape, np.int64)  # its last run's start
    kind = np.zeros(best.shape, np.int64)  # and class (an index of ``edges``)
    rates = np.array([a.rate for a in problem.apps])
    moves = np.array([(step, g, m) for _, g, m in edges], np.int64)  # what each edge adds to a layer
    # under expected the runs' weights are searched, start by start, in batches timed to the deadline
    searched = _searched_weights(problem, [(kinds, gb or None) for kinds, _, gb in edges], ends, rates, deadline) \
        if problem.expected else None
    for i in range(n):
        weights = None if searched is None else next(searched, None)
        if searched is not None and weights is None:  # (the deadline passed first)
            return None
        live = np.argwhere(np.isfinite(best[..., i]))
        if not live.size:
            continue
        if deadline is not None and time.perf_counter() > deadline:
            return None
        # every source layer with each edge that stays within the caps (edges in order, as ties need)
        on, k = np.nonzero((live[None, :, :] + moves[:, None, :] < best.shape[:3]).all(2))
        if not on.size:
            continue
        if weights is None:
            weights = _folded_weights(problem, i, ends[i], rates, edges, on, sizes, budget is not None)
        if len(sizes) > 1:  # a GPU run no cheaper than on less memory is not pushed: that path keeps the budget
            weights[2:][weights[2:] >= np.minimum.accumulate(weights[1:-1], axis=0)] = np.inf
        push(best, groups, start, kind, i, weights, live[k], live[k] + moves[on], on, TIE)
    ends_at = best[..., n]
    least = ends_at.min()
    if not np.isfinite(least):
        return None
    tied = ends_at <= least + TIE * least
    f, g, m = np.unravel_index(np.flatnonzero(tied.ravel())[np.argmin(groups[..., n][tied])], tied.shape)
    plan, j = [], n
    while j:
        i, (kinds, g_up, m_up) = int(start[f, g, m, j]), edges[int(kind[f, g, m, j])]
        plan.append((run_mask(i, j), kinds, m_up or None))
        j, f, g, m = i, f - step, g - g_up, m - m_up
    return plan[::-1]


def capped_plans(problem: Problem, deadline: float | None, search_deadline: float | None = None,
                 ) -> list[tuple[list[int], list[GroupConfig]]]:
    """Under a cap on functions, GPU functions or GPU memory (for a caller whose plan breaks a
    side constraint): the contiguous optimum under the caps (:func:`capped_path`) on the
    full-batch model, each group on ``problem``'s optimum of the kinds it was found on (under a
    GPU memory budget, of its class: CPU, or a GPU function of at most the memory it was found
    on); and under ``expected`` also the contiguous optimum under the caps on ``problem``'s own
    model, where its runs' searches fit within :data:`MOST_SEARCHES`. Each if it is found by
    ``deadline`` (the second by ``search_deadline``, where it is given) and keeps every side
    constraint (formulations/contiguous_shortest_path.md, "Under a cap on functions", and
    "Under expected")."""
    side = problem.side
    if side.max_functions is None and side.max_gpu_functions is None and side.gpu_memory_budget is None:
        return []
    caps = side.max_functions, side.max_gpu_functions, deadline, side.gpu_memory_budget
    out = []
    found = capped_path(problem.full_batch_view(), *caps)
    if found is not None:
        out += _priced(problem, found, deadline)
    search = deadline if search_deadline is None else search_deadline
    if problem.expected and not late(search):
        found = capped_path(problem, *caps[:2], search, caps[3])
        if found is not None:  # each group on the class it was weighed on
            configs = [problem.class_optima([m], [(kinds, gpu_mem)])[0][0] for m, kinds, gpu_mem in found]
            out.append(([m for m, _, _ in found], configs))
    return [(masks, configs) for masks, configs in out
            if None not in configs and side.allows(problem, masks, configs)]


def _priced(problem: Problem, found: list[tuple[int, tuple[str, ...] | None, int | None]], deadline: float | None,
            ) -> list[tuple[list[int], list[GroupConfig | None]]]:
    """The full-batch capped path's groups on ``problem``'s optima: each on the kinds it was
    found on, or under a GPU memory budget on its class's optimum of at most the memory it was
    found on (under expected, searched per class); none where ``deadline`` passes first."""
    masks, budget = [m for m, _, _ in found], problem.side.gpu_memory_budget is not None
    # priced in timed batches (under expected a group of thousands of apps takes about 0.2 s a class)
    for kinds in [None] if budget else {k for _, k, _ in found}:
        for _ in problem.prefetched([m for m, k, _ in found if budget or k == kinds], deadline, classes=budget,
                                    kinds=kinds):
            if late(deadline):
                return []
    if budget:
        configs = [min((c for c in problem.per_class(m) if (c.kind == "cpu") == (gpu_mem is None)
                        and (gpu_mem is None or c.gpu_mem_gb <= gpu_mem)), key=lambda c: c.cost, default=None)
                   for m, _, gpu_mem in found]
    else:
        configs = [problem.group(m, kinds) for m, kinds, _ in found]
    return [(masks, configs)]


def _folded_weights(problem: Problem, i: int, stop: int, rates: np.ndarray, edges: list, on: np.ndarray,
                    sizes: tuple[int, ...], budget: bool) -> np.ndarray:
    """Under full-batch, per edge, the weights ``(r_X / R) C_X`` of the runs ``apps[i:j]``, ``j =
    i + 1, ..., stop``, on its class (inf where none serves it; without a ``budget`` only the
    edges ``on`` are searched)."""
    if budget:  # every class's runs, one call
        idx = problem.run_indices_by_class(i, stop, sizes)
    else:
        idx = np.full((len(edges), stop - i), -1, np.int64)
        for e in np.unique(on).tolist():
            idx[e] = problem.run_indices(i, stop, edges[e][0])
    return np.where(idx >= 0, _shares(problem, rates, i, stop) * problem.grid.cost[np.maximum(idx, 0)], np.inf)


def _searched_weights(problem: Problem, classes: list[tuple[tuple[str, ...] | None, int | None]], ends: np.ndarray,
                      rates: np.ndarray, deadline: float | None) -> Iterator[np.ndarray]:
    """Under expected, per start ``i`` in order, the weights ``(r_X / R) C_X`` of the runs
    ``apps[i:j]``, ``j = i + 1, ..., ends[i]``, on each class (:meth:`Problem.class_optima`; inf
    where none serves it), searched in batches timed to ``deadline`` (:meth:`Problem.timed_batches`);
    it stops where the deadline passes first."""
    found: list[list[GroupConfig | None]] = []

    def fetch(masks: list[int]) -> None:
        found[:] = problem.class_optima(masks, classes)

    runs = ((i, j) for i in range(problem.n) for j in range(i + 1, int(ends[i]) + 1))
    left, pace = float((ends - np.arange(problem.n)).sum()), math.inf  # the runs left, the least seconds a run
    begun = last = time.perf_counter()
    costs: dict[int, np.ndarray] = {}
    done = 0  # the starts yielded
    for batch in problem.timed_batches(runs, lambda b: [run_mask(i, j) for i, j in b], deadline, fetch=fetch):
        for (i, j), configs in zip(batch, found):
            if i not in costs:
                costs[i] = np.full((len(classes), int(ends[i]) - i), np.inf)
            costs[i][:, j - i - 1] = [math.inf if c is None else c.cost for c in configs]
        now, left = time.perf_counter(), left - len(batch)
        pace, last = min(pace, (now - last) / len(batch)), now
        if deadline is not None and (now > deadline or (
                now - begun >= GIVE_UP_AFTER * (deadline - begun) and pace * left > deadline - now)):
            return  # past the deadline, or (a share of the time gone) not done by then even at the best pace so far
        i, j = batch[-1]
        while done < i + (j == ends[i]):  # every run of these starts searched
            yield _shares(problem, rates, done, int(ends[done])) * costs.pop(done)
            done += 1


def _shares(problem: Problem, rates: np.ndarray, i: int, stop: int) -> np.ndarray:
    """``r_X / R`` of the runs ``apps[i:j]``, ``j = i + 1, ..., stop`` (``rates``: the apps'):
    the rate summed in app order, as ``dp`` sums it (ties between plans of equal cost break the
    same way)."""
    return np.cumsum(rates[i:stop]) / problem.total_rate


def _run_ends(problem: Problem) -> np.ndarray:
    """Per start ``i``, the last ``j`` such that ``apps[i:j]`` holds no isolated pair."""
    ends = np.full(problem.n, problem.n, np.intp)
    for pair in problem.isolated_pairs():
        low, high = (pair & -pair).bit_length() - 1, pair.bit_length() - 1
        np.minimum(ends[:low + 1], high, out=ends[:low + 1])
    return ends
