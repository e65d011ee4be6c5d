"""Searching a group's cheapest (configuration, timeout level) under the ``expected`` cost
model, for one group or many at once, with the lower bounds that prune it
(``formulations/model.md`` sections 12.1-12.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._validate import instance, listed, reals, whole
from .errors import InputError
from .expected_cost import (
    MAX_TIMEOUT_LEVELS,
    TIMEOUT_LEVELS,
    ExpectedTables,
    _capped_size_bound,
    _cost_per_request,
    _tail_probabilities,
    expected_size_bound,
)

#: Configurations evaluated per group and round: the first chunk, doubling up to the last.
FIRST_CHUNK, LAST_CHUNK = 1, 64


@dataclass(frozen=True)
class GroupChoice:
    """A configuration and timeout scale for a group, with its expected cost per request."""

    index: int
    scale: float
    cost: float


def _levels(levels: int) -> np.ndarray:
    return np.arange(levels, 0, -1) / levels  # 1, (J-1)/J, ..., 1/J


# The public functions check what they are given, then run the unchecked ones (``_evaluate``,
# ``_lower_bound``, ``_search_many``), which the solvers call with the arrays they built.
def _tables(tables: ExpectedTables, where: str) -> ExpectedTables:
    return instance(tables, ExpectedTables, f"{where}: tables")


def _indices(tables: ExpectedTables, idx: np.ndarray, where: str) -> np.ndarray:
    """``idx`` if it is a 1-D integer array of grid indices of ``tables``, else an InputError."""
    try:
        array = np.asarray(idx) if isinstance(idx, (np.ndarray, list, tuple, range)) else None
    except ValueError:  # (a ragged list)
        array = None
    if array is None or array.ndim != 1 or (array.size and (array.dtype.kind not in "iu" or array.min() < 0
                                                             or array.max() >= len(tables.grid))):
        raise InputError(f"{where}: expected a 1-D array of grid indices from 0 to {len(tables.grid) - 1}, "
                         f"got {idx!r:.60}")
    return array.astype(np.intp, copy=False)


def _level_count(levels: int, where: str) -> int:
    count = whole(levels)
    if count is None or not 1 <= count <= MAX_TIMEOUT_LEVELS:
        raise InputError(f"{where}: levels: expected a whole number from 1 to {MAX_TIMEOUT_LEVELS}, "
                         f"got {levels!r:.40}")
    return count


def _members(slos: Sequence[float], rates: Sequence[float], where: str) -> tuple[np.ndarray, np.ndarray]:
    """A group's SLOs and rates (rows, or one row), of one width; else an InputError."""
    s, r = reals(slos, f"{where}: slos"), reals(rates, f"{where}: rates")
    if not (np.ndim(s) in (1, 2) and np.ndim(r) in (1, 2) and np.shape(s)[-1] == np.shape(r)[-1] >= 1):
        raise InputError(f"{where}: expected the members' slos and rates, of one width >= 1, got shapes "
                         f"{np.shape(s)} and {np.shape(r)}")
    return s, r


