"""Pricing one configuration by labels: a dynamic program over the apps in SLO order that
keeps, per depth, only the partial groups no other dominates
(``formulations/column_generation.md``, "Pricing by labels").

The fold of Eq. 5 treats the apps taken so far as one app of rate ``rho`` and timeout ``T``:
the next app ``(t, r)`` adds ``r * integral_0^t exp(-rho (s - T)^+) ds`` to ``G = rho T``. So
of two partial groups over the same apps decided, one with no larger ``rho``, no smaller
``G`` and no smaller profit meets Eq. 9 with every completion the other meets, at no less
profit. Where the depth-first search of :mod:`.branch_bound` wanders among near-equal
partial groups, the labels merge them; where none dominates another (near-ties in profit
that trade rate against fill), they multiply, and the search gives up past a number of
labels for the caller to search depth first instead. Merged in the cells of a grid over
``(rho, G)`` (:func:`merged_bound`), they stay few and give an upper bound on the best profit
instead of the best group.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import numpy as np

from .branch_bound import KEEP, TOLERANCE

if TYPE_CHECKING:
    from .branch_bound import GroupSearch

#: Improvements a search remembers (the caller keeps the last :data:`.branch_bound.KEEP`).
RECORDS = 16
#: Most labels one depth keeps: a step from that many takes about 25 ms (1 µs a label; the
#: deadline is checked between steps) and holds about 200 bytes a label at once.
DEPTH_LABELS = 25_000
#: The grid of :func:`merged_bound`: cells per factor ``e`` of the rate, and over the fill
#: ``G`` from 0 to ``b - 1``; and the most merged labels a depth may keep.
RATE_CELLS, FILL_CELLS, DEPTH_CELLS = 50, 400, 100_000


def label_search(search: GroupSearch, threshold: float, limit: int, deadline: float | None = None,
                 stop: threading.Event | None = None) -> tuple[list[tuple[int, float]], bool] | None:
    """The groups of ``search`` (a :class:`.branch_bound.GroupSearch` without classes, whose
    conflicts are disjoint pairs) with profit above ``threshold``, each better than the one
    before (the last :data:`.branch_bound.KEEP`, best last, as ``(mask, profit)``), and
    whether the search ended (so the last is the best, or none is above the threshold). None
    when the depths keep more than ``limit`` labels in all, or one keeps more than
    :data:`DEPTH_LABELS`. At ``deadline`` or once ``stop`` is set it ends, not complete.
    """
    from .label_kernel import step

    n = search.apps.size
    rho, T, v, bits = np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1, np.int64)
    partner, bit, loss = search.partner, search.bit, _losses(search)
    parents: list[np.ndarray] = [np.full(1, -1, np.int64)]  # per depth, each label's parent
    took: list[np.ndarray] = [np.zeros(1, np.bool_)]  # per depth, whether it took the app before
    level = np.array([float(threshold)])
    records, state = np.zeros((RECORDS, 3), np.int64), np.zeros(1, np.int64)
    fill, rate = search.fill, search.rate_cover
    complete, used = True, 0
    for d in range(n):
        if rho.size == 0:
            break
        if (deadline is not None and time.perf_counter() > deadline) or (stop is not None and stop.is_set()):
            complete = False
            break
        size = 2 * rho.size
        out_rho, out_T, out_v, out_bits = np.empty(size), np.empty(size), np.empty(size), np.empty(size, np.int64)
        out_parent, out_took = np.empty(size, np.int64), np.empty(size, np.bool_)
        kept = step(d, search.profit, search.rate, search.timeout, search.batch, search.best_left,
                    fill.free, fill.price, fill.amount, fill.paid_left, fill.cheapest_left, fill.order,
                    rate.free, rate.price, rate.amount, rate.paid_left, rate.cheapest_left, rate.order,
                    partner, bit, loss, rho, T, v, bits, level, min(int(limit) - used, DEPTH_LABELS),
                    out_rho, out_T, out_v, out_bits, out_parent, out_took, records, state)
        if kept < 0:
            return None
        used += kept
        rho, T, v, bits = out_rho[:kept], out_T[:kept], out_v[:kept], out_bits[:kept]
        parents.append(out_parent[:kept])
        took.append(out_took[:kept])
    written = int(state[0])
    positive = search.profit > 0
    groups = []
    for at in range(max(0, written - min(KEEP, RECORDS)), written):
        d, label, take = (int(x) for x in records[at % RECORDS])
        row = np.zeros(n, np.bool_)
        row[d] = bool(take)
        for depth in range(d, 0, -1):
            row[depth - 1] = took[depth][label]
            label = int(parents[depth][label])
        row = _completed(row, d, positive, search.profit, partner)
        groups.append((row, float(search.profit[row].sum())))
    return list(zip(search.masks(np.array([row for row, _ in groups])), [value for _, value in groups])), complete


def _losses(search: GroupSearch) -> np.ndarray:
    """Per bit of the labels' state (:attr:`.branch_bound.GroupSearch.bit`), the positive profit
    of the second app of its pair: what a label that took the first loses of the profit left."""
    loss = np.zeros(max(1, int(search.bit.max(initial=-1)) + 1))
    firsts = np.flatnonzero(search.bit >= 0)
    loss[search.bit[firsts]] = np.maximum(search.profit[search.partner[firsts]], 0.0)
    return loss


def _completed(row: np.ndarray, d: int, positive: np.ndarray, profit: np.ndarray, partner: np.ndarray) -> np.ndarray:
    """``row`` (a group decided over apps ``0..d``) with its best completion: every positive
    app after ``d`` whose partner in conflict (``partner``, disjoint pairs) it does not hold,
    and of a pair both after ``d`` and positive, the one of larger profit."""
    for j in range(d + 1, row.size):
        q = partner[j]
        if not positive[j] or (0 <= q <= d and row[q]):
            continue
        if q > d and positive[q] and (profit[q] > profit[j] or (profit[q] == profit[j] and q < j)):
            continue
        row[j] = True
    return row


def merged_bound(search: GroupSearch, threshold: float, deadline: float | None = None,
                 stop: threading.Event | None = None) -> float | None:
    """An upper bound on the best profit of ``search``'s groups (a :class:`.branch_bound.GroupSearch`
    without classes, whose conflicts are disjoint pairs), at least ``threshold``: the labels
    of :func:`label_search`, merged per cell of a grid over ``(rho, G)`` (and the pairs they
    took, :func:`.label_kernel.step`) into one with the least rate, the largest fill and the
    largest profit of the cell, which dominates every label merged into it
    (``formulations/column_generation.md``, "A bound by merged labels"); at least
    ``threshold + TOLERANCE`` (as :meth:`.branch_bound.GroupSearch.groups`, it prunes what
    cannot beat the threshold by more). None at ``deadline``, once ``stop`` is set, or where a
    depth keeps more than :data:`DEPTH_CELLS` labels.

    >>> from harmonybatch_mp.solvers.branch_bound import GroupSearch
    >>> s = GroupSearch(np.arange(3), np.array([0.5, -0.1, 0.2]), np.array([10.0, 40.0, 5.0]),
    ...                 np.array([0.05, 0.1, 0.2]), 4)
    >>> best = s.groups(0.0, improve=True)[-1][1]  # the depth-first search's best group
    >>> round(best, 6), best <= merged_bound(s, 0.0)
    (0.6, True)
    """
    from .label_kernel import merged_step

    n = search.apps.size
    positive = search.rate[search.rate > 0]
    if positive.size == 0:
        return float(threshold) + TOLERANCE
    low_rate, log_step = float(positive.min()), 1.0 / RATE_CELLS
    rho, G, v, bits = np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1, np.int64)
    upper = np.array([float(threshold)])
    fill, rate = search.fill, search.rate_cover
    partner, bit, loss = search.partner, search.bit, _losses(search)
    for d in range(n):
        if rho.size == 0:
            break
        if rho.size > DEPTH_CELLS or (deadline is not None and time.perf_counter() > deadline) or (
                stop is not None and stop.is_set()):
            return None
        size = 2 * rho.size
        keys = np.full(1 << int(2 * size - 1).bit_length(), -1, np.int64)
        out_rho, out_G, out_v, slots = np.empty(size), np.empty(size), np.empty(size), np.empty(keys.size, np.int64)
        out_bits = np.empty(size, np.int64)
        kept = merged_step(d, search.profit, search.rate, search.timeout, search.batch, search.best_left,
                           fill.free, fill.price, fill.amount, fill.paid_left, fill.cheapest_left, fill.order,
                           rate.free, rate.price, rate.amount, rate.paid_left, rate.cheapest_left, rate.order,
                           partner, bit, loss, rho, G, v, bits, float(threshold), upper, low_rate, log_step, FILL_CELLS,
                           keys, slots, out_rho, out_G, out_v, out_bits)
        rho, G, v, bits = out_rho[:kept], out_G[:kept], out_v[:kept], out_bits[:kept]
    return max(float(upper[0]), float(threshold) + TOLERANCE)