def evaluate(tables: ExpectedTables, idx: np.ndarray, slos: np.ndarray, rates: np.ndarray,
             levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected cost of each configuration in ``idx`` at its best timeout level; returns
    ``(cost, scale)`` per configuration.

    ``slos`` and ``rates`` are the members' (sorted by SLO), one row for all configurations
    or one row per configuration; rows of different groups are padded at the front with
    zero rates (see :func:`pad_members`).
    """
    idx = _indices(_tables(tables, "evaluate"), idx, "evaluate: idx")
    slos, rates = _members(slos, rates, "evaluate")
    if slos.ndim == 2 and slos.shape[0] != idx.size or rates.ndim == 2 and rates.shape[0] != idx.size:
        raise InputError(f"evaluate: expected one row of members for all {idx.size} configurations or one each, "
                         f"got shapes {slos.shape} and {rates.shape}")
    return _evaluate(tables, idx, slos, rates, _level_count(levels, "evaluate"))


def _evaluate(tables: ExpectedTables, idx: np.ndarray, slos: np.ndarray, rates: np.ndarray,
              levels: int) -> tuple[np.ndarray, np.ndarray]:
    grid = tables.grid
    b = grid.batch[idx]
    scales = _levels(levels)
    cost = np.where(b == 1, tables.invocation[idx], np.inf)
    scale = np.ones(idx.size)
    s, r = (np.broadcast_to(np.asarray(x, dtype=float), (idx.size, np.shape(x)[-1])) for x in (slos, rates))
    width = (r > 0).sum(axis=1)
    for w in np.unique(width[b > 1]):  # one call per group size: padding costs nothing
        multi = np.flatnonzero((b > 1) & (width == w))
        sub = idx[multi]
        bmax = int(grid.batch[sub].max())
        room = s[multi, -w:] - tables.latency_max_upto[sub][:, None]  # maximal timeouts (rows, w)
        t = (room[:, None, :] * scales[None, :, None]).reshape(-1, w)
        tails = _tail_probabilities(np.repeat(r[multi, -w:], levels, axis=0), t, bmax)
        inv = np.repeat(tables.invocation_costs(sub, bmax), levels, axis=0)
        c = _cost_per_request(inv, tails, np.repeat(grid.batch[sub], levels)).reshape(sub.size, levels)
        best = np.argmin(c, axis=1)
        cost[multi] = c[np.arange(sub.size), best]
        scale[multi] = scales[best]
    return cost, scale


def pad_members(groups: Sequence[tuple[Sequence[float], Sequence[float]]]) -> tuple[np.ndarray, np.ndarray]:
    """``(slos, rates)`` of several groups as rows of equal width, padded at the front with
    members of rate 0 (and the group's tightest SLO), which change no group's cost."""
    checked = []
    for g in listed(groups, "pad_members: groups", "a sequence of (slos, rates) pairs"):
        pair = listed(g, "pad_members: groups", "a sequence of (slos, rates) pairs")
        if len(pair) != 2:
            raise InputError(f"pad_members: groups: expected (slos, rates) pairs, got {g!r:.40}")
        s, r = _members(*pair, "pad_members")
        if s.ndim != 1 or r.ndim != 1:
            raise InputError(f"pad_members: expected one row of slos and rates per group, got shapes {s.shape} "
                             f"and {r.shape}")
        checked.append((s, r))
    return _pad_members(checked) if checked else (np.empty((0, 0)), np.zeros((0, 0)))


def _pad_members(groups: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(s) for s, _ in groups)
    slos, rates = np.empty((len(groups), width)), np.zeros((len(groups), width))
    for g, (s, r) in enumerate(groups):
        slos[g, width - len(s):], rates[g, width - len(r):] = s, r
        slos[g, :width - len(s)] = s[0]
    return slos, rates


def search(tables: ExpectedTables, candidates: np.ndarray, slos: Sequence[float], rates: Sequence[float],
           levels: int = TIMEOUT_LEVELS) -> GroupChoice | None:
    """The cheapest (configuration, timeout scale) among ``candidates`` (grid indices of
    memory-feasible configurations of allowed kinds) for members sorted by SLO.

    Configurations are visited in order of :func:`lower_bound` (at ``E[K]`` with maximal
    timeouts); the search stops when the next bound
    is no lower than the best cost found. :func:`search_many` runs many groups at once.
    """
    return search_many(tables, [(candidates, slos, rates)], levels)[0]


def lower_bound(tables: ExpectedTables, idx: np.ndarray, size: np.ndarray) -> np.ndarray:
    """A lower bound on the expected cost per request of each configuration in ``idx`` at every
    timeout level, given ``size`` >= ``E[K]`` at its maximal timeouts (``formulations/model.md``
    section 12.2): the largest of ``min_k c(k)/k``, ``min_k c(k) / E`` and ``beta + alpha / E``
    with ``E`` = :func:`.expected_cost.capped_size_bound` ``>= E[min(K, b)]`` and
    ``c(k) >= alpha + beta k``."""
    idx = _indices(_tables(tables, "lower_bound"), idx, "lower_bound: idx")
    size = reals(size, "lower_bound: size")
    if np.shape(size) != idx.shape:
        raise InputError(f"lower_bound: size: expected one per configuration ({idx.size}), got shape {np.shape(size)}")
    return _lower_bound(tables, idx, size)


def _lower_bound(tables: ExpectedTables, idx: np.ndarray, size: np.ndarray) -> np.ndarray:
    multi = tables.grid.batch[idx] > 1
    ek = np.ones(idx.shape)
    ek[multi] = _capped_size_bound(size[multi], tables.grid.batch[idx[multi]])
    return _bound_at(tables, idx, ek)


def level_bounds(tables: ExpectedTables, idx: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """:func:`lower_bound` of every configuration in ``idx`` (rows) at every size in ``sizes``
    (columns), equal to it entry by entry; ``E`` depends on the batch and the size only, so it
    is evaluated once per distinct batch and size (the relaxed model's finest levels, 2,000
    configurations by 1,682 sizes: 0.1 s, against 0.4 s one entry at a time).

    >>> from harmonybatch_mp.solvers import Problem, as_instance
    >>> tables = Problem(*as_instance("0.5:5", "VGG19"), cost_model="expected").tables
    >>> idx, sizes = np.arange(0, 2048, 97), np.array([1.0, 3.5, 40.0, np.inf])
    >>> each = lower_bound(tables, np.repeat(idx, sizes.size), np.tile(sizes, idx.size))
    >>> bool((level_bounds(tables, idx, sizes).ravel() == each).all())
    True
    """
    idx = _indices(_tables(tables, "level_bounds"), idx, "level_bounds: idx")
    sizes = reals(sizes, "level_bounds: sizes")
    if np.ndim(sizes) != 1:
        raise InputError(f"level_bounds: sizes: expected a 1-D array, got shape {np.shape(sizes)}")
    batches, which = np.unique(tables.grid.batch[idx], return_inverse=True)
    return _bound_at(tables, idx, _capped_size_bound(sizes[None, :], batches[:, None])[which.ravel()])


def _bound_at(tables: ExpectedTables, idx: np.ndarray, ek: np.ndarray) -> np.ndarray:
    """:func:`lower_bound` from ``E`` (``ek``: one entry per configuration in ``idx``, or a row
    of them; ignored at batch 1)."""
    multi = tables.grid.batch[idx] > 1
    shape = (-1,) + (1,) * (ek.ndim - 1)  # per configuration, against a row of sizes
    lb = np.broadcast_to(tables.bound[idx].reshape(shape), ek.shape).copy()
    many, ek = idx[multi], ek[multi]
    c1, beta = tables.invocation[tables.first[many]].reshape(shape), tables.slope[many].reshape(shape)
    line = beta + (c1 - beta) / np.where(c1 >= beta, ek, 1.0)
    lb[multi] = np.maximum(lb[multi], np.maximum(tables.cheapest[many].reshape(shape) / ek, line))
    return lb


def _admissible(tables: ExpectedTables, candidates: Sequence[np.ndarray], tightest: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(job, config)`` pairs, sorted by job, that meet the job's tightest SLO and whose bound
    ``min_k c(k)/k`` is no higher than the exact cost of the job's cheapest batch-1
    configuration. Jobs sharing one candidate array are filtered as one matrix."""
    shared: dict[int, list[int]] = {}
    for j, c in enumerate(candidates):
        shared.setdefault(id(c), []).append(j)
    jobs, configs = [], []
    for members_ in shared.values():
        cand = np.asarray(candidates[members_[0]], dtype=np.intp)
        which = np.asarray(members_)
        fits = tables.latency_max_upto[cand][None, :] <= tightest[which][:, None]
        single = np.where(fits & (tables.grid.batch[cand] == 1)[None, :], tables.invocation[cand][None, :], np.inf)
        ok = fits & (tables.bound[cand][None, :] <= single.min(axis=1, initial=np.inf)[:, None])
        row, col = np.nonzero(ok)
        jobs.append(which[row])
        configs.append(cand[col])
    job, idx = np.concatenate(jobs), np.concatenate(configs)
    order = np.argsort(job, kind="stable")
    return job[order], idx[order]


def search_many(tables: ExpectedTables, jobs: Sequence[tuple[np.ndarray, Sequence[float], Sequence[float]]],
                levels: int = TIMEOUT_LEVELS) -> list[GroupChoice | None]:
    """:func:`search` for many ``(candidates, slos, rates)`` at once. Every round evaluates,
    in one vectorised call, the next chunk (1, 2, 4, ... configurations in bound order) of
    every group whose next bound is below its best cost, so a numpy call is paid per round,
    not per group. Returns one choice per job: the cheapest, ties to the lowest grid index
    (None where no candidate meets the tightest SLO)."""
    _tables(tables, "search")
    checked, seen = [], {}
    for job in listed(jobs, "search: jobs", "a sequence of (candidates, slos, rates)"):
        triple = listed(job, "search: jobs", "a sequence of (candidates, slos, rates)")
        if len(triple) != 3:
            raise InputError(f"search: jobs: expected (candidates, slos, rates) triples, got {job!r:.40}")
        c, s, r = triple
        if id(c) not in seen:  # (jobs share their candidates: each array checked once)
            seen[id(c)] = _indices(tables, c, "search: candidates")
        s, r = _members(s, r, "search")
        if s.ndim != 1 or r.ndim != 1:
            raise InputError(f"search: expected one row of slos and rates per group, got shapes {s.shape}, {r.shape}")
        checked.append((seen[id(c)], s, r))
    return _search_many(tables, checked, _level_count(levels, "search"))


def _search_many(tables: ExpectedTables, jobs: Sequence[tuple[np.ndarray, Sequence[float], Sequence[float]]],
                 levels: int = TIMEOUT_LEVELS) -> list[GroupChoice | None]:
    if not jobs:
        return []
    slos, rates = _pad_members([(np.asarray(s, dtype=float), np.asarray(r, dtype=float)) for _, s, r in jobs])
    job, idx = _admissible(tables, [c for c, _, _ in jobs], slos[:, 0])
    # E[K] at timeouts s_i - u is E(0) - R u: only the first segment's width depends on u
    # (formulations/model.md section 12.2), so one evaluation per group serves every row
    e0 = expected_size_bound(rates, np.where(rates > 0, slos, 0.0))
    lb = _lower_bound(tables, idx, e0[job] - rates.sum(axis=1)[job] * tables.latency_max_upto[idx])
    best_cost, best_idx, best_scale = np.full(len(jobs), np.inf), np.full(len(jobs), -1), np.ones(len(jobs))

    def take(rows: np.ndarray) -> None:  # evaluate rows; keep each job's cheapest (ties: lowest index)
        cost, scale = _evaluate(tables, idx[rows], slos[job[rows]], rates[job[rows]], levels)
        by = np.lexsort((idx[rows], cost, job[rows]))
        lead = by[np.r_[True, job[rows[by]][1:] != job[rows[by]][:-1]]]
        g, c, i = job[rows[lead]], cost[lead], idx[rows[lead]]
        win = (c < best_cost[g]) | ((c == best_cost[g]) & (i < best_idx[g]))
        best_cost[g[win]], best_idx[g[win]], best_scale[g[win]] = c[win], i[win], scale[lead][win]

    if job.size:  # first round: each job's lowest bound, an upper bound that prunes the rest before sorting
        starts = np.flatnonzero(np.r_[True, job[1:] != job[:-1]])
        low = np.flatnonzero(lb == np.repeat(np.minimum.reduceat(lb, starts), np.diff(np.r_[starts, job.size])))
        first = low[np.unique(job[low], return_index=True)[1]]
        take(first)
        rest = np.ones(job.size, bool)
        rest[first] = False
        rest &= lb <= best_cost[job]
        job, idx, lb = job[rest], idx[rest], lb[rest]
    order = np.lexsort((idx, lb, job))
    job, idx, lb = job[order], idx[order], lb[order]
    rank = np.arange(job.size) - np.searchsorted(job, job)
    start, size = 0, FIRST_CHUNK
    while True:
        open_ = (lb <= best_cost[job]) & (rank >= start)
        if not open_.any():
            break
        take(np.flatnonzero(open_ & (rank < start + size)))
        start, size = start + size, min(2 * size, LAST_CHUNK)
    return [None if i < 0 else GroupChoice(int(i), float(t), float(c))
            for i, t, c in zip(best_idx, best_scale, best_cost)]
